"""Checkpoints that resume exactly: weights, optimizer, scheduler, epoch, history and every RNG.

A checkpoint is one `torch.save` file holding a dict:

    {"format": "cvcourse.train/1", "epoch": completed epochs, "model": state_dict,
     "optimizer": state_dict | None, "scheduler": state_dict | None, "history": {key: [float]},
     "rng": {"torch": ByteTensor, "cuda": [ByteTensor] | None, "numpy": (...), "python": (...),
             "generator": ByteTensor | None}}

Everything in it is a tensor, a number, a string or a list/tuple/dict of those, so it loads with
`torch.load(..., weights_only=True)`, which cannot run code hidden in a file (the default here). A
scheduler whose state holds other Python objects (e.g. a callable class given to LambdaLR) needs
`weights_only=False`: use that only for files you made yourself.

Resuming exactly needs more than the weights: the optimizer's moments (Adam) or momentum (SGD),
the scheduler's step count, and the random number generators, so that the next epoch shuffles the
data and draws dropout masks exactly as an uninterrupted run would.

Reference: PyTorch tutorial, "Saving and loading a general checkpoint for inference and/or resuming
training"; PyTorch "Reproducibility" notes (https://pytorch.org/docs/stable/notes/randomness.html).
"""
from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from cvcourse._validate import check_int

__all__ = ["FORMAT", "load_checkpoint", "save_checkpoint"]

FORMAT = "cvcourse.train/1"


def _unwrap(model: nn.Module) -> nn.Module:
    """The module inside a DistributedDataParallel / DataParallel wrapper (its keys lack "module.")."""
    return model.module if isinstance(model, (nn.parallel.DistributedDataParallel, nn.DataParallel)) else model


def _rng_state(generator: torch.Generator | None) -> dict[str, Any]:
    """Every RNG state as weights_only-loadable values (numpy's key array becomes a list of ints)."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else None,
        "numpy": (kind, keys.tolist(), int(pos), int(has_gauss), float(gauss)),
        "python": random.getstate(),
        "generator": None if generator is None else generator.get_state(),
    }


def _set_rng_state(state: dict[str, Any], generator: torch.Generator | None) -> None:
    torch.set_rng_state(state["torch"].cpu())
    if state["cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, gauss))
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))
    if generator is not None and state["generator"] is not None:
        generator.set_state(state["generator"].cpu())


def _check_parts(model: Any, optimizer: Any, scheduler: Any) -> None:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    if optimizer is not None and not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer: expected a torch.optim.Optimizer or None, got {type(optimizer).__name__}")
    if scheduler is not None and not hasattr(scheduler, "state_dict"):
        raise TypeError(f"scheduler: expected a torch.optim.lr_scheduler scheduler or None, "
                        f"got {type(scheduler).__name__}")


def _check_path(path: Any) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path: expected a str or a path, got {type(path).__name__} {path!r}")
    return Path(path)


def save_checkpoint(path: str | os.PathLike, model: nn.Module, optimizer: torch.optim.Optimizer | None = None,
                    scheduler: Any = None, *, epoch: int, history: Any = None,
                    generator: torch.Generator | None = None) -> Path:
    """Save everything needed to resume training after `epoch` completed epochs.

    The file is written next to `path` and then renamed over it, so a run killed while saving
    leaves the previous checkpoint intact. Missing parent folders are created.

    Args:
        path: where to write (by convention `*.pt`).
        model: the model; a DistributedDataParallel wrapper is unwrapped, so the keys never start
            with "module." and the file loads into a plain model.
        optimizer: its state (moments, momentum buffers, learning rates), or None.
        scheduler: a `torch.optim.lr_scheduler` scheduler, or None.
        epoch: the number of completed epochs (>= 0); `fit(resume=path)` continues with the next one.
        history: a `History` (or its `to_dict()`), or None.
        generator: the torch.Generator of the training DataLoader (so the next epoch's shuffle is
            the same), or None. The global torch (CPU, and CUDA when in use), numpy and Python RNG
            states are always saved.

    Returns:
        the path written.

    Raises:
        TypeError: a part has the wrong type.
        ValueError: `epoch` is negative.

    Reference: PyTorch tutorial, "Saving and loading a general checkpoint".
    """
    path = _check_path(path)
    _check_parts(model, optimizer, scheduler)
    epoch = check_int("epoch", epoch, 0)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator: expected a torch.Generator or None, got {type(generator).__name__}")
    if history is not None and hasattr(history, "to_dict"):
        history = history.to_dict()
    state = {
        "format": FORMAT,
        "epoch": epoch,
        "model": _unwrap(model).state_dict(),
        "optimizer": None if optimizer is None else optimizer.state_dict(),
        "scheduler": None if scheduler is None else scheduler.state_dict(),
        "history": history,
        "rng": _rng_state(generator),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)
    return path


def load_checkpoint(path: str | os.PathLike, model: nn.Module, optimizer: torch.optim.Optimizer | None = None,
                    scheduler: Any = None, *, map_location: str | torch.device = "cpu",
                    restore_rng: bool = False, generator: torch.Generator | None = None,
                    weights_only: bool = True) -> dict[str, Any]:
    """Load a checkpoint written by `save_checkpoint` into `model` (and `optimizer`, `scheduler`).

    Load the model first onto its device (`model.to(device)`), then call this: the optimizer's
    state is moved to the device of the parameters by `optimizer.load_state_dict`.

    Args:
        path: the checkpoint file.
        model: a model of the same architecture (a DDP wrapper is unwrapped); loaded strictly.
        optimizer: an optimizer over `model`'s parameters, or None to skip its state.
        scheduler: a scheduler of the same kind over `optimizer`, or None to skip its state.
        map_location: where the file's tensors are first put (see `torch.load`).
        restore_rng: also restore the torch, CUDA, numpy and Python RNG states (what `fit(resume=...)`
            does to continue exactly); off by default so that loading weights has no side effects.
        generator: with `restore_rng`, the training DataLoader's generator to restore.
        weights_only: passed to `torch.load`; True refuses files that would run code when loaded.

    Returns:
        the checkpoint dict: "epoch", "history", "rng", and the raw state dicts.

    Raises:
        FileNotFoundError: `path` does not exist (the message names it).
        TypeError: a part has the wrong type.
        ValueError: the file is not a cvcourse checkpoint, or the optimizer/scheduler state is
            missing from it.
        RuntimeError: the model's keys or shapes do not match (from `load_state_dict`).

    Reference: PyTorch tutorial, "Saving and loading a general checkpoint".
    """
    path = _check_path(path)
    _check_parts(model, optimizer, scheduler)
    if not path.is_file():
        raise FileNotFoundError(f"path: no checkpoint at {str(path)!r}")
    state = torch.load(path, map_location=map_location, weights_only=weights_only)
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ValueError(f"path: {str(path)!r} is not a cvcourse checkpoint (expected format {FORMAT!r}); "
                         "for a bare state_dict use model.load_state_dict(torch.load(path))")
    _unwrap(model).load_state_dict(state["model"])
    for name, part in (("optimizer", optimizer), ("scheduler", scheduler)):
        if part is not None:
            if state[name] is None:
                raise ValueError(f"{name}: {str(path)!r} holds no {name} state (it was saved without one)")
            part.load_state_dict(state[name])
    if restore_rng:
        _set_rng_state(state["rng"], generator)
    return state
