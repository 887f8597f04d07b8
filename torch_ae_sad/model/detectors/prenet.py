"""PReNet, pairwise relation prediction (Pang, Shen, Jin, van den Hengel, KDD 2023).

A network ``f(x1, x2)`` (a feature learner ``phi`` shared by both members, their features
concatenated, a linear relation layer) regresses the kind of a pair of training samples onto
ordinal targets: anomaly-anomaly ``c1 = 8``, anomaly-unlabelled ``c2 = 4``,
unlabelled-unlabelled ``c3 = 0``. Loss per pair: ``|f(x1, x2) - c|`` (mean absolute error,
the authors' ``regression_loss`` and DeepOD 0.4.1's ``L1Loss``) plus ``l2 * sum ||W||^2`` over
``phi``'s weight matrices. Batches, drawn by the loop's
:class:`~torch_ae_sad.model.batch_samplers.BalancedSampler` with replacement: half
unlabelled-unlabelled pairs, a quarter unlabelled-anomaly (unlabelled first), a quarter
anomaly-anomaly (two different anomalies when there are several), as the authors'
``pair_batch_generation``.

Score of ``x`` (the authors' ``load_model_weight_predict``): the mean of ``f(u_j, x)`` over
``n_references`` unlabelled training samples ``u_j`` and of ``f(x, a_j)`` over as many
labelled anomalies ``a_j``, halved: ``x`` takes the slot of the other kind in each pair, as
in the unlabelled-anomaly pairs it was trained on. The references are drawn once per fit
with replacement (``unlabelled_refs_``, ``anomaly_refs_``) and shared by every scored sample.

Defaults and their sources (authors' code ``mala-lab/PReNet``, ``prenet.py``): one hidden
layer of 20 ReLU units (``reg_network``, their default depth 2) with L2 0.01 (``--h_lambda``),
a linear relation layer with bias; targets ``(0, 4, 8)`` (``--ordinal_labels``); RMSprop,
``lr = 1e-3``, batch 512, 20 batches per epoch, 50 epochs; ``n_references = 30`` (the paper's
E and their ``ensemble_size`` constant; their command line defaults to 1, "similarly good").
Not reproduced: their ``clipnorm=1`` and the draw of the unlabelled pairs without
replacement within a batch. DeepOD 0.4.1's ``PReNet`` (cross-check) keeps the targets, the
pair mix and the L1 loss, with Adam, batch 64, 100 epochs, widths ``100,50`` to 128 without
biases, LeakyReLU, no L2, and fresh references for every test sample.

Validation data is not used (the loss is defined on pairs; ``select`` ranks by the training
loss). Images: ``network="auto"`` uses Deep SAD's LeNet encoder as ``phi``.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from torch_ae_sad.model.base import FitContext, hyperparameters
from torch_ae_sad.model.batch_samplers import PAIR_KINDS, PAIR_SHARES
from torch_ae_sad.model.detectors._weak import BaseFeatureScorer, l2_penalty
from torch_ae_sad.model.networks.scoring import PairNet, feature_network
from torch_ae_sad.model.training import StagePlan
from torch_ae_sad.utils.seeding import make_generator


def pair_targets(yb: torch.Tensor, targets: Sequence[float] = (0.0, 4.0, 8.0)
                 ) -> torch.Tensor:
    """Targets of pairs with labels ``yb`` of shape ``(n, 2)``: by their number of anomalies.

    ``targets[k]`` for a pair with ``k`` labelled anomalies: unlabelled-unlabelled,
    anomaly-unlabelled (either order), anomaly-anomaly.
    """
    table = torch.as_tensor(tuple(targets), dtype=torch.float32, device=yb.device)
    return table[yb.long().sum(dim=1)]


def relation_scores(module: PairNet, xb: torch.Tensor, unlabelled: torch.Tensor,
                    anomalies: torch.Tensor) -> torch.Tensor:
    """``(mean_j f(u_j, x) + mean_j f(x, a_j)) / 2`` for each ``x`` of ``xb``."""
    e, eu, ea = module.embed(xb), module.embed(unlabelled), module.embed(anomalies)
    n = len(e)
    with_u = module.relate(eu[None].expand(n, -1, -1), e[:, None].expand(-1, len(eu), -1))
    with_a = module.relate(e[:, None].expand(-1, len(ea), -1), ea[None].expand(n, -1, -1))
    return (with_u.float().mean(dim=1) + with_a.float().mean(dim=1)) / 2


@hyperparameters
class PReNet(BaseFeatureScorer):
    """PReNet with the authors' defaults (see the module docstring for each source).

    Parameters
    ----------
    targets : sequence of float
        Targets of unlabelled-unlabelled, anomaly-unlabelled and anomaly-anomaly pairs
        (authors: ``(0, 4, 8)``, the paper's ``c3, c2, c1``).
    n_references : int
        Unlabelled samples and labelled anomalies each paired with a scored sample (the
        paper's E = 30).
    **weak
        ``network``, ``hidden_dims`` (authors: ``(20,)``), ``rep_dim``, ``steps_per_epoch``
        (authors: 20), ``l2`` (authors: 0.01): see
        :class:`~torch_ae_sad.model.detectors._weak.BaseFeatureScorer`.
    **training
        The parameters of :class:`~torch_ae_sad.model.base.TorchDetector` (a batch of
        ``batch_size`` pairs); defaults the authors': ``optimizer="rmsprop"``, ``lr=1e-3``,
        ``batch_size=512``, ``epochs=50``.

    Attributes
    ----------
    network_ : str
        The feature learner used, ``"dense"`` or ``"lenet"``.
    unlabelled_refs_, anomaly_refs_ : np.ndarray
        The reference samples of the score, ``(n_references, ...)`` each.
    module_ : nn.Module
        The trained :class:`~torch_ae_sad.model.networks.scoring.PairNet`.
    history_ : dict
        The history of the stage ``train``.
    """

    targets: Sequence[float] = (0.0, 4.0, 8.0)
    n_references: int = 30
    epochs: int = 50
    batch_size: int = 512
    lr: float = 1e-3
    optimizer: str = "rmsprop"

    def check_params(self) -> None:
        """Raise a ValueError naming a rejected hyper-parameter (see the base class)."""
        super().check_params()
        if len(tuple(self.targets)) != 3:
            raise ValueError(f"targets: expected 3 values (unlabelled pairs, mixed pairs, "
                             f"anomaly pairs), found {self.targets!r}")
        if not (isinstance(self.n_references, numbers.Integral) and self.n_references >= 1):
            raise ValueError(f"n_references: expected an int >= 1, found "
                             f"{self.n_references!r}")

    def _build_module(self, input_shape: tuple[int, ...]) -> nn.Module:
        return PairNet(*feature_network(self.network_, input_shape, self.hidden_dims,
                                        self.rep_dim))

    def _references(self, ctx: FitContext) -> tuple[np.ndarray, np.ndarray]:
        """``n_references`` unlabelled samples and labelled anomalies, with replacement."""
        gen = make_generator(ctx.seed + 2)
        out = []
        for label in (0, 1):
            pool = np.flatnonzero(ctx.y == label)
            pick = torch.randint(len(pool), (int(self.n_references),), generator=gen)
            out.append(ctx.X[pool[pick.numpy()]])
        return out[0], out[1]

    def _stages(self, ctx: FitContext) -> StagePlan[dict[str, Any]]:
        """One stage ``train`` on balanced pair batches; the references drawn first."""
        self._require_anomalies(ctx)
        unlabelled, anomalies = self._references(ctx)
        module = self._init_module(ctx)
        result = yield self._balanced_stage(ctx, "train", module, self._loss, PAIR_KINDS,
                                            PAIR_SHARES, validate=False)
        return {"unlabelled_refs_": unlabelled, "anomaly_refs_": anomalies, "module_": module,
                "history_": result.history}

    def _loss(self, module: nn.Module, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        """``|f(x1, x2) - target|`` per pair plus the L2 penalty."""
        err = (module(xb).float() - pair_targets(yb, self.targets)).abs()
        return err + self.l2 * l2_penalty(module.features).to(err.device)

    def _relation(self, module: nn.Module, xb: torch.Tensor,
                  refs: Sequence[torch.Tensor] | None = None) -> torch.Tensor:
        """:func:`relation_scores` against ``refs`` (default: the fitted references)."""
        if refs is None:
            refs = [torch.as_tensor(r, device=xb.device)
                    for r in (self.unlabelled_refs_, self.anomaly_refs_)]
        return relation_scores(module, xb, *refs)

    def _score_batch(self, module: nn.Module, xb: torch.Tensor) -> torch.Tensor:
        return self._relation(module, xb)

    def _score(self, X: np.ndarray, batch_size: int = 4096) -> np.ndarray:
        """Relation scores, the references copied to the device once per call."""
        refs = [torch.as_tensor(r, device=self.device_)
                for r in (self.unlabelled_refs_, self.anomaly_refs_)]
        scores = self._batched(lambda xb: self._relation(self.module_, xb, refs), X,
                               batch_size)
        return scores.numpy().astype(np.float64)
