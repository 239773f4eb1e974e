"""Grade learners' notebooks: execute each one headless and collect the verdicts of its check cells.

    python -m cvcourse grade PATH.ipynb [PATH.ipynb ...] [--timeout S] [--json results.json]

Every check (`cvcourse.checks.<name>(fn)`) appends its verdict to the file named by
`CVCOURSE_GRADE_LOG`; the grader sets that variable for the kernel, runs all cells (continuing past
cells that raise, as a marker would), then reads the log. The exercises a chapter should contain come
from the check registry, so a deleted or never-reached check cell is reported as "not run". A
notebook that cannot be read, whose kernel dies, or whose cell runs longer than the timeout is
reported with the reason and the verdicts gathered until then; the grader itself never crashes on a
submission.
"""
from __future__ import annotations

import json
import os
import subprocess
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .checks import REGISTRY, exercises_of
from .checks._core import GRADE_LOG_ENV, NOT_ATTEMPTED, PASSED
from .student import chapter_of

NOT_RUN = "not run"


@dataclass
class ExerciseGrade:
    exercise: str
    name: str
    status: str  # passed | failed | not attempted | not run
    hint: str = ""


@dataclass
class NotebookGrade:
    path: str
    chapter: str
    status: str  # ok | cell errors | timeout | kernel died | unreadable
    detail: str = ""
    exercises: list[ExerciseGrade] = field(default_factory=list)

    @property
    def score(self) -> int:
        return sum(e.status == PASSED for e in self.exercises)


def _chapter(nb: object, path: Path) -> str:
    meta = getattr(nb, "metadata", {}).get("cvcourse", {}) if nb is not None else {}
    return str(meta.get("chapter") or chapter_of(path))


def _first_error(nb: object) -> str:
    for index, cell in enumerate(getattr(nb, "cells", [])):
        for out in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            if out.get("output_type") == "error" and "raises-exception" not in cell.metadata.get("tags", []):
                return f"cell {index}: {out.get('ename')}: {out.get('evalue')}"[:300]
    return ""


def grade_notebook(path: str | Path, timeout: float = 600, kernel_name: str = "python3") -> NotebookGrade:
    """Execute one learner notebook and grade its exercises.

    Args:
        path: the learner's notebook.
        timeout: seconds one cell may run before the notebook is stopped and reported as "timeout".
        kernel_name: the Jupyter kernel to run it with.

    Returns:
        A `NotebookGrade`: the run's status, a detail (first error or timeout), and one
        `ExerciseGrade` per exercise of the chapter (plus any other exercise whose check ran).
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    path = Path(path)
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as err:  # noqa: BLE001 - any unreadable file is reported
        return NotebookGrade(str(path), chapter_of(path), "unreadable", f"{type(err).__name__}: {err}"[:300],
                             _merge(chapter_of(path), {}))
    chapter = _chapter(nb, path)
    with tempfile.TemporaryDirectory(prefix="cvcourse-grade-") as tmp:
        log = Path(tmp) / "verdicts.jsonl"
        env = dict(os.environ, **{GRADE_LOG_ENV: str(log)})
        client = NotebookClient(nb, timeout=timeout, kernel_name=kernel_name, allow_errors=True,
                                startup_timeout=120, resources={"metadata": {"path": str(path.parent.resolve())}})
        status, detail = "ok", ""
        try:
            # the kernel's own stderr (start-up warnings, a dying kernel's trace) is not the learner's
            client.execute(env=env, stderr=subprocess.DEVNULL)
            detail = _first_error(nb)
            status = "cell errors" if detail else "ok"
        except CellTimeoutError:
            status, detail = "timeout", f"a cell ran longer than {timeout:g} s and was stopped"
        except DeadKernelError as err:
            status, detail = "kernel died", str(err)[:300]
        except Exception as err:  # noqa: BLE001 - a broken submission must not crash the grader
            status, detail = "error", f"{type(err).__name__}: {err}"[:300]
        verdicts = _read_log(log)
    return NotebookGrade(str(path), chapter, status, detail, _merge(chapter, verdicts))


def _read_log(log: Path) -> dict[str, dict]:
    verdicts: dict[str, dict] = {}
    if log.exists():
        for line in log.read_text(encoding="utf-8").splitlines():
            try:
                v = json.loads(line)
            except json.JSONDecodeError:
                continue
            verdicts[v["exercise"]] = v  # the last run of a check counts
    return verdicts


def _merge(chapter: str, verdicts: dict[str, dict]) -> list[ExerciseGrade]:
    grades = []
    expected = [s.id for s in exercises_of(chapter)]
    for ex_id in expected + sorted(set(verdicts) - set(expected)):
        v = verdicts.get(ex_id)
        name = REGISTRY[ex_id].name if ex_id in REGISTRY else v["name"]
        if v is None:
            grades.append(ExerciseGrade(ex_id, name, NOT_RUN, "its check cell was deleted or never reached"))
        else:
            hint = v["message"].splitlines()[0] if v["message"] else ""
            if v["status"] == NOT_ATTEMPTED:
                hint = "still raises NotImplementedError"
            grades.append(ExerciseGrade(ex_id, name, v["status"], hint))
    return grades


def format_table(grades: list[NotebookGrade]) -> str:
    """A plain-text score table: one row per exercise, then one line per notebook."""
    rows = [("notebook", "exercise", "result", "hint")]
    base = _common_parent([g.path for g in grades])
    for g in grades:
        name = str(Path(g.path).resolve().relative_to(base))
        if not g.exercises:
            rows.append((name, "-", g.status, g.detail))
        for e in g.exercises:
            rows.append((name, f"{e.exercise} {e.name}", e.status, e.hint))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r[:3], widths, strict=True)) + "  " + r[3] for r in rows]
    lines.insert(1, "-" * min(120, max(len(x) for x in lines)))
    lines.append("")
    for g in grades:
        run = g.status + (f" ({g.detail})" if g.detail else "")
        lines.append(f"{g.path}: {g.score}/{len(g.exercises)} passed; run: {run}")
    return "\n".join(lines)


def _common_parent(paths: list[str]) -> Path:
    """The deepest folder holding every path, so that alice/01.ipynb and bob/01.ipynb stay apart."""
    return Path(os.path.commonpath([str(Path(p).resolve().parent) for p in paths])) if paths else Path()


def grade(paths: list[str | Path], timeout: float = 600, json_path: str | Path | None = None) -> list[NotebookGrade]:
    """Grade several notebooks, print the table, and optionally write the results as JSON."""
    if not paths:
        raise ValueError("paths: give at least one notebook to grade")
    results = []
    for p in paths:
        print(f"grading {p} ...", flush=True)
        results.append(grade_notebook(p, timeout=timeout))
    print(format_table(results))
    if json_path:
        data = [dict(asdict(g), score=g.score, total=len(g.exercises)) for g in results]
        Path(json_path).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {json_path}")
    return results
