"""A small, readable Mask R-CNN (chapter 11): backbone + FPN, RPN, box head and mask head.

    images (B, 3, H, W)
      -> backbone: a small ResNet (stride 2, 4, 8, 16) whose stages are merged top-down by an FPN
         into ONE feature map at stride 4 (B, C, H/4, W/4)           [`ShapesBackbone`]
      -> RPN: objectness + deltas for A anchors per cell -> proposals   [`cvcourse.models.rpn`]
      -> RoIAlign 7x7 -> box head: class scores + per-class deltas     [`cvcourse.models.roi_heads`]
      -> RoIAlign 14x14 -> mask head: a 28x28 mask per class

`model(images, targets)` in train mode returns a dict of named losses ("loss_objectness",
"loss_rpn_box_reg", "loss_classifier", "loss_box_reg", "loss_mask"), whose sum is minimised
(`cvcourse.train.fit(..., loss_fn=None)` does that); `model(images)` in eval mode returns one dict
per image: "boxes" Tensor[N, 4] (`xyxy`, pixels), "labels" Tensor[N] int64, "scores" Tensor[N] and
"masks" Tensor[N, 1, H, W] float: mask probabilities pasted into the image (torchvision's format;
threshold at 0.5 for binary masks).

Labels are the data's: 0-based class indices without a background class (`cvcourse.data.shapes`).
The heads put the background at index 0 internally and shift the classes by one; nothing outside
the heads sees that shift. torchvision's Mask R-CNN instead wants labels + 1 as its input.

Differences from torchvision's `maskrcnn_resnet50_fpn`, all for speed on small images on a CPU:
one feature level (stride 4) instead of five, a small ResNet (846,859 parameters in all, against
44 million), no resizing inside the model (every image of a batch has one size), narrower heads
(two FC layers of 128; two 3x3 convs of 32 channels, and the transposed conv predicts the masks
itself), fewer proposals and sampled RoIs (`shapes_config` also caps the RoIs that train the mask
head at 6 per image), RoIAlign with `aligned=True` (the boxes are in pixel-edge coordinates, as in
`cvcourse.data.shapes`), channels-last convolutions.

Where a training step goes (`shapes_config()`: 16 images of 64 x 64, one thread; torch.profiler):
half forward, half backward (the optimizer step ~3 %). Within the forward: RoIAlign of the box and
mask features ~25 %, the RPN ~25 % (head ~4 %, proposals ~6 %, matching, sampling and losses
~14 %), the mask head ~15 %, the backbone ~13 %, the mask targets ~9 %, the box head ~7 %, the
RoI sampling ~4 %.

`shapes_config()` holds the settings chapter 11 and `benchmarks/mask_rcnn.py` train with;
`train_mask_rcnn` and `evaluate_mask_rcnn` run them.

Reference: K. He, G. Gkioxari, P. Dollár and R. Girshick, "Mask R-CNN", ICCV 2017; T.-Y. Lin et
al., "Feature Pyramid Networks for Object Detection", CVPR 2017; torchvision's
`models/detection/mask_rcnn.py` and `generalized_rcnn.py`.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cvcourse.data.shapes import collate, scenes
from cvcourse.metrics import mean_average_precision
from cvcourse.train import Callback, History, fit_onecycle, quick_changes

from ._validate import _init_weights, _int
from .resnet import BasicBlock
from .roi_heads import RoIHeads
from .rpn import RegionProposalNetwork

__all__ = ["MaskRCNN", "MaskRCNNConfig", "ShapesBackbone", "evaluate_mask_rcnn", "mask_rcnn", "shapes_config",
           "shapes_data", "train_mask_rcnn"]


class ShapesBackbone(nn.Module):
    """A small ResNet with a one-level FPN: features at stride 4 that also see the stride-16 context.

    stem (3x3 conv, stride 2) -> one `BasicBlock` per stage, each halving H and W (strides 4, 8, 16);
    then the FPN's top-down path: 1x1 "lateral" convs bring every stage to `out_channels`, the
    coarser map is upsampled (nearest, x2) and added, down to stride 4; a 3x3 conv smooths the sum.

    Args:
        widths: (stem, stage 1, 2, 3) channels.
        out_channels: C, the channels of the output (and of the heads).

    Shape: Tensor[B, 3, H, W] -> Tensor[B, C, ceil(H / 4), ceil(W / 4)].

    Reference: He et al., "Deep residual learning", CVPR 2016; Lin et al., FPN, CVPR 2017 (figure 3).
    """

    stride = 4

    def __init__(self, widths: Sequence[int] = (32, 32, 64, 128), out_channels: int = 64) -> None:
        super().__init__()
        if len(widths) != 4:
            raise ValueError(f"widths: expected 4 channel counts (stem, stage 1, 2, 3), got {widths!r}")
        w = [_int("widths", v, 1) for v in widths]
        c = _int("out_channels", out_channels, 1)
        self.stem = nn.Sequential(nn.Conv2d(3, w[0], 3, 2, 1, bias=False), nn.BatchNorm2d(w[0]), nn.ReLU(inplace=True))
        self.stages = nn.ModuleList(BasicBlock(w[i], w[i + 1], stride=2) for i in range(3))
        self.lateral = nn.ModuleList(nn.Conv2d(w[i + 1], c, 1) for i in range(3))
        self.smooth = nn.Conv2d(c, c, 3, padding=1)
        _init_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        x = self.stem(x)                                          # (B, w0, H/2, W/2)
        stages = []
        for stage in self.stages:
            x = stage(x)                                          # (B, w_i, H/4), (H/8), (H/16)
            stages.append(x)
        p = self.lateral[2](stages[2])                            # (B, C, H/16, W/16)
        for i in (1, 0):                                          # top-down: stride 8, then 4
            lateral = self.lateral[i](stages[i])
            p = lateral + F.interpolate(p, size=lateral.shape[-2:], mode="nearest")
        return self.smooth(p)                                     # (B, C, H/4, W/4)


class MaskRCNN(nn.Module):
    """Mask R-CNN on one feature map: `ShapesBackbone`, `RegionProposalNetwork`, `RoIHeads`.

    Images are normalised inside the model ((x - mean) / std per channel, torchvision's
    `GeneralizedRCNNTransform` without the resizing): pass images in [0, 1].

    Args:
        num_classes: K, the object classes (without background; labels are 0-based, < K).
        widths, fpn_channels: the backbone's stage widths and output channels C.
        anchor_sizes, aspect_ratios: the RPN's anchors (pixels; h / w).
        rpn_pre_nms_top_n, rpn_post_nms_top_n: (training, evaluation) proposal counts per image.
        rpn_batch_size_per_image: anchors sampled per image for the RPN losses.
        box_batch_size_per_image, box_positive_fraction: the RoI sample per image of the heads.
        mask_batch_size_per_image: the most positive RoIs per image for the mask head (None: all).
        box_hidden, mask_channels, mask_convs: the heads' widths and the mask head's depth.
        box_score_thresh, box_nms_thresh, detections_per_img: inference settings.

    forward(images, targets=None):
        images: Tensor[B, 3, H, W] float in [0, 1], or a list of B Tensor[3, H, W] of one size.
        targets (training): a list of B dicts with "boxes" Tensor[K_i, 4] `xyxy` (positive width and
            height), "labels" Tensor[K_i] int64 in [0, num_classes), "masks" Tensor[K_i, H, W] (bool
            or 0/1); K_i = 0 is allowed. Ignored in eval mode.
        Returns: in train mode, a dict of five scalar losses; in eval mode, a list of B dicts
        "boxes" Tensor[N, 4], "labels" Tensor[N] int64 (0-based), "scores" Tensor[N] (by score,
        descending), "masks" Tensor[N, 1, H, W] float probabilities.

    Raises:
        ValueError: images that are not Tensor[B, 3, H, W] / of one size, missing targets in
            training, a target without "boxes", "labels" or "masks", shapes that disagree, labels
            outside [0, num_classes), boxes with zero width or height.

    Reference: He et al., "Mask R-CNN", ICCV 2017; torchvision's `MaskRCNN`.
    """

    def __init__(self, num_classes: int, *, widths: Sequence[int] = (32, 32, 64, 128), fpn_channels: int = 64,
                 anchor_sizes: Sequence[float] = (8.0, 12.0, 18.0, 27.0), aspect_ratios: Sequence[float] = (1.0,),
                 rpn_pre_nms_top_n: tuple[int, int] = (200, 100), rpn_post_nms_top_n: tuple[int, int] = (48, 32),
                 rpn_batch_size_per_image: int = 128, box_batch_size_per_image: int = 32,
                 box_positive_fraction: float = 0.5, mask_batch_size_per_image: int | None = None,
                 box_hidden: int = 128, mask_channels: int = 32, mask_convs: int = 2,
                 box_score_thresh: float = 0.05, box_nms_thresh: float = 0.5, detections_per_img: int = 20) -> None:
        super().__init__()
        self.num_classes = _int("num_classes", num_classes, 1)
        self.register_buffer("image_mean", torch.tensor([0.5, 0.5, 0.5]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("image_std", torch.tensor([0.25, 0.25, 0.25]).view(1, 3, 1, 1), persistent=False)
        self.backbone = ShapesBackbone(widths, fpn_channels)
        stride = self.backbone.stride
        self.rpn = RegionProposalNetwork(fpn_channels, stride, anchor_sizes, aspect_ratios,
                                         pre_nms_top_n=rpn_pre_nms_top_n, post_nms_top_n=rpn_post_nms_top_n,
                                         batch_size_per_image=rpn_batch_size_per_image)
        self.roi_heads = RoIHeads(fpn_channels, stride, self.num_classes, box_hidden=box_hidden,
                                  mask_channels=mask_channels, mask_convs=mask_convs,
                                  batch_size_per_image=box_batch_size_per_image, positive_fraction=box_positive_fraction,
                                  mask_batch_size_per_image=mask_batch_size_per_image,
                                  score_thresh=box_score_thresh, nms_thresh=box_nms_thresh,
                                  detections_per_img=detections_per_img)

    def features(self, images: Tensor | Sequence[Tensor]) -> Tensor:
        """The shared feature map the RPN and the RoI heads read: images normalised, then the backbone.

        Args:
            images: Tensor[B, 3, H, W] float in [0, 1], or a list of B Tensor[3, H, W] of one size.

        Returns:
            Tensor[B, C, H / 4, W / 4] (C = `fpn_channels`), channels-last memory order.

        Reference: Lin et al., "Feature Pyramid Networks", CVPR 2017.
        """
        return self._features(_check_images(images))

    def _features(self, images: Tensor) -> Tensor:
        x = ((images - self.image_mean) / self.image_std).contiguous(memory_format=torch.channels_last)
        return self.backbone(x)

    def forward(self, images: Tensor | Sequence[Tensor],
                targets: Sequence[dict[str, Tensor]] | None = None) -> dict[str, Tensor] | list[dict[str, Tensor]]:
        images = _check_images(images)
        image_size = (images.shape[-2], images.shape[-1])
        if self.training:
            targets = _check_targets(targets, images, self.num_classes)
        features = self._features(images)                         # (B, C, H/4, W/4), channels-last
        proposals, rpn_losses = self.rpn(features, image_size, targets if self.training else None)
        detections, head_losses = self.roi_heads(features, proposals, image_size, targets if self.training else None)
        return {**rpn_losses, **head_losses} if self.training else detections


# ----------------------------------------------------------------------------- input checks
def _check_images(images: Any) -> Tensor:
    if isinstance(images, (list, tuple)):
        if not images or not all(isinstance(im, Tensor) and im.dim() == 3 for im in images):
            raise ValueError("images: expected a non-empty list of Tensor[3, H, W] (or a Tensor[B, 3, H, W])")
        sizes = sorted({tuple(im.shape) for im in images})
        if len(sizes) > 1:
            raise ValueError(f"images: every image of a batch must have one size (this model does not resize), got {sizes}")
        images = torch.stack(list(images))
    if not isinstance(images, Tensor) or images.dim() != 4 or images.shape[1] != 3:
        shape = list(images.shape) if isinstance(images, Tensor) else type(images).__name__
        raise ValueError(f"images: expected Tensor[B, 3, H, W] (RGB in [0, 1]) or a list of Tensor[3, H, W], got {shape}")
    if not images.is_floating_point():
        raise ValueError(f"images: expected floating-point values in [0, 1], got dtype {images.dtype}")
    if images.shape[0] == 0 or images.shape[-1] < 16 or images.shape[-2] < 16:
        raise ValueError(f"images: expected at least one image of at least 16 x 16 pixels, got {list(images.shape)}")
    return images


def _check_targets(targets: Any, images: Tensor, num_classes: int) -> list[dict[str, Tensor]]:
    b, _, h, w = images.shape
    if targets is None:
        raise ValueError("targets: in training mode the model needs targets (a list of dicts with 'boxes', "
                         "'labels', 'masks'); call model.eval() for predictions")
    if not isinstance(targets, (list, tuple)) or len(targets) != b:
        raise ValueError(f"targets: expected a list of {b} dicts (one per image), got "
                         f"{len(targets) if isinstance(targets, (list, tuple)) else type(targets).__name__}")
    checked = []
    for i, t in enumerate(targets):
        missing = [k for k in ("boxes", "labels", "masks") if not isinstance(t, dict) or k not in t]
        if missing:
            raise ValueError(f"targets[{i}]: missing key(s) {missing}; expected 'boxes', 'labels' and 'masks'")
        boxes, labels, masks = t["boxes"], t["labels"], t["masks"]
        if not isinstance(boxes, Tensor) or boxes.dim() != 2 or boxes.shape[1] != 4:
            raise ValueError(f"targets[{i}]['boxes']: expected Tensor[K, 4] (xyxy), got "
                             f"{list(boxes.shape) if isinstance(boxes, Tensor) else type(boxes).__name__}")
        k = len(boxes)
        if not isinstance(labels, Tensor) or labels.shape != (k,) or labels.is_floating_point():
            raise ValueError(f"targets[{i}]['labels']: expected an integer Tensor[{k}], got "
                             f"{labels.dtype if isinstance(labels, Tensor) else type(labels).__name__} "
                             f"{list(labels.shape) if isinstance(labels, Tensor) else ''}")
        if k and (labels.min() < 0 or labels.max() >= num_classes):
            raise ValueError(f"targets[{i}]['labels']: expected 0-based class indices in [0, {num_classes}), got "
                             f"values from {int(labels.min())} to {int(labels.max())}")
        if not isinstance(masks, Tensor) or masks.shape != (k, h, w):
            raise ValueError(f"targets[{i}]['masks']: expected Tensor[{k}, {h}, {w}] (one mask per box, the image's "
                             f"size), got {list(masks.shape) if isinstance(masks, Tensor) else type(masks).__name__}")
        boxes = boxes.to(images.dtype)
        if k and not (torch.isfinite(boxes).all() and ((boxes[:, 2:] - boxes[:, :2]) > 0).all()):
            raise ValueError(f"targets[{i}]['boxes']: expected finite xyxy boxes with x2 > x1 and y2 > y1")
        checked.append({"boxes": boxes, "labels": labels.long(), "masks": masks})
    return checked


# ----------------------------------------------------------------------------- the chapter's settings
@dataclass(frozen=True)
class MaskRCNNConfig:
    """Everything `train_mask_rcnn` needs: the data, the model and the optimisation.

    Data: `train_images` scenes of `ShapesDataset(seed=train_seed)` (generated once, kept in
    memory), `eval_images` held-out scenes with `eval_seed`; `image_size`, `min_objects`,
    `max_objects` as in `make_scene` (the default classes, occlusion as there).
    Model: the `MaskRCNN` keywords in `model`.
    Optimisation: AdamW (`lr`, `weight_decay`), a OneCycle schedule (warm-up over `warmup` of the
    steps, then cosine decay), `epochs` over the training images in batches of `batch_size`,
    gradients clipped to `clip_grad_norm`; `seed` seeds the weights and the shuffling.
    """

    image_size: int = 64
    min_objects: int = 1
    max_objects: int = 4
    train_images: int = 6000
    eval_images: int = 512
    train_seed: int = 0
    eval_seed: int = 1
    model: tuple[tuple[str, Any], ...] = (("mask_batch_size_per_image", 6),)
    epochs: int = 2
    batch_size: int = 16
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup: float = 0.1
    clip_grad_norm: float | None = 10.0
    seed: int = 0


_QUICK = {"train_images": 800, "epochs": 1, "eval_images": 64}


def shapes_config(**changes: Any) -> MaskRCNNConfig:
    """The settings chapter 11 and `benchmarks/mask_rcnn.py` train with (one place, so they agree).

    64 x 64 scenes with 1-4 objects of the three default classes (occlusion as in `make_scene`);
    6000 training scenes, 2 epochs in batches of 16; AdamW with a OneCycle peak of 2e-3 (the peak
    matters: 1.2e-3 and 3e-3 gave box mAP@0.5 0.72 and 0.83 where 2e-3 gave 0.88, on 5000 scenes);
    at most 6 RoIs per image train the mask head. Measured with the benchmark (one thread, one other
    job running): box / mask mAP@0.5 0.90 / 0.90 (mAP@[.5:.95] 0.70 / 0.63) on 512 held-out scenes
    after 134-140 s of training, about 86-90 images/s.

    Args:
        **changes: fields of `MaskRCNNConfig` to override (e.g. `epochs=1` for a quick run).

    Returns:
        A `MaskRCNNConfig`. With `CVCOURSE_QUICK=1` (`cvcourse.train.quick`) it is a smoke-test run
        of 800 scenes, 1 epoch and 64 held-out scenes, unless `changes` say otherwise.

    Reference: the chapter's benchmark, `benchmarks/mask_rcnn.py` (its measured numbers).
    """
    return MaskRCNNConfig(**quick_changes(_QUICK, changes, "Mask R-CNN"))


def mask_rcnn(config: MaskRCNNConfig, num_classes: int = 3) -> MaskRCNN:
    """The `MaskRCNN` of a config, its weights drawn after `torch.manual_seed(config.seed)`.

    Args:
        config: a `MaskRCNNConfig` (its `model` keywords and `seed` are used).
        num_classes: the object classes (3: the shapes data's default classes).

    Returns:
        MaskRCNN.

    Reference: He et al., "Mask R-CNN", ICCV 2017.
    """
    torch.manual_seed(config.seed)
    return MaskRCNN(num_classes, **dict(config.model))


def shapes_data(config: MaskRCNNConfig, split: str = "train") -> list[tuple[Tensor, dict[str, Tensor]]]:
    """The config's training or evaluation scenes, generated once into a list of (image, target).

    Args:
        config: a `MaskRCNNConfig`.
        split: "train" (`train_images` scenes, `train_seed`) or "eval" (`eval_images`, `eval_seed`).

    Returns:
        A list of (image Tensor[3, H, W], target dict) pairs, as `ShapesDataset` items.

    Reference: `cvcourse.data.shapes.scenes`.
    """
    if split not in ("train", "eval"):
        raise ValueError(f"split: expected 'train' or 'eval', got {split!r}")
    n, seed = (config.train_images, config.train_seed) if split == "train" else (config.eval_images, config.eval_seed)
    return scenes(n, config.image_size, config.min_objects, config.max_objects, seed)


def train_mask_rcnn(config: MaskRCNNConfig | None = None, data: Sequence[tuple[Tensor, dict]] | None = None, *,
                    device: str | torch.device | None = "cpu", progress: bool | str = True,
                    callbacks: Sequence[Callback] = ()) -> tuple[MaskRCNN, History]:
    """Train a `MaskRCNN` on the synthetic shapes with `cvcourse.train.fit` (`loss_fn=None`).

    Args:
        config: the settings (default `shapes_config()`).
        data: the training pairs (default `shapes_data(config)`; pass them to time the training alone).
        device: where to train (see `cvcourse.train.select_device`; None picks CUDA/MPS if present).
        progress: `fit`'s progress display.
        callbacks: `cvcourse.train.Callback`s for `fit` (e.g. to evaluate after every epoch).

    Returns:
        (model in eval mode, History with "train_loss", one "train_loss_*" per named loss, "lr",
        "seconds" per epoch).

    Reference: He et al., "Mask R-CNN", ICCV 2017; L. N. Smith and N. Topin, "Super-convergence",
    2017 (the one-cycle schedule); I. Loshchilov and F. Hutter, "Decoupled weight decay", ICLR 2019.
    """
    config = shapes_config() if config is None else config
    data = shapes_data(config) if data is None else data
    model = mask_rcnn(config, num_classes=3)
    history = fit_onecycle(model, data, epochs=config.epochs, batch_size=config.batch_size, lr=config.lr,
                           weight_decay=config.weight_decay, warmup=config.warmup, clip_grad_norm=config.clip_grad_norm,
                           seed=config.seed, collate_fn=collate, device=device, progress=progress, callbacks=callbacks)
    return model.eval(), history


@torch.no_grad()
def evaluate_mask_rcnn(model: MaskRCNN, data: Sequence[tuple[Tensor, dict]], batch_size: int = 32,
                       mask_threshold: float = 0.5) -> dict[str, float]:
    """Box and mask mAP (COCO rules) of a model on (image, target) pairs.

    Args:
        model: a `MaskRCNN` (put in eval mode here; its mode is restored).
        data: (image Tensor[3, H, W], target dict with "boxes", "labels", "masks") pairs.
        batch_size: images per forward pass.
        mask_threshold: predicted mask probabilities >= this are the object's pixels.

    Returns:
        {"box_map", "box_map_50", "mask_map", "mask_map_50" (COCO mAP@[.5:.95] and mAP@0.5),
        "seconds", "images_per_second" (inference)}.

    Reference: Lin et al., "Microsoft COCO: Common Objects in Context", ECCV 2014 (the metrics).
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    preds, targets = [], []
    began = time.perf_counter()
    for start in range(0, len(data), batch_size):
        images, batch_targets = collate(data[start:start + batch_size])
        for p in model(images.to(device)):
            preds.append({"boxes": p["boxes"].cpu(), "labels": p["labels"].cpu(), "scores": p["scores"].cpu(),
                          "masks": p["masks"][:, 0].cpu() >= mask_threshold})
        targets += batch_targets
    seconds = time.perf_counter() - began
    model.train(was_training)
    box = mean_average_precision(preds, targets, "bbox", class_metrics=False)
    mask = mean_average_precision(preds, targets, "segm", class_metrics=False)
    return {"box_map": float(box["map"]), "box_map_50": float(box["map_50"]), "mask_map": float(mask["map"]),
            "mask_map_50": float(mask["map_50"]), "seconds": seconds, "images_per_second": len(data) / seconds}
