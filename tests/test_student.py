"""The student generator: solution regions become stubs, instructions stay, outputs go, bad markers
are reported with the notebook and cell, each exercise is recorded in the metadata; and the hand-out
folder: every learner notebook, no solution anywhere, the package's wheel at the same version, pinned."""
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from packaging.requirements import Requirement

import cvcourse
from cvcourse import checks
from cvcourse.__main__ import main
from cvcourse.student import (
    BEGIN,
    END,
    MarkerError,
    chapter_of,
    generate,
    make_handout,
    make_student_notebook,
    render,
)

try:
    import tomllib
except ImportError:  # Python 3.10: the dev extra installs tomli
    import tomli as tomllib

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
    # without --out, `student` regenerates notebooks/ (next to solutions/, in the current folder)
    sol, out = tmp_path / "solutions", tmp_path / "notebooks"
    sol.mkdir()
    nbformat.write(_solution_nb(EXERCISE), sol / "02_output_size.ipynb")
    cmd = [sys.executable, "-m", "cvcourse", "student"]
    r = subprocess.run(cmd + ["--check"], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 1 and "out of date" in r.stdout
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0 and "wrote 1 notebook" in r.stdout and (out / "02_output_size.ipynb").exists()
    assert subprocess.run(cmd + ["--check"], capture_output=True, text=True, cwd=tmp_path).returncode == 0
    nbformat.write(_solution_nb("def f():\n    ### BEGIN SOLUTION\n"), sol / "03_bad.ipynb")
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 1 and "03_bad.ipynb, cell 1" in r.stderr


def test_exercises_are_recorded_in_the_metadata():
    second = EXERCISE.replace("conv_output_size", "same_padding")
    out = make_student_notebook(_solution_nb(EXERCISE, second), "02_output_size.ipynb")
    assert out.metadata["cvcourse"]["exercises"] == [
        {"id": "02.1", "function": "conv_output_size"}, {"id": "02.2", "function": "same_padding"}]


def test_an_exercise_in_a_method_names_its_class():
    source = ("class Block(nn.Module):\n    def __init__(self, c):\n        super().__init__()\n"
              "        ### BEGIN SOLUTION\n        self.conv = nn.Conv2d(c, c, 3)\n        ### END SOLUTION\n\n"
              "    def forward(self, x):\n        return self.conv(x)")
    out = make_student_notebook(_solution_nb(source), "04_resnet.ipynb")
    assert out.metadata["cvcourse"]["exercises"] == [{"id": "04.1", "function": "Block"}]
    assert 'raise NotImplementedError("Exercise 04.1: write Block.__init__;' in out.cells[1].source
    # a cell that is not plain Python (an IPython magic) still names the last `def`
    magic = make_student_notebook(_solution_nb("%matplotlib inline\n" + EXERCISE), "02_output_size.ipynb")
    assert magic.metadata["cvcourse"]["exercises"] == [{"id": "02.1", "function": "conv_output_size"}]


# ----------------------------------------------------------------------------- the hand-out folder
ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "solutions"


@pytest.fixture(scope="module")
def handout(tmp_path_factory):
    """A hand-out of the real course, written once by the command line (building the wheel takes seconds)."""
    out = tmp_path_factory.mktemp("lab") / "handout"
    r = subprocess.run([sys.executable, "-m", "cvcourse", "student", "--solutions", str(SOLUTIONS), "--out", str(out),
                        "--zip"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert f"wrote the hand-out {out}/" in r.stdout and f"wrote {out}.zip" in r.stdout
    return out


def _wheel(folder: Path) -> zipfile.ZipFile:
    (wheel,) = (folder / "wheels").glob("*.whl")
    return zipfile.ZipFile(wheel)


def _texts(folder: Path) -> dict[str, str]:
    """Every text in the hand-out: files (a notebook as its cells' sources) and the wheel's members."""
    texts = {}
    for path in sorted(folder.rglob("*")):
        if path.suffix == ".ipynb":
            texts[path.name] = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells)
        elif path.is_file() and path.suffix != ".whl":
            texts[path.name] = path.read_text(encoding="utf-8")
    with _wheel(folder) as zf:
        texts.update({f"wheel:{n}": zf.read(n).decode("utf-8") for n in zf.namelist()})
    return texts


def _solution_bodies() -> list[tuple[str, str]]:
    """(notebook, the lines between a pair of markers) for every answer of more than one line."""
    bodies = []
    for path in sorted(SOLUTIONS.glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            lines = cell.source.splitlines() if cell.cell_type == "code" else []
            begins = [i for i, ln in enumerate(lines) if ln.strip() == BEGIN]
            ends = [i for i, ln in enumerate(lines) if ln.strip() == END]
            for b, e in zip(begins, ends, strict=True):
                if sum(bool(ln.strip()) for ln in lines[b + 1:e]) > 1:
                    bodies.append((path.name, "\n".join(lines[b + 1:e])))
    return bodies


def test_handout_has_every_learner_notebook(handout):
    solutions = sorted(SOLUTIONS.glob("*.ipynb"))
    assert sorted(p.name for p in handout.glob("*.ipynb")) == [p.name for p in solutions]
    for src in solutions:
        learner = make_student_notebook(nbformat.read(src, as_version=4), src.name)
        assert (handout / src.name).read_text(encoding="utf-8") == render(learner)
        assert [e["id"] for e in learner.metadata["cvcourse"]["exercises"]] == [
            s.id for s in checks.exercises_of(chapter_of(src))]


def test_handout_holds_no_solution(handout):
    bodies = _solution_bodies()
    assert len(bodies) >= 12
    for where, text in _texts(handout).items():
        if where not in ("wheel:cvcourse/student.py", "wheel:cvcourse-0.1.0.dist-info/METADATA"):
            assert BEGIN not in text and END not in text, where  # only the generator and the README name them
        for notebook, body in bodies:
            assert body not in text, f"{where} holds the answer of {notebook}"
    assert not list(handout.rglob("solutions")) and not list(handout.rglob("tests"))


def test_handout_wheel_is_the_package_at_this_version(handout):
    with _wheel(handout) as zf:
        assert Path(zf.filename).name == f"cvcourse-{cvcourse.__version__}-py3-none-any.whl"
        names = set(zf.namelist())
        meta = zf.read(f"cvcourse-{cvcourse.__version__}.dist-info/METADATA").decode()
    assert f"\nVersion: {cvcourse.__version__}\n" in meta
    package = {p.relative_to(ROOT).as_posix() for p in (ROOT / "cvcourse").rglob("*.py") if "__pycache__" not in p.parts}
    assert "cvcourse/checks/__init__.py" in package and package <= names
    assert all(n.startswith(("cvcourse/", "cvcourse-")) for n in names), sorted(names)


def test_handout_requirements_pin_the_wheel(handout):
    lines = [ln for ln in (handout / "requirements.txt").read_text().splitlines() if ln and not ln.startswith("#")]
    assert lines[0] == f"./wheels/cvcourse-{cvcourse.__version__}-py3-none-any.whl"
    wanted = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert {_req(r) for r in lines[1:]} == {_req(r) for r in wanted}
    # pip reads it: the wheel resolves from the hand-out folder, nothing is installed, no index is asked
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--no-index", "--no-deps",
                        "-r", "requirements.txt"], cwd=handout, capture_output=True, text=True)
    assert r.returncode == 0 and f"Would install cvcourse-{cvcourse.__version__}" in r.stdout, r.stderr


def _req(text: str) -> tuple[str, frozenset]:
    req = Requirement(text)
    return req.name, frozenset(str(s) for s in req.specifier)


def test_handout_readme_and_manifest(handout):
    readme = (handout / "README.md").read_text()
    first = sorted(SOLUTIONS.glob("*.ipynb"))[0].name
    for text in ("python -m venv .venv", "download.pytorch.org/whl/cpu", "pip install -r requirements.txt",
                 "jupyter lab", f"Start with `{first}`"):
        assert text in readme
    manifest = json.loads((handout / "handout.json").read_text())
    assert manifest["version"] == cvcourse.__version__ and manifest["package"] == "cvcourse"
    assert manifest["wheel"] == f"wheels/cvcourse-{cvcourse.__version__}-py3-none-any.whl"
    assert manifest["created"].endswith("+00:00") and "commit" in manifest
    chapter02 = next(n for n in manifest["notebooks"] if n["file"] == "02_output_size.ipynb")
    assert chapter02 == {"file": "02_output_size.ipynb", "chapter": "02", "exercises": [
        {"id": "02.1", "function": "conv_output_size"}, {"id": "02.2", "function": "same_padding"}]}


def test_handout_zip_holds_the_folder(handout):
    with zipfile.ZipFile(handout.with_name("handout.zip")) as zf:
        zipped = {n for n in zf.namelist() if not n.endswith("/")}
    on_disk = {p.relative_to(handout.parent).as_posix() for p in handout.rglob("*") if p.is_file()}
    assert zipped == on_disk and "handout/requirements.txt" in zipped


def test_handout_refuses_to_overwrite(handout, tmp_path):
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="exists and is not empty; choose a new folder, or pass --force"):
        make_handout(busy, SOLUTIONS)
    with pytest.raises(ValueError, match="not a previous hand-out"):
        make_handout(busy, SOLUTIONS, force=True)
    assert (busy / "notes.txt").read_text() == "mine"
    with pytest.raises(ValueError, match="exists and is not empty"):
        make_handout(handout, SOLUTIONS)
    for bad in (SOLUTIONS, SOLUTIONS / "handout", SOLUTIONS.parent):
        with pytest.raises(ValueError, match="choose a new folder"):
            make_handout(bad, SOLUTIONS, force=True)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="is a file"):
        make_handout(tmp_path / "file", SOLUTIONS)
    (tmp_path / "nothing").mkdir()
    with pytest.raises(ValueError, match="no .ipynb files"):
        make_handout(tmp_path / "new", tmp_path / "nothing")
    assert not (tmp_path / "new").exists()


def test_handout_force_replaces_a_previous_handout(tmp_path):
    sol = tmp_path / "solutions"
    sol.mkdir()
    nbformat.write(_solution_nb(EXERCISE), sol / "02_output_size.ipynb")
    out = tmp_path / "handout"
    out.mkdir()
    (out / "handout.json").write_text("{}")
    (out / "99_old.ipynb").write_text("{}")
    manifest = make_handout(out, sol, force=True)
    assert sorted(p.name for p in out.iterdir()) == [
        "02_output_size.ipynb", "README.md", "handout.json", "requirements.txt", "wheels"]
    assert manifest["notebooks"] == [{"file": "02_output_size.ipynb", "chapter": "02",
                                      "exercises": [{"id": "02.1", "function": "conv_output_size"}]}]


@pytest.mark.parametrize("args, message", [
    (["--out", "somewhere", "--check"], "--check compares notebooks/"),
    (["--zip"], "--zip and --force go with --out DIR"),
])
def test_cli_student_usage_errors(args, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["student", *args])
    assert exit_.value.code == 2 and message in capsys.readouterr().err


def test_cli_out_notebooks_is_the_in_place_folder(tmp_path, monkeypatch, capsys):
    (tmp_path / "solutions").mkdir()
    nbformat.write(_solution_nb(EXERCISE), tmp_path / "solutions" / "02_output_size.ipynb")
    monkeypatch.chdir(tmp_path)
    assert main(["student", "--out", "notebooks"]) == 0 and "wrote 1 notebook" in capsys.readouterr().out
    assert main(["student", "--out", str(tmp_path / "notebooks"), "--check"]) == 0
