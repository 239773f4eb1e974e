"""`fit_onecycle`: the recipe the detection chapters train with (AdamW + a one-cycle schedule + `fit`).

Detection models return their named losses (`loss_fn=None` in `fit`) and take a list of target
dicts per batch; chapter 11's Mask R-CNN and chapter 12's tiny YOLO both train the same way:
shuffled batches (seeded, the last incomplete batch dropped), AdamW, a learning rate that warms up
and then decays along a cosine (OneCycleLR, stepped after every batch) and gradient clipping.

Reference: L. N. Smith and N. Topin, "Super-convergence", 2017 (the one-cycle schedule);
I. Loshchilov and F. Hutter, "Decoupled weight decay regularization", ICLR 2019 (AdamW).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from .callbacks import Callback
from .fit import fit
from .history import History

__all__ = ["fit_onecycle"]


def fit_onecycle(model: nn.Module, data: torch.utils.data.Dataset | Sequence[Any], *, epochs: int, batch_size: int,
                 lr: float, weight_decay: float = 0.0, warmup: float = 0.1, clip_grad_norm: float | None = None,
                 seed: int = 0, collate_fn: Callable[[list[Any]], Any] | None = None, decay_norms: bool = True,
                 device: str | torch.device | None = "cpu", progress: bool | str = True,
                 callbacks: Sequence[Callback] = ()) -> History:
    """Train a model that returns its losses with AdamW and a one-cycle learning rate.

    Args:
        model: called as model(inputs, targets) -> dict of named scalar losses (see `fit`, loss_fn=None).
        data: a map-style dataset (or list) of (input, target) pairs.
        epochs: passes over `data` (>= 1).
        batch_size: pairs per batch; the last incomplete batch is dropped.
        lr: the one-cycle schedule's peak learning rate.
        weight_decay: AdamW's decoupled weight decay.
        warmup: the fraction of the steps spent rising to `lr` (OneCycleLR's pct_start).
        clip_grad_norm: if set, gradients are rescaled to at most this L2 norm.
        seed: seeds the weights' updates (`fit`) and the shuffling.
        collate_fn: batches a list of pairs (e.g. `cvcourse.data.shapes.collate`).
        decay_norms: False leaves 1-D parameters (normalisation weights, biases) without weight decay
            (the usual choice for detectors); True decays every parameter.
        device: where to train (None picks CUDA/MPS if present; see `cvcourse.train.select_device`).
        progress: `fit`'s progress display.
        callbacks: `Callback`s for `fit`.

    Returns:
        `fit`'s History ("train_loss", one "train_<name>" per loss, "lr", "seconds" per epoch).

    Reference: Smith & Topin 2017 (one-cycle); Loshchilov & Hutter, ICLR 2019 (AdamW).
    """
    loader = torch.utils.data.DataLoader(data, batch_size=batch_size, shuffle=True, collate_fn=collate_fn,
                                         generator=torch.Generator().manual_seed(seed), drop_last=True)
    if decay_norms:
        groups: list[Any] = list(model.parameters())
    else:
        params = list(model.parameters())
        groups = [{"params": [p for p in params if p.dim() > 1], "weight_decay": weight_decay},
                  {"params": [p for p in params if p.dim() <= 1], "weight_decay": 0.0}]
    optimizer = torch.optim.AdamW(groups, lr=lr, weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=epochs * len(loader),
                                                    pct_start=warmup)
    return fit(model, loader, epochs=epochs, optimizer=optimizer, loss_fn=None, metrics=None, scheduler=scheduler,
               scheduler_step="batch", device=device, seed=seed, clip_grad_norm=clip_grad_norm, progress=progress,
               callbacks=callbacks)
