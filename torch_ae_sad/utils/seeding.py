"""Seeding without global random state where it can be avoided."""

from __future__ import annotations

import random

import numpy as np
import torch


def make_generator(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    """Return a torch generator on ``device`` seeded with ``seed``."""
    gen = torch.Generator(device=device)
    gen.manual_seed(int(seed))
    return gen


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Seed Python, NumPy and torch (parameter initialisation draws from torch's global RNG).

    Parameters
    ----------
    seed : int
        The seed.
    deterministic : bool
        Also ask torch for deterministic kernels (slower on CUDA).
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - third-party code may still draw from it
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
