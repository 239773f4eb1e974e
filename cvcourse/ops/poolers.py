"""Multi-scale RoIAlign over a feature pyramid (chapter 10): each RoI is pooled from one level.

A feature pyramid network (FPN) gives maps P_k of strides 2^k (P2: 1/4 of the image, ..., P5:
1/32). A small RoI has detail only in a fine map, a large one fits in a coarse map, so each RoI is
pooled from the level of FPN's equation (1) (Lin et al. 2017):

    k = floor(k0 + log2(sqrt(w * h) / 224) + eps),  clamped to [k_min, k_max]

with k0 = `canonical_level` = 4 and 224 = `canonical_scale` (an ImageNet-sized RoI goes to P4;
half as large, P3; twice, P5) and eps = 1e-6, so that a RoI exactly 112 pixels wide lands in P3
despite rounding. w and h are the box's size in image pixels.

`MultiScaleRoIAlign` follows `torchvision.ops.MultiScaleRoIAlign`:

- each map's scale is inferred from its height over the largest image height of the batch,
  rounded to a power of 2 (a 200-row map for 800-row images has scale 1/4, level 2);
  k_min and k_max are the levels of the first and last map;
- `featmap_names` must list the maps from the finest to the coarsest, each half the size of the
  previous (torchvision assumes this and takes the maps in the dict's order; here the names' order
  is used, and a gap or a wrong order is refused);
- with a single map, every RoI is pooled from it;
- the output lists the RoIs in the order of the concatenated boxes (image 0's, then image 1's, ...),
  whatever their levels; roi_align runs with `aligned=False`, as torchvision's pooler does.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ._validate import check_boxes
from .boxes import box_area
from .roi import _check_output_size, convert_boxes_to_roi_format, roi_align

__all__ = ["MultiScaleRoIAlign", "assign_levels", "infer_scale"]


def assign_levels(boxes: Tensor, k_min: int, k_max: int, canonical_scale: float = 224,
                  canonical_level: int = 4) -> Tensor:
    """The FPN level of each box: floor(k0 + log2(sqrt(area) / canonical_scale) + 1e-6), clamped.

    Args:
        boxes: `Tensor[K, 4]` (`xyxy`) in image pixels.
        k_min, k_max: the finest and coarsest levels (k_min <= k_max).
        canonical_scale: the size (sqrt of the area) of a RoI that belongs to `canonical_level`.
        canonical_level: k0, the level of a `canonical_scale`-sized RoI.

    Returns:
        `Tensor[K]` int64, levels in [k_min, k_max] (a zero-area box gets k_min).

    References: Lin et al., "Feature Pyramid Networks for Object Detection", CVPR 2017, eq. (1).
    """
    for name, v in (("k_min", k_min), ("k_max", k_max), ("canonical_level", canonical_level)):
        if isinstance(v, bool) or not isinstance(v, int):
            raise TypeError(f"{name}: expected an int, got {v!r}")
    if k_min > k_max:
        raise ValueError(f"k_min, k_max: expected k_min <= k_max, got {k_min} > {k_max}")
    if isinstance(canonical_scale, bool) or not isinstance(canonical_scale, (int, float)):
        raise TypeError(f"canonical_scale: expected a number > 0, got {canonical_scale!r}")
    if not (math.isfinite(canonical_scale) and canonical_scale > 0):
        raise ValueError(f"canonical_scale: expected a finite number > 0, got {canonical_scale}")
    s = torch.sqrt(box_area(boxes))                                         # (K,); box_area checks the boxes
    levels = torch.floor(canonical_level + torch.log2(s / canonical_scale) + torch.tensor(1e-6, dtype=s.dtype))
    return levels.clamp(k_min, k_max).to(torch.int64)


def infer_scale(feature: Tensor, image_size: tuple[int, int]) -> float:
    """A feature map's scale: its height over the image height, rounded to a power of 2.

    Args:
        feature: `Tensor[..., H, W]`, a feature map of images of `image_size`.
        image_size: (height, width) of the (padded) input images.

    Returns:
        2 ** round(log2(H / height)), e.g. 0.25 for a 200-row map of 800-row images.

    References: Lin et al., "Feature Pyramid Networks for Object Detection", CVPR 2017.
    """
    approx = float(feature.shape[-2]) / float(image_size[0])
    return 2.0 ** float(torch.tensor(approx).log2().round())


def _check_image_shapes(image_shapes: object, n: int) -> list[tuple[int, int]]:
    ok = isinstance(image_shapes, (list, tuple)) and all(
        isinstance(s, (list, tuple, torch.Size)) and len(s) == 2 and all(isinstance(v, int) and v > 0 for v in s)
        for s in image_shapes)
    if not ok:
        raise TypeError(f"image_shapes: expected a list of (height, width) pairs of positive ints, got {image_shapes!r}")
    if len(image_shapes) != n:
        raise ValueError(f"image_shapes: expected one (height, width) per image of boxes ({n}), got {len(image_shapes)}")
    return [tuple(s) for s in image_shapes]  # type: ignore[misc]


class MultiScaleRoIAlign(nn.Module):
    """RoIAlign from the FPN level that suits each RoI (see the module docstring for the rules).

    Args:
        featmap_names: the names of the maps to pool from, finest first (keys of `forward`'s dict).
        output_size: (oh, ow), or an int for a square output.
        sampling_ratio: as in `roi_align` (<= 0: adaptive).
        canonical_scale, canonical_level: the constants of FPN's level equation (224 and 4).

    References: Lin et al., "Feature Pyramid Networks for Object Detection", CVPR 2017; He et al.,
    "Mask R-CNN", ICCV 2017.
    """

    def __init__(self, featmap_names: list[str], output_size: int | tuple[int, int], sampling_ratio: int, *,
                 canonical_scale: int = 224, canonical_level: int = 4) -> None:
        super().__init__()
        if (not isinstance(featmap_names, (list, tuple)) or not featmap_names
                or not all(isinstance(n, str) for n in featmap_names)):
            raise TypeError(f"featmap_names: expected a non-empty list of str, got {featmap_names!r}")
        if len(set(featmap_names)) != len(featmap_names):
            raise ValueError(f"featmap_names: names must be distinct, got {featmap_names!r}")
        if isinstance(sampling_ratio, bool) or not isinstance(sampling_ratio, int):
            raise TypeError(f"sampling_ratio: expected an int (<= 0 for adaptive), got {sampling_ratio!r}")
        assign_levels(torch.zeros(0, 4), 0, 0, canonical_scale, canonical_level)   # checks the constants
        self.featmap_names = list(featmap_names)
        self.output_size = _check_output_size(output_size)
        self.sampling_ratio = sampling_ratio
        self.canonical_scale, self.canonical_level = canonical_scale, canonical_level

    def forward(self, x: dict[str, Tensor], boxes: list[Tensor], image_shapes: list[tuple[int, int]]) -> Tensor:
        """Pool every box from its level.

        Args:
            x: feature maps by name, each `Tensor[N, C, H_l, W_l]` (the names of `featmap_names` at
                least; other entries are ignored).
            boxes: a list of `Tensor[L_i, 4]` (`xyxy`, image pixels), one per image.
            image_shapes: (height, width) of each image, as fed to the backbone.

        Returns:
            `Tensor[sum L_i, C, oh, ow]`, the boxes in list order.
        """
        if not isinstance(x, dict):
            raise TypeError(f"x: expected a dict of feature maps by name, got {type(x).__name__}")
        missing = [n for n in self.featmap_names if n not in x]
        if missing:
            raise ValueError(f"x: no feature map named {missing}; got {list(x)}")
        feats = [x[n] for n in self.featmap_names]
        if not isinstance(boxes, (list, tuple)):
            raise TypeError(f"boxes: expected a list of Tensor[L, 4] per image, got {type(boxes).__name__}")
        boxes = [check_boxes(b, f"boxes[{i}]") for i, b in enumerate(boxes)]
        shapes = _check_image_shapes(image_shapes, len(boxes))
        f0 = feats[0]
        for name, f in zip(self.featmap_names, feats, strict=True):
            if not isinstance(f, Tensor) or f.dim() != 4:
                raise ValueError(f"x[{name!r}]: expected a Tensor[N, C, H, W], got {getattr(f, 'shape', type(f))}")
            if f.shape[:2] != f0.shape[:2] or f.dtype != f0.dtype or f.device != f0.device:
                raise ValueError(f"x[{name!r}]: every map must have the same N, C, dtype and device; got "
                                 f"{list(f.shape[:2])} {f.dtype} {f.device} vs {list(f0.shape[:2])} {f0.dtype} {f0.device}")
        if not shapes:                                                      # no images: no RoIs
            return roi_align(f0, torch.zeros(0, 5, device=f0.device), self.output_size)
        top = (max(s[0] for s in shapes), max(s[1] for s in shapes))
        scales = [infer_scale(f, top) for f in feats]
        levels = [-round(math.log2(s)) for s in scales]
        if levels != list(range(levels[0], levels[0] + len(levels))):
            raise ValueError(f"featmap_names: expected maps from the finest to the coarsest, each half the size of "
                             f"the previous; got scales {dict(zip(self.featmap_names, scales, strict=True))}")
        if len(feats) == 1:
            return roi_align(f0, boxes, self.output_size, scales[0], self.sampling_ratio)
        rois = convert_boxes_to_roi_format(boxes)                           # (K, 5)
        level = assign_levels(rois[:, 1:], levels[0], levels[-1], self.canonical_scale, self.canonical_level)
        level = level - levels[0]                                           # index into feats
        parts, where = [], []
        for i, (f, scale) in enumerate(zip(feats, scales, strict=True)):
            idx = (level == i).nonzero().squeeze(1)                         # this level's RoIs, in box order
            parts.append(roi_align(f, rois.index_select(0, idx), self.output_size, scale, self.sampling_ratio))
            where.append(idx)
        return torch.cat(parts).index_select(0, torch.argsort(torch.cat(where)).to(f0.device))

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(featmap_names={self.featmap_names}, output_size={self.output_size}, "
                f"sampling_ratio={self.sampling_ratio})")
