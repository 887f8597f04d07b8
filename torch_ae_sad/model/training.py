"""The one training loop every torch detector uses.

The loop knows neither the network nor the method: it gets a module, a function returning the
per-sample loss of a batch, and the data as tensors already on the device. Batches are whole
index selections of a permutation (no per-sample ``Dataset`` access), so the time goes into the
tensor math.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

LossFn = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]

OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": torch.optim.SGD,
}


def make_optimizer(name: str, params: Iterable[torch.nn.Parameter], lr: float,
                   weight_decay: float = 0.0, **kwargs: Any) -> torch.optim.Optimizer:
    """Return optimizer ``name`` (``adam``, ``adamw`` or ``sgd``) over ``params``."""
    try:
        cls = OPTIMIZERS[name]
    except KeyError:
        raise ValueError(f"optimizer: expected one of {sorted(OPTIMIZERS)}, "
                         f"found {name!r}") from None
    if not lr > 0:
        raise ValueError(f"lr: expected a learning rate > 0, found {lr}")
    if weight_decay < 0:
        raise ValueError(f"weight_decay: expected >= 0, found {weight_decay}")
    if name == "sgd":
        kwargs.setdefault("momentum", 0.9)
    return cls(params, lr=lr, weight_decay=weight_decay, **kwargs)


@torch.no_grad()
def evaluate_loss(module: nn.Module, loss_fn: LossFn, X: torch.Tensor, y: torch.Tensor,
                  batch_size: int = 4096) -> float:
    """Mean per-sample loss of ``module`` on ``(X, y)`` in eval mode."""
    was_training = module.training
    module.eval()
    total = torch.zeros((), device=X.device)
    for start in range(0, len(X), batch_size):
        total += loss_fn(module, X[start:start + batch_size], y[start:start + batch_size]).sum()
    module.train(was_training)
    return float(total) / max(len(X), 1)


def train_module(module: nn.Module, loss_fn: LossFn, X: torch.Tensor, y: torch.Tensor, *,
                 epochs: int, batch_size: int, lr: float, weight_decay: float = 0.0,
                 optimizer: str = "adam", generator: torch.Generator | None = None,
                 X_val: torch.Tensor | None = None, y_val: torch.Tensor | None = None,
                 amp: bool = False, verbose: int = 1, desc: str = "train") -> dict[str, list]:
    """Train ``module`` by minimising the batch mean of ``loss_fn``.

    Parameters
    ----------
    module : nn.Module
        The network, already on the data's device.
    loss_fn : callable
        ``loss_fn(module, xb, yb)`` -> per-sample losses, shape ``(batch,)``.
    X, y : torch.Tensor
        Training data and labels on the device.
    epochs, batch_size : int
        Passes over the data and samples per step.
    lr, weight_decay : float
        Optimizer settings.
    optimizer : {"adam", "adamw", "sgd"}
        The optimizer.
    generator : torch.Generator, optional
        Source of the shuffling permutations (on the data's device).
    X_val, y_val : torch.Tensor, optional
        Validation data: its mean loss is recorded after each epoch.
    amp : bool
        bfloat16 autocast on CUDA (ignored on the CPU).
    verbose : int
        0 silent, 1 a progress bar over epochs.
    desc : str
        Progress bar label.

    Returns
    -------
    dict
        ``train_loss`` and ``val_loss`` per epoch, ``epoch_seconds``.

    Raises
    ------
    FloatingPointError
        When the loss of an epoch is NaN or infinite.
    """
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"epochs and batch_size: expected >= 1, found {epochs} and {batch_size}")
    device = X.device
    opt = make_optimizer(optimizer, module.parameters(), lr, weight_decay)
    use_amp = bool(amp) and device.type == "cuda"
    history: dict[str, list] = {"train_loss": [], "val_loss": [], "epoch_seconds": []}
    n = len(X)
    bar = tqdm(range(epochs), desc=desc, disable=verbose < 1, leave=False, unit="epoch")
    module.train()
    for epoch in bar:
        t0 = time.perf_counter()
        perm = torch.randperm(n, generator=generator, device=device)
        total = torch.zeros((), device=device)
        for start in range(0, n, batch_size):
            idx = perm[start:start + batch_size]
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=use_amp):
                losses = loss_fn(module, X[idx], y[idx])
            loss = losses.float().mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.detach() * len(idx)
        epoch_loss = float(total) / n
        if not math.isfinite(epoch_loss):
            raise FloatingPointError(f"training loss became {epoch_loss} in epoch {epoch + 1}; "
                                     "lower lr, check the inputs for extreme values, or "
                                     "change the loss weights")
        history["train_loss"].append(epoch_loss)
        if X_val is not None and y_val is not None and len(X_val):
            history["val_loss"].append(evaluate_loss(module, loss_fn, X_val, y_val))
        history["epoch_seconds"].append(time.perf_counter() - t0)
        bar.set_postfix(loss=f"{epoch_loss:.4g}")
    module.eval()
    return history
