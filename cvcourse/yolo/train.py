"""Training and evaluating the tiny YOLO on the synthetic shapes (chapter 12, benchmarks/yolo.py).

`shapes_config()` holds the settings the chapter and the benchmark share; `train_yolo(config)`
generates the scenes (or takes them), fits k-means anchors to the training boxes, builds a
`TinyYOLO` and trains it with `cvcourse.train.fit` (a progress bar, the named losses per epoch);
`evaluate_yolo(model, data)` gives COCO's mAP@[.5:.95] and mAP@0.5 on held-out scenes.

Reference: Redmon & Farhadi, "YOLOv3", arXiv:1804.02767, 2018; Lin et al., "Microsoft COCO",
ECCV 2014 (the metrics).
"""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from cvcourse.anchors import kmeans_anchors
from cvcourse.data.shapes import collate, scenes
from cvcourse.metrics import mean_average_precision
from cvcourse.train import Callback, History, fit_onecycle, quick_changes

from .model import TinyYOLO

__all__ = ["YoloConfig", "evaluate_yolo", "shapes_config", "shapes_data", "tiny_yolo", "train_yolo",
           "yolo_anchors"]


@dataclasses.dataclass(frozen=True)
class YoloConfig:
    """Everything `train_yolo` needs: the data, the model and the optimisation.

    Data: `train_images` scenes of `ShapesDataset(seed=train_seed)`, `eval_images` held-out scenes
    with `eval_seed`; `image_size`, `min_objects`, `max_objects` as in `make_scene`.
    Model: `TinyYOLO(width, 2 x anchors_per_scale k-means anchors, xy_scale, loss=..., detect=...)`:
    `loss` holds keywords of `yolo_loss`, `detect` of `postprocess` (pairs, so the config stays
    hashable and printable).
    Optimisation (`cvcourse.train.fit_onecycle`): AdamW (`lr`, `weight_decay`, none on norms and
    biases), OneCycle (warm-up `warmup` of the steps, cosine decay), `epochs` in batches of
    `batch_size`, gradients clipped to `clip_grad_norm`; `seed` seeds the weights and the shuffling.
    """

    image_size: int = 96
    min_objects: int = 1
    max_objects: int = 4
    train_images: int = 4000
    eval_images: int = 256
    train_seed: int = 0
    eval_seed: int = 1
    width: int = 16
    anchors_per_scale: int = 3
    xy_scale: float = 2.0
    loss: tuple[tuple[str, Any], ...] = (("lambda_box", 3.0), ("obj_target", "iou"), ("multi_anchor_threshold", 0.3))
    detect: tuple[tuple[str, Any], ...] = (("score_threshold", 0.01), ("iou_threshold", 0.5))
    epochs: int = 8
    batch_size: int = 32
    lr: float = 1.2e-2
    weight_decay: float = 5e-4
    warmup: float = 0.1
    clip_grad_norm: float | None = 10.0
    seed: int = 0


_QUICK = {"train_images": 800, "epochs": 1, "eval_images": 64}


def shapes_config(**changes: Any) -> YoloConfig:
    """The settings chapter 12 and `benchmarks/yolo.py` train with (one place, so they agree).

    96 x 96 scenes with 1-4 objects of the three default classes, 4000 training scenes, 8 epochs in
    batches of 32 (flipped left-right at random), AdamW with a OneCycle peak of 1.2e-2. From YOLOv4
    and later: CIoU box loss weighted 3, several anchors per object (shape IoU > 0.3), the
    grid-sensitivity decoding (xy_scale 2) and the IoU as the objectness target (YOLOv5). What each
    change was worth, measured with the benchmark, is in benchmarks/README.md ("YOLO").

    Args:
        **changes: fields of `YoloConfig` to override (e.g. `epochs=1` for a quick run).

    Returns:
        A `YoloConfig`. With `CVCOURSE_QUICK=1` (`cvcourse.train.quick`) it is a smoke-test run of
        800 scenes, 1 epoch and 64 held-out scenes, unless `changes` say otherwise.

    Reference: the chapter's benchmark, `benchmarks/yolo.py`.
    """
    return YoloConfig(**quick_changes(_QUICK, changes, "YOLO"))


def shapes_data(config: YoloConfig, split: str = "train") -> list[tuple[Tensor, dict[str, Tensor]]]:
    """The config's training or evaluation scenes, generated once (boxes and labels, no masks).

    Args:
        config: a `YoloConfig`.
        split: "train" (`train_images` scenes, `train_seed`) or "eval" (`eval_images`, `eval_seed`).

    Returns:
        A list of (image Tensor[3, H, W] float32 in [0, 1], {"boxes", "labels"}) pairs.

    Reference: `cvcourse.data.shapes.scenes`.
    """
    if split not in ("train", "eval"):
        raise ValueError(f"split: expected 'train' or 'eval', got {split!r}")
    n, seed = (config.train_images, config.train_seed) if split == "train" else (config.eval_images, config.eval_seed)
    return scenes(n, config.image_size, config.min_objects, config.max_objects, seed, keys=("boxes", "labels"))


def yolo_anchors(data: Sequence[tuple[Tensor, dict[str, Tensor]]], k: int = 6, levels: int = 2) -> Tensor:
    """k-means anchors (1 - IoU distance) of the training boxes, split over the scales by area.

    Args:
        data: (image, target) pairs with "boxes" `xyxy` pixels.
        k: anchors in all (a multiple of `levels`).
        levels: scales; the smallest k / levels anchors go to the finest scale.

    Returns:
        Tensor[levels, k / levels, 2] (w, h) in pixels, by increasing area.

    Reference: Redmon & Farhadi, "YOLO9000", CVPR 2017, "Dimension Clusters".
    """
    if k % levels:
        raise ValueError(f"k: expected a multiple of levels={levels}, got {k}")
    boxes = torch.cat([t["boxes"] for _, t in data])
    if len(boxes) < k:
        raise ValueError(f"data: expected at least {k} boxes to cluster, got {len(boxes)}")
    centres, _ = kmeans_anchors(boxes[:, 2:] - boxes[:, :2], k, seed=0)
    centres = centres[(centres[:, 0] * centres[:, 1]).argsort()]
    return centres.reshape(levels, k // levels, 2)


def tiny_yolo(config: YoloConfig, anchors: Tensor, num_classes: int = 3) -> TinyYOLO:
    """The `TinyYOLO` of a config, its weights drawn after `torch.manual_seed(config.seed)`.

    Args:
        config: a `YoloConfig`.
        anchors: Tensor[2, A, 2] (e.g. `yolo_anchors(data)`).
        num_classes: the object classes (3: the shapes' default classes).

    Returns:
        TinyYOLO.

    Reference: Redmon & Farhadi, "YOLOv3", 2018.
    """
    torch.manual_seed(config.seed)
    return TinyYOLO(num_classes, anchors, config.image_size, config.width, xy_scale=config.xy_scale,
                    loss=dict(config.loss),
                    detect=dict(config.detect))


class _Flip(torch.utils.data.Dataset):
    """(image, target) pairs, mirrored left-right with probability 0.5 (seeded by `fit`'s RNG)."""

    def __init__(self, data: Sequence[tuple[Tensor, dict[str, Tensor]]]) -> None:
        self.data = data

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i: int) -> tuple[Tensor, dict[str, Tensor]]:
        image, target = self.data[i]
        if torch.rand(()) < 0.5:
            w = image.shape[-1]
            boxes = target["boxes"][:, [2, 1, 0, 3]] * torch.tensor([-1, 1, -1, 1]) + torch.tensor([w, 0, w, 0])
            return image.flip(-1), {**target, "boxes": boxes}
        return image, target


def train_yolo(config: YoloConfig | None = None, data: Sequence[tuple[Tensor, dict]] | None = None, *,
               flip: bool = True, device: str | torch.device | None = "cpu", progress: bool | str = True,
               callbacks: Sequence[Callback] = ()) -> tuple[TinyYOLO, History]:
    """Train a `TinyYOLO` on the synthetic shapes with `cvcourse.train.fit` (`loss_fn=None`).

    Args:
        config: the settings (default `shapes_config()`).
        data: the training pairs (default `shapes_data(config)`; pass them to time the training alone).
        flip: mirror each training image left-right with probability 0.5.
        device: where to train (None picks CUDA/MPS if present).
        progress: `fit`'s progress display.
        callbacks: `cvcourse.train.Callback`s for `fit`.

    Returns:
        (model in eval mode, History with "train_loss", "train_loss_box", "train_loss_obj",
        "train_loss_noobj", "train_loss_cls", "lr", "seconds" per epoch).

    Reference: Redmon & Farhadi, "YOLOv3", 2018; Smith & Topin, "Super-convergence", 2017 (one-cycle).
    """
    config = shapes_config() if config is None else config
    data = shapes_data(config) if data is None else data
    model = tiny_yolo(config, yolo_anchors(data, 2 * config.anchors_per_scale))
    history = fit_onecycle(model, _Flip(data) if flip else data, epochs=config.epochs, batch_size=config.batch_size,
                           lr=config.lr, weight_decay=config.weight_decay, warmup=config.warmup,
                           clip_grad_norm=config.clip_grad_norm, seed=config.seed, collate_fn=collate,
                           decay_norms=False, device=device, progress=progress, callbacks=callbacks)
    return model.eval(), history


@torch.no_grad()
def evaluate_yolo(model: TinyYOLO, data: Sequence[tuple[Tensor, dict]], batch_size: int = 64) -> dict[str, float]:
    """COCO mAP@[.5:.95] and mAP@0.5 of a model on (image, target) pairs.

    Args:
        model: a `TinyYOLO` (put in eval mode here; its mode is restored).
        data: (image Tensor[3, H, W], target dict with "boxes", "labels") pairs.
        batch_size: images per forward pass.

    Returns:
        {"map", "map_50", "map_75", "seconds", "images_per_second" (inference + post-processing)}.

    Reference: Lin et al., "Microsoft COCO: Common Objects in Context", ECCV 2014.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    preds, targets = [], []
    began = time.perf_counter()
    for start in range(0, len(data), batch_size):
        images, batch_targets = collate(data[start:start + batch_size])
        preds += [{k: v.cpu() for k, v in p.items()} for p in model(images.to(device))]
        targets += batch_targets
    seconds = time.perf_counter() - began
    model.train(was_training)
    m = mean_average_precision(preds, targets, "bbox", class_metrics=False)
    return {"map": float(m["map"]), "map_50": float(m["map_50"]), "map_75": float(m["map_75"]),
            "seconds": seconds, "images_per_second": len(data) / max(seconds, 1e-9)}
