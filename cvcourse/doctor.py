"""`python -m cvcourse doctor`: can this machine run the course?

Prints the Python version, the version of every package the course needs (and of the optional ones),
the device torch will use, and a verdict. Exits non-zero, naming what is missing and how to fix it,
when a required package cannot be imported.
"""
from __future__ import annotations

import importlib
import platform
import sys
from dataclasses import dataclass

# (import name, what to install, why)
REQUIRED = [
    ("torch", "torch", "tensors and models"),
    ("numpy", "numpy", "arrays"),
    ("cv2", "opencv-python", "image processing and drawing"),
    ("matplotlib", "matplotlib", "figures"),
    ("skimage", "scikit-image", "sample images"),
    ("selectivesearch", "selectivesearch", "region proposals (chapter 09)"),
    ("tqdm", "tqdm", "progress bars"),
    ("nbformat", "nbformat", "notebook tools"),
    ("nbclient", "nbclient", "grading"),
    ("ipykernel", "ipykernel", "the notebooks' kernel"),
    ("jupyterlab", "jupyterlab", "the course's user interface"),
]
OPTIONAL = [
    ("triton", "triton", "GPU kernels"),
    ("nbval", "nbval", "notebook tests"),
    ("pytest", "pytest", "unit tests"),
]
MIN_PYTHON = (3, 10)
FIX = "run `make lab` or `make test` from the course folder (they set up .venv), or `pip install -e '.[dev]'`"


@dataclass
class Probe:
    module: str
    package: str
    purpose: str
    version: str | None  # None: cannot be imported
    error: str = ""


def probe(module: str, package: str, purpose: str) -> Probe:
    """Import `module` and read its version; a failed import is recorded, not raised."""
    try:
        mod = importlib.import_module(module)
    except Exception as err:  # noqa: BLE001 - a broken install is reported, not raised
        return Probe(module, package, purpose, None, f"{type(err).__name__}: {err}")
    return Probe(module, package, purpose, str(getattr(mod, "__version__", "installed")))


def device_report() -> str:
    """Which device the course will use: CUDA (with the GPU's name), MPS, or CPU."""
    import torch

    if torch.cuda.is_available():
        return f"CUDA ({torch.cuda.get_device_name(0)}, {torch.cuda.device_count()} device(s))"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "MPS (Apple GPU)"
    return f"CPU ({torch.get_num_threads()} threads; no GPU found, the course is designed to run here)"


def run() -> int:
    """Print the report; return the exit code (0: the course can run, 1: something is missing)."""
    ok = sys.version_info[:2] >= MIN_PYTHON
    print(f"python      {platform.python_version()} ({sys.executable})"
          + ("" if ok else f"  <- Python {MIN_PYTHON[0]}.{MIN_PYTHON[1]}+ is required"))
    print(f"platform    {platform.platform()}")
    missing = []
    for group, items in (("required", REQUIRED), ("optional", OPTIONAL)):
        for module, package, purpose in items:
            p = probe(module, package, purpose)
            shown = p.version or f"MISSING ({p.error})"
            print(f"{package:<16}{shown:<28}{group}: {purpose}")
            if p.version is None and group == "required":
                missing.append(p)
    torch_ok = all(p.module != "torch" for p in missing)
    print(f"device      {device_report() if torch_ok else 'unknown (torch is missing)'}")
    if missing or not ok:
        names = ", ".join(p.package for p in missing) or "a newer Python"
        print(f"\nThe course cannot run: missing {names}. To fix: {FIX}.")
        return 1
    print("\nThe course can run.")
    return 0
