"""Selective search (Uijlings et al. 2013): class-agnostic object proposals from a hierarchy of regions.

The work is done by the `selectivesearch` package (one grouping strategy: HSV colour, LBP texture, size
and fill similarities on a Felzenszwalb segmentation), run with the fixes of `cvcourse.proposals._shim`.
This module turns any image the course uses into what the package expects and its regions into
ranked, deduplicated `xyxy` boxes.
"""
from __future__ import annotations

import numbers

import numpy as np
import torch
from torch import Tensor

from cvcourse.ops import remove_small_boxes

__all__ = ["selective_search"]


def selective_search(image: np.ndarray | Tensor, *, scale: float = 500, sigma: float = 0.9, min_size: int = 10,
                     min_box_size: float = 0, max_proposals: int | None = None, seed: int | None = None) -> Tensor:
    """Object proposals by selective search: the bounding boxes of a hierarchy of merged regions.

    The image is over-segmented (Felzenszwalb & Huttenlocher 2004); then the two most similar
    neighbouring regions are merged, again and again, until one region covers the image. Every region
    met on the way -- the initial segments and each merge -- is a proposal.

    Box convention: pixel (row i, column j) covers the unit square [j, j+1) x [i, i+1), so a region
    whose pixels span columns 3..7 and rows 2..4 gives the box (3, 2, 8, 5): x2 = last column + 1,
    width = number of columns, the whole image is (0, 0, W, H) -- the convention of torchvision's boxes.

    Order: the paper's hierarchy position. The region covering the whole image (the last merge) comes
    first, then the region merged before it, and so on back to the first merge, then the initial
    segments (in reverse label order). Large regions therefore come first. With `seed`, the ranking of
    the paper is used instead: position i (1 = the top) times a uniform random number, sorted
    ascending, which mixes small regions in early (the paper needs it to interleave many strategies).
    Duplicated boxes are removed after ranking, keeping the best-ranked copy (as in the paper).

    Args:
        image: RGB ndarray HxWx3, greyscale HxW or HxWx1 (repeated to 3 channels), RGBA HxWx4 (alpha
            dropped), or a Tensor[3, H, W] / [1, H, W] / [4, H, W] / [H, W] (channels first). uint8
            (or another integer type with values in 0..255), or float with values in [0, 1]
            (converted to uint8 by rounding x * 255).
        scale: Felzenszwalb's k: larger gives larger initial segments. > 0.
        sigma: width of the Gaussian smoothing before segmentation, >= 0.
        min_size: Felzenszwalb's minimum segment size, in pixels, >= 0.
        min_box_size: drop boxes whose width or height is below this (in pixels), as
            `torchvision.ops.remove_small_boxes`. >= 0; 0 keeps all.
        max_proposals: keep the first `max_proposals` boxes after ranking, deduplication and the size
            filter; None keeps all.
        seed: None for the deterministic hierarchy order; an int for the paper's randomised ranking,
            drawn from a `torch.Generator` seeded with it (same seed, same order).

    Returns:
        Tensor[K, 4] float32, `xyxy` boxes in pixel coordinates, best-ranked first, no duplicates.

    Raises:
        TypeError: `image` is not an ndarray / Tensor, or has a bool / complex dtype; a parameter has
            the wrong type.
        ValueError: wrong number of dimensions or channels, an empty image, NaN / infinite values,
            values outside [0, 1] (float) or 0..255 (integer), a parameter out of range.

    Reference: Uijlings, van de Sande, Gevers & Smeulders, "Selective Search for Object Recognition",
    IJCV 2013.
    """
    rgb = _as_rgb_uint8(image)
    _check_number("scale", scale, minimum=0.0, strict=True)
    _check_number("sigma", sigma, minimum=0.0)
    _check_int("min_size", min_size)
    _check_number("min_box_size", min_box_size, minimum=0.0)
    if max_proposals is not None:
        _check_int("max_proposals", max_proposals)
    if seed is not None:
        _check_int("seed", seed)

    import selectivesearch

    from ._shim import patched

    with patched():
        _, regions = selectivesearch.selective_search(rgb, scale=float(scale), sigma=float(sigma),
                                                      min_size=int(min_size))
    # the package's rect is (x, y, max_x - x, max_y - y) with max_x, max_y inclusive pixel indices
    rects = torch.tensor([r["rect"] for r in regions], dtype=torch.int64).reshape(-1, 4)
    boxes = torch.cat([rects[:, :2], rects[:, :2] + rects[:, 2:] + 1], dim=1)   # (R, 4) xyxy, exclusive
    boxes = boxes.flip(0)                                        # hierarchy order: the top region first
    if seed is not None:
        position = torch.arange(1, len(boxes) + 1, dtype=torch.float64)
        rnd = torch.rand(len(boxes), generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
        boxes = boxes[torch.sort(rnd * position, stable=True).indices]
    boxes = boxes[_first_occurrences(boxes)]
    boxes = boxes[remove_small_boxes(boxes, min_box_size)]
    return boxes[:max_proposals].float()


def _first_occurrences(rows: Tensor) -> Tensor:
    """Indices of the first copy of each distinct row of `rows` (R, 4), in their original order."""
    if len(rows) == 0:
        return torch.zeros(0, dtype=torch.int64)
    _, inverse = torch.unique(rows, dim=0, return_inverse=True)            # (R,) id of each row
    first = torch.full((int(inverse.max()) + 1,), len(rows), dtype=torch.int64)
    first.scatter_reduce_(0, inverse, torch.arange(len(rows)), reduce="amin")
    return first.sort().values


def _as_rgb_uint8(image: object) -> np.ndarray:
    """Any supported image -> a contiguous HxWx3 uint8 ndarray, or a clear TypeError / ValueError."""
    expected = "an ndarray HxW / HxWxC or a Tensor[C, H, W] / [H, W] with C in 1, 3, 4"
    if isinstance(image, Tensor):
        if image.dim() not in (2, 3):
            raise ValueError(f"image: expected {expected}, got Tensor{list(image.shape)}")
        if image.dtype in (torch.float16, torch.bfloat16):
            image = image.float()
        array = image.detach().cpu().numpy()
        array = array if array.ndim == 2 else np.moveaxis(array, 0, -1)     # (C, H, W) -> (H, W, C)
        shape = f"Tensor{list(image.shape)}"
    elif isinstance(image, np.ndarray):
        array, shape = image, f"shape {image.shape}"
    else:
        raise TypeError(f"image: expected {expected}, got {type(image).__name__}")
    if array.dtype == np.bool_ or not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise TypeError(f"image: expected uint8 (0..255) or float (0..1) values, got dtype {array.dtype}")
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (1, 3, 4)):
        raise ValueError(f"image: expected {expected}, got {shape}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"image: expected a non-empty image, got {shape}")
    if array.ndim == 2:
        array = array[:, :, None]
    array = array[:, :, :3] if array.shape[2] == 4 else array                # drop alpha
    if np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all():
            raise ValueError("image: values must be finite; found NaN or infinity")
        if array.min() < 0 or array.max() > 1:
            raise ValueError(f"image: float images must have values in [0, 1], got [{array.min():g}, {array.max():g}]")
        array = np.rint(array.astype(np.float64) * 255)
    elif array.dtype != np.uint8 and (array.min() < 0 or array.max() > 255):
        raise ValueError(f"image: integer images must have values in 0..255, got {array.min()}..{array.max()}")
    array = array.astype(np.uint8)
    return np.ascontiguousarray(np.repeat(array, 3, axis=2) if array.shape[2] == 1 else array)


def _check_number(name: str, value: object, minimum: float, strict: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a number, got {type(value).__name__}")
    if not np.isfinite(value) or value < minimum or (strict and value == minimum):
        raise ValueError(f"{name}: expected a finite number {'>' if strict else '>='} {minimum:g}, got {value}")


def _check_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}: expected an int, got {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{name}: expected an int >= 0, got {value}")
