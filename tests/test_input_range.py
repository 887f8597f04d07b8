"""The input-range contract of every detector.

Each detector either fits any range, resolves an automatic choice from the training data's
range (``out_activation="auto"`` and friends, recorded as fitted attributes), or raises a
ValueError before training that says how to scale the data. :data:`CONTRACT` states which for
every registered detector, so a new detector, or a silent change of an old one, fails here.
"""

from __future__ import annotations

import inspect
import math
import time

import numpy as np
import pytest
import test_detectors_common as common
import torch

from torch_ae_sad.model import AESAD, DETECTORS, TOLL, VAE, AutoEncoder, DeepSAD
from torch_ae_sad.model.networks import (
    ACTIVATIONS,
    AUTOENCODER_NETWORKS,
    FIXED_OUT_ACTIVATIONS,
    OUTPUT_RANGES,
    check_output_range,
    make_autoencoder,
    resolve_out_activation,
)
from torch_ae_sad.model.networks.lenet import DenseBiasFreeEncoder, LeNetEncoder

#: The common tests' images in [0, 1] (48 normals, 6 labelled anomalies, (1, 28, 28)).
images = common.images

#: Tiny budgets on top of the common tests' small settings.
TINY = {"epochs": 1, "n_steps": None, "pretrain_epochs": 1}

#: Fitted attributes every detector resolves on data in [0, 1].
ON_UNIT = {
    "AESAD": {"out_activation_": "sigmoid"},
    "AutoEncoder": {"out_activation_": "sigmoid"},
    "ConvAutoEncoder": {"out_activation_": "sigmoid"},
    "TOLL": {"out_activation_": "sigmoid"},
    "VAE": {"out_activation_": "sigmoid", "recon_": "bce"},
    "DeepSAD": {"out_activation_": "sigmoid", "network_": "lenet"},
}

#: What each detector does with standardised data (values in [-3, 3]): the fitted attributes
#: of its automatic choice, or the ValueError message it raises before training.
CONTRACT: dict[str, tuple[str, dict[str, str] | str]] = {
    "AESAD": ("raises", r"AESAD needs training data in \[0, 1\].*found values in \[-3, .*"
                        r"MinMaxScaler"),
    "AutoEncoder": ("fits", {"out_activation_": "linear"}),
    "ConvAutoEncoder": ("fits", {"out_activation_": "linear"}),
    "TOLL": ("fits", {"out_activation_": "linear"}),
    "VAE": ("fits", {"out_activation_": "linear", "recon_": "mse"}),
    "DeepSAD": ("fits", {"out_activation_": "linear", "network_": "lenet"}),
    "DualDiscriminatorGAN": ("raises", r"training images in \[0, 1\].*found values in \[-3"),
    "DBSCANDetector": ("fits", {}),
    "IForest": ("fits", {}),
    "KNN": ("fits", {}),
    "LOF": ("fits", {}),
    "OCSVM": ("fits", {}),
    "RandomGuess": ("fits", {}),
    # weakly-supervised scorers: no decoder output to match (FEAWAD's decoder is linear)
    "DevNet": ("fits", {"network_": "lenet"}),
    "PReNet": ("fits", {"network_": "lenet"}),
    "FEAWAD": ("fits", {}),
}

#: Detectors with a decoder activation parameter.
WITH_OUT_ACTIVATION = sorted(n for n, cls in DETECTORS.items()
                             if "out_activation" in inspect.signature(cls).parameters)


def tiny(cls, **extra):
    return common.fast(cls, **{**TINY, **extra})


def standardised(X: np.ndarray) -> np.ndarray:
    """``X`` in [0, 0.9] mapped onto [-3, 3] (the range of standardised data)."""
    return ((X - X.min()) / (X.max() - X.min()) * 6 - 3).astype(np.float32)


def test_every_detector_states_its_contract():
    # the package's detectors (tests may register subclasses of their own while they run)
    ours = {n for n, c in DETECTORS.items() if c.__module__.startswith("torch_ae_sad.")}
    assert set(CONTRACT) == ours
    assert set(ON_UNIT) == set(WITH_OUT_ACTIVATION)


# -- (a) data in [0, 1] ---------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_unit_data_fits_and_scores(name, images):
    X, y = images
    assert 0 <= X.min() and X.max() <= 1
    det = tiny(DETECTORS[name]).fit(X, y)
    scores = det.decision_function(X)
    assert scores.shape == (len(X),) and np.isfinite(scores).all()
    for attr, value in ON_UNIT.get(name, {}).items():
        assert getattr(det, attr) == value, attr


# -- (b) standardised data ------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_standardised_data_follows_the_contract(name, images):
    X, y = images
    Xs = standardised(X)
    assert Xs.min() == pytest.approx(-3) and Xs.max() == pytest.approx(3)
    what, expected = CONTRACT[name]
    det = tiny(DETECTORS[name])
    if what == "raises":
        with pytest.raises(ValueError, match=expected):
            det.fit(Xs, y)
        assert not hasattr(det, "history_") and not hasattr(det, "module_")
        return
    det.fit(Xs, y)
    for attr, value in expected.items():
        assert getattr(det, attr) == value, attr
    scores = det.decision_function(Xs)
    assert scores.shape == (len(X),) and np.isfinite(scores).all()


# -- (c) an explicit activation that cannot reach the data ----------------------------------
@pytest.mark.parametrize("name", WITH_OUT_ACTIVATION)
def test_explicit_sigmoid_on_standardised_data_raises_before_training(name, images):
    X, y = images
    det = tiny(DETECTORS[name], out_activation="sigmoid", epochs=1000, pretrain_epochs=1000)
    match = (CONTRACT[name][1] if name == "AESAD" else
             r"out_activation: 'sigmoid' outputs values in \[0, 1\].*training data lies in "
             r"\[-3, 3\].*MinMaxScaler.*out_activation='linear'")
    start = time.perf_counter()
    with pytest.raises(ValueError, match=match):
        det.fit(standardised(X), y)
    assert time.perf_counter() - start < 5  # 1000 epochs were not run
    assert not hasattr(det, "history_") and not hasattr(det, "module_")
    assert not hasattr(det, "pretrain_history_")


@pytest.mark.parametrize(("out", "low", "high", "fits"), [
    ("relu", -3.0, 3.0, False), ("relu", 0.0, 5.0, True), ("tanh", -1.0, 1.0, True),
    ("tanh", -3.0, 3.0, False), ("elu", -1.0, 4.0, True), ("linear", -50.0, 50.0, True),
    ("sigmoid", -1e-7, 1 + 1e-7, True),  # float rounding of a min-max scaling
])
def test_explicit_activations_against_the_data_range(out, low, high, fits):
    rng = np.random.default_rng(0)
    X = rng.uniform(low, high, size=(64, 6)).astype(np.float32)
    X[0, 0], X[1, 0] = low, high
    det = AutoEncoder(out_activation=out, hidden_dims=(8, 2), epochs=1, verbose=0)
    if fits:
        assert det.fit(X).out_activation_ == out
        assert det.module_.output_range == OUTPUT_RANGES[out]
    else:
        with pytest.raises(ValueError, match=rf"out_activation: '{out}' outputs values in"):
            det.fit(X)
        assert not hasattr(det, "module_")


def test_test_data_may_leave_the_training_range(images):
    X, y = images
    det = tiny(AutoEncoder).fit(X, y)
    assert det.out_activation_ == "sigmoid"
    far = det.decision_function(X * 4 - 1)  # only scored: not checked
    assert np.isfinite(far).all() and far.mean() > det.decision_scores_.mean()


def test_unknown_activation_names_the_parameter(images):
    X, y = images
    with pytest.raises(ValueError, match=r"out_activation: expected one of .*'auto'.*'softplus'"):
        tiny(AutoEncoder, out_activation="softplus").fit(X, y)


# -- (d) AE-SAD needs [0, 1] ----------------------------------------------------------------
def test_aesad_rejects_data_outside_unit_interval_with_the_fix(images):
    X, y = images
    det = tiny(AESAD, out_activation="linear")
    with pytest.raises(ValueError, match=r"\[0, 1\].*found values in \[.*, 1.8\].*"
                                         r"sklearn.preprocessing.MinMaxScaler"):
        det.fit(X * 2, y)
    assert not hasattr(det, "history_")
    fitted = tiny(AESAD, out_activation="linear").fit(X, y)  # any activation holds [0, 1]
    assert fitted.out_activation_ == "linear"
    assert np.isfinite(fitted.decision_function(X * 2)).all()


# -- VAE: bce or mse ------------------------------------------------------------------------
def test_vae_explicit_bce_outside_unit_interval_raises(images):
    X, y = images
    det = tiny(VAE, recon="bce")
    with pytest.raises(ValueError, match=r"recon='bce': expected inputs in \[0, 1\].*"
                                         "MinMaxScaler"):
        det.fit(standardised(X), y)
    assert not hasattr(det, "module_")


# -- (e) Deep SAD's defaults ----------------------------------------------------------------
@pytest.mark.filterwarnings("ignore:DeepSAD got no labelled anomalies")
def test_deep_sad_defaults_on_tabular_and_images():
    rng = np.random.default_rng(0)
    tab = rng.normal(size=(200, 8)).astype(np.float32)
    model = DeepSAD().fit(tab)
    assert (model.network_, model.out_activation_) == ("dense", "linear")
    assert isinstance(model.module_, DenseBiasFreeEncoder)
    assert np.isfinite(model.decision_function(tab)).all()
    imgs = rng.random((200, 1, 28, 28)).astype(np.float32)
    model = DeepSAD().fit(imgs)
    assert (model.network_, model.out_activation_) == ("lenet", "sigmoid")
    assert isinstance(model.module_, LeNetEncoder)
    assert np.isfinite(model.decision_function(imgs)).all()


# -- (f) denoising noise from the detector's own generator ----------------------------------
def test_denoising_autoencoder_is_reproducible_from_random_state():
    rng = np.random.default_rng(0)
    X = rng.random((120, 10)).astype(np.float32)
    params = {"noise_std": 0.1, "hidden_dims": (8, 3), "epochs": 2, "verbose": 0}

    def scores(seed, global_seed, **extra):
        torch.manual_seed(global_seed)  # the global generator must not matter
        state = torch.get_rng_state()
        det = AutoEncoder(**{**params, **extra}, random_state=seed).fit(X)
        assert torch.equal(state, torch.get_rng_state())  # fit draws nothing from it
        return det.decision_function(X)

    a = scores(0, 1)
    np.testing.assert_array_equal(a, scores(0, 2))
    assert not np.allclose(a, scores(1, 1))
    assert not np.allclose(a, scores(0, 1, noise_std=0.0))  # the noise is really drawn


# -- the networks' side of the contract ------------------------------------------------------
def test_output_ranges_table():
    assert set(OUTPUT_RANGES) == set(ACTIVATIONS)
    x = torch.linspace(-60, 60, 200_001, dtype=torch.float64)
    for name, (low, high) in OUTPUT_RANGES.items():
        out = ACTIVATIONS[name]()(x)
        assert low - 1e-4 <= out.min() and out.max() <= high, name
        assert math.isinf(low) or out.min() <= low + 1e-3, name  # the bound is reached
        assert math.isinf(high) or out.max() >= high - 1e-3, name
    assert resolve_out_activation("auto", 0.0, 1.0) == "sigmoid"
    assert resolve_out_activation("auto", -0.5, 1.0) == "linear"
    assert resolve_out_activation("tanh", -5.0, 5.0) == "tanh"  # resolved, not checked
    check_output_range("tanh", -1.0, 1.0, "X")
    with pytest.raises(ValueError, match=r"'tanh' outputs values in \[-1, 1\].*\[-2, 1\]"):
        check_output_range("tanh", -2.0, 1.0, "X")


@pytest.mark.parametrize("network", AUTOENCODER_NETWORKS)
def test_every_autoencoder_says_its_output_range(network):
    shape = (1, 32, 32) if network == "toll_cifar" else (1, 28, 28)
    for out in ("sigmoid", "tanh", "linear"):
        ae = make_autoencoder(network, shape, hidden_dims=(16, 8), channels=(4, 8),
                              out_activation=out)
        expected = FIXED_OUT_ACTIVATIONS.get(network, out)
        assert tuple(ae.output_range) == OUTPUT_RANGES[expected]
    assert TOLL(network=network)._resolve_out_activation(0.0, 1.0) == \
        FIXED_OUT_ACTIVATIONS.get(network, "sigmoid")
