"""Dual-discriminator GAN: networks, loss terms, augmentation, sklearn behaviour, bad input."""

import numpy as np
import pytest
import torch
from sklearn.base import clone

from torch_ae_sad.model.detectors.gan import (
    LOSS_WEIGHTS,
    DualDiscriminatorGAN,
    adversarial_loss,
    anomaly_reconstruction_loss,
    augment_batch,
    l1_per_sample,
    topk_patch_l1,
)
from torch_ae_sad.model.networks.gan import PatchDiscriminator, UNetGenerator
from torch_ae_sad.utils.seeding import make_generator

FAST = {"epochs": 1, "batch_size": 16, "width": 8, "verbose": 0}


def bars(n_normal, n_anomalies, seed, size=28, channels=1):
    """Noise images: normals have a horizontal bar, anomalies a vertical one."""
    rng = np.random.default_rng(seed)
    X = (rng.random((n_normal + n_anomalies, channels, size, size)) * 0.2).astype(np.float32)
    X[:n_normal, :, 10:14, :] += 0.7
    X[n_normal:, :, :, 10:14] += 0.7
    return X, np.r_[np.zeros(n_normal, int), np.ones(n_anomalies, int)]


def test_network_shapes():
    gen, disc = UNetGenerator((3, 32, 32), width=8), PatchDiscriminator((3, 32, 32), width=8)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    x_hat, z = gen(x)
    assert x_hat.shape == x.shape and z.shape == (2, 64, 2, 2)
    assert x_hat.abs().max() <= 1
    assert [f.shape[-1] for f in gen.encode(x)] == [16, 8, 4, 2]
    assert disc(x).shape == (2, 1, 6, 6)
    with pytest.raises(ValueError, match=r"\(C, 32, 32\)"):
        UNetGenerator((1, 28, 28))


def test_topk_patch_term_by_hand():
    x = torch.zeros(1, 1, 32, 32)
    x_hat = torch.zeros(1, 1, 32, 32)
    # 16 patches of 8x8; put errors 1..16 (per pixel, uniform in each patch)
    for i in range(4):
        for j in range(4):
            x_hat[0, 0, 8 * i:8 * i + 8, 8 * j:8 * j + 8] = 4 * i + j + 1
    assert torch.isclose(topk_patch_l1(x, x_hat, 8, 10), torch.tensor(np.mean(range(7, 17)),
                                                                       dtype=torch.float32))
    assert torch.isclose(topk_patch_l1(x, x_hat, 8, 1), torch.tensor(16.0))
    assert torch.isclose(topk_patch_l1(x, x_hat, 8, 100), torch.tensor(8.5))  # all 16
    # one bad pixel: its 8x8 patch error is 1/64, the others 0; top-2 mean 1/128
    x_hat = torch.zeros(1, 1, 32, 32)
    x_hat[0, 0, 3, 30] = 1.0
    assert torch.isclose(topk_patch_l1(x, x_hat, 8, 2), torch.tensor(1 / 128))


def test_loss_terms_move_the_right_way():
    l1 = torch.tensor([0.01, 0.1, 0.5, 2.0])
    term = anomaly_reconstruction_loss(l1)
    assert torch.all(term[1:] < term[:-1])  # worse reconstruction of anomalies -> lower loss
    assert torch.allclose(term, -torch.log(1 - torch.exp(-l1)))
    assert torch.isfinite(anomaly_reconstruction_loss(torch.zeros(1))).all()
    logits = torch.tensor([[-3.0], [0.0], [3.0]]).view(3, 1, 1, 1)
    real, fake = adversarial_loss(logits, real=True), adversarial_loss(logits, real=False)
    assert torch.all(real[1:] < real[:-1])  # "real" targets: higher logits, lower loss
    assert torch.all(fake[1:] > fake[:-1])
    assert torch.isclose(real[1], torch.log(torch.tensor(2.0)))
    x = torch.zeros(2, 1, 4, 4)
    assert torch.allclose(l1_per_sample(x, x + torch.tensor([0.5, 1.0]).view(2, 1, 1, 1)),
                          torch.tensor([0.5, 1.0]))


def test_generator_terms_on_a_perfect_and_a_bad_reconstruction():
    det = DualDiscriminatorGAN(width=8)
    gen = UNetGenerator((1, 32, 32), width=8)
    discs = torch.nn.ModuleDict({"normal": PatchDiscriminator((1, 32, 32), 8),
                                 "anomaly": PatchDiscriminator((1, 32, 32), 8)})
    x = torch.rand(3, 1, 32, 32) * 2 - 1
    z = gen.encode(x)[-1]
    good = det.generator_terms(gen, discs, x, x, z, anomalous=False)
    assert torch.allclose(good["rec"], torch.zeros(3)) and torch.allclose(good["patch"],
                                                                          torch.zeros(3))
    assert torch.allclose(good["latent"], torch.zeros(3))
    bad = det.generator_terms(gen, discs, x, -x, z, anomalous=False)
    assert torch.all(bad["rec"] > 0) and torch.all(bad["patch"] >= bad["rec"])
    a_good = det.generator_terms(gen, discs, x, x * 0.99, z, anomalous=True)
    a_bad = det.generator_terms(gen, discs, x, -x, z, anomalous=True)
    assert torch.all(a_bad["anomaly_rec"] < a_good["anomaly_rec"])
    assert set(a_good) == {"anomaly_rec", "adv_anomaly"}


def test_augmentation_keeps_shapes_and_is_seeded():
    x = torch.rand(16, 3, 32, 32)
    a = augment_batch(x, make_generator(0))
    assert a.shape == x.shape and a.dtype == x.dtype
    assert torch.equal(a, augment_batch(x, make_generator(0)))
    assert not torch.equal(a, augment_batch(x, make_generator(1)))
    # a flip / rotation / shift keeps values (no interpolation), up to the zero padding
    y = augment_batch(x, make_generator(2), max_shift=0)
    assert torch.allclose(y.flatten(1).sort(1).values, x.flatten(1).sort(1).values)
    assert not torch.equal(y, x)


@pytest.mark.parametrize("size,channels,balance", [(28, 1, True), (32, 3, False)])
def test_fit_score_predict_clone(size, channels, balance):
    X, y = bars(40, 8, seed=0, size=size, channels=channels)
    det = DualDiscriminatorGAN(**FAST, balance_anomalies=balance).fit(X, y)
    assert det.n_train_ == {"normal": 40, "anomaly": 40 if balance else 8}
    scores = det.decision_function(X)
    assert scores.shape == (48,) and np.isfinite(scores).all() and (scores >= 0).all()
    assert set(np.unique(det.predict(X))) <= {0, 1}
    assert len(det.history_["d_loss"]) == 1
    again = clone(det).fit(X, y)
    assert np.allclose(again.decision_function(X), scores, atol=1e-5)
    assert clone(det).get_params() == det.get_params()


def test_batch_size_one_and_flattened_input_and_lr_step():
    X, y = bars(6, 2, seed=1, size=28)
    det = DualDiscriminatorGAN(**{**FAST, "batch_size": 1, "epochs": 2}, lr_step=1,
                               augment=False, balance_anomalies=False)
    det.fit(X.reshape(8, -1), y)
    assert det.decision_function(X.reshape(8, -1)).shape == (8,)
    assert len(det.history_["train_loss"]) == 2


def test_bad_inputs():
    X, y = bars(10, 2, seed=0, size=28)
    with pytest.raises(ValueError, match=r"28, 28\).*32, 32"):
        DualDiscriminatorGAN(**FAST).fit(np.zeros((12, 1, 20, 20), np.float32), y)
    with pytest.raises(ValueError, match="X: .*found \\(10,\\)"):
        DualDiscriminatorGAN(**FAST).fit(np.zeros((12, 10), np.float32), y)
    for name in LOSS_WEIGHTS:
        with pytest.raises(ValueError, match=f"^{name}: "):
            DualDiscriminatorGAN(**FAST, **{name: -1.0}).fit(X, y)
    with pytest.raises(ValueError, match="^y: .*labelled anomalies"):
        DualDiscriminatorGAN(**FAST).fit(X, np.zeros(12, int))
    with pytest.raises(ValueError, match="^y: .*labelled anomalies"):
        DualDiscriminatorGAN(**FAST).fit(X)
    with pytest.raises(ValueError, match="patch_size"):
        DualDiscriminatorGAN(**FAST, patch_size=40).fit(X, y)


def test_channels_last_gives_the_same_scores():
    X, y = bars(24, 8, seed=3, size=28)
    kw = {**FAST, "augment": True, "balance_anomalies": False}
    plain = DualDiscriminatorGAN(**kw).fit(X, y)
    last = DualDiscriminatorGAN(**kw, channels_last=True).fit(X, y)
    weight = last.module_.down[1][0].weight
    assert weight.is_contiguous(memory_format=torch.channels_last)
    assert not weight.is_contiguous()
    # same training, other memory layout: equal up to float rounding of the kernels
    assert np.allclose(last.decision_function(X), plain.decision_function(X), rtol=1e-3,
                       atol=1e-5)
    # the same trained weights scored in either layout
    scores = last.decision_function(X)
    last.channels_last = False
    last.module_ = last.module_.to(memory_format=torch.contiguous_format)
    assert np.allclose(last.decision_function(X), scores, rtol=1e-5, atol=1e-6)


def test_bf16_autocast_on_the_cpu_trains():
    X, y = bars(24, 8, seed=4, size=28)
    det = DualDiscriminatorGAN(**FAST, amp=True, channels_last=True, device="cpu").fit(X, y)
    scores = det.decision_function(X)
    assert scores.dtype == np.float64 and np.isfinite(scores).all()
    assert np.isfinite(det.history_["d_loss"]).all()


def test_input_range_contract():
    X, y = bars(10, 2, seed=0, size=28)
    standardised = (X - X.mean()) / X.std()
    det = DualDiscriminatorGAN(**FAST)
    with pytest.raises(ValueError, match=r"^X: DualDiscriminatorGAN needs training images in "
                                         r"\[0, 1\].*found values in \[-\d.*min-max"):
        det.fit(standardised, y)
    assert not hasattr(det, "module_")  # raised before training
    raw = (X.clip(0, 1) * 255).round().astype(np.float32)
    with pytest.raises(ValueError, match=rf"found values in \[0, {raw.max():.0f}\]"):
        DualDiscriminatorGAN(**FAST).fit(raw, y)
    # uint8 images are divided by 255; rounding slack around [0, 1] is accepted
    DualDiscriminatorGAN(**FAST).fit((X.clip(0, 1) * 255).astype(np.uint8), y)
    DualDiscriminatorGAN(**FAST).fit(np.clip(X, 0, 1) * 1.0005 - 0.0002, y)
    # the test data is only scored, not checked
    det = DualDiscriminatorGAN(**FAST).fit(X.clip(0, 1), y)
    assert np.isfinite(det.decision_function(standardised)).all()


def test_trainer_presets():
    from torch_ae_sad.model import gan_fashion_trainer as trainer
    from torch_ae_sad.model.experiment import check_config_lists

    assert trainer.default_preset("cuda") == "report"
    assert trainer.default_preset("cuda:1") == "report"
    assert trainer.default_preset("cpu") == "cpu"
    for models in trainer.PRESETS.values():
        check_config_lists(trainer.ANOMALY_CONFIG, trainer.SAMPLER_CONFIG, models,
                           dataset="fashion_mnist")
    report = trainer.PRESETS["report"][0]
    assert report["width"] == 64 and report["epochs"] == 30 and "n_steps" not in report
    assert [m["normal_classes"] for m in trainer.ANOMALY_CONFIG] == [[c] for c in range(10)]
    assert trainer.MODEL_CONFIG is trainer.PRESETS["cpu"]
