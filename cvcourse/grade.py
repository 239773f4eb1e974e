"""Grade learners' notebooks: execute each one headless and collect the verdicts of its checks.

    python -m cvcourse grade PATH.ipynb [PATH.ipynb ...] [--timeout S] [--json results.json]

How one notebook is graded:

1. **Read.** A file that is missing (or a pattern that matched nothing), a folder, empty, binary, not
   JSON or not a notebook is reported as such and not run. Saved outputs and execution counts are
   cleared: only what runs now counts (a "[PASS]" left in a cell proves nothing).
2. **Chapter.** `metadata.cvcourse.chapter` (written by `python -m cvcourse student`), else the file
   name's number (`02_...`), else the chapter of the `checks.<name>(` calls in its cells, else the
   notebook is reported as "unknown chapter". The chapter's exercises come from the check registry.
3. **Run.** A fresh kernel imports `cvcourse` (not counted), then runs every code cell in order,
   continuing past cells that raise (Run All with errors allowed). All cells share one budget of
   `timeout` seconds: a notebook still running then (an infinite loop) is stopped and reported as
   "timeout"; a kernel that dies ends the run as "kernel died". Every check appends its verdict to the
   file named by `CVCOURSE_GRADE_LOG`, which the grader reads.
4. **Missing verdicts.** When an exercise got no verdict from the notebook (its check cell was deleted,
   raised, e.g. NameError because the definition now comes after it, or never called the check) and
   the run finished, the grader calls the check itself, at the end, in the same kernel, on the
   learner's function (its name from `metadata.cvcourse.exercises`, else the check's name): a learner
   is graded on the function, not on keeping a cell, and the reason says "graded by the grader". With
   no such function, or when the run was stopped (timeout, dead kernel), the exercise is "not run".

Every notebook and every exercise gets a one-line reason; the grader never stops on a submission.
Cells are numbered from 0, markdown cells included, as nbformat counts them.
"""
from __future__ import annotations

import glob
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import warnings
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from time import monotonic
from typing import TYPE_CHECKING

import nbformat
from nbformat import NotebookNode
from nbformat.v4 import new_code_cell

from .checks import REGISTRY, exercises_of
from .checks._core import GRADE_LOG_ENV, NOT_ATTEMPTED, PASSED, ExerciseSpec
from .student import chapter_of

if TYPE_CHECKING:
    from nbclient import NotebookClient

NOT_RUN = "not run"
_CHECK_CALL = re.compile(r"^[^#\n]*?\bchecks\.(\w+)\s*\(", re.M)  # a call that is not commented out
# run before the clock starts: importing torch and the checks is not the learner's time
_WARM_UP = "import cvcourse.checks as _cvcourse_checks\ndel _cvcourse_checks"
_FALLBACK = """\
import cvcourse.checks as _cvcourse_checks
if callable(globals().get({fn!r})):
    _cvcourse_checks.{check}(globals()[{fn!r}])
del _cvcourse_checks"""


@dataclass
class ExerciseGrade:
    exercise: str
    name: str
    status: str  # passed | failed | not attempted | not run
    reason: str = ""  # one line: the first failing case, who ran the check, or why it did not run
    graded_by: str = "notebook"  # "notebook" (its check cell) or "grader" (the check cell gave no verdict)
    message: str = ""  # the check's full message


@dataclass
class NotebookGrade:
    path: str
    chapter: str
    # ok | cell errors | timeout | kernel died | empty | unknown chapter | unreadable | not found | error
    status: str
    reason: str = ""
    exercises: list[ExerciseGrade] = field(default_factory=list)
    chapter_from: str = ""  # metadata | file name | check calls
    seconds: float = 0.0

    @property
    def score(self) -> int:
        return sum(e.status == PASSED for e in self.exercises)


@dataclass
class _Run:
    """What happened in the kernel: cell errors, where it stopped, the verdicts and who produced them."""

    status: str = "ok"
    reason: str = ""
    errors: dict[int, str] = field(default_factory=dict)  # cell index -> "NameError: ..."
    stopped_at: int | None = None  # the cell running when the budget ran out or the kernel died
    verdicts: dict[str, tuple[dict, str]] = field(default_factory=dict)  # id -> (verdict, graded_by)
    notes: dict[str, str] = field(default_factory=dict)  # id -> why the grader's own check gave nothing


class _OutOfTime(Exception):
    pass


def grade_notebook(path: str | Path, timeout: float = 600, kernel_name: str = "python3") -> NotebookGrade:
    """Execute one learner notebook and grade its exercises; never raises for a bad submission.

    Args:
        path: the learner's notebook.
        timeout: seconds all its cells may run in total (the kernel's start is not counted).
        kernel_name: the Jupyter kernel to run it with (the notebook's own kernelspec is ignored).

    Returns:
        A `NotebookGrade`: the run's status and a one-line reason, and one `ExerciseGrade` per exercise
        of the chapter, each with its status and reason.
    """
    path = Path(path)
    start = monotonic()
    try:
        result = _grade(path, timeout, kernel_name)
    except Exception as err:  # noqa: BLE001 - the grader must never stop on a submission
        chapter = chapter_of(path)
        reason = _clip(f"the grader failed: {type(err).__name__}: {err}")
        not_run = _not_run(chapter, "the grader failed on this notebook")
        result = NotebookGrade(str(path), chapter, "error", reason, not_run)
    result.seconds = round(monotonic() - start, 1)
    return result


def _grade(path: Path, timeout: float, kernel_name: str) -> NotebookGrade:
    nb, status, reason = _load(path)
    if nb is None:
        chapter = chapter_of(path)
        not_run = _not_run(chapter, f"the notebook was not run ({status})")
        return NotebookGrade(str(path), chapter, status, reason, not_run, "file name" if chapter else "")
    chapter, chapter_from = _chapter(nb, path)
    if not chapter:
        reason = "no chapter in its metadata or file name, and no checks.<name>(...) call in its cells"
        return NotebookGrade(str(path), "", "unknown chapter", reason)
    if not any(c.cell_type == "code" and c.source.strip() for c in nb.cells):
        return NotebookGrade(str(path), chapter, "empty", "the notebook has no code",
                             _not_run(chapter, "the notebook has no code"), chapter_from)
    specs = exercises_of(chapter)
    functions = _functions(nb)
    run = _execute(nb, path, specs, functions, timeout, kernel_name)
    grades = [_exercise_grade(spec, functions.get(spec.id, spec.name), nb, run) for spec in specs]
    return NotebookGrade(str(path), chapter, run.status, run.reason, grades, chapter_from)


# ----------------------------------------------------------------------------- reading a submission
def _load(path: Path) -> tuple[NotebookNode | None, str, str]:
    """(notebook, "", "") with outputs cleared, or (None, status, reason) for a file that cannot be run."""
    if not path.exists():
        pattern = any(ch in str(path) for ch in "*?[")
        return None, "not found", "no file matches this pattern" if pattern else "no such file"
    if path.is_dir():
        return None, "not found", f"a folder, not a notebook: give the notebooks in it, e.g. '{path}/*.ipynb'"
    try:
        raw = path.read_bytes()
    except OSError as err:
        return None, "unreadable", f"cannot read the file: {err.strerror or err}"
    if not raw.strip():
        return None, "unreadable", "the file is empty"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None, "unreadable", "not a text file (binary data), so not a notebook"
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return None, "unreadable", "not valid JSON (a damaged or partly saved file?)"
    if not isinstance(data, dict) or not ("cells" in data or "worksheets" in data):
        return None, "unreadable", "not a notebook: JSON without notebook cells"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. cells without ids: nbformat adds them
            nb = nbformat.reads(text, as_version=4)
    except Exception as err:  # noqa: BLE001 - whatever nbformat makes of it, it is not a notebook we can run
        return None, "unreadable", _clip(f"not a notebook: {type(err).__name__}: {err}")
    problem = _clean(nb)
    return (None, "unreadable", problem) if problem else (nb, "", "")


def _clean(nb: NotebookNode) -> str:
    """Clear outputs and execution counts in place; a reason if `nb` is not shaped like a notebook."""
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        return "not a notebook: it has no list of cells"
    if not isinstance(nb.setdefault("metadata", NotebookNode()), dict):
        return "not a notebook: its metadata is not a mapping"
    for index, cell in enumerate(nb["cells"]):
        if (not isinstance(cell, dict) or cell.get("cell_type") not in ("code", "markdown", "raw")
                or not isinstance(cell.get("source"), str)
                or not isinstance(cell.setdefault("metadata", NotebookNode()), dict)):
            return f"not a notebook: cell {index} is not a notebook cell"
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    return ""


def _chapter(nb: NotebookNode, path: Path) -> tuple[str, str]:
    """(chapter, where it came from): the metadata, the file name, or the checks the cells call."""
    meta = nb.metadata.get("cvcourse")
    if isinstance(meta, dict) and isinstance(meta.get("chapter"), str) and meta["chapter"]:
        return meta["chapter"], "metadata"
    if chapter_of(path):
        return chapter_of(path), "file name"
    chapter_by_name = {s.name: s.chapter for s in REGISTRY.values()}
    calls = Counter(chapter_by_name[name] for cell in nb.cells if cell.cell_type == "code"
                    for name in _CHECK_CALL.findall(cell.source) if name in chapter_by_name)
    return (calls.most_common(1)[0][0], "check calls") if calls else ("", "")


def _functions(nb: NotebookNode) -> dict[str, str]:
    """Exercise id -> the name of the learner's function, from `metadata.cvcourse.exercises`."""
    meta = nb.metadata.get("cvcourse")
    listed = meta.get("exercises") if isinstance(meta, dict) else None
    if not isinstance(listed, list):
        return {}
    return {e["id"]: e["function"] for e in listed if isinstance(e, dict) and isinstance(e.get("id"), str)
            and isinstance(e.get("function"), str) and e["function"].isidentifier()}


# ----------------------------------------------------------------------------- running it
def _execute(nb: NotebookNode, path: Path, specs: list[ExerciseSpec], functions: dict[str, str],
             timeout: float, kernel_name: str) -> _Run:
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    run = _Run()
    cells = list(nb.cells)
    nb.cells.append(new_code_cell(""))  # a slot for the grader's own cells: nbclient stores each cell it ran
    scratch = len(cells)
    deadline: list[float] = []  # set once the warm-up is done
    client = NotebookClient(
        nb, kernel_name=kernel_name, allow_errors=True, startup_timeout=120, shutdown_kernel="immediate",
        timeout_func=lambda cell: max(1, math.ceil(deadline[0] - monotonic())) if deadline else 120,
        resources={"metadata": {"path": str(path.parent.resolve())}})
    where = "the kernel's start"
    with tempfile.TemporaryDirectory(prefix="cvcourse-grade-") as tmp:
        log = Path(tmp) / "verdicts.jsonl"
        env = dict(os.environ, **{GRADE_LOG_ENV: str(log)})
        try:
            # the kernel's own stderr (start-up warnings, a dying kernel's trace) is not the learner's
            with client.setup_kernel(env=env, stderr=subprocess.DEVNULL):
                warm = new_code_cell(_WARM_UP)
                client.execute_cell(warm, scratch, store_history=False)
                if _error_of(warm):
                    raise RuntimeError(f"the kernel cannot import cvcourse: {_error_of(warm)}")
                deadline.append(monotonic() + timeout)
                for index, cell in enumerate(cells):
                    if cell.cell_type != "code" or not cell.source.strip():
                        continue
                    where, run.stopped_at = f"cell {index}", index
                    if monotonic() >= deadline[0]:
                        raise _OutOfTime
                    client.execute_cell(cell, index)
                    if _error_of(cell):
                        run.errors[index] = _error_of(cell)
                run.stopped_at = None
                run.verdicts = {k: (v, "notebook") for k, v in _read_log(log).items()}
                for spec in specs:
                    if spec.id not in run.verdicts:
                        where = f"the grader's call of checks.{spec.name}"
                        fn = functions.get(spec.id, spec.name)
                        _grader_check(client, scratch, spec, fn, log, deadline[0], run)
        except CellTimeoutError:
            run.status = "timeout"
            run.reason = f"{where} was still running at the end of the {timeout:g} s budget"
        except _OutOfTime:
            run.status, run.reason = "timeout", f"the {timeout:g} s budget ran out before {where}"
        except DeadKernelError:
            run.status, run.reason = "kernel died", f"in {where} (os._exit, a crash or out of memory)"
        except Exception as err:  # noqa: BLE001 - a kernel that cannot start, or anything else: reported
            run.status, run.reason = "error", _clip(f"in {where}: {type(err).__name__}: {err}")
        for ex_id, verdict in _read_log(log).items():  # verdicts gathered before a stop count too
            run.verdicts.setdefault(ex_id, (verdict, "notebook"))
    nb.cells = cells
    unexpected = sorted(i for i in run.errors if not _expects_error(nb.cells[i]))
    if run.status == "ok" and unexpected:
        more = f" (and {len(unexpected) - 1} more)" if len(unexpected) > 1 else ""
        run.status = "cell errors"
        run.reason = _clip(f"cell {unexpected[0]} raised {run.errors[unexpected[0]]}{more}")
    elif run.status == "ok":
        run.reason = "every cell ran"
    return run


def _grader_check(client: NotebookClient, scratch: int, spec: ExerciseSpec, fn: str, log: Path,
                  deadline: float, run: _Run) -> None:
    """Call `checks.<spec.name>` on the learner's function `fn` in the notebook's kernel."""
    if monotonic() >= deadline:
        run.notes[spec.id] = "no time left in the budget for the grader's own check"
        return
    cell = new_code_cell(_FALLBACK.format(fn=fn, check=spec.name))
    # stays if the call never returns (an infinite loop, a dying kernel)
    run.notes[spec.id] = f"the grader's own call of checks.{spec.name}({fn}) did not finish"
    client.execute_cell(cell, scratch, store_history=False)
    del run.notes[spec.id]
    verdict = _read_log(log).get(spec.id)
    if verdict is not None:
        run.verdicts[spec.id] = (verdict, "grader")
    elif _error_of(cell):
        run.notes[spec.id] = f"the grader's call of checks.{spec.name}({fn}) raised {_error_of(cell)}"
    else:
        run.notes[spec.id] = f"no {fn} to check at the end"


def _error_of(cell: NotebookNode) -> str:
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            return _clip(f"{out.get('ename')}: {out.get('evalue')}", 160)
    return ""


def _expects_error(cell: NotebookNode) -> bool:
    return "raises-exception" in cell.metadata.get("tags", [])


def _read_log(log: Path) -> dict[str, dict]:
    verdicts: dict[str, dict] = {}
    if log.exists():
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                v = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(v, dict) and isinstance(v.get("exercise"), str) and isinstance(v.get("status"), str):
                verdicts[v["exercise"]] = v  # the last run of a check counts
    return verdicts


# ----------------------------------------------------------------------------- the verdicts
def _exercise_grade(spec: ExerciseSpec, fn: str, nb: NotebookNode, run: _Run) -> ExerciseGrade:
    verdict, graded_by = run.verdicts.get(spec.id, (None, ""))
    if verdict is not None and graded_by == "notebook":
        return ExerciseGrade(spec.id, spec.name, verdict["status"], _hint(verdict), graded_by,
                             verdict.get("message", ""))
    why = _why_no_verdict(spec, nb, run)
    if verdict is not None:
        reason = f"graded by the grader ({why})" + (f"; {_hint(verdict)}" if _hint(verdict) else "")
        return ExerciseGrade(spec.id, spec.name, verdict["status"], reason, graded_by, verdict.get("message", ""))
    note = run.notes.get(spec.id, "")
    return ExerciseGrade(spec.id, spec.name, NOT_RUN, why + (f"; {note}" if note else ""))


def _why_no_verdict(spec: ExerciseSpec, nb: NotebookNode, run: _Run) -> str:
    cells = [i for i, c in enumerate(nb.cells)
             if c.cell_type == "code" and spec.name in _CHECK_CALL.findall(c.source)]
    if not cells:
        return "check cell missing"
    raised = [i for i in cells if i in run.errors]
    if raised:
        return f"its check cell (cell {raised[0]}) raised {run.errors[raised[0]]}"
    if run.stopped_at is not None and cells[0] >= run.stopped_at:
        what = "stopped" if cells[0] == run.stopped_at else "not reached"
        return f"its check cell (cell {cells[0]}) was {what} ({run.status})"
    if run.status not in ("ok", "cell errors"):
        return f"its check cell (cell {cells[0]}) gave no verdict ({run.status})"
    return f"its check cell (cell {cells[0]}) ran but did not call checks.{spec.name}"


def _hint(verdict: dict) -> str:
    """The check's message on one line: "case: dilation 2 -> expected 28, got 30"."""
    if verdict.get("status") == NOT_ATTEMPTED:
        return "still raises NotImplementedError"
    lines = str(verdict.get("message", "")).splitlines()
    case = next((ln for ln in lines if ln.startswith("case:")), "")
    problem = next((ln.removeprefix("problem:").strip() for ln in lines if ln.startswith("problem:")), "")
    if case and problem:
        return f"{case} -> {problem}"
    return lines[0] if lines else ""


def _not_run(chapter: str, reason: str) -> list[ExerciseGrade]:
    return [ExerciseGrade(s.id, s.name, NOT_RUN, reason) for s in exercises_of(chapter)]


def _clip(text: str, width: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 3] + "..."


# ----------------------------------------------------------------------------- a class
def format_table(grades: list[NotebookGrade], width: int = 160) -> str:
    """A plain-text score table: one row per exercise (reasons clipped to `width` characters), then one
    line per notebook with its score, its status and the reason."""
    names = _short_names([g.path for g in grades])
    rows = [("notebook", "exercise", "result", "reason")]
    for g, name in zip(grades, names, strict=True):
        if not g.exercises:
            rows.append((name, "-", g.status, _clip(g.reason, width)))
        for e in g.exercises:
            rows.append((name, f"{e.exercise} {e.name}", e.status, _clip(e.reason, width)))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r[:3], widths, strict=True)) + "  " + r[3] for r in rows]
    lines = [line.rstrip() for line in lines]
    lines.insert(1, "-" * min(120, max(len(x) for x in lines)))
    lines.append("")
    for g, name in zip(grades, names, strict=True):
        reason = f": {g.reason}" if g.reason else ""
        lines.append(f"{name}: {g.score}/{len(g.exercises)} passed; {g.status}{reason}")
    return "\n".join(lines)


def _short_names(paths: list[str]) -> list[str]:
    """Paths relative to the deepest folder holding them all: alice/02.ipynb and bob/02.ipynb stay apart."""
    try:
        parents = [str(Path(p).resolve().parent) for p in paths]
        base = Path(os.path.commonpath(parents)) if parents else Path()
        return [str(Path(p).resolve().relative_to(base)) for p in paths]
    except ValueError:  # different drives (Windows)
        return [str(p) for p in paths]


def _expand(paths: list[str | Path]) -> list[str]:
    """Expand patterns the shell left alone (no match, or a shell that does not expand `*`, as on Windows)."""
    out: list[str] = []
    for p in map(str, paths):
        matches = sorted(glob.glob(p)) if not os.path.exists(p) and any(ch in p for ch in "*?[") else []
        out += matches or [p]
    return out


def grade(paths: list[str | Path], timeout: float = 600, json_path: str | Path | None = None,
          kernel_name: str = "python3") -> list[NotebookGrade]:
    """Grade several notebooks, print the table, and optionally write the results as JSON.

    Args:
        paths: notebooks (patterns such as "subs/*/02_*.ipynb" are expanded when the shell did not).
        timeout: seconds the cells of one notebook may run in total.
        json_path: also write the results here: one object per notebook, with `score` and `total`.
        kernel_name: the Jupyter kernel to run them with.

    Returns:
        One `NotebookGrade` per path, in order. Progress goes to stderr, the table to stdout.

    Raises:
        ValueError: no paths.
    """
    if not paths:
        raise ValueError("paths: give at least one notebook to grade")
    results = []
    for p in _expand(paths):
        print(f"grading {p} ...", file=sys.stderr, flush=True)
        results.append(grade_notebook(p, timeout=timeout, kernel_name=kernel_name))
    print(format_table(results), flush=True)
    if json_path:
        data = [dict(asdict(g), score=g.score, total=len(g.exercises)) for g in results]
        Path(json_path).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {json_path}", file=sys.stderr)
    return results
