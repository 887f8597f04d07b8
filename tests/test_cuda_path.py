"""The CUDA path, checked on the CPU (issue 18), plus a few real CUDA checks (``gpu``).

A CPU stand-in for what goes wrong only on a GPU: bfloat16 autocast (``amp``) must not move
any detector's AUROC, the VAE must stop on bad input before its first step (a CUDA BCE would
assert on the device), ``fit`` must leave torch's global generators and the deterministic
settings as it found them, and the batches must come from a CPU generator (the same on
every device).
"""

from __future__ import annotations

import inspect
import os
from typing import Any

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

import torch_ae_sad.model.base as base_module
import torch_ae_sad.model.training as training
from torch_ae_sad.model import DETECTORS, AutoEncoder, DeepSAD
from torch_ae_sad.model.base import TorchDetector
from torch_ae_sad.model.losses import ssim
from torch_ae_sad.utils.seeding import CUBLAS_DETERMINISTIC, deterministic_mode, seeded

TORCH_DETECTORS = sorted(n for n, c in DETECTORS.items() if issubclass(c, TorchDetector))

#: Small settings where a detector takes them (filtered by its signature).
FAST: dict[str, Any] = {"epochs": 3, "batch_size": 64, "verbose": 0, "device": "cpu",
                        "pretrain_epochs": 3, "width": 8, "rep_dim": 16, "channels": (8, 16)}
#: Per-detector settings where FAST leaves a detector near chance (an AUROC comparison of
#: two near-random models says nothing): Deep SAD needs more steps at a higher rate.
OVERRIDES: dict[str, dict[str, Any]] = {"DeepSAD": {"epochs": 10, "lr": 1e-3}}
#: AUROC floors of the fp32 fit on the split (the GAN at this size is not a detector yet).
FLOORS: dict[str, float] = {"DualDiscriminatorGAN": 0.0, "ConvAutoEncoder": 0.85}


def make(name: str, **extra: Any) -> TorchDetector:
    cls = DETECTORS[name]
    accepted = inspect.signature(cls).parameters
    params = {**FAST, **OVERRIDES.get(name, {}), **extra}
    return cls(**{k: v for k, v in params.items() if k in accepted})


@pytest.fixture(scope="module")
def mnist() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Digit 1 vs the rest: 600 normals + the 30 labelled anomalies, 400 test images."""
    from torch_ae_sad.dataset_loaders import one_vs_all

    s = one_vs_all("mnist", 1, labelled=30, seed=0)
    rng = np.random.default_rng(0)
    keep = np.r_[rng.choice(np.flatnonzero(s.y_train == 0), 600, replace=False),
                 np.flatnonzero(s.y_train == 1)]
    test = rng.choice(len(s.X_test), 400, replace=False)
    return s.X_train[keep], s.y_train[keep], s.X_test[test], s.y_test[test]


@pytest.fixture()
def tiny() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.random((40, 1, 28, 28)).astype(np.float32)
    return X, np.r_[np.zeros(34, int), np.ones(6, int)]


@pytest.fixture()
def restore_flags():
    """Put torch's deterministic settings back after a test that changes them."""
    flag = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    benchmark = torch.backends.cudnn.benchmark
    yield
    torch.use_deterministic_algorithms(flag, warn_only=warn_only)
    torch.backends.cudnn.benchmark = benchmark


# -- amp: bfloat16 autocast must not move the AUROC ------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("name", TORCH_DETECTORS)
def test_amp_matches_fp32_auroc_on_mnist(name, mnist):
    X_tr, y_tr, X_te, y_te = mnist
    auc = {amp: roc_auc_score(y_te, make(name, amp=amp).fit(X_tr, y_tr).decision_function(X_te))
           for amp in (False, True)}
    assert auc[False] >= FLOORS.get(name, 0.9), auc
    assert abs(auc[True] - auc[False]) <= 0.005, auc


def test_float32_where_bfloat16_cancels():
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(4, 1, 12, 12, generator=gen)
    y = (x + 0.01 * torch.randn(x.shape, generator=gen)).clamp(0, 1)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        under = ssim(x, y)
    assert under.dtype == torch.float32
    torch.testing.assert_close(under, ssim(x, y))
    # Deep SAD's distance to the centre: phi(x) and the distance in float32 under autocast
    X = np.random.default_rng(0).random((64, 6)).astype(np.float32)
    det = DeepSAD(network="dense", hidden_dims=(8,), rep_dim=4, epochs=1, pretrain_epochs=1,
                  verbose=0, device="cpu").fit(X, np.r_[np.zeros(60, int), np.ones(4, int)])
    xb = torch.as_tensor(X[:8])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        dist = det._score_batch(det.module_, xb)
    assert dist.dtype == torch.float32
    torch.testing.assert_close(dist, det._score_batch(det.module_, xb))


# -- the VAE stops on bad input before any step ----------------------------------------------
@pytest.fixture()
def no_step(monkeypatch):
    """Make any training step fail: an error must come before the first one."""
    def step(*args, **kwargs):
        raise AssertionError("a training step ran")

    monkeypatch.setattr(training, "train_step", step)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_vae_non_finite_input_is_a_value_error_before_any_step(value, tiny, no_step):
    X, y = tiny
    X[3, 0, 5, 5] = value
    with pytest.raises(ValueError, match=r"X: expected finite values.*index 3"):
        make("VAE", epochs=1).fit(X, y)
    with pytest.raises(ValueError, match="X_val: expected finite values"):
        make("VAE", epochs=1).fit(X[4:], y[4:], X_val=X, y_val=y)


@pytest.mark.parametrize("name", TORCH_DETECTORS)
def test_every_torch_detector_stops_on_nan_before_any_step(name, tiny, no_step):
    X, y = tiny
    X[1, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="X: expected finite values"):
        make(name, epochs=1).fit(X, y)


def test_vae_bce_input_outside_unit_interval_is_a_value_error_before_any_step(tiny, no_step):
    X, y = tiny
    with pytest.raises(ValueError, match=r"recon='bce'.*\[0, 1\]"):
        make("VAE", recon="bce").fit(X * 1.5, y)


def test_vae_scores_data_outside_the_training_range(tiny):
    X, y = tiny  # BCE on logits: a target outside [0, 1] is only a larger loss
    det = make("VAE", epochs=1).fit(X, y)
    assert det.recon_ == "bce" and np.isfinite(det.decision_function(X * 3 - 1)).all()


# -- fit leaves the global state as it found it ----------------------------------------------
@pytest.mark.parametrize("name", TORCH_DETECTORS)
def test_fit_leaves_global_rng_and_never_reseeds_every_device(name, tiny, monkeypatch):
    def banned(*args, **kwargs):
        raise AssertionError("torch.manual_seed reseeds every CUDA device")

    monkeypatch.setattr(torch, "manual_seed", banned)
    monkeypatch.setattr(torch.cuda, "manual_seed_all", banned)
    torch.random.default_generator.manual_seed(123)
    cpu, np_state = torch.get_rng_state(), np.random.get_state()
    make(name, epochs=1, pretrain_epochs=1, batch_size=16).fit(*tiny)
    assert torch.equal(cpu, torch.get_rng_state())
    after = np.random.get_state()
    assert np_state[0] == after[0] and np.array_equal(np_state[1], after[1])


@pytest.mark.parametrize(("flag", "warn_only"), [(False, False), (False, True), (True, False)])
def test_deterministic_fit_restores_flag_warn_only_and_precision(flag, warn_only, tiny,
                                                                  restore_flags, monkeypatch):
    torch.use_deterministic_algorithms(flag, warn_only=warn_only)
    torch.backends.cudnn.benchmark = True
    precision = torch.backends.cudnn.conv.fp32_precision
    seen = []
    real = base_module.run_stage

    def spy(*args, **kwargs):
        seen.append((torch.are_deterministic_algorithms_enabled(),
                     torch.is_deterministic_algorithms_warn_only_enabled(),
                     torch.backends.cudnn.benchmark, torch.backends.cudnn.conv.fp32_precision))
        return real(*args, **kwargs)

    monkeypatch.setattr(base_module, "run_stage", spy)
    make("AutoEncoder", epochs=1, deterministic=True).fit(*tiny)
    assert seen == [(True, True, False, "ieee")]
    assert torch.are_deterministic_algorithms_enabled() == flag
    assert torch.is_deterministic_algorithms_warn_only_enabled() == warn_only
    assert torch.backends.cudnn.benchmark and torch.backends.cudnn.conv.fp32_precision == precision
    seen.clear()
    make("AutoEncoder", epochs=1).fit(*tiny)  # deterministic=False changes nothing
    assert seen == [(flag, warn_only, True, precision)]


@pytest.mark.parametrize("deterministic", [True, False])
def test_scores_and_deep_sad_centre_run_in_deterministic_mode_when_asked(deterministic, tiny,
                                                                          restore_flags,
                                                                          monkeypatch):
    # On an H200 the same ConvAutoEncoder scored twice differed by 7.6e-6 until scoring ran
    # in deterministic mode too; Deep SAD's centre is computed between its stages.
    torch.use_deterministic_algorithms(False)
    det = make("AutoEncoder", epochs=1, deterministic=deterministic).fit(*tiny)
    real, seen = det._score_batch, []

    def spy(module, xb):
        seen.append(torch.are_deterministic_algorithms_enabled())
        return real(module, xb)

    monkeypatch.setattr(det, "_score_batch", spy)
    det.decision_function(tiny[0])
    assert seen and set(seen) == {deterministic}
    assert not torch.are_deterministic_algorithms_enabled()  # restored after scoring
    centre = []
    real_center = DeepSAD._center

    def center_spy(self, phi, X, batch_size=4096):
        centre.append(torch.are_deterministic_algorithms_enabled())
        return real_center(self, phi, X, batch_size)

    monkeypatch.setattr(DeepSAD, "_center", center_spy)
    make("DeepSAD", epochs=1, pretrain_epochs=1, deterministic=deterministic).fit(*tiny)
    assert centre == [deterministic]


def test_deterministic_mode_sets_cublas_workspace_only_for_cuda_and_only_if_unset(
        monkeypatch, restore_flags):
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    with deterministic_mode(True, "cpu"):
        assert "CUBLAS_WORKSPACE_CONFIG" not in os.environ
    with deterministic_mode(True, "cuda:0"):  # an explicit index needs no CUDA here
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == CUBLAS_DETERMINISTIC
    assert "CUBLAS_WORKSPACE_CONFIG" not in os.environ
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":16:8")
    with deterministic_mode(True, "cuda:0"):
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":16:8"
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":16:8"


def test_seeded_forks_and_seeds_only_the_cpu_without_a_cuda_device():
    before = torch.get_rng_state()
    with seeded(5):
        a = torch.rand(3)
    with seeded(5, "cpu"):
        b = torch.rand(3)
    assert torch.equal(a, b) and torch.equal(before, torch.get_rng_state())


# -- batches from a CPU generator ------------------------------------------------------------
@pytest.mark.parametrize("name", TORCH_DETECTORS)
def test_every_stage_draws_its_batches_on_a_cpu_generator(name, tiny, monkeypatch):
    devices = []
    real = base_module.run_stage

    def spy(stage, *args, **kwargs):
        devices.append(stage.generator.device)
        return real(stage, *args, **kwargs)

    monkeypatch.setattr(base_module, "run_stage", spy)
    make(name, epochs=1, pretrain_epochs=1, batch_size=16).fit(*tiny)
    assert devices and all(d.type == "cpu" for d in devices)


def test_batches_are_the_cpu_generators_permutations():
    gen = torch.Generator().manual_seed(3)
    batches = list(training._batches(10, 4, 2, None, torch.Generator().manual_seed(3),
                                     torch.device("cpu")))
    expected = [*torch.randperm(10, generator=gen).split(4),
                *torch.randperm(10, generator=gen).split(4)]
    assert len(batches) == len(expected)
    assert all(torch.equal(b, e) for b, e in zip(batches, expected, strict=True))


def test_results_do_not_depend_on_global_rng_use_between_fits(tiny):
    X, y = tiny
    params = {"epochs": 2, "noise_std": 0.1, "hidden_dims": (16, 4)}
    first = make("AutoEncoder", **params).fit(X, y).decision_function(X)
    torch.rand(1000)  # the caller draws from torch's global generator in between
    np.testing.assert_array_equal(first, make("AutoEncoder", **params).fit(X, y)
                                  .decision_function(X))


def test_gan_steps_take_the_batch_labels_on_the_host(tiny, monkeypatch):
    from torch_ae_sad.model.detectors.gan import DualDiscriminatorGAN

    seen = []
    real = DualDiscriminatorGAN._forward

    def spy(self, gen, xb, yb, augment=None):
        seen.append((yb.device.type, torch.is_grad_enabled()))
        return real(self, gen, xb, yb, augment)

    monkeypatch.setattr(DualDiscriminatorGAN, "_forward", spy)
    det = make("DualDiscriminatorGAN", epochs=1, batch_size=16).fit(*tiny)
    assert ("cpu", True) in seen
    assert len(det.history_["d_loss"]) == 1 and np.isfinite(det.history_["d_loss"]).all()


# -- on a real GPU ---------------------------------------------------------------------------
@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_fit_leaves_the_cuda_generator_and_sees_the_cpu_batches(tiny):
    X, y = tiny
    torch.cuda.manual_seed(7)
    state = torch.cuda.get_rng_state()
    params = {"epochs": 2, "hidden_dims": (16, 4), "verbose": 0, "random_state": 1,
              "deterministic": True}
    gpu = AutoEncoder(**params, device="cuda").fit(X, y)
    assert torch.equal(state, torch.cuda.get_rng_state())
    cpu = AutoEncoder(**params, device="cpu").fit(X, y)
    # same initialisation and batches: the scores differ by kernel rounding only
    np.testing.assert_allclose(gpu.decision_function(X), cpu.decision_function(X), rtol=1e-3,
                               atol=1e-5)
