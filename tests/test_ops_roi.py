"""RoIAlign and RoIPool (`cvcourse.ops.roi`): against loops written from the definitions (per RoI,
bin and sample, in the input's number type as torchvision's kernels compute), hand-worked values on
a 4x4 map, gradients (gradcheck, and RoIPool's gradient going to the first maximum on ties), the two
box forms, modules, chunking, dtypes, empty inputs, properties and every refused input."""
import importlib
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cvcourse.ops import RoIAlign, RoIPool, convert_boxes_to_roi_format, roi_align, roi_pool

roi_module = importlib.import_module("cvcourse.ops.roi")
PROPERTY = settings(max_examples=30, deadline=None)


# ----------------------------------------------------------------------------- slow references
def loop_bilinear(img, y, x, f):
    """One RoIAlign sample of `img` (C, H, W) at (y, x), the kernel's rules in the number type `f`."""
    _, h, w = img.shape
    if not (-1.0 <= y <= h and -1.0 <= x <= w):                  # more than one pixel outside: zero
        return np.zeros(img.shape[0], dtype=f)
    y, x = max(y, f(0)), max(x, f(0))
    y0, x0 = int(y), int(x)
    if y0 >= h - 1:
        y0 = y1 = h - 1
        y = f(y0)
    else:
        y1 = y0 + 1
    if x0 >= w - 1:
        x0 = x1 = w - 1
        x = f(x0)
    else:
        x1 = x0 + 1
    ly, lx = y - f(y0), x - f(x0)
    hy, hx = f(1) - ly, f(1) - lx
    return hy * hx * img[:, y0, x0] + hy * lx * img[:, y0, x1] + ly * hx * img[:, y1, x0] + ly * lx * img[:, y1, x1]


def loop_roi_align(x, rois, output_size, scale, sampling_ratio, aligned):
    """RoIAlign from the definition: for each RoI, bin and sample point, a bilinear sample; the
    bin's value is the average of its samples."""
    f = np.float32 if x.dtype == torch.float32 else np.float64
    xs, oh, ow = x.numpy(), *output_size
    out = np.zeros((len(rois), x.shape[1], oh, ow), dtype=f)
    for k, (b, x1, y1, x2, y2) in enumerate(rois.numpy().astype(f)):
        off = f(0.5) if aligned else f(0)
        sx, sy, ex, ey = x1 * f(scale) - off, y1 * f(scale) - off, x2 * f(scale) - off, y2 * f(scale) - off
        rw, rh = ex - sx, ey - sy
        if not aligned:                                          # at least 1 x 1
            rw, rh = max(rw, f(1)), max(rh, f(1))
        bh, bw = rh / f(oh), rw / f(ow)
        gh = sampling_ratio if sampling_ratio > 0 else math.ceil(rh / f(oh))
        gw = sampling_ratio if sampling_ratio > 0 else math.ceil(rw / f(ow))
        count = max(gh * gw, 1)
        for i in range(oh):
            for j in range(ow):
                acc = np.zeros(x.shape[1], dtype=f)
                for iy in range(gh):
                    yy = sy + f(i) * bh + f(iy + 0.5) * bh / f(gh)
                    for ix in range(gw):
                        xx = sx + f(j) * bw + f(ix + 0.5) * bw / f(gw)
                        acc += loop_bilinear(xs[int(b)], yy, xx, f)
                out[k, :, i, j] = acc / f(count)
    return torch.from_numpy(out)


def c_round(v):
    """C's round: halves away from zero."""
    return math.floor(v + 0.5) if v >= 0 else -math.floor(-v + 0.5)


def loop_roi_pool(x, rois, output_size, scale):
    """RoIPool from the definition: (output, argmax), argmax the flat index h * W + w of each bin's
    first maximum in row-major order (-1 for an empty bin, whose value is 0)."""
    f = np.float32 if x.dtype == torch.float32 else np.float64
    xs, (_, c, h, w), (oh, ow) = x.numpy(), x.shape, output_size
    out = np.zeros((len(rois), c, oh, ow), dtype=f)
    arg = np.full((len(rois), c, oh, ow), -1)
    for k, (b, x1, y1, x2, y2) in enumerate(rois.numpy().astype(f)):
        sx, sy, ex, ey = (c_round(float(v * f(scale))) for v in (x1, y1, x2, y2))
        bh, bw = f(max(ey - sy + 1, 1)) / f(oh), f(max(ex - sx + 1, 1)) / f(ow)
        for i in range(oh):
            hs = min(max(math.floor(f(i) * bh) + sy, 0), h)
            he = min(max(math.ceil(f(i + 1) * bh) + sy, 0), h)
            for j in range(ow):
                ws = min(max(math.floor(f(j) * bw) + sx, 0), w)
                we = min(max(math.ceil(f(j + 1) * bw) + sx, 0), w)
                if he <= hs or we <= ws:
                    continue
                for ch in range(c):
                    patch = xs[int(b), ch, hs:he, ws:we]
                    r, q = np.unravel_index(np.argmax(patch), patch.shape)   # first maximum, row-major
                    out[k, ch, i, j], arg[k, ch, i, j] = patch[r, q], (hs + r) * w + ws + q
    return torch.from_numpy(out), torch.from_numpy(arg)


# ----------------------------------------------------------------------------- inputs
def random_rois(k, n, img_h, img_w, seed, dtype=torch.float32):
    """RoIs on n images of img_h x img_w pixels: many partly outside, tiny ones (below a map pixel at
    scale 1/16), zero-size ones, and a few malformed (x2 < x1), which torchvision accepts too."""
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(k, 2, generator=g) * torch.tensor([img_w, img_h]) * 1.4 - torch.tensor([img_w, img_h]) * 0.2
    wh = torch.rand(k, 2, generator=g) * torch.tensor([img_w, img_h]) * 0.6
    wh[: k // 6] *= 0.01                                         # tiny
    wh[k // 6: k // 4] = 0                                       # zero width and height
    wh[k // 4: k // 4 + 1, 0] = -3                               # malformed
    b = torch.randint(n, (k, 1), generator=g).float()
    return torch.cat([b, xy, xy + wh], 1).to(dtype)


def feature(n, c, h, w, seed, dtype=torch.float32):
    return torch.randn(n, c, h, w, generator=torch.Generator().manual_seed(seed)).to(dtype)


def arange_map():
    """The 4x4 map with value 4y + x (+ 1) at row y, column x: linear, so bilinear samples inside the map
    are exactly 4y + x + 1, and a bin's average is that at its mean sample."""
    return (torch.arange(16.0) + 1).view(1, 1, 4, 4)


# ----------------------------------------------------------------------------- roi_align: hand-worked
@pytest.mark.parametrize("box, kwargs, expected", [
    # 2x2 box, one sample per bin at the centre of each 1x1 bin: 4y + x + 1 at (0.5, 0.5), ...
    ([0, 0, 0, 2, 2], dict(output_size=2, sampling_ratio=1), [[3.5, 4.5], [7.5, 8.5]]),
    # aligned: shifted by -0.5, the samples sit on pixel centres 0 and 1
    ([0, 0, 0, 2, 2], dict(output_size=2, sampling_ratio=1, aligned=True), [[1, 2], [5, 6]]),
    # adaptive: roi 3 wide, 2 high, one bin -> 2 x 3 samples, mean at (1.5, 2.0)
    ([0, 0.5, 0.5, 3.5, 2.5], dict(output_size=1, sampling_ratio=-1), [[4 * 1.5 + 2 + 1]]),
    # zero-size box, aligned=False: forced to 1 x 1 from its corner, one sample at (1.5, 1.5)
    ([0, 1, 1, 1, 1], dict(output_size=1, sampling_ratio=-1), [[4 * 1.5 + 1.5 + 1]]),
    # zero-size box, aligned=True, adaptive: ceil(0) = 0 samples, the bin is 0
    ([0, 1, 1, 1, 1], dict(output_size=1, sampling_ratio=-1, aligned=True), [[0]]),
    # zero-size box, aligned=True, 2x2 samples all at (0.5, 0.5)
    ([0, 1, 1, 1, 1], dict(output_size=1, sampling_ratio=2, aligned=True), [[4 * 0.5 + 0.5 + 1]]),
    # sample at (-1, -1), one pixel outside: clamped to (0, 0)
    ([0, -1.5, -1.5, -0.5, -0.5], dict(output_size=1, sampling_ratio=1), [[1]]),
    # sample at (-2, -2): more than one pixel outside, contributes zero
    ([0, -2.5, -2.5, -1.5, -1.5], dict(output_size=1, sampling_ratio=1), [[0]]),
    # sample at (3.5, 0.5): beyond the last row's centre, reads row 3 only: 4 * 3 + 0.5 + 1
    ([0, 0, 3, 1, 4], dict(output_size=1, sampling_ratio=1), [[13.5]]),
    # sample at (4.0, 4.0) = (H, W): still inside the one-pixel margin, reads pixel (3, 3)
    ([0, 3.5, 3.5, 4.5, 4.5], dict(output_size=1, sampling_ratio=1), [[16]]),
    # 2 x 2 samples, half of them beyond y = 4 + 1 ... : rows 3.75 (kept) and 5.25 (> H, zero); mean = half
    ([0, 0, 3, 2, 6], dict(output_size=1, sampling_ratio=2), [[(13.5 + 14.5) / 4]]),
    # scale 1/2: the box 0..4 becomes 0..2 on the map
    ([0, 0, 0, 4, 4], dict(output_size=2, sampling_ratio=1, spatial_scale=0.5), [[3.5, 4.5], [7.5, 8.5]]),
    # non-square output: 1 row of 2 bins, 2x1 samples per bin
    ([0, 0, 0, 2, 2], dict(output_size=(1, 2), sampling_ratio=-1), [[4 * 1 + 0.5 + 1, 4 * 1 + 1.5 + 1]]),
])
def test_roi_align_hand_worked(box, kwargs, expected):
    out = roi_align(arange_map(), torch.tensor([box], dtype=torch.float32), **kwargs)
    torch.testing.assert_close(out[0, 0], torch.tensor(expected, dtype=torch.float32))


# ----------------------------------------------------------------------------- roi_align: loop reference
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("scale, size", [(1.0, (3, 3)), (0.5, (2, 3)), (0.25, (3, 2)), (1 / 16, (4, 1))])
@pytest.mark.parametrize("aligned", [False, True])
def test_roi_align_matches_loop_reference(dtype, scale, size, aligned):
    h, w = 9, 13
    x = feature(3, 4, h, w, seed=int(1 / scale), dtype=dtype)
    rois = random_rois(14, 3, h / scale, w / scale, seed=int(1 / scale) + aligned, dtype=dtype)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == torch.float32 else dict(rtol=1e-12, atol=1e-12)
    for sr in (-1, 0, 1, 2, 3):
        expected = loop_roi_align(x, rois, size, scale, sr, aligned)
        torch.testing.assert_close(roi_align(x, rois, size, scale, sr, aligned), expected, **tol)


def test_roi_align_matches_loop_reference_with_many_adaptive_samples():
    x = feature(1, 2, 6, 5, seed=1, dtype=torch.float64)
    rois = torch.tensor([[0, -3.0, -4, 11, 9], [0, 0.3, 0.2, 30.7, 2.1], [0, 2, 2, 2.4, 40]], dtype=torch.float64)
    torch.testing.assert_close(roi_align(x, rois, (2, 3), 1.0, -1), loop_roi_align(x, rois, (2, 3), 1.0, -1, False))


def test_roi_align_huge_rois_on_a_constant_map():
    # thousands of samples per bin (adaptive); on a constant map each bin is c * (valid samples / all)
    x = torch.full((1, 3, 5, 7), 2.0, dtype=torch.float64)
    rois = torch.tensor([[0, -1000.0, -1000, 1000, 1000]], dtype=torch.float64)
    out = roi_align(x, rois, 2, 1.0, -1)
    pos = -1000 + (torch.arange(2000, dtype=torch.float64) + 0.5)       # 1000 samples per bin, per axis
    vy = ((pos >= -1) & (pos <= 5)).double().view(2, 1000).mean(1)
    vx = ((pos >= -1) & (pos <= 7)).double().view(2, 1000).mean(1)
    torch.testing.assert_close(out[0], (2 * vy[:, None] * vx[None, :]).expand(3, 2, 2))


def test_roi_align_chunks_and_blocks_give_the_same_answer(monkeypatch):
    x = feature(2, 5, 11, 12, seed=2)
    rois = random_rois(40, 2, 44, 48, seed=3)
    full = roi_align(x, rois, (3, 4), 0.25, -1, True)
    monkeypatch.setattr(roi_module, "_ALIGN_CHUNK", 64)                # one RoI per chunk, tiny sample blocks
    torch.testing.assert_close(roi_align(x, rois, (3, 4), 0.25, -1, True), full, rtol=1e-6, atol=1e-6)


# ----------------------------------------------------------------------------- roi_pool
@pytest.mark.parametrize("box, kwargs, expected", [
    ([0, 0, 0, 3, 3], dict(output_size=2), [[6, 8], [14, 16]]),           # quadrants of the whole map
    # corners rounded halves away from zero: 0.5 -> 1, 2.5 -> 3: rows/cols 1..3 (torch.round: 0..2, 11)
    ([0, 0.5, 0.5, 2.5, 2.5], dict(output_size=1), [[16]]),
    ([0, -0.5, -0.5, 0.4, 0.4], dict(output_size=1), [[1]]),               # -0.5 -> -1, clipped to the map
    ([0, 1, 1, 5, 5], dict(output_size=1, spatial_scale=0.5), [[16]]),     # 0.5 -> 1, 2.5 -> 3
    ([0, 0, 0, 2, 0], dict(output_size=(1, 2)), [[2, 3]]),                 # 3 wide, bins [0, 2) and [1, 3) overlap
    ([0, 2, 1, 1, 0], dict(output_size=1), [[7]]),                         # malformed: 1 x 1 at its start corner
    ([0, 10, 10, 12, 12], dict(output_size=2), [[0, 0], [0, 0]]),          # outside the map: empty bins are 0
    ([0, 0, 0, 0, 3], dict(output_size=(4, 1)), [[1], [5], [9], [13]]),    # 1 x 4 column
])
def test_roi_pool_hand_worked(box, kwargs, expected):
    out = roi_pool(arange_map(), torch.tensor([box], dtype=torch.float32), **kwargs)
    torch.testing.assert_close(out[0, 0], torch.tensor(expected, dtype=torch.float32))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("scale, size", [(1.0, (3, 3)), (0.5, (2, 5)), (0.25, (3, 2)), (1 / 16, (7, 7))])
def test_roi_pool_matches_loop_reference(dtype, scale, size):
    h, w = 10, 14
    x = feature(3, 3, h, w, seed=7, dtype=dtype)
    rois = random_rois(16, 3, h / scale, w / scale, seed=int(1 / scale), dtype=dtype)
    # corners exactly on halves after scaling exercise the rounding
    rois[:3, 1:] = torch.tensor([[0.5, 1.5, 2.5, 4.5], [-0.5, -1.5, 3.5, 5.5], [1.49, 2.51, 6.5, 7.5]], dtype=dtype) / scale
    expected, _ = loop_roi_pool(x, rois, size, scale)
    assert torch.equal(roi_pool(x, rois, size, scale), expected)


def test_roi_pool_gradient_goes_to_the_first_maximum():
    # integer values on a 0..2 scale: most bins hold several maxima
    x = torch.randint(3, (2, 3, 9, 11), generator=torch.Generator().manual_seed(0)).double().requires_grad_()
    rois = random_rois(20, 2, 9, 11, seed=5, dtype=torch.float64)
    g = torch.randn(20, 3, 3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    out = roi_pool(x, rois, (3, 4))
    (grad,) = torch.autograd.grad((out * g).sum(), x)
    expected_out, arg = loop_roi_pool(x.detach(), rois, (3, 4), 1.0)
    expected = torch.zeros(2, 3, 9 * 11, dtype=torch.float64)
    for k, (b, *_) in enumerate(rois.long().tolist()):
        for c in range(3):
            live = arg[k, c].flatten() >= 0
            expected[b, c].index_add_(0, arg[k, c].flatten()[live], g[k, c].flatten()[live])
    assert torch.equal(out.detach(), expected_out)
    torch.testing.assert_close(grad, expected.view_as(grad))


def test_roi_pool_chunks_give_the_same_answer(monkeypatch):
    x = feature(2, 5, 11, 12, seed=2)
    rois = random_rois(40, 2, 44, 48, seed=3)
    full = roi_pool(x, rois, (3, 4), 0.25)
    monkeypatch.setattr(roi_module, "_POOL_CHUNK", 64)
    assert torch.equal(roi_pool(x, rois, (3, 4), 0.25), full)


# ----------------------------------------------------------------------------- gradients
@pytest.mark.parametrize("aligned, sr", [(False, -1), (True, 2), (False, 1)])
def test_roi_align_gradcheck(aligned, sr):
    x = feature(2, 2, 5, 6, seed=3, dtype=torch.float64).requires_grad_()
    rois = torch.tensor([[0, 0.3, 0.6, 3.9, 4.2], [1, -2.0, -1, 7, 3], [1, 2, 2, 2, 2], [0, 4.5, 3.5, 9, 9]],
                        dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda t: roi_align(t, rois, (2, 3), 1.0, sr, aligned), (x,))


def test_roi_pool_gradcheck():
    # distinct values one apart: the finite differences never change a bin's maximum
    x = torch.randperm(2 * 2 * 6 * 7, generator=torch.Generator().manual_seed(0)).double().view(2, 2, 6, 7)
    rois = torch.tensor([[0, 0.3, 0.6, 3.9, 4.2], [1, -2.0, -1, 8, 3], [1, 2, 2, 2, 2], [0, 4.5, 3.5, 9, 9]],
                        dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda t: roi_pool(t, rois, (2, 3), 1.0), (x.requires_grad_(),))


def test_boxes_get_no_gradient():
    x = feature(1, 2, 5, 5, seed=0).requires_grad_()
    rois = torch.tensor([[0, 0.5, 0.5, 3.0, 4.0]], requires_grad=True)
    for op in (roi_align, roi_pool):
        op(x, rois, 2).sum().backward()
        assert rois.grad is None and x.grad is not None


# ----------------------------------------------------------------------------- box forms, modules
@pytest.mark.parametrize("op, kwargs", [(roi_align, dict(sampling_ratio=2, aligned=True)), (roi_pool, {})])
def test_list_of_boxes_equals_roi_rows(op, kwargs):
    x = feature(3, 2, 8, 8, seed=4)
    per_image = [torch.tensor([[0.0, 1, 5, 6], [2, 2, 3, 3]]), torch.zeros(0, 4), torch.tensor([[1.0, 0, 7, 4]])]
    rois = torch.tensor([[0, 0.0, 1, 5, 6], [0, 2, 2, 3, 3], [2, 1.0, 0, 7, 4]])
    assert torch.equal(convert_boxes_to_roi_format(per_image), rois)
    assert torch.equal(op(x, per_image, 3, 0.5, **kwargs), op(x, rois, 3, 0.5, **kwargs))
    assert torch.equal(op(x, tuple(per_image), 3, 0.5, **kwargs), op(x, rois, 3, 0.5, **kwargs))
    assert torch.equal(op(x, per_image[:1], 3, 0.5, **kwargs), op(x, rois[:2], 3, 0.5, **kwargs))  # fewer images


def test_modules():
    x = feature(2, 3, 8, 9, seed=5)
    rois = random_rois(6, 2, 16, 18, seed=6)
    assert torch.equal(RoIAlign((2, 3), 0.5, 2, aligned=True)(x, rois), roi_align(x, rois, (2, 3), 0.5, 2, True))
    assert torch.equal(RoIPool(3, 0.5)(x, rois), roi_pool(x, rois, 3, 0.5))
    assert repr(RoIAlign(7, 0.25, 2)) == "RoIAlign(output_size=7, spatial_scale=0.25, sampling_ratio=2, aligned=False)"
    assert repr(RoIPool((7, 5), 0.25)) == "RoIPool(output_size=(7, 5), spatial_scale=0.25)"
    with pytest.raises(ValueError, match="output_size"):
        RoIAlign(0, 1.0, 2)
    with pytest.raises(ValueError, match="spatial_scale"):
        RoIPool(7, -1.0)


# ----------------------------------------------------------------------------- dtypes, empty inputs
@pytest.mark.parametrize("op", [roi_align, roi_pool])
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_types_are_computed_in_float32(op, dtype):
    x = feature(2, 3, 7, 8, seed=8).to(dtype)
    rois = random_rois(10, 2, 14, 16, seed=9)
    out = op(x, rois.to(dtype), 3, 0.5)
    assert out.dtype == dtype
    assert torch.equal(out, op(x.float(), rois.to(dtype).float(), 3, 0.5).to(dtype))


@pytest.mark.parametrize("op", [roi_align, roi_pool])
def test_boxes_are_cast_to_the_input_dtype(op):
    x = feature(2, 3, 7, 8, seed=8)
    rois = torch.tensor([[0, 1, 2, 9, 11], [1, 0, 0, 3, 5]])
    out = op(x, rois, 2, 0.5)                                   # integer boxes
    assert out.dtype == torch.float32
    assert torch.equal(out, op(x, rois.float(), 2, 0.5))
    assert torch.equal(op(x, rois.double(), 2, 0.5), out)


@pytest.mark.parametrize("op", [roi_align, roi_pool])
@pytest.mark.parametrize("boxes", [torch.zeros(0, 5), [torch.zeros(0, 4), torch.zeros(0, 4)], []])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_empty_boxes_give_empty_output(op, boxes, dtype):
    x = feature(2, 3, 5, 6, seed=0, dtype=dtype).requires_grad_()
    out = op(x, boxes, (2, 3))
    assert out.shape == (0, 3, 2, 3) and out.dtype == dtype
    out.sum().backward()                                        # the graph still reaches the input
    assert torch.equal(x.grad, torch.zeros_like(x))


@pytest.mark.parametrize("op", [roi_align, roi_pool])
def test_no_channels_and_empty_batch(op):
    assert op(torch.zeros(2, 0, 5, 5), torch.tensor([[1.0, 0, 0, 2, 2]]), 2).shape == (1, 0, 2, 2)
    assert op(torch.zeros(0, 3, 5, 5), torch.zeros(0, 5), 2).shape == (0, 3, 2, 2)


# ----------------------------------------------------------------------------- properties
roi_rows = st.lists(st.tuples(st.integers(0, 1), st.floats(-8, 20), st.floats(-8, 20), st.floats(0, 16), st.floats(0, 16)),
                    min_size=1, max_size=12)


def rows_to_rois(rows):
    return torch.tensor([[b, x, y, x + w, y + h] for b, x, y, w, h in rows], dtype=torch.float64)


@PROPERTY
@given(rows=roi_rows, sr=st.sampled_from([-1, 1, 2]), aligned=st.booleans(), scale=st.sampled_from([1.0, 0.5]))
def test_roi_align_is_linear_and_follows_the_rois(rows, sr, aligned, scale):
    rois = rows_to_rois(rows)
    a, b = feature(2, 2, 6, 7, seed=0, dtype=torch.float64), feature(2, 2, 6, 7, seed=1, dtype=torch.float64)
    out = roi_align(a, rois, (2, 3), scale, sr, aligned)
    torch.testing.assert_close(roi_align(3 * a - b, rois, (2, 3), scale, sr, aligned),
                               3 * out - roi_align(b, rois, (2, 3), scale, sr, aligned))
    perm = torch.randperm(len(rois), generator=torch.Generator().manual_seed(len(rows)))
    torch.testing.assert_close(roi_align(a, rois[perm], (2, 3), scale, sr, aligned), out[perm])


@PROPERTY
@given(rows=roi_rows, scale=st.sampled_from([1.0, 0.5, 0.25]))
def test_roi_pool_values_come_from_the_bins(rows, scale):
    rois = rows_to_rois(rows)
    x = feature(2, 2, 6, 7, seed=0, dtype=torch.float64)
    out = roi_pool(x, rois, (2, 3), scale)
    # every output is 0 (an empty bin) or one of its image's values, and never above the maximum
    for k, b in enumerate(rois[:, 0].long().tolist()):
        vals = x[b].flatten(1)                                   # (C, H*W)
        hit = (out[k].flatten(1)[:, :, None] == vals[:, None, :]).any(2) | (out[k].flatten(1) == 0)
        assert hit.all()
    assert (roi_pool(x + 100, rois, (2, 3), scale) >= out).all()   # adding 100 lifts non-empty bins only


@PROPERTY
@given(rows=st.lists(st.tuples(st.integers(0, 1), st.floats(0, 5), st.floats(0, 4), st.floats(0, 1), st.floats(0, 1)),
                     min_size=1, max_size=8), sr=st.sampled_from([-1, 1, 3]))
def test_roi_align_of_a_constant_map_inside_is_the_constant(rows, sr):
    # RoIs within [0, W-1] x [0, H-1] (aligned=False makes them at least 1 x 1): every sample is inside
    rois = rows_to_rois(rows)
    out = roi_align(torch.full((2, 3, 6, 7), 2.5, dtype=torch.float64), rois, (2, 2), 1.0, sr)
    torch.testing.assert_close(out, torch.full_like(out, 2.5))


# ----------------------------------------------------------------------------- refused inputs
X = torch.zeros(2, 3, 5, 5)
R = torch.tensor([[0, 0.0, 0, 2, 2]])


@pytest.mark.parametrize("op", [roi_align, roi_pool])
@pytest.mark.parametrize("args, error, match", [
    (([[1.0]], R, 2), TypeError, r"input: expected a Tensor\[N, C, H, W\]"),
    ((torch.zeros(3, 5, 5), R, 2), ValueError, r"input: expected a 4-D"),
    ((torch.zeros(2, 3, 5, 5, dtype=torch.int64), R, 2), TypeError, "input: expected a floating-point"),
    ((torch.zeros(2, 3, 0, 5), R, 2), ValueError, "positive height and width"),
    ((X, torch.tensor([[0.0, 0, 2, 2]]), 2), ValueError, r"got Tensor\[K, 4\]: pass a list \[boxes\] for one image"),
    ((X, torch.zeros(3, 6), 2), ValueError, r"boxes must be Tensor\[K, 5\].*got Tensor\[3, 6\]"),
    ((X, torch.zeros(5), 2), ValueError, r"boxes must be Tensor\[K, 5\]"),
    ((X, np.zeros((1, 5)), 2), TypeError, r"boxes must be .*got ndarray"),
    ((X, [torch.zeros(1, 5)], 2), ValueError, r"boxes\[0\] is Tensor\[1, 5\]"),
    ((X, [torch.zeros(1, 4), "box"], 2), TypeError, "boxes must be"),
    ((X, [torch.zeros(1, 4)] * 3, 2), ValueError, "a list of 3 Tensor.*batch of 2 images"),
    ((X, torch.tensor([[0, 0, 0, 1, 1]], dtype=torch.bool), 2), TypeError, "boxes: expected real coordinates"),
    ((X, torch.tensor([[0, 0, float("nan"), 1, 1]]), 2), ValueError, "boxes: coordinates must be finite; RoI 0"),
    ((X, torch.tensor([[0, 0, 0, 1, 1], [0, 0, 0, float("inf"), 1]]), 2), ValueError, "finite; RoI 1"),
    ((X, torch.tensor([[0.5, 0, 0, 1, 1]]), 2), ValueError, r"batch index \(column 0\) must be an integer in \[0, 2\)"),
    ((X, torch.tensor([[2.0, 0, 0, 1, 1]]), 2), ValueError, "RoI 0 has 2.0"),
    ((X, torch.tensor([[-1.0, 0, 0, 1, 1]]), 2), ValueError, "batch index"),
    ((X, R.to("meta"), 2), ValueError, "boxes: on meta, but input is on cpu"),
    ((X, R, 0), ValueError, "output_size: expected positive sizes"),
    ((X, R, (2, -1)), ValueError, "output_size: expected positive sizes"),
    ((X, R, (2,)), TypeError, r"output_size: expected an int or a pair of ints"),
    ((X, R, 2.0), TypeError, "output_size"),
    ((X, R, True), TypeError, "output_size"),
    ((X, R, 2, 0.0), ValueError, "spatial_scale: expected a finite number > 0"),
    ((X, R, 2, float("inf")), ValueError, "spatial_scale"),
    ((X, R, 2, float("nan")), ValueError, "spatial_scale"),
    ((X, R, 2, "1/16"), TypeError, "spatial_scale"),
])
def test_refuses_bad_input(op, args, error, match):
    with pytest.raises(error, match=match):
        op(*args)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(sampling_ratio=2.0), TypeError, "sampling_ratio: expected an int"),
    (dict(sampling_ratio=True), TypeError, "sampling_ratio"),
    (dict(aligned=1), TypeError, "aligned: expected a bool"),
])
def test_roi_align_refuses_bad_options(kwargs, error, match):
    with pytest.raises(error, match=match):
        roi_align(X, R, 2, **kwargs)
