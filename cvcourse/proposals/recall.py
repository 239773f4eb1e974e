"""Proposal recall: how many objects do the first k proposals find? (Hosang et al. 2016)

A proposal method is judged without a classifier: a ground-truth box counts as found by the first k
proposals of its image when one of them overlaps it with IoU >= t. Plotting that fraction against k
gives the recall curve of a method; the area under it, or the recall at a fixed k, compares methods.
"""
from __future__ import annotations

import numbers
from collections.abc import Sequence

import torch
from torch import Tensor

from cvcourse.ops import box_iou
from cvcourse.ops._validate import check_boxes, check_threshold

__all__ = ["proposal_recall"]


def proposal_recall(proposals: Tensor | Sequence[Tensor], gt_boxes: Tensor | Sequence[Tensor],
                    iou_thresholds: float | Sequence[float] = (0.5, 0.7),
                    ks: Sequence[int] | Tensor | None = None) -> dict:
    """Recall of ground-truth boxes by the first k proposals, for several k and IoU thresholds.

    A ground-truth box is *found* by the first k proposals of its image if at least one of them has
    IoU >= t with it. Recall = found boxes / all ground-truth boxes, pooled over the images
    (micro-average: an image with many objects weighs more). An image with fewer than k proposals
    uses all it has.

    Args:
        proposals: Tensor[K, 4] for one image, or a list of Tensor[K_i, 4], one per image; `xyxy`,
            best first (e.g. the output of `selective_search`).
        gt_boxes: Tensor[G, 4] or a list of Tensor[G_i, 4] (same length as `proposals`), `xyxy`.
        iou_thresholds: one threshold t in [0, 1] or a sequence of them.
        ks: the numbers of proposals to evaluate (ints >= 0), in any order; None gives every k in
            1..max_i K_i (the full curve).

    Returns:
        dict with
          - "ks": Tensor[L] int64, the k values;
          - "recall": {t: Tensor[L] float32} for each threshold, recall of the first ks[j] proposals;
          - "num_gt": int, the number of ground-truth boxes G (all images);
          - "best_iou": Tensor[G] float32, each ground-truth box's best IoU with any proposal of its
            image (0 if it has none), images in order;
          - "average_best_overlap": float, the mean of "best_iou" (ABO, Uijlings et al. 2013).

    Raises:
        TypeError / ValueError: boxes that are not Tensor[N, 4] xyxy, lists of different lengths,
            a threshold outside [0, 1], a negative or non-integer k, no ground-truth box at all.

    Reference: Hosang, Benenson, Dollar & Schiele, "What makes for effective detection proposals?",
    TPAMI 2016.
    """
    pairs = _pairs(proposals, gt_boxes)
    thresholds = _thresholds(iou_thresholds)
    first_hits: list[Tensor] = []                  # per image: (T, G_i) rank of the first proposal that finds it
    best: list[Tensor] = []
    for props, gt in pairs:
        iou = box_iou(gt, props).float()                                     # (G_i, K_i)
        if len(props) == 0:                                                  # nothing is found
            first_hits.append(torch.full((len(thresholds), len(gt)), torch.inf, dtype=torch.float64))
            best.append(torch.zeros(len(gt)))
            continue
        hit = iou[None] >= torch.tensor(thresholds)[:, None, None]           # (T, G_i, K_i)
        rank = hit.to(torch.uint8).argmax(dim=2).double()                    # argmax: the first True
        first_hits.append(torch.where(hit.any(dim=2), rank, torch.inf))      # (T, G_i)
        best.append(iou.max(dim=1).values)
    first = torch.cat(first_hits, dim=1)                                     # (T, G)
    if first.shape[1] == 0:
        raise ValueError("gt_boxes: no ground-truth box in any image; recall is undefined")
    k = _ks(ks, max(len(p) for p, _ in pairs))                              # (L,)
    found = first[:, None, :] < k[None, :, None].double()                    # (T, L, G)
    recall = found.float().mean(dim=2)                                       # (T, L)
    best_iou = torch.cat(best)
    return {"ks": k, "recall": {t: recall[i] for i, t in enumerate(thresholds)}, "num_gt": len(best_iou),
            "best_iou": best_iou, "average_best_overlap": best_iou.mean().item()}


def _pairs(proposals: object, gt_boxes: object) -> list[tuple[Tensor, Tensor]]:
    """One (proposals, gt) pair of validated float boxes per image."""
    if isinstance(proposals, Tensor) and isinstance(gt_boxes, Tensor):
        return [(check_boxes(proposals, "proposals"), check_boxes(gt_boxes, "gt_boxes"))]
    for name, value in (("proposals", proposals), ("gt_boxes", gt_boxes)):
        if not isinstance(value, (list, tuple)):
            raise TypeError(f"{name}: expected a Tensor[N, 4] or a list of them (one per image), "
                            f"got {type(value).__name__}; give both arguments the same form")
    if len(proposals) != len(gt_boxes):
        raise ValueError(f"proposals, gt_boxes: expected one entry per image in each, got {len(proposals)} "
                         f"and {len(gt_boxes)}")
    return [(check_boxes(p, f"proposals[{i}]"), check_boxes(g, f"gt_boxes[{i}]"))
            for i, (p, g) in enumerate(zip(proposals, gt_boxes, strict=True))]


def _thresholds(value: object) -> list[float]:
    values = value.tolist() if isinstance(value, Tensor) and value.dim() == 1 else value
    values = list(values) if isinstance(values, (list, tuple)) else [values]
    if not values:
        raise ValueError("iou_thresholds: expected at least one threshold")
    return [check_threshold(t, "iou_thresholds") for t in values]


def _ks(ks: object, k_max: int) -> Tensor:
    if ks is None:
        return torch.arange(1, k_max + 1)
    values = ks.tolist() if isinstance(ks, Tensor) else ks
    if not isinstance(values, (list, tuple, range)):
        raise TypeError(f"ks: expected a sequence of ints >= 0, got {type(ks).__name__}")
    for k in values:
        if isinstance(k, bool) or not isinstance(k, numbers.Integral):
            raise TypeError(f"ks: expected ints >= 0, got {k!r} ({type(k).__name__})")
        if k < 0:
            raise ValueError(f"ks: expected ints >= 0, got {k}")
    return torch.tensor([int(k) for k in values], dtype=torch.int64)
