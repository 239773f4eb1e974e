"""The exercise check of chapter 08 (`cvcourse.checks.nms`): the reference and a learner's correct
answers pass, typical mistakes fail with a message naming the case, a stub is "not attempted"."""
import json

import numpy as np
import pytest
import torch
from check_helpers import assert_fails_naming_the_case

from cvcourse import checks, ops
from cvcourse.checks._core import GRADE_LOG_ENV


@pytest.fixture(autouse=True)
def no_grade_log(monkeypatch):
    monkeypatch.delenv(GRADE_LOG_ENV, raising=False)


# ----------------------------------------------------------------------------- what a learner writes
def greedy(boxes, order, survives):
    """Visit `order`: keep the first remaining box, keep the rest where `survives(iou)`."""
    keep = []
    while order.numel() > 0:
        best, rest = order[0], order[1:]
        keep.append(int(best))
        iou = ops.box_iou(boxes[best][None], boxes[rest])[0]
        order = rest[survives(iou)]
    return torch.tensor(keep, dtype=torch.int64)


def learner_nms(boxes, scores, iou_threshold):
    """The notebook's answer: a stable sort, then pick the best remaining box and drop its overlaps."""
    order = torch.sort(scores, descending=True, stable=True).indices
    return greedy(boxes, order, lambda iou: iou <= iou_threshold)


def python_nms(boxes, scores, iou_threshold):
    """Another correct answer: plain Python floats, a suppressed flag per box (torchvision's kernel)."""
    b, s = boxes.tolist(), scores.tolist()
    order = sorted(range(len(s)), key=lambda i: -s[i])            # sorted() is stable
    suppressed = [False] * len(s)
    keep = []
    for i in order:
        if suppressed[i]:
            continue
        keep.append(i)
        for j in order:
            inter = (max(0.0, min(b[i][2], b[j][2]) - max(b[i][0], b[j][0]))
                     * max(0.0, min(b[i][3], b[j][3]) - max(b[i][1], b[j][1])))
            union = ((b[i][2] - b[i][0]) * (b[i][3] - b[i][1]) + (b[j][2] - b[j][0]) * (b[j][3] - b[j][1])
                     - inter)
            if j != i and union > 0 and inter / union > iou_threshold:
                suppressed[j] = True
    return torch.tensor(keep, dtype=torch.int64)


# ----------------------------------------------------------------------------- typical mistakes
def greater_or_equal(boxes, scores, iou_threshold):
    """Suppresses at IoU == threshold too (`>=` instead of `>`)."""
    order = torch.sort(scores, descending=True, stable=True).indices
    return greedy(boxes, order, lambda iou: iou < iou_threshold)


def reversed_ties(boxes, scores, iou_threshold):
    """The classic `order = scores.argsort()[::-1]` (Fast R-CNN's py_cpu_nms): equal scores are
    visited last index first."""
    order = scores.argsort(stable=True).flip(0)
    return greedy(boxes, order, lambda iou: iou <= iou_threshold)


def sorted_by_index(boxes, scores, iou_threshold):
    """The right boxes, returned in index order instead of by decreasing score."""
    return torch.sort(learner_nms(boxes, scores, iou_threshold)).values


def any_higher_box_suppresses(boxes, scores, iou_threshold):
    """Drops a box when any better box overlaps it, kept or not: not greedy NMS."""
    order = torch.sort(scores, descending=True, stable=True).indices
    iou = ops.box_iou(boxes[order], boxes[order])
    dropped = (iou > iou_threshold).triu(diagonal=1).any(dim=0)
    return order[~dropped]


def float_indices(boxes, scores, iou_threshold):
    """`torch.tensor(keep)` of a list of ints: int64, except for an empty list (float32)."""
    keep = learner_nms(boxes, scores, iou_threshold).tolist()
    return torch.tensor(keep)


def a_list(boxes, scores, iou_threshold):
    return learner_nms(boxes, scores, iou_threshold).tolist()


def numpy_indices(boxes, scores, iou_threshold):
    return learner_nms(boxes, scores, iou_threshold).numpy()


# ----------------------------------------------------------------------------- tests
def test_the_check_is_registered_for_chapter_08():
    assert [(s.id, s.name, s.title) for s in checks.exercises_of("08")] == [("08.1", "nms", "greedy NMS")]


def test_the_reference_and_a_learners_answers_pass(capsys):
    for fn in (ops.nms, learner_nms, python_nms):
        result = checks.nms(fn)
        assert result.passed and result.passed_cases == result.total_cases == 12, result.message
    assert capsys.readouterr().out.splitlines() == ["[PASS] Exercise 08.1 (greedy NMS): passed all 12 cases."] * 3


def test_hand_worked_values():
    """The cases' answers, worked by hand (so the check does not depend on ops.nms alone)."""
    def boxes(*rows):
        return torch.tensor(rows, dtype=torch.float32)

    row = boxes((0, 0, 4, 4), (2, 0, 6, 4), (4, 0, 8, 4), (6, 0, 10, 4), (8, 0, 12, 4))
    cases = [
        (boxes((10, 0, 14, 4), (0, 0, 4, 4), (10, 1, 14, 4), (0, 0, 4, 5)), [0.625, 0.875, 0.5, 0.75], 0.5, [1, 0]),
        (row, [0.875, 0.75, 0.625, 0.5, 0.375], 0.3, [0, 2, 4]),
        (boxes((0, 0, 3, 1), (1, 0, 4, 1)), [0.875, 0.75], 0.5, [0, 1]),
        (boxes((0, 0, 4, 4), (10, 0, 14, 4), (0, 0, 4, 5), (20, 0, 24, 4), (10, 0, 14, 5)), [0.5] * 5, 0.5, [0, 1, 3]),
        (boxes((1, 2, 3, 2), (0, 0, 4, 4), (2, 2, 2, 2), (0, 0, 4, 4)), [0.875, 0.75, 0.625, 0.5], 0.5, [0, 1, 2]),
        (boxes((0, 0, 4, 4), (3, 3, 7, 7), (4, 0, 8, 3), (9, 9, 10, 10)), [0.875, 0.75, 0.625, 0.5], 0.0, [0, 2, 3]),
        (boxes((0, 0, 4, 4), (0, 0, 4, 4), (1, 1, 3, 3)), [0.25, 0.875, 0.5], 1.0, [1, 2, 0]),
    ]
    for b, s, t, expected in cases:
        for fn in (ops.nms, learner_nms, python_nms):
            assert fn(b, torch.tensor(s), t).tolist() == expected, (fn.__name__, expected)
    assert ops.box_iou(row[:1], row[1:2]).item() == pytest.approx(1 / 3)
    empty = ops.nms(torch.zeros(0, 4), torch.zeros(0), 0.5)
    assert empty.shape == (0,) and empty.dtype == torch.int64


@pytest.mark.parametrize("wrong, case, detail", [
    (greater_or_equal, "IoU exactly equal to the threshold", "expected: Tensor[2] int64 [0, 1]"),
    (reversed_ties, "equal scores", "values differ at index (0,): expected 0, got 4"),
    (sorted_by_index, "two objects apart", "values differ at index (0,): expected 1, got 0"),
    (any_higher_box_suppresses, "a row of boxes", "shape (1,), expected (3,)"),
    (float_indices, "no boxes", "dtype float32, expected an integer Tensor (int64)"),
    (a_list, "one object, 3 boxes", "expected a Tensor, got [0]"),
])
def test_a_wrong_function_fails_naming_the_case(wrong, case, detail, capsys):
    assert_fails_naming_the_case(checks.nms, wrong, case, detail, capsys)


def test_a_numpy_answer_of_int64_passes():
    """The comparison accepts arrays; only tensors of another dtype than int64 are refused."""
    assert np.asarray(numpy_indices(torch.zeros(0, 4), torch.zeros(0), 0.5)).dtype == np.int64
    assert checks.nms(numpy_indices).passed


def test_the_learners_inputs_are_copies():
    def mutates(boxes, scores, iou_threshold):
        keep = learner_nms(boxes, scores, iou_threshold)
        boxes.zero_()
        scores.zero_()
        return keep

    assert checks.nms(mutates).passed                     # every case still sees its own boxes
    assert checks.nms(learner_nms).passed


def test_a_verdict_is_logged_for_the_grader(tmp_path, monkeypatch):
    log = tmp_path / "grades.jsonl"
    monkeypatch.setenv(GRADE_LOG_ENV, str(log))
    checks.nms(learner_nms)
    checks.nms(greater_or_equal)
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(r["exercise"], r["name"], r["status"]) for r in rows] == [("08.1", "nms", "passed"),
                                                                      ("08.1", "nms", "failed")]
