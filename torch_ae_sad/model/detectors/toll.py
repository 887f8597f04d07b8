"""TOLL, targeted collapse (Ghafourian et al.): an auto-encoder with a latent-norm penalty.

Loss per sample, on normal data: ``||x - x_hat||_2 + beta * ||z||_2`` (plain L2 norms, not
squared, not a mean); the anomaly score is the same expression. ``beta = 0`` gives the plain
auto-encoder of the paper's ablation.

Defaults and the paper's settings: ``beta`` weighs a latent norm against an input-space error,
so its meaning depends on the input's scale and on the network. The paper's values (1000 on
standardised MNIST, 100 Fashion-MNIST, 10 CIFAR-10 / raw Arrhythmia) go with the authors'
conv / batch-norm networks, batches of 1000 and 2000 steps: the presets of
:mod:`torch_ae_sad.model.protocols` run them (on an H200, MNIST classes 0-4: beta 1000
0.984 against 0.957 for beta 0, ``benchmarks/results/toll_conv_gpu.md``). With the default
dense network and budget, on images in [0, 1] and min-max scaled tables, a large beta lowers
AUROC (``benchmarks/results/toll_defaults.md``, ``toll_mnist.md``). The default ``beta=0.1``
keeps the norm term small: over the ten MNIST digits (2 seeds, each detector's default
budget) ``TOLL()`` averages 0.962 AUROC against 0.966 for ``AutoEncoder()`` and 0.908 at
``beta=1``; no ``beta > 0`` tried with the dense network beat ``beta = 0`` (0.966).
"""

from __future__ import annotations

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
        Weight of the latent norm (default 0.1, see the module docstring; paper: 1000 MNIST,
        100 F-MNIST, 10 CIFAR-10 / Arrhythmia, with its networks and scales).
    **network
        ``network``, ``hidden_dims`` (default ``(128, 32)``, the plain auto-encoder's: a
        128-wide dense latent reconstructs anomalies too and cost 0.01-0.02 AUROC on MNIST
        digits 2 and 3 at the default budget; Arrhythmia MLP:
        ``(256, 128, 16)`` with ``batch_norm=True``), ``channels``, ``activation``,
        ``out_activation``, ``batch_norm``: see
        :class:`~torch_ae_sad.model.detectors._autoencoder_base.BaseAutoEncoderDetector`.
    **training
        The parameters of :class:`~torch_ae_sad.model.base.TorchDetector` (paper: Adam,
        ``n_steps=2000`` random batches without replacement, ``eval_every=20`` with
        ``select="best"``; see the presets).
    """

    train_on: ClassVar[str] = "normal"

    beta: float = 0.1

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
