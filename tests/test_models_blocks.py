"""cvcourse.models.blocks: Mish against torch.nn.Mish and its formula, ConvBlock's layers and shapes,
SPP against a loop reference, and every bad argument."""
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from cvcourse.models import ACTIVATIONS, SPP, ConvBlock, Mish

PROPERTY = settings(max_examples=30, deadline=None)


# ----------------------------------------------------------------------------- Mish
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_mish_matches_torch_and_the_formula(dtype):
    gen = torch.Generator().manual_seed(0)
    x = torch.cat([torch.randn(1000, generator=gen, dtype=dtype) * 5,
                   torch.tensor([-100.0, -20.0, -1.2, 0.0, 1.0, 20.0, 100.0], dtype=dtype)])
    out = Mish()(x)
    assert out.dtype == dtype and out.shape == x.shape
    torch.testing.assert_close(out, nn.Mish()(x))
    expected = torch.tensor([v * torch.tanh(torch.log1p(torch.exp(torch.tensor(v, dtype=torch.float64)))).item()
                             for v in x[-7:].tolist()], dtype=dtype)
    torch.testing.assert_close(out[-7:], expected)
    assert torch.isfinite(out).all()


def test_mish_golden_values():
    out = Mish()(torch.tensor([0.0, 1.0, -1.0], dtype=torch.float64))
    # 1 * tanh(log(1 + e)) = tanh(1.3132617) = 0.8650984; -1 * tanh(log(1 + 1/e)) = -0.3034014
    torch.testing.assert_close(out, torch.tensor([0.0, 0.8650983882673103, -0.3034014613426146], dtype=torch.float64))


def test_mish_gradcheck():
    x = torch.randn(20, dtype=torch.float64, generator=torch.Generator().manual_seed(1), requires_grad=True)
    assert torch.autograd.gradcheck(Mish(), (x,))


# ----------------------------------------------------------------------------- ConvBlock
@pytest.mark.parametrize("activation, kind", [("leaky", nn.LeakyReLU), ("relu", nn.ReLU), ("mish", Mish)])
def test_conv_block_layers(activation, kind):
    block = ConvBlock(3, 8, 5, 2, activation)
    conv, bn, act = block
    assert isinstance(conv, nn.Conv2d) and conv.bias is None
    assert conv.kernel_size == (5, 5) and conv.stride == (2, 2) and conv.padding == (2, 2)
    assert isinstance(bn, nn.BatchNorm2d) and bn.num_features == 8
    assert type(act) is kind
    if activation == "leaky":
        assert act.negative_slope == 0.1
    assert sum(p.numel() for p in block.parameters()) == 3 * 8 * 25 + 2 * 8
    assert ACTIVATIONS == ("leaky", "relu", "mish")


def test_conv_block_default_is_3x3_leaky_and_matches_the_formula():
    torch.manual_seed(0)
    block = ConvBlock(4, 6).eval()
    x = torch.randn(2, 4, 9, 7)
    conv, bn, _ = block
    expected = F.leaky_relu(bn(F.conv2d(x, conv.weight, padding=1)), 0.1)
    torch.testing.assert_close(block(x), expected)


@pytest.mark.parametrize("size, kernel, stride, out", [
    (32, 3, 1, 32), (32, 3, 2, 16), (33, 3, 2, 17), (13, 1, 1, 13), (13, 5, 2, 7), (1, 3, 2, 1),
])
def test_conv_block_output_is_ceil_of_size_over_stride(size, kernel, stride, out):
    y = ConvBlock(2, 5, kernel, stride)(torch.randn(3, 2, size, size))
    assert y.shape == (3, 5, out, out)


# ----------------------------------------------------------------------------- SPP
def _spp_loop(x, kernel_sizes):
    """Max over each k x k window clipped to the image: the obvious loop."""
    n, c, h, w = x.shape
    outs = [x]
    for k in kernel_sizes:
        r = k // 2
        out = torch.empty_like(x)
        for i in range(h):
            for j in range(w):
                out[:, :, i, j] = x[:, :, max(i - r, 0):i + r + 1, max(j - r, 0):j + r + 1].amax(dim=(2, 3))
        outs.append(out)
    return torch.cat(outs, dim=1)


def test_spp_shape_and_default_kernels():
    spp = SPP()
    assert spp.kernel_sizes == (5, 9, 13) and not list(spp.parameters())
    y = spp(torch.randn(2, 8, 10, 12))
    assert y.shape == (2, 32, 10, 12)


@PROPERTY
@given(n=st.integers(1, 2), c=st.integers(1, 3), h=st.integers(1, 9), w=st.integers(1, 9),
       kernel_sizes=st.lists(st.sampled_from([1, 3, 5, 7, 13]), min_size=1, max_size=3))
def test_spp_matches_a_loop_reference(n, c, h, w, kernel_sizes):
    x = torch.randn(n, c, h, w, generator=torch.Generator().manual_seed(h * 10 + w))
    y = SPP(tuple(kernel_sizes))(x)
    assert y.shape == (n, c * (1 + len(kernel_sizes)), h, w)
    torch.testing.assert_close(y, _spp_loop(x, kernel_sizes))


def test_spp_golden_one_hot_pixel_spreads_to_each_window():
    x = torch.zeros(1, 1, 15, 15)
    x[0, 0, 7, 7] = 1.0
    y = SPP((5, 9))(x)
    assert torch.equal(y[0, 0], x[0, 0])
    assert y[0, 1].sum() == 25 and y[0, 1, 5:10, 5:10].all()
    assert y[0, 2].sum() == 81 and y[0, 2, 3:12, 3:12].all()


# ----------------------------------------------------------------------------- invalid input
@pytest.mark.parametrize("call, error, match", [
    (lambda: ConvBlock(0, 8), ValueError, r"^in_channels: expected an int >= 1, got 0"),
    (lambda: ConvBlock(3, -1), ValueError, r"^out_channels: expected an int >= 1"),
    (lambda: ConvBlock(3.0, 8), TypeError, r"^in_channels: expected an int"),
    (lambda: ConvBlock(3, 8, 4), ValueError, r"^kernel_size: expected an odd size"),
    (lambda: ConvBlock(3, 8, 0), ValueError, r"^kernel_size: expected an int >= 1"),
    (lambda: ConvBlock(3, 8, 3, 0), ValueError, r"^stride: expected an int >= 1"),
    (lambda: ConvBlock(3, 8, activation="gelu"), ValueError,
     r"^activation: expected one of 'leaky', 'relu', 'mish', got 'gelu'"),
    (lambda: ConvBlock(3, 8, activation=nn.ReLU), TypeError, r"^activation: expected one of"),
    (lambda: SPP(5), TypeError, r"^kernel_sizes: expected a tuple of odd ints, got int"),
    (lambda: SPP(()), ValueError, r"^kernel_sizes: expected at least one pool size"),
    (lambda: SPP((5, 8)), ValueError, r"^kernel_sizes\[1\]: expected an odd size"),
    (lambda: SPP((0,)), ValueError, r"^kernel_sizes\[0\]: expected an int >= 1"),
    (lambda: SPP((5.0,)), TypeError, r"^kernel_sizes\[0\]: expected an int"),
])
def test_invalid_arguments_name_the_argument(call, error, match):
    with pytest.raises(error, match=match):
        call()
