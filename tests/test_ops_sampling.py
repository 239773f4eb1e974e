"""cvcourse.ops.bilinear_interpolate: a loop reference written from torchvision's kernel, golden values,
the border rules, the identity with a zero-size RoIAlign, gradients, bad input."""
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cvcourse.ops import bilinear_interpolate, roi_align


def loop_reference(f, y, x):
    """torchvision's `bilinear_interpolate` (roi_align_kernel.cpp), line by line, on Python floats:
    f is a list of rows (one channel)."""
    height, width = len(f), len(f[0])
    if y < -1.0 or y > height or x < -1.0 or x > width:
        return 0.0
    y, x = max(y, 0.0), max(x, 0.0)
    y_low, x_low = int(y), int(x)
    if y_low >= height - 1:
        y_high = y_low = height - 1
        y = float(y_low)
    else:
        y_high = y_low + 1
    if x_low >= width - 1:
        x_high = x_low = width - 1
        x = float(x_low)
    else:
        x_high = x_low + 1
    ly, lx = y - y_low, x - x_low
    hy, hx = 1.0 - ly, 1.0 - lx
    return (hy * hx * f[y_low][x_low] + hy * lx * f[y_low][x_high]
            + ly * hx * f[y_high][x_low] + ly * lx * f[y_high][x_high])


def reference(f, y, x):
    """The loop reference over channels and points: f Tensor[C, H, W], y and x Tensor[P]."""
    maps = [c.tolist() for c in f.double()]
    return torch.tensor([[loop_reference(m, yy, xx) for yy, xx in zip(y.tolist(), x.tolist(), strict=True)]
                         for m in maps], dtype=torch.float64)


# ----------------------------------------------------------------------------- against the reference
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("h, w", [(1, 1), (1, 6), (5, 1), (4, 7), (9, 3)])
def test_matches_the_loop_reference(dtype, h, w):
    gen = torch.Generator().manual_seed(h * 10 + w)
    f = torch.randn(3, h, w, generator=gen, dtype=dtype)
    y = torch.rand(300, generator=gen, dtype=torch.float64) * (h + 4) - 2      # up to 2 pixels outside
    x = torch.rand(300, generator=gen, dtype=torch.float64) * (w + 4) - 2
    y, x = y.to(dtype), x.to(dtype)
    got = bilinear_interpolate(f, y, x)
    assert got.dtype == dtype and got.shape == (3, 300)
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    torch.testing.assert_close(got.double(), reference(f, y, x), atol=tol, rtol=tol)


def test_points_on_the_edges_of_the_rules():
    """Exactly -1, 0, H - 1 and H (inside the rules), just beyond -1 and H (outside), integers."""
    gen = torch.Generator().manual_seed(3)
    f = torch.randn(2, 4, 5, generator=gen, dtype=torch.float64)
    edges = torch.tensor([-1.5, -1.0 - 1e-9, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0, 2.5, 3.0, 3.5, 4.0, 4.0 + 1e-9,
                          4.5, 5.0, 5.0 + 1e-9, 6.0], dtype=torch.float64)
    y, x = torch.meshgrid(edges, edges, indexing="ij")
    got = bilinear_interpolate(f, y.reshape(-1), x.reshape(-1))
    torch.testing.assert_close(got, reference(f, y.reshape(-1), x.reshape(-1)), atol=1e-12, rtol=0)


# ----------------------------------------------------------------------------- golden values
def test_hand_worked_values():
    f = torch.tensor([[1.0, 5.0, 2.0],
                      [7.0, 0.0, 3.0]])
    # (0.25, 0.5): hy = 0.75, ly = 0.25, hx = lx = 0.5 -> 0.375*1 + 0.375*5 + 0.125*7 + 0.125*0 = 3.125
    assert bilinear_interpolate(f, 0.25, 0.5).item() == 3.125
    assert bilinear_interpolate(f, 1.0, 2.0).item() == 3.0              # a pixel centre: the pixel itself
    assert bilinear_interpolate(f, 1.7, 0.5).item() == 3.5              # below the last row: row 1 only
    assert bilinear_interpolate(f, 0.5, 2.9).item() == 2.5              # right of the last column
    assert bilinear_interpolate(f, -0.6, -1.0).item() == 1.0            # in [-1, 0]: clamped to pixel (0, 0)
    assert bilinear_interpolate(f, 2.0, 3.0).item() == 3.0              # exactly y = H and x = W: still read
    assert bilinear_interpolate(f, -1.01, 1.0).item() == 0.0            # more than one pixel outside
    assert bilinear_interpolate(f, 0.0, 3.01).item() == 0.0


def test_shapes_and_broadcasting():
    f = torch.arange(24.0).reshape(2, 3, 4)
    assert bilinear_interpolate(f, 1.0, 2.0).tolist() == [6.0, 18.0]    # numbers: Tensor[C]
    assert bilinear_interpolate(f[0], 1.0, 2.0).shape == ()             # a 2-D map: a 0-d tensor
    out = bilinear_interpolate(f, torch.tensor([0.0, 1.0, 2.0])[:, None], torch.tensor([0.0, 3.0]))
    assert out.shape == (2, 3, 2) and out[1, 2, 1].item() == f[1, 2, 3].item()
    assert bilinear_interpolate(f, torch.zeros(0), 1.5).shape == (2, 0)
    assert bilinear_interpolate(torch.zeros(2, 0, 4), torch.zeros(0), torch.zeros(0)).shape == (2, 0)
    integer_points = bilinear_interpolate(f, torch.tensor([1]), torch.tensor([2]))
    assert integer_points.dtype == torch.float32 and integer_points.tolist() == [[6.0], [18.0]]


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_types_are_computed_in_float32(dtype):
    f = torch.randn(2, 5, 5, generator=torch.Generator().manual_seed(0)).to(dtype)
    y, x = torch.tensor([0.3, 2.7, 4.2]), torch.tensor([1.1, 3.9, -0.5])
    got = bilinear_interpolate(f, y, x)
    assert got.dtype == dtype
    torch.testing.assert_close(got, bilinear_interpolate(f.float(), y, x).to(dtype))


# ----------------------------------------------------------------------------- properties
@settings(deadline=None, max_examples=60)
@given(h=st.integers(1, 6), w=st.integers(1, 6), a=st.floats(-3, 3), b=st.floats(-3, 3), c=st.floats(-3, 3),
       u=st.floats(0, 1), v=st.floats(0, 1))
def test_a_linear_map_is_reproduced_exactly_inside(h, w, a, b, c, u, v):
    """Bilinear interpolation reproduces a x r + b x c + c0 between the pixel centres."""
    rows, cols = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64),
                                indexing="ij")
    f = a * rows + b * cols + c
    y, x = u * (h - 1), v * (w - 1)
    assert bilinear_interpolate(f, y, x).item() == pytest.approx(a * y + b * x + c, abs=1e-9)


@settings(deadline=None, max_examples=60)
@given(h=st.integers(1, 6), w=st.integers(1, 6), y=st.floats(-3, 9), x=st.floats(-3, 9), value=st.floats(-5, 5))
def test_the_weights_sum_to_one_where_the_map_is_read(h, w, y, x, value):
    """A constant map reads its constant wherever a point is at most one pixel outside, else 0."""
    f = torch.full((h, w), value, dtype=torch.float64)
    inside = -1 <= y <= h and -1 <= x <= w
    assert bilinear_interpolate(f, y, x).item() == pytest.approx(value if inside else 0.0, abs=1e-12)


# ----------------------------------------------------------------------------- RoIAlign is averaged samples
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_a_zero_size_aligned_roi_with_one_sample_is_one_read(dtype):
    gen = torch.Generator().manual_seed(7)
    f = torch.randn(3, 6, 8, generator=gen, dtype=dtype)
    ys = (torch.rand(60, generator=gen, dtype=dtype) * 10 - 2).tolist()
    xs = (torch.rand(60, generator=gen, dtype=dtype) * 12 - 2).tolist()
    rois = torch.tensor([[0, x + 0.5, y + 0.5, x + 0.5, y + 0.5] for y, x in zip(ys, xs, strict=True)], dtype=dtype)
    pooled = roi_align(f[None], rois, 1, sampling_ratio=1, aligned=True)[:, :, 0, 0].T     # (C, K)
    read = bilinear_interpolate(f, torch.tensor(ys, dtype=dtype), torch.tensor(xs, dtype=dtype))
    tol = 1e-12 if dtype == torch.float64 else 1e-5                   # x + 0.5 - 0.5 rounds in float32
    torch.testing.assert_close(pooled, read, atol=tol, rtol=tol)


def test_the_identity_is_exact_on_dyadic_points():
    f = torch.randn(2, 5, 5, generator=torch.Generator().manual_seed(1))
    for y, x in [(0.0, 0.0), (1.25, 3.5), (-0.75, 4.625), (4.0, 2.875), (-1.0, 5.0), (-1.5, 2.0)]:
        roi = torch.tensor([[0, x + 0.5, y + 0.5, x + 0.5, y + 0.5]])
        assert torch.equal(roi_align(f[None], roi, 1, sampling_ratio=1, aligned=True)[0, :, 0, 0],
                           bilinear_interpolate(f, y, x))


def test_roi_align_bins_are_averages_of_reads():
    """One RoIAlign bin (aligned=False, 2 x 2 samples) is the mean of four reads at the sample points."""
    f = torch.randn(4, 9, 9, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    x1, y1, x2, y2 = 1.3, 2.1, 7.9, 6.2
    out = roi_align(f[None], torch.tensor([[0, x1, y1, x2, y2]], dtype=torch.float64), (2, 3), 1.0, 2)
    bin_h, bin_w = (y2 - y1) / 2, (x2 - x1) / 3
    ys = torch.tensor([y1 + bin_h + (s + 0.5) * bin_h / 2 for s in range(2)], dtype=torch.float64)
    xs = torch.tensor([x1 + 2 * bin_w + (s + 0.5) * bin_w / 2 for s in range(2)], dtype=torch.float64)
    reads = bilinear_interpolate(f, ys[:, None], xs[None, :])                     # (C, 2, 2)
    torch.testing.assert_close(out[0, :, 1, 2], reads.mean((1, 2)))


# ----------------------------------------------------------------------------- gradients
def test_gradcheck_in_the_map():
    gen = torch.Generator().manual_seed(4)
    f = torch.randn(2, 4, 5, generator=gen, dtype=torch.float64, requires_grad=True)
    y = torch.tensor([0.3, 2.6, 3.4, -0.5, 4.5, -2.0], dtype=torch.float64)
    x = torch.tensor([1.2, 4.3, 0.7, 2.5, -0.9, 1.0], dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda t: bilinear_interpolate(t, y, x), (f,))


def test_gradcheck_in_the_coordinates():
    """Away from integer coordinates and the borders the value is smooth in y and x."""
    f = torch.randn(3, 5, 6, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    y = torch.tensor([0.3, 2.6, 1.45], dtype=torch.float64, requires_grad=True)
    x = torch.tensor([1.2, 4.3, 0.55], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: bilinear_interpolate(f, a, b), (y, x))


def test_gradient_of_one_read_is_its_four_weights():
    f = torch.zeros(3, 3, requires_grad=True)
    bilinear_interpolate(f, 0.25, 1.5).backward()
    expected = torch.tensor([[0.0, 0.375, 0.375], [0.0, 0.125, 0.125], [0.0, 0.0, 0.0]])
    torch.testing.assert_close(f.grad, expected)
    assert math.isclose(float(f.grad.sum()), 1.0)


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("call, error, match", [
    (lambda: bilinear_interpolate([[1.0]], 0.0, 0.0), TypeError, r"input: expected a Tensor\[C, H, W\]"),
    (lambda: bilinear_interpolate(torch.zeros(1, 1, 2, 2), 0.0, 0.0), ValueError, r"input: expected Tensor\[C, H, W\] or Tensor\[H, W\], got Tensor\[1, 1, 2, 2\]"),
    (lambda: bilinear_interpolate(torch.zeros(2, 2, dtype=torch.int64), 0.0, 0.0), TypeError, r"input: expected a floating-point tensor"),
    (lambda: bilinear_interpolate(torch.zeros(2, 2), "1", 0.0), TypeError, r"y: expected a real number or a Tensor"),
    (lambda: bilinear_interpolate(torch.zeros(2, 2), 0.0, True), TypeError, r"x: expected a real number or a Tensor of coordinates, got bool"),
    (lambda: bilinear_interpolate(torch.zeros(2, 2), torch.tensor([True]), 0.0), TypeError, r"y: expected real coordinates, got dtype torch.bool"),
    (lambda: bilinear_interpolate(torch.zeros(2, 2), float("nan"), 0.0), ValueError, r"y: coordinates must be finite"),
    (lambda: bilinear_interpolate(torch.zeros(2, 2), 0.0, torch.tensor([0.0, float("inf")])), ValueError, r"x: coordinates must be finite; element \(1,\) is inf"),
    (lambda: bilinear_interpolate(torch.zeros(2, 2), torch.zeros(3), torch.zeros(2)), ValueError, r"y and x: shapes \[3\] and \[2\] do not broadcast"),
    (lambda: bilinear_interpolate(torch.zeros(2, 0, 3), 0.0, 0.0), ValueError, r"input: points need a map of positive height and width"),
])
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()
