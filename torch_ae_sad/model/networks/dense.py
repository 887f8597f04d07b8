"""Dense (fully connected) auto-encoders of any depth, and the activations' output ranges.

Input-range contract of the reconstruction-based detectors: a decoder ending in
``out_activation`` can only output values in :data:`OUTPUT_RANGES` ``[out_activation]``, so
data outside that range cannot be reconstructed. :func:`resolve_out_activation` turns the
detectors' ``out_activation="auto"`` into ``"sigmoid"`` for training data in ``[0, 1]`` and
``"linear"`` otherwise; :func:`check_output_range` raises a ValueError (before any training)
when an explicit activation cannot reach the training data's range.
"""

from __future__ import annotations

import math
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

#: Activation name -> the closed range ``(low, high)`` of its output (``sigmoid``'s open
#: (0, 1) is closed as float32 saturates; ``gelu``'s minimum is ``x * Phi(x)`` at
#: ``x ~ -0.75``; ``leaky_relu`` has slope 0.01 below 0, so it is unbounded).
OUTPUT_RANGES: dict[str, tuple[float, float]] = {
    "relu": (0.0, math.inf),
    "leaky_relu": (-math.inf, math.inf),
    "tanh": (-1.0, 1.0),
    "sigmoid": (0.0, 1.0),
    "elu": (-1.0, math.inf),
    "gelu": (-0.1700, math.inf),
    "linear": (-math.inf, math.inf),
}
#: Slack allowed around an output range (float rounding of data scaled into it).
RANGE_TOLERANCE = 1e-6
#: The ``out_activation`` value that :func:`resolve_out_activation` picks from the data.
AUTO = "auto"


def _fmt_range(low: float, high: float) -> str:
    return f"[{low:.4g}, {high:.4g}]"


def in_unit_interval(low: float, high: float) -> bool:
    """Whether ``[low, high]`` lies in ``[0, 1]`` (up to :data:`RANGE_TOLERANCE`)."""
    return low >= -RANGE_TOLERANCE and high <= 1.0 + RANGE_TOLERANCE


def output_range(out_activation: str) -> tuple[float, float]:
    """Closed range of ``out_activation``'s output, or a ValueError naming ``out_activation``."""
    try:
        return OUTPUT_RANGES[out_activation]
    except KeyError:
        raise ValueError(f"out_activation: expected one of {[*sorted(ACTIVATIONS), AUTO]}, "
                         f"found {out_activation!r}") from None


def resolve_out_activation(out_activation: str, low: float, high: float) -> str:
    """Return the decoder's last activation for training data in ``[low, high]``.

    Parameters
    ----------
    out_activation : str
        ``"auto"`` (``"sigmoid"`` when the data lies in ``[0, 1]``, ``"linear"`` otherwise)
        or a key of :data:`ACTIVATIONS`, returned as it is after validation.
    low, high : float
        Smallest and largest value of the training data.
    """
    if out_activation == AUTO:
        return "sigmoid" if in_unit_interval(low, high) else "linear"
    output_range(out_activation)  # validates the name
    return out_activation


def check_output_range(out_activation: str, low: float, high: float, who: str) -> None:
    """Raise a ValueError when ``out_activation`` cannot output training data in ``[low, high]``.

    Parameters
    ----------
    out_activation : str
        The decoder's last activation (a key of :data:`OUTPUT_RANGES`).
    low, high : float
        Smallest and largest value of the training data.
    who : str
        The detector's name, for the message.
    """
    a, b = output_range(out_activation)
    if low >= a - RANGE_TOLERANCE and high <= b + RANGE_TOLERANCE:
        return
    raise ValueError(
        f"out_activation: {out_activation!r} outputs values in {_fmt_range(a, b)}, but "
        f"{who}'s training data lies in {_fmt_range(low, high)}, so its decoder cannot "
        f"reconstruct it. Scale the data into {_fmt_range(a, b)} (e.g. "
        "sklearn.preprocessing.MinMaxScaler fitted on the training data, which maps it to "
        "[0, 1]), or pass out_activation='linear' (any range) or 'auto' ('sigmoid' for data "
        "in [0, 1], 'linear' otherwise)")


def make_activation(name: str, param: str = "activation") -> nn.Module:
    """Return a fresh activation module for ``name`` or raise a ValueError naming ``param``."""
    try:
        return ACTIVATIONS[name]()
    except KeyError:
        raise ValueError(f"{param}: expected one of {sorted(ACTIVATIONS)}, "
                         f"found {name!r}") from None


def mlp_stack(dims: Sequence[int], activation: str, last: str | None,
              batch_norm: bool) -> nn.Sequential:
    """Linear layers through ``dims``: ``activation`` (and batch norm) between, ``last`` after."""
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

    Attributes
    ----------
    output_range : tuple of float
        Closed range of the reconstruction (:data:`OUTPUT_RANGES` of ``out_activation``).
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
        self.encoder = mlp_stack(dims, activation, latent_activation, batch_norm)
        self.decoder = mlp_stack(dims[::-1], activation, out_activation, batch_norm)
        self.output_range = OUTPUT_RANGES[out_activation]

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
