"""The exercise check of chapter 00 (`cvcourse.checks.intro`): the reference and a learner's correct
answers pass, typical mistakes fail with a message naming the case, a stub is "not attempted"."""
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
def learner_area(boxes):
    """The notebook's answer: width times height, column by column."""
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def wh_prod(boxes):
    wh = boxes[:, 2:] - boxes[:, :2]        # (N, 2)
    return wh.prod(dim=1)


def loop_area(boxes):
    """Another correct answer: a loop into a pre-shaped float64 tensor."""
    out = torch.zeros(len(boxes), dtype=torch.float64)
    for i, (x1, y1, x2, y2) in enumerate(boxes.tolist()):
        out[i] = (x2 - x1) * (y2 - y1)
    return out


def unbind_area(boxes):
    x1, y1, x2, y2 = boxes.unbind(dim=1)
    return (x2 - x1) * (y2 - y1)


# ----------------------------------------------------------------------------- typical mistakes
def voc_plus_one(boxes):
    """Old PASCAL VOC code: inclusive pixel indices, width = x2 - x1 + 1."""
    return (boxes[:, 2] - boxes[:, 0] + 1) * (boxes[:, 3] - boxes[:, 1] + 1)


def forgets_to_multiply(boxes):
    return (boxes[:, 2] - boxes[:, 0]) + (boxes[:, 3] - boxes[:, 1])


def as_xywh(boxes):
    """Reads the boxes as (x, y, w, h): the third and fourth numbers are taken for the size."""
    return boxes[:, 2] * boxes[:, 3]


def keeps_dim(boxes):
    return (boxes[:, 2:] - boxes[:, :2]).prod(dim=1, keepdim=True)


def mixed_columns(boxes):
    """y2 - x1 instead of y2 - y1."""
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 0])


def to_float32(boxes):
    boxes = boxes.float()
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def stacked(boxes):
    """torch.stack of an empty list fails: no answer for N = 0."""
    return torch.stack([(b[2] - b[0]) * (b[3] - b[1]) for b in boxes])


def stub(boxes):
    raise NotImplementedError("Exercise 00.1: write box_area; see the instructions above")


# ----------------------------------------------------------------------------- tests
def test_the_check_is_registered_for_chapter_00():
    assert [(s.id, s.name, s.title) for s in checks.exercises_of("00")] == [("00.1", "box_area", "box areas")]


def test_the_reference_and_a_learners_answers_pass(capsys):
    for fn in (ops.box_area, learner_area, wh_prod, loop_area, unbind_area):
        result = checks.box_area(fn)
        assert result.passed and result.passed_cases == result.total_cases == 9, result.message
    out = capsys.readouterr().out.splitlines()
    assert out == ["[PASS] Exercise 00.1 (box areas): passed all 9 cases."] * 5


def test_hand_worked_values():
    """(1, 2, 4, 6) is 3 wide and 4 high: area 12 (VOC's +1 would say 4 x 5 = 20); lines and points 0."""
    boxes = torch.tensor([[1.0, 2, 4, 6], [3, 1, 3, 5], [7, 7, 7, 7], [-3, -1, 2, 3]])
    expected = torch.tensor([12.0, 0.0, 0.0, 20.0])
    torch.testing.assert_close(learner_area(boxes), expected)
    torch.testing.assert_close(ops.box_area(boxes), expected)
    assert voc_plus_one(boxes[:1]).item() == 20.0


def test_the_reference_keeps_the_conventions_the_cases_rely_on():
    """Empty in, empty out; float64 stays float64; integer boxes give float32 areas; x2 < x1 is not a box."""
    empty = ops.box_area(torch.zeros(0, 4))
    assert empty.shape == (0,) and empty.dtype == torch.float32
    assert ops.box_area(torch.tensor([[1e8, 0, 1e8 + 1.5, 2]], dtype=torch.float64)).tolist() == [3.0]
    assert ops.box_area(torch.tensor([[0, 0, 2, 3]])).dtype == torch.float32
    with pytest.raises(ValueError, match=r"boxes: expected x2 >= x1"):
        ops.box_area(torch.tensor([[3.0, 0, 1, 2]]))


@pytest.mark.parametrize("wrong, case, detail", [
    (voc_plus_one, "one box from (1, 2) to (4, 6)", "(expected 12, got 20)"),
    (forgets_to_multiply, "one box from (1, 2) to (4, 6)", "(expected 12, got 7)"),
    (as_xywh, "one box from (1, 2) to (4, 6)", "(expected 12, got 24)"),
    (keeps_dim, "one box from (1, 2) to (4, 6)", "shape (1, 1), expected (1,)"),
    (mixed_columns, "one box from (1, 2) to (4, 6)", "(expected 12, got 15)"),
    (to_float32, "float64 boxes far from the origin", "(expected 3, got 0)"),
    (stacked, "no boxes", "raised RuntimeError"),
])
def test_a_wrong_function_fails_naming_the_case(wrong, case, detail, capsys):
    assert_fails_naming_the_case(checks.box_area, wrong, case, detail, capsys)


def test_a_stub_is_not_attempted(capsys):
    result = checks.box_area(stub)
    assert result.status == "not attempted" and not result and result.passed_cases == 0
    assert capsys.readouterr().out.startswith("[TODO] Exercise 00.1 (box areas): not attempted yet")


def test_the_learners_input_is_a_copy():
    def mutates(boxes):
        value = learner_area(boxes)
        boxes.zero_()
        return value

    assert checks.box_area(mutates).passed          # every case still sees its own boxes
    assert checks.box_area(learner_area).passed


def test_the_check_wants_the_function_itself():
    with pytest.raises(TypeError, match="checks.box_area expects your function itself"):
        checks.box_area(learner_area(torch.zeros(0, 4)))


def test_a_verdict_is_logged_for_the_grader(tmp_path, monkeypatch):
    log = tmp_path / "grades.jsonl"
    monkeypatch.setenv(GRADE_LOG_ENV, str(log))
    checks.box_area(learner_area)
    checks.box_area(voc_plus_one)
    checks.box_area(stub)
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(r["exercise"], r["status"]) for r in rows] == [("00.1", "passed"), ("00.1", "failed"),
                                                            ("00.1", "not attempted")]
