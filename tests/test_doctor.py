"""`python -m cvcourse doctor`: versions, device, verdict, and a non-zero exit when a piece is missing."""
import subprocess
import sys

from cvcourse import doctor


def test_doctor_reports_versions_and_device(capsys):
    assert doctor.run() == 0
    out = capsys.readouterr().out
    import cv2
    import torch

    assert f"torch           {torch.__version__}" in out
    assert cv2.__version__ in out and "numpy" in out and "matplotlib" in out and "triton" in out
    assert "device      CPU" in out or "device      CUDA" in out or "device      MPS" in out
    assert out.rstrip().endswith("The course can run.")


def test_doctor_fails_clearly_when_a_required_package_is_missing(monkeypatch, capsys):
    monkeypatch.setattr(doctor, "REQUIRED", doctor.REQUIRED + [("no_such_module_xyz", "no-such-package", "testing")])
    assert doctor.run() == 1
    out = capsys.readouterr().out
    assert "no-such-package MISSING (ModuleNotFoundError" in out
    assert "The course cannot run: missing no-such-package. To fix: run `make lab`" in out


def test_doctor_cli_exit_code():
    r = subprocess.run([sys.executable, "-m", "cvcourse", "doctor"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "python      3." in r.stdout
