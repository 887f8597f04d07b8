"""Detectors: one module per method, each holding only its loss and its score."""

from torch_ae_sad.model.detectors.ae_sad import AESAD, TRANSFORMS

__all__ = ["AESAD", "TRANSFORMS"]
