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
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from torch_ae_sad.model.base import hyperparameters
from torch_ae_sad.model.detectors._autoencoder_base import BaseAutoEncoderDetector
from torch_ae_sad.model.losses import mse, squared_error

#: Name -> the anomaly target transform ``F``.
TRANSFORMS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "F0": lambda x: 1.0 - x,
    "F1": lambda x: (x <= 0.5).to(x.dtype),
    "F2": lambda x: torch.where(x <= 0.5, x + 0.5, x - 0.5),
}


@hyperparameters
class AESAD(BaseAutoEncoderDetector):
    """AE-SAD on a dense or convolutional auto-encoder.

    Parameters
    ----------
    transform : {"F0", "F1", "F2"}
        Target of the labelled anomalies.
    alpha : float
        Weight of the anomaly term (multiplies ``1 / rho``).
    **network
        ``network`` (``dense`` or ``conv``), ``hidden_dims`` (authors: ``(128, 32)``, the
        default), ``channels``, ``activation``, ``out_activation`` (the decoder's last
        activation: ``sigmoid`` by default, ``relu``, ``tanh``, ``linear``), ``batch_norm``:
        see :class:`~torch_ae_sad.model.detectors._autoencoder_base.BaseAutoEncoderDetector`.
    **training
        The parameters of :class:`~torch_ae_sad.model.base.TorchDetector` (authors: Adam,
        lr 1e-3, batch 32, which are the defaults; the thesis also uses
        ``optimizer="adamw"``).
    """

    uses_labels = True

    transform: str = "F0"
    alpha: float = 1.0

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
        per_sample = mse(target, x_hat)
        weight = torch.where(yb.bool(), self.anomaly_weight_, 1.0)
        return per_sample * weight

    def _score_batch(self, module: nn.Module, xb: torch.Tensor) -> torch.Tensor:
        x_hat, _ = module(xb)
        return squared_error(xb, x_hat)
