"""Networks: ``nn.Module``s only (layers and forward passes), no loss or training code."""

from torch_ae_sad.model.networks.dense import ACTIVATIONS, DenseAutoEncoder, make_activation

__all__ = ["ACTIVATIONS", "DenseAutoEncoder", "make_activation"]
