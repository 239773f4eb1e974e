"""The pairwise IoU family in Triton: IoU, GIoU, DIoU, CIoU of `Tensor[N, 4] x Tensor[M, 4]`.

The output `Tensor[N, M]` is cut into BLOCK_N x BLOCK_M tiles and one *program* computes one tile:
program (i, j) loads rows i BLOCK_N .. of `boxes1` and j BLOCK_M .. of `boxes2` (4 coordinates
each), broadcasts them to a (BLOCK_N, BLOCK_M) tile and evaluates the formula for every pair at
once. Tiles on the right and bottom edge stick out of the matrix: a *mask* (row < N, column < M)
keeps their loads and stores inside the tensors.

The formulas and their conventions for degenerate boxes are those of the torch reference,
`cvcourse.ops.iou` (a union, an enclosing box or a diagonal of 0 gives a term of 0, never NaN).
CIoU's aspect angles atan2(w, h) are computed per box in torch before the launch (Triton has no
atan on every backend) and passed in; alpha is a plain value here: this kernel is forward-only.
Coordinates are computed in float32 (float64 inputs in float64); half-precision inputs are loaded
as float32 and the result is returned in the input dtype, as the reference does.

Reference: Zheng et al., "Distance-IoU Loss", AAAI 2020; Rezatofighi et al., "Generalized IoU",
CVPR 2019; Tillet et al., "Triton", MAPL 2019.
"""
from __future__ import annotations

import math

import torch
import triton
import triton.language as tl
from torch import Tensor

__all__ = ["KINDS", "pairwise_iou", "pairwise_iou_kernel"]

#: The variants, in the order of the kernel's KIND constant.
KINDS = ("iou", "giou", "diou", "ciou")
_BLOCK = 64          # 64 x 64 tiles: few programs, which the interpreter needs (it pays per program)


@triton.jit
def _safe_div(num, den):
    """num / den with 0 / 0 -> 0 (den == 0 only where num == 0)."""
    return num / tl.where(den == 0, 1.0, den)


@triton.jit
def box_tiles(a_ptr, b_ptr, rows, cols, row_ok, col_ok):
    """The corners of boxes `rows` of a (as (R, 1) columns) and `cols` of b (as (1, C) rows); masked
    lanes read 0. Tensor[K, 4] `xyxy` in memory, row-major."""
    ax1 = tl.load(a_ptr + rows * 4 + 0, mask=row_ok, other=0.0)[:, None]
    ay1 = tl.load(a_ptr + rows * 4 + 1, mask=row_ok, other=0.0)[:, None]
    ax2 = tl.load(a_ptr + rows * 4 + 2, mask=row_ok, other=0.0)[:, None]
    ay2 = tl.load(a_ptr + rows * 4 + 3, mask=row_ok, other=0.0)[:, None]
    bx1 = tl.load(b_ptr + cols * 4 + 0, mask=col_ok, other=0.0)[None, :]
    by1 = tl.load(b_ptr + cols * 4 + 1, mask=col_ok, other=0.0)[None, :]
    bx2 = tl.load(b_ptr + cols * 4 + 2, mask=col_ok, other=0.0)[None, :]
    by2 = tl.load(b_ptr + cols * 4 + 3, mask=col_ok, other=0.0)[None, :]
    return ax1, ay1, ax2, ay2, bx1, by1, bx2, by2


@triton.jit
def inter_union(ax1, ay1, ax2, ay2, bx1, by1, bx2, by2):
    """Intersection and union areas of every pair of a tile (broadcast (R, 1) against (1, C))."""
    inter = tl.maximum(tl.minimum(ax2, bx2) - tl.maximum(ax1, bx1), 0.0) * \
        tl.maximum(tl.minimum(ay2, by2) - tl.maximum(ay1, by1), 0.0)
    union = (ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter
    return inter, union


@triton.jit
def pairwise_iou_kernel(a_ptr, b_ptr, ang_a_ptr, ang_b_ptr, out_ptr, N, M, eps,
                         KIND: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_M: tl.constexpr):
    pid_n = tl.program_id(0)
    pid_m = tl.program_id(1)
    rows = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)              # (BLOCK_N,)
    cols = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)              # (BLOCK_M,)
    row_ok = rows < N
    col_ok = cols < M
    ax1, ay1, ax2, ay2, bx1, by1, bx2, by2 = box_tiles(a_ptr, b_ptr, rows, cols, row_ok, col_ok)
    inter, union = inter_union(ax1, ay1, ax2, ay2, bx1, by1, bx2, by2)      # (BLOCK_N, BLOCK_M)
    iou = _safe_div(inter, union)
    result = iou
    if KIND != 0:
        cw = tl.maximum(ax2, bx2) - tl.minimum(ax1, bx1)        # the enclosing box
        ch = tl.maximum(ay2, by2) - tl.minimum(ay1, by1)
        if KIND == 1:                                           # GIoU
            enclosing = cw * ch
            result = iou - _safe_div(tl.maximum(enclosing - union, 0.0), enclosing)
        else:                                                   # DIoU, CIoU
            dx = (ax1 + ax2 - bx1 - bx2) / 2
            dy = (ay1 + ay2 - by1 - by2) / 2
            penalty = tl.minimum(_safe_div(dx * dx + dy * dy, cw * cw + ch * ch + eps), 1.0)
            result = iou - penalty
            if KIND == 3:                                       # CIoU: the aspect-ratio term
                ang_a = tl.load(ang_a_ptr + rows, mask=row_ok, other=0.0)[:, None]
                ang_b = tl.load(ang_b_ptr + cols, mask=col_ok, other=0.0)[None, :]
                d = ang_a - ang_b
                v = (4.0 / (math.pi * math.pi)) * d * d
                point = ((ax2 == ax1) & (ay2 == ay1)) | ((bx2 == bx1) & (by2 == by1))
                v = tl.where(point, 0.0, v)
                alpha = _safe_div(v, (1.0 + eps) - iou + v)
                result = result - alpha * v
    out = out_ptr + rows[:, None] * M + cols[None, :]
    tl.store(out, result, mask=row_ok[:, None] & col_ok[None, :])


def _angles(boxes: Tensor) -> Tensor:
    """atan2(w, h) per box (pi / 2 for a horizontal line; points are masked in the kernel)."""
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    return torch.atan2(w, torch.where((w == 0) & (h == 0), torch.ones_like(h), h)).contiguous()


def pairwise_iou(boxes1: Tensor, boxes2: Tensor, kind: str = "iou", eps: float = 1e-7,
                 block: int = _BLOCK) -> Tensor:
    """The pairwise IoU family with the Triton kernel (no input checks: `cvcourse.ops` checks first).

    Args:
        boxes1: Tensor[N, 4] `xyxy`, float16/bfloat16/float32/float64, on a CUDA device (or the CPU
            with TRITON_INTERPRET=1).
        boxes2: Tensor[M, 4] `xyxy`, the same device.
        kind: "iou", "giou", "diou" or "ciou".
        eps: DIoU/CIoU's eps (added to c^2 and to CIoU's alpha denominator); GIoU and IoU use none.
        block: the tile side (a power of two).

    Returns:
        Tensor[N, M] in the promoted input dtype (computed in float32; float64 in float64).

    Reference: Zheng et al., "Distance-IoU Loss", AAAI 2020 (DIoU, CIoU); Rezatofighi et al., CVPR 2019.
    """
    if kind not in KINDS:
        raise ValueError(f"kind: expected one of {KINDS}, got {kind!r}")
    dtype = torch.promote_types(boxes1.dtype, boxes2.dtype)
    compute = torch.float64 if dtype == torch.float64 else torch.float32
    a, b = boxes1.to(compute).contiguous(), boxes2.to(compute).contiguous()
    n, m = len(a), len(b)
    out = torch.empty(n, m, dtype=compute, device=a.device)
    if n == 0 or m == 0:
        return out.to(dtype)
    ang_a, ang_b = (_angles(a), _angles(b)) if kind == "ciou" else (a, b)   # unused unless CIoU
    grid = (triton.cdiv(n, block), triton.cdiv(m, block))
    pairwise_iou_kernel[grid](a, b, ang_a, ang_b, out, n, m, eps, KIND=KINDS.index(kind),
                               BLOCK_N=block, BLOCK_M=block)
    return out.to(dtype)
