"""Hyper-parameters and network of the detectors built on one auto-encoder.

Input range: a decoder can only reconstruct data inside the range of its last activation
(:data:`~torch_ae_sad.model.networks.dense.OUTPUT_RANGES`: ``sigmoid`` [0, 1], ``tanh``
[-1, 1], ``relu`` [0, inf), ``linear`` any). With ``out_activation="auto"`` (the default),
``fit`` picks ``"sigmoid"`` when the training data lies in [0, 1] (images divided by 255,
min-max scaled tables) and ``"linear"`` otherwise (standardised or raw data), and records the
choice in the fitted attribute ``out_activation_``. An explicit activation whose range does not
hold the training data raises a ValueError before any training, naming both ranges and the fix
(scale the data, e.g. with ``sklearn.preprocessing.MinMaxScaler``, or pass
``out_activation="linear"`` / ``"auto"``). Networks with a fixed linear output
(``toll_mnist``, ``toll_cifar``) ignore ``out_activation`` and take any range
(``out_activation_ == "linear"``). Only the training data is checked: data scored later may
leave the range (its reconstruction error is then simply larger).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from torch import nn

from torch_ae_sad.model.base import TorchDetector, hyperparameters
from torch_ae_sad.model.networks import (
    FIXED_OUT_ACTIVATIONS,
    check_output_range,
    make_autoencoder,
    resolve_out_activation,
)


@hyperparameters
class BaseAutoEncoderDetector(TorchDetector):
    """A torch detector whose module is :func:`make_autoencoder`'s (not registered).

    Parameters
    ----------
    network : str
        The auto-encoder (``dense``, ``conv``, ...; see
        :func:`~torch_ae_sad.model.networks.make_autoencoder`).
    hidden_dims : sequence of int
        Encoder widths, the last one the latent size; the decoder mirrors them.
    channels : sequence of int
        Convolution channels of the convolutional networks.
    activation : str
        Hidden activation.
    out_activation : str
        The decoder's last activation: ``"auto"`` (default: ``"sigmoid"`` for training data in
        [0, 1], ``"linear"`` otherwise) or a name such as ``"sigmoid"``, ``"tanh"``,
        ``"relu"``, ``"linear"``, which must be able to output the training data's range
        (a ValueError before training otherwise; see the module docstring).
    batch_norm : bool
        Batch normalisation in the hidden layers.

    Attributes
    ----------
    out_activation_ : str
        The decoder's last activation used by the fit (``"auto"`` resolved).
    """

    network: str = "dense"
    hidden_dims: Sequence[int] = (128, 32)
    channels: Sequence[int] = (32, 64)
    activation: str = "relu"
    out_activation: str = "auto"
    batch_norm: bool = False

    def _resolve_out_activation(self, low: float, high: float) -> str:
        """The last activation for training data in ``[low, high]`` (``"auto"`` resolved)."""
        fixed = FIXED_OUT_ACTIVATIONS.get(self.network)
        resolved = resolve_out_activation(self.out_activation, low, high)
        return resolved if fixed is None else fixed

    def _check_input_range(self, X: np.ndarray) -> None:
        low, high = float(X.min()), float(X.max())
        self.out_activation_ = self._resolve_out_activation(low, high)
        check_output_range(self.out_activation_, low, high, type(self).__name__)

    def _build_module(self, input_shape: tuple[int, ...]) -> nn.Module:
        out = getattr(self, "out_activation_", None)
        if out is None:  # built outside fit: no training data to resolve "auto" by
            fixed = FIXED_OUT_ACTIVATIONS.get(self.network)
            if self.out_activation == "auto" and fixed is None:
                raise ValueError("out_activation='auto' is resolved from the training data in "
                                 "fit; pass an activation to build the network outside fit")
            out = fixed or self.out_activation
        return make_autoencoder(self.network, input_shape, hidden_dims=self.hidden_dims,
                                channels=self.channels, activation=self.activation,
                                out_activation=out, batch_norm=self.batch_norm)
