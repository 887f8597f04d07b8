"""TOLL's learning dynamics on a 2-D Gaussian: anomaly-score contours with and without the norm.

Run::

    python -m torch_ae_sad.model.analysis.toll_dynamics [--out DIR] [--beta B]
        [--steps S1 S2 ...] [--seed N]

Needs no records: a linear auto-encoder with a 1-D bottleneck (TOLL's network with
``hidden_dims=[1]`` and linear activations, trained by TOLL's loss in the one training loop)
is fitted to samples of a centred 2-D Gaussian with variances 4 and 1, once with ``beta = 0``
(a plain auto-encoder) and once with the norm term (``--beta``, default 1). Writes
``toll_dynamics.png`` / ``.pdf`` (default folder ``figures/``): one row per beta, one column
per training budget (``--steps``), each the contours of the anomaly score
``||x - x_hat|| + beta ||z||`` over the plane with the training samples and the learned
direction. Without the norm term the score is the distance to the principal axis, so points
far out along that axis look normal; with it the contours close around the data (the
"targeted collapse" of the paper).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from torch_ae_sad.model.analysis.plotting import save_figure
from torch_ae_sad.model.detectors.toll import TOLL

#: Standard deviations of the two axes (variances 4 and 1).
STDS = (2.0, 1.0)


def gaussian(n: int = 2000, seed: int = 0) -> np.ndarray:
    """``n`` samples of the centred 2-D Gaussian with variances 4 and 1 (float32)."""
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, 2)) * np.asarray(STDS)).astype(np.float32)


def linear_toll(beta: float, n_steps: int, seed: int = 0) -> TOLL:
    """An unfitted TOLL with a linear 2-1-2 auto-encoder."""
    return TOLL(beta=beta, network="dense", hidden_dims=[1], activation="linear",
                out_activation="linear", n_steps=n_steps, batch_size=100, lr=1e-2,
                select="last", random_state=seed, device="cpu", verbose=0)


def draw(out: Path, beta: float = 1.0, steps: Sequence[int] = (10, 100, 1000),
         seed: int = 0, n: int = 2000) -> list[Path]:
    """Fit the linear TOLL per (beta, budget) and draw the score contours; return the files."""
    if beta <= 0:
        raise ValueError(f"beta: expected > 0 for the norm-term row, found {beta}")
    steps = sorted({int(s) for s in steps})
    if not steps or steps[0] < 1:
        raise ValueError(f"steps: expected positive training budgets, found {list(steps)}")
    X = gaussian(n, seed)
    lim = 3.2 * STDS[0]
    grid = np.linspace(-lim, lim, 161, dtype=np.float32)
    gx, gy = np.meshgrid(grid, grid)
    plane = np.c_[gx.ravel(), gy.ravel()]
    betas = (0.0, float(beta))
    fig, axes = plt.subplots(len(betas), len(steps), figsize=(3.4 * len(steps), 3.3 * 2),
                             squeeze=False, sharex=True, sharey=True)
    for i, b in enumerate(betas):
        for j, n_steps in enumerate(steps):
            ax = axes[i, j]
            model = linear_toll(b, n_steps, seed).fit(X)
            score = model.decision_function(plane).reshape(gx.shape)
            levels = np.quantile(model.decision_scores_, [0.5, 0.8, 0.9, 0.95, 0.99])
            filled = ax.contourf(gx, gy, score, levels=20, cmap="viridis")
            lines = ax.contour(gx, gy, score, levels=np.unique(levels), colors="white",
                               linewidths=0.8)
            ax.clabel(lines, fmt={lv: f"{q}%" for lv, q in zip(lines.levels,
                                                              (50, 80, 90, 95, 99),
                                                              strict=False)},
                      fontsize=6)
            ax.scatter(X[:400, 0], X[:400, 1], s=2, c="white", alpha=0.4, rasterized=True)
            direction = model.reconstruct(np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]],
                                                   np.float32))
            axis = direction[1:] - direction[0]
            u = axis[np.argmax(np.linalg.norm(axis, axis=1))]
            u = u / (np.linalg.norm(u) + 1e-12)
            c = direction[0]
            ax.plot([c[0] - 2 * lim * u[0], c[0] + 2 * lim * u[0]],
                    [c[1] - 2 * lim * u[1], c[1] + 2 * lim * u[1]], "r--", lw=1,
                    label="decoder's line")
            ax.set_xlim(-lim, lim)
            ax.set_ylim(-lim, lim)
            ax.set_aspect("equal")
            ax.set_title(f"beta = {b:g}, {n_steps} steps", fontsize=9)
            fig.colorbar(filled, ax=ax, fraction=0.046, pad=0.02)
        axes[i, 0].set_ylabel("x2 (variance 1)")
    for ax in axes[-1]:
        ax.set_xlabel("x1 (variance 4)")
    axes[0, 0].legend(fontsize=7, loc="lower left")
    fig.suptitle("TOLL on a 2-D Gaussian, linear AE with a 1-D bottleneck: anomaly score "
                 "||x - x_hat|| + beta ||z||\n(white lines: quantiles of the training "
                 "scores)", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, out, "toll_dynamics")


def main(argv: Sequence[str] | None = None) -> int:
    """Command line; returns 0 when the figure was written."""
    parser = argparse.ArgumentParser(prog="python -m torch_ae_sad.model.analysis.toll_dynamics",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("figures"),
                        help="output folder (default: figures)")
    parser.add_argument("--beta", type=float, default=1.0,
                        help="beta of the norm-term row (default: 1)")
    parser.add_argument("--steps", type=int, nargs="+", default=[10, 100, 1000],
                        help="training budgets in batches, one column each (default: 10 100 "
                             "1000)")
    parser.add_argument("--seed", type=int, default=0, help="data and model seed (default: 0)")
    args = parser.parse_args(argv)
    try:
        paths = draw(args.out, args.beta, args.steps, args.seed)
    except ValueError as exc:
        parser.error(str(exc))
    for path in paths:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
