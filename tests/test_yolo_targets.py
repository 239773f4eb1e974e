"""cvcourse.yolo.targets / decode / loss (chapter 12): the YOLOv3 prediction layout, assignment over
scales against a loop reference, decoding round trips, hand-worked loss values, gradients."""
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cvcourse.anchors import encode_yolo, wh_iou
from cvcourse.ops import box_iou
from cvcourse.yolo.decode import decode_boxes, postprocess
from cvcourse.yolo.loss import yolo_loss
from cvcourse.yolo.targets import (
    YOLOV3_ANCHORS,
    YoloPriors,
    assign_targets,
    flatten_head,
    make_priors,
    num_predictions,
)

PROPERTY = settings(max_examples=40, deadline=None)
LOG2 = math.log(2)


def one_cell(anchors=((32.0, 32.0),)):
    """A 32 x 32 image, one stride-32 cell, the given anchors."""
    return make_priors(32, (32,), [list(anchors)])


def target(boxes, labels):
    return {"boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4), "labels": torch.tensor(labels).long()}


# ----------------------------------------------------------------------------- layout
def test_yolov3_at_416_predicts_10647_boxes():
    assert num_predictions(416, (8, 16, 32), 3) == 10647 == 3 * (52 ** 2 + 26 ** 2 + 13 ** 2)
    priors = make_priors(416)
    assert len(priors.stride) == 10647
    assert priors.grid_sizes == ((52, 52), (26, 26), (13, 13))
    assert torch.equal(priors.anchors, torch.tensor(YOLOV3_ANCHORS, dtype=torch.float32))


def test_priors_order_matches_flatten_head():
    # channel a * K + k of a head holds a code for (level, y, x, a, k); flatten_head must put it at the prior's place
    priors = make_priors((64, 96), (16, 32), [[[4, 4], [8, 8]], [[16, 16], [32, 32]]])
    maps = []
    for li, (h, w) in enumerate(priors.grid_sizes):
        m = torch.zeros(1, 2 * 6, h, w)
        for a in range(2):
            for k in range(6):
                ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
                m[0, a * 6 + k] = li * 1e6 + ys * 1e4 + xs * 1e2 + a * 10 + k
        maps.append(m)
    flat = flatten_head(maps, 2)[0]                               # (P, 6)
    assert flat.shape == (len(priors.stride), 6)
    code = priors.level * 1e6 + priors.cell_xy[:, 1] * 1e4 + priors.cell_xy[:, 0] * 1e2 + (priors.anchor % 2) * 10
    assert torch.equal(flat[:, 0], code.float())
    assert torch.equal(flat[:, 5] - flat[:, 0], torch.full((len(code),), 5.0))
    assert torch.equal(priors.stride, torch.tensor([16.0] * 48 + [32.0] * 12))


@pytest.mark.parametrize("bad, match", [
    (dict(image_size=208), "not divisible by the stride 32"),
    (dict(image_size=0), "image_size"),
    (dict(image_size=416, strides=()), "strides"),
    (dict(image_size=416, anchors=[[[1, 2]]]), r"anchors: expected Tensor\[L=3"),
    (dict(image_size=416, anchors=[[[1, -2]]] * 3), "positive"),
])
def test_make_priors_rejects(bad, match):
    with pytest.raises(ValueError, match=match):
        make_priors(**bad)


# ----------------------------------------------------------------------------- assignment
def _assign_loop(targets, priors, threshold=None, neighbours=False):
    """Slow reference: every (ground truth, anchor) pair by hand, then the collision rule."""
    anchors = priors.anchors
    n_l, n_a = anchors.shape[:2]
    rows = []
    for i, t in enumerate(targets):
        claims = {}
        for g, (box, label) in enumerate(zip(t["boxes"].tolist(), t["labels"].tolist(), strict=True)):
            w, h = box[2] - box[0], box[3] - box[1]
            cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
            ious = []
            for k in range(n_l * n_a):
                aw, ah = anchors.reshape(-1, 2)[k].tolist()
                inter = min(w, aw) * min(h, ah)
                ious.append(inter / (w * h + aw * ah - inter))
            best = max(range(len(ious)), key=lambda k: (ious[k], -k))
            ks = [k for k in range(len(ious)) if k == best or (threshold is not None and ious[k] > threshold)]
            for k in ks:
                lvl, a = divmod(k, n_a)
                s = float(priors.stride[priors.level == lvl][0])
                gh, gw = priors.grid_sizes[lvl]
                x, y = min(int(cx // s), gw - 1), min(int(cy // s), gh - 1)
                cells = [(x, y)]
                if neighbours:
                    cells += [(x - 1 if cx / s - x < 0.5 else x + 1, y), (x, y - 1 if cy / s - y < 0.5 else y + 1)]
                for x, y in cells:
                    if not (0 <= x < gw and 0 <= y < gh):
                        continue
                    p = sum(hh * ww * n_a for hh, ww in priors.grid_sizes[:lvl]) + (y * gw + x) * n_a + a
                    old = claims.get(p)
                    if old is None or ious[k] > old[0]:
                        claims[p] = (ious[k], g, label, box)
        for p, (_, g, label, box) in claims.items():
            rows.append((i, p, g, label, tuple(box)))
    return sorted(rows)


def _rows(a):
    return sorted((int(b), int(p), int(g), int(lab), tuple(box)) for b, p, g, lab, box in zip(
        a.batch_index, a.pred_index, a.gt_index, a.labels, a.boxes.tolist(), strict=True))


@PROPERTY
@given(seed=st.integers(0, 10_000), threshold=st.sampled_from([None, 0.3, 0.6]), neighbours=st.booleans())
def test_assignment_matches_loop(seed, threshold, neighbours):
    g = torch.Generator().manual_seed(seed)
    priors = make_priors(128, (16, 32, 64), [[[8, 8], [16, 12]], [[24, 32], [40, 30]], [[64, 64], [100, 80]]],
                         xy_scale=2.0)
    targets = []
    for _ in range(3):
        k = int(torch.randint(0, 6, (1,), generator=g))
        xy = torch.rand(k, 2, generator=g) * 100
        wh = torch.rand(k, 2, generator=g) * 60 + 2
        targets.append({"boxes": torch.cat([xy, (xy + wh).clamp(max=128)], 1).round(),
                        "labels": torch.randint(0, 4, (k,), generator=g)})
    a = assign_targets(targets, priors, 4, threshold, neighbours)
    assert _rows(a) == _assign_loop(targets, priors, threshold, neighbours)


def test_neighbours_golden_and_need_xy_scale_2():
    priors = make_priors(64, (16,), [[[16, 16]]], xy_scale=2.0)   # 4 x 4 cells
    a = assign_targets([target([[12, 22, 28, 38]], [0])], priors, neighbours=True)
    # centre (20, 30): cell (1, 1), offset (0.25, 0.875) -> left neighbour (0, 1) and lower neighbour (1, 2)
    assert sorted(a.pred_index.tolist()) == [4, 5, 9]
    with pytest.raises(ValueError, match="xy_scale >= 2"):
        assign_targets([target([[12, 22, 28, 38]], [0])], make_priors(64, (16,), [[[16, 16]]]), neighbours=True)


def test_assignment_golden():
    # 64 x 64, strides 16 and 32, anchors (8, 8) / (16, 16) at stride 16, (32, 32) / (48, 48) at 32
    priors = make_priors(64, (16, 32), [[[8, 8], [16, 16]], [[32, 32], [48, 48]]])
    t = target([[0, 0, 16, 16], [20, 36, 52, 68 - 4]], [1, 0])
    a = assign_targets([t], priors)
    # box 0: 16 x 16 fits anchor 1 exactly; centre (8, 8) -> cell (0, 0) of stride 16: prediction 1
    # box 1: 32 x 28 fits (32, 32) best (IoU 28/32); centre (36, 50) -> cell (1, 1) of stride 32: 32 + (1 * 2 + 1) * 2 + 0
    assert a.pred_index.tolist() == [1, 38] and a.gt_index.tolist() == [0, 1] and a.labels.tolist() == [1, 0]
    assert a.lost == 0


def test_collision_keeps_the_better_fit_and_counts_the_lost():
    priors = one_cell()
    t = target([[4, 4, 28, 28], [0, 0, 32, 32]], [0, 1])         # both centred at 16, 16 -> the one prediction
    a = assign_targets([t], priors)
    assert a.gt_index.tolist() == [1] and a.labels.tolist() == [1] and a.lost == 1
    tie = target([[0, 0, 32, 32], [0, 0, 32, 32]], [0, 1])
    a = assign_targets([tie], priors)
    assert a.gt_index.tolist() == [0] and a.lost == 1             # the earlier one on ties


def test_centre_on_the_far_edge_goes_to_the_last_cell():
    priors = make_priors(64, (32,), [[[8, 8]]])
    a = assign_targets([target([[60, 60, 68, 68]], [0])], priors)   # centre (64, 64)
    assert a.pred_index.tolist() == [3]


def test_multi_anchor_threshold_adds_positives():
    priors = one_cell(((32, 32), (30, 30), (8, 8)))
    t = target([[0, 0, 32, 32]], [0])
    assert assign_targets([t], priors).pred_index.tolist() == [0]
    assert assign_targets([t], priors, multi_anchor_threshold=0.5).pred_index.tolist() == [0, 1]


def test_empty_targets_and_batch():
    priors = one_cell()
    a = assign_targets([target([], [])], priors)
    assert len(a.pred_index) == 0 and a.boxes.shape == (0, 4) and a.lost == 0
    assert len(assign_targets([], priors).pred_index) == 0


@pytest.mark.parametrize("targets, match", [
    ([target([[0, 0, 8, 8]], [3])], r"class indices in \[0, 2\)"),
    ([target([[8, 8, 8, 12]], [0])], "positive width and height"),
    ([target([[30, 30, 60, 60]], [0])], "centre lies outside"),
    ([{"boxes": torch.zeros(1, 4)}], "'labels'"),
    ([target([[0, 0, 8, 8]], [0]) | {"labels": torch.tensor([0.0])}], "integer"),
])
def test_assignment_rejects(targets, match):
    with pytest.raises((TypeError, ValueError), match=match):
        assign_targets(targets, one_cell(), 2)


# ----------------------------------------------------------------------------- decoding
@PROPERTY
@given(seed=st.integers(0, 10_000))
def test_encoding_round_trips_through_decoding(seed):
    g = torch.Generator().manual_seed(seed)
    priors = make_priors(96, (16, 32), [[[10, 14], [20, 16]], [[40, 30], [60, 70]]])
    xy = torch.rand(5, 2, generator=g) * 50
    wh = torch.rand(5, 2, generator=g) * 40 + 4
    boxes = torch.cat([xy, xy + wh], 1).double()
    a = assign_targets([{"boxes": boxes, "labels": torch.zeros(5, dtype=torch.long)}], priors)
    pred = torch.zeros(1, len(priors.stride), 7, dtype=torch.float64)
    pred[0, a.pred_index, :4] = _encode(a.boxes.double(), priors, a.pred_index)
    decoded = decode_boxes(pred, priors)[0, a.pred_index]
    torch.testing.assert_close(decoded, a.boxes.double(), atol=1e-4, rtol=0)


def _encode(boxes, priors, idx):
    """encode_yolo per prediction (each has its own stride)."""
    return torch.stack([encode_yolo(b[None], priors.anchor_wh[i][None].double(), float(priors.stride[i]),
                                    priors.cell_xy[i][None].double())[0] for b, i in zip(boxes, idx.tolist(), strict=True)])


def test_decode_golden():
    priors = make_priors(64, (32,), [[[10, 20]]])
    pred = torch.zeros(1, 4, 5)
    pred[0, 3, :4] = torch.tensor([0.0, 0.0, math.log(2), 0.0])  # cell (1, 1): centre (48, 48), w 20, h 20
    torch.testing.assert_close(decode_boxes(pred, priors)[0, 3], torch.tensor([38.0, 38.0, 58.0, 58.0]))
    torch.testing.assert_close(decode_boxes(pred, priors)[0, 0], torch.tensor([11.0, 6.0, 21.0, 26.0]))


def test_postprocess_scores_thresholds_and_nms():
    priors = make_priors(64, (32,), [[[20, 20], [22, 22]]])       # 2 x 2 cells, 2 anchors: 8 predictions
    pred = torch.full((1, 8, 8), -10.0)
    pred[0, :, :4] = 0
    pred[0, 0, 4], pred[0, 0, 5] = 3.0, 2.0                      # cell (0, 0), anchor 0, class 0
    pred[0, 1, 4], pred[0, 1, 5] = 2.0, 2.0                      # same cell, anchor 1: overlaps -> suppressed
    pred[0, 7, 4], pred[0, 7, 7] = 1.0, 0.0                      # cell (1, 1), anchor 1, class 2: 0.731 * 0.5
    out = postprocess(pred, priors, score_threshold=0.3, iou_threshold=0.5)[0]
    s = torch.sigmoid
    torch.testing.assert_close(out["scores"], torch.stack([s(torch.tensor(3.0)) * s(torch.tensor(2.0)),
                                                           s(torch.tensor(1.0)) * 0.5]))
    assert out["labels"].tolist() == [0, 2]
    torch.testing.assert_close(out["boxes"], torch.tensor([[6.0, 6.0, 26.0, 26.0], [37.0, 37.0, 59.0, 59.0]]))
    assert len(postprocess(pred, priors, score_threshold=0.99)[0]["boxes"]) == 0
    empty = postprocess(pred[:0], priors)
    assert empty == []


def test_postprocess_clips_and_limits():
    priors = make_priors(64, (32,), [[[200, 200]]])
    pred = torch.zeros(1, 4, 6)
    out = postprocess(pred, priors, score_threshold=0.1, iou_threshold=1.0, max_detections=3)[0]
    assert len(out["boxes"]) == 3
    assert out["boxes"].min() >= 0 and out["boxes"].max() <= 64


# ----------------------------------------------------------------------------- loss
def test_loss_golden_perfect_box():
    # t = 0 decodes to (0, 0, 32, 32) with the (32, 32) anchor: the ground truth itself
    pred = torch.zeros(1, 1, 7)
    loss = yolo_loss(pred, [target([[0, 0, 32, 32]], [0])], one_cell())
    torch.testing.assert_close(loss["loss_box"], torch.tensor(0.0), atol=1e-6, rtol=0)
    torch.testing.assert_close(loss["loss_obj"], torch.tensor(LOG2))      # BCE(logit 0, 1)
    torch.testing.assert_close(loss["loss_noobj"], torch.tensor(0.0))      # the only prediction is positive
    torch.testing.assert_close(loss["loss_cls"], torch.tensor(2 * LOG2))   # BCE(0, 1) + BCE(0, 0)


@pytest.mark.parametrize("box_loss, expected", [
    # IoU of (0,0,32,32) with (8,8,24,24) = 256 / 1024; same centre, both square: CIoU loss 0.75;
    # size weight 2 - 256 / 1024 = 1.75
    ("ciou", 0.75 * 1.75),
    # sigmoid(0) = 0.5 = the centre's offset; log(16 / 32) twice, squared
    ("mse", 2 * math.log(0.5) ** 2 * 1.75),
])
def test_loss_golden_box_terms(box_loss, expected):
    pred = torch.zeros(2, 1, 7)
    t = target([[8, 8, 24, 24]], [1])
    loss = yolo_loss(pred, [t, t], one_cell(), box_loss=box_loss)
    torch.testing.assert_close(loss["loss_box"], torch.tensor(expected))  # per image: the mean of two equal images


def test_ignore_threshold_spares_good_non_responsible_predictions():
    priors = one_cell(((32, 32), (16, 16)))                      # prediction 0 decodes to (0, 0, 32, 32)
    t = target([[8, 8, 24, 24]], [0])                             # best anchor: (16, 16) -> prediction 1
    pred = torch.zeros(1, 2, 6)
    spared = yolo_loss(pred, [t], priors, ignore_threshold=0.2)  # IoU 0.25 > 0.2: ignored
    pushed = yolo_loss(pred, [t], priors, ignore_threshold=0.5)
    torch.testing.assert_close(spared["loss_noobj"], torch.tensor(0.0))
    torch.testing.assert_close(pushed["loss_noobj"], torch.tensor(LOG2))


def test_obj_target_iou_and_weights():
    pred = torch.zeros(1, 1, 6)
    t = target([[8, 8, 24, 24]], [0])
    loss = yolo_loss(pred, [t], one_cell(), obj_target="iou", lambda_obj=2.0, lambda_cls=0.0)
    # BCE(logit 0, 0.25) = log 2 (independent of the target at p = 0.5); weighted 2
    torch.testing.assert_close(loss["loss_obj"], torch.tensor(2 * LOG2))
    assert loss["loss_cls"] == 0


def test_loss_without_objects_only_pushes_objectness_down():
    pred = torch.zeros(2, 1, 6)
    loss = yolo_loss(pred, [target([], []), target([], [])], one_cell())
    assert loss["loss_box"] == 0 and loss["loss_obj"] == 0 and loss["loss_cls"] == 0
    torch.testing.assert_close(loss["loss_noobj"], torch.tensor(LOG2))
    empty = yolo_loss(torch.zeros(0, 1, 6), [], one_cell())
    assert all(v == 0 and not v.isnan() for v in empty.values())


@pytest.mark.parametrize("box_loss", ["ciou", "mse"])
@pytest.mark.parametrize("t_wh", [-80.0, 0.0, 80.0])
def test_gradients_finite_for_degenerate_predictions(box_loss, t_wh):
    # t_w = -80: a box of width ~1e-34 (zero for all purposes); +80: clamped before exp
    pred = torch.zeros(1, 2, 7)
    pred[..., 2:4] = t_wh
    pred.requires_grad_(True)
    loss = yolo_loss(pred, [target([[8, 8, 24, 24]], [0])], one_cell(((32, 32), (16, 16))), box_loss=box_loss)
    total = sum(loss.values())
    total.backward()
    assert torch.isfinite(total) and torch.isfinite(pred.grad).all()


@pytest.mark.parametrize("box_loss", ["mse", "ciou"])
def test_loss_gradcheck(box_loss):
    # CIoU's trade-off weight alpha is held constant (no gradient, as the paper): gradcheck then sees the
    # gradient of alpha * v with alpha fixed, which differs from the numerical one; boxes of one aspect
    # ratio (v = 0) make the two agree
    priors = make_priors(64, (32,), [[[20, 24], [40, 30]]])
    g = torch.Generator().manual_seed(0)
    pred = (torch.randn(2, 8, 8, generator=g, dtype=torch.float64) * 0.5)
    if box_loss == "ciou":
        pred[..., 3] = pred[..., 2] + math.log(20 / 24)           # square predictions of the (20, 24) anchor...
        pred[:, 1::2, 3] = pred[:, 1::2, 2] + math.log(40 / 30)   # ...and of the (40, 30) one
    pred.requires_grad_(True)
    targets = [target([[5, 6, 30, 28], [34, 36, 60, 62]], [0, 2]), target([[10, 30, 40, 60]], [1])]
    if box_loss == "ciou":
        targets = [target([[5, 6, 30, 31], [34, 36, 60, 62]], [0, 2]), target([[10, 30, 40, 60]], [1])]
    for t in targets:
        t["boxes"] = t["boxes"].double()

    def f(p):
        return sum(yolo_loss(p, targets, priors, box_loss=box_loss, ignore_threshold=1.0).values())
    assert torch.autograd.gradcheck(f, (pred,))


def test_loss_matches_a_loop_reference():
    priors = make_priors(64, (16, 32), [[[10, 10], [20, 20]], [[30, 30], [50, 40]]])
    g = torch.Generator().manual_seed(3)
    pred = torch.randn(2, len(priors.stride), 8, generator=g, dtype=torch.float64)
    targets = [target([[5, 6, 30, 28], [34, 36, 60, 62]], [0, 2]), target([[10, 30, 40, 60]], [1])]
    loss = yolo_loss(pred, targets, priors, ignore_threshold=0.3)
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    boxes = decode_boxes(pred, priors)
    a = assign_targets(targets, priors)
    pos = {(int(b), int(p)): (box, int(lab)) for b, p, box, lab in zip(a.batch_index, a.pred_index, a.boxes, a.labels,
                                                                       strict=True)}
    ref = dict.fromkeys(("box", "obj", "noobj", "cls"), 0.0)
    from cvcourse.ops import complete_box_iou_loss
    for b in range(2):
        for p in range(len(priors.stride)):
            if (b, p) in pos:
                gt, lab = pos[(b, p)]
                w, h = (gt[2] - gt[0]).item(), (gt[3] - gt[1]).item()
                ref["box"] += float(complete_box_iou_loss(boxes[b, p][None], gt[None].double())[0]) * (2 - w * h / 64 ** 2)
                ref["obj"] += float(bce(pred[b, p, 4], torch.tensor(1.0, dtype=torch.float64)))
                onehot = torch.zeros(3, dtype=torch.float64)
                onehot[lab] = 1
                ref["cls"] += float(bce(pred[b, p, 5:], onehot, reduction="sum"))
            elif float(box_iou(boxes[b, p][None], targets[b]["boxes"].double()).max()) <= 0.3:
                ref["noobj"] += float(bce(pred[b, p, 4], torch.tensor(0.0, dtype=torch.float64)))
    for k in ref:
        assert float(loss[f"loss_{k}"]) == pytest.approx(ref[k] / 2, rel=1e-9)


@pytest.mark.parametrize("kwargs, match", [
    (dict(box_loss="giou"), "box_loss"),
    (dict(obj_target="half"), "obj_target"),
    (dict(ignore_threshold=1.5), "ignore_threshold"),
    (dict(lambda_box=-1), "lambda_box"),
])
def test_loss_rejects_options(kwargs, match):
    with pytest.raises(ValueError, match=match):
        yolo_loss(torch.zeros(1, 1, 6), [target([], [])], one_cell(), **kwargs)


def test_loss_rejects_inputs():
    with pytest.raises(ValueError, match=r"Tensor\[N, P=1, 5 \+ C\]"):
        yolo_loss(torch.zeros(1, 2, 6), [target([], [])], one_cell())
    with pytest.raises(ValueError, match="expected 2 dicts"):
        yolo_loss(torch.zeros(2, 1, 6), [target([], [])], one_cell())
    with pytest.raises(TypeError, match="priors"):
        yolo_loss(torch.zeros(1, 1, 6), [target([], [])], None)
    with pytest.raises(TypeError, match="floating"):
        yolo_loss(torch.zeros(1, 1, 6, dtype=torch.long), [target([], [])], one_cell())
    assert isinstance(one_cell(), YoloPriors)
    assert wh_iou is not None
