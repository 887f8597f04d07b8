"""Bias-free networks of Deep SAD (Ruff et al. 2020; authors' ``lukasruff/Deep-SAD-PyTorch``).

Deep SAD maps data into a hypersphere around a centre ``c``; a network with bias terms (or
affine batch normalisation) could map every input to ``c`` with all weights zero, the trivial
collapse. So every layer here is bias-free: convolutions and linear layers with
``bias=False``, batch normalisation with ``affine=False`` (``eps=1e-4``), leaky ReLU (slope
0.01) as in the authors' code.

* :class:`LeNetEncoder` / :class:`LeNetAutoEncoder`: the authors' ``MNIST_LeNet`` for
  ``(C, 28, 28)`` images (5x5 convolutions 8, 4 with 2x2 max-pooling, then a linear layer to
  ``rep_dim``; authors' ``rep_dim`` 32) and ``CIFAR10_LeNet`` for ``(C, 32, 32)`` (convolutions
  32, 64, 128; authors' ``rep_dim`` 128), with their decoders (nearest 2x upsampling and 5x5
  transposed convolutions from a ``(rep_dim / 16, 4, 4)`` seed, sigmoid output). Any number
  of channels ``C``.
* :class:`DenseBiasFreeEncoder` / :class:`DenseBiasFreeAutoEncoder`: the authors' ``MLP``
  for tabular data (``Linear -> BatchNorm1d -> leaky ReLU`` per hidden width, then a linear
  code layer).

Encoders return the representation ``phi(x)``; auto-encoders return ``(reconstruction,
latent)`` and have ``encode``/``decode`` and an ``encoder`` attribute holding the encoder.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from torch_ae_sad.model.networks._base import EncoderDecoder
from torch_ae_sad.model.networks.conv import image_shape
from torch_ae_sad.model.networks.dense import OUTPUT_RANGES, make_activation

#: Image side -> convolution widths of the LeNet encoder (MNIST-style 28, CIFAR-style 32).
LENET_WIDTHS: dict[int, tuple[int, ...]] = {28: (8, 4), 32: (32, 64, 128)}
#: Batch normalisation epsilon of the authors' networks.
BN_EPS = 1e-4


def _check_rep_dim(rep_dim: int) -> int:
    if int(rep_dim) < 1:
        raise ValueError(f"rep_dim: expected >= 1, found {rep_dim}")
    return int(rep_dim)


def _check_widths(values: Sequence[int]) -> list[int]:
    widths = [int(v) for v in values]
    if len(widths) == 0 or any(w <= 0 for w in widths):
        raise ValueError(f"hidden_dims: expected a non-empty list of positive widths, found "
                         f"{list(values)}")
    return widths


def _flat_size(input_shape: Sequence[int]) -> int:
    return math.prod(int(s) for s in input_shape)


class LeNetEncoder(nn.Module):
    """Deep SAD's bias-free LeNet encoder ``phi`` (MNIST or CIFAR-10 variant by image size).

    Parameters
    ----------
    input_shape : sequence of int
        ``(C, 28, 28)`` (MNIST variant) or ``(C, 32, 32)`` (CIFAR-10 variant), any ``C``.
    rep_dim : int
        Size of the representation (authors: 32 on MNIST, 128 on CIFAR-10).
    """

    def __init__(self, input_shape: Sequence[int], rep_dim: int = 32) -> None:
        super().__init__()
        self.input_shape = image_shape(input_shape, "LeNetEncoder")
        self.rep_dim = _check_rep_dim(rep_dim)
        c_in, side = self.input_shape[0], self.input_shape[1]
        self.variant = "mnist" if side == 28 else "cifar10"
        widths = LENET_WIDTHS[side]
        layers: list[nn.Module] = []
        for c_prev, c_out in zip([c_in, *widths[:-1]], widths, strict=True):
            layers += [nn.Conv2d(c_prev, c_out, 5, padding=2, bias=False),
                       nn.BatchNorm2d(c_out, eps=BN_EPS, affine=False), nn.LeakyReLU(),
                       nn.MaxPool2d(2, 2)]
        out_side = side // 2 ** len(widths)  # 28 -> 7, 32 -> 4
        self.features = nn.Sequential(*layers, nn.Flatten())
        self.code = nn.Linear(widths[-1] * out_side**2, self.rep_dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the representation ``phi(x)``, shape ``(n, rep_dim)``."""
        return self.code(self.features(x.reshape(-1, *self.input_shape)))


class LeNetDecoder(nn.Module):
    """Bias-free decoder of :class:`LeNetAutoEncoder`.

    The code is reshaped to ``(rep_dim / 16, 4, 4)``; when ``rep_dim`` is not a multiple of
    16 a bias-free linear layer first maps it to the next multiple (not in the authors' code,
    which needs ``rep_dim % 16 == 0``).

    Parameters
    ----------
    output_shape : sequence of int
        ``(C, 28, 28)`` or ``(C, 32, 32)``.
    rep_dim : int
        Size of the code.
    out_activation : str
        Final activation (authors: ``sigmoid``).
    """

    def __init__(self, output_shape: Sequence[int], rep_dim: int = 32,
                 out_activation: str = "sigmoid") -> None:
        super().__init__()
        self.output_shape = image_shape(output_shape, "LeNetDecoder")
        self.rep_dim = _check_rep_dim(rep_dim)
        c_out, side = self.output_shape[0], self.output_shape[1]
        seed = -(-self.rep_dim // 16)  # channels of the 4x4 seed
        layers: list[nn.Module] = []
        if self.rep_dim != 16 * seed:
            layers.append(nn.Linear(self.rep_dim, 16 * seed, bias=False))
        layers += [nn.Unflatten(1, (seed, 4, 4)), nn.LeakyReLU()]

        def deconv(c_in: int, c: int, padding: int = 2) -> nn.ConvTranspose2d:
            return nn.ConvTranspose2d(c_in, c, 5, padding=padding, bias=False)

        def bn_act_up(c: int) -> list[nn.Module]:
            return [nn.BatchNorm2d(c, eps=BN_EPS, affine=False), nn.LeakyReLU(),
                    nn.Upsample(scale_factor=2)]

        if side == 28:  # 4 -> 8 -> 8 -> 16 -> 14 -> 28 -> 28
            layers += [nn.Upsample(scale_factor=2), deconv(seed, 4), *bn_act_up(4),
                       deconv(4, 8, padding=3), *bn_act_up(8), deconv(8, c_out)]
        else:  # 4 -> 4 -> 8 -> 8 -> 16 -> 16 -> 32 -> 32
            layers += [deconv(seed, 128), *bn_act_up(128), deconv(128, 64), *bn_act_up(64),
                       deconv(64, 32), *bn_act_up(32), deconv(32, c_out)]
            gain = nn.init.calculate_gain("leaky_relu")
            for m in layers:
                if isinstance(m, nn.ConvTranspose2d):  # the authors' CIFAR-10 initialisation
                    nn.init.xavier_uniform_(m.weight, gain=gain)
        layers.append(make_activation(out_activation, "out_activation"))
        self.layers = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Return the reconstruction, shape ``(n, C, H, W)``."""
        return self.layers(z)


class LeNetAutoEncoder(EncoderDecoder):
    """Deep SAD's pre-training auto-encoder: :class:`LeNetEncoder` + :class:`LeNetDecoder`.

    Parameters
    ----------
    input_shape : sequence of int
        ``(C, 28, 28)`` or ``(C, 32, 32)``, any ``C``.
    rep_dim : int
        Size of the latent code.
    out_activation : str
        The decoder's last activation (authors: ``sigmoid``).
    """

    def __init__(self, input_shape: Sequence[int], rep_dim: int = 32,
                 out_activation: str = "sigmoid") -> None:
        super().__init__()
        self.encoder = LeNetEncoder(input_shape, rep_dim)
        self.decoder = LeNetDecoder(input_shape, rep_dim, out_activation)
        self.input_shape = self.encoder.input_shape
        self.output_range = OUTPUT_RANGES[out_activation]


def _bias_free_mlp(dims: Sequence[int]) -> list[nn.Module]:
    """``Linear -> BatchNorm1d -> leaky ReLU`` for each step of ``dims``, all bias-free."""
    layers: list[nn.Module] = []
    for d_in, d_out in zip(dims[:-1], dims[1:], strict=True):
        layers += [nn.Linear(d_in, d_out, bias=False),
                   nn.BatchNorm1d(d_out, eps=BN_EPS, affine=False), nn.LeakyReLU()]
    return layers


class DenseBiasFreeEncoder(nn.Module):
    """Deep SAD's bias-free MLP encoder ``d -> hidden_dims -> rep_dim`` for tabular data.

    Parameters
    ----------
    input_shape : sequence of int
        Shape of one sample (flattened inside the network).
    hidden_dims : sequence of int
        Hidden widths (authors: ``(128, 64)`` on arrhythmia, ``(32, 16)`` on smaller sets).
    rep_dim : int
        Size of the representation (authors: 32 on arrhythmia, 8 or 4 on smaller sets).
    """

    def __init__(self, input_shape: Sequence[int], hidden_dims: Sequence[int] = (128, 64),
                 rep_dim: int = 32) -> None:
        super().__init__()
        self.input_shape = tuple(int(s) for s in input_shape)
        self.rep_dim = _check_rep_dim(rep_dim)
        widths = _check_widths(hidden_dims)
        self.hidden = nn.Sequential(*_bias_free_mlp([_flat_size(self.input_shape), *widths]))
        self.code = nn.Linear(widths[-1], self.rep_dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the representation ``phi(x)``, shape ``(n, rep_dim)``."""
        return self.code(self.hidden(x.flatten(1)))


class DenseBiasFreeDecoder(nn.Module):
    """Mirror of :class:`DenseBiasFreeEncoder`: ``rep_dim -> reversed(hidden_dims) -> d``.

    Parameters
    ----------
    output_shape : sequence of int
        Shape of one sample (the output is reshaped to it).
    hidden_dims : sequence of int
        The encoder's hidden widths (used in reverse order).
    rep_dim : int
        Size of the code.
    out_activation : str
        Final activation (authors: ``sigmoid``; ``linear`` for standardised data).
    """

    def __init__(self, output_shape: Sequence[int], hidden_dims: Sequence[int] = (128, 64),
                 rep_dim: int = 32, out_activation: str = "sigmoid") -> None:
        super().__init__()
        self.output_shape = tuple(int(s) for s in output_shape)
        self.rep_dim = _check_rep_dim(rep_dim)
        widths = _check_widths(hidden_dims)[::-1]
        self.layers = nn.Sequential(
            *_bias_free_mlp([self.rep_dim, *widths]),
            nn.Linear(widths[-1], _flat_size(self.output_shape), bias=False),
            make_activation(out_activation, "out_activation"))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Return the reconstruction in the sample shape."""
        return self.layers(z).view(-1, *self.output_shape)


class DenseBiasFreeAutoEncoder(EncoderDecoder):
    """Deep SAD's pre-training MLP auto-encoder (bias-free encoder and decoder).

    Parameters
    ----------
    input_shape : sequence of int
        Shape of one sample.
    hidden_dims : sequence of int
        Encoder widths before the code; the decoder mirrors them.
    rep_dim : int
        Size of the latent code.
    out_activation : str
        The decoder's last activation (authors: ``sigmoid``).
    """

    def __init__(self, input_shape: Sequence[int], hidden_dims: Sequence[int] = (128, 64),
                 rep_dim: int = 32, out_activation: str = "sigmoid") -> None:
        super().__init__()
        self.encoder = DenseBiasFreeEncoder(input_shape, hidden_dims, rep_dim)
        self.decoder = DenseBiasFreeDecoder(input_shape, hidden_dims, rep_dim, out_activation)
        self.input_shape = self.encoder.input_shape
        self.output_range = OUTPUT_RANGES[out_activation]
