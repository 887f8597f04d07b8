"""Package logger."""

from __future__ import annotations

import logging


def get_logger(name: str = "torch_ae_sad") -> logging.Logger:
    """Return a logger that prints ``LEVEL name: message`` to stderr once configured."""
    logger = logging.getLogger(name)
    root = logging.getLogger("torch_ae_sad")
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
        root.setLevel(logging.INFO)
    return logger
