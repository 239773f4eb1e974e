"""Detections drawn on an image with OpenCV, as YOLO's demos show them: a coloured rectangle per
box and a filled label box with "name 0.93" on it.

Coordinates: boxes are `xyxy` in pixel-edge coordinates, as everywhere in the course
(`cvcourse.data.shapes`): the box (x1, y1, x2, y2) covers the pixel columns round(x1) ..
round(x2) - 1 and rows round(y1) .. round(y2) - 1, and its outline is drawn on the outermost
`thickness` pixels *inside* those (so an outline never hides the pixels next to the box, and a box
of the whole image is drawn along the image's border). Boxes are clipped to the image first; a box
with no pixel inside the image is not drawn.

Label boxes: sized by `cv2.getTextSize`, placed on top of the box, inside its top edge when there
is no room above, and shifted left / up to stay in the image. Labels are drawn after every box, so
no outline crosses a label.

Colours: one per class, `PALETTE[label % 20]`: matplotlib's tab10 (the colours of
`cvcourse.plot.box_colors` for up to 10 classes), then the 10 lighter tab20 partners. Text is black
on light colours and white on dark ones.

The drawing itself is `cvcourse.plot`'s, shared with `cvcourse.plot.draw_boxes`; this module adds
the stricter arguments (Tensor or ndarray boxes, labels and scores, checked; float Tensor images).

Reference: the drawing of darknet's `draw_detections` (J. Redmon, "YOLOv3: An Incremental
Improvement", 2018) and Ultralytics' `Annotator.box_label`.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from cvcourse.ops._validate import check_boxes, check_scores
from cvcourse.plot import _PALETTE, _draw, _labels, _tensor

__all__ = ["PALETTE", "draw_detections"]

#: The class colours (RGB): tab10, then tab20's lighter partners; label c gets PALETTE[c % 20].
PALETTE: tuple[tuple[int, int, int], ...] = _PALETTE


# ----------------------------------------------------------------------------- arguments
def _image(image: object, *, clamp: bool = False) -> np.ndarray:
    """A new contiguous uint8 HxWx3 copy of a uint8 ndarray HxWx3 or a float Tensor[3, H, W] in [0, 1]
    (`clamp`: float values outside [0, 1] are clamped instead of rejected; NaN and inf are always rejected)."""
    if isinstance(image, Tensor):
        if image.dim() != 3 or image.shape[0] != 3 or not image.is_floating_point():
            raise ValueError(f"image: expected a float Tensor[3, H, W] in [0, 1], got {image.dtype} "
                             f"Tensor{list(image.shape)}")
        x = image.detach().cpu().float()
        if x.numel() and not (torch.isfinite(x).all() and (clamp or (x.min() >= 0 and x.max() <= 1))):
            raise ValueError(f"image: expected float values in [0, 1], got values in "
                             f"[{x.min().item():.4g}, {x.max().item():.4g}]")
        return np.ascontiguousarray((x.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy())
    if not isinstance(image, np.ndarray):
        raise TypeError(f"image: expected an ndarray[H, W, 3] (uint8 RGB) or a float Tensor[3, H, W], "
                        f"got {type(image).__name__}")
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image: expected an ndarray[H, W, 3] of uint8 (RGB), got {image.dtype} ndarray{list(image.shape)}")
    return np.array(image, dtype=np.uint8, order="C", copy=True)


def _colors(colors: object, needed: int) -> list[tuple[int, int, int]]:
    """The colour of each label 0..needed - 1."""
    if colors is None:
        return [PALETTE[c % len(PALETTE)] for c in range(needed)]
    if isinstance(colors, (str, bytes)) or not isinstance(colors, Sequence):
        raise TypeError(f"colors: expected a sequence of (r, g, b) triples indexed by label, got {type(colors).__name__}")
    if len(colors) < needed:
        raise ValueError(f"colors: expected a colour for each label up to {needed - 1} ({needed} colours), got {len(colors)}")
    out = []
    for i, c in enumerate(colors[:needed]):
        ok = (isinstance(c, (tuple, list, np.ndarray)) and len(c) == 3
              and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and 0 <= v <= 255 for v in c))
        if not ok:
            raise ValueError(f"colors: colour {i} is {c!r}, expected an (r, g, b) triple of ints in 0..255")
        out.append(tuple(int(v) for v in c))
    return out


def _names(class_names: object, needed: int, *, pad: bool = False) -> list[str]:
    """The name of each label 0..needed - 1; a label without a name (no `class_names`, or beyond a
    short list if `pad`) is named by its number."""
    if class_names is None:
        return [str(c) for c in range(needed)]
    if isinstance(class_names, str) or not isinstance(class_names, Sequence):
        raise TypeError(f"class_names: expected a sequence of names indexed by label, got {type(class_names).__name__}")
    if not pad and len(class_names) < needed:
        raise ValueError(f"class_names: expected a name for each label up to {needed - 1} ({needed} names), "
                         f"got {len(class_names)}")
    return [str(class_names[c]) if c < len(class_names) else str(c) for c in range(needed)]


# ----------------------------------------------------------------------------- public API
def draw_detections(image: np.ndarray | Tensor, boxes: Tensor | np.ndarray, labels: Tensor | np.ndarray,
                    scores: Tensor | np.ndarray | None = None, class_names: Sequence[str] | None = None, *,
                    thickness: int = 2, font_scale: float = 0.4,
                    colors: Sequence[tuple[int, int, int]] | None = None) -> np.ndarray:
    """Draw detections on a copy of an image with OpenCV: a rectangle per box and a label "name 0.93".

    Args:
        image: ndarray[H, W, 3] uint8 RGB, or a float Tensor[3, H, W] in [0, 1] (a data set's
            image); it is never modified.
        boxes: Tensor[K, 4] (or ndarray) `xyxy` in pixel-edge coordinates (see the module docstring).
        labels: Tensor[K] (or ndarray) int class indices >= 0: they pick the colour and the name.
        scores: Tensor[K] (or ndarray) confidences, written with two decimals after the name; None
            writes the name only.
        class_names: names indexed by label (None writes the label number).
        thickness: outline width in pixels (>= 1), drawn inside the box.
        font_scale: OpenCV's font scale (> 0; 0.4 gives text about 8 pixels high).
        colors: (r, g, b) colours indexed by label, or None for `PALETTE`.

    Returns:
        ndarray[H, W, 3] uint8 RGB, a new image (for `plt.imshow` or `cvcourse.plot.show_images`).
        K = 0 returns an unchanged copy.

    Raises:
        TypeError / ValueError: a bad argument, naming it and what was expected.

    Reference: darknet's `draw_detections` (Redmon & Farhadi, "YOLOv3: An Incremental Improvement",
    2018); Ultralytics' `Annotator.box_label`.
    """
    out = _image(image)
    b = check_boxes(_tensor(boxes), "boxes").detach().cpu().double()
    label_list = _labels(labels, len(b)).tolist()
    score_list = None if scores is None else check_scores(_tensor(scores), len(b), "scores").tolist()
    needed = max(label_list, default=-1) + 1
    palette, names = _colors(colors, needed), _names(class_names, needed)
    texts = [names[c] + ("" if score_list is None else f" {score_list[i]:.2f}") for i, c in enumerate(label_list)]
    return _draw(out, b.tolist(), [palette[c] for c in label_list], texts, thickness, font_scale)
