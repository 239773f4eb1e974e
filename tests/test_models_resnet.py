"""cvcourse.models.resnet and .se: the published parameter counts, the blocks' shortcuts (identity,
projection, none), PlainNet vs ResNet with zeroed residual branches, SEBlock against its formula,
the CIFAR depth rule, output shapes, and bad arguments. ImageNet-size models are built on the
meta device (shapes only: no memory, no compute)."""
import pytest
import torch
from torch import nn

from cvcourse.models import (
    BasicBlock,
    Bottleneck,
    PlainNet,
    ResNet,
    SEBlock,
    plainnet_cifar,
    resnet18,
    resnet34,
    resnet50,
    resnet101,
    resnet152,
    resnet_cifar,
    se_resnet50,
    se_resnet_cifar,
)
from cvcourse.sizes import summary


def _params(model):
    return sum(p.numel() for p in model.parameters())


def _meta(factory, *args, **kwargs):
    with torch.device("meta"):
        return factory(*args, **kwargs)


# ----------------------------------------------------------------------------- parameter counts
@pytest.mark.parametrize("factory, expected", [
    (resnet18, 11_689_512), (resnet34, 21_797_672), (resnet50, 25_557_032),
    (resnet101, 44_549_160), (resnet152, 60_192_808),
])
def test_imagenet_resnets_have_the_published_parameter_counts(factory, expected):
    assert _params(_meta(factory)) == expected  # torchvision's counts (with BN)


def test_se_resnet50_parameter_count():
    # every bottleneck with C outputs adds 2*C*(C/16) + C/16 + C (two FCs with biases)
    extra = sum(blocks * (2 * c * (c // 16) + c // 16 + c) for blocks, c in ((3, 256), (4, 512), (6, 1024), (3, 2048)))
    assert extra == 2_530_992
    assert _params(_meta(se_resnet50)) == 25_557_032 + extra == 28_088_024


def test_imagenet_macs_match_the_published_flops():
    # torchvision's model tables: ResNet-18 1.81 GFLOPS, ResNet-50 4.09, ResNet-152 11.51 (they count MACs)
    macs = [summary(_meta(f), (1, 3, 224, 224), device="meta", print_table=False).total_macs
            for f in (resnet18, resnet50, resnet152)]
    assert macs == [1_814_073_344, 4_089_184_256, 11_513_626_624]


@pytest.mark.parametrize("depth, resnet, plain, se, paper", [
    (20, 272_474, 269_722, 275_534, 0.27), (32, 466_906, 464_154, 472_006, 0.46),
    (44, 661_338, 658_586, 668_478, 0.66), (56, 855_770, 853_018, 864_950, 0.85),
    (110, 1_730_714, 1_727_962, 1_749_074, 1.7),
])
def test_cifar_parameter_counts(depth, resnet, plain, se, paper):
    assert _params(resnet_cifar(depth)) == resnet
    assert _params(plainnet_cifar(depth)) == plain
    assert _params(se_resnet_cifar(depth)) == se
    # the two projections (16->32, 32->64; 1x1 conv + BN) cost 512 + 64 + 2048 + 128 = 2,752
    assert resnet - plain == 2_752
    # the paper's option A shortcuts have no parameters, so its nets have the plain nets' counts
    assert round(plain / 1e6, 2 if paper < 1 else 1) == paper  # He et al. 2016, Table 6


def test_cifar_resnet20_by_hand():
    # stem 3*16*9 + BN 32; 3 stages x 3 blocks x 2 convs (+ BN); 2 projections; FC 64*10 + 10
    convs = 3 * 16 * 9 + 6 * 16 * 16 * 9 + (16 * 32 * 9 + 5 * 32 * 32 * 9) + (32 * 64 * 9 + 5 * 64 * 64 * 9)
    bns = 2 * (16 + 6 * 16 + 6 * 32 + 6 * 64)
    assert _params(resnet_cifar(20)) == convs + bns + 2_752 + 650 == 272_474


def test_width_keyword_scales_the_cifar_stages():
    model = resnet_cifar(20, num_classes=7, width=8)
    assert [s[0].conv1.out_channels for s in model.stages] == [8, 16, 32]
    assert model.fc.in_features == 32 and model.fc.out_features == 7
    assert [s[0].conv1.out_channels for s in plainnet_cifar(20, width=4).stages] == [4, 8, 16]
    assert [s[0].conv1.out_channels for s in se_resnet_cifar(20, width=32).stages] == [32, 64, 128]


# ----------------------------------------------------------------------------- blocks
def test_basic_block_identity_and_projection():
    same = BasicBlock(16, 16)
    assert isinstance(same.shortcut, nn.Identity) and _params(same) == 2 * (16 * 16 * 9 + 32)
    down = BasicBlock(16, 32, stride=2)
    conv, bn = down.shortcut
    assert conv.kernel_size == (1, 1) and conv.stride == (2, 2) and conv.bias is None and bn.num_features == 32
    assert down(torch.randn(2, 16, 9, 9)).shape == (2, 32, 5, 5)
    assert isinstance(BasicBlock(16, 32).shortcut, nn.Sequential)  # channels change at stride 1 too


@pytest.mark.parametrize("c_in, width, stride, projection", [
    (64, 64, 1, True),     # first block of ResNet-50: 64 -> 256 channels
    (256, 64, 1, False),   # later blocks of the stage: identity
    (256, 128, 2, True),   # first block of stage 2: stride and channels change
    (256, 64, 2, True),    # stride alone
])
def test_bottleneck_projection_when_the_shape_changes(c_in, width, stride, projection):
    block = Bottleneck(c_in, width, stride)
    assert (block.conv1.kernel_size, block.conv2.kernel_size, block.conv3.kernel_size) == ((1, 1), (3, 3), (1, 1))
    assert block.conv2.stride == (stride, stride)  # torchvision's v1.5: the 3x3 conv strides
    assert isinstance(block.shortcut, nn.Sequential) == projection
    expected = c_in * width + 9 * width * width + width * 4 * width + 2 * (width + width + 4 * width)
    if projection:
        expected += c_in * 4 * width + 2 * 4 * width
        assert block.shortcut[0].stride == (stride, stride)
    assert _params(block) == expected
    assert block(torch.randn(1, c_in, 8, 8)).shape == (1, 4 * width, 8 // stride, 8 // stride)


def _zero_residual(block):
    last = block.bn3 if isinstance(block, Bottleneck) else block.bn2
    nn.init.zeros_(last.weight)
    nn.init.zeros_(last.bias)


@pytest.mark.parametrize("make", [lambda s: BasicBlock(8, 8, shortcut=s), lambda s: Bottleneck(32, 8, shortcut=s)])
def test_zeroed_residual_branch_passes_x_with_a_shortcut_and_nothing_without(make):
    torch.manual_seed(0)
    x = torch.rand(2, make(True).conv1.in_channels, 6, 6)  # non-negative: relu(x) = x
    residual, plain = make(True).eval(), make(False).eval()
    assert plain.shortcut is None
    _zero_residual(residual), _zero_residual(plain)
    torch.testing.assert_close(residual(x), x)
    assert torch.equal(plain(x), torch.zeros_like(x))


def test_plainnet_has_no_shortcuts_and_a_dead_net_when_branches_are_zero():
    torch.manual_seed(0)
    plain, res = plainnet_cifar(20, zero_init_residual=True).eval(), resnet_cifar(20, zero_init_residual=True).eval()
    assert isinstance(plain, PlainNet) and all(b.shortcut is None for s in plain.stages for b in s)
    assert not any(isinstance(m, nn.Identity) for m in plain.modules())
    x = torch.randn(4, 3, 32, 32)
    # every plain block outputs relu(0) = 0: the logits are the FC bias whatever the input
    torch.testing.assert_close(plain(x), plain.fc.bias.expand(4, -1))
    # with shortcuts the signal goes through: the logits depend on the input
    out = res(x)
    assert not torch.allclose(out[0], out[1])
    assert all((b.bn2.weight == 0).all() for s in res.stages for b in s)


# ----------------------------------------------------------------------------- SE
def test_se_block_matches_the_formula():
    torch.manual_seed(0)
    se = SEBlock(32, reduction=4)
    assert (se.fc1.in_features, se.fc1.out_features, se.fc2.out_features) == (32, 8, 32)
    assert _params(se) == 2 * 32 * 8 + 8 + 32
    x = torch.randn(3, 32, 5, 7)
    s = x.mean(dim=(2, 3))                                                   # squeeze
    gate = torch.sigmoid(torch.relu(s @ se.fc1.weight.T + se.fc1.bias) @ se.fc2.weight.T + se.fc2.bias)
    torch.testing.assert_close(se.gate(x), gate)
    assert ((gate > 0) & (gate < 1)).all()
    torch.testing.assert_close(se(x), x * gate[:, :, None, None])


def test_se_block_gradcheck():
    torch.manual_seed(0)
    se = SEBlock(8, reduction=2).double()
    x = torch.randn(2, 8, 3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(se, (x,))


def test_se_is_on_the_residual_branch_before_the_addition():
    torch.manual_seed(0)
    block = BasicBlock(8, 8, se_reduction=2).eval()
    nn.init.zeros_(block.se.fc2.weight)
    nn.init.constant_(block.se.fc2.bias, -100.0)  # gate = sigmoid(-100) ~ 0: the branch is switched off
    x = torch.rand(2, 8, 5, 5)
    torch.testing.assert_close(block(x), x)  # only the shortcut is left (SE after the addition would give 0)
    bottleneck = Bottleneck(32, 8, se_reduction=16)
    assert bottleneck.se.channels == 32 and bottleneck.se.hidden == 2


def test_se_resnet_cifar_keeps_four_hidden_units():
    for width in (16, 8):  # r = min(16, C // 4): 16 -> 4, 32 -> 8, 64 -> 16 with the default width
        model = se_resnet_cifar(20, width=width)
        assert {b.se.hidden for s in model.stages for b in s} == {4}
    assert [s[0].se.hidden for s in se_resnet_cifar(20, width=32).stages] == [4, 4, 8]  # 128 // 16 = 8
    assert {b.se.hidden for s in se_resnet_cifar(20, reduction=2).stages for b in s} == {8, 16, 32}
    assert {b.se.hidden for s in _meta(se_resnet50).stages for b in s} == {16, 32, 64, 128}


# ----------------------------------------------------------------------------- shapes
def test_cifar_models_in_both_modes():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 32, 32)
    for model in (resnet_cifar(20, 10), plainnet_cifar(20, 10), se_resnet_cifar(20, 10)):
        assert model.train()(x).shape == (2, 10) and model.eval()(x).shape == (2, 10)


@pytest.mark.parametrize("size", [32, 28, 41])
def test_cifar_stage_shapes(size):
    torch.manual_seed(0)
    model = resnet_cifar(20, 6, width=4).eval()  # the shapes do not depend on the width
    x = model.stem(torch.randn(2, 3, size, size))
    half, quarter = -(-size // 2), -(-size // 4)
    assert [tuple(s(x).shape[1:]) for s in (model.stages[:1], model.stages[:2], model.stages)] == [
        (4, size, size), (8, half, half), (16, quarter, quarter)]
    assert model(torch.randn(2, 3, size, size)).shape == (2, 6)


def test_imagenet_shapes_at_224_and_64():
    model = _meta(resnet50).eval()
    x = torch.empty(2, 3, 224, 224, device="meta")
    assert model.stages(model.stem(x)).shape == (2, 2048, 7, 7)
    assert model(x).shape == (2, 1000)
    torch.manual_seed(0)
    out = resnet18(num_classes=5).eval()(torch.randn(2, 3, 64, 64))
    assert out.shape == (2, 5) and torch.isfinite(out).all()


def test_generic_resnet_arguments():
    model = ResNet(Bottleneck, (1, 1), num_classes=3, widths=(8, 16), stem="cifar", in_channels=1)
    assert model(torch.randn(2, 1, 12, 12)).shape == (2, 3)
    assert model.fc.in_features == 64
    plain = PlainNet(BasicBlock, (2, 2, 2, 2), num_classes=3)
    assert _params(plain) < _params(resnet18(3))


# ----------------------------------------------------------------------------- image_norm, zero_mean_stem
def test_image_norm_standardises_each_image_before_the_stem():
    torch.manual_seed(0)
    model = se_resnet_cifar(8, 12, 4, image_norm=True).eval()
    plain = se_resnet_cifar(8, 12, 4).eval()
    plain.load_state_dict(model.state_dict())  # no parameters or buffers of its own
    x = torch.rand(3, 3, 32, 32)
    mean = x.mean((2, 3), keepdim=True)
    std = (x - mean).pow(2).mean((1, 2, 3), keepdim=True).sqrt()  # over C, H, W, no Bessel correction
    torch.testing.assert_close(model(x), plain((x - mean) / (std + 0.02)))
    # blind to each image's colour (a constant per channel) and nearly to its contrast
    colour = torch.tensor([0.3, -0.2, 0.5]).reshape(1, 3, 1, 1)
    torch.testing.assert_close(model(x + colour), model(x), atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(model(4 * x), model(x), atol=0.05, rtol=0.05)
    flat = torch.ones(1, 3, 8, 8) * colour  # a flat image becomes (rounding aside) zeros, not NaN
    assert model.image_norm(flat).abs().max() < 1e-4


def test_zero_mean_stem_initialisation():
    torch.manual_seed(0)
    model = resnet_cifar(8, 10, zero_mean_stem=True)
    torch.manual_seed(0)
    reference = resnet_cifar(8, 10)
    w, w0 = model.stem[0].weight, reference.stem[0].weight   # (16, 3, 3, 3)
    assert w.mean((2, 3)).abs().max() < 1e-6
    torch.testing.assert_close(w.std(), w0.std())             # the Kaiming scale is kept
    torch.testing.assert_close(w, (w0 - w0.mean((2, 3), keepdim=True)) * w0.std() / (w0 - w0.mean((2, 3), keepdim=True)).std())
    rest = {k for k in model.state_dict() if not k.startswith("stem.0")}
    assert all(torch.equal(model.state_dict()[k], reference.state_dict()[k]) for k in rest)  # same random draws
    # a flat colour gives 0 away from the zero-padded border
    out = model.stem[0](torch.ones(1, 3, 8, 8) * torch.tensor([0.9, 0.1, 0.4]).reshape(1, 3, 1, 1))
    assert out[..., 1:-1, 1:-1].abs().max() < 1e-5
    big = _meta(resnet18, zero_mean_stem=True)
    assert big.stem[0].weight.shape == (64, 3, 7, 7)


def test_the_options_are_off_by_default():
    for model in (resnet_cifar(8), se_resnet_cifar(8), plainnet_cifar(8), _meta(resnet18)):
        assert model.image_norm is None
    assert resnet_cifar(8).stem[0].weight.mean((2, 3)).abs().max() > 1e-3


# ----------------------------------------------------------------------------- invalid input
@pytest.mark.parametrize("call, error, match", [
    (lambda: resnet_cifar(21), ValueError, r"^depth: CIFAR ResNets have depth = 6n \+ 2 with n >= 1 \(20, 32, 44, 56, 110, \.\.\.\), got 21"),
    (lambda: resnet_cifar(2), ValueError, r"^depth: CIFAR ResNets have depth = 6n \+ 2"),
    (lambda: plainnet_cifar(18), ValueError, r"^depth: .*6n \+ 2"),
    (lambda: se_resnet_cifar(51), ValueError, r"^depth: .*6n \+ 2"),
    (lambda: resnet_cifar("20"), TypeError, r"^depth: expected an int, got str"),
    (lambda: resnet_cifar(20.0), TypeError, r"^depth: expected an int, got float"),
    (lambda: resnet_cifar(20, width=0), ValueError, r"^width: expected an int >= 1, got 0"),
    (lambda: resnet_cifar(20, num_classes=0), ValueError, r"^num_classes: expected an int >= 1"),
    (lambda: se_resnet_cifar(20, reduction=0), ValueError, r"^reduction: expected an int >= 1"),
    (lambda: resnet18(num_classes=-1), ValueError, r"^num_classes: expected an int >= 1"),
    (lambda: ResNet(nn.Conv2d, (2, 2)), TypeError, r"^block: expected BasicBlock or Bottleneck"),
    (lambda: ResNet(BasicBlock, ()), TypeError, r"^layers: expected a non-empty tuple of ints"),
    (lambda: ResNet(BasicBlock, (2, 0, 2, 2)), ValueError, r"^layers\[1\]: expected an int >= 1, got 0"),
    (lambda: ResNet(BasicBlock, (2, 2, 2)), ValueError, r"^widths: expected one width per stage \(3 stages in layers\), got 4"),
    (lambda: ResNet(BasicBlock, (2, 2), widths=(8, -8)), ValueError, r"^widths\[1\]: expected an int >= 1"),
    (lambda: ResNet(BasicBlock, (2,), widths=(8,), stem="tiny"), ValueError, r"^stem: expected one of 'imagenet', 'cifar', got 'tiny'"),
    (lambda: ResNet(BasicBlock, (2,), widths=(8,), se_reduction=0), ValueError, r"^se_reduction: expected an int >= 1"),
    (lambda: ResNet(BasicBlock, (2,), widths=(8,), zero_init_residual=1), TypeError, r"^zero_init_residual: expected a bool"),
    (lambda: PlainNet(BasicBlock, (2,), widths=(8,), shortcuts=True), TypeError, r"^shortcuts: PlainNet never has shortcuts"),
    (lambda: ResNet(BasicBlock, (2,), widths=(8,), image_norm=1), TypeError, r"^image_norm: expected a bool, got int"),
    (lambda: se_resnet_cifar(8, zero_mean_stem="yes"), TypeError, r"^zero_mean_stem: expected a bool, got str"),
    (lambda: BasicBlock(0, 8), ValueError, r"^in_channels: expected an int >= 1"),
    (lambda: BasicBlock(8, 8, stride=0), ValueError, r"^stride: expected an int >= 1"),
    (lambda: BasicBlock(8, 8, shortcut=None), TypeError, r"^shortcut: expected a bool"),
    (lambda: Bottleneck(8, 0), ValueError, r"^width: expected an int >= 1"),
    (lambda: SEBlock(0), ValueError, r"^channels: expected an int >= 1"),
    (lambda: SEBlock(8, 0), ValueError, r"^reduction: expected an int >= 1"),
    (lambda: SEBlock(8, 16), ValueError, r"^reduction: expected reduction <= channels \(8\)"),
    (lambda: SEBlock(8, 2.0), TypeError, r"^reduction: expected an int"),
])
def test_invalid_arguments_name_the_argument(call, error, match):
    with pytest.raises(error, match=match):
        call()
