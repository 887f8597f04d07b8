"""Dense (fully connected) auto-encoders of any depth."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

#: Activation name -> module factory (``linear`` is the identity).
ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "linear": nn.Identity,
}


def make_activation(name: str, param: str = "activation") -> nn.Module:
    """Return a fresh activation module for ``name`` or raise a ValueError naming ``param``."""
    try:
        return ACTIVATIONS[name]()
    except KeyError:
        raise ValueError(f"{param}: expected one of {sorted(ACTIVATIONS)}, "
                         f"found {name!r}") from None


def _mlp(dims: Sequence[int], activation: str, last: str | None, batch_norm: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (d_in, d_out) in enumerate(zip(dims[:-1], dims[1:], strict=True)):
        layers.append(nn.Linear(d_in, d_out))
        is_last = i == len(dims) - 2
        if is_last:
            if last is not None:
                layers.append(make_activation(last, "out_activation"))
        else:
            if batch_norm:
                layers.append(nn.BatchNorm1d(d_out))
            layers.append(make_activation(activation))
    return nn.Sequential(*layers)


class DenseAutoEncoder(nn.Module):
    """``d -> hidden_dims[0] -> ... -> hidden_dims[-1] (latent) -> ... -> d``.

    Parameters
    ----------
    input_shape : sequence of int
        Shape of one sample (flattened inside the network; the output has the same shape).
    hidden_dims : sequence of int
        Encoder widths; the last one is the latent size. The decoder mirrors them.
    activation : str
        Hidden activation (a key of :data:`ACTIVATIONS`).
    out_activation : str
        The decoder's last activation (``sigmoid``, ``relu``, ``tanh``, ``linear``, ...).
    latent_activation : str
        Activation on the latent code (``linear`` by default).
    batch_norm : bool
        Batch normalisation after each hidden linear layer.
    """

    def __init__(self, input_shape: Sequence[int], hidden_dims: Sequence[int] = (128, 32),
                 activation: str = "relu", out_activation: str = "sigmoid",
                 latent_activation: str = "linear", batch_norm: bool = False) -> None:
        super().__init__()
        if len(hidden_dims) == 0 or any(int(h) <= 0 for h in hidden_dims):
            raise ValueError(f"hidden_dims: expected a non-empty list of positive widths, found "
                             f"{list(hidden_dims)}")
        self.input_shape = tuple(int(s) for s in input_shape)
        d = 1
        for s in self.input_shape:
            d *= s
        dims = [d, *[int(h) for h in hidden_dims]]
        self.encoder = _mlp(dims, activation, latent_activation, batch_norm)
        self.decoder = _mlp(dims[::-1], activation, out_activation, batch_norm)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Return the latent code of a batch."""
        return self.encoder(x.flatten(1))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Return the reconstruction (in the input's shape) of latent codes."""
        return self.decoder(z).view(-1, *self.input_shape)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(reconstruction, latent)``."""
        z = self.encode(x)
        return self.decode(z), z
