"""Greedy NMS with a Triton kernel: the suppression bitmask in parallel, the greedy scan after it.

Step 1, on the device (this kernel): sort the boxes by decreasing score (stable: equal scores keep
their input order), then for every pair (i, j) with j ranked after i decide "does i suppress j",
IoU(i, j) > threshold (and, for batched NMS, the same category). Program (r, w) computes a tile of
BLOCK_ROWS boxes i against the 64 boxes j of word w and packs the 64 answers of each row into one
int64 (bit k of word w of row i: box 64 w + k). The mask is N x ceil(N / 64) words, N^2 / 8 bytes.

Step 2, the greedy scan, is sequential by nature: whether box j is kept depends on whether the boxes
that could suppress it were kept, which depends on the boxes before them, and so on (the chain
that makes greedy NMS P-complete; see `cvcourse.ops.nms`). It runs on the *host*: copy the mask
once, walk the boxes in rank order and OR the row of every kept box into a "removed" bit set, one
machine word at a time. That is what torchvision's CUDA NMS does too: a one-thread scan on the
GPU would be slower than the copy, and the mask rows are short.

IoU is inter / union in the boxes' dtype (float32 for half types), compared with the threshold in
float64, as `cvcourse.ops.nms` and `torchvision.ops.nms` do: identical kept sets, IoU == threshold
kept, zero-area boxes never suppress or get suppressed.

Reference: Girshick et al., CVPR 2014 (greedy NMS); torchvision's `nms_kernel_impl` (CUDA, 64-bit
mask words); Tillet et al., "Triton", MAPL 2019.
"""
from __future__ import annotations

import numpy as np
import torch
import triton
import triton.language as tl
from torch import Tensor

from .iou import box_tiles, inter_union

__all__ = ["batched_nms", "nms", "nms_bitmask", "nms_mask_kernel"]

_WORD = 64           # boxes per mask word (int64)
_ROWS = 64           # boxes i per program


@triton.jit
def nms_mask_kernel(b_ptr, cat_ptr, thr_ptr, mask_ptr, N, n_words,
                     BLOCK_ROWS: tl.constexpr, WORD: tl.constexpr):
    pid_r = tl.program_id(0)
    pid_w = tl.program_id(1)
    rows = pid_r * BLOCK_ROWS + tl.arange(0, BLOCK_ROWS)        # (BLOCK_ROWS,) ranks i
    cols = pid_w * WORD + tl.arange(0, WORD)                    # (WORD,) ranks j
    row_ok = rows < N
    col_ok = cols < N
    ax1, ay1, ax2, ay2, bx1, by1, bx2, by2 = box_tiles(b_ptr, b_ptr, rows, cols, row_ok, col_ok)
    inter, union = inter_union(ax1, ay1, ax2, ay2, bx1, by1, bx2, by2)      # (BLOCK_ROWS, WORD)
    iou = inter / tl.where(union == 0, 1.0, union)               # 0 / 0 -> 0
    threshold = tl.load(thr_ptr)                                 # float64: the exact comparison
    same = tl.load(cat_ptr + rows, mask=row_ok, other=-1)[:, None] == tl.load(cat_ptr + cols, mask=col_ok, other=-2)[None, :]
    hit = (iou.to(tl.float64) > threshold) & same & (cols[None, :] > rows[:, None]) & col_ok[None, :]
    bit = tl.full((WORD,), 1, tl.int64) << tl.arange(0, WORD).to(tl.int64)   # 1 << k (bit 63 is the sign)
    word = tl.sum(tl.where(hit, bit[None, :], 0), axis=1)       # distinct bits: the sum is their OR
    tl.store(mask_ptr + rows * n_words + pid_w, word, mask=row_ok)


def nms_bitmask(sorted_boxes: Tensor, iou_threshold: float, categories: Tensor | None = None,
                block_rows: int = _ROWS) -> Tensor:
    """The suppression mask of boxes already sorted by decreasing score (step 1 of the module docstring).

    Args:
        sorted_boxes: Tensor[N, 4] `xyxy`, in rank order, on a CUDA device (or the CPU with
            TRITON_INTERPRET=1).
        iou_threshold: a box suppresses a later one whose IoU with it is above this.
        categories: Tensor[N] int64 in rank order, or None (one category).
        block_rows: boxes i per program (a power of two).

    Returns:
        Tensor[N, ceil(N / 64)] int64: bit k of word w of row i says box i suppresses box 64 w + k.

    Reference: torchvision's CUDA `nms_kernel_impl` (the 64-bit mask layout).
    """
    dtype = torch.float64 if sorted_boxes.dtype == torch.float64 else torch.float32
    b = sorted_boxes.to(dtype).contiguous()
    n = len(b)
    n_words = triton.cdiv(n, _WORD)
    mask = torch.zeros(n, n_words, dtype=torch.int64, device=b.device)
    if n == 0:
        return mask
    cats = (torch.zeros(n, dtype=torch.int64, device=b.device) if categories is None
            else categories.to(b.device, torch.int64).contiguous())
    thr = torch.tensor([float(iou_threshold)], dtype=torch.float64, device=b.device)
    grid = (triton.cdiv(n, block_rows), n_words)
    nms_mask_kernel[grid](b, cats, thr, mask, n, n_words, BLOCK_ROWS=block_rows, WORD=_WORD)
    return mask


def _scan(mask: Tensor) -> Tensor:
    """Step 2 on the host: ranks kept by the greedy rule, from the suppression mask."""
    words = mask.cpu().numpy().view(np.uint64)                   # (N, W)
    removed = np.zeros(words.shape[1], dtype=np.uint64)
    keep = []
    for i in range(words.shape[0]):
        if not (int(removed[i // _WORD]) >> (i % _WORD)) & 1:
            keep.append(i)
            removed |= words[i]
    return torch.tensor(keep, dtype=torch.int64)


def _run(boxes: Tensor, scores: Tensor, iou_threshold: float, idxs: Tensor | None) -> Tensor:
    order = torch.sort(scores, descending=True, stable=True).indices
    cats = None if idxs is None else idxs[order]
    kept = _scan(nms_bitmask(boxes[order], iou_threshold, cats))
    return order[kept.to(order.device)]


def nms(boxes: Tensor, scores: Tensor, iou_threshold: float) -> Tensor:
    """Greedy NMS with the Triton bitmask kernel (no input checks: `cvcourse.ops.nms` checks first).

    Args:
        boxes: Tensor[N, 4] `xyxy`.
        scores: Tensor[N].
        iou_threshold: IoU above it suppresses.

    Returns:
        Tensor[K] int64 indices of the kept boxes, by decreasing score (ties: by index), on the
        boxes' device.

    Reference: Girshick et al., CVPR 2014; torchvision.ops.nms (same semantics).
    """
    return _run(boxes, scores, iou_threshold, None)


def batched_nms(boxes: Tensor, scores: Tensor, idxs: Tensor, iou_threshold: float) -> Tensor:
    """NMS within each category (the mask only has bits for pairs of one category).

    Args:
        boxes: Tensor[N, 4] `xyxy`.
        scores: Tensor[N].
        idxs: Tensor[N] integer categories.
        iou_threshold: IoU above it suppresses (within a category).

    Returns:
        Tensor[K] int64 indices of the kept boxes, by decreasing score (ties: by index).

    Reference: torchvision.ops.batched_nms (same result; no coordinate offsets needed here).
    """
    return _run(boxes, scores, iou_threshold, idxs)
