"""AE-SAD (Angiulli, Fassetti, Ferragina): reconstruct the labelled anomalies badly.

The auto-encoder is trained to map each labelled anomaly to a transform of itself.

Per-sample training loss, inputs in ``[0, 1]``:

* normal / unlabelled ``x``: ``mean((x - x_hat)^2)``;
* labelled anomaly ``x``: ``(alpha / rho) * mean((F(x) - x_hat)^2)`` with
  ``rho = n_labelled_anomalies / n_normal`` (the authors' sample weights);

where ``F`` is ``F0(x) = 1 - x`` (default), ``F1(x) = 1[x <= 0.5]`` or
``F2(x) = x + 0.5 if x <= 0.5 else x - 0.5``. The anomaly score is the plain squared
reconstruction error ``||x - x_hat||^2``.

Input range: the transforms map [0, 1] onto [0, 1] and mean nothing elsewhere (``1 - x`` of
standardised data is not an "opposite" image), so ``fit`` raises a ValueError before any
training when the training data leaves [0, 1] (beyond a 1e-6 tolerance): min-max scale it
first, with ``sklearn.preprocessing.MinMaxScaler`` fitted on the training data (``uint8``
images are divided by 255 already). ``out_activation="auto"`` therefore always resolves to
``"sigmoid"`` (the authors' choice); every other activation's range holds [0, 1]. Data scored
later is not checked.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from torch_ae_sad.model.base import hyperparameters
from torch_ae_sad.model.detectors._autoencoder_base import BaseAutoEncoderDetector
from torch_ae_sad.model.losses import mse, squared_error
from torch_ae_sad.model.networks import in_unit_interval

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
        activation: ``"auto"`` by default, which is ``sigmoid`` as the inputs are in [0, 1];
        ``relu``, ``tanh``, ``linear`` as in the thesis), ``batch_norm``: see
        :class:`~torch_ae_sad.model.detectors._autoencoder_base.BaseAutoEncoderDetector`.
    **training
        The parameters of :class:`~torch_ae_sad.model.base.TorchDetector` (authors: Adam,
        lr 1e-3, batch 32, which are the defaults; the thesis also uses
        ``optimizer="adamw"``).

    Attributes
    ----------
    out_activation_ : str
        The decoder's last activation used by the fit (``"auto"`` resolved: ``"sigmoid"``).
    rho_ : float
        Labelled anomalies per normal sample.
    anomaly_weight_ : float
        ``alpha / rho_`` (0 without labelled anomalies).

    Raises
    ------
    ValueError
        In ``fit``, before training, when the training data lies outside [0, 1].
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
        n_anom = int(y.sum())
        self.rho_ = n_anom / max(len(y) - n_anom, 1)
        self.anomaly_weight_ = self.alpha / self.rho_ if n_anom else 0.0

    def _check_input_range(self, X: np.ndarray) -> None:
        low, high = float(X.min()), float(X.max())
        if not in_unit_interval(low, high):
            raise ValueError(
                f"X: AESAD needs training data in [0, 1] (its anomaly targets F0(x) = 1 - x, "
                f"F1, F2 are defined on [0, 1]), found values in [{low:.4g}, {high:.4g}]. "
                "Min-max scale the data to [0, 1] first, e.g. with "
                "sklearn.preprocessing.MinMaxScaler fitted on the training data (not "
                "standardisation)")
        super()._check_input_range(X)

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
