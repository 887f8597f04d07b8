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
    IForest,
    RandomGuess,
)

__all__ = ["AESAD", "DETECTORS", "KNN", "LOF", "OCSVM", "TOLL", "VAE", "AutoEncoder",
           "BaseDetector", "ConvAutoEncoder", "DBSCANDetector", "DeepSAD", "IForest", "RandomGuess",
           "TorchDetector"]
