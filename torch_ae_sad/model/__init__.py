"""Detectors, the training loop, metrics and the experiment runner.

Every detector follows the scikit-learn API of :class:`~torch_ae_sad.model.base.BaseDetector`;
``DETECTORS`` maps each class name to its class.
"""

from torch_ae_sad.model.base import DETECTORS, BaseDetector, TorchDetector
from torch_ae_sad.model.detectors import (
    AESAD,
    FEAWAD,
    KNN,
    LOF,
    OCSVM,
    TOLL,
    VAE,
    AutoEncoder,
    ConvAutoEncoder,
    DBSCANDetector,
    DeepSAD,
    DevNet,
    DualDiscriminatorGAN,
    IForest,
    PReNet,
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
    "TorchDetector",
    "VAE",
]
