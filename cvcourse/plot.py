"""Small matplotlib helpers shared by the chapters. Each returns its Figure; end the notebook cell
with `plt.show()`. matplotlib is imported inside the functions, so `import cvcourse.plot` is cheap.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from cvcourse.ops._validate import check_boxes

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["box_colors", "draw_boxes", "plot_boxes", "plot_recall_curve", "show_conv_step", "show_feature_maps", "show_images",
           "show_kernels"]


def show_images(images: Tensor | np.ndarray | Sequence[Tensor | np.ndarray], titles: Sequence[str] | None = None, ncols: int = 4, cmap: str = "gray",
                size: float = 2.5, vmin: float | None = None, vmax: float | None = None) -> Figure:
    """Show images in a grid, without axes.

    Args:
        images: one image or a list of them; each a Tensor[C, H, W] / Tensor[H, W] (C = 1 or 3)
            or an ndarray HxW / HxWx3, uint8 (0..255) or float (colour floats are clipped to [0, 1]).
        titles: one title per image.
        ncols: images per row.
        cmap: colour map of single-channel images.
        size: width of each image, in inches.
        vmin, vmax: the values drawn black and white in single-channel images. By default uint8
            images use 0..255, floats within [0, 1] use 0..1, and other floats (e.g. filter
            responses) are scaled to their 99.5th percentile of absolute values, symmetric around 0
            (grey = 0) when they have negative values -- so a few extreme pixels do not wash out the rest.

    Returns:
        the matplotlib Figure.
    """
    images = [images] if isinstance(images, (Tensor, np.ndarray)) else list(images)
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"titles: expected {len(images)} titles (one per image), got {len(titles)}")
    arrays = [_to_display(image) for image in images]
    fig, axes = _grid(len(arrays), ncols, size, aspect=max((a.shape[0] / max(a.shape[1], 1) for a in arrays), default=1.0))
    for i, (ax, a) in enumerate(zip(axes, arrays, strict=False)):
        if a.ndim == 3 and a.dtype != np.uint8:
            a = np.clip(a, 0.0, 1.0)
        if a.ndim == 2:
            lo, hi = _limits(a)
            ax.imshow(a, cmap=cmap, vmin=lo if vmin is None else vmin, vmax=hi if vmax is None else vmax)
        else:
            ax.imshow(a)
        if titles is not None:
            ax.set_title(titles[i], fontsize=9)
    return fig


def show_feature_maps(maps: Tensor, ncols: int = 8, title: str | None = None, size: float = 1.3,
                      titles: Sequence[str] | None = None) -> Figure:
    """Show the channels of one layer's output side by side, each min-max normalised to [0, 1].

    Args:
        maps (Tensor[C, H, W] or Tensor[1, C, H, W]): e.g. a value of `filters.feature_maps`.
        ncols: maps per row.
        title: figure title.
        size: width of each map, in inches.
        titles: one title per map (default: the channel index).

    Returns:
        the matplotlib Figure.
    """
    maps = _check_maps("maps", maps, "Tensor[C, H, W]")
    if titles is not None and len(titles) != len(maps):
        raise ValueError(f"titles: expected {len(maps)} titles (one per map), got {len(titles)}")
    lo = maps.amin(dim=(1, 2), keepdim=True)
    hi = maps.amax(dim=(1, 2), keepdim=True)
    maps = (maps - lo) / (hi - lo).clamp_min(1e-12)            # (C, H, W) in [0, 1]; constant maps -> 0
    fig, axes = _grid(len(maps), ncols, size, aspect=maps.shape[1] / max(maps.shape[2], 1))
    for c, ax in enumerate(axes):
        ax.imshow(maps[c].numpy(), cmap="gray", vmin=0, vmax=1)
        ax.set_title(str(c) if titles is None else titles[c], fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


def show_kernels(weight: Tensor, ncols: int = 8, titles: Sequence[str] | None = None, size: float = 1.0) -> Figure:
    """Show single-channel conv kernels: grey is 0, white positive, black negative.

    Args:
        weight (Tensor[C_out, 1, k, k] or Tensor[C_out, k, k]): e.g. ``model.conv1.weight``.
        ncols: kernels per row.
        titles: one title per kernel.
        size: width of each kernel, in inches.

    Returns:
        the matplotlib Figure.
    """
    if isinstance(weight, Tensor) and weight.dim() == 4:
        if weight.shape[1] != 1:
            raise ValueError(f"weight: expected single-channel kernels Tensor[C_out, 1, k, k], "
                             f"got Tensor[{', '.join(map(str, weight.shape))}] (show one input channel: weight[:, c:c+1])")
        weight = weight[:, 0]
    w = _check_maps("weight", weight, "Tensor[C_out, 1, k, k]", batched=False)
    fig, axes = _grid(len(w), ncols, size)
    for i, ax in enumerate(axes):
        lim = float(w[i].abs().max()) or 1.0                   # symmetric limits: 0 is mid-grey
        ax.imshow(w[i].numpy(), cmap="gray", vmin=-lim, vmax=lim)
        if titles is not None:
            ax.set_title(titles[i], fontsize=8)
    return fig


def show_conv_step(image: Tensor, kernel: Tensor, row: int = 0, col: int = 0) -> Figure:
    """Draw one step of a convolution: the window of `image` under `kernel` at output (row, col),
    the kernel, and the output grid with that value filled in (stride 1, no padding).

    Args:
        image (Tensor[H, W]): small, with values to print in the cells (e.g. 5x5 integers).
        kernel (Tensor[kh, kw]): e.g. 3x3.
        row, col: the output position to explain.

    Returns:
        the matplotlib Figure (three panels: input, kernel, output).
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    kh, kw = kernel.shape
    out = torch.stack([torch.stack([(image[i:i + kh, j:j + kw] * kernel).sum()
                                    for j in range(image.shape[1] - kw + 1)])
                       for i in range(image.shape[0] - kh + 1)])  # (H - kh + 1, W - kw + 1)
    fig, axes = plt.subplots(1, 3, figsize=(9, 3.4), layout="constrained", gridspec_kw={"width_ratios": [image.shape[1], kw, out.shape[1]]})
    panels = [(image, "input", (row, col, kh, kw)), (kernel, "kernel", None), (out, "output", (row, col, 1, 1))]
    for ax, (a, name, box) in zip(axes, panels, strict=True):
        shown = out.new_full(out.shape, float("nan")) if name == "output" else a
        if name == "output":
            shown[row, col] = out[row, col]
        ax.imshow(np.zeros(a.shape), cmap="Greys", vmin=0, vmax=1)
        for (i, j), v in np.ndenumerate(shown.numpy()):
            ax.text(j, i, "" if np.isnan(v) else f"{v:g}", ha="center", va="center", fontsize=10)
        if box is not None:
            r, c, h, w = box
            ax.add_patch(Rectangle((c - 0.5, r - 0.5), w, h, fill=True, alpha=0.3, color="tab:orange", lw=2))
        for i in range(a.shape[0] + 1):
            ax.axhline(i - 0.5, color="black", lw=1)
        for j in range(a.shape[1] + 1):
            ax.axvline(j - 0.5, color="black", lw=1)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(name)
    fig.suptitle(f"output[{row}, {col}] = sum(window * kernel) = {float(out[row, col]):g}")
    return fig


# ----------------------------------------------------------------------------- boxes
#: The class colours (RGB): matplotlib's tab10, then tab20's lighter partners of those ten.
_PALETTE: tuple[tuple[int, int, int], ...] = (
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
    (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207),
    (174, 199, 232), (255, 187, 120), (152, 223, 138), (255, 152, 150), (197, 176, 213),
    (196, 156, 148), (247, 182, 210), (199, 199, 199), (219, 219, 141), (158, 218, 229),
)


def box_colors(n: int) -> list[tuple[int, int, int]]:
    """`n` distinct RGB colours (uint8 triples), one per class: matplotlib's tab10, then tab20."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"n: expected a non-negative int, got {n!r}")
    order = range(10) if n <= 10 else [i // 2 + 10 * (i % 2) for i in range(20)]   # tab20: dark, light, dark, ...
    return [_PALETTE[order[i % len(order)]] for i in range(n)]


def draw_boxes(image: np.ndarray, boxes: Tensor | np.ndarray, labels: Sequence[int] | Tensor | None = None,
               scores: Sequence[float] | Tensor | None = None, class_names: Sequence[str] | None = None,
               thickness: int = 2, font_scale: float = 0.4) -> np.ndarray:
    """Draw boxes on a copy of an RGB image with OpenCV, one colour per class, and return it.

    Each box gets an outline drawn on its outermost `thickness` pixels *inside* the box (pixel-edge
    coordinates, as everywhere in the course: (x1, y1, x2, y2) covers the pixel columns x1 .. x2 - 1
    and rows y1 .. y2 - 1, corners rounded), clipped to the image. When `labels` or `scores` are
    given, each box also gets a filled label box sized by `cv2.getTextSize` with the text
    "name score" written inside: above the box, or inside its top edge when there is no room above,
    kept in the image, drawn after every outline. Show the result with `show_images` or `plt.imshow`.
    `cvcourse.yolo.draw_detections` draws the same way, with stricter arguments.

    Args:
        image: ndarray[H, W, 3] uint8 RGB (a greyscale ndarray[H, W] is drawn on in colour).
        boxes: Tensor[N, 4] or ndarray, xyxy in pixels (finite, x2 >= x1 and y2 >= y1).
        labels: N class ids (colours and names), optional.
        scores: N confidences, shown with two decimals, optional.
        class_names: names indexed by label, optional (else the id is shown).
        thickness: line width in pixels (>= 1); font_scale: OpenCV font scale (> 0).

    Returns:
        ndarray[H, W, 3] uint8, a new image.
    """
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim not in (2, 3):
        raise TypeError("image: expected an ndarray[H, W, 3] (or [H, W]) of uint8, got "
                        + (f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__))
    out = np.ascontiguousarray(np.repeat(image[:, :, None], 3, axis=2) if image.ndim == 2 else image[:, :, :3]).copy()
    b = torch.as_tensor(np.asarray(boxes) if not isinstance(boxes, Tensor) else boxes).detach().cpu()
    if b.numel() == 0:
        return out
    b = check_boxes(b.double(), "boxes")
    n = b.shape[0]
    labels_ = [int(v) for v in (labels.tolist() if isinstance(labels, Tensor) else labels)] if labels is not None else None
    scores_ = [float(v) for v in (scores.tolist() if isinstance(scores, Tensor) else scores)] if scores is not None else None
    for name, seq in (("labels", labels_), ("scores", scores_)):
        if seq is not None and len(seq) != n:
            raise ValueError(f"{name}: expected {n} values (one per box), got {len(seq)}")
    colors = box_colors(max(max(labels_) + 1 if labels_ else 1, len(class_names) if class_names else 0))
    texts = None if labels_ is None and scores_ is None else []
    for i in range(n if texts is not None else 0):
        parts = [] if labels_ is None else [class_names[labels_[i]] if class_names else str(labels_[i])]
        texts.append(" ".join(parts + ([] if scores_ is None else [f"{scores_[i]:.2f}"])))
    box_color = [colors[c] for c in labels_] if labels_ else [colors[0]] * n
    return _draw(out, b.tolist(), box_color, texts, thickness, font_scale)


def plot_boxes(boxes: Tensor | np.ndarray, ax: object = None, labels: Sequence[str] | None = None,
               colors: Sequence[str] | str | None = None, fill: bool = False, linestyle: str = "-") -> object:
    """Draw xyxy boxes as matplotlib rectangles on `ax` (a new axes if None) and return the axes.

    Used to draw geometry (IoU, anchors, NMS steps): y grows downwards as in images, the aspect is
    equal, and the view is fitted to the boxes unless something is already drawn.

    Args:
        boxes: Tensor[N, 4] or ndarray, xyxy.
        ax: a matplotlib Axes, or None for a new figure.
        labels: N texts written at the top-left corners, optional.
        colors: one colour for all or one per box (default: tab10 in order).
        fill: fill the rectangles with a transparent colour.
        linestyle: matplotlib line style.

    Returns:
        The matplotlib Axes.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    b = torch.as_tensor(np.asarray(boxes) if not isinstance(boxes, Tensor) else boxes).detach().cpu().double()
    if b.numel() and (b.dim() != 2 or b.shape[1] != 4):
        raise ValueError(f"boxes: expected Tensor[N, 4] (xyxy), got shape {tuple(b.shape)}")
    b = b.reshape(-1, 4)
    if labels is not None and len(labels) != b.shape[0]:
        raise ValueError(f"labels: expected {b.shape[0]} labels (one per box), got {len(labels)}")
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
        ax.invert_yaxis()
    fresh = not ax.patches and not ax.images
    palette = [colors] * b.shape[0] if isinstance(colors, str) else list(colors or [])
    if not palette:
        palette = [plt.cm.tab10(i % 10) for i in range(b.shape[0])]
    for i, (x1, y1, x2, y2) in enumerate(b.tolist()):
        c = palette[i % len(palette)]
        ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=fill, alpha=0.25 if fill else 1.0,
                               facecolor=c, edgecolor=c, linewidth=2, linestyle=linestyle))
        if fill:
            ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor=c, linewidth=2, linestyle=linestyle))
        if labels is not None:
            ax.text(x1, y1, labels[i], color=c, fontsize=9, va="bottom", ha="left")
    if fresh and b.shape[0]:
        pad = 0.05 * float((b[:, 2:].max() - b[:, :2].min()).clamp(min=1.0))
        ax.set_xlim(float(b[:, 0].min()) - pad, float(b[:, 2].max()) + pad)
        ax.set_ylim(float(b[:, 3].max()) + pad, float(b[:, 1].min()) - pad)
    ax.set_aspect("equal")
    return ax


def plot_recall_curve(results: dict, ax: object = None, title: str | None = None, log_x: bool = True) -> object:
    """Recall against the number of proposals, one line per method and IoU threshold.

    Args:
        results: one result of `cvcourse.proposals.proposal_recall` (keys "ks", "recall"), or a
            dict {method name: such a result} to compare several methods.
        ax: a matplotlib Axes, or None for a new figure.
        title: the axes title, optional.
        log_x: a logarithmic x axis (proposal counts span decades).

    Returns:
        The matplotlib Axes.
    """
    import matplotlib.pyplot as plt

    if not isinstance(results, dict):
        raise TypeError(f"results: expected a dict from proposal_recall, got {type(results).__name__}")
    named = {"": results} if "recall" in results else results
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.5))
    for name, result in named.items():
        if not isinstance(result, dict) or "ks" not in result or "recall" not in result:
            raise ValueError(f"results[{name!r}]: expected the dict of proposal_recall (keys 'ks' and 'recall')")
        ks = torch.as_tensor(result["ks"]).cpu().numpy()
        for t, recall in result["recall"].items():
            label = f"{name} IoU {t:g}".strip()
            ax.plot(ks, torch.as_tensor(recall).cpu().numpy(), label=label)
    if log_x:
        ax.set_xscale("log")
    ax.set_xlabel("number of proposals")
    ax.set_ylabel("recall")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    return ax


# ----------------------------------------------------------------------------- private helpers
def _grid(n: int, ncols: int, size: float, aspect: float = 1.0):
    """A figure with `n` axes (ticks off) in rows of `ncols`, each `size` inches wide and
    `aspect` times as high; the unused axes are hidden."""
    import matplotlib.pyplot as plt

    if n < 1:
        raise ValueError("expected at least one image, got none")
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * size, nrows * size * aspect + 0.4), squeeze=False,
                             layout="constrained")
    axes = axes.ravel()
    for ax in axes:
        ax.axis("off")
    return fig, axes[:n]


def _limits(a: np.ndarray) -> tuple[float, float]:
    """Default black and white values of a single-channel image (see `show_images`)."""
    if a.dtype == np.uint8:
        return 0.0, 255.0
    lo, hi = float(np.nanmin(a)), float(np.nanmax(a))
    if 0.0 <= lo and hi <= 1.0:
        return 0.0, 1.0
    lim = float(np.nanpercentile(np.abs(a), 99.5)) or max(abs(lo), abs(hi), 1e-12)
    return (-lim, lim) if lo < 0 else (0.0, lim)


def _to_display(image) -> np.ndarray:
    """An image as an ndarray HxW or HxWx3 for `imshow`."""
    if isinstance(image, Tensor):
        image = image.detach().cpu()
        if image.dim() == 3:
            image = image.permute(1, 2, 0)                     # (H, W, C)
        image = image.numpy()
    if not isinstance(image, np.ndarray):
        raise TypeError(f"images: expected Tensors or ndarrays, got {type(image).__name__}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (3, 4)):
        raise ValueError(f"images: expected HxW or HxWx3 (or Tensor[C, H, W] with C = 1 or 3), got shape {image.shape}")
    return image


def _check_maps(name: str, maps: object, expected: str, batched: bool = True) -> Tensor:
    if not isinstance(maps, Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor ({expected}), got {type(maps).__name__}")
    if batched and maps.dim() == 4 and maps.shape[0] == 1:
        maps = maps[0]
    if maps.dim() != 3:
        raise ValueError(f"{name}: expected {expected}, got Tensor[{', '.join(map(str, maps.shape))}]")
    return maps.detach().cpu().float()


def _tensor(value: object) -> object:
    """An ndarray as a Tensor (so the Tensor checks apply); anything else unchanged."""
    return torch.from_numpy(np.ascontiguousarray(value)) if isinstance(value, np.ndarray) else value


def _labels(labels: object, k: int, *, per: str = "box") -> Tensor:
    """The int64 class indices (Tensor[k] on the CPU) of a Tensor or ndarray[k] of ints >= 0, one
    `per` box (or object), for `cvcourse.yolo` and `cvcourse.detection_plot`."""
    labels = _tensor(labels)
    if not isinstance(labels, Tensor) or labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        got = labels.dtype if isinstance(labels, Tensor) else type(labels).__name__
        raise TypeError(f"labels: expected an integer Tensor[{k}] of class indices, got {got}")
    if labels.shape != (k,):
        raise ValueError(f"labels: expected Tensor[{k}] (one label per {per}), got Tensor{list(labels.shape)}")
    if k and int(labels.min()) < 0:
        raise ValueError(f"labels: expected class indices >= 0, got {int(labels.min())}")
    return labels.long().cpu()


def _pixels(box: Sequence[float], width: int, height: int) -> tuple[int, int, int, int] | None:
    """The first and last pixel column and row a pixel-edge box covers inside the image, or None."""
    x1, y1, x2, y2 = (math.floor(v + 0.5) for v in box)      # round half up
    c1, r1, c2, r2 = max(x1, 0), max(y1, 0), min(max(x2, x1 + 1), width) - 1, min(max(y2, y1 + 1), height) - 1
    return (c1, r1, c2, r2) if c1 <= c2 and r1 <= r2 else None


def _draw(out: np.ndarray, boxes: list[list[float]], colors: list[tuple[int, int, int]], texts: list[str] | None,
          thickness: int, font_scale: float) -> np.ndarray:
    """Draw labelled boxes into `out` (uint8 HxWx3, C-contiguous; modified) and return it, for `draw_boxes`
    and `cvcourse.yolo.draw_detections`: each box's outline on its outermost `thickness` pixels inside
    the pixel-edge `xyxy` box, clipped to the image (a box with no pixel inside is skipped); then, if
    `texts` is given, a filled label box per drawn box, sized by `cv2.getTextSize`, above the box (inside
    its top edge when there is no room) and shifted to stay in the image. Black text on light colours."""
    import cv2

    if isinstance(thickness, bool) or not isinstance(thickness, (int, np.integer)) or thickness < 1:
        raise ValueError(f"thickness: expected an int >= 1 (pixels), got {thickness!r}")
    if isinstance(font_scale, bool) or not isinstance(font_scale, (int, float)) or not 0 < font_scale < math.inf:
        raise ValueError(f"font_scale: expected a number > 0, got {font_scale!r}")
    height, width = out.shape[:2]
    font = cv2.FONT_HERSHEY_SIMPLEX
    drawn = []
    for i, box in enumerate(boxes):                           # the outlines, inside each box
        pixels = _pixels(box, width, height)
        if pixels is None:
            continue
        c1, r1, c2, r2 = pixels
        for t in range(min(int(thickness), (c2 - c1) // 2 + 1, (r2 - r1) // 2 + 1)):
            cv2.rectangle(out, (c1 + t, r1 + t), (c2 - t, r2 - t), colors[i], 1, cv2.LINE_8)
        drawn.append((i, c1, r1))
    for i, c1, r1 in drawn if texts is not None else ():     # then the labels, on top of every outline
        (tw, th), baseline = cv2.getTextSize(texts[i], font, font_scale, 1)
        lw, lh = tw + 2, th + baseline + 2                    # the label box, 1 pixel of margin
        top = r1 - lh if r1 - lh >= 0 else r1                 # above the box, else inside its top edge
        top, left = max(min(top, height - lh), 0), max(min(c1, width - lw), 0)
        color = colors[i]
        cv2.rectangle(out, (left, top), (left + lw - 1, top + lh - 1), color, cv2.FILLED)
        ink = (0, 0, 0) if 0.299 * color[0] + 0.587 * color[1] + 0.114 * color[2] > 150 else (255, 255, 255)
        cv2.putText(out, texts[i], (left + 1, top + 1 + th), font, font_scale, ink, 1, cv2.LINE_AA)
    return out
