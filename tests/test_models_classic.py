"""cvcourse.models.classic: LeNet-5, AlexNetSmall and VGGSmall parameter counts worked by hand,
input sizes, and `evolution_table` (hand-worked MACs, order, determinism, bad input)."""
import pytest
import torch
from torch import nn

from cvcourse.models import (
    AlexNetSmall,
    LeNet5,
    VGGSmall,
    alexnet_small,
    evolution_table,
    lenet5,
    resnet_cifar,
    vgg_small,
)
from cvcourse.sizes import summary


def _params(model):
    return sum(p.numel() for p in model.parameters())


# ----------------------------------------------------------------------------- parameter counts
def test_lenet5_parameter_count_by_hand():
    # C1 6*(25+1); C3 16*(6*25+1) (full connection table); C5 120*(16*25+1); F6 84*(120+1); out 10*(84+1)
    assert _params(lenet5()) == 156 + 2_416 + 48_120 + 10_164 + 850 == 61_706
    assert _params(lenet5(in_channels=3)) == 61_706 + 2 * 6 * 25


def test_alexnet_small_parameter_count_by_hand():
    convs = (3 * 25 * 32 + 32) + (32 * 25 * 96 + 96) + (96 * 9 * 192 + 192) + (192 * 9 * 128 + 128) + (128 * 9 * 128 + 128)
    fcs = (128 * 3 * 3 * 512 + 512) + (512 * 512 + 512) + (512 * 10 + 10)
    assert _params(alexnet_small()) == convs + fcs == 1_472_426
    assert sum(isinstance(m, nn.LocalResponseNorm) for m in alexnet_small().modules()) == 2


def test_vgg_small_parameter_count_by_hand():
    convs = sum(c_in * 9 * c_out + c_out for c_in, c_out in ((3, 32), (32, 32), (32, 64), (64, 64), (64, 128), (128, 128)))
    fcs = (128 * 4 * 4 * 256 + 256) + (256 * 256 + 256) + (256 * 10 + 10)
    assert _params(vgg_small()) == convs + fcs == 879_914
    bn = vgg_small(batch_norm=True)
    assert _params(bn) == 879_914 - (32 + 32 + 64 + 64 + 128 + 128) + 2 * (32 + 32 + 64 + 64 + 128 + 128)
    convs = [m for m in vgg_small().modules() if isinstance(m, nn.Conv2d)]
    assert all(m.kernel_size == (3, 3) and m.padding == (1, 1) for m in convs)


def test_lenet5_macs_by_hand():
    # C1 28*28*6 * 1*25; C3 10*10*16 * 6*25; C5 1*1*120 * 16*25; F6 84*120; output 10*84
    found = summary(lenet5(), (1, 1, 32, 32), print_table=False)
    assert found.total_macs == 117_600 + 240_000 + 48_000 + 10_080 + 840 == 416_520


# ----------------------------------------------------------------------------- shapes
@pytest.mark.parametrize("make, in_channels, size", [
    (lambda s: LeNet5(10, 1, s), 1, 32), (lambda s: LeNet5(10, 1, s), 1, 28), (lambda s: LeNet5(10, 1, s), 1, 40),
    (lambda s: AlexNetSmall(10, 3, s), 3, 32), (lambda s: AlexNetSmall(10, 3, s), 3, 28),
    (lambda s: AlexNetSmall(10, 3, s), 3, 15),
    (lambda s: VGGSmall(10, 3, s), 3, 32), (lambda s: VGGSmall(10, 3, s), 3, 28), (lambda s: VGGSmall(10, 3, s, True), 3, 8),
])
def test_output_shapes(make, in_channels, size):
    torch.manual_seed(0)
    model = make(size)
    x = torch.randn(2, in_channels, size, size)
    assert model.train()(x).shape == (2, 10)
    out = model.eval()(x)
    assert out.shape == (2, 10) and torch.isfinite(out).all()


def test_lenet5_pads_mnist_digits_to_the_papers_32x32_field():
    assert lenet5(input_size=28).features[0].padding == (2, 2)
    assert lenet5(input_size=32).features[0].padding == (0, 0)
    assert lenet5(input_size=28).classifier[0].in_features == lenet5().classifier[0].in_features == 120


# ----------------------------------------------------------------------------- evolution table
def test_evolution_table_rows():
    state = torch.get_rng_state()
    rows = evolution_table()
    assert torch.equal(torch.get_rng_state(), state)  # the global random state is left untouched
    assert [r["name"] for r in rows] == ["LeNet-5", "AlexNet (small)", "VGG (small)", "GoogLeNet (small, width 0.25)",
                                         "ResNet-20", "SE-ResNet-20"]
    assert [r["year"] for r in rows] == sorted(r["year"] for r in rows)
    assert all(set(r) == {"name", "year", "reference", "params", "macs"} for r in rows)
    assert [r["params"] for r in rows] == [62_006, 1_472_426, 879_914, 370_790, 272_474, 275_534]
    assert [r["macs"] for r in rows] == [651_720, 46_786_560, 39_225_856, 23_859_712, 40_813_184, 40_815_872]
    assert rows[0]["macs"] == 416_520 + 2 * 28 * 28 * 6 * 25  # LeNet-5 with 3 input channels


def test_evolution_table_scales_with_the_batch_and_classes():
    rows = evolution_table((2, 1, 28, 28), num_classes=5)
    lenet = summary(lenet5(5, 1, 28), (2, 1, 28, 28), print_table=False)
    assert (rows[0]["params"], rows[0]["macs"]) == (lenet.total_params, lenet.total_macs)
    resnet20 = resnet_cifar(20, 5, in_channels=1)
    assert rows[4]["macs"] == 2 * summary(resnet20, (1, 1, 28, 28), print_table=False).total_macs


# ----------------------------------------------------------------------------- invalid input
@pytest.mark.parametrize("call, error, match", [
    (lambda: LeNet5(0), ValueError, r"^num_classes: expected an int >= 1, got 0"),
    (lambda: LeNet5(10, 0), ValueError, r"^in_channels: expected an int >= 1"),
    (lambda: LeNet5(10, 1, 20), ValueError, r"^input_size: 20 pixels is too small for LeNet5's layers"),
    (lambda: LeNet5(10, 1, 30), ValueError, r"^input_size: 30 pixels is too small for LeNet5"),
    (lambda: LeNet5(10, 1, 32.0), TypeError, r"^input_size: expected an int"),
    (lambda: AlexNetSmall(input_size=14), ValueError, r"^input_size: 14 pixels is too small for AlexNetSmall"),
    (lambda: AlexNetSmall(dropout=1.5), ValueError, r"^dropout: expected a float in \[0, 1\)"),
    (lambda: VGGSmall(input_size=7), ValueError, r"^input_size: 7 pixels is too small for VGGSmall"),
    (lambda: VGGSmall(batch_norm=1), TypeError, r"^batch_norm: expected a bool"),
    (lambda: evolution_table((3, 32, 32)), TypeError, r"^input_shape: expected \(N, C, S, S\)"),
    (lambda: evolution_table((1, 3, 32, 30)), ValueError, r"^input_shape: expected a square input \(N, C, S, S\), got H=32, W=30"),
    (lambda: evolution_table((1, 3, 0, 0)), ValueError, r"^input_shape\[2\]: expected an int >= 1"),
    (lambda: evolution_table((1, 3, 16, 16)), ValueError, r"^input_size: 16 pixels is too small for LeNet5"),
    (lambda: evolution_table(num_classes=0), ValueError, r"^num_classes: expected an int >= 1"),
])
def test_invalid_arguments_name_the_argument(call, error, match):
    with pytest.raises(error, match=match):
        call()
