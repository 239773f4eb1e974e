"""The exercise checks of chapter 06 (`cvcourse.checks.boxes`): the references and a learner's
correct answers pass, typical mistakes fail with a message naming the case, a stub is "not attempted"."""
import json

import pytest
import torch
from check_helpers import assert_fails_naming_the_case

from cvcourse import checks, ops
from cvcourse.checks._core import GRADE_LOG_ENV


@pytest.fixture(autouse=True)
def no_grade_log(monkeypatch):
    monkeypatch.delenv(GRADE_LOG_ENV, raising=False)


# ----------------------------------------------------------------------------- what a learner writes
def _area(b):
    return (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])


def _inter_union(boxes1, boxes2):
    lt = torch.maximum(boxes1[:, None, :2], boxes2[None, :, :2])   # (N, M, 2)
    rb = torch.minimum(boxes1[:, None, 2:], boxes2[None, :, 2:])   # (N, M, 2)
    wh = (rb - lt).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]                                # (N, M)
    return inter, _area(boxes1)[:, None] + _area(boxes2)[None, :] - inter


def learner_iou(boxes1, boxes2):
    """The notebook's answer: broadcasting, 0/0 -> 0."""
    inter, union = _inter_union(boxes1, boxes2)
    return inter / union.where(union > 0, 1.0)


def learner_giou(boxes1, boxes2):
    inter, union = _inter_union(boxes1, boxes2)
    lt = torch.minimum(boxes1[:, None, :2], boxes2[None, :, :2])
    rb = torch.maximum(boxes1[:, None, 2:], boxes2[None, :, 2:])
    enclosing = (rb - lt).prod(dim=2)                              # (N, M)
    iou = inter / union.where(union > 0, 1.0)
    return iou - (enclosing - union) / enclosing.where(enclosing > 0, 1.0)


def loop_iou(boxes1, boxes2):
    """Another correct answer: two loops over Python floats, into a pre-shaped tensor."""
    out = torch.zeros(len(boxes1), len(boxes2))
    for i, (ax1, ay1, ax2, ay2) in enumerate(boxes1.tolist()):
        for j, (bx1, by1, bx2, by2) in enumerate(boxes2.tolist()):
            inter = max(0, min(ax2, bx2) - max(ax1, bx1)) * max(0, min(ay2, by2) - max(ay1, by1))
            union = (ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter
            out[i, j] = inter / union if union > 0 else 0.0
    return out


def eps_like_yolo(boxes1, boxes2):
    """Adds a tiny eps to the union instead of a guard, as many detectors do: accepted."""
    inter, union = _inter_union(boxes1, boxes2)
    return inter / (union + 1e-7)


# ----------------------------------------------------------------------------- typical mistakes
def union_without_overlap(boxes1, boxes2):
    inter, union = _inter_union(boxes1, boxes2)
    return inter / (union + inter)


def no_clamp(boxes1, boxes2):
    """Forgets that a negative overlap width means no overlap: two negatives make a positive area."""
    lt = torch.maximum(boxes1[:, None, :2], boxes2[None, :, :2])
    rb = torch.minimum(boxes1[:, None, 2:], boxes2[None, :, 2:])
    inter = (rb - lt).prod(dim=2)
    union = _area(boxes1)[:, None] + _area(boxes2)[None, :] - inter
    return inter / union.where(union != 0, 1.0)


def no_zero_guard(boxes1, boxes2):
    inter, union = _inter_union(boxes1, boxes2)
    return inter / union


def elementwise(boxes1, boxes2):
    """Pairs boxes1[i] with boxes2[i] only (what a loss does), not every pair."""
    return torch.diagonal(learner_iou(boxes1, boxes2))


def transposed(boxes1, boxes2):
    return learner_iou(boxes2, boxes1)


def stacked_rows(boxes1, boxes2):
    """torch.stack of an empty list fails: no answer for N = 0."""
    return torch.stack([learner_iou(b[None], boxes2)[0] for b in boxes1])


def iou_as_giou(boxes1, boxes2):
    return learner_iou(boxes1, boxes2)


def penalty_over_union(boxes1, boxes2):
    inter, union = _inter_union(boxes1, boxes2)
    enclosing = (torch.maximum(boxes1[:, None, 2:], boxes2[None, :, 2:])
                 - torch.minimum(boxes1[:, None, :2], boxes2[None, :, :2])).prod(dim=2)
    return learner_iou(boxes1, boxes2) - (enclosing - union) / union.where(union > 0, 1.0)


def intersection_as_enclosing(boxes1, boxes2):
    """min and max swapped: the 'enclosing' box is the overlap."""
    inter, union = _inter_union(boxes1, boxes2)
    enclosing = (torch.minimum(boxes1[:, None, 2:], boxes2[None, :, 2:])
                 - torch.maximum(boxes1[:, None, :2], boxes2[None, :, :2])).clamp(min=0).prod(dim=2)
    return learner_iou(boxes1, boxes2) - (enclosing - union) / enclosing.where(enclosing > 0, 1.0)


def giou_no_enclosing_guard(boxes1, boxes2):
    inter, union = _inter_union(boxes1, boxes2)
    enclosing = (torch.maximum(boxes1[:, None, 2:], boxes2[None, :, 2:])
                 - torch.minimum(boxes1[:, None, :2], boxes2[None, :, :2])).prod(dim=2)
    return learner_iou(boxes1, boxes2) - (enclosing - union) / enclosing


# ----------------------------------------------------------------------------- tests
def test_checks_are_registered_for_chapter_06():
    assert [(s.id, s.name) for s in checks.exercises_of("06")] == [("06.1", "box_iou"),
                                                                  ("06.2", "generalized_box_iou")]


def test_the_references_and_a_learners_answers_pass(capsys):
    for fn in (ops.box_iou, learner_iou, loop_iou, eps_like_yolo):
        result = checks.box_iou(fn)
        assert result.passed and result.passed_cases == result.total_cases == 12, result.message
    for fn in (ops.generalized_box_iou, learner_giou):
        result = checks.generalized_box_iou(fn)
        assert result.passed and result.passed_cases == result.total_cases == 15, result.message
    out = capsys.readouterr().out.splitlines()
    assert out == ["[PASS] Exercise 06.1 (pairwise IoU): passed all 12 cases."] * 4 + \
                  ["[PASS] Exercise 06.2 (pairwise GIoU): passed all 15 cases."] * 2


def test_hand_worked_values():
    """A 2x2 box and its copy shifted by (1, 1): overlap 1, union 7. The chapter's golden GIoU values
    against [0, 0, 1, 1]: 0.25 (inside a 2x2 box), 1, 0 (touching edges), -0.5 (touching corners)."""
    a, b = torch.tensor([[0.0, 0, 2, 2]]), torch.tensor([[1.0, 1, 3, 3]])
    assert learner_iou(a, b).item() == pytest.approx(1 / 7) == ops.box_iou(a, b).item()
    four = torch.tensor([[-1.0, -1, 1, 1], [0, 0, 1, 1], [0, 1, 1, 2], [1, 1, 2, 2]])
    unit = torch.tensor([[0.0, 0, 1, 1]])
    expected = torch.tensor([[0.25], [1.0], [0.0], [-0.5]])
    torch.testing.assert_close(learner_giou(four, unit), expected)
    torch.testing.assert_close(ops.generalized_box_iou(four, unit), expected)


@pytest.mark.parametrize("check, wrong, case, detail", [
    (checks.box_iou, union_without_overlap, "shifted by (1, 1)", "expected 0.142857, got 0.125"),
    (checks.box_iou, no_clamp, "disjoint boxes", "expected 0, got"),
    (checks.box_iou, no_zero_guard, "two identical points", "contains NaN or inf"),
    (checks.box_iou, elementwise, "shifted by (1, 1)", "shape (1,), expected (1, 1)"),
    (checks.box_iou, transposed, "3 boxes against 2", "shape (2, 3), expected (3, 2)"),
    (checks.box_iou, stacked_rows, "no boxes in boxes1", "raised RuntimeError"),
    (checks.generalized_box_iou, iou_as_giou, "the chapter's four boxes", "expected -0.5, got 0"),
    (checks.generalized_box_iou, penalty_over_union, "the chapter's four boxes", "(expected -0.5, got -1)"),
    (checks.generalized_box_iou, intersection_as_enclosing, "the chapter's four boxes", "values differ"),
    (checks.generalized_box_iou, giou_no_enclosing_guard, "two identical points", "contains NaN or inf"),
])
def test_a_wrong_function_fails_naming_the_case(check, wrong, case, detail, capsys):
    assert_fails_naming_the_case(check, wrong, case, detail, capsys)


def test_the_learners_inputs_are_copies():
    def mutates(boxes1, boxes2):
        value = learner_iou(boxes1, boxes2)
        boxes1.zero_()
        boxes2.zero_()
        return value

    assert checks.box_iou(mutates).passed                    # every case still sees its own boxes
    assert checks.box_iou(learner_iou).passed


def test_a_verdict_is_logged_for_the_grader(tmp_path, monkeypatch):
    log = tmp_path / "grades.jsonl"
    monkeypatch.setenv(GRADE_LOG_ENV, str(log))
    checks.box_iou(learner_iou)
    checks.generalized_box_iou(iou_as_giou)
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(r["exercise"], r["status"]) for r in rows] == [("06.1", "passed"), ("06.2", "failed")]
