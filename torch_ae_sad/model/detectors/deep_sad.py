"""Deep SAD (Ruff et al. 2020): a hypersphere around ``c``, labelled anomalies pushed out.

Fit, as in the authors' code (``lukasruff/Deep-SAD-PyTorch``), as the stages ``pretrain``
(step 1) and ``sad`` (step 4) of the package's one training loop:

1. pre-train a bias-free auto-encoder with the per-sample mean squared error on all training
   data (unlabelled and labelled anomalies);
2. take its encoder as ``phi``;
3. set the centre ``c`` to the mean of ``phi(x)`` over the training data (eval mode), with
   entries ``|c_i| < 0.1`` moved to ``+-0.1`` (a zero unit is trivially matched by zero
   weights);
4. train ``phi`` with the per-sample loss ``||phi(x) - c||^2`` for unlabelled (``y == 0``)
   samples and ``eta * (||phi(x) - c||^2 + eps)^-1`` for labelled anomalies (``y == 1``).

The anomaly score is ``||phi(x) - c||^2``, computed in float32 with autocast off (``amp``
applies to pre-training only): the centre's entries are at least 0.1 in size while a trained
normal's distance is far smaller, so the 3 significant digits of a bfloat16 ``phi(x)`` would
drown it. Without labelled anomalies (or with ``eta = 0``)
this is Deep SVDD (one-class) with pre-training. Every layer is bias-free (no bias terms,
batch normalisation without affine parameters), otherwise ``phi`` could collapse to the
constant ``c``. Unlike the authors' code, the pre-trained encoder weights really are the
starting point of step 4 (their state-dict copy matches no key; their issue #9).

Batches: the authors' shuffled batches by default (``batches="shuffled"``), in which a
labelled anomaly is as rare as in the training data; ``batches="balanced"`` gives every batch
of the Deep SAD stage half labelled anomalies, as DeepOD's DeepSAD does in expectation. On 10
ADBench sets with 10 % of the training anomalies labelled (3 seeds, 10 + 10 epochs) balanced
batches lift the mean AUROC from 0.893 to 0.924 (``benchmarks/bench_deepod.py``); the
default stays the authors' protocol.

Defaults on any data: ``network="auto"`` is the bias-free LeNet for ``(C, 28, 28)`` /
``(C, 32, 32)`` images and the bias-free MLP otherwise (``network_``); the pre-training
decoder's ``out_activation="auto"`` is ``sigmoid`` (the authors', for data in [0, 1]) when the
training data lies in [0, 1] and ``linear`` otherwise (``out_activation_``). An explicit
activation that cannot output the training data's range raises a ValueError before
pre-training (not checked with ``pretrain=False``, where the decoder is not used). The
hypersphere stage itself takes data of any range.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import replace
from functools import partial
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from torch_ae_sad.model.base import FitContext, TorchDetector, hyperparameters
from torch_ae_sad.model.batch_samplers import DEVNET_KINDS, BalancedSampler
from torch_ae_sad.model.losses import mse
from torch_ae_sad.model.networks.conv import IMAGE_SIZES
from torch_ae_sad.model.networks.dense import AUTO, check_output_range, resolve_out_activation
from torch_ae_sad.model.networks.lenet import DenseBiasFreeAutoEncoder, LeNetAutoEncoder
from torch_ae_sad.model.training import StagePlan, check_optimizer
from torch_ae_sad.utils.seeding import make_generator

NETWORKS = ("lenet", "dense", "auto")
BATCHES = ("shuffled", "balanced")
#: Entries of the centre closer to 0 than this are moved to +-this (the authors' value).
CENTER_MIN = 0.1


def _is_lenet_image(shape: tuple[int, ...]) -> bool:
    return len(shape) == 3 and shape[1] == shape[2] and shape[1] in IMAGE_SIZES


def _forward(module: nn.Module, xb: torch.Tensor) -> Any:
    """``module(xb)``; a single-sample training batch runs in eval mode (BatchNorm needs 2)."""
    if module.training and len(xb) == 1:
        module.eval()
        try:
            return module(xb)
        finally:
            module.train()
    return module(xb)


def _reconstruction_loss(module: nn.Module, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
    x_hat, _ = _forward(module, xb)
    return mse(xb, x_hat)


@hyperparameters
class DeepSAD(TorchDetector):
    """Deep SAD on the authors' bias-free LeNet (images) or MLP (tabular) networks.

    Parameters
    ----------
    network : {"auto", "lenet", "dense"}
        ``lenet``: :class:`~torch_ae_sad.model.networks.lenet.LeNetAutoEncoder` for
        ``(C, 28, 28)`` / ``(C, 32, 32)`` images; ``dense``:
        :class:`~torch_ae_sad.model.networks.lenet.DenseBiasFreeAutoEncoder` for tabular or
        flattened data; ``auto`` (default): ``lenet`` for such images, ``dense`` otherwise.
    rep_dim : int
        Size of ``phi(x)`` (authors: 32 MNIST / F-MNIST / arrhythmia, 128 CIFAR-10).
    hidden_dims : sequence of int
        Hidden widths of the ``dense`` network (authors: ``(128, 64)``).
    out_activation : str
        The pre-training decoder's last activation: ``auto`` (default: ``sigmoid``, the
        authors' choice, for training data in [0, 1], ``linear`` otherwise) or a name whose
        range must hold the training data (see the module docstring).
    eta : float
        Weight of the labelled-anomaly term (authors: 1); 0 ignores the labels.
    eps : float
        Added to the distance in the labelled-anomaly term (authors: 1e-6).
    pretrain : bool
        Pre-train ``phi`` as the encoder of an auto-encoder (otherwise random weights).
    pretrain_epochs : int
        Pre-training epochs (authors: 150).
    pretrain_lr : float
        Pre-training learning rate (authors' ``--ae_lr`` default 1e-3; their README runs use
        1e-4 for 150 epochs).
    pretrain_weight_decay : float
        Pre-training weight decay (authors' README: 0.5e-3).
    batches : {"shuffled", "balanced"}
        Batches of the Deep SAD stage: ``shuffled`` (default, the authors'), a permutation of
        the training data per epoch; ``balanced``, half labelled anomalies and half
        unlabelled samples, drawn with replacement, ``ceil(n / batch_size)`` batches per
        epoch (DeepOD's DeepSAD balances them in expectation with a
        ``WeightedRandomSampler``; the loop's
        :class:`~torch_ae_sad.model.batch_samplers.BalancedSampler`). ``balanced`` needs
        labelled anomalies; pre-training (unsupervised) always uses shuffled batches.
    **training
        The parameters of :class:`~torch_ae_sad.model.base.TorchDetector` for the Deep SAD
        stage; ``batch_size``, ``optimizer``, ``amp`` and ``verbose`` also apply to
        pre-training. Defaults from the authors' README: Adam, ``lr=1e-4``,
        ``weight_decay=0.5e-6``, ``batch_size=128`` (they train 150 epochs with the lr divided
        by 10 after 50; here ``epochs=10`` and a constant lr).

    Attributes
    ----------
    network_ : str
        The network used by the fit, ``"lenet"`` or ``"dense"`` (``"auto"`` resolved).
    out_activation_ : str
        The pre-training decoder's last activation (``"auto"`` resolved).
    c_ : np.ndarray
        The centre, shape ``(rep_dim,)``.
    pretrain_history_ : dict or None
        The history of the stage ``pretrain`` (:func:`~torch_ae_sad.model.training.run_stage`).
    history_ : dict
        The history of the stage ``sad``.
    module_ : nn.Module
        The trained encoder ``phi``.
    """

    uses_labels: ClassVar[bool] = True

    network: str = AUTO
    rep_dim: int = 32
    hidden_dims: Sequence[int] = (128, 64)
    out_activation: str = AUTO
    eta: float = 1.0
    eps: float = 1e-6
    pretrain: bool = True
    pretrain_epochs: int = 10
    pretrain_lr: float = 1e-3
    pretrain_weight_decay: float = 0.5e-3
    batches: str = "shuffled"
    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-4
    weight_decay: float = 0.5e-6

    def _resolve(self, X: np.ndarray) -> None:
        """Set ``network_`` and ``out_activation_`` for the training data ``X`` and check them."""
        if self.network not in NETWORKS:
            raise ValueError(f"network: expected one of {NETWORKS}, found {self.network!r}")
        shape = tuple(X.shape[1:])
        network = self.network
        if network == AUTO:
            network = "lenet" if _is_lenet_image(shape) else "dense"
        if network == "lenet" and not _is_lenet_image(shape):
            sizes = " or ".join(f"(C, {s}, {s})" for s in IMAGE_SIZES)
            raise ValueError(f"network='lenet': expected images of shape {sizes}, found "
                             f"{shape}; pass images as (n, C, H, W), or use "
                             "network='dense' (or 'auto') for tabular data")
        low, high = float(X.min()), float(X.max())
        out = resolve_out_activation(self.out_activation, low, high)
        if self.pretrain:  # without pre-training the decoder reconstructs nothing
            check_output_range(out, low, high, type(self).__name__)
        self.network_, self.out_activation_ = network, out

    def _check_input_range(self, X: np.ndarray) -> None:
        self._resolve(X)

    def check_params(self) -> None:
        """Raise a ValueError naming a rejected hyper-parameter (see the base class)."""
        super().check_params()
        if self.network not in NETWORKS:
            raise ValueError(f"network: expected one of {NETWORKS}, found {self.network!r}")
        if not self.eta >= 0:
            raise ValueError(f"eta: expected >= 0, found {self.eta}")
        if not self.eps > 0:
            raise ValueError(f"eps: expected > 0, found {self.eps}")
        if self.batches not in BATCHES:
            raise ValueError(f"batches: expected one of {BATCHES}, found {self.batches!r}")
        if not self.pretrain:
            return
        if not (isinstance(self.pretrain_epochs, numbers.Real)
                and int(self.pretrain_epochs) >= 1):
            raise ValueError(f"pretrain_epochs: expected >= 1 (or pretrain=False), found "
                             f"{self.pretrain_epochs!r}")
        try:
            check_optimizer(self.optimizer, self.pretrain_lr, self.pretrain_weight_decay)
        except ValueError as exc:
            raise ValueError(f"pretrain_{exc}") from None

    def _build_module(self, input_shape: tuple[int, ...]) -> nn.Module:
        """The bias-free auto-encoder whose encoder becomes ``phi``."""
        if self.network_ == "lenet":
            return LeNetAutoEncoder(input_shape, self.rep_dim, self.out_activation_)
        return DenseBiasFreeAutoEncoder(input_shape, self.hidden_dims, self.rep_dim,
                                        self.out_activation_)

    def _build_networks(self) -> dict[str, nn.Module]:
        """``module_``: the encoder ``phi`` of the auto-encoder of the fitted ``network_``."""
        return {"module_": self._build_module(tuple(self.input_shape_)).encoder}

    def _stages(self, ctx: FitContext) -> StagePlan[dict[str, Any]]:
        """Stages ``pretrain`` (the auto-encoder) -> the centre ``c`` -> ``sad`` (``phi``)."""
        if self.batches == "balanced" and not (ctx.y == 1).any():
            raise ValueError("DeepSAD: batches='balanced' expects labelled anomalies (y == 1) "
                             "in the training data, found none")
        ae = self._init_module(ctx)
        pretrain = None
        if self.pretrain:
            pretrain = yield self._stage(
                ctx, "pretrain", ae, _reconstruction_loss, validate=False,
                generator=make_generator(ctx.seed + 1),
                epochs=int(self.pretrain_epochs), n_steps=None, lr=self.pretrain_lr,
                weight_decay=self.pretrain_weight_decay, eval_every=None, select="last",
                patience=None, lr_milestones=(), desc="DeepSAD pretrain")
        phi = ae.encoder
        del ae  # the decoder is not needed any more
        c = self._center(phi, ctx.X_dev)
        center = torch.as_tensor(c, device=ctx.device)
        stage = self._stage(ctx, "sad", phi, partial(self._loss, center=center),
                            score_fn=partial(self._dist, center=center))
        if self.batches == "balanced":
            stage = replace(stage, sampler=BalancedSampler(DEVNET_KINDS, (0.5, 0.5), None))
        sad = yield stage
        return {"c_": c, "pretrain_history_": None if pretrain is None else pretrain.history,
                "module_": phi, "history_": sad.history}

    @torch.no_grad()
    def _center(self, phi: nn.Module, X: torch.Tensor, batch_size: int = 4096) -> np.ndarray:
        """Mean of ``phi(x)`` in eval mode, entries ``|c_i| < 0.1`` moved to ``+-0.1``."""
        phi.eval()
        total = sum(phi(xb).float().sum(dim=0) for xb in X.split(batch_size))
        c = total / len(X)
        small = c.abs() < CENTER_MIN
        c = torch.where(small, torch.where(c < 0, -CENTER_MIN, CENTER_MIN), c)
        return c.cpu().numpy().astype(np.float32)

    def _dist(self, module: nn.Module, xb: torch.Tensor,
              center: torch.Tensor | None = None) -> torch.Tensor:
        """``||phi(x) - c||^2`` per sample, in float32 with autocast off.

        ``center``: the centre on the device; default the fitted ``c_`` (copied to the device
        on every call).
        """
        with torch.autocast(device_type=xb.device.type, enabled=False):
            z = _forward(module, xb.float()).float()
            c = torch.as_tensor(self.c_ if center is None else center, device=z.device)
            return (z - c).pow(2).sum(dim=1)

    def _loss(self, module: nn.Module, xb: torch.Tensor, yb: torch.Tensor, *,
              center: torch.Tensor | None = None) -> torch.Tensor:
        """Per-sample Deep SAD loss around ``center`` (default: the fitted ``c_``)."""
        dist = self._dist(module, xb, center)
        return torch.where(yb == 1, self.eta / (dist + self.eps), dist)

    def _score_batch(self, module: nn.Module, xb: torch.Tensor) -> torch.Tensor:
        return self._dist(module, xb)

    def _score(self, X: np.ndarray, batch_size: int = 4096) -> np.ndarray:
        """Distances to ``c_``, the centre copied to the device once per call."""
        center = torch.as_tensor(self.c_, device=self.device_)
        scores = self._batched(lambda xb: self._dist(self.module_, xb, center), X, batch_size)
        return scores.numpy().astype(np.float64)
