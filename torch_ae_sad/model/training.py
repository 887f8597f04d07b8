"""The one training loop every torch detector uses.

The loop knows neither the network nor the method: it gets a module, a function returning the
per-sample loss of a batch, and the data as tensors already on the device. Batches are whole
index selections of a permutation (no per-sample ``Dataset`` access), so the time goes into the
tensor math.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

LossFn = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]
ScoreFn = Callable[[nn.Module, torch.Tensor], torch.Tensor]

#: Validation criteria :func:`train_module` can select checkpoints by.
VAL_METRICS = ("auc", "f1")

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
    else:
        # one fused kernel per step instead of several per parameter: the optimizer step is
        # about a third of a small auto-encoder's step on the CPU
        kwargs.setdefault("fused", True)
    params = list(params)
    try:
        return cls(params, lr=lr, weight_decay=weight_decay, **kwargs)
    except (RuntimeError, TypeError, ValueError):
        if kwargs.pop("fused", None) is None:
            raise
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


def _batches(n: int, batch_size: int, epochs: int | None, n_steps: int | None,
             generator: torch.Generator | None, device: torch.device,
             merge_single: bool = False) -> Iterator[torch.Tensor]:
    """Index batches: whole permutations per epoch, or ``n_steps`` batches drawn at random.

    A random batch holds ``min(batch_size, n)`` distinct samples (drawn without replacement
    within the batch, as TOLL's authors' ``np.random.choice(..., replace=False)``); batches are
    drawn independently of each other. With ``merge_single`` an epoch's last batch of one
    sample joins the batch before it (batch normalisation cannot train on one sample).
    """
    if n_steps is not None:
        k = min(batch_size, n)
        for _ in range(n_steps):
            yield torch.randperm(n, generator=generator, device=device)[:k]
        return
    for _ in range(epochs or 0):
        chunks = list(torch.randperm(n, generator=generator, device=device).split(batch_size))
        if len(chunks) > epoch_steps(n, batch_size, merge_single):
            chunks[-2:] = [torch.cat(chunks[-2:])]
        yield from chunks


def epoch_steps(n: int, batch_size: int, merge_single: bool = False) -> int:
    """Steps of one epoch of :func:`_batches` (one fewer when a single last sample merges)."""
    steps = math.ceil(n / batch_size)
    return steps - 1 if merge_single and n > batch_size and n % batch_size == 1 else steps


def milestone_factor(milestones: Iterable[int], steps_per_epoch: int
                     ) -> Callable[[int], float]:
    """``lr_lambda`` dividing the learning rate by 10 from each milestone epoch (1-based) on.

    As Deep SAD's authors' ``MultiStepLR`` stepped at the start of every epoch
    (``--lr_milestone 50``: epochs 1-49 at ``lr``, from epoch 50 on at ``lr / 10``).
    """
    marks = sorted(int(m) for m in milestones)
    if any(m < 1 for m in marks):
        raise ValueError(f"lr_milestones: expected epochs >= 1, found {marks}")

    def factor(step: int) -> float:
        epoch = step // steps_per_epoch + 1  # 1-based epoch of the next optimizer step
        return 0.1 ** sum(m <= epoch for m in marks)

    return factor


def train_module(module: nn.Module, loss_fn: LossFn, X: torch.Tensor, y: torch.Tensor, *,
                 epochs: int | None = 10, batch_size: int = 32, lr: float = 1e-3,
                 weight_decay: float = 0.0, optimizer: str = "adam",
                 n_steps: int | None = None, generator: torch.Generator | None = None,
                 X_val: torch.Tensor | None = None, y_val: torch.Tensor | None = None,
                 score_fn: ScoreFn | None = None, eval_every: int | None = None,
                 select: str = "last", patience: int | None = None, amp: bool = False,
                 val_metric: str = "auc",
                 optimizer_kwargs: dict[str, Any] | None = None,
                 lr_lambda: Callable[[int], float] | None = None,
                 lr_milestones: Iterable[int] = (),
                 verbose: int = 1, desc: str = "train") -> dict[str, Any]:
    """Train ``module`` by minimising the batch mean of ``loss_fn``.

    Parameters
    ----------
    module : nn.Module
        The network, already on the data's device.
    loss_fn : callable
        ``loss_fn(module, xb, yb)`` -> per-sample losses, shape ``(batch,)``.
    X, y : torch.Tensor
        Training data and labels on the device.
    epochs : int
        Passes over the data (each a fresh permutation), unless ``n_steps`` is given.
    batch_size : int
        Samples per step.
    lr, weight_decay : float
        Optimizer settings.
    optimizer : {"adam", "adamw", "sgd"}
        The optimizer.
    n_steps : int, optional
        Train for this many batches drawn at random instead of epochs: each batch holds
        distinct samples (no repeats within a batch), batches are independent draws.
    generator : torch.Generator, optional
        Source of the permutations and batches (on the data's device).
    X_val, y_val : torch.Tensor, optional
        Validation data (``y_val`` 1 = anomaly), evaluated every ``eval_every`` steps.
    score_fn : callable, optional
        ``score_fn(module, xb)`` -> per-sample anomaly scores; with it and validation
        anomalies the criterion is ``val_metric`` on the validation scores, otherwise the mean
        validation loss of the normal samples.
    eval_every : int, optional
        Steps between evaluations (default: one epoch, ``ceil(n / batch_size)``).
    select : {"last", "best"}
        Keep the final weights, or restore those of the best evaluation.
    patience : int, optional
        Stop after this many evaluations without improvement.
    amp : bool
        bfloat16 autocast of the forward pass and loss (CUDA, and the CPU: fast where the
        processor has bfloat16 instructions, e.g. AVX-512 BF16 / AMX; slow elsewhere).
    val_metric : {"auc", "f1"}
        Criterion on validation data with anomalies: ``auc`` (ROC AUC) or ``f1`` (F1 after
        flagging the top-scored fraction equal to the validation set's anomaly share, TOLL's
        Arrhythmia rule).
    optimizer_kwargs : dict, optional
        Extra optimizer arguments (e.g. Adam ``betas``).
    lr_lambda : callable, optional
        ``lr_lambda(step)`` -> factor of ``lr`` after ``step`` optimizer steps (a
        :class:`~torch.optim.lr_scheduler.LambdaLR` schedule, e.g. step decay).
    lr_milestones : iterable of int
        Epochs from which ``lr`` is divided by 10 each (:func:`milestone_factor`; epoch mode
        only, not with ``lr_lambda``).
    verbose : int
        0 silent, 1 a progress bar over steps.
    desc : str
        Progress bar label.

    Returns
    -------
    dict
        Per evaluation period: ``step``, ``train_loss``, ``val_loss``, ``val_auc`` or
        ``val_f1`` (when measured), ``seconds``; and ``criterion``, ``best_step``,
        ``stopped_early``.

    Raises
    ------
    FloatingPointError
        When the training loss of a period is NaN or infinite.
    """
    n = len(X)
    if n_steps is None and (epochs is None or epochs < 1):
        raise ValueError(f"epochs: expected >= 1 (or n_steps), found {epochs}")
    if n_steps is not None and n_steps < 1:
        raise ValueError(f"n_steps: expected >= 1, found {n_steps}")
    if batch_size < 1:
        raise ValueError(f"batch_size: expected >= 1, found {batch_size}")
    if select not in ("last", "best"):
        raise ValueError(f"select: expected 'last' or 'best', found {select!r}")
    if val_metric not in VAL_METRICS:
        raise ValueError(f"val_metric: expected one of {VAL_METRICS}, found {val_metric!r}")
    device = X.device
    # batch norm cannot train on one sample: an epoch's last single sample joins the batch
    has_bn = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules())
    steps_per_epoch = epoch_steps(n, batch_size, merge_single=has_bn)
    lr_milestones = list(lr_milestones)
    if lr_milestones:
        if n_steps is not None or lr_lambda is not None:
            raise ValueError(f"lr_milestones: expected epoch mode without lr_lambda, found "
                             f"n_steps={n_steps}, lr_lambda={lr_lambda}")
        lr_lambda = milestone_factor(lr_milestones, steps_per_epoch)
    total = n_steps if n_steps is not None else epochs * steps_per_epoch
    period = eval_every or steps_per_epoch
    has_val = X_val is not None and y_val is not None and len(X_val) > 0
    use_auc = has_val and score_fn is not None and bool((y_val == 1).any()) \
        and bool((y_val == 0).any())
    criterion = f"val_{val_metric}" if use_auc else ("val_loss" if has_val else "train_loss")
    opt = make_optimizer(optimizer, module.parameters(), lr, weight_decay,
                         **(optimizer_kwargs or {}))
    scheduler = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda) if lr_lambda else None
    use_amp = bool(amp) and device.type in ("cuda", "cpu")
    if has_val:  # the normals' part of the validation data, selected once
        normal = y_val == 0
        X_val_n, y_val_n = X_val[normal], y_val[normal]
    history: dict[str, Any] = {"step": [], "train_loss": [], "val_loss": [], "val_auc": [],
                               "val_f1": [],
                               "seconds": [], "criterion": criterion, "best_step": None,
                               "stopped_early": False}
    best, best_state, since_best = -math.inf, None, 0
    running = torch.zeros((), device=device)
    seen, t0 = 0, time.perf_counter()
    bar = tqdm(total=total, desc=desc, disable=verbose < 1, leave=False, unit="step",
               mininterval=0.5)
    module.train()
    batches = _batches(n, batch_size, epochs, n_steps, generator, device, merge_single=has_bn)
    for step, idx in enumerate(batches, 1):
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=use_amp):
            losses = loss_fn(module, X[idx], y[idx])
        loss = losses.float().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if scheduler is not None:
            scheduler.step()
        running += loss.detach() * len(idx)
        seen += len(idx)
        if step % period and step != total:
            continue
        train_loss = float(running) / seen
        if not math.isfinite(train_loss):
            raise FloatingPointError(f"training loss became {train_loss} by step {step} (epoch "
                                     f"{math.ceil(step / steps_per_epoch)}); lower lr, check the "
                                     "inputs for extreme values, or change the loss weights")
        history["step"].append(step)
        history["train_loss"].append(train_loss)
        value = -train_loss
        if has_val:
            value = _evaluate(module, loss_fn, score_fn, (X_val_n, y_val_n),
                              (X_val, y_val) if use_auc else None, val_metric, history)
        history["seconds"].append(time.perf_counter() - t0)
        bar.update(step - bar.n)
        bar.set_postfix(loss=f"{train_loss:.4g}")
        running.zero_()
        seen = 0
        if value > best:
            best, since_best = value, 0
            history["best_step"] = step
            if select == "best":
                best_state = {k: v.detach().clone() for k, v in module.state_dict().items()}
        else:
            since_best += 1
            if patience is not None and since_best >= patience:
                history["stopped_early"] = True
                break
        module.train()
    bar.close()
    if select == "best" and best_state is not None:
        module.load_state_dict(best_state)
    module.eval()
    return history


def _evaluate(module: nn.Module, loss_fn: LossFn, score_fn: ScoreFn | None,
              normals: tuple[torch.Tensor, torch.Tensor],
              labelled: tuple[torch.Tensor, torch.Tensor] | None, metric: str,
              history: dict[str, Any]) -> float:
    """One validation: record the normals' loss (and ``metric`` on ``labelled``); the criterion.

    The criterion (higher is better) is ``metric`` when ``labelled`` is given, else minus the
    normals' mean loss.
    """
    val_loss = evaluate_loss(module, loss_fn, *normals) if len(normals[0]) else math.nan
    history["val_loss"].append(val_loss)
    if labelled is None or score_fn is None:
        return -val_loss
    value = _val_metric(module, score_fn, *labelled, metric)
    history[f"val_{metric}"].append(value)
    return value


@torch.no_grad()
def _val_metric(module: nn.Module, score_fn: ScoreFn, X: torch.Tensor, y: torch.Tensor,
                metric: str) -> float:
    """``metric`` (``auc`` or ``f1``, see :func:`train_module`) of the scores of ``X``."""
    from sklearn.metrics import f1_score, roc_auc_score

    module.eval()
    scores = torch.cat([score_fn(module, xb) for xb in X.split(4096)]).float().cpu().numpy()
    labels = y.cpu().numpy()
    if metric == "auc":
        return float(roc_auc_score(labels, scores))
    return float(f1_score(labels, top_fraction_flags(scores, float(labels.mean()))))


def top_fraction_flags(scores: np.ndarray, fraction: float) -> np.ndarray:
    """0/1 flags marking the ``round(fraction * n)`` highest of ``scores`` (ties by order).

    TOLL's authors' Arrhythmia rule (``src/eval.py``): the lowest ``round((1 - f) n)``
    scores are normal, the rest flagged.
    """
    scores = np.asarray(scores)
    n_normal = int(np.round((1.0 - fraction) * len(scores)))
    flags = np.ones(len(scores), dtype=np.int64)
    flags[np.argsort(scores, kind="stable")[:n_normal]] = 0
    return flags
