"""Detectors, the training loop, metrics and the experiment runner.

Every detector follows the scikit-learn API of :class:`~torch_ae_sad.model.base.BaseDetector`;
``DETECTORS`` maps each class name to its class.
"""

from torch_ae_sad.model.base import DETECTORS, BaseDetector, TorchDetector
from torch_ae_sad.model.detectors import (
    AESAD,
    KNN,
    LOF,
    OCSVM,
    TOLL,
    VAE,
    AutoEncoder,
    ConvAutoEncoder,
    DBSCANDetector,
    DeepSAD,
    DualDiscriminatorGAN,
    IForest,
    RandomGuess,
)

__all__ = [
    "AESAD",
    "AutoEncoder",
    "BaseDetector",
    "ConvAutoEncoder",
    "DBSCANDetector",
    "DETECTORS",
    "DeepSAD",
    "DualDiscriminatorGAN",
    "IForest",
    "KNN",
    "LOF",
    "OCSVM",
    "RandomGuess",
    "TOLL",
    "TorchDetector",
    "VAE",
]
