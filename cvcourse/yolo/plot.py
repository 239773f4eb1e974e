"""Pictures of YOLO (chapter 12): YOLOv1's grid and its S x S x (5B + C) target, YOLOv3's priors at
several scales, and what the confidence and NMS thresholds do to precision and recall.

Drawing convention: pixel-edge coordinates, as the boxes of the course (`cvcourse.data.shapes`):
an image of H x W pixels is drawn over [0, W] x [0, H] with y growing downwards, so a box is drawn at
its `xyxy` coordinates and grid cell (row r, column c) of an S x S grid covers
[c W / S, (c + 1) W / S] x [r H / S, (r + 1) H / S].

Colours: one per class, `cvcourse.plot.box_colors` (tab10), the colours of `draw_detections`.

The figure functions return their Figure (or draw on `ax` and return the Axes); end the notebook
cell with `plt.show()`. `sweep_thresholds` computes what `plot_threshold_sweep` draws.

Reference: Redmon et al., "You Only Look Once", CVPR 2016 (the grid, figure 2); Redmon & Farhadi,
"YOLOv3: An Incremental Improvement", arXiv:1804.02767, 2018 (priors at three scales).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from cvcourse._validate import check_int
from cvcourse.metrics import precision_recall_curve
from cvcourse.ops._validate import check_boxes, check_threshold
from cvcourse.plot import _labels, box_colors

from .decode import _check_pred, postprocess
from .draw import _image, _names
from .targets import YoloPriors, assign_targets
from .v1 import encode_v1_targets

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["draw_v1_grid", "plot_threshold_sweep", "show_priors", "show_v1_target", "sweep_thresholds",
           "v1_channel_names"]


# ----------------------------------------------------------------------------- arguments
def _rgb(color: tuple[int, int, int]) -> tuple[float, float, float]:
    return tuple(v / 255 for v in color)


def _new_axes(ax: Axes | None, size: tuple[float, float] = (4.5, 4.5)) -> Axes:
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=size, layout="constrained")
    return ax


# ----------------------------------------------------------------------------- YOLOv1
def v1_channel_names(B: int = 2, C: int = 20, class_names: Sequence[str] | None = None) -> list[str]:
    """The names of the 5B + C channels of a YOLOv1 cell, in `cvcourse.yolo.v1`'s layout.

    Args:
        B: boxes per cell.
        C: classes.
        class_names: names of the first classes (the others are named by their index).

    Returns:
        list[str]: "x0", "y0", "w0", "h0", "conf0", ..., "conf{B-1}", then "p(name)" per class.

    Reference: Redmon et al., "You Only Look Once", CVPR 2016, section 2 (S x S x (B * 5 + C)).
    """
    B, C = check_int("B", B, 1), check_int("C", C, 1)
    boxes = [f"{k}{j}" for j in range(B) for k in ("x", "y", "w", "h", "conf")]
    return boxes + [f"p({name})" for name in _names(class_names, C, pad=True)]


def draw_v1_grid(image: np.ndarray | Tensor, boxes: Tensor, labels: Tensor, S: int = 7,
                 class_names: Sequence[str] | None = None, ax: Axes | None = None) -> Axes:
    """YOLOv1's S x S grid over an image: each object's box, its centre, and the cell responsible for it.

    The responsible cell (the one holding the box centre, as `encode_v1_targets` decides) is
    shaded in the object's class colour and labelled "(row, col)". An object whose centre falls in
    a cell already taken by an earlier box (YOLOv1 has one set of class scores per cell, so one
    object per cell) is drawn dashed, its centre as a cross: it gets no target.

    Args:
        image: ndarray[H, W, 3] uint8 RGB or a float Tensor[3, H, W] in [0, 1].
        boxes: Tensor[K, 4] `xyxy` in pixels, inside the image.
        labels: Tensor[K] int class indices >= 0.
        S: the grid size (>= 1).
        class_names: names indexed by label, for the legend (None: the label numbers).
        ax: a matplotlib Axes, or None for a new figure.

    Returns:
        The Axes; ticks at the cell centres give the columns (x) and rows (y).

    Reference: Redmon et al., "You Only Look Once", CVPR 2016, section 2 and figure 2.
    """
    from matplotlib.lines import Line2D
    from matplotlib.patches import Rectangle

    img = _image(image, clamp=True)
    h, w = img.shape[:2]
    S = check_int("S", S, 1)
    b = check_boxes(boxes, "boxes").detach().cpu().double()
    lab = _labels(labels, len(b))
    num_classes = int(lab.max()) + 1 if len(lab) else 1
    colors = [_rgb(c) for c in box_colors(max(num_classes, len(class_names or ())))]
    target, dropped = encode_v1_targets(b, lab, S, 1, num_classes, image_size=(h, w), return_dropped=True)
    ax = _new_axes(ax)
    ax.imshow(img, extent=(0, w, h, 0), interpolation="nearest")
    cw, ch = w / S, h / S
    for r, c in (target[..., 4] == 1).nonzero().tolist():                # the responsible cells
        color = colors[int(target[r, c, 5:].argmax())]
        ax.add_patch(Rectangle((c * cw, r * ch), cw, ch, facecolor=color, alpha=0.45, edgecolor="none"))
        ax.text(c * cw + 2, r * ch + 2, f"({r}, {c})", color="white", fontsize=8, va="top", ha="left",
                fontweight="bold")
    for k in range(1, S):
        ax.plot([k * cw, k * cw], [0, h], color="white", lw=0.8, alpha=0.8)
        ax.plot([0, w], [k * ch, k * ch], color="white", lw=0.8, alpha=0.8)
    lost = set(dropped.tolist())
    for i, (x1, y1, x2, y2) in enumerate(b.tolist()):
        color = colors[int(lab[i])]
        style = "--" if i in lost else "-"
        ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor=color, lw=2, linestyle=style))
        ax.plot([(x1 + x2) / 2], [(y1 + y2) / 2], marker="X" if i in lost else "o", color=color,
                markeredgecolor="white" if i not in lost else "black", markersize=9 if i in lost else 7)
    ax.set_xticks([(k + 0.5) * cw for k in range(S)], [str(k) for k in range(S)], fontsize=8)
    ax.set_yticks([(k + 0.5) * ch for k in range(S)], [str(k) for k in range(S)], fontsize=8)
    ax.set_xlabel("column", fontsize=9)
    ax.set_ylabel("row", fontsize=9)
    ax.set_xlim(0, w)
    ax.set_ylim(h, 0)
    names = _names(class_names, num_classes, pad=True)
    shown = sorted(set(lab.tolist()))
    handles = [Line2D([], [], color=colors[c], lw=2, label=names[c]) for c in shown]
    if lost:
        handles.append(Line2D([], [], color="grey", lw=2, linestyle="--", marker="X", markeredgecolor="black",
                              label="no cell left"))
    if handles:
        ax.legend(handles=handles, fontsize=8, loc="lower right", framealpha=0.8)
    return ax


def show_v1_target(image: np.ndarray | Tensor, target: Tensor, boxes: Tensor, labels: Tensor, B: int = 2,
                   class_names: Sequence[str] | None = None, cell: tuple[int, int] | None = None) -> Figure:
    """YOLOv1's target tensor of an image in three panels: the grid, the whole tensor, one cell.

    Left: `draw_v1_grid`. Middle: the S x S x (5B + C) tensor as S * S rows (the cells, row-major)
    by 5B + C columns (the channels); the rows of responsible cells are labelled "(row, col)".
    Right: the channels of one cell as bars, with the non-zero values written on them.

    Args:
        image: ndarray[H, W, 3] uint8 RGB or a float Tensor[3, H, W] in [0, 1].
        target: Tensor[S, S, 5B + C], e.g. `encode_v1_targets(boxes, labels, S, B, C, image_size=...)`.
        boxes: Tensor[K, 4] `xyxy` pixels, the boxes the target was made from.
        labels: Tensor[K] int, their classes.
        B: boxes per cell (C follows from the target's last dimension).
        class_names: names of the classes (the first ones suffice).
        cell: (row, col) of the cell whose bars are drawn; None: the first responsible cell
            (row-major), or (0, 0) if there is none.

    Returns:
        The Figure (three Axes).

    Reference: Redmon et al., "You Only Look Once", CVPR 2016, section 2 and figure 2.
    """
    import matplotlib.pyplot as plt

    B = check_int("B", B, 1)
    if not isinstance(target, Tensor) or not target.is_floating_point():
        raise TypeError(f"target: expected a floating Tensor[S, S, 5B + C], got "
                        f"{target.dtype if isinstance(target, Tensor) else type(target).__name__}")
    if target.dim() != 3 or target.shape[0] != target.shape[1] or target.shape[2] <= 5 * B:
        raise ValueError(f"target: expected Tensor[S, S, 5B + C] with B = {B} and C >= 1, got Tensor{list(target.shape)}")
    S, C = target.shape[0], target.shape[2] - 5 * B
    t = target.detach().cpu().double()
    responsible = (t[..., 4] == 1).nonzero().tolist()
    if cell is None:
        cell = tuple(responsible[0]) if responsible else (0, 0)
    if (not isinstance(cell, (tuple, list)) or len(cell) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v < S for v in cell)):
        raise ValueError(f"cell: expected (row, col) with ints in 0..{S - 1}, got {cell!r}")
    r, c = cell
    names = v1_channel_names(B, C, class_names)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6), layout="constrained", gridspec_kw={"width_ratios": [1, 1.05, 1.35]})
    draw_v1_grid(image, boxes, labels, S, class_names, ax=axes[0])
    axes[0].add_patch(plt.Rectangle((c * axes[0].get_xlim()[1] / S, r * axes[0].get_ylim()[0] / S),
                                    axes[0].get_xlim()[1] / S, axes[0].get_ylim()[0] / S, fill=False,
                                    edgecolor="yellow", lw=2.5))
    axes[0].set_title(f"{S} x {S} grid: the responsible cells (yellow: cell ({r}, {c}))", fontsize=9)
    flat = t.reshape(S * S, 5 * B + C)
    axes[1].imshow(flat.numpy(), cmap="viridis", vmin=0, vmax=1, aspect="auto", interpolation="nearest")
    axes[1].set_yticks([i * S + j for i, j in responsible], [f"({i}, {j})" for i, j in responsible], fontsize=8)
    axes[1].set_xticks(range(5 * B + C), names, rotation=90, fontsize=7)
    axes[1].set_ylabel(f"cell (row-major, {S * S} rows)", fontsize=9)
    axes[1].set_title(f"the whole target: {S} x {S} x {5 * B + C} = {t.numel()} numbers, "
                      f"{int((t != 0).sum())} non-zero", fontsize=9)
    values = t[r, c].numpy()
    kinds = ["#1f77b4"] * 4 + ["#ff7f0e"]                                 # x y w h, then conf
    bar_colors = kinds * B + ["#2ca02c"] * C
    axes[2].bar(range(5 * B + C), values, color=bar_colors)
    for k, v in enumerate(values):
        if v != 0:
            axes[2].text(k, v + 0.02, f"{v:.2f}", ha="center", va="bottom", fontsize=7, rotation=90)
    axes[2].set_xticks(range(5 * B + C), names, rotation=90, fontsize=7)
    axes[2].set_ylim(0, 1.25)
    axes[2].set_xlim(-0.7, 5 * B + C - 0.3)
    for k in range(1, B + 1):
        axes[2].axvline(5 * k - 0.5, color="grey", lw=0.8, ls=":")
    axes[2].set_title(f"cell ({r}, {c}): its {5 * B + C} channels (blue: box, orange: confidence, green: classes)",
                      fontsize=9)
    axes[2].grid(axis="y", alpha=0.3)
    return fig


# ----------------------------------------------------------------------------- YOLOv3 priors
def show_priors(image: np.ndarray | Tensor, priors: YoloPriors, boxes: Tensor, labels: Tensor | None = None,
                class_names: Sequence[str] | None = None, size: float = 4.2) -> Figure:
    """YOLOv3's priors at each scale over an image: the grid, and the anchors at each object's cell.

    One panel per scale (finest first), with the scale's grid and every object's box. Each object
    is assigned to one prior by `assign_targets` (the anchor of best shape IoU over all scales, in
    the cell holding the box centre); on the panel of that prior's scale, the cell is shaded, its A
    anchors are drawn centred on it (dashed), where a prediction with t = 0 puts its box, and the
    assigned anchor is drawn solid (yellow on black).

    Args:
        image: ndarray[H, W, 3] uint8 RGB or a float Tensor[3, H, W] in [0, 1], of the priors' size.
        priors: `make_priors(image_size, strides, anchors)`.
        boxes: Tensor[K, 4] `xyxy` pixels, positive width and height, centres inside the image.
        labels: Tensor[K] int class indices (colours and names); None: all 0.
        class_names: names indexed by label.
        size: each panel's width in inches.

    Returns:
        The Figure (one Axes per scale).

    Reference: Redmon & Farhadi, "YOLOv3", arXiv:1804.02767, 2018, section 2.3 (predictions across scales).
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    if not isinstance(priors, YoloPriors):
        raise TypeError(f"priors: expected the YoloPriors of make_priors, got {type(priors).__name__}")
    img = _image(image, clamp=True)
    h, w = img.shape[:2]
    if (h, w) != tuple(priors.image_size):
        raise ValueError(f"image: expected {priors.image_size[0]} x {priors.image_size[1]} pixels (the priors' "
                         f"image_size), got {h} x {w}")
    b = check_boxes(boxes, "boxes").detach().cpu().float()
    lab = torch.zeros(len(b), dtype=torch.int64) if labels is None else _labels(labels, len(b))
    assignment = assign_targets([{"boxes": b, "labels": lab}], priors)
    chosen = dict(zip(assignment.gt_index.tolist(), assignment.pred_index.tolist(), strict=True))
    num_classes = int(lab.max()) + 1 if len(lab) else 1
    colors = [_rgb(c) for c in box_colors(max(num_classes, len(class_names or ())))]
    names = _names(class_names, num_classes, pad=True)
    anchors = priors.anchors                                              # (L, A, 2)
    levels = len(priors.grid_sizes)
    fig, axes = plt.subplots(1, levels, figsize=(size * levels, size + 0.4), layout="constrained", squeeze=False)
    centres = (b[:, :2] + b[:, 2:]) / 2                                   # (K, 2)
    for lvl, ax in enumerate(axes[0]):
        (gh, gw), offset = priors.grid_sizes[lvl], sum(gh_ * gw_ for gh_, gw_ in priors.grid_sizes[:lvl]) * anchors.shape[1]
        s = float(priors.stride[offset])
        ax.imshow(img, extent=(0, w, h, 0), interpolation="nearest")
        for k in range(1, gw):
            ax.plot([k * s, k * s], [0, h], color="white", lw=0.4, alpha=0.6)
        for k in range(1, gh):
            ax.plot([0, w], [k * s, k * s], color="white", lw=0.4, alpha=0.6)
        for i in range(len(b)):
            color = colors[int(lab[i])]
            x1, y1, x2, y2 = b[i].tolist()
            ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor=color, lw=1.5))
            if i not in chosen or int(priors.level[chosen[i]]) != lvl:
                continue                                                   # another scale predicts it
            cx, cy = (min(int(v // s), n - 1) for v, n in zip(centres[i].tolist(), (gw, gh), strict=True))
            ax.add_patch(Rectangle((cx * s, cy * s), s, s, facecolor="white", alpha=0.8, edgecolor="black", lw=0.8))
            mx, my = (cx + 0.5) * s, (cy + 0.5) * s                        # where t = 0 puts a box centre
            for a, (pw, ph) in enumerate(anchors[lvl].tolist()):
                corner, solid = (mx - pw / 2, my - ph / 2), chosen.get(i) == offset + (cy * gw + cx) * anchors.shape[1] + a
                if solid:                                                  # yellow on black: visible on any colour
                    ax.add_patch(Rectangle(corner, pw, ph, fill=False, edgecolor="black", lw=4.0))
                    ax.add_patch(Rectangle(corner, pw, ph, fill=False, edgecolor="yellow", lw=2.0))
                else:
                    ax.add_patch(Rectangle(corner, pw, ph, fill=False, edgecolor="white", lw=1.0, linestyle="--"))
        ax.set_xlim(0, w)
        ax.set_ylim(h, 0)
        ax.set_xticks([])
        ax.set_yticks([])
        picked = sum(1 for p in chosen.values() if int(priors.level[p]) == lvl)
        ax.set_title(f"stride {s:g}: {gh} x {gw} cells x {anchors.shape[1]} anchors\n"
                     f"{picked} object(s) assigned here (solid yellow)", fontsize=9)
    shown = sorted(set(lab.tolist()))
    if shown and class_names is not None:
        from matplotlib.lines import Line2D

        axes[0, -1].legend(handles=[Line2D([], [], color=colors[c], lw=2, label=names[c]) for c in shown],
                           fontsize=8, loc="lower right", framealpha=0.8)
    return fig


# ----------------------------------------------------------------------------- thresholds
def _targets(targets: object, n: int) -> list[dict[str, Tensor]]:
    if not isinstance(targets, (list, tuple)) or len(targets) != n:
        raise ValueError(f"targets: expected a list of {n} dicts (one per image of pred), got "
                         f"{len(targets) if isinstance(targets, (list, tuple)) else type(targets).__name__}")
    out = []
    for i, t in enumerate(targets):
        if not isinstance(t, dict) or "boxes" not in t or "labels" not in t:
            raise TypeError(f"targets[{i}]: expected a dict with 'boxes' Tensor[G, 4] and 'labels' Tensor[G]")
        boxes = check_boxes(t["boxes"], f"targets[{i}]['boxes']").detach().cpu()
        out.append({"boxes": boxes, "labels": _labels(t["labels"], len(boxes))})
    return out


def _thresholds(values: object, name: str) -> Tensor:
    if isinstance(values, Tensor):
        values = values.tolist()
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
        raise ValueError(f"{name}: expected a non-empty sequence of numbers in [0, 1], got {values!r}")
    return torch.tensor([check_threshold(v, f"{name}[{i}]") for i, v in enumerate(values)], dtype=torch.float64)


@torch.no_grad()
def sweep_thresholds(pred: Tensor, priors: YoloPriors, targets: Sequence[dict[str, Tensor]],
                     score_thresholds: Sequence[float] | Tensor,
                     nms_thresholds: Sequence[float] | Tensor = (0.3, 0.5, 0.7, 1.0),
                     iou_threshold: float = 0.5, max_detections: int = 100) -> dict[str, Tensor]:
    """Precision and recall of a YOLO's detections for every (confidence, NMS) threshold pair.

    For each NMS threshold, `postprocess` runs once with the lowest score threshold; the detections
    are matched to the ground truth class by class as COCO does (greedy by score, IoU >=
    `iou_threshold`; `cvcourse.metrics.precision_recall_curve`). Greedy NMS keeps a box or not
    depending only on the higher-scored boxes, so the detections above a higher score threshold
    are exactly those `postprocess` would return with it: one pass per NMS threshold gives every
    score threshold. Over all images and classes, with TP the matched detections, D all detections
    and G the ground-truth boxes: precision = TP / D (1 when D = 0: no detection, none wrong) and
    recall = TP / G.

    Args:
        pred: Tensor[N, P, 5 + C] raw outputs (`model.raw(images)`) in the priors' order.
        priors: `make_priors(...)` of the model (`model.priors`).
        targets: N dicts with "boxes" Tensor[G_i, 4] `xyxy` pixels and "labels" Tensor[G_i] int64.
        score_thresholds: T confidence thresholds in [0, 1]; a detection counts when its score
            (objectness x class probability) is above the threshold.
        nms_thresholds: U NMS IoU thresholds in [0, 1] (1.0: only exact duplicates are removed).
        iou_threshold: the IoU a detection needs with a ground truth of its class to be a true positive.
        max_detections: detections kept per image (>= 10), as `postprocess`'s.

    Returns:
        {"score_thresholds": Tensor[T], "nms_thresholds": Tensor[U], "precision": Tensor[U, T],
        "recall": Tensor[U, T], "detections": Tensor[U, T] (detections per image), "objects":
        Tensor[] (ground-truth boxes per image)}, float64.

    Raises:
        TypeError / ValueError: a bad argument, naming it; no ground-truth box at all.

    Reference: Everingham et al., "The PASCAL VOC Challenge", IJCV 2010, section 4.2 (precision,
    recall); Lin et al., "Microsoft COCO", ECCV 2014 (matching); Redmon & Farhadi, "YOLOv3", 2018.
    """
    pred = _check_pred(pred, priors)
    gts = _targets(targets, pred.shape[0])
    scores_t, nms_t = _thresholds(score_thresholds, "score_thresholds"), _thresholds(nms_thresholds, "nms_thresholds")
    iou_threshold = check_threshold(iou_threshold, "iou_threshold")
    max_detections = check_int("max_detections", max_detections, 10)
    gt_labels = torch.cat([t["labels"] for t in gts]) if gts else torch.zeros(0, dtype=torch.int64)
    if len(gt_labels) == 0:
        raise ValueError("targets: no ground-truth box in any image: recall is undefined")
    npos = torch.bincount(gt_labels)
    tp = torch.zeros(len(nms_t), len(scores_t), dtype=torch.float64)
    dets = torch.zeros_like(tp)
    for u, nms in enumerate(nms_t.tolist()):
        out = postprocess(pred, priors, score_threshold=float(scores_t.min()), iou_threshold=nms,
                          max_detections=max_detections)
        out = [{k: v.cpu() for k, v in o.items()} for o in out]
        labels = torch.cat([o["labels"] for o in out])
        for c in sorted(set(labels.tolist()) | set(gt_labels.tolist())):
            if c < len(npos) and npos[c] > 0:
                _, recall, score = precision_recall_curve(out, gts, c, iou_threshold, max_dets=max_detections)
                hits = (recall.double() * npos[c]).round()               # (K,) true positives so far
            else:                                                          # no ground truth: all are false positives
                score = torch.cat([o["scores"][o["labels"] == c] for o in out]).sort(descending=True).values
                hits = torch.zeros(len(score), dtype=torch.float64)
            k = (score.double()[None, :] > scores_t[:, None]).sum(1)       # (T,) detections above each threshold
            dets[u] += k
            if len(hits):
                tp[u] += torch.where(k > 0, hits[(k - 1).clamp(min=0)], 0.0)  # the true positives among them
    precision = torch.where(dets > 0, tp / dets.clamp(min=1), torch.ones_like(tp))
    return {"score_thresholds": scores_t, "nms_thresholds": nms_t, "precision": precision,
            "recall": tp / len(gt_labels), "detections": dets / pred.shape[0],
            "objects": torch.tensor(len(gt_labels) / pred.shape[0], dtype=torch.float64)}


def plot_threshold_sweep(sweep: dict[str, Tensor], size: float = 4.0) -> Figure:
    """Precision and recall against the confidence threshold, one line per NMS threshold, and the
    precision/recall curves they trace.

    Args:
        sweep: the dict of `sweep_thresholds`.
        size: each panel's width in inches.

    Returns:
        The Figure: precision vs confidence threshold, recall vs confidence threshold, detections
        per image vs confidence threshold (log scale; dashed: the objects per image, if the sweep
        has them), precision vs recall. Precision is not drawn
        where there is no detection (the sweep's 1 there is a convention, not a measurement).

    Reference: Everingham et al., "The PASCAL VOC Challenge", IJCV 2010, section 4.2.
    """
    import matplotlib.pyplot as plt

    keys = ("score_thresholds", "nms_thresholds", "precision", "recall", "detections")
    if not isinstance(sweep, dict) or not all(k in sweep for k in keys):
        raise TypeError(f"sweep: expected the dict of sweep_thresholds (keys {', '.join(keys)})")
    s, u = sweep["score_thresholds"].cpu().numpy(), sweep["nms_thresholds"].cpu().numpy()
    shape = (len(u), len(s))
    if any(tuple(sweep[k].shape) != shape for k in ("precision", "recall", "detections")):
        raise ValueError(f"sweep: precision, recall and detections must be Tensor[{shape[0]}, {shape[1]}] "
                         f"(NMS thresholds x score thresholds)")
    fig, axes = plt.subplots(1, 4, figsize=(size * 4, size * 0.8), layout="constrained")
    colors = plt.cm.viridis(np.linspace(0, 0.85, len(u)))
    for i, nms in enumerate(u):
        label = f"NMS {nms:g}" if nms < 1 else "no NMS (1.0)"
        p, r, d = (sweep[k][i].cpu().numpy() for k in ("precision", "recall", "detections"))
        p = np.where(d > 0, p, np.nan)                                     # no detection: precision not drawn
        axes[0].plot(s, p, color=colors[i], label=label)
        axes[1].plot(s, r, color=colors[i], label=label)
        axes[2].plot(s, d, color=colors[i], label=label)
        axes[3].plot(r, p, color=colors[i], marker=".", markersize=4, label=label)
    for ax, name in zip(axes[:3], ("precision", "recall", "detections per image"), strict=True):
        ax.set_xlabel("confidence threshold")
        ax.set_ylabel(name)
        ax.set_title(f"{name} vs confidence threshold", fontsize=10)
    if "objects" in sweep:
        axes[2].axhline(float(sweep["objects"]), color="black", ls="--", lw=1, label="objects per image")
        axes[2].legend(fontsize=8)
    if float(sweep["detections"].max()) > 0:
        axes[2].set_yscale("log")
    axes[3].set_xlabel("recall")
    axes[3].set_ylabel("precision")
    axes[3].set_title("precision vs recall (one point per threshold)", fontsize=10)
    for ax in axes:
        ax.grid(alpha=0.3)
    for ax in (axes[0], axes[1], axes[3]):
        ax.set_ylim(-0.02, 1.02)
    axes[3].set_xlim(-0.02, 1.02)
    axes[1].legend(fontsize=8)
    return fig
