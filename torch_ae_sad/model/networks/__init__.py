"""Networks: ``nn.Module``s only (layers and forward passes), no loss or training code.

Every auto-encoder's ``forward(x)`` returns ``(reconstruction, latent)``, it has
``encode``/``decode`` and ``output_range``, the closed range its reconstruction can take
(:data:`OUTPUT_RANGES` of its last activation). :func:`make_autoencoder` builds one by name,
the way detectors do; :func:`check_output_range` and :func:`resolve_out_activation` are the
detectors' input-range contract (see :mod:`~torch_ae_sad.model.networks.dense`).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from torch_ae_sad.model.networks.dense import (
    ACTIVATIONS,
    OUTPUT_RANGES,
    DenseAutoEncoder,
    check_output_range,
    in_unit_interval,
    make_activation,
    resolve_out_activation,
)

#: Auto-encoder network names understood by :func:`make_autoencoder`.
AUTOENCODER_NETWORKS = ("dense", "conv", "toll_mnist", "toll_cifar", "lenet")
#: Networks whose last activation is fixed by the architecture (``out_activation`` is ignored).
FIXED_OUT_ACTIVATIONS: dict[str, str] = {"toll_mnist": "linear", "toll_cifar": "linear"}


def make_autoencoder(network: str, input_shape: Sequence[int], *,
                     hidden_dims: Sequence[int] = (128, 32), channels: Sequence[int] = (32, 64),
                     activation: str = "relu", out_activation: str = "sigmoid",
                     batch_norm: bool = False) -> nn.Module:
    """Build an auto-encoder for samples of ``input_shape``.

    Parameters
    ----------
    network : {"dense", "conv", "toll_mnist", "toll_cifar", "lenet"}
        ``dense``: :class:`DenseAutoEncoder` over ``hidden_dims``. ``conv``: a convolutional
        auto-encoder over ``channels`` for ``(C, 28, 28)`` / ``(C, 32, 32)`` images with a
        dense latent of ``hidden_dims[-1]`` units. ``toll_mnist``: TOLL's MNIST architecture
        (``(C, 28, 28)``, latent ``hidden_dims[-1]``; ``activation``, ``out_activation``,
        ``channels`` and ``batch_norm`` are fixed by the architecture). ``toll_cifar``: TOLL's
        CIFAR-10 architecture (``(C, 32, 32)``, latent ``hidden_dims[-1]``, likewise fixed).
        ``lenet``: Deep SAD's
        bias-free LeNet auto-encoder (``(C, 28, 28)`` or ``(C, 32, 32)``, code
        ``hidden_dims[-1]``, output ``out_activation``).
    input_shape : sequence of int
        Shape of one sample.
    hidden_dims, channels, activation, out_activation, batch_norm
        The network's hyper-parameters (see the classes).
    """
    if network == "dense":
        return DenseAutoEncoder(input_shape, hidden_dims, activation, out_activation,
                                batch_norm=batch_norm)
    if network == "conv":
        from torch_ae_sad.model.networks.conv import ConvAutoEncoderNet

        return ConvAutoEncoderNet(input_shape, channels=channels, latent_dim=hidden_dims[-1],
                                  activation=activation, out_activation=out_activation,
                                  batch_norm=batch_norm)
    if network == "toll_mnist":
        from torch_ae_sad.model.networks.conv import TollMnistNet

        return TollMnistNet(input_shape, latent_dim=hidden_dims[-1])
    if network == "toll_cifar":
        from torch_ae_sad.model.networks.toll_cifar import TollCifarNet

        return TollCifarNet(input_shape, latent_dim=hidden_dims[-1])
    if network == "lenet":
        from torch_ae_sad.model.networks.lenet import LeNetAutoEncoder

        return LeNetAutoEncoder(input_shape, rep_dim=hidden_dims[-1],
                                out_activation=out_activation)
    raise ValueError(f"network: expected one of {AUTOENCODER_NETWORKS}, found {network!r}")


__all__ = ["ACTIVATIONS", "AUTOENCODER_NETWORKS", "FIXED_OUT_ACTIVATIONS", "OUTPUT_RANGES",
           "DenseAutoEncoder", "check_output_range", "in_unit_interval", "make_activation",
           "make_autoencoder", "resolve_out_activation"]
