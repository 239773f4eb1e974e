"""Hierarchical grouping from scratch: the heart of selective search, short enough to read in one go.

Start from an over-segmentation (Felzenszwalb & Huttenlocher 2004); repeatedly merge the two most
similar *neighbouring* regions until one region is left; every region ever made is a proposal.
Similarity = colour + size + fill (Uijlings et al. 2013, section 3.2; the texture term is left out):

- colour: intersection of the L1-normalised HSV histograms (25 bins per channel): 1 = same colours;
- size:   1 - (size_i + size_j) / image size: small regions merge first, everywhere in the image;
- fill:   1 - (box_ij - size_i - size_j) / image size: prefer regions that fill each other's gaps.

`cvcourse.proposals.selective_search` is the full method (with texture); this is the chapter's model.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from .search import _as_rgb_uint8, _first_occurrences

__all__ = ["Region", "hierarchical_grouping", "initial_regions", "merge_regions", "similarity"]

COLOUR_BINS = 25


class Region(NamedTuple):
    """One region: its box (x1, y1, x2, y2; x2, y2 exclusive), pixel count and colour histogram."""

    box: tuple[int, int, int, int]
    size: int
    hist: np.ndarray            # (3 * COLOUR_BINS,) float, sums to 1


def initial_regions(image: np.ndarray | Tensor, labels: np.ndarray) -> dict[int, Region]:
    """The regions of a segmentation, with what `similarity` needs.

    Args:
        image: RGB image (any form `selective_search` accepts), H x W.
        labels: ndarray HxW of integer region labels, e.g. from `skimage.segmentation.felzenszwalb`.

    Returns:
        {label: Region}, labels in increasing order; boxes in pixel coordinates, x2 = last column + 1.

    Reference: Uijlings et al., "Selective Search for Object Recognition", IJCV 2013, section 3.2.
    """
    import skimage.color

    rgb = _as_rgb_uint8(image)
    labels = _check_labels(labels, rgb.shape[:2])
    bins = np.minimum(skimage.color.rgb2hsv(rgb) * COLOUR_BINS, COLOUR_BINS - 1).astype(np.int64)  # (H, W, 3)
    regions = {}
    for label in np.unique(labels).tolist():
        ys, xs = np.nonzero(labels == label)
        hist = np.concatenate([np.bincount(bins[ys, xs, c], minlength=COLOUR_BINS) for c in range(3)])
        box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
        regions[label] = Region(box, len(xs), hist / hist.sum())
    return regions


def similarity(r1: Region, r2: Region, image_size: int) -> float:
    """s(r1, r2) = s_colour + s_size + s_fill, each in [0, 1] (so the sum is in [0, 3]).

    Args:
        r1, r2: two regions.
        image_size: the number of pixels of the image, H * W.

    Returns:
        float, larger = merge sooner.

    Reference: Uijlings et al., "Selective Search for Object Recognition", IJCV 2013, eqs. 2-5.
    """
    colour = float(np.minimum(r1.hist, r2.hist).sum())
    size = 1.0 - (r1.size + r2.size) / image_size
    x1, y1, x2, y2 = _union(r1.box, r2.box)
    fill = 1.0 - ((x2 - x1) * (y2 - y1) - r1.size - r2.size) / image_size
    return colour + size + fill


def merge_regions(r1: Region, r2: Region) -> Region:
    """The union of two regions: the box around both, the sizes added, the histograms size-weighted.

    Args:
        r1, r2: two (neighbouring) regions.

    Returns:
        the merged Region; its histogram equals the one computed from its pixels.

    Reference: Uijlings et al., "Selective Search for Object Recognition", IJCV 2013, section 3.2.
    """
    size = r1.size + r2.size
    return Region(_union(r1.box, r2.box), size, (r1.size * r1.hist + r2.size * r2.hist) / size)


def hierarchical_grouping(image: np.ndarray | Tensor, labels: np.ndarray) -> Tensor:
    """Greedy hierarchical grouping (Uijlings et al. 2013, algorithm 1) of a segmentation, as boxes.

    Args:
        image: RGB image (any form `selective_search` accepts), H x W.
        labels: ndarray HxW of integer region labels, e.g.
            ``skimage.segmentation.felzenszwalb(image, scale=500, sigma=0.9, min_size=10)``.

    Returns:
        Tensor[K, 4] float32 `xyxy` boxes (x2 = last column + 1), in `selective_search`'s order: the
        last merge (the whole image) first, back to the first merge, then the initial segments;
        duplicated boxes removed, keeping the first.

    Reference: Uijlings et al., "Selective Search for Object Recognition", IJCV 2013.
    """
    regions = initial_regions(image, labels)
    labels = np.asarray(labels)
    image_size = labels.size
    sims = {pair: similarity(regions[pair[0]], regions[pair[1]], image_size) for pair in _adjacent_pairs(labels)}
    order = list(regions)                                      # creation order
    while sims:
        a, b = max(sims, key=sims.get)                         # the most similar neighbours (first on ties)
        new = max(regions) + 1
        regions[new] = merge_regions(regions[a], regions[b])
        order.append(new)
        touching = {n for pair in sims if a in pair or b in pair for n in pair} - {a, b}
        sims = {pair: s for pair, s in sims.items() if a not in pair and b not in pair}
        for n in sorted(touching):
            sims[(n, new)] = similarity(regions[n], regions[new], image_size)
    boxes = torch.tensor([regions[i].box for i in reversed(order)], dtype=torch.int64)  # (2n - 1, 4)
    return boxes[_first_occurrences(boxes)].float()


def _union(b1: tuple[int, ...], b2: tuple[int, ...]) -> tuple[int, int, int, int]:
    return min(b1[0], b2[0]), min(b1[1], b2[1]), max(b1[2], b2[2]), max(b1[3], b2[3])


def _adjacent_pairs(labels: np.ndarray) -> list[tuple]:
    """Label pairs (a, b), a < b, of regions whose pixels touch (4-connectivity), sorted."""
    right = np.stack([labels[:, :-1].ravel(), labels[:, 1:].ravel()], axis=1)
    down = np.stack([labels[:-1, :].ravel(), labels[1:, :].ravel()], axis=1)
    pairs = np.concatenate([right, down])                      # (E, 2): the labels on each side of an edge
    pairs = np.sort(pairs[pairs[:, 0] != pairs[:, 1]], axis=1)
    return [tuple(p) for p in np.unique(pairs, axis=0).tolist()]


def _check_labels(labels: object, shape: tuple[int, int]) -> np.ndarray:
    if not isinstance(labels, np.ndarray) or not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(f"labels: expected an integer ndarray HxW, got "
                        f"{type(labels).__name__}{'' if not isinstance(labels, np.ndarray) else ' of dtype ' + str(labels.dtype)}")
    if labels.shape != shape:
        raise ValueError(f"labels: expected shape {shape} (the image's H, W), got {labels.shape}")
    return labels
