"""cvcourse.kernels.roi_align (issue 7): the Triton RoIAlign forward and backward against the torch
reference of cvcourse.ops (itself checked against torchvision), in Triton's interpreter. Sizes are
small: the interpreter pays per program and per loop step."""
import pytest
import torch

pytest.importorskip("triton")
pytestmark = pytest.mark.usefixtures("triton_debug")   # tl.device_assert on: bounds are checked

from cvcourse import ops  # noqa: E402
from cvcourse.kernels.roi_align import roi_align as kernel  # noqa: E402


def case(seed, dtype=torch.float32, k=6, c=5):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, c, 9, 11, generator=g).to(dtype)
    xy = torch.rand(k, 2, generator=g) * 14 - 2                  # some RoIs reach outside the map
    wh = torch.rand(k, 2, generator=g) * 9
    rois = torch.cat([torch.randint(0, 2, (k, 1), generator=g).float(), xy, xy + wh], 1)
    return x, rois


@pytest.mark.parametrize("aligned", [False, True])
@pytest.mark.parametrize("sampling_ratio", [-1, 0, 2])
@pytest.mark.parametrize("scale", [1.0, 0.5, 0.25])
def test_forward_matches_reference(aligned, sampling_ratio, scale):
    x, rois = case(int(scale * 4) + sampling_ratio + 3 * aligned)
    expected = ops.roi_align(x, rois, (2, 3), scale, sampling_ratio, aligned, backend="torch")
    torch.testing.assert_close(kernel(x, rois, (2, 3), scale, sampling_ratio, aligned), expected,
                               atol=1e-5, rtol=1e-5)


def test_channels_beyond_one_block_and_degenerate_rois():
    x, _ = case(1, c=70)                                         # 70 channels: two blocks of 64, masked
    rois = torch.tensor([[0.0, 2, 2, 2, 2], [1, 5, 5, 3, 3], [0, -5, -5, -3, -3], [1, 0, 0, 11, 9]])
    for aligned in (False, True):                                # zero-size, malformed, outside, whole map
        expected = ops.roi_align(x, rois, 2, 1.0, -1, aligned, backend="torch")
        torch.testing.assert_close(kernel(x, rois, (2, 2), 1.0, -1, aligned), expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("aligned", [False, True])
@pytest.mark.parametrize("sampling_ratio", [-1, 2])
def test_backward_matches_reference(aligned, sampling_ratio):
    x, rois = case(7, torch.float64, k=4, c=3)
    grad = torch.randn(4, 3, 2, 2, generator=torch.Generator().manual_seed(8), dtype=torch.float64)
    xa, xb = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    (kernel(xa, rois.double(), (2, 2), 0.5, sampling_ratio, aligned) * grad).sum().backward()
    (ops.roi_align(xb, rois.double(), 2, 0.5, sampling_ratio, aligned, backend="torch") * grad).sum().backward()
    torch.testing.assert_close(xa.grad, xb.grad, atol=1e-12, rtol=1e-10)


def test_half_precision_and_dispatch():
    x, rois = case(3, torch.float16, k=3, c=4)
    out = ops.roi_align(x, rois, 2, 1.0, 2, backend="triton")
    assert out.dtype == torch.float16
    torch.testing.assert_close(out, ops.roi_align(x, rois, 2, 1.0, 2, backend="torch"), atol=2e-3, rtol=2e-3)
    empty = ops.roi_align(x, torch.zeros(0, 5), 2, backend="triton")
    assert empty.shape == (0, 4, 2, 2)


def test_reference_gradcheck_float64():
    x, rois = case(5, torch.float64, k=2, c=2)
    x.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: ops.roi_align(t, rois.double(), 2, 0.5, 2, True, backend="torch"), (x,))


def test_debug_mode_catches_an_out_of_bounds_batch_index():
    # cvcourse.ops rejects such RoIs before a kernel runs; called directly, the kernel's device_assert
    # (live in the tests' debug interpreter) stops it instead of reading another tensor's memory
    x, rois = case(2, k=1, c=2)
    rois[0, 0] = 5                                               # the batch holds 2 images
    with pytest.raises(Exception, match="batch index outside the batch"):
        kernel(x, rois, (2, 2), 1.0, 2, False)
