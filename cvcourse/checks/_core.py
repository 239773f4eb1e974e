"""The machinery behind every exercise check: run the learner's function on cases, compare with the
package's reference, print one clear verdict.

A chapter's check module defines one public function per exercise with `@exercise(...)`; inside, it
builds a list of `Case`s and returns `run_cases(learner_fn, cases)`. The verdict is printed (so a
check cell shows it) and returned as a `CheckResult`. When the environment variable
`CVCOURSE_GRADE_LOG` names a file, each result is also appended to it as one JSON line: that is how
`python -m cvcourse grade` learns the verdicts of a notebook it executes.

Statuses: "passed", "failed" (a wrong answer or an exception), "not attempted" (the learner's
function still raises NotImplementedError). A check never raises for the learner's mistakes, so
"Run All" always reaches the end of the chapter.
"""
from __future__ import annotations

import copy
import functools
import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

GRADE_LOG_ENV = "CVCOURSE_GRADE_LOG"
PASSED, FAILED, NOT_ATTEMPTED = "passed", "failed", "not attempted"
_SYMBOL = {PASSED: "[PASS]", FAILED: "[FAIL]", NOT_ATTEMPTED: "[TODO]"}


@dataclass(frozen=True)
class ExerciseSpec:
    """What the grader needs to know of one exercise: `chapter` "01", `number` 1 -> id "01.1"."""

    chapter: str
    number: int
    name: str
    title: str

    @property
    def id(self) -> str:
        return f"{self.chapter}.{self.number}"


REGISTRY: dict[str, ExerciseSpec] = {}


def exercises_of(chapter: str) -> list[ExerciseSpec]:
    """The registered exercises of a chapter ("01", "02", ...), in order."""
    return sorted((s for s in REGISTRY.values() if s.chapter == chapter), key=lambda s: s.number)


@dataclass
class CheckResult:
    """The verdict of one check: `status` is "passed", "failed" or "not attempted"."""

    exercise: str
    name: str
    status: str
    passed_cases: int
    total_cases: int
    message: str = ""

    def __bool__(self) -> bool:
        return self.status == PASSED

    @property
    def passed(self) -> bool:
        return self.status == PASSED

    def _ipython_display_(self) -> None:
        # The verdict was printed when the check ran; showing the object again would repeat it.
        pass


@dataclass
class Case:
    """One input for a check.

    Args:
        description: what is special about this case, shown on failure ("stride 2 with padding").
        args, kwargs: the call `fn(*args, **kwargs)`; the learner's function gets deep copies.
        expected: the reference answer, or
        raises: an exception type the learner's function must raise instead (e.g. ValueError).
        atol, rtol: tolerances for floating-point tensors and numbers.
    """

    description: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    expected: Any = None
    raises: type[BaseException] | None = None
    atol: float = 1e-5
    rtol: float = 1e-4


def exercise(chapter: str, number: int, title: str) -> Callable:
    """Register a check function as the check of exercise `chapter.number`."""

    def wrap(fn: Callable) -> Callable:
        spec = ExerciseSpec(chapter, number, fn.__name__, title)
        if spec.id in REGISTRY and REGISTRY[spec.id].name != spec.name:
            raise RuntimeError(f"exercise {spec.id} registered twice ({REGISTRY[spec.id].name}, {spec.name})")
        REGISTRY[spec.id] = spec

        @functools.wraps(fn)
        def check(learner_fn: Callable, *args: Any, **kwargs: Any) -> CheckResult:
            if not callable(learner_fn):
                raise TypeError(
                    f"checks.{spec.name} expects your function itself, e.g. checks.{spec.name}(my_function); "
                    f"got {type(learner_fn).__name__}"
                )
            result = fn(learner_fn, *args, **kwargs)
            result = CheckResult(spec.id, spec.name, *result)
            _report(spec, result)
            return result

        check.spec = spec  # type: ignore[attr-defined]
        return check

    return wrap


def run_cases(learner_fn: Callable, cases: Sequence[Case]) -> tuple[str, int, int, str]:
    """Run `learner_fn` on every case; (status, passed, total, message) for the `exercise` wrapper.

    The message describes the first failing case: its input, what was expected, what came out.
    """
    passed, first_failure = 0, ""
    for case in cases:
        try:
            got = learner_fn(*copy.deepcopy(case.args), **copy.deepcopy(case.kwargs))
        except NotImplementedError as err:
            if passed == 0 and not first_failure:  # the stub itself: nothing tried yet
                return NOT_ATTEMPTED, 0, len(cases), "your function still raises NotImplementedError"
            first_failure = first_failure or _failure(case, f"raised NotImplementedError: {err}")
            continue
        except Exception as err:  # noqa: BLE001 - any learner error is a verdict, not a crash
            if case.raises is not None and isinstance(err, case.raises):
                passed += 1
                continue
            problem = f"raised {type(err).__name__}: {err}"
            if case.raises is not None:
                problem += f" (expected {case.raises.__name__})"
            first_failure = first_failure or _failure(case, problem)
            continue
        if case.raises is not None:
            problem = f"returned {describe(got)} but should raise {case.raises.__name__}"
            first_failure = first_failure or _failure(case, problem)
            continue
        reason = compare(case.expected, got, atol=case.atol, rtol=case.rtol)
        if reason is None:
            passed += 1
        else:
            first_failure = first_failure or _failure(case, reason, case.expected, got)
    status = PASSED if passed == len(cases) else FAILED
    return status, passed, len(cases), first_failure


def _failure(case: Case, problem: str, expected: Any = None, got: Any = None) -> str:
    lines = [f"case: {case.description}", f"input: {describe_call(case.args, case.kwargs)}"]
    if expected is not None or got is not None:
        lines += [f"expected: {describe(expected, values=True)}", f"got:      {describe(got, values=True)}"]
    lines.append(f"problem: {problem}")
    return "\n".join(lines)


def _report(spec: ExerciseSpec, result: CheckResult) -> None:
    head = f"{_SYMBOL[result.status]} Exercise {spec.id} ({spec.title})"
    if result.status == PASSED:
        print(f"{head}: passed all {result.total_cases} cases.")
    elif result.status == NOT_ATTEMPTED:
        print(f"{head}: not attempted yet ({result.message}). The rest of the chapter uses "
              f"cvcourse's reference, so you can keep going and come back later.")
    else:
        print(f"{head}: failed ({result.passed_cases}/{result.total_cases} cases passed).")
        for line in result.message.splitlines():
            print(f"    {line}")
    log = os.environ.get(GRADE_LOG_ENV)
    if log:
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(asdict(result)) + "\n")


# ----------------------------------------------------------------------------- comparing and describing
def compare(expected: Any, got: Any, *, atol: float = 1e-5, rtol: float = 1e-4) -> str | None:
    """None when `got` matches `expected`, else a sentence saying how it differs.

    Tensors and arrays: same shape, then values within tolerance (float precision is not compared,
    so a float64 answer to a float32 question passes; an integer question needs an integer answer). Numbers: within tolerance; ints exactly.
    Tuples and lists: element by element (a tuple and a list of the same items are equal).
    """
    import numpy as np

    torch = _torch()
    if (torch is not None and isinstance(expected, torch.Tensor)) or isinstance(expected, np.ndarray):
        return _compare_arrays(expected, got, atol, rtol)
    if isinstance(expected, (tuple, list)):
        if not isinstance(got, (tuple, list)):
            return f"expected a {type(expected).__name__} of {len(expected)} items, got {type(got).__name__}"
        if len(got) != len(expected):
            return f"expected {len(expected)} items, got {len(got)}"
        for i, (e, g) in enumerate(zip(expected, got, strict=True)):
            reason = compare(e, g, atol=atol, rtol=rtol)
            if reason is not None:
                return f"item {i}: {reason}"
        return None
    if isinstance(expected, bool) or expected is None:
        return None if got == expected else f"expected {expected!r}, got {got!r}"
    if isinstance(expected, int):
        if isinstance(got, bool) or not isinstance(got, (int, np.integer)):
            return f"expected an int {expected}, got {describe(got)}"
        return None if got == expected else f"expected {expected}, got {got}"
    if isinstance(expected, float):
        if not isinstance(got, (int, float, np.number)):
            return f"expected a number {expected}, got {describe(got)}"
        if math.isclose(float(got), expected, rel_tol=rtol, abs_tol=atol):
            return None
        return f"expected {expected:.6g}, got {float(got):.6g}"
    return None if got == expected else f"expected {expected!r}, got {got!r}"


def _compare_arrays(expected: Any, got: Any, atol: float, rtol: float) -> str | None:
    import numpy as np

    torch = _torch()
    kind = "Tensor" if torch is not None and isinstance(expected, torch.Tensor) else "array"
    if torch is not None and isinstance(got, torch.Tensor):
        got_np = got.detach().cpu().double().numpy() if got.is_floating_point() else got.detach().cpu().numpy()
    elif isinstance(got, np.ndarray):
        got_np = got
    else:
        return f"expected a {kind}, got {describe(got)}"
    exp_np = expected.detach().cpu().numpy() if kind == "Tensor" else expected
    if tuple(got_np.shape) != tuple(exp_np.shape):
        return f"shape {tuple(got_np.shape)}, expected {tuple(exp_np.shape)}"
    exp_int = np.issubdtype(exp_np.dtype, np.integer) or exp_np.dtype == np.bool_
    if exp_int and not (np.issubdtype(got_np.dtype, np.integer) or got_np.dtype == np.bool_):
        # indices and labels: a float answer is wrong even when the values match (or there are none)
        return (f"dtype {str(got.dtype).replace('torch.', '')}, expected an integer {kind} "
                f"({str(expected.dtype).replace('torch.', '')}); e.g. torch.tensor(values, dtype=torch.int64)")
    if got_np.size == 0:
        return None
    if np.issubdtype(exp_np.dtype, np.floating):
        got_f, exp_f = got_np.astype(np.float64), exp_np.astype(np.float64)
        if not np.all(np.isfinite(got_f)):
            return "contains NaN or inf"
        if np.allclose(got_f, exp_f, atol=atol, rtol=rtol):
            return None
        diff = np.abs(got_f - exp_f)
        where = tuple(int(i) for i in np.unravel_index(int(np.argmax(diff)), diff.shape))
        return (f"values differ: largest difference {diff[where]:.4g} at index {where} "
                f"(expected {exp_f[where]:.6g}, got {got_f[where]:.6g})")
    if np.array_equal(got_np, exp_np):
        return None
    where = tuple(int(i[0]) for i in np.nonzero(got_np != exp_np))
    return f"values differ at index {where}: expected {exp_np[where]}, got {got_np[where]}"


def describe(x: Any, values: bool = False) -> str:
    """A short description of a value for a hint: `Tensor[1, 5, 5] float32`, with its values when
    `values` is set and it is small."""
    import numpy as np

    torch = _torch()
    if torch is not None and isinstance(x, torch.Tensor):
        head = f"Tensor{list(x.shape)} {str(x.dtype).replace('torch.', '')}"
        if values and x.numel() <= 16:
            return f"{head} {x.detach().cpu().tolist()}"
        return head
    if isinstance(x, np.ndarray):
        head = f"ndarray{list(x.shape)} {x.dtype}"
        return f"{head} {x.tolist()}" if values and x.size <= 16 else head
    if isinstance(x, (tuple, list)) and any(_is_array(v) for v in x):
        inner = ", ".join(describe(v, values) for v in x)
        return f"({inner})" if isinstance(x, tuple) else f"[{inner}]"
    r = repr(x)
    return r if len(r) <= 80 else r[:77] + "..."


def _is_array(x: Any) -> bool:
    import numpy as np

    torch = _torch()
    return isinstance(x, np.ndarray) or (torch is not None and isinstance(x, torch.Tensor))


def describe_call(args: tuple, kwargs: dict) -> str:
    parts = [describe(a, values=True) for a in args] + [f"{k}={describe(v, values=True)}" for k, v in kwargs.items()]
    return ", ".join(parts) if parts else "(no arguments)"


def _torch() -> Any:
    try:
        import torch
    except ImportError:  # the checks of non-tensor exercises work without torch
        return None
    return torch
