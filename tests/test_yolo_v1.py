"""cvcourse.yolo.v1 (chapter 12): YOLOv1's target encoding (hand-worked cells, the one-object-per-cell
rule, a decode round trip), and its loss against hand-worked values, a slow loop reference, gradcheck
and degenerate predictions."""
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.autograd import gradcheck

from cvcourse.yolo.v1 import decode_v1, encode_v1_targets, yolo_v1_loss

PROPERTY = settings(max_examples=40, deadline=None)
TERMS = ("coord", "obj", "noobj", "class")


def gen(seed):
    return torch.Generator().manual_seed(seed)


def cell(x, y, w, h, conf):
    return [x, y, w, h, conf]


# ----------------------------------------------------------------------------- encode
def test_voc_defaults_give_7x7x30():
    boxes = torch.tensor([[10.0, 20.0, 200.0, 300.0]])
    target = encode_v1_targets(boxes, torch.tensor([14]), image_size=(448, 448))
    assert target.shape == (7, 7, 30) and target.dtype == torch.float32
    assert target.sum(dim=(0, 1))[4] == 1 and target[..., 5 * 2 + 14].sum() == 1


def test_encode_golden_cell_offsets_sizes_and_one_hot():
    # image H=100, W=200, S=2 (cells 100 x 50 px). Box [120, 10, 180, 40]: centre (150, 25)
    # -> u = 150/200*2 = 1.5 (col 1, x 0.5), v = 25/100*2 = 0.5 (row 0, y 0.5); w = 60/200, h = 30/100
    boxes = torch.tensor([[120.0, 10.0, 180.0, 40.0]])
    target = encode_v1_targets(boxes, torch.tensor([1]), S=2, B=2, C=3, image_size=(100, 200))
    expected = torch.zeros(2, 2, 13)
    expected[0, 1] = torch.tensor([0.5, 0.5, 0.3, 0.3, 1, 0, 0, 0, 0, 0, 0, 1, 0])
    torch.testing.assert_close(target, expected)


def test_encode_centres_on_cell_borders_and_image_edges():
    # a centre on the border between two cells goes to the right/lower cell (x = 0); a centre on the
    # right/bottom edge of the image goes to the last cell (x = y = 1)
    boxes = torch.tensor([[0.0, 0.0, 200.0, 100.0],     # centre (100, 50): u = v = 1.0 -> cell (1, 1)
                          [200.0, 0.0, 200.0, 0.0]])    # a point at (200, 0): u = 2 -> col 1, row 0
    target = encode_v1_targets(boxes, torch.tensor([0, 2]), S=2, B=1, C=3, image_size=(100, 200))
    torch.testing.assert_close(target[1, 1], torch.tensor([0.0, 0.0, 1.0, 1.0, 1.0, 1, 0, 0]))
    torch.testing.assert_close(target[0, 1], torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 0, 0, 1]))
    assert target[0, 0].abs().sum() == 0 and target[1, 0].abs().sum() == 0


def test_two_objects_in_one_cell_the_first_in_input_order_keeps_it():
    # S=2 on a 100x100 image: boxes 0 and 2 both have their centre in cell (0, 0), box 1 in (1, 1)
    boxes = torch.tensor([[0.0, 0.0, 40.0, 40.0], [60.0, 60.0, 90.0, 90.0], [10.0, 10.0, 30.0, 20.0]])
    labels = torch.tensor([0, 1, 2])
    target, dropped = encode_v1_targets(boxes, labels, S=2, B=2, C=3, image_size=100, return_dropped=True)
    assert dropped.tolist() == [2] and dropped.dtype == torch.int64
    torch.testing.assert_close(target[0, 0, :5], torch.tensor([0.4, 0.4, 0.4, 0.4, 1.0]))
    assert target[0, 0, 10:].tolist() == [1, 0, 0]               # box 0's class, not box 2's
    # the rule is about order, not size: reversed, box 2 (the smaller) keeps the cell
    target, dropped = encode_v1_targets(boxes.flip(0), labels.flip(0), S=2, B=2, C=3, image_size=100,
                                        return_dropped=True)
    assert dropped.tolist() == [2]                                # box 0, now last
    assert target[0, 0, 10:].tolist() == [0, 0, 1]
    torch.testing.assert_close(target[0, 0, :5], torch.tensor([0.4, 0.3, 0.2, 0.1, 1.0]))


def test_encode_empty_input_gives_an_all_zero_target():
    target, dropped = encode_v1_targets(torch.zeros(0, 4, dtype=torch.float64), torch.zeros(0, dtype=torch.int64),
                                        S=3, B=2, C=4, image_size=(30, 60), return_dropped=True)
    assert target.shape == (3, 3, 14) and target.dtype == torch.float64 and not target.any()
    assert dropped.shape == (0,) and dropped.dtype == torch.int64


@pytest.mark.parametrize("dtype, expected", [(torch.float32, torch.float32), (torch.float64, torch.float64),
                                             (torch.int64, torch.float32), (torch.float16, torch.float16)])
def test_encode_dtypes(dtype, expected):
    boxes = torch.tensor([[0, 0, 50, 50]], dtype=dtype)
    target = encode_v1_targets(boxes, torch.tensor([0], dtype=torch.int32), S=2, B=1, C=1, image_size=100)
    assert target.dtype == expected
    torch.testing.assert_close(target[0, 0].float(), torch.tensor([0.5, 0.5, 0.5, 0.5, 1.0, 1.0]))


def test_image_size_one_reads_boxes_as_image_relative():
    rel = encode_v1_targets(torch.tensor([[0.1, 0.2, 0.5, 0.4]]), torch.tensor([1]), S=4, B=2, C=2, image_size=(1, 1))
    pix = encode_v1_targets(torch.tensor([[20.0, 20.0, 100.0, 40.0]]), torch.tensor([1]), S=4, B=2, C=2,
                            image_size=(100, 200))
    torch.testing.assert_close(rel, pix)


# ----------------------------------------------------------------------------- decode
def test_decode_golden_scores_threshold_clamping_and_cell_order():
    # S=2, B=2, C=2 on a 100 x 200 (H x W) image: cells are 50 px high, 100 px wide
    grid = torch.zeros(2, 2, 12)
    grid[0, 1] = torch.tensor(cell(0.5, 0.5, 0.2, 0.4, 0.9) + cell(0.0, 0.0, -0.3, 0.2, 0.5) + [0.2, 0.8])
    grid[1, 0] = torch.tensor(cell(0.5, 1.0, 0.5, 0.5, 0.5) + cell(0.5, 0.5, 0.1, 0.1, 0.1) + [0.6, 0.4])
    out = decode_v1(grid, S=2, B=2, C=2, image_size=(100, 200), conf_threshold=0.25)
    # scores conf * max p: (0, 1): 0.72 and 0.4 (label 1); (1, 0): 0.3 and 0.06 (label 0, dropped)
    # (0, 1) b0: centre ((1 + 0.5) * 100, 0.5 * 50) = (150, 25), size (40, 40)
    # (0, 1) b1: centre (100, 0), width -0.3 -> 0, height 20: [100, -10, 100, 10], clipped at y = 0
    # (1, 0) b0: centre (50, 100), size (100, 50): [0, 75, 100, 125], clipped at y = 100
    torch.testing.assert_close(out["boxes"], torch.tensor([[130.0, 5.0, 170.0, 45.0], [100.0, 0.0, 100.0, 10.0],
                                                           [0.0, 75.0, 100.0, 100.0]]))
    torch.testing.assert_close(out["scores"], torch.tensor([0.72, 0.4, 0.3]))
    assert out["labels"].tolist() == [1, 1, 0] and out["labels"].dtype == torch.int64
    # the threshold is strict: a score equal to it is dropped
    assert decode_v1(grid, S=2, B=2, C=2, image_size=(100, 200), conf_threshold=0.4)["scores"].tolist() \
        == pytest.approx([0.72])


def test_decode_all_zero_grid_gives_empty_outputs():
    out = decode_v1(torch.zeros(7, 7, 30, dtype=torch.float64), image_size=448, conf_threshold=0.0)
    assert out["boxes"].shape == (0, 4) and out["boxes"].dtype == torch.float64
    assert out["scores"].shape == (0,) and out["labels"].shape == (0,)


@st.composite
def _scene(draw):
    S = draw(st.integers(1, 8))
    h, w = draw(st.integers(1, 500)), draw(st.integers(1, 500))
    k = draw(st.integers(0, 12))
    xs = [sorted(draw(st.lists(st.integers(0, w), min_size=2, max_size=2))) for _ in range(k)]
    ys = [sorted(draw(st.lists(st.integers(0, h), min_size=2, max_size=2))) for _ in range(k)]
    boxes = torch.tensor([[x[0], y[0], x[1], y[1]] for x, y in zip(xs, ys, strict=True)], dtype=torch.float64).reshape(k, 4)
    labels = torch.tensor(draw(st.lists(st.integers(0, 4), min_size=k, max_size=k)), dtype=torch.int64)
    return S, (h, w), boxes, labels


@PROPERTY
@given(_scene(), st.sampled_from([torch.float32, torch.float64]), st.integers(1, 3))
def test_encode_decode_round_trip(scene, dtype, B):
    S, size, boxes, labels = scene
    boxes = boxes.to(dtype)
    target, dropped = encode_v1_targets(boxes, labels, S=S, B=B, C=5, image_size=size, return_dropped=True)
    kept = torch.ones(len(boxes), dtype=torch.bool)
    kept[dropped] = False
    assert int(target[..., 4].sum()) == int(kept.sum())           # one object per kept box
    out = decode_v1(target, S=S, B=B, C=5, image_size=size, conf_threshold=0.5)
    assert len(out["boxes"]) == int(kept.sum()) and out["boxes"].dtype == dtype
    assert (out["scores"] == 1).all()
    if kept.any():
        # centres of kept boxes lie in distinct cells and are half-integers: >= 0.5 px apart
        dist = torch.cdist(boxes[kept].double(), out["boxes"].double())   # (kept, decoded)
        match = dist.argmin(dim=1)
        assert sorted(match.tolist()) == list(range(len(match)))
        assert dist.min(dim=1).values.max() < (1e-3 if dtype == torch.float32 else 1e-9)
        assert out["labels"][match].tolist() == labels[kept].tolist()


# ----------------------------------------------------------------------------- loss: hand-worked values
def _one_cell_case(pred_cell, target_cell):
    return torch.tensor([[[pred_cell]]], dtype=torch.float64), torch.tensor([[[target_cell]]], dtype=torch.float64)


def _check_terms(out, expected):
    """Hand-worked terms use the exact sqrt; the loss's eps = 1e-6 moves sqrt(w) - sqrt(w^) by about
    eps / (2 sqrt(w)), hence the tolerance 1e-5."""
    for name, value in expected.items():
        assert out[name].item() == pytest.approx(value, abs=1e-5), name
    assert out["loss"].item() == pytest.approx(sum(expected.values()), abs=1e-5)


def test_loss_golden_one_object_in_one_cell():
    # S=1, B=2, C=2. Ground truth: centre (0.5, 0.5), w = h = 0.25 (sqrt 0.5), class 0;
    # xyxy [0.375, 0.375, 0.625, 0.625], area 0.0625.
    # b0: centre (0.5, 0.45), w 0.25, h 0.0625 (sqrt 0.25): y-range [0.41875, 0.48125], inside the GT,
    #     IoU = 0.25 * 0.0625 / 0.0625 = 0.25;  b1: [0.88, 0.88, 0.92, 0.92], IoU 0 -> b0 responsible.
    # coord = 5 * ((0.5-0.5)^2 + (0.45-0.5)^2 + (0.5-0.5)^2 + (0.25-0.5)^2) = 5 * 0.065 = 0.325
    # obj   = (0.5 - 0.25)^2 = 0.0625
    # noobj = 0.5 * 0.3^2 = 0.045
    # class = (0.75 - 1)^2 + (0.5 - 0)^2 = 0.3125
    pred, target = _one_cell_case(cell(0.5, 0.45, 0.25, 0.0625, 0.5) + cell(0.9, 0.9, 0.04, 0.04, 0.3) + [0.75, 0.5],
                                  cell(0.5, 0.5, 0.25, 0.25, 1.0) + cell(0, 0, 0, 0, 0) + [1.0, 0.0])
    out = yolo_v1_loss(pred, target, S=1, B=2, C=2)
    _check_terms(out, {"coord": 0.325, "obj": 0.0625, "noobj": 0.045, "class": 0.3125})
    assert out["loss"].item() == pytest.approx(0.745, abs=1e-5)


def test_loss_golden_second_predictor_responsible():
    # Same GT, class 1. b0: [0.88, 0.88, 0.92, 0.92], IoU 0, conf 0.6;
    # b1: centre (0.5, 0.5), w 0.25, h 0.0625, IoU 0.25, conf 0.1 -> b1 is responsible.
    # coord = 5 * (0 + 0 + 0 + (0.25 - 0.5)^2) = 0.3125      (b0 would have given 5 * 0.66 = 3.3)
    # obj   = (0.1 - 0.25)^2 = 0.0225
    # noobj = 0.5 * 0.6^2 = 0.18                               (b0's confidence, not b1's)
    # class = (0.1 - 0)^2 + (0.7 - 1)^2 = 0.1
    pred, target = _one_cell_case(cell(0.9, 0.9, 0.04, 0.04, 0.6) + cell(0.5, 0.5, 0.25, 0.0625, 0.1) + [0.1, 0.7],
                                  cell(0.5, 0.5, 0.25, 0.25, 1.0) + cell(0, 0, 0, 0, 0) + [0.0, 1.0])
    out = yolo_v1_loss(pred, target, S=1, B=2, C=2)
    _check_terms(out, {"coord": 0.3125, "obj": 0.0225, "noobj": 0.18, "class": 0.1})


def test_loss_golden_object_cell_and_empty_cell():
    # S=2, B=2, C=2, one image. GT in cell (row 0, col 1): offsets (0.5, 0.5), w = h = 0.25, class 1.
    # (0, 1) b0: same centre, w 0.36 (sqrt 0.6), h 0.25: contains the GT, IoU = 0.0625 / 0.09 = 25/36;
    #        b1: same centre, w = h = 0.04, inside the GT, IoU = 0.0016 / 0.0625 = 0.0256 -> b0 responsible.
    # (1, 0): no object; confs 0.2 and -0.1; its boxes and class scores (nonzero) do not count.
    # coord = 5 * (0.6 - 0.5)^2 = 0.05
    # obj   = (0.8 - 25/36)^2 = (3.8/36)^2
    # noobj = 0.5 * (0.4^2 [b1 of the object cell] + 0.2^2 + 0.1^2) = 0.105
    # class = (0.2 - 0)^2 + (0.6 - 1)^2 = 0.2
    pred = torch.zeros(1, 2, 2, 12, dtype=torch.float64)
    target = torch.zeros(1, 2, 2, 12, dtype=torch.float64)
    pred[0, 0, 1] = torch.tensor(cell(0.5, 0.5, 0.36, 0.25, 0.8) + cell(0.5, 0.5, 0.04, 0.04, 0.4) + [0.2, 0.6])
    pred[0, 1, 0] = torch.tensor(cell(0.3, 0.7, 0.5, 0.1, 0.2) + cell(0.1, 0.2, 0.3, 0.4, -0.1) + [0.9, 0.3])
    target[0, 0, 1] = torch.tensor(cell(0.5, 0.5, 0.25, 0.25, 1.0) + cell(0, 0, 0, 0, 0) + [0.0, 1.0])
    out = yolo_v1_loss(pred, target, S=2, B=2, C=2)
    _check_terms(out, {"coord": 0.05, "obj": (3.8 / 36) ** 2, "noobj": 0.105, "class": 0.2})


def test_loss_tie_makes_the_first_predictor_responsible():
    # two identical predictors, both IoU 1: b0 is responsible. obj = (0.9 - 1)^2, noobj = 0.5 * 0.2^2
    box = [0.5, 0.5, 0.25, 0.25]
    pred, target = _one_cell_case(box + [0.9] + box + [0.2] + [1.0], box + [1.0] + [0.0] * 5 + [1.0])
    _check_terms(yolo_v1_loss(pred, target, S=1, B=2, C=1), {"coord": 0.0, "obj": 0.01, "noobj": 0.02, "class": 0.0})


def test_loss_is_the_sum_over_the_batch_divided_by_n():
    pred1, target1 = _one_cell_case(cell(0.5, 0.45, 0.25, 0.0625, 0.5) + cell(0.9, 0.9, 0.04, 0.04, 0.3) + [0.75, 0.5],
                                    cell(0.5, 0.5, 0.25, 0.25, 1.0) + cell(0, 0, 0, 0, 0) + [1.0, 0.0])
    pred2 = torch.full_like(pred1, 0.1)
    target2 = torch.zeros_like(target1)                   # an image without objects: noobj = 0.5 * 2 * 0.01
    out = yolo_v1_loss(torch.cat([pred1, pred2]), torch.cat([target1, target2]), S=1, B=2, C=2)
    assert out["loss"].item() == pytest.approx((0.745 + 0.01) / 2, abs=1e-5)
    assert out["noobj"].item() == pytest.approx((0.045 + 0.01) / 2)


def test_lambdas_weight_their_terms():
    pred, target = _one_cell_case(cell(0.5, 0.45, 0.25, 0.0625, 0.5) + cell(0.9, 0.9, 0.04, 0.04, 0.3) + [0.75, 0.5],
                                  cell(0.5, 0.5, 0.25, 0.25, 1.0) + cell(0, 0, 0, 0, 0) + [1.0, 0.0])
    out = yolo_v1_loss(pred, target, S=1, B=2, C=2, lambda_coord=1.0, lambda_noobj=0.0)
    _check_terms(out, {"coord": 0.065, "obj": 0.0625, "noobj": 0.0, "class": 0.3125})


def test_a_perfect_prediction_has_zero_loss():
    boxes = torch.tensor([[10.0, 20.0, 200.0, 300.0], [300.0, 100.0, 440.0, 400.0]])
    target = encode_v1_targets(boxes, torch.tensor([3, 7]), image_size=448)[None]
    out = yolo_v1_loss(target.clone(), target)
    assert all(v.item() == pytest.approx(0.0, abs=1e-10) for v in out.values())


# ----------------------------------------------------------------------------- loss: loop reference
def _f(w, eps):
    return math.copysign(math.sqrt(abs(w) + eps) - math.sqrt(eps), w)


def _ref_iou(a, b):
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - iw * ih
    return iw * ih / union if union > 0 else 0.0


def _ref_xyxy(x, y, w, h, row, col, S):
    cx, cy, w, h = (col + x) / S, (row + y) / S, max(w, 0.0), max(h, 0.0)
    return [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]


def _ref_loss(pred, target, S, B, C, lc=5.0, ln=0.5, eps=1e-6):
    """Equation 3, one image, cell and predictor at a time, in Python floats."""
    terms = dict.fromkeys(TERMS, 0.0)
    for p, t in zip(pred.tolist(), target.tolist(), strict=True):
        for i in range(S):
            for j in range(S):
                pc, tc = p[i][j], t[i][j]
                has_obj = tc[4] == 1
                gt = _ref_xyxy(*tc[:4], i, j, S)
                ious = [_ref_iou(_ref_xyxy(*pc[5 * b:5 * b + 4], i, j, S), gt) for b in range(B)]
                best = max(range(B), key=lambda b: (ious[b], -b))
                for b in range(B):
                    x, y, w, h, conf = pc[5 * b:5 * b + 5]
                    if has_obj and b == best:
                        terms["coord"] += lc * ((x - tc[0]) ** 2 + (y - tc[1]) ** 2 + (_f(w, eps) - _f(tc[2], eps)) ** 2
                                                + (_f(h, eps) - _f(tc[3], eps)) ** 2)
                        terms["obj"] += (conf - ious[b]) ** 2
                    else:
                        terms["noobj"] += ln * conf ** 2
                if has_obj:
                    terms["class"] += sum((pc[5 * B + c] - tc[5 * B + c]) ** 2 for c in range(C))
    return {k: v / max(len(pred), 1) for k, v in terms.items()}


def _random_batch(seed, n=3, S=3, B=2, C=3, dtype=torch.float64, image=96):
    g = gen(seed)
    targets = []
    for _ in range(n):
        k = int(torch.randint(0, 6, (1,), generator=g))
        xy = torch.rand(k, 2, generator=g, dtype=dtype) * image * 0.7
        wh = torch.rand(k, 2, generator=g, dtype=dtype) * image * 0.3 + 1
        labels = torch.randint(0, C, (k,), generator=g)
        targets.append(encode_v1_targets(torch.cat([xy, xy + wh], 1), labels, S=S, B=B, C=C, image_size=image))
    target = torch.stack(targets)
    # predictions near the targets (so IoUs are varied) with negative and zero widths mixed in
    pred = target + 0.2 * torch.randn(target.shape, generator=g, dtype=dtype)
    return pred, target


@pytest.mark.parametrize("seed", range(6))
def test_loss_matches_the_loop_reference(seed):
    S, B, C = (3, 2, 3) if seed % 2 == 0 else (2, 3, 2)
    pred, target = _random_batch(seed, S=S, B=B, C=C)
    kwargs = dict(lambda_coord=[5.0, 2.0][seed % 2], lambda_noobj=[0.5, 0.25][seed % 2])
    out = yolo_v1_loss(pred, target, S=S, B=B, C=C, **kwargs)
    ref = _ref_loss(pred, target, S, B, C, kwargs["lambda_coord"], kwargs["lambda_noobj"])
    for name in TERMS:
        assert out[name].item() == pytest.approx(ref[name], rel=1e-9, abs=1e-12), name
    assert out["loss"].item() == pytest.approx(sum(ref.values()), rel=1e-9)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_loss_dtypes(dtype):
    pred, target = _random_batch(0)
    out = yolo_v1_loss(pred.to(dtype), target.to(dtype), S=3, B=2, C=3)
    ref = yolo_v1_loss(pred, target, S=3, B=2, C=3)
    for name in ("loss",) + TERMS:
        assert out[name].dtype == dtype and out[name].shape == ()
        torch.testing.assert_close(out[name].double(), ref[name], rtol=1e-5, atol=1e-6)


def test_loss_accepts_a_float32_target_with_float64_predictions():
    pred, target = _random_batch(1)
    out = yolo_v1_loss(pred, target.float(), S=3, B=2, C=3)
    assert out["loss"].dtype == torch.float64


# ----------------------------------------------------------------------------- loss: gradients
def test_gradcheck_float64():
    # The obj term's target, the IoU, depends on the predicted box but is detached by design, so a
    # finite difference of the total in x, y, w, h sees a slope autograd (rightly) does not: check
    # the total without obj in every input, and obj alone in the confidences (boxes held fixed).
    pred, target = _random_batch(2, n=2, S=2, B=2, C=2)
    pred.requires_grad_(True)
    assert gradcheck(lambda p: (lambda o: o["loss"] - o["obj"])(yolo_v1_loss(p, target, S=2, B=2, C=2)),
                     (pred,), eps=1e-6, atol=1e-5)
    conf_index = torch.tensor([4, 9])

    def obj_of_conf(conf):
        return yolo_v1_loss(pred.detach().index_copy(-1, conf_index, conf), target, S=2, B=2, C=2)["obj"]

    conf = pred.detach()[..., conf_index].clone().requires_grad_(True)
    assert gradcheck(obj_of_conf, (conf,), eps=1e-6, atol=1e-5)


@pytest.mark.parametrize("wh", [0.0, -0.3, 1e-12, -1e-12])
def test_degenerate_widths_give_finite_gradients(wh):
    box = [0.5, 0.5, 0.25, 0.25]
    pred, target = _one_cell_case([0.5, 0.5, wh, wh, 0.5] + [0.5, 0.5, wh, 0.0, 0.1] + [0.5],
                                  box + [1.0] + [0.0] * 5 + [1.0])
    pred.requires_grad_(True)
    out = yolo_v1_loss(pred, target, S=1, B=2, C=1)
    out["loss"].backward()
    assert torch.isfinite(out["loss"]) and torch.isfinite(pred.grad).all()
    # the w entry of the responsible predictor has a nonzero gradient pulling it towards 0.25
    assert pred.grad[0, 0, 0, 2] < 0


def test_zero_size_ground_truth_and_all_zero_predictions_are_finite():
    target = encode_v1_targets(torch.tensor([[50.0, 50.0, 50.0, 50.0]]), torch.tensor([0]), S=2, B=2, C=2,
                               image_size=100)[None]
    pred = torch.zeros_like(target, requires_grad=True)
    out = yolo_v1_loss(pred, target, S=2, B=2, C=2)
    out["loss"].backward()
    assert all(torch.isfinite(v) for v in out.values()) and torch.isfinite(pred.grad).all()
    # IoU with a zero-area box is 0: the confidence target is 0, so obj = 0; the class term is 1
    assert out["obj"].item() == 0 and out["class"].item() == 1


def test_empty_batch_gives_zero_loss_not_nan():
    pred = torch.zeros(0, 7, 7, 30, requires_grad=True)
    out = yolo_v1_loss(pred, torch.zeros(0, 7, 7, 30))
    assert all(v.item() == 0 and v.dtype == torch.float32 for v in out.values())
    out["loss"].backward()
    assert pred.grad.shape == (0, 7, 7, 30)


def test_confidence_target_is_detached():
    # the gradient with respect to the responsible confidence is 2 (conf - IoU), with no IoU path:
    # the box coordinates get gradients only from the coord term
    pred, target = _one_cell_case(cell(0.5, 0.45, 0.25, 0.0625, 0.5) + cell(0.9, 0.9, 0.04, 0.04, 0.3) + [0.75, 0.5],
                                  cell(0.5, 0.5, 0.25, 0.25, 1.0) + cell(0, 0, 0, 0, 0) + [1.0, 0.0])
    pred.requires_grad_(True)
    yolo_v1_loss(pred, target, S=1, B=2, C=2, lambda_coord=0.0)["loss"].backward()
    g = pred.grad[0, 0, 0]
    assert g[4].item() == pytest.approx(2 * (0.5 - 0.25)) and g[9].item() == pytest.approx(0.5 * 2 * 0.3)
    assert g[:4].abs().sum() == 0 and g[5:9].abs().sum() == 0


# ----------------------------------------------------------------------------- bad inputs
BOXES = torch.tensor([[0.0, 0.0, 10.0, 10.0]])
LABELS = torch.tensor([0])


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(boxes=[[0, 0, 1, 1]]), TypeError, "boxes: expected a Tensor"),
    (dict(boxes=torch.zeros(1, 3)), ValueError, r"boxes: expected Tensor\[N, 4\]"),
    (dict(boxes=torch.tensor([[5.0, 0.0, 1.0, 1.0]])), ValueError, "x2 >= x1"),
    (dict(boxes=torch.tensor([[0.0, 0.0, 101.0, 10.0]])), ValueError, "boxes: expected boxes inside the image"),
    (dict(boxes=torch.tensor([[-1.0, 0.0, 10.0, 10.0]])), ValueError, "inside the image"),
    (dict(boxes=torch.tensor([[0.0, 0.0, float("nan"), 10.0]])), ValueError, "finite"),
    (dict(labels=torch.tensor([0.0])), TypeError, "labels: expected an integer Tensor"),
    (dict(labels=[0]), TypeError, "labels: expected an integer Tensor"),
    (dict(labels=torch.tensor([0, 1])), ValueError, r"labels: expected Tensor\[1\]"),
    (dict(labels=torch.tensor([20])), ValueError, r"labels: expected class indices in \[0, C\) = \[0, 20\)"),
    (dict(labels=torch.tensor([-1])), ValueError, "labels: expected class indices"),
    (dict(S=0), ValueError, "S: expected an int >= 1"),
    (dict(B=2.0), TypeError, "B: expected an int"),
    (dict(C=True), TypeError, "C: expected an int"),
    (dict(image_size=(100, 0)), ValueError, r"image_size \(W\)"),
    (dict(image_size=(100, 100, 3)), ValueError, r"image_size: expected \(H, W\)"),
    (dict(image_size=100.0), TypeError, "image_size: expected an int"),
    (dict(return_dropped=1), TypeError, "return_dropped: expected a bool"),
])
def test_encode_refuses_bad_inputs(kwargs, error, match):
    args = dict(boxes=BOXES, labels=LABELS, image_size=100) | kwargs
    with pytest.raises(error, match=match):
        encode_v1_targets(**args)


def test_encode_requires_image_size():
    with pytest.raises(TypeError, match="image_size"):
        encode_v1_targets(BOXES, LABELS)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(grid=torch.zeros(7, 7, 29)), ValueError, r"grid: expected Tensor\[7, 7, 30\] \(S=7, B=2, C=20"),
    (dict(grid=torch.zeros(1, 7, 7, 30)), ValueError, r"grid: expected Tensor\[7, 7, 30\]"),
    (dict(grid=torch.zeros(7, 7, 30, dtype=torch.int64)), TypeError, "grid: expected a floating-point tensor"),
    (dict(grid=torch.full((7, 7, 30), float("inf"))), ValueError, "grid: values must be finite"),
    (dict(grid=None), TypeError, "grid: expected a Tensor"),
    (dict(conf_threshold=1.5), ValueError, r"conf_threshold: expected a value in \[0, 1\]"),
    (dict(conf_threshold="high"), TypeError, "conf_threshold"),
    (dict(image_size=(0, 448)), ValueError, r"image_size \(H\)"),
])
def test_decode_refuses_bad_inputs(kwargs, error, match):
    args = dict(grid=torch.zeros(7, 7, 30), image_size=448) | kwargs
    with pytest.raises(error, match=match):
        decode_v1(**args)


def _bad_target(index, value):
    t = torch.zeros(1, 7, 7, 30)
    t[0, 3, 3, :5] = torch.tensor([0.5, 0.5, 0.2, 0.2, 1.0])
    t[0, 3, 3, index] = value
    return t


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(pred=torch.zeros(7, 7, 30)), ValueError, r"pred: expected Tensor\[N, 7, 7, 30\]"),
    (dict(pred=torch.zeros(1, 7, 7, 25)), ValueError, r"pred: expected Tensor\[N, 7, 7, 30\]"),
    (dict(target=torch.zeros(1, 6, 6, 30)), ValueError, r"target: expected Tensor\[N, 7, 7, 30\]"),
    (dict(target=torch.zeros(2, 7, 7, 30)), ValueError, "pred, target: expected the same batch size"),
    (dict(pred=torch.zeros(1, 7, 7, 30, dtype=torch.int64)), TypeError, "pred: expected a floating-point"),
    (dict(target=torch.zeros(1, 7, 7, 30, dtype=torch.bool)), TypeError, "target: expected a floating-point"),
    (dict(pred=torch.full((1, 7, 7, 30), float("nan"))), ValueError, "pred: values must be finite"),
    (dict(pred="p"), TypeError, "pred: expected a Tensor"),
    (dict(target=_bad_target(4, 0.5)), ValueError, "target: expected a confidence .* of 0 or 1"),
    (dict(target=_bad_target(2, -0.1)), ValueError, r"target: expected x, y, w, h in \[0, 1\]"),
    (dict(target=_bad_target(0, 1.5)), ValueError, r"target: expected x, y, w, h in \[0, 1\]"),
    (dict(S=7.0), TypeError, "S: expected an int"),
    (dict(lambda_coord=-1.0), ValueError, "lambda_coord: expected a finite number >= 0"),
    (dict(lambda_noobj=float("nan")), ValueError, "lambda_noobj"),
    (dict(lambda_noobj="0.5"), TypeError, "lambda_noobj: expected a number"),
    (dict(eps=0.0), ValueError, "eps: expected a finite number > 0"),
])
def test_loss_refuses_bad_inputs(kwargs, error, match):
    args = dict(pred=torch.zeros(1, 7, 7, 30), target=torch.zeros(1, 7, 7, 30)) | kwargs
    with pytest.raises(error, match=match):
        yolo_v1_loss(**args)
