"""Project-wide rules: environment.yml agrees with pyproject.toml, learner notebooks are generated,
the package's layers are respected, chapters have their sections, the network guard works."""
import ast
import re
import socket
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

try:
    import tomllib
except ImportError:  # Python 3.10: the dev extra installs tomli
    import tomli as tomllib

from cvcourse import checks, student

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "cvcourse"


def _norm(req: str) -> str:
    name, rest = re.match(r"^([A-Za-z0-9_.\-]+)(.*)$", req.strip()).groups()
    return re.sub(r"[-_.]+", "-", name).lower() + rest.replace(" ", "")


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_norm(r) for r in project["dependencies"] + project["optional-dependencies"]["dev"]}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_lists = [d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(pip_lists) == 1, "environment.yml: expected one `pip:` list"
    listed = {_norm(r) for r in pip_lists[0] if not r.startswith("-")}
    assert listed == wanted, (
        f"environment.yml and pyproject.toml disagree: only in environment.yml: {sorted(listed - wanted)}, "
        f"only in pyproject.toml: {sorted(wanted - listed)}"
    )
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    py = next(d for d in conda if d.startswith("python"))
    assert py.replace(" ", "") == "python" + project["requires-python"].replace(" ", "")


def test_learner_notebooks_are_generated_from_solutions():
    stale = student.generate(ROOT / "solutions", ROOT / "notebooks", check=True)
    assert not stale, f"out of date (run `python -m cvcourse student`): {[str(p) for p in stale]}"


def test_every_solution_exercise_has_a_registered_check():
    for path in sorted((ROOT / "solutions").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        chapter = student.chapter_of(path)
        regions = sum(c.source.count(student.BEGIN) for c in nb.cells if c.cell_type == "code")
        registered = checks.exercises_of(chapter)
        assert regions == len(registered), f"{path.name}: {regions} solution regions, {len(registered)} checks"
        calls = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
        for spec in registered:
            assert f"checks.{spec.name}(" in calls, f"{path.name}: no cell calls checks.{spec.name}(...)"


@pytest.mark.parametrize("path", sorted((ROOT / "solutions").glob("*.ipynb")), ids=lambda p: p.name)
def test_chapter_has_objectives_recap_and_next(path):
    text = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown")
    for heading in ("## Objectives", "## Recap", "## Where to go next"):
        assert heading in text, f"{path.name} lacks a '{heading}' section"


# Layers, lowest first: a module may import its own layer or lower ones, never a higher one.
LAYERS = {
    "kernels": 0, "_validate": 0,
    "sizes": 1, "ops": 1, "filters": 1, "plot": 1, "sizes_plot": 1, "roi_plot": 1,
    "anchors": 2, "metrics": 2, "data": 2, "proposals": 2, "detection_plot": 2,
    "models": 3, "yolo": 3, "train": 3,
    "checks": 4,
    "student": 5, "grade": 5, "doctor": 5, "__main__": 5, "__init__": 5,
}


def _cvcourse_imports(path: Path) -> set[str]:
    rel = path.relative_to(PKG).with_suffix("").parts
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the module's package
                base = list(rel[: len(rel) - node.level])
                parts = base + (node.module.split(".") if node.module else [])
                names = [parts[0]] if parts else [a.name for a in node.names]
            elif node.module and node.module.split(".")[0] == "cvcourse":
                parts = node.module.split(".")[1:]
                names = [parts[0]] if parts else [a.name for a in node.names]
            else:
                continue
            found.update(names)
        elif isinstance(node, ast.Import):
            for a in node.names:
                parts = a.name.split(".")
                if parts[0] == "cvcourse" and len(parts) > 1:
                    found.add(parts[1])
    return found


def test_package_layers():
    for path in sorted(PKG.rglob("*.py")):
        top = path.relative_to(PKG).with_suffix("").parts[0]
        assert top in LAYERS, f"cvcourse/{top}: not in the layer map of tests/test_project.py (add it there)"
        for imported in _cvcourse_imports(path) - {top, "__version__"}:
            assert imported in LAYERS, f"{path}: imports unknown cvcourse module {imported}"
            assert LAYERS[imported] <= LAYERS[top], (
                f"{path.relative_to(ROOT)} (layer {LAYERS[top]}) imports cvcourse.{imported} "
                f"(layer {LAYERS[imported]}): a module never imports a layer above it")


def test_notebooks_import_only_cvcourse_from_the_project():
    for path in sorted((ROOT / "solutions").glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "code":
                assert not re.search(r"^\s*(from|import)\s+(tests|conftest|scripts)\b", cell.source, re.M), path


def test_network_guard_blocks_outside_connections(monkeypatch):
    guard = sys.modules["cvcourse_netguard"]
    assert getattr(socket.socket.connect, "_cvcourse_guard", False), "conftest did not install the guard"
    # The real socket functions are replaced by recorders: nothing can leave the machine here.
    calls = []
    for name in ("connect", "getaddrinfo"):
        monkeypatch.setitem(guard._ORIGINALS, name, lambda *a, _n=name: calls.append((_n, a[-1] if _n == "connect" else a[0])))
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        with pytest.raises(guard.NetworkAccessError, match="offline"):
            s.connect(("192.0.2.1", 9))
        with pytest.raises(guard.NetworkAccessError, match="offline"):
            s.connect(("pypi.org", 443))
        s.connect(("127.0.0.1", 9))
        s.connect(("::1", 9))
    with pytest.raises(guard.NetworkAccessError, match="looking up"):
        socket.getaddrinfo("example.com", 80)
    socket.getaddrinfo("localhost", 80)
    assert calls == [("connect", ("127.0.0.1", 9)), ("connect", ("::1", 9)), ("getaddrinfo", "localhost")]


def _public_functions():
    import importlib
    import inspect

    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG).with_suffix("")
        if any(part.startswith("_") for part in rel.parts):
            continue
        module = importlib.import_module("cvcourse." + ".".join(rel.parts))
        for name, obj in vars(module).items():
            if not name.startswith("_") and inspect.isfunction(obj) and obj.__module__ == module.__name__:
                yield f"{module.__name__}.{name}", obj


def test_public_functions_have_type_hints_and_docstrings():
    import inspect

    missing = []
    for qualname, fn in _public_functions():
        sig = inspect.signature(fn)
        unannotated = [p.name for p in sig.parameters.values()
                       if p.annotation is inspect.Parameter.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        if qualname.startswith("cvcourse.checks."):  # checks take the learner's function: (fn) -> CheckResult
            unannotated = []
        if unannotated or (sig.return_annotation is inspect.Signature.empty and not qualname.startswith("cvcourse.checks.")):
            missing.append(f"{qualname}: hints missing on {unannotated or 'return'}")
        if not (fn.__doc__ or "").strip():
            missing.append(f"{qualname}: no docstring")
    assert not missing, "\n".join(missing)
