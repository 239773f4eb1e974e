"""Training: `fit` (the loop every chapter reuses), callbacks, checkpoints, devices, DDP.

- `cvcourse.train.fit`: `fit(model, train_data, val_data, epochs=..., optimizer=..., loss_fn=...)`,
  seeded and resumable, with a progress bar; `seed_everything`.
- `cvcourse.train.history`: the `History` that `fit` returns and `plot_history`.
- `cvcourse.train.callbacks`: `Callback`, `EarlyStopping`, `ModelCheckpoint`.
- `cvcourse.train.checkpoint`: `save_checkpoint` / `load_checkpoint` (weights, optimizer,
  scheduler, epoch, history and RNG states).
- `cvcourse.train.device`: `select_device` (CUDA, MPS, CPU; CVCOURSE_DEVICE overrides).
- `cvcourse.train.distributed`: DistributedDataParallel under torchrun, used by `fit`.
- `cvcourse.train.onecycle`: `fit_onecycle`, AdamW + a one-cycle schedule for models that return their
  losses (the detection chapters' recipe).
- `cvcourse.train.quick`: `quick_mode` (CVCOURSE_QUICK=1: the long trainings shrink to a smoke run).
"""
from . import callbacks, checkpoint, device, distributed, history
from .callbacks import Callback, EarlyStopping, FitState, ModelCheckpoint
from .checkpoint import load_checkpoint, save_checkpoint
from .device import select_device
from .fit import fit, seed_everything
from .history import Best, History, plot_history
from .onecycle import fit_onecycle
from .quick import QUICK_ENV, quick_changes, quick_mode

__all__ = ["Best", "Callback", "EarlyStopping", "FitState", "History", "ModelCheckpoint", "QUICK_ENV", "callbacks", "checkpoint",
           "device", "distributed", "fit", "fit_onecycle", "history", "load_checkpoint", "plot_history", "quick_changes", "quick_mode", "save_checkpoint",
           "seed_everything", "select_device"]
