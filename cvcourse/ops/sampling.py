"""Bilinear sampling of a feature map at real-valued points, with RoIAlign's border rules (chapter 10).

RoIAlign (`cvcourse.ops.roi_align`) reads a feature map at points that fall between its pixels. Each
such read is one bilinear interpolation of the (at most) four pixels around the point; this module
exposes that read on its own, with exactly the rules of torchvision's RoIAlign kernel, so a single
sample can be computed, drawn and checked.

Coordinates are those of the feature map: pixel (row r, column c) sits at y = r, x = c. Around a
point (y, x):

    y0 = floor(y), y1 = y0 + 1, ly = y - y0, hy = 1 - ly        (likewise x0, x1, lx, hx)
    value = hy * hx * f[y0, x0] + hy * lx * f[y0, x1] + ly * hx * f[y1, x0] + ly * lx * f[y1, x1]

The four weights are the areas of the rectangles opposite each neighbour; they sum to 1. At the
borders of an H x W map (the same along x with W):

- y < -1 or y > H (more than one pixel outside the map): the value is 0;
- y in [-1, 0]: y is clamped to 0 (the first row is read);
- y >= H - 1: row H - 1 only (y0 = y1 = H - 1, ly = 0).

A zero-size RoI with `aligned=True` and one sample is exactly one such read:
``roi_align(f[None], [[0, x + 0.5, y + 0.5, x + 0.5, y + 0.5]], 1, sampling_ratio=1, aligned=True)``
is ``bilinear_interpolate(f, y, x)`` (up to the rounding of x + 0.5 - 0.5).

Reference: He et al., "Mask R-CNN", ICCV 2017 (section 3, RoIAlign); torchvision's
`roi_align_kernel.cpp` (`bilinear_interpolate`).
"""
from __future__ import annotations

import numbers

import torch
from torch import Tensor

from ._validate import upcast

__all__ = ["bilinear_interpolate"]


def _check_feature(input: object) -> Tensor:
    if not isinstance(input, Tensor):
        raise TypeError(f"input: expected a Tensor[C, H, W] or Tensor[H, W], got {type(input).__name__}")
    if input.dim() not in (2, 3):
        raise ValueError(f"input: expected Tensor[C, H, W] or Tensor[H, W], got Tensor{list(input.shape)}")
    if not input.is_floating_point():
        raise TypeError(f"input: expected a floating-point tensor, got dtype {input.dtype}")
    return input


def _check_coordinate(value: object, name: str, dtype: torch.dtype, device: torch.device) -> Tensor:
    """`value` (a real number or a real tensor) as a finite tensor of `dtype` on `device`."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, Tensor)):
        raise TypeError(f"{name}: expected a real number or a Tensor of coordinates, got {type(value).__name__}")
    if isinstance(value, Tensor):
        if value.dtype == torch.bool or value.is_complex():
            raise TypeError(f"{name}: expected real coordinates, got dtype {value.dtype}")
        if value.device != device:
            raise ValueError(f"{name}: on {value.device}, but input is on {device}; expected the same device")
        t = value.to(dtype)
    else:
        t = torch.tensor(float(value), dtype=dtype, device=device)
    if t.numel() and not torch.isfinite(t.detach()).all():
        bad = (~torch.isfinite(t.detach())).nonzero()[0].tolist()
        raise ValueError(f"{name}: coordinates must be finite; element {tuple(bad)} is {t.detach()[tuple(bad)].item()}")
    return t


def _neighbours(p: Tensor, length: int) -> tuple[Tensor, Tensor, Tensor]:
    """The two rows (or columns) around `p` on a map of `length` and the weight of the second:
    (low, high, l), with RoIAlign's clamping (p <= 0 reads row 0, p >= length - 1 row length - 1)."""
    p = p.clamp(min=0)
    low = p.detach().floor()
    top = low >= length - 1
    low = torch.where(top, torch.full_like(low, length - 1), low)
    frac = torch.where(top, torch.zeros_like(p), p - low)                # ly; 0 on the last row
    low_i = low.long()
    return low_i, torch.where(top, low_i, low_i + 1), frac


def bilinear_interpolate(input: Tensor, y: Tensor | float, x: Tensor | float) -> Tensor:
    """Read a feature map at real-valued points by bilinear interpolation, as RoIAlign samples it.

    value(y, x) = hy*hx*f[y0, x0] + hy*lx*f[y0, x1] + ly*hx*f[y1, x0] + ly*lx*f[y1, x1], with
    y0 = floor(y), y1 = y0 + 1, ly = y - y0, hy = 1 - ly (likewise along x). Border rules (those of
    torchvision's RoIAlign kernel): a point more than one pixel outside the map (y < -1, y > H,
    x < -1 or x > W) reads 0; y in [-1, 0] is clamped to 0; y >= H - 1 reads row H - 1 only (the
    same for x). See the module docstring.

    Args:
        input: `Tensor[C, H, W]` (or `Tensor[H, W]`) feature map, floating point; pixel (r, c) is at
            y = r, x = c.
        y: row coordinates, a `Tensor[...]` or a number.
        x: column coordinates, a `Tensor[...]` or a number; `y` and `x` broadcast to a shape S.

    Returns:
        `Tensor[C, *S]` (`Tensor[*S]` for a 2-D input) in `input`'s dtype (float16/bfloat16 are
        computed in float32). Differentiable in `input`, and in `y` and `x` wherever the weights
        are (piecewise linear: the gradient jumps at integer coordinates and is 0 where a
        coordinate is clamped or outside).

    Raises:
        TypeError / ValueError: naming the argument (not a floating-point 2-D or 3-D tensor,
            non-finite or non-real coordinates, shapes of `y` and `x` that do not broadcast, a map
            of height or width 0 with points to read).

    Reference: He et al., "Mask R-CNN", ICCV 2017 (RoIAlign's bilinear sampling); torchvision's
    `roi_align_kernel.cpp`.
    """
    feature = _check_feature(input)
    f = upcast(feature)
    y = _check_coordinate(y, "y", f.dtype, f.device)
    x = _check_coordinate(x, "x", f.dtype, f.device)
    try:
        y, x = torch.broadcast_tensors(y, x)
    except RuntimeError:
        raise ValueError(f"y and x: shapes {list(y.shape)} and {list(x.shape)} do not broadcast") from None
    h, w = f.shape[-2:]
    if y.numel() and (h == 0 or w == 0):
        raise ValueError(f"input: points need a map of positive height and width, got Tensor{list(f.shape)}")
    valid = (y >= -1) & (y <= h) & (x >= -1) & (x <= w)                   # (*S)
    y0, y1, ly = _neighbours(y, h)
    x0, x1, lx = _neighbours(x, w)
    hy, hx = 1 - ly, 1 - lx
    value = ((hy * hx) * f[..., y0, x0] + (hy * lx) * f[..., y0, x1]      # (C, *S)
             + (ly * hx) * f[..., y1, x0] + (ly * lx) * f[..., y1, x1])
    return torch.where(valid, value, torch.zeros_like(value)).to(feature.dtype)
