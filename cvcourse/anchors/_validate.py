"""Argument checks shared by the anchor modules."""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor

from cvcourse._validate import check_int as _int
from cvcourse.ops._validate import check_boxes


# ----------------------------------------------------------------------------- validation
def _positive(name: str, value: Any) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name}: expected a positive number, got {type(value).__name__} {value!r}")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name}: expected a positive finite number, got {value}")
    return float(value)


def _pair(name: str, value: Any, kind: str) -> tuple[Any, Any]:
    """An int/number or a pair of them -> (first, second): (H, W) sizes or (y, x) strides."""
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return value[0], value[1]
    if isinstance(value, (tuple, list)):
        raise ValueError(f"{name}: expected {kind}, got {value!r}")
    return value, value


def _size(name: str, value: Any) -> tuple[int, int]:
    h, w = _pair(name, value, "an int or (H, W)")
    return _int(name, h, 0), _int(name, w, 0)


def _stride(value: Any) -> tuple[float, float]:
    sy, sx = _pair("stride", value, "a number or (stride_y, stride_x)")
    return _positive("stride", sy), _positive("stride", sx)


def _values(name: str, values: Any) -> Tensor:
    """A 1-D float64 tensor of positive finite values from a sequence or a tensor."""
    t = torch.as_tensor(values, dtype=torch.float64) if not isinstance(values, Tensor) else values.double()
    if t.dim() != 1 or t.numel() == 0:
        raise ValueError(f"{name}: expected a non-empty 1-D sequence of numbers, got shape {list(t.shape)}")
    bad = ~(torch.isfinite(t) & (t > 0))
    if bad.any():
        raise ValueError(f"{name}: expected positive finite values, got {t[bad][0].item()} "
                         f"at index {int(bad.nonzero()[0, 0])}")
    return t


def _wh(name: str, wh: Any) -> Tensor:
    """`wh` as a floating Tensor[..., 2] of positive finite widths and heights."""
    if not isinstance(wh, Tensor):
        raise TypeError(f"{name}: expected a Tensor[N, 2] of (w, h), got {type(wh).__name__}")
    if wh.dtype == torch.bool or wh.is_complex():
        raise TypeError(f"{name}: expected real widths and heights, got dtype {wh.dtype}")
    if wh.dim() < 1 or wh.shape[-1] != 2:
        raise ValueError(f"{name}: expected Tensor[N, 2] of (w, h), got Tensor{list(wh.shape)}")
    wh = wh if wh.is_floating_point() else wh.float()
    flat = wh.reshape(-1, 2)
    bad = ~(torch.isfinite(flat) & (flat > 0)).all(dim=1)
    if bad.any():
        i = int(bad.nonzero()[0, 0])
        raise ValueError(f"{name}: widths and heights must be positive and finite; row {i} is {flat[i].tolist()}")
    return wh


def _boxes(name: str, boxes: Any, positive: bool = False) -> Tensor:
    """A floating Tensor[..., 4] of valid `xyxy` boxes (checked row by row with `check_boxes`)."""
    if not isinstance(boxes, Tensor):
        raise TypeError(f"{name}: expected a Tensor[N, 4] (xyxy), got {type(boxes).__name__}")
    if boxes.dim() < 1 or boxes.shape[-1] != 4:
        raise ValueError(f"{name}: expected Tensor[N, 4] (xyxy), got Tensor{list(boxes.shape)}")
    flat = check_boxes(boxes.reshape(-1, 4), name)
    if positive:
        bad = (flat[:, 2] <= flat[:, 0]) | (flat[:, 3] <= flat[:, 1])
        if bad.any():
            i = int(bad.nonzero()[0, 0])
            raise ValueError(f"{name}: boxes need a positive width and height here (a log of the size is "
                             f"taken); row {i} is {flat[i].tolist()}")
    return flat.reshape(boxes.shape)


def _floats(name: str, t: Any, last: int) -> Tensor:
    """A finite floating Tensor[..., last] (deltas, offsets, cells)."""
    if not isinstance(t, Tensor):
        raise TypeError(f"{name}: expected a Tensor[..., {last}], got {type(t).__name__}")
    if t.dtype == torch.bool or t.is_complex():
        raise TypeError(f"{name}: expected real values, got dtype {t.dtype}")
    if t.dim() < 1 or t.shape[-1] != last:
        raise ValueError(f"{name}: expected Tensor[..., {last}], got Tensor{list(t.shape)}")
    t = t if t.is_floating_point() else t.float()
    if not torch.isfinite(t).all():
        raise ValueError(f"{name}: values must be finite")
    return t


def _broadcast(**tensors: Tensor) -> None:
    """A ValueError naming the arguments if their leading dimensions do not broadcast."""
    try:
        torch.broadcast_shapes(*(t.shape[:-1] for t in tensors.values()))
    except RuntimeError:
        shapes = ", ".join(f"{k} {list(t.shape)}" for k, t in tensors.items())
        raise ValueError(f"leading dimensions do not broadcast: {shapes}") from None


def _common_dtype(*tensors: Tensor) -> torch.dtype:
    dtype = tensors[0].dtype
    for t in tensors[1:]:
        dtype = torch.promote_types(dtype, t.dtype)
    return dtype
