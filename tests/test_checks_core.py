"""The check machinery: comparing answers, describing inputs, statuses, the grade log."""
import json

import numpy as np
import pytest
import torch

from cvcourse.checks import _core
from cvcourse.checks._core import Case, compare, describe, exercise, run_cases


@pytest.mark.parametrize("expected, got, fragment", [
    (torch.zeros(2, 2), torch.zeros(2, 3), "shape (2, 3), expected (2, 2)"),
    (torch.zeros(2), torch.tensor([0.0, 1.0]), "largest difference 1 at index (1,)"),
    (torch.zeros(2), torch.tensor([0.0, float("nan")]), "NaN or inf"),
    (torch.zeros(2), [0.0, 0.0], "expected a Tensor"),
    (torch.tensor([1, 2]), torch.tensor([1, 3]), "values differ at index (1,)"),
    ((1, 2), (1, 2, 3), "expected 2 items, got 3"),
    ((1, 2), 3, "expected a tuple"),
    (3, 3.0, "expected an int 3"),
    (3, True, "expected an int 3"),
    (0.5, 0.6, "expected 0.5, got 0.6"),
    (0.5, "0.5", "expected a number"),
    ("a", "b", "expected 'a', got 'b'"),
])
def test_compare_says_how_answers_differ(expected, got, fragment):
    assert fragment in compare(expected, got)


@pytest.mark.parametrize("expected, got", [
    (torch.zeros(2, 2), torch.zeros(2, 2, dtype=torch.float64)),
    (np.ones(3), torch.ones(3)),
    (torch.zeros(0, 4), torch.zeros(0, 4)),
    ((1, torch.ones(2)), [1, torch.ones(2)]),
    (0.1 + 0.2, 0.3),
    (None, None),
])
def test_compare_accepts_equivalent_answers(expected, got):
    assert compare(expected, got) is None


def test_describe_is_short_and_shows_small_values():
    assert describe(torch.zeros(2, 3)) == "Tensor[2, 3] float32"
    assert describe(torch.arange(3), values=True) == "Tensor[3] int64 [0, 1, 2]"
    assert describe(torch.zeros(100), values=True) == "Tensor[100] float32"
    assert describe((torch.zeros(1), 2)) == "(Tensor[1] float32, 2)"
    assert describe("x" * 200).endswith("...") and len(describe("x" * 200)) == 80


def _square(x):
    return x * x


CASES = [Case("zero", args=(0,), expected=0), Case("three", args=(3,), expected=9),
         Case("negative", args=(-2,), expected=4), Case("bad type", args=("a",), raises=TypeError)]


def test_statuses():
    assert run_cases(_square, CASES)[:3] == ("passed", 4, 4)

    def stub(x):
        raise NotImplementedError

    assert run_cases(stub, CASES)[0] == "not attempted"

    def partial(x):
        if x < 0:
            raise NotImplementedError("negatives later")
        return x * x

    status, passed, total, message = run_cases(partial, CASES)
    assert (status, passed, total) == ("failed", 3, 4)  # started: a later NotImplementedError is a failure
    assert "case: negative" in message and "negatives later" in message

    status, _, _, message = run_cases(lambda x: x + x, CASES)
    assert status == "failed" and "case: three" in message and "expected 9, got 6" in message


def test_exercise_prints_verdict_and_logs_for_the_grader(tmp_path, monkeypatch, capsys):
    log = tmp_path / "log.jsonl"
    monkeypatch.setenv(_core.GRADE_LOG_ENV, str(log))
    monkeypatch.setattr(_core, "REGISTRY", {})

    @exercise("99", 1, "square a number")
    def square(fn):
        return run_cases(fn, CASES)

    result = square(_square)
    assert result.passed and bool(result)
    assert capsys.readouterr().out == "[PASS] Exercise 99.1 (square a number): passed all 4 cases.\n"
    square(lambda x: 0)
    out = capsys.readouterr().out
    assert out.startswith("[FAIL] Exercise 99.1 (square a number): failed (1/4 cases passed).")
    assert "    input: 3" in out
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [v["status"] for v in lines] == ["passed", "failed"] and lines[0]["exercise"] == "99.1"
    with pytest.raises(TypeError, match=r"expects your function itself, e.g. checks.square\(my_function\)"):
        square(5)


def test_integer_answers_need_an_integer_dtype():
    assert "expected an integer Tensor (int64)" in compare(torch.zeros(0, dtype=torch.int64), torch.zeros(0))
    assert "expected an integer Tensor" in compare(torch.tensor([1, 2]), torch.tensor([1.0, 2.0]))
    assert compare(torch.tensor([1, 2]), torch.tensor([1, 2], dtype=torch.int32)) is None


@pytest.fixture(params=sorted(_core.REGISTRY), ids=str)
def registered_check(request):
    from cvcourse import checks

    return getattr(checks, _core.REGISTRY[request.param].name)


def test_every_check_reports_a_stub_as_not_attempted(registered_check, capsys):
    def stub(*args, **kwargs):
        raise NotImplementedError("write it")

    result = registered_check(stub)
    assert result.status == "not attempted" and result.passed_cases == 0
    spec = registered_check.spec
    assert capsys.readouterr().out.startswith(f"[TODO] Exercise {spec.id} ({spec.title}): not attempted yet")


def test_every_check_wants_the_function_itself(registered_check):
    with pytest.raises(TypeError, match=f"checks.{registered_check.spec.name} expects your function itself"):
        registered_check(0.5)


def test_every_exercise_is_exported_by_checks():
    from cvcourse import checks

    for spec in _core.REGISTRY.values():
        assert getattr(checks, spec.name).spec == spec and spec.name in checks.__all__
