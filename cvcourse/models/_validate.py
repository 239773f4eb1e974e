"""Argument checks and the weight initialisation shared by the model files of `cvcourse.models`."""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from torch import nn

from cvcourse._validate import check_int as _int  # noqa: F401  (re-exported for the model files)


def _choice(name: str, value: Any, choices: Sequence[str]) -> str:
    """`value` if it is one of `choices`; else TypeError (not a str) or ValueError naming them."""
    expected = ", ".join(map(repr, choices))
    if not isinstance(value, str):
        raise TypeError(f"{name}: expected one of {expected}, got {type(value).__name__} {value!r}")
    if value not in choices:
        raise ValueError(f"{name}: expected one of {expected}, got {value!r}")
    return value


def _positive_float(name: str, value: Any) -> float:
    """`value` as a finite float > 0; TypeError for non-numbers (bools included), else ValueError."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name}: expected a positive float, got {type(value).__name__} {value!r}")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name}: expected a finite float > 0, got {value}")
    return float(value)


def _fraction(name: str, value: Any) -> float:
    """`value` as a float in [0, 1) (a dropout probability, a loss weight); TypeError or ValueError."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name}: expected a float in [0, 1), got {type(value).__name__} {value!r}")
    if not 0 <= value < 1:
        raise ValueError(f"{name}: expected a float in [0, 1), got {value}")
    return float(value)


def _bool(name: str, value: Any) -> bool:
    """`value` if it is a bool, else TypeError."""
    if not isinstance(value, bool):
        raise TypeError(f"{name}: expected a bool, got {type(value).__name__} {value!r}")
    return value


def _scaled(channels: int, width: float) -> int:
    """round(channels * width), at least 1: a width multiplier applied to one channel count."""
    return max(1, int(round(channels * width)))


def _init_weights(model: nn.Module) -> None:
    """In place: Kaiming-normal convolutions (fan_in, ReLU gain; He et al., ICCV 2015), zero conv
    biases, BatchNorm gamma 1 and beta 0; linear layers keep PyTorch's default initialisation."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
