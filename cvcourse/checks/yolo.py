"""Checks of chapter 12's exercises (YOLO), against `cvcourse.yolo`.

- 12.1 `encode_one(box, label, S, B, C, image_size)`: one box's YOLOv1 target, Tensor[S, S, 5B + C];
  box Tensor[4] `xyxy` pixels, label an int, image_size (H, W); expected values from
  `encode_v1_targets(box[None], tensor([label]), S, B, C, image_size=image_size)`.
- 12.2 `v1_loss(pred, target, S, B, C, lambda_coord=5.0, lambda_noobj=0.5)`: YOLOv1's loss as a
  dict of its four weighted terms {"coord", "obj", "noobj", "class"} (each a number or a 0-dim
  tensor; more keys, such as "loss", are allowed), pred and target Tensor[N, S, S, 5B + C], each
  term summed over the batch and divided by N; expected values from `yolo_v1_loss` with a tiny eps
  (so its smoothed square root is the plain one). Each term is its own case, so a failure says
  which term is wrong. Predicted widths and heights are positive in every case.
- 12.3 `decode_one(t, cell, anchor, stride)`: one YOLOv2/v3 prediction t = Tensor[4] (t_x, t_y,
  t_w, t_h) of cell (c_x, c_y) with anchor (p_w, p_h) pixels at a stride, as a Tensor[4] `xyxy` box
  in pixels; expected values from `decode_boxes` with `make_priors` for that cell.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch

from ..yolo import decode_boxes, encode_v1_targets, make_priors, yolo_v1_loss
from ._core import Case, exercise, run_cases

TERMS = ("coord", "obj", "noobj", "class")


# ----------------------------------------------------------------------------- 12.1 encode one box
def _encode_case(description: str, box: Sequence[float], label: int, S: int, B: int, C: int,
                 image_size: tuple[int, int], dtype: torch.dtype = torch.float32) -> Case:
    b = torch.tensor(box, dtype=dtype)
    expected = encode_v1_targets(b[None], torch.tensor([label]), S, B, C, image_size=image_size)
    return Case(description, args=(b, label, S, B, C, image_size), expected=expected)


@exercise("12", 1, "one box as YOLOv1's target tensor")
def encode_one(fn: Callable) -> tuple[str, int, int, str]:
    """Check ``fn(box: Tensor[4], label: int, S: int, B: int, C: int, image_size: (H, W)) ->
    Tensor[S, S, 5B + C]`` against `cvcourse.yolo.encode_v1_targets` (one box)."""
    return run_cases(fn, [
        _encode_case("the paper's sizes: a 448 x 448 image, S = 7, B = 2, C = 20 (cells of 64 pixels); the centre "
                     "(160, 224) is in row 3, column 2", (100.0, 180.0, 220.0, 268.0), 14, 7, 2, 20, (448, 448)),
        _encode_case("a wide image (H = 100, W = 200), S = 2: the column comes from x and W, the row from y and H",
                     (120.0, 10.0, 180.0, 40.0), 1, 2, 2, 3, (100, 200)),
        _encode_case("x, y are the centre's offset inside its cell (0..1), not in the image",
                     (50.0, 60.0, 90.0, 80.0), 0, 4, 2, 3, (128, 128)),
        _encode_case("w, h are fractions of the image's width and height, not of a cell",
                     (8.0, 16.0, 104.0, 48.0), 2, 4, 2, 3, (128, 128)),
        _encode_case("a centre exactly on a cell border belongs to the cell right of / below it (floor), with x = 0",
                     (24.0, 40.0, 40.0, 56.0), 0, 4, 2, 3, (128, 128)),
        _encode_case("a box filling the whole image, S = 7: the middle cell (3, 3), x = y = 0.5, w = h = 1",
                     (0.0, 0.0, 448.0, 448.0), 5, 7, 2, 20, (448, 448)),
        _encode_case("a small box in the bottom-right corner: the last cell (S - 1, S - 1)",
                     (430.0, 436.0, 446.0, 447.0), 3, 7, 2, 20, (448, 448)),
        _encode_case("B = 3: the box fills the first group (x, y, w, h, 1) only; the other two groups stay 0",
                     (30.0, 20.0, 70.0, 90.0), 1, 3, 3, 4, (96, 96)),
        _encode_case("the last class (label C - 1 = 19): the one-hot sits at index 5B + 19 = 29",
                     (200.0, 40.0, 300.0, 200.0), 19, 7, 2, 20, (448, 448)),
        _encode_case("integer box coordinates (int64): the target is float all the same",
                     (10, 30, 50, 90), 2, 5, 2, 3, (100, 160), dtype=torch.int64),
        _encode_case("S = 13, B = 1, C = 3 on a 416 x 416 image (YOLOv2's grid)",
                     (187.5, 96.25, 261.0, 301.5), 2, 13, 1, 3, (416, 416)),
    ])


# ----------------------------------------------------------------------------- 12.2 the v1 loss
def _grid(S: int, B: int, C: int, cells: dict[tuple[int, int], Sequence[float]], n: int = 1) -> torch.Tensor:
    """A Tensor[n, S, S, 5B + C] of zeros with the given (row, col) cells (the same in each image)."""
    t = torch.zeros(n, S, S, 5 * B + C)
    for (r, c), values in cells.items():
        t[:, r, c] = torch.tensor(values, dtype=torch.float32)
    return t


def _terms(fn: Callable) -> Callable:
    """A probe: `fn(pred, target, ...)`'s term `term` as a float."""

    def probe(pred: torch.Tensor, target: torch.Tensor, *args: Any, term: str, **kwargs: Any) -> float:
        out = fn(pred, target, *args, **kwargs)
        if not isinstance(out, dict):
            raise TypeError(f"your function returned {type(out).__name__}; expected a dict with the keys "
                            f"{', '.join(repr(k) for k in TERMS)}")
        if term not in out:
            raise KeyError(f"the dict your function returned has no key {term!r} (it has {sorted(out)})")
        value = out[term]
        if isinstance(value, torch.Tensor):
            if value.numel() != 1:
                raise ValueError(f"the term {term!r} is a Tensor{list(value.shape)}; expected one number (sum it)")
            return float(value.detach().item())
        return value

    return probe


def _loss_cases(description: str, pred: torch.Tensor, target: torch.Tensor, S: int, B: int, C: int,
                terms: Sequence[str] = TERMS, **weights: float) -> list[Case]:
    expected = yolo_v1_loss(pred, target, S, B, C, eps=1e-12, **weights)
    return [Case(f"{description}: the {term!r} term", args=(pred, target, S, B, C),
                 kwargs={**weights, "term": term}, expected=float(expected[term])) for term in terms]


@exercise("12", 2, "the YOLOv1 loss")
def v1_loss(fn: Callable) -> tuple[str, int, int, str]:
    """Check ``fn(pred: Tensor[N, S, S, 5B + C], target: Tensor[N, S, S, 5B + C], S, B, C,
    lambda_coord=5.0, lambda_noobj=0.5) -> {"coord", "obj", "noobj", "class"}`` against
    `cvcourse.yolo.yolo_v1_loss`, term by term."""
    gen = torch.Generator().manual_seed(1202)
    S, B, C = 2, 2, 3
    empty = {(0, 0): [0.5, 0.5, 0.2, 0.2, 0.3] * 2 + [0.2, 0.5, 0.3]}          # nothing but confidences matter
    quiet = {(0, 0): [0.5, 0.5, 0.3, 0.3, 0.2, 0.4, 0.6, 0.2, 0.1, 0.1, 0.3, 0.3, 0.4],
             (1, 0): [0.2, 0.7, 0.5, 0.1, 0.1, 0.8, 0.3, 0.1, 0.4, 0.3, 0.6, 0.2, 0.2],
             (1, 1): [0.5, 0.2, 0.2, 0.6, 0.4, 0.3, 0.3, 0.3, 0.3, 0.05, 0.1, 0.1, 0.8]}
    close, far = [0.6, 0.4, 0.16, 0.25, 0.7], [0.2, 0.9, 0.64, 0.09, 0.4]        # near / away from the object
    target = _grid(S, B, C, {(0, 1): [0.5, 0.5, 0.25, 0.36, 1] + [0] * 5 + [0, 1, 0]})
    first = _grid(S, B, C, {**quiet, (0, 1): close + far + [0.1, 0.6, 0.3]})
    second = _grid(S, B, C, {**quiet, (0, 1): far + close + [0.1, 0.6, 0.3]})
    miss = _grid(S, B, C, {(0, 1): [0.05, 0.05, 0.01, 0.01, 0.3, 0.95, 0.95, 0.01, 0.01, 0.6, 0.2, 0.2, 0.6]})
    small = _grid(S, B, C, {(0, 1): [0.5, 0.5, 0.04, 0.09, 1] + [0] * 5 + [1, 0, 0],
                            (1, 0): [0.5, 0.5, 0.64, 0.81, 1] + [0] * 5 + [0, 0, 1]})
    four_times = _grid(S, B, C, {(0, 1): [0.5, 0.5, 0.16, 0.36, 0.9, 0.5, 0.5, 0.01, 0.01, 0.0, 1, 0, 0],
                                 (1, 0): [0.5, 0.5, 0.8, 0.9, 0.9, 0.5, 0.5, 0.01, 0.01, 0.0, 0, 0, 1]})
    batch_t = torch.cat([target, small])
    batch_p = torch.cat([first, four_times])

    def random_batch(n: int, S: int, B: int, C: int, objects: int) -> tuple[torch.Tensor, torch.Tensor]:
        pred = torch.rand(n, S, S, 5 * B + C, generator=gen)
        pred[..., [5 * j + k for j in range(B) for k in (2, 3)]] = torch.rand(n, S, S, 2 * B, generator=gen) * 0.9 + 0.05
        target = torch.zeros(n, S, S, 5 * B + C)
        for i in range(n):
            cells = torch.randperm(S * S, generator=gen)[:objects]
            for cell in cells.tolist():
                r, c = divmod(cell, S)
                target[i, r, c, :4] = torch.rand(4, generator=gen) * 0.8 + 0.1
                target[i, r, c, 4] = 1
                target[i, r, c, 5 * B + int(torch.randint(C, (1,), generator=gen))] = 1
        return pred, target

    paper_p, paper_t = random_batch(3, 7, 2, 20, 4)
    return run_cases(_terms(fn), [
        *_loss_cases("no object in the image (an all-zero target): every confidence is pushed to 0 "
                     "(lambda_noobj x the sum of the 8 squared confidences); the other terms are 0",
                     _grid(S, B, C, empty), torch.zeros(1, S, S, 5 * B + C), S, B, C),
        *_loss_cases("one object in cell (0, 1); predictor 0 has the higher IoU with it, so it is responsible",
                     first, target, S, B, C),
        *_loss_cases("the same object; now predictor 1 has the higher IoU: it is responsible, and predictor 0's "
                     "confidence counts in the noobj term", second, target, S, B, C, terms=("coord", "obj", "noobj")),
        *_loss_cases("both predictors miss the object (IoU 0 for both): predictor 0 is responsible (the first on "
                     "ties), and the confidence target is the IoU, 0", miss, target, S, B, C,
                     terms=("coord", "obj", "noobj")),
        *_loss_cases("w and h enter through square roots: a small box 4 times too wide costs more than a large "
                     "box 1.25 times too wide", four_times, small, S, B, C, terms=("coord", "obj")),
        *_loss_cases("class probabilities count only in cells that hold an object", first, target, S, B, C,
                     terms=("class",)),
        *_loss_cases("a batch of 2 images: each term is summed over the batch and divided by N = 2",
                     batch_p, batch_t, S, B, C),
        *_loss_cases("lambda_coord = 1 and lambda_noobj = 1 (use the arguments)", first, target, S, B, C,
                     terms=("coord", "noobj"), lambda_coord=1.0, lambda_noobj=1.0),
        *_loss_cases("the paper's sizes: S = 7, B = 2, C = 20, 3 images with 4 objects each, random predictions",
                     paper_p, paper_t, 7, 2, 20),
    ])


# ----------------------------------------------------------------------------- 12.3 decode one prediction
def _decode_case(description: str, t: Sequence[float], cell: tuple[int, int], anchor: tuple[float, float],
                 stride: int, dtype: torch.dtype = torch.float32) -> Case:
    cx, cy = cell
    priors = make_priors((stride * (cy + 1), stride * (cx + 1)), (stride,), [[anchor]])   # the cell is the last one
    pred = torch.zeros(1, len(priors.stride), 4, dtype=dtype)
    t = torch.tensor(t, dtype=dtype)
    pred[0, -1] = t
    return Case(description, args=(t, cell, anchor, stride), expected=decode_boxes(pred, priors)[0, -1])


@exercise("12", 3, "decode one YOLOv3 prediction")
def decode_one(fn: Callable) -> tuple[str, int, int, str]:
    """Check ``fn(t: Tensor[4], cell: (c_x, c_y), anchor: (p_w, p_h), stride: int) -> Tensor[4]``
    (`xyxy` pixels) against `cvcourse.yolo.decode_boxes`."""
    gen = torch.Generator().manual_seed(1203)
    return run_cases(fn, [
        _decode_case("t = 0: the anchor's size, centred in the middle of its cell (sigmoid(0) = 0.5)",
                     (0.0, 0.0, 0.0, 0.0), (3, 3), (30.0, 61.0), 16),
        _decode_case("cell (c_x, c_y) = (5, 2): c_x counts columns (along x), c_y rows (along y)",
                     (0.0, 0.0, 0.0, 0.0), (5, 2), (62.0, 45.0), 16),
        _decode_case("t_x = t_y = -6: the centre moves to near the cell's top-left corner, and never leaves the cell",
                     (-6.0, -6.0, 0.0, 0.0), (4, 1), (33.0, 23.0), 8),
        _decode_case("t_x = 2, t_y = -1: the centre is (sigmoid(t) + c) x stride",
                     (2.0, -1.0, 0.0, 0.0), (1, 6), (10.0, 13.0), 8),
        _decode_case("t_w = log 2, t_h = -log 2: twice as wide and half as high as the anchor (p exp(t))",
                     (0.0, 0.0, math.log(2), -math.log(2)), (2, 2), (116.0, 90.0), 32),
        _decode_case("the anchor is in pixels: do not multiply it by the stride", (0.5, -0.5, 0.3, 0.1), (7, 3),
                     (16.0, 30.0), 8),
        _decode_case("the coarsest YOLOv3 scale: stride 32, anchor (373, 326), the last cell (12, 12) of a 416 image",
                     (1.0, 1.5, -0.2, 0.4), (12, 12), (373.0, 326.0), 32),
        _decode_case("float64 offsets, random values", tuple((torch.randn(4, generator=gen) * 1.5).tolist()),
                     (9, 4), (59.0, 119.0), 16, dtype=torch.float64),
    ])
