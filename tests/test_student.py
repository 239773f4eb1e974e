"""The student generator: solution regions become stubs, instructions stay, outputs go, bad markers
are reported with the notebook and cell."""
import subprocess
import sys

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from cvcourse import checks
from cvcourse.student import MarkerError, generate, make_student_notebook, render

EXERCISE = '''def conv_output_size(size, kernel, stride=1, padding=0, dilation=1):
    """Return the output length. Hint: the dilated kernel spans D*(K-1)+1 pixels."""
    span = dilation * (kernel - 1) + 1  # kept: outside the markers
    ### BEGIN SOLUTION
    if span > size + 2 * padding:
        raise ValueError("kernel larger than the padded input")
    return (size + 2 * padding - span) // stride + 1
    ### END SOLUTION'''


def _solution_nb(*code: str) -> nbformat.NotebookNode:
    nb = new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nb.cells.append(new_markdown_cell("## Exercise 1\nWrite `conv_output_size`."))
    for src in code:
        cell = new_code_cell(src, execution_count=3)
        cell.outputs = [new_output("stream", name="stdout", text="secret output\n")]
        nb.cells.append(cell)
    return nb


def test_solution_region_becomes_a_stub_and_instructions_stay():
    nb = _solution_nb(EXERCISE, "checks.conv_output_size(conv_output_size)")
    out = make_student_notebook(nb, "02_output_size.ipynb")
    src = out.cells[1].source
    assert "raise ValueError" not in src and "// stride" not in src and "BEGIN SOLUTION" not in src
    assert 'raise NotImplementedError("Exercise 02.1: write conv_output_size; see the instructions above")' in src
    assert "Hint: the dilated kernel" in src and "span = dilation" in src
    assert src.splitlines()[-1].startswith("    raise NotImplementedError")  # the marker's indentation
    assert all(c.outputs == [] and c.execution_count is None for c in out.cells if c.cell_type == "code")
    assert out.cells[0].source == nb.cells[0].source
    assert out.metadata["cvcourse"]["chapter"] == "02"
    assert nb.cells[1].outputs, "the solution notebook itself must not be changed"
    assert [c.id for c in out.cells] == [c.id for c in nb.cells]


def test_stub_runs_and_the_check_reports_not_attempted(capsys):
    out = make_student_notebook(_solution_nb(EXERCISE), "02_output_size.ipynb")
    namespace: dict = {}
    exec(out.cells[1].source, namespace)  # defining the function must not raise
    with pytest.raises(NotImplementedError, match="Exercise 02.1"):
        namespace["conv_output_size"](5, 3)
    result = checks.conv_output_size(namespace["conv_output_size"])
    assert result.status == "not attempted"
    assert "not attempted" in capsys.readouterr().out


def test_solution_passes_its_check():
    namespace: dict = {}
    exec(EXERCISE, namespace)
    assert checks.conv_output_size(namespace["conv_output_size"]).passed


def test_exercises_are_numbered_in_order():
    second = EXERCISE.replace("conv_output_size", "same_padding")
    out = make_student_notebook(_solution_nb(EXERCISE, second), "02_output_size.ipynb")
    assert "Exercise 02.1: write conv_output_size" in out.cells[1].source
    assert "Exercise 02.2: write same_padding" in out.cells[2].source


@pytest.mark.parametrize("source, message", [
    ("def f():\n    ### BEGIN SOLUTION\n    return 1\n", "never closed"),
    ("def f():\n    return 1\n    ### END SOLUTION\n", "without a"),
    ("def f():\n    ### BEGIN SOLUTION\n    ### BEGIN SOLUTION\n    ### END SOLUTION\n", "inside another"),
    ("def f():\n    return 1  ### BEGIN SOLUTION\n", "alone on its line"),
])
def test_unbalanced_markers_name_the_notebook_and_cell(source, message):
    nb = _solution_nb("x = 1", source)
    with pytest.raises(MarkerError, match=message) as err:
        make_student_notebook(nb, "07_anchors.ipynb")
    assert "07_anchors.ipynb, cell 2" in str(err.value)


def test_markers_in_markdown_are_refused():
    nb = _solution_nb()
    nb.cells.append(new_markdown_cell("### BEGIN SOLUTION\nanswer\n### END SOLUTION"))
    with pytest.raises(MarkerError, match="cell 1 .*only allowed in code cells"):
        make_student_notebook(nb, "03_x.ipynb")


def test_generate_round_trip_and_check(tmp_path):
    sol, out = tmp_path / "solutions", tmp_path / "notebooks"
    sol.mkdir()
    nbformat.write(_solution_nb(EXERCISE), sol / "02_output_size.ipynb")
    assert generate(sol, out, check=True) == [out / "02_output_size.ipynb"]  # missing
    assert generate(sol, out) == [out / "02_output_size.ipynb"]
    assert generate(sol, out, check=True) == []  # up to date
    assert generate(sol, out) == []  # nothing rewritten
    written = (out / "02_output_size.ipynb").read_text()
    assert written == render(make_student_notebook(nbformat.read(sol / "02_output_size.ipynb", 4), "02_output_size.ipynb"))
    nbformat.validate(nbformat.reads(written, as_version=4))
    # a hand edit is detected, and so is a learner notebook without a solution
    (out / "02_output_size.ipynb").write_text(written.replace("instructions above", "edited"))
    (out / "99_orphan.ipynb").write_text(written)
    stale = generate(sol, out, check=True)
    assert stale == [out / "02_output_size.ipynb", out / "99_orphan.ipynb"]


def test_cli_student_check_and_marker_error(tmp_path):
    sol, out = tmp_path / "solutions", tmp_path / "notebooks"
    sol.mkdir()
    nbformat.write(_solution_nb(EXERCISE), sol / "02_output_size.ipynb")
    cmd = [sys.executable, "-m", "cvcourse", "student", "--solutions", str(sol), "--out", str(out)]
    r = subprocess.run(cmd + ["--check"], capture_output=True, text=True)
    assert r.returncode == 1 and "out of date" in r.stdout
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0 and "wrote 1 notebook" in r.stdout
    assert subprocess.run(cmd + ["--check"], capture_output=True, text=True).returncode == 0
    nbformat.write(_solution_nb("def f():\n    ### BEGIN SOLUTION\n"), sol / "03_bad.ipynb")
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 1 and "03_bad.ipynb, cell 1" in r.stderr
