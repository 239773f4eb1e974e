"""Box encodings: YOLO offsets and Faster R-CNN deltas, and their inverses."""
from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from cvcourse.ops._validate import upcast
from cvcourse.ops.boxes import box_convert

from ._validate import (
    _boxes,
    _broadcast,
    _common_dtype,
    _floats,
    _positive,
    _wh,
)

#: torchvision's `BoxCoder` clamp on the log-scale deltas: a box grows at most 1000/16 times.
_BBOX_XFORM_CLIP = math.log(1000.0 / 16)


# ----------------------------------------------------------------------------- box encodings
def _yolo_args(anchor_wh: Any, stride: Any, cell_xy: Any) -> tuple[Tensor, float, Tensor]:
    return _wh("anchor_wh", anchor_wh), _positive("stride", stride), _floats("cell_xy", cell_xy, 2)


def encode_yolo(boxes: Tensor, anchor_wh: Tensor, stride: float, cell_xy: Tensor, eps: float = 1e-6) -> Tensor:
    """Boxes as the YOLO regression targets t = (t_x, t_y, t_w, t_h): the inverse of `decode_yolo`.

    With the box centre (b_x, b_y) and size (b_w, b_h), the cell (c_x, c_y) and the anchor (p_w, p_h):

        t_x = logit(b_x / stride - c_x),   t_w = log(b_w / p_w)   (likewise y, h)

    The fraction b_x / stride - c_x must lie in the cell, [0, 1] (1e-4 of slack for rounding); it is
    clamped to [eps, 1 - eps] first, because a centre exactly on the cell's border would give an
    infinite logit. So decode(encode(b)) == b except for such centres, which move by up to
    eps * stride.

    Args:
        boxes: Tensor[..., 4] `xyxy` in pixels, positive width and height.
        anchor_wh: Tensor[..., 2], each box's anchor (p_w, p_h) in pixels (broadcastable).
        stride: pixels per cell (> 0).
        cell_xy: Tensor[..., 2], each box's cell (c_x, c_y) (broadcastable; ints or floats).
        eps: the clamp of the fraction, in (0, 0.5).

    Returns:
        Tensor[..., 4] (t_x, t_y, t_w, t_h), the broadcast shape, in the promoted floating dtype.

    Raises:
        ValueError: a box centre outside its cell, a zero-size box or anchor, shapes that do not
            broadcast.

    Reference: Redmon & Farhadi, YOLO9000, CVPR 2017, "Direct location prediction" (equations for
    b_x, b_w); YOLOv3 (arXiv:1804.02767), section 2.1.
    """
    b = _boxes("boxes", boxes, positive=True)
    wh, s, cell = _yolo_args(anchor_wh, stride, cell_xy)
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not 0 < eps < 0.5:
        raise ValueError(f"eps: expected a number in (0, 0.5), got {eps!r}")
    _broadcast(boxes=b, anchor_wh=wh, cell_xy=cell)
    dtype = _common_dtype(b, wh, *([cell] if cell_xy.is_floating_point() else []))   # integer cells do not promote
    b, wh, cell = (upcast(t.to(dtype)) for t in (b, wh, cell))
    centre, size = (b[..., :2] + b[..., 2:]) / 2, b[..., 2:] - b[..., :2]
    frac = centre / s - cell                                     # (..., 2), in [0, 1] inside the cell
    outside = (frac < -1e-4) | (frac > 1 + 1e-4)
    if outside.any():
        i = int(outside.reshape(-1, 2).any(1).nonzero()[0, 0])
        raise ValueError(f"cell_xy: a box centre lies outside its cell (element {i} of the broadcast "
                         f"boxes: centre / stride - cell = {frac.reshape(-1, 2)[i].tolist()}, expected "
                         f"values in [0, 1]); the cell of a centre is floor(centre / stride)")
    frac = frac.clamp(eps, 1 - eps)
    t = torch.cat([torch.logit(frac), torch.log(size / wh)], dim=-1)
    return t.to(dtype)


def decode_yolo(t: Tensor, anchor_wh: Tensor, stride: float, cell_xy: Tensor,
                clamp: float = _BBOX_XFORM_CLIP) -> Tensor:
    """YOLO's network outputs t = (t_x, t_y, t_w, t_h) as `xyxy` boxes in pixels.

        b_x = (sigmoid(t_x) + c_x) * stride,   b_w = p_w * exp(t_w)   (likewise y, h)

    The centre stays inside cell (c_x, c_y) whatever t_x is; t_w, t_h are clamped to at most
    `clamp` (as torchvision's `BoxCoder`: exp of a large output would overflow to inf).

    Args:
        t: Tensor[..., 4], e.g. the head's Tensor[H, W, A, 4].
        anchor_wh: Tensor[..., 2], the anchors (p_w, p_h) in pixels, broadcastable (e.g. Tensor[A, 2]).
        stride: pixels per cell (> 0).
        cell_xy: Tensor[..., 2] of (c_x, c_y), broadcastable (e.g. `cell_grid((H, W))[:, :, None]`).
        clamp: the largest t_w, t_h used (default log(1000 / 16)).

    Returns:
        Tensor[..., 4] `xyxy`, the broadcast shape, in the promoted floating dtype. Differentiable.

    Reference: Redmon & Farhadi, YOLO9000, CVPR 2017, figure 3; YOLOv3, arXiv:1804.02767.
    """
    t = _floats("t", t, 4)
    wh, s, cell = _yolo_args(anchor_wh, stride, cell_xy)
    clamp = _positive("clamp", clamp)
    _broadcast(t=t, anchor_wh=wh, cell_xy=cell)
    dtype = _common_dtype(t, wh, *([cell] if cell_xy.is_floating_point() else []))   # integer cells do not promote
    t, wh, cell = (upcast(v.to(dtype)) for v in (t, wh, cell))
    centre = (torch.sigmoid(t[..., :2]) + cell) * s              # (..., 2)
    size = wh * torch.exp(t[..., 2:].clamp(max=clamp))
    return torch.cat([centre - size / 2, centre + size / 2], dim=-1).to(dtype)


def _weights(weights: Any) -> tuple[float, float, float, float]:
    if not isinstance(weights, (tuple, list)) or len(weights) != 4:
        raise TypeError(f"weights: expected 4 numbers (wx, wy, ww, wh), got {weights!r}")
    return tuple(_positive("weights", w) for w in weights)  # type: ignore[return-value]


def encode_boxes(gt: Tensor, anchors: Tensor, weights: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)) -> Tensor:
    """Faster R-CNN's regression targets: each ground-truth box relative to its anchor.

        d_x = w_x (g_cx - a_cx) / a_w,   d_w = w_w log(g_w / a_w)   (likewise y, h)

    with centres and sizes from `xyxy` (w = x2 - x1, no +1), exactly as torchvision's
    `BoxCoder.encode_single`.

    Args:
        gt: Tensor[N, 4] `xyxy`, the matched ground truth of each anchor, positive width and height.
        anchors: Tensor[N, 4] `xyxy` (anchors or proposals), positive width and height.
        weights: (w_x, w_y, w_w, w_h) > 0; torchvision uses (1, 1, 1, 1) in the RPN and
            (10, 10, 5, 5) in the Fast R-CNN head.

    Returns:
        Tensor[N, 4] of deltas (d_x, d_y, d_w, d_h), in the promoted dtype. Differentiable.

    Raises:
        ValueError: different N, a box with zero width or height (its log would be -inf).

    Reference: Girshick et al., "Rich feature hierarchies ...", CVPR 2014, appendix C; Ren et al.,
    Faster R-CNN, NeurIPS 2015, equation 2; torchvision's `det_utils.BoxCoder`.
    """
    g, a = _boxes("gt", gt, positive=True), _boxes("anchors", anchors, positive=True)
    if g.dim() != 2 or a.dim() != 2 or len(g) != len(a):
        raise ValueError(f"gt, anchors: expected Tensor[N, 4] each (one ground truth per anchor), got "
                         f"{list(g.shape)} and {list(a.shape)}")
    wts = torch.tensor(_weights(weights), dtype=torch.float64)
    dtype = _common_dtype(g, a)
    g, a = (box_convert(upcast(v.to(dtype)), "xyxy", "cxcywh") for v in (g, a))   # (N, 4) each
    w = wts.to(g.dtype)
    d = torch.cat([w[:2] * (g[:, :2] - a[:, :2]) / a[:, 2:], w[2:] * torch.log(g[:, 2:] / a[:, 2:])], dim=1)
    return d.to(dtype)


def decode_boxes(deltas: Tensor, anchors: Tensor, weights: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0),
                 clamp: float = _BBOX_XFORM_CLIP) -> Tensor:
    """Apply Faster R-CNN deltas to anchors: the inverse of `encode_boxes`.

        cx = a_cx + a_w d_x / w_x,   w = a_w exp(min(d_w / w_w, clamp))   (likewise y, h)

    then x1 = cx - w/2, x2 = cx + w/2, as torchvision's `BoxCoder.decode_single` (the clamp keeps
    exp finite: a box grows at most 1000/16 = 62.5 times).

    Args:
        deltas: Tensor[N, 4] or Tensor[N, 4 * C] (one set of deltas per class, as a box head outputs).
        anchors: Tensor[N, 4] `xyxy` (anchors or proposals).
        weights: (w_x, w_y, w_w, w_h) > 0, those of `encode_boxes`.
        clamp: the largest d_w / w_w, d_h / w_h used.

    Returns:
        Tensor[N, 4] or Tensor[N, 4 * C] `xyxy`, in the promoted dtype. Differentiable.

    Raises:
        ValueError: non-finite deltas, a different N, a width that is not a multiple of 4.

    Reference: Ren et al., Faster R-CNN, NeurIPS 2015; torchvision's `det_utils.BoxCoder.decode_single`.
    """
    if not isinstance(deltas, Tensor):
        raise TypeError(f"deltas: expected a Tensor[N, 4], got {type(deltas).__name__}")
    if deltas.dim() != 2 or deltas.shape[1] == 0 or deltas.shape[1] % 4:
        raise ValueError(f"deltas: expected Tensor[N, 4] or Tensor[N, 4 * C], got Tensor{list(deltas.shape)}")
    d = _floats("deltas", deltas.reshape(len(deltas), deltas.shape[1] // 4, 4), 4)   # (N, C, 4)
    a = _boxes("anchors", anchors)
    if a.dim() != 2 or len(a) != len(d):
        raise ValueError(f"deltas, anchors: expected the same N, got {list(deltas.shape)} and {list(a.shape)}")
    wx, wy, ww, wh = _weights(weights)
    clamp = _positive("clamp", clamp)
    dtype = _common_dtype(d, a)
    d, a = upcast(d.to(dtype)), box_convert(upcast(a.to(dtype)), "xyxy", "cxcywh")[:, None]   # (N, C, 4), (N, 1, 4)
    scale = torch.tensor([wx, wy], dtype=d.dtype)
    log_scale = torch.tensor([ww, wh], dtype=d.dtype)
    centre = a[..., :2] + d[..., :2] / scale * a[..., 2:]
    size = a[..., 2:] * torch.exp((d[..., 2:] / log_scale).clamp(max=clamp))
    boxes = torch.cat([centre - size / 2, centre + size / 2], dim=-1)   # (N, C, 4)
    return boxes.reshape(deltas.shape).to(dtype)
