#!/usr/bin/env python3
"""Create or refresh the course's virtual environment (`make lab` and `make test` call this).

    python3 scripts/bootstrap.py [VENV]          (default VENV: .venv)

Standard library only: it runs before anything is installed.

1. Creates VENV with `python -m venv` if it is missing or broken (Python 3.10+ required).
2. Installs torch first, choosing the build for this machine:
   - CUDA present (`nvidia-smi` answers): the default build from the package index (CUDA wheels);
   - no CUDA and CVCOURSE_TORCH_INDEX set (e.g. https://download.pytorch.org/whl/cpu):
     the CPU build from that index, as an extra index;
   - otherwise: a plain `torch==VERSION` requirement. On macOS and Windows that is a CPU build; on
     Linux it is a CPU build where a local wheel mirror provides one (this course's CI machines),
     else PyPI's CUDA build, which also runs on the CPU but is large: set CVCOURSE_TORCH_INDEX to
     avoid it. The extra index is opt-in because an unreachable index makes pip hang for minutes.
   CVCOURSE_TORCH overrides the requirement (default: torch==2.13.0, the tested version; the
   package itself only asks for a range).
3. `pip install -e .[dev,gpu]`: the course package, its dependencies, the test tools and Triton
   (Linux x86-64 only; its kernels are tested on the CPU in Triton's interpreter). torch is already
   installed, so the range in pyproject.toml adds nothing.
4. Writes a stamp (a hash of pyproject.toml and of this script) so that a re-run with nothing
   changed takes about a second.
"""
from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TORCH_REQ = os.environ.get("CVCOURSE_TORCH", "torch==2.13.0")
TORCH_INDEX = os.environ.get("CVCOURSE_TORCH_INDEX", "")
STAMP_NAME = ".cvcourse-stamp"
T0 = time.time()


def log(msg: str) -> None:
    print(f"[setup {time.time() - T0:5.1f}s] {msg}", flush=True)


def die(msg: str) -> None:
    print(f"[setup] ERROR: {msg}", file=sys.stderr, flush=True)
    sys.exit(1)


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def run(cmd: list[str]) -> None:
    log("$ " + " ".join(cmd))
    if subprocess.call(cmd) != 0:
        die(f"command failed: {' '.join(cmd)}")


def works(cmd: list[str]) -> bool:
    try:
        return subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def stamp_key() -> str:
    h = hashlib.sha256()
    for name in ("pyproject.toml", "scripts/bootstrap.py"):
        h.update((ROOT / name).read_bytes())
    h.update(f"{TORCH_REQ}|{TORCH_INDEX}|{sys.version_info[:2]}".encode())
    return h.hexdigest()


def has_cuda() -> bool:
    return shutil.which("nvidia-smi") is not None and works(["nvidia-smi", "-L"])


def install_torch(py: Path) -> None:
    pip = [str(py), "-m", "pip", "install", "--quiet"]
    if has_cuda():
        log(f"CUDA found: installing {TORCH_REQ} (default build, with CUDA)")
        run(pip + [TORCH_REQ])
    elif TORCH_INDEX:
        log(f"no CUDA: installing the CPU build {TORCH_REQ} from {TORCH_INDEX}")
        run(pip + ["--extra-index-url", TORCH_INDEX, TORCH_REQ])
    else:
        log(f"no CUDA: installing {TORCH_REQ}")
        run(pip + [TORCH_REQ])
        out = subprocess.run([str(py), "-c", "import torch; print(torch.version.cuda or '')"],
                             capture_output=True, text=True).stdout.strip()
        if out and platform.system() == "Linux":
            log(f"note: this is a CUDA {out} build of torch; it runs on the CPU but is large. For the small "
                "CPU build: rm -rf .venv; CVCOURSE_TORCH_INDEX=https://download.pytorch.org/whl/cpu make test")


def main() -> None:
    if sys.version_info < (3, 10):  # noqa: UP036 - this script runs on whatever python3 the user has
        die(f"Python 3.10 or newer is needed, this is {platform.python_version()} ({sys.executable})")
    venv = (ROOT / (sys.argv[1] if len(sys.argv) > 1 else ".venv")).resolve()
    py = venv_python(venv)
    stamp = venv / STAMP_NAME
    key = stamp_key()

    if py.exists() and not works([str(py), "-c", "import sys"]):
        log(f"{venv} is broken; recreating it")
        shutil.rmtree(venv)
    if not py.exists():
        log(f"creating {venv} with Python {platform.python_version()}")
        run([sys.executable, "-m", "venv", str(venv)])
    elif stamp.exists() and stamp.read_text().strip() == key and works([str(py), "-c", "import cvcourse"]):
        log(f"{venv} is up to date")
        return

    if not works([str(py), "-c", "import torch"]):
        install_torch(py)
    else:
        log("torch already installed: kept")
    run([str(py), "-m", "pip", "install", "--quiet", "-e", f"{ROOT}[dev,gpu]"])
    if not works([str(py), "-c", "import cvcourse, torch, cv2, matplotlib, nbval"]):
        die("the environment was installed but `import cvcourse, torch, cv2, matplotlib, nbval` fails")
    stamp.write_text(key + "\n")
    log(f"{venv} is ready")


if __name__ == "__main__":
    main()
