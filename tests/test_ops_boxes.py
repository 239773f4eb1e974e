"""Box geometry (`cvcourse.ops.boxes`): format conversion, area, clipping and small-box removal, checked
against hand-worked values, a plain-Python loop reference, round trips, gradients, dtypes, empty inputs
and every refused input."""
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.autograd import gradcheck

from cvcourse.ops import box_area, box_convert, clip_boxes_to_image, remove_small_boxes

PROPERTY = settings(max_examples=100, deadline=None)
FORMATS = ["xyxy", "xywh", "cxcywh"]


def _t(*rows, dtype=torch.float64):
    return torch.tensor(rows, dtype=dtype)


def _random_boxes(n, seed, dtype=torch.float64, degenerate=True):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g, dtype=dtype) * 20 - 10
    wh = torch.rand(n, 2, generator=g, dtype=dtype) * 8 + (0 if degenerate else 0.5)
    if degenerate:
        wh[: n // 4, 0] = 0                                     # some zero-width boxes
    return torch.cat([xy, xy + wh], dim=1)


# ----------------------------------------------------------------------------- box_convert
# one box, [1, 2] to [4, 8], in every format: width 3, height 6, centre (2.5, 5)
ONE_BOX = {"xyxy": [1, 2, 4, 8], "xywh": [1, 2, 3, 6], "cxcywh": [2.5, 5, 3, 6]}


@pytest.mark.parametrize("in_fmt", FORMATS)
@pytest.mark.parametrize("out_fmt", FORMATS)
def test_box_convert_golden(in_fmt, out_fmt):
    out = box_convert(_t(ONE_BOX[in_fmt]), in_fmt, out_fmt)
    torch.testing.assert_close(out, _t(ONE_BOX[out_fmt]), rtol=0, atol=0)


def _ref_convert(box, in_fmt, out_fmt):
    if in_fmt == "xyxy":
        x1, y1, x2, y2 = box
    elif in_fmt == "xywh":
        x1, y1, x2, y2 = box[0], box[1], box[0] + box[2], box[1] + box[3]
    else:
        x1, y1 = box[0] - box[2] / 2, box[1] - box[3] / 2
        x2, y2 = box[0] + box[2] / 2, box[1] + box[3] / 2
    if out_fmt == "xyxy":
        return [x1, y1, x2, y2]
    if out_fmt == "xywh":
        return [x1, y1, x2 - x1, y2 - y1]
    return [(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1]


@pytest.mark.parametrize("in_fmt", FORMATS)
@pytest.mark.parametrize("out_fmt", FORMATS)
def test_box_convert_matches_loop_reference(in_fmt, out_fmt):
    boxes = box_convert(_random_boxes(20, 0), "xyxy", in_fmt)
    expected = _t(*[_ref_convert(b, in_fmt, out_fmt) for b in boxes.tolist()])
    torch.testing.assert_close(box_convert(boxes, in_fmt, out_fmt), expected, rtol=1e-12, atol=1e-12)


_coord = st.floats(-1000, 1000, allow_nan=False, allow_subnormal=False)
_side = st.one_of(st.just(0.0), st.floats(0, 500, allow_nan=False, allow_subnormal=False))
_xyxy = st.lists(st.tuples(_coord, _coord, _side, _side), min_size=0, max_size=8).map(
    lambda rows: torch.tensor([[x, y, x + w, y + h] for x, y, w, h in rows], dtype=torch.float64).reshape(-1, 4))


@PROPERTY
@given(_xyxy, st.sampled_from(FORMATS), st.sampled_from(FORMATS))
def test_box_convert_round_trips(boxes, fmt_a, fmt_b):
    there = box_convert(box_convert(boxes, "xyxy", fmt_a), fmt_a, fmt_b)
    back = box_convert(box_convert(there, fmt_b, fmt_a), fmt_a, "xyxy")
    torch.testing.assert_close(back, boxes, rtol=0, atol=1e-9)
    torch.testing.assert_close(box_area(box_convert(there, fmt_b, "xyxy")), box_area(boxes), rtol=1e-9, atol=1e-9)


def test_box_convert_returns_a_new_tensor():
    boxes = _random_boxes(3, 1)
    out = box_convert(boxes, "xyxy", "xyxy")
    assert out is not boxes and torch.equal(out, boxes)
    out[0, 0] = 100.0
    assert boxes[0, 0] != 100.0


@pytest.mark.parametrize("in_fmt, out_fmt", [("xyxy", "cxcywh"), ("cxcywh", "xywh"), ("xywh", "xyxy")])
def test_box_convert_gradcheck(in_fmt, out_fmt):
    boxes = box_convert(_random_boxes(4, 2, degenerate=False), "xyxy", in_fmt).requires_grad_()
    assert gradcheck(lambda b: box_convert(b, in_fmt, out_fmt), (boxes,))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_box_convert_dtypes(dtype):
    boxes = _t(ONE_BOX["xyxy"], [100, 200, 300, 250], dtype=dtype)
    out = box_convert(boxes, "xyxy", "cxcywh")
    assert out.dtype == dtype
    torch.testing.assert_close(out, _t(ONE_BOX["cxcywh"], [200, 225, 200, 50], dtype=dtype))


def test_box_convert_integer_boxes_give_float32():
    out = box_convert(torch.tensor([[1, 2, 4, 7]]), "xyxy", "cxcywh")
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, torch.tensor([[2.5, 4.5, 3.0, 5.0]]))


@pytest.mark.parametrize("in_fmt", FORMATS)
@pytest.mark.parametrize("out_fmt", FORMATS)
def test_box_convert_empty(in_fmt, out_fmt):
    out = box_convert(torch.zeros(0, 4, dtype=torch.float16), in_fmt, out_fmt)
    assert out.shape == (0, 4) and out.dtype == torch.float16


@pytest.mark.parametrize("kwargs, match", [
    ({"in_fmt": "xyxyr", "out_fmt": "xyxy"}, "in_fmt: unknown box format 'xyxyr'; expected one of xyxy, xywh, cxcywh"),
    ({"in_fmt": "xyxy", "out_fmt": "XYWH"}, "out_fmt: unknown box format 'XYWH'"),
    ({"in_fmt": None, "out_fmt": "xyxy"}, "in_fmt: unknown box format None"),
])
def test_box_convert_refuses_unknown_formats(kwargs, match):
    with pytest.raises(ValueError, match=match):
        box_convert(_t([0, 0, 1, 1]), **kwargs)


@pytest.mark.parametrize("fmt, box, match", [
    ("xyxy", [2, 0, 1, 1], r"boxes: expected x2 >= x1 and y2 >= y1 \(xyxy\); row 0"),
    ("xywh", [0, 0, -1, 1], r"boxes: expected w >= 0 and h >= 0 \(xywh\); row 0"),
    ("cxcywh", [0, 0, 1, -1], r"boxes: expected w >= 0 and h >= 0 \(cxcywh\); row 0"),
])
def test_box_convert_refuses_negative_sizes(fmt, box, match):
    with pytest.raises(ValueError, match=match):
        box_convert(_t(box), fmt, "xyxy")


# ----------------------------------------------------------------------------- box_area
def test_box_area_golden():
    boxes = _t([0, 0, 2, 3], [1, 1, 1, 5], [-2, -2, 2, 2], [0.5, 0, 1, 0.5])
    torch.testing.assert_close(box_area(boxes), _t(6, 0, 16, 0.25).flatten())


def test_box_area_matches_loop_reference():
    boxes = _random_boxes(30, 3)
    expected = _t(*[(b[2] - b[0]) * (b[3] - b[1]) for b in boxes.tolist()]).flatten()
    torch.testing.assert_close(box_area(boxes), expected, rtol=1e-12, atol=0)


def test_box_area_gradcheck():
    assert gradcheck(box_area, (_random_boxes(5, 4, degenerate=False).requires_grad_(),))


@pytest.mark.parametrize("dtype, expected", [
    (torch.float16, torch.float32), (torch.bfloat16, torch.float32),  # 300 x 300 = 90000 > float16's max
    (torch.float32, torch.float32), (torch.float64, torch.float64), (torch.int64, torch.float32),
    (torch.int16, torch.float32),
])
def test_box_area_dtypes(dtype, expected):
    out = box_area(torch.tensor([[0, 0, 300, 300], [10, 10, 12, 13]]).to(dtype))
    assert out.dtype == expected
    torch.testing.assert_close(out, torch.tensor([90000.0, 6.0], dtype=expected))


def test_box_area_empty():
    out = box_area(torch.zeros(0, 4, dtype=torch.float64))
    assert out.shape == (0,) and out.dtype == torch.float64


# ----------------------------------------------------------------------------- clip_boxes_to_image
def test_clip_boxes_to_image_golden():
    # an image 10 high and 20 wide: x in [0, 20], y in [0, 10]
    boxes = _t([-5, -5, 5, 5], [15, 5, 25, 15], [2, 3, 4, 5], [30, 30, 40, 40], [-3, 2, -1, 4])
    expected = _t([0, 0, 5, 5], [15, 5, 20, 10], [2, 3, 4, 5], [20, 10, 20, 10], [0, 2, 0, 4])
    torch.testing.assert_close(clip_boxes_to_image(boxes, (10, 20)), expected, rtol=0, atol=0)


def test_clip_boxes_to_image_matches_loop_reference():
    boxes, (h, w) = _random_boxes(30, 5) * 3, (7, 11)
    expected = _t(*[[min(max(b[0], 0), w), min(max(b[1], 0), h), min(max(b[2], 0), w), min(max(b[3], 0), h)]
                    for b in boxes.tolist()])
    torch.testing.assert_close(clip_boxes_to_image(boxes, [h, w]), expected, rtol=0, atol=0)


def test_clip_boxes_to_image_gradcheck():
    boxes = _random_boxes(5, 6, degenerate=False).requires_grad_()  # in [-10, 18.5]: some clipped
    assert gradcheck(lambda b: clip_boxes_to_image(b, (9.5, 13.5)), (boxes,))


@PROPERTY
@given(_xyxy, st.integers(0, 500), st.integers(0, 500))
def test_clip_boxes_to_image_properties(boxes, height, width):
    out = clip_boxes_to_image(boxes, (height, width))
    assert out.shape == boxes.shape
    assert ((out[:, 0::2] >= 0) & (out[:, 0::2] <= width)).all()
    assert ((out[:, 1::2] >= 0) & (out[:, 1::2] <= height)).all()
    assert (out[:, 2:] >= out[:, :2]).all()                   # still valid xyxy boxes
    assert torch.equal(clip_boxes_to_image(out, (height, width)), out)  # idempotent


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_clip_boxes_to_image_dtypes(dtype):
    out = clip_boxes_to_image(_t([-1, -1, 300, 50], dtype=dtype), (40, 200))
    assert out.dtype == dtype
    torch.testing.assert_close(out, _t([0, 0, 200, 40], dtype=dtype))


def test_clip_boxes_to_image_integer_boxes_and_empty():
    out = clip_boxes_to_image(torch.tensor([[-1, 2, 30, 4]]), (10, 20))
    assert out.dtype == torch.float32 and out.tolist() == [[0.0, 2.0, 20.0, 4.0]]
    empty = clip_boxes_to_image(torch.zeros(0, 4, dtype=torch.float64), (10, 20))
    assert empty.shape == (0, 4) and empty.dtype == torch.float64


@pytest.mark.parametrize("size, error, match", [
    (10, TypeError, r"size: expected \(height, width\), got 10"),
    ((10,), TypeError, r"size: expected \(height, width\), got \(10,\)"),
    ((10, 20, 3), TypeError, r"size: expected \(height, width\)"),
    ("ab", TypeError, r"size: expected \(height, width\)"),
    ((-1, 20), ValueError, r"size\[0\] \(height\): expected a finite number >= 0, got -1"),
    ((10, float("nan")), ValueError, r"size\[1\] \(width\): expected a finite number >= 0, got nan"),
    ((10, float("inf")), ValueError, r"size\[1\] \(width\)"),
    ((True, 20), TypeError, r"size\[0\] \(height\): expected a finite number >= 0, got bool"),
    (("10", 20), TypeError, r"size\[0\] \(height\).* got str"),
])
def test_clip_boxes_to_image_refuses_bad_size(size, error, match):
    with pytest.raises(error, match=match):
        clip_boxes_to_image(_t([0, 0, 1, 1]), size)


# ----------------------------------------------------------------------------- remove_small_boxes
def test_remove_small_boxes_golden():
    boxes = _t([0, 0, 2, 2], [0, 0, 1, 3], [0, 0, 3, 1], [5, 5, 5, 5], [0, 0, 1.5, 1.5], [0, 0, 1, 1])
    keep = remove_small_boxes(boxes, 1.5)
    assert keep.dtype == torch.int64 and keep.tolist() == [0, 4]  # both sides >= 1.5 (equality kept)
    assert remove_small_boxes(boxes, 0).tolist() == [0, 1, 2, 3, 4, 5]
    assert remove_small_boxes(boxes, 1).tolist() == [0, 1, 2, 4, 5]


def test_remove_small_boxes_matches_loop_reference():
    boxes = _random_boxes(40, 7)
    expected = [i for i, b in enumerate(boxes.tolist()) if b[2] - b[0] >= 3 and b[3] - b[1] >= 3]
    assert remove_small_boxes(boxes, 3.0).tolist() == expected


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.int32])
def test_remove_small_boxes_dtypes(dtype):
    boxes = torch.tensor([[0, 0, 4, 4], [0, 0, 1, 8], [2, 2, 10, 6]]).to(dtype)
    keep = remove_small_boxes(boxes, 2)
    assert keep.dtype == torch.int64 and keep.tolist() == [0, 2]


def test_remove_small_boxes_empty():
    keep = remove_small_boxes(torch.zeros(0, 4), 1.0)
    assert keep.shape == (0,) and keep.dtype == torch.int64


@pytest.mark.parametrize("min_size, error, match", [
    (-1, ValueError, "min_size: expected a finite number >= 0, got -1"),
    (float("nan"), ValueError, "min_size: expected a finite number >= 0, got nan"),
    (float("inf"), ValueError, "min_size: expected a finite number >= 0, got inf"),
    ("1", TypeError, "min_size: expected a finite number >= 0, got str"),
    (None, TypeError, "min_size: .* got NoneType"),
    (True, TypeError, "min_size: .* got bool"),
])
def test_remove_small_boxes_refuses_bad_min_size(min_size, error, match):
    with pytest.raises(error, match=match):
        remove_small_boxes(_t([0, 0, 1, 1]), min_size)


# ----------------------------------------------------------------------------- refused boxes
_CALLS = {
    "box_convert": lambda b: box_convert(b, "xyxy", "xywh"),
    "box_area": box_area,
    "clip_boxes_to_image": lambda b: clip_boxes_to_image(b, (10, 10)),
    "remove_small_boxes": lambda b: remove_small_boxes(b, 1.0),
}


@pytest.mark.parametrize("op", sorted(_CALLS))
@pytest.mark.parametrize("bad, error, match", [
    ([[0, 0, 1, 1]], TypeError, r"boxes: expected a Tensor\[N, 4\], got list"),
    (torch.zeros(3, 3), ValueError, r"boxes: expected Tensor\[N, 4\] \(xyxy\), got Tensor\[3, 3\]"),
    (torch.zeros(4), ValueError, r"boxes: expected Tensor\[N, 4\] \(xyxy\), got Tensor\[4\]"),
    (torch.zeros(2, 4, dtype=torch.bool), TypeError, "boxes: expected real coordinates, got dtype torch.bool"),
    (torch.tensor([[0, 0, 1, 1], [0, 0, float("nan"), 1]]), ValueError, "boxes: coordinates must be finite; row 1"),
    (torch.tensor([[0, 0, float("inf"), 1]]), ValueError, "boxes: coordinates must be finite; row 0"),
    (torch.tensor([[3.0, 0, 1, 1]]), ValueError, r"boxes: expected x2 >= x1 and y2 >= y1 \(xyxy\); row 0"),
    (torch.tensor([[0, 3.0, 1, 1]]), ValueError, r"boxes: expected x2 >= x1 and y2 >= y1 \(xyxy\); row 0"),
])
def test_refuses_bad_boxes(op, bad, error, match):
    with pytest.raises(error, match=match):
        _CALLS[op](bad)
