"""The RoI heads of Mask R-CNN (chapter 11): a box head (class scores and per-class deltas) and a mask
head (a small mask per class), both on features cut out of the feature map with RoIAlign.

Class indices: the heads work with num_classes + 1 classes, 0 the background and c + 1 the
dataset's class c (the data's labels are 0-based, without a background class); every public
input and output of `MaskRCNN` uses the data's 0-based labels.

Training, per image: the proposals (plus the ground-truth boxes, which gives the heads perfect
examples from the first step on) are matched to the ground truth (IoU >= 0.5: that object's class,
else background) and a balanced sample of them is drawn (`balanced_sample`). The box head scores
every sampled RoI (cross-entropy over num_classes + 1) and regresses the deltas of the positives'
own class (smooth L1, beta 1/9). The mask head predicts a 28x28 mask per class for each positive
(or a random subset of at most `mask_batch_size_per_image` per image, to save time); the target is the ground-truth mask cut out along the RoI with RoIAlign (`project_masks_on_boxes`),
and the loss is the per-pixel binary cross-entropy of the ground-truth class's mask only: the mask
does not compete across classes, the box head decides the class (`maskrcnn_loss`).

Inference: softmax scores and per-class boxes for every proposal, background dropped, scores below
`score_thresh` dropped, NMS per class (and image), the `detections_per_img` best kept; then the
mask head on the kept boxes, the mask of the predicted class, sigmoid, pasted into the image
(`cvcourse.ops.paste_masks_in_image`, torchvision's rule; on the shapes data the round trip ground
truth -> 28x28 target -> pasted and thresholded at 0.5 keeps a mean mask IoU of 0.96).

Reference: K. He, G. Gkioxari, P. Dollár and R. Girshick, "Mask R-CNN", ICCV 2017 (sections 3 and
3.1: the decoupled per-class sigmoid masks and RoIAlign); R. Girshick, "Fast R-CNN", ICCV 2015
(the box head and its loss); torchvision's `detection/roi_heads.py` (`fastrcnn_loss`,
`project_masks_on_boxes`, `maskrcnn_loss`, `maskrcnn_inference`) and `mask_rcnn.py`
(`MaskRCNNHeads`, `MaskRCNNPredictor`).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cvcourse.anchors import decode_boxes, encode_boxes
from cvcourse.ops import batched_nms, clip_boxes_to_image, paste_masks_in_image, remove_small_boxes, roi_align
from cvcourse.ops._validate import check_threshold

from ._validate import _int
from .rpn import balanced_sample, match_per_image

__all__ = ["BoxHead", "MaskHead", "RoIHeads", "fastrcnn_loss", "maskrcnn_loss", "project_masks_on_boxes"]

#: The box head's delta weights (w_x, w_y, w_w, w_h), as torchvision's Fast R-CNN head.
BOX_WEIGHTS = (10.0, 10.0, 5.0, 5.0)


def _rois(boxes: list[Tensor]) -> Tensor:
    """A list of B Tensor[K_i, 4] -> Tensor[sum K_i, 5] (image index, x1, y1, x2, y2), RoIAlign's format."""
    index = torch.cat([torch.full((len(b), 1), i, dtype=b.dtype, device=b.device) for i, b in enumerate(boxes)])
    return torch.cat([index, torch.cat(boxes)], dim=1)


def project_masks_on_boxes(gt_masks: Tensor, boxes: Tensor, matched_idxs: Tensor, size: int,
                           sampling_ratio: int = 2) -> Tensor:
    """The mask targets: each ground-truth mask cut out along a box and resized to size x size.

    RoIAlign (`aligned=True`: pixel (i, j) covers [j, j + 1] x [i, i + 1], the boxes' pixel-edge
    convention) samples mask `matched_idxs[k]` over box k, so the target is the fraction of each
    cell covered by the object (soft at the edges), in the box's frame.

    Args:
        gt_masks: Tensor[G, H, W] (bool or float), the ground-truth masks.
        boxes: Tensor[K, 4] `xyxy` in pixels, e.g. the positive proposals.
        matched_idxs: Tensor[K] int64, the ground-truth mask of each box (indices into gt_masks).
        size: M, the side of the targets (28 in Mask R-CNN).
        sampling_ratio: sampling points per cell and direction for RoIAlign.

    Returns:
        Tensor[K, M, M] float, values in [0, 1].

    Reference: torchvision's `project_masks_on_boxes` (there with aligned=False); He et al. 2017,
    section 3 ("the mask target is the intersection between an RoI and its associated ground-truth mask").
    """
    size = _int("size", size, 1)
    if len(boxes) == 0:
        return boxes.new_zeros((0, size, size))
    rois = torch.cat([matched_idxs[:, None].to(boxes.dtype), boxes], dim=1)   # (K, 5), "image" = GT index
    masks = gt_masks[:, None].to(boxes.dtype)                    # (G, 1, H, W)
    return roi_align(masks, rois, (size, size), 1.0, sampling_ratio, aligned=True)[:, 0]   # (K, M, M)


def fastrcnn_loss(class_logits: Tensor, box_deltas: Tensor, labels: Tensor, regression_targets: Tensor) -> tuple[Tensor, Tensor]:
    """The box head's losses: cross-entropy over every sampled RoI, smooth L1 on the positives.

    Only the deltas predicted for a positive RoI's own class are regressed; the smooth L1 (beta
    1/9) is summed and divided by the number of sampled RoIs (torchvision's normalisation).

    Args:
        class_logits: Tensor[R, C + 1] (class 0 is the background).
        box_deltas: Tensor[R, 4 * (C + 1)], the deltas of every class.
        labels: Tensor[R] int64 in [0, C], 0 for background RoIs.
        regression_targets: Tensor[R, 4], `encode_boxes` of the matched ground truth (any value
            for background RoIs: they are not regressed).

    Returns:
        (loss_classifier, loss_box_reg), two scalar tensors.

    Reference: Girshick, "Fast R-CNN", ICCV 2015, equation 1; torchvision's `fastrcnn_loss`.
    """
    loss_classifier = F.cross_entropy(class_logits, labels)
    pos = torch.nonzero(labels > 0).squeeze(1)                   # (P,)
    deltas = box_deltas.reshape(len(box_deltas), -1, 4)[pos, labels[pos]]   # (P, 4) of each positive's class
    loss_box = F.smooth_l1_loss(deltas, regression_targets[pos], beta=1 / 9, reduction="sum")
    return loss_classifier, loss_box / max(labels.numel(), 1)


def maskrcnn_loss(mask_logits: Tensor, mask_targets: Tensor, labels: Tensor) -> Tensor:
    """The mask loss: per-pixel binary cross-entropy on the mask of the ground-truth class only.

    The other classes' masks get no gradient: each class has its own sigmoid mask, and the classes
    do not compete (the box head's softmax picks the class). This decoupling is what He et al.
    found to matter (a softmax over classes per pixel lost 5.5 mask AP, Table 2b).

    Args:
        mask_logits: Tensor[P, C, M, M], the mask head's logits for the P positive RoIs.
        mask_targets: Tensor[P, M, M] in [0, 1] (`project_masks_on_boxes`).
        labels: Tensor[P] int64 in [0, C), each RoI's ground-truth class (0-based, no background).

    Returns:
        A scalar tensor: the mean BCE over the P * M * M pixels (0, with a gradient, for P = 0).

    Reference: He et al. 2017, section 3 ("L_mask is defined only on the k-th mask");
    torchvision's `maskrcnn_loss`.
    """
    if mask_targets.numel() == 0:
        return mask_logits.sum() * 0
    chosen = mask_logits[torch.arange(len(labels), device=labels.device), labels]   # (P, M, M)
    return F.binary_cross_entropy_with_logits(chosen, mask_targets)


class BoxHead(nn.Module):
    """Two fully connected layers on the flattened RoI features, then the class logits and the
    per-class deltas (torchvision's `TwoMLPHead` + `FastRCNNPredictor`).

    Args:
        in_channels: C, the feature map's channels.
        roi_size: the RoIAlign output side (7).
        num_classes: K, the object classes (without background).
        hidden: the width of the two FC layers.

    Shape: Tensor[R, C, roi_size, roi_size] -> (Tensor[R, K + 1], Tensor[R, 4 * (K + 1)]).
    """

    def __init__(self, in_channels: int, roi_size: int, num_classes: int, hidden: int = 256) -> None:
        super().__init__()
        self.fc1 = nn.Linear(in_channels * roi_size * roi_size, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.cls_score = nn.Linear(hidden, num_classes + 1)
        self.bbox_pred = nn.Linear(hidden, 4 * (num_classes + 1))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        x = F.relu(self.fc1(x.flatten(1)))                      # (R, hidden)
        x = F.relu(self.fc2(x))                                 # (R, hidden)
        return self.cls_score(x), self.bbox_pred(x)             # (R, K + 1), (R, 4 * (K + 1))


class MaskHead(nn.Module):
    """3x3 convs + ReLU on the RoI features, then a 2x2 stride-2 transposed conv that doubles the side
    (14 -> 28) and outputs one mask logit map per class. Kaiming-initialised, biases 0.

    torchvision's `MaskRCNNHeads` + `MaskRCNNPredictor` have four 256-channel convs, a 256-channel
    transposed conv + ReLU and a 1x1 conv to the K masks; here the transposed conv predicts the K
    masks itself, so nothing with many channels is computed at 28 x 28 (most of the head's cost on
    a CPU). Convolutions run channels-last (faster on CPUs; the values are the same).

    Args:
        in_channels: C, the feature map's channels.
        num_classes: K, the object classes (one mask each; no background mask).
        channels: the width of the convs.
        num_convs: the number of 3x3 convs (4 in the paper).

    Shape: Tensor[P, C, S, S] -> Tensor[P, K, 2S, 2S] (logits).
    """

    def __init__(self, in_channels: int, num_classes: int, channels: int = 32, num_convs: int = 2) -> None:
        super().__init__()
        layers, c = [], in_channels
        for _ in range(_int("num_convs", num_convs, 0)):
            layers += [nn.Conv2d(c, channels, 3, padding=1), nn.ReLU(inplace=True)]
            c = channels
        self.convs = nn.Sequential(*layers)
        self.predictor = nn.ConvTranspose2d(c, num_classes, 2, stride=2)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        x = x.contiguous(memory_format=torch.channels_last)     # (P, C, S, S)
        x = self.convs(x)                                       # (P, channels, S, S)
        return self.predictor(x)                                # (P, K, 2S, 2S)


class RoIHeads(nn.Module):
    """RoIAlign, the `BoxHead` and the `MaskHead`, with the training samples, the losses and the
    post-processing of Mask R-CNN (see the module docstring).

    Args:
        in_channels: C, the feature map's channels.
        stride: the feature map's stride (RoIAlign's spatial_scale is 1 / stride).
        num_classes: K, the object classes (without background).
        box_roi_size, mask_roi_size: RoIAlign's output side for the box head (7) and the mask head (14).
        sampling_ratio: RoIAlign's sampling points per bin and direction.
        box_hidden: the box head's FC width.
        mask_channels, mask_convs: the mask head's conv width and number of 3x3 convs.
        fg_iou_thresh, bg_iou_thresh: a proposal with IoU >= fg_iou_thresh is positive, below
            bg_iou_thresh background (torchvision: 0.5 and 0.5).
        batch_size_per_image, positive_fraction: the RoI sample per image (torchvision: 512, 0.25).
        mask_batch_size_per_image: the most positives per image that train the mask head (a random
            subset; None: all of them, as torchvision). The mask head is the costliest part per RoI.
        score_thresh: detections scoring below this are dropped at inference.
        nms_thresh: per-class NMS IoU at inference.
        detections_per_img: the most detections returned per image.

    Shape: forward(features Tensor[B, C, H', W'], proposals list of B Tensor[P_i, 4], image_size
    (H, W), targets or None) -> (detections, losses): in training ([], {"loss_classifier",
    "loss_box_reg", "loss_mask"}); in evaluation (a list of B dicts "boxes" Tensor[N, 4], "labels"
    Tensor[N] (0-based), "scores" Tensor[N], "masks" Tensor[N, 1, H, W] probabilities; {}).
    """

    def __init__(self, in_channels: int, stride: int, num_classes: int, *, box_roi_size: int = 7, mask_roi_size: int = 14,
                 sampling_ratio: int = 2, box_hidden: int = 256, mask_channels: int = 32, mask_convs: int = 2,
                 fg_iou_thresh: float = 0.5, bg_iou_thresh: float = 0.5, batch_size_per_image: int = 512,
                 positive_fraction: float = 0.25, mask_batch_size_per_image: int | None = None,
                 score_thresh: float = 0.05, nms_thresh: float = 0.5, detections_per_img: int = 100) -> None:
        super().__init__()
        self.num_classes = _int("num_classes", num_classes, 1)
        self.spatial_scale = 1.0 / _int("stride", stride, 1)
        self.box_roi_size = _int("box_roi_size", box_roi_size, 1)
        self.mask_roi_size = _int("mask_roi_size", mask_roi_size, 1)
        self.sampling_ratio = _int("sampling_ratio", sampling_ratio, 1)
        self.box_head = BoxHead(in_channels, self.box_roi_size, self.num_classes, _int("box_hidden", box_hidden, 1))
        self.mask_head = MaskHead(in_channels, self.num_classes, _int("mask_channels", mask_channels, 1), mask_convs)
        self.fg_iou_thresh = check_threshold(fg_iou_thresh, "fg_iou_thresh")
        self.bg_iou_thresh = check_threshold(bg_iou_thresh, "bg_iou_thresh")
        self.batch_size_per_image = _int("batch_size_per_image", batch_size_per_image, 1)
        self.positive_fraction = check_threshold(positive_fraction, "positive_fraction")
        self.mask_batch_size_per_image = (None if mask_batch_size_per_image is None
                                          else _int("mask_batch_size_per_image", mask_batch_size_per_image, 1))
        self.score_thresh = check_threshold(score_thresh, "score_thresh")
        self.nms_thresh = check_threshold(nms_thresh, "nms_thresh")
        self.detections_per_img = _int("detections_per_img", detections_per_img, 1)

    def _align(self, features: Tensor, rois: Tensor, size: int) -> Tensor:
        """RoIAlign of RoIs Tensor[K, 5] (image index, xyxy): Tensor[K, C, size, size]."""
        return roi_align(features, rois, (size, size), self.spatial_scale, self.sampling_ratio, aligned=True)

    def sample(self, proposals: list[Tensor], targets: list[dict[str, Tensor]]) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """The training RoIs of the batch and their targets.

        Returns:
            (rois Tensor[R, 5] (image index, xyxy): each image's sample; labels Tensor[R] in [0, K]
            (0: background); regression_targets Tensor[R, 4] (zeros for background); mask_rois
            Tensor[P, 5]: the positives (at most `mask_batch_size_per_image` of each image);
            mask_gt Tensor[P]: each one's ground truth, an index into the batch's concatenated
            targets).
        """
        gt = [t["boxes"] for t in targets]
        gt_labels = torch.cat([t["labels"] for t in targets])   # (G,)
        proposals = [torch.cat([p, g]) for p, g in zip(proposals, gt, strict=True)]   # the ground truth is a proposal too
        matches = match_per_image(proposals, gt, self.fg_iou_thresh, self.bg_iou_thresh,
                                  allow_low_quality=False)      # (sum R_i,) indices into the G ground truths
        pos, neg, mask_pos, start = [], [], [], 0
        for props in proposals:                                 # a balanced sample per image, as flat indices
            p, q = balanced_sample(matches[start:start + len(props)], self.batch_size_per_image, self.positive_fraction)
            pos.append(p + start)
            neg.append(q + start)
            mask_pos.append(p[: self.mask_batch_size_per_image] + start)   # p is in random order: a random subset
            start += len(props)
        pos, neg, mask_pos = torch.cat(pos), torch.cat(neg), torch.cat(mask_pos)
        image = torch.cat([torch.full((len(p), 1), i, dtype=p.dtype, device=p.device) for i, p in enumerate(proposals)])
        boxes = torch.cat(proposals)                            # (sum R_i, 4)
        rois = torch.cat([image, boxes], dim=1)                 # (sum R_i, 5)
        labels = torch.cat([gt_labels[matches[pos]] + 1, torch.zeros_like(neg)])   # (R,)
        regression_targets = torch.cat([encode_boxes(torch.cat(gt)[matches[pos]], boxes[pos], BOX_WEIGHTS),
                                        boxes.new_zeros((len(neg), 4))])           # (R, 4)
        return rois[torch.cat([pos, neg])], labels, regression_targets, rois[mask_pos], matches[mask_pos]

    def forward(self, features: Tensor, proposals: list[Tensor], image_size: tuple[int, int],
                targets: list[dict[str, Tensor]] | None = None) -> tuple[list[dict[str, Tensor]], dict[str, Tensor]]:
        if self.training:
            rois, labels, regression_targets, mask_rois, mask_gt = self.sample(proposals, targets)
            class_logits, box_deltas = self.box_head(self._align(features, rois, self.box_roi_size))   # (R, K+1), (R, 4(K+1))
            loss_classifier, loss_box = fastrcnn_loss(class_logits, box_deltas, labels, regression_targets)
            mask_logits = self.mask_head(self._align(features, mask_rois, self.mask_roi_size))   # (P, K, M, M)
            gt_masks = torch.cat([t["masks"] for t in targets])   # (G, H, W), every image's masks
            mask_targets = project_masks_on_boxes(gt_masks, mask_rois[:, 1:], mask_gt, mask_logits.shape[-1],
                                                  self.sampling_ratio)   # (P, M, M)
            gt_labels = torch.cat([t["labels"] for t in targets])
            loss_mask = maskrcnn_loss(mask_logits, mask_targets, gt_labels[mask_gt])
            return [], {"loss_classifier": loss_classifier, "loss_box_reg": loss_box, "loss_mask": loss_mask}
        return self.postprocess(features, proposals, image_size), {}

    def postprocess(self, features: Tensor, proposals: list[Tensor], image_size: tuple[int, int]) -> list[dict[str, Tensor]]:
        """Detections of each image: scores, per-class boxes, thresholds, per-class NMS, masks."""
        k, b = self.num_classes, len(proposals)
        class_logits, box_deltas = self.box_head(self._align(features, _rois(proposals), self.box_roi_size))
        props = torch.cat(proposals)                            # (R, 4)
        image = torch.cat([torch.full((len(p),), i, device=props.device) for i, p in enumerate(proposals)])
        scores = F.softmax(class_logits, dim=1)[:, 1:]           # (R, K), background dropped
        boxes = decode_boxes(box_deltas, props, BOX_WEIGHTS).reshape(-1, k + 1, 4)[:, 1:]   # (R, K, 4)
        boxes = clip_boxes_to_image(boxes.reshape(-1, 4), image_size)   # (R * K, 4)
        labels = torch.arange(k, device=props.device).repeat(len(props))   # (R * K,) 0-based
        image = image.repeat_interleave(k)                      # (R * K,)
        scores = scores.reshape(-1)
        keep = torch.nonzero(scores > self.score_thresh).squeeze(1)
        keep = keep[remove_small_boxes(boxes[keep], 1e-2)]
        keep = keep[batched_nms(boxes[keep], scores[keep], image[keep] * k + labels[keep], self.nms_thresh)]
        keep = [keep[image[keep] == i][: self.detections_per_img] for i in range(b)]   # by score, descending
        detections = [{"boxes": boxes[i], "labels": labels[i], "scores": scores[i]} for i in keep]
        kept_boxes = [d["boxes"] for d in detections]
        mask_logits = self.mask_head(self._align(features, _rois(kept_boxes), self.mask_roi_size))   # (N, K, M, M)
        all_labels = torch.cat([d["labels"] for d in detections])
        probs = mask_logits[torch.arange(len(all_labels), device=props.device), all_labels].sigmoid()[:, None]   # (N, 1, M, M)
        for d, p in zip(detections, probs.split([len(x) for x in kept_boxes]), strict=True):
            d["masks"] = paste_masks_in_image(p, d["boxes"], image_size, padding=1)   # (N_i, 1, H, W)
        return detections
