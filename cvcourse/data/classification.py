"""Synthetic shapes as an image classification set (chapters 03-05: Inception, ResNet, SE).

Each image shows one *main* shape, whose class is the label, drawn anti-aliased in a random colour,
size, rotation and position on a cluttered background, with smaller *distractor fragments* around
and under it. Three clean classes are too easy (any small CNN reaches 100 %); these choices make the
set hard enough that architectures differ:

- 12 classes (`SHAPE_CLASSES`), several of them close at 32 px: pentagon / hexagon / circle,
  rhombus / triangle / arrow / ellipse, heart / square (the confusions a trained SE-ResNet still makes).
- main shape: circumradius 22-42 % of the image's shorter side (7-13 px at 32 px), any rotation
  (`rotation=True`), centre jittered so the shape stays inside the image, a random colour that stands
  out from the background beneath it (RGB distance >= 80 where possible).
- background (`clutter=True`): per image one of pixel noise (std 12 around a random colour), a
  two-colour gradient (noise std 3), or a low-frequency colour texture (a 4x4 grid of random colours,
  bicubically upsampled; noise std 6). `clutter=False`: a flat colour.
- distractors (`distractors=True`): 1-3 per image, each a thin line, an arc of an ellipse's outline,
  or a *fragment*: a shape of any class, 30-60 % of the main shape's size, cut by a straight line
  through it so that only a part of it is left (never a complete shape of another class). They are
  drawn under the main shape, except lines, which may cross it.

Image i of `make_classification_set(n, seed=s)` depends only on (s, i): the labels come in blocks of
`len(classes)` images, each block a random permutation of the classes (so every prefix is balanced
to within one image per class, and `make_classification_set(m, seed=s)` is the first m images of
`make_classification_set(n, seed=s)` for m <= n). Use different seeds for training and validation.

Reference: the synthetic "shapes" tasks of the capsule and CoordConv papers (Sabour et al., NeurIPS
2017; Liu et al., NeurIPS 2018) and Keras' examples; the clutter follows the "cluttered MNIST" idea
of Mnih et al., "Recurrent Models of Visual Attention", NeurIPS 2014.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from cvcourse._validate import check_int as _int

from .shapes import _MIN_CONTRAST, _image_size

__all__ = ["SHAPE_CLASSES", "LabelledImages", "ShapesClassification", "make_classification_set"]

#: The class names, in label order.
SHAPE_CLASSES = ("square", "circle", "triangle", "pentagon", "hexagon", "star", "cross", "ring",
                 "rhombus", "ellipse", "arrow", "heart")

_RADIUS = (0.22, 0.42)      # main shape's circumradius, as a fraction of the shorter side
_FRAGMENT = (0.3, 0.6)      # a fragment's size relative to the main shape
_NOISE = (12.0, 3.0, 6.0)   # pixel noise std of the three backgrounds: noise, gradient, texture
_DISTRACTORS = (1, 3)       # distractors per image (inclusive range)
_CONTRAST = _MIN_CONTRAST   # RGB distance between the main shape's colour and the background under it
_SHIFT = 4                  # cv2 fixed-point bits: vertices with 1/16 pixel precision


# ----------------------------------------------------------------------------- shape outlines
def _ngon(k: int, radius: float = 1.0, phase: float = np.pi / 2) -> np.ndarray:
    """(k, 2) vertices of a regular k-gon, a vertex pointing up (image y points down)."""
    a = phase + 2 * np.pi * np.arange(k) / k
    return radius * np.stack([np.cos(a), -np.sin(a)], axis=1)


def _star() -> np.ndarray:
    outer, inner = _ngon(5), _ngon(5, 0.42, np.pi / 2 + np.pi / 5)
    return np.stack([outer, inner], axis=1).reshape(10, 2)      # alternate outer and inner points


def _heart() -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, 48, endpoint=False)
    x = 16 * np.sin(t) ** 3
    y = 13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t)
    return np.stack([x, -y - 2.5], axis=1) / 16.5              # centred, circumradius ~1


# Each class: a list of (outline, value) polygons in unit coordinates (circumradius ~1), filled in
# order with the value (1 = shape, 0 = a hole), so the ring is an outer disc with an inner disc cleared.
_OUTLINES: dict[str, list[tuple[np.ndarray, float]]] = {
    "square": [(_ngon(4, 1.0, np.pi / 4), 1.0)],
    "circle": [(_ngon(40, 0.9), 1.0)],
    "triangle": [(_ngon(3), 1.0)],
    "pentagon": [(_ngon(5), 1.0)],
    "hexagon": [(_ngon(6), 1.0)],
    "star": [(_star(), 1.0)],
    "cross": [(np.array([[-0.3, -1], [0.3, -1], [0.3, -0.3], [1, -0.3], [1, 0.3], [0.3, 0.3], [0.3, 1],
                         [-0.3, 1], [-0.3, 0.3], [-1, 0.3], [-1, -0.3], [-0.3, -0.3]]), 1.0)],
    "ring": [(_ngon(40, 0.95), 1.0), (_ngon(40, 0.55), 0.0)],
    "rhombus": [(np.array([[1.0, 0.0], [0.0, 0.55], [-1.0, 0.0], [0.0, -0.55]]), 1.0)],
    "ellipse": [(_ngon(40) * [1.0, 0.5], 1.0)],
    "arrow": [(np.array([[-1, -0.22], [0.15, -0.22], [0.15, -0.6], [1, 0], [0.15, 0.6], [0.15, 0.22],
                         [-1, 0.22]]), 1.0)],
    "heart": [(_heart(), 1.0)],
}


# ----------------------------------------------------------------------------- drawing
def _fill(alpha: np.ndarray, outline: list[tuple[np.ndarray, float]], centre: np.ndarray, radius: float,
          angle: float) -> None:
    """Draw a shape's polygons anti-aliased into the float HxW coverage map `alpha` (in place)."""
    import cv2

    c, s = np.cos(angle), np.sin(angle)
    rot = np.array([[c, -s], [s, c]]) * radius                  # (2, 2): rotate, then scale
    canvas = np.zeros(alpha.shape, np.uint8)
    for points, value in outline:
        xy = points @ rot.T + centre                            # (V, 2) pixel coordinates
        # pixel centres are at integer coordinates in cv2; ours are at i + 0.5
        fixed = np.round((xy - 0.5) * (1 << _SHIFT)).astype(np.int32)
        cv2.fillPoly(canvas, [fixed], int(255 * value), lineType=cv2.LINE_AA, shift=_SHIFT)
    np.maximum(alpha, canvas.astype(np.float32) / 255, out=alpha)


def _paint(image: np.ndarray, alpha: np.ndarray, colour: np.ndarray) -> None:
    """Blend `colour` into the float HxWx3 image with the HxW coverage `alpha` (in place)."""
    a = alpha[:, :, None]
    image *= 1 - a
    image += a * colour.astype(np.float32)


def _clutter(rng: np.random.Generator, grid: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """A float32 HxWx3 background in [0, 255]: pixel noise (std 12) around a random colour, a linear
    two-colour gradient (noise std 3), or a low-frequency colour texture (noise std 6)."""
    import cv2

    xs, ys = grid                                               # (1, W), (H, 1) pixel centres
    h, w = ys.shape[0], xs.shape[1]
    kind = int(rng.integers(3))
    image = rng.standard_normal((h, w, 3), dtype=np.float32)    # (H, W, 3)
    image *= _NOISE[kind]
    if kind == 0:
        image += rng.uniform(0, 255, size=3).astype(np.float32)
    elif kind == 1:
        c0, c1 = rng.uniform(0, 255, size=(2, 3)).astype(np.float32)
        a = rng.uniform(0, 2 * np.pi)
        t = np.float32(np.cos(a)) * xs + np.float32(np.sin(a)) * ys                # (H, W)
        t -= t.min()
        t /= max(float(t.max()), 1e-6)
        image += c0 + t[:, :, None] * (c1 - c0)
    else:
        coarse = rng.uniform(0, 255, size=(4, 4, 3)).astype(np.float32)           # (4, 4, 3)
        image += cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)
    return np.clip(image, 0, 255, out=image)


def _contrasting(rng: np.random.Generator, under: np.ndarray) -> np.ndarray:
    """A random RGB colour at least _CONTRAST away from `under` (the best of 8 tries)."""
    candidates = rng.integers(0, 256, size=(8, 3)).astype(np.float32)          # (8, 3)
    distance = np.sqrt(((candidates - under) ** 2).sum(1))
    ok = distance >= _CONTRAST
    return candidates[int(ok.argmax()) if ok.any() else int(distance.argmax())]


def _distractor(rng: np.random.Generator, image: np.ndarray, kind: int, radius: float, classes: Sequence[str],
                grid: tuple[np.ndarray, np.ndarray]) -> None:
    """Draw one line (kind 0), arc (1) or fragment (2: part of a shape, cut by a line) into `image`."""
    import cv2

    h, w = image.shape[:2]
    size = np.array([w, h], np.float64)
    if kind == 0:                                               # a thin line
        p = rng.random(2) * size
        a = rng.uniform(0, 2 * np.pi)
        q = p + rng.uniform(0.6, 1.5) * radius * np.array([np.cos(a), np.sin(a)])
        canvas = np.zeros((h, w), np.uint8)
        pts = np.round((np.stack([p, q]) - 0.5) * (1 << _SHIFT)).astype(np.int32)
        cv2.line(canvas, tuple(pts[0]), tuple(pts[1]), 255, 1, cv2.LINE_AA, _SHIFT)
        alpha = canvas.astype(np.float32) / 255
    elif kind == 1:                                             # an arc of an ellipse's outline
        canvas = np.zeros((h, w), np.uint8)
        centre = rng.random(2) * size
        axes = np.maximum(rng.uniform(0.3, 0.7, size=2) * radius, 1.5)
        start = float(rng.uniform(0, 360))
        cv2.ellipse(canvas, (int(centre[0]), int(centre[1])), (int(axes[0]), int(axes[1])),
                    float(rng.uniform(0, 180)), start, start + float(rng.uniform(60, 200)), 255, 1, cv2.LINE_AA)
        alpha = canvas.astype(np.float32) / 255
    else:                                                       # a fragment of any class's shape
        r = rng.uniform(*_FRAGMENT) * radius
        centre = rng.random(2) * size
        alpha = np.zeros((h, w), np.float32)
        _fill(alpha, _OUTLINES[classes[int(rng.integers(len(classes)))]], centre, r, rng.uniform(0, 2 * np.pi))
        a = rng.uniform(0, 2 * np.pi)                           # keep the side of a line through the shape
        offset = rng.uniform(-0.3, 0.3) * r
        side = (grid[0] - centre[0]) * np.cos(a) + (grid[1] - centre[1]) * np.sin(a) - offset   # (H, W)
        alpha *= np.clip(0.5 - side, 0, 1)
    _paint(image, alpha, rng.integers(0, 256, size=3))


def _draw(rng: np.random.Generator, label: int, cfg: dict[str, Any], grid: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """One uint8 HxWx3 image of class `label`."""
    h, w = cfg["image_size"]
    if cfg["clutter"]:
        image = _clutter(rng, grid)
    else:
        image = np.broadcast_to(rng.uniform(0, 255, size=3).astype(np.float32), (h, w, 3)).copy()
    radius = rng.uniform(*_RADIUS) * min(h, w)
    n_distractors = int(rng.integers(_DISTRACTORS[0], _DISTRACTORS[1] + 1)) if cfg["distractors"] else 0
    kinds = rng.integers(0, 3, size=n_distractors)
    on_top = (kinds == 0) & (rng.random(n_distractors) < 0.5)   # half the lines cross the main shape
    for kind in kinds[~on_top]:
        _distractor(rng, image, int(kind), radius, cfg["classes"], grid)
    centre = radius + rng.random(2) * (np.array([w, h], np.float64) - radius - radius)   # inside the image
    angle = rng.uniform(0, 2 * np.pi) if cfg["rotation"] else 0.0
    alpha = np.zeros((h, w), np.float32)
    _fill(alpha, _OUTLINES[cfg["classes"][label]], centre, radius, angle)
    under = image[alpha > 0.5].mean(0) if (alpha > 0.5).any() else image.mean((0, 1))
    _paint(image, alpha, _contrasting(rng, under))
    for _ in range(int(on_top.sum())):
        _distractor(rng, image, 0, radius, cfg["classes"], grid)
    return np.round(image).astype(np.uint8)


# ----------------------------------------------------------------------------- public API
def _config(image_size: Any, classes: Any, rotation: Any, clutter: Any, distractors: Any) -> dict[str, Any]:
    classes = SHAPE_CLASSES if classes is None else classes
    if isinstance(classes, str) or not isinstance(classes, Sequence) or len(classes) < 2:
        raise TypeError(f"classes: expected None or a sequence of at least two names from SHAPE_CLASSES, got {classes!r}")
    unknown = [c for c in classes if c not in SHAPE_CLASSES]
    if unknown:
        raise ValueError(f"classes: unknown shape {unknown[0]!r}; expected names from {', '.join(SHAPE_CLASSES)}")
    if len(set(classes)) != len(classes):
        raise ValueError(f"classes: each shape may appear once, got {list(classes)}")
    for name, flag in (("rotation", rotation), ("clutter", clutter), ("distractors", distractors)):
        if not isinstance(flag, (bool, np.bool_)):
            raise TypeError(f"{name}: expected a bool, got {type(flag).__name__} {flag!r}")
    return {"image_size": _image_size(image_size), "classes": tuple(classes), "rotation": bool(rotation),
            "clutter": bool(clutter), "distractors": bool(distractors)}


def _seed(seed: Any) -> int:
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise TypeError(f"seed: expected an int >= 0, got {type(seed).__name__} {seed!r}")
    return int(seed)


def make_classification_set(n: int, image_size: int | tuple[int, int] = 32, *, classes: Sequence[str] | None = None,
                            seed: int = 0, rotation: bool = True, clutter: bool = True,
                            distractors: bool = True) -> tuple[Tensor, Tensor]:
    """`n` labelled images of synthetic shapes, balanced over the classes (see the module docstring).

    Args:
        n: the number of images (>= 0).
        image_size: H = W, or (H, W); each >= 16 pixels.
        classes: the class names, a sequence of at least two names from `SHAPE_CLASSES` (None: all
            of them); labels index into it.
        seed: an int >= 0; the same seed gives the same images, image i depends only on (seed, i).
        rotation: rotate the main shape by a random angle (else it is upright).
        clutter: a noise, gradient or texture background (else a flat colour).
        distractors: draw 1-3 lines, arcs and shape fragments per image.

    Returns:
        (images Tensor[N, 3, H, W] uint8 RGB, labels Tensor[N] int64 in [0, len(classes))). Every
        class appears floor(n / K) or ceil(n / K) times (K classes). n = 0 gives Tensor[0, 3, H, W]
        and Tensor[0].

    Raises:
        TypeError / ValueError: an argument of the wrong type or out of range, naming the argument.

    Reference: see the module docstring (cluttered MNIST: Mnih et al., NeurIPS 2014).
    """
    n, seed = _int("n", n, 0), _seed(seed)
    cfg = _config(image_size, classes, rotation, clutter, distractors)
    return _generate(n, seed, cfg)


def _generate(n: int, seed: int, cfg: dict[str, Any]) -> tuple[Tensor, Tensor]:
    h, w = cfg["image_size"]
    k = len(cfg["classes"])
    grid = (np.arange(w, dtype=np.float32)[None, :] + 0.5, np.arange(h, dtype=np.float32)[:, None] + 0.5)
    images = np.empty((n, h, w, 3), np.uint8)                   # (N, H, W, 3)
    labels = np.empty(n, np.int64)
    for block in range(0, n, k):
        rng = np.random.default_rng([seed, block // k])
        order = rng.permutation(k)
        for j in range(min(k, n - block)):
            labels[block + j] = order[j]
            images[block + j] = _draw(rng, int(order[j]), cfg, grid)
    return torch.from_numpy(images.transpose(0, 3, 1, 2).copy()), torch.from_numpy(labels)


class LabelledImages(torch.utils.data.Dataset):
    """uint8 images with class labels, held in memory, as a map-style torch Dataset.

    `ds[i]` is `(image, label)`: image a float32 Tensor[C, H, W] in [0, 1] (passed through
    `transform` if given), label an int. `ds.images` (Tensor[N, C, H, W] uint8), `ds.labels`
    (Tensor[N] int64) and `ds.class_names` (names in label order) are the whole set, to index
    directly (e.g. `ds.images[:16]` to plot a few).

    Args:
        images: Tensor[N, C, H, W] uint8.
        labels: Tensor[N] int64, each in [0, len(class_names)).
        class_names: the class names, in label order.
        transform: None or a callable applied to each float image (e.g. `RandomAugment(...)`).

    The base of `ShapesClassification`, `cvcourse.data.cifar.CIFAR10` and
    `cvcourse.data.fashion_mnist.FashionMNIST`; like torchvision's `TensorDataset`-backed sets.
    """

    def __init__(self, images: Tensor, labels: Tensor, class_names: Sequence[str],
                 transform: Callable[[Tensor], Tensor] | None = None) -> None:
        if not isinstance(images, Tensor) or images.dtype != torch.uint8 or images.dim() != 4:
            raise TypeError(f"images: expected a uint8 Tensor[N, C, H, W], got {_describe(images)}")
        if not isinstance(labels, Tensor) or labels.dtype != torch.int64 or labels.shape != images.shape[:1]:
            raise TypeError(f"labels: expected an int64 Tensor[{len(images)}], got {_describe(labels)}")
        if len(labels) and not (0 <= int(labels.min()) and int(labels.max()) < len(class_names)):
            raise ValueError(f"labels: expected values in [0, {len(class_names)}), got "
                             f"[{int(labels.min())}, {int(labels.max())}]")
        if transform is not None and not callable(transform):
            raise TypeError(f"transform: expected None or a callable, got {type(transform).__name__}")
        self.images, self.labels, self.class_names = images, labels, tuple(class_names)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[Tensor, int]:
        if isinstance(i, (bool, np.bool_)) or not isinstance(i, (int, np.integer)):
            raise TypeError(f"index: expected an int, got {type(i).__name__}")
        if not -len(self) <= i < len(self):
            raise IndexError(f"index {i} out of range for a {type(self).__name__} of length {len(self)}")
        image = self.images[i].float() / 255
        if self.transform is not None:
            image = self.transform(image)
        return image, int(self.labels[i])

    def __repr__(self) -> str:
        _, c, h, w = self.images.shape
        return f"{type(self).__name__}(n={len(self)}, image=({c}, {h}, {w}), classes={len(self.class_names)})"


def _describe(x: Any) -> str:
    return f"{x.dtype} Tensor of shape {tuple(x.shape)}" if isinstance(x, Tensor) else type(x).__name__


class ShapesClassification(LabelledImages):
    """`n` synthetic shape images with their class labels, as a map-style torch Dataset.

    The images are generated once, when the data set is made (`make_classification_set`, about
    3,000 32x32 images per second on one CPU core), and kept as uint8 in `ds.images`
    (Tensor[N, 3, H, W]) and `ds.labels` (Tensor[N] int64); `ds[i]` is `(image, label)` with image
    a float32 Tensor[3, H, W] in [0, 1] (see `LabelledImages`). Batch with
    `torch.utils.data.DataLoader(ds, batch_size=...)`.

    Args: `n`, `image_size` and the keywords of `make_classification_set` (`classes`, `seed`,
    `rotation`, `clutter`, `distractors`), and `transform`: None or a callable applied to each float
    image (e.g. `cvcourse.data.augment.RandomAugment(...)`). Use different seeds for the training
    and the validation set. `ds.class_names` holds the class names, in label order.
    """

    def __init__(self, n: int, image_size: int | tuple[int, int] = 32, *, classes: Sequence[str] | None = None,
                 seed: int = 0, rotation: bool = True, clutter: bool = True, distractors: bool = True,
                 transform: Callable[[Tensor], Tensor] | None = None) -> None:
        n, seed = _int("n", n, 0), _seed(seed)
        cfg = _config(image_size, classes, rotation, clutter, distractors)
        super().__init__(*_generate(n, seed, cfg), cfg["classes"], transform)
        self.seed = seed
        self.image_size: tuple[int, int] = cfg["image_size"]

    def __repr__(self) -> str:
        h, w = self.image_size
        return (f"ShapesClassification(n={len(self)}, image_size=({h}, {w}), "
                f"classes={len(self.class_names)}, seed={self.seed})")
