"""Non-maximum suppression: greedy NMS, per-category NMS and Soft-NMS (chapter 08).

A detector proposes many overlapping boxes for one object; NMS keeps the best-scored one and drops
the boxes that overlap it too much. The greedy rule, as `torchvision.ops.nms` applies it:

    visit the boxes by decreasing score (equal scores: lower index first);
    keep a box unless a box kept before it has IoU > iou_threshold with it.

Written that way it is a loop over boxes. `nms` computes exactly the same answer with tensor
operations, in three steps:

1. **Rank** the boxes (a stable sort by decreasing score).
2. **Find the overlapping pairs**: every pair (i, j) with IoU > iou_threshold = t, an edge from the
   higher-ranked box to the lower-ranked one. Testing all N^2 pairs is wasteful: two boxes with
   IoU > t still intersect after each is shrunk about its centre to (1 - t) of its width and
   height, so only pairs of intersecting shrunken boxes are tested, found with a sort and a
   sweep (`_sweep`, `_pairs`).
3. **Resolve the greedy rule on these edges** with Cluster-NMS's fixed-point iteration (Zheng et
   al. 2021): start with every box kept, then repeat

       keep[j] = not any(keep[i] for every edge i -> j)

   until nothing changes (`_resolve`).

Why step 3 equals the greedy loop. Greedy's answer g satisfies g[j] = not any(g[i] for i -> j),
and it is the only vector that does: the rule fixes box 0 (no edges into it), then box 1, and so on,
each from boxes ranked above it. The iteration's first pass computes box 0 correctly, and once the
boxes ranked above j are correct, j is correct on the next pass, so after p passes at least the
first p boxes agree with g and stay so. When a pass changes nothing, the vector satisfies the rule,
so it is g. Usually that takes a handful of passes (about the length of the longest chain "a
suppresses b, which would have suppressed c, ..."); the worst case, a row of boxes each
overlapping the next, settles about two boxes per pass. That chain is inherent: greedy NMS picks
the lexicographically first maximal independent set of the overlap graph, a P-complete problem,
so no parallel method is known that avoids long chains of dependent steps.

Cluster-NMS iterates on a dense upper-triangular N x N IoU matrix; here only the edges are stored,
and the passes run rank block by rank block (boxes above the block are settled already), so a long
chain costs passes over one block's edges only. Where boxes pile up (thousands of boxes on one
object), even the edges would be ~N^2: then steps 2 and 3 run block by block, pairing each block
only with the boxes kept so far (`_greedy`), like torchvision's loop, whose work grows with the
number of kept boxes. Small inputs (up to a few thousand boxes, `_greedy_small`) take steps 2 and
3 in fewer tensor operations: one sort finds the candidates (of all categories, for `batched_nms`),
and the iteration runs on all edges at once (at that size each operation's fixed cost, not its
work, dominates).

`torchvision.ops.nms` computes each IoU as inter / (area_i + area_j - inter) in the boxes' dtype
and compares it with the threshold as a double; this module uses the same arithmetic
(`cvcourse.ops.iou`'s helpers) and the same exact comparison, so the kept indices are identical,
ties and IoU == threshold included. (Exact means real numbers: a float32 IoU of 1/10 is
0.100000001, which is above 0.1, so it suppresses at threshold 0.1.)

References: greedy NMS as in Girshick et al., "Rich feature hierarchies for accurate object
detection and semantic segmentation", CVPR 2014; Zheng et al., "Enhancing Geometric Factors in Model
Learning and Inference for Object Detection and Instance Segmentation", IEEE TCYB 2021 (Cluster-NMS);
Bodla et al., "Soft-NMS -- Improving Object Detection With One Line of Code", ICCV 2017.
"""
from __future__ import annotations

import functools
import itertools
import math

import numpy as np
import torch
from torch import Tensor

from cvcourse.kernels.backend import resolve_backend

from ._validate import check_boxes, check_scores, check_threshold, upcast
from .iou import _inter_union, _ratio_

__all__ = ["batched_nms", "nms", "soft_nms"]

# Candidate pairs tested at once in `_pairs`: bounds memory, keeps the data in cache, and
# keeps each chunk below PyTorch's parallel grain (32768 elements), so that its many small steps
# run on one thread (on a busy machine, waking a second thread can cost milliseconds per step).
_PAIRS_PER_CHUNK = 1 << 14
_BLOCK = 1024               # boxes per rank block in `_resolve` and, for dense inputs, `_greedy`
_CANDIDATES_PER_BOX = 256   # `_greedy` takes all pairs at once up to this many candidates per box
_SLACK = 1e-3               # shrink boxes a little less than 1 - t: float rounding can never hide a pair
_SMALL_BOXES = 8192         # `_greedy_small` takes inputs of up to this many boxes ...
_SMALL_PAIRS = 1 << 17      # ... with at most this many candidate pairs (and `_CANDIDATES_PER_BOX` per box)
_SMALL_PASSES = 16          # its passes over all edges before it settles a long chain with `_resolve`
_BAND = 2.0                 # its bands, in mean shrunken box heights
SOFT_NMS_METHODS = ("gaussian", "linear")


# ----------------------------------------------------------------------------- input
def _prepare(boxes: object, scores: object, iou_threshold: object) -> tuple[Tensor, Tensor, float]:
    """Validated boxes (float32 for half types), scores and threshold, detached from autograd."""
    b = upcast(check_boxes(boxes, "boxes")).detach()
    s = check_scores(scores, b.shape[0], "scores").detach()
    return b, s, check_threshold(iou_threshold, "iou_threshold")


def _check_idxs(idxs: object, n: int) -> Tensor:
    """Category indices: an integer `Tensor[n]`."""
    if not isinstance(idxs, Tensor):
        raise TypeError(f"idxs: expected an integer Tensor[N] of category indices, got {type(idxs).__name__}")
    if idxs.dtype == torch.bool or idxs.is_floating_point() or idxs.is_complex():
        raise TypeError(f"idxs: expected an integer Tensor[N] of category indices, got dtype {idxs.dtype}")
    if idxs.dim() != 1 or idxs.shape[0] != n:
        raise ValueError(f"idxs: expected Tensor[{n}] (one category per box), got Tensor{list(idxs.shape)}")
    return idxs


def _check_positive(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name}: expected a finite number > 0, got {type(value).__name__}")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name}: expected a finite number > 0, got {value}")
    return float(value)


# ----------------------------------------------------------------------------- the three steps
def _rank(scores: Tensor) -> Tensor:
    """Indices by decreasing score; equal scores keep their input order (a stable sort)."""
    return torch.sort(scores, descending=True, stable=True).indices


def _threshold_in(dtype: torch.dtype, t: float) -> float:
    """The largest value of `dtype` that is <= t: then `iou > result` computed in `dtype` is exactly
    `iou > t` in real numbers (torch would otherwise round t to the nearest float32, which can be
    above t: 0.1 becomes 0.100000001, and an IoU equal to that float would be kept, not suppressed)."""
    tt = torch.tensor(t, dtype=dtype)
    if tt.item() > t:
        tt = torch.nextafter(tt, torch.tensor(-1.0, dtype=dtype))
    return tt.item()


def _indices(mask: Tensor) -> Tensor:
    """The positions where a bool `Tensor[N]` is True (int64).

    This module gathers with `index_select` rather than `x[mask]` / `x[idx]`: on a busy machine the
    latter's multi-threaded kernel can stall for milliseconds even on a few thousand elements. On
    the CPU, NumPy's `flatnonzero` (on the same memory, no copy) is several times faster than
    `torch.nonzero`."""
    if mask.device.type == "cpu":
        return torch.from_numpy(np.flatnonzero(mask.numpy()))
    return mask.nonzero().squeeze(1)


def _count_sorted(keys: Tensor, queries: Tensor) -> Tensor:
    """For each query, how many of the sorted `keys` are <= it (`torch.searchsorted(keys, queries,
    right=True)`; on the CPU NumPy's, which is several times faster on a few thousand values)."""
    if keys.device.type == "cpu":
        return torch.from_numpy(np.searchsorted(keys.numpy(), queries.numpy(), side="right"))
    return torch.searchsorted(keys, queries, right=True)


def _count_at_most(values: Tensor, queries: Tensor) -> tuple[Tensor, Tensor]:
    """Sort `values` and `queries` together (values first among equals); for each value, its position
    in the sorted values (0-based), and for each query, how many values are <= it (the same as
    `torch.searchsorted(sorted values, queries, right=True)`, which can stall like `x[idx]` on a busy
    machine, see `_indices`)."""
    n = values.numel()
    order = torch.sort(torch.cat([values, queries]), stable=True).indices
    seen = torch.cumsum(order < n, 0)                                         # values at or before each position
    counts = torch.empty_like(seen).scatter_(0, order, seen)
    return counts[:n] - 1, counts[n:]


def _ragged(counts: Tensor) -> tuple[Tensor, Tensor]:
    """Expand ragged rows: counts [2, 0, 3] -> rows [0, 0, 2, 2, 2] and positions [0, 1, 0, 1, 2].

    `rows` is `torch.repeat_interleave(counts)`, computed as a cumulative count of the rows that end
    at or before each position (one `index_add_` and one `cumsum`: several times faster on the CPU)."""
    ends = torch.cumsum(counts, 0)                                            # row r covers ends[r]-counts[r] .. ends[r]-1
    total = int(ends[-1]) if counts.numel() else 0
    marks = torch.zeros(total + 1, dtype=torch.int64).index_add_(0, ends, torch.ones_like(ends))
    rows = torch.cumsum(marks[:total], 0)                                     # rows ending at or before each position
    return rows, torch.arange(total) - (ends - counts).index_select(0, rows)


def _sweep(b: Tensor, t: float, groups: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """The index of the pair search: entries of (box, band) sorted for a sweep along x.

    Testing all N^2 pairs is wasteful: IoU > t needs a large overlap. Along x, IoU <= (x-overlap) /
    (larger width), and two intervals of widths w1, w2 whose centres are d apart overlap by at most
    (w1 + w2) / 2 - d; so IoU > t forces d < (1 - t)(w1 + w2) / 2, i.e. the two intervals shrunk
    about their centres to (1 - t) of their length still intersect. Same along y. Hence:

    1. shrink every box about its centre to (1 - t) of its width and height (a little less, by
       `_SLACK`, so that float rounding in the IoU can never hide a pair; zero-area boxes are left
       out: their IoU is always 0);
    2. cut the y axis into bands as tall as the mean shrunken box, and enter each box in every band
       it spans (with `groups`, one category per box, each category gets bands of its own);
    3. sort the entries by band, then by left edge: in a band, a box can only meet the boxes that
       follow it up to the first one whose left edge lies beyond its right edge (found by
       counting, `_count_at_most`).

    Returns:
        (box, top, end), each `Tensor[E]`, entries in sweep order: the rank of the entry's box;
        whether the band is the box's top band; and `end`: entry e meets entries e+1 .. end[e]-1.
    """
    live = _indices((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) > 0)
    m = live.numel()
    if m == 0:
        empty = torch.empty(0, dtype=torch.int64)
        return empty, empty.bool(), empty
    d = b.index_select(0, live).double().T                                    # (4, M): x1, y1, x2, y2
    centre, half = (d[:2] + d[2:]) / 2, (1 - t + _SLACK) / 2 * (d[2:] - d[:2])
    half += 1e-12 * float(b.abs().max())                                      # margin for rounding in float64
    (left, top), (right, bottom) = centre - half, centre + half               # (M,) each: shrunken boxes
    # bands along y: box i spans bands first[i] .. last[i]; one entry per (box, band)
    y0 = top.min()
    height = torch.maximum((bottom - top).mean(), (bottom.max() - y0) / 2**20)  # at most 2^20 bands
    first = ((top - y0) / height).floor().long()
    last = ((bottom - y0) / height).floor().long()
    box, k = _ragged(last - first + 1)
    band = first.index_select(0, box) + k                                     # (E,)
    if groups is not None:                                                    # one set of bands per category
        category = torch.unique(groups.index_select(0, live), return_inverse=True)[1]
        band = torch.unique(band + (int(last.max()) + 1) * category.index_select(0, box), return_inverse=True)[1]
    # sort by (band, left edge) on exact integer keys: left edge of q <= right edge of p exactly when
    # rank_l[q] <= rank_r[p] (rank_r: the rank of the last left edge <= the right edge)
    rank_l, reach = _count_at_most(left, right)
    rank_r = reach - 1
    position, end = _count_at_most(band * m + rank_l.index_select(0, box), band * m + rank_r.index_select(0, box))
    order = torch.empty_like(position).scatter_(0, position, torch.arange(position.numel()))  # entries by key
    return live.index_select(0, box.index_select(0, order)), (k == 0).index_select(0, order), end.index_select(0, order)


def _pairs(cols: Tensor, t_c: float, sweep: tuple[Tensor, Tensor, Tensor], source: Tensor,
           target: Tensor) -> tuple[Tensor, Tensor]:
    """The pairs of entries e in `source` and f in `target` (bool masks over the entries) that meet
    in the sweep (e < f < end[e]) and whose boxes have IoU > t, as the boxes' ranks (of e, of f).

    A pair of boxes that meet in several bands is counted once, in the band of the top of their
    intersection, which is the top band of one of the two. Candidates are tested
    `_PAIRS_PER_CHUNK` at a time; `cols` (Tensor[4, N]) holds x1, y1, x2, y2 of the boxes by rank."""
    box, top, end = sweep
    seen = torch.cumsum(target, 0)                                            # targets at positions <= j
    src, tgt = _indices(source), _indices(target)
    first = seen.index_select(0, src)                                         # rank among targets of the first after e
    count = seen.index_select(0, end.index_select(0, src) - 1) - first        # targets in e+1 .. end[e]-1
    chunk = torch.cumsum(count, 0) // _PAIRS_PER_CHUNK
    starts = [0, *(_indices(torch.diff(chunk, prepend=chunk.new_zeros(1)) > 0) + 1).tolist(), src.numel()]
    ps, qs = [], []
    for r0, r1 in itertools.pairwise(starts):
        rows, k = _ragged(count[r0:r1])
        rows += r0
        e, f = src.index_select(0, rows), tgt.index_select(0, first.index_select(0, rows) + k)   # (P,)
        once = _indices(top.index_select(0, e) | top.index_select(0, f))
        p, q = box.index_select(0, e.index_select(0, once)), box.index_select(0, f.index_select(0, once))
        inter, union = _inter_union(tuple(cols.index_select(1, p)), tuple(cols.index_select(1, q)))
        hit = _indices(_ratio_(inter, union) > t_c)
        ps.append(p.index_select(0, hit))
        qs.append(q.index_select(0, hit))
    return torch.cat(ps), torch.cat(qs)


def _resolve(u: Tensor, v: Tensor, keep: Tensor) -> None:
    """Greedy NMS on a graph, in place: keep[j] becomes False when a kept box i has an edge i -> j.

    `keep` (bool, ranks 0 .. n-1 of one block) starts True for the boxes still in play. Edges
    (u, v), u < v, are settled in rank blocks of `_BLOCK`: edges from earlier blocks come from boxes
    already settled; inside a block, the Cluster-NMS iteration runs to its fixed point. A pass
    costs a few tensor operations on the block's edges; the number of passes is about the longest
    chain of dependent decisions in the block (a handful for detections; for a row of boxes with
    falling scores, each overlapping the next few, about one pass per kept box).
    """
    n = keep.numel()
    starts = list(range(0, n, _BLOCK)) + [n]
    bounds = [0, v.numel()]                                                   # edges into block k: bounds[k] ..
    if n > _BLOCK:                                                            # group the edges by block
        v, by_v = torch.sort(v)
        u = u.index_select(0, by_v)
        bounds = [0, *torch.cumsum(torch.bincount(v // _BLOCK, minlength=len(starts) - 1), 0).tolist()]
    for k, (start, stop) in enumerate(itertools.pairwise(starts)):
        ub, vb = u[bounds[k]:bounds[k + 1]], v[bounds[k]:bounds[k + 1]] - start
        block, alive = keep[start:stop], keep[start:stop].clone()             # block: a view into keep
        while ub.numel():
            new = alive.clone().index_fill_(0, vb.index_select(0, _indices(keep.index_select(0, ub))), False)
            if torch.equal(new, block):
                break
            block.copy_(new)


def _greedy_small(b: Tensor, t: float, groups: Tensor | None) -> Tensor | None:
    """`_greedy` for small inputs, in fewer tensor operations (at this size each operation's fixed
    cost, not its work, dominates); None when the input is not small after all.

    Candidates as in `_sweep` (shrunken boxes, bands along y, one set of bands per category), with
    bands `_BAND` times taller, so that a box is rarely in two, and one sort for all of them:
    category, band and left edge are folded into one float64 key ``cell * W + left`` (cells W
    apart, W more than twice the x extent). Rounding can merge close left edges (a few more
    candidates), never reorder them or mix two cells, as long as the key stays below 2^25 W (its
    rounding error is then below W / 2^27). Then all candidate pairs are tested at once and the
    Cluster-NMS iteration runs over all edges (no rank blocks), falling back to `_resolve` after
    `_SMALL_PASSES` passes (a long chain).

    Returns None when the key would be too coarse (too many cells, or boxes far from 0 for their
    spread) or when there are more than `_SMALL_PAIRS` candidates (or `_CANDIDATES_PER_BOX` per box).
    """
    n = b.shape[0]
    x1, y1, x2, y2 = b.T.double()                                              # (N,) each
    margin = 1e-12 * float(b.abs().max())                                     # for rounding in float64
    shrink = (1 - t + _SLACK) / 2
    hw, hh = (x2 - x1).mul_(shrink).add_(margin), (y2 - y1).mul_(shrink).add_(margin)  # half sizes, shrunken
    cx, cy = (x1 + x2).mul_(0.5), (y1 + y2).mul_(0.5)
    left, right, top, bottom = cx - hw, cx + hw, cy - hh, cy + hh          # shrunken boxes
    x0, y0, x_end, y_end = float(left.min()), float(top.min()), float(right.max()), float(bottom.max())
    height = max(2 * _BAND * float(hh.mean()), (y_end - y0) / 2**20) or 1.0
    first = top.sub_(y0).div_(height).long()                                  # (N,) band of the top (>= 0: trunc = floor)
    spans = bottom.sub_(y0).div_(height).long().sub_(first).add_(1)          # (N,) bands per box
    bands = int((first + spans).max())
    g0 = int(groups.min()) if groups is not None else 0
    categories = int(groups.max()) - g0 + 1 if groups is not None else 1
    width = 2 * (x_end - x0) + 1
    if bands * categories > 2**24 or not abs(x0) <= width * 2**24:           # key too coarse to keep cells apart
        return None
    box, k = _ragged(spans)                                                   # (E,) one entry per (box, band)
    cell = first.index_select(0, box).add_(k)
    if groups is not None:                                                    # one set of bands per category
        cell += (groups.index_select(0, box) - g0) * bands
    base = cell.double().mul_(width)
    key, order = torch.sort(left.index_select(0, box).add_(base))
    end = _count_sorted(key, right.index_select(0, box).add_(base).index_select(0, order))
    count = end.sub_(torch.arange(1, end.numel() + 1))                        # entry e meets e+1 .. e+count[e]
    if int(count.sum()) > min(_SMALL_PAIRS, _CANDIDATES_PER_BOX * n):
        return None
    box, top_band = box.index_select(0, order), (k == 0).index_select(0, order)
    rows, k = _ragged(count)                                                  # (P,) entry e ...
    cols = rows + k + 1                                                       # ... and f > e
    once = _indices(top_band.index_select(0, rows) | top_band.index_select(0, cols))  # each pair in one band only
    p, q = box.index_select(0, rows.index_select(0, once)), box.index_select(0, cols.index_select(0, once))
    xyxy = b.T.contiguous()                                                   # (4, N): gathers by column are faster
    inter, union = _inter_union(tuple(xyxy.index_select(1, p)), tuple(xyxy.index_select(1, q)))
    hit = _indices(_ratio_(inter, union) > _threshold_in(b.dtype, t))
    p, q = p.index_select(0, hit), q.index_select(0, hit)
    u, v = torch.minimum(p, q), torch.maximum(p, q)                           # edges u -> v, u ranked above v
    keep = torch.ones(n, dtype=torch.bool)
    for _ in range(_SMALL_PASSES):
        new = torch.ones(n, dtype=torch.bool).index_fill_(0, v.masked_select(keep.index_select(0, u)), False)
        if torch.equal(new, keep):
            return keep
        keep = new
    keep = torch.ones(n, dtype=torch.bool)                                    # a long chain: settle by blocks
    _resolve(u, v, keep)
    return keep


def _greedy(b: Tensor, t: float, groups: Tensor | None = None) -> Tensor:
    """Greedy NMS of boxes `b` given in rank order: `Tensor[N]` bool, True for the kept boxes.

    Small inputs with few candidate pairs (`_SMALL_BOXES`, `_SMALL_PAIRS`) take `_greedy_small`,
    which does the same in fewer tensor operations and without rank blocks (at that size each
    operation's fixed cost dominates). Otherwise, when the sweep finds few candidate pairs (at
    most `_CANDIDATES_PER_BOX` per box), all pairs with IoU > t are collected at once and resolved
    (`_resolve`). Dense inputs (many boxes piled
    on each other, where most candidates involve boxes that end up suppressed) are taken in rank
    blocks instead (64 boxes, then 128, ... up to `_BLOCK`): a block's boxes that overlap an already
    kept box are suppressed, then the rest of the block is resolved. Suppressed boxes are never
    paired again, so, as in torchvision's loop, the work grows with the kept boxes rather than
    with all pairs, and memory stays bounded (the small first blocks find the first kept boxes of
    a pile cheaply).
    """
    n = b.shape[0]
    keep = torch.ones(n, dtype=torch.bool)
    if t >= 1:                                                                # IoU > 1 never happens
        return keep
    small = _greedy_small(b, t, groups) if n <= _SMALL_BOXES else None
    if small is not None:                                                     # few boxes, few candidates
        return small
    sweep = _sweep(b, t, groups)
    box, end = sweep[0], sweep[2]
    pairs = functools.partial(_pairs, b.T.contiguous(), _threshold_in(b.dtype, t), sweep)
    bounds = [0, n]
    if int((end - torch.arange(1, end.numel() + 1)).sum()) > _CANDIDATES_PER_BOX * n:  # dense: rank blocks
        bounds, size = [0], 64                                                # 64, 128, ... then _BLOCK boxes
        while bounds[-1] < n:
            bounds.append(min(bounds[-1] + size, n))
            size = min(2 * size, _BLOCK)
    for start, stop in itertools.pairwise(bounds):
        inside = (box >= start) & (box < stop)                                # the block's entries
        if start > 0:                                                         # overlaps an already kept box?
            kept = keep.index_select(0, box) & (box < start)
            hit = torch.cat([pairs(inside, kept)[0], pairs(kept, inside)[1]])
            keep[start:stop].index_fill_(0, hit - start, False)
            inside &= keep.index_select(0, box)
        p, q = pairs(inside, inside)
        _resolve(torch.minimum(p, q) - start, torch.maximum(p, q) - start, keep[start:stop])
    return keep


# ----------------------------------------------------------------------------- public
def nms(boxes: Tensor, scores: Tensor, iou_threshold: float, *, backend: str = "auto") -> Tensor:
    """Greedy non-maximum suppression: the boxes that survive, best first.

    Visiting boxes by decreasing score, a box is kept unless a box kept before it overlaps it with
    IoU > `iou_threshold` (strictly: IoU equal to the threshold is kept). Equal scores are visited
    in input order (lower index first). A zero-area box has IoU 0 with everything, so it never
    suppresses and is never suppressed. IoUs are computed in the boxes' dtype (float32 for integer,
    float16 and bfloat16 boxes) and compared with the threshold exactly. Same semantics and result
    as `torchvision.ops.nms`.

    The implementation has no loop over boxes: it finds the overlap graph (pairs with IoU >
    threshold, testing only nearby pairs) and resolves the greedy rule on it with the Cluster-NMS
    fixed-point iteration; the module docstring explains why that equals the greedy loop.

    Args:
        boxes (Tensor[N, 4]): boxes in `xyxy` format (x2 >= x1, y2 >= y1), finite.
        scores (Tensor[N]): one finite score per box.
        iou_threshold (float): in [0, 1]; a box is suppressed by a kept box whose IoU with it is above it.
        backend (str): "auto" (the Triton bitmask kernel of `cvcourse.kernels.nms` for CUDA tensors
            when Triton is installed, else this module's torch implementation), "torch" or "triton".

    Returns:
        Tensor[K]: int64 indices of the kept boxes, by decreasing score (ties: by index).

    Raises:
        TypeError / ValueError: wrong types or shapes, non-finite values, x2 < x1 or y2 < y1, or a
            threshold outside [0, 1].

    Reference: Girshick et al., CVPR 2014 (greedy NMS); Zheng et al., IEEE TCYB 2021 (Cluster-NMS).
    """
    b, s, t = _prepare(boxes, scores, iou_threshold)
    if b.shape[0] == 0:
        return torch.empty(0, dtype=torch.int64)
    if resolve_backend(backend, (b, s)) == "triton":
        from cvcourse.kernels import nms as kernel  # imports triton: only when it runs

        return kernel.nms(b, s, t)
    order = _rank(s)
    return order.index_select(0, _indices(_greedy(b.index_select(0, order), t)))


def batched_nms(boxes: Tensor, scores: Tensor, idxs: Tensor, iou_threshold: float, *,
                backend: str = "auto") -> Tensor:
    """Non-maximum suppression within each category: boxes of different categories never suppress
    each other.

    The result equals running `nms` on each category and merging the kept indices by decreasing
    score (ties: by index; torchvision's merge does not promise an order for ties). torchvision
    gets there by shifting each category's boxes by ``idx * (max coordinate + 1)`` so that
    categories cannot overlap, then running one `nms`; but shifted coordinates round differently,
    which can flip an IoU that is within rounding of the threshold. Here the categories are kept
    apart in the pair search instead (each has its own bands), and IoUs use the boxes as given.

    Args:
        boxes (Tensor[N, 4]): boxes in `xyxy` format.
        scores (Tensor[N]): one finite score per box.
        idxs (Tensor[N]): integer category of each box.
        iou_threshold (float): in [0, 1]; IoU above it suppresses (within a category).
        backend (str): "auto" (the Triton bitmask kernel of `cvcourse.kernels.nms` for CUDA tensors
            when Triton is installed, else this module's torch implementation), "torch" or "triton".

    Returns:
        Tensor[K]: int64 indices of the kept boxes, by decreasing score (ties: by index).

    Reference: torchvision.ops.batched_nms; Girshick et al., CVPR 2014.
    """
    b, s, t = _prepare(boxes, scores, iou_threshold)
    idxs = _check_idxs(idxs, b.shape[0])
    if b.shape[0] == 0:
        return torch.empty(0, dtype=torch.int64)
    if resolve_backend(backend, (b, s)) == "triton":
        from cvcourse.kernels import nms as kernel  # imports triton: only when it runs

        return kernel.batched_nms(b, s, idxs, t)
    order = _rank(s)
    return order.index_select(0, _indices(_greedy(b.index_select(0, order), t, idxs.index_select(0, order))))


def soft_nms(boxes: Tensor, scores: Tensor, iou_threshold: float = 0.3, sigma: float = 0.5,
             score_threshold: float = 0.001, method: str = "gaussian") -> tuple[Tensor, Tensor]:
    """Soft-NMS: instead of deleting the boxes that overlap a selected box, lower their scores.

    Repeatedly select the remaining box with the highest (current) score (ties: lower index), then
    multiply the score of every other remaining box b by a decay of o = IoU(selected, b):

    - ``"linear"``: ``1 - o`` if o > `iou_threshold`, else 1;
    - ``"gaussian"``: ``exp(-o^2 / sigma)`` (`iou_threshold` is not used).

    A box whose score is below `score_threshold` (initially or after a decay) is dropped. Selection
    is sequential by nature (each choice depends on the decays before it), so this is a loop over
    the *selected* boxes, each step decaying all remaining boxes at once.

    Args:
        boxes (Tensor[N, 4]): boxes in `xyxy` format.
        scores (Tensor[N]): one finite score per box, normally in [0, 1].
        iou_threshold (float): in [0, 1]; linear decay applies only above it.
        sigma (float): > 0; width of the Gaussian decay (smaller decays faster).
        score_threshold (float): in [0, 1]; boxes scoring below it are dropped.
        method (str): ``"gaussian"`` or ``"linear"``.

    Returns:
        (keep, new_scores): int64 `Tensor[K]`, the selected indices in selection order, and
        `Tensor[K]`, their decayed scores at selection time (scores' dtype, non-increasing; no
        autograd graph).

    Reference: Bodla et al., "Soft-NMS -- Improving Object Detection With One Line of Code", ICCV 2017.
    """
    b, s, t = _prepare(boxes, scores, iou_threshold)
    sigma = _check_positive(sigma, "sigma")
    score_threshold = check_threshold(score_threshold, "score_threshold")
    if method not in SOFT_NMS_METHODS:
        raise ValueError(f"method: unknown Soft-NMS method {method!r}; expected one of {', '.join(SOFT_NMS_METHODS)}")
    dtype = s.dtype
    s = upcast(s)
    alive = s >= score_threshold
    idx = _indices(alive)                                                      # remaining boxes, index order
    b, s = b.index_select(0, idx), s.index_select(0, idx)
    keep, kept_scores = [], []
    while idx.numel():
        i = int(torch.argmax(s))                                               # first maximum: lowest index
        keep.append(idx[i])
        kept_scores.append(s[i])
        o = _ratio_(*_inter_union(tuple(b[i, :, None]), tuple(b.T)))           # (R,) IoU with the selected box
        if method == "linear":
            s = torch.where(o > _threshold_in(o.dtype, t), s * (1 - o), s)
        else:
            s = s * torch.exp(-(o * o) / sigma)
        alive = s >= score_threshold
        alive[i] = False
        alive = _indices(alive)
        idx, b, s = idx.index_select(0, alive), b.index_select(0, alive), s.index_select(0, alive)
    if not keep:
        return torch.empty(0, dtype=torch.int64), torch.empty(0, dtype=dtype)
    return torch.stack(keep), torch.stack(kept_scores).to(dtype)
