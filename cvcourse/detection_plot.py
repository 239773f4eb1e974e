"""Pictures of two-stage detection and instance segmentation (chapter 11): detections with their
masks on an image, semantic vs instance segmentation, a feature map with RoIs on it, and the
pipelines of R-CNN, Fast R-CNN, Faster R-CNN and Mask R-CNN.

Drawing convention: pixel-edge coordinates, as the boxes of the course (`cvcourse.data.shapes`):
pixel (r, c) of an image is the square [c, c + 1] x [r, r + 1], so a box is drawn at its
coordinates, and a feature map of stride s is drawn over the image it came from (its pixel (r, c)
covers [s c, s (c + 1)] x [s r, s (r + 1)] of the image).

Colours: one per class, `cvcourse.plot.box_colors` (tab10), as `cvcourse.plot.draw_boxes`.

Each function draws on `ax` (a new figure if None) and returns the Axes, or returns its Figure;
end the notebook cell with `plt.show()`.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from ._validate import check_int
from .ops._validate import check_boxes, check_scores, check_threshold
from .plot import _labels, box_colors

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["PIPELINE_STAGES", "draw_feature_map", "draw_instances", "draw_pipeline", "draw_pipelines", "semantic_map",
           "show_semantic_vs_instance"]

#: The stages `draw_pipeline` draws, in historical order.
PIPELINE_STAGES = ("rcnn", "fast", "faster", "mask")


# ----------------------------------------------------------------------------- arguments
def _image(image: object) -> np.ndarray:
    """An RGB image (Tensor[3, H, W] float in [0, 1], or ndarray HxWx3 uint8 / float in [0, 1]) as
    a float ndarray HxWx3 in [0, 1]."""
    if isinstance(image, Tensor):
        if image.dim() != 3 or image.shape[0] != 3 or not image.is_floating_point():
            raise ValueError(f"image: expected a float Tensor[3, H, W] in [0, 1], got {image.dtype} "
                             f"Tensor{list(image.shape)}")
        image = image.detach().cpu().permute(1, 2, 0).numpy()
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3:
        what = f"ndarray{list(image.shape)}" if isinstance(image, np.ndarray) else type(image).__name__
        raise ValueError(f"image: expected ndarray[H, W, 3] (uint8 RGB) or Tensor[3, H, W], got {what}")
    if image.dtype == np.uint8:
        return image.astype(np.float64) / 255.0
    if not np.issubdtype(image.dtype, np.floating):
        raise TypeError(f"image: expected uint8 or float values, got dtype {image.dtype}")
    return np.clip(image.astype(np.float64), 0.0, 1.0)


def _masks(masks: object, n: int | None, size: tuple[int, int] | None, threshold: float = 0.5) -> Tensor:
    """Tensor[N, H, W] or Tensor[N, 1, H, W] (bool, 0/1, or probabilities) -> bool Tensor[N, H, W];
    float masks are thresholded (>= threshold)."""
    if not isinstance(masks, Tensor):
        raise TypeError(f"masks: expected a Tensor[N, H, W], got {type(masks).__name__}")
    if masks.dim() == 4 and masks.shape[1] == 1:                  # the model's Tensor[N, 1, H, W]
        masks = masks[:, 0]
    expected = f"Tensor[{'N' if n is None else n}, {'H, W' if size is None else f'{size[0]}, {size[1]}'}]"
    if masks.dim() != 3 or (n is not None and len(masks) != n) or (size is not None and tuple(masks.shape[1:]) != size):
        raise ValueError(f"masks: expected {expected} (one mask per object, the image's size), "
                         f"got Tensor{list(masks.shape)}")
    masks = masks.detach().cpu()
    if masks.dtype == torch.bool:
        return masks
    if masks.numel() and not torch.isfinite(masks.float()).all():
        raise ValueError("masks: expected finite values")
    return masks >= threshold


def _class_names(class_names: object, num_classes: int) -> list[str]:
    if class_names is None:
        return [str(c) for c in range(num_classes)]
    if isinstance(class_names, str) or not isinstance(class_names, Sequence):
        raise TypeError(f"class_names: expected a sequence of names, got {type(class_names).__name__}")
    if len(class_names) < num_classes:
        raise ValueError(f"class_names: expected a name for each of the {num_classes} classes, got {len(class_names)}")
    return [str(c) for c in class_names]


def _rgb(color: tuple[int, int, int]) -> np.ndarray:
    return np.asarray(color, dtype=np.float64) / 255.0


def _new_axes(ax: Axes | None, size: tuple[float, float] = (4.0, 4.0)) -> Axes:
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=size)
    return ax


# ----------------------------------------------------------------------------- semantic vs instance
def semantic_map(masks: Tensor, labels: Tensor) -> Tensor:
    """The semantic segmentation of a scene given by its instance masks: the class of every pixel.

    Instances become one class map: every pixel holds the class of the object it shows, and two
    objects of one class that touch merge into one region. Where masks overlap, the later one wins
    (the order in which `cvcourse.data.shapes` draws its objects).

    Args:
        masks: Tensor[K, H, W] bool (or 0/1 values; floats are thresholded at 0.5), one per object.
        labels: Tensor[K] int64, 0-based class indices.

    Returns:
        Tensor[H, W] int64: 0 for the background, c + 1 where an object of class c is.

    Raises:
        TypeError / ValueError: naming the argument (not a tensor, wrong shapes, negative labels).

    Reference: Long, Shelhamer and Darrell, "Fully Convolutional Networks for Semantic
    Segmentation", CVPR 2015 (semantic); He et al., "Mask R-CNN", ICCV 2017 (instance).
    """
    m = _masks(masks, None, None)                                  # (K, H, W) bool
    lab = _labels(labels, len(m), per="object")
    out = torch.zeros(m.shape[1:], dtype=torch.int64)              # (H, W)
    for k in range(len(m)):
        out[m[k]] = lab[k] + 1
    return out


def show_semantic_vs_instance(image: np.ndarray | Tensor, masks: Tensor, labels: Tensor,
                              class_names: Sequence[str] | None = None, size: float = 3.2) -> Figure:
    """Three panels: the image, its semantic map (a colour per class) and its instance masks (a
    colour per object, numbered at the object's centre).

    Args:
        image: ndarray[H, W, 3] uint8 RGB, or Tensor[3, H, W] float in [0, 1].
        masks: Tensor[K, H, W] bool, one per object.
        labels: Tensor[K] int64, 0-based class indices.
        class_names: names indexed by label (default: the indices).
        size: width of each panel, in inches.

    Returns:
        the matplotlib Figure; its axes are the three panels.

    Reference: He et al., "Mask R-CNN", ICCV 2017 (figure 1 and section 1: instance segmentation
    as detection plus a per-object mask).
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    img = _image(image)
    h, w = img.shape[:2]
    m = _masks(masks, None, (h, w))
    lab = _labels(labels, len(m), per="object")
    num_classes = int(lab.max()) + 1 if len(lab) else 0
    names = _class_names(class_names, num_classes)
    colors = [_rgb(c) for c in box_colors(max(len(names), 1))]

    semantic = semantic_map(m, lab).numpy()                         # (H, W) 0 = background
    sem_rgb = np.zeros((h, w, 3))
    for c in range(len(names)):
        sem_rgb[semantic == c + 1] = colors[c]
    inst_colors = [_rgb(c) for c in box_colors(10)][::-1]            # other colours than the classes' first ones
    inst_rgb = np.zeros((h, w, 3))
    for k in range(len(m)):
        inst_rgb[m[k].numpy()] = inst_colors[k % len(inst_colors)]

    fig, axes = plt.subplots(1, 3, figsize=(3 * size, size + 0.6), layout="constrained")
    extent = (0, w, h, 0)
    axes[0].imshow(img, extent=extent)
    axes[0].set_title("image")
    axes[1].imshow(sem_rgb, extent=extent)
    present = sorted(set(lab.tolist()))
    axes[1].set_title(f"semantic: {len(present)} classes")
    axes[1].legend(handles=[Patch(color=colors[c], label=names[c]) for c in present], loc="lower right",
                   fontsize=8, framealpha=0.8)
    axes[2].imshow(inst_rgb, extent=extent)
    axes[2].set_title(f"instance: {len(m)} objects")
    for k in range(len(m)):
        ys, xs = np.nonzero(m[k].numpy())
        if len(ys):
            axes[2].text(xs.mean() + 0.5, ys.mean() + 0.5, f"{k}: {names[int(lab[k])]}", ha="center", va="center",
                         fontsize=8, color="black", bbox={"facecolor": "white", "alpha": 0.7, "pad": 1, "lw": 0})
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    return fig


# ----------------------------------------------------------------------------- detections
def draw_instances(image: np.ndarray | Tensor, boxes: Tensor, labels: Tensor, scores: Tensor | None = None,
                   masks: Tensor | None = None, class_names: Sequence[str] | None = None, ax: Axes | None = None,
                   alpha: float = 0.45, mask_threshold: float = 0.5, fontsize: float = 7.0) -> Axes:
    """Draw detections (or ground truth) on an image: masks filled in the class's colour with
    `alpha`, each mask outlined in white (so touching objects of one class stay apart), the boxes,
    and a caption "name score" at each box's top-left corner.

    Args:
        image: ndarray[H, W, 3] uint8 RGB, or Tensor[3, H, W] float in [0, 1].
        boxes: Tensor[N, 4] `xyxy` in pixels.
        labels: Tensor[N] int64, 0-based class indices (colours and names).
        scores: Tensor[N] confidences shown with two decimals, optional (ground truth has none).
        masks: Tensor[N, H, W] or Tensor[N, 1, H, W] (what `MaskRCNN` returns), bool or
            probabilities (thresholded at `mask_threshold`), optional.
        class_names: names indexed by label (default: the indices).
        ax: a matplotlib Axes, or None for a new figure.
        alpha: the opacity of the masks, in [0, 1].
        mask_threshold: probabilities >= this are the object's pixels, in [0, 1].
        fontsize: the captions' font size.

    Returns:
        The matplotlib Axes (the image, one rectangle patch per box, one caption per box, one
        contour set per non-empty mask).

    Raises:
        TypeError / ValueError: naming the argument (shapes that disagree, bad boxes or scores).

    Reference: He et al., "Mask R-CNN", ICCV 2017 (figures 2 and 5); Detectron2's `Visualizer`.
    """
    from matplotlib.patches import Rectangle

    img = _image(image)
    h, w = img.shape[:2]
    b = check_boxes(boxes.detach().cpu() if isinstance(boxes, Tensor) else boxes, "boxes").double()
    n = len(b)
    lab = _labels(labels, n, per="object")
    sc = check_scores(scores.detach().cpu(), n) if scores is not None else None
    alpha = check_threshold(alpha, "alpha")
    m = _masks(masks, n, (h, w), check_threshold(mask_threshold, "mask_threshold")) if masks is not None else None
    num_classes = int(lab.max()) + 1 if n else 0
    names = _class_names(class_names, num_classes)
    colors = [_rgb(c) for c in box_colors(max(len(names), 1))]

    shown = img.copy()
    if m is not None:
        for k in range(n):
            mk = m[k].numpy()
            shown[mk] = (1 - alpha) * shown[mk] + alpha * colors[int(lab[k])]
    ax = _new_axes(ax)
    ax.imshow(shown, extent=(0, w, h, 0), interpolation="nearest")
    if m is not None:
        grid = np.arange(w) + 0.5, np.arange(h) + 0.5                # pixel centres
        for k in range(n):
            if m[k].any():
                ax.contour(*grid, m[k].numpy().astype(float), levels=[0.5], colors="white", linewidths=0.8)
    for k, (x1, y1, x2, y2) in enumerate(b.tolist()):
        color = colors[int(lab[k])]
        ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor=color, linewidth=1.5))
        text = names[int(lab[k])] + ("" if sc is None else f" {float(sc[k]):.2f}")
        ax.text(x1, y1, text, fontsize=fontsize, va="bottom", ha="left", color="black" if color.sum() > 1.5 else "white",
                bbox={"facecolor": color, "alpha": 0.85, "pad": 0.8, "lw": 0}, clip_on=True)
    ax.set_xlim(0, w)
    ax.set_ylim(h, 0)
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


def draw_feature_map(feature: Tensor, stride: int, boxes: Tensor | None = None, ax: Axes | None = None,
                     cmap: str = "viridis", colors: Sequence[str] | str | None = None, linestyle: str = "-") -> Axes:
    """A single-channel feature map drawn over the image it came from, with boxes (RoIs) on it.

    The map's pixel (r, c) is drawn on the image pixels it summarises, [s c, s (c + 1)] x [s r,
    s (r + 1)] for stride s, so boxes given in image pixels land where RoI pooling reads them
    (RoIAlign with spatial_scale = 1 / s and `aligned=True`).

    Args:
        feature: Tensor[H', W'] (e.g. one channel, or the norm over the channels).
        stride: the map's stride s in image pixels (an int >= 1).
        boxes: Tensor[K, 4] `xyxy` in image pixels, optional.
        ax: a matplotlib Axes, or None for a new figure.
        cmap: the colour map of the feature values.
        colors: one colour for every box or one per box (default: white).
        linestyle: the boxes' matplotlib line style.

    Returns:
        The matplotlib Axes (one image, one rectangle patch per box).

    Reference: Girshick, "Fast R-CNN", ICCV 2015 (figure 1: RoIs projected onto the conv feature
    map); He et al., "Mask R-CNN", ICCV 2017.
    """
    from matplotlib.patches import Rectangle

    if not isinstance(feature, Tensor) or feature.dim() != 2:
        what = f"Tensor{list(feature.shape)}" if isinstance(feature, Tensor) else type(feature).__name__
        raise ValueError(f"feature: expected a single-channel map Tensor[H, W], got {what}")
    s = check_int("stride", stride, 1)
    b = check_boxes(boxes.detach().cpu(), "boxes").double() if boxes is not None else torch.zeros(0, 4)
    hh, ww = feature.shape
    ax = _new_axes(ax)
    ax.imshow(feature.detach().cpu().float().numpy(), cmap=cmap, extent=(0, ww * s, hh * s, 0), interpolation="nearest")
    palette = [colors] * len(b) if isinstance(colors, str) else list(colors or ["white"])
    for k, (x1, y1, x2, y2) in enumerate(b.tolist()):
        ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor=palette[k % len(palette)],
                               linewidth=1.5, linestyle=linestyle))
    ax.set_xlim(0, ww * s)
    ax.set_ylim(hh * s, 0)
    return ax


# ----------------------------------------------------------------------------- the pipelines
# Each stage: a title, its blocks {name: (column, row, text, new at this stage)}, and its arrows.
_STAGES = {
    "rcnn": ("R-CNN (2014): a CNN pass for every proposal", {
        "image": (0, 0, "image", False),
        "ss": (1, 0, "selective search\n~2000 boxes", True),
        "warp": (2, 0, "crop and warp\neach box", True),
        "cnn": (3, 0, "CNN\n(once per box)", True),
        "out": (4, 0, "SVM per class\n+ box regression", True),
    }, [("image", "ss"), ("ss", "warp"), ("warp", "cnn"), ("cnn", "out")]),
    "fast": ("Fast R-CNN (2015): one CNN pass, RoIs pooled from its map", {
        "image": (0, 0, "image", False),
        "cnn": (1, 0, "CNN\n(once per image)", True),
        "fmap": (2, 0, "feature map", True),
        "ss": (1, 1, "selective search\nboxes", False),
        "pool": (3, 0, "RoIPool 7x7\nper box", True),
        "head": (4, 0, "FC head: softmax\n+ box deltas", True),
    }, [("image", "cnn"), ("cnn", "fmap"), ("fmap", "pool"), ("pool", "head"), ("image", "ss"), ("ss", "pool")]),
    "faster": ("Faster R-CNN (2015): the proposals come from the feature map", {
        "image": (0, 0, "image", False),
        "cnn": (1, 0, "CNN\n(once per image)", False),
        "fmap": (2, 0, "feature map", False),
        "rpn": (2, 1, "RPN: anchors,\nobjectness, deltas", True),
        "pool": (3, 0, "RoIPool 7x7\nper proposal", False),
        "head": (4, 0, "FC head: softmax\n+ box deltas", False),
    }, [("image", "cnn"), ("cnn", "fmap"), ("fmap", "pool"), ("pool", "head"), ("fmap", "rpn"), ("rpn", "pool")]),
    "mask": ("Mask R-CNN (2017): RoIAlign and a mask branch", {
        "image": (0, 0, "image", False),
        "cnn": (1, 0, "backbone\n(+ FPN)", False),
        "fmap": (2, 0, "feature map", False),
        "rpn": (2, 1, "RPN: anchors,\nobjectness, deltas", False),
        "pool": (3, 0, "RoIAlign 7x7\nper proposal", True),
        "head": (4, 0, "FC head: softmax\n+ box deltas", False),
        "mpool": (3, -1, "RoIAlign 14x14\nper box", True),
        "mhead": (4, -1, "mask head: one\n28x28 per class", True),
    }, [("image", "cnn"), ("cnn", "fmap"), ("fmap", "pool"), ("pool", "head"), ("fmap", "rpn"), ("rpn", "pool"),
        ("fmap", "mpool"), ("mpool", "mhead")]),
}
_BLOCK_W, _BLOCK_H, _DX, _DY = 1.7, 0.75, 2.2, 1.15


def draw_pipeline(stage: str, ax: Axes | None = None) -> Axes:
    """A block diagram of one two-stage detector: R-CNN, Fast R-CNN, Faster R-CNN or Mask R-CNN.

    What each stage adds to the one before is drawn in orange, what it keeps in blue-grey.

    Args:
        stage: one of `PIPELINE_STAGES`: "rcnn", "fast", "faster", "mask".
        ax: a matplotlib Axes, or None for a new figure.

    Returns:
        The matplotlib Axes: one rounded rectangle (patch) and one text per block, one arrow per
        connection, the stage's title.

    Raises:
        ValueError: an unknown stage.

    Reference: Girshick et al., "Rich feature hierarchies ..." (R-CNN), CVPR 2014; Girshick, "Fast
    R-CNN", ICCV 2015; Ren et al., "Faster R-CNN", NeurIPS 2015; He et al., "Mask R-CNN", ICCV 2017.
    """
    from matplotlib.patches import FancyBboxPatch

    if stage not in _STAGES:
        raise ValueError(f"stage: expected one of {', '.join(PIPELINE_STAGES)}, got {stage!r}")
    title, blocks, arrows = _STAGES[stage]
    rows = [r for _, r, _, _ in blocks.values()]
    ax = _new_axes(ax, (10, 0.6 + _BLOCK_H + _DY * (max(rows) - min(rows))))
    centre = {name: (c * _DX, -r * _DY) for name, (c, r, _, _) in blocks.items()}   # row 1 is drawn below
    for name, (_, _, text, new) in blocks.items():
        x, y = centre[name]
        ax.add_patch(FancyBboxPatch((x - _BLOCK_W / 2, y - _BLOCK_H / 2), _BLOCK_W, _BLOCK_H,
                                    boxstyle="round,pad=0.02,rounding_size=0.12", linewidth=1.2,
                                    facecolor="#fdd9a8" if new else "#dbe4ee", edgecolor="#d9822b" if new else "#6b7f99"))
        ax.text(x, y, text, ha="center", va="center", fontsize=8.5)
    for src, dst in arrows:
        (x0, y0), (x1, y1) = centre[src], centre[dst]
        style = "arc3"
        if y0 == y1:                                                # same row: right edge -> left edge
            start, end = (x0 + _BLOCK_W / 2, y0), (x1 - _BLOCK_W / 2, y1)
        elif x0 == x1:                                              # same column: vertical
            sign = 1 if y1 > y0 else -1
            start, end = (x0, y0 + sign * _BLOCK_H / 2), (x1, y1 - sign * _BLOCK_H / 2)
        elif blocks[src][1] == 0:                                   # off the main row: down or up, then across
            start, end = (x0, y0 + (1 if y1 > y0 else -1) * _BLOCK_H / 2), (x1 - _BLOCK_W / 2, y1)
            style = "angle,angleA=90,angleB=0,rad=0"
        else:                                                       # back onto it: across, then up or down
            start, end = (x0 + _BLOCK_W / 2, y0), (x1, y1 - (1 if y1 > y0 else -1) * _BLOCK_H / 2)
            style = "angle,angleA=0,angleB=90,rad=0"
        ax.annotate("", xy=end, xytext=start, arrowprops={"arrowstyle": "-|>", "color": "0.3", "lw": 1.2,
                                                          "shrinkA": 0, "shrinkB": 0, "connectionstyle": style})
    ys = [y for _, y in centre.values()]
    ax.set_xlim(-_BLOCK_W / 2 - 0.1, 4 * _DX + _BLOCK_W / 2 + 0.1)   # every stage on the same scale
    ax.set_ylim(min(ys) - _BLOCK_H / 2 - 0.1, max(ys) + _BLOCK_H / 2 + 0.1)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title, fontsize=10, loc="left")
    return ax


def draw_pipelines(stages: Sequence[str] = PIPELINE_STAGES, width: float = 10.0) -> Figure:
    """`draw_pipeline` for several stages, one above the other on one scale (R-CNN to Mask R-CNN).

    Args:
        stages: names from `PIPELINE_STAGES`, drawn top to bottom.
        width: the figure's width, in inches.

    Returns:
        the matplotlib Figure; `fig.axes[i]` is stage i.

    Raises:
        ValueError: no stage, or an unknown one.

    Reference: see `draw_pipeline`.
    """
    import matplotlib.pyplot as plt

    stages = [stages] if isinstance(stages, str) else list(stages)
    if not stages:
        raise ValueError("stages: expected at least one of " + ", ".join(PIPELINE_STAGES))
    for stage in stages:
        if stage not in _STAGES:
            raise ValueError(f"stages: expected names from {', '.join(PIPELINE_STAGES)}, got {stage!r}")
    heights = []
    for stage in stages:
        rows = [r for _, r, _, _ in _STAGES[stage][1].values()]
        heights.append(_BLOCK_H + 0.2 + _DY * (max(rows) - min(rows)))
    fig, axes = plt.subplots(len(stages), 1, figsize=(width, sum(heights) * width / 10.7 + 0.35 * len(stages)),
                             layout="constrained", gridspec_kw={"height_ratios": heights}, squeeze=False)
    for ax, stage in zip(axes[:, 0], stages, strict=True):
        draw_pipeline(stage, ax=ax)
    return fig
