"""TOLL, targeted collapse (Soltanilara et al.): an auto-encoder with a latent-norm penalty.

Loss per sample, on normal data: ``||x - x_hat||_2 + beta * ||z||_2`` (plain L2 norms, not
squared, not a mean); the anomaly score is the same expression. ``beta = 0`` gives the plain
auto-encoder of the paper's ablation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import torch
from torch import nn

from torch_ae_sad.model.base import hyperparameters
from torch_ae_sad.model.detectors._autoencoder_base import BaseAutoEncoderDetector
from torch_ae_sad.model.losses import l2_error


@hyperparameters
class TOLL(BaseAutoEncoderDetector):
    """TOLL detector.

    Parameters
    ----------
    beta : float
        Weight of the latent norm (paper: 1000 MNIST, 100 F-MNIST, 10 CIFAR-10 / Arrhythmia).
    **network
        ``network``, ``hidden_dims`` (default ``(256, 128)``; Arrhythmia MLP:
        ``(256, 128, 16)`` with ``batch_norm=True``), ``channels``, ``activation``,
        ``out_activation``, ``batch_norm``: see
        :class:`~torch_ae_sad.model.detectors._autoencoder_base.BaseAutoEncoderDetector`.
    **training
        The parameters of :class:`~torch_ae_sad.model.base.TorchDetector` (paper: Adam,
        ``n_steps=2000`` random batches, ``eval_every=20`` with ``select="best"``).
    """

    train_on: ClassVar[str] = "normal"

    beta: float = 10.0
    hidden_dims: Sequence[int] = (256, 128)

    def _build_module(self, input_shape: tuple[int, ...]) -> nn.Module:
        if self.beta < 0:
            raise ValueError(f"beta: expected >= 0, found {self.beta}")
        return super()._build_module(input_shape)

    def _objective(self, module: nn.Module, xb: torch.Tensor) -> torch.Tensor:
        x_hat, z = module(xb)
        return l2_error(xb, x_hat) + self.beta * z.flatten(1).norm(dim=1)

    def _loss(self, module: nn.Module, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        return self._objective(module, xb)

    def _score_batch(self, module: nn.Module, xb: torch.Tensor) -> torch.Tensor:
        return self._objective(module, xb)
