"""Checks of chapter 08's exercise (non-maximum suppression), against `cvcourse.ops`.

- 08.1 `nms(boxes, scores, iou_threshold)`: greedy NMS, Tensor[N, 4] (xyxy) and Tensor[N] -> the
  int64 indices of the kept boxes by decreasing score, expected values from `cvcourse.ops.nms`.

The cases are the rules a detector relies on: a kept box suppresses only boxes with IoU strictly
above the threshold (IoU == threshold is kept), only *kept* boxes suppress (a chain), equal scores
are visited in input order, zero-area boxes never suppress, thresholds 0 and 1, no boxes at all
(an empty int64 Tensor[0]). Most boxes have coordinates of a few units and every IoU that meets a
threshold exactly is exact in float32 (0.5 = 2 / 4), so a failing case can be checked by hand.
"""
from __future__ import annotations

from collections.abc import Callable

import torch

from .. import ops as _ref
from ._core import Case, exercise, run_cases


def _boxes(*rows: tuple[float, float, float, float]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float32).reshape(-1, 4)


def _scores(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32)


def _case(description: str, boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> Case:
    expected = _ref.nms(boxes, scores, iou_threshold)
    return Case(description, args=(boxes, scores, iou_threshold), expected=expected)


def _detections(gen: torch.Generator, centres: list[tuple[float, float]], per_object: int) -> torch.Tensor:
    """`per_object` boxes of about 4 x 4 units around each centre, corners moved by up to 1 unit."""
    c = torch.tensor(centres, dtype=torch.float32).repeat_interleave(per_object, 0)    # (N, 2)
    return torch.cat([c - 2, c + 2], dim=1) + (torch.rand(len(c), 4, generator=gen) * 2 - 1)


@exercise("08", 1, "greedy NMS")
def nms(fn: Callable) -> tuple[str, int, int, str]:
    """Check ``fn(boxes: Tensor[N, 4], scores: Tensor[N], iou_threshold: float) -> Tensor[K]`` (xyxy;
    the int64 indices of the kept boxes by decreasing score) against `cvcourse.ops.nms`."""
    gen = torch.Generator().manual_seed(801)
    cluster = _boxes((0, 0, 4, 4), (0, 0, 4, 5), (1, 0, 4, 4))              # IoU 0.8 and 0.75 with box 0
    two = _boxes((10, 0, 14, 4), (0, 0, 4, 4), (10, 1, 14, 4), (0, 0, 4, 5))
    row = _boxes((0, 0, 4, 4), (2, 0, 6, 4), (4, 0, 8, 4), (6, 0, 10, 4), (8, 0, 12, 4))  # IoU 1/3, next
    equal = _boxes((0, 0, 4, 4), (10, 0, 14, 4), (0, 0, 4, 5), (20, 0, 24, 4), (10, 0, 14, 5))
    flat = _boxes((1, 2, 3, 2), (0, 0, 4, 4), (2, 2, 2, 2), (0, 0, 4, 4))   # a line, a box, a point, a copy
    touching = _boxes((0, 0, 4, 4), (3, 3, 7, 7), (4, 0, 8, 3), (9, 9, 10, 10))
    noisy = _detections(gen, [(3, 3), (10, 4), (6, 10)], 6)
    falling = _scores(0.875, 0.75, 0.625, 0.5, 0.375)
    return run_cases(fn, [
        _case("one object, 3 boxes (IoU 0.8 and 0.75 with the best one): keep the best only",
              cluster, falling[:3], 0.5),
        _case("two objects apart, 2 boxes each: one per object, returned by decreasing score (not by index)",
              two, _scores(0.625, 0.875, 0.5, 0.75), 0.5),
        _case("a row of boxes, each with IoU 1/3 with the next, threshold 0.3: box 1 is suppressed by box 0, "
              "so it suppresses nothing and box 2 is kept (only kept boxes suppress)",
              row, falling, 0.3),
        _case("IoU exactly equal to the threshold (2 / 4 = 0.5): not above it, so both are kept",
              _boxes((0, 0, 3, 1), (1, 0, 4, 1)), falling[:2], 0.5),
        _case("equal scores: boxes are visited in input order (lower index first) and returned in that order",
              equal, _scores(0.5, 0.5, 0.5, 0.5, 0.5), 0.5),
        _case("zero-area boxes (a line and a point) have IoU 0 with every box: they never suppress and are "
              "never suppressed", flat, falling[:4], 0.5),
        _case("threshold 0: any overlap suppresses (boxes that only touch do not overlap)",
              touching, falling[:4], 0.0),
        _case("threshold 1: nothing is suppressed, not even an identical box (IoU 1 is not above 1)",
              _boxes((0, 0, 4, 4), (0, 0, 4, 4), (1, 1, 3, 3)), _scores(0.25, 0.875, 0.5), 1.0),
        _case("a single box", _boxes((2, 3, 5, 7)), _scores(0.25), 0.5),
        _case("no boxes: Tensor[0, 4] gives an empty int64 Tensor[0]", _boxes(), _scores(), 0.5),
        _case("18 noisy detections of 3 objects, threshold 0.5", noisy, torch.rand(18, generator=gen), 0.5),
        _case("the same detections, threshold 0.2", noisy, torch.rand(18, generator=gen), 0.2),
    ])
