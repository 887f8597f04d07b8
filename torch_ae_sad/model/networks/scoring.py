"""Scoring networks of the weakly-supervised detectors (DevNet, PReNet, FEAWAD): layers only.

* :func:`feature_network`: the feature learner ``phi``: a dense stack (``Linear -> ReLU`` per
  hidden width, DevNet's and PReNet's authors: one layer of 20 units) or, for
  ``(C, 28, 28)`` / ``(C, 32, 32)`` images, Deep SAD's LeNet encoder followed by a ReLU.
* :class:`ScoreNet`: ``phi`` then a linear layer to one anomaly score (DevNet).
* :class:`PairNet`: ``phi`` shared by the two members of a pair, their features concatenated,
  a linear layer to one relation score (PReNet).
* :class:`FeawadNet`: an auto-encoder whose hidden code, normalised reconstruction residual
  and reconstruction error feed a dense scorer, the error concatenated again to every hidden
  layer's output (FEAWAD's authors' ``dev_network_d``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from torch_ae_sad.model.networks.conv import IMAGE_SIZES
from torch_ae_sad.model.networks.dense import mlp_stack
from torch_ae_sad.model.networks.lenet import LeNetEncoder

#: Feature networks :func:`feature_network` builds (``auto`` is resolved by the detectors).
FEATURE_NETWORKS = ("dense", "lenet")


def is_lenet_image(shape: Sequence[int]) -> bool:
    """Whether samples of ``shape`` are ``(C, 28, 28)`` / ``(C, 32, 32)`` images."""
    return len(shape) == 3 and shape[1] == shape[2] and shape[1] in IMAGE_SIZES


def _widths(values: Sequence[int], name: str = "hidden_dims") -> list[int]:
    widths = [int(v) for v in values]
    if not widths or any(w <= 0 for w in widths):
        raise ValueError(f"{name}: expected a non-empty list of positive widths, found "
                         f"{list(values)}")
    return widths


def feature_network(network: str, input_shape: Sequence[int], hidden_dims: Sequence[int],
                    rep_dim: int) -> tuple[nn.Module, int]:
    """The feature learner ``phi`` and the width of its output.

    Parameters
    ----------
    network : {"dense", "lenet"}
        ``dense``: ``Flatten -> (Linear -> ReLU)`` per width of ``hidden_dims``; ``lenet``:
        :class:`~torch_ae_sad.model.networks.lenet.LeNetEncoder` (``rep_dim`` outputs) and a
        ReLU, for ``(C, 28, 28)`` / ``(C, 32, 32)`` images.
    input_shape : sequence of int
        Shape of one sample.
    hidden_dims : sequence of int
        Widths of the dense stack.
    rep_dim : int
        Output size of the LeNet encoder.
    """
    if network == "lenet":
        return nn.Sequential(LeNetEncoder(input_shape, rep_dim), nn.ReLU()), int(rep_dim)
    if network != "dense":
        raise ValueError(f"network: expected one of {FEATURE_NETWORKS}, found {network!r}")
    widths = _widths(hidden_dims)
    dims = [math.prod(int(s) for s in input_shape), *widths]
    return nn.Sequential(nn.Flatten(), mlp_stack(dims, "relu", "relu", False)), widths[-1]


class ScoreNet(nn.Module):
    """``phi`` followed by a linear layer to one score per sample (DevNet).

    Parameters
    ----------
    features : nn.Module
        The feature learner ``phi`` (:func:`feature_network`).
    width : int
        Size of ``phi``'s output.
    """

    def __init__(self, features: nn.Module, width: int) -> None:
        super().__init__()
        self.features = features
        self.score = nn.Linear(width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Scores, shape ``(n,)``."""
        return self.score(self.features(x)).squeeze(1)


class PairNet(nn.Module):
    """A shared ``phi`` of both members of a pair, a linear relation layer on both (PReNet).

    Parameters
    ----------
    features : nn.Module
        The feature learner ``phi`` (:func:`feature_network`), shared by both members.
    width : int
        Size of ``phi``'s output (the relation layer sees twice this).
    """

    def __init__(self, features: nn.Module, width: int) -> None:
        super().__init__()
        self.features = features
        self.relation = nn.Linear(2 * width, 1)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """``phi(x)``, shape ``(n, width)``."""
        return self.features(x)

    def relate(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        """Relation scores of feature pairs (any leading shape, features last)."""
        return self.relation(torch.cat([first, second], dim=-1)).squeeze(-1)

    def forward(self, pairs: torch.Tensor) -> torch.Tensor:
        """Relation scores of pairs of shape ``(n, 2, ...)``; shape ``(n,)``.

        Both members go through ``phi`` as one batch (one set of batch statistics).
        """
        e = self.embed(pairs.flatten(0, 1)).view(len(pairs), 2, -1)
        return self.relate(e[:, 0], e[:, 1])


class _DenseAE(nn.Module):
    """The dense auto-encoder of :class:`FeawadNet`: ``forward`` -> ``(x_hat, code)``."""

    def __init__(self, d: int, widths: Sequence[int], input_layer: bool) -> None:
        super().__init__()
        first = [d, d] if input_layer else [d]
        self.encoder = mlp_stack([*first, *widths], "relu", "relu", False)
        self.decoder = mlp_stack([widths[-1], *widths[-2::-1], d], "relu", None, False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        code = self.encoder(x.flatten(1))
        return self.decoder(code).view(x.shape), code


class FeawadNet(nn.Module):
    """FEAWAD's network: a dense auto-encoder and a scorer of its encoding of ``x``.

    The auto-encoder ``d -> [d ->] hidden_dims -> reversed(hidden_dims[:-1]) -> d`` (the
    authors' ``d -> d -> 128 -> 64 -> 128 -> d``) has ReLU hidden layers and
    a ReLU code (the authors') and a linear output (any input range; the authors' ends in
    ReLU). With ``r = x - x_hat`` and ``e = ||r||_2``, the scorer sees
    ``[r / e, code, e]``; each hidden layer (``score_dims``, ReLU) is followed by ``e``
    concatenated again; a linear layer gives the score.

    Parameters
    ----------
    input_shape : sequence of int
        Shape of one sample (flattened inside).
    hidden_dims : sequence of int
        Encoder widths after the input layer; the last is the code (authors: 128, 64).
    score_dims : sequence of int
        Hidden widths of the scorer (authors: 256, 32).
    input_layer : bool
        Start the encoder with a ReLU layer as wide as the input (the authors' ``ain``).

    Attributes
    ----------
    autoencoder : nn.Module
        The auto-encoder alone (pre-trained first), ``forward`` -> ``(x_hat, code)``.
    """

    def __init__(self, input_shape: Sequence[int], hidden_dims: Sequence[int] = (128, 64),
                 score_dims: Sequence[int] = (256, 32), input_layer: bool = True) -> None:
        super().__init__()
        self.input_shape = tuple(int(s) for s in input_shape)
        d = math.prod(self.input_shape)
        widths = _widths(hidden_dims)
        self.autoencoder = _DenseAE(d, widths, input_layer)
        dims = [d + widths[-1] + 1, *_widths(score_dims, "score_dims")]
        self.hidden = nn.ModuleList(nn.Linear(a + (i > 0), b)
                                    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:],
                                                                   strict=True)))
        self.score = nn.Linear(dims[-1] + 1, 1)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The hidden code of a batch."""
        return self.autoencoder.encoder(x.flatten(1))

    def decode(self, code: torch.Tensor) -> torch.Tensor:
        """Reconstructions, in the input's shape."""
        return self.autoencoder.decoder(code).view(-1, *self.input_shape)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(score, e)``: the scores and the reconstruction errors ``||x - x_hat||_2``."""
        x_hat, code = self.autoencoder(x)
        r = (x - x_hat).flatten(1)
        e = r.norm(dim=1, keepdim=True)
        h = torch.cat([r / e.clamp_min(1e-12), code, e], dim=1)
        for layer in self.hidden:
            h = torch.cat([torch.relu(layer(h)), e], dim=1)
        return self.score(h).squeeze(1), e.squeeze(1)


__all__ = ["FEATURE_NETWORKS", "FeawadNet", "PairNet", "ScoreNet", "feature_network",
           "is_lenet_image"]
