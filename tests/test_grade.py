"""The grader on a fixture class built from the real learner notebook of chapter 02: right, wrong and
unfinished answers, a renamed file, reordered cells, a deleted check cell, a renamed function, forged
outputs, an infinite loop, a dying kernel, no metadata, and a damaged file; then files that are not
notebooks at all. Each notebook starts a real kernel, so the class is graded once (module fixture);
its table is written to build/grading-fixture.txt (the README's example)."""
import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from cvcourse import grade as grade_module
from cvcourse.grade import _chapter, format_table, grade, grade_notebook
from cvcourse.student import BEGIN, END, make_student_notebook

ROOT = Path(__file__).resolve().parent.parent
SOLUTION = ROOT / "solutions" / "02_output_size.ipynb"
BUDGET = 10  # seconds per notebook: chapter 02's cells take ~2 s; gina's infinite loop takes all of it
WRONG_BODY = "    return (size + 2 * padding - kernel) // stride + 1  # forgot dilation"


def _index(nb, start: str) -> int:
    """The code cell whose source starts with `start`."""
    return next(i for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.source.startswith(start))


def _solve(nb, name: str, body: str | None = None) -> None:
    """Write the learner's answer to exercise `name`: the solution's body, or `body`."""
    cell = nb.cells[_index(nb, f"def {name}(")]
    if body is None:
        solution = nbformat.read(SOLUTION, as_version=4)
        source = solution.cells[_index(solution, f"def {name}(")].source
        cell.source = "\n".join(ln for ln in source.splitlines() if ln.strip() not in (BEGIN, END))
    else:
        cell.source = re.sub(r"^ *raise NotImplementedError\(.*$", body, cell.source, flags=re.M)


def _insert_after(nb, start: str, source: str) -> None:
    nb.cells.insert(_index(nb, start) + 1, new_code_cell(source))


def alice(nb):  # everything right
    _solve(nb, "conv_output_size")
    _solve(nb, "same_padding")


def bob(nb):  # everything right; the file was renamed on the way
    alice(nb)


def carol(nb):  # a wrong answer, and an exercise left unfinished
    _solve(nb, "conv_output_size", WRONG_BODY)


def dave(nb):  # moved a check cell above the function it checks: NameError there; the grader checks at the end
    alice(nb)
    check = nb.cells.pop(_index(nb, "checks.same_padding("))
    nb.cells.insert(_index(nb, "def same_padding("), check)


def erin(nb):  # deleted a check cell; renamed a function without updating its check cell
    alice(nb)
    del nb.cells[_index(nb, "checks.same_padding(")]
    cell = nb.cells[_index(nb, "def conv_output_size(")]
    cell.source = cell.source.replace("def conv_output_size(", "def output_size(", 1)


def frank(nb):  # a wrong answer, saved with a forged "[PASS]" output
    _solve(nb, "conv_output_size", WRONG_BODY)
    _solve(nb, "same_padding")
    check = nb.cells[_index(nb, "checks.conv_output_size(")]
    check.execution_count = 7
    check.outputs = [new_output("stream", name="stdout",
                                text="[PASS] Exercise 02.1 (conv_output_size): passed all 8 cases.\n")]


def gina(nb):  # an infinite loop between the two exercises
    alice(nb)
    _insert_after(nb, "checks.conv_output_size(", "while True:  # waiting for the plot to update\n    pass")


def heidi(nb):  # the kernel dies between the two exercises
    alice(nb)
    _insert_after(nb, "checks.conv_output_size(", "import os\nos._exit(1)")


def ivan(nb):  # copied the cells into a new, renamed notebook: no metadata, no kernelspec
    alice(nb)
    nb.metadata = nbformat.NotebookNode()


CLASS = [  # (file, how the learner's notebook was made)
    ("alice/02_output_size.ipynb", alice),
    ("bob/bob ch2 final (1).ipynb", bob),
    ("carol/02_output_size.ipynb", carol),
    ("dave/02_output_size.ipynb", dave),
    ("erin/02_output_size.ipynb", erin),
    ("frank/02_output_size.ipynb", frank),
    ("gina/02_output_size.ipynb", gina),
    ("heidi/02_output_size.ipynb", heidi),
    ("ivan/lab 2.ipynb", ivan),
    ("judy/02_output_size.ipynb", None),  # saved halfway: the file ends in the middle of the JSON
]


def _learner_notebook() -> nbformat.NotebookNode:
    return make_student_notebook(nbformat.read(SOLUTION, as_version=4), SOLUTION.name)


def build_class(root: Path) -> list[Path]:
    """Write the fixture class under `root`; returns the notebooks' paths in order."""
    paths = []
    for name, make in CLASS:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        nb = _learner_notebook()
        if make is None:
            text = nbformat.writes(nb)
            path.write_text(text[: len(text) // 3], encoding="utf-8")
        else:
            make(nb)
            nbformat.write(nb, path)
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("class")
    paths = build_class(root)
    results = grade(paths, timeout=BUDGET, json_path=root / "results.json")
    table = format_table(results)
    (ROOT / "build").mkdir(exist_ok=True)
    (ROOT / "build" / "grading-fixture.txt").write_text(table + "\n", encoding="utf-8")
    by_learner = {Path(name).parts[0]: r for (name, _), r in zip(CLASS, results, strict=True)}
    return by_learner, root, table


def _by_id(g):
    return {e.exercise: e for e in g.exercises}


def _statuses(g):
    return {e.exercise: e.status for e in g.exercises}


def test_correct_submission(graded):
    g = graded[0]["alice"]
    assert (g.status, g.chapter, g.chapter_from, g.score) == ("ok", "02", "metadata", 2)
    assert _statuses(g) == {"02.1": "passed", "02.2": "passed"}
    assert all(e.graded_by == "notebook" for e in g.exercises)


def test_renamed_file_is_graded_by_its_metadata(graded):
    g = graded[0]["bob"]
    assert (g.status, g.chapter, g.chapter_from, g.score) == ("ok", "02", "metadata", 2)


def test_wrong_and_unfinished_answers(graded):
    g = _by_id(graded[0]["carol"])
    assert g["02.1"].status == "failed"
    assert g["02.1"].reason.startswith("case: ") and "->" in g["02.1"].reason and "problem:" in g["02.1"].message
    assert (g["02.2"].status, g["02.2"].reason) == ("not attempted", "still raises NotImplementedError")


def test_reordered_check_cell_is_graded_by_the_grader(graded):
    g = graded[0]["dave"]
    assert g.status == "cell errors" and "NameError" in g.reason
    e = _by_id(g)["02.2"]
    assert (e.status, e.graded_by) == ("passed", "grader")
    assert re.match(r"graded by the grader \(its check cell \(cell \d+\) raised NameError: name 'same_padding' "
                    r"is not defined\)$", e.reason), e.reason


def test_deleted_check_cell_and_renamed_function(graded):
    g = _by_id(graded[0]["erin"])
    assert (g["02.2"].status, g["02.2"].graded_by, g["02.2"].reason) == (
        "passed", "grader", "graded by the grader (check cell missing)")
    assert g["02.1"].status == "not run"
    assert "raised NameError: name 'conv_output_size' is not defined" in g["02.1"].reason
    assert g["02.1"].reason.endswith("; no conv_output_size to check at the end")


def test_saved_outputs_do_not_count(graded):
    g = graded[0]["frank"]
    assert _statuses(g) == {"02.1": "failed", "02.2": "passed"} and g.status == "ok"


def test_infinite_loop_uses_up_the_budget(graded):
    g = graded[0]["gina"]
    assert g.status == "timeout"
    assert re.fullmatch(rf"cell \d+ was still running at the end of the {BUDGET} s budget", g.reason), g.reason
    assert _statuses(g) == {"02.1": "passed", "02.2": "not run"}
    assert re.fullmatch(r"its check cell \(cell \d+\) was not reached \(timeout\)", _by_id(g)["02.2"].reason)
    assert g.seconds >= BUDGET


def test_dead_kernel(graded):
    g = graded[0]["heidi"]
    assert g.status == "kernel died" and re.fullmatch(r"in cell \d+ \(os._exit, a crash or out of memory\)", g.reason)
    assert _statuses(g) == {"02.1": "passed", "02.2": "not run"}


def test_no_metadata_chapter_from_the_check_calls(graded):
    g = graded[0]["ivan"]
    assert (g.status, g.chapter, g.chapter_from, g.score) == ("ok", "02", "check calls", 2)


def test_damaged_file(graded):
    g = graded[0]["judy"]
    assert (g.status, g.reason, g.chapter) == ("unreadable", "not valid JSON (a damaged or partly saved file?)", "02")
    assert _statuses(g) == {"02.1": "not run", "02.2": "not run"}
    assert g.exercises[0].reason == "the notebook was not run (unreadable)"


def test_json_and_table(graded):
    results, root, table = graded
    data = json.loads((root / "results.json").read_text())
    assert [(Path(d["path"]).parts[-2], d["score"], d["total"]) for d in data] == [
        ("alice", 2, 2), ("bob", 2, 2), ("carol", 0, 2), ("dave", 2, 2), ("erin", 1, 2), ("frank", 1, 2),
        ("gina", 1, 2), ("heidi", 1, 2), ("ivan", 2, 2), ("judy", 0, 2)]
    assert all(d["reason"] and all(e["status"] == "passed" or e["reason"] for e in d["exercises"]) for d in data)
    lines = table.splitlines()
    assert lines[0].split() == ["notebook", "exercise", "result", "reason"]
    assert "bob/bob ch2 final (1).ipynb  02.1 conv_output_size  passed" in table
    assert "gina/02_output_size.ipynb: 1/2 passed; timeout: cell " in table
    assert sum(line.startswith(("alice/", "bob/")) for line in lines) == 6  # 2 rows + 1 summary each


@pytest.mark.parametrize("name, content, status, reason", [
    ("empty.ipynb", b"", "unreadable", "the file is empty"),
    ("02_junk.ipynb", bytes(range(256)) * 4, "unreadable", "not a text file (binary data), so not a notebook"),
    ("02_list.ipynb", b"[1, 2, 3]", "unreadable", "not a notebook: JSON without notebook cells"),
    ("02_dict.ipynb", b'{"hello": "world"}', "unreadable", "not a notebook: JSON without notebook cells"),
    ("02_cells.ipynb", b'{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [{"x": 1}]}',
     "unreadable", "not a notebook: ValidationError"),
    ("02_cells2.ipynb", b'{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [[]]}',
     "unreadable", "not a notebook: "),
    ("02_empty.ipynb", nbformat.writes(new_notebook()).encode(), "empty", "the notebook has no code"),
    ("notes.ipynb", nbformat.writes(new_notebook(cells=[new_code_cell("print(1)")])).encode(), "unknown chapter",
     "no chapter in its metadata or file name"),
])
def test_files_that_cannot_be_graded_are_reported_without_a_kernel(tmp_path, monkeypatch, name, content, status,
                                                                     reason):
    monkeypatch.setattr(grade_module, "_execute", lambda *args: pytest.fail("a kernel was started"))
    path = tmp_path / name
    path.write_bytes(content)
    g = grade_notebook(path, timeout=1)
    assert g.status == status and g.reason.startswith(reason), g.reason
    assert all(e.status == "not run" for e in g.exercises)
    assert format_table([g])


def test_folders_and_patterns_that_match_nothing(tmp_path, capsys):
    (tmp_path / "alice").mkdir()
    results = grade([tmp_path / "alice", str(tmp_path / "nobody" / "*.ipynb"), tmp_path / "missing.ipynb"])
    assert [(g.status, g.reason) for g in results] == [
        ("not found", f"a folder, not a notebook: give the notebooks in it, e.g. '{tmp_path / 'alice'}/*.ipynb'"),
        ("not found", "no file matches this pattern"),
        ("not found", "no such file"),
    ]
    assert "no file matches this pattern" in capsys.readouterr().out


def test_chapter_inference():
    nb = new_notebook(cells=[new_markdown_cell("checks.nms(x)"), new_code_cell("# checks.nms(nms)\nchecks.box_iou(f)\n"),
                             new_code_cell("checks.generalized_box_iou(g)")])
    assert _chapter(nb, Path("whatever.ipynb")) == ("06", "check calls")
    assert _chapter(nb, Path("08_nms.ipynb")) == ("08", "file name")
    nb.metadata["cvcourse"] = {"chapter": "07"}
    assert _chapter(nb, Path("08_nms.ipynb")) == ("07", "metadata")
    assert _chapter(new_notebook(cells=[new_code_cell("# checks.nms(nms)")]), Path("x.ipynb")) == ("", "")


def test_kernels_run_with_the_network_guard(tmp_path):
    # conftest.py puts tests/kernel_site on the kernels' PYTHONPATH: notebooks run offline.
    nb = new_notebook(cells=[new_code_cell("import socket\nprint(getattr(socket.socket.connect, '_cvcourse_guard', False))")],
                      metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    from nbclient import NotebookClient

    NotebookClient(nb, timeout=60, kernel_name="python3").execute()
    assert nb.cells[0].outputs[0]["text"].strip() == "True"


def test_cli_grade(tmp_path):
    (tmp_path / "judy").mkdir()
    (tmp_path / "judy" / "02_output_size.ipynb").write_text('{"cells": [')
    results = tmp_path / "results.json"
    cmd = [sys.executable, "-m", "cvcourse", "grade", str(tmp_path / "*" / "02_output_size.ipynb"),
           str(tmp_path / "nobody" / "02_output_size.ipynb"), "--json", str(results), "--timeout", "5"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr  # grading finished: exit 0, whatever the learners scored
    assert "judy/02_output_size.ipynb: 0/2 passed; unreadable: not valid JSON" in r.stdout
    assert "nobody/02_output_size.ipynb: 0/2 passed; not found: no such file" in r.stdout
    assert [d["status"] for d in json.loads(results.read_text())] == ["unreadable", "not found"]


@pytest.mark.parametrize("args, message", [([], "paths"), (["x.ipynb", "--timeout", "0"], "--timeout")])
def test_cli_grade_usage_errors(args, message):
    r = subprocess.run([sys.executable, "-m", "cvcourse", "grade", *args], capture_output=True, text=True)
    assert r.returncode == 2 and message in r.stderr


if __name__ == "__main__":  # write the fixture class into a folder: python tests/test_grade.py DIR
    folder = Path(sys.argv[1])
    build_class(folder)
    print(f"wrote {len(CLASS)} submissions; grade them with:\n"
          f"  cd {folder.parent} && python -m cvcourse grade {folder.name}/*/*.ipynb --json results.json --timeout {BUDGET}")
