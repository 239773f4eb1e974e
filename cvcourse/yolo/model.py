"""A tiny YOLO that trains on a CPU: Darknet-style backbone, SPP, a two-scale FPN/PAN neck, two heads.

    image (N, 3, H, W)
    stem      ConvBlock 3->w s2, ConvBlock w->2w s2                      (N, 2w, H/4, W/4)
    stage 3   ConvBlock 2w->4w s2, ConvBlock 4w->4w                      C3 (N, 4w, H/8, W/8)
    stage 4   ConvBlock 4w->8w s2, ConvBlock 8w->8w                      C4 (N, 8w, H/16, W/16)
    SPP       1x1 8w->4w, max-pools 5/9/13 (stride 1), 1x1 16w->8w       P4 (N, 8w, H/16, W/16)
    FPN       1x1 8w->4w, upsample x2, concat C3, 3x3 8w->4w             N3 (N, 4w, H/8, W/8)
    PAN       3x3 s2 4w->4w, concat P4, 3x3 12w->8w                      N4 (N, 8w, H/16, W/16)
    heads     1x1 conv -> A (5 + C) channels on N3 (stride 8) and N4 (stride 16)

Every ConvBlock is conv + BatchNorm + LeakyReLU(0.1) (`cvcourse.models.ConvBlock`). In training
mode `model(images, targets)` returns the named losses of `yolo_loss` (so `cvcourse.train.fit`
trains it with `loss_fn=None`); in eval mode `model(images)` returns the detections of
`postprocess`. `model.raw(images)` gives the raw outputs Tensor[N, P, 5 + C] in both modes.

Reference: Redmon & Farhadi, "YOLOv3", 2018 (Darknet, LeakyReLU(0.1), heads at several scales);
T.-Y. Lin et al., "Feature Pyramid Networks", CVPR 2017; S. Liu et al., "Path Aggregation Network",
CVPR 2018; Bochkovskiy et al., "YOLOv4", 2020 (SPP + PAN neck).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cvcourse.models import SPP, ConvBlock

from .decode import postprocess
from .loss import yolo_loss
from .targets import flatten_head, make_priors

__all__ = ["TinyYOLO"]


class TinyYOLO(nn.Module):
    """A two-scale YOLO (strides 8 and 16) for small images; see the module docstring.

    Args:
        num_classes: C (>= 1).
        anchors: Tensor[2, A, 2] or nested sequences: A anchors (w, h) in pixels for stride 8, then
            for stride 16 (e.g. from `cvcourse.anchors.kmeans_anchors` on the training boxes).
        image_size: the input's (H, W) or H = W, divisible by 16 (the priors are made for it).
        width: w, the stem's channels (the widest map has 8 w).
        spp: put the SPP block on the last stage.
        activation: "leaky" (LeakyReLU(0.1)), "relu" or "mish".
        xy_scale: the priors' centre scale (1: YOLOv3, 2: YOLOv4; see `make_priors`).
        loss: keywords for `yolo_loss` (box_loss, obj_target, ignore_threshold, lambda_*, ...).
        detect: keywords for `postprocess` in eval mode (score_threshold, iou_threshold, max_detections).

    Shape: images Tensor[N, 3, H, W] (float, in [0, 1]); raw outputs Tensor[N, P, 5 + C] with
    P = A (H W / 64 + H W / 256).

    Reference: Redmon & Farhadi, "YOLOv3", arXiv:1804.02767, 2018.
    """

    strides = (8, 16)

    def __init__(self, num_classes: int, anchors: Sequence[Sequence[Sequence[float]]] | Tensor,
                 image_size: int | tuple[int, int] = 128, width: int = 16, spp: bool = True,
                 activation: str = "leaky", xy_scale: float = 1.0, loss: dict[str, Any] | None = None,
                 detect: dict[str, Any] | None = None) -> None:
        super().__init__()
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"num_classes: expected an int >= 1, got {num_classes!r}")
        if isinstance(width, bool) or not isinstance(width, int) or width < 1:
            raise ValueError(f"width: expected an int >= 1, got {width!r}")
        self.num_classes = num_classes
        self.priors = make_priors(image_size, self.strides, anchors, xy_scale)
        self.num_anchors = self.priors.anchors.shape[1]
        self.loss_kwargs = dict(loss or {})
        self.detect_kwargs = dict(detect or {})
        w = width

        def block(cin: int, cout: int, k: int = 3, s: int = 1) -> ConvBlock:
            return ConvBlock(cin, cout, k, s, activation)

        self.stem = nn.Sequential(block(3, w, 3, 2), block(w, 2 * w, 3, 2))                 # (N, 2w, H/4, W/4)
        self.stage3 = nn.Sequential(block(2 * w, 4 * w, 3, 2), block(4 * w, 4 * w))          # (N, 4w, H/8, W/8)
        self.stage4 = nn.Sequential(block(4 * w, 8 * w, 3, 2), block(8 * w, 8 * w))          # (N, 8w, H/16, W/16)
        self.spp = nn.Sequential(block(8 * w, 4 * w, 1), SPP(), block(16 * w, 8 * w, 1)) if spp else nn.Identity()
        self.lateral = block(8 * w, 4 * w, 1)
        self.fpn = block(8 * w, 4 * w)
        self.down = block(4 * w, 4 * w, 3, 2)
        self.pan = block(12 * w, 8 * w)
        out = self.num_anchors * (5 + num_classes)
        self.head3 = nn.Conv2d(4 * w, out, 1)
        self.head4 = nn.Conv2d(8 * w, out, 1)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, a=0.1, mode="fan_in", nonlinearity="leaky_relu")
        for head, stride in ((self.head3, 8), (self.head4, 16)):
            # start with a small objectness (about 4 objects per image, spread over the scale's predictions) and
            # class probability: the many empty predictions then do not swamp the first steps (YOLOv5's biases)
            nn.init.normal_(head.weight, std=0.01)
            bias = head.bias.detach().view(self.num_anchors, 5 + num_classes)
            bias.zero_()
            cells = self.priors.image_size[0] * self.priors.image_size[1] / stride ** 2
            prior = min(0.5, 4 / (cells * self.num_anchors))     # P(object) of one prediction
            bias[:, 4] = math.log(prior / (1 - prior))
            bias[:, 5:] = math.log(0.6 / (num_classes - 0.99))

    def raw(self, images: Tensor) -> Tensor:
        """Raw outputs Tensor[N, P, 5 + C] (t_x, t_y, t_w, t_h, t_o, class logits) in the priors' order."""
        if not isinstance(images, Tensor) or images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"images: expected Tensor[N, 3, H, W], got "
                             f"{tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__}")
        if tuple(images.shape[2:]) != self.priors.image_size:
            raise ValueError(f"images: expected {self.priors.image_size[0]} x {self.priors.image_size[1]} images "
                             f"(the model's image_size), got {images.shape[2]} x {images.shape[3]}")
        c3 = self.stage3(self.stem(images))                                                   # (N, 4w, H/8, W/8)
        p4 = self.spp(self.stage4(c3))                                                        # (N, 8w, H/16, W/16)
        n3 = self.fpn(torch.cat([F.interpolate(self.lateral(p4), scale_factor=2.0), c3], 1))  # (N, 4w, H/8, W/8)
        n4 = self.pan(torch.cat([self.down(n3), p4], 1))                                      # (N, 8w, H/16, W/16)
        return flatten_head([self.head3(n3), self.head4(n4)], self.num_anchors)              # (N, P, 5 + C)

    def forward(self, images: Tensor, targets: Sequence[dict[str, Tensor]] | None = None
                ) -> dict[str, Tensor] | list[dict[str, Tensor]]:
        """Training: the dict of named losses (targets required). Eval: a list of detection dicts."""
        pred = self.raw(images)
        if self.training:
            if targets is None:
                raise ValueError("targets: expected a list of dicts in training mode (call model.eval() to detect)")
            return yolo_loss(pred, targets, self.priors, **self.loss_kwargs)
        return postprocess(pred, self.priors, **self.detect_kwargs)
