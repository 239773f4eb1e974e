"""Checks of chapter 11's exercises (Mask R-CNN's mask branch), against `cvcourse.models.roi_heads`.

- 11.1 `mask_target(gt_mask, box, size)`: the training target of the mask head for one RoI: the
  ground-truth mask `Tensor[H, W]` (bool) cut out along `box` (`xyxy`, image pixels) and resampled
  to `size x size` with RoIAlign (`spatial_scale=1`, `sampling_ratio=2`, `aligned=True`), a float
  `Tensor[size, size]` in [0, 1], not thresholded; expected values from
  `project_masks_on_boxes(gt_mask[None], box[None], torch.zeros(1, dtype=torch.int64), size)[0]`.
- 11.2 `mask_loss(mask_logits, mask_targets, labels)`: the mean per-pixel binary cross-entropy of
  each RoI's ground-truth class's mask only; mask_logits `Tensor[P, C, M, M]`, mask_targets
  `Tensor[P, M, M]`, labels `Tensor[P]` (0-based, no background); 0 for P = 0; expected values from
  `maskrcnn_loss`. The answer may be a 0-d tensor or a number.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ..models.roi_heads import maskrcnn_loss, project_masks_on_boxes
from ._core import Case, exercise, run_cases


def _number(fn: Callable) -> Callable:
    """`fn` whose answer, when a one-element tensor, is compared as a number."""

    def call(*args: Any) -> Any:
        out = fn(*args)
        return out.item() if isinstance(out, torch.Tensor) and out.numel() == 1 else out

    return call


# ----------------------------------------------------------------------------- 11.1 the mask target
def _square(h: int, w: int, x1: int, y1: int, x2: int, y2: int) -> torch.Tensor:
    """A bool Tensor[H, W] that is True on columns x1..x2 - 1 and rows y1..y2 - 1."""
    mask = torch.zeros(h, w, dtype=torch.bool)
    mask[y1:y2, x1:x2] = True
    return mask


def _disc(h: int, w: int, cx: float, cy: float, r: float) -> torch.Tensor:
    """A bool Tensor[H, W] that is True on the pixels whose centres are within r of (cx, cy)."""
    ys, xs = torch.meshgrid(torch.arange(h) + 0.5, torch.arange(w) + 0.5, indexing="ij")
    return (xs - cx) ** 2 + (ys - cy) ** 2 <= r * r


def _target_case(description: str, gt_mask: torch.Tensor, box: tuple[float, float, float, float],
                 size: int = 28) -> Case:
    b = torch.tensor(box, dtype=torch.float32)
    expected = project_masks_on_boxes(gt_mask[None], b[None], torch.zeros(1, dtype=torch.int64), size)[0]
    return Case(description, args=(gt_mask, b, size), expected=expected)


@exercise("11", 1, "the mask target of a RoI")
def mask_target(fn: Callable) -> tuple[str, int, int, str]:
    """Check ``fn(gt_mask: Tensor[H, W] bool, box: Tensor[4], size: int) -> Tensor[size, size]``
    against `cvcourse.models.roi_heads.project_masks_on_boxes` (RoIAlign, aligned=True,
    sampling_ratio=2, spatial_scale=1, soft values)."""
    square = _square(24, 32, 8, 6, 20, 18)                         # a 12 x 12 square
    disc = _disc(40, 40, 21.0, 17.5, 9.0)
    corner = _square(20, 20, 0, 0, 7, 9)                           # touches the image's top-left corner
    return run_cases(fn, [
        _target_case("a 12 x 12 square and its own tight box: ones inside, soft only in the cells on its edges",
                     square, (8.0, 6.0, 20.0, 18.0)),
        _target_case("a proposal twice as large as the square: the object fills its middle", square,
                     (2.0, 0.0, 26.0, 24.0)),
        _target_case("a proposal shifted right and down: it cuts the square, the target shows the part inside",
                     square, (13.0, 10.0, 25.0, 22.0)),
        _target_case("a wide proposal (24 x 8 pixels): x and y are resampled differently", square,
                     (4.0, 8.0, 28.0, 16.0)),
        _target_case("fractional box coordinates", disc, (11.3, 7.8, 30.6, 27.1)),
        _target_case("a small box (6 x 5 pixels) over the disc's edge: the target upsamples it", disc,
                     (26.0, 15.0, 32.0, 20.0)),
        _target_case("a box partly outside the image (x1 < 0, y1 < 0): samples outside read 0", corner,
                     (-3.0, -2.0, 6.0, 8.0)),
        _target_case("a box that misses the object: the target is all zeros", disc, (0.0, 30.0, 8.0, 38.0)),
        _target_case("size 14 instead of 28", disc, (10.0, 6.0, 33.0, 29.0), size=14),
        _target_case("a random proposal around a disc, size 28", _disc(48, 64, 30.0, 20.0, 12.5),
                     (15.5, 4.25, 47.0, 39.5)),
    ])


# ----------------------------------------------------------------------------- 11.2 the mask loss
def _loss_case(description: str, mask_logits: torch.Tensor, mask_targets: torch.Tensor, labels: list[int]) -> Case:
    lab = torch.tensor(labels, dtype=torch.int64)
    return Case(description, args=(mask_logits, mask_targets, lab),
                expected=float(maskrcnn_loss(mask_logits, mask_targets, lab)))


@exercise("11", 2, "the mask loss")
def mask_loss(fn: Callable) -> tuple[str, int, int, str]:
    """Check ``fn(mask_logits: Tensor[P, C, M, M], mask_targets: Tensor[P, M, M], labels: Tensor[P])
    -> scalar`` against `cvcourse.models.roi_heads.maskrcnn_loss` (the BCE of each RoI's own class)."""
    gen = torch.Generator().manual_seed(1102)

    def logits(p: int, c: int, m: int, scale: float = 2.0) -> torch.Tensor:
        return torch.randn(p, c, m, m, generator=gen) * scale

    def binary(p: int, m: int) -> torch.Tensor:
        return (torch.rand(p, m, m, generator=gen) > 0.5).float()

    one = torch.tensor([[[[2.0, -1.0], [0.0, 3.0]], [[-4.0, 4.0], [1.0, -2.0]]]])   # (1, 2, 2, 2)
    big = torch.full((2, 3, 4, 4), -40.0)
    big[0, 1, :2] = 40.0                                            # confident, and wrong on half the pixels
    big[1, 2] = 40.0
    return run_cases(_number(fn), [
        _loss_case("one RoI of class 0, two classes, 2 x 2 masks: only channel 0 counts", one,
                   torch.tensor([[[1.0, 0.0], [1.0, 1.0]]]), [0]),
        _loss_case("the same RoI labelled class 1: only channel 1 counts", one,
                   torch.tensor([[[1.0, 0.0], [1.0, 1.0]]]), [1]),
        _loss_case("three RoIs of three different classes", logits(3, 3, 6), binary(3, 6), [2, 0, 1]),
        _loss_case("two RoIs of the same class", logits(2, 3, 6), binary(2, 6), [1, 1]),
        _loss_case("soft targets (values between 0 and 1, as RoIAlign makes them)", logits(4, 3, 6),
                   torch.rand(4, 6, 6, generator=gen), [0, 2, 2, 1]),
        _loss_case("large logits (+-40): sigmoid, then log, overflows; use binary_cross_entropy_with_logits",
                   big, torch.cat([torch.zeros(1, 4, 4), binary(1, 4)]), [1, 2]),
        _loss_case("8 RoIs, 3 classes, 28 x 28 masks (the real sizes)", logits(8, 3, 28), binary(8, 28),
                   [0, 1, 2, 2, 1, 0, 0, 1]),
        _loss_case("no positive RoI (P = 0): the loss is 0, not the NaN of a mean over nothing",
                   torch.zeros(0, 3, 28, 28), torch.zeros(0, 28, 28), []),
    ])
