"""Networks of the dual-discriminator GAN (Kim, Jeong, Choi, Seo 2020) for ``(C, 32, 32)`` images.

* :class:`UNetGenerator`: four 4x4 stride-2 convolutions down (32 -> 16 -> 8 -> 4 -> 2), four
  4x4 stride-2 transposed convolutions up with skip connections, ``tanh`` output (inputs in
  [-1, 1]). ``forward(x)`` returns ``(reconstruction, latent)`` like every auto-encoder of the
  package; ``latent`` is the innermost encoder feature map, shape ``(n, 8 * width, 2, 2)``.
* :class:`PatchDiscriminator`: a PatchGAN (pix2pix) returning one real/fake logit per
  overlapping patch, shape ``(n, 1, 6, 6)`` on 32x32 inputs.

Instance normalisation (not batch normalisation) so that a batch of one, the paper's setting,
trains the same way as larger batches and a sample's score does not depend on its batch.
Weights start from ``N(0, 0.02)`` (:func:`init_normal`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from torch_ae_sad.model.networks.conv import image_shape

#: The only image size the networks take (28x28 images are resized by the detector).
GAN_SIZE = 32


def init_normal(module: nn.Module, std: float = 0.02) -> None:
    """Convolution weights ``N(0, std)``, biases 0; normalisation scales ``N(1, std)``."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.InstanceNorm2d | nn.BatchNorm2d) and m.weight is not None:
            nn.init.normal_(m.weight, 1.0, std)
            nn.init.zeros_(m.bias)


def _check_width(width: int) -> int:
    if int(width) < 1:
        raise ValueError(f"width: expected >= 1, found {width}")
    return int(width)


def _down(c_in: int, c_out: int, norm: bool) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 4, stride=2, padding=1, bias=not norm),
                         *([nn.InstanceNorm2d(c_out, affine=True)] if norm else []),
                         nn.LeakyReLU(0.2))


def _up(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1, bias=False),
                         nn.InstanceNorm2d(c_out, affine=True), nn.ReLU())


class UNetGenerator(nn.Module):
    """U-Net generator: 4 stride-2 convolutions down, 4 transposed convolutions up, tanh.

    Parameters
    ----------
    input_shape : sequence of int
        ``(C, 32, 32)``, any number of channels ``C``.
    width : int
        Channels of the first convolution; the others have ``2x``, ``4x``, ``8x``.
    """

    def __init__(self, input_shape: Sequence[int], width: int = 64) -> None:
        super().__init__()
        self.input_shape = image_shape(input_shape, "UNetGenerator", sizes=(GAN_SIZE,))
        w, c = _check_width(width), self.input_shape[0]
        self.down = nn.ModuleList([_down(c, w, False), _down(w, 2 * w, True),
                                   _down(2 * w, 4 * w, True), _down(4 * w, 8 * w, False)])
        self.up = nn.ModuleList([_up(8 * w, 4 * w), _up(8 * w, 2 * w), _up(4 * w, w)])
        self.out = nn.Sequential(nn.ConvTranspose2d(2 * w, c, 4, stride=2, padding=1), nn.Tanh())

    def encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The four encoder feature maps (16x16, 8x8, 4x4, 2x2); the last is the latent."""
        feats = []
        for layer in self.down:
            x = layer(x)
            feats.append(x)
        return feats

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(reconstruction in [-1, 1], innermost encoder features)``."""
        feats = self.encode(x)
        h = feats[-1]
        for layer, skip in zip(self.up, reversed(feats[:-1]), strict=True):
            h = torch.cat([layer(h), skip], dim=1)
        return self.out(h), feats[-1]


class PatchDiscriminator(nn.Module):
    """PatchGAN discriminator: one real/fake logit per overlapping patch.

    Parameters
    ----------
    input_shape : sequence of int
        ``(C, 32, 32)``.
    width : int
        Channels of the first convolution (then ``2x``, ``4x``).
    """

    def __init__(self, input_shape: Sequence[int], width: int = 64) -> None:
        super().__init__()
        self.input_shape = image_shape(input_shape, "PatchDiscriminator", sizes=(GAN_SIZE,))
        w, c = _check_width(width), self.input_shape[0]
        self.net = nn.Sequential(
            nn.Conv2d(c, w, 4, stride=2, padding=1), nn.LeakyReLU(0.2),              # 16
            nn.Conv2d(w, 2 * w, 4, stride=2, padding=1, bias=False),                 # 8
            nn.InstanceNorm2d(2 * w, affine=True), nn.LeakyReLU(0.2),
            nn.Conv2d(2 * w, 4 * w, 4, stride=1, padding=1, bias=False),             # 7
            nn.InstanceNorm2d(4 * w, affine=True), nn.LeakyReLU(0.2),
            nn.Conv2d(4 * w, 1, 4, stride=1, padding=1))                             # 6

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Real/fake logits per patch, shape ``(n, 1, 6, 6)``."""
        return self.net(x)
