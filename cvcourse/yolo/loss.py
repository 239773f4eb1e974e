"""The YOLOv3 loss (with YOLOv4's CIoU box term as an option).

For a batch of raw outputs Tensor[N, P, 5 + C] and the responsible predictions of
`assign_targets` (the positives), four named terms, each summed over the batch and divided by N
(a loss per image, as Darknet's):

- box (positives): "ciou" (default, YOLOv4): (1 - CIoU(decoded box, ground truth)), or "mse"
  (YOLOv3): squared error of (sigmoid(t_x), sigmoid(t_y)) against the centre's offset in its cell
  and of (t_w, t_h) against log(b_w / p_w), log(b_h / p_h). Either is multiplied by
  (2 - w h / (W H)), the ground truth's area as a fraction of the image: small boxes, whose
  pixels matter more for IoU, weigh up to twice as much as one that fills the image (Darknet's
  `scale = 2 - truth.w * truth.h`).
- obj (positives): binary cross-entropy of the objectness logit against 1 ("one", YOLOv3) or
  against the IoU of the decoded box with its ground truth, detached and clamped to [0, 1]
  ("iou", as YOLOv5: the score then ranks boxes by how well they fit, which COCO's mAP rewards).
- noobj (the other predictions): binary cross-entropy against 0, except those *ignored*: a
  prediction that is not responsible but whose decoded box overlaps a ground truth of its image with
  IoU > `ignore_threshold` is not pushed down (YOLOv3: "If the bounding box prior is not the best
  but does overlap a ground truth object by more than some threshold we ignore the prediction").
- cls (positives): binary cross-entropy of each of the C class logits against the one-hot label
  (independent logistic classifiers, multi-label).

Each term has a weight (`lambda_box`, ...). A batch without objects has box = obj = cls = 0.

Reference: Redmon & Farhadi, "YOLOv3: An Incremental Improvement", arXiv:1804.02767, 2018,
sections 2.1-2.2; Zheng et al., "Distance-IoU Loss", AAAI 2020 (CIoU); Bochkovskiy et al.,
"YOLOv4", arXiv:2004.10934, 2020.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from cvcourse.ops import box_iou, complete_box_iou_loss
from cvcourse.ops._validate import check_threshold

from .decode import _check_pred, decode_boxes
from .targets import YoloAssignment, YoloPriors, assign_targets

__all__ = ["yolo_loss"]

_BOX_LOSSES = ("ciou", "mse")
_OBJ_TARGETS = ("one", "iou")


def _weight(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0 or value == float("inf"):
        raise ValueError(f"{name}: expected a finite number >= 0, got {value!r}")
    return float(value)


def _ignored(boxes: Tensor, targets: Sequence[dict[str, Tensor]], threshold: float) -> Tensor:
    """Tensor[N, P] bool: decoded boxes that overlap a ground truth of their image above `threshold`."""
    ignore = torch.zeros(boxes.shape[:2], dtype=torch.bool, device=boxes.device)
    for i, target in enumerate(targets):
        if len(target["boxes"]):
            ignore[i] = box_iou(boxes[i], target["boxes"].to(boxes)).amax(1) > threshold
    return ignore


def yolo_loss(pred: Tensor, targets: Sequence[dict[str, Tensor]], priors: YoloPriors, *, box_loss: str = "ciou",
              obj_target: str = "one", ignore_threshold: float = 0.5, lambda_box: float = 1.0,
              lambda_obj: float = 1.0, lambda_noobj: float = 1.0, lambda_cls: float = 1.0,
              multi_anchor_threshold: float | None = None, neighbours: bool = False,
              assignment: YoloAssignment | None = None) -> dict[str, Tensor]:
    """YOLOv3's loss of a batch of raw outputs (see the module docstring for each term).

    Args:
        pred: Tensor[N, P, 5 + C] raw outputs in the priors' order (t_x, t_y, t_w, t_h, t_o, classes).
        targets: N dicts with "boxes" Tensor[G_i, 4] `xyxy` pixels and "labels" Tensor[G_i] int64.
        priors: `make_priors(...)` of the detector.
        box_loss: "ciou" (YOLOv4) or "mse" (YOLOv3, on the offsets).
        obj_target: "one" (YOLOv3) or "iou" (the detached IoU of the positive's box).
        ignore_threshold: non-responsible predictions overlapping a ground truth above this IoU get
            no objectness loss (YOLOv3: 0.5); 1.0 ignores none.
        lambda_box, lambda_obj, lambda_noobj, lambda_cls: the terms' weights (>= 0).
        multi_anchor_threshold, neighbours: passed to `assign_targets` (defaults: one prediction per
            ground truth, YOLOv3).
        assignment: a precomputed `assign_targets(targets, priors, ...)` (else computed here).

    Returns:
        {"loss_box", "loss_obj", "loss_noobj", "loss_cls"}: weighted 0-dim tensors (their sum is the
        loss), each a sum over the batch divided by N; N = 0 gives zeros.

    Reference: Redmon & Farhadi, "YOLOv3", arXiv:1804.02767, 2018; Zheng et al., AAAI 2020 (CIoU).
    """
    pred = _check_pred(pred, priors)
    if box_loss not in _BOX_LOSSES:
        raise ValueError(f"box_loss: expected one of {_BOX_LOSSES}, got {box_loss!r}")
    if obj_target not in _OBJ_TARGETS:
        raise ValueError(f"obj_target: expected one of {_OBJ_TARGETS}, got {obj_target!r}")
    ignore_threshold = check_threshold(ignore_threshold, "ignore_threshold")
    weights = {k: _weight(k, v) for k, v in (("lambda_box", lambda_box), ("lambda_obj", lambda_obj),
                                             ("lambda_noobj", lambda_noobj), ("lambda_cls", lambda_cls))}
    n, _, k = pred.shape
    if len(targets) != n:
        raise ValueError(f"targets: expected {n} dicts (one per image of pred), got {len(targets)}")
    a = assign_targets(targets, priors, k - 5, multi_anchor_threshold, neighbours) if assignment is None else assignment
    zero = pred.sum() * 0.0
    if n == 0:
        return {"loss_box": zero, "loss_obj": zero, "loss_noobj": zero, "loss_cls": zero}
    dev = pred.device
    b_i, p_i = a.batch_index.to(dev), a.pred_index.to(dev)
    gt = a.boxes.to(dev, pred.dtype)                             # (T, 4)
    pos = pred[b_i, p_i]                                         # (T, 5 + C)
    boxes = decode_boxes(pred, priors)                           # (N, P, 4)
    pos_boxes = boxes[b_i, p_i]                                  # (T, 4)
    h_img, w_img = priors.image_size
    gt_wh = gt[:, 2:] - gt[:, :2]
    scale = 2 - gt_wh[:, 0] * gt_wh[:, 1] / (w_img * h_img)      # (T,) small boxes weigh more
    if box_loss == "ciou":
        box = (complete_box_iou_loss(pos_boxes, gt) * scale).sum()
    else:
        stride = priors.stride.to(dev, pred.dtype)[p_i, None]
        frac = (gt[:, :2] + gt[:, 2:]) / 2 / stride - priors.cell_xy.to(dev, pred.dtype)[p_i]
        log_wh = torch.log(gt_wh / priors.anchor_wh.to(dev, pred.dtype)[p_i])
        xy_scale = priors.xy_scale
        err = (xy_scale * torch.sigmoid(pos[:, :2]) - (xy_scale - 1) / 2 - frac).pow(2).sum(1) + (pos[:, 2:4] - log_wh).pow(2).sum(1)
        box = (err * scale).sum()
    if obj_target == "iou":
        with torch.no_grad():
            iou_t = torch.diagonal(box_iou(pos_boxes, gt)) if len(gt) else gt.new_zeros(0)
        obj_t = iou_t.clamp(0, 1)
    else:
        obj_t = torch.ones(len(gt), dtype=pred.dtype, device=dev)
    obj = F.binary_cross_entropy_with_logits(pos[:, 4], obj_t, reduction="sum")
    with torch.no_grad():
        negative = ~_ignored(boxes.detach(), targets, ignore_threshold)
        negative[b_i, p_i] = False
    noobj = F.binary_cross_entropy_with_logits(pred[..., 4][negative], torch.zeros_like(pred[..., 4][negative]),
                                               reduction="sum")
    cls_t = F.one_hot(a.labels.to(dev), k - 5).to(pred.dtype)
    cls = F.binary_cross_entropy_with_logits(pos[:, 5:], cls_t, reduction="sum")
    return {"loss_box": weights["lambda_box"] * box / n, "loss_obj": weights["lambda_obj"] * obj / n,
            "loss_noobj": weights["lambda_noobj"] * noobj / n, "loss_cls": weights["lambda_cls"] * cls / n}
