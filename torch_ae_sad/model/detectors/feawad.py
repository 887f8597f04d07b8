"""FEAWAD, feature encoding with auto-encoders (Zhou, Song, Zhang, Liu, Zhu, Liu; TNNLS 2021).

Two stages of the package's one training loop, declared like Deep SAD's:

1. ``pretrain``: a dense auto-encoder trained with the per-sample mean squared error on
   unlabelled data only (batches drawn with replacement from ``y == 0``);
2. ``joint``: the auto-encoder and a scorer trained together. The scorer sees the hidden
   code ``h``, the normalised residual ``r / e`` (``r = x - x_hat``) and the reconstruction
   error ``e = ||r||_2`` (concatenated again after every hidden layer,
   :class:`~torch_ae_sad.model.networks.scoring.FeawadNet`); the loss per sample, with the
   score ``s`` and margin ``a = 5``::

       (1 - y) (|s| + e) + y (max(0, a - s) + max(0, a - e))

   the deviation loss on ``s`` (raw, not standardised, as the authors' ``multi_loss``) plus a
   reconstruction term: unlabelled data reconstructed well, labelled anomalies at least ``a``
   away from their reconstructions. Batches: half unlabelled, half labelled anomalies, with
   replacement (:class:`~torch_ae_sad.model.batch_samplers.BalancedSampler`).

The anomaly score is ``s``. Note: the authors' Keras code (and DeepOD 0.4.1, which ports it)
takes the reconstruction term's norm of the *normalised* residual ``r / e``, which is 1 for
every sample, so their reconstruction term is a constant; here ``e`` is the reconstruction
error of the paper's description.

Defaults and their sources (authors' code
``yj-zhou/Feature_Encoding_with_AutoEncoders_for_Weakly-supervised_Anomaly_Detection``,
``FEAWAD.py``): auto-encoder ``d -> d -> 128 -> 64 -> 128 -> d``, ReLU (``hidden_dims=(128,
64)``, ``input_layer=True``); scorer 256 and 32 ReLU units then a linear score
(``score_dims``); margin 5; Adam ``lr = 1e-4`` in both stages; batch 512; 20 batches per
epoch; 100 pre-training epochs and 30 joint ones. Changed: a linear decoder output (theirs
is ReLU, which cannot reconstruct negative inputs; DeepOD's is linear), so any input range
fits; torch's initialisation instead of Glorot normal. DeepOD 0.4.1's ``FeaWAD``
(cross-check) has no pre-training, Adam ``lr = 1e-3``, batch 64, widths ``100,50`` to a code of
128 and a scorer ``256,32``, without the error concatenated to the hidden layers.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from torch_ae_sad.model.base import FitContext, hyperparameters
from torch_ae_sad.model.batch_samplers import DEVNET_KINDS
from torch_ae_sad.model.detectors._weak import BaseWeaklySupervised
from torch_ae_sad.model.detectors.devnet import deviation_loss
from torch_ae_sad.model.losses import mse
from torch_ae_sad.model.networks.scoring import FeawadNet
from torch_ae_sad.model.training import StagePlan, check_optimizer


def feawad_loss(scores: torch.Tensor, errors: torch.Tensor, y: torch.Tensor,
                margin: float = 5.0) -> torch.Tensor:
    """Per-sample FEAWAD loss: raw deviation loss of ``scores`` plus the error term."""
    e = errors.float()
    recon = torch.where(y == 1, (margin - e).clamp_min(0.0), e)
    return deviation_loss(scores, y, 0.0, 1.0, margin) + recon


def _reconstruction_loss(module: nn.Module, xb: torch.Tensor, yb: torch.Tensor
                         ) -> torch.Tensor:
    x_hat, _ = module(xb)
    return mse(xb, x_hat)


@hyperparameters
class FEAWAD(BaseWeaklySupervised):
    """FEAWAD with the authors' defaults (see the module docstring for each source).

    Parameters
    ----------
    hidden_dims : sequence of int
        Encoder widths after the input layer, the last one the code (authors: ``(128, 64)``).
    input_layer : bool
        Start the encoder with a ReLU layer as wide as the input (authors: yes).
    score_dims : sequence of int
        Hidden widths of the scorer (authors: ``(256, 32)``).
    margin : float
        The margin ``a`` of the score and of the error (authors: 5).
    pretrain_epochs : int
        Pre-training epochs of ``steps_per_epoch`` batches (authors: 100).
    pretrain_lr : float
        Pre-training learning rate (authors: 1e-4).
    steps_per_epoch : int, optional
        Batches per epoch in both stages (authors: 20).
    **training
        The parameters of :class:`~torch_ae_sad.model.base.TorchDetector` for the joint
        stage (``batch_size``, ``optimizer``, ``amp``, ``verbose`` also for pre-training);
        defaults the authors': Adam, ``lr=1e-4``, ``batch_size=512``, ``epochs=30``. The
        network is dense (images are flattened).

    Attributes
    ----------
    pretrain_history_, history_ : dict
        The histories of the stages ``pretrain`` and ``joint``.
    module_ : nn.Module
        The trained :class:`~torch_ae_sad.model.networks.scoring.FeawadNet`.
    """

    hidden_dims: Sequence[int] = (128, 64)
    input_layer: bool = True
    score_dims: Sequence[int] = (256, 32)
    margin: float = 5.0
    pretrain_epochs: int = 100
    pretrain_lr: float = 1e-4
    epochs: int = 30
    batch_size: int = 512
    lr: float = 1e-4
    optimizer: str = "adam"

    def check_params(self) -> None:
        """Raise a ValueError naming a rejected hyper-parameter (see the base class)."""
        super().check_params()
        if not (isinstance(self.margin, numbers.Real) and self.margin > 0):
            raise ValueError(f"margin: expected > 0, found {self.margin!r}")
        if not (isinstance(self.pretrain_epochs, numbers.Integral)
                and self.pretrain_epochs >= 1):
            raise ValueError(f"pretrain_epochs: expected an int >= 1, found "
                             f"{self.pretrain_epochs!r}")
        try:
            check_optimizer(self.optimizer, self.pretrain_lr)
        except ValueError as exc:
            raise ValueError(f"pretrain_{exc}") from None

    def _build_module(self, input_shape: tuple[int, ...]) -> nn.Module:
        return FeawadNet(input_shape, self.hidden_dims, self.score_dims, self.input_layer)

    def _stages(self, ctx: FitContext) -> StagePlan[dict[str, Any]]:
        """Stages ``pretrain`` (the auto-encoder, unlabelled data) -> ``joint``."""
        self._require_anomalies(ctx)
        net = self._init_module(ctx)
        pretrain = yield self._balanced_stage(
            ctx, "pretrain", net.autoencoder, _reconstruction_loss, ((0,),), (1.0,),
            validate=False, epochs=int(self.pretrain_epochs), n_steps=None,
            lr=self.pretrain_lr, eval_every=None, select="last", patience=None,
            lr_milestones=())
        joint = yield self._balanced_stage(ctx, "joint", net, self._loss, DEVNET_KINDS,
                                           (0.5, 0.5))
        return {"pretrain_history_": pretrain.history, "module_": net,
                "history_": joint.history}

    def _loss(self, module: nn.Module, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        scores, errors = module(xb)
        return feawad_loss(scores, errors, yb, self.margin)

    def _score_batch(self, module: nn.Module, xb: torch.Tensor) -> torch.Tensor:
        return module(xb)[0].float()
