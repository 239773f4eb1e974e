"""The exercise checks of chapter 10 (`cvcourse.checks.roi`): the references and a learner's correct
answers pass, typical mistakes fail with a message naming the case, a stub is "not attempted"."""
import json
import math

import pytest
import torch
from check_helpers import assert_fails_naming_the_case

from cvcourse import checks, ops
from cvcourse.checks._core import GRADE_LOG_ENV


@pytest.fixture(autouse=True)
def no_grade_log(monkeypatch):
    monkeypatch.delenv(GRADE_LOG_ENV, raising=False)


# ----------------------------------------------------------------------------- what a learner writes
def learner_bilinear(feature, y, x):
    """The notebook's answer: torchvision's rules, one point, a 0-d tensor (or 0.0 outside)."""
    h, w = feature.shape[-2:]
    if y < -1 or y > h or x < -1 or x > w:
        return 0.0
    y, x = max(y, 0.0), max(x, 0.0)
    y0, x0 = int(y), int(x)
    if y0 >= h - 1:
        y0 = y1 = h - 1
        y = float(y0)
    else:
        y1 = y0 + 1
    if x0 >= w - 1:
        x0 = x1 = w - 1
        x = float(x0)
    else:
        x1 = x0 + 1
    ly, lx = y - y0, x - x0
    return ((1 - ly) * (1 - lx) * feature[..., y0, x0] + (1 - ly) * lx * feature[..., y0, x1]
            + ly * (1 - lx) * feature[..., y1, x0] + ly * lx * feature[..., y1, x1])


def clamping_bilinear(feature, y, x):
    """Another correct answer: clamp the point into [0, H - 1] x [0, W - 1], then a float."""
    h, w = feature.shape
    if not (-1 <= y <= h and -1 <= x <= w):
        return 0
    y, x = min(max(y, 0), h - 1), min(max(x, 0), w - 1)
    y0, x0 = math.floor(y), math.floor(x)
    y1, x1 = min(y0 + 1, h - 1), min(x0 + 1, w - 1)
    ly, lx = y - y0, x - x0
    f = feature.tolist()
    return ((1 - ly) * ((1 - lx) * f[y0][x0] + lx * f[y0][x1]) + ly * ((1 - lx) * f[y1][x0] + lx * f[y1][x1]))


def learner_roi_align_bin(feature, box, output_size, sampling_ratio, i, j):
    """The notebook's answer: the sample grid as two vectors, read with the package's bilinear."""
    x1, y1, x2, y2 = box
    oh, ow = output_size
    roi_w, roi_h = max(x2 - x1, 1.0), max(y2 - y1, 1.0)
    bin_h, bin_w = roi_h / oh, roi_w / ow
    gh = sampling_ratio if sampling_ratio > 0 else math.ceil(roi_h / oh)
    gw = sampling_ratio if sampling_ratio > 0 else math.ceil(roi_w / ow)
    ys = y1 + i * bin_h + (torch.arange(gh) + 0.5) * bin_h / gh
    xs = x1 + j * bin_w + (torch.arange(gw) + 0.5) * bin_w / gw
    return ops.bilinear_interpolate(feature, ys[:, None], xs[None, :]).mean(dim=(1, 2))


def loop_roi_align_bin(feature, box, output_size, sampling_ratio, i, j):
    """Another correct answer: two loops, each sample read with the learner's own bilinear."""
    x1, y1, x2, y2 = box
    roi_w, roi_h = max(x2 - x1, 1.0), max(y2 - y1, 1.0)
    bin_h, bin_w = roi_h / output_size[0], roi_w / output_size[1]
    gh = sampling_ratio if sampling_ratio > 0 else math.ceil(bin_h)
    gw = sampling_ratio if sampling_ratio > 0 else math.ceil(bin_w)
    total = torch.zeros(feature.shape[0])
    for sy in range(gh):
        for sx in range(gw):
            total += learner_bilinear(feature, y1 + i * bin_h + (sy + 0.5) * bin_h / gh,
                                      x1 + j * bin_w + (sx + 0.5) * bin_w / gw)
    return total / (gh * gw)


# ----------------------------------------------------------------------------- typical mistakes
def no_border_rules(feature, y, x):
    y0, x0 = math.floor(y), math.floor(x)
    ly, lx = y - y0, x - x0
    return ((1 - ly) * (1 - lx) * feature[y0, x0] + (1 - ly) * lx * feature[y0, x0 + 1]
            + ly * (1 - lx) * feature[y0 + 1, x0] + ly * lx * feature[y0 + 1, x0 + 1])


def swapped_weights(feature, y, x):
    """ly (the weight of the row below) given to the row above, and 1 - ly to the row below."""
    h, w = feature.shape
    if y < -1 or y > h or x < -1 or x > w:
        return 0.0
    y, x = min(max(y, 0.0), h - 1), min(max(x, 0.0), w - 1)
    y0, x0 = math.floor(y), math.floor(x)
    y1, x1 = min(y0 + 1, h - 1), min(x0 + 1, w - 1)
    ly, lx = y - y0, x - x0
    return (ly * ((1 - lx) * feature[y0, x0] + lx * feature[y0, x1])
            + (1 - ly) * ((1 - lx) * feature[y1, x0] + lx * feature[y1, x1]))


def nearest_pixel(feature, y, x):
    h, w = feature.shape
    if y < -1 or y > h or x < -1 or x > w:
        return 0.0
    return feature[min(max(round(y), 0), h - 1), min(max(round(x), 0), w - 1)]


def zero_outside_the_centres(feature, y, x):
    """0 as soon as the point leaves [0, H - 1] x [0, W - 1]: too strict."""
    h, w = feature.shape
    return learner_bilinear(feature, y, x) if 0 <= y <= h - 1 and 0 <= x <= w - 1 else 0.0


def never_zero(feature, y, x):
    """Clamps every point into the map, even far outside it."""
    h, w = feature.shape
    return learner_bilinear(feature, min(max(y, 0.0), h - 1), min(max(x, 0.0), w - 1))


def minus_one_excluded(feature, y, x):
    h, w = feature.shape
    return 0.0 if y <= -1 or x <= -1 else learner_bilinear(feature, y, x)


def rows_and_columns_swapped(feature, y, x):
    """Reads feature[x, y]: the point (x, y) instead of (y, x)."""
    return learner_bilinear(feature, x, y)


def corner_samples(feature, box, output_size, sampling_ratio, i, j):
    """Samples at s * bin / g (the top-left corners of the sub-cells), not at their centres."""
    x1, y1, x2, y2 = box
    bin_h, bin_w = max(y2 - y1, 1.0) / output_size[0], max(x2 - x1, 1.0) / output_size[1]
    g = sampling_ratio
    ys = y1 + i * bin_h + torch.arange(g) * bin_h / g
    xs = x1 + j * bin_w + torch.arange(g) * bin_w / g
    return ops.bilinear_interpolate(feature, ys[:, None], xs[None, :]).mean(dim=(1, 2))


def i_and_j_swapped(feature, box, output_size, sampling_ratio, i, j):
    return learner_roi_align_bin(feature, box, output_size, sampling_ratio, j, i) if j < output_size[0] \
        and i < output_size[1] else learner_roi_align_bin(feature, box, output_size, sampling_ratio, i, j)


def no_adaptive_sampling(feature, box, output_size, sampling_ratio, i, j):
    """Uses sampling_ratio as given, also when it is 0 or negative."""
    return learner_roi_align_bin(feature, box, output_size, max(sampling_ratio, 1) if sampling_ratio > 0
                                 else 2, i, j)


def no_minimum_size(feature, box, output_size, sampling_ratio, i, j):
    x1, y1, x2, y2 = box
    oh, ow = output_size
    bin_h, bin_w = (y2 - y1) / oh, (x2 - x1) / ow
    gh = sampling_ratio if sampling_ratio > 0 else max(math.ceil((y2 - y1) / oh), 1)
    gw = sampling_ratio if sampling_ratio > 0 else max(math.ceil((x2 - x1) / ow), 1)
    ys = y1 + i * bin_h + (torch.arange(gh) + 0.5) * bin_h / gh
    xs = x1 + j * bin_w + (torch.arange(gw) + 0.5) * bin_w / gw
    return ops.bilinear_interpolate(feature, ys[:, None], xs[None, :]).mean(dim=(1, 2))


def average_of_inside_samples(feature, box, output_size, sampling_ratio, i, j):
    """Divides by the number of samples inside the map instead of all of them."""
    x1, y1, x2, y2 = box
    bin_h, bin_w = max(y2 - y1, 1.0) / output_size[0], max(x2 - x1, 1.0) / output_size[1]
    gh = sampling_ratio if sampling_ratio > 0 else math.ceil(bin_h)
    gw = sampling_ratio if sampling_ratio > 0 else math.ceil(bin_w)
    ys = y1 + i * bin_h + (torch.arange(gh) + 0.5) * bin_h / gh
    xs = x1 + j * bin_w + (torch.arange(gw) + 0.5) * bin_w / gw
    h, w = feature.shape[-2:]
    inside = ((ys[:, None] >= -1) & (ys[:, None] <= h) & (xs[None, :] >= -1) & (xs[None, :] <= w)).sum()
    return ops.bilinear_interpolate(feature, ys[:, None], xs[None, :]).sum(dim=(1, 2)) / inside.clamp(min=1)


def half_pixel_shift(feature, box, output_size, sampling_ratio, i, j):
    """aligned=True's shift by -0.5, which this exercise does not use."""
    return learner_roi_align_bin(feature, tuple(v - 0.5 for v in box), output_size, sampling_ratio, i, j)


# ----------------------------------------------------------------------------- tests
def test_checks_are_registered_for_chapter_10():
    assert [(s.id, s.name) for s in checks.exercises_of("10")] == [("10.1", "roi_bilinear"),
                                                                  ("10.2", "roi_align_bin")]


def test_the_references_and_a_learners_answers_pass(capsys):
    for fn in (ops.bilinear_interpolate, learner_bilinear, clamping_bilinear):
        result = checks.roi_bilinear(fn)
        assert result.passed and result.passed_cases == result.total_cases == 16, result.message
    for fn in (learner_roi_align_bin, loop_roi_align_bin):
        result = checks.roi_align_bin(fn)
        assert result.passed and result.passed_cases == result.total_cases == 12, result.message
    out = capsys.readouterr().out.splitlines()
    assert out == ["[PASS] Exercise 10.1 (bilinear interpolation at a point): passed all 16 cases."] * 3 + \
                  ["[PASS] Exercise 10.2 (one RoIAlign bin): passed all 12 cases."] * 2


def test_hand_worked_values():
    """y = 0.25, x = 1.5 on the check's map: 0.375 * 5 + 0.375 * 2 + 0.125 * 0 + 0.125 * 3 = 3."""
    from cvcourse.checks.roi import _MAP

    assert learner_bilinear(_MAP, 0.25, 1.5).item() == 3.0 == ops.bilinear_interpolate(_MAP, 0.25, 1.5).item()
    assert learner_bilinear(_MAP, 2.6, 1.25).item() == 9.0 * 0.75 + 1.0 * 0.25       # the last row only
    assert learner_bilinear(_MAP, -1.5, 2.0) == 0.0


@pytest.mark.parametrize("check, wrong, case, detail", [
    (checks.roi_bilinear, no_border_rules, "on the last row", "raised IndexError"),
    (checks.roi_bilinear, swapped_weights, "between four pixels", "expected 3, got 2"),
    (checks.roi_bilinear, nearest_pixel, "between four pixels", "expected 3, got 2"),
    (checks.roi_bilinear, zero_outside_the_centres, "between the last row and y = H", "expected 7, got 0"),
    (checks.roi_bilinear, never_zero, "more than one pixel above", "expected 0, got 2"),
    (checks.roi_bilinear, minus_one_excluded, "x = -1 exactly", "expected 6.5, got 0"),
    (checks.roi_bilinear, rows_and_columns_swapped, "between four pixels", "expected 3, got 6"),
    (checks.roi_align_bin, corner_samples, "a 2 x 2 output, 2 x 2 samples per bin, bin (0, 0)", "values differ"),
    (checks.roi_align_bin, i_and_j_swapped, "one sample per bin", "values differ"),
    (checks.roi_align_bin, no_adaptive_sampling, "adaptive sampling (sampling_ratio = 0)", "values differ"),
    (checks.roi_align_bin, no_minimum_size, "a box smaller than a pixel", "values differ"),
    (checks.roi_align_bin, average_of_inside_samples, "a box partly above and left", "values differ"),
    (checks.roi_align_bin, half_pixel_shift, "a 2 x 2 output, 2 x 2 samples per bin, bin (0, 0)", "values differ"),
])
def test_a_wrong_function_fails_naming_the_case(check, wrong, case, detail, capsys):
    assert_fails_naming_the_case(check, wrong, case, detail, capsys)


def test_a_bin_of_the_wrong_shape_is_named():
    result = checks.roi_align_bin(lambda *args: learner_roi_align_bin(*args)[None])
    assert not result and "shape (1, 2), expected (2,)" in result.message


def test_the_learners_inputs_are_copies():
    def mutates(feature, y, x):
        value = learner_bilinear(feature, y, x)
        feature.zero_()
        return value

    assert checks.roi_bilinear(mutates).passed
    assert checks.roi_bilinear(learner_bilinear).passed


def test_a_verdict_is_logged_for_the_grader(tmp_path, monkeypatch):
    log = tmp_path / "grades.jsonl"
    monkeypatch.setenv(GRADE_LOG_ENV, str(log))
    checks.roi_bilinear(learner_bilinear)
    checks.roi_align_bin(half_pixel_shift)
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(r["exercise"], r["status"]) for r in rows] == [("10.1", "passed"), ("10.2", "failed")]
