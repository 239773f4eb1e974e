"""Generate the learners' notebooks from the worked chapters (`solutions/`): in place in `notebooks/`,
or as a hand-out folder to give to a class.

    python -m cvcourse student [--solutions DIR] [--check]           regenerate notebooks/
    python -m cvcourse student --out DIR [--zip] [--force]           write a hand-out folder

A solution notebook marks each exercise's answer with nbgrader's markers, inside a function body:

    def conv2d(x, weight, stride=1, padding=0):
        \"\"\"Instructions stay: everything outside the markers is kept.\"\"\"
        ### BEGIN SOLUTION
        ...the answer...
        ### END SOLUTION

In the learner's notebook the region becomes `raise NotImplementedError("Exercise 01.1: ...")` at the
marker's indentation, outputs and execution counts are cleared, and the notebook's metadata records
the chapter, its source and its exercises (`metadata.cvcourse.exercises`: the id and the name the
check is given, the enclosing function or class, which the grader uses when a check cell is missing).
Exercises are numbered in order within a chapter ("01.1", "01.2", ...), the numbering
`cvcourse.checks` uses. Markers that are unbalanced, nested, or outside code cells raise
`MarkerError`, naming the notebook and the cell.

A hand-out folder (`make_handout`) holds the learner notebooks (never the solutions), a wheel of the
package at the same version, a `requirements.txt` that installs that wheel and the package's
dependencies, a README for learners, and `handout.json` (version, commit, date, notebooks and their
exercises).
"""
from __future__ import annotations

import ast
import copy
import datetime
import importlib.metadata
import json
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import nbformat

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
_DEF = re.compile(r"^\s*(?:async\s+)?def\s+(\w+)\s*\(")
_CHAPTER = re.compile(r"^(\d{2})_")
_SOURCE_ROOT = Path(__file__).resolve().parent.parent  # the course folder, when installed with `pip install -e`


class MarkerError(ValueError):
    """A solution notebook whose `### BEGIN/END SOLUTION` markers do not pair up."""


def chapter_of(path: str | Path) -> str:
    """The chapter number of a notebook file name: "01" for `01_feature_maps.ipynb`, else ""."""
    m = _CHAPTER.match(Path(path).name)
    return m.group(1) if m else ""


def _enclosing(source: str, lineno: int) -> list[str]:
    """The functions and classes around line `lineno`, outermost first: ["InceptionModule", "__init__"]."""
    try:
        body = ast.parse(source).body
    except SyntaxError:  # IPython magics: the caller falls back to the last `def` line
        return []
    names: list[str] = []
    while True:
        node = next((n for n in body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                     and n.lineno <= lineno <= (n.end_lineno or n.lineno)), None)
        if node is None:
            return names
        names.append(node.name)
        body = node.body


def _strip_cell(source: str, where: str, chapter: str, exercises: list[dict]) -> str:
    out: list[str] = []
    inside = False
    func = "the function"
    for lineno, line in enumerate(source.splitlines(), start=1):
        stripped = line.strip()
        m = _DEF.match(line)
        if m and not inside:
            func = m.group(1)
        if stripped == BEGIN:
            if inside:
                raise MarkerError(f"{where}, line {lineno}: '{BEGIN}' inside another solution region "
                                  f"(expected '{END}' first)")
            inside = True
            number = len(exercises) + 1
            exercise = f"{chapter}.{number}" if chapter else str(number)
            names = _enclosing(source, lineno) or [func]
            exercises.append({"id": exercise, "function": names[0]})
            indent = line[: len(line) - len(line.lstrip())]
            out.append(f'{indent}raise NotImplementedError("Exercise {exercise}: write {".".join(names)}; '
                       f'see the instructions above")')
        elif stripped == END:
            if not inside:
                raise MarkerError(f"{where}, line {lineno}: '{END}' without a '{BEGIN}' before it")
            inside = False
        elif BEGIN in line or END in line:
            raise MarkerError(f"{where}, line {lineno}: a marker must stand alone on its line: {stripped!r}")
        elif not inside:
            out.append(line)
    if inside:
        raise MarkerError(f"{where}: '{BEGIN}' is never closed by '{END}' in this cell")
    return "\n".join(out)


def make_student_notebook(nb: nbformat.NotebookNode, name: str = "notebook") -> nbformat.NotebookNode:
    """The learner's version of a solution notebook (a new object; `nb` is not changed).

    Args:
        nb: the solution notebook.
        name: its file name, used for the chapter number and in error messages.

    Returns:
        The notebook with solution regions replaced by stubs and all outputs cleared; its
        `metadata.cvcourse` holds the chapter, the source and the exercises
        (`[{"id": "02.1", "function": "conv_output_size"}, ...]`).

    Raises:
        MarkerError: unbalanced or nested markers, or markers in a markdown cell.
    """
    chapter = chapter_of(name)
    out = copy.deepcopy(nb)
    exercises: list[dict] = []
    for index, cell in enumerate(out.cells):
        where = f"{name}, cell {index} (id {cell.get('id', '?')})"
        if cell.cell_type == "code":
            cell.source = _strip_cell(cell.source, where, chapter, exercises)
            cell.outputs = []
            cell.execution_count = None
            cell.metadata.pop("execution", None)
        elif BEGIN in cell.source or END in cell.source:
            raise MarkerError(f"{where}: solution markers are only allowed in code cells")
    out.metadata.pop("widgets", None)
    out.metadata["cvcourse"] = {
        "chapter": chapter,
        "exercises": exercises,
        "generated_from": f"solutions/{name}",
        "note": "generated by `python -m cvcourse student`; edit the solution notebook instead",
    }
    return out


def render(nb: nbformat.NotebookNode) -> str:
    """The notebook as the text written to disk (stable formatting, so diffs stay small)."""
    return nbformat.writes(nb) + "\n"


def _learner_notebooks(solutions: Path) -> list[tuple[str, nbformat.NotebookNode]]:
    sources = sorted(solutions.glob("*.ipynb"))
    if not sources:
        raise ValueError(f"solutions: no .ipynb files in {solutions.resolve()}")
    return [(src.name, make_student_notebook(nbformat.read(src, as_version=4), src.name)) for src in sources]


def generate(solutions: str | Path = "solutions", out: str | Path = "notebooks",
             check: bool = False) -> list[Path]:
    """Write (or with `check`, compare) the learner notebook of every `solutions/*.ipynb`.

    Args:
        solutions: folder of solution notebooks.
        out: folder for the learners' notebooks (created if missing).
        check: write nothing; return the learner notebooks that are missing or differ.

    Returns:
        The paths written, or with `check`, the paths that are out of date (including learner
        notebooks without a solution).
    """
    solutions, out = Path(solutions), Path(out)
    learner = _learner_notebooks(solutions)
    changed: list[Path] = []
    for name, nb in learner:
        text = render(nb)
        dst = out / name
        if dst.exists() and dst.read_text(encoding="utf-8") == text:
            continue
        changed.append(dst)
        if not check:
            out.mkdir(parents=True, exist_ok=True)
            dst.write_text(text, encoding="utf-8")
    if check:
        names = {name for name, _ in learner}
        changed += [p for p in sorted(out.glob("*.ipynb")) if p.name not in names]
    return changed


# ----------------------------------------------------------------------------- the hand-out folder
def make_handout(out: str | Path, solutions: str | Path = "solutions", force: bool = False,
                 zip_it: bool = False) -> dict:
    """Write a folder to give to learners: their notebooks and the course package, pinned.

    The folder holds `NN_*.ipynb` (generated from `solutions`; the solutions themselves are never
    copied), `wheels/cvcourse-VERSION-py3-none-any.whl` (built from this source folder),
    `requirements.txt` (that wheel and the package's dependencies, as ranges), `README.md` (how to
    install and start) and `handout.json` (the returned manifest).

    Args:
        out: the folder to create. It must be missing or empty; with `force`, a previous hand-out
            (a folder holding `handout.json`) is replaced. It may not be, or hold, the solutions.
        solutions: folder of solution notebooks.
        force: replace a previous hand-out in `out` (and `out.zip`).
        zip_it: also write `out.zip` (the folder inside it), ready to share.

    Returns:
        The manifest written to `handout.json`: package, version, commit, created, torch (the
        version tested here), wheel, and the notebooks with their exercises.

    Raises:
        ValueError: `out` is not empty, is (or holds) the solutions or the course folder, or there
            are no solution notebooks. MarkerError: a solution notebook's markers do not pair up.
        RuntimeError: the wheel could not be built.
    """
    from . import __version__

    solutions, out = Path(solutions).resolve(), Path(out).resolve()
    if not (_SOURCE_ROOT / "pyproject.toml").is_file():
        raise ValueError(f"a hand-out is built from the course's source folder (pyproject.toml next to "
                         f"cvcourse/); {_SOURCE_ROOT} is not one (install the course with `pip install -e .`)")
    if out == solutions or out in solutions.parents or solutions in out.parents:
        raise ValueError(f"out: {out} would write into or over the solutions ({solutions}); "
                         "choose a new folder, e.g. handout/")
    if out == _SOURCE_ROOT or out in _SOURCE_ROOT.parents:
        raise ValueError(f"out: {out} is or holds the course folder; choose a new folder, e.g. handout/")
    learner = _learner_notebooks(solutions)  # before touching `out`: a MarkerError changes nothing
    zip_path = out.with_name(out.name + ".zip")
    _clear_previous(out, zip_path if zip_it else None, force)

    out.mkdir(parents=True, exist_ok=True)
    try:
        for name, nb in learner:
            (out / name).write_text(render(nb), encoding="utf-8")
        wheel = _build_wheel(out / "wheels", __version__)
        torch_version = _installed("torch")
        requires = _wheel_requirements(wheel)
        (out / "requirements.txt").write_text(
            f"# cvcourse {__version__}: install torch first (see README.md), then, from this folder:\n"
            "#     pip install -r requirements.txt\n"
            f"./wheels/{wheel.name}\n" + "".join(r + "\n" for r in requires), encoding="utf-8")
        first = learner[0][0]
        torch_req = f"torch=={torch_version}" if torch_version else "torch"
        (out / "README.md").write_text(_README.format(version=__version__, torch=torch_req, first=first,
                                                      count=len(learner)), encoding="utf-8")
        manifest = {
            "package": "cvcourse",
            "version": __version__,
            "commit": _git_commit(),
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "torch": torch_version,
            "wheel": f"wheels/{wheel.name}",
            "notebooks": [{"file": name, "chapter": nb.metadata["cvcourse"]["chapter"],
                           "exercises": nb.metadata["cvcourse"]["exercises"]} for name, nb in learner],
        }
        (out / "handout.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        if zip_it:
            shutil.make_archive(str(out), "zip", root_dir=out.parent, base_dir=out.name)
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)  # no half-written hand-out to hand out by mistake
        raise
    return manifest


def _clear_previous(out: Path, zip_path: Path | None, force: bool) -> None:
    """Refuse to write into a non-empty folder; with `force`, remove a previous hand-out."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"out: {out} is a file, not a folder")
    busy = out.exists() and any(out.iterdir())
    zip_busy = zip_path is not None and zip_path.exists()
    if not (busy or zip_busy):
        return
    if not force:
        what = f"{out} exists and is not empty" if busy else f"{zip_path} exists"
        raise ValueError(f"out: {what}; choose a new folder, or pass --force to replace a previous hand-out")
    if busy and not (out / "handout.json").is_file():
        raise ValueError(f"out: {out} is not empty and is not a previous hand-out (it has no handout.json); "
                         "--force only replaces a hand-out: choose a new folder")
    if busy:
        shutil.rmtree(out)
    if zip_busy:
        zip_path.unlink()


def _build_wheel(dest: Path, version: str) -> Path:
    """Build the package's pure-Python wheel into `dest` from a clean copy of the package's sources
    (so that nothing else in the course folder, such as solutions/ or tests/, can end up in it)."""
    with tempfile.TemporaryDirectory(prefix="cvcourse-wheel-") as tmp:
        src = Path(tmp) / "src"
        shutil.copytree(_SOURCE_ROOT / "cvcourse", src / "cvcourse",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
        for name in ("pyproject.toml", "README.md"):
            shutil.copy2(_SOURCE_ROOT / name, src / name)
        cmd = [sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation",
               "--no-index", "-w", str(dest), "-q"]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"building the wheel failed ({' '.join(cmd)}):\n{done.stderr.strip()[-2000:]}")
    wheels = sorted(dest.glob("cvcourse-*.whl"))
    expected = f"cvcourse-{version}-py3-none-any.whl"
    if [w.name for w in wheels] != [expected]:
        raise RuntimeError(f"expected the wheel {expected} (is pyproject.toml's version cvcourse.__version__?), "
                           f"got {[w.name for w in wheels]}")
    return wheels[0]


def _wheel_requirements(wheel: Path) -> list[str]:
    """The wheel's own runtime requirements (`Requires-Dist` without an extra), as in pyproject.toml."""
    with zipfile.ZipFile(wheel) as zf:
        meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        lines = zf.read(meta).decode("utf-8").splitlines()
    return [line.split(":", 1)[1].strip() for line in lines
            if line.startswith("Requires-Dist:") and "extra ==" not in line]


def _installed(package: str) -> str | None:
    try:
        return importlib.metadata.version(package).split("+")[0]  # 2.13.0+cpu -> 2.13.0
    except importlib.metadata.PackageNotFoundError:
        return None


def _git_commit() -> str | None:
    """The course folder's commit, with "-dirty" when it has uncommitted changes; None without git."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=_SOURCE_ROOT, capture_output=True, text=True,
                              timeout=30)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=_SOURCE_ROOT,
                               capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if head.returncode != 0:
        return None
    return head.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


_README = """\
# cvcourse {version}: the course notebooks

{count} notebooks of a hands-on computer-vision course. Each chapter explains an idea, shows it, and
asks you to write a few functions; the check cell under each exercise tells you at once whether your
function is right ([PASS], [FAIL] with the case that failed, or [TODO]). The notebooks use the course
package `cvcourse` {version}, included in `wheels/`.

## Install (once)

You need Python 3.10 or newer. In a terminal, in this folder:

```bash
python -m venv .venv
source .venv/bin/activate            # Windows: .venv\\Scripts\\activate
# torch first. Linux without an NVIDIA GPU, the small CPU build:
pip install {torch} --index-url https://download.pytorch.org/whl/cpu
# ...or on macOS, Windows, or a machine with an NVIDIA GPU:
pip install {torch}
pip install -r requirements.txt      # the course package from wheels/, and what it needs
python -m cvcourse doctor            # checks that everything is in place
```

`requirements.txt` names the wheel by a relative path: run it from this folder. If your lab has no
internet, your instructor will tell you where the packages are, e.g.
`pip install --no-index --find-links /path/to/packages -r requirements.txt`.

## Work

```bash
jupyter lab
```

Start with `{first}`, then go in order. Write your answer where a cell says
`raise NotImplementedError(...)`, run it, then run the check cell under it. An exercise you skip does
not stop you: the rest of the chapter uses the package's reference. Everything runs offline on a laptop
CPU.

## Hand in

Hand in the `.ipynb` files. Keep your functions' names and the check cells: the grader runs each
notebook from the top, in order, in a fresh kernel, so make sure "Restart Kernel and Run All Cells"
works. Outputs you saved are ignored (everything is run again).
"""
