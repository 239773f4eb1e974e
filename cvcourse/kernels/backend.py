"""Which implementation runs: the Triton kernel or the torch reference.

`backend="auto"` uses Triton for CUDA tensors when Triton is importable, the torch reference
otherwise (CPU and MPS tensors, no Triton, or inputs that need gradients where a kernel is
forward-only). `backend="triton"` insists: it runs the kernel on CUDA tensors, or on CPU tensors when
Triton's interpreter is on (`TRITON_INTERPRET=1` set before `cvcourse.kernels` is imported), and
otherwise fails with a ValueError that says why and what to do. `backend="torch"` always runs the
reference.

Reference: the Triton documentation, "Debugging" (TRITON_INTERPRET) and "Installation".
"""
from __future__ import annotations

import functools
import importlib.util
import inspect
import os
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

__all__ = ["BACKENDS", "interpreting", "kernel_source", "resolve_backend", "triton_available"]

BACKENDS = ("auto", "torch", "triton")


@functools.cache
def triton_available() -> bool:
    """True when the `triton` package can be imported (it is an optional extra: cvcourse[gpu]).

    Returns:
        bool.

    Reference: https://triton-lang.org (installation).
    """
    return importlib.util.find_spec("triton") is not None


def interpreting() -> bool:
    """True when Triton's CPU interpreter is on: the environment variable TRITON_INTERPRET is "1".

    Returns:
        bool (read now; Triton itself reads it when a kernel module is imported, so set it first).

    Reference: Triton's documentation, "Debugging Triton programs" (TRITON_INTERPRET=1).
    """
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


def resolve_backend(backend: str, tensors: Sequence[Tensor], needs_grad: bool = False) -> str:
    """"torch" or "triton": what runs for `backend` and these input tensors.

    Args:
        backend: "auto", "torch" or "triton".
        tensors: the inputs (their device decides "auto").
        needs_grad: the caller needs a differentiable result (a forward-only kernel cannot give one).

    Returns:
        "torch" or "triton".

    Raises:
        ValueError: an unknown backend, or "triton" where it cannot run (Triton not installed, CPU
            tensors without the interpreter, tensors on another device, gradients needed from a
            forward-only kernel); the message says how to make it run.

    Reference: the dispatch rule of the course (`cvcourse.kernels` docstring).
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend: expected one of {BACKENDS}, got {backend!r}")
    if backend == "torch":
        return "torch"
    devices = {t.device.type for t in tensors}
    if backend == "auto":                                         # cheap for CPU tensors: no import lookup
        return "triton" if devices == {"cuda"} and not needs_grad and triton_available() else "torch"
    if not triton_available():
        raise ValueError("backend='triton': the triton package is not installed; install the GPU extra "
                         "(pip install 'cvcourse[gpu]', Linux only) or use backend='torch'")
    if needs_grad:
        raise ValueError("backend='triton': this kernel is forward-only and the inputs require gradients; "
                         "use backend='torch' (or 'auto') to differentiate, or detach the inputs")
    if devices <= {"cuda"}:
        return "triton"
    if devices <= {"cpu"}:
        if interpreting():
            return "triton"
        raise ValueError("backend='triton' on CPU tensors needs Triton's interpreter: set the environment "
                         "variable TRITON_INTERPRET=1 before importing cvcourse (in a notebook: "
                         "%env TRITON_INTERPRET=1 in the first cell, then restart the kernel), or move the "
                         "tensors to a CUDA GPU (no CUDA device here: "
                         f"torch.cuda.is_available() = {torch.cuda.is_available()})")
    raise ValueError(f"backend='triton': Triton runs on CUDA tensors (or CPU tensors with TRITON_INTERPRET=1), "
                     f"got tensors on {sorted(devices)}; use backend='torch'")


def kernel_source(kernel: Any) -> str:
    """The Python source of a `@triton.jit` kernel (compiled or interpreted), to read in a notebook.

    Args:
        kernel: a kernel of `cvcourse.kernels`, e.g. `cvcourse.kernels.nms.nms_mask_kernel`.

    Returns:
        str, the function's source with its decorator.

    Reference: Triton's JITFunction / InterpretedFunction (both keep the Python function as `.fn`).
    """
    fn = getattr(kernel, "fn", None)
    if fn is None or not callable(fn):
        raise TypeError(f"kernel: expected a @triton.jit kernel, got {type(kernel).__name__}")
    return inspect.getsource(fn)
