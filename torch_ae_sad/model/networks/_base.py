"""The ``encode`` / ``decode`` / ``forward`` shared by the encoder + decoder networks."""

from __future__ import annotations

import torch
from torch import nn


class EncoderDecoder(nn.Module):
    """An ``encoder`` + ``decoder`` pair; ``forward`` returns ``(reconstruction, latent)``.

    Subclasses set ``input_shape``, ``encoder``, ``decoder`` and ``output_range``, the closed
    range ``(low, high)`` the reconstruction can take (that of the decoder's last activation,
    :data:`~torch_ae_sad.model.networks.dense.OUTPUT_RANGES`; ``(-inf, inf)`` when linear).
    """

    input_shape: tuple[int, ...]
    encoder: nn.Module
    decoder: nn.Module
    output_range: tuple[float, float]

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Return the latent code of a batch."""
        return self.encoder(x.reshape(-1, *self.input_shape))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Return the reconstruction (in the input's shape) of latent codes."""
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(reconstruction, latent)``."""
        z = self.encode(x)
        return self.decode(z), z
