"""YOLOv1: the S x S x (5B + C) target tensor, its decoding, and the sum-squared loss (chapter 12).

YOLOv1 divides the image into an S x S grid. Each cell predicts B boxes, each as (x, y, w, h,
confidence), and one set of C class probabilities, so one image's output is `Tensor[S, S, 5B + C]`
(7 x 7 x 30 for PASCAL VOC: S = 7, B = 2, C = 20). Layout of the last axis, shared by predictions
and targets:

    [x, y, w, h, conf] * B, then p(class 0), ..., p(class C - 1)

- `grid[row, col]`: row = floor(cy / H * S) counts cells from the top, col = floor(cx / W * S) from
  the left, for a box centre (cx, cy) in an H x W image. A centre on the right or bottom edge of the
  image belongs to the last cell.
- x, y: the centre's offset inside its cell, in [0, 1] (1 only for a centre on the right/bottom
  edge of the image); w, h: the box's size relative to the image, in [0, 1].
- A target uses the first group only: (x, y, w, h, 1); its other B - 1 groups are 0, and the class
  scores are one-hot. Cells without an object are all 0.

Boxes given to and returned by this module are `xyxy` in pixels with an explicit `image_size`
(H, W), the course's (torchvision's) convention; `image_size=(1, 1)` makes them image-relative.

One object per cell: a cell predicts one set of class probabilities, so it can hold one target.
When several object centres fall in the same cell, the first in input order keeps it and the others
are dropped (`encode_v1_targets(..., return_dropped=True)` says which). Input order is a rule the
caller controls (sort the boxes by area, or by difficulty, before encoding to choose another
priority); Darknet, the paper's code, shuffles the boxes and lets the last one written win, which is
a random choice.

Reference: J. Redmon, S. Divvala, R. Girshick and A. Farhadi, "You Only Look Once: Unified,
Real-Time Object Detection", CVPR 2016 (section 2, equation 3); Darknet's `detection_layer.c`.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor

from cvcourse._validate import check_int
from cvcourse.ops._validate import check_boxes, check_threshold, upcast
from cvcourse.ops.boxes import box_convert

__all__ = ["decode_v1", "encode_v1_targets", "yolo_v1_loss"]

# ----------------------------------------------------------------------------- validation
def _sbc(S: Any, B: Any, C: Any) -> tuple[int, int, int]:
    return check_int("S", S, 1), check_int("B", B, 1), check_int("C", C, 1)


def _image_size(value: Any) -> tuple[int, int]:
    """An int (square) or (H, W) of positive ints."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"image_size: expected (H, W), got {value!r}")
        return check_int("image_size (H)", value[0], 1), check_int("image_size (W)", value[1], 1)
    size = check_int("image_size", value, 1)
    return size, size


def _number(name: str, value: Any, positive: bool = False) -> float:
    """A finite float >= 0 (> 0 with `positive`)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name}: expected a number, got {type(value).__name__} {value!r}")
    if not (math.isfinite(value) and (value > 0 if positive else value >= 0)):
        raise ValueError(f"{name}: expected a finite number {'> 0' if positive else '>= 0'}, got {value}")
    return float(value)


def _grid(name: str, t: Any, S: int, B: int, C: int, batched: bool) -> Tensor:
    """A finite floating Tensor[N, S, S, 5B + C] (`batched`) or Tensor[S, S, 5B + C]."""
    shape = ("N, " if batched else "") + f"{S}, {S}, {5 * B + C}"
    if not isinstance(t, Tensor):
        raise TypeError(f"{name}: expected a Tensor[{shape}], got {type(t).__name__}")
    if not t.is_floating_point():
        raise TypeError(f"{name}: expected a floating-point tensor, got dtype {t.dtype}")
    if t.dim() != 3 + batched or tuple(t.shape[-3:]) != (S, S, 5 * B + C):
        raise ValueError(f"{name}: expected Tensor[{shape}] (S={S}, B={B}, C={C}: 5B + C = {5 * B + C}), "
                         f"got Tensor{list(t.shape)}")
    if t.numel() and not torch.isfinite(t).all():
        raise ValueError(f"{name}: values must be finite")
    return t


def _labels(labels: Any, k: int, C: int) -> Tensor:
    """An int64 Tensor[k] of class indices in [0, C)."""
    if not isinstance(labels, Tensor) or labels.dtype == torch.bool or labels.is_floating_point() \
            or labels.is_complex():
        got = labels.dtype if isinstance(labels, Tensor) else type(labels).__name__
        raise TypeError(f"labels: expected an integer Tensor[K] of class indices, got {got}")
    if labels.shape != (k,):
        raise ValueError(f"labels: expected Tensor[{k}] (one label per box), got Tensor{list(labels.shape)}")
    bad = (labels < 0) | (labels >= C)
    if bad.any():
        i = int(bad.nonzero()[0, 0])
        raise ValueError(f"labels: expected class indices in [0, C) = [0, {C}), got {int(labels[i])} at index {i}")
    return labels.long()


def _inside(boxes: Tensor, h: int, w: int) -> None:
    bad = (boxes[:, 0] < 0) | (boxes[:, 1] < 0) | (boxes[:, 2] > w) | (boxes[:, 3] > h)
    if bad.any():
        i = int(bad.nonzero()[0, 0])
        raise ValueError(f"boxes: expected boxes inside the image (0 <= x1 <= x2 <= W = {w}, 0 <= y1 <= y2 "
                         f"<= H = {h}, from image_size); row {i} is {boxes[i].tolist()}")


def _target(target: Tensor) -> Tensor:
    """The object mask Tensor[N, S, S] of a validated target; refuses values `encode_v1_targets` cannot give."""
    conf = target[..., 4]
    if not ((conf == 0) | (conf == 1)).all():
        raise ValueError("target: expected a confidence (index 4 of the last axis) of 0 or 1 in every cell, "
                         f"got {conf[(conf != 0) & (conf != 1)][0].item()}")
    obj = conf == 1
    box = target[..., :4][obj]                                   # (objects, 4)
    bad = (box < 0) | (box > 1)
    if bad.any():
        raise ValueError(f"target: expected x, y, w, h in [0, 1] in cells with an object, got "
                         f"{box[bad.any(1)][0].tolist()}")
    return obj


# ----------------------------------------------------------------------------- targets
def encode_v1_targets(boxes: Tensor, labels: Tensor, S: int = 7, B: int = 2, C: int = 20, *,
                      image_size: int | tuple[int, int],
                      return_dropped: bool = False) -> Tensor | tuple[Tensor, Tensor]:
    """One image's ground truth as YOLOv1's target tensor.

    The cell holding a box's centre is responsible for it. Its first group gets (x, y, w, h, 1):
    x, y the centre's offset in the cell, w, h the size relative to the image; the class scores
    get a one-hot vector. The other groups and cells stay 0. When several centres fall in the same
    cell, the first box in input order keeps the cell and the others are dropped (see the module
    docstring for why).

    Args:
        boxes: Tensor[K, 4] `xyxy` in pixels, inside the image (0 <= x1 <= x2 <= W,
            0 <= y1 <= y2 <= H; zero width or height is allowed). K = 0 gives an all-zero target.
        labels: Tensor[K] integer class indices in [0, C).
        S: grid size (S x S cells).
        B: boxes predicted per cell.
        C: number of classes.
        image_size: (H, W) in pixels, or an int for a square image. (1, 1) reads `boxes` as
            image-relative coordinates in [0, 1].
        return_dropped: also return the indices of the boxes that lost their cell to an earlier one.

    Returns:
        Tensor[S, S, 5B + C] in the boxes' floating dtype (float32 for integer boxes), on their
        device; with `return_dropped=True`, (target, dropped) with dropped an int64 Tensor[D] of
        indices into `boxes`, ascending (D = 0: no box was dropped).

    Raises:
        TypeError / ValueError: bad shapes or dtypes, labels outside [0, C), boxes outside the image.

    Reference: Redmon et al., "You Only Look Once", CVPR 2016, section 2 ("If the center of an
    object falls into a grid cell, that grid cell is responsible for detecting that object").
    """
    S, B, C = _sbc(S, B, C)
    h, w = _image_size(image_size)
    if not isinstance(return_dropped, bool):
        raise TypeError(f"return_dropped: expected a bool, got {type(return_dropped).__name__}")
    b = check_boxes(boxes, "boxes")
    labels = _labels(labels, b.shape[0], C)
    _inside(b, h, w)
    dtype = b.dtype
    cx, cy, bw, bh = upcast(box_convert(b, "xyxy", "cxcywh")).unbind(1)  # (K,) each, pixels
    u, v = cx / w * S, cy / h * S                                # centres in cell units, in [0, S]
    col, row = u.floor().long().clamp(max=S - 1), v.floor().long().clamp(max=S - 1)  # edge: last cell
    cell = row * S + col                                         # (K,)
    order = torch.arange(len(cell), device=b.device)
    first = torch.full((S * S,), len(cell), device=b.device).scatter_reduce(0, cell, order, reduce="amin")
    keep = first[cell] == order                                  # (K,) the first box of its cell
    target = torch.zeros(S, S, 5 * B + C, dtype=u.dtype, device=b.device)
    r, c = row[keep], col[keep]
    target[r, c, :5] = torch.stack([u - col, v - row, bw / w, bh / h, torch.ones_like(u)], dim=1)[keep]
    target[r, c, 5 * B + labels[keep]] = 1
    target = target.to(dtype)
    return (target, (~keep).nonzero().flatten()) if return_dropped else target


def decode_v1(grid: Tensor, S: int = 7, B: int = 2, C: int = 20, *, image_size: int | tuple[int, int],
              conf_threshold: float = 0.2) -> dict[str, Tensor]:
    """One image's YOLOv1 output (or target) as detections: `xyxy` boxes in pixels, scores, labels.

    Each of the S * S * B predictors gives one box, labelled with its cell's most probable class;
    its score is the paper's class-specific confidence for that class, conf * p(class) (so a
    target's boxes score 1). Boxes scoring more than `conf_threshold` are kept. Predicted widths
    and heights below 0 are taken as 0, and boxes are clipped to the image. No NMS: apply
    `cvcourse.ops.batched_nms` to the result (the paper does). The inverse of `encode_v1_targets`:
    decoding a target gives back its boxes (those kept), in cell order.

    Args:
        grid: Tensor[S, S, 5B + C], the layout of the module docstring (a network's output, linear
            activations as in the paper, or a target).
        S: grid size (S x S cells).
        B: boxes predicted per cell.
        C: number of classes.
        image_size: (H, W) in pixels, or an int for a square image.
        conf_threshold: keep the boxes with a score > this, in [0, 1] (0.2: Darknet's YOLOv1 demo).

    Returns:
        A dict, as torchvision's detection models (and `cvcourse.metrics`) use: "boxes"
        Tensor[D, 4] `xyxy` in pixels, "scores" Tensor[D], "labels" Tensor[D] int64; ordered by cell
        (row-major), then predictor. Not differentiable through the labels.

    Reference: Redmon et al., "You Only Look Once", CVPR 2016, section 2 (class-specific confidence
    scores, Pr(Class_i | Object) * Pr(Object) * IOU) and section 2.4 (inference).
    """
    S, B, C = _sbc(S, B, C)
    h, w = _image_size(image_size)
    threshold = check_threshold(conf_threshold, "conf_threshold")
    g = _grid("grid", grid, S, B, C, batched=False)
    dtype, g = g.dtype, upcast(g)
    boxes = g[..., :5 * B].reshape(S, S, B, 5)                   # (S, S, B, 5)
    prob, label = g[..., 5 * B:].max(dim=-1)                     # (S, S)
    scores = boxes[..., 4] * prob[..., None]                     # (S, S, B)
    rows, cols = torch.meshgrid(torch.arange(S, device=g.device), torch.arange(S, device=g.device), indexing="ij")
    cx = (cols[..., None] + boxes[..., 0]) / S * w               # (S, S, B) pixels
    cy = (rows[..., None] + boxes[..., 1]) / S * h
    bw, bh = boxes[..., 2].clamp(min=0) * w, boxes[..., 3].clamp(min=0) * h
    xyxy = torch.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], dim=-1)  # (S, S, B, 4)
    xyxy = torch.minimum(xyxy.clamp(min=0), xyxy.new_tensor([w, h, w, h]))
    keep = scores > threshold                                    # (S, S, B)
    return {"boxes": xyxy[keep].to(dtype), "scores": scores[keep].to(dtype),
            "labels": label[..., None].expand(S, S, B)[keep]}


# ----------------------------------------------------------------------------- loss
def _signed_sqrt(w: Tensor, eps: float) -> Tensor:
    """sign(w) * (sqrt(|w| + eps) - sqrt(eps)), written as w / (sqrt(|w| + eps) + sqrt(eps)).

    The same value, but autograd differentiates this form correctly at w = 0 too (slope
    1 / (2 sqrt(eps))): continuous, odd, increasing, finite slope everywhere. For w, w' > 0 the
    difference f(w) - f(w') = sqrt(w + eps) - sqrt(w' + eps) is the paper's sqrt(w) - sqrt(w')
    to within eps / (2 sqrt(min(w, w'))).
    """
    return w / (torch.sqrt(w.abs() + eps) + math.sqrt(eps))


def _cell_xyxy(box: Tensor, S: int) -> Tensor:
    """(N, S, S, B, 4) boxes (x, y, w, h) in cell offsets as image-relative `xyxy`; w, h < 0 as 0."""
    ij = torch.arange(S, device=box.device, dtype=box.dtype)
    cx = (ij.view(1, S, 1) + box[..., 0]) / S                   # columns count along x
    cy = (ij.view(S, 1, 1) + box[..., 1]) / S                   # rows along y
    bw, bh = box[..., 2].clamp(min=0), box[..., 3].clamp(min=0)
    return torch.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], dim=-1)


def _iou(a: Tensor, b: Tensor) -> Tensor:
    """Element-wise IoU of broadcastable (..., 4) `xyxy` boxes; 0 for a zero union."""
    iw = (torch.minimum(a[..., 2], b[..., 2]) - torch.maximum(a[..., 0], b[..., 0])).clamp(min=0)
    ih = (torch.minimum(a[..., 3], b[..., 3]) - torch.maximum(a[..., 1], b[..., 1])).clamp(min=0)
    inter = iw * ih
    union = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1]) + (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1]) - inter
    return inter / union.masked_fill(union == 0, 1.0)


def yolo_v1_loss(pred: Tensor, target: Tensor, S: int = 7, B: int = 2, C: int = 20,
                 lambda_coord: float = 5.0, lambda_noobj: float = 0.5, eps: float = 1e-6) -> dict[str, Tensor]:
    """YOLOv1's sum-squared loss (the paper's equation 3), summed over a batch and divided by N.

    Per image, with 1_i^obj for a cell holding an object and 1_ij^obj for predictor j of that cell
    being "responsible" (the one of the B with the highest IoU with the ground truth; ties: the
    lowest index):

        coord = lambda_coord * sum_ij 1_ij^obj [(x - x^)^2 + (y - y^)^2
                                                + (sqrt w - sqrt w^)^2 + (sqrt h - sqrt h^)^2]
        obj   = sum_ij 1_ij^obj (conf - IoU)^2
        noobj = lambda_noobj * sum_ij 1_ij^noobj conf^2
        class = sum_i 1_i^obj sum_c (p(c) - p^(c))^2

    Choices where the paper leaves room:
    - Confidence target: the responsible predictor's IoU with the ground truth (the paper defines
      confidence as Pr(Object) * IOU), computed on image-relative `xyxy` boxes from the cell index
      (widths < 0 as 0), detached: it is a target, not a path for gradients. When all B IoUs are 0
      predictor 0 is responsible (Darknet picks the one with the lowest RMSE then).
    - 1_ij^noobj = not 1_ij^obj: the paper penalises "confidence predictions for boxes that don't
      contain objects"; like Darknet, every predictor that is not responsible counts, including
      the B - 1 others in a cell with an object (target 0).
    - sqrt: predictions can be 0 or negative, so sqrt w is computed as the odd, continuous
      f(w) = sign(w) * (sqrt(|w| + eps) - sqrt(eps)) on both prediction and target: finite
      gradients everywhere (at most 1 / (2 sqrt(eps))), never NaN, and for positive widths
      f(w) - f(w^) equals sqrt(w) - sqrt(w^) up to ~eps / sqrt(w).
    - Normalisation: the sum over the batch divided by N (the loss per image); N = 0 gives 0.

    Args:
        pred: Tensor[N, S, S, 5B + C] floating, the network's output in the module's layout
            (x, y cell offsets, w, h relative to the image, as the target; linear activations).
        target: Tensor[N, S, S, 5B + C] floating, e.g. `torch.stack` of `encode_v1_targets`
            results: a cell holds an object when its index 4 is 1 (0 elsewhere), with x, y, w, h in
            [0, 1] there.
        S: grid size (S x S cells).
        B: boxes predicted per cell.
        C: number of classes.
        lambda_coord: weight of the coordinate terms (>= 0; the paper's 5).
        lambda_noobj: weight of the confidence of predictors without an object (>= 0; 0.5).
        eps: the sqrt's smoothing (> 0).

    Returns:
        A dict of 0-dim tensors in `pred`'s dtype: "loss" (the total, differentiable) and its four
        already-weighted terms "coord", "obj", "noobj", "class", which sum to "loss". To let
        `cvcourse.train.fit` sum the terms itself (`loss_fn=None`), leave "loss" out.

    Raises:
        TypeError / ValueError: bad shapes or dtypes, non-finite values, a target confidence other
            than 0 or 1, target boxes outside [0, 1], bad S, B, C, lambdas or eps.

    Reference: Redmon et al., "You Only Look Once", CVPR 2016, section 2.2, equation 3; Darknet's
    `forward_detection_layer` (detection_layer.c).
    """
    S, B, C = _sbc(S, B, C)
    lambda_coord, lambda_noobj = _number("lambda_coord", lambda_coord), _number("lambda_noobj", lambda_noobj)
    eps = _number("eps", eps, positive=True)
    p = _grid("pred", pred, S, B, C, batched=True)
    t = _grid("target", target, S, B, C, batched=True)
    if t.shape[0] != p.shape[0]:
        raise ValueError(f"pred, target: expected the same batch size, got {p.shape[0]} and {t.shape[0]}")
    obj = _target(t)                                             # (N, S, S) bool
    n, dtype = p.shape[0], p.dtype
    p, t = upcast(p), upcast(t.to(p.dtype))
    boxes = p[..., :5 * B].unflatten(-1, (B, 5))                 # (N, S, S, B, 5)
    gt = t[..., None, :4]                                        # (N, S, S, 1, 4)
    with torch.no_grad():
        iou = _iou(_cell_xyxy(boxes[..., :4], S), _cell_xyxy(gt, S))      # (N, S, S, B)
        best = iou.argmax(dim=-1, keepdim=True)                  # (N, S, S, 1); ties: the first
        resp = torch.zeros_like(iou, dtype=torch.bool).scatter_(-1, best, True) & obj[..., None]  # (N, S, S, B)
    r = resp.to(p.dtype)
    sq = _signed_sqrt(boxes[..., 2:4], eps) - _signed_sqrt(gt[..., 2:4], eps)       # (N, S, S, B, 2)
    coord_err = (boxes[..., :2] - gt[..., :2]).square().sum(-1) + sq.square().sum(-1)  # (N, S, S, B)
    conf = boxes[..., 4]                                         # (N, S, S, B)
    terms = {
        "coord": lambda_coord * (r * coord_err).sum(),
        "obj": (r * (conf - iou).square()).sum(),
        "noobj": lambda_noobj * ((1 - r) * conf.square()).sum(),
        "class": (obj[..., None] * (p[..., 5 * B:] - t[..., 5 * B:]).square()).sum(),
    }
    terms = {k: (v / max(n, 1)).to(dtype) for k, v in terms.items()}
    return {"loss": sum(terms.values()), **terms}
