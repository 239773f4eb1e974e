"""Image augmentation in torch: random flips, rotations, shifts, shears, zooms and brightness.

`RandomAugment` takes the arguments of Keras' `ImageDataGenerator` (same names, same meaning) and
applies them to a whole batch at once: each image gets its own random flip, its own affine
transform (one `affine_grid` + `grid_sample` call for the batch) and its own brightness factor.
`affine` is the deterministic transform underneath, with torchvision's argument names.

Coordinates: pixel (row i, column j) has its centre at x = j + 0.5, y = i + 0.5 (y points down),
and transforms act around the image's centre (W / 2, H / 2). An input pixel at p (relative to the
centre) moves to

    p' = R(angle) @ Shear(shear) @ diag(sx, sy) @ p + (tx, ty)

with R(a) = [[cos a, sin a], [-sin a, cos a]] (counter-clockwise on screen, as `torch.rot90`) and
Shear(s) = [[1, tan s], [0, 1]]; each output pixel is sampled bilinearly from its source position
(`grid_sample(align_corners=False)`). Positions outside the image are filled by `fill`: "reflect"
(mirror at the image's edge, Keras' "reflect"), "nearest" (the closest edge pixel, Keras' default)
or "zeros".

Reference: Keras `ImageDataGenerator` (F. Chollet et al., keras.io, `apply_affine_transform`);
spatial transformer grids: M. Jaderberg et al., "Spatial Transformer Networks", NeurIPS 2015.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["FILLS", "RandomAugment", "affine"]

#: `fill` values and the `grid_sample` padding mode each one uses.
FILLS = {"reflect": "reflection", "nearest": "border", "zeros": "zeros"}


# ----------------------------------------------------------------------------- validation
def _images(images: Any) -> Tensor:
    """`images` as a float Tensor[N, C, H, W] (a single Tensor[C, H, W] gets N = 1)."""
    if not isinstance(images, Tensor):
        raise TypeError(f"images: expected a float Tensor[N, C, H, W] or Tensor[C, H, W], got {type(images).__name__}")
    if images.dim() not in (3, 4):
        raise ValueError(f"images: expected a Tensor[N, C, H, W] or Tensor[C, H, W], got shape {tuple(images.shape)}")
    if not images.is_floating_point():
        raise TypeError(f"images: expected a float tensor (uint8 images: divide by 255), got {images.dtype}")
    return images if images.dim() == 4 else images[None]


def _number(name: str, value: Any, low: float, high: float | None = None, closed: bool = True) -> float:
    """`value` as a float in [low, high] (or [low, high) if not `closed`)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise TypeError(f"{name}: expected a finite number, got {type(value).__name__} {value!r}")
    if value < low or (high is not None and (value > high if closed else value >= high)):
        bound = "" if high is None else f", {high}{']' if closed else ')'}"
        raise ValueError(f"{name}: expected a value in [{low}{bound or ', inf)'}, got {value}")
    return float(value)


def _pair(name: str, value: Any, low: float) -> tuple[float, float]:
    """A (lo, hi) range with low <= lo <= hi."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != 2:
        raise TypeError(f"{name}: expected a (low, high) pair, got {value!r}")
    lo, hi = (_number(name, v, low) for v in value)
    if lo > hi:
        raise ValueError(f"{name}: expected low <= high, got ({lo}, {hi})")
    return lo, hi


def _per_image(name: str, value: Any, n: int, width: int) -> Tensor:
    """A number (or, for width 2, a pair), a Tensor[N] or a Tensor[N, width] as a float64 Tensor[N, width]."""
    if isinstance(value, Tensor):
        t = value.detach().to(torch.float64)
        if t.shape == (n,):
            t = t[:, None]                                       # one value per image, on every axis
        elif t.dim() != 0 and t.shape != (n, width):
            shapes = "Tensor[N]" + (f" or Tensor[N, {width}]" if width > 1 else "")
            raise ValueError(f"{name}: expected one number or a {shapes} with N = {n}, got shape {tuple(t.shape)}")
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        t = torch.tensor(float(value), dtype=torch.float64)
    elif width == 2 and isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 2 \
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        t = torch.tensor([float(v) for v in value], dtype=torch.float64)
    else:
        pair = "a pair, " if width == 2 else ""
        raise TypeError(f"{name}: expected a number, {pair}a Tensor[N] or a Tensor[N, {width}], got {value!r}")
    if not torch.isfinite(t).all():
        raise ValueError(f"{name}: expected finite values")
    return t.expand(n, width)


# ----------------------------------------------------------------------------- the transform
def affine(images: Tensor, angle: float | Tensor = 0.0, translate: Sequence[float] | Tensor = (0.0, 0.0),
           scale: float | Sequence[float] | Tensor = 1.0, shear: float | Tensor = 0.0,
           fill: str = "reflect") -> Tensor:
    """Rotate, scale, shear and shift images about their centre (one affine map per image).

    Args:
        images: float Tensor[N, C, H, W] or Tensor[C, H, W].
        angle: degrees, counter-clockwise on screen (90 gives `torch.rot90(x, 1, (-2, -1))` for a
            square image); a number or Tensor[N] (one per image).
        translate: (tx, ty) in pixels, right and down; a pair or Tensor[N, 2].
        scale: magnification (2 doubles the size); one number for both axes, (sx, sy), Tensor[N] or
            Tensor[N, 2]; > 0.
        shear: degrees; x' = x + tan(shear) * y, so vertical lines tilt counter-clockwise; a number or
            Tensor[N]; in (-90, 90).
        fill: how to fill positions outside the input: "reflect", "nearest" or "zeros" (`FILLS`).

    Returns:
        Tensor of the input's shape and dtype (see the module docstring for the exact map).

    Raises:
        TypeError / ValueError: naming the argument (a non-float image, a bad fill, a scale <= 0, ...).

    Reference: torchvision.transforms.functional.affine (argument names), Keras
    `apply_affine_transform`; the sampling grid of Jaderberg et al., NeurIPS 2015.
    """
    x = _images(images)
    if fill not in FILLS:
        raise ValueError(f"fill: expected one of {', '.join(FILLS)}, got {fill!r}")
    n, _, h, w = x.shape
    a = torch.deg2rad(_per_image("angle", angle, n, 1)[:, 0])              # (N,)
    t = _per_image("translate", translate, n, 2)                            # (N, 2)
    s = _per_image("scale", scale, n, 2)                                    # (N, 2)
    sh = _per_image("shear", shear, n, 1)[:, 0]
    if (s <= 0).any():
        raise ValueError(f"scale: expected values > 0, got {s.min().item():g}")
    if (sh.abs() >= 90).any():
        raise ValueError(f"shear: expected degrees in (-90, 90), got {sh.abs().max().item():g}")
    if x.numel() == 0:
        return images.clone()
    cos, sin, tan = torch.cos(a), torch.sin(a), torch.tan(torch.deg2rad(sh))
    r_inv = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)          # (N, 2, 2)
    sh_inv = torch.eye(2, dtype=torch.float64).repeat(n, 1, 1)
    sh_inv[:, 0, 1] = -tan
    m_inv = torch.diag_embed(1 / s) @ sh_inv @ r_inv             # (N, 2, 2): output -> input, pixels
    d = torch.tensor([w / 2, h / 2], dtype=torch.float64)        # pixels per normalised unit
    theta = torch.cat([m_inv * d[None, :] / d[:, None],          # D^-1 M^-1 D
                       -(m_inv @ t[:, :, None]) / d[:, None]], 2)                   # (N, 2, 3)
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)     # (N, H, W, 2)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode=FILLS[fill], align_corners=False)
    return out if images.dim() == 4 else out[0]


class RandomAugment(nn.Module):
    """Random augmentation of a batch with Keras `ImageDataGenerator`'s arguments.

    Each image of a Tensor[N, C, H, W] batch (or a single Tensor[C, H, W]) gets, independently:
    a horizontal / vertical flip with probability 1/2 each (exact: `torch.flip`); then, if any of the
    geometric ranges is non-zero, one `affine` map with angle uniform in [-rotation_range,
    rotation_range] degrees, shift (tx, ty) uniform in [-width_shift_range * W, ...] and
    [-height_shift_range * H, ...] pixels, shear uniform in [-shear_range, shear_range] degrees and
    zoom factors zx, zy drawn independently from [lo, hi] (Keras' zoom: the image is resampled at
    zoom * position, so zoom < 1 enlarges it; `affine`'s scale = 1 / zoom); then a brightness
    factor uniform in `brightness_range` (pixels multiplied, then clipped to [0, 1]: images in [0, 1]).
    With every range 0 and no flips, the output equals the input.

    Args:
        horizontal_flip, vertical_flip: bools.
        rotation_range: degrees, >= 0.
        width_shift_range, height_shift_range: fractions of the width / height, in [0, 1).
        shear_range: degrees, in [0, 90).
        zoom_range: a number z in [0, 1) for [1 - z, 1 + z], or a pair (lo, hi) with 0 < lo <= hi.
        brightness_range: None or a pair (lo, hi) with 0 <= lo <= hi.
        fill: "reflect" (default), "nearest" (Keras' default) or "zeros"; see `affine`.
        generator: a `torch.Generator` (CPU) for reproducible draws; None uses torch's global one.

    Call: `aug(images)` -> Tensor of the same shape and dtype; `aug.sample(n)` returns the drawn
    parameters without applying them.

    Reference: Keras `ImageDataGenerator` (keras.io); the `affine` map above.
    """

    def __init__(self, horizontal_flip: bool = True, rotation_range: float = 0.0, width_shift_range: float = 0.0,
                 height_shift_range: float = 0.0, shear_range: float = 0.0, zoom_range: float | Sequence[float] = 0.0,
                 brightness_range: Sequence[float] | None = None, fill: str = "reflect", vertical_flip: bool = False,
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        for name, flag in (("horizontal_flip", horizontal_flip), ("vertical_flip", vertical_flip)):
            if not isinstance(flag, bool):
                raise TypeError(f"{name}: expected a bool, got {type(flag).__name__} {flag!r}")
        self.horizontal_flip, self.vertical_flip = horizontal_flip, vertical_flip
        self.rotation_range = _number("rotation_range", rotation_range, 0)
        self.width_shift_range = _number("width_shift_range", width_shift_range, 0, 1, closed=False)
        self.height_shift_range = _number("height_shift_range", height_shift_range, 0, 1, closed=False)
        self.shear_range = _number("shear_range", shear_range, 0, 90, closed=False)
        if isinstance(zoom_range, (int, float)) and not isinstance(zoom_range, bool):
            z = _number("zoom_range", zoom_range, 0, 1, closed=False)
            self.zoom_range = (1 - z, 1 + z)
        else:
            self.zoom_range = _pair("zoom_range", zoom_range, 0)
            if self.zoom_range[0] <= 0:
                raise ValueError(f"zoom_range: expected 0 < low, got {tuple(zoom_range)}")
        self.brightness_range = None if brightness_range is None else _pair("brightness_range", brightness_range, 0)
        if fill not in FILLS:
            raise ValueError(f"fill: expected one of {', '.join(FILLS)}, got {fill!r}")
        self.fill = fill
        if generator is not None and not isinstance(generator, torch.Generator):
            raise TypeError(f"generator: expected None or a torch.Generator, got {type(generator).__name__}")
        self.generator = generator

    def _uniform(self, n: int, lo: float, hi: float, width: int = 1) -> Tensor:
        u = torch.rand(n, width, generator=self.generator, dtype=torch.float64)
        return (lo + (hi - lo) * u).squeeze(1) if width == 1 else lo + (hi - lo) * u

    def sample(self, n: int, height: int = 1, width: int = 1) -> dict[str, Tensor]:
        """Draw the random parameters for n images of size height x width (what `forward` applies).

        Args:
            n: the number of images (>= 0).
            height, width: the image size in pixels (the shifts are fractions of it).

        Returns:
            A dict of per-image tensors: "hflip", "vflip" (Tensor[N] bool), "angle" (Tensor[N]
            degrees), "translate" (Tensor[N, 2] pixels), "shear" (Tensor[N] degrees), "scale"
            (Tensor[N, 2], = 1 / zoom), "brightness" (Tensor[N]), all float64 but the flips.
        """
        rot, sh = self.rotation_range, self.shear_range
        wx, wy = self.width_shift_range * width, self.height_shift_range * height
        return {
            "hflip": (torch.rand(n, generator=self.generator) < 0.5) & self.horizontal_flip,
            "vflip": (torch.rand(n, generator=self.generator) < 0.5) & self.vertical_flip,
            "angle": self._uniform(n, -rot, rot),
            "translate": torch.stack([self._uniform(n, -wx, wx), self._uniform(n, -wy, wy)], 1),
            "shear": self._uniform(n, -sh, sh),
            "scale": 1 / self._uniform(n, *self.zoom_range, width=2),
            "brightness": self._uniform(n, *(self.brightness_range or (1.0, 1.0))),
        }

    def forward(self, images: Tensor) -> Tensor:
        """Augment a Tensor[N, C, H, W] batch (or one Tensor[C, H, W]); see the class docstring."""
        x = _images(images)
        n, _, h, w = x.shape
        p = self.sample(n, h, w)
        if self.horizontal_flip:
            x = torch.where(p["hflip"][:, None, None, None], x.flip(-1), x)
        if self.vertical_flip:
            x = torch.where(p["vflip"][:, None, None, None], x.flip(-2), x)
        if self.rotation_range or self.width_shift_range or self.height_shift_range or self.shear_range \
                or self.zoom_range != (1.0, 1.0):
            x = affine(x, p["angle"], p["translate"], p["scale"], p["shear"], self.fill)
        if self.brightness_range is not None:
            x = (x * p["brightness"].to(x.dtype)[:, None, None, None]).clamp(0, 1)
        return x if images.dim() == 4 else x[0]

    def extra_repr(self) -> str:
        return (f"horizontal_flip={self.horizontal_flip}, vertical_flip={self.vertical_flip}, "
                f"rotation_range={self.rotation_range}, width_shift_range={self.width_shift_range}, "
                f"height_shift_range={self.height_shift_range}, shear_range={self.shear_range}, "
                f"zoom_range={self.zoom_range}, brightness_range={self.brightness_range}, fill={self.fill!r}")
