"""TOLL's CIFAR-10 auto-encoder (Ghafourian et al.; authors' ``src/models.py``)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from torch_ae_sad.model.networks._base import EncoderDecoder
from torch_ae_sad.model.networks.conv import image_shape


class OutputBias(nn.Module):
    """A learned bias of one value per output pixel and channel (authors' ``outputbias``)."""

    def __init__(self, shape: Sequence[int]) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(*shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return ``x + bias``."""
        return x + self.bias


class TollCifarNet(EncoderDecoder):
    """TOLL's CIFAR-10 network: bias-free convolutions with batch norm and LeakyReLU(0.1).

    Encoder (32 -> 28 -> 13 -> 10 -> 4 -> 1): 5x5 conv 32, 4x4 stride-2 conv 64, 4x4 conv 128,
    4x4 stride-2 conv 256, 4x4 conv 512, 1x1 conv 512 (each bias-free, then batch norm and
    LeakyReLU 0.1), a 1x1 conv to ``latent_dim`` (with bias), flattened. Decoder: the mirror in
    transposed convolutions (1 -> 4 -> 10 -> 13 -> 28 -> 32), two bias-free 1x1 convs
    (32 -> 32 with batch norm and LeakyReLU, 32 -> C) and a learned per-pixel output bias;
    linear output.

    Parameters
    ----------
    input_shape : sequence of int
        ``(C, 32, 32)`` (CIFAR-10: ``(3, 32, 32)``).
    latent_dim : int
        Size of the latent code (authors: 64 for CIFAR-10).
    """

    output_range = (-float("inf"), float("inf"))

    def __init__(self, input_shape: Sequence[int] = (3, 32, 32), latent_dim: int = 64) -> None:
        super().__init__()
        self.input_shape = image_shape(input_shape, "TollCifarNet", sizes=(32,))
        if int(latent_dim) < 1:
            raise ValueError(f"latent_dim: expected >= 1, found {latent_dim}")
        self.latent_dim = z = int(latent_dim)
        c = self.input_shape[0]

        def block(layer: nn.Module, width: int) -> list[nn.Module]:
            return [layer, nn.BatchNorm2d(width), nn.LeakyReLU(0.1)]

        self.encoder = nn.Sequential(
            *block(nn.Conv2d(c, 32, 5, bias=False), 32),
            *block(nn.Conv2d(32, 64, 4, stride=2, bias=False), 64),
            *block(nn.Conv2d(64, 128, 4, bias=False), 128),
            *block(nn.Conv2d(128, 256, 4, stride=2, bias=False), 256),
            *block(nn.Conv2d(256, 512, 4, bias=False), 512),
            *block(nn.Conv2d(512, 512, 1, bias=False), 512),
            nn.Conv2d(512, z, 1), nn.Flatten())
        self.decoder = nn.Sequential(
            nn.Unflatten(1, (z, 1, 1)),
            *block(nn.ConvTranspose2d(z, 256, 4, bias=False), 256),
            *block(nn.ConvTranspose2d(256, 128, 4, stride=2, bias=False), 128),
            *block(nn.ConvTranspose2d(128, 64, 4, bias=False), 64),
            *block(nn.ConvTranspose2d(64, 32, 4, stride=2, bias=False), 32),
            *block(nn.ConvTranspose2d(32, 32, 5, bias=False), 32),
            *block(nn.Conv2d(32, 32, 1, bias=False), 32),
            nn.Conv2d(32, c, 1, bias=False), OutputBias(self.input_shape))
