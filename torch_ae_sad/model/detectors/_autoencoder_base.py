"""Hyper-parameters and network of the detectors built on one auto-encoder."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from torch_ae_sad.model.base import TorchDetector, hyperparameters
from torch_ae_sad.model.networks import make_autoencoder


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
    activation, out_activation : str
        Hidden activation and the decoder's last activation.
    batch_norm : bool
        Batch normalisation in the hidden layers.
    """

    network: str = "dense"
    hidden_dims: Sequence[int] = (128, 32)
    channels: Sequence[int] = (32, 64)
    activation: str = "relu"
    out_activation: str = "sigmoid"
    batch_norm: bool = False

    def _build_module(self, input_shape: tuple[int, ...]) -> nn.Module:
        return make_autoencoder(self.network, input_shape, hidden_dims=self.hidden_dims,
                                channels=self.channels, activation=self.activation,
                                out_activation=self.out_activation, batch_norm=self.batch_norm)
