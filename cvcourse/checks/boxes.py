"""Checks of chapter 06's exercises (IoU and GIoU), against `cvcourse.ops`.

- 06.1 `box_iou(boxes1, boxes2)`: the pairwise IoU, Tensor[N, 4] x Tensor[M, 4] -> Tensor[N, M] in
  `xyxy`, expected values from `cvcourse.ops.box_iou`.
- 06.2 `generalized_box_iou(boxes1, boxes2)`: the pairwise GIoU, expected values from
  `cvcourse.ops.generalized_box_iou`.

Both try the edge cases a detector meets: disjoint, touching, identical and nested boxes, zero-area
boxes (IoU 0, never NaN), empty inputs (N = 0 gives Tensor[0, M]), integer coordinates. Most boxes
have coordinates of a few units, so a failing case prints numbers one can check by hand.
"""
from __future__ import annotations

from collections.abc import Callable

import torch

from .. import ops as _ref
from ._core import Case, exercise, run_cases


def _boxes(*rows: tuple[float, float, float, float], dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.tensor(rows, dtype=dtype).reshape(-1, 4)


def _random_boxes(gen: torch.Generator, n: int) -> torch.Tensor:
    """`n` boxes in a 10 x 10 square, 1 to 6 units wide and high: many overlap, some do not."""
    xy = torch.rand(n, 2, generator=gen) * 8
    wh = torch.rand(n, 2, generator=gen) * 5 + 1
    return torch.cat([xy, xy + wh], dim=1)


def _cases(ref: Callable, pairs: list[tuple[str, torch.Tensor, torch.Tensor]]) -> list[Case]:
    return [Case(description, args=(b1, b2), expected=ref(b1, b2)) for description, b1, b2 in pairs]


def _shared_pairs(seed: int) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    """The edge cases both exercises are tried on (descriptions shown on failure)."""
    gen = torch.Generator().manual_seed(seed)
    unit = _boxes((0, 0, 1, 1))
    return [
        ("identical boxes: IoU 1", _boxes((2, 3, 6, 5)), _boxes((2, 3, 6, 5))),
        ("disjoint boxes, one up and to the left of the other (both overlap widths negative)",
         _boxes((0, 0, 2, 2)), _boxes((5, 4, 7, 8))),
        ("boxes touching along an edge: no overlap", unit, _boxes((1, 0, 2, 1))),
        ("one box inside another", _boxes((0, 0, 4, 4)), _boxes((1, 1, 2, 3))),
        ("a zero-area box (a horizontal line) against a box: no overlap", _boxes((0, 1, 4, 1)), _boxes((1, 0, 3, 2))),
        ("two identical points: the union is 0, the answer 0, not NaN", _boxes((1, 1, 1, 1)), _boxes((1, 1, 1, 1))),
        ("3 boxes against 2: the result is Tensor[3, 2], row i = boxes1[i], column j = boxes2[j]",
         _boxes((0, 0, 2, 2), (1, 1, 3, 3), (0, 0, 4, 1)), _boxes((1, 0, 2, 4), (0, 0, 2, 2))),
        ("integer pixel coordinates (int64): the answer is still a fraction",
         _boxes((0, 0, 10, 10), (5, 5, 15, 25), dtype=torch.int64), _boxes((2, 3, 12, 8), dtype=torch.int64)),
        ("6 random boxes against 5", _random_boxes(gen, 6), _random_boxes(gen, 5)),
        ("no boxes in boxes1: Tensor[0, 4] gives Tensor[0, M]", _boxes(), _boxes((0, 0, 1, 1), (1, 1, 3, 3))),
        ("no boxes in boxes2: Tensor[0, 4] gives Tensor[N, 0]", _boxes((0, 0, 1, 1)), _boxes()),
    ]


@exercise("06", 1, "pairwise IoU")
def box_iou(fn: Callable) -> tuple[str, int, int, str]:
    """Check ``fn(boxes1: Tensor[N, 4], boxes2: Tensor[M, 4]) -> Tensor[N, M]`` (xyxy) against
    `cvcourse.ops.box_iou`."""
    return run_cases(fn, _cases(_ref.box_iou, [
        ("a 2x2 box and a copy shifted by (1, 1): overlap 1, union 4 + 4 - 1 = 7",
         _boxes((0, 0, 2, 2)), _boxes((1, 1, 3, 3))),
        *_shared_pairs(601),
    ]))


@exercise("06", 2, "pairwise GIoU")
def generalized_box_iou(fn: Callable) -> tuple[str, int, int, str]:
    """Check ``fn(boxes1: Tensor[N, 4], boxes2: Tensor[M, 4]) -> Tensor[N, M]`` (xyxy) against
    `cvcourse.ops.generalized_box_iou` (IoU - (C - U) / C, C the area of the enclosing box)."""
    return run_cases(fn, _cases(_ref.generalized_box_iou, [
        ("the chapter's four boxes against [0, 0, 1, 1]: GIoU 0.25, 1, 0 and -0.5",
         _boxes((-1, -1, 1, 1), (0, 0, 1, 1), (0, 1, 1, 2), (1, 1, 2, 2)), _boxes((0, 0, 1, 1))),
        ("boxes touching at a corner: IoU 0, the enclosing 2x2 box is half empty, GIoU -0.5",
         _boxes((0, 0, 1, 1)), _boxes((1, 1, 2, 2))),
        ("boxes far apart: GIoU close to -1", _boxes((0, 0, 1, 1)), _boxes((100, 100, 101, 101))),
        *_shared_pairs(602),
        ("two lines on the same line: the enclosing box has area 0, GIoU 0, not NaN",
         _boxes((0, 0, 4, 0)), _boxes((1, 0, 3, 0), (6, 0, 7, 0))),
    ]))
