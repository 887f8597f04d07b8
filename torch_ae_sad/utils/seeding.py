"""Seeding without global random state where it can be avoided."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

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


def _cuda_index(device: torch.device | str | None) -> int | None:
    """The index of a CUDA ``device`` (the current one for ``"cuda"``); None for others."""
    if device is None or torch.device(device).type != "cuda":
        return None
    index = torch.device(device).index
    return torch.cuda.current_device() if index is None else index


@contextmanager
def seeded(seed: int, device: torch.device | str | None = None) -> Iterator[None]:
    """Seed torch's global generators of the CPU and ``device`` inside the block only.

    The CPU generator and, for a CUDA ``device``, that device's generator are seeded with
    ``seed`` (not :func:`torch.manual_seed`, which reseeds every CUDA device); on exit every
    state is restored, so code outside the block sees the global generators as they were.

    Parameters
    ----------
    seed : int
        The seed.
    device : torch.device or str, optional
        The device whose generator is forked and seeded too (CUDA only; the CPU's always is).
    """
    index = _cuda_index(device)
    with torch.random.fork_rng(devices=[] if index is None else [index]):
        torch.random.default_generator.manual_seed(int(seed))
        if index is not None:
            torch.cuda.default_generators[index].manual_seed(int(seed))
        yield


#: ``CUBLAS_WORKSPACE_CONFIG`` value :func:`deterministic_mode` sets on CUDA when unset.
CUBLAS_DETERMINISTIC = ":4096:8"


def _cudnn_precision() -> dict[str, Any]:
    """The float32 precision of cuDNN's convolutions, in the API this torch has.

    Never reads the legacy ``allow_tf32`` where the new API exists (torch raises on a read
    after the two were mixed).
    """
    cudnn = torch.backends.cudnn
    if hasattr(getattr(cudnn, "conv", None), "fp32_precision"):  # torch >= 2.9
        return {"conv": cudnn.conv.fp32_precision}
    return {"allow_tf32": cudnn.allow_tf32}


def _set_cudnn_precision(settings: dict[str, Any]) -> None:
    cudnn = torch.backends.cudnn
    for name, value in settings.items():
        if name == "allow_tf32":
            cudnn.allow_tf32 = value
        else:
            getattr(cudnn, name).fp32_precision = value


@contextmanager
def deterministic_mode(enabled: bool = True, device: torch.device | str | None = None
                       ) -> Iterator[None]:
    """Deterministic kernels inside the block; every setting restored as found on exit.

    With ``enabled``: :func:`torch.use_deterministic_algorithms` ``(True, warn_only=True)``
    (a warning, not an error, for an operation without a deterministic kernel);
    ``torch.backends.cudnn.benchmark = False`` (a timing-based pick may differ between runs);
    cuDNN's float32 convolutions in IEEE precision, not TF32
    (``torch.backends.cudnn.conv.fp32_precision = "ieee"`` where torch has it, else
    ``allow_tf32 = False``), so results on the GPU are comparable with the CPU's; and, for a
    CUDA ``device``, ``CUBLAS_WORKSPACE_CONFIG=":4096:8"`` when the environment does not set
    it (cuBLAS needs it for deterministic results; it reads the variable when the process
    first uses cuBLAS, so it takes effect only if nothing ran on cuBLAS before: a runner that
    wants it for sure sets it at process start). On exit the deterministic flag and its
    ``warn_only``, ``benchmark``, the precision and the variable (removed if set here) are
    restored. Without ``enabled`` nothing is changed.

    Parameters
    ----------
    enabled : bool
        Whether to switch deterministic mode on inside the block.
    device : torch.device or str, optional
        The device trained on (the cuBLAS variable is set for CUDA only).
    """
    if not enabled:
        yield
        return
    flag = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    benchmark, precision = torch.backends.cudnn.benchmark, _cudnn_precision()
    set_cublas = _cuda_index(device) is not None and "CUBLAS_WORKSPACE_CONFIG" not in os.environ
    try:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
        _set_cudnn_precision({k: False if k == "allow_tf32" else "ieee" for k in precision})
        if set_cublas:
            os.environ["CUBLAS_WORKSPACE_CONFIG"] = CUBLAS_DETERMINISTIC
        yield
    finally:
        torch.use_deterministic_algorithms(flag, warn_only=warn_only)
        torch.backends.cudnn.benchmark = benchmark
        _set_cudnn_precision(precision)
        if set_cublas:
            os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)
