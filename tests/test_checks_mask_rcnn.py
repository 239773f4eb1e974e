"""The exercise checks of chapter 11 (`cvcourse.checks.mask_rcnn`): the references and a learner's
correct answers pass, typical mistakes fail with a message naming the case, a stub is "not attempted"."""
import json
import math

import pytest
import torch
import torch.nn.functional as F
from check_helpers import assert_fails_naming_the_case

from cvcourse import checks, ops
from cvcourse.checks._core import GRADE_LOG_ENV
from cvcourse.models.roi_heads import maskrcnn_loss, project_masks_on_boxes


@pytest.fixture(autouse=True)
def no_grade_log(monkeypatch):
    monkeypatch.delenv(GRADE_LOG_ENV, raising=False)


# ----------------------------------------------------------------------------- what a learner writes
def learner_mask_target(gt_mask, box, size=28):
    """The notebook's answer: the mask as a one-image, one-channel map, one RoI in the (index, box) rows."""
    mask = gt_mask[None, None].float()                             # (1, 1, H, W)
    roi = torch.cat([torch.zeros(1), box.float()])[None]           # (1, 5)
    return ops.roi_align(mask, roi, output_size=size, spatial_scale=1.0, sampling_ratio=2, aligned=True)[0, 0]


def list_mask_target(gt_mask, box, size=28):
    """Another correct answer: the boxes as a list of one Tensor[1, 4], the module form of RoIAlign."""
    pooler = ops.RoIAlign((size, size), spatial_scale=1.0, sampling_ratio=2, aligned=True)
    return pooler(gt_mask.float()[None, None], [box[None]])[0, 0]


def reference_mask_target(gt_mask, box, size=28):
    return project_masks_on_boxes(gt_mask[None], box[None], torch.zeros(1, dtype=torch.int64), size)[0]


def learner_mask_loss(mask_logits, mask_targets, labels):
    """The notebook's answer."""
    if len(labels) == 0:
        return mask_logits.sum() * 0
    chosen = mask_logits[torch.arange(len(labels)), labels]       # (P, M, M)
    return F.binary_cross_entropy_with_logits(chosen, mask_targets)


def loop_mask_loss(mask_logits, mask_targets, labels):
    """Another correct answer: one RoI at a time (every RoI has M * M pixels, so the mean of the
    per-RoI means is the mean over all pixels), a float."""
    losses = [F.binary_cross_entropy_with_logits(mask_logits[k, int(c)], mask_targets[k]).item()
              for k, c in enumerate(labels)]
    return sum(losses) / len(losses) if losses else 0.0


# ----------------------------------------------------------------------------- typical mistakes
def not_aligned(gt_mask, box, size=28):
    """aligned=False: the RoI is read half a pixel right of and below the box."""
    return ops.roi_align(gt_mask[None, None].float(), [box[None]], size, 1.0, 2, aligned=False)[0, 0]


def thresholded(gt_mask, box, size=28):
    """Binarised at 0.5 (Detectron's choice), where the package keeps the soft values."""
    return (learner_mask_target(gt_mask, box, size) >= 0.5).float()


def bool_into_roi_align(gt_mask, box, size=28):
    return ops.roi_align(gt_mask[None, None], [box[None]], size, 1.0, 2, aligned=True)[0, 0]


def crop_then_resize(gt_mask, box, size=28):
    """The box rounded to whole pixels, the crop resized with F.interpolate."""
    x1, y1, x2, y2 = (int(round(float(v))) for v in box)
    crop = gt_mask[max(y1, 0):y2, max(x1, 0):x2].float()
    if crop.numel() == 0:
        return torch.zeros(size, size)
    return F.interpolate(crop[None, None], size=(size, size), mode="bilinear", align_corners=False)[0, 0]


def x_and_y_swapped(gt_mask, box, size=28):
    return learner_mask_target(gt_mask, box[[1, 0, 3, 2]], size)


def transposed(gt_mask, box, size=28):
    return learner_mask_target(gt_mask, box, size).T


def adaptive_sampling(gt_mask, box, size=28):
    return ops.roi_align(gt_mask[None, None].float(), [box[None]], size, 1.0, 0, aligned=True)[0, 0]


def whole_image(gt_mask, box, size=28):
    """The whole mask resized, ignoring the box."""
    return F.interpolate(gt_mask[None, None].float(), size=(size, size), mode="bilinear")[0, 0]


def softmax_over_classes(mask_logits, mask_targets, labels):
    """The multinomial mask the paper compared against: the classes compete at every pixel."""
    probs = mask_logits.softmax(dim=1)[torch.arange(len(labels)), labels]
    return F.binary_cross_entropy(probs, mask_targets)


def every_class(mask_logits, mask_targets, labels):
    """Every class's mask trained towards the RoI's target."""
    return F.binary_cross_entropy_with_logits(mask_logits, mask_targets[:, None].expand_as(mask_logits))


def background_offset(mask_logits, mask_targets, labels):
    """labels + 1, as if channel 0 were a background mask (there is none)."""
    c = (labels + 1).clamp(max=mask_logits.shape[1] - 1)
    return F.binary_cross_entropy_with_logits(mask_logits[torch.arange(len(labels)), c], mask_targets)


def class_agnostic(mask_logits, mask_targets, labels):
    return F.binary_cross_entropy_with_logits(mask_logits[:, 0], mask_targets)


def sigmoid_then_log(mask_logits, mask_targets, labels):
    if len(labels) == 0:
        return 0.0
    p = mask_logits[torch.arange(len(labels)), labels].sigmoid()
    return -(mask_targets * p.log() + (1 - mask_targets) * (1 - p).log()).mean()


def summed(mask_logits, mask_targets, labels):
    chosen = mask_logits[torch.arange(len(labels)), labels]
    return F.binary_cross_entropy_with_logits(chosen, mask_targets, reduction="sum")


def no_empty_guard(mask_logits, mask_targets, labels):
    chosen = mask_logits[torch.arange(len(labels)), labels]
    return F.binary_cross_entropy_with_logits(chosen, mask_targets)


# ----------------------------------------------------------------------------- tests
def test_checks_are_registered_for_chapter_11():
    assert [(s.id, s.name) for s in checks.exercises_of("11")] == [("11.1", "mask_target"), ("11.2", "mask_loss")]


def test_the_references_and_a_learners_answers_pass(capsys):
    for fn in (reference_mask_target, learner_mask_target, list_mask_target):
        result = checks.mask_target(fn)
        assert result.passed and result.passed_cases == result.total_cases == 10, result.message
    for fn in (maskrcnn_loss, learner_mask_loss, loop_mask_loss):
        result = checks.mask_loss(fn)
        assert result.passed and result.passed_cases == result.total_cases == 8, result.message
    out = capsys.readouterr().out.splitlines()
    assert out == ["[PASS] Exercise 11.1 (the mask target of a RoI): passed all 10 cases."] * 3 + \
                  ["[PASS] Exercise 11.2 (the mask loss): passed all 8 cases."] * 3


def test_hand_worked_mask_target():
    """A 12 x 12 square, its tight box, a 12 x 12 target: one bin per pixel, 2 x 2 samples at +-0.25
    pixel from its centre. Inside: 1. An edge pixel: its outer samples read 0.75 of it and 0.25 of
    the background, so (0.75 + 1) / 2 = 0.875. A corner: (0.75^2 + 2 * 0.75 + 1) / 4 = 0.765625."""
    from cvcourse.checks.mask_rcnn import _square

    target = learner_mask_target(_square(24, 32, 8, 6, 20, 18), torch.tensor([8.0, 6.0, 20.0, 18.0]), 12)
    expected = torch.ones(12, 12)
    expected[[0, -1], :] = expected[:, [0, -1]] = 0.875
    expected[0, 0] = expected[0, -1] = expected[-1, 0] = expected[-1, -1] = 0.765625
    torch.testing.assert_close(target, expected)


def test_hand_worked_mask_loss():
    """Channel 0 of the check's first case, targets [[1, 0], [1, 1]]: the BCE of logit z is
    log(1 + e^-z) for target 1 and log(1 + e^z) for target 0."""
    logits = torch.tensor([[[[2.0, -1.0], [0.0, 3.0]], [[-4.0, 4.0], [1.0, -2.0]]]])
    targets = torch.tensor([[[1.0, 0.0], [1.0, 1.0]]])
    expected = (math.log1p(math.exp(-2)) + math.log1p(math.exp(-1)) + math.log(2) + math.log1p(math.exp(-3))) / 4
    assert learner_mask_loss(logits, targets, torch.tensor([0])).item() == pytest.approx(expected, rel=1e-6)
    assert maskrcnn_loss(logits, targets, torch.tensor([0])).item() == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("check, wrong, case, detail", [
    (checks.mask_target, not_aligned, "a 12 x 12 square and its own tight box", "values differ"),
    (checks.mask_target, thresholded, "a 12 x 12 square and its own tight box", "values differ"),
    (checks.mask_target, bool_into_roi_align, "a 12 x 12 square and its own tight box", "raised"),
    (checks.mask_target, crop_then_resize, "a 12 x 12 square and its own tight box", "values differ"),
    (checks.mask_target, x_and_y_swapped, "a 12 x 12 square and its own tight box", "values differ"),
    (checks.mask_target, transposed, "a proposal shifted right and down", "values differ"),
    (checks.mask_target, adaptive_sampling, "a proposal twice as large as the square", "values differ"),
    (checks.mask_target, whole_image, "a 12 x 12 square and its own tight box", "values differ"),
    (checks.mask_loss, softmax_over_classes, "one RoI of class 0", "expected"),
    (checks.mask_loss, every_class, "one RoI of class 0", "expected"),
    (checks.mask_loss, background_offset, "one RoI of class 0", "expected"),
    (checks.mask_loss, class_agnostic, "the same RoI labelled class 1", "expected"),
    (checks.mask_loss, sigmoid_then_log, "large logits", "expected"),
    (checks.mask_loss, summed, "one RoI of class 0", "expected"),
    (checks.mask_loss, no_empty_guard, "no positive RoI (P = 0)", "got nan"),
])
def test_a_wrong_function_fails_naming_the_case(check, wrong, case, detail, capsys):
    assert_fails_naming_the_case(check, wrong, case, detail, capsys)


def test_a_target_of_the_wrong_shape_is_named():
    result = checks.mask_target(lambda m, b, s: learner_mask_target(m, b, s)[None])
    assert not result and "shape (1, 28, 28), expected (28, 28)" in result.message


def test_the_learners_inputs_are_copies():
    def mutates(mask_logits, mask_targets, labels):
        loss = learner_mask_loss(mask_logits, mask_targets, labels)
        mask_logits.zero_()
        labels.zero_()
        return loss

    assert checks.mask_loss(mutates).passed
    assert checks.mask_loss(learner_mask_loss).passed


def test_a_verdict_is_logged_for_the_grader(tmp_path, monkeypatch):
    log = tmp_path / "grades.jsonl"
    monkeypatch.setenv(GRADE_LOG_ENV, str(log))
    checks.mask_target(learner_mask_target)
    checks.mask_loss(summed)
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(r["exercise"], r["status"]) for r in rows] == [("11.1", "passed"), ("11.2", "failed")]
