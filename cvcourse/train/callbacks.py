"""Keras-style callbacks for `fit`: stop early, keep the best checkpoint, or write your own.

A callback has three hooks, called on every process (under DDP the logs are already averaged over
the processes, so every process takes the same decision):

    on_train_begin(state)              before the first epoch (after a resume: before the next one)
    on_epoch_end(epoch, logs, state)   after each epoch; epoch counts from 1; return True to stop
    on_train_end(state)                after the last epoch, stopped early or not

`logs` holds the epoch's numbers ("train_loss", "val_accuracy", "lr", ...); `state` is a `FitState`.

Reference: Keras callbacks API, https://keras.io/api/callbacks/ (EarlyStopping, ModelCheckpoint).
"""
from __future__ import annotations

import copy
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cvcourse._validate import check_int

from .checkpoint import save_checkpoint
from .history import History

__all__ = ["Callback", "EarlyStopping", "FitState", "ModelCheckpoint"]


@dataclass
class FitState:
    """What callbacks may read (and change) during `fit`.

    Attributes:
        model: the model being trained (never the DDP wrapper).
        optimizer, scheduler: as passed to `fit` (scheduler may be None).
        history: the History so far; at `on_epoch_end` it already holds the epoch that just ended.
        epochs: the epoch `fit` trains up to.
        is_main: True on the process that logs and saves (rank 0; always True on one process).
        generator: the training DataLoader's generator (saved in checkpoints), or None.
    """

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    history: History
    epochs: int
    is_main: bool = True
    generator: torch.Generator | None = None


class Callback:
    """Base class: override the hooks you need; the defaults do nothing."""

    def on_train_begin(self, state: FitState) -> None:
        """Called once before training starts."""

    def on_epoch_end(self, epoch: int, logs: dict[str, float], state: FitState) -> bool | None:
        """Called after every epoch; return True to stop training."""
        return None

    def on_train_end(self, state: FitState) -> None:
        """Called once after training ends."""


class _Monitor(Callback):
    """Tracks the best value of one logged quantity (shared by EarlyStopping and ModelCheckpoint)."""

    def __init__(self, monitor: str, mode: str, min_delta: float) -> None:
        if not isinstance(monitor, str):
            raise TypeError(f"monitor: expected a key of the logs such as 'val_loss', got {monitor!r}")
        if mode not in ("min", "max"):
            raise ValueError(f"mode: expected 'min' (e.g. a loss) or 'max' (e.g. an accuracy), got {mode!r}")
        if isinstance(min_delta, bool) or not isinstance(min_delta, (int, float)) or not min_delta >= 0:
            raise ValueError(f"min_delta: expected a number >= 0, got {min_delta!r}")
        self.monitor, self.mode, self.min_delta = monitor, mode, float(min_delta)
        self.best, self.best_epoch, self.wait = math.nan, 0, 0

    def _improved(self, value: float) -> bool:
        if math.isnan(value):
            return False
        if math.isnan(self.best):
            return True
        return value < self.best - self.min_delta if self.mode == "min" else value > self.best + self.min_delta

    def _update(self, epoch: int, value: float) -> bool:
        """Record `value`; True if it is a new best (then `wait` restarts from 0)."""
        if self._improved(value):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            return True
        self.wait += 1
        return False

    def on_train_begin(self, state: FitState) -> None:
        # Replay the history so that a resumed run continues with the same best and patience.
        self.best, self.best_epoch, self.wait = math.nan, 0, 0
        for epoch, value in enumerate(state.history.data.get(self.monitor, []), start=1):
            self._update(epoch, value)

    def _value(self, logs: dict[str, float]) -> float:
        if self.monitor not in logs:
            hint = " (pass val_data to fit, or monitor 'train_loss')" if self.monitor.startswith("val_") else ""
            raise ValueError(f"{type(self).__name__}: monitor {self.monitor!r} is not logged; "
                             f"the logs have {sorted(logs)}{hint}")
        return float(logs[self.monitor])


class EarlyStopping(_Monitor):
    """Stop when the monitored quantity has not improved for `patience` epochs.

    "Improved" means smaller than the best so far by more than `min_delta` (mode "min"), or larger
    (mode "max"); a NaN never improves. With `restore_best_weights`, the model ends training with
    the weights of its best epoch (whether or not it stopped early; Keras restores only on an early
    stop). After a resume, the best value and the patience count are rebuilt from the history, but
    the weights of an epoch before the resume are not in memory: keep them with ModelCheckpoint.

    Attributes (after fit): `best`, `best_epoch`, `stopped_epoch` (0: it did not stop training).

    Reference: Keras `EarlyStopping`; L. Prechelt, "Early Stopping - But When?", in Neural
    Networks: Tricks of the Trade, 1998.
    """

    def __init__(self, monitor: str = "val_loss", patience: int = 5, mode: str = "min", min_delta: float = 0.0,
                 restore_best_weights: bool = True) -> None:
        super().__init__(monitor, mode, min_delta)
        self.patience = check_int("patience", patience, 0)
        if not isinstance(restore_best_weights, bool):
            raise TypeError(f"restore_best_weights: expected a bool, got {restore_best_weights!r}")
        self.restore_best_weights = restore_best_weights
        self.best_weights: dict[str, torch.Tensor] | None = None
        self.stopped_epoch = 0

    def on_train_begin(self, state: FitState) -> None:
        super().on_train_begin(state)
        self.best_weights, self.stopped_epoch = None, 0

    def on_epoch_end(self, epoch: int, logs: dict[str, float], state: FitState) -> bool | None:
        if self._update(epoch, self._value(logs)):
            if self.restore_best_weights:
                self.best_weights = copy.deepcopy(state.model.state_dict())
            return None
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            return True
        return None

    def on_train_end(self, state: FitState) -> None:
        if self.restore_best_weights and self.best_weights is not None:
            state.model.load_state_dict(self.best_weights)


class ModelCheckpoint(_Monitor):
    """Save a checkpoint (`save_checkpoint` format) when the monitored quantity improves.

    With `save_best_only=False` it saves after every epoch instead. Only the main process writes.
    Load the best model with `load_checkpoint(path, model)`.

    Attributes (after fit): `best`, `best_epoch`.

    Reference: Keras `ModelCheckpoint`.
    """

    def __init__(self, path: str | os.PathLike, monitor: str = "val_loss", mode: str = "min",
                 save_best_only: bool = True) -> None:
        super().__init__(monitor, mode, 0.0)
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path: expected a str or a path, got {type(path).__name__} {path!r}")
        if not isinstance(save_best_only, bool):
            raise TypeError(f"save_best_only: expected a bool, got {save_best_only!r}")
        self.path, self.save_best_only = Path(path), save_best_only

    def on_epoch_end(self, epoch: int, logs: dict[str, float], state: FitState) -> bool | None:
        improved = self._update(epoch, self._value(logs))
        if state.is_main and (improved or not self.save_best_only):
            save_checkpoint(self.path, state.model, state.optimizer, state.scheduler, epoch=epoch,
                            history=state.history, generator=state.generator)
        return None


def _check_callbacks(callbacks: Sequence[Callback]) -> list[Callback]:
    """`callbacks` as a list, or TypeError naming the first one that is not a `Callback`."""
    if isinstance(callbacks, Callback):
        return [callbacks]
    if not isinstance(callbacks, Sequence):
        raise TypeError(f"callbacks: expected a list of Callback objects, got {type(callbacks).__name__}")
    for i, cb in enumerate(callbacks):
        if not isinstance(cb, Callback):
            raise TypeError(f"callbacks[{i}]: expected a Callback (EarlyStopping, ModelCheckpoint or a "
                            f"subclass of Callback), got {type(cb).__name__}")
    return list(callbacks)
