"""What `fit` returns: one list of numbers per quantity, one entry per epoch, and its plot.

Keys: "train_loss", "train_<metric>" (e.g. "train_accuracy"), "val_loss", "val_<metric>" (with
validation data), "lr" (the learning rate of the first parameter group during the epoch) and
"seconds" (wall time of the epoch). Epochs are numbered from 1.

Reference: the `History` object of Keras (`model.fit` returns it), https://keras.io/api/models/model_training_apis/.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["Best", "History", "plot_history"]

_MODES = ("min", "max")


class Best(NamedTuple):
    """The best epoch of one quantity: `epoch` (1-based) and its `value`."""

    epoch: int
    value: float


@dataclass
class History:
    """Per-epoch numbers of a training run.

    Attributes:
        data: key -> list of floats, one per epoch (every list has the same length).
    """

    data: dict[str, list[float]] = field(default_factory=dict)

    def __getitem__(self, key: str) -> list[float]:
        if key not in self.data:
            raise KeyError(f"history has no {key!r}; it has {sorted(self.data)}")
        return self.data[key]

    def __contains__(self, key: object) -> bool:
        return key in self.data

    def __len__(self) -> int:
        """The number of epochs recorded."""
        return max((len(v) for v in self.data.values()), default=0)

    def keys(self) -> list[str]:
        """The recorded quantities, in the order they were first logged."""
        return list(self.data)

    def append(self, logs: dict[str, float]) -> None:
        """Record one epoch; `logs` maps key -> number (keys missing from earlier epochs are refused)."""
        if self.data and set(logs) != set(self.data):
            raise ValueError(f"logs: expected the keys {sorted(self.data)}, got {sorted(logs)}")
        for key, value in logs.items():
            self.data.setdefault(key, []).append(float(value))

    def best(self, key: str, mode: str = "min") -> Best:
        """The epoch with the smallest (mode "min") or largest ("max") value of `key`; NaN never wins,
        the first epoch wins ties."""
        if mode not in _MODES:
            raise ValueError(f"mode: expected one of {_MODES}, got {mode!r}")
        values = [v for v in self[key] if not math.isnan(v)]
        if not values:
            raise ValueError(f"history[{key!r}] holds no number yet")
        target = min(values) if mode == "min" else max(values)
        return Best(self[key].index(target) + 1, target)

    def to_dict(self) -> dict[str, list[float]]:
        """A plain copy: {key: [float, ...]} (what checkpoints store)."""
        return {k: list(v) for k, v in self.data.items()}

    @classmethod
    def from_dict(cls, data: dict[str, list[float]]) -> History:
        """The inverse of `to_dict`."""
        return cls({str(k): [float(x) for x in v] for k, v in data.items()})


def plot_history(history: History | dict[str, list[float]], keys: list[str] | tuple[str, ...] | None = None,
                 size: float = 4.0) -> Figure:
    """Learning curves: one panel per quantity, the training and the validation curve in each.

    Args:
        history: what `fit` returned (or its `to_dict()`).
        keys: the panels. A name "q" draws "train_q" and "val_q" (those that exist); a full key
            such as "lr" or "train_loss" draws that series alone. Default: "loss" and then every
            metric that was recorded (e.g. ["loss", "accuracy"]).
        size: width of each panel, in inches.

    Returns:
        the matplotlib Figure; panel i is `fig.axes[i]`, its lines are labelled "train" and "val"
        (or the key). x: the epoch, from 1.

    Raises:
        TypeError: `history` is not a History or a dict.
        ValueError: a key that is not in the history (the message lists what is), or an empty history.

    Reference: Keras, "Visualize training history" (the loss and accuracy panels).
    """
    import matplotlib.pyplot as plt

    if isinstance(history, dict):
        history = History.from_dict(history)
    if not isinstance(history, History):
        raise TypeError(f"history: expected a History (what fit returns), got {type(history).__name__}")
    if len(history) == 0:
        raise ValueError("history: no epoch was recorded")
    if keys is None:
        names = [k[len("train_"):] for k in history.keys() if k.startswith("train_")]
        keys = ["loss"] + [n for n in names if n != "loss"]
    panels = []
    for key in keys:
        series = [(s, f"{s}_{key}") for s in ("train", "val") if f"{s}_{key}" in history]
        if not series and key in history:
            series = [(key, key)]
        if not series:
            raise ValueError(f"keys: {key!r} is not in the history; it has {history.keys()}")
        panels.append((key, series))
    fig, axes = plt.subplots(1, len(panels), figsize=(size * len(panels), size * 0.75), squeeze=False)
    for ax, (key, series) in zip(axes[0], panels, strict=True):
        for label, name in series:
            values = history[name]
            ax.plot(range(1, len(values) + 1), values, marker="o", markersize=3, label=label)
        ax.set_xlabel("epoch")
        ax.set_title(key)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return fig
