"""Latent space of the test data in 2D, normal vs anomalous; decoder activations side by side.

Run::

    python -m torch_ae_sad.model.analysis.latent_space RECORDS_DIR [--out DIR]
        [--run RUN_ID] [--projection pca|tsne] [--max-points N] [--trust-pickled-models]

Needs runs made with ``--save-models`` (the record's ``model_file``) of an auto-encoder
detector (opened as data; ``--trust-pickled-models`` also unpickles model files of the old
pickled kind you made yourself); the test data is rebuilt from the record's spec. The latent
codes are shown as they are when 2-D, else projected to 2-D with PCA (default) or t-SNE
(scikit-learn). Writes:

- ``latent_space/<run_id>.png`` / ``.pdf``: one run, normal and anomalous test samples;
- ``latent_activations.png`` / ``.pdf`` (``latent_activations_<k>`` for further groups): runs
  that differ only in the decoder's last activation (``out_activation``: ReLU, linear, tanh,
  ...) side by side, the first seed of each (the thesis's figure).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE

from torch_ae_sad.model.analysis.cli import Option, PerRunScript
from torch_ae_sad.model.analysis.data import Records, Skip, load_trained, test_part
from torch_ae_sad.model.analysis.plotting import save_figure
from torch_ae_sad.model.experiment.labels import run_label

#: Projections of codes wider than 2.
PROJECTIONS = ("pca", "tsne")
#: Panel order of the activations figure (others follow alphabetically).
ACTIVATION_ORDER = ("relu", "linear", "tanh", "sigmoid")


def project(Z: np.ndarray, projection: str = "pca", seed: int = 0) -> tuple[np.ndarray, str]:
    """2-D view of codes ``Z``: themselves when 2-D, else PCA or t-SNE; and the axis prefix."""
    if projection not in PROJECTIONS:
        raise ValueError(f"projection: expected one of {PROJECTIONS}, found {projection!r}")
    if Z.shape[1] <= 2:
        Z2 = Z if Z.shape[1] == 2 else np.c_[Z, np.zeros(len(Z))]
        return Z2, "z"
    if projection == "pca":
        return PCA(n_components=2, random_state=seed).fit_transform(Z), "PC"
    return TSNE(n_components=2, random_state=seed, init="pca",
                perplexity=min(30.0, (len(Z) - 1) / 3)).fit_transform(Z), "t-SNE"


def codes(record: dict[str, Any], folder: Path, max_points: int = 2000, *,
          trust_pickle: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Latent codes and labels of (at most ``max_points`` of) a run's test samples."""
    model = load_trained(record, folder, trust_pickle=trust_pickle)
    if not callable(getattr(model, "encode", None)):
        raise Skip(f"run {record.get('run_id')}: {type(model).__name__} has no encode()")
    X, y = test_part(record)
    if len(X) > max_points:
        keep = np.sort(np.random.default_rng(0).choice(len(X), max_points, replace=False))
        X, y = X[keep], y[keep]
    try:
        return model.encode(X), y
    except TypeError as exc:
        raise Skip(f"run {record.get('run_id')}: {exc}") from exc


def scatter(ax: Any, Z2: np.ndarray, y: np.ndarray, prefix: str) -> None:
    """Normal (blue) and anomalous (red) points of a 2-D view."""
    for label, name, colour in ((0, "normal", "tab:blue"), (1, "anomalous", "tab:red")):
        mask = y == label
        ax.scatter(Z2[mask, 0], Z2[mask, 1], s=4, alpha=0.5, c=colour,
                   label=f"{name} ({mask.sum()})", rasterized=True)
    ax.set_xlabel(f"{prefix}1")
    ax.set_ylabel(f"{prefix}2")
    ax.legend(fontsize=7, markerscale=3, loc="best")


def _auc_text(record: dict[str, Any]) -> str:
    auc = (record.get("metrics") or {}).get("roc_auc")
    return f"AUROC {auc:.4f}" if auc is not None else ""


def draw_run(record: dict[str, Any], folder: Path, out: Path, projection: str = "pca",
             max_points: int = 2000, *, trust_pickle: bool = False) -> list[Path]:
    """The latent view of one run; return the files written."""
    Z, y = codes(record, folder, max_points, trust_pickle=trust_pickle)
    Z2, prefix = project(Z, projection)
    fig, ax = plt.subplots(figsize=(5.2, 4.6))
    scatter(ax, Z2, y, prefix)
    ax.set_title(f"{run_label(record)}\nlatent dim {Z.shape[1]}, {_auc_text(record)}",
                 fontsize=8)
    fig.tight_layout()
    return save_figure(fig, out / "latent_space", str(record["run_id"]))


def out_activation(record: dict[str, Any]) -> str | None:
    """The decoder's last activation a run used (the recorded parameters, else the spec)."""
    params = (record.get("method") or {}).get("params") or {}
    value = params.get("out_activation", record["spec"].get("method_params", {})
                       .get("out_activation"))
    return None if value is None else str(value)


def activation_groups(records: Sequence[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Groups of runs with a saved model that differ only in ``out_activation`` (and seed).

    Each group holds one run per activation (the lowest seed), in :data:`ACTIVATION_ORDER`;
    only groups with at least two activations are returned.
    """
    groups: dict[str, dict[str, dict[str, Any]]] = {}
    for rec in records:
        act = out_activation(rec)
        if act is None or not rec.get("model_file") or rec.get("status") != "ok":
            continue
        spec = json.loads(json.dumps(rec["spec"]))
        spec.pop("seed", None)
        spec.pop("device", None)
        spec.get("method_params", {}).pop("out_activation", None)
        key = json.dumps(spec, sort_keys=True)
        mine = groups.setdefault(key, {})
        if act not in mine or rec["spec"]["seed"] < mine[act]["spec"]["seed"]:
            mine[act] = rec

    def order(act: str) -> tuple[int, str]:
        return (ACTIVATION_ORDER.index(act) if act in ACTIVATION_ORDER
                else len(ACTIVATION_ORDER), act)

    return [[g[a] for a in sorted(g, key=order)] for g in groups.values() if len(g) > 1]


def draw_activations(data: Records, out: Path, projection: str = "pca",
                     max_points: int = 2000) -> list[Path]:
    """One figure per group of :func:`activation_groups`, one panel per activation."""
    groups = activation_groups(data.records)
    if not groups:
        raise Skip("no runs with saved models that differ only in the decoder's last "
                   "activation (method_params.out_activation)")
    paths: list[Path] = []
    for k, group in enumerate(groups):
        fig, axes = plt.subplots(1, len(group), figsize=(4.2 * len(group), 4.2), squeeze=False)
        for ax, rec in zip(axes[0], group, strict=True):
            Z, y = codes(rec, data.folder, max_points, trust_pickle=data.trust_pickle)
            Z2, prefix = project(Z, projection)
            scatter(ax, Z2, y, prefix)
            ax.set_title(f"last activation: {out_activation(rec)}\n{_auc_text(rec)}",
                         fontsize=9)
        first = group[0]
        fig.suptitle(f"Latent space (latent dim {Z.shape[1]}"
                     f"{', ' + prefix if prefix != 'z' else ''}): "
                     f"{run_label(first).rsplit(' | ', 2)[0]} | seed {first['spec']['seed']}",
                     fontsize=9)
        fig.tight_layout()
        name = "latent_activations" if k == 0 else f"latent_activations_{k + 1}"
        paths += save_figure(fig, out, name)
    return paths


SCRIPT = PerRunScript(
    "latent_space", __doc__, draw_run,
    options=(Option("--projection", "pca", "projection of codes wider than 2",
                    choices=PROJECTIONS),
             Option("--max-points", 2000, "test samples shown per panel", minimum=1)),
    also=draw_activations, loads_models=True)
draw, main = SCRIPT.draw, SCRIPT.main

if __name__ == "__main__":
    sys.exit(main())
