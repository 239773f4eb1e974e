"""k-means anchor shapes with the distance 1 - IoU (YOLOv2)."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from cvcourse.ops._validate import upcast

from ._validate import (
    _int,
    _wh,
)


# ----------------------------------------------------------------------------- k-means anchors
def wh_iou(wh1: Tensor, wh2: Tensor) -> Tensor:
    """IoU of box shapes aligned at a shared centre: only widths and heights matter.

    IoU = min(w1, w2) * min(h1, h2) / (w1 h1 + w2 h2 - min(w1, w2) * min(h1, h2)), the distance
    1 - IoU of YOLOv2's anchor clustering (it does not favour large boxes as the Euclidean distance
    does).

    Args:
        wh1: Tensor[N, 2] of (w, h), positive.
        wh2: Tensor[M, 2] of (w, h), positive.

    Returns:
        Tensor[N, M] in [0, 1], in the promoted dtype (float32 for integer or half input).

    Reference: Redmon & Farhadi, YOLO9000, CVPR 2017, section "Dimension Clusters".
    """
    a, b = _wh("wh1", wh1), _wh("wh2", wh2)
    if a.dim() != 2 or b.dim() != 2:
        raise ValueError(f"wh1, wh2: expected Tensor[N, 2] and Tensor[M, 2], got {list(a.shape)} and {list(b.shape)}")
    dtype = torch.promote_types(a.dtype, b.dtype)
    a, b = upcast(a.to(dtype)), upcast(b.to(dtype))
    inter = torch.minimum(a[:, None, 0], b[None, :, 0]) * torch.minimum(a[:, None, 1], b[None, :, 1])  # (N, M)
    union = (a[:, 0] * a[:, 1])[:, None] + (b[:, 0] * b[:, 1])[None, :] - inter
    return (inter / union).to(dtype)


def _kmeans_pp(wh: Tensor, k: int, g: torch.Generator) -> Tensor:
    """k-means++ seeding with the distance d = 1 - IoU: each next centre is a box drawn with
    probability proportional to d^2 to its nearest centre so far."""
    centres = [wh[int(torch.randint(len(wh), (1,), generator=g))]]
    d = 1 - wh_iou(wh, centres[0][None])[:, 0]                   # (N,)
    for _ in range(1, k):
        p = d * d
        i = int(torch.multinomial(p / p.sum(), 1, generator=g))
        centres.append(wh[i])
        d = torch.minimum(d, 1 - wh_iou(wh, wh[i][None])[:, 0])
    return torch.stack(centres)


def kmeans_anchors(wh: Tensor, k: int, *, seed: int = 0, iters: int = 300, init: str = "kmeans++",
                   update: str = "mean") -> tuple[Tensor, float]:
    """Anchor shapes by k-means clustering of box widths and heights, with distance 1 - IoU.

    Lloyd's algorithm: assign each box to the centre of highest `wh_iou` (the lowest index on
    ties), move each centre to the mean (YOLOv2) or the per-coordinate median (`update="median"`;
    the lower median, as `torch.median`) of its boxes, repeat until no assignment changes or
    `iters` rounds. A cluster left empty is re-seeded at the box worst covered by the current
    centres (the lowest best IoU). Initial centres: k-means++ with the same distance, or k random
    distinct boxes (`init="random"`). Deterministic for a given `seed`. Computed in float64.

    Args:
        wh: Tensor[N, 2] of (w, h) box sizes, positive (e.g. boxes' x2 - x1, y2 - y1).
        k: the number of anchors, 1 <= k <= the number of distinct (w, h) rows.
        seed: seeds the initialisation (a private torch.Generator).
        iters: the most Lloyd rounds (>= 1).
        init: "kmeans++" or "random".
        update: "mean" or "median".

    Returns:
        (anchors, mean_best_iou): anchors Tensor[k, 2] of (w, h) sorted by area (smallest first) in
        `wh`'s floating dtype (float32 for integer input); mean_best_iou, the mean over boxes of the
        IoU with their best anchor (YOLOv2's "Avg IOU": 61.0 for k = 5 on VOC).

    Raises:
        TypeError / ValueError: `wh` not a Tensor[N, 2] of positive sizes, k out of range (also k
        larger than the number of distinct boxes), a bad `iters`, `init` or `update`.

    Reference: Redmon & Farhadi, YOLO9000, CVPR 2017; D. Arthur and S. Vassilvitskii,
    "k-means++: The Advantages of Careful Seeding", SODA 2007.
    """
    wh = _wh("wh", wh)
    if wh.dim() != 2:
        raise ValueError(f"wh: expected Tensor[N, 2] of (w, h), got Tensor{list(wh.shape)}")
    k, iters, seed = _int("k", k, 1), _int("iters", iters, 1), _int("seed", seed, 0)
    if init not in ("kmeans++", "random"):
        raise ValueError(f"init: unknown initialisation {init!r}; expected 'kmeans++' or 'random'")
    if update not in ("mean", "median"):
        raise ValueError(f"update: unknown centre update {update!r}; expected 'mean' or 'median'")
    x = wh.double()
    distinct = torch.unique(x, dim=0)
    if k > len(distinct):
        raise ValueError(f"k: cannot make {k} clusters from {len(distinct)} distinct box shapes "
                         f"(N = {len(x)}); expected k <= {len(distinct)}")
    g = torch.Generator().manual_seed(seed)
    if init == "kmeans++":
        centres = _kmeans_pp(x, k, g)
    else:
        centres = distinct[torch.randperm(len(distinct), generator=g)[:k]]
    centres, _ = kmeans_iou(x, centres, iters=iters, update=update)   # sorted by area
    mean_iou = float(wh_iou(x, centres).max(1).values.mean())
    return centres.to(wh.dtype), mean_iou


def kmeans_iou(wh: Tensor, centres: Tensor, iters: int = 300, update: str = "mean") -> tuple[Tensor, Tensor]:
    """Lloyd's k-means of box shapes with the distance 1 - IoU, from given initial centres.

    The clustering step of `kmeans_anchors` on its own (no random initialisation, so the result
    depends only on the arguments). Assign each box to the centre of highest `wh_iou` (the lowest
    index on ties); then at most `iters` times: move each centre to the mean (YOLOv2) or the
    per-coordinate lower median (`update="median"`) of its boxes; move the centre of an empty
    cluster to the box worst covered by the centres as they are now (the lowest best IoU; several
    empty clusters one after the other, by index); re-assign, and stop when no assignment changed.
    Computed in float64.

    Args:
        wh: Tensor[N, 2] of (w, h) box sizes, positive.
        centres: Tensor[k, 2], the initial centres (w, h), positive, k >= 1.
        iters: the most update rounds (>= 0; 0 only assigns).
        update: "mean" or "median".

    Returns:
        (centres, assign): centres Tensor[k, 2] sorted by area (smallest first; a stable sort), in
        the promoted floating dtype of `wh` and `centres` (float32 for integer input); assign
        Tensor[N] int64, the index in that order of each box's nearest centre (highest `wh_iou`, the
        lowest index on ties). N = 0 gives the initial centres sorted and an empty `assign`.

    Raises:
        TypeError / ValueError: `wh` or `centres` not a Tensor[_, 2] of positive sizes, no centre,
        a bad `iters` or `update`.

    Reference: Redmon & Farhadi, YOLO9000, CVPR 2017, "Dimension Clusters"; S. Lloyd, "Least
    squares quantization in PCM", IEEE Transactions on Information Theory, 1982.
    """
    wh, c = _wh("wh", wh), _wh("centres", centres)
    if wh.dim() != 2:
        raise ValueError(f"wh: expected Tensor[N, 2] of (w, h), got Tensor{list(wh.shape)}")
    if c.dim() != 2 or len(c) == 0:
        raise ValueError(f"centres: expected Tensor[k, 2] of (w, h) with k >= 1, got Tensor{list(c.shape)}")
    iters = _int("iters", iters, 0)
    if update not in ("mean", "median"):
        raise ValueError(f"update: unknown centre update {update!r}; expected 'mean' or 'median'")
    dtype = torch.promote_types(wh.dtype, c.dtype)
    x, centres, k = wh.double(), c.double(), len(c)
    assign = wh_iou(x, centres).argmax(1)                        # (N,)
    for _ in range(iters if len(x) else 0):
        counts = torch.bincount(assign, minlength=k)             # (k,)
        if update == "mean":
            sums = torch.zeros_like(centres).index_add_(0, assign, x)
            centres = torch.where(counts[:, None] > 0, sums / counts.clamp_min(1)[:, None], centres)
        else:
            centres = torch.stack([x[assign == j].median(dim=0).values if counts[j] else centres[j]
                                   for j in range(k)])
        for j in (counts == 0).nonzero()[:, 0].tolist():         # re-seed empty clusters
            best = wh_iou(x, centres).max(1).values
            centres[j] = x[int(best.argmin())]
        new = wh_iou(x, centres).argmax(1)
        if torch.equal(new, assign):
            break
        assign = new
    centres = centres[torch.argsort(centres[:, 0] * centres[:, 1], stable=True)]
    return centres.to(dtype), wh_iou(x, centres).argmax(1)


def mean_iou_vs_k(wh: Tensor, ks: Sequence[int], seed: int = 0) -> list[float]:
    """`kmeans_anchors`' mean best IoU for each k: the curve of YOLOv2's figure 2 (the "elbow").

    Args:
        wh: Tensor[N, 2] of (w, h), positive.
        ks: the values of k to try (each <= the number of distinct boxes).
        seed: passed to `kmeans_anchors` for every k.

    Returns:
        list[float], one mean best IoU per k, in the order of `ks`.

    Reference: Redmon & Farhadi, YOLO9000, CVPR 2017, figure 2.
    """
    if isinstance(ks, (int, np.integer)) or not isinstance(ks, (Sequence, Tensor, np.ndarray)):
        raise TypeError(f"ks: expected a sequence of ints, got {type(ks).__name__}")
    return [kmeans_anchors(wh, int(k) if isinstance(k, (Tensor, np.integer)) else k, seed=seed)[1] for k in ks]
