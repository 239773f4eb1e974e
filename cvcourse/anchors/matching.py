"""Ground-truth matching: YOLO centre-cell assignment and RPN IoU-threshold matching."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from cvcourse.ops._validate import check_boxes, check_threshold
from cvcourse.ops.iou import box_iou

from ._validate import (
    _boxes,
    _common_dtype,
    _positive,
    _size,
    _wh,
)
from .coding import encode_yolo
from .kmeans import wh_iou

#: `match_anchors` labels, as torchvision's `Matcher`: a negative anchor, an ignored anchor.
BELOW_LOW_THRESHOLD = -1
BETWEEN_THRESHOLDS = -2


# ----------------------------------------------------------------------------- matching
class YoloTargets(NamedTuple):
    """`assign_yolo`'s result for one image with an H x W grid and A anchors per cell.

    obj Tensor[H, W, A] bool (a ground truth is assigned here); gt_index Tensor[H, W, A] int64 (its
    index, -1 elsewhere); labels Tensor[H, W, A] int64 (its label, -1 elsewhere); boxes
    Tensor[H, W, A, 4] (its `xyxy` box, 0 elsewhere); t Tensor[H, W, A, 4] (its `encode_yolo`
    target, 0 elsewhere); lost, the number of ground truths that lost their slot to another.
    """

    obj: Tensor
    gt_index: Tensor
    labels: Tensor
    boxes: Tensor
    t: Tensor
    lost: int


def assign_yolo(gt_boxes: Tensor, gt_labels: Tensor, grid_size: int | tuple[int, int], stride: float,
                anchor_wh: Tensor) -> YoloTargets:
    """Assign each ground truth to one (cell, anchor) slot of a YOLO head (YOLOv2/v3's rule).

    A ground truth goes to the cell holding its centre, (floor(cx / stride), floor(cy / stride))
    (a centre on the image's right or bottom edge goes to the last cell), and to the anchor whose
    shape fits it best (highest `wh_iou`; the lowest index on ties). When several ground truths
    claim the same slot, the one with the higher shape IoU wins (the earlier one on ties); the others
    are lost (counted in `lost`): one slot predicts one box.

    Args:
        gt_boxes: Tensor[G, 4] `xyxy` in pixels, positive width and height, centres inside the image
            (0 <= cx <= W * stride, 0 <= cy <= H * stride).
        gt_labels: Tensor[G] int64, class indices >= 0.
        grid_size: H = W, or (H, W), the head's feature-map size.
        stride: pixels per cell (> 0).
        anchor_wh: Tensor[A, 2], the head's anchors (w, h) in pixels.

    Returns:
        YoloTargets(obj, gt_index, labels, boxes, t, lost); see `YoloTargets`. G = 0 gives an empty
        assignment (obj all False, lost 0).

    Raises:
        TypeError / ValueError: bad shapes or dtypes, a centre outside the grid, a zero-size box.

    Reference: Redmon & Farhadi, YOLO9000, CVPR 2017 and YOLOv3, arXiv:1804.02767 ("we only assign
    one bounding box prior for each ground truth object").
    """
    g = _boxes("gt_boxes", gt_boxes, positive=True)
    if g.dim() != 2:
        raise ValueError(f"gt_boxes: expected Tensor[G, 4] (xyxy), got Tensor{list(g.shape)}")
    if not isinstance(gt_labels, Tensor) or gt_labels.dtype in (torch.bool,) or gt_labels.is_floating_point() \
            or gt_labels.is_complex():
        raise TypeError(f"gt_labels: expected an integer Tensor[G], got "
                        f"{gt_labels.dtype if isinstance(gt_labels, Tensor) else type(gt_labels).__name__}")
    if gt_labels.shape != (len(g),):
        raise ValueError(f"gt_labels: expected Tensor[{len(g)}] (one label per box), got Tensor{list(gt_labels.shape)}")
    if (gt_labels < 0).any():
        raise ValueError(f"gt_labels: expected class indices >= 0, got {int(gt_labels.min())}")
    h, w = _size("grid_size", grid_size)
    if h == 0 or w == 0:
        raise ValueError(f"grid_size: expected a grid of at least 1 x 1, got ({h}, {w})")
    s = _positive("stride", stride)
    wh = _wh("anchor_wh", anchor_wh)
    if wh.dim() != 2:
        raise ValueError(f"anchor_wh: expected Tensor[A, 2] of (w, h), got Tensor{list(wh.shape)}")
    a_n = len(wh)
    dtype = _common_dtype(g, wh)
    obj = torch.zeros(h, w, a_n, dtype=torch.bool)
    gt_index = torch.full((h, w, a_n), -1, dtype=torch.int64)
    labels = torch.full((h, w, a_n), -1, dtype=torch.int64)
    boxes = torch.zeros(h, w, a_n, 4, dtype=dtype)
    t = torch.zeros(h, w, a_n, 4, dtype=dtype)
    if len(g) == 0:
        return YoloTargets(obj, gt_index, labels, boxes, t, 0)
    centre = (g[:, :2] + g[:, 2:]) / 2                           # (G, 2)
    limit = torch.tensor([w * s, h * s], dtype=centre.dtype)
    outside = ((centre < 0) | (centre > limit)).any(1)
    if outside.any():
        i = int(outside.nonzero()[0, 0])
        raise ValueError(f"gt_boxes: box {i} has its centre {centre[i].tolist()} outside the grid's "
                         f"{w * s:g} x {h * s:g} pixels")
    cell = torch.minimum((centre / s).floor().long(), torch.tensor([w - 1, h - 1]))   # (G, 2) as (x, y)
    iou = wh_iou(g[:, 2:] - g[:, :2], wh)                        # (G, A)
    best_iou, best = iou.max(1)                                  # first max on ties
    slot = (cell[:, 1] * w + cell[:, 0]) * a_n + best            # (G,) flat index into (H, W, A)
    # winner per slot: highest IoU, then lowest index (a stable sort keeps index order on ties)
    order = torch.sort(best_iou, descending=True, stable=True).indices
    first = torch.full((h * w * a_n,), len(g), dtype=torch.int64)
    first.scatter_reduce_(0, slot[order], torch.arange(len(g)), reduce="amin")
    win = order[first[slot[order]] == torch.arange(len(g))]      # GT indices that keep their slot
    flat = slot[win]
    obj.view(-1)[flat] = True
    gt_index.view(-1)[flat] = win
    labels.view(-1)[flat] = gt_labels[win].long()
    boxes.view(-1, 4)[flat] = g[win].to(dtype)
    t.view(-1, 4)[flat] = encode_yolo(g[win], wh[best[win]], s, cell[win]).to(dtype)
    return YoloTargets(obj, gt_index, labels, boxes, t, len(g) - len(win))


def match_anchors(anchors: Tensor, gt_boxes: Tensor, high: float = 0.7, low: float = 0.3,
                  allow_low_quality: bool = True) -> Tensor:
    """Label every anchor with its ground truth, or as negative / ignored (Faster R-CNN's RPN rule).

    With IoU(anchor, best ground truth) = v and that ground truth's index g (the lowest on ties):
    v >= high -> g; v < low -> -1 (`BELOW_LOW_THRESHOLD`, a negative); in between -> -2
    (`BETWEEN_THRESHOLDS`, ignored in the loss). With `allow_low_quality`, every ground truth also
    gets the anchors of its highest IoU (all of them on ties), even below `high`: each such anchor
    is set back to *its own* best ground truth g (torchvision's `set_low_quality_matches_`).
    Unlike torchvision, a ground truth that overlaps no anchor at all (best IoU 0) gets no
    low-quality match (torchvision would mark every anchor it does not touch), and G = 0 gives all
    -1 where torchvision raises.

    Args:
        anchors: Tensor[A, 4] `xyxy`.
        gt_boxes: Tensor[G, 4] `xyxy`.
        high: the IoU from which an anchor is positive, in [0, 1].
        low: the IoU below which it is negative, in [0, high].
        allow_low_quality: give each ground truth its best anchors (Faster R-CNN's second rule).

    Returns:
        Tensor[A] int64: the matched ground-truth index, -1 (negative) or -2 (ignored).

    Raises:
        TypeError / ValueError: bad boxes, thresholds outside [0, 1], or low > high.

    Reference: Ren et al., Faster R-CNN, NeurIPS 2015, section 3.1.2; torchvision's
    `det_utils.Matcher`.
    """
    a, g = check_boxes(anchors, "anchors"), check_boxes(gt_boxes, "gt_boxes")
    high, low = check_threshold(high, "high"), check_threshold(low, "low")
    if low > high:
        raise ValueError(f"low: expected low <= high, got low {low} > high {high}")
    if not isinstance(allow_low_quality, (bool, np.bool_)):
        raise TypeError(f"allow_low_quality: expected a bool, got {type(allow_low_quality).__name__}")
    if len(g) == 0 or len(a) == 0:
        return torch.full((len(a),), BELOW_LOW_THRESHOLD, dtype=torch.int64)
    quality = box_iou(g, a)                                      # (G, A)
    vals, matches = quality.max(dim=0)                           # (A,), first max on ties
    best_gt = matches.clone()
    matches[vals < low] = BELOW_LOW_THRESHOLD
    matches[(vals >= low) & (vals < high)] = BETWEEN_THRESHOLDS
    if allow_low_quality:
        best_per_gt = quality.max(dim=1, keepdim=True).values   # (G, 1)
        hit = ((quality == best_per_gt) & (best_per_gt > 0)).any(dim=0)   # (A,)
        matches[hit] = best_gt[hit]
    return matches
