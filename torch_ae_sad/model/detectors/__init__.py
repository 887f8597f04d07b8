"""Detectors: one module per method, each holding only its loss and its score."""

from torch_ae_sad.model.detectors.ae_sad import AESAD, TRANSFORMS
from torch_ae_sad.model.detectors.autoencoder import AutoEncoder, ConvAutoEncoder
from torch_ae_sad.model.detectors.classical import (
    KNN,
    LOF,
    OCSVM,
    DBSCANDetector,
    IForest,
    RandomGuess,
)
from torch_ae_sad.model.detectors.deep_sad import DeepSAD
from torch_ae_sad.model.detectors.devnet import DevNet
from torch_ae_sad.model.detectors.feawad import FEAWAD
from torch_ae_sad.model.detectors.gan import DualDiscriminatorGAN
from torch_ae_sad.model.detectors.prenet import PReNet
from torch_ae_sad.model.detectors.toll import TOLL
from torch_ae_sad.model.detectors.vae import VAE

__all__ = [
    "AESAD",
    "AutoEncoder",
    "ConvAutoEncoder",
    "DBSCANDetector",
    "DeepSAD",
    "DevNet",
    "DualDiscriminatorGAN",
    "FEAWAD",
    "IForest",
    "KNN",
    "LOF",
    "OCSVM",
    "PReNet",
    "RandomGuess",
    "TOLL",
    "TRANSFORMS",
    "VAE",
]
