"""Pairwise IoU, GIoU, DIoU and CIoU (`cvcourse.ops.iou`): hand-worked values, a plain-Python loop
reference on random boxes (degenerate ones included), gradients, properties, dtypes, empty inputs and
every refused input."""
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.autograd import gradcheck
from torch.autograd.functional import jacobian

from cvcourse.ops import box_iou, complete_box_iou, distance_box_iou, generalized_box_iou

PROPERTY = settings(max_examples=60, deadline=None)
PAIRWISE = [box_iou, generalized_box_iou, distance_box_iou, complete_box_iou]


# ----------------------------------------------------------------------------- slow reference
def _area(a):
    return (a[2] - a[0]) * (a[3] - a[1])


def _ref_iou(a, b):
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = _area(a) + _area(b) - iw * ih
    return iw * ih / union if union > 0 else 0.0


def _enclosing(a, b):
    return max(a[2], b[2]) - min(a[0], b[0]), max(a[3], b[3]) - min(a[1], b[1])


def _ref_giou(a, b, eps=0.0):
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = _area(a) + _area(b) - iw * ih
    cw, ch = _enclosing(a, b)
    c = cw * ch
    return _ref_iou(a, b) - ((c - union) / (c + eps) if c + eps > 0 else 0.0)


def _ref_diou(a, b, eps=1e-7):
    rho2 = ((a[0] + a[2]) / 2 - (b[0] + b[2]) / 2) ** 2 + ((a[1] + a[3]) / 2 - (b[1] + b[3]) / 2) ** 2
    cw, ch = _enclosing(a, b)
    c2 = cw * cw + ch * ch
    return _ref_iou(a, b) - (rho2 / (c2 + eps) if c2 + eps > 0 else 0.0)


def _ref_ciou(a, b, eps=1e-7):
    def angle(box):  # None for a point: it has no aspect ratio
        w, h = box[2] - box[0], box[3] - box[1]
        return None if w == h == 0 else math.atan2(w, h)

    ta, tb = angle(a), angle(b)
    v = 0.0 if ta is None or tb is None else 4 / math.pi**2 * (ta - tb) ** 2
    den = 1 - _ref_iou(a, b) + v + eps
    alpha = v / den if den > 0 else 0.0
    return _ref_diou(a, b, eps) - alpha * v


def _loop(ref, boxes1, boxes2, **kw):
    out = torch.zeros(len(boxes1), len(boxes2), dtype=torch.float64)
    for i, a in enumerate(boxes1.tolist()):
        for j, b in enumerate(boxes2.tolist()):
            out[i, j] = ref(a, b, **kw)
    return out


def _random_boxes(n, seed, dtype=torch.float64):
    """Half on an integer grid (touching, identical, nested and zero-width/height boxes happen), half
    continuous."""
    g = torch.Generator().manual_seed(seed)
    xy = torch.randint(-4, 5, (n, 2), generator=g).to(dtype)
    wh = torch.randint(0, 5, (n, 2), generator=g).to(dtype)
    cont = torch.rand(n, 1, generator=g) < 0.5
    xy = torch.where(cont, torch.rand(n, 2, generator=g, dtype=dtype) * 8 - 4, xy)
    wh = torch.where(cont, torch.rand(n, 2, generator=g, dtype=dtype) * 4, wh)
    return torch.cat([xy, xy + wh], dim=1)


def _smooth_boxes(n, seed):
    """Positive-size boxes in general position (no ties between coordinates): every op is smooth there."""
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g, dtype=torch.float64) * 4
    return torch.cat([xy, xy + 0.5 + torch.rand(n, 2, generator=g, dtype=torch.float64) * 3], dim=1)


# ----------------------------------------------------------------------------- golden values
def _t(*rows):
    return torch.tensor(rows, dtype=torch.float64)


@pytest.mark.parametrize("a, b, expected", [
    ([0, 0, 2, 2], [1, 1, 3, 3], 1 / 7),         # overlap 1, union 4 + 4 - 1
    ([0, 0, 2, 2], [0, 0, 2, 2], 1.0),
    ([0, 0, 4, 4], [1, 1, 3, 3], 0.25),          # nested: 4 / 16
    ([0, 0, 1, 1], [1, 0, 2, 1], 0.0),           # touching edges
    ([0, 0, 1, 1], [5, 5, 6, 6], 0.0),
    ([0, 0, 0, 2], [0, 0, 2, 2], 0.0),           # zero-width box
    ([1, 1, 1, 1], [1, 1, 1, 1], 0.0),           # two identical points: union 0 -> 0, not NaN
])
def test_box_iou_golden(a, b, expected):
    assert box_iou(_t(a), _t(b)).item() == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("a, b, expected", [
    ([0, 0, 2, 2], [1, 1, 3, 3], 1 / 7 - 2 / 9),  # C = 3x3 = 9, U = 7
    ([0, 0, 1, 1], [2, 0, 3, 1], -1 / 3),        # disjoint: C = 3, U = 2
    ([0, 0, 1, 1], [1, 0, 2, 1], 0.0),           # touching: C = U
    ([0, 0, 0, 0], [3, 4, 3, 4], -1.0),          # two points: U = 0, C = 12
    ([0, 0, 2, 0], [1, 0, 3, 0], 0.0),           # two segments on one line: C = 0 -> penalty 0
    ([1, 1, 1, 1], [1, 1, 1, 1], 0.0),
])
def test_generalized_box_iou_golden(a, b, expected):
    assert generalized_box_iou(_t(a), _t(b)).item() == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("a, b, expected", [
    ([0, 0, 2, 2], [1, 1, 3, 3], 1 / 7 - 2 / 18),  # centres (1, 1), (2, 2): rho^2 = 2; c^2 = 3^2 + 3^2
    ([0, 0, 1, 1], [2, 0, 3, 1], -0.4),          # rho^2 = 4, c^2 = 9 + 1
    ([0, 0, 4, 4], [1, 1, 3, 3], 0.25),          # same centre: DIoU = IoU
    ([0, 0, 0, 0], [3, 4, 3, 4], -1.0),          # rho = c = 5
    ([1, 1, 1, 1], [1, 1, 1, 1], 0.0),           # c = 0 and rho = 0: penalty 0
])
def test_distance_box_iou_golden(a, b, expected):
    assert distance_box_iou(_t(a), _t(b), eps=0).item() == pytest.approx(expected, abs=1e-12)


def test_complete_box_iou_golden():
    # [0,0,2,2] vs [0,0,4,2]: IoU = 4/8, centres (1,1) and (2,1): rho^2 = 1, c^2 = 4^2 + 2^2 = 20,
    # v = 4/pi^2 (atan(2/2) - atan(4/2))^2, alpha = v / (1 - 1/2 + v)
    v = 4 / math.pi**2 * (math.pi / 4 - math.atan(2)) ** 2
    expected = 0.5 - 1 / 20 - v / (0.5 + v) * v
    assert expected == pytest.approx(0.446752, abs=1e-6)
    assert complete_box_iou(_t([0, 0, 2, 2]), _t([0, 0, 4, 2]), eps=0).item() == pytest.approx(expected, abs=1e-12)
    # same aspect ratio: v = 0, CIoU = DIoU
    a, b = _t([0, 0, 2, 2]), _t([1, 1, 3, 3])
    assert complete_box_iou(a, b).item() == pytest.approx(distance_box_iou(a, b).item(), abs=1e-15)


def test_pairwise_layout_is_rows_of_boxes1_by_columns_of_boxes2():
    boxes1 = _t([0, 0, 2, 2], [10, 10, 11, 11])
    boxes2 = _t([1, 1, 3, 3], [0, 0, 2, 2], [10, 10, 11, 11])
    expected = torch.tensor([[1 / 7, 1, 0], [0, 0, 1]], dtype=torch.float64)
    torch.testing.assert_close(box_iou(boxes1, boxes2), expected)


# ----------------------------------------------------------------------------- loop reference
@pytest.mark.parametrize("fn, ref, kw", [
    (box_iou, _ref_iou, {}),
    (generalized_box_iou, _ref_giou, {}),
    (distance_box_iou, _ref_diou, {}),
    (distance_box_iou, _ref_diou, {"eps": 0.0}),
    (complete_box_iou, _ref_ciou, {}),
    (complete_box_iou, _ref_ciou, {"eps": 0.0}),
])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_loop_reference(fn, ref, kw, seed):
    boxes1, boxes2 = _random_boxes(23, seed), _random_boxes(17, seed + 100)
    boxes2[:5] = boxes1[:5]                                   # identical pairs, degenerate ones included
    out = fn(boxes1, boxes2, **kw)
    assert out.shape == (23, 17) and out.dtype == torch.float64
    torch.testing.assert_close(out, _loop(ref, boxes1, boxes2, **kw), rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------------------- gradients
@pytest.mark.parametrize("fn", [box_iou, generalized_box_iou, distance_box_iou])
def test_gradcheck(fn):
    boxes1, boxes2 = _smooth_boxes(4, 0), _smooth_boxes(3, 1)
    assert gradcheck(fn, (boxes1.requires_grad_(), boxes2.requires_grad_()))


def _aspect_term(boxes1, boxes2):
    w1, h1 = boxes1[:, 2] - boxes1[:, 0], boxes1[:, 3] - boxes1[:, 1]
    w2, h2 = boxes2[:, 2] - boxes2[:, 0], boxes2[:, 3] - boxes2[:, 1]
    return 4 / math.pi**2 * (torch.atan(w1 / h1)[:, None] - torch.atan(w2 / h2)[None, :]) ** 2


def test_complete_box_iou_gradient_holds_alpha_constant():
    """CIoU's gradient is that of DIoU - alpha v with alpha frozen at the current boxes (Zheng et al.)."""
    boxes1, boxes2 = _smooth_boxes(4, 2), _smooth_boxes(3, 3)
    with torch.no_grad():
        v = _aspect_term(boxes1, boxes2)
        alpha = v / (1 - box_iou(boxes1, boxes2) + v + 1e-7)

    def frozen(b1, b2):
        return distance_box_iou(b1, b2) - alpha * _aspect_term(b1, b2)

    assert gradcheck(frozen, (boxes1.clone().requires_grad_(), boxes2.clone().requires_grad_()))
    torch.testing.assert_close(complete_box_iou(boxes1, boxes2), frozen(boxes1, boxes2))
    for got, want in zip(jacobian(complete_box_iou, (boxes1, boxes2)), jacobian(frozen, (boxes1, boxes2)),
                         strict=True):
        torch.testing.assert_close(got, want)


@pytest.mark.parametrize("fn", PAIRWISE)
def test_degenerate_boxes_give_finite_gradients(fn):
    boxes = _t([0, 0, 0, 0], [1, 1, 1, 1], [0, 0, 2, 0], [0, 0, 0, 3], [0, 0, 2, 2]).requires_grad_()
    out = fn(boxes, boxes.detach().clone())
    out.sum().backward()
    assert torch.isfinite(out).all() and torch.isfinite(boxes.grad).all()


# ----------------------------------------------------------------------------- properties
_coord = st.floats(-100, 100, allow_nan=False, allow_subnormal=False)
_side = st.one_of(st.just(0.0), st.floats(0, 50, allow_nan=False, allow_subnormal=False))
_box = st.tuples(_coord, _coord, _side, _side).map(lambda t: [t[0], t[1], t[0] + t[2], t[1] + t[3]])
_boxes = st.lists(_box, min_size=1, max_size=6).map(lambda rows: torch.tensor(rows, dtype=torch.float64))


@PROPERTY
@given(_boxes, _boxes)
def test_properties(boxes1, boxes2):
    iou, giou = box_iou(boxes1, boxes2), generalized_box_iou(boxes1, boxes2)
    diou, ciou = distance_box_iou(boxes1, boxes2), complete_box_iou(boxes1, boxes2)
    for out in (iou, giou, diou, ciou):
        assert torch.isfinite(out).all()
    for fn, out in zip(PAIRWISE, (iou, giou, diou, ciou), strict=True):
        assert torch.equal(out, fn(boxes2, boxes1).T)          # symmetric
    assert ((iou >= 0) & (iou <= 1)).all()
    assert ((giou >= -1) & (giou <= iou)).all()
    assert ((diou >= -1) & (diou <= iou)).all()
    assert (ciou <= diou).all()


@PROPERTY
@given(_boxes)
def test_a_box_overlaps_itself_fully(boxes):
    iou = box_iou(boxes, boxes).diagonal()
    positive = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1]) & ((boxes[:, 2:] - boxes[:, :2]).prod(1) > 0)
    assert (iou[positive] == 1).all() and (iou[~positive] == 0).all()
    for fn in (generalized_box_iou, distance_box_iou, complete_box_iou):
        torch.testing.assert_close(fn(boxes, boxes).diagonal(), iou)


@pytest.mark.parametrize("fn", PAIRWISE)
def test_invariant_to_translation_and_scale(fn):
    boxes1, boxes2 = _random_boxes(8, 5), _random_boxes(6, 6)
    shift = torch.tensor([3.0, -7.0, 3.0, -7.0], dtype=torch.float64)
    moved1, moved2 = (boxes1 + shift) * 2.5, (boxes2 + shift) * 2.5
    torch.testing.assert_close(fn(moved1, moved2), fn(boxes1, boxes2), rtol=0, atol=1e-7)  # eps: ~1e-8


# ----------------------------------------------------------------------------- dtypes
@pytest.mark.parametrize("fn", PAIRWISE)
@pytest.mark.parametrize("dtype, atol", [
    (torch.float16, 2e-3), (torch.bfloat16, 1e-2), (torch.float32, 1e-6), (torch.float64, 0.0),
])
def test_dtypes(fn, dtype, atol):
    boxes1, boxes2 = _random_boxes(9, 7).to(dtype), _random_boxes(7, 8).to(dtype)
    out = fn(boxes1, boxes2)
    assert out.dtype == dtype
    # the reference sees the same (rounded) coordinates: only the arithmetic and the final cast differ
    expected = fn(boxes1.double(), boxes2.double())
    torch.testing.assert_close(out.double(), expected, rtol=0, atol=atol)


def test_half_precision_is_computed_in_float32():
    boxes = torch.tensor([[0, 0, 300, 300], [150, 0, 450, 300]], dtype=torch.float16)  # areas overflow fp16
    assert box_iou(boxes, boxes)[0, 1].item() == pytest.approx(1 / 3, abs=1e-3)


@pytest.mark.parametrize("fn", PAIRWISE)
def test_integer_boxes_give_float32(fn):
    boxes1, boxes2 = torch.tensor([[0, 0, 2, 2], [1, 0, 4, 3]]), torch.tensor([[1, 1, 3, 3]], dtype=torch.int32)
    out = fn(boxes1, boxes2)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, fn(boxes1.float(), boxes2.float()))


def test_mixed_dtypes_promote():
    assert box_iou(_random_boxes(2, 0).float(), _random_boxes(3, 1)).dtype == torch.float64
    assert box_iou(_random_boxes(2, 0).half(), _random_boxes(3, 1).float()).dtype == torch.float32


# ----------------------------------------------------------------------------- empty inputs
@pytest.mark.parametrize("fn", PAIRWISE)
@pytest.mark.parametrize("n, m", [(0, 3), (3, 0), (0, 0)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_empty_inputs(fn, n, m, dtype):
    out = fn(_random_boxes(n, 0).to(dtype), _random_boxes(m, 1).to(dtype))
    assert out.shape == (n, m) and out.dtype == dtype


# ----------------------------------------------------------------------------- refused inputs
_GOOD = torch.tensor([[0.0, 0.0, 1.0, 1.0]])


@pytest.mark.parametrize("fn", PAIRWISE)
@pytest.mark.parametrize("which", ["boxes1", "boxes2"])
@pytest.mark.parametrize("bad, error, match", [
    ([[0, 0, 1, 1]], TypeError, r"expected a Tensor\[N, 4\], got list"),
    (torch.zeros(2, 3), ValueError, r"expected Tensor\[N, 4\] \(xyxy\), got Tensor\[2, 3\]"),
    (torch.zeros(4), ValueError, r"expected Tensor\[N, 4\] \(xyxy\), got Tensor\[4\]"),
    (torch.zeros(1, 2, 4), ValueError, r"got Tensor\[1, 2, 4\]"),
    (torch.zeros(1, 4, dtype=torch.bool), TypeError, "expected real coordinates"),
    (torch.tensor([[0, 0, 1, float("nan")]]), ValueError, "must be finite; row 0"),
    (torch.tensor([[0, 0, 1, 1], [0, float("inf"), 1, 1]]), ValueError, "must be finite; row 1"),
    (torch.tensor([[2.0, 0, 1, 1]]), ValueError, r"x2 >= x1 and y2 >= y1"),
    (torch.tensor([[0, 0, 1, 1], [0, 2.0, 1, 1]]), ValueError, r"row 1 is \[0.0, 2.0, 1.0, 1.0\]"),
])
def test_refuses_bad_boxes(fn, which, bad, error, match):
    args = (bad, _GOOD) if which == "boxes1" else (_GOOD, bad)
    with pytest.raises(error, match=f"^{which}: .*{match}"):
        fn(*args)


@pytest.mark.parametrize("fn", [distance_box_iou, complete_box_iou])
@pytest.mark.parametrize("eps, error", [
    (-1e-7, ValueError), (float("nan"), ValueError), (float("inf"), ValueError), ("1e-7", TypeError),
    (True, TypeError), (None, TypeError),
])
def test_refuses_bad_eps(fn, eps, error):
    with pytest.raises(error, match="eps: expected a finite number >= 0"):
        fn(_GOOD, _GOOD, eps=eps)
