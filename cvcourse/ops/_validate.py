"""Input checks shared by the box and RoI operators: one place for the rules and their messages.

Conventions (documented once, used by every op):
- Boxes are `Tensor[N, 4]` in `xyxy` (x1, y1, x2, y2) unless an op takes `fmt`; x2 >= x1 and
  y2 >= y1 (zero width or height is allowed: a zero-area box, whose IoU with anything is 0).
- Integer boxes are accepted and cast to float32; bool tensors are refused.
- float16/bfloat16 inputs are computed in float32 (areas of 300x300-pixel boxes overflow float16)
  and the result is cast back to the input dtype.
- NaN or infinite coordinates or scores are refused: a `ValueError` naming the argument and row.
"""
from __future__ import annotations

import torch
from torch import Tensor

FORMATS = ("xyxy", "xywh", "cxcywh")
REDUCTIONS = ("none", "mean", "sum")


def _where(mask: Tensor) -> int:
    return int(mask.nonzero()[0, 0])


def check_boxes(boxes: object, name: str = "boxes", fmt: str = "xyxy") -> Tensor:
    """`boxes` as a floating-point `Tensor[N, 4]`, or a TypeError/ValueError that names `name`."""
    if not isinstance(boxes, Tensor):
        raise TypeError(f"{name}: expected a Tensor[N, 4], got {type(boxes).__name__}")
    if boxes.dtype == torch.bool or boxes.is_complex():
        raise TypeError(f"{name}: expected real coordinates, got dtype {boxes.dtype}")
    if boxes.dim() != 2 or boxes.shape[-1] != 4:
        raise ValueError(f"{name}: expected Tensor[N, 4] ({fmt}), got Tensor{list(boxes.shape)}")
    if not boxes.is_floating_point():
        boxes = boxes.float()
    if boxes.numel() and not torch.isfinite(boxes.sum()):  # fast path; an overflowing sum falls through
        bad = ~torch.isfinite(boxes).all(dim=1)
        if bad.any():
            i = _where(bad)
            raise ValueError(f"{name}: coordinates must be finite; row {i} is {boxes[i].tolist()}")
    if fmt == "xyxy":
        bad = (boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1])
        if bad.any():
            i = _where(bad)
            raise ValueError(f"{name}: expected x2 >= x1 and y2 >= y1 (xyxy); row {i} is {boxes[i].tolist()}")
    elif fmt in ("xywh", "cxcywh"):
        bad = (boxes[:, 2] < 0) | (boxes[:, 3] < 0)
        if bad.any():
            i = _where(bad)
            raise ValueError(f"{name}: expected w >= 0 and h >= 0 ({fmt}); row {i} is {boxes[i].tolist()}")
    else:
        check_format(fmt, "fmt")
    return boxes


def check_scores(scores: object, n: int, name: str = "scores") -> Tensor:
    """`scores` as a floating-point `Tensor[n]` of finite values."""
    if not isinstance(scores, Tensor):
        raise TypeError(f"{name}: expected a Tensor[N], got {type(scores).__name__}")
    if scores.dim() != 1 or scores.shape[0] != n:
        raise ValueError(f"{name}: expected Tensor[{n}] (one score per box), got Tensor{list(scores.shape)}")
    if scores.dtype == torch.bool:
        raise TypeError(f"{name}: expected real scores, got dtype {scores.dtype}")
    if not scores.is_floating_point():
        scores = scores.float()
    if scores.numel() and not torch.isfinite(scores.sum()):  # fast path, as in check_boxes
        bad = ~torch.isfinite(scores)
        if bad.any():
            i = _where(bad)
            raise ValueError(f"{name}: scores must be finite; element {i} is {scores[i].item()}")
    return scores


def check_threshold(value: object, name: str = "iou_threshold") -> float:
    """A float in [0, 1]."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        if isinstance(value, Tensor) and value.numel() == 1:
            value = value.item()
        else:
            raise TypeError(f"{name}: expected a number in [0, 1], got {type(value).__name__}")
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name}: expected a value in [0, 1], got {value}")
    return value


def check_format(fmt: object, name: str = "fmt") -> str:
    if fmt not in FORMATS:
        raise ValueError(f"{name}: unknown box format {fmt!r}; expected one of {', '.join(FORMATS)}")
    return fmt  # type: ignore[return-value]


def check_reduction(reduction: object) -> str:
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction: unknown reduction {reduction!r}; expected one of {', '.join(REDUCTIONS)}")
    return reduction  # type: ignore[return-value]


def upcast(t: Tensor) -> Tensor:
    """float16/bfloat16 -> float32 for the arithmetic; other dtypes unchanged."""
    return t.float() if t.dtype in (torch.float16, torch.bfloat16) else t
