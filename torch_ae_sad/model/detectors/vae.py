"""Variational auto-encoder detector: trained on the normal (unlabelled) data only.

Training loss per sample (the negative beta-ELBO, one latent sample):
``recon(x, x_hat) + beta * KL(q(z|x) || N(0, I))``, where ``recon`` is the binary
cross-entropy (``recon="bce"``, inputs in [0, 1] and a sigmoid output) or the squared error
(``recon="mse"``, a Gaussian decoder of fixed variance), summed over the features. The loss
is computed in float32 (autocast off, also under ``amp``); the binary cross-entropy on the
decoder's logits (``binary_cross_entropy_with_logits``, never a log of a saturated sigmoid,
and no device-side assert on CUDA for a target outside [0, 1] or a NaN reconstruction);
``reconstruct`` applies the sigmoid.

Input range: with the defaults ``recon="auto"`` and ``out_activation="auto"``, ``fit`` picks
``bce`` with a ``sigmoid`` output for training data in [0, 1] (images divided by 255, min-max
scaled tables) and ``mse`` with a ``linear`` output otherwise (standardised or raw data), and
records the choice in ``recon_`` and ``out_activation_``. ``recon="auto"`` with an explicit
non-sigmoid ``out_activation`` is ``mse``. Explicit settings are checked before any training:
``recon="bce"`` raises a ValueError for data outside [0, 1] or an output other than
``sigmoid``, and an ``out_activation`` whose range does not hold the training data raises one
naming both ranges and the fix (scale the data, e.g. with
``sklearn.preprocessing.MinMaxScaler``, or ``out_activation="linear"`` / ``"auto"``). Data
scored later is not checked.

Scores: ``score="recon"``, the same ``recon`` term of the reconstruction decoded from the mean
latent ``mu`` (deterministic); ``score="elbo"``, the training objective with its ``recon`` term
averaged over ``n_samples`` latent samples (and the KL in closed form). The samples come from a
generator seeded with ``random_state`` for each scored batch, so ``decision_function`` is
repeatable.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from torch_ae_sad.model.base import FitContext, TorchDetector, hyperparameters
from torch_ae_sad.model.losses import squared_error
from torch_ae_sad.model.networks.dense import (
    AUTO,
    check_output_range,
    in_unit_interval,
    resolve_out_activation,
)
from torch_ae_sad.model.networks.vae import ConvVAE, DenseVAE, reparameterize
from torch_ae_sad.model.training import LossFn
from torch_ae_sad.utils.seeding import make_generator

NETWORKS = ("dense", "conv")
RECONS = ("bce", "mse")
SCORES = ("recon", "elbo")


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Per-sample ``KL(N(mu, exp(logvar)) || N(0, I))`` summed over the latent dimensions.

    In float32 with autocast off.
    """
    with torch.autocast(device_type=mu.device.type, enabled=False):
        mu, logvar = mu.float(), logvar.float()
        return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).flatten(1).sum(dim=1)


def reconstruction_loss(x: torch.Tensor, out: torch.Tensor, kind: str = "bce") -> torch.Tensor:
    """Per-sample reconstruction loss summed over the features, in float32 (autocast off).

    Parameters
    ----------
    x : torch.Tensor
        Inputs (``bce``: targets in [0, 1]).
    out : torch.Tensor
        The decoder's output, as many features per sample as ``x``: for ``bce`` its
        logits (the reconstruction is ``sigmoid(out)``), for ``mse`` the reconstruction.
    kind : {"bce", "mse"}
        Binary cross-entropy on logits (``binary_cross_entropy_with_logits``) or squared
        error.
    """
    if kind not in RECONS:
        raise ValueError(f"recon: expected one of {RECONS}, found {kind!r}")
    with torch.autocast(device_type=x.device.type, enabled=False):
        x, out = x.flatten(1).float(), out.flatten(1).float()
        if kind == "bce":
            return F.binary_cross_entropy_with_logits(out, x, reduction="none").sum(dim=1)
        return squared_error(x, out)


@hyperparameters
class VAE(TorchDetector):
    """Variational auto-encoder detector (dense by default; ``network="conv"`` for images).

    Parameters
    ----------
    network : {"dense", "conv"}
        :class:`~torch_ae_sad.model.networks.vae.DenseVAE` over ``hidden_dims``, or
        :class:`~torch_ae_sad.model.networks.vae.ConvVAE` over ``channels`` with a latent of
        ``hidden_dims[-1]`` units (``(C, 28, 28)`` or ``(C, 32, 32)`` images).
    hidden_dims : sequence of int
        Encoder widths, the last one the latent size.
    channels : sequence of int
        Convolution channels of the ``conv`` network.
    activation : str
        Hidden activation.
    out_activation : str
        The decoder's last activation: ``"auto"`` (``sigmoid`` for training data in [0, 1],
        ``linear`` otherwise) or a name whose range must hold the training data.
    beta : float
        Weight of the KL term (``1`` = the ELBO; ``beta-VAE`` otherwise).
    recon : {"auto", "bce", "mse"}
        Reconstruction term: binary cross-entropy (inputs in [0, 1], needs
        ``out_activation="sigmoid"``) or squared error, summed over the features;
        ``"auto"``: ``bce`` for training data in [0, 1] with a sigmoid (or ``"auto"``)
        output, ``mse`` otherwise (see the module docstring).
    score : {"recon", "elbo"}
        Anomaly score: reconstruction term from the mean latent, or the training objective
        estimated with ``n_samples`` latent samples.
    n_samples : int
        Latent samples of the ``elbo`` score.
    **training
        The parameters of :class:`~torch_ae_sad.model.base.TorchDetector`.

    Attributes
    ----------
    recon_ : str
        The reconstruction term used by the fit and the scores (``"auto"`` resolved).
    out_activation_ : str
        The decoder's last activation used by the fit (``"auto"`` resolved).
    """

    train_on: ClassVar[str] = "normal"

    network: str = "dense"
    hidden_dims: Sequence[int] = (128, 32)
    channels: Sequence[int] = (32, 64)
    activation: str = "relu"
    out_activation: str = AUTO
    beta: float = 1.0
    recon: str = AUTO
    score: str = "recon"
    n_samples: int = 10

    def check_params(self) -> None:
        """Raise a ValueError naming a rejected hyper-parameter (see the base class)."""
        super().check_params()
        self._check_params()

    def _check_params(self) -> None:
        if self.network not in NETWORKS:
            raise ValueError(f"network: expected one of {NETWORKS}, found {self.network!r}")
        if self.recon not in (*RECONS, AUTO):
            raise ValueError(f"recon: expected one of {(*RECONS, AUTO)}, found {self.recon!r}")
        if self.score not in SCORES:
            raise ValueError(f"score: expected one of {SCORES}, found {self.score!r}")
        if not self.beta >= 0:
            raise ValueError(f"beta: expected a KL weight >= 0, found {self.beta}")
        if int(self.n_samples) < 1:
            raise ValueError(f"n_samples: expected >= 1 latent samples, found {self.n_samples}")

    def _check_input_range(self, X: np.ndarray) -> None:
        """Resolve and check ``recon_`` and ``out_activation_`` (see the module docstring)."""
        self._check_params()
        low, high = float(X.min()), float(X.max())
        unit = in_unit_interval(low, high)
        recon = self.recon
        if recon == AUTO:
            recon = "bce" if unit and self.out_activation in (AUTO, "sigmoid") else "mse"
        if recon == "bce" and not unit:
            raise ValueError(f"recon='bce': expected inputs in [0, 1], found values in "
                             f"[{low:.4g}, {high:.4g}]; min-max scale them to [0, 1] (e.g. "
                             "sklearn.preprocessing.MinMaxScaler fitted on the training data) "
                             "or use recon='mse' (or 'auto')")
        out = resolve_out_activation(self.out_activation, low, high)
        if recon == "bce" and out != "sigmoid":
            raise ValueError(f"recon='bce' needs out_activation='sigmoid' (outputs in [0, 1]), "
                             f"found out_activation={self.out_activation!r}; use recon='mse' "
                             "(or 'auto') for other outputs")
        check_output_range(out, low, high, type(self).__name__)
        self.recon_, self.out_activation_ = recon, out

    def _build_module(self, input_shape: tuple[int, ...]) -> nn.Module:
        self._check_params()
        if len(self.hidden_dims) == 0:
            raise ValueError("hidden_dims: expected a non-empty list of positive widths, "
                             "found []")
        out = getattr(self, "out_activation_", None)
        if out is None:  # built outside fit: no training data to resolve "auto" by
            if self.out_activation == AUTO:
                raise ValueError("out_activation='auto' is resolved from the training data in "
                                 "fit; pass an activation to build the network outside fit")
            out = self.out_activation
        if self.network == "dense":
            return DenseVAE(input_shape, self.hidden_dims, self.activation, out)
        return ConvVAE(input_shape, channels=self.channels, latent_dim=self.hidden_dims[-1],
                       activation=self.activation, out_activation=out)

    def _train_loss(self, ctx: FitContext) -> LossFn:
        """The negative beta-ELBO with the resolved ``recon_`` and the fit's noise generator."""
        return partial(self._loss, recon=self.recon_, noise=ctx.noise)

    def _loss(self, module: nn.Module, xb: torch.Tensor, yb: torch.Tensor, *,
              recon: str | None = None, noise: torch.Generator | None = None) -> torch.Tensor:
        """Per-sample negative beta-ELBO, one latent sample drawn from ``noise``.

        ``recon`` defaults to the fitted ``recon_``; ``noise`` to torch's global generator.
        """
        mu, logvar = module.encode(xb)
        z = reparameterize(mu, logvar, noise)
        kind = self.recon_ if recon is None else recon
        return self._recon(module, xb, z, kind) + self.beta * kl_divergence(mu, logvar)

    @staticmethod
    def _recon(module: nn.Module, xb: torch.Tensor, z: torch.Tensor, kind: str) -> torch.Tensor:
        """The ``kind`` reconstruction term of ``xb`` decoded from ``z`` (``bce``: on logits)."""
        out = module.decode_logits(z) if kind == "bce" else module.decode(z)
        return reconstruction_loss(xb, out, kind)

    def _score_batch(self, module: nn.Module, xb: torch.Tensor) -> torch.Tensor:
        mu, logvar = module.encode(xb)
        if self.score == "recon":
            return self._recon(module, xb, mu, self.recon_)
        gen = make_generator(int(self.random_state), xb.device)
        eps = torch.randn((int(self.n_samples), *mu.shape), generator=gen, device=mu.device,
                          dtype=torch.float32)
        mu, std = mu.float(), torch.exp(0.5 * logvar.float())
        recon = torch.zeros(len(xb), device=xb.device)
        for e in eps:
            recon = recon + self._recon(module, xb, mu + std * e, self.recon_)
        return recon / len(eps) + self.beta * kl_divergence(mu, logvar)
