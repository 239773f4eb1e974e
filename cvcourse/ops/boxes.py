"""Box geometry: format conversion, area, clipping to the image, and dropping boxes that are too small.

Boxes are `Tensor[N, 4]`, in `xyxy` (x1, y1, x2, y2) unless a function takes a format; the other
formats are `xywh` (top-left corner, width, height) and `cxcywh` (centre, width, height). Input
conventions (integer boxes -> float32, half types computed in float32, non-finite coordinates refused)
are those of `cvcourse.ops._validate`.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from ._validate import check_boxes, check_format, upcast

__all__ = ["box_area", "box_convert", "clip_boxes_to_image", "remove_small_boxes"]


def _check_number(value: object, name: str, expected: str = "a finite number >= 0") -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name}: expected {expected}, got {type(value).__name__}")
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{name}: expected {expected}, got {value}")
    return float(value)


def _to_xyxy(b: Tensor, fmt: str) -> Tensor:
    if fmt == "xyxy":
        return b
    p, wh = b[:, :2], b[:, 2:]                               # (N, 2) each
    lo = p if fmt == "xywh" else p - wh / 2                  # top-left corner
    return torch.cat([lo, lo + wh], dim=1)


def _from_xyxy(b: Tensor, fmt: str) -> Tensor:
    if fmt == "xyxy":
        return b
    lo, hi = b[:, :2], b[:, 2:]
    wh = hi - lo
    return torch.cat([lo if fmt == "xywh" else (lo + hi) / 2, wh], dim=1)


def box_convert(boxes: Tensor, in_fmt: str, out_fmt: str) -> Tensor:
    """Convert boxes between the `xyxy`, `xywh` and `cxcywh` formats.

    - `xyxy`: (x1, y1, x2, y2), the top-left and bottom-right corners (the format of every other op);
    - `xywh`: (x1, y1, w, h), the top-left corner, width and height (COCO's format);
    - `cxcywh`: (cx, cy, w, h), the centre, width and height (YOLO's and DETR's format).

    Args:
        boxes (Tensor[N, 4]): boxes in `in_fmt` (x2 >= x1, y2 >= y1, or w, h >= 0).
        in_fmt (str): the format of `boxes`: "xyxy", "xywh" or "cxcywh".
        out_fmt (str): the format to return: "xyxy", "xywh" or "cxcywh".

    Returns:
        Tensor[N, 4]: the same boxes in `out_fmt`, a new tensor in the input dtype (float32 for
        integer input).

    Reference: Lin et al., "Microsoft COCO: Common Objects in Context", ECCV 2014 (the `xywh`
    annotation format); Redmon et al., "You Only Look Once", CVPR 2016 (`cxcywh`).
    """
    check_format(in_fmt, "in_fmt")
    check_format(out_fmt, "out_fmt")
    b = check_boxes(boxes, "boxes", fmt=in_fmt)
    if in_fmt == out_fmt:
        return b.clone()
    return _from_xyxy(_to_xyxy(upcast(b), in_fmt), out_fmt).to(b.dtype)


def box_area(boxes: Tensor) -> Tensor:
    """Area ``(x2 - x1) * (y2 - y1)`` of each box.

    Args:
        boxes (Tensor[N, 4]): boxes in `xyxy` format (x2 >= x1, y2 >= y1).

    Returns:
        Tensor[N]: the areas (0 for a zero-width or zero-height box). The dtype is the input's, except
        float16/bfloat16 boxes give float32 areas (as in torchvision): a 300x300 box's area, 90000,
        does not fit in float16. Integer boxes give float32.

    Reference: torchvision.ops.box_area.
    """
    b = upcast(check_boxes(boxes, "boxes"))
    return (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])


def clip_boxes_to_image(boxes: Tensor, size: tuple[int, int]) -> Tensor:
    """Clip boxes to an image of `size` = (height, width): x into [0, width], y into [0, height].

    A box entirely outside the image becomes a zero-area box on its border (remove it with
    `remove_small_boxes`).

    Args:
        boxes (Tensor[N, 4]): boxes in `xyxy` format.
        size (tuple[int, int]): the image's (height, width), numbers >= 0.

    Returns:
        Tensor[N, 4]: the clipped boxes, a new tensor in the input dtype (float32 for integer input).

    Reference: Ren et al., "Faster R-CNN: Towards Real-Time Object Detection with Region Proposal
    Networks", NeurIPS 2015 (proposals are clipped to the image).
    """
    if not isinstance(size, (tuple, list)) or len(size) != 2:
        raise TypeError(f"size: expected (height, width), got {size!r}")
    height = _check_number(size[0], "size[0] (height)")
    width = _check_number(size[1], "size[1] (width)")
    b = check_boxes(boxes, "boxes")
    x = b[:, 0::2].clamp(0, width)                           # (N, 2): x1, x2
    y = b[:, 1::2].clamp(0, height)                          # (N, 2): y1, y2
    return torch.stack([x, y], dim=2).reshape(-1, 4)         # interleave back to x1, y1, x2, y2


def remove_small_boxes(boxes: Tensor, min_size: float) -> Tensor:
    """Indices of the boxes whose width and height are both >= `min_size`.

    Args:
        boxes (Tensor[N, 4]): boxes in `xyxy` format.
        min_size (float): the smallest side to keep, a finite number >= 0.

    Returns:
        Tensor[K]: int64 indices into `boxes` of the boxes kept, in increasing order.

    Reference: Ren et al., "Faster R-CNN", NeurIPS 2015 (small proposals are dropped).
    """
    min_size = _check_number(min_size, "min_size")
    b = upcast(check_boxes(boxes, "boxes"))
    keep = ((b[:, 2] - b[:, 0]) >= min_size) & ((b[:, 3] - b[:, 1]) >= min_size)
    return torch.nonzero(keep).flatten()
