"""Synthetic shapes: a seeded data set for detection and instance segmentation (chapters 07-12).

Each scene holds a few filled shapes (squares, circles, triangles; ellipses and crosses on request)
in random colours and sizes on a random background (a flat colour with strong pixel noise, or a
two-colour gradient). Shapes are drawn with OpenCV *without* anti-aliasing, so every pixel belongs to
exactly one object or to the background and the masks are exact.

What a scene holds (`make_scene`, and the target dict of `ShapesDataset`):

- image: `make_scene` returns a uint8 ndarray HxWx3 (RGB, for plotting); `ShapesDataset` returns
  it as a float32 Tensor[3, H, W] in [0, 1] (`cvcourse.data.to_tensor`).
- boxes: Tensor[K, 4] float32, `xyxy`, tight around each object's *visible* pixels in pixel-edge
  coordinates: pixels in columns x0..x1 give x1_box = x0 and x2_box = x1 + 1, so an s x s square has
  width s and the box of a 128x128 image is (0, 0, 128, 128). This is COCO's convention
  (pycocotools' `mask.toBbox`); `torchvision.ops.masks_to_boxes` returns the last pixel index
  instead (x2_box = x1).
- labels: Tensor[K] int64, 0-based indices into `classes` (no background class; torchvision's
  detection models reserve 0 for the background: pass `labels + 1` to them).
- masks: Tensor[K, H, W] bool, the visible pixels of each object. Objects are drawn in order, later
  ones cover earlier ones.

Placement: an object is placed at a random position inside the image; the placement is rejected and
retried (up to `attempts` times, then the object is skipped) if its box overlaps an earlier object's
box with IoU above `max_iou`, or if it would leave an earlier object less than `min_visible` of its
pixels visible. So no annotated object is hidden below that fraction (instead of dropping hidden
objects afterwards, which would make the object count drift below `min_objects`).

Determinism: a scene depends only on its seed; `ShapesDataset(seed=s)[i]` uses the seed (s, i), so
item i is the same whatever was read before it, in any process (DataLoader workers included).

Reference: the "shapes" toy data set of Matterport's Mask R-CNN (W. Abdulla, 2017,
https://github.com/matterport/Mask_RCNN, samples/shapes), here with exact masks and occlusion.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor

from cvcourse._validate import check_int as _int
from cvcourse.ops._validate import check_threshold
from cvcourse.ops.iou import box_iou

from .images import to_tensor

__all__ = ["BACKGROUNDS", "CLASSES", "SHAPES", "Scene", "ShapesDataset", "collate", "make_scene", "scenes"]

#: Every shape `make_scene` can draw.
SHAPES = ("square", "circle", "triangle", "ellipse", "cross")
#: The default classes; `labels` index into the `classes` argument (this tuple by default).
CLASSES = ("square", "circle", "triangle")
#: Background kinds: a flat colour with pixel noise, a linear two-colour gradient, or either at random.
BACKGROUNDS = ("noise", "gradient", "random")
_TARGET_KEYS = ("boxes", "labels", "masks")

_MIN_SIDE = 4           # pixels: smaller shapes would not look like their class
_MIN_CONTRAST = 80.0    # RGB distance between an object's colour and the background under it


class Scene(NamedTuple):
    """One synthetic scene: `image` uint8 ndarray HxWx3 (RGB), `boxes` Tensor[K, 4] float32 xyxy,
    `labels` Tensor[K] int64, `masks` Tensor[K, H, W] bool (see the module docstring)."""

    image: np.ndarray
    boxes: Tensor
    labels: Tensor
    masks: Tensor


# ----------------------------------------------------------------------------- validation
def _image_size(image_size: Any) -> tuple[int, int]:
    if isinstance(image_size, (int, np.integer)) and not isinstance(image_size, (bool, np.bool_)):
        image_size = (image_size, image_size)
    if not isinstance(image_size, (tuple, list)) or len(image_size) != 2:
        raise TypeError(f"image_size: expected an int or (height, width), got {image_size!r}")
    h, w = (_int("image_size", v, 16) for v in image_size)
    return h, w


def _config(image_size: Any, min_objects: Any, max_objects: Any, classes: Any, size_range: Any,
            max_iou: Any, min_visible: Any, background: Any, attempts: Any) -> dict[str, Any]:
    """Every scene argument checked once; the returned dict is what `_draw_scene` takes."""
    lo_n, hi_n = _int("min_objects", min_objects, 0), _int("max_objects", max_objects, 0)
    if lo_n > hi_n:
        raise ValueError(f"min_objects: expected min_objects <= max_objects, got {lo_n} > {hi_n}")
    if isinstance(classes, str) or not isinstance(classes, Sequence) or not classes:
        raise TypeError(f"classes: expected a non-empty sequence of shape names from {SHAPES}, got {classes!r}")
    unknown = [c for c in classes if c not in SHAPES]
    if unknown:
        raise ValueError(f"classes: unknown shape {unknown[0]!r}; expected names from {', '.join(SHAPES)}")
    if len(set(classes)) != len(classes):
        raise ValueError(f"classes: each shape may appear once, got {list(classes)}")
    if not (isinstance(size_range, (tuple, list)) and len(size_range) == 2
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in size_range)):
        raise TypeError(f"size_range: expected (low, high) fractions of the image's shorter side, got {size_range!r}")
    if not 0 < size_range[0] <= size_range[1] <= 1:
        raise ValueError(f"size_range: expected 0 < low <= high <= 1, got {tuple(size_range)}")
    if background not in BACKGROUNDS:
        raise ValueError(f"background: unknown kind {background!r}; expected one of {', '.join(BACKGROUNDS)}")
    return {"image_size": _image_size(image_size), "min_objects": lo_n, "max_objects": hi_n,
            "classes": tuple(classes), "size_range": (float(size_range[0]), float(size_range[1])),
            "max_iou": check_threshold(max_iou, "max_iou"), "min_visible": check_threshold(min_visible, "min_visible"),
            "background": background, "attempts": _int("attempts", attempts, 1)}


def _rng(seed: Any) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise TypeError(f"seed: expected an int >= 0 or a numpy Generator, got {type(seed).__name__} {seed!r}")
    return np.random.default_rng(int(seed))


# ----------------------------------------------------------------------------- drawing
def _background(rng: np.random.Generator, h: int, w: int, kind: str) -> np.ndarray:
    """A float32 HxWx3 background in [0, 255]."""
    if kind == "random":
        kind = BACKGROUNDS[int(rng.integers(2))]
    noise = rng.standard_normal((h, w, 3), dtype=np.float32)    # (H, W, 3)
    if kind == "noise":
        noise *= 25.0
        noise += rng.uniform(0, 255, size=3).astype(np.float32)
        return np.clip(noise, 0, 255, out=noise)
    c0, c1 = rng.uniform(0, 255, size=(2, 3)).astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    xs = np.linspace(0, 1, w, dtype=np.float32)[None, :]
    ys = np.linspace(0, 1, h, dtype=np.float32)[:, None]
    t = np.float32(np.cos(angle)) * xs + np.float32(np.sin(angle)) * ys   # (H, W)
    t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    noise *= 3.0
    noise += c0 + t[:, :, None] * (c1 - c0)
    return np.clip(noise, 0, 255, out=noise)


def _shape_mask(rng: np.random.Generator, shape: str, h: int, w: int, side: int) -> np.ndarray:
    """A bool HxW mask of one shape inside a random side x side square of the image."""
    import cv2

    x0, y0 = int(rng.integers(0, w - side + 1)), int(rng.integers(0, h - side + 1))
    mask = np.zeros((h, w), np.uint8)
    centre, r = (x0 + side // 2, y0 + side // 2), (side - 1) // 2
    if shape == "square":
        mask[y0:y0 + side, x0:x0 + side] = 1
    elif shape == "circle":
        cv2.circle(mask, centre, r, 1, thickness=-1, lineType=cv2.LINE_8)
    elif shape == "triangle":                                    # equilateral, random rotation
        a = rng.uniform(0, 2 * np.pi) + np.array([0, 2 * np.pi / 3, 4 * np.pi / 3])
        pts = np.stack([centre[0] + r * np.cos(a), centre[1] + r * np.sin(a)], axis=1)
        cv2.fillPoly(mask, [np.round(pts).astype(np.int32)], 1, lineType=cv2.LINE_8)
    elif shape == "ellipse":                                     # minor/major axis 0.35-0.65
        axes = (r, max(int(round(r * rng.uniform(0.35, 0.65))), 1))
        cv2.ellipse(mask, centre, axes, float(rng.uniform(0, 180)), 0, 360, 1, thickness=-1, lineType=cv2.LINE_8)
    else:                                                        # cross: a plus sign, bars side/3 thick
        t = max(side // 3, 1)
        mask[y0 + (side - t) // 2:y0 + (side - t) // 2 + t, x0:x0 + side] = 1
        mask[y0:y0 + side, x0 + (side - t) // 2:x0 + (side - t) // 2 + t] = 1
    return mask.astype(bool)


def _mask_box(mask: np.ndarray) -> list[float]:
    """The pixel-edge xyxy box of a non-empty bool HxW mask."""
    cols, rows = np.flatnonzero(mask.any(0)), np.flatnonzero(mask.any(1))
    return [float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1)]


def _colour(rng: np.random.Generator, under: np.ndarray) -> np.ndarray:
    """A random RGB colour that stands out from `under` (the mean background colour beneath)."""
    best, best_d = None, -1.0
    for _ in range(10):
        c = rng.integers(0, 256, size=3)
        d = float(np.linalg.norm(c - under))
        if d > best_d:
            best, best_d = c, d
        if d >= _MIN_CONTRAST:
            break
    return best


def _masks_to_boxes(masks: np.ndarray) -> np.ndarray:
    """(K, 4) pixel-edge xyxy boxes of K non-empty (K, H, W) bool masks."""
    k, h, w = masks.shape
    cols, rows = masks.any(1), masks.any(2)                      # (K, W), (K, H)
    x1, y1 = cols.argmax(1), rows.argmax(1)
    x2, y2 = w - cols[:, ::-1].argmax(1), h - rows[:, ::-1].argmax(1)
    return np.stack([x1, y1, x2, y2], axis=1).astype(np.float32)


def _draw_scene(rng: np.random.Generator, cfg: dict[str, Any]) -> Scene:
    h, w = cfg["image_size"]
    short = min(h, w)
    image = _background(rng, h, w, cfg["background"])
    owner = np.full((h, w), -1, np.int64)                        # which object each pixel shows
    areas: list[int] = []
    boxes: list[list[float]] = []
    labels: list[int] = []
    for _ in range(int(rng.integers(cfg["min_objects"], cfg["max_objects"] + 1))):
        label = int(rng.integers(len(cfg["classes"])))
        for _attempt in range(cfg["attempts"]):
            side = max(int(round(rng.uniform(*cfg["size_range"]) * short)), _MIN_SIDE)
            mask = _shape_mask(rng, cfg["classes"][label], h, w, side)
            if not mask.any():
                continue
            box = _mask_box(mask)
            if boxes and float(box_iou(torch.tensor([box]), torch.tensor(boxes)).max()) > cfg["max_iou"]:
                continue
            visible = np.bincount(owner[~mask] + 1, minlength=len(areas) + 1)[1:]   # (n,)
            if (visible < np.maximum(cfg["min_visible"] * np.asarray(areas, np.float64), 1)).any():
                continue
            image[mask] = _colour(rng, image[mask].mean(0))
            owner[mask] = len(areas)
            areas.append(int(mask.sum()))
            boxes.append(box)
            labels.append(label)
            break
    masks = owner[None] == np.arange(len(areas))[:, None, None]  # (K, H, W)
    return Scene(image=np.round(image).astype(np.uint8),
                 boxes=torch.from_numpy(_masks_to_boxes(masks)).reshape(-1, 4),
                 labels=torch.tensor(labels, dtype=torch.int64),
                 masks=torch.from_numpy(masks))


# ----------------------------------------------------------------------------- public API
def make_scene(seed: int | np.random.Generator = 0, image_size: int | tuple[int, int] = 128,
               min_objects: int = 1, max_objects: int = 4, classes: Sequence[str] = CLASSES,
               size_range: tuple[float, float] = (0.15, 0.4), max_iou: float = 0.3,
               min_visible: float = 0.5, background: str = "random", attempts: int = 50) -> Scene:
    """One random scene of filled shapes with its boxes, labels and instance masks.

    Args:
        seed: an int >= 0 (the same seed gives the same scene) or a numpy Generator (advanced).
        image_size: H = W, or (H, W); each >= 16 pixels.
        min_objects, max_objects: the number of objects is drawn uniformly from this range
            (inclusive). Fewer come out only if an object cannot be placed in `attempts` tries.
        classes: the shapes to draw, names from `SHAPES`; `labels` are indices into this sequence.
        size_range: (low, high): each shape is drawn inside a square whose side is uniform in this
            range, as a fraction of the image's shorter side (at least 4 pixels).
        max_iou: the largest IoU allowed between the box of a new object and any earlier box
            (0: no overlap at all; 1: no limit).
        min_visible: each object keeps at least this fraction of its pixels visible (and at
            least one pixel, also with `min_visible=0`).
        background: "noise" (a flat random colour plus Gaussian pixel noise, std 25), "gradient" (a
            linear gradient between two random colours), or "random" (either, per scene).
        attempts: placements tried per object before it is skipped.

    Returns:
        Scene(image, boxes, labels, masks): image uint8 ndarray HxWx3 (RGB); boxes Tensor[K, 4]
        float32 `xyxy` (pixel-edge coordinates, tight around the visible pixels); labels Tensor[K]
        int64; masks Tensor[K, H, W] bool (visible pixels). K = 0 gives Tensor[0, 4], Tensor[0]
        and Tensor[0, H, W].

    Raises:
        TypeError / ValueError: an argument of the wrong type or out of range, naming the argument.

    Reference: Matterport Mask R-CNN's shapes data set (Abdulla 2017); boxes as COCO
    (Lin et al., "Microsoft COCO: Common Objects in Context", ECCV 2014).
    """
    cfg = _config(image_size, min_objects, max_objects, classes, size_range, max_iou, min_visible,
                  background, attempts)
    return _draw_scene(_rng(seed), cfg)


class ShapesDataset(torch.utils.data.Dataset):
    """`n` seeded synthetic scenes as a map-style torch Dataset, in torchvision's detection format.

    `ds[i]` is `(image, target)`: image Tensor[3, H, W] float32 in [0, 1]; target a dict with
    "boxes" Tensor[K, 4] float32 `xyxy`, "labels" Tensor[K] int64 (0-based indices into
    `ds.classes`) and "masks" Tensor[K, H, W] bool (see the module docstring). Item i is generated
    on access from the seed (seed, i): it does not depend on which items were read before, and
    nothing is cached. `ds.scene(i)` gives the same scene with its uint8 image, for plotting.
    Batch with `torch.utils.data.DataLoader(ds, batch_size=..., collate_fn=collate)`.

    Args: `n` (the length, >= 0), `seed` (int >= 0) and the scene arguments of `make_scene`
    (checked here, so a bad argument fails when the data set is made).
    """

    def __init__(self, n: int, image_size: int | tuple[int, int] = 128, min_objects: int = 1,
                 max_objects: int = 4, seed: int = 0, classes: Sequence[str] = CLASSES,
                 size_range: tuple[float, float] = (0.15, 0.4), max_iou: float = 0.3,
                 min_visible: float = 0.5, background: str = "random", attempts: int = 50) -> None:
        self.n = _int("n", n, 0)
        if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise TypeError(f"seed: expected an int >= 0, got {type(seed).__name__} {seed!r}")
        self.seed = int(seed)
        self._cfg = _config(image_size, min_objects, max_objects, classes, size_range, max_iou,
                            min_visible, background, attempts)
        self.classes: tuple[str, ...] = self._cfg["classes"]
        self.image_size: tuple[int, int] = self._cfg["image_size"]

    def __len__(self) -> int:
        return self.n

    def scene(self, i: int) -> Scene:
        """Item i as a `Scene` (uint8 HxWx3 image); negative i counts from the end."""
        if isinstance(i, (bool, np.bool_)) or not isinstance(i, (int, np.integer)):
            raise TypeError(f"index: expected an int, got {type(i).__name__}")
        if not -self.n <= i < self.n:
            raise IndexError(f"index {i} out of range for a ShapesDataset of length {self.n}")
        return _draw_scene(np.random.default_rng([self.seed, int(i) % self.n]), self._cfg)

    def __getitem__(self, i: int) -> tuple[Tensor, dict[str, Tensor]]:
        s = self.scene(i)
        return to_tensor(s.image), {"boxes": s.boxes, "labels": s.labels, "masks": s.masks}

    def __repr__(self) -> str:
        h, w = self.image_size
        return f"ShapesDataset(n={self.n}, image_size=({h}, {w}), classes={self.classes}, seed={self.seed})"


def scenes(n: int, image_size: int | tuple[int, int] = 128, min_objects: int = 1, max_objects: int = 4,
           seed: int = 0, *, keys: Sequence[str] | None = None) -> list[tuple[Tensor, dict[str, Tensor]]]:
    """The `n` items of a `ShapesDataset`, generated once into a list (to train on them for several epochs).

    Args:
        n, image_size, min_objects, max_objects, seed: as in `ShapesDataset` (item i uses the seed
            (seed, i), so the same arguments give the same scenes).
        keys: the target entries to keep, names from "boxes", "labels", "masks" (None: all three;
            e.g. ("boxes", "labels") for a detector without masks).

    Returns:
        A list of n (image Tensor[3, H, W] float32 in [0, 1], target dict) pairs: "boxes"
        Tensor[K, 4] float32 `xyxy`, "labels" Tensor[K] int64, "masks" Tensor[K, H, W] bool, those
        of `keys` in that order.

    Raises:
        TypeError / ValueError: a bad `ShapesDataset` argument, or `keys` that are not distinct target names.

    Reference: `ShapesDataset`; Matterport Mask R-CNN's shapes data set (Abdulla 2017).
    """
    if keys is not None:
        if isinstance(keys, str) or not isinstance(keys, Sequence):
            raise TypeError(f"keys: expected a sequence of names (or None: all), got {type(keys).__name__} {keys!r}")
        if any(k not in _TARGET_KEYS for k in keys) or len(set(keys)) != len(keys):
            raise ValueError(f"keys: expected distinct names from {', '.join(_TARGET_KEYS)}, got {list(keys)}")
    ds = ShapesDataset(n, image_size=image_size, min_objects=min_objects, max_objects=max_objects, seed=seed)
    items = [ds[i] for i in range(len(ds))]
    return items if keys is None else [(image, {k: target[k] for k in keys}) for image, target in items]


def collate(batch: Sequence[tuple[Tensor, dict[str, Tensor]]]) -> tuple[Tensor, list[dict[str, Tensor]]]:
    """Batch `ShapesDataset` items: stack the images, keep the targets as a list (K varies per image).

    Args:
        batch: a sequence of (image Tensor[3, H, W], target dict) pairs, all images of one size.

    Returns:
        (images Tensor[B, 3, H, W], targets: a list of B dicts). torchvision's detection models
        take a list of images: pass `list(images)`.

    Raises:
        ValueError: an empty batch, or images of different sizes.

    Reference: torchvision's detection references (`collate_fn = tuple(zip(*batch))`), with the
    images stacked since the synthetic scenes share one size.
    """
    if len(batch) == 0:
        raise ValueError("batch: expected at least one (image, target) pair, got an empty batch")
    images, targets = zip(*batch, strict=True)
    sizes = {tuple(im.shape) for im in images}
    if len(sizes) > 1:
        raise ValueError(f"batch: images must share one size to be stacked, got {sorted(sizes)}")
    return torch.stack(images), list(targets)
