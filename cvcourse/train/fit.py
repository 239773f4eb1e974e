"""`fit`: the training loop every chapter reuses.

One epoch: for each batch (inputs, targets) of the training data, outputs = model(inputs),
loss = loss_fn(outputs, targets), backward, optimizer step; then the validation data in eval mode
under `torch.no_grad()`, the scheduler step, the History entry, the checkpoint and the callbacks.
Detection models compute their own losses (torchvision's convention): with `loss_fn=None`,
losses = model(inputs, targets) is a dict of named scalar losses, and their sum is minimised.

Determinism: `seed` seeds torch, numpy, Python's `random` and the DataLoader's shuffling generator,
so two CPU runs with one seed give identical losses. `torch.use_deterministic_algorithms` is not
switched on (it would make some CUDA kernels raise): on a GPU, runs agree closely, not bitwise.

Reference: the training loop of the PyTorch tutorial "Training a Classifier"; the `fit` API of
Keras (F. Chollet et al., https://keras.io/api/models/model_training_apis/).
"""
from __future__ import annotations

import importlib.util
import math
import os
import random
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.optim.lr_scheduler import LRScheduler, ReduceLROnPlateau
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Subset

from cvcourse._validate import check_int

from .callbacks import Callback, FitState, _check_callbacks
from .checkpoint import load_checkpoint, save_checkpoint
from .device import select_device
from .distributed import DistContext, all_reduce_sum, close_distributed, init_distributed, wrap_model
from .history import History

__all__ = ["PROGRESS_ENV", "fit", "seed_everything"]

PROGRESS_ENV = "CVCOURSE_PROGRESS"
_PROGRESS = ("bar", "lines", "off")
# tqdm's default puts the postfix inside the [elapsed<remaining, rate] brackets; outside them, the
# timings stay one bracket that tests/nbval_sanitize.cfg masks.
_BAR_FORMAT = "{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_fmt}]{postfix}"


def seed_everything(seed: int) -> None:
    """Seed Python's `random`, numpy's global RNG and torch (CPU and every CUDA device).

    Args:
        seed: a non-negative int.

    Returns:
        None.

    Reference: PyTorch "Reproducibility" notes, https://pytorch.org/docs/stable/notes/randomness.html.
    """
    seed = check_int("seed", seed, 0)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device


#: `fit`'s default metrics; with `loss_fn=None` (the model returns its losses) they are left out.
_DEFAULT_METRICS = ("accuracy",)


# ----------------------------------------------------------------------------- metrics
def _accuracy(outputs: Tensor, targets: Tensor) -> float:
    """Top-1 accuracy: logits Tensor[N, C, ...] against class indices Tensor[N, ...] (or one-hot /
    probabilities shaped like the logits); Tensor[N] logits of a binary problem are cut at 0."""
    if not isinstance(outputs, Tensor) or not isinstance(targets, Tensor):
        raise TypeError(f"accuracy: expected tensors (logits, class indices), got "
                        f"{type(outputs).__name__} and {type(targets).__name__}")
    if outputs.ndim == 1:
        predicted = (outputs > 0).long()
    else:
        predicted = outputs.argmax(dim=1)
        if targets.shape == outputs.shape:
            targets = targets.argmax(dim=1)
    if predicted.shape != targets.shape:
        raise ValueError(f"accuracy: expected logits Tensor[N, C] and class indices Tensor[N], got "
                         f"outputs {tuple(outputs.shape)} and targets {tuple(targets.shape)}")
    return (predicted == targets).double().mean().item()


_METRICS: dict[str, Callable[[Tensor, Tensor], float]] = {"accuracy": _accuracy}


def _metric_fns(metrics: Any) -> dict[str, Callable]:
    if metrics is None:
        return {}
    if isinstance(metrics, str):
        metrics = (metrics,)
    if isinstance(metrics, Mapping):
        fns = dict(metrics)
        for name, fn in fns.items():
            if not isinstance(name, str) or not callable(fn):
                raise TypeError(f"metrics: expected a dict name -> callable(outputs, targets) -> float, "
                                f"got {name!r}: {type(fn).__name__}")
    elif isinstance(metrics, Sequence):
        for name in metrics:
            if name not in _METRICS:
                raise ValueError(f"metrics: unknown metric {name!r}; known names are {sorted(_METRICS)}, or "
                                 "pass a dict name -> callable(outputs, targets) -> float")
        fns = {name: _METRICS[name] for name in metrics}
    else:
        raise TypeError(f"metrics: expected names such as ('accuracy',) or a dict, got {type(metrics).__name__}")
    if "loss" in fns:
        raise ValueError("metrics: 'loss' is always recorded; give the metric another name")
    return fns


def _loss_dict(losses: Any) -> tuple[Tensor, dict[str, Tensor]]:
    """The total and the parts of what model(inputs, targets) returned under `loss_fn=None`."""
    if not isinstance(losses, Mapping) or not losses:
        raise ValueError(f"loss_fn=None: model(inputs, targets) must return a non-empty dict of named scalar "
                         f"losses (e.g. {{'loss_box': ..., 'loss_mask': ...}}), got {type(losses).__name__}")
    for name, value in losses.items():
        if not isinstance(name, str) or name == "loss" or not isinstance(value, Tensor) or value.ndim != 0:
            raise ValueError(f"loss_fn=None: each entry of the model's loss dict must be a scalar tensor under a "
                             f"name other than 'loss', got {name!r}: {type(value).__name__}"
                             f"{tuple(value.shape) if isinstance(value, Tensor) else ''}")
    return sum(losses.values()), dict(losses)


def _first(outputs: Any) -> Any:
    """The main output of a model that returns several (GoogLeNet's (logits, aux1, aux2))."""
    return outputs[0] if isinstance(outputs, (tuple, list)) else outputs


# ----------------------------------------------------------------------------- data
def _loader(data: Any, name: str, batch_size: int, shuffle: bool, generator: torch.Generator,
            ctx: DistContext | None, seed: int, num_workers: int, pin: bool) -> DataLoader | None:
    """A DataLoader over `data` (a Dataset or a DataLoader); under DDP, this process's shard."""
    if data is None:
        return None
    if isinstance(data, DataLoader):
        if ctx is None:
            return data
        if data.batch_size is None:
            raise ValueError(f"{name}: under DDP a DataLoader is rebuilt from its dataset and batch_size, "
                             "but this one has a batch_sampler; pass the Dataset instead")
        dataset, batch_size, collate = data.dataset, data.batch_size, data.collate_fn
        num_workers, drop_last = data.num_workers, data.drop_last
    elif isinstance(data, Dataset):
        dataset, collate, drop_last = data, None, False
    else:
        raise TypeError(f"{name}: expected a torch Dataset of (inputs, target) pairs or a DataLoader, "
                        f"got {type(data).__name__}")
    if not hasattr(dataset, "__len__"):
        raise TypeError(f"{name}: expected a Dataset with a length (an IterableDataset must come in a DataLoader)")
    if len(dataset) == 0:
        raise ValueError(f"{name}: the dataset is empty")
    sampler = None
    if ctx is not None and shuffle:  # every process: an equal-length, disjoint shard of a seeded permutation
        sampler = DistributedSampler(dataset, ctx.world_size, ctx.rank, shuffle=True, seed=seed)
    elif ctx is not None:  # evaluation: samples rank, rank + W, ...; no padding, so none counts twice
        dataset = Subset(dataset, range(ctx.rank, len(dataset), ctx.world_size))
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle and sampler is None, sampler=sampler,
                      generator=generator if shuffle else None, num_workers=num_workers, collate_fn=collate,
                      pin_memory=pin, drop_last=drop_last)


def _to(x: Any, device: torch.device) -> Any:
    if isinstance(x, Tensor):
        return x.to(device, non_blocking=device.type == "cuda")
    if isinstance(x, (list, tuple)):
        return type(x)(_to(v, device) for v in x) if not hasattr(x, "_fields") else type(x)(*(_to(v, device) for v in x))
    if isinstance(x, dict):
        return {k: _to(v, device) for k, v in x.items()}
    return x


def _pair(batch: Any, name: str) -> tuple[Any, Any]:
    if not isinstance(batch, (tuple, list)) or len(batch) != 2:
        raise TypeError(f"{name}: each batch must be an (inputs, targets) pair, got {type(batch).__name__}"
                        + (f" of length {len(batch)}" if isinstance(batch, (tuple, list)) else ""))
    return batch[0], batch[1]


def _count(inputs: Any) -> int:
    return int(inputs.shape[0]) if isinstance(inputs, Tensor) else len(inputs)


# ----------------------------------------------------------------------------- progress display
def _in_notebook() -> bool:
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None and hasattr(ipython, "get_ipython") else None
    return type(shell).__name__ == "ZMQInteractiveShell"


def _progress_mode(progress: bool | str) -> str:
    if progress is False:
        return "off"
    if progress in ("bar", "lines"):
        return progress
    env = os.environ.get(PROGRESS_ENV, "").strip().lower()
    if env:
        if env not in _PROGRESS:
            raise ValueError(f"{PROGRESS_ENV}={env!r}: expected one of {_PROGRESS}")
        return env
    return "bar" if _in_notebook() or sys.stderr.isatty() else "lines"


def _has_widgets() -> bool:
    return importlib.util.find_spec("ipywidgets") is not None


def _tqdm() -> type:
    """tqdm's widget in Jupyter when ipywidgets is installed, else the text bar (chosen here, so that
    tqdm.auto's "IProgress not found" warning never appears)."""
    if _in_notebook() and _has_widgets():
        from tqdm.notebook import tqdm
    else:
        from tqdm.std import tqdm
    return tqdm


def _short(logs: Mapping[str, float]) -> dict[str, str]:
    shown = {k.removeprefix("train_"): v for k, v in logs.items() if k not in ("lr", "seconds")}
    return {k: f"{v:.4f}" for k, v in shown.items()}


class _Progress:
    """One tqdm bar per epoch that stays on screen ("bar"), one plain line per epoch ("lines"), or nothing."""

    def __init__(self, mode: str, epochs: int) -> None:
        self.mode, self.epochs, self.bar = mode, epochs, None

    def start(self, epoch: int, total: int | None) -> None:
        if self.mode == "bar":
            self.bar = _tqdm()(total=total, desc=f"epoch {epoch}/{self.epochs}", leave=True, bar_format=_BAR_FORMAT)

    def step(self, running: Mapping[str, float]) -> None:
        if self.bar is not None:
            self.bar.set_postfix(_short(running), refresh=False)
            self.bar.update(1)

    def end(self, epoch: int, logs: Mapping[str, float]) -> None:
        if self.bar is not None:
            self.bar.set_postfix(_short(logs), refresh=False)
            self.close()
        elif self.mode == "lines":
            numbers = " ".join(f"{k}={v:.4g}" if k == "lr" else f"{k}={v:.4f}"
                               for k, v in logs.items() if k != "seconds")
            print(f"epoch {epoch}/{self.epochs}: {numbers} ({logs['seconds']:.1f} s)", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


# ----------------------------------------------------------------------------- one epoch
def _train_epoch(net: nn.Module, loader: DataLoader, epoch: int, loss_fn: Callable, metrics: dict[str, Callable],
                 optimizer: torch.optim.Optimizer, scheduler: Any, per_batch: bool, clip: float | None,
                 device: torch.device, ctx: DistContext | None, progress: _Progress) -> dict[str, float]:
    net.train()
    try:
        total = len(loader)
    except TypeError:
        total = None
    progress.start(epoch, total)
    sums, names = None, list(metrics)  # sums: [loss * n, n, metric * n, ..., named loss * n, ...] over all processes
    for i, batch in enumerate(loader, start=1):
        inputs, targets = _pair(batch, "train_data")
        inputs, targets = _to(inputs, device), _to(targets, device)
        n = _count(inputs)
        if loss_fn is None:  # the model computes its losses: a dict of named scalar losses
            loss, parts = _loss_dict(net(inputs, targets))
            row = [loss.item() * n, n] + [v.item() * n for v in parts.values()]
        else:
            outputs = net(inputs)
            loss, parts = loss_fn(outputs, targets), {}
            if not isinstance(loss, Tensor) or loss.ndim != 0:
                raise ValueError(f"loss_fn: expected a scalar tensor (e.g. a mean over the batch), got "
                                 f"{type(loss).__name__}{tuple(loss.shape) if isinstance(loss, Tensor) else ''}")
            with torch.no_grad():
                main = _first(outputs)
                row = [loss.item() * n, n] + [float(fn(main, targets)) * n for fn in metrics.values()]
        if sums is None:
            sums, names = torch.zeros(len(row), dtype=torch.float64), names + list(parts)
        if len(row) != len(sums):
            raise ValueError(f"loss_fn=None: the model returned the losses {sorted(parts)} at batch {i}, other "
                             f"names than at the first batch ({names})")
        step = all_reduce_sum(torch.tensor(row, dtype=torch.float64), ctx)  # every process sees every loss
        if not math.isfinite(step[0]):
            where = f"batch {i}" + (f" of {total}" if total else "")
            raise FloatingPointError(
                f"loss_fn: the loss is {step[0].item() / step[1].item()} at epoch {epoch}, {where}: training "
                "diverged or the data holds NaN/inf. Try a smaller learning rate, fit(clip_grad_norm=1.0), "
                "or check the batch with torch.isfinite(inputs).all()")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if clip is not None:
            nn.utils.clip_grad_norm_(net.parameters(), clip)
        optimizer.step()
        if per_batch:
            scheduler.step()
        sums += step
        progress.step(_logs("train", sums, names))
    if sums is None or sums[1] == 0:
        raise ValueError("train_data: the DataLoader yielded no batch")
    return _logs("train", sums, names)


@torch.no_grad()
def _evaluate(model: nn.Module, loader: DataLoader, epoch: int, loss_fn: Callable, metrics: dict[str, Callable],
              device: torch.device, ctx: DistContext | None) -> dict[str, float]:
    model.eval()
    sums = torch.zeros(2 + len(metrics), dtype=torch.float64)
    for batch in loader:
        inputs, targets = _pair(batch, "val_data")
        inputs, targets = _to(inputs, device), _to(targets, device)
        outputs = model(inputs)
        n = _count(inputs)
        main = _first(outputs)
        row = [float(loss_fn(outputs, targets)) * n, n] + [float(fn(main, targets)) * n for fn in metrics.values()]
        sums += torch.tensor(row, dtype=torch.float64)
    sums = all_reduce_sum(sums, ctx)
    if not math.isfinite(sums[0]):
        raise FloatingPointError(f"loss_fn: the validation loss is {sums[0].item()} at epoch {epoch}: the model's "
                                 "outputs or the validation data hold NaN/inf")
    return _logs("val", sums, list(metrics))


def _logs(prefix: str, sums: Tensor, names: Sequence[str]) -> dict[str, float]:
    """{prefix_loss, prefix_<name>, ...}: the sample-weighted means of the loss and the named values."""
    n = max(sums[1].item(), 1.0)
    logs = {f"{prefix}_loss": sums[0].item() / n}
    logs.update({f"{prefix}_{name}": sums[2 + k].item() / n for k, name in enumerate(names)})
    return logs


# ----------------------------------------------------------------------------- fit
def _check_fit_args(model: Any, epochs: Any, optimizer: Any, loss_fn: Any, scheduler: Any, scheduler_step: Any,
                    progress: Any, clip_grad_norm: Any) -> int:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    epochs = check_int("epochs", epochs, 1)
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer: expected a torch.optim.Optimizer (e.g. torch.optim.SGD(model.parameters(), "
                        f"lr=0.1)), got {type(optimizer).__name__}")
    owned = {id(p) for p in model.parameters()}
    if not any(id(p) in owned for group in optimizer.param_groups for p in group["params"]):
        raise ValueError("optimizer: none of its parameters belongs to the model; build it from "
                         "model.parameters() of this model")
    if loss_fn is not None and not callable(loss_fn):
        raise TypeError(f"loss_fn: expected a callable(outputs, targets) -> scalar tensor (e.g. "
                        f"nn.CrossEntropyLoss()), or None for a model that returns its losses, "
                        f"got {type(loss_fn).__name__}")
    if scheduler_step not in ("epoch", "batch"):
        raise ValueError(f"scheduler_step: expected 'epoch' or 'batch', got {scheduler_step!r}")
    if scheduler is not None:
        if not isinstance(scheduler, (LRScheduler, ReduceLROnPlateau)):
            raise TypeError(f"scheduler: expected a torch.optim.lr_scheduler scheduler or None, "
                            f"got {type(scheduler).__name__}")
        if scheduler.optimizer is not optimizer:
            raise ValueError("scheduler: it steps another optimizer than the one passed to fit")
        if isinstance(scheduler, ReduceLROnPlateau) and scheduler_step == "batch":
            raise ValueError("scheduler_step: ReduceLROnPlateau needs an epoch's loss; use scheduler_step='epoch'")
    if not (isinstance(progress, bool) or progress in ("auto", "bar", "lines")):
        raise ValueError(f"progress: expected True (auto), False, 'bar' or 'lines', got {progress!r}")
    if clip_grad_norm is not None and (isinstance(clip_grad_norm, bool) or not isinstance(clip_grad_norm, (int, float))
                                       or not clip_grad_norm > 0):
        raise ValueError(f"clip_grad_norm: expected a positive number or None, got {clip_grad_norm!r}")
    return epochs


def fit(model: nn.Module, train_data: Dataset | DataLoader, val_data: Dataset | DataLoader | None = None, *,
        epochs: int, optimizer: torch.optim.Optimizer, loss_fn: Callable[[Any, Any], Tensor] | None,
        metrics: Sequence[str] | Mapping[str, Callable[[Any, Any], float]] | None = _DEFAULT_METRICS,
        scheduler: LRScheduler | ReduceLROnPlateau | None = None, batch_size: int = 64,
        device: str | torch.device | None = None, seed: int = 0, callbacks: Sequence[Callback] = (),
        checkpoint: str | os.PathLike | None = None, resume: str | os.PathLike | None = None,
        progress: bool | str = True, num_workers: int = 0, scheduler_step: str = "epoch",
        clip_grad_norm: float | None = None) -> History:
    """Train `model` for `epochs` epochs and return the per-epoch losses and metrics.

    Each epoch trains on `train_data` (shuffled), evaluates on `val_data` (model.eval(), no
    gradients), steps the scheduler, records the History, saves `checkpoint` and runs the callbacks
    (an EarlyStopping may end training early). The model is left in the train/eval mode it was in.

    Models with auxiliary heads (GoogLeNet returns (logits, aux1, aux2) in train mode): `loss_fn`
    receives whatever the model returned, in train mode and in eval mode, so it must accept both;
    metrics use the first element of a tuple. Example:

        def googlenet_loss(out, y):
            if isinstance(out, tuple):  # train mode
                return F.cross_entropy(out[0], y) + 0.3 * sum(F.cross_entropy(a, y) for a in out[1:])
            return F.cross_entropy(out, y)

    Detection models (torchvision's convention, `cvcourse.models.MaskRCNN`): pass `loss_fn=None`;
    each batch then calls model(inputs, targets), which returns a dict of named scalar losses
    ({"loss_objectness": ..., "loss_mask": ...}); their sum is minimised and logged as
    "train_loss", each one as "train_<name>" (shown on the progress bar too). Targets may be a
    list of dicts of tensors (moved to the device). Such a model returns predictions in eval
    mode, so there is no validation loss: evaluate it after training (`val_data` must be None).

    Data-parallel on several processes: put the training in a script and start it with torchrun;
    the call to `fit` does not change. Every process must build the same dataset (seed it):

        # train.py
        import torch
        from torch import nn
        from cvcourse.train import fit

        g = torch.Generator().manual_seed(0)
        data = torch.utils.data.TensorDataset(torch.randn(512, 8, generator=g), torch.randint(0, 3, (512,), generator=g))
        model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 3))
        fit(model, data, epochs=3, optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
            loss_fn=nn.CrossEntropyLoss(), batch_size=32, checkpoint="last.pt")

        $ torchrun --standalone --nproc_per_node=2 train.py

    (`python -m torch.distributed.run` is the same command.) `fit` then joins the process group (gloo on the CPU, nccl on CUDA: one GPU per process), wraps
    the model in DistributedDataParallel and gives each process its shard of the data through a
    DistributedSampler (seeded, reshuffled each epoch). `batch_size` is per process: the global
    batch is batch_size x processes. The logged numbers are averages over all processes; only rank
    0 shows progress and writes checkpoints. See `cvcourse.train.distributed`.

    Args:
        model: an nn.Module; it is moved to `device`.
        train_data: a Dataset of (inputs, target) pairs (fit builds a shuffling DataLoader with a
            seeded generator), or a DataLoader yielding (inputs, targets) batches (used as is on one
            process; under DDP rebuilt from its dataset and batch_size).
        val_data: the same kinds, or None (no "val_*" entries).
        epochs: the epoch to train up to (>= 1); after `resume`, training continues from the saved
            epoch to this one (nothing to do if the checkpoint is already there).
        optimizer: a torch.optim.Optimizer over the model's parameters.
        loss_fn: callable(outputs, targets) -> scalar Tensor, e.g. nn.CrossEntropyLoss(); or None:
            the model computes its losses, model(inputs, targets) -> dict of named scalar tensors.
        metrics: names ("accuracy": top-1 of logits Tensor[N, C] against class indices Tensor[N]),
            or a dict name -> callable(outputs, targets) -> float (a mean over the batch), or None.
            With loss_fn=None there are no outputs to score: the default is dropped, and any
            other value is an error.
        scheduler: a torch.optim.lr_scheduler scheduler over `optimizer`, or None. ReduceLROnPlateau
            is stepped with the epoch's validation loss (the training loss without val_data).
        batch_size: samples per batch (per process under DDP) when fit builds the DataLoaders.
        device: None/"auto" (see `select_device`: CVCOURSE_DEVICE, else CUDA, MPS, CPU), "cpu",
            "cuda", "cuda:N", "mps" or a torch.device.
        seed: seeds torch, numpy, random (plus the rank under DDP) and the shuffling generator.
            `torch.use_deterministic_algorithms` is not forced: bitwise reproducible on the CPU.
        callbacks: Callback objects (EarlyStopping, ModelCheckpoint, your own).
        checkpoint: a path: after every epoch the last state is saved there (rank 0 only).
        resume: a path written by `checkpoint`/`save_checkpoint`: model, optimizer, scheduler,
            RNG states, epoch and History are restored, and training continues exactly as an
            uninterrupted run would (bitwise on the CPU).
        progress: True: a tqdm bar per epoch (kept on screen with the epoch's numbers) in a
            terminal or Jupyter (a widget if ipywidgets is installed, else text), one plain line per
            epoch when the output is a log file; False: nothing; "bar"/"lines" force one. The
            environment variable CVCOURSE_PROGRESS=bar|lines|off overrides True.
        num_workers: DataLoader worker processes when fit builds the DataLoaders.
        scheduler_step: "epoch" (after every epoch) or "batch" (after every optimizer step, e.g.
            OneCycleLR).
        clip_grad_norm: if set, gradients are rescaled to at most this total L2 norm before each step.

    Returns:
        the History: history["train_loss"], ["train_accuracy"], ["val_loss"], ["val_accuracy"],
        ["lr"], ["seconds"], one float per epoch (a resumed run includes the earlier epochs).

    Raises:
        TypeError, ValueError: an argument has the wrong type or value (the message names it).
        FileNotFoundError: `resume` does not exist.
        FloatingPointError: a batch loss is NaN or infinite (the message names the epoch and batch).

    Reference: PyTorch tutorial "Training a Classifier"; Keras `Model.fit`; S. Li et al., "PyTorch
    Distributed", VLDB 2020.
    """
    epochs = _check_fit_args(model, epochs, optimizer, loss_fn, scheduler, scheduler_step, progress, clip_grad_norm)
    if loss_fn is None:
        if metrics is not None and metrics is not _DEFAULT_METRICS:
            raise ValueError("metrics: with loss_fn=None the model returns its losses, not outputs to score; "
                             "pass metrics=None")
        if val_data is not None:
            raise ValueError("val_data: with loss_fn=None the model returns predictions in eval mode, not losses; "
                             "pass val_data=None and evaluate the trained model (e.g. with cvcourse.metrics)")
        metrics = None
    metric_fns = _metric_fns(metrics)
    batch_size = check_int("batch_size", batch_size, 1)
    seed = check_int("seed", seed, 0)
    num_workers = check_int("num_workers", num_workers, 0)
    callbacks = _check_callbacks(callbacks)
    for name, path in (("checkpoint", checkpoint), ("resume", resume)):
        if path is not None and not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"{name}: expected a path or None, got {type(path).__name__} {path!r}")
    if resume is not None and not os.path.isfile(resume):
        raise FileNotFoundError(f"resume: no checkpoint at {str(resume)!r}")
    mode = _progress_mode(progress)  # validates CVCOURSE_PROGRESS before anything starts

    wanted = select_device(device)
    ctx = init_distributed(wanted if device is not None or wanted.type != "mps" else None)
    device = ctx.device if ctx is not None else wanted
    is_main = ctx is None or ctx.is_main
    seed_everything(seed + (ctx.rank if ctx is not None else 0))
    generator = torch.Generator().manual_seed(seed)
    pin = device.type == "cuda"
    train_loader = _loader(train_data, "train_data", batch_size, True, generator, ctx, seed, num_workers, pin)
    val_loader = _loader(val_data, "val_data", batch_size, False, generator, ctx, seed, num_workers, pin)
    shuffle_gen = train_loader.generator if ctx is None else None  # DistributedSampler reshuffles by epoch

    was_training = model.training
    model.to(device)
    history, start = History(), 0
    if resume is not None:
        # map to the CPU: RNG states must stay there; load_state_dict moves the rest to the parameters
        saved = load_checkpoint(resume, model, optimizer, scheduler, map_location="cpu", restore_rng=True,
                                generator=shuffle_gen)
        history, start = History.from_dict(saved["history"] or {}), saved["epoch"]
        names = ["loss", *metric_fns]
        logged = {f"train_{n}" for n in names} | {"lr", "seconds"}
        logged |= {f"val_{n}" for n in names} if val_loader is not None else set()
        saved_keys = set(history.keys())
        if loss_fn is None:  # the model's named losses are logged too, as "train_<name>"
            saved_keys = {k for k in saved_keys if k == "train_loss" or not k.startswith("train_")}
        if len(history) and saved_keys != logged:
            raise ValueError(f"resume: the checkpoint's history has {sorted(history.keys())}, but this run logs "
                             f"{sorted(logged)}; pass the same metrics and val_data as before")
    net = wrap_model(model, ctx) if ctx is not None else model
    state = FitState(model, optimizer, scheduler, history, epochs, is_main, shuffle_gen)
    bar = _Progress(mode if is_main else "off", epochs)
    failed = True
    try:
        for cb in callbacks:
            cb.on_train_begin(state)
        for epoch in range(start + 1, epochs + 1):
            began = time.perf_counter()
            if ctx is not None:
                train_loader.sampler.set_epoch(epoch)
            lr = float(optimizer.param_groups[0]["lr"])
            logs = _train_epoch(net, train_loader, epoch, loss_fn, metric_fns, optimizer, scheduler,
                                scheduler is not None and scheduler_step == "batch", clip_grad_norm, device, ctx, bar)
            if val_loader is not None:
                logs.update(_evaluate(model, val_loader, epoch, loss_fn, metric_fns, device, ctx))
            if isinstance(scheduler, ReduceLROnPlateau):
                scheduler.step(logs.get("val_loss", logs["train_loss"]))
            elif scheduler is not None and scheduler_step == "epoch":
                scheduler.step()
            logs.update(lr=lr, seconds=time.perf_counter() - began)
            history.append(logs)
            bar.end(epoch, logs)
            if checkpoint is not None and is_main:
                save_checkpoint(checkpoint, model, optimizer, scheduler, epoch=epoch, history=history,
                                generator=shuffle_gen)
            if any([bool(cb.on_epoch_end(epoch, dict(logs), state)) for cb in callbacks]):  # every callback runs
                break
        for cb in callbacks:
            cb.on_train_end(state)
        failed = False
    finally:
        bar.close()
        model.train(was_training)
        close_distributed(ctx, barrier=not failed)
    return history
