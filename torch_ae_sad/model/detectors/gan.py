"""Dual-discriminator GAN (Kim, Jeong, Choi, Seo 2020): a U-Net that fails on anomalies.

A U-Net generator ``G`` reconstructs images; two PatchGAN discriminators see real vs
reconstructed images, ``D_n`` on normal images and ``D_a`` on labelled anomalies. Images are
resized to 32x32 (28x28 input, bilinear) and mapped from [0, 1] to [-1, 1] (``tanh`` output).

Per-sample generator loss (weights are parameters, the paper's values in brackets):

* normal ``x``: ``w_rec`` (1.5) ``* mean|x - G(x)|`` + ``w_latent`` (0.5) ``* mean|E(x) -
  E(G(x))|`` (``E``: the generator's innermost encoder features) + ``w_patch`` (1.5) ``*`` the
  mean of the ``top_k`` (10) largest patch L1 errors (``patch_size`` x ``patch_size`` patches;
  the paper's 32x32 patches are for large images, 8x8 here) + ``w_adv_normal`` (0.5) ``*``
  ``BCE(D_n(G(x)), real)``;
* labelled anomaly ``x``: ``w_anomaly_rec`` (0.5) ``* -log(1 - exp(-mean|x - G(x)|))`` (falls
  as the reconstruction gets worse) + ``w_adv_anomaly`` (1.0) ``* BCE(D_a(G(x)), fake)``
  (``G`` pushes its reconstructions of anomalies to look fake to ``D_a``).

Discriminators: ``w_d_normal`` (1.0) ``* (BCE(D_n(x), real) + BCE(D_n(G(x)), fake))`` on the
normals of a batch and ``w_d_anomaly`` (0.5) ``*`` the same with ``D_a`` on its anomalies.

Training is one stage ``adversarial`` of the package's one loop
(:func:`~torch_ae_sad.model.training.run_stage`) with a two-optimiser step: every step runs
the generator once on the batch (:meth:`DualDiscriminatorGAN._forward`, augmentation
included), then the update ``d`` (the discriminators' loss on ``G(x)`` detached, their own
optimiser) and then the update ``g`` (``G``'s per-sample loss against the discriminators just
updated, with the discriminators frozen). Both optimisers share the loop's settings: the Adam
betas (paper: 0.5, 0.999) as ``optimizer_kwargs`` and the optional step decay of the learning
rate as ``lr_lambda``.

Score: ``mean|x - G(x)|`` on the 32x32 image in [-1, 1].

Input range: the generator ends in ``tanh``, so images are mapped ``x -> 2x - 1`` from [0, 1]
(:data:`INPUT_RANGE`) to its output range [-1, 1]. ``fit`` raises a ValueError naming the
range it found when the training data lies outside [0, 1] (beyond :data:`RANGE_TOLERANCE`),
e.g. after standardisation: scale the images to [0, 1] first (``uint8`` is divided by 255;
otherwise min-max, ``(X - X.min()) / (X.max() - X.min())`` with the training constants). The
scores of test data are not checked: under a scaling fitted on the training part, test
images may fall slightly outside, and they are only scored.

CPU speed options (the method's math is unchanged): ``channels_last`` keeps the networks and
the batches in the channels-last memory format; ``amp`` (the training loop's) runs the
forward passes of both players under bfloat16 autocast, on CUDA and the CPU. Measured at
width 32 on one thread of an AVX-512 CPU with ``avx512_bf16``: ``amp`` 1.33x faster per
sample with the same AUROC, ``channels_last`` 0.93x (slower), both 1.13x
(``benchmarks/results/gan_epochs.md``).
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any, ClassVar, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.transforms.v2 import functional as TF

from torch_ae_sad.dataset_loaders._samplers import KMeansBalancedUnderSampler
from torch_ae_sad.model.base import FitContext, TorchDetector, hyperparameters, seeded
from torch_ae_sad.model.networks.gan import (
    GAN_SIZE,
    PatchDiscriminator,
    UNetGenerator,
    init_normal,
)
from torch_ae_sad.model.training import StagePlan, Update, host_to_device

#: Input image sizes ``H == W`` the detector takes (28 is resized to 32 inside).
INPUT_SIZES = (28, 32)
#: Flattened inputs the detector reshapes: features -> (C, H, W).
FLAT_SHAPES = {784: (1, 28, 28), 1024: (1, 32, 32), 3072: (3, 32, 32)}
#: The loss weights and their paper values.
LOSS_WEIGHTS = ("w_rec", "w_latent", "w_patch", "w_adv_normal", "w_anomaly_rec",
                "w_adv_anomaly", "w_d_normal", "w_d_anomaly")
#: The input range the detector supports (mapped to [-1, 1], the range of the tanh generator).
INPUT_RANGE = (0.0, 1.0)
#: Slack allowed around :data:`INPUT_RANGE` for rounding (e.g. of a min-max scaling).
RANGE_TOLERANCE = 1e-3
#: Smallest reconstruction error inside ``-log(1 - exp(-l1))`` (caps the term at ~13.8).
ANOMALY_EPS = 1e-6


class GanBatch(NamedTuple):
    """A step's shared forward of the generator.

    Images ``x`` in [-1, 1], ``x_hat = G(x)``, the innermost features ``z = E(x)`` and the
    mask of the normal samples, on the CPU (selecting by it needs no wait for the device).
    """

    x: torch.Tensor
    x_hat: torch.Tensor
    z: torch.Tensor
    normal: torch.Tensor


# -- loss terms (per sample) -----------------------------------------------------------------
def l1_per_sample(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """``mean|x - x_hat|`` over all but the first axis, in float32."""
    return (x.float() - x_hat.float()).abs().flatten(1).mean(1)


def topk_patch_l1(x: torch.Tensor, x_hat: torch.Tensor, patch_size: int, top_k: int,
                  stride: int | None = None) -> torch.Tensor:
    """Mean of the ``top_k`` largest patch L1 errors of each sample.

    A patch's error is the mean ``|x - x_hat|`` over its channels and pixels; patches are
    ``patch_size`` x ``patch_size`` with ``stride`` (default ``patch_size``: a grid). Fewer
    patches than ``top_k``: the mean over all of them.
    """
    err = (x.float() - x_hat.float()).abs().mean(1, keepdim=True)
    patches = F.avg_pool2d(err, patch_size, stride=stride or patch_size).flatten(1)
    return patches.topk(min(top_k, patches.shape[1]), dim=1).values.mean(1)


def anomaly_reconstruction_loss(l1: torch.Tensor, eps: float = ANOMALY_EPS) -> torch.Tensor:
    """``-log(1 - exp(-l1))``: large for a good reconstruction, falls as ``l1`` grows."""
    return -torch.log(-torch.expm1(-l1.float().clamp_min(eps)))


def kind_indices(normal: torch.Tensor, device: torch.device
                 ) -> list[tuple[bool, torch.Tensor]]:
    """``(anomalous, indices on device)`` of each kind of image present in a batch.

    ``normal`` (the batch's mask of normal images) is read on the host: a CPU mask (what the
    training loop hands the GAN, ``Stage.host_labels``) costs no wait for the device, and
    the indices go to the device without one (:func:`~.training.host_to_device`), where a
    boolean mask on the device would make every selection wait for it. A kind absent from the
    batch is left out (its discriminator takes no step).
    """
    normal = normal.cpu()
    return [(anomalous, host_to_device(mask.nonzero().squeeze(1), device))
            for anomalous, mask in ((False, normal), (True, ~normal)) if bool(mask.any())]


def adversarial_loss(logits: torch.Tensor, real: bool) -> torch.Tensor:
    """Per-sample mean over patches of ``BCE(sigmoid(logits), 1 if real else 0)``."""
    logits = logits.float()
    target = torch.ones_like(logits) if real else torch.zeros_like(logits)
    return F.binary_cross_entropy_with_logits(logits, target, reduction="none").flatten(1).mean(1)


# -- augmentation ----------------------------------------------------------------------------
def to_gan_size(x: torch.Tensor) -> torch.Tensor:
    """Resize ``(n, C, H, W)`` images to 32x32 (torchvision, bilinear with antialias)."""
    if x.shape[-1] == GAN_SIZE and x.shape[-2] == GAN_SIZE:
        return x
    return TF.resize(x, [GAN_SIZE, GAN_SIZE], antialias=True)


def augment_batch(x: torch.Tensor, generator: torch.Generator, max_shift: int = 2
                  ) -> torch.Tensor:
    """Random flips, 90/180/270-degree rotations and 0-``max_shift`` pixel crops, per sample.

    ``x``: ``(n, C, S, S)`` square images in [0, 1]. Each sample gets its own horizontal flip
    and vertical flip (probability 1/2 each), a rotation by ``k * 90`` degrees (``k`` uniform in
    0..3) and a crop of the image zero-padded by ``max_shift`` pixels (a shift of up to
    ``max_shift`` pixels each way); the draws come from ``generator`` (seeded, on ``x``'s
    device). The transforms are torchvision v2's tensor functions applied to the whole batch
    and selected per sample, so there is no per-sample Python loop.
    """
    n, _, h, w = x.shape
    dev = x.device
    flips = torch.rand(n, 2, generator=generator, device=dev) < 0.5
    rot = torch.randint(0, 4, (n,), generator=generator, device=dev)
    shift = torch.randint(0, 2 * max_shift + 1, (n, 2), generator=generator, device=dev)
    x = torch.where(flips[:, 0, None, None, None], TF.horizontal_flip(x), x)
    x = torch.where(flips[:, 1, None, None, None], TF.vertical_flip(x), x)
    if h == w:
        for k in (1, 2, 3):
            x = torch.where((rot == k)[:, None, None, None], torch.rot90(x, k, dims=(-2, -1)), x)
    if max_shift > 0:
        padded = TF.pad(x, [max_shift], fill=0.0)
        rows = shift[:, 0, None] + torch.arange(h, device=dev)  # (n, h)
        cols = shift[:, 1, None] + torch.arange(w, device=dev)  # (n, w)
        x = padded[torch.arange(n, device=dev)[:, None, None, None],
                   torch.arange(x.shape[1], device=dev)[None, :, None, None],
                   rows[:, None, :, None], cols[:, None, None, :]]
    return x


@hyperparameters
class DualDiscriminatorGAN(TorchDetector):
    """Dual-discriminator GAN with a U-Net generator (see the module docstring).

    Takes ``(C, 28, 28)`` images (resized to 32x32 inside) and ``(C, 32, 32)`` images, any
    ``C`` (also flattened 784 / 1024 / 3072 features: 1x28x28, 1x32x32, 3x32x32); inputs in
    [0, 1] (``fit`` raises a ValueError otherwise; see the module docstring). Needs labelled
    anomalies (``y == 1``) in ``fit``.

    Parameters
    ----------
    width : int
        Channels of the first convolution of the generator and the discriminators (paper,
        pix2pix: 64).
    w_rec, w_latent, w_patch, w_adv_normal : float
        Generator weights on normal images (1.5, 0.5, 1.5, 0.5).
    w_anomaly_rec, w_adv_anomaly : float
        Generator weights on labelled anomalies (0.5, 1.0).
    w_d_normal, w_d_anomaly : float
        Discriminator weights (1.0, 0.5).
    patch_size : int
        Side of the patches of the top-k term (on the 32x32 image).
    patch_stride : int, optional
        Stride of those patches (default ``patch_size``: a grid of 16 patches).
    top_k : int
        Number of worst patches averaged.
    betas : tuple of float
        Adam betas of both optimizers (paper: 0.5, 0.999).
    lr_step : int, optional
        Multiply the learning rates by ``lr_gamma`` every ``lr_step`` epochs (StepLR; with
        ``n_steps``, epochs of ``ceil(n / batch_size)`` steps).
    lr_gamma : float
        The StepLR factor.
    augment : bool
        Random flips, 0-2 pixel crops and 90/180/270 rotations of the training batches
        (:func:`augment_batch`).
    balance_anomalies : bool
        Draw the labelled anomalies evenly from ``balance_clusters`` k-means clusters until
        they match the number of normals (``kmeans_balanced``: under-sampled when there are
        more anomalies; whole copies plus a balanced draw of the rest when there are fewer).
    balance_clusters : int
        k of that k-means.
    channels_last : bool
        Channels-last memory format of the generator, the discriminators and every batch
        (a CPU / tensor-core speed option; scores equal the contiguous ones up to float
        rounding). bfloat16 autocast is the ``amp`` option of the training loop.
    **training
        The parameters of :class:`~torch_ae_sad.model.base.TorchDetector`; the paper trains
        with ``batch_size=1``, Adam, ``lr=1e-4`` (the default here is 64 for the CPU).

    Attributes
    ----------
    module_ : UNetGenerator
        The trained generator.
    discriminators_ : nn.ModuleDict
        ``normal`` and ``anomaly`` discriminators.
    image_shape_ : tuple
        ``(C, H, W)`` of the input images.
    n_train_ : dict
        Normals and anomalies trained on (after balancing).
    history_ : dict
        The stage's :func:`~torch_ae_sad.model.training.run_stage` history (generator loss),
        with ``d_loss`` (mean discriminator loss per epoch-sized period).
    """

    uses_labels: ClassVar[bool] = True
    _network_attrs: ClassVar[tuple[str, ...]] = ("module_", "discriminators_")

    width: int = 64
    w_rec: float = 1.5
    w_latent: float = 0.5
    w_patch: float = 1.5
    w_adv_normal: float = 0.5
    w_anomaly_rec: float = 0.5
    w_adv_anomaly: float = 1.0
    w_d_normal: float = 1.0
    w_d_anomaly: float = 0.5
    patch_size: int = 8
    patch_stride: int | None = None
    top_k: int = 10
    betas: tuple[float, float] = (0.5, 0.999)
    lr_step: int | None = None
    lr_gamma: float = 0.1
    augment: bool = True
    balance_anomalies: bool = True
    balance_clusters: int = 10
    channels_last: bool = False
    epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-4

    # -- validation -------------------------------------------------------------------------
    def _validate_y(self, y: Any, n: int) -> np.ndarray:
        arr = None if y is None else np.asarray(y).ravel()
        if arr is None or (len(arr) == n and np.isin(arr, [0, 1]).all() and (arr == 0).any()
                           and not (arr == 1).any()):
            raise ValueError(f"y: {type(self).__name__} needs labelled anomalies (y == 1) to "
                             "train its anomaly discriminator, found none")
        return super()._validate_y(y, n)

    def check_params(self) -> None:
        """Raise a ValueError naming a rejected hyper-parameter (see the base class)."""
        super().check_params()
        self._check_params()

    def _check_params(self) -> None:
        for name in LOSS_WEIGHTS:
            value = float(getattr(self, name))
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name}: expected a loss weight >= 0, found {value}")
        if not 1 <= int(self.patch_size) <= GAN_SIZE:
            raise ValueError(f"patch_size: expected 1..{GAN_SIZE}, found {self.patch_size}")
        if self.patch_stride is not None and int(self.patch_stride) < 1:
            raise ValueError(f"patch_stride: expected >= 1, found {self.patch_stride}")
        if int(self.top_k) < 1:
            raise ValueError(f"top_k: expected >= 1, found {self.top_k}")
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ValueError(f"betas: expected two values in [0, 1), found {self.betas}")
        if self.lr_step is not None and int(self.lr_step) < 1:
            raise ValueError(f"lr_step: expected >= 1 epochs, found {self.lr_step}")
        if not self.lr_gamma > 0:
            raise ValueError(f"lr_gamma: expected > 0, found {self.lr_gamma}")
        if int(self.balance_clusters) < 1:
            raise ValueError(f"balance_clusters: expected >= 1, found {self.balance_clusters}")

    def _check_range(self, X: np.ndarray) -> None:
        """Raise a ValueError when ``X`` lies outside :data:`INPUT_RANGE` (with tolerance)."""
        lo, hi = float(X.min()), float(X.max())
        if lo < INPUT_RANGE[0] - RANGE_TOLERANCE or hi > INPUT_RANGE[1] + RANGE_TOLERANCE:
            raise ValueError(
                f"X: {type(self).__name__} needs training images in [{INPUT_RANGE[0]:g}, "
                f"{INPUT_RANGE[1]:g}] (it maps them to [-1, 1], the range of its tanh "
                f"generator); found values in [{lo:.4g}, {hi:.4g}]. Scale the data to [0, 1] "
                "first: uint8 images are divided by 255; otherwise min-max scale with the "
                "training constants, (X - X.min()) / (X.max() - X.min()), or "
                "sklearn.preprocessing.MinMaxScaler fitted on the flattened training data "
                "(not standardisation)")

    def _image_shape(self, input_shape: tuple[int, ...]) -> tuple[int, int, int]:
        shape = tuple(int(s) for s in input_shape)
        if len(shape) == 1 and shape[0] in FLAT_SHAPES:
            shape = FLAT_SHAPES[shape[0]]
        if len(shape) != 3 or shape[1] != shape[2] or shape[1] not in INPUT_SIZES:
            raise ValueError(f"X: {type(self).__name__} takes images of shape (C, 28, 28) "
                             "(resized to 32x32) or (C, 32, 32), passed as (n, C, H, W), "
                             f"(n, H, W) or flattened 784/1024/3072; found {input_shape}")
        return shape  # type: ignore[return-value]

    # -- data -------------------------------------------------------------------------------
    def _layout(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` in the networks' memory format (channels-last if ``channels_last``)."""
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def _to_gan(self, xb: torch.Tensor) -> torch.Tensor:
        """``(n, C, 32, 32)`` in [-1, 1] from a batch of validated inputs in [0, 1]."""
        return self._layout(to_gan_size(xb.reshape(len(xb), *self.image_shape_))) * 2.0 - 1.0

    def _balance(self, X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Anomalies drawn evenly from k-means clusters to match the normals (see class doc)."""
        anomalies = np.flatnonzero(y == 1)
        n_normal, n_anom = int((y == 0).sum()), len(anomalies)
        copies, rest = divmod(n_normal, n_anom)
        keep = [np.flatnonzero(y == 0), *([anomalies] * copies)]
        if rest:
            sampler = KMeansBalancedUnderSampler(sampling_strategy={1: rest},
                                                 n_clusters=int(self.balance_clusters),
                                                 random_state=int(self.random_state))
            sampler.fit_resample(X.reshape(len(X), -1), y)
            drawn = sampler.sample_indices_
            keep.append(drawn[y[drawn] == 1])
        idx = np.concatenate(keep)
        return X[idx], y[idx]

    # -- networks and losses ----------------------------------------------------------------
    def _build_module(self, input_shape: tuple[int, ...]) -> nn.Module:
        gen = UNetGenerator((input_shape[0], GAN_SIZE, GAN_SIZE), width=self.width)
        init_normal(gen)
        return gen

    def _score_batch(self, module: nn.Module, xb: torch.Tensor) -> torch.Tensor:
        x = self._to_gan(xb)
        return l1_per_sample(x, module(x)[0])

    def generator_terms(self, gen: nn.Module, discs: nn.ModuleDict, x: torch.Tensor,
                        x_hat: torch.Tensor, z: torch.Tensor, anomalous: bool
                        ) -> dict[str, torch.Tensor]:
        """Unweighted per-sample generator terms of normal (or anomalous) images in [-1, 1]."""
        l1 = l1_per_sample(x, x_hat)
        if anomalous:
            return {"anomaly_rec": anomaly_reconstruction_loss(l1),
                    "adv_anomaly": adversarial_loss(discs["anomaly"](x_hat), real=False)}
        z_hat = gen.encode(x_hat)[-1]
        return {"rec": l1, "latent": l1_per_sample(z, z_hat),
                "patch": topk_patch_l1(x, x_hat, int(self.patch_size), int(self.top_k),
                                       self.patch_stride),
                "adv_normal": adversarial_loss(discs["normal"](x_hat), real=True)}

    def discriminator_loss(self, discs: nn.ModuleDict, x: torch.Tensor, x_hat: torch.Tensor,
                           normal: torch.Tensor) -> torch.Tensor:
        """Weighted BCE real/fake of both discriminators on a batch (``x_hat`` detached).

        ``normal``: the mask of the normal images (best on the CPU, :func:`kind_indices`).
        """
        loss = x.new_zeros((), dtype=torch.float32)
        for anomalous, idx in kind_indices(normal, x.device):
            weight = self.w_d_anomaly if anomalous else self.w_d_normal
            if weight == 0:
                continue
            d = discs["anomaly" if anomalous else "normal"]
            loss = loss + weight * (adversarial_loss(d(x[idx]), real=True).mean()
                                    + adversarial_loss(d(x_hat[idx]), real=False).mean())
        return loss

    def _forward(self, gen: nn.Module, xb: torch.Tensor, yb: torch.Tensor,
                 augment: torch.Generator | None = None) -> GanBatch:
        """The shared forward of a step: images in [-1, 1] (augmented when training), ``G(x)``.

        ``augment``: the generator of the augmentation draws (none: no augmentation); batches
        are augmented only in training (``gen`` in train mode with gradients on). ``yb`` may
        be on the CPU (the training loop's, ``Stage.host_labels``) or the device (copied).
        """
        x = to_gan_size(xb.reshape(len(xb), *self.image_shape_))
        if augment is not None and gen.training and torch.is_grad_enabled():
            x = augment_batch(x, augment)
        x = self._layout(x) * 2.0 - 1.0
        x_hat, z = gen(x)
        return GanBatch(x, x_hat, z, yb.cpu() == 0)

    def _discriminator_step_loss(self, discs: nn.ModuleDict, batch: GanBatch) -> torch.Tensor:
        """The discriminators' loss on a step's batch, ``G(x)`` detached."""
        return self.discriminator_loss(discs, batch.x, batch.x_hat.detach(), batch.normal)

    def _generator_loss(self, gen: nn.Module, discs: nn.ModuleDict, batch: GanBatch
                        ) -> torch.Tensor:
        """Per-sample weighted generator loss (see the module docstring) of a step's batch."""
        w = {"rec": self.w_rec, "latent": self.w_latent, "patch": self.w_patch,
             "adv_normal": self.w_adv_normal, "anomaly_rec": self.w_anomaly_rec,
             "adv_anomaly": self.w_adv_anomaly}
        x = batch.x
        out = x.new_zeros(len(x), dtype=torch.float32)
        for anomalous, idx in kind_indices(batch.normal, x.device):
            terms = self.generator_terms(gen, discs, x[idx], batch.x_hat[idx], batch.z[idx],
                                         anomalous)
            out[idx] = sum(w[k] * v for k, v in terms.items())
        return out

    # -- fit --------------------------------------------------------------------------------
    def _check_input_range(self, X: np.ndarray) -> None:
        self._check_params()
        self.image_shape_ = self._image_shape(tuple(X.shape[1:]))
        self._check_range(X)

    def _resample(self, X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self._balance(X, y) if self.balance_anomalies else (X, y)

    def _build_networks(self) -> dict[str, nn.Module]:
        """The generator ``module_`` and the discriminators ``discriminators_``, on the CPU.

        Built for ``image_shape_`` and initialised (``normal`` and ``anomaly``
        discriminators; channels-last if ``channels_last``).
        """
        gan_shape = (self.image_shape_[0], GAN_SIZE, GAN_SIZE)
        gen = self._build_module(self.image_shape_)
        discs = nn.ModuleDict({"normal": PatchDiscriminator(gan_shape, self.width),
                               "anomaly": PatchDiscriminator(gan_shape, self.width)})
        init_normal(discs)
        if self.channels_last:
            gen = gen.to(memory_format=torch.channels_last)
            discs = discs.to(memory_format=torch.channels_last)
        return {"module_": gen, "discriminators_": discs}

    def _init_networks(self, ctx: FitContext) -> tuple[nn.Module, nn.ModuleDict]:
        """The generator and the ``normal`` / ``anomaly`` discriminators, seeded, on the device."""
        with seeded(ctx.seed):
            nets = self._build_networks()
        return nets["module_"].to(ctx.device), nets["discriminators_"].to(ctx.device)

    def _stages(self, ctx: FitContext) -> StagePlan[dict[str, Any]]:
        """One stage ``adversarial``: each step updates the discriminators ``d``, then ``G``."""
        gen, discs = self._init_networks(ctx)
        steps_per_epoch = math.ceil(len(ctx.X) / self.batch_size)

        def decay(step: int) -> float:  # StepLR by epochs, on both players
            return self.lr_gamma ** ((step // steps_per_epoch) // self.lr_step)

        adam = self.optimizer in ("adam", "adamw")
        result = yield self._stage(
            ctx, "adversarial", gen,
            forward=partial(self._forward, augment=ctx.noise if self.augment else None),
            updates=(Update("d", discs, partial(self._discriminator_step_loss, discs)),
                     Update("g", gen, partial(self._generator_loss, gen, discs))),
            host_labels=True,  # the batches' labels on the CPU: selections by kind never wait
            optimizer_kwargs={"betas": tuple(self.betas)} if adam else None,
            lr_lambda=decay if self.lr_step else None)
        discs.eval()
        d_losses = result.step_losses["d"]
        per = [d_losses[i:i + steps_per_epoch] for i in range(0, len(d_losses), steps_per_epoch)]
        history = {**result.history, "d_loss": [float(np.mean(p)) for p in per]}
        n_train = {"normal": int((ctx.y == 0).sum()), "anomaly": int((ctx.y == 1).sum())}
        return {"n_train_": n_train, "history_": history, "module_": gen,
                "discriminators_": discs}
