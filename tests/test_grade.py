"""The grader on a small class: passing, failing, crashing, timing-out, dying, unfinished and unreadable
submissions. Each notebook starts a real kernel, so the whole class is graded once (module fixture)."""
import json
import subprocess
import sys

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from cvcourse.grade import format_table, grade

IMPORTS = "from cvcourse import checks, sizes"
GOOD = "def conv_output_size(size, kernel, stride=1, padding=0, dilation=1):\n    return sizes.conv_output_size(size, kernel, stride, padding, dilation)"
WRONG = "def conv_output_size(size, kernel, stride=1, padding=0, dilation=1):\n    return (size + 2 * padding - kernel) // stride + 1"
STUB = "def conv_output_size(size, kernel, stride=1, padding=0, dilation=1):\n    raise NotImplementedError('Exercise 02.1')"
CHECK1 = "checks.conv_output_size(conv_output_size)"
GOOD2 = "def same_padding(size, kernel, stride=1, dilation=1):\n    return sizes.same_padding(size, kernel, stride, dilation)"
CHECK2 = "checks.same_padding(same_padding)"

CLASS = {
    "alice": [IMPORTS, GOOD, CHECK1, GOOD2, CHECK2],                  # everything right
    "bob": [IMPORTS, WRONG, CHECK1, GOOD2, CHECK2],                   # a wrong answer (ignores dilation)
    "carol": [IMPORTS, GOOD, CHECK1, "1 / 0", GOOD2, CHECK2],         # a crashing cell; the rest still runs
    "dave": [IMPORTS, GOOD, CHECK1, "while True:\n    pass", GOOD2, CHECK2],  # an infinite loop
    "erin": [IMPORTS, STUB, CHECK1],                                  # unfinished; exercise 2's check deleted
    "frank": [IMPORTS, "import os\nos._exit(1)", GOOD, CHECK1],       # the kernel dies
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("class")
    paths = []
    for learner, cells in CLASS.items():
        nb = new_notebook(cells=[new_code_cell(c) for c in cells],
                          metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
        (root / learner).mkdir()
        path = root / learner / "02_output_size.ipynb"
        nbformat.write(nb, path)
        paths.append(path)
    broken = root / "gina" / "02_output_size.ipynb"
    broken.parent.mkdir()
    broken.write_text("{ this is not a notebook")
    paths.append(broken)
    results = grade(paths, timeout=8, json_path=root / "results.json")
    return {p.parent.name: r for p, r in zip(paths, results, strict=True)}, root


def _statuses(grade_):
    return {e.exercise: e.status for e in grade_.exercises}


def test_passing_submission(graded):
    g = graded[0]["alice"]
    assert g.status == "ok" and g.chapter == "02"
    assert _statuses(g) == {"02.1": "passed", "02.2": "passed"} and g.score == 2


def test_failing_submission_has_a_hint(graded):
    g = graded[0]["bob"]
    assert _statuses(g) == {"02.1": "failed", "02.2": "passed"}
    assert g.exercises[0].hint.startswith("case:")


def test_crashing_cell_is_reported_and_later_checks_still_count(graded):
    g = graded[0]["carol"]
    assert g.status == "cell errors" and "ZeroDivisionError" in g.detail
    assert _statuses(g) == {"02.1": "passed", "02.2": "passed"}


def test_timeout_is_reported_with_the_verdicts_so_far(graded):
    g = graded[0]["dave"]
    assert g.status == "timeout" and "8 s" in g.detail
    assert _statuses(g) == {"02.1": "passed", "02.2": "not run"}


def test_unfinished_and_deleted_exercises(graded):
    g = graded[0]["erin"]
    assert g.status == "ok"
    assert _statuses(g) == {"02.1": "not attempted", "02.2": "not run"}


def test_dead_kernel_and_unreadable_file(graded):
    assert graded[0]["frank"].status in {"kernel died", "error"}
    assert _statuses(graded[0]["frank"]) == {"02.1": "not run", "02.2": "not run"}
    g = graded[0]["gina"]
    assert g.status == "unreadable" and g.chapter == "02" and "not a notebook" in g.detail
    assert _statuses(g) == {"02.1": "not run", "02.2": "not run"}


def test_json_and_table(graded):
    results, root = graded
    data = json.loads((root / "results.json").read_text())
    assert [d["score"] for d in data] == [2, 1, 2, 1, 0, 0, 0]
    assert all(d["total"] == 2 for d in data)
    table = format_table(list(results.values()))
    assert "02.1 conv_output_size" in table and "not attempted" in table and "timeout" in table


def test_kernels_run_with_the_network_guard(tmp_path):
    # conftest.py puts tests/kernel_site on the kernels' PYTHONPATH: notebooks run offline.
    nb = new_notebook(cells=[new_code_cell("import socket\nprint(getattr(socket.socket.connect, '_cvcourse_guard', False))")],
                      metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    from nbclient import NotebookClient

    NotebookClient(nb, timeout=60, kernel_name="python3").execute()
    assert nb.cells[0].outputs[0]["text"].strip() == "True"


def test_cli_grade_needs_paths():
    r = subprocess.run([sys.executable, "-m", "cvcourse", "grade"], capture_output=True, text=True)
    assert r.returncode == 2 and "paths" in r.stderr
