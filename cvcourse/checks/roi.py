"""Checks of chapter 10's exercises (RoIAlign), against `cvcourse.ops`.

- 10.1 `bilinear(feature, y, x)`: the bilinear interpolation of a `Tensor[H, W]` map at one point
  (y, x), with RoIAlign's border rules; expected values from `cvcourse.ops.bilinear_interpolate`.
  The answer may be a number or a one-element tensor.
- 10.2 `roi_align_bin(feature, box, output_size, sampling_ratio, i, j)`: bin (i, j) of RoIAlign for
  one box on a `Tensor[C, H, W]` map (`aligned=False`, `spatial_scale=1`), a `Tensor[C]`; expected
  values from `cvcourse.ops.roi_align(...)[0, :, i, j]`.

The maps are small and hold integers, so a failing case prints numbers one can check by hand.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from .. import ops as _ref
from ._core import Case, exercise, run_cases

# A 3 x 4 map of small integers, uneven enough that mixing up rows and columns (or weights) shows.
_MAP = torch.tensor([[1.0, 5.0, 2.0, 8.0],
                     [7.0, 0.0, 3.0, 4.0],
                     [6.0, 9.0, 1.0, 2.0]])


def _number(fn: Callable) -> Callable:
    """`fn` whose answer, when a one-element tensor, is compared as a number."""

    def call(*args: Any) -> Any:
        out = fn(*args)
        return out.item() if isinstance(out, torch.Tensor) and out.numel() == 1 else out

    return call


def _point_case(description: str, y: float, x: float, feature: torch.Tensor = _MAP) -> Case:
    return Case(description, args=(feature, y, x), expected=float(_ref.bilinear_interpolate(feature, y, x)))


@exercise("10", 1, "bilinear interpolation at a point")
def roi_bilinear(fn: Callable) -> tuple[str, int, int, str]:
    """Check ``fn(feature: Tensor[H, W], y: float, x: float) -> float`` (or a one-element tensor)
    against `cvcourse.ops.bilinear_interpolate`, border rules included."""
    gen = torch.Generator().manual_seed(1001)
    rand_map = torch.randn(5, 6, generator=gen)
    ys, xs = (torch.rand(3, generator=gen) * 4).tolist(), (torch.rand(3, generator=gen) * 5).tolist()
    return run_cases(_number(fn), [
        _point_case("between four pixels: y = 0.25, x = 1.5 (weights 0.375, 0.375, 0.125, 0.125)", 0.25, 1.5),
        _point_case("inside, closer to the lower right pixel", 1.7, 2.2),
        _point_case("exactly on a pixel centre: the pixel's own value", 1.0, 2.0),
        _point_case("on the last row (y = H - 1): there is no row below to read", 2.0, 0.5),
        _point_case("on the last column (x = W - 1)", 0.5, 3.0),
        _point_case("between the last row and y = H: reads the last row only", 2.6, 1.25),
        _point_case("y in [-1, 0]: y is clamped to 0", -0.4, 1.25),
        _point_case("x = -1 exactly: still read, clamped to column 0", 1.5, -1.0),
        _point_case("y = H exactly and x = W exactly: still read (the bottom-right pixel)", 3.0, 4.0),
        _point_case("more than one pixel above the map (y < -1): 0", -1.5, 2.0),
        _point_case("more than one pixel right of the map (x > W): 0", 1.0, 4.5),
        _point_case("a corner outside, within one pixel: clamped to the corner pixel", -0.5, 3.5),
        _point_case("a map of a single pixel", 0.3, -0.6, torch.tensor([[4.0]])),
        *[_point_case(f"a random point ({y:.3f}, {x:.3f}) on a random 5 x 6 map", y, x, rand_map)
          for y, x in zip(ys, xs, strict=True)],
    ])


def _bin_case(description: str, feature: torch.Tensor, box: tuple[float, float, float, float],
              output_size: tuple[int, int], sampling_ratio: int, i: int, j: int) -> Case:
    rois = torch.tensor([[0.0, *box]], dtype=feature.dtype)
    expected = _ref.roi_align(feature[None], rois, output_size, 1.0, sampling_ratio, aligned=False)[0, :, i, j]
    return Case(description, args=(feature, box, output_size, sampling_ratio, i, j), expected=expected)


@exercise("10", 2, "one RoIAlign bin")
def roi_align_bin(fn: Callable) -> tuple[str, int, int, str]:
    """Check ``fn(feature: Tensor[C, H, W], box: (x1, y1, x2, y2), output_size: (oh, ow),
    sampling_ratio: int, i: int, j: int) -> Tensor[C]`` against bin (i, j) of
    `cvcourse.ops.roi_align(feature[None], [box], output_size, 1.0, sampling_ratio, aligned=False)`."""
    gen = torch.Generator().manual_seed(1002)
    ints = torch.arange(48.0).reshape(2, 4, 6) % 7                        # 2 channels of small integers
    rand = torch.randn(3, 9, 11, generator=gen)
    return run_cases(fn, [
        _bin_case("a 2 x 2 output, 2 x 2 samples per bin, bin (0, 0)", ints, (1.0, 0.5, 4.0, 2.5), (2, 2), 2, 0, 0),
        _bin_case("the same RoI, bin (1, 1)", ints, (1.0, 0.5, 4.0, 2.5), (2, 2), 2, 1, 1),
        _bin_case("one sample per bin: the bin's centre", ints, (0.5, 0.5, 4.5, 3.0), (2, 2), 1, 1, 0),
        _bin_case("a 2 x 3 output: i counts rows (oh = 2), j columns (ow = 3); bin (1, 2)",
                  ints, (0.3, 0.2, 5.1, 3.4), (2, 3), 2, 1, 2),
        _bin_case("3 x 3 samples per bin", ints, (0.3, 0.2, 5.1, 3.4), (2, 3), 3, 0, 1),
        _bin_case("adaptive sampling (sampling_ratio = 0): ceil(3 / 2) = 2 rows and ceil(5.5 / 2) = 3 columns "
                  "of samples", ints, (0.25, 0.0, 5.75, 3.0), (2, 2), 0, 1, 0),
        _bin_case("adaptive sampling with sampling_ratio = -1 (any value <= 0): 1 x 2 samples",
                  ints, (1.0, 1.0, 4.5, 2.5), (2, 2), -1, 0, 1),
        _bin_case("a box smaller than a pixel: aligned=False makes it 1 x 1 from its top-left corner",
                  ints, (2.2, 1.3, 2.5, 1.4), (2, 2), 2, 1, 1),
        _bin_case("a box partly above and left of the map: samples more than 1 pixel outside count as 0",
                  ints, (-2.0, -1.5, 3.0, 3.0), (2, 2), 2, 0, 0),
        _bin_case("a box over the bottom-right border: samples past the last row and column",
                  ints, (3.5, 2.0, 6.8, 4.6), (2, 2), 2, 1, 1),
        _bin_case("a random 3-channel map, a 7 x 7 output, adaptive sampling, bin (3, 5)",
                  rand, (1.7, 0.9, 9.6, 8.2), (7, 7), 0, 3, 5),
        _bin_case("the same with sampling_ratio = 2, bin (6, 0)", rand, (1.7, 0.9, 9.6, 8.2), (7, 7), 2, 6, 0),
    ])
