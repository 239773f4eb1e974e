"""Small controlled experiments the chapters run: several networks trained the same way, and the
gradient each layer receives.

- `compare_training`: build each network from its factory under one seed and train it with `fit`
  under the same settings (data order, optimizer, epochs); chapter 04 shows the degradation problem
  with it (a deeper plain network trains to a higher loss than a shallower one; its residual twin
  does not).
- `plot_comparison`: one quantity (the training loss) of several runs in one panel.
- `layer_gradient_norms`: the L2 norm of the loss gradient of every layer's weight on one batch.

The networks come as factories (callables returning an `nn.Module`), so `train` does not depend
on `cvcourse.models`.

References:
    K. He, X. Zhang, S. Ren and J. Sun, "Deep residual learning for image recognition", CVPR 2016
    (sec. 4.1 and Fig. 4: plain vs residual networks of 18 and 34 layers; Fig. 1 and 6 on CIFAR-10).
    D. Balduzzi et al., "The shattered gradients problem: if resnets are the answer, then what is the
    question?", ICML 2017 (gradients of deep plain vs residual networks at initialisation).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from cvcourse._validate import check_int

from .fit import fit
from .history import History

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["compare_training", "layer_gradient_norms", "plot_comparison"]


def _float(name: str, value: object, ok: Callable[[float], bool], expected: str) -> None:
    """TypeError unless `value` is a real number (not a bool); ValueError unless `ok(value)`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name}: expected a float {expected}, got {type(value).__name__} {value!r}")
    if not ok(value):
        raise ValueError(f"{name}: expected a float {expected}, got {value}")


def compare_training(factories: Mapping[str, Callable[[], nn.Module]], train_data: Dataset, *, epochs: int,
                     lr: float, batch_size: int, momentum: float = 0.9, weight_decay: float = 0.0,
                     seed: int = 0, metrics: tuple[str, ...] = ("accuracy",),
                     progress: bool | str = True) -> dict[str, History]:
    """Train several networks under identical conditions and return their histories.

    Each network is built by its factory right after `torch.manual_seed(seed)` (so its initial
    weights depend only on the seed), then trained by `fit` with SGD (lr, momentum, weight decay),
    cross-entropy, `batch_size` and `seed` (the same data order for every network), without
    validation data: the point is how well each network *fits* the training set.

    Args:
        factories: name -> a callable with no arguments returning a fresh nn.Module that maps
            Tensor[N, C, H, W] to Tensor[N, num_classes] logits, e.g.
            {"plain-8": lambda: plainnet_cifar(8, 4)}. Trained in this order.
        train_data: a Dataset of (image Tensor[C, H, W], class index) pairs.
        epochs: epochs per network (>= 1).
        lr: SGD learning rate (> 0).
        batch_size: samples per step (>= 1).
        momentum: SGD momentum in [0, 1).
        weight_decay: L2 penalty (>= 0).
        seed: seeds the weights and the data order (an int >= 0).
        metrics: what `fit` records besides the loss (see `fit`).
        progress: `fit`'s progress display (True: a bar per epoch, or lines in a log; False: none).

    Returns:
        name -> History with "train_loss", "train_<metric>", "lr", "seconds" per epoch, in the
        order of `factories`.

    Raises:
        TypeError: `factories` is not a non-empty mapping of names to callables, or a factory does
            not return an nn.Module.
        ValueError: a number out of range (the message names it); `fit`'s errors pass through.

    Reference: He et al. 2016, sec. 4.1-4.2 (plain and residual networks trained with the same SGD
    settings).
    """
    if not isinstance(factories, Mapping) or not factories:
        raise TypeError(f"factories: expected a non-empty dict name -> callable returning an nn.Module, "
                        f"got {type(factories).__name__}")
    for name, make in factories.items():
        if not isinstance(name, str) or not callable(make):
            raise TypeError(f"factories: expected str -> callable, got {name!r}: {type(make).__name__}")
    epochs, batch_size, seed = check_int("epochs", epochs, 1), check_int("batch_size", batch_size, 1), check_int("seed", seed, 0)
    _float("lr", lr, lambda v: 0 < v < math.inf, "> 0")
    _float("momentum", momentum, lambda v: 0 <= v < 1, "in [0, 1)")
    _float("weight_decay", weight_decay, lambda v: 0 <= v < math.inf, ">= 0")
    histories = {}
    for name, make in factories.items():
        torch.manual_seed(seed)
        model = make()
        if not isinstance(model, nn.Module):
            raise TypeError(f"factories[{name!r}]: expected a callable returning an nn.Module, got {type(model).__name__}")
        optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
        histories[name] = fit(model, train_data, epochs=epochs, optimizer=optimizer, loss_fn=nn.CrossEntropyLoss(),
                              metrics=metrics, batch_size=batch_size, seed=seed,
                              progress=progress)
    return histories


def plot_comparison(histories: Mapping[str, History], key: str = "train_loss", size: float = 5.0) -> Figure:
    """One curve per run of one recorded quantity against the epoch, in a single panel.

    Args:
        histories: name -> History, e.g. what `compare_training` returns.
        key: the quantity, e.g. "train_loss" or "train_accuracy".
        size: the figure's width in inches.

    Returns:
        the matplotlib Figure; `fig.axes[0]` holds one line per run, labelled with its name. x: the
        epoch, from 1.

    Raises:
        TypeError: `histories` is not a non-empty mapping of names to History objects.
        ValueError: a run did not record `key` (the message lists what it has).

    Reference: He et al. 2016, Fig. 1 and 6 (training error of plain and residual nets by depth).
    """
    import matplotlib.pyplot as plt

    if not isinstance(histories, Mapping) or not histories or not all(isinstance(h, History) for h in histories.values()):
        raise TypeError("histories: expected a non-empty dict name -> History (what compare_training returns)")
    for name, history in histories.items():
        if key not in history:
            raise ValueError(f"key: run {name!r} has no {key!r}; it has {history.keys()}")
    fig, ax = plt.subplots(figsize=(size, size * 0.7))
    for name, history in histories.items():
        values = history[key]
        ax.plot(range(1, len(values) + 1), values, marker="o", markersize=3, label=name)
    ax.set_xlabel("epoch")
    ax.set_ylabel(key.replace("_", " "))
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def layer_gradient_norms(model: nn.Module, inputs: Tensor, targets: Tensor,
                         loss_fn: Callable[[Tensor, Tensor], Tensor] | None = None,
                         layer_types: tuple[type[nn.Module], ...] = (nn.Conv2d, nn.Linear)) -> dict[str, float]:
    """The L2 norm of d loss / d weight for every layer of the given types, on one batch.

    The model runs in train mode (as during training: BatchNorm uses the batch's statistics). The
    model is left as it was: no optimizer step, gradients cleared, buffers (BatchNorm's running
    averages) and the train/eval mode restored.

    Args:
        model: the network.
        inputs: one batch, e.g. Tensor[N, C, H, W].
        targets: what `loss_fn` compares the outputs with, e.g. class indices Tensor[N] int64.
        loss_fn: callable(outputs, targets) -> scalar Tensor; default cross-entropy.
        layer_types: the module types whose `weight` gradient is measured.

    Returns:
        module name -> ||grad of its weight||_2 (a float), in the order of `model.named_modules()`
        (input to output for the usual sequential networks). Layers the loss does not reach get 0.

    Raises:
        TypeError: `model` is not an nn.Module, or the loss is not a scalar Tensor.

    Reference: He et al. 2016, sec. 4.1 (the plain nets' problem is "unlikely to be caused by
    vanishing gradients" with BN: the norms stay healthy); Balduzzi et al. 2017, Fig. 1-2.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected an nn.Module, got {type(model).__name__}")
    loss_fn = nn.functional.cross_entropy if loss_fn is None else loss_fn
    layers = [(name, m) for name, m in model.named_modules()
              if isinstance(m, layer_types) and isinstance(getattr(m, "weight", None), Tensor)]
    was_training = model.training
    buffers = [b.detach().clone() for b in model.buffers()]
    model.zero_grad(set_to_none=True)
    try:
        loss = loss_fn(model.train()(inputs), targets)
        if not isinstance(loss, Tensor) or loss.ndim != 0:
            raise TypeError(f"loss_fn: expected a scalar Tensor, got {type(loss).__name__}"
                            f"{list(loss.shape) if isinstance(loss, Tensor) else ''}")
        loss.backward()
        return {name: float(m.weight.grad.norm()) if m.weight.grad is not None else 0.0 for name, m in layers}
    finally:
        model.zero_grad(set_to_none=True)
        model.train(was_training)
        with torch.no_grad():
            for b, saved in zip(model.buffers(), buffers, strict=True):
                b.copy_(saved)
