"""Variational auto-encoders (Kingma & Welling 2014): dense and convolutional.

Every VAE's ``encode(x)`` returns ``(mu, logvar)`` of the diagonal Gaussian ``q(z|x)``,
``decode(z)`` the reconstruction in the input's shape (``out_activation`` applied to
``decode_logits(z)``, the decoder's output before it: the logits of a sigmoid output, which a
binary cross-entropy takes directly), and ``forward(x, sample=True)``
``(x_hat, mu, logvar)``: decoded from ``z = mu + exp(logvar / 2) * eps`` with
``eps ~ N(0, I)`` when ``sample``, from ``mu`` otherwise. Layers only: the losses are the
detector's (:mod:`torch_ae_sad.model.detectors.vae`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from torch_ae_sad.model.networks.dense import OUTPUT_RANGES, make_activation, mlp_stack

#: Image sizes ``H == W`` the convolutional VAE accepts.
CONV_VAE_SIZES = (28, 32)


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """Return ``mu + exp(logvar / 2) * eps`` with ``eps ~ N(0, I)``.

    Computed in float32 (``eps`` drawn in float32 too), also under bfloat16 autocast.

    Parameters
    ----------
    mu, logvar : torch.Tensor
        Mean and log-variance of ``q(z|x)``, same shape.
    generator : torch.Generator, optional
        Source of ``eps`` (on ``mu``'s device); ``None`` draws from torch's global RNG.
    """
    mu, logvar = mu.float(), logvar.float()
    eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=torch.float32)
    return mu + torch.exp(0.5 * logvar) * eps


class _VAE(nn.Module):
    """Shared ``forward`` of the VAEs: subclasses define ``encode`` and ``decode``.

    Subclasses also set ``output_range``, the closed range of the reconstruction (that of
    ``out_activation``, :data:`~torch_ae_sad.model.networks.dense.OUTPUT_RANGES`), and
    ``output_activation``, the module of ``out_activation`` that :meth:`decode` applies to
    :meth:`decode_logits`.
    """

    output_range: tuple[float, float]
    output_activation: nn.Module

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(mu, logvar)`` of ``q(z|x)`` for a batch."""
        raise NotImplementedError

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        """The decoder's output before its last activation (logits of a sigmoid output)."""
        raise NotImplementedError

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Return the reconstruction (in the input's shape) of latent codes."""
        return self.output_activation(self.decode_logits(z))

    def forward(self, x: torch.Tensor, sample: bool = True
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return ``(x_hat, mu, logvar)``; ``x_hat`` decodes a sample of ``q(z|x)`` or ``mu``."""
        mu, logvar = self.encode(x)
        z = reparameterize(mu, logvar) if sample else mu
        return self.decode(z), mu, logvar


def _check_widths(values: Sequence[int], param: str) -> list[int]:
    widths = [int(v) for v in values]
    if len(widths) == 0 or any(w <= 0 for w in widths):
        raise ValueError(f"{param}: expected a non-empty list of positive sizes, found "
                         f"{list(values)}")
    return widths


class DenseVAE(_VAE):
    """``d -> hidden_dims[0] -> ... -> hidden_dims[-1] -> (mu, logvar) -> ... -> d``.

    Parameters
    ----------
    input_shape : sequence of int
        Shape of one sample (flattened inside the network; the output has the same shape).
    hidden_dims : sequence of int
        Encoder widths; the last one is also the latent size (the ``mu`` and ``logvar``
        heads). The decoder mirrors them.
    activation : str
        Hidden activation (a key of :data:`~torch_ae_sad.model.networks.dense.ACTIVATIONS`).
    out_activation : str
        The decoder's last activation (``sigmoid`` for inputs in [0, 1]).
    """

    def __init__(self, input_shape: Sequence[int], hidden_dims: Sequence[int] = (128, 32),
                 activation: str = "relu", out_activation: str = "sigmoid") -> None:
        super().__init__()
        widths = _check_widths(hidden_dims, "hidden_dims")
        make_activation(activation)
        make_activation(out_activation, "out_activation")
        self.output_range = OUTPUT_RANGES[out_activation]
        self.input_shape = tuple(int(s) for s in input_shape)
        self.latent_dim = widths[-1]
        d = 1
        for s in self.input_shape:
            d *= s
        dims = [d, *widths]
        self.encoder = nn.Sequential(mlp_stack(dims, activation, None, False),
                                     make_activation(activation))
        self.mu = nn.Linear(self.latent_dim, self.latent_dim)
        self.logvar = nn.Linear(self.latent_dim, self.latent_dim)
        self.decoder = mlp_stack(dims[::-1], activation, None, False)
        self.output_activation = make_activation(out_activation, "out_activation")

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(mu, logvar)`` of ``q(z|x)`` for a batch."""
        h = self.encoder(x.flatten(1))
        return self.mu(h), self.logvar(h)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        """The decoder's output before its last activation, in the input's shape."""
        return self.decoder(z).view(-1, *self.input_shape)


class ConvVAE(_VAE):
    """Convolutional VAE for ``(C, 28, 28)`` and ``(C, 32, 32)`` images, any ``C``.

    The encoder halves the image with each 3x3 stride-2 convolution of ``channels``, then two
    dense heads give ``mu`` and ``logvar``; the decoder maps ``z`` back with a dense layer and
    mirrors the convolutions with transposed ones.

    Parameters
    ----------
    input_shape : sequence of int
        ``(C, H, W)`` with ``H == W`` in :data:`CONV_VAE_SIZES`.
    channels : sequence of int
        Output channels of the encoder's convolutions.
    latent_dim : int
        Size of the latent code.
    activation : str
        Hidden activation.
    out_activation : str
        The decoder's last activation (``sigmoid`` for inputs in [0, 1]).
    """

    def __init__(self, input_shape: Sequence[int], channels: Sequence[int] = (32, 64),
                 latent_dim: int = 16, activation: str = "relu",
                 out_activation: str = "sigmoid") -> None:
        super().__init__()
        shape = tuple(int(s) for s in input_shape)
        if len(shape) != 3 or shape[0] < 1 or shape[1] != shape[2] \
                or shape[1] not in CONV_VAE_SIZES:
            accepted = " or ".join(f"(C, {s}, {s})" for s in CONV_VAE_SIZES)
            raise ValueError(f"ConvVAE: expected images of shape {accepted} with any number "
                             f"of channels C, found samples of shape {shape}")
        chans = _check_widths(channels, "channels")
        if int(latent_dim) <= 0:
            raise ValueError(f"latent_dim: expected a positive size, found {latent_dim}")
        make_activation(activation)
        make_activation(out_activation, "out_activation")
        self.output_range = OUTPUT_RANGES[out_activation]
        self.input_shape = shape
        self.latent_dim = int(latent_dim)
        sizes = [shape[1]]
        enc: list[nn.Module] = []
        for c_in, c_out in zip([shape[0], *chans[:-1]], chans, strict=True):
            enc += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1), make_activation(activation)]
            sizes.append((sizes[-1] + 1) // 2)
        self.feature_shape = (chans[-1], sizes[-1], sizes[-1])
        flat = chans[-1] * sizes[-1] ** 2
        self.encoder = nn.Sequential(*enc, nn.Flatten())
        self.mu = nn.Linear(flat, self.latent_dim)
        self.logvar = nn.Linear(flat, self.latent_dim)
        dec: list[nn.Module] = [nn.Linear(self.latent_dim, flat), make_activation(activation),
                                nn.Unflatten(1, self.feature_shape)]
        outs = [*chans[:-1][::-1], shape[0]]
        for i, (c_in, c_out) in enumerate(zip(chans[::-1], outs, strict=True)):
            target = sizes[-2 - i]
            dec.append(nn.ConvTranspose2d(c_in, c_out, 3, stride=2, padding=1,
                                          output_padding=1 - target % 2))
            if i < len(chans) - 1:
                dec.append(make_activation(activation))
        self.decoder = nn.Sequential(*dec)
        self.output_activation = make_activation(out_activation, "out_activation")

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(mu, logvar)`` of ``q(z|x)`` for a batch of images."""
        h = self.encoder(x.view(-1, *self.input_shape))
        return self.mu(h), self.logvar(h)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        """The decoder's output ``(n, C, H, W)`` before its last activation."""
        return self.decoder(z)


__all__ = ["CONV_VAE_SIZES", "ConvVAE", "DenseVAE", "reparameterize"]
