"""Shapes, bias-freeness and input checks of the networks in ``torch_ae_sad.model.networks``."""

import pytest
import torch
from torch import nn

from torch_ae_sad.model.networks import AUTOENCODER_NETWORKS, make_autoencoder
from torch_ae_sad.model.networks.conv import ConvAutoEncoderNet, TollMnistNet
from torch_ae_sad.model.networks.lenet import (
    DenseBiasFreeAutoEncoder,
    DenseBiasFreeEncoder,
    LeNetAutoEncoder,
    LeNetEncoder,
)

IMAGE_SHAPES = [(1, 28, 28), (3, 28, 28), (1, 32, 32), (3, 32, 32)]


def _batch(shape, n=3):
    return torch.rand(n, *shape, generator=torch.Generator().manual_seed(0))


def assert_bias_free(module: nn.Module) -> None:
    for m in module.modules():
        if hasattr(m, "bias"):
            assert m.bias is None, f"{type(m).__name__} has a bias"
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            assert not m.affine and m.weight is None


@pytest.mark.parametrize("shape", IMAGE_SHAPES)
@pytest.mark.parametrize("kwargs", [{}, {"channels": (4, 8, 16), "latent_dim": 5,
                                         "batch_norm": True, "out_activation": "linear"}])
def test_conv_autoencoder_shapes(shape, kwargs):
    net = ConvAutoEncoderNet(shape, **kwargs)
    x = _batch(shape)
    x_hat, z = net(x)
    assert x_hat.shape == x.shape
    assert z.shape == (3, kwargs.get("latent_dim", 32))
    assert net.encode(x.flatten(1)).shape == z.shape  # flattened input is accepted
    assert net.decode(z).shape == x.shape


@pytest.mark.parametrize("shape", [(784,), (1, 64, 64), (1, 28, 32), (28, 28)])
def test_conv_autoencoder_bad_shape(shape):
    with pytest.raises(ValueError) as err:
        ConvAutoEncoderNet(shape)
    msg = str(err.value)
    assert msg.startswith("ConvAutoEncoderNet: expected images of shape (C, 28, 28) or "
                          "(C, 32, 32)")
    assert f"found {shape}" in msg and "(n, C, H, W)" in msg


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 28, 28)])
def test_toll_mnist_shapes(shape):
    net = TollMnistNet(shape, latent_dim=16).eval()
    x = _batch(shape, n=2)
    with torch.no_grad():
        x_hat, z = net(x)
    assert x_hat.shape == x.shape and z.shape == (2, 16)
    assert TollMnistNet().latent_dim == 128  # the paper's MNIST latent size


def test_toll_mnist_bad_shape():
    with pytest.raises(ValueError, match=r"TollMnistNet: expected images of shape \(C, 28, 28\), "
                                         r"found \(1, 32, 32\)"):
        TollMnistNet((1, 32, 32))


@pytest.mark.parametrize("shape", IMAGE_SHAPES)
@pytest.mark.parametrize("rep_dim", [32, 8, 128])
def test_lenet_shapes(shape, rep_dim):
    ae = LeNetAutoEncoder(shape, rep_dim)
    x = _batch(shape)
    x_hat, z = ae(x)
    assert x_hat.shape == x.shape and z.shape == (3, rep_dim)
    assert ((x_hat >= 0) & (x_hat <= 1)).all()  # sigmoid output
    assert LeNetEncoder(shape, rep_dim)(x).shape == (3, rep_dim)
    assert ae.encoder.variant == ("mnist" if shape[1] == 28 else "cifar10")


def test_lenet_matches_the_authors_layers():
    mnist = LeNetEncoder((1, 28, 28))
    convs = [m for m in mnist.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size) for c in convs] == \
        [(1, 8, (5, 5)), (8, 4, (5, 5))]
    assert mnist.code.in_features == 4 * 7 * 7
    cifar = LeNetEncoder((3, 32, 32), rep_dim=128)
    assert [m.out_channels for m in cifar.modules() if isinstance(m, nn.Conv2d)] == [32, 64, 128]
    assert cifar.code.in_features == 128 * 4 * 4


@pytest.mark.parametrize("net", [
    LeNetEncoder((1, 28, 28)), LeNetAutoEncoder((1, 28, 28)), LeNetAutoEncoder((3, 32, 32), 128),
    LeNetAutoEncoder((3, 28, 28), 8), DenseBiasFreeEncoder((20,)),
    DenseBiasFreeAutoEncoder((20,), (16, 8), 4)], ids=lambda n: type(n).__name__)
def test_deep_sad_networks_are_bias_free(net):
    assert_bias_free(net)
    assert any(p.requires_grad for p in net.parameters())


def test_lenet_bad_shape():
    with pytest.raises(ValueError, match=r"LeNetEncoder: expected images of shape \(C, 28, 28\) "
                                         r"or \(C, 32, 32\), found \(784,\)"):
        LeNetAutoEncoder((784,))


@pytest.mark.parametrize("shape", [(20,), (1, 28, 28)])
def test_dense_bias_free_shapes(shape):
    ae = DenseBiasFreeAutoEncoder(shape, hidden_dims=(16, 8), rep_dim=4, out_activation="linear")
    x = _batch(shape)
    x_hat, z = ae(x)
    assert x_hat.shape == x.shape and z.shape == (3, 4)
    assert DenseBiasFreeEncoder(shape, (16,), 6)(x).shape == (3, 6)
    with pytest.raises(ValueError, match="hidden_dims: expected a non-empty list"):
        DenseBiasFreeEncoder(shape, ())


@pytest.mark.parametrize("network", AUTOENCODER_NETWORKS)
def test_make_autoencoder_names(network):
    shape = (1, 32, 32) if network == "toll_cifar" else (1, 28, 28)
    ae = make_autoencoder(network, shape, hidden_dims=(16, 8), channels=(4, 8)).eval()
    x = _batch(shape, n=2)
    with torch.no_grad():
        x_hat, z = ae(x)
    assert x_hat.shape == x.shape and z.shape == (2, 8)


def test_make_autoencoder_unknown_name():
    assert {"dense", "conv", "toll_mnist", "lenet"} <= set(AUTOENCODER_NETWORKS)
    with pytest.raises(ValueError, match=r"network: expected one of .*'lenet'.*found 'unet'"):
        make_autoencoder("unet", (1, 28, 28))
