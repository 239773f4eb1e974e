"""Pairwise overlap of two sets of boxes: IoU and its three refinements, GIoU, DIoU and CIoU.

All four take `boxes1: Tensor[N, 4]` and `boxes2: Tensor[M, 4]` in `xyxy` and return `Tensor[N, M]`,
vectorized by broadcasting (row i of `boxes1` against column j of `boxes2`). The formulas live in
private helpers that take the four coordinates as broadcastable tensors, so the element-wise losses
in `cvcourse.ops.losses` reuse them on `Tensor[N]` columns.

Degenerate boxes never give NaN (conventions in `cvcourse.ops._validate`):
- IoU: a union of 0 (two zero-area boxes) gives IoU 0, like any overlap with a zero-area box.
- GIoU: an enclosing box of area 0 (e.g. two boxes on the same line, or two identical points) gives
  a penalty of 0, so GIoU = IoU = 0 there.
- DIoU: two identical points have enclosing diagonal 0 and centre distance 0: penalty 0.
- CIoU: a point (zero width and height) has no aspect ratio; the aspect term v is 0 for it.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from cvcourse.kernels.backend import resolve_backend

from ._validate import check_boxes, upcast

__all__ = ["box_iou", "complete_box_iou", "distance_box_iou", "generalized_box_iou"]

_Coords = tuple[Tensor, Tensor, Tensor, Tensor]  # x1, y1, x2, y2, mutually broadcastable


# ----------------------------------------------------------------------------- input
def _check_eps(eps: object) -> float:
    if isinstance(eps, bool) or not isinstance(eps, (int, float)):
        raise TypeError(f"eps: expected a finite number >= 0, got {type(eps).__name__}")
    if not (math.isfinite(eps) and eps >= 0):
        raise ValueError(f"eps: expected a finite number >= 0, got {eps}")
    return float(eps)


def _prepare(boxes1: object, boxes2: object) -> tuple[Tensor, Tensor, torch.dtype]:
    """Validated boxes in one common dtype (float32 for half types) and the dtype to return."""
    b1 = check_boxes(boxes1, "boxes1")
    b2 = check_boxes(boxes2, "boxes2")
    dtype = torch.promote_types(b1.dtype, b2.dtype)
    return upcast(b1.to(dtype)), upcast(b2.to(dtype)), dtype


def _pairwise(boxes1: Tensor, boxes2: Tensor) -> tuple[_Coords, _Coords]:
    """Coordinates as (N, 1) and (1, M) columns: every formula below then broadcasts to (N, M)."""
    return tuple(boxes1.T[:, :, None]), tuple(boxes2.T[:, None, :])  # type: ignore[return-value]


def _triton(b1: Tensor, b2: Tensor, backend: str, kind: str, eps: float, dtype: torch.dtype) -> Tensor | None:
    """The Triton kernel's result if `backend` resolves to it for these boxes, else None."""
    needs_grad = torch.is_grad_enabled() and (b1.requires_grad or b2.requires_grad)
    if resolve_backend(backend, (b1, b2), needs_grad) != "triton":
        return None
    from cvcourse.kernels.iou import pairwise_iou  # imports triton: only when it runs

    return pairwise_iou(b1, b2, kind, eps).to(dtype)


# ----------------------------------------------------------------------------- formulas
def _area(a: _Coords) -> Tensor:
    return (a[2] - a[0]) * (a[3] - a[1])


def _inter_union(a: _Coords, b: _Coords) -> tuple[Tensor, Tensor]:
    """Intersection and union areas; in-place steps only on fresh tensors autograd does not need."""
    w = torch.minimum(a[2], b[2]).sub_(torch.maximum(a[0], b[0])).clamp_(min=0)  # overlap width
    h = torch.minimum(a[3], b[3]).sub_(torch.maximum(a[1], b[1])).clamp_(min=0)  # overlap height
    inter = w.mul_(h)
    union = torch.add(_area(a), _area(b)).sub_(inter)
    return inter, union


def _ratio(num: Tensor, den: Tensor) -> Tensor:
    """num / den for num, den >= 0 where den == 0 implies num == 0: 0/0 -> 0, with finite gradients."""
    return num / den.masked_fill(den == 0, 1.0)


def _ratio_(num: Tensor, den: Tensor) -> Tensor:
    """`_ratio` overwriting both arguments: only for fresh tensors used nowhere else."""
    return num.div_(den.masked_fill_(den == 0, 1.0))


def _enclosing_wh(a: _Coords, b: _Coords) -> tuple[Tensor, Tensor]:
    """Width and height of the smallest box enclosing both."""
    return (torch.maximum(a[2], b[2]).sub_(torch.minimum(a[0], b[0])),
            torch.maximum(a[3], b[3]).sub_(torch.minimum(a[1], b[1])))


def _giou(a: _Coords, b: _Coords, eps: float) -> Tensor:
    """IoU - (C - U) / C, with C the enclosing box's area (Rezatofighi et al. 2019)."""
    inter, union = _inter_union(a, b)
    cw, ch = _enclosing_wh(a, b)
    enclosing = cw.mul_(ch)                                 # C >= U >= inter
    gap = (enclosing - union).clamp_(min=0)                 # C - U, >= 0 also after rounding
    return _ratio_(inter, union).sub_(_ratio_(gap, enclosing.add_(eps)))


def _centre(a: _Coords) -> tuple[Tensor, Tensor]:
    return (a[0] + a[2]) / 2, (a[1] + a[3]) / 2


def _distance_penalty(a: _Coords, b: _Coords, eps: float) -> Tensor:
    """rho^2 / c^2: squared centre distance over the squared diagonal of the enclosing box."""
    cw, ch = _enclosing_wh(a, b)
    diag2 = torch.addcmul(cw * cw, ch, ch).add_(eps)        # c^2 + eps
    (xa, ya), (xb, yb) = _centre(a), _centre(b)
    dx, dy = xa - xb, ya - yb                               # (N, M); symmetric rounding
    rho2 = torch.addcmul(dx * dx, dy, dy)
    # rho <= c (0/0 only for two equal points); the clamp undoes rounding for points at opposite corners
    return _ratio_(rho2, diag2).clamp_(max=1.0)


def _aspect_angle(box: _Coords) -> tuple[Tensor, Tensor]:
    """atan(w / h) (pi/2 for a horizontal line) and a mask of points (w == h == 0)."""
    w, h = box[2] - box[0], box[3] - box[1]
    point = (w == 0) & (h == 0)
    return torch.atan2(w, torch.where(point, 1.0, h)), point   # atan2 grads are 0/0 at (0, 0)


def _aspect_term(a: _Coords, b: _Coords) -> Tensor:
    """CIoU's v = 4/pi^2 (atan(w1/h1) - atan(w2/h2))^2, in [0, 1]; 0 when either box is a point."""
    angle_a, point_a = _aspect_angle(a)
    angle_b, point_b = _aspect_angle(b)
    v = (4 / math.pi**2) * (angle_a - angle_b) ** 2
    return v.masked_fill(point_a | point_b, 0.0)


def _iou_diou(a: _Coords, b: _Coords, eps: float) -> tuple[Tensor, Tensor]:
    iou = _ratio_(*_inter_union(a, b))
    return iou, iou - _distance_penalty(a, b, eps)


def _ciou(a: _Coords, b: _Coords, eps: float) -> Tensor:
    """DIoU - alpha v with alpha = v / (1 - IoU + v + eps) held constant for the gradient."""
    iou, diou = _iou_diou(a, b, eps)
    v = _aspect_term(a, b)
    with torch.no_grad():
        alpha = _ratio(v, (1 + eps) - iou + v)              # v == 0 and IoU == 1 with eps == 0: 0
    return diou.sub_(alpha.mul_(v))


# ----------------------------------------------------------------------------- public
def box_iou(boxes1: Tensor, boxes2: Tensor, *, backend: str = "auto") -> Tensor:
    """Intersection over union (Jaccard index) of every box in `boxes1` with every box in `boxes2`.

    ``IoU = |A ∩ B| / |A ∪ B|``, in [0, 1]. A union of 0 (two zero-area boxes) gives 0, not NaN.

    Args:
        boxes1 (Tensor[N, 4]): boxes in `xyxy` format (x2 >= x1, y2 >= y1); integer boxes are cast to float32.
        boxes2 (Tensor[M, 4]): boxes in `xyxy` format.
        backend (str): "auto" (the Triton kernel for CUDA tensors when Triton is installed and no
            gradient is needed, else torch), "torch" or "triton" (see `cvcourse.kernels.backend`).

    Returns:
        Tensor[N, M]: the IoU of `boxes1[i]` and `boxes2[j]` at `[i, j]`, in the (promoted) input dtype
        (computed in float32 for float16/bfloat16).

    Raises:
        TypeError / ValueError: not a `Tensor[K, 4]`, non-finite coordinates, or x2 < x1 / y2 < y1.

    Reference: Jaccard, "The distribution of the flora in the alpine zone", 1912; as a detection
    metric: Everingham et al., "The PASCAL Visual Object Classes (VOC) Challenge", IJCV 2010.
    """
    b1, b2, dtype = _prepare(boxes1, boxes2)
    if (out := _triton(b1, b2, backend, "iou", 0.0, dtype)) is not None:
        return out
    inter, union = _inter_union(*_pairwise(b1, b2))         # (N, M) each
    return _ratio_(inter, union).to(dtype)


def generalized_box_iou(boxes1: Tensor, boxes2: Tensor, *, backend: str = "auto") -> Tensor:
    """Generalized IoU of every pair: ``GIoU = IoU - |C \\ (A ∪ B)| / |C|``, in [-1, 1].

    C is the smallest box enclosing A and B. Unlike IoU, GIoU still measures how far apart two
    disjoint boxes are (it tends to -1). When C has zero area (both boxes lie on one line or are one
    point) the penalty is defined as 0, so GIoU = IoU = 0.

    Args:
        boxes1 (Tensor[N, 4]): boxes in `xyxy` format.
        boxes2 (Tensor[M, 4]): boxes in `xyxy` format.
        backend (str): "auto" (the Triton kernel for CUDA tensors when Triton is installed and no
            gradient is needed, else torch), "torch" or "triton" (see `cvcourse.kernels.backend`).

    Returns:
        Tensor[N, M]: pairwise GIoU in the (promoted) input dtype.

    Reference: Rezatofighi et al., "Generalized Intersection over Union: A Metric and A Loss for
    Bounding Box Regression", CVPR 2019.
    """
    b1, b2, dtype = _prepare(boxes1, boxes2)
    if (out := _triton(b1, b2, backend, "giou", 0.0, dtype)) is not None:
        return out
    return _giou(*_pairwise(b1, b2), eps=0.0).to(dtype)


def distance_box_iou(boxes1: Tensor, boxes2: Tensor, eps: float = 1e-7, *, backend: str = "auto") -> Tensor:
    """Distance IoU of every pair: ``DIoU = IoU - rho^2 / (c^2 + eps)``, in [-1, 1].

    rho is the distance between the two box centres, c the diagonal of the smallest enclosing box.
    DIoU <= IoU, with equality when the centres coincide.

    Args:
        boxes1 (Tensor[N, 4]): boxes in `xyxy` format.
        boxes2 (Tensor[M, 4]): boxes in `xyxy` format.
        eps (float): added to c^2 (finite, >= 0); two identical points give a penalty of 0 even with eps = 0.
        backend (str): "auto" (the Triton kernel for CUDA tensors when Triton is installed and no
            gradient is needed, else torch), "torch" or "triton" (see `cvcourse.kernels.backend`).

    Returns:
        Tensor[N, M]: pairwise DIoU in the (promoted) input dtype.

    Reference: Zheng et al., "Distance-IoU Loss: Faster and Better Learning for Bounding Box
    Regression", AAAI 2020.
    """
    eps = _check_eps(eps)
    b1, b2, dtype = _prepare(boxes1, boxes2)
    if (out := _triton(b1, b2, backend, "diou", eps, dtype)) is not None:
        return out
    return _iou_diou(*_pairwise(b1, b2), eps)[1].to(dtype)


def complete_box_iou(boxes1: Tensor, boxes2: Tensor, eps: float = 1e-7, *, backend: str = "auto") -> Tensor:
    """Complete IoU of every pair: ``CIoU = DIoU - alpha v``.

    ``v = 4/pi^2 (atan(w1/h1) - atan(w2/h2))^2`` compares the aspect ratios (0 if either box is a
    point, which has none) and ``alpha = v / (1 - IoU + v + eps)`` weighs it; alpha is computed under
    `torch.no_grad()`, i.e. treated as a constant for the gradient, as in the paper.

    Args:
        boxes1 (Tensor[N, 4]): boxes in `xyxy` format.
        boxes2 (Tensor[M, 4]): boxes in `xyxy` format.
        eps (float): added to c^2 and to alpha's denominator (finite, >= 0).
        backend (str): "auto" (the Triton kernel for CUDA tensors when Triton is installed and no
            gradient is needed, else torch), "torch" or "triton" (see `cvcourse.kernels.backend`).

    Returns:
        Tensor[N, M]: pairwise CIoU in the (promoted) input dtype.

    Reference: Zheng et al., "Distance-IoU Loss: Faster and Better Learning for Bounding Box
    Regression", AAAI 2020.
    """
    eps = _check_eps(eps)
    b1, b2, dtype = _prepare(boxes1, boxes2)
    if (out := _triton(b1, b2, backend, "ciou", eps, dtype)) is not None:
        return out
    return _ciou(*_pairwise(b1, b2), eps).to(dtype)
