"""Test harness for the package tests and the notebook runs (`make test`).

- Every kernel nbval starts inherits CVCOURSE_OFFLINE=1, CVCOURSE_PROGRESS=lines (`cvcourse.train.fit`
  prints one line per epoch instead of a JupyterLab widget, whose stored text is only "0%") and a PYTHONPATH holding
  tests/kernel_site, whose sitecustomize blocks network connections: a notebook that touches the
  network fails. The pytest process itself gets the same guard.
- Per-notebook wall time (kernel start included) is written to build/notebook-times.json and
  printed at the end of each run.
"""
import json
import os
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent
KERNEL_SITE = ROOT / "tests" / "kernel_site"
TIMES = ROOT / "build" / "notebook-times.json"

os.environ["CVCOURSE_OFFLINE"] = "1"
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # idle OpenMP threads sleep: busy-waiting ones slow a shared CPU
os.environ["CVCOURSE_PROGRESS"] = "lines"   # training progress as plain lines: stored outputs compare as text
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(KERNEL_SITE)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
)
sys.path.insert(0, str(KERNEL_SITE))
import cvcourse_netguard  # noqa: E402

cvcourse_netguard.install()

_notebook_seconds: dict[str, float] = defaultdict(float)


def pytest_runtest_logreport(report):
    path = report.nodeid.split("::")[0]
    if path.endswith(".ipynb"):
        _notebook_seconds[path] += report.duration


def pytest_terminal_summary(terminalreporter):
    if not _notebook_seconds:
        return
    merged = json.loads(TIMES.read_text()) if TIMES.exists() else {}
    merged.update({k: round(v, 1) for k, v in _notebook_seconds.items()})
    TIMES.parent.mkdir(exist_ok=True)
    TIMES.write_text(json.dumps(merged, indent=1, sort_keys=True) + "\n")
    terminalreporter.section("notebook run times (kernel start included)")
    for path, seconds in sorted(_notebook_seconds.items()):
        terminalreporter.write_line(f"{seconds:7.1f} s  {path}")
