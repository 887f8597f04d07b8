"""Convolutional auto-encoders for ``(C, 28, 28)`` and ``(C, 32, 32)`` images, any ``C``.

* :class:`ConvAutoEncoderNet`: stride-2 convolutions down, a dense latent, transposed
  convolutions up (the package's general-purpose image auto-encoder).
* :class:`TollMnistNet`: the MNIST architecture of TOLL (Soltanilara et al., appendix B).

Every auto-encoder's ``forward(x)`` returns ``(reconstruction, latent)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import nn

from torch_ae_sad.model.networks._base import EncoderDecoder
from torch_ae_sad.model.networks.dense import OUTPUT_RANGES, make_activation

#: Image sizes ``H == W`` the convolutional networks accept.
IMAGE_SIZES = (28, 32)


def image_shape(input_shape: Sequence[int], who: str,
                sizes: Sequence[int] = IMAGE_SIZES) -> tuple[int, int, int]:
    """Return ``input_shape`` as ``(C, H, W)`` or raise a ValueError naming ``who``.

    Parameters
    ----------
    input_shape : sequence of int
        Shape of one sample.
    who : str
        The network's name, for the message.
    sizes : sequence of int
        Accepted square image sizes ``H == W``.
    """
    shape = tuple(int(s) for s in input_shape)
    if len(shape) != 3 or shape[0] < 1 or shape[1] != shape[2] or shape[1] not in sizes:
        wanted = " or ".join(f"(C, {s}, {s})" for s in sizes)
        raise ValueError(f"{who}: expected images of shape {wanted}, found {shape}; pass images "
                         "as (n, C, H, W)")
    return shape  # type: ignore[return-value]


def _positive(values: Sequence[int], param: str) -> list[int]:
    out = [int(v) for v in values]
    if len(out) == 0 or any(v <= 0 for v in out):
        raise ValueError(f"{param}: expected a non-empty list of positive sizes, found "
                         f"{list(values)}")
    return out


class ConvAutoEncoderNet(EncoderDecoder):
    """Convolutional auto-encoder with a dense latent code.

    Encoder: one 3x3 stride-2 convolution per entry of ``channels`` (28 -> 14 -> 7, or
    32 -> 16 -> 8), each followed by optional batch normalisation and ``activation``, then a
    linear layer to ``latent_dim`` units. The decoder mirrors it with a linear layer and 3x3
    stride-2 transposed convolutions whose output padding restores each encoder size, so the
    reconstruction has exactly the input's shape.

    Parameters
    ----------
    input_shape : sequence of int
        ``(C, 28, 28)`` or ``(C, 32, 32)``, any number of channels ``C``.
    channels : sequence of int
        Output channels of the encoder's convolutions.
    latent_dim : int
        Size of the latent code.
    activation : str
        Hidden activation (a key of :data:`~torch_ae_sad.model.networks.dense.ACTIVATIONS`).
    out_activation : str
        The decoder's last activation (``sigmoid`` for inputs in [0, 1]).
    batch_norm : bool
        Batch normalisation after each hidden convolution.
    """

    def __init__(self, input_shape: Sequence[int], channels: Sequence[int] = (32, 64),
                 latent_dim: int = 32, activation: str = "relu",
                 out_activation: str = "sigmoid", batch_norm: bool = False) -> None:
        super().__init__()
        self.input_shape = image_shape(input_shape, "ConvAutoEncoderNet")
        chans = _positive(channels, "channels")
        if int(latent_dim) < 1:
            raise ValueError(f"latent_dim: expected >= 1, found {latent_dim}")
        make_activation(activation)
        make_activation(out_activation, "out_activation")
        self.output_range = OUTPUT_RANGES[out_activation]
        self.latent_dim = int(latent_dim)
        c_in, side = self.input_shape[0], self.input_shape[1]
        sizes = [side]
        for _ in chans:
            sizes.append((sizes[-1] + 1) // 2)  # 3x3 kernel, stride 2, padding 1

        def block(conv: nn.Module, width: int) -> list[nn.Module]:
            return [conv, *([nn.BatchNorm2d(width)] if batch_norm else []),
                    make_activation(activation)]

        down: list[nn.Module] = []
        for c_prev, c_out in zip([c_in, *chans[:-1]], chans, strict=True):
            down += block(nn.Conv2d(c_prev, c_out, 3, stride=2, padding=1), c_out)
        flat = chans[-1] * sizes[-1] ** 2
        self.encoder = nn.Sequential(*down, nn.Flatten(), nn.Linear(flat, self.latent_dim))

        up: list[nn.Module] = [nn.Linear(self.latent_dim, flat), make_activation(activation),
                               nn.Unflatten(1, (chans[-1], sizes[-1], sizes[-1]))]
        outs = [c_in, *chans[:-1]]
        for i in range(len(chans) - 1, -1, -1):
            pad = sizes[i] - (2 * sizes[i + 1] - 1)  # 0 or 1: restores the encoder's size
            deconv = nn.ConvTranspose2d(chans[i], outs[i], 3, stride=2, padding=1,
                                        output_padding=pad)
            if i > 0:
                up += block(deconv, outs[i])
            else:
                up += [deconv, make_activation(out_activation, "out_activation")]
        self.decoder = nn.Sequential(*up)


class TollMnistNet(EncoderDecoder):
    """TOLL's MNIST auto-encoder (Soltanilara et al., appendix B; authors' ``Soltanilara/Toll``).

    Encoder: 4x4 convolutions 64, 128, 256 (stride 2), 512 channels, each with batch
    normalisation and leaky ReLU (slope 0.2), then a 4x4 convolution to 64 channels
    (28 -> 25 -> 22 -> 10 -> 7 -> 4) and a linear layer from ``64 * 4 * 4`` to
    ``latent_dim``. The decoder mirrors it with transposed convolutions and has a linear
    output (no final activation), as in the paper.

    Parameters
    ----------
    input_shape : sequence of int
        ``(C, 28, 28)``, any ``C`` (MNIST: ``(1, 28, 28)``).
    latent_dim : int
        Size of the latent code (paper: 128 for MNIST, 256 for Fashion-MNIST).
    """

    output_range = (-math.inf, math.inf)

    def __init__(self, input_shape: Sequence[int] = (1, 28, 28), latent_dim: int = 128) -> None:
        super().__init__()
        self.input_shape = image_shape(input_shape, "TollMnistNet", sizes=(28,))
        if int(latent_dim) < 1:
            raise ValueError(f"latent_dim: expected >= 1, found {latent_dim}")
        self.latent_dim = int(latent_dim)
        c = self.input_shape[0]

        def down(c_in: int, c_out: int, stride: int = 1) -> list[nn.Module]:
            return [nn.Conv2d(c_in, c_out, 4, stride=stride), nn.BatchNorm2d(c_out),
                    nn.LeakyReLU(0.2)]

        def up(c_in: int, c_out: int, stride: int = 1) -> list[nn.Module]:
            return [nn.ConvTranspose2d(c_in, c_out, 4, stride=stride), nn.BatchNorm2d(c_out),
                    nn.LeakyReLU(0.2)]

        self.encoder = nn.Sequential(
            *down(c, 64), *down(64, 128), *down(128, 256, stride=2), *down(256, 512),
            nn.Conv2d(512, 64, 4), nn.Flatten(), nn.Linear(64 * 4 * 4, self.latent_dim))
        self.decoder = nn.Sequential(
            nn.Linear(self.latent_dim, 64 * 4 * 4), nn.Unflatten(1, (64, 4, 4)),
            *up(64, 512), *up(512, 256), *up(256, 128, stride=2), *up(128, 64),
            nn.ConvTranspose2d(64, c, 4))
