"""The exercise checks of chapter 12 (`cvcourse.checks.yolo`): the references and a learner's correct
answers pass, typical mistakes fail with a message naming the case, a stub is "not attempted"."""
import json
import math

import pytest
import torch
from check_helpers import assert_fails_naming_the_case

from cvcourse.checks import yolo as checks
from cvcourse.checks._core import GRADE_LOG_ENV, exercises_of
from cvcourse.yolo import decode_boxes, encode_v1_targets, make_priors, yolo_v1_loss


@pytest.fixture(autouse=True)
def no_grade_log(monkeypatch):
    monkeypatch.delenv(GRADE_LOG_ENV, raising=False)


# ----------------------------------------------------------------------------- what a learner writes
def learner_encode(box, label, S=7, B=2, C=20, image_size=(448, 448)):
    """The notebook's answer: plain Python numbers, then one cell of a zero tensor."""
    H, W = image_size
    x1, y1, x2, y2 = box.float().tolist()
    u, v = (x1 + x2) / 2 / W * S, (y1 + y2) / 2 / H * S          # the centre in cell units
    col, row = min(int(u), S - 1), min(int(v), S - 1)
    target = torch.zeros(S, S, 5 * B + C)
    target[row, col, :5] = torch.tensor([u - col, v - row, (x2 - x1) / W, (y2 - y1) / H, 1.0])
    target[row, col, 5 * B + label] = 1.0
    return target


def tensor_encode(box, label, S=7, B=2, C=20, image_size=(448, 448)):
    """Another correct answer: tensor arithmetic, floor, float64."""
    size = torch.tensor([image_size[1], image_size[0]], dtype=torch.float64)
    b = box.double()
    centre = (b[:2] + b[2:]) / 2 / size * S                       # (u, v)
    cell = centre.floor().clamp(max=S - 1)
    target = torch.zeros(S, S, 5 * B + C, dtype=torch.float64)
    col, row = cell.long().tolist()
    target[row, col, 0:2] = centre - cell
    target[row, col, 2:4] = (b[2:] - b[:2]) / size
    target[row, col, 4] = 1
    target[row, col, 5 * B:] = torch.nn.functional.one_hot(torch.tensor(label), C).double()
    return target


def reference_encode(box, label, S=7, B=2, C=20, image_size=(448, 448)):
    return encode_v1_targets(box[None], torch.tensor([label]), S, B, C, image_size=image_size)


def _xyxy(box, S):
    """(..., 4) x, y, w, h (cell offsets, image fractions) as image-relative xyxy, the cell left out: both
    boxes of an IoU are in the same cell, and IoU does not change when both move."""
    return torch.cat([box[..., :2] / S - box[..., 2:4] / 2, box[..., :2] / S + box[..., 2:4] / 2], dim=-1)


def learner_loss(pred, target, S=7, B=2, C=20, lambda_coord=5.0, lambda_noobj=0.5):
    """The notebook's answer."""
    n = pred.shape[0]
    boxes = pred[..., :5 * B].reshape(n, S, S, B, 5)              # (N, S, S, B, 5)
    gt = target[..., None, :4]                                    # (N, S, S, 1, 4)
    obj = target[..., 4] == 1                                     # (N, S, S)
    a, g = _xyxy(boxes[..., :4], S), _xyxy(gt, S)
    wh = (torch.minimum(a[..., 2:], g[..., 2:]) - torch.maximum(a[..., :2], g[..., :2])).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    union = boxes[..., 2] * boxes[..., 3] + gt[..., 2] * gt[..., 3] - inter
    iou = (inter / union).detach()                                # (N, S, S, B)
    resp = torch.nn.functional.one_hot(iou.argmax(-1), B).bool() & obj[..., None]
    err = (boxes[..., :2] - gt[..., :2]).square().sum(-1) + (boxes[..., 2:4].sqrt() - gt[..., 2:4].sqrt()).square().sum(-1)
    conf = boxes[..., 4]
    return {"coord": lambda_coord * err[resp].sum() / n,
            "obj": (conf - iou)[resp].square().sum() / n,
            "noobj": lambda_noobj * conf[~resp].square().sum() / n,
            "class": (pred[..., 5 * B:] - target[..., 5 * B:])[obj].square().sum() / n}


def loop_loss(pred, target, S=7, B=2, C=20, lambda_coord=5.0, lambda_noobj=0.5):
    """Another correct answer: a loop over images, cells and predictors, Python floats, and a "loss" key."""
    terms = dict.fromkeys(("coord", "obj", "noobj", "class"), 0.0)
    n = pred.shape[0]
    for i in range(n):
        for r in range(S):
            for c in range(S):
                p, t = pred[i, r, c].tolist(), target[i, r, c].tolist()
                ious = [_iou_one(p[5 * j:5 * j + 4], t[:4], S) for j in range(B)] if t[4] == 1 else [0.0] * B
                best = max(range(B), key=lambda j: (ious[j], -j)) if t[4] == 1 else -1
                for j in range(B):
                    x, y, w, h, conf = p[5 * j:5 * j + 5]
                    if j == best:
                        terms["coord"] += lambda_coord * ((x - t[0]) ** 2 + (y - t[1]) ** 2
                                                          + (math.sqrt(w) - math.sqrt(t[2])) ** 2
                                                          + (math.sqrt(h) - math.sqrt(t[3])) ** 2)
                        terms["obj"] += (conf - ious[j]) ** 2
                    else:
                        terms["noobj"] += lambda_noobj * conf ** 2
                if t[4] == 1:
                    terms["class"] += sum((a - b) ** 2 for a, b in zip(p[5 * B:], t[5 * B:], strict=True))
    out = {k: v / n for k, v in terms.items()}
    return {**out, "loss": sum(out.values())}


def _iou_one(p, t, S):
    (ax1, ay1, ax2, ay2), (bx1, by1, bx2, by2) = (_xyxy(torch.tensor(v, dtype=torch.float64), S).tolist() for v in (p, t))
    inter = max(0.0, min(ax2, bx2) - max(ax1, bx1)) * max(0.0, min(ay2, by2) - max(ay1, by1))
    return inter / (p[2] * p[3] + t[2] * t[3] - inter)


def reference_loss(pred, target, S=7, B=2, C=20, lambda_coord=5.0, lambda_noobj=0.5):
    return yolo_v1_loss(pred, target, S, B, C, lambda_coord, lambda_noobj)


def learner_decode(t, cell, anchor, stride):
    """The notebook's answer."""
    cx = (torch.sigmoid(t[0]) + cell[0]) * stride
    cy = (torch.sigmoid(t[1]) + cell[1]) * stride
    w, h = anchor[0] * torch.exp(t[2]), anchor[1] * torch.exp(t[3])
    return torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])


def math_decode(t, cell, anchor, stride):
    """Another correct answer: Python's math, a list turned into a tensor."""
    tx, ty, tw, th = t.tolist()
    sig = [1 / (1 + math.exp(-v)) for v in (tx, ty)]
    cx, cy = (sig[0] + cell[0]) * stride, (sig[1] + cell[1]) * stride
    w, h = anchor[0] * math.exp(tw), anchor[1] * math.exp(th)
    return torch.tensor([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], dtype=t.dtype)


def reference_decode(t, cell, anchor, stride):
    """The package: a one-cell-wide priors, the cell last."""
    priors = make_priors((stride * (cell[1] + 1), stride * (cell[0] + 1)), (stride,), [[anchor]])
    pred = torch.zeros(1, len(priors.stride), 4, dtype=t.dtype)
    pred[0, -1] = t
    return decode_boxes(pred, priors)[0, -1]


# ----------------------------------------------------------------------------- typical mistakes
def row_col_swapped(box, label, S=7, B=2, C=20, image_size=(448, 448)):
    return learner_encode(box, label, S, B, C, image_size).transpose(0, 1)


def xy_in_the_image(box, label, S=7, B=2, C=20, image_size=(448, 448)):
    target = learner_encode(box, label, S, B, C, image_size)
    r, c = (target[..., 4] == 1).nonzero()[0].tolist()
    target[r, c, 0:2] = (target[r, c, 0:2] + torch.tensor([c, r])) / S
    return target


def wh_in_cells(box, label, S=7, B=2, C=20, image_size=(448, 448)):
    target = learner_encode(box, label, S, B, C, image_size)
    target[..., 2:4] *= S
    return target


def rounded_cell(box, label, S=7, B=2, C=20, image_size=(448, 448)):
    H, W = image_size
    x1, y1, x2, y2 = box.float().tolist()
    u, v = (x1 + x2) / 2 / W * S, (y1 + y2) / 2 / H * S
    col, row = min(round(u), S - 1), min(round(v), S - 1)
    target = torch.zeros(S, S, 5 * B + C)
    target[row, col, :5] = torch.tensor([u - col, v - row, (x2 - x1) / W, (y2 - y1) / H, 1.0])
    target[row, col, 5 * B + label] = 1.0
    return target


def every_group(box, label, S=7, B=2, C=20, image_size=(448, 448)):
    target = learner_encode(box, label, S, B, C, image_size)
    r, c = (target[..., 4] == 1).nonzero()[0].tolist()
    target[r, c, :5 * B] = target[r, c, :5].repeat(B)
    return target


def class_after_first_group(box, label, S=7, B=2, C=20, image_size=(448, 448)):
    target = learner_encode(box, label, S, B, C, image_size)
    r, c = (target[..., 4] == 1).nonzero()[0].tolist()
    target[r, c, 5 * B:] = 0
    target[r, c, 5 + label] = 1
    return target


def confidence_target_one(pred, target, S=7, B=2, C=20, lambda_coord=5.0, lambda_noobj=0.5):
    """YOLOv1 as often reimplemented: the responsible predictor's confidence is pushed to 1, not to its IoU."""
    out = learner_loss(pred, target, S, B, C, lambda_coord, lambda_noobj)
    n = pred.shape[0]
    boxes = pred[..., :5 * B].reshape(n, S, S, B, 5)
    ious = learner_iou(boxes, target, S)
    resp = torch.nn.functional.one_hot(ious.argmax(-1), B).bool() & (target[..., 4] == 1)[..., None]
    return {**out, "obj": (boxes[..., 4] - 1)[resp].square().sum() / n}


def learner_iou(boxes, target, S):
    a, g = _xyxy(boxes[..., :4], S), _xyxy(target[..., None, :4], S)
    wh = (torch.minimum(a[..., 2:], g[..., 2:]) - torch.maximum(a[..., :2], g[..., :2])).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    return inter / (boxes[..., 2] * boxes[..., 3] + target[..., None, 2] * target[..., None, 3] - inter)


def no_square_roots(pred, target, S=7, B=2, C=20, lambda_coord=5.0, lambda_noobj=0.5):
    """w and h compared directly, as x and y."""
    out = learner_loss(pred, target, S, B, C, lambda_coord, lambda_noobj)
    n = pred.shape[0]
    boxes = pred[..., :5 * B].reshape(n, S, S, B, 5)
    resp = torch.nn.functional.one_hot(learner_iou(boxes, target, S).argmax(-1), B).bool() & (target[..., 4] == 1)[..., None]
    gt = target[..., None, :4]
    err = (boxes[..., :4] - gt).square().sum(-1)
    return {**out, "coord": lambda_coord * err[resp].sum() / n}


def predictor_zero_always(pred, target, S=7, B=2, C=20, lambda_coord=5.0, lambda_noobj=0.5):
    """The first predictor of each cell is always responsible, whatever the IoUs."""
    n = pred.shape[0]
    boxes = pred[..., :5 * B].reshape(n, S, S, B, 5)
    out = learner_loss(pred, target, S, B, C, lambda_coord, lambda_noobj)
    resp = torch.zeros_like(boxes[..., 0], dtype=torch.bool)
    resp[..., 0] = target[..., 4] == 1
    gt = target[..., None, :4]
    err = (boxes[..., :2] - gt[..., :2]).square().sum(-1) + (boxes[..., 2:4].sqrt() - gt[..., 2:4].sqrt()).square().sum(-1)
    iou = learner_iou(boxes, target, S)
    conf = boxes[..., 4]
    return {**out, "coord": lambda_coord * err[resp].sum() / n, "obj": (conf - iou)[resp].square().sum() / n,
            "noobj": lambda_noobj * conf[~resp].square().sum() / n}


def noobj_in_empty_cells_only(pred, target, S=7, B=2, C=20, lambda_coord=5.0, lambda_noobj=0.5):
    """The other predictors of a cell with an object are not pushed to 0."""
    out = learner_loss(pred, target, S, B, C, lambda_coord, lambda_noobj)
    conf = pred[..., :5 * B].reshape(*pred.shape[:3], B, 5)[..., 4]
    empty = target[..., 4] != 1
    return {**out, "noobj": lambda_noobj * conf[empty].square().sum() / pred.shape[0]}


def class_everywhere(pred, target, S=7, B=2, C=20, lambda_coord=5.0, lambda_noobj=0.5):
    out = learner_loss(pred, target, S, B, C, lambda_coord, lambda_noobj)
    return {**out, "class": (pred[..., 5 * B:] - target[..., 5 * B:]).square().sum() / pred.shape[0]}


def not_divided_by_n(pred, target, S=7, B=2, C=20, lambda_coord=5.0, lambda_noobj=0.5):
    return {k: v * pred.shape[0] for k, v in learner_loss(pred, target, S, B, C, lambda_coord, lambda_noobj).items()}


def fixed_lambdas(pred, target, S=7, B=2, C=20, lambda_coord=5.0, lambda_noobj=0.5):
    return learner_loss(pred, target, S, B, C)


def the_total_only(pred, target, S=7, B=2, C=20, lambda_coord=5.0, lambda_noobj=0.5):
    return sum(learner_loss(pred, target, S, B, C, lambda_coord, lambda_noobj).values())


def per_cell_terms(pred, target, S=7, B=2, C=20, lambda_coord=5.0, lambda_noobj=0.5):
    """The class term left as a Tensor[N, S, S] (not summed)."""
    out = learner_loss(pred, target, S, B, C, lambda_coord, lambda_noobj)
    return {**out, "class": (pred[..., 5 * B:] - target[..., 5 * B:]).square().sum(-1) * (target[..., 4] == 1)}


def no_sigmoid(t, cell, anchor, stride):
    """t_x, t_y used as offsets directly (YOLOv1-style), so the centre is not kept in its cell."""
    cx, cy = (t[0] + cell[0]) * stride, (t[1] + cell[1]) * stride
    w, h = anchor[0] * torch.exp(t[2]), anchor[1] * torch.exp(t[3])
    return torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])


def anchor_times_stride(t, cell, anchor, stride):
    """Anchors in grid units, as in YOLOv2's .cfg files; the package's are in pixels."""
    return learner_decode(t, cell, (anchor[0] * stride, anchor[1] * stride), stride)


def centre_and_size(t, cell, anchor, stride):
    box = learner_decode(t, cell, anchor, stride)
    return torch.cat([(box[:2] + box[2:]) / 2, box[2:] - box[:2]])


def cell_as_row_col(t, cell, anchor, stride):
    return learner_decode(t, (cell[1], cell[0]), anchor, stride)


def centre_in_cells(t, cell, anchor, stride):
    box = learner_decode(t, cell, anchor, stride)
    c, half = (box[:2] + box[2:]) / 2 / stride, (box[2:] - box[:2]) / 2
    return torch.cat([c - half, c + half])


def no_exp(t, cell, anchor, stride):
    """A linear size, p (1 + t), instead of p exp(t)."""
    cx, cy = ((torch.sigmoid(t[:2]) + torch.tensor(cell, dtype=t.dtype)) * stride).tolist()
    w, h = anchor[0] * (1 + t[2]), anchor[1] * (1 + t[3])
    return torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])


# ----------------------------------------------------------------------------- tests
def test_checks_are_registered_for_chapter_12():
    assert [(s.id, s.name) for s in exercises_of("12")] == [("12.1", "encode_one"), ("12.2", "v1_loss"),
                                                          ("12.3", "decode_one")]


def test_the_references_and_a_learners_answers_pass(capsys):
    for fn in (reference_encode, learner_encode, tensor_encode):
        result = checks.encode_one(fn)
        assert result.passed and result.passed_cases == result.total_cases == 11, result.message
    for fn in (reference_loss, learner_loss, loop_loss):
        result = checks.v1_loss(fn)
        assert result.passed and result.passed_cases == result.total_cases == 27, result.message
    for fn in (reference_decode, learner_decode, math_decode):
        result = checks.decode_one(fn)
        assert result.passed and result.passed_cases == result.total_cases == 8, result.message
    out = capsys.readouterr().out.splitlines()
    assert out == (["[PASS] Exercise 12.1 (one box as YOLOv1's target tensor): passed all 11 cases."] * 3
                   + ["[PASS] Exercise 12.2 (the YOLOv1 loss): passed all 27 cases."] * 3
                   + ["[PASS] Exercise 12.3 (decode one YOLOv3 prediction): passed all 8 cases."] * 3)


def test_hand_worked_encoding():
    """448 x 448, S = 7 (64-pixel cells): the box (100, 180, 220, 268) has its centre at (160, 224), so
    u = 2.5 (column 2, x = 0.5) and v = 3.5 (row 3, y = 0.5); w = 120 / 448, h = 88 / 448."""
    target = learner_encode(torch.tensor([100.0, 180.0, 220.0, 268.0]), 14)
    expected = torch.zeros(7, 7, 30)
    expected[3, 2, :5] = torch.tensor([0.5, 0.5, 120 / 448, 88 / 448, 1.0])
    expected[3, 2, 10 + 14] = 1
    torch.testing.assert_close(target, expected)


def test_hand_worked_loss_of_the_first_case():
    """One object in cell (0, 1) of a 2 x 2 grid: target (0.5, 0.5, 0.25, 0.36), class 1. Predictor 0
    (0.6, 0.4, 0.16, 0.25) is the closer one. In image fractions both boxes sit in the same cell, so the
    IoU can be computed with centres x / S: target [0.125, 0.07, 0.375, 0.43], predictor 0 [0.22, 0.075,
    0.38, 0.325]: intersection 0.155 x 0.25 = 0.03875, union 0.09 + 0.04 - 0.03875 = 0.09125."""
    from cvcourse.checks.yolo import _grid

    close, far = [0.6, 0.4, 0.16, 0.25, 0.7], [0.2, 0.9, 0.64, 0.09, 0.4]
    target = _grid(2, 2, 3, {(0, 1): [0.5, 0.5, 0.25, 0.36, 1] + [0] * 5 + [0, 1, 0]})
    pred = _grid(2, 2, 3, {(0, 1): close + far + [0.1, 0.6, 0.3], (1, 1): [0] * 4 + [0.2] + [0] * 4 + [-0.3, 1, 1, 1]})
    iou = 0.03875 / 0.09125
    coord = 5 * (0.1 ** 2 + 0.1 ** 2 + (0.4 - 0.5) ** 2 + (0.5 - 0.6) ** 2)
    expected = {"coord": coord, "obj": (0.7 - iou) ** 2, "noobj": 0.5 * (0.4 ** 2 + 0.2 ** 2 + 0.3 ** 2),
                "class": 0.1 ** 2 + 0.4 ** 2 + 0.3 ** 2}
    for fn in (learner_loss, reference_loss):
        got = fn(pred, target, 2, 2, 3)
        for term, value in expected.items():
            assert float(got[term]) == pytest.approx(value, rel=1e-5, abs=1e-6), term


def test_hand_worked_decoding():
    """Cell (3, 3) at stride 16, anchor 30 x 61, t = 0: centre (3.5 * 16, 3.5 * 16) = (56, 56)."""
    box = learner_decode(torch.zeros(4), (3, 3), (30.0, 61.0), 16)
    torch.testing.assert_close(box, torch.tensor([41.0, 25.5, 71.0, 86.5]))


@pytest.mark.parametrize("check, wrong, case, detail", [
    (checks.encode_one, row_col_swapped, "the paper's sizes", "values differ"),
    (checks.encode_one, xy_in_the_image, "the paper's sizes", "values differ"),
    (checks.encode_one, wh_in_cells, "the paper's sizes", "values differ"),
    (checks.encode_one, rounded_cell, "the paper's sizes", "values differ"),
    (checks.encode_one, every_group, "the paper's sizes", "values differ"),
    (checks.encode_one, class_after_first_group, "the paper's sizes", "values differ"),
    (checks.v1_loss, confidence_target_one, "one object in cell (0, 1); predictor 0 has the higher IoU", "'obj' term"),
    (checks.v1_loss, no_square_roots, "one object in cell (0, 1); predictor 0 has the higher IoU", "'coord' term"),
    (checks.v1_loss, predictor_zero_always, "now predictor 1 has the higher IoU", "'coord' term"),
    (checks.v1_loss, noobj_in_empty_cells_only, "one object in cell (0, 1); predictor 0", "'noobj' term"),
    (checks.v1_loss, class_everywhere, "no object in the image", "'class' term"),
    (checks.v1_loss, not_divided_by_n, "a batch of 2 images", "'coord' term"),
    (checks.v1_loss, fixed_lambdas, "lambda_coord = 1 and lambda_noobj = 1", "'coord' term"),
    (checks.v1_loss, the_total_only, "no object in the image", "expected a dict"),
    (checks.v1_loss, per_cell_terms, "no object in the image", "expected one number"),
    (checks.decode_one, no_sigmoid, "t = 0", "values differ"),
    (checks.decode_one, anchor_times_stride, "t = 0", "values differ"),
    (checks.decode_one, centre_and_size, "t = 0", "values differ"),
    (checks.decode_one, cell_as_row_col, "cell (c_x, c_y) = (5, 2)", "values differ"),
    (checks.decode_one, centre_in_cells, "t = 0", "values differ"),
    (checks.decode_one, no_exp, "t_w = log 2", "values differ"),
])
def test_a_wrong_function_fails_naming_the_case(check, wrong, case, detail, capsys):
    assert_fails_naming_the_case(check, wrong, case, detail, capsys)


def test_a_stub_is_not_attempted_and_the_rest_of_the_chapter_runs(capsys):
    def stub(*args, **kwargs):
        raise NotImplementedError("Exercise 12.x: write it; see the instructions above")

    for check in (checks.encode_one, checks.v1_loss, checks.decode_one):
        result = check(stub)
        assert result.status == "not attempted" and not result
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 3 and all(line.startswith("[TODO] Exercise 12.") for line in out)


def test_the_learners_inputs_are_copies():
    def mutates(pred, target, S=7, B=2, C=20, lambda_coord=5.0, lambda_noobj=0.5):
        out = learner_loss(pred, target, S, B, C, lambda_coord, lambda_noobj)
        pred.zero_()
        target.zero_()
        return out

    assert checks.v1_loss(mutates).passed
    assert checks.v1_loss(learner_loss).passed


def test_a_verdict_is_logged_for_the_grader(tmp_path, monkeypatch):
    log = tmp_path / "grades.jsonl"
    monkeypatch.setenv(GRADE_LOG_ENV, str(log))
    checks.encode_one(learner_encode)
    checks.v1_loss(class_everywhere)
    checks.decode_one(learner_decode)
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(r["exercise"], r["status"]) for r in rows] == [("12.1", "passed"), ("12.2", "failed"), ("12.3", "passed")]
