"""Fixes for selectivesearch 0.4 (the PyPI package), patched in for the duration of one call.

The package's pipeline is kept: Felzenszwalb segments, then greedy merging of the most similar pair of
neighbouring regions, similarity = colour + texture + size + fill (Uijlings et al. 2013). Five of its
helpers are replaced and `_extract_regions` is wrapped to keep the label image (fixes 1-6, each
explained where it is made); the rest is the package's own code. Measured on skimage's astronaut
(512x512) before the fixes: 93% of the pixels were left out of the texture histograms, the colour
histograms saw brightness only, 568 of the 1035 "neighbour" pairs did not touch, 88 touching pairs were
missed, and the hierarchy never reached the whole image.

`patched()` swaps the helpers in the package's module and restores them on exit; a lock keeps two
threads from running the package at the same time.
"""
from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import numpy as np
import selectivesearch.selectivesearch as _ss
import skimage.feature

from .grouping import _adjacent_pairs

_LOCK = threading.Lock()
_COLOUR_BINS = 25                         # per channel, as in the paper
_LBP_POINTS = 8
_TEXTURE_BINS = _LBP_POINTS + 2           # "uniform" LBP codes are 0..P+1: one bin per code


def _colour_hist(hsv: np.ndarray) -> np.ndarray:
    """(n, 3) HSV pixels of one region -> 75-bin histogram that sums to 1."""
    # Fix 1, range: the package converts its 0..255 *float* image to HSV, which gives H and S in
    # [0, 1] but V in [0, 255], then bins every channel over [0, 255]: all of H and S fell into the
    # first of 25 bins, so the colour similarity saw brightness only. Bin each over its own range.
    ranges = ((0.0, 1.0), (0.0, 1.0), (0.0, 255.0))
    hist = np.concatenate([np.histogram(hsv[:, c], _COLOUR_BINS, r)[0] for c, r in enumerate(ranges)])
    # Fix 2, normalisation: L1-normalise the whole descriptor (the paper) rather than each channel
    # (sum 3), so s_colour and s_texture lie in [0, 1] like s_size and s_fill: equal weights.
    return hist / hist.sum()


def _texture_gradient(img: np.ndarray) -> np.ndarray:
    """HxWx4 float image (RGB + labels) -> HxWx3 LBP codes, one map per colour channel."""
    # Fix 3, warning: the package appends the label channel as float, so RGB reaches
    # `local_binary_pattern` as float64 and skimage warns (3x per call). The values are whole
    # numbers 0..255: casting back to uint8 is exact.
    # Fix 4, codes: use "uniform" LBP (Ojala et al. 2002): 10 codes 0..9, the rotation-invariant
    # uniform patterns plus one "other" code, so the package's 10 texture bins hold one code each.
    return np.stack([skimage.feature.local_binary_pattern(img[:, :, c].astype(np.uint8), _LBP_POINTS, 1.0,
                                                          method="uniform") for c in range(3)], axis=-1)


def _texture_hist(codes: np.ndarray) -> np.ndarray:
    """(n, 3) LBP codes of one region -> 30-bin histogram that sums to 1."""
    # Fix 4, range: the package bins 'default' LBP codes (0..255) over [0, 1], so only codes 0 and 1
    # were counted (7% of the astronaut's pixels). Bin the uniform codes over [0, 10).
    hist = np.concatenate([np.histogram(codes[:, c], _TEXTURE_BINS, (0, _TEXTURE_BINS))[0] for c in range(3)])
    return hist / hist.sum()                                   # fix 2, as for colour


def _sim_fill(r1: dict, r2: dict, imsize: int) -> float:
    # Fix 5: min_x..max_x are inclusive pixel indices, so the joint box is (max - min + 1) wide; the
    # package forgot the +1 and its fill could exceed 1.
    w = max(r1["max_x"], r2["max_x"]) - min(r1["min_x"], r2["min_x"]) + 1
    h = max(r1["max_y"], r2["max_y"]) - min(r1["min_y"], r2["min_y"]) + 1
    return 1.0 - (w * h - r1["size"] - r2["size"]) / imsize


@contextlib.contextmanager
def patched() -> Iterator[None]:
    """Run `selectivesearch.selective_search` with the fixes above; restores the package on exit."""
    labels: list[np.ndarray] = []

    def extract_regions(img: np.ndarray) -> dict:
        labels.append(img[:, :, 3])                            # keep the label image for the neighbours
        return original["_extract_regions"](img)

    def extract_neighbours(regions: dict) -> list:
        # Fix 6: the package calls two regions neighbours when a corner of one's bounding box lies
        # strictly inside the other's (tested in one order only): regions side by side never merged,
        # far-apart ones did. Neighbours are regions whose pixels touch, read from the label image.
        return [((a, regions[a]), (b, regions[b])) for a, b in _adjacent_pairs(labels[-1])]

    replacements = {"_calc_colour_hist": _colour_hist, "_calc_texture_gradient": _texture_gradient,
                    "_calc_texture_hist": _texture_hist, "_sim_fill": _sim_fill,
                    "_extract_regions": extract_regions, "_extract_neighbours": extract_neighbours}
    with _LOCK:
        original = {name: getattr(_ss, name) for name in replacements}
        try:
            for name, fn in replacements.items():
                setattr(_ss, name, fn)
            yield
        finally:
            for name, fn in original.items():
                setattr(_ss, name, fn)
