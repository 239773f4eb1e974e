"""cvcourse.kernels.roi_pool (issue 7): the Triton RoIPool forward (max, first argmax) and backward
against the torch reference of cvcourse.ops, in Triton's interpreter."""
import pytest
import torch

pytest.importorskip("triton")
pytestmark = pytest.mark.usefixtures("triton_debug")   # tl.device_assert on: bounds are checked

from cvcourse import ops  # noqa: E402
from cvcourse.kernels.roi_pool import roi_pool as kernel  # noqa: E402


def case(seed, dtype=torch.float32, k=6, c=5):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, c, 9, 11, generator=g).to(dtype)
    xy = torch.rand(k, 2, generator=g) * 14 - 2
    wh = torch.rand(k, 2, generator=g) * 9
    rois = torch.cat([torch.randint(0, 2, (k, 1), generator=g).float(), xy, xy + wh], 1)
    return x, rois


@pytest.mark.parametrize("scale", [1.0, 0.5, 0.25])
@pytest.mark.parametrize("output_size", [(2, 3), (4, 4)])
def test_forward_and_backward_match_reference(scale, output_size):
    x, rois = case(int(scale * 8) + output_size[0])
    xa, xb = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    a = kernel(xa, rois, output_size, scale)
    b = ops.roi_pool(xb, rois, output_size, scale, backend="torch")
    assert torch.equal(a, b)
    grad = torch.randn(a.shape, generator=torch.Generator().manual_seed(1))
    (a * grad).sum().backward()
    (b * grad).sum().backward()
    torch.testing.assert_close(xa.grad, xb.grad)


def test_ties_empty_bins_many_channels():
    x = torch.zeros(1, 70, 6, 6)                                 # all equal: the first pixel of each bin wins
    x[:, :, 4, 4] = 1.0
    rois = torch.tensor([[0.0, 0, 0, 5, 5], [0, 20, 20, 30, 30], [0, 2.5, 2.5, 3.5, 3.5]])   # whole map, outside, halves
    xa, xb = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    a, b = kernel(xa, rois, (3, 3), 1.0), ops.roi_pool(xb, rois, 3, 1.0, backend="torch")
    assert torch.equal(a, b) and a[1].abs().sum() == 0          # the RoI outside the map: empty bins, 0
    a.sum().backward()
    b.sum().backward()
    assert torch.equal(xa.grad, xb.grad)


def test_half_and_dispatch():
    x, rois = case(3, torch.float16, k=3, c=4)
    out = ops.roi_pool(x, rois, 2, 1.0, backend="triton")
    assert out.dtype == torch.float16
    assert torch.equal(out, ops.roi_pool(x, rois, 2, 1.0, backend="torch"))
