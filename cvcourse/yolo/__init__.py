"""One-stage detection: YOLO (chapter 12).

- `v1`: YOLOv1's S x S x (5B + C) target tensor and its sum-squared loss.
- `targets`, `loss`, `decode`: YOLOv2/v3 anchors over several scales, target assignment, the loss
  (BCE objectness and classes, MSE or CIoU boxes, ignore threshold), decoding and post-processing.
- `model`: a tiny YOLO (Darknet-style backbone with LeakyReLU(0.1), SPP, a two-scale FPN/PAN neck).
- `train`: its training on the synthetic shapes and its evaluation.
- `draw`: `draw_detections` with OpenCV; `plot`: the chapter's figures (the v1 grid and target, priors
  at several scales, precision/recall against the confidence and NMS thresholds).
"""

from . import draw
from .decode import decode_boxes, postprocess
from .draw import PALETTE, draw_detections
from .loss import yolo_loss
from .model import TinyYOLO
from .plot import (
    draw_v1_grid,
    plot_threshold_sweep,
    show_priors,
    show_v1_target,
    sweep_thresholds,
    v1_channel_names,
)
from .targets import (
    YOLOV3_ANCHORS,
    YOLOV3_STRIDES,
    YoloAssignment,
    YoloPriors,
    assign_targets,
    flatten_head,
    make_priors,
    num_predictions,
)
from .train import YoloConfig, evaluate_yolo, shapes_config, shapes_data, tiny_yolo, train_yolo, yolo_anchors
from .v1 import decode_v1, encode_v1_targets, yolo_v1_loss

__all__ = ["PALETTE", "draw", "draw_detections", "YOLOV3_ANCHORS", "YOLOV3_STRIDES", "TinyYOLO", "YoloAssignment", "YoloConfig", "YoloPriors",
           "assign_targets", "decode_boxes", "decode_v1", "encode_v1_targets", "evaluate_yolo", "flatten_head",
           "make_priors", "num_predictions", "postprocess", "shapes_config", "shapes_data", "tiny_yolo", "train_yolo",
           "yolo_anchors", "yolo_loss", "yolo_v1_loss", "draw_v1_grid", "plot_threshold_sweep", "show_priors",
           "show_v1_target", "sweep_thresholds", "v1_channel_names"]
