"""The exercise checks of chapter 09 (`cvcourse.checks.proposals`): the references and a learner's
correct answers pass, typical mistakes fail with a message naming the case, a stub is "not attempted"."""
import json

import numpy as np
import pytest
from check_helpers import assert_fails_naming_the_case

from cvcourse import checks, proposals
from cvcourse.checks._core import GRADE_LOG_ENV
from cvcourse.ops import box_iou


@pytest.fixture(autouse=True)
def no_grade_log(monkeypatch):
    monkeypatch.delenv(GRADE_LOG_ENV, raising=False)


# ----------------------------------------------------------------------------- what a learner writes
def learner_similarity(r1, r2, image_size):
    colour = np.minimum(r1.hist, r2.hist).sum()
    size = 1 - (r1.size + r2.size) / image_size
    x1, y1 = min(r1.box[0], r2.box[0]), min(r1.box[1], r2.box[1])
    x2, y2 = max(r1.box[2], r2.box[2]), max(r1.box[3], r2.box[3])
    fill = 1 - ((x2 - x1) * (y2 - y1) - r1.size - r2.size) / image_size
    return float(colour + size + fill)


def learner_recall(proposals, gt_boxes, k, iou_threshold=0.5):
    iou = box_iou(gt_boxes, proposals[:k])                     # (G, min(k, K))
    return float((iou >= iou_threshold).any(dim=1).float().mean())


def reference_recall(proposals_, gt_boxes, k, iou_threshold=0.5):
    return proposals.proposal_recall(proposals_, gt_boxes, iou_threshold, ks=[k])["recall"][iou_threshold][0].item()


# ----------------------------------------------------------------------------- typical mistakes
def _joint_box(r1, r2):
    return (min(r1.box[0], r2.box[0]), min(r1.box[1], r2.box[1]), max(r1.box[2], r2.box[2]), max(r1.box[3], r2.box[3]))


def inclusive_boxes(r1, r2, image_size):
    """Adds 1 to the joint box's width and height, as if x2 were the last pixel."""
    x1, y1, x2, y2 = _joint_box(r1, r2)
    fill = 1 - ((x2 - x1 + 1) * (y2 - y1 + 1) - r1.size - r2.size) / image_size
    return float(np.minimum(r1.hist, r2.hist).sum() + 1 - (r1.size + r2.size) / image_size + fill)


def sum_of_box_areas(r1, r2, image_size):
    """Uses the two boxes' areas instead of the box around both: right only when they tile it."""
    areas = sum((r.box[2] - r.box[0]) * (r.box[3] - r.box[1]) for r in (r1, r2))
    fill = 1 - (areas - r1.size - r2.size) / image_size
    return float(np.minimum(r1.hist, r2.hist).sum() + 1 - (r1.size + r2.size) / image_size + fill)


def dot_product_colour(r1, r2, image_size):
    """Compares the colour histograms with a dot product instead of their intersection."""
    return learner_similarity(r1, r2, image_size) - np.minimum(r1.hist, r2.hist).sum() + float(r1.hist @ r2.hist)


def strictly_above(proposals_, gt_boxes, k, iou_threshold=0.5):
    return float((box_iou(gt_boxes, proposals_[:k]) > iou_threshold).any(dim=1).float().mean())


def ignores_k(proposals_, gt_boxes, k, iou_threshold=0.5):
    return learner_recall(proposals_, gt_boxes, len(proposals_), iou_threshold)


def fraction_of_proposals(proposals_, gt_boxes, k, iou_threshold=0.5):
    """Precision-like: the fraction of proposals that match some box, not of boxes that are found."""
    return float((box_iou(proposals_[:k], gt_boxes) >= iou_threshold).any(dim=1).float().mean())


def best_iou_per_box(proposals_, gt_boxes, k, iou_threshold=0.5):
    """Reduces with max, which has no answer for zero proposals."""
    return float((box_iou(gt_boxes, proposals_[:k]).max(dim=1).values >= iou_threshold).float().mean())


def returns_a_tensor(proposals_, gt_boxes, k, iou_threshold=0.5):
    return (box_iou(gt_boxes, proposals_[:k]) >= iou_threshold).any(dim=1).float().mean()


# ----------------------------------------------------------------------------- tests
def test_checks_are_registered_for_chapter_09():
    assert [(s.id, s.name) for s in checks.exercises_of("09")] == [("09.1", "region_similarity"),
                                                                  ("09.2", "recall_at_k")]


def test_the_references_and_a_learners_answers_pass(capsys):
    for fn in (proposals.similarity, learner_similarity):
        result = checks.region_similarity(fn)
        assert result.passed and result.passed_cases == result.total_cases == 8
    for fn in (reference_recall, learner_recall):
        result = checks.recall_at_k(fn)
        assert result.passed and result.passed_cases == result.total_cases == 9
    out = capsys.readouterr().out.splitlines()
    assert out == ["[PASS] Exercise 09.1 (region similarity: colour + size + fill): passed all 8 cases."] * 2 + \
                  ["[PASS] Exercise 09.2 (recall of the first k proposals): passed all 9 cases."] * 2


def test_hand_worked_similarity_values():
    """The first case by hand: same colours (1), sizes 4 + 4 of 64 (1 - 8/64), the joint 4x2 box is
    filled (1): 2.875. Two single pixels side by side in 100: 1 + 0.98 + 1 = 2.98."""
    region = proposals.Region
    a, b = region((0, 0, 2, 2), 4, np.array([0.5, 0.5, 0, 0])), region((2, 0, 4, 2), 4, np.array([0.5, 0.5, 0, 0]))
    assert learner_similarity(a, b, 64) == pytest.approx(2.875) == proposals.similarity(a, b, 64)
    p, q = region((3, 5, 4, 6), 1, np.array([0, 1.0])), region((4, 5, 5, 6), 1, np.array([0, 1.0]))
    assert proposals.similarity(p, q, 100) == pytest.approx(2.98)


@pytest.mark.parametrize("check, wrong, case, detail", [
    (checks.region_similarity, inclusive_boxes, "two 2x2 squares side by side", "expected 2.875, got 2.76562"),
    (checks.region_similarity, sum_of_box_areas, "touch only at a corner", "expected 2, got 2.5"),
    (checks.region_similarity, dot_product_colour, "same colours", "expected 2.875, got 2.375"),
    (checks.recall_at_k, strictly_above, "IoU exactly 0.5 counts as found", "expected 1, got 0.666667"),
    (checks.recall_at_k, ignores_k, "k = 1: only the first proposal counts", "expected 0.333333, got 1"),
    (checks.recall_at_k, fraction_of_proposals, "all 5 proposals", "expected 1, got 0.8"),
    (checks.recall_at_k, best_iou_per_box, "k = 0: no proposal looked at", "raised"),
    (checks.recall_at_k, returns_a_tensor, "all 5 proposals", "expected a number 1.0, got Tensor[] float32"),
])
def test_a_wrong_function_fails_naming_the_case(check, wrong, case, detail, capsys):
    assert_fails_naming_the_case(check, wrong, case, detail, capsys)


def test_the_learners_inputs_are_copies():
    def mutates(proposals_, gt_boxes, k, iou_threshold=0.5):
        value = learner_recall(proposals_, gt_boxes, k, iou_threshold)
        proposals_.zero_()
        gt_boxes.zero_()
        return value

    assert checks.recall_at_k(mutates).passed               # every case still sees its own boxes
    assert checks.recall_at_k(learner_recall).passed


def test_a_verdict_is_logged_for_the_grader(tmp_path, monkeypatch):
    log = tmp_path / "grades.jsonl"
    monkeypatch.setenv(GRADE_LOG_ENV, str(log))
    checks.region_similarity(learner_similarity)
    checks.recall_at_k(strictly_above)
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(r["exercise"], r["status"]) for r in rows] == [("09.1", "passed"), ("09.2", "failed")]
