"""torch_ae_sad: semi-supervised anomaly detection with auto-encoders under class imbalance.

Label convention (used everywhere in the package)
-------------------------------------------------
* training labels ``y``: ``0`` normal or unlabelled, ``1`` labelled anomaly;
* test labels: ``1`` anomaly, ``0`` normal;
* scores: higher means more anomalous.
"""

from pathlib import Path

__version__ = "0.1.0"

#: Root of the source tree (the folder holding ``datasets/`` in a git checkout).
PROJECT_ROOT = Path(__file__).resolve().parent.parent

__all__ = ["PROJECT_ROOT", "__version__"]
