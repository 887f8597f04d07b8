"""Plain auto-encoders as detectors: trained on the normal (unlabelled) data only.

Training loss per sample: ``mean((x - x_hat)^2)`` (``loss="mse"``), ``1 - SSIM(x, x_hat)``
(``loss="ssim"``, images only) or their sum (``loss="mse+ssim"``); with ``noise_std > 0`` the
input is corrupted with Gaussian noise ``N(noise_mean, noise_std^2)`` during training
(denoising AE), drawn from a generator seeded with ``random_state`` (not torch's global one),
so the same ``random_state`` gives the same scores. Score: the squared reconstruction error
``||x - x_hat||^2``.

Input range: ``out_activation="auto"`` (default) is ``sigmoid`` for training data in [0, 1],
``linear`` otherwise; an explicit activation that cannot output the training data's range
raises a ValueError before training (see
:mod:`~torch_ae_sad.model.detectors._autoencoder_base`).
"""

from __future__ import annotations

from functools import partial
from typing import ClassVar

import torch
from torch import nn

from torch_ae_sad.model.base import FitContext, hyperparameters
from torch_ae_sad.model.detectors._autoencoder_base import BaseAutoEncoderDetector
from torch_ae_sad.model.losses import mse, squared_error, ssim
from torch_ae_sad.model.training import LossFn

LOSSES = ("mse", "ssim", "mse+ssim")


@hyperparameters
class AutoEncoder(BaseAutoEncoderDetector):
    """Auto-encoder detector (dense by default; ``network="conv"`` for images).

    Parameters
    ----------
    loss : {"mse", "ssim", "mse+ssim"}
        Training loss.
    noise_mean, noise_std : float
        Gaussian input noise during training (denoising when ``noise_std > 0``), drawn from
        a generator seeded with ``random_state + 1``.
    **network
        ``network``, ``hidden_dims`` (an over-complete AE: e.g. ``(1000, 1000)``),
        ``channels``, ``activation``, ``out_activation`` (``"auto"``: ``sigmoid`` for
        training data in [0, 1], ``linear`` otherwise), ``batch_norm``: see
        :class:`~torch_ae_sad.model.detectors._autoencoder_base.BaseAutoEncoderDetector`.
    **training
        The parameters of :class:`~torch_ae_sad.model.base.TorchDetector`.

    Attributes
    ----------
    out_activation_ : str
        The decoder's last activation used by the fit (``"auto"`` resolved).
    """

    train_on: ClassVar[str] = "normal"

    loss: str = "mse"
    noise_mean: float = 0.0
    noise_std: float = 0.0

    def _build_module(self, input_shape: tuple[int, ...]) -> nn.Module:
        if self.loss not in LOSSES:
            raise ValueError(f"loss: expected one of {LOSSES}, found {self.loss!r}")
        if "ssim" in self.loss and len(input_shape) != 3:
            raise ValueError(f"loss={self.loss!r}: expected images (n, C, H, W), found samples "
                             f"of shape {input_shape}")
        if self.noise_std < 0:
            raise ValueError(f"noise_std: expected >= 0, found {self.noise_std}")
        return super()._build_module(input_shape)

    def _train_loss(self, ctx: FitContext) -> LossFn:
        return partial(self._loss, noise=ctx.noise)

    def _loss(self, module: nn.Module, xb: torch.Tensor, yb: torch.Tensor, *,
              noise: torch.Generator | None = None) -> torch.Tensor:
        """Per-sample training loss; the input noise drawn from ``noise`` (torch's if None)."""
        noisy = xb
        if self.noise_std > 0:
            eps = torch.randn_like(xb) if noise is None else torch.randn(
                xb.shape, generator=noise, device=xb.device, dtype=xb.dtype)
            noisy = xb + self.noise_mean + self.noise_std * eps
        x_hat, _ = module(noisy)
        out = torch.zeros(len(xb), device=xb.device)
        if "mse" in self.loss:
            out = out + mse(xb, x_hat)
        if "ssim" in self.loss:
            out = out + 1.0 - ssim(xb, x_hat.view_as(xb))
        return out

    def _score_batch(self, module: nn.Module, xb: torch.Tensor) -> torch.Tensor:
        x_hat, _ = module(xb)
        return squared_error(xb, x_hat)


@hyperparameters
class ConvAutoEncoder(AutoEncoder):
    """:class:`AutoEncoder` with the convolutional network (images ``(n, C, H, W)``).

    Attributes
    ----------
    out_activation_ : str
        The decoder's last activation used by the fit (``"auto"`` resolved).
    """

    network: str = "conv"
