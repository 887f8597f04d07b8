"""DevNet, deviation networks (Pang, Shen, van den Hengel, KDD 2019): a scorer ``phi``.

Loss per sample, with ``r`` the mean and ``sigma`` the (population) standard deviation of
``n_ref`` draws from N(0, 1) and ``dev(x) = (phi(x) - r) / sigma``::

    (1 - y) |dev(x)| + y max(0, a - dev(x))        (margin a = 5)

plus ``l2 * sum ||W||^2`` over the feature learner's weight matrices (the authors' Keras
``kernel_regularizer=l2(0.01)`` of the hidden layer; their score layer is not penalised).
Unlabelled data is pulled to the reference mean, labelled anomalies at least ``a`` reference
deviations above it. Every batch is half unlabelled data, half labelled anomalies, each
drawn with replacement (the loop's :class:`~torch_ae_sad.model.batch_samplers.BalancedSampler`);
an "epoch" is ``steps_per_epoch`` such batches. The anomaly score is ``phi(x)`` itself (the
authors' test score; ``dev(x)`` only shifts and scales it).

Defaults and their sources (authors' code ``GuansongPang/deviation-network``, ``devnet.py``,
the paper's settings): one hidden layer of 20 ReLU units (``dev_network_s``, their default
depth 2) then a linear score with bias; ``n_ref = 5000`` (the paper's ``l``), drawn once per
fit (their ``K.variable`` is drawn once when the loss is built; DeepOD 0.4.1 redraws it every
batch); margin ``a = 5``; RMSprop, ``lr = 1e-3`` (Keras' default, ``rho = 0.9``); L2 0.01;
batch 512; 20 batches per epoch; 50 epochs. Not reproduced: their ``clipnorm=1`` (RMSprop
steps are roughly bounded by ``lr`` anyway) and Keras' Glorot initialisation. DeepOD 0.4.1's
``DevNet`` (cross-check) keeps the loss, margin and ``l`` but uses Adam (``eps = 1e-6``),
batch 64, 100 epochs, hidden widths ``100,50`` without biases and no L2, and balances the
batches only in expectation (``WeightedRandomSampler``).

Images: ``network="auto"`` scores ``(C, 28, 28)`` / ``(C, 32, 32)`` images with Deep SAD's
LeNet encoder (``rep_dim`` outputs) and a ReLU as the feature learner (the paper is tabular;
the loss and the balanced batches do not depend on the feature learner).
"""

from __future__ import annotations

import numbers
from functools import partial
from typing import Any

import torch
from torch import nn

from torch_ae_sad.model.base import FitContext, hyperparameters
from torch_ae_sad.model.batch_samplers import DEVNET_KINDS
from torch_ae_sad.model.detectors._weak import BaseFeatureScorer, l2_penalty
from torch_ae_sad.model.networks.scoring import ScoreNet, feature_network
from torch_ae_sad.model.training import StagePlan


def deviation_loss(scores: torch.Tensor, y: torch.Tensor, ref_mean: float = 0.0,
                   ref_std: float = 1.0, margin: float = 5.0) -> torch.Tensor:
    """Per-sample deviation loss of ``scores`` (``y``: 1 labelled anomaly, 0 unlabelled).

    ``dev = (scores - ref_mean) / ref_std``; ``|dev|`` for unlabelled samples and
    ``max(0, margin - dev)`` for labelled anomalies.
    """
    dev = (scores.float() - ref_mean) / ref_std
    return torch.where(y == 1, (margin - dev).clamp_min(0.0), dev.abs())


def reference_stats(n_ref: int, generator: torch.Generator | None = None,
                    device: torch.device | str = "cpu") -> tuple[float, float]:
    """Mean and population standard deviation of ``n_ref`` draws from N(0, 1)."""
    ref = torch.randn(int(n_ref), generator=generator, device=device)
    return float(ref.mean()), float(ref.std(unbiased=False))


@hyperparameters
class DevNet(BaseFeatureScorer):
    """DevNet with the authors' defaults (see the module docstring for each source).

    Parameters
    ----------
    margin : float
        The deviation margin ``a`` (authors: 5).
    n_ref : int
        Reference draws from N(0, 1) (authors: 5000).
    **weak
        ``network``, ``hidden_dims`` (authors: ``(20,)``), ``rep_dim``, ``steps_per_epoch``
        (authors: 20), ``l2`` (authors: 0.01): see
        :class:`~torch_ae_sad.model.detectors._weak.BaseFeatureScorer`.
    **training
        The parameters of :class:`~torch_ae_sad.model.base.TorchDetector`; defaults the
        authors': ``optimizer="rmsprop"``, ``lr=1e-3``, ``batch_size=512``, ``epochs=50``.

    Attributes
    ----------
    network_ : str
        The feature learner used, ``"dense"`` or ``"lenet"``.
    ref_mean_, ref_std_ : float
        Mean and standard deviation of the reference draws.
    module_ : nn.Module
        The trained :class:`~torch_ae_sad.model.networks.scoring.ScoreNet`.
    history_ : dict
        The history of the stage ``train``.
    """

    margin: float = 5.0
    n_ref: int = 5000
    epochs: int = 50
    batch_size: int = 512
    lr: float = 1e-3
    optimizer: str = "rmsprop"

    def check_params(self) -> None:
        """Raise a ValueError naming a rejected hyper-parameter (see the base class)."""
        super().check_params()
        if not (isinstance(self.margin, numbers.Real) and self.margin > 0):
            raise ValueError(f"margin: expected > 0, found {self.margin!r}")
        if not (isinstance(self.n_ref, numbers.Integral) and self.n_ref >= 2):
            raise ValueError(f"n_ref: expected an int >= 2, found {self.n_ref!r}")

    def _build_module(self, input_shape: tuple[int, ...]) -> nn.Module:
        return ScoreNet(*feature_network(self.network_, input_shape, self.hidden_dims,
                                         self.rep_dim))

    def _stages(self, ctx: FitContext) -> StagePlan[dict[str, Any]]:
        """One stage ``train`` on balanced batches, against fixed reference draws."""
        self._require_anomalies(ctx)
        module = self._init_module(ctx)
        mean, std = reference_stats(self.n_ref, ctx.noise, ctx.device)
        loss = partial(self._loss, ref_mean=mean, ref_std=std)
        result = yield self._balanced_stage(ctx, "train", module, loss, DEVNET_KINDS,
                                            (0.5, 0.5))
        return {"ref_mean_": mean, "ref_std_": std, "module_": module,
                "history_": result.history}

    def _loss(self, module: nn.Module, xb: torch.Tensor, yb: torch.Tensor, *,
              ref_mean: float | None = None, ref_std: float | None = None) -> torch.Tensor:
        """Deviation loss plus the L2 penalty (default references: the fitted ones)."""
        mean = self.ref_mean_ if ref_mean is None else ref_mean
        std = self.ref_std_ if ref_std is None else ref_std
        dev = deviation_loss(module(xb), yb, mean, std, self.margin)
        return dev + self.l2 * l2_penalty(module.features).to(dev.device)

    def _score_batch(self, module: nn.Module, xb: torch.Tensor) -> torch.Tensor:
        return module(xb).float()
