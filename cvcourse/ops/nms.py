"""Non-maximum suppression: greedy NMS, per-category NMS and Soft-NMS (chapter 08).

A detector proposes many overlapping boxes for one object; NMS keeps the best-scored one and drops
the boxes that overlap it too much. The greedy rule, as `torchvision.ops.nms` applies it:

    visit the boxes by decreasing score (equal scores: lower index first);
    keep a box unless a box kept before it has IoU > iou_threshold with it.

Written that way it is a loop over boxes. `nms` computes exactly the same answer with tensor
operations, in three steps:

1. **Rank** the boxes (a stable sort by decreasing score).
2. **Find the overlap graph**: every pair (i, j) with IoU > iou_threshold, stored as an edge from the
   higher-ranked box to the lower-ranked one. Testing all N^2 pairs is wasteful: two boxes with
   IoU > t still intersect after each is shrunk about its centre to (1 - t) of its width and
   height, so only the pairs of intersecting shrunken boxes are tested, found with a sort and
   a sweep (`_overlap_graph`).
3. **Resolve the greedy rule on the graph** with Cluster-NMS's fixed-point iteration (Zheng et al.
   2021): start with every box kept, then repeat

       keep[j] = not any(keep[i] for every edge i -> j)

   until nothing changes (`_resolve`).

Why step 3 equals the greedy loop. Greedy's answer g satisfies g[j] = not any(g[i] for i -> j),
and it is the only vector that does: the rule fixes box 0 (no edges into it), then box 1, and so on,
each from boxes ranked above it. The iteration's first pass computes box 0 correctly, and once the
boxes ranked above j are correct, j is correct on the next pass, so after p passes at least the
first p boxes agree with g and stay so. When a pass changes nothing, the vector satisfies the rule,
so it is g. Usually that takes a handful of passes (about the length of the longest chain "a
suppresses b, which would have suppressed c, ..."); the worst case, a row of boxes each
overlapping the next, settles about two boxes per pass. Cluster-NMS runs the same iteration on a
dense upper-triangular IoU matrix; storing only the edges keeps memory at O(N + pairs) instead
of O(N^2), and the iteration runs rank block by rank block (boxes above the block are settled
already), so that a long chain costs passes over one block's edges, not over all of them.

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

import itertools
import math

import torch
from torch import Tensor

from ._validate import check_boxes, check_scores, check_threshold, upcast
from .iou import _inter_union, _ratio_

__all__ = ["batched_nms", "nms", "soft_nms"]

_PAIRS_PER_CHUNK = 1 << 15  # candidate pairs tested at once in `_overlap_graph` (bounds memory)
_BLOCK = 1024               # boxes per rank block in `_resolve`
_SLACK = 1e-3               # widens the sweep window: float rounding can never hide a pair
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
    latter's multi-threaded kernel can stall for milliseconds even on a few thousand elements."""
    return mask.nonzero().squeeze(1)


def _count_at_most(values: Tensor, queries: Tensor) -> Tensor:
    """How many `values` are <= each query: `torch.searchsorted(sorted(values), queries, right=True)`,
    computed with one stable sort of both (values first among equals) and a running count.
    (`searchsorted` parallelizes from 200 queries on, and can stall like `x[idx]`, see `_indices`.)"""
    n = values.numel()
    order = torch.sort(torch.cat([values, queries]), stable=True).indices
    seen = torch.cumsum(order < n, 0)                                         # values at or before each position
    return torch.empty_like(seen).scatter_(0, order, seen)[n:]


def _ragged(counts: Tensor) -> tuple[Tensor, Tensor]:
    """Expand ragged rows: counts [2, 0, 3] -> rows [0, 0, 2, 2, 2] and positions [0, 1, 0, 1, 2]."""
    starts = torch.cumsum(counts, 0) - counts
    total = int(starts[-1] + counts[-1]) if counts.numel() else 0
    full = counts.nonzero().squeeze(1)                                        # rows that are not empty
    step = torch.zeros(total, dtype=torch.int64)
    step.scatter_(0, starts.index_select(0, full), torch.diff(full, prepend=full.new_zeros(1)))  # row jumps
    rows = torch.cumsum(step, 0)
    return rows, torch.arange(total) - starts.index_select(0, rows)


def _overlap_graph(b: Tensor, t: float, groups: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Every pair of rows of `b` (boxes in rank order) with IoU > t, as edges (u, v) with u < v.

    Testing all N^2 pairs is wasteful: IoU > t needs a large overlap. Along x, IoU <= (x-overlap) /
    (larger width), and two intervals of widths w1, w2 whose centres are d apart overlap by at most
    (w1 + w2) / 2 - d; so IoU > t forces d < (1 - t)(w1 + w2) / 2, i.e. the two intervals shrunk
    about their centres to (1 - t) of their length still intersect. Same along y. Hence:

    1. shrink every box about its centre to (1 - t) of its width and height (a little more is kept,
       `_SLACK`, so that float rounding in the IoU can never hide a pair; zero-area boxes are left
       out: their IoU is always 0);
    2. find the pairs of shrunken boxes that intersect: cut the y axis into bands (as tall as the
       mean shrunken box), enter each box in every band it spans, and in each band sweep along x:
       sorted by left edge, a box meets the boxes whose left edge lies before its right edge (a
       window found by counting, `_count_at_most`). A pair meeting in several bands is counted
       once, in the band of the top of its intersection;
    3. compute the IoU of those candidates only, `_PAIRS_PER_CHUNK` at a time.

    With `groups` (one category per row) each category gets its own bands: boxes of different
    categories are never paired.

    Returns:
        (u, v): two int64 `Tensor[E]`, rank indices, u < v.
    """
    live = _indices((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) > 0)
    b = b.index_select(0, live)
    m = live.numel()
    if m < 2:
        empty = torch.empty(0, dtype=torch.int64)
        return empty, empty
    coords = b.double().T.contiguous()                                        # (4, M)
    x1, y1, x2, y2 = coords
    r, eps = (1 - t + _SLACK) / 2, 1e-12 * float(coords.abs().max())          # half size, rounding margin
    left, right = (x1 + x2) / 2 - r * (x2 - x1) - eps, (x1 + x2) / 2 + r * (x2 - x1) + eps
    top, bottom = (y1 + y2) / 2 - r * (y2 - y1) - eps, (y1 + y2) / 2 + r * (y2 - y1) + eps
    # bands along y: box i spans bands first[i] .. last[i]; one entry per (box, band)
    y0 = top.min()
    height = torch.maximum((bottom - top).mean(), (bottom.max() - y0) / 2**20)  # at most 2^20 bands
    first = ((top - y0) / height).floor().long()
    last = ((bottom - y0) / height).floor().long()
    box, k = _ragged(last - first + 1)
    band, top_band = first.index_select(0, box) + k, k == 0                    # (E,) each
    slot = band
    if groups is not None:                                                    # one set of bands per category
        category = torch.unique(groups.index_select(0, live), return_inverse=True)[1]
        slot = torch.unique(band + (int(last.max()) + 1) * category.index_select(0, box), return_inverse=True)[1]
    # sweep along x inside each band, on ranks of the left edges (exact integer keys)
    # (left edge of q <= right edge of p  <=>  rank_l[q] <= rank_r[p])
    rank_l, rank_r = (_count_at_most(left, torch.cat([left, right])) - 1).split(m)
    key, order = torch.sort(slot * m + rank_l.index_select(0, box))
    box, top_band = box.index_select(0, order), top_band.index_select(0, order)
    end = _count_at_most(key, key + (rank_r - rank_l).index_select(0, box))
    count = end - torch.arange(1, key.numel() + 1)                            # entry e meets entries e+1 .. end-1

    cols = b.T.contiguous()                                                   # (4, M): x1, y1, x2, y2
    t_c = _threshold_in(b.dtype, t)
    total = torch.cumsum(count, 0)
    marks = torch.arange(1, int(total[-1]) // _PAIRS_PER_CHUNK + 1) * _PAIRS_PER_CHUNK
    starts = [0, *torch.searchsorted(total, marks, right=True).tolist(), key.numel()]
    us, vs = [], []
    for e0, e1 in itertools.pairwise(starts):
        e, k = _ragged(count[e0:e1])
        e += e0
        f = e + 1 + k                                                         # (P,) pairs of entries
        # the band of the pair's top is the top band of one of the two boxes: count the pair there
        once = _indices(top_band.index_select(0, e) | top_band.index_select(0, f))
        p, q = box.index_select(0, e.index_select(0, once)), box.index_select(0, f.index_select(0, once))
        inter, union = _inter_union(tuple(cols.index_select(1, p)), tuple(cols.index_select(1, q)))
        hit = _indices(_ratio_(inter, union) > t_c)
        us.append(p.index_select(0, hit))
        vs.append(q.index_select(0, hit))
    p, q = live.index_select(0, torch.cat(us)), live.index_select(0, torch.cat(vs))
    return torch.minimum(p, q), torch.maximum(p, q)


def _resolve(u: Tensor, v: Tensor, n: int) -> Tensor:
    """Greedy NMS on the overlap graph: `Tensor[n]` bool, keep[j] = no kept i with an edge i -> j.

    Rank blocks of `_BLOCK` boxes are settled in order. Edges from earlier blocks come from boxes
    already settled; inside a block, the Cluster-NMS iteration runs to its fixed point.
    """
    keep = torch.ones(n, dtype=torch.bool)
    v, by_v = torch.sort(v)
    u = u.index_select(0, by_v)
    starts = list(range(0, n, _BLOCK)) + [n]
    bounds = torch.searchsorted(v, torch.tensor(starts)).tolist()             # edges into block k: bounds[k] ..
    for k, (start, stop) in enumerate(itertools.pairwise(starts)):
        e0, e1 = bounds[k], bounds[k + 1]
        if e0 == e1:
            continue                                                           # no edge into this block
        ub, vb = u[e0:e1], v[e0:e1] - start
        while True:
            suppressed = vb.index_select(0, _indices(keep.index_select(0, ub)))  # targets of kept boxes
            new = torch.ones(stop - start, dtype=torch.bool).index_fill_(0, suppressed, False)
            if torch.equal(new, keep[start:stop]):
                break
            keep[start:stop] = new
    return keep


# ----------------------------------------------------------------------------- public
def nms(boxes: Tensor, scores: Tensor, iou_threshold: float) -> Tensor:
    """Greedy non-maximum suppression: the boxes that survive, best first.

    Visiting boxes by decreasing score, a box is kept unless a box kept before it overlaps it with
    IoU > `iou_threshold` (strictly: IoU equal to the threshold is kept). Equal scores are visited
    in input order (lower index first). A zero-area box has IoU 0 with everything, so it never
    suppresses and is never suppressed. Same semantics and result as `torchvision.ops.nms`.

    The implementation has no loop over boxes: it finds the overlap graph (pairs with IoU >
    threshold, testing only nearby pairs) and resolves the greedy rule on it with the Cluster-NMS
    fixed-point iteration; the module docstring explains why that equals the greedy loop.

    Args:
        boxes (Tensor[N, 4]): boxes in `xyxy` format (x2 >= x1, y2 >= y1), finite.
        scores (Tensor[N]): one finite score per box.
        iou_threshold (float): in [0, 1]; a box is suppressed by a kept box whose IoU with it is above it.

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
    order = _rank(s)
    keep = _resolve(*_overlap_graph(b.index_select(0, order), t), b.shape[0])
    return order.index_select(0, _indices(keep))


def batched_nms(boxes: Tensor, scores: Tensor, idxs: Tensor, iou_threshold: float) -> Tensor:
    """Non-maximum suppression within each category: boxes of different categories never suppress
    each other.

    The result equals running `nms` on each category and merging the kept indices by decreasing
    score (ties: by index). torchvision gets there by shifting each category's boxes by
    ``idx * (max coordinate + 1)`` so that categories cannot overlap, then one `nms`; shifting
    coordinates changes their float rounding, so here the categories are separated only on the
    sweep axis of the pair search, and IoUs are computed on the boxes as given.

    Args:
        boxes (Tensor[N, 4]): boxes in `xyxy` format.
        scores (Tensor[N]): one finite score per box.
        idxs (Tensor[N]): integer category of each box.
        iou_threshold (float): in [0, 1]; IoU above it suppresses (within a category).

    Returns:
        Tensor[K]: int64 indices of the kept boxes, by decreasing score (ties: by index).

    Reference: torchvision.ops.batched_nms; Girshick et al., CVPR 2014.
    """
    b, s, t = _prepare(boxes, scores, iou_threshold)
    idxs = _check_idxs(idxs, b.shape[0])
    if b.shape[0] == 0:
        return torch.empty(0, dtype=torch.int64)
    order = _rank(s)
    keep = _resolve(*_overlap_graph(b.index_select(0, order), t, groups=idxs.index_select(0, order)), b.shape[0])
    return order.index_select(0, _indices(keep))


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
            s = torch.where(o > t, s * (1 - o), s)
        else:
            s = s * torch.exp(-(o * o) / sigma)
        alive = s >= score_threshold
        alive[i] = False
        alive = _indices(alive)
        idx, b, s = idx.index_select(0, alive), b.index_select(0, alive), s.index_select(0, alive)
    if not keep:
        return torch.empty(0, dtype=torch.int64), torch.empty(0, dtype=dtype)
    return torch.stack(keep), torch.stack(kept_scores).to(dtype)
