"""YOLOv2/v3 decoding and post-processing: raw outputs -> boxes, scores, labels.

Each flat prediction (see `cvcourse.yolo.targets` for the order) is K = 5 + C numbers
(t_x, t_y, t_w, t_h, t_o, class logits). With its cell (c_x, c_y), anchor (p_w, p_h) and stride s:

    b_x = (sigmoid(t_x) + c_x) s        b_w = p_w exp(t_w)        objectness = sigmoid(t_o)
    b_y = (sigmoid(t_y) + c_y) s        b_h = p_h exp(t_h)        P(class c | object) = sigmoid(t_c)

(with priors of `xy_scale` k, YOLOv4's b_x = (k sigmoid(t_x) - (k - 1) / 2 + c_x) s).

YOLOv3 scores classes with independent sigmoids (multi-label, trained with binary cross-entropy)
instead of a softmax. The confidence of a (box, class) pair is objectness x P(class | object);
post-processing keeps the pairs above `score_threshold`, runs NMS per class (`batched_nms`, which
keeps a box whose IoU with a kept one equals the threshold; see `cvcourse.ops.nms`), keeps the
`max_detections` best and clips the boxes to the image.

Reference: Redmon & Farhadi, "YOLO9000", CVPR 2017, figure 3; "YOLOv3", arXiv:1804.02767, 2018.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from cvcourse.ops import batched_nms, clip_boxes_to_image
from cvcourse.ops._validate import check_threshold

from .targets import YoloPriors

__all__ = ["decode_boxes", "postprocess"]

#: exp(t_w) is clamped at this t (torchvision's BoxCoder clip): a box grows at most 1000 / 16 times its anchor.
_MAX_LOG_SCALE = math.log(1000.0 / 16)


def _check_pred(pred: object, priors: object, name: str = "pred") -> Tensor:
    if not isinstance(priors, YoloPriors):
        raise TypeError(f"priors: expected the YoloPriors of make_priors, got {type(priors).__name__}")
    if not isinstance(pred, Tensor) or not pred.is_floating_point():
        raise TypeError(f"{name}: expected a floating Tensor[N, P, 5 + C], got "
                        f"{pred.dtype if isinstance(pred, Tensor) else type(pred).__name__}")
    p = len(priors.stride)
    if pred.dim() != 3 or pred.shape[1] != p or pred.shape[2] < 5:
        raise ValueError(f"{name}: expected Tensor[N, P={p}, 5 + C] (P from the priors), got shape {tuple(pred.shape)}")
    return pred


def decode_boxes(pred: Tensor, priors: YoloPriors) -> Tensor:
    """The boxes of raw YOLO outputs: b = (sigmoid(t_xy) + c) s, p exp(t_wh), as `xyxy` pixels.

    Args:
        pred: Tensor[N, P, 5 + C] raw outputs in the priors' order (only the first 4 are used), or
            Tensor[..., P, 4] offsets alone.
        priors: `make_priors(...)` of the detector.

    Returns:
        Tensor[N, P, 4] `xyxy` in pixels of the input image; differentiable. t_w, t_h above
        log(1000 / 16) are clamped there (exp would overflow).

    Reference: Redmon & Farhadi, "YOLO9000", CVPR 2017, "Direct location prediction".
    """
    if not isinstance(priors, YoloPriors):
        raise TypeError(f"priors: expected the YoloPriors of make_priors, got {type(priors).__name__}")
    if not isinstance(pred, Tensor) or not pred.is_floating_point():
        raise TypeError("pred: expected a floating Tensor[N, P, 5 + C]")
    if pred.dim() < 2 or pred.shape[-2] != len(priors.stride) or pred.shape[-1] < 4:
        raise ValueError(f"pred: expected Tensor[..., P={len(priors.stride)}, >= 4], got shape {tuple(pred.shape)}")
    cell, wh, s = (v.to(pred.device, pred.dtype) for v in (priors.cell_xy, priors.anchor_wh, priors.stride[:, None]))
    k = priors.xy_scale
    centre = (k * torch.sigmoid(pred[..., :2]) - (k - 1) / 2 + cell) * s   # (N, P, 2)
    size = wh * torch.exp(pred[..., 2:4].clamp(max=_MAX_LOG_SCALE))
    return torch.cat([centre - size / 2, centre + size / 2], -1)


@torch.no_grad()
def postprocess(pred: Tensor, priors: YoloPriors, score_threshold: float = 0.05, iou_threshold: float = 0.5,
                max_detections: int = 100) -> list[dict[str, Tensor]]:
    """Detections of raw YOLO outputs: score, threshold, per-class NMS, top-k, clip.

    Args:
        pred: Tensor[N, P, 5 + C] raw outputs (see the module docstring).
        priors: `make_priors(...)` of the detector.
        score_threshold: keep (box, class) pairs with objectness x class probability above it
            (strictly); in [0, 1].
        iou_threshold: NMS threshold per class, in [0, 1].
        max_detections: at most this many detections per image (the highest scores), >= 1.

    Returns:
        N dicts {"boxes": Tensor[D, 4] `xyxy` pixels clipped to the image, "scores": Tensor[D],
        "labels": Tensor[D] int64}, sorted by decreasing score (a box may appear once per class).

    Reference: Redmon & Farhadi, "YOLOv3", 2018; NMS as torchvision.ops.batched_nms.
    """
    pred = _check_pred(pred, priors)
    score_threshold = check_threshold(score_threshold, "score_threshold")
    iou_threshold = check_threshold(iou_threshold, "iou_threshold")
    if isinstance(max_detections, bool) or not isinstance(max_detections, int) or max_detections < 1:
        raise ValueError(f"max_detections: expected an int >= 1, got {max_detections!r}")
    boxes = clip_boxes_to_image(decode_boxes(pred, priors).reshape(-1, 4), priors.image_size).reshape(pred.shape[:2] + (4,))
    scores = torch.sigmoid(pred[..., 4:5]) * torch.sigmoid(pred[..., 5:])       # (N, P, C)
    out = []
    for b, s in zip(boxes, scores, strict=True):
        p, c = (s > score_threshold).nonzero(as_tuple=True)
        kept = batched_nms(b[p], s[p, c], c, iou_threshold)[:max_detections]
        out.append({"boxes": b[p[kept]], "scores": s[p[kept], c[kept]], "labels": c[kept]})
    return out
