"""AE-SAD (Angiulli, Fassetti, Ferragina): reconstruct the labelled anomalies badly.

The auto-encoder is trained to map each labelled anomaly to a transform of itself.

Per-sample training loss, inputs in ``[0, 1]``:

* normal / unlabelled ``x``: ``mean((x - x_hat)^2)``;
* labelled anomaly ``x``: ``(alpha / rho) * mean((F(x) - x_hat)^2)`` with
  ``rho = n_labelled_anomalies / n_normal`` (the authors' sample weights);

where ``F`` is ``F0(x) = 1 - x`` (default), ``F1(x) = 1[x <= 0.5]`` or
``F2(x) = x + 0.5 if x <= 0.5 else x - 0.5``. The anomaly score is the plain squared
reconstruction error ``||x - x_hat||^2``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from torch_ae_sad.model.base import TorchDetector
from torch_ae_sad.model.networks import DenseAutoEncoder

#: Name -> the anomaly target transform ``F``.
TRANSFORMS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "F0": lambda x: 1.0 - x,
    "F1": lambda x: (x <= 0.5).to(x.dtype),
    "F2": lambda x: torch.where(x <= 0.5, x + 0.5, x - 0.5),
}


def squared_error(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """Per-sample ``||x - x_hat||^2`` over all non-batch dimensions."""
    return (x - x_hat).flatten(1).pow(2).sum(dim=1)


class AESAD(TorchDetector):
    """AE-SAD on a dense auto-encoder.

    Parameters
    ----------
    hidden_dims : sequence of int
        Encoder widths, the last one the latent size (authors: ``(128, 32)``).
    activation : str
        Hidden activation.
    out_activation : str
        The decoder's last activation: ``sigmoid`` (default), ``relu``, ``tanh``, ``linear``.
    transform : {"F0", "F1", "F2"}
        Target of the labelled anomalies.
    alpha : float
        Weight of the anomaly term (multiplies ``1 / rho``).
    epochs, batch_size, lr, weight_decay, optimizer
        Training (authors: Adam, lr 1e-3, batch 32; the thesis also uses ``adamw``).
    contamination : float
        Fraction of training samples above ``threshold_``.
    device : str, optional
        ``None`` = CUDA if present, else CPU.
    random_state : int
        Seed of the initialisation and the shuffling.
    verbose : int
        0 silent, 1 a progress bar.
    amp : bool
        bfloat16 autocast on CUDA.
    """

    uses_labels = True

    def __init__(self, hidden_dims: Sequence[int] = (128, 32), activation: str = "relu",
                 out_activation: str = "sigmoid", transform: str = "F0", alpha: float = 1.0,
                 epochs: int = 10, batch_size: int = 32, lr: float = 1e-3,
                 weight_decay: float = 0.0, optimizer: str = "adam",
                 contamination: float = 0.1, device: str | None = None, random_state: int = 0,
                 verbose: int = 1, amp: bool = False) -> None:
        super().__init__(epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay,
                         optimizer=optimizer, contamination=contamination, device=device,
                         random_state=random_state, verbose=verbose, amp=amp)
        self.hidden_dims = hidden_dims
        self.activation = activation
        self.out_activation = out_activation
        self.transform = transform
        self.alpha = alpha

    def _build_module(self, input_shape: tuple[int, ...]) -> nn.Module:
        return DenseAutoEncoder(input_shape, self.hidden_dims, self.activation,
                                self.out_activation)

    def _prepare(self, X: np.ndarray, y: np.ndarray) -> None:
        if self.transform not in TRANSFORMS:
            raise ValueError(f"transform: expected one of {sorted(TRANSFORMS)}, found "
                             f"{self.transform!r}")
        if self.alpha < 0:
            raise ValueError(f"alpha: expected >= 0, found {self.alpha}")
        lo, hi = float(X.min()), float(X.max())
        if lo < -1e-6 or hi > 1 + 1e-6:
            warnings.warn(f"AESAD expects inputs in [0, 1] (F0(x) = 1 - x), found values in "
                          f"[{lo:.3g}, {hi:.3g}]; scale them first", UserWarning, stacklevel=4)
        n_anom = int(y.sum())
        self.rho_ = n_anom / max(len(y) - n_anom, 1)
        self.anomaly_weight_ = self.alpha / self.rho_ if n_anom else 0.0

    def _loss(self, module: nn.Module, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        x_hat, _ = module(xb)
        anomalous = yb.bool().view(-1, *([1] * (xb.dim() - 1)))
        target = torch.where(anomalous, TRANSFORMS[self.transform](xb), xb)
        per_sample = (target - x_hat).flatten(1).pow(2).mean(dim=1)
        weight = torch.where(yb.bool(), self.anomaly_weight_, 1.0)
        return per_sample * weight

    def _score_batch(self, module: nn.Module, xb: torch.Tensor) -> torch.Tensor:
        x_hat, _ = module(xb)
        return squared_error(xb, x_hat)
