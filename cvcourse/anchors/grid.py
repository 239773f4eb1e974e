"""Anchor shapes and anchor grids over feature maps (one or several strides)."""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from ._validate import (
    _positive,
    _size,
    _stride,
    _values,
    _wh,
)

LAYOUTS = ("yolo", "rcnn")


# ----------------------------------------------------------------------------- anchor grids
def anchor_shapes(scales: Sequence[float] | Tensor, ratios: Sequence[float] | Tensor,
                  dtype: torch.dtype = torch.float32) -> Tensor:
    """The (w, h) of every scale and aspect ratio: w = s / sqrt(r), h = s * sqrt(r).

    So each anchor's area is s^2 and its h / w is r (r = h / w, torchvision's convention; r > 1 is
    tall). The order is torchvision's: ratio-major, scales inner, i.e. row i * len(scales) + j is
    (ratios[i], scales[j]). Computed in float64, returned in `dtype`.

    Args:
        scales: the anchor sizes s in pixels (the side of the square anchor of the same area), > 0.
        ratios: the aspect ratios r = h / w, > 0.
        dtype: a floating dtype for the result.

    Returns:
        Tensor[A, 2] of (w, h), A = len(ratios) * len(scales).

    Raises:
        ValueError: an empty sequence, or a value that is not positive and finite.

    Reference: Ren et al., Faster R-CNN, NeurIPS 2015 (3 scales x 3 ratios = 9 anchors);
    torchvision's `AnchorGenerator.generate_anchors`.
    """
    s, r = _values("scales", scales), _values("ratios", ratios)
    sqrt_r = r.sqrt()[:, None]                                   # (R, 1)
    wh = torch.stack([s[None, :] / sqrt_r, s[None, :] * sqrt_r], dim=-1)   # (R, S, 2)
    return wh.reshape(-1, 2).to(dtype)


def cell_grid(feature_size: int | tuple[int, int], dtype: torch.dtype = torch.float32) -> Tensor:
    """The (x, y) index of every cell of an H x W feature map: `grid[y, x] == (x, y)`.

    Args:
        feature_size: H = W, or (H, W).
        dtype: the result's dtype.

    Returns:
        Tensor[H, W, 2], x first (the order of `decode_yolo`'s `cell_xy`). Use
        `cell_grid(...)[:, :, None]` to broadcast over the A anchors of a `Tensor[H, W, A, 4]`.

    Reference: the grid offsets c_x, c_y of Redmon & Farhadi, YOLO9000, CVPR 2017.
    """
    h, w = _size("feature_size", feature_size)
    ys, xs = torch.meshgrid(torch.arange(h, dtype=dtype), torch.arange(w, dtype=dtype), indexing="ij")
    return torch.stack([xs, ys], dim=-1)                         # (H, W, 2)


def grid_anchors(feature_size: int | tuple[int, int], stride: float | tuple[float, float], anchor_wh: Tensor,
                 layout: str = "yolo", offset: float = 0.5) -> Tensor:
    """Every anchor shape at every cell of a feature map, as `xyxy` boxes in image pixels.

    The anchors of cell (x, y) are centred at ((x + offset) * stride_x, (y + offset) * stride_y).
    The default `offset=0.5` is the cell's centre (see the module docstring); `offset=0.0` is
    torchvision's `AnchorGenerator`.

    Args:
        feature_size: the feature map's H = W, or (H, W) (0 gives no anchors).
        stride: pixels per cell, a number or (stride_y, stride_x).
        anchor_wh: Tensor[A, 2], the anchor shapes (w, h) in pixels (e.g. from `anchor_shapes`).
        layout: "yolo" -> Tensor[H, W, A, 4]; "rcnn" -> Tensor[H * W * A, 4] in torchvision's order
            (positions row by row, anchors inner; the "yolo" tensor flattened).
        offset: where in its cell an anchor is centred, in cells (0.5: the centre).

    Returns:
        Tensor[H, W, A, 4] or Tensor[H * W * A, 4], `xyxy`, in `anchor_wh`'s dtype.

    Raises:
        TypeError / ValueError: bad sizes, strides, shapes or layout.

    Reference: Ren et al., Faster R-CNN, NeurIPS 2015; torchvision's `AnchorGenerator.grid_anchors`.
    """
    h, w = _size("feature_size", feature_size)
    sy, sx = _stride(stride)
    wh = _wh("anchor_wh", anchor_wh)
    if wh.dim() != 2:
        raise ValueError(f"anchor_wh: expected Tensor[A, 2] of (w, h), got Tensor{list(wh.shape)}")
    if layout not in LAYOUTS:
        raise ValueError(f"layout: unknown layout {layout!r}; expected one of {', '.join(LAYOUTS)}")
    if isinstance(offset, bool) or not isinstance(offset, (int, float)) or not math.isfinite(offset):
        raise TypeError(f"offset: expected a finite number (0.5: cell centres), got {offset!r}")
    cells = cell_grid((h, w), dtype=torch.float64)               # (H, W, 2)
    centres = (cells + offset) * torch.tensor([sx, sy], dtype=torch.float64)
    half = wh.double() / 2                                       # (A, 2)
    c = centres[:, :, None, :]                                   # (H, W, 1, 2)
    anchors = torch.cat([c - half, c + half], dim=-1).to(wh.dtype)   # (H, W, A, 4)
    return anchors if layout == "yolo" else anchors.reshape(-1, 4)


def multi_scale_anchors(image_size: int | tuple[int, int], strides: Sequence[float],
                        anchor_wh_per_level: Sequence[Tensor], offset: float = 0.5) -> Tensor:
    """The anchors of several feature-map levels (an FPN or YOLOv3's three heads), concatenated.

    Level l has a feature map of ceil(H / stride_l) x ceil(W / stride_l) cells (what a stride-s
    network with "same" padding produces) and the shapes `anchor_wh_per_level[l]`; its anchors come
    in the "rcnn" layout of `grid_anchors`, levels in the order given.

    Args:
        image_size: H = W, or (H, W), in pixels.
        strides: one stride per level (a number; square cells).
        anchor_wh_per_level: one Tensor[A_l, 2] of (w, h) per level.
        offset: as in `grid_anchors` (0.5: cell centres).

    Returns:
        Tensor[sum_l H_l * W_l * A_l, 4], `xyxy`.

    Raises:
        ValueError: `strides` and `anchor_wh_per_level` differ in length, or are empty.

    Reference: T.-Y. Lin et al., "Feature Pyramid Networks for Object Detection", CVPR 2017;
    torchvision's `AnchorGenerator` with one size tuple per level.
    """
    h, w = _size("image_size", image_size)
    if isinstance(strides, (int, float)) or len(strides) != len(anchor_wh_per_level) or len(strides) == 0:
        raise ValueError(f"strides: expected one stride per level of anchor_wh_per_level "
                         f"({len(anchor_wh_per_level)} levels), got {strides!r}")
    levels = []
    for stride, wh in zip(strides, anchor_wh_per_level, strict=True):
        s = _positive("strides", stride)
        levels.append(grid_anchors((math.ceil(h / s), math.ceil(w / s)), s, wh, layout="rcnn", offset=offset))
    return torch.cat(levels)
