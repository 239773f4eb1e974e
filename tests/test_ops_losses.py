"""GIoU, DIoU and CIoU losses (`cvcourse.ops.losses`): hand-worked values, a plain-Python loop reference,
agreement with the pairwise functions, gradients, reductions, dtypes, empty inputs and refused inputs."""
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.autograd import gradcheck
from torch.autograd.functional import jacobian

from cvcourse.ops import (
    box_iou,
    complete_box_iou,
    complete_box_iou_loss,
    distance_box_iou,
    distance_box_iou_loss,
    generalized_box_iou,
    generalized_box_iou_loss,
)

PROPERTY = settings(max_examples=60, deadline=None)
LOSSES = [generalized_box_iou_loss, distance_box_iou_loss, complete_box_iou_loss]
PAIRWISE = {generalized_box_iou_loss: generalized_box_iou, distance_box_iou_loss: distance_box_iou,
            complete_box_iou_loss: complete_box_iou}


def _t(*rows):
    return torch.tensor(rows, dtype=torch.float64)


# the four pairs of the GIoU paper-style example, each against the unit box [0, 0, 1, 1]
BOXES1 = _t([-1, -1, 1, 1], [0, 0, 1, 1], [0, 1, 1, 2], [1, 1, 2, 2])
BOXES2 = _t([0, 0, 1, 1], [0, 0, 1, 1], [0, 0, 1, 1], [0, 0, 1, 1])


# ----------------------------------------------------------------------------- slow reference
def _ref_parts(a, b):
    """IoU, enclosing area, union, rho^2 and c^2 of one pair, in plain floats."""
    area = lambda r: (r[2] - r[0]) * (r[3] - r[1])  # noqa: E731
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = area(a) + area(b) - iw * ih
    cw, ch = max(a[2], b[2]) - min(a[0], b[0]), max(a[3], b[3]) - min(a[1], b[1])
    rho2 = ((a[0] + a[2] - b[0] - b[2]) / 2) ** 2 + ((a[1] + a[3] - b[1] - b[3]) / 2) ** 2
    return (iw * ih / union if union > 0 else 0.0), cw * ch, union, rho2, cw * cw + ch * ch


def _ref_giou_loss(a, b, eps):
    iou, c, union, _, _ = _ref_parts(a, b)
    return 1 - iou + ((c - union) / (c + eps) if c + eps > 0 else 0.0)


def _ref_diou_loss(a, b, eps):
    iou, _, _, rho2, c2 = _ref_parts(a, b)
    return 1 - iou + (rho2 / (c2 + eps) if c2 + eps > 0 else 0.0)


def _ref_ciou_loss(a, b, eps):
    def angle(r):
        w, h = r[2] - r[0], r[3] - r[1]
        return None if w == h == 0 else math.atan2(w, h)

    iou = _ref_parts(a, b)[0]
    ta, tb = angle(a), angle(b)
    v = 0.0 if ta is None or tb is None else 4 / math.pi**2 * (ta - tb) ** 2
    alpha = v / (1 - iou + v + eps) if 1 - iou + v + eps > 0 else 0.0
    return _ref_diou_loss(a, b, eps) + alpha * v


REFERENCES = {generalized_box_iou_loss: _ref_giou_loss, distance_box_iou_loss: _ref_diou_loss,
              complete_box_iou_loss: _ref_ciou_loss}


def _random_pairs(n, seed, dtype=torch.float64):
    """Two sets of n boxes; a quarter identical, half on an integer grid (touching, nested and
    zero-area boxes happen)."""
    g = torch.Generator().manual_seed(seed)

    def boxes():
        xy = torch.randint(-3, 4, (n, 2), generator=g).to(dtype)
        wh = torch.randint(0, 4, (n, 2), generator=g).to(dtype)
        cont = torch.rand(n, 1, generator=g) < 0.5
        xy = torch.where(cont, torch.rand(n, 2, generator=g, dtype=dtype) * 6 - 3, xy)
        wh = torch.where(cont, torch.rand(n, 2, generator=g, dtype=dtype) * 3, wh)
        return torch.cat([xy, xy + wh], dim=1)

    boxes1, boxes2 = boxes(), boxes()
    boxes2[: n // 4] = boxes1[: n // 4]
    return boxes1, boxes2


def _smooth_pairs(n, seed):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(2, n, 2, generator=g, dtype=torch.float64) * 3
    wh = 0.5 + torch.rand(2, n, 2, generator=g, dtype=torch.float64) * 3
    both = torch.cat([xy, xy + wh], dim=2)
    return both[0], both[1]


# ----------------------------------------------------------------------------- golden values
def test_generalized_box_iou_loss_golden():
    # [-1,-1,1,1]: IoU 1/4, C = U = 4 -> 0.75;  identical -> 0;
    # [0,1,1,2] touches: IoU 0, C = U = 2 -> 1.0;  [1,1,2,2]: IoU 0, C = 4, U = 2 -> 1 + 1/2 = 1.5
    expected = torch.tensor([0.75, 0.0, 1.0, 1.5], dtype=torch.float64)
    torch.testing.assert_close(generalized_box_iou_loss(BOXES1, BOXES2), expected, rtol=0, atol=1e-7)
    torch.testing.assert_close(generalized_box_iou_loss(BOXES1, BOXES2, eps=0), expected, rtol=0, atol=1e-15)
    assert generalized_box_iou_loss(BOXES1, BOXES2, reduction="sum").item() == pytest.approx(3.25, abs=1e-6)
    assert generalized_box_iou_loss(BOXES1, BOXES2, reduction="mean").item() == pytest.approx(0.8125, abs=1e-6)


def test_distance_and_complete_box_iou_loss_golden():
    # centres (0,0) vs (.5,.5): rho^2 = .5, c^2 = 8 -> 1 - 1/4 + 1/16;  identical -> 0;
    # (.5,1.5) vs (.5,.5): rho^2 = 1, c^2 = 1 + 4 -> 1 + 1/5;  (1.5,1.5): rho^2 = 2, c^2 = 8 -> 1 + 1/4
    expected = torch.tensor([0.8125, 0.0, 1.2, 1.25], dtype=torch.float64)
    torch.testing.assert_close(distance_box_iou_loss(BOXES1, BOXES2, eps=0), expected, rtol=0, atol=1e-15)
    # all squares: v = 0 and CIoU = DIoU
    torch.testing.assert_close(complete_box_iou_loss(BOXES1, BOXES2, eps=0), expected, rtol=0, atol=1e-15)
    # [0,0,2,2] vs [0,0,4,2]: IoU 1/2, rho^2 = 1, c^2 = 20, v = 4/pi^2 (atan 1 - atan 2)^2
    v = 4 / math.pi**2 * (math.pi / 4 - math.atan(2)) ** 2
    got = complete_box_iou_loss(_t([0, 0, 2, 2]), _t([0, 0, 4, 2]), eps=0).item()
    assert got == pytest.approx(0.5 + 1 / 20 + v / (0.5 + v) * v, abs=1e-15)
    assert got == pytest.approx(1 - 0.446752, abs=1e-6)


# ----------------------------------------------------------------------------- loop reference
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("eps", [1e-7, 0.0, 0.5])
@pytest.mark.parametrize("seed", [0, 1])
def test_matches_loop_reference(loss, eps, seed):
    boxes1, boxes2 = _random_pairs(40, seed)
    expected = torch.tensor([REFERENCES[loss](a, b, eps) for a, b in zip(boxes1.tolist(), boxes2.tolist(),
                                                                        strict=True)], dtype=torch.float64)
    torch.testing.assert_close(loss(boxes1, boxes2, eps=eps), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("loss", LOSSES)
def test_is_one_minus_the_diagonal_of_the_pairwise_function(loss):
    boxes1, boxes2 = _random_pairs(30, 3)
    kw = {} if loss is generalized_box_iou_loss else {"eps": 1e-7}
    expected = 1 - PAIRWISE[loss](boxes1, boxes2, **kw).diagonal()
    eps = 0.0 if loss is generalized_box_iou_loss else 1e-7  # the pairwise GIoU has no eps
    torch.testing.assert_close(loss(boxes1, boxes2, eps=eps), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("loss", LOSSES)
def test_reductions(loss):
    boxes1, boxes2 = _random_pairs(12, 4)
    none = loss(boxes1, boxes2)
    assert none.shape == (12,)
    mean, total = loss(boxes1, boxes2, reduction="mean"), loss(boxes1, boxes2, reduction="sum")
    assert mean.shape == () and total.shape == ()
    torch.testing.assert_close(mean, none.mean())
    torch.testing.assert_close(total, none.sum())


# ----------------------------------------------------------------------------- gradients
@pytest.mark.parametrize("loss", [generalized_box_iou_loss, distance_box_iou_loss])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_gradcheck(loss, reduction):
    boxes1, boxes2 = _smooth_pairs(5, 0)
    assert gradcheck(lambda a, b: loss(a, b, reduction=reduction),
                     (boxes1.requires_grad_(), boxes2.requires_grad_()))


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_complete_box_iou_loss_gradient_holds_alpha_constant(reduction):
    """The gradient is that of DIoU loss + alpha v with alpha frozen (Zheng et al. 2020)."""
    boxes1, boxes2 = _smooth_pairs(5, 1)

    def aspect(b1, b2):
        w1, h1, w2, h2 = b1[:, 2] - b1[:, 0], b1[:, 3] - b1[:, 1], b2[:, 2] - b2[:, 0], b2[:, 3] - b2[:, 1]
        return 4 / math.pi**2 * (torch.atan(w1 / h1) - torch.atan(w2 / h2)) ** 2

    with torch.no_grad():
        v = aspect(boxes1, boxes2)
        alpha = v / (1 - box_iou(boxes1, boxes2).diagonal() + v + 1e-7)

    def frozen(b1, b2):
        out = distance_box_iou_loss(b1, b2) + alpha * aspect(b1, b2)
        return {"none": out, "mean": out.mean(), "sum": out.sum()}[reduction]

    def ciou(b1, b2):
        return complete_box_iou_loss(b1, b2, reduction=reduction)

    assert gradcheck(frozen, (boxes1.clone().requires_grad_(), boxes2.clone().requires_grad_()))
    torch.testing.assert_close(ciou(boxes1, boxes2), frozen(boxes1, boxes2))
    for got, want in zip(jacobian(ciou, (boxes1, boxes2)), jacobian(frozen, (boxes1, boxes2)), strict=True):
        torch.testing.assert_close(got, want)


@pytest.mark.parametrize("loss", LOSSES)
def test_degenerate_boxes_give_finite_loss_and_gradients(loss):
    boxes1 = _t([0, 0, 0, 0], [1, 1, 1, 1], [0, 0, 2, 0], [0, 0, 0, 3], [5, 5, 5, 5]).requires_grad_()
    boxes2 = _t([0, 0, 0, 0], [0, 0, 2, 2], [1, 0, 3, 0], [0, 0, 0, 3], [0, 0, 1, 1])
    for eps in (1e-7, 0.0):
        out = loss(boxes1, boxes2, eps=eps)
        out.sum().backward()
        assert torch.isfinite(out).all() and torch.isfinite(boxes1.grad).all()
        boxes1.grad = None


def test_losses_pull_disjoint_boxes_together():
    """Where 1 - IoU has no gradient (disjoint boxes), the three losses still move the box onto the target."""
    target = torch.tensor([[0.0, 0.0, 1.0, 1.0]])
    start = torch.tensor([[3.0, 2.0, 4.5, 3.0]], requires_grad=True)
    (grad,) = torch.autograd.grad(1 - box_iou(start, target).sum(), start)
    assert (grad == 0).all()
    for loss in LOSSES:
        box = start.detach().clone().requires_grad_()
        opt = torch.optim.Adam([box], lr=0.1)
        for _ in range(200):
            opt.zero_grad()
            loss(box, target, reduction="sum").backward()
            opt.step()
        assert box_iou(box.detach(), target).item() > 0.8, loss.__name__


# ----------------------------------------------------------------------------- properties
_coord = st.floats(-100, 100, allow_nan=False, allow_subnormal=False)
_side = st.one_of(st.just(0.0), st.floats(0, 50, allow_nan=False, allow_subnormal=False))
_box = st.tuples(_coord, _coord, _side, _side).map(lambda t: [t[0], t[1], t[0] + t[2], t[1] + t[3]])


@PROPERTY
@given(st.lists(st.tuples(_box, _box), min_size=1, max_size=6))
def test_properties(pairs):
    boxes1 = torch.tensor([p[0] for p in pairs], dtype=torch.float64)
    boxes2 = torch.tensor([p[1] for p in pairs], dtype=torch.float64)
    giou, diou, ciou = (loss(boxes1, boxes2) for loss in LOSSES)
    for loss, out in zip(LOSSES, (giou, diou, ciou), strict=True):
        assert torch.isfinite(out).all()
        assert torch.equal(out, loss(boxes2, boxes1))           # symmetric
    assert ((giou >= 0) & (giou <= 2)).all()
    assert ((diou >= 0) & (diou <= 2)).all()
    assert ((ciou >= diou) & (ciou <= 2.5)).all()


# ----------------------------------------------------------------------------- dtypes and empty inputs
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("dtype, atol", [
    (torch.float16, 2e-3), (torch.bfloat16, 1.6e-2), (torch.float32, 1e-6), (torch.float64, 0.0),
])
def test_dtypes(loss, dtype, atol):
    boxes1, boxes2 = (b.to(dtype) for b in _random_pairs(16, 5))
    out = loss(boxes1, boxes2)
    assert out.dtype == dtype
    torch.testing.assert_close(out.double(), loss(boxes1.double(), boxes2.double()), rtol=0, atol=atol)
    assert loss(boxes1, boxes2, reduction="mean").dtype == dtype


@pytest.mark.parametrize("loss", LOSSES)
def test_half_precision_boxes_get_gradients(loss):
    boxes1, boxes2 = (b.half() for b in _smooth_pairs(4, 2))
    boxes1.requires_grad_()
    loss(boxes1, boxes2, reduction="sum").backward()
    assert boxes1.grad.dtype == torch.float16 and torch.isfinite(boxes1.grad).all()


@pytest.mark.parametrize("loss", LOSSES)
def test_integer_boxes_give_float32(loss):
    boxes1, boxes2 = BOXES1.long(), BOXES2.int()
    out = loss(boxes1, boxes2)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, loss(BOXES1.float(), BOXES2.float()))


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_empty_inputs(loss, dtype):
    """mean of no boxes is 0.0 (a documented choice; torch's mean would give NaN), like sum."""
    empty = torch.zeros(0, 4, dtype=dtype, requires_grad=True)
    none = loss(empty, empty.detach())
    assert none.shape == (0,) and none.dtype == dtype
    for reduction in ("mean", "sum"):
        out = loss(empty, empty.detach(), reduction=reduction)
        assert out.shape == () and out.dtype == dtype and out.item() == 0.0
        (grad,) = torch.autograd.grad(out, empty)
        assert grad.shape == (0, 4)


# ----------------------------------------------------------------------------- refused inputs
_GOOD = torch.tensor([[0.0, 0.0, 1.0, 1.0]])


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("which", ["boxes1", "boxes2"])
@pytest.mark.parametrize("bad, error, match", [
    ([[0, 0, 1, 1]], TypeError, r"expected a Tensor\[N, 4\], got list"),
    (torch.zeros(1, 3), ValueError, r"expected Tensor\[N, 4\] \(xyxy\), got Tensor\[1, 3\]"),
    (torch.zeros(4), ValueError, r"got Tensor\[4\]"),
    (torch.zeros(1, 4, dtype=torch.bool), TypeError, "expected real coordinates"),
    (torch.tensor([[0, 0, float("nan"), 1]]), ValueError, "must be finite; row 0"),
    (torch.tensor([[0, 0, 1, -float("inf")]]), ValueError, "must be finite; row 0"),
    (torch.tensor([[1.0, 0, 0.5, 1]]), ValueError, r"x2 >= x1 and y2 >= y1"),
    (torch.tensor([[0, 1.0, 1, 0.5]]), ValueError, r"x2 >= x1 and y2 >= y1"),
])
def test_refuses_bad_boxes(loss, which, bad, error, match):
    args = (bad, _GOOD) if which == "boxes1" else (_GOOD, bad)
    with pytest.raises(error, match=f"^{which}: .*{match}"):
        loss(*args)


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("n1, n2", [(2, 1), (0, 3)])
def test_refuses_different_lengths(loss, n1, n2):
    with pytest.raises(ValueError, match=rf"same number of boxes .* got {n1} and {n2}"):
        loss(_GOOD.expand(n1, 4), _GOOD.expand(n2, 4))


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("reduction", ["avg", "None", None, "", "elementwise_mean"])
def test_refuses_unknown_reduction(loss, reduction):
    with pytest.raises(ValueError, match=r"reduction: unknown reduction .*; expected one of none, mean, sum"):
        loss(_GOOD, _GOOD, reduction=reduction)


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("eps, error", [
    (-1.0, ValueError), (float("nan"), ValueError), (float("inf"), ValueError), ("0", TypeError),
    (False, TypeError), (torch.tensor(1e-7), TypeError),
])
def test_refuses_bad_eps(loss, eps, error):
    with pytest.raises(error, match="eps: expected a finite number >= 0"):
        loss(_GOOD, _GOOD, eps=eps)
