"""The one training loop every torch detector uses, and the stages a fit is made of.

A fit is a sequence of :class:`Stage` s (Deep SAD: pre-training, then the hypersphere; most
detectors: one). :func:`run_stage` trains one stage and is the package's only training loop;
it is composed of three parts, each usable on its own:

* the step loop (:func:`run_stage`, :func:`train_step`): batches, optimiser updates, the
  training loss of each evaluation period;
* the evaluator (:class:`Evaluator`): validation loss of the normals and the validation
  metric (``auc`` or ``f1`` after :func:`top_fraction_flags`);
* the checkpoint (:class:`Checkpoint`): best-state selection and early stopping; with the
  learning-rate schedule (:func:`lr_schedule`, milestones included).

The loop knows neither the network nor the method: a stage gives it a module, a function
returning the per-sample loss of a batch, and the data as tensors already on the device.
Batches are whole index selections of a permutation (no per-sample ``Dataset`` access), so
the time goes into the tensor math. A stage with several players (a GAN) declares a shared
``forward`` and one :class:`Update` per optimiser: each step runs the forward once and then
the updates in order, the last one moving the stage's module.
"""

from __future__ import annotations

import math
import numbers
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from torch_ae_sad.model.batch_samplers import BatchSampler

LossFn = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]
ScoreFn = Callable[[nn.Module, torch.Tensor], torch.Tensor]
ForwardFn = Callable[[nn.Module, torch.Tensor, torch.Tensor], Any]
T = TypeVar("T")

#: Validation criteria :func:`train_module` can select checkpoints by.
VAL_METRICS = ("auc", "f1")

OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": torch.optim.SGD,
    "rmsprop": torch.optim.RMSprop,  # DevNet's and PReNet's authors (Keras RMSprop)
}


def check_optimizer(name: str, lr: float, weight_decay: float = 0.0) -> None:
    """Raise a ValueError for an unknown optimizer, ``lr <= 0`` or ``weight_decay < 0``."""
    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer: expected one of {sorted(OPTIMIZERS)}, found {name!r}")
    if not (isinstance(lr, numbers.Real) and lr > 0):
        raise ValueError(f"lr: expected a learning rate > 0, found {lr}")
    if not (isinstance(weight_decay, numbers.Real) and weight_decay >= 0):
        raise ValueError(f"weight_decay: expected >= 0, found {weight_decay}")


def make_optimizer(name: str, params: Iterable[torch.nn.Parameter], lr: float,
                   weight_decay: float = 0.0, **kwargs: Any) -> torch.optim.Optimizer:
    """Return optimizer ``name`` (``adam``, ``adamw`` or ``sgd``) over ``params``."""
    check_optimizer(name, lr, weight_decay)
    cls = OPTIMIZERS[name]
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


# -- what a stage is -------------------------------------------------------------------------
@dataclass(frozen=True)
class TrainConfig:
    """Settings of one stage's training loop.

    Attributes
    ----------
    epochs : int
        Passes over the data (each a fresh permutation), unless ``n_steps`` is given.
    n_steps : int, optional
        Train for this many batches drawn at random instead of epochs: each batch holds
        distinct samples (no repeats within a batch), batches are independent draws.
    batch_size : int
        Samples per step.
    lr, weight_decay : float
        Optimizer settings (of every optimiser of the stage).
    optimizer : {"adam", "adamw", "sgd"}
        The optimizer.
    optimizer_kwargs : dict, optional
        Extra optimizer arguments (e.g. Adam ``betas``).
    lr_lambda : callable, optional
        ``lr_lambda(step)`` -> factor of ``lr`` after ``step`` optimizer steps (a
        :class:`~torch.optim.lr_scheduler.LambdaLR` schedule, e.g. step decay).
    lr_milestones : sequence of int
        Epochs from which ``lr`` is divided by 10 each (:func:`milestone_factor`; epoch mode
        only, not with ``lr_lambda``).
    eval_every : int, optional
        Steps between evaluations (default: one epoch, :func:`epoch_steps`).
    select : {"last", "best"}
        Keep the final weights, or restore those of the best evaluation.
    patience : int, optional
        Stop after this many evaluations without improvement.
    val_metric : {"auc", "f1"}
        Criterion on validation data with anomalies: ``auc`` (ROC AUC) or ``f1`` (F1 after
        flagging the top-scored fraction equal to the validation set's anomaly share, TOLL's
        Arrhythmia rule).
    amp : bool
        bfloat16 autocast of the forward pass and loss (CUDA, and the CPU: fast where the
        processor has bfloat16 instructions, e.g. AVX-512 BF16 / AMX; slow elsewhere).
    verbose : int
        0 silent, 1 a progress bar over steps.
    desc : str
        Progress bar label.
    """

    epochs: int | None = 10
    n_steps: int | None = None
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.0
    optimizer: str = "adam"
    optimizer_kwargs: dict[str, Any] | None = None
    lr_lambda: Callable[[int], float] | None = None
    lr_milestones: Sequence[int] = ()
    eval_every: int | None = None
    select: str = "last"
    patience: int | None = None
    val_metric: str = "auc"
    amp: bool = False
    verbose: int = 1
    desc: str = "train"

    def check(self) -> None:
        """Raise a ValueError naming a setting the loop cannot run (before any training)."""
        for name in ("epochs", "n_steps", "batch_size", "eval_every", "patience"):
            value = getattr(self, name)
            if value is not None and not _is_int(value):
                raise ValueError(f"{name}: expected an int, found {value!r}")
        if self.n_steps is None and (self.epochs is None or self.epochs < 1):
            raise ValueError(f"epochs: expected >= 1 (or n_steps), found {self.epochs}")
        if self.n_steps is not None and self.n_steps < 1:
            raise ValueError(f"n_steps: expected >= 1, found {self.n_steps}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size: expected >= 1, found {self.batch_size}")
        if self.eval_every is not None and self.eval_every < 1:
            raise ValueError(f"eval_every: expected >= 1 steps, found {self.eval_every}")
        check_optimizer(self.optimizer, self.lr, self.weight_decay)
        if self.select not in ("last", "best"):
            raise ValueError(f"select: expected 'last' or 'best', found {self.select!r}")
        if self.val_metric not in VAL_METRICS:
            raise ValueError(f"val_metric: expected one of {VAL_METRICS}, found "
                             f"{self.val_metric!r}")
        marks = list(self.lr_milestones)
        if not all(_is_int(m) and m >= 1 for m in marks):
            raise ValueError(f"lr_milestones: expected epochs >= 1, found {marks}")
        if marks and (self.n_steps is not None or self.lr_lambda is not None):
            raise ValueError(f"lr_milestones: expected epoch mode without lr_lambda, found "
                             f"n_steps={self.n_steps}, lr_lambda={self.lr_lambda}")


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


@dataclass(frozen=True, eq=False)
class Update:
    """One optimiser's part of a training step of a stage with several players.

    Attributes
    ----------
    name : str
        The player (``d`` for a GAN's discriminators); names its step losses.
    module : nn.Module
        The parameters this optimiser moves; frozen while the other updates' losses are built.
    loss : callable
        ``loss(out)`` -> per-sample (or scalar) loss from the stage's shared forward output.
    """

    name: str
    module: nn.Module
    loss: Callable[[Any], torch.Tensor]


@dataclass(frozen=True, eq=False)
class Stage:
    """One training stage of a fit: the module the loop optimises, its loss, its settings.

    A single-optimiser stage gives ``loss``. A stage with several optimisers (a GAN's generator
    and discriminators) gives ``forward`` and ``updates`` instead: every step runs
    ``forward(module, xb, yb)`` once, then each update in order on its output; the last update
    moves ``module`` and its loss is the stage's (train and validation) loss.

    Attributes
    ----------
    name : str
        The stage (``pretrain``, ``sad``, ``train``, ...).
    module : nn.Module
        The network trained, evaluated and checkpointed, on the data's device.
    loss : callable, optional
        ``loss(module, xb, yb)`` -> per-sample losses, shape ``(batch,)``.
    config : TrainConfig
        The loop's settings.
    score_fn : callable, optional
        ``score_fn(module, xb)`` -> per-sample anomaly scores (for the validation metric).
    generator : torch.Generator, optional
        Source of the permutations and batches: a CPU generator (the indices are drawn on it
        and moved to the data's device, so the CPU and CUDA train on the same batches).
    validate : bool
        Whether the fit's validation data applies to this stage.
    forward : callable, optional
        ``forward(module, xb, yb)`` -> the output every update's loss reads.
    updates : tuple of Update
        The optimisers of a training step, in order.
    host_labels : bool
        Hand the training step's ``forward`` (or ``loss``) the batch's labels on the CPU
        instead of the device, so it can select samples by label without waiting for the
        device (a GAN's kinds of images); validation still passes them on the device.
    sampler : BatchSampler, optional
        Draws the stage's index batches from the training labels instead of the loop's
        permutations (e.g. :class:`~torch_ae_sad.model.batch_samplers.BalancedSampler`,
        DevNet's half-anomaly batches); it also sets the steps of an epoch.
    """

    name: str
    module: nn.Module
    loss: LossFn | None = None
    config: TrainConfig = field(default_factory=TrainConfig)
    score_fn: ScoreFn | None = None
    generator: torch.Generator | None = None
    validate: bool = True
    forward: ForwardFn | None = None
    updates: tuple[Update, ...] = ()
    host_labels: bool = False
    sampler: BatchSampler | None = None

    def __post_init__(self) -> None:
        if (self.loss is None) == (not self.updates):
            raise ValueError(f"stage {self.name!r}: expected either a loss or updates (exactly "
                             "one of them)")
        if self.updates and (self.forward is None or self.updates[-1].module is not self.module):
            raise ValueError(f"stage {self.name!r}: updates need a forward, the last one "
                             "moving the stage's module")

    def module_loss(self, module: nn.Module, xb: torch.Tensor, yb: torch.Tensor
                    ) -> torch.Tensor:
        """Per-sample loss of ``module`` on a batch (the last update's with ``updates``)."""
        if self.loss is not None:
            return self.loss(module, xb, yb)
        return self.updates[-1].loss(self.forward(module, xb, yb))

    def step_plan(self) -> tuple[ForwardFn, tuple[Update, ...]]:
        """The shared forward and the updates of a step (one update for a single loss)."""
        if self.updates:
            return self.forward, self.updates
        loss = self.loss
        return _as_inputs, (Update(self.name, self.module, lambda out: loss(*out)),)


def _as_inputs(module: nn.Module, xb: torch.Tensor, yb: torch.Tensor) -> tuple[Any, ...]:
    return module, xb, yb


@dataclass(frozen=True)
class StageResult:
    """What :func:`run_stage` returns.

    Attributes
    ----------
    history : dict
        Per evaluation period: ``step``, ``train_loss``, ``val_loss``, ``val_auc`` or
        ``val_f1`` (when measured), ``seconds``; and ``criterion``, ``best_step``,
        ``stopped_early``.
    step_losses : dict
        Update name -> its loss at every step, for the updates before the module's.
    """

    history: dict[str, Any]
    step_losses: dict[str, list[float]] = field(default_factory=dict)


#: A fit's stage plan (see ``TorchDetector._stages``): a generator that yields each
#: :class:`Stage`, receives its :class:`StageResult` and returns what the fit produced.
StagePlan = Generator[Stage, StageResult, T]


def run_stages(plan: StagePlan[T], run: Callable[[Stage], StageResult]) -> T:
    """Run the stages ``plan`` yields in order with ``run``; return the plan's return value.

    Each stage's result is sent back into the plan, so what the next stage needs (pre-trained
    weights, a centre) flows through the plan's own variables.
    """
    try:
        stage = next(plan)
        while True:
            stage = plan.send(run(stage))
    except StopIteration as done:
        return done.value


# -- batches and schedules -------------------------------------------------------------------
def _batches(n: int, batch_size: int, epochs: int | None, n_steps: int | None,
             generator: torch.Generator | None, device: torch.device,
             merge_single: bool = False) -> Iterator[torch.Tensor]:
    """Index batches: whole permutations per epoch, or ``n_steps`` batches drawn at random.

    A random batch holds ``min(batch_size, n)`` distinct samples (drawn without replacement
    within the batch, as TOLL's authors' ``np.random.choice(..., replace=False)``); batches are
    drawn independently of each other. With ``merge_single`` an epoch's last batch of one
    sample joins the batch before it (batch normalisation cannot train on one sample).

    The indices are drawn on ``generator``'s device (the CPU's global generator without one)
    and returned on ``device``: with a CPU generator the batches do not depend on the device
    trained on (:func:`run_stage` takes them on the CPU and copies each to the data's device,
    :func:`host_to_device`).
    """
    source = generator.device if generator is not None else torch.device("cpu")

    def perm() -> torch.Tensor:
        return torch.randperm(n, generator=generator, device=source)

    if n_steps is not None:
        k = min(batch_size, n)
        for _ in range(n_steps):
            yield perm()[:k].to(device)
        return
    for _ in range(epochs or 0):
        chunks = list(perm().to(device).split(batch_size))
        if len(chunks) > epoch_steps(n, batch_size, merge_single):
            chunks[-2:] = [torch.cat(chunks[-2:])]
        yield from chunks


def host_to_device(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """The CPU tensor ``t`` on ``device``, without waiting for it.

    For CUDA the tensor is pinned first, so the copy is asynchronous (a copy from pageable
    memory would wait); on the CPU it is ``t`` itself.
    """
    if device.type == "cuda":
        return t.pin_memory().to(device, non_blocking=True)
    return t.to(device)


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


def lr_schedule(config: TrainConfig, steps_per_epoch: int) -> Callable[[int], float] | None:
    """The stage's ``lr_lambda``: its milestones' (:func:`milestone_factor`) or the given one."""
    if list(config.lr_milestones):
        return milestone_factor(config.lr_milestones, steps_per_epoch)
    return config.lr_lambda


# -- (a) the step ----------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Player:
    """An :class:`Update` with its optimiser and learning-rate schedule."""

    update: Update
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None

    def step(self, loss: torch.Tensor) -> None:
        """Minimise ``loss`` by one step of the optimiser (and of its schedule)."""
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        if self.scheduler is not None:
            self.scheduler.step()


def make_players(updates: Sequence[Update], config: TrainConfig,
                 lr_lambda: Callable[[int], float] | None = None) -> list[Player]:
    """One optimiser per update, all with ``config``'s settings and the schedule ``lr_lambda``."""
    players = []
    for update in updates:
        opt = make_optimizer(config.optimizer, update.module.parameters(), config.lr,
                             config.weight_decay, **(config.optimizer_kwargs or {}))
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda) if lr_lambda else None
        players.append(Player(update, opt, sched))
    return players


def _frozen(modules: Sequence[nn.Module]) -> AbstractContextManager[None]:
    """No gradients into ``modules``' parameters while a loss is built (restored after)."""
    return _freezing(modules) if modules else nullcontext()


@contextmanager
def _freezing(modules: Sequence[nn.Module]) -> Iterator[None]:
    params = [p for m in modules for p in m.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


def train_step(module: nn.Module, forward: ForwardFn, players: Sequence[Player],
               xb: torch.Tensor, yb: torch.Tensor, amp: bool = False
               ) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """One training step on a batch: the shared forward, then each player's update in order.

    Each update's loss is built with the other players' parameters frozen, then minimised by
    its optimiser; a player before the last whose loss has no gradient (nothing of its kind
    in the batch) takes no step. ``amp``: bfloat16 autocast of the forward and the losses, in
    one autocast block per step (its weight casts shared by the forward and the losses), the
    backward passes and optimiser steps outside it.

    Nothing here waits for the device: the losses stay tensors on it (no host sync per step).

    Returns
    -------
    loss : torch.Tensor
        The last player's (the stage module's) batch-mean loss, detached (float32, 0-d).
    others : list of torch.Tensor
        The batch-mean losses of the players before it, detached, on the device.
    """
    device = xb.device.type
    others = []
    with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=amp):
        out = forward(module, xb, yb)
        for i, player in enumerate(players):
            last = i == len(players) - 1
            with _frozen([p.update.module for p in players if p is not player]):
                loss = player.update.loss(out).float().mean()
            if last or loss.requires_grad:
                with torch.autocast(device_type=device, enabled=False) if amp else nullcontext():
                    player.step(loss)
            if not last:
                others.append(loss.detach())
    return loss.detach(), others


# -- (b) the evaluator -----------------------------------------------------------------------
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


class Evaluator:
    """Validation of a module: the normals' mean loss, and ``metric`` when there are anomalies.

    Parameters
    ----------
    loss_fn : callable
        Per-sample loss ``loss_fn(module, xb, yb)``.
    score_fn : callable, optional
        ``score_fn(module, xb)`` -> per-sample anomaly scores; with it and validation anomalies
        the criterion is ``metric`` on the validation scores, otherwise the mean validation
        loss of the normal samples (without validation data: the training loss).
    X_val, y_val : torch.Tensor, optional
        Validation data (``y_val`` 1 = anomaly) on the device.
    metric : {"auc", "f1"}
        ROC AUC, or F1 of :func:`top_fraction_flags` at the validation anomaly share.

    Attributes
    ----------
    criterion : str
        ``val_<metric>``, ``val_loss`` or ``train_loss``: what the evaluations rank by.
    """

    def __init__(self, loss_fn: LossFn, score_fn: ScoreFn | None = None,
                 X_val: torch.Tensor | None = None, y_val: torch.Tensor | None = None,
                 metric: str = "auc") -> None:
        if metric not in VAL_METRICS:
            raise ValueError(f"val_metric: expected one of {VAL_METRICS}, found {metric!r}")
        self.loss_fn, self.score_fn, self.metric = loss_fn, score_fn, metric
        self.has_val = X_val is not None and y_val is not None and len(X_val) > 0
        self.use_metric = self.has_val and score_fn is not None \
            and bool((y_val == 1).any()) and bool((y_val == 0).any())
        self.criterion = f"val_{metric}" if self.use_metric else \
            ("val_loss" if self.has_val else "train_loss")
        if self.has_val:  # selected once per stage: the normals, the labels on the host
            self.labelled = (X_val, y_val.cpu().numpy())
            self.normals = (X_val[y_val == 0], y_val[y_val == 0])

    def __call__(self, module: nn.Module, train_loss: float) -> tuple[float, dict[str, float]]:
        """The criterion of ``module`` (higher is better) and the values measured.

        The values are ``val_loss`` (NaN without validation normals) and ``val_<metric>``,
        as measured; the criterion is the metric, else minus the validation loss, else minus
        ``train_loss``.
        """
        if not self.has_val:
            return -train_loss, {}
        val_loss = evaluate_loss(module, self.loss_fn, *self.normals) \
            if len(self.normals[0]) else math.nan
        if not self.use_metric:
            return -val_loss, {"val_loss": val_loss}
        value = _val_metric(module, self.score_fn, *self.labelled, self.metric)
        return value, {"val_loss": val_loss, f"val_{self.metric}": value}


@torch.no_grad()
def _val_metric(module: nn.Module, score_fn: ScoreFn, X: torch.Tensor, labels: np.ndarray,
                metric: str) -> float:
    """``metric`` (``auc`` or ``f1``, see :class:`Evaluator`) of the scores of ``X``."""
    from sklearn.metrics import f1_score, roc_auc_score

    module.eval()
    scores = torch.cat([score_fn(module, xb) for xb in X.split(4096)]).float().cpu().numpy()
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


# -- (c) the checkpoint ----------------------------------------------------------------------
class Checkpoint:
    """Best-state selection and early stopping over a module's evaluations.

    Parameters
    ----------
    select : {"last", "best"}
        Keep the final weights, or restore those of the best evaluation (:meth:`restore`).
    patience : int, optional
        Stop after this many evaluations without improvement.

    Attributes
    ----------
    best_step : int or None
        Step of the best evaluation so far.
    stopped_early : bool
        Whether ``patience`` ran out.
    """

    def __init__(self, select: str = "last", patience: int | None = None) -> None:
        if select not in ("last", "best"):
            raise ValueError(f"select: expected 'last' or 'best', found {select!r}")
        self.select, self.patience = select, patience
        self.best, self.since_best = -math.inf, 0
        self.best_step: int | None = None
        self.best_state: dict[str, torch.Tensor] | None = None
        self.stopped_early = False

    def update(self, step: int, value: float, module: nn.Module) -> bool:
        """Record the evaluation ``value`` (higher is better) at ``step``; True: stop now."""
        if value > self.best:
            self.best, self.best_step, self.since_best = value, step, 0
            if self.select == "best":
                self.best_state = {k: v.detach().clone() for k, v in module.state_dict().items()}
            return False
        self.since_best += 1
        self.stopped_early = self.patience is not None and self.since_best >= self.patience
        return self.stopped_early

    def restore(self, module: nn.Module) -> None:
        """Load the best evaluation's weights into ``module`` (``select="best"``)."""
        if self.select == "best" and self.best_state is not None:
            module.load_state_dict(self.best_state)


# -- the loop --------------------------------------------------------------------------------
def _new_history(criterion: str) -> dict[str, Any]:
    return {"step": [], "train_loss": [], "val_loss": [], "val_auc": [], "val_f1": [],
            "seconds": [], "criterion": criterion, "best_step": None, "stopped_early": False}


def _period_loss(running: torch.Tensor, seen: int, step: int, steps_per_epoch: int) -> float:
    """Mean training loss of a period; FloatingPointError when it is NaN or infinite."""
    train_loss = float(running) / seen
    if not math.isfinite(train_loss):
        raise FloatingPointError(f"training loss became {train_loss} by step {step} (epoch "
                                 f"{math.ceil(step / steps_per_epoch)}); lower lr, check the "
                                 "inputs for extreme values, or change the loss weights")
    return train_loss


class _StepLosses:
    """The step losses of the updates before the module's, kept on the device to the end.

    One row per update, one column per step: writing a step's losses is a copy on the device
    (no host sync per step); :meth:`as_lists` reads them back once.
    """

    def __init__(self, names: Sequence[str], total: int, device: torch.device) -> None:
        self.names = list(names)
        self.values = torch.zeros((len(self.names), total), device=device)
        self.count = 0

    def add(self, others: Sequence[torch.Tensor]) -> None:
        """Record one step's losses (in the order of :attr:`names`)."""
        if self.names:
            self.values[:, self.count] = torch.stack(list(others))
        self.count += 1

    def as_lists(self) -> dict[str, list[float]]:
        """Update name -> its loss at every step recorded."""
        rows = self.values[:, :self.count].cpu()
        return {name: row.tolist() for name, row in zip(self.names, rows, strict=True)}


def _progress(config: TrainConfig, total: int) -> tqdm:
    return tqdm(total=total, desc=config.desc, disable=config.verbose < 1, leave=False,
                unit="step", mininterval=0.5)


def run_stage(stage: Stage, X: torch.Tensor, y: torch.Tensor, X_val: torch.Tensor | None = None,
              y_val: torch.Tensor | None = None) -> StageResult:
    """Train ``stage.module`` on ``(X, y)``: the package's one training loop.

    Steps (:func:`train_step`) over the batches of ``stage.config``; at the end of every
    evaluation period (``eval_every`` steps, default an epoch) the mean training loss is
    recorded, the module evaluated (:class:`Evaluator`, on ``X_val``, ``y_val``) and
    checkpointed (:class:`Checkpoint`). The module ends in eval mode.

    Raises
    ------
    FloatingPointError
        When the training loss of a period is NaN or infinite.
    """
    cfg, module, n, device = stage.config, stage.module, len(X), X.device
    cfg.check()
    # batch norm cannot train on one sample: an epoch's last single sample joins the batch
    has_bn = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules())
    steps_per_epoch = (stage.sampler.epoch_steps(n, cfg.batch_size)
                       if stage.sampler is not None else
                       epoch_steps(n, cfg.batch_size, merge_single=has_bn))
    total = cfg.n_steps if cfg.n_steps is not None else cfg.epochs * steps_per_epoch
    period = cfg.eval_every or steps_per_epoch
    evaluator = Evaluator(stage.module_loss, stage.score_fn, X_val, y_val, cfg.val_metric)
    checkpoint = Checkpoint(cfg.select, cfg.patience)
    forward, updates = stage.step_plan()
    players = make_players(updates, cfg, lr_schedule(cfg, steps_per_epoch))
    use_amp = bool(cfg.amp) and device.type in ("cuda", "cpu")
    history = _new_history(evaluator.criterion)
    step_losses = _StepLosses([u.name for u in updates[:-1]], total, device)
    running, seen, t0 = torch.zeros((), device=device), 0, time.perf_counter()
    batches = _batches(n, cfg.batch_size, cfg.epochs, cfg.n_steps, stage.generator,
                       torch.device("cpu"), merge_single=has_bn) if stage.sampler is None else \
        stage.sampler.batches(y.cpu(), cfg.batch_size, total, stage.generator)
    y_host = y.cpu() if stage.host_labels else None  # once per stage
    module.train()
    with _progress(cfg, total) as bar:
        for step, idx in enumerate(batches, 1):
            idx_dev = host_to_device(idx, device)
            yb = y[idx_dev] if y_host is None else y_host[idx]
            loss, others = train_step(module, forward, players, X[idx_dev], yb, use_amp)
            step_losses.add(others)
            running += loss * len(idx)
            seen += len(idx)
            if step % period and step != total:
                continue
            train_loss = _period_loss(running, seen, step, steps_per_epoch)
            history["step"].append(step)
            history["train_loss"].append(train_loss)
            value, measured = evaluator(module, train_loss)
            for key, measure in measured.items():
                history[key].append(measure)
            history["seconds"].append(time.perf_counter() - t0)
            bar.update(step - bar.n)
            bar.set_postfix(loss=f"{train_loss:.4g}")
            running.zero_()
            seen = 0
            if checkpoint.update(step, value, module):
                break
            module.train()
    checkpoint.restore(module)
    module.eval()
    history["best_step"], history["stopped_early"] = checkpoint.best_step, checkpoint.stopped_early
    return StageResult(history, step_losses.as_lists())


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
    """Train ``module`` by minimising the batch mean of ``loss_fn``: one :class:`Stage`.

    Parameters
    ----------
    module : nn.Module
        The network, already on the data's device.
    loss_fn : callable
        ``loss_fn(module, xb, yb)`` -> per-sample losses, shape ``(batch,)``.
    X, y : torch.Tensor
        Training data and labels on the device.
    generator : torch.Generator, optional
        Source of the permutations and batches (a CPU generator: the indices are moved to
        the data's device; see :func:`_batches`).
    X_val, y_val : torch.Tensor, optional
        Validation data (``y_val`` 1 = anomaly), evaluated every ``eval_every`` steps.
    score_fn : callable, optional
        ``score_fn(module, xb)`` -> per-sample anomaly scores (see :class:`Evaluator`).
    epochs, n_steps, batch_size, lr, weight_decay, optimizer, optimizer_kwargs
        The :class:`TrainConfig` attributes of the same names.
    lr_lambda, lr_milestones, eval_every, select, patience, val_metric, amp, verbose, desc
        The :class:`TrainConfig` attributes of the same names.

    Returns
    -------
    dict
        :attr:`StageResult.history`.
    """
    config = TrainConfig(epochs=epochs, n_steps=n_steps, batch_size=batch_size, lr=lr,
                         weight_decay=weight_decay, optimizer=optimizer,
                         optimizer_kwargs=optimizer_kwargs, lr_lambda=lr_lambda,
                         lr_milestones=tuple(lr_milestones), eval_every=eval_every,
                         select=select, patience=patience, val_metric=val_metric, amp=amp,
                         verbose=verbose, desc=desc)
    stage = Stage(desc, module, loss_fn, config, score_fn=score_fn, generator=generator)
    return run_stage(stage, X, y, X_val, y_val).history
