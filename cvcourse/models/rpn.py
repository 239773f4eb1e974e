"""The Region Proposal Network of Faster R-CNN / Mask R-CNN (chapter 11), on one feature map.

At every cell of the feature map sit A anchors (`cvcourse.anchors.grid_anchors`). A small head
(3x3 conv, then two 1x1 convs) predicts, per anchor, an objectness logit ("is there an object
here?") and four deltas that move the anchor onto the object (`cvcourse.anchors.decode_boxes`).

Training: each anchor is matched to a ground-truth box (`match_anchors`: IoU >= 0.7 positive,
< 0.3 negative, every ground truth also gets its best anchors), a balanced random sample of
positives and negatives (`balanced_sample`) is scored with binary cross-entropy, and the positives'
deltas are regressed with a smooth L1 loss (beta 1/9, summed and divided by the sample size).

Proposals: the `pre_nms_top_n` best-scoring anchors of each image are decoded, clipped to the
image, boxes smaller than `min_size` dropped, NMS (IoU 0.7) applied, and the `post_nms_top_n` best
kept. Proposals are detached: the box head does not back-propagate into the RPN through them
(torchvision's choice, the "approximate joint training" of the paper).

Conventions: boxes are `xyxy` in image pixels; anchors and deltas come in torchvision's "rcnn"
order (positions row by row, the A anchors of a position next to each other).

Reference: S. Ren, K. He, R. Girshick and J. Sun, "Faster R-CNN: Towards Real-Time Object Detection
with Region Proposal Networks", NeurIPS 2015, section 3.1; torchvision's `detection/rpn.py` and
`BalancedPositiveNegativeSampler` (`detection/_utils.py`).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cvcourse.anchors import anchor_shapes, decode_boxes, encode_boxes, grid_anchors, match_anchors
from cvcourse.ops import batched_nms, clip_boxes_to_image, remove_small_boxes
from cvcourse.ops._validate import check_threshold

from ._validate import _int

__all__ = ["RPNHead", "RegionProposalNetwork", "balanced_sample", "match_per_image"]


def balanced_sample(matches: Tensor, batch_size_per_image: int, positive_fraction: float,
                    generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """Pick a random sample of positives and negatives for a detection loss.

    At most `batch_size_per_image * positive_fraction` positives (matches >= 0) are drawn; the rest
    of the sample is filled with negatives (matches == -1); ignored entries (any other value, e.g.
    -2 between the IoU thresholds) are never drawn. Fewer positives than the quota leave room for
    more negatives, so an image without objects gets a sample of negatives only.

    Args:
        matches: Tensor[N] int64, as `cvcourse.anchors.match_anchors` returns: a ground-truth index
            (>= 0, positive), -1 (negative) or -2 (ignored).
        batch_size_per_image: the sample size (>= 1).
        positive_fraction: the largest share of positives, in [0, 1].
        generator: a torch.Generator for the draws (None: torch's global RNG).

    Returns:
        (positives, negatives): Tensor[P] and Tensor[Q] int64 indices into `matches`, in random
        order, P + Q <= batch_size_per_image.

    Reference: torchvision's `BalancedPositiveNegativeSampler`; Ren et al. 2015, section 3.1.3
    ("we randomly sample 256 anchors in an image ... with up to a 1:1 ratio").
    """
    if not isinstance(matches, Tensor) or matches.dim() != 1 or matches.is_floating_point():
        raise ValueError(f"matches: expected an integer Tensor[N], got "
                         f"{matches.dtype if isinstance(matches, Tensor) else type(matches).__name__}"
                         f"{list(matches.shape) if isinstance(matches, Tensor) else ''}")
    size = _int("batch_size_per_image", batch_size_per_image, 1)
    fraction = check_threshold(positive_fraction, "positive_fraction")
    positive = torch.nonzero(matches >= 0).squeeze(1)
    negative = torch.nonzero(matches == -1).squeeze(1)
    num_pos = min(int(size * fraction), positive.numel())
    num_neg = min(size - num_pos, negative.numel())
    pick_pos = torch.randperm(positive.numel(), generator=generator)[:num_pos].to(matches.device)
    pick_neg = torch.randperm(negative.numel(), generator=generator)[:num_neg].to(matches.device)
    return positive[pick_pos], negative[pick_neg]


def match_per_image(boxes: Sequence[Tensor], gt_boxes: Sequence[Tensor], high: float, low: float,
                    allow_low_quality: bool = True) -> Tensor:
    """`cvcourse.anchors.match_anchors` for every image of a batch, in one call.

    Each image's boxes and ground truths are moved right by i * span pixels (span: more than the
    width all the boxes cover), so boxes of different images never overlap (IoU 0) and one call over
    the concatenated boxes matches every image with its own ground truth only: the offset trick of
    `batched_nms`. An image without ground truth gets only negatives.

    Args:
        boxes: B tensors Tensor[N_i, 4] `xyxy` (anchors or proposals), one per image.
        gt_boxes: B tensors Tensor[G_i, 4] `xyxy`, the ground truth of each image.
        high, low, allow_low_quality: as in `match_anchors`.

    Returns:
        Tensor[sum N_i] int64: for each box, the index of its ground truth in torch.cat(gt_boxes),
        -1 (negative) or -2 (ignored); the boxes in the order of torch.cat(boxes).

    Reference: Ren et al., Faster R-CNN, NeurIPS 2015, section 3.1.2; the coordinate offsets of
    torchvision's `batched_nms`.
    """
    if len(boxes) != len(gt_boxes):
        raise ValueError(f"boxes, gt_boxes: expected one tensor per image in each, got {len(boxes)} and {len(gt_boxes)}")
    every = torch.cat([*boxes, *gt_boxes])                      # (sum N_i + sum G_i, 4)
    span = float(every.max() - every.min()) + 1 if every.numel() else 1.0
    shift = [torch.tensor([i * span, 0.0, i * span, 0.0], dtype=every.dtype, device=every.device) for i in range(len(boxes))]
    shifted = torch.cat([b + d for b, d in zip(boxes, shift, strict=True)])
    shifted_gt = torch.cat([g + d for g, d in zip(gt_boxes, shift, strict=True)]).reshape(-1, 4)
    return match_anchors(shifted, shifted_gt, high, low, allow_low_quality)


class RPNHead(nn.Module):
    """The RPN's head: a shared 3x3 conv + ReLU, then a 1x1 conv for the A objectness logits and a
    1x1 conv for the 4A deltas of each cell. Weights are drawn from N(0, 0.01), biases 0 (as the
    paper and torchvision).

    Args:
        in_channels: C, the feature map's channels.
        num_anchors: A, the anchors per cell.

    Shape: Tensor[B, C, H, W] -> (logits Tensor[B, H * W * A], deltas Tensor[B, H * W * A, 4]),
    in the anchors' "rcnn" order.
    """

    def __init__(self, in_channels: int, num_anchors: int) -> None:
        super().__init__()
        in_channels, num_anchors = _int("in_channels", in_channels, 1), _int("num_anchors", num_anchors, 1)
        self.conv = nn.Conv2d(in_channels, in_channels, 3, padding=1)
        self.objectness = nn.Conv2d(in_channels, num_anchors, 1)
        self.deltas = nn.Conv2d(in_channels, 4 * num_anchors, 1)
        for conv in (self.conv, self.objectness, self.deltas):
            nn.init.normal_(conv.weight, std=0.01)
            nn.init.zeros_(conv.bias)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        b, _, h, w = x.shape
        t = F.relu(self.conv(x))                                 # (B, C, H, W)
        logits = self.objectness(t).permute(0, 2, 3, 1)          # (B, H, W, A)
        deltas = self.deltas(t).view(b, -1, 4, h, w)             # (B, A, 4, H, W)
        deltas = deltas.permute(0, 3, 4, 1, 2)                   # (B, H, W, A, 4)
        return logits.reshape(b, -1), deltas.reshape(b, -1, 4)   # (B, H*W*A), (B, H*W*A, 4)


class RegionProposalNetwork(nn.Module):
    """Anchors, the `RPNHead`, proposals (top-k, decode, clip, NMS) and, in training, the RPN losses.

    Args:
        in_channels: C, the channels of the feature map.
        stride: the feature map's stride in pixels (anchors of cell (x, y) are centred at
            ((x + 0.5) * stride, (y + 0.5) * stride)).
        anchor_sizes: the anchor scales in pixels (the side of the square anchor of the same area).
        aspect_ratios: the anchor ratios h / w; A = len(anchor_sizes) * len(aspect_ratios).
        pre_nms_top_n: (training, evaluation): anchors per image kept by score before NMS.
        post_nms_top_n: (training, evaluation): proposals per image kept after NMS.
        nms_thresh: the IoU above which NMS drops the lower-scored proposal.
        fg_iou_thresh, bg_iou_thresh: IoU from which an anchor is positive, below which negative.
        batch_size_per_image: anchors sampled per image for the losses.
        positive_fraction: the largest share of positives in that sample.
        min_size: proposals narrower or lower than this (pixels) are dropped.

    Shape: forward(features Tensor[B, C, H', W'], image_size (H, W), targets or None) ->
    (proposals: a list of B Tensor[P_i, 4] `xyxy`, detached, P_i <= post_nms_top_n; losses: a
    dict {"loss_objectness", "loss_rpn_box_reg"} of scalar tensors in training, else {}).
    `targets` (training only) is a list of B dicts with "boxes" Tensor[K_i, 4] `xyxy`.
    """

    def __init__(self, in_channels: int, stride: int, anchor_sizes: Sequence[float], aspect_ratios: Sequence[float] = (1.0,),
                 *, pre_nms_top_n: tuple[int, int] = (2000, 1000), post_nms_top_n: tuple[int, int] = (2000, 1000),
                 nms_thresh: float = 0.7, fg_iou_thresh: float = 0.7, bg_iou_thresh: float = 0.3,
                 batch_size_per_image: int = 256, positive_fraction: float = 0.5, min_size: float = 1e-3) -> None:
        super().__init__()
        self.stride = _int("stride", stride, 1)
        self.register_buffer("anchor_wh", anchor_shapes(anchor_sizes, aspect_ratios), persistent=False)  # (A, 2)
        self.head = RPNHead(in_channels, len(self.anchor_wh))
        self.pre_nms_top_n = tuple(_int("pre_nms_top_n", n, 1) for n in pre_nms_top_n)
        self.post_nms_top_n = tuple(_int("post_nms_top_n", n, 1) for n in post_nms_top_n)
        self.nms_thresh = check_threshold(nms_thresh, "nms_thresh")
        self.fg_iou_thresh = check_threshold(fg_iou_thresh, "fg_iou_thresh")
        self.bg_iou_thresh = check_threshold(bg_iou_thresh, "bg_iou_thresh")
        self.batch_size_per_image = _int("batch_size_per_image", batch_size_per_image, 1)
        self.positive_fraction = check_threshold(positive_fraction, "positive_fraction")
        self.min_size = float(min_size)
        self._anchors: dict[tuple, Tensor] = {}   # anchors per (feature size, device), made once

    def anchors(self, feature_size: tuple[int, int], device: torch.device) -> Tensor:
        """Tensor[H' * W' * A, 4] `xyxy`: the anchors of a feature map of `feature_size` (cached)."""
        key = (tuple(feature_size), str(device))
        if key not in self._anchors:
            self._anchors[key] = grid_anchors(feature_size, self.stride, self.anchor_wh.cpu(), layout="rcnn").to(device)
        return self._anchors[key]

    def forward(self, features: Tensor, image_size: tuple[int, int],
                targets: list[dict[str, Tensor]] | None = None) -> tuple[list[Tensor], dict[str, Tensor]]:
        logits, deltas = self.head(features)                     # (B, N), (B, N, 4); N = H' * W' * A
        anchors = self.anchors(features.shape[-2:], features.device)   # (N, 4)
        proposals = self.propose(anchors, logits.detach(), deltas.detach(), image_size)
        losses = {}
        if self.training:
            losses = self.loss(anchors, logits, deltas, [t["boxes"] for t in targets])
        return proposals, losses

    def propose(self, anchors: Tensor, logits: Tensor, deltas: Tensor, image_size: tuple[int, int]) -> list[Tensor]:
        """The proposals of each image: top-k anchors by objectness, decoded, clipped, NMS, top-n."""
        b = len(logits)
        k = min(self.pre_nms_top_n[not self.training], logits.shape[1])
        scores, top = logits.topk(k, dim=1)                      # (B, k)
        boxes = decode_boxes(deltas.gather(1, top[..., None].expand(-1, -1, 4)).reshape(-1, 4),
                             anchors[top.reshape(-1)])           # (B * k, 4)
        boxes = clip_boxes_to_image(boxes, image_size)
        scores = scores.reshape(-1)                              # (B * k,)
        image = torch.arange(b, device=boxes.device).repeat_interleave(k)   # (B * k,) each box's image
        keep = remove_small_boxes(boxes, self.min_size)
        keep = keep[batched_nms(boxes[keep], scores[keep], image[keep], self.nms_thresh)]   # by score, descending
        n = self.post_nms_top_n[not self.training]
        return [boxes[keep[image[keep] == i][:n]] for i in range(b)]

    def loss(self, anchors: Tensor, logits: Tensor, deltas: Tensor, gt_boxes: list[Tensor]) -> dict[str, Tensor]:
        """Objectness BCE over a balanced sample of anchors per image, smooth L1 on its positives."""
        b, n = logits.shape
        matches = match_per_image([anchors] * b, gt_boxes, self.fg_iou_thresh, self.bg_iou_thresh)   # (B * N,)
        pos, neg = [], []
        for i in range(b):                                       # a sample per image, as flat indices
            p, q = balanced_sample(matches[i * n:(i + 1) * n], self.batch_size_per_image, self.positive_fraction)
            pos.append(p + i * n)
            neg.append(q + i * n)
        pos, neg = torch.cat(pos), torch.cat(neg)                # (P,), (Q,)
        sampled = logits.reshape(-1)[torch.cat([pos, neg])]      # (P + Q,)
        labels = torch.cat([torch.ones_like(pos), torch.zeros_like(neg)]).to(logits.dtype)
        loss_objectness = F.binary_cross_entropy_with_logits(sampled, labels)
        targets = encode_boxes(torch.cat(gt_boxes)[matches[pos]], anchors.repeat(b, 1)[pos])   # (P, 4)
        loss_box = F.smooth_l1_loss(deltas.reshape(-1, 4)[pos], targets, beta=1 / 9, reduction="sum")
        return {"loss_objectness": loss_objectness, "loss_rpn_box_reg": loss_box / max(len(labels), 1)}
