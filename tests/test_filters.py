"""cvcourse.filters (chapter 01) and its exercise checks: against slow obviously-correct loops,
hand-worked values, torch.nn.functional.conv2d and cv2.filter2D."""
import math

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from cvcourse import checks, filters
from cvcourse.checks import _core


def loop_conv2d(x, w, b=None, stride=(1, 1), padding=(0, 0)):
    """The definition, one output value at a time (float64)."""
    (sh, sw), (ph, pw) = stride, padding
    x = F.pad(x.double(), (pw, pw, ph, ph))
    n, c_in, h, wd = x.shape
    c_out, _, kh, kw = w.shape
    out = torch.zeros(n, c_out, (h - kh) // sh + 1, (wd - kw) // sw + 1, dtype=torch.float64)
    for i in range(out.shape[2]):
        for j in range(out.shape[3]):
            window = x[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw]                   # (N, C_in, kh, kw)
            for o in range(c_out):
                out[:, o, i, j] = (window * w[o].double()).sum(dim=(1, 2, 3))
    return out if b is None else out + b.double().view(1, -1, 1, 1)


def rand(*shape, dtype=torch.float32, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


# ----------------------------------------------------------------------------- conv2d
def test_conv2d_hand_worked_3x3_image_2x2_kernel():
    x = torch.tensor([[1.0, 2, 3], [4, 5, 6], [7, 8, 9]])
    k = torch.tensor([[1.0, 0], [0, -1]])
    # top-left window [[1, 2], [4, 5]]: 1*1 + 5*(-1) = -4; every window is a - e = -4
    expected = torch.tensor([[-4.0, -4], [-4, -4]])
    assert torch.equal(filters.conv2d(x[None, None], k[None, None])[0, 0], expected)
    k2 = torch.tensor([[1.0, 2], [3, 4]])  # 1*1 + 2*2 + 3*4 + 4*5 = 37, then +10 per step right, +30 down
    assert torch.equal(filters.conv2d(x[None, None], k2[None, None])[0, 0], torch.tensor([[37.0, 47], [67, 77]]))
    assert torch.equal(filters.conv2d(x[None, None], k2[None, None], stride=2)[0, 0], torch.tensor([[37.0]]))
    # padding 1: the top-left output sees only x[0, 0] under the kernel's bottom-right weight 4
    assert filters.conv2d(x[None, None], k2[None, None], padding=1)[0, 0, 0, 0] == 4.0


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("stride", [1, 2, (2, 1), (1, 3)])
@pytest.mark.parametrize("padding", [0, 1, (2, 0)])
def test_conv2d_equals_torch(dtype, stride, padding):
    x, w, b = rand(2, 3, 9, 8, dtype=dtype), rand(4, 3, 3, 2, dtype=dtype, seed=1), rand(4, dtype=dtype, seed=2)
    got = filters.conv2d(x, w, b, stride=stride, padding=padding)
    want = F.conv2d(x, w, b, stride=stride, padding=padding)
    assert got.dtype == dtype and got.shape == want.shape
    torch.testing.assert_close(got, want)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(0, 2), c_in=st.integers(1, 3), c_out=st.integers(1, 3), h=st.integers(1, 7), w=st.integers(1, 7),
       kh=st.integers(1, 4), kw=st.integers(1, 4), sh=st.integers(1, 3), sw=st.integers(1, 3),
       ph=st.integers(0, 2), pw=st.integers(0, 2), seed=st.integers(0, 2**16))
def test_conv2d_equals_torch_on_random_shapes(n, c_in, c_out, h, w, kh, kw, sh, sw, ph, pw, seed):
    if kh > h + 2 * ph or kw > w + 2 * pw:
        with pytest.raises(ValueError, match="does not fit"):
            filters.conv2d(torch.zeros(n, c_in, h, w), torch.zeros(c_out, c_in, kh, kw), padding=(ph, pw))
        return
    x, weight = rand(n, c_in, h, w, seed=seed), rand(c_out, c_in, kh, kw, seed=seed + 1)
    torch.testing.assert_close(filters.conv2d(x, weight, stride=(sh, sw), padding=(ph, pw)),
                               F.conv2d(x, weight, stride=(sh, sw), padding=(ph, pw)))


def test_conv2d_equals_the_loop_definition():
    x, w, b = rand(2, 2, 6, 7), rand(3, 2, 3, 3, seed=1), rand(3, seed=2)
    got = filters.conv2d(x, w, b, stride=(2, 1), padding=(1, 2))
    torch.testing.assert_close(got.double(), loop_conv2d(x, w, b, (2, 1), (1, 2)), atol=1e-5, rtol=1e-5)


def test_conv2d_kernel_as_large_as_padded_input_and_list_arguments():
    x, w = rand(1, 2, 3, 4), rand(5, 2, 5, 6, seed=1)
    got = filters.conv2d(x, w, padding=[1, 1], stride=[1, 1])
    assert got.shape == (1, 5, 1, 1)
    torch.testing.assert_close(got, F.conv2d(x, w, padding=1))


def test_conv2d_accepts_numpy_integers():
    x, w = rand(1, 1, 7, 7), rand(2, 1, 3, 3, seed=1)
    torch.testing.assert_close(filters.conv2d(x, w, stride=np.int64(2), padding=(np.int32(1), 0)),
                               F.conv2d(x, w, stride=2, padding=(1, 0)))


def test_conv2d_empty_batch():
    out = filters.conv2d(torch.zeros(0, 3, 7, 7), torch.zeros(8, 3, 3, 3), stride=2, padding=1)
    assert out.shape == (0, 8, 4, 4)


def test_conv2d_and_conv1x1_gradcheck():
    x = rand(1, 2, 5, 4, dtype=torch.float64).requires_grad_()
    w = rand(3, 2, 3, 2, dtype=torch.float64, seed=1).requires_grad_()
    b = rand(3, dtype=torch.float64, seed=2).requires_grad_()
    assert torch.autograd.gradcheck(lambda x, w, b: filters.conv2d(x, w, b, stride=2, padding=1), (x, w, b))
    w1 = rand(4, 2, dtype=torch.float64, seed=3).requires_grad_()
    assert torch.autograd.gradcheck(filters.conv1x1, (x, w1))


def test_conv1x1_equals_torch_and_is_a_per_pixel_matmul():
    x, w, b = rand(2, 3, 4, 5), rand(6, 3, seed=1), rand(6, seed=2)
    torch.testing.assert_close(filters.conv1x1(x, w, b), F.conv2d(x, w[:, :, None, None], b))
    torch.testing.assert_close(filters.conv1x1(x, w[:, :, None, None]), F.conv2d(x, w[:, :, None, None]))
    torch.testing.assert_close(filters.conv1x1(x, w)[1, :, 2, 3], w @ x[1, :, 2, 3])
    assert filters.conv1x1(torch.zeros(0, 3, 2, 2), w).shape == (0, 6, 2, 2)


@pytest.mark.parametrize("call, error, match", [
    (lambda: filters.conv2d(rand(3, 5, 5), rand(8, 3, 3, 3)), ValueError,
     r"input: expected Tensor\[N, C_in, H, W\], got Tensor\[3, 5, 5\] \(for one image"),
    (lambda: filters.conv2d(rand(1, 3, 5, 5), rand(8, 1, 3, 3)), ValueError,
     r"weight: expected Tensor\[C_out, C_in, kh, kw\] with C_in == input channels \(3\), got Tensor\[8, 1, 3, 3\]"),
    (lambda: filters.conv2d(rand(1, 3, 5, 5), rand(8, 3, 3)), ValueError, r"weight: expected Tensor\[C_out, C_in, kh, kw\]"),
    (lambda: filters.conv2d(rand(1, 1, 5, 5), rand(1, 1, 3, 3), stride=0), ValueError, r"stride: expected an int >= 1"),
    (lambda: filters.conv2d(rand(1, 1, 5, 5), rand(1, 1, 3, 3), stride=(1, -2)), ValueError, r"stride: .*>= 1"),
    (lambda: filters.conv2d(rand(1, 1, 5, 5), rand(1, 1, 3, 3), padding=-1), ValueError, r"padding: expected an int >= 0"),
    (lambda: filters.conv2d(rand(1, 1, 3, 3), rand(1, 1, 5, 5), padding=0), ValueError,
     r"weight: kernel 5x5 does not fit in the padded input 3x3"),
    (lambda: filters.conv2d(rand(1, 1, 5, 5), rand(2, 1, 3, 3), bias=rand(3)), ValueError,
     r"bias: expected Tensor\[C_out\] with C_out == weight's output channels \(2\), got Tensor\[3\]"),
    (lambda: filters.conv2d(np.zeros((1, 1, 5, 5)), rand(1, 1, 3, 3)), TypeError, r"input: expected a torch.Tensor .*got ndarray"),
    (lambda: filters.conv2d(rand(1, 1, 5, 5), [[1.0]]), TypeError, r"weight: expected a torch.Tensor .*got list"),
    (lambda: filters.conv2d(torch.ones(1, 1, 5, 5, dtype=torch.long), rand(1, 1, 3, 3)), TypeError,
     r"input: expected a floating-point Tensor, got torch.int64"),
    (lambda: filters.conv2d(rand(1, 1, 5, 5), rand(1, 1, 3, 3, dtype=torch.float64)), TypeError,
     r"weight: expected dtype torch.float32 like input, got torch.float64"),
    (lambda: filters.conv2d(rand(1, 1, 5, 5), rand(1, 1, 3, 3), stride=1.5), TypeError, r"stride: expected an int or a pair of ints"),
    (lambda: filters.conv2d(rand(1, 1, 5, 5), rand(1, 1, 3, 3), padding=(1, 1, 1)), TypeError, r"padding: expected an int or a pair"),
    (lambda: filters.conv2d(rand(1, 1, 5, 5), rand(1, 1, 3, 3), stride=True), TypeError, r"stride: expected an int"),
    (lambda: filters.conv1x1(rand(1, 3, 4, 4), rand(2, 4)), ValueError,
     r"weight: expected Tensor\[C_out, C_in\] or Tensor\[C_out, C_in, 1, 1\] with C_in == input channels \(3\), got Tensor\[2, 4\]"),
    (lambda: filters.conv1x1(rand(1, 3, 4, 4), rand(2, 3, 3, 3)), ValueError, r"weight: expected Tensor\[C_out, C_in\]"),
    (lambda: filters.conv1x1(rand(3, 4, 4), rand(2, 3)), ValueError, r"input: expected Tensor\[N, C_in, H, W\]"),
])
def test_bad_arguments_raise_clear_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


# ----------------------------------------------------------------------------- correlation, convolution, cv2
def photo(h=24, w=31):
    return (np.random.default_rng(0).random((h, w)) * 255).astype(np.uint8)


@pytest.mark.parametrize("name", filters.KERNEL_NAMES)
def test_correlate2d_equals_cv2_filter2d_everywhere(name):
    image, k = photo(), filters.kernel(name).numpy()
    f32 = image.astype(np.float32)
    np.testing.assert_allclose(filters.correlate2d(image, k), cv2.filter2D(f32, -1, k), atol=1e-4)
    np.testing.assert_allclose(filters.correlate2d(image, k, border="zeros"),
                               cv2.filter2D(f32, -1, k, borderType=cv2.BORDER_CONSTANT), atol=1e-4)
    # convolution = filter2D with the kernel flipped in both axes
    np.testing.assert_allclose(filters.convolve2d(image, k), cv2.filter2D(f32, -1, cv2.flip(k, -1)), atol=1e-4)


def test_convolve2d_flips_the_kernel_and_returns_the_input_type():
    image = torch.tensor(photo(8, 9), dtype=torch.float64)
    k = filters.kernel("sobel_x").double()
    corr = filters.correlate2d(image, k)
    assert isinstance(corr, torch.Tensor) and corr.dtype == torch.float64 and corr.shape == (8, 9)
    torch.testing.assert_close(filters.convolve2d(image, k), -corr)  # sobel_x flipped is -sobel_x
    torch.testing.assert_close(filters.convolve2d(image, k), filters.correlate2d(image, torch.flip(k, (0, 1))))
    # an asymmetric 3x3 kernel on an impulse: correlation draws the kernel flipped, convolution upright
    impulse = torch.zeros(5, 5, dtype=torch.float64)
    impulse[2, 2] = 1
    asym = torch.arange(9, dtype=torch.float64).view(3, 3)
    torch.testing.assert_close(filters.convolve2d(impulse, asym, border="zeros")[1:4, 1:4], asym)
    torch.testing.assert_close(filters.correlate2d(impulse, asym, border="zeros")[1:4, 1:4], torch.flip(asym, (0, 1)))
    out = filters.correlate2d(photo(6, 6), np.ones((3, 3)))
    assert isinstance(out, np.ndarray) and out.dtype == np.float32


def test_correlate2d_equals_conv2d_in_the_interior():
    image = torch.tensor(photo(10, 12), dtype=torch.float32)
    k = rand(3, 5)
    inner = filters.conv2d(image[None, None], k[None, None])[0, 0]                # (8, 8): 'valid' part
    torch.testing.assert_close(filters.correlate2d(image, k)[1:-1, 2:-2], inner)


@pytest.mark.parametrize("call, error, match", [
    (lambda: filters.correlate2d(np.zeros((4, 4, 3)), np.ones((3, 3))), ValueError,
     r"image: expected a single-channel 2-D array \(H, W\), got ndarray\[4, 4, 3\] \(convert colour"),
    (lambda: filters.correlate2d(np.zeros((4, 4)), np.ones((2, 2))), ValueError,
     r"kernel: expected odd height and width \(so it has a centre pixel\), got ndarray\[2, 2\]"),
    (lambda: filters.convolve2d(np.zeros((4, 4)), np.ones(3)), ValueError, r"kernel: expected a single-channel 2-D"),
    (lambda: filters.correlate2d(np.zeros((4, 4)), np.ones((3, 3)), border="wrap"), ValueError,
     r"border: expected one of 'reflect', 'zeros', got 'wrap'"),
    (lambda: filters.correlate2d(np.zeros((2, 2)), np.ones((5, 5))), ValueError, r"kernel: 5x5 is too large to reflect"),
    (lambda: filters.correlate2d([[1.0]], np.ones((1, 1))), TypeError, r"image: expected a Tensor\[H, W\] or a 2-D ndarray, got list"),
    (lambda: filters.correlate2d(np.zeros((4, 4), bool), np.ones((1, 1))), TypeError, r"image: expected a real-valued"),
    (lambda: filters.kernel("blur"), ValueError, r"name: unknown kernel 'blur'; expected one of identity, box_blur"),
    (lambda: filters.kernel(3), TypeError, r"name: expected a str"),
    (lambda: filters.gaussian_kernel(4, 1.0), ValueError, r"size: expected an odd int >= 1, got 4"),
    (lambda: filters.gaussian_kernel(5, 0), ValueError, r"sigma: expected a number > 0, got 0"),
    (lambda: filters.gaussian_kernel(5.0, 1), TypeError, r"size: expected an odd int, got float"),
    (lambda: filters.gabor_bank(0), ValueError, r"n_orientations: expected an int >= 1, got 0"),
    (lambda: filters.gabor_bank(4, wavelength=-1.0), ValueError, r"wavelength: expected a number > 0"),
])
def test_filter_bad_arguments(call, error, match):
    with pytest.raises(error, match=match):
        call()


# ----------------------------------------------------------------------------- kernels, sobel, gabor
def test_kernels_shapes_and_sums():
    sums = {"identity": 1, "box_blur": 1, "gaussian": 1, "sharpen": 1, "edge": 0, "laplacian": 0, "sobel_x": 0, "sobel_y": 0}
    for name in filters.KERNEL_NAMES:
        k = filters.kernel(name)
        assert k.dtype == torch.float32 and k.shape[0] == k.shape[1] and k.shape[0] % 2 == 1
        assert float(k.sum()) == pytest.approx(sums[name], abs=1e-6), name
    torch.testing.assert_close(filters.kernel("sobel_y"), filters.kernel("sobel_x").T)
    k = filters.kernel("identity")
    k[0, 0] = 99  # a new tensor each call: mutating one does not change the next
    assert filters.kernel("identity")[0, 0] == 0


def test_gaussian_kernel_matches_cv2():
    g = cv2.getGaussianKernel(7, 1.5)
    np.testing.assert_allclose(filters.gaussian_kernel(7, 1.5).numpy(), g @ g.T, atol=1e-7)
    assert filters.gaussian_kernel(1, 1.0).tolist() == [[1.0]]


def test_sobel_on_a_step_image():
    step = torch.zeros(6, 8)
    step[:, 4:] = 1.0                                            # dark left half, bright right half
    gx = filters.correlate2d(step, filters.kernel("sobel_x"))
    gy = filters.correlate2d(step, filters.kernel("sobel_y"))
    expected = torch.zeros(6, 8)
    expected[:, 3:5] = 4.0                                       # the two columns beside the step
    torch.testing.assert_close(gx, expected)                     # positive: brighter to the right
    torch.testing.assert_close(gy, torch.zeros(6, 8))
    torch.testing.assert_close(filters.sobel_magnitude(step), expected)
    torch.testing.assert_close(filters.sobel_magnitude(step.T.contiguous()), expected.T)
    assert isinstance(filters.sobel_magnitude(step.numpy()), np.ndarray)


def _edge_image(theta, size=15):
    """A soft edge through the centre, getting brighter in direction theta (x right, y up)."""
    r = torch.arange(size, dtype=torch.float32) - size // 2
    y, x = -r[:, None], r[None, :]
    return (x * math.cos(theta) + y * math.sin(theta)).clamp(-1, 1)


def test_gabor_bank_shapes_norms_and_orientations():
    bank = filters.gabor_bank(8, size=7)
    assert bank.shape == (8, 1, 7, 7) and bank.dtype == torch.float32
    torch.testing.assert_close(bank.sum(dim=(1, 2, 3)), torch.zeros(8), atol=1e-6, rtol=0)
    torch.testing.assert_close(bank.flatten(1).norm(dim=1), torch.ones(8))
    assert filters.gabor_bank(3, size=5).shape == (3, 1, 5, 5)
    # filter 0 is a vertical-edge detector (odd in x, even in y); filter 4 (90 degrees) its rotation
    torch.testing.assert_close(bank[0, 0], -torch.flip(bank[0, 0], (1,)))
    torch.testing.assert_close(bank[0, 0], torch.flip(bank[0, 0], (0,)))
    torch.testing.assert_close(bank[4, 0], torch.rot90(bank[0, 0], 1), atol=1e-6, rtol=0)
    # the filter whose angle matches an edge's direction responds most, and positively
    for i in range(8):
        image = _edge_image(i * math.pi / 8)
        centre = filters.conv2d(image[None, None], bank)[0, :, 4, 4]                # (8,) at the middle
        assert int(centre.argmax()) == i and centre[i] > 0, (i, centre)


# ----------------------------------------------------------------------------- small_cnn, feature_maps
def test_small_cnn_is_deterministic_and_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a, b, c = filters.small_cnn(0), filters.small_cnn(0), filters.small_cnn(1)
    assert torch.rand(1) == before
    assert torch.equal(a.conv2.weight, b.conv2.weight) and not torch.equal(a.conv2.weight, c.conv2.weight)
    torch.testing.assert_close(a.conv1.weight[:8], filters.gabor_bank(8, 7))
    assert not a.training
    assert a(torch.zeros(2, 1, 32, 40)).shape == (2, 16, 8, 10)


def test_feature_maps_returns_the_named_outputs_and_removes_hooks():
    model = filters.small_cnn()
    image = torch.rand(1, 20, 24, generator=torch.Generator().manual_seed(0))
    maps = filters.feature_maps(model, image, ["conv1", "relu1", "conv2"])
    assert list(maps) == ["conv1", "relu1", "conv2"]
    assert maps["conv1"].shape == (10, 20, 24) and maps["conv2"].shape == (16, 10, 12)
    torch.testing.assert_close(maps["relu1"], maps["conv1"].clamp_min(0))
    torch.testing.assert_close(maps["conv1"], F.conv2d(image[None], model.conv1.weight, model.conv1.bias, padding=3)[0])
    assert not maps["conv1"].requires_grad
    assert all(not m._forward_hooks for m in model.modules())
    batched = filters.feature_maps(model, image[None].repeat(3, 1, 1, 1), "pool2")
    assert batched["pool2"].shape == (3, 16, 5, 6)
    assert all(not m._forward_hooks for m in model.modules())


def test_feature_maps_removes_hooks_when_the_model_fails():
    model = filters.small_cnn()
    with pytest.raises(RuntimeError):
        filters.feature_maps(model, torch.rand(3, 8, 8), ["conv1"])   # 3 channels into a 1-channel conv
    assert all(not m._forward_hooks for m in model.modules())


@pytest.mark.parametrize("call, error, match", [
    (lambda m: filters.feature_maps(m, torch.rand(1, 8, 8), ["conv9"]), ValueError,
     r"layers: model has no submodule 'conv9'; expected some of conv1, relu1, pool1, conv2"),
    (lambda m: filters.feature_maps(m, torch.rand(1, 8, 8), []), ValueError, r"layers: expected at least one"),
    (lambda m: filters.feature_maps(m, torch.rand(8, 8), ["conv1"]), ValueError, r"image: expected Tensor\[N, C, H, W\]"),
    (lambda m: filters.feature_maps(m, np.zeros((1, 8, 8)), ["conv1"]), TypeError, r"image: expected a torch.Tensor"),
    (lambda m: filters.feature_maps("model", torch.rand(1, 8, 8), ["conv1"]), TypeError, r"model: expected an nn.Module"),
])
def test_feature_maps_bad_arguments(call, error, match):
    with pytest.raises(error, match=match):
        call(filters.small_cnn())


def test_feature_maps_on_any_module():
    model = nn.Sequential(nn.Conv2d(3, 2, 1), nn.Sequential(nn.ReLU()))
    maps = filters.feature_maps(model, torch.rand(3, 4, 4), ["1.0"])
    assert maps["1.0"].shape == (2, 4, 4)


# ----------------------------------------------------------------------------- checks of the exercises
def learner_conv2d(x, weight, stride=1, padding=0):
    """What a learner writes: loops over output positions and channels, one image."""
    c_out, _, kh, kw = weight.shape
    x = F.pad(x, (padding,) * 4)
    h_out, w_out = (x.shape[1] - kh) // stride + 1, (x.shape[2] - kw) // stride + 1
    out = torch.zeros(c_out, h_out, w_out)
    for o in range(c_out):
        for i in range(h_out):
            for j in range(w_out):
                out[o, i, j] = (x[:, i * stride:i * stride + kh, j * stride:j * stride + kw] * weight[o]).sum()
    return out


def test_checks_pass_correct_learner_functions(capsys):
    assert checks.conv2d(learner_conv2d).passed
    assert checks.conv1x1(lambda x, w: torch.einsum("oc,chw->ohw", w, x)).passed
    out = capsys.readouterr().out
    assert "[PASS] Exercise 01.1 (conv2d by hand): passed all 7 cases." in out
    assert "[PASS] Exercise 01.2 (1x1 convolution as a matrix product): passed all 5 cases." in out


def test_check_names_the_failing_case(capsys):
    def ignores_stride(x, weight, stride=1, padding=0):
        return learner_conv2d(x, weight, 1, padding)

    result = checks.conv2d(ignores_stride)
    assert result.status == "failed" and result.passed_cases == 5 and result.total_cases == 7
    out = capsys.readouterr().out
    assert "[FAIL] Exercise 01.1 (conv2d by hand): failed (5/7 cases passed)." in out
    assert "case: stride 2 on an odd-sized 5x5 image" in out and "shape (1, 3, 3), expected (1, 2, 2)" in out

    def transposed(x, w):  # multiplies by the weight's transpose: fails once C_in != C_out
        return torch.einsum("co,chw->ohw", w.T, x) if w.shape[0] == w.shape[1] else torch.zeros(0)

    assert not checks.conv1x1(transposed)
    assert "case: 3 -> 2 channels on a 4x4 image" in capsys.readouterr().out


def test_check_reports_not_attempted_and_errors(capsys):
    def stub(x, weight, stride=1, padding=0):
        raise NotImplementedError("Exercise 01.1: write conv2d")

    assert checks.conv2d(stub).status == "not attempted"
    assert "[TODO] Exercise 01.1 (conv2d by hand): not attempted yet" in capsys.readouterr().out

    def crashes(x, weight):
        return x @ weight

    result = checks.conv1x1(crashes)
    assert result.status == "failed" and "raised RuntimeError" in result.message
    assert "[FAIL] Exercise 01.2" in capsys.readouterr().out


def test_checks_are_registered_for_chapter_01():
    specs = _core.exercises_of("01")
    assert [(s.id, s.name) for s in specs] == [("01.1", "conv2d"), ("01.2", "conv1x1")]
