"""Checks of chapter 09's exercises (selective search), against `cvcourse.proposals`.

- 09.1 `region_similarity(r1, r2, image_size)`: the colour + size + fill similarity of two regions,
  expected values from `cvcourse.proposals.similarity`. Most cases use 4-bin histograms and boxes of a
  few pixels, so a failing case prints numbers one can check by hand; one uses real regions.
- 09.2 `recall_at_k(proposals, gt_boxes, k, iou_threshold)`: the fraction of ground-truth boxes found
  by the first k proposals of one image, expected values from `cvcourse.proposals.proposal_recall`.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from .. import proposals as _ref
from ._core import Case, exercise, run_cases


def _region(box: tuple[int, int, int, int], size: int, hist: list[float]) -> _ref.Region:
    return _ref.Region(box, size, np.asarray(hist, dtype=np.float64))


def _similarity_case(description: str, r1: _ref.Region, r2: _ref.Region, image_size: int) -> Case:
    return Case(description, args=(r1, r2, image_size), expected=float(_ref.similarity(r1, r2, image_size)))


def _real_regions() -> tuple[_ref.Region, _ref.Region, int]:
    """Two touching regions of a small seeded image cut into a left and a right part."""
    rng = np.random.default_rng(901)
    image = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    labels = np.zeros((6, 8), dtype=np.int64)
    labels[:, 5:] = 1                                          # columns 0..4 and 5..7
    labels[4:, 2:5] = 1                                        # an L-shaped right region
    regions = _ref.initial_regions(image, labels)
    return regions[0], regions[1], labels.size


@exercise("09", 1, "region similarity: colour + size + fill")
def region_similarity(fn: Callable) -> tuple[str, int, int, str]:
    """Check ``fn(r1: Region, r2: Region, image_size: int) -> float`` against
    `cvcourse.proposals.similarity` (s_colour + s_size + s_fill, Uijlings et al. 2013)."""
    real1, real2, real_size = _real_regions()
    return run_cases(fn, [
        _similarity_case("same colours, two 2x2 squares side by side that fill their joint box",
                         _region((0, 0, 2, 2), 4, [0.5, 0.5, 0, 0]), _region((2, 0, 4, 2), 4, [0.5, 0.5, 0, 0]), 64),
        _similarity_case("no colour in common: s_colour = 0",
                         _region((0, 0, 2, 2), 4, [1, 0, 0, 0]), _region((2, 0, 4, 2), 4, [0, 0, 0.5, 0.5]), 64),
        _similarity_case("colours that partly overlap: the sum of the bin-wise minimum",
                         _region((0, 0, 2, 2), 4, [0.5, 0.25, 0.25, 0]), _region((0, 2, 2, 4), 4, [0.25, 0.25, 0, 0.5]),
                         64),
        _similarity_case("boxes that touch only at a corner: the joint box has a gap to fill",
                         _region((0, 0, 2, 2), 4, [1, 0, 0, 0]), _region((2, 2, 4, 4), 4, [1, 0, 0, 0]), 16),
        _similarity_case("two single pixels side by side (boxes are exclusive: x2 = x1 + 1)",
                         _region((3, 5, 4, 6), 1, [0, 1, 0, 0]), _region((4, 5, 5, 6), 1, [0, 1, 0, 0]), 100),
        _similarity_case("a small region inside a large one's box: the joint box is the large box",
                         _region((0, 0, 8, 8), 40, [0.25, 0.25, 0.25, 0.25]), _region((2, 2, 4, 4), 4, [0, 0, 0, 1]),
                         100),
        _similarity_case("two regions covering the whole image: s_size = 0",
                         _region((0, 0, 4, 10), 40, [0.5, 0.5, 0, 0]), _region((4, 0, 10, 10), 60, [0, 0.5, 0.5, 0]),
                         100),
        _similarity_case("regions of a real (random 6x8) image from initial_regions: 75-bin HSV histograms",
                         real1, real2, real_size),
    ])


def _boxes(*rows: tuple[float, float, float, float]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float32).reshape(-1, 4)


def _recall_case(description: str, proposals: torch.Tensor, gt_boxes: torch.Tensor, k: int,
                 iou_threshold: float = 0.5) -> Case:
    expected = _ref.proposal_recall(proposals, gt_boxes, iou_thresholds=iou_threshold, ks=[k])
    return Case(description, args=(proposals, gt_boxes, k, iou_threshold),
                expected=float(expected["recall"][iou_threshold][0].item()))


def _jittered(gen: torch.Generator, gt: torch.Tensor, n: int, spread: float) -> torch.Tensor:
    """`n` boxes near random ground-truth boxes: corners moved by up to `spread` times the box size."""
    base = gt[torch.randint(0, len(gt), (n,), generator=gen)]                  # (n, 4)
    wh = (base[:, 2:] - base[:, :2]).repeat(1, 2)                              # (n, 4)
    moved = base + (torch.rand(n, 4, generator=gen) * 2 - 1) * spread * wh
    x1y1 = torch.minimum(moved[:, :2], moved[:, 2:])
    return torch.cat([x1y1, torch.maximum(moved[:, :2], moved[:, 2:])], dim=1).round()


@exercise("09", 2, "recall of the first k proposals")
def recall_at_k(fn: Callable) -> tuple[str, int, int, str]:
    """Check ``fn(proposals: Tensor[K, 4], gt_boxes: Tensor[G, 4], k: int, iou_threshold: float) -> float``
    against `cvcourse.proposals.proposal_recall` (one image, one k, one threshold)."""
    gt = _boxes((0, 0, 10, 10), (20, 0, 30, 10), (0, 20, 10, 30))
    props = _boxes((0, 0, 10, 10),      # gt 0, IoU 1
                   (40, 40, 50, 50),    # nothing
                   (20, 0, 30, 8),      # gt 1, IoU 0.8
                   (0, 20, 10, 25),     # gt 2, IoU exactly 0.5
                   (0, 22, 10, 30))     # gt 2, IoU 0.8
    gen = torch.Generator().manual_seed(902)
    many_gt = _boxes((10, 10, 60, 50), (70, 20, 120, 90), (30, 60, 90, 110), (5, 80, 25, 115))
    many_props = _jittered(gen, many_gt, 30, 0.25)
    return run_cases(fn, [
        _recall_case("all 5 proposals: every ground-truth box is found", props, gt, 5),
        _recall_case("k = 1: only the first proposal counts", props, gt, 1),
        _recall_case("k = 3: the third proposal finds a second box", props, gt, 3),
        _recall_case("k = 4: IoU exactly 0.5 counts as found (>=)", props, gt, 4),
        _recall_case("threshold 0.7, k = 4: IoU 0.5 is not enough", props, gt, 4, 0.7),
        _recall_case("k larger than the number of proposals (50 > 5): use all of them", props, gt, 50, 0.7),
        _recall_case("k = 0: no proposal looked at, nothing found", props, gt, 0),
        _recall_case("no proposals at all (Tensor[0, 4])", _boxes(), gt, 10),
        _recall_case("30 noisy proposals around 4 objects, k = 10, IoU 0.7", many_props, many_gt, 10, 0.7),
    ])
