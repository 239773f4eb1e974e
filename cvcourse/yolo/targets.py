"""YOLOv2/v3 priors and target assignment over several scales.

A YOLOv3 head at stride s sees the image as an (H / s) x (W / s) grid, and every cell holds A anchor
boxes ("priors"). All predictions of all scales are kept in ONE flat order, the one a head's output
Tensor[N, A * (5 + C), H_l, W_l] takes after `flatten_head` and concatenation over the scales:

    scale l (finest first), then row y, then column x, then anchor a

so prediction p of `make_priors(...)` has the cell `cell_xy[p]`, the anchor `anchor_wh[p]` and the
stride `stride[p]` it is decoded with (`cvcourse.yolo.decode`). A 416 x 416 input with strides
8, 16, 32 and 3 anchors per scale gives 3 x (52^2 + 26^2 + 13^2) = 10,647 predictions.

Assignment (YOLOv3, section 2.1: "we only assign one bounding box prior for each ground truth"):
a ground truth goes to the anchor of best shape IoU (`wh_iou`, both boxes centred) over the anchors
of *all* scales; that anchor's scale and the cell holding the box centre give its one prediction.
When two ground truths of an image claim the same prediction, the one with the higher shape IoU
keeps it (the earlier one on ties) and the other is lost: it gets no positive and is counted in
`lost`. `multi_anchor_threshold` adds YOLOv4's variant: every other anchor whose shape IoU with the
ground truth exceeds the threshold also predicts it (in its own scale's centre cell).

Reference: J. Redmon and A. Farhadi, "YOLO9000: Better, Faster, Stronger", CVPR 2017 (anchors,
direct location prediction); "YOLOv3: An Incremental Improvement", arXiv:1804.02767, 2018;
A. Bochkovskiy et al., "YOLOv4", arXiv:2004.10934, 2020 (several anchors per ground truth).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor

from cvcourse.anchors import wh_iou
from cvcourse.ops._validate import check_boxes

__all__ = ["YOLOV3_ANCHORS", "YOLOV3_STRIDES", "YoloAssignment", "YoloPriors", "assign_targets",
           "flatten_head", "make_priors", "num_predictions"]

#: YOLOv3's nine COCO anchors (w, h) in pixels of a 416 x 416 input, three per scale, finest scale first.
YOLOV3_ANCHORS = ((10, 13), (16, 30), (33, 23)), ((30, 61), (62, 45), (59, 119)), ((116, 90), (156, 198), (373, 326))
#: YOLOv3's strides: the 52 x 52, 26 x 26 and 13 x 13 grids of a 416 x 416 input.
YOLOV3_STRIDES = (8, 16, 32)


class YoloPriors(NamedTuple):
    """Where each of the P flat predictions sits (see the module docstring for the order).

    cell_xy Tensor[P, 2] (c_x, c_y) float; anchor_wh Tensor[P, 2] (p_w, p_h) in pixels; stride
    Tensor[P] in pixels; level Tensor[P] int64, the scale index; anchor Tensor[P] int64, the anchor's
    index in the flat list of all anchors (level * A + a); grid_sizes, (H_l, W_l) per scale;
    image_size, (H, W) in pixels; xy_scale, the centre's scale in decoding (1: YOLOv3's
    sigmoid(t) + c; 2: YOLOv4's 2 sigmoid(t) - 0.5 + c, see `cvcourse.yolo.decode`).
    """

    cell_xy: Tensor
    anchor_wh: Tensor
    stride: Tensor
    level: Tensor
    anchor: Tensor
    grid_sizes: tuple[tuple[int, int], ...]
    image_size: tuple[int, int]
    xy_scale: float = 1.0

    @property
    def anchors(self) -> Tensor:
        """Tensor[L, A, 2]: the anchors (w, h) per scale."""
        wh = torch.zeros(int(self.anchor.max()) + 1, 2, dtype=self.anchor_wh.dtype)
        wh[self.anchor] = self.anchor_wh
        return wh.reshape(len(self.grid_sizes), -1, 2)


class YoloAssignment(NamedTuple):
    """`assign_targets`' result for a batch: T positive (image, prediction) pairs.

    batch_index Tensor[T] int64 (the image); pred_index Tensor[T] int64 (the flat prediction);
    gt_index Tensor[T] int64 (the ground truth within its image); boxes Tensor[T, 4] `xyxy` pixels
    and labels Tensor[T] int64 (that ground truth's); lost, the ground truths that got no prediction.
    """

    batch_index: Tensor
    pred_index: Tensor
    gt_index: Tensor
    boxes: Tensor
    labels: Tensor
    lost: int


def _image_size(image_size: object) -> tuple[int, int]:
    size = (image_size, image_size) if isinstance(image_size, int) else image_size
    if (not isinstance(size, (tuple, list)) or len(size) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size)):
        raise ValueError(f"image_size: expected an int or (H, W) of positive ints, got {image_size!r}")
    return int(size[0]), int(size[1])


def _anchors(anchors: object, levels: int) -> Tensor:
    """Tensor[L, A, 2] float32 from nested sequences or a tensor, checked."""
    try:
        a = torch.as_tensor(anchors, dtype=torch.float32) if not isinstance(anchors, Tensor) else anchors.float()
    except (TypeError, ValueError):
        raise TypeError("anchors: expected L sequences of A (w, h) pairs, one per scale (e.g. YOLOV3_ANCHORS), "
                        f"got {type(anchors).__name__}") from None
    if a.dim() != 3 or a.shape[0] != levels or a.shape[2] != 2 or a.shape[1] == 0:
        raise ValueError(f"anchors: expected Tensor[L={levels}, A, 2] (A >= 1 anchors (w, h) for each of the "
                         f"{levels} strides), got shape {tuple(a.shape)}")
    if not torch.isfinite(a).all() or (a <= 0).any():
        raise ValueError("anchors: expected finite positive widths and heights")
    return a


def _strides(strides: object) -> tuple[int, ...]:
    if (not isinstance(strides, (tuple, list)) or not strides
            or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in strides)):
        raise ValueError(f"strides: expected a non-empty sequence of positive ints (e.g. (8, 16, 32)), got {strides!r}")
    return tuple(strides)


def num_predictions(image_size: int | tuple[int, int] = 416, strides: Sequence[int] = YOLOV3_STRIDES,
                    anchors_per_scale: int = 3) -> int:
    """How many boxes a YOLO detector predicts: sum over scales of (H / s) (W / s) A.

    Args:
        image_size: H = W, or (H, W), in pixels; each divisible by every stride.
        strides: the heads' strides (YOLOv3: 8, 16, 32).
        anchors_per_scale: A (YOLOv3: 3).

    Returns:
        int; 10,647 for YOLOv3 at 416 x 416 (3 x (52^2 + 26^2 + 13^2)).

    Reference: Redmon & Farhadi, "YOLOv3", arXiv:1804.02767, 2018.
    """
    if not isinstance(anchors_per_scale, int) or isinstance(anchors_per_scale, bool) or anchors_per_scale < 1:
        raise ValueError(f"anchors_per_scale: expected an int >= 1, got {anchors_per_scale!r}")
    return sum(h * w for h, w in _grids(_image_size(image_size), _strides(strides))) * anchors_per_scale


def _grids(size: tuple[int, int], strides: tuple[int, ...]) -> list[tuple[int, int]]:
    h, w = size
    for s in strides:
        if h % s or w % s:
            raise ValueError(f"image_size: {h} x {w} is not divisible by the stride {s}: a YOLO grid needs "
                             f"whole cells (resize or pad the images to a multiple of {max(strides)})")
    return [(h // s, w // s) for s in strides]


def make_priors(image_size: int | tuple[int, int], strides: Sequence[int] = YOLOV3_STRIDES,
                anchors: Sequence[Sequence[Sequence[float]]] | Tensor = YOLOV3_ANCHORS,
                xy_scale: float = 1.0) -> YoloPriors:
    """The cell, anchor and stride of each of a YOLO detector's flat predictions.

    Args:
        image_size: H = W, or (H, W), in pixels; divisible by every stride.
        strides: L strides, finest first (YOLOv3: 8, 16, 32).
        anchors: Tensor[L, A, 2] or nested sequences: A anchors (w, h) in pixels per stride.
        xy_scale: >= 1; the decoded centre is (xy_scale sigmoid(t) - (xy_scale - 1) / 2 + c) s, so
            1 keeps it inside its cell (YOLOv3) and 2 lets it reach half a cell beyond (YOLOv4's
            "eliminate grid sensitivity": a centre on a cell's border no longer needs t = +-inf).

    Returns:
        YoloPriors with P = sum_l H_l W_l A predictions, in the order scale, row, column, anchor.

    Reference: Redmon & Farhadi, "YOLOv3", arXiv:1804.02767, 2018.
    """
    size = _image_size(image_size)
    strides = _strides(strides)
    wh = _anchors(anchors, len(strides))
    if isinstance(xy_scale, bool) or not isinstance(xy_scale, (int, float)) or not 1 <= xy_scale < float("inf"):
        raise ValueError(f"xy_scale: expected a finite number >= 1, got {xy_scale!r}")
    n_a = wh.shape[1]
    cells, anchor_wh, stride, level, anchor = [], [], [], [], []
    grids = _grids(size, strides)
    for li, ((gh, gw), s) in enumerate(zip(grids, strides, strict=True)):
        ys, xs = torch.meshgrid(torch.arange(gh), torch.arange(gw), indexing="ij")
        xy = torch.stack([xs, ys], -1).reshape(-1, 1, 2).expand(-1, n_a, 2)          # (H W, A, 2)
        cells.append(xy.reshape(-1, 2).float())
        anchor_wh.append(wh[li].expand(gh * gw, n_a, 2).reshape(-1, 2))
        stride.append(torch.full((gh * gw * n_a,), float(s)))
        level.append(torch.full((gh * gw * n_a,), li, dtype=torch.int64))
        anchor.append((li * n_a + torch.arange(n_a)).repeat(gh * gw))
    return YoloPriors(torch.cat(cells), torch.cat(anchor_wh), torch.cat(stride), torch.cat(level),
                      torch.cat(anchor), tuple(grids), size, float(xy_scale))


def flatten_head(outputs: Sequence[Tensor], anchors_per_scale: int) -> Tensor:
    """Concatenate the heads' maps into the flat prediction order of `make_priors`.

    Args:
        outputs: L tensors Tensor[N, A * K, H_l, W_l], finest scale first; the channels of anchor a
            are a * K .. a * K + K - 1 (K = 5 + C: t_x, t_y, t_w, t_h, objectness, C class logits).
        anchors_per_scale: A.

    Returns:
        Tensor[N, P, K] with P = sum_l H_l W_l A.

    Reference: the layout of Darknet's YOLO layer (Redmon & Farhadi, "YOLOv3", 2018).
    """
    if not isinstance(outputs, (list, tuple)) or not outputs or not all(isinstance(o, Tensor) for o in outputs):
        raise TypeError("outputs: expected a non-empty list of Tensor[N, A * K, H, W], one per scale")
    flat = []
    for i, o in enumerate(outputs):
        if o.dim() != 4 or o.shape[1] % anchors_per_scale:
            raise ValueError(f"outputs[{i}]: expected Tensor[N, A * K, H, W] with A = {anchors_per_scale}, "
                             f"got shape {tuple(o.shape)}")
        n, ak, h, w = o.shape
        k = ak // anchors_per_scale
        flat.append(o.reshape(n, anchors_per_scale, k, h, w).permute(0, 3, 4, 1, 2).reshape(n, h * w * anchors_per_scale, k))
    return torch.cat(flat, 1)                                     # (N, P, K)


def _check_target(target: object, i: int, num_classes: int | None) -> tuple[Tensor, Tensor]:
    if not isinstance(target, dict) or "boxes" not in target or "labels" not in target:
        raise TypeError(f"targets[{i}]: expected a dict with 'boxes' Tensor[G, 4] and 'labels' Tensor[G]")
    boxes = check_boxes(target["boxes"], f"targets[{i}]['boxes']")
    labels = target["labels"]
    if not isinstance(labels, Tensor) or labels.is_floating_point() or labels.dtype == torch.bool \
            or labels.shape != (len(boxes),):
        raise ValueError(f"targets[{i}]['labels']: expected an integer Tensor[{len(boxes)}] (one per box), got "
                         f"{labels.dtype if isinstance(labels, Tensor) else type(labels).__name__} "
                         f"{tuple(labels.shape) if isinstance(labels, Tensor) else ''}")
    if len(labels) and (labels.min() < 0 or (num_classes is not None and labels.max() >= num_classes)):
        raise ValueError(f"targets[{i}]['labels']: expected class indices in [0, {num_classes}), got "
                         f"{labels.min().item()}..{labels.max().item()}")
    if len(boxes) and ((boxes[:, 2:] <= boxes[:, :2]).any()):
        raise ValueError(f"targets[{i}]['boxes']: expected boxes with positive width and height (x2 > x1, y2 > y1)")
    return boxes.float(), labels.long()


def assign_targets(targets: Sequence[dict[str, Tensor]], priors: YoloPriors, num_classes: int | None = None,
                   multi_anchor_threshold: float | None = None, neighbours: bool = False) -> YoloAssignment:
    """Give each ground truth of a batch its responsible prediction(s) (see the module docstring).

    Args:
        targets: N dicts with "boxes" Tensor[G_i, 4] `xyxy` in pixels (positive size, centre inside
            the image) and "labels" Tensor[G_i] int64.
        priors: `make_priors(...)` of the detector.
        num_classes: if given, labels must be below it.
        multi_anchor_threshold: None (YOLOv3: the best anchor only), or a shape IoU in (0, 1): other
            anchors above it also predict the ground truth (YOLOv4).
        neighbours: also give each (ground truth, anchor) the two neighbouring cells nearest to the
            centre, one left or right and one above or below (YOLOv5); needs priors with xy_scale >= 2,
            whose centres reach half a cell beyond their own.

    Returns:
        YoloAssignment; T = 0 when the batch has no ground truth.

    Reference: Redmon & Farhadi, "YOLOv3", arXiv:1804.02767, 2018, section 2.1; Bochkovskiy et al.,
    "YOLOv4", 2020 (multiple anchors for a single ground truth).
    """
    if not isinstance(priors, YoloPriors):
        raise TypeError(f"priors: expected the YoloPriors of make_priors, got {type(priors).__name__}")
    if not isinstance(targets, (list, tuple)):
        raise TypeError(f"targets: expected a list of dicts (one per image), got {type(targets).__name__}")
    if multi_anchor_threshold is not None and not (isinstance(multi_anchor_threshold, float)
                                                   and 0 < multi_anchor_threshold < 1):
        raise ValueError(f"multi_anchor_threshold: expected None or a float in (0, 1), got {multi_anchor_threshold!r}")
    if neighbours and priors.xy_scale < 2:
        raise ValueError(f"neighbours: a neighbouring cell can predict a centre only with priors of xy_scale >= 2 "
                         f"(make_priors(..., xy_scale=2)), got xy_scale={priors.xy_scale}")
    anchors = priors.anchors                                      # (L, A, 2)
    n_l, n_a = anchors.shape[:2]
    offsets = [0]
    for gh, gw in priors.grid_sizes:
        offsets.append(offsets[-1] + gh * gw * n_a)
    grid_w = torch.tensor([gw for _, gw in priors.grid_sizes])
    grid_h = torch.tensor([gh for gh, _ in priors.grid_sizes])
    strides = priors.stride[torch.tensor(offsets[:-1])]          # (L,)
    h_img, w_img = priors.image_size
    checked = [_check_target(t, i, num_classes) for i, t in enumerate(targets)]
    all_boxes, all_labels = [b for b, _ in checked], [lab for _, lab in checked]
    counts = torch.tensor([len(b) for b in all_boxes], dtype=torch.int64)
    boxes = torch.cat(all_boxes) if all_boxes else torch.zeros(0, 4)                  # (G, 4), the whole batch
    labels = torch.cat(all_labels) if all_labels else torch.zeros(0, dtype=torch.int64)
    image = torch.repeat_interleave(torch.arange(len(counts)), counts)               # (G,) each box's image
    first_box = counts.cumsum(0) - counts                                             # (N,) each image's first box
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2                    # (G, 2)
    outside = (centre < 0).any(1) | (centre[:, 0] > w_img) | (centre[:, 1] > h_img)
    if outside.any():
        i = int(image[outside][0])
        raise ValueError(f"targets[{i}]['boxes']: a box centre lies outside the {w_img} x {h_img} image")
    shape_iou = wh_iou(boxes[:, 2:] - boxes[:, :2], anchors.reshape(-1, 2))       # (G, L A)
    chosen = torch.nn.functional.one_hot(shape_iou.argmax(1), n_l * n_a).bool() \
        if len(boxes) else torch.zeros(0, n_l * n_a, dtype=torch.bool)            # (G, L A)
    if multi_anchor_threshold is not None:
        chosen |= shape_iou > multi_anchor_threshold
    g, k = chosen.nonzero(as_tuple=True)                          # candidate (ground truth, anchor) pairs
    lvl, a, kind = k // n_a, k % n_a, torch.zeros_like(k)       # kind: 0 the centre cell, 1 / 2 a neighbour
    xy = centre[g] / strides[lvl, None]                           # (K, 2) in cells
    cx = torch.minimum(xy[:, 0].floor().long(), grid_w[lvl] - 1)
    cy = torch.minimum(xy[:, 1].floor().long(), grid_h[lvl] - 1)
    if neighbours:                                                # the nearer horizontal and vertical neighbour
        dx = torch.where(xy[:, 0] - cx < 0.5, -1, 1)
        dy = torch.where(xy[:, 1] - cy < 0.5, -1, 1)
        g, k, lvl, a = (torch.cat([v, v, v]) for v in (g, k, lvl, a))
        cx, cy, kind = torch.cat([cx, cx + dx, cx]), torch.cat([cy, cy, cy + dy]), torch.cat([kind, kind + 1, kind + 2])
        inside = (cx >= 0) & (cx < grid_w[lvl]) & (cy >= 0) & (cy < grid_h[lvl])
        g, k, lvl, a, cx, cy, kind = (v[inside] for v in (g, k, lvl, a, cx, cy, kind))
    pred = torch.tensor(offsets[:-1])[lvl] + (cy * grid_w[lvl] + cx) * n_a + a     # (K,) flat prediction
    # one ground truth per (image, prediction): the best shape IoU wins, then the earlier box, then the centre cell
    order = torch.sort(kind, stable=True).indices
    order = order[torch.sort(g[order], stable=True).indices]
    order = order[torch.sort(shape_iou[g, k][order], descending=True, stable=True).indices]
    slots, slot_of = torch.unique((image[g] * offsets[-1] + pred)[order], return_inverse=True)
    first = torch.full((len(slots),), len(order), dtype=torch.int64).scatter_reduce(
        0, slot_of, torch.arange(len(order)), reduce="amin")      # the first claim of each slot
    keep = torch.sort(order[first]).values                        # candidates that keep their slot, in input order
    g, pred = g[keep], pred[keep]
    lost = len(boxes) - len(torch.unique(g))
    return YoloAssignment(image[g], pred, g - first_box[image[g]], boxes[g], labels[g], lost)
