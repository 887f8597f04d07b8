"""Small shared helpers: device choice, seeding, logging."""

from torch_ae_sad.utils.device import resolve_device
from torch_ae_sad.utils.logging import get_logger
from torch_ae_sad.utils.seeding import (
    deterministic_mode,
    make_generator,
    seed_everything,
    seeded,
)

__all__ = ["deterministic_mode", "get_logger", "make_generator", "resolve_device",
           "seed_everything", "seeded"]
