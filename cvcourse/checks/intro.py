"""Checks of chapter 00's warm-up exercise (the course index), against `cvcourse.ops`.

- 00.1 `box_area(boxes)`: the area of each box, Tensor[N, 4] (`xyxy`) -> Tensor[N], expected values
  from `cvcourse.ops.box_area` (the same as `torchvision.ops.box_area`).

The cases mirror the reference's conventions: coordinates are pixel edges, so a box's width is
x2 - x1 (no "+ 1" as in old PASCAL VOC code); a zero-width or zero-height box (a line, a point) has
area 0; no boxes give an empty Tensor[0]; float64 boxes keep float64 (a case far from the origin,
where float32 cannot tell x1 from x2, catches a conversion). Boxes with x2 < x1 are not valid `xyxy`
boxes (the reference raises ValueError); the warm-up does not ask for that check.
"""
from __future__ import annotations

from collections.abc import Callable

import torch

from .. import ops as _ref
from ._core import Case, exercise, run_cases


def _boxes(*rows: tuple[float, float, float, float], dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.tensor(rows, dtype=dtype).reshape(-1, 4)


def _case(description: str, boxes: torch.Tensor) -> Case:
    return Case(description, args=(boxes,), expected=_ref.box_area(boxes))


@exercise("00", 1, "box areas")
def box_area(fn: Callable) -> tuple[str, int, int, str]:
    """Check ``fn(boxes: Tensor[N, 4]) -> Tensor[N]`` (xyxy) against `cvcourse.ops.box_area`."""
    gen = torch.Generator().manual_seed(1)
    xy = torch.rand(6, 2, generator=gen) * 50
    random_boxes = torch.cat([xy, xy + torch.rand(6, 2, generator=gen) * 30 + 1], dim=1)   # (6, 4)
    return run_cases(fn, [
        _case("one box from (1, 2) to (4, 6): 3 wide, 4 high, area 12", _boxes((1, 2, 4, 6))),
        _case("three boxes: one area per box, Tensor[3]", _boxes((0, 0, 2, 2), (1, 1, 4, 2), (5, 0, 6, 10))),
        _case("a box with negative coordinates (partly left of and above the image)", _boxes((-3, -1, 2, 3))),
        _case("a zero-area box (a vertical line, x2 = x1) between two boxes: area 0",
              _boxes((0, 0, 1, 1), (3, 1, 3, 5), (2, 2, 4, 5))),
        _case("a single point (x1 = x2, y1 = y2): area 0", _boxes((7, 7, 7, 7))),
        _case("integer pixel coordinates (int64)", _boxes((0, 0, 10, 20), (5, 5, 15, 10), dtype=torch.int64)),
        _case("6 random boxes", random_boxes),
        _case("float64 boxes far from the origin: keep float64 (float32 cannot tell 1e8 from 1e8 + 1.5)",
              _boxes((1e8, 0, 1e8 + 1.5, 2), (0, 0, 0.5, 0.25), dtype=torch.float64)),
        _case("no boxes: Tensor[0, 4] gives Tensor[0]", _boxes()),
    ])
