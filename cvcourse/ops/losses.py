"""Bounding-box regression losses built on the IoU family: ``1 - GIoU``, ``1 - DIoU`` and ``1 - CIoU``.

Each loss compares `boxes1[i]` with `boxes2[i]` (two `Tensor[N, 4]` in `xyxy`, element-wise, not
pairwise), is symmetric in its two arguments, lies in [0, 2] (CIoU: [0, 2.5]) and is differentiable.
The formulas are those of `cvcourse.ops.iou` (same conventions for degenerate boxes: never NaN).

Choices, documented once:
- `eps` is added only to the penalties' denominators (the enclosing area for GIoU, the squared
  enclosing diagonal for DIoU/CIoU, alpha's denominator for CIoU); the IoU term itself is exact
  (0/0 -> 0). torchvision also adds it to the union, so values differ from torchvision's by ~eps.
- ``reduction="mean"`` of an empty input returns 0.0 (like ``"sum"``), not NaN: a batch without boxes
  contributes no loss, and its gradient is 0.
- Half-precision boxes are computed in float32 and the loss is returned in the input dtype.
"""
from __future__ import annotations

import torch
from torch import Tensor

from ._validate import check_reduction
from .iou import _check_eps, _ciou, _Coords, _giou, _iou_diou, _prepare

__all__ = ["complete_box_iou_loss", "distance_box_iou_loss", "generalized_box_iou_loss"]


def _pair(boxes1: object, boxes2: object, reduction: object,
          eps: object) -> tuple[_Coords, _Coords, float, torch.dtype]:
    """Validated (x1, y1, x2, y2) columns of both sets (`Tensor[N]` each), eps and the dtype to return."""
    check_reduction(reduction)
    eps = _check_eps(eps)
    b1, b2, dtype = _prepare(boxes1, boxes2)
    if b1.shape[0] != b2.shape[0]:
        raise ValueError(f"boxes1, boxes2: expected the same number of boxes (the loss pairs boxes1[i] with "
                         f"boxes2[i]), got {b1.shape[0]} and {b2.shape[0]}")
    return tuple(b1.unbind(1)), tuple(b2.unbind(1)), eps, dtype  # type: ignore[return-value]


def _reduce(loss: Tensor, reduction: str, dtype: torch.dtype) -> Tensor:
    if reduction == "mean":
        loss = loss.mean() if loss.numel() else loss.sum()  # empty: 0.0, not NaN
    elif reduction == "sum":
        loss = loss.sum()
    return loss.to(dtype)


def generalized_box_iou_loss(boxes1: Tensor, boxes2: Tensor, reduction: str = "none",
                             eps: float = 1e-7) -> Tensor:
    """GIoU loss ``1 - GIoU(boxes1[i], boxes2[i])``, in [0, 2].

    ``GIoU = IoU - (C - U) / (C + eps)`` with U the union and C the area of the smallest enclosing
    box. Unlike ``1 - IoU`` it still has a gradient when the boxes do not overlap. A zero-area
    enclosing box (e.g. two identical points) gives a penalty of 0.

    Args:
        boxes1 (Tensor[N, 4]): predicted boxes in `xyxy` format.
        boxes2 (Tensor[N, 4]): target boxes in `xyxy` format, as many as `boxes1`.
        reduction (str): "none" (`Tensor[N]`), "mean" or "sum" (a 0-dim tensor; 0.0 for N = 0).
        eps (float): added to C in the penalty's denominator (finite, >= 0).

    Returns:
        Tensor[N] or Tensor[]: the loss in the (promoted) input dtype (float32 for integer boxes).

    Reference: Rezatofighi et al., "Generalized Intersection over Union: A Metric and A Loss for
    Bounding Box Regression", CVPR 2019.
    """
    a, b, eps, dtype = _pair(boxes1, boxes2, reduction, eps)
    return _reduce(1 - _giou(a, b, eps), reduction, dtype)


def distance_box_iou_loss(boxes1: Tensor, boxes2: Tensor, reduction: str = "none",
                          eps: float = 1e-7) -> Tensor:
    """DIoU loss ``1 - IoU + rho^2 / (c^2 + eps)``, in [0, 2].

    rho is the distance between the centres of `boxes1[i]` and `boxes2[i]`, c the diagonal of their
    smallest enclosing box: the penalty pulls the centres together directly, which converges faster
    than GIoU's area penalty.

    Args:
        boxes1 (Tensor[N, 4]): predicted boxes in `xyxy` format.
        boxes2 (Tensor[N, 4]): target boxes in `xyxy` format, as many as `boxes1`.
        reduction (str): "none" (`Tensor[N]`), "mean" or "sum" (a 0-dim tensor; 0.0 for N = 0).
        eps (float): added to c^2 (finite, >= 0).

    Returns:
        Tensor[N] or Tensor[]: the loss in the (promoted) input dtype (float32 for integer boxes).

    Reference: Zheng et al., "Distance-IoU Loss: Faster and Better Learning for Bounding Box
    Regression", AAAI 2020.
    """
    a, b, eps, dtype = _pair(boxes1, boxes2, reduction, eps)
    return _reduce(1 - _iou_diou(a, b, eps)[1], reduction, dtype)


def complete_box_iou_loss(boxes1: Tensor, boxes2: Tensor, reduction: str = "none",
                          eps: float = 1e-7) -> Tensor:
    """CIoU loss ``1 - IoU + rho^2 / (c^2 + eps) + alpha v``, in [0, 2.5].

    The DIoU loss plus an aspect-ratio term: ``v = 4/pi^2 (atan(w1/h1) - atan(w2/h2))^2`` (0 if either
    box is a point) weighted by ``alpha = v / (1 - IoU + v + eps)``. As in the paper, alpha is a
    trade-off weight, not a function to differentiate: it is computed under `torch.no_grad()`, so the
    gradient is that of ``alpha * v`` with alpha held constant.

    Args:
        boxes1 (Tensor[N, 4]): predicted boxes in `xyxy` format.
        boxes2 (Tensor[N, 4]): target boxes in `xyxy` format, as many as `boxes1`.
        reduction (str): "none" (`Tensor[N]`), "mean" or "sum" (a 0-dim tensor; 0.0 for N = 0).
        eps (float): added to c^2 and to alpha's denominator (finite, >= 0).

    Returns:
        Tensor[N] or Tensor[]: the loss in the (promoted) input dtype (float32 for integer boxes).

    Reference: Zheng et al., "Distance-IoU Loss: Faster and Better Learning for Bounding Box
    Regression", AAAI 2020.
    """
    a, b, eps, dtype = _pair(boxes1, boxes2, reduction, eps)
    return _reduce(1 - _ciou(a, b, eps), reduction, dtype)
