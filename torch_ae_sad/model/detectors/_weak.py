"""What the weakly-supervised detectors (DevNet, PReNet, FEAWAD) share: not method math.

Balanced batches (:class:`~torch_ae_sad.model.batch_samplers.BalancedSampler`, a feature of
the training loop) with the authors' "epoch" of ``steps_per_epoch`` batches, the feature
network chosen from the data (``network="auto"``), the authors' Keras RMSprop settings, and
their L2 penalty on the feature learner's weights.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from torch_ae_sad.model.base import FitContext, TorchDetector, hyperparameters
from torch_ae_sad.model.batch_samplers import BalancedSampler
from torch_ae_sad.model.networks.scoring import FEATURE_NETWORKS, is_lenet_image
from torch_ae_sad.model.training import LossFn, Stage

AUTO = "auto"
NETWORKS = (*FEATURE_NETWORKS, AUTO)
#: Keras' RMSprop (``rho=0.9``, ``epsilon=1e-7``; Keras 2.2, the authors' DevNet / PReNet) in
#: torch's names; torch's defaults are ``alpha=0.99``, ``eps=1e-8``.
KERAS_RMSPROP = {"alpha": 0.9, "eps": 1e-7}


def l2_penalty(module: nn.Module) -> torch.Tensor:
    """``sum ||W||^2`` over the weight matrices and kernels of ``module`` (not the biases).

    Keras' ``kernel_regularizer=l2(lam)`` adds ``lam * sum(W^2)`` of a layer to the loss.
    """
    weights = [p for p in module.parameters() if p.ndim > 1]
    if not weights:
        return torch.zeros(())
    return torch.stack([w.float().pow(2).sum() for w in weights]).sum()


def _positive_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 1


@hyperparameters
class BaseWeaklySupervised(TorchDetector):
    """Balanced batches with the authors' epochs of ``steps_per_epoch`` batches.

    Parameters
    ----------
    steps_per_epoch : int, optional
        Balanced batches per epoch (the authors' ``nb_batch`` = 20); ``None``: one pass's
        worth, ``ceil(n / batch_size)``.
    **training
        The parameters of :class:`~torch_ae_sad.model.base.TorchDetector`; with
        ``optimizer="rmsprop"`` the optimiser takes Keras' ``rho = 0.9``, ``eps = 1e-7``.
    """

    uses_labels: ClassVar[bool] = True

    steps_per_epoch: int | None = 20

    def check_params(self) -> None:
        """Raise a ValueError naming a rejected hyper-parameter (see the base class)."""
        super().check_params()
        if self.steps_per_epoch is not None and not _positive_int(self.steps_per_epoch):
            raise ValueError(f"steps_per_epoch: expected an int >= 1 (or None), found "
                             f"{self.steps_per_epoch!r}")

    def _require_anomalies(self, ctx: FitContext) -> None:
        """Raise a ValueError before any stage when the fit has no labelled anomalies."""
        if not (ctx.y == 1).any():
            raise ValueError(f"{type(self).__name__}: expected labelled anomalies (y == 1) for "
                             "its balanced batches, found none")

    def _optimizer_kwargs(self) -> dict[str, Any] | None:
        """Keras' RMSprop settings with ``optimizer="rmsprop"``, else ``None``."""
        return dict(KERAS_RMSPROP) if self.optimizer == "rmsprop" else None

    def _balanced_stage(self, ctx: FitContext, name: str, module: nn.Module, loss: LossFn,
                        kinds: tuple[tuple[int, ...], ...], shares: tuple[float, ...],
                        **overrides: Any) -> Stage:
        """A stage whose batches hold ``shares`` of each kind of row (with replacement)."""
        overrides.setdefault("optimizer_kwargs", self._optimizer_kwargs())
        overrides.setdefault("desc", f"{type(self).__name__} {name}")
        stage = self._stage(ctx, name, module, loss, **overrides)
        return replace(stage, sampler=BalancedSampler(kinds, shares, self.steps_per_epoch))


@hyperparameters
class BaseFeatureScorer(BaseWeaklySupervised):
    """A feature learner chosen from the data, with the authors' L2 penalty on it.

    Parameters
    ----------
    network : {"auto", "dense", "lenet"}
        The feature learner: ``dense`` (an MLP over ``hidden_dims``), ``lenet`` (Deep SAD's
        LeNet encoder, ``rep_dim`` outputs, for ``(C, 28, 28)`` / ``(C, 32, 32)`` images);
        ``auto``: ``lenet`` for such images, ``dense`` otherwise (``network_``).
    hidden_dims : sequence of int
        Widths of the dense feature learner.
    rep_dim : int
        Output size of the LeNet feature learner.
    l2 : float
        Weight of the L2 penalty on the feature learner's weights, added to every sample's
        loss (Keras' ``kernel_regularizer=l2(0.01)`` of the authors' hidden layer).
    **weak
        ``steps_per_epoch`` and the training parameters (:class:`BaseWeaklySupervised`).
    """

    network: str = AUTO
    hidden_dims: Sequence[int] = (20,)
    rep_dim: int = 32
    l2: float = 0.01

    def check_params(self) -> None:
        """Raise a ValueError naming a rejected hyper-parameter (see the base class)."""
        super().check_params()
        if self.network not in NETWORKS:
            raise ValueError(f"network: expected one of {NETWORKS}, found {self.network!r}")
        if not (isinstance(self.l2, numbers.Real) and self.l2 >= 0):
            raise ValueError(f"l2: expected >= 0, found {self.l2!r}")

    def _check_input_range(self, X: np.ndarray) -> None:
        """Any range; resolve ``network_`` from the sample shape."""
        shape = tuple(X.shape[1:])
        network = self.network
        if network == AUTO:
            network = "lenet" if is_lenet_image(shape) else "dense"
        if network == "lenet" and not is_lenet_image(shape):
            raise ValueError(f"network='lenet': expected images of shape (C, 28, 28) or "
                             f"(C, 32, 32), found {shape}; pass images as (n, C, H, W), or use "
                             "network='dense' (or 'auto') for tabular data")
        self.network_ = network
