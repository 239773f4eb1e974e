"""Checks of chapter 07's exercises (anchor boxes), against `cvcourse.anchors`.

- 07.1 `wh_iou(wh1, wh2)`: the IoU of box shapes aligned at a shared centre, Tensor[N, 2] x
  Tensor[K, 2] -> Tensor[N, K], expected values from `cvcourse.anchors.wh_iou`.
- 07.2 `kmeans_iou(wh, centres, iters)`: k-means of box shapes with the distance 1 - IoU from given
  initial centres (so the answer is deterministic), returning the final centres sorted by area;
  expected values from `cvcourse.anchors.kmeans_iou` started from the same centres (its first
  result; the package also returns each box's cluster).
"""
from __future__ import annotations

from collections.abc import Callable

import torch

from .. import anchors as _ref
from ..data.shapes import ShapesDataset
from ._core import Case, exercise, run_cases


def _wh(*rows: tuple[float, float], dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.tensor(rows, dtype=dtype).reshape(-1, 2)


def _iou_case(description: str, wh1: torch.Tensor, wh2: torch.Tensor) -> Case:
    return Case(description, args=(wh1, wh2), expected=_ref.wh_iou(wh1, wh2))


@exercise("07", 1, "IoU of box shapes")
def wh_iou(fn: Callable) -> tuple[str, int, int, str]:
    """Check ``fn(wh1: Tensor[N, 2], wh2: Tensor[K, 2]) -> Tensor[N, K]`` against
    `cvcourse.anchors.wh_iou` (boxes aligned at a shared centre, YOLOv2's clustering distance)."""
    gen = torch.Generator().manual_seed(701)
    return run_cases(fn, [
        _iou_case("a 2x2 square against a 1x4 box (IoU 1/3) and against itself (IoU 1)",
                  _wh((2, 2)), _wh((1, 4), (2, 2))),
        _iou_case("one shape inside the other: IoU = small area / large area", _wh((2, 3)), _wh((4, 6))),
        _iou_case("a wide box against a tall one: the overlap is min(w) x min(h), not the smaller area",
                  _wh((8, 2)), _wh((2, 8))),
        _iou_case("3 boxes against 2 anchors: the result is Tensor[3, 2] (boxes in rows)",
                  _wh((10, 20), (30, 30), (5, 40)), _wh((20, 20), (10, 30))),
        _iou_case("integer widths and heights (int64): the IoU is still a fraction",
                  _wh((3, 4), (6, 2), dtype=torch.int64), _wh((4, 4), (1, 9), (6, 2), dtype=torch.int64)),
        _iou_case("7 random shapes against 4 random anchors",
                  torch.rand(7, 2, generator=gen) * 50 + 1, torch.rand(4, 2, generator=gen) * 50 + 1),
        _iou_case("no boxes at all: Tensor[0, 2] gives Tensor[0, K]", _wh(), _wh((1, 2), (3, 4))),
    ])


def _kmeans_case(description: str, wh: torch.Tensor, centres: torch.Tensor, iters: int) -> Case:
    return Case(description, args=(wh, centres, iters), expected=_ref.kmeans_iou(wh, centres, iters)[0])


def _shapes_wh(n_images: int, seed: int) -> torch.Tensor:
    """The (w, h) of every box of `n_images` scenes of the synthetic shapes data set."""
    ds = ShapesDataset(n_images, image_size=128, seed=seed, classes=("square", "circle", "triangle", "ellipse"),
                       size_range=(0.06, 0.7))
    boxes = torch.cat([ds.scene(i).boxes for i in range(n_images)])   # (N, 4) xyxy
    return boxes[:, 2:] - boxes[:, :2]


@exercise("07", 2, "k-means with the distance 1 - IoU")
def kmeans_iou(fn: Callable) -> tuple[str, int, int, str]:
    """Check ``fn(wh: Tensor[N, 2], centres: Tensor[k, 2], iters: int) -> Tensor[k, 2]`` (the final
    centres sorted by area) against `cvcourse.anchors.kmeans_iou` from the same initial centres."""
    two_groups = _wh((10, 10), (10, 12), (1, 1), (1, 1.2))
    empty = _wh((8, 3), (9, 11), (6, 11), (11, 3), (6, 2))
    real = _shapes_wh(60, seed=702)
    return run_cases(fn, [
        _kmeans_case("two groups of boxes, the initial centres given smallest first",
                     two_groups, _wh((1, 1), (10, 10)), 10),
        _kmeans_case("the same, centres given largest first: sort them by area at the end",
                     two_groups, _wh((10, 10), (1, 1)), 10),
        _kmeans_case("a 5x5 box between a 2x2 and a 10x10 centre: 1 - IoU puts it with the large one "
                     "(IoU 0.25 > 0.16); the Euclidean distance would pick the small one",
                     _wh((2, 2), (5, 5), (10, 10), (11, 11)), _wh((2, 2), (10, 10)), 10),
        _kmeans_case("k = 1: the single centre becomes the mean (w, h) of all boxes",
                     _wh((4, 2), (2, 4), (6, 6), (3, 3)), _wh((1, 1)), 5),
        _kmeans_case("an initial centre (100, 100) no box is near: its cluster is empty and it moves to "
                     "the box worst covered by the other centres",
                     empty, _wh((7, 3), (8, 11), (100, 100)), 10),
        _kmeans_case("iters = 1: exactly one update of the centres (not converged yet)",
                     real, real[[0, 1, 2, 3]].clone(), 1),
        _kmeans_case(f"{len(real)} boxes of 60 shapes scenes, k = 5, run to convergence",
                     real, real[[0, 5, 10, 15, 20]].clone(), 100),
    ])
