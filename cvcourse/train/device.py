"""Where training runs: CUDA if there is a GPU, else Apple's MPS, else the CPU.

The environment variable `CVCOURSE_DEVICE` (e.g. `CVCOURSE_DEVICE=cpu`) overrides the automatic
choice, so a notebook can be forced onto the CPU without editing it.

Reference: PyTorch, "CUDA semantics" and "MPS backend" (https://pytorch.org/docs/stable/notes/cuda.html,
https://pytorch.org/docs/stable/notes/mps.html).
"""
from __future__ import annotations

import os
import re

import torch

__all__ = ["DEVICE_ENV", "select_device"]

DEVICE_ENV = "CVCOURSE_DEVICE"
_CHOICES = '"auto" (or None), "cpu", "cuda", "cuda:N", "mps", or a torch.device'


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def select_device(device: str | torch.device | None = None) -> torch.device:
    """The torch.device to train on.

    Args:
        device: None or "auto": the `CVCOURSE_DEVICE` environment variable if it is set, else CUDA
            if `torch.cuda.is_available()`, else MPS if `torch.backends.mps.is_available()`, else
            the CPU. Otherwise "cpu", "cuda", "cuda:N", "mps" or a torch.device, used as given
            (after checking that it exists on this machine).

    Returns:
        a torch.device.

    Raises:
        TypeError: `device` is not a string, a torch.device or None.
        ValueError: an unknown name (the message lists the choices), or a device this machine
            does not have (e.g. "cuda" without a GPU, "cuda:3" with two GPUs).

    Reference: PyTorch, "CUDA semantics" (device selection).
    """
    if device is None or (isinstance(device, str) and device.strip().lower() == "auto"):
        env = os.environ.get(DEVICE_ENV, "").strip()
        if env and env.lower() != "auto":
            return _checked(env, f"{DEVICE_ENV}={env!r}")
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if _mps_available() else torch.device("cpu")
    if isinstance(device, torch.device):
        return _checked(str(device), f"device={device!r}")
    if not isinstance(device, str):
        raise TypeError(f"device: expected {_CHOICES}, got {type(device).__name__} {device!r}")
    return _checked(device, f"device={device!r}")


def _checked(name: str, where: str) -> torch.device:
    """`name` as a torch.device that exists here; `where` says where the name came from."""
    name = name.strip().lower()
    if not re.fullmatch(r"cpu|mps|cuda(:\d+)?", name):
        raise ValueError(f"{where}: unknown device; expected {_CHOICES}")
    dev = torch.device(name)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"{where}: CUDA is not available on this machine "
                             "(torch.cuda.is_available() is False); use 'cpu' or 'auto'")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"{where}: this machine has {torch.cuda.device_count()} CUDA device(s), "
                             f"expected an index < {torch.cuda.device_count()}")
    if dev.type == "mps" and not _mps_available():
        raise ValueError(f"{where}: MPS is not available on this machine "
                         "(torch.backends.mps.is_available() is False); use 'cpu' or 'auto'")
    return dev
