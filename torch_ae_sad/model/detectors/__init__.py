"""Detectors: one module per method, each holding only its loss and its score."""

from torch_ae_sad.model.detectors.ae_sad import AESAD, TRANSFORMS
from torch_ae_sad.model.detectors.autoencoder import AutoEncoder, ConvAutoEncoder
from torch_ae_sad.model.detectors.toll import TOLL

__all__ = ["AESAD", "TOLL", "TRANSFORMS", "AutoEncoder", "ConvAutoEncoder"]
