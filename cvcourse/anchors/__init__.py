"""Anchor boxes (chapter 07): anchor grids, k-means anchor shapes, box encodings, ground-truth matching.

Conventions used throughout:

- An anchor shape is (w, h) in pixels. For a scale s and an aspect ratio r = h / w (torchvision's
  `AnchorGenerator` convention: r = 2 is a tall box), w = s / sqrt(r) and h = s * sqrt(r), so the
  area is s^2 whatever r is.
- Anchor grids put the anchors of feature-map cell (x, y) at the cell's centre,
  ((x + 0.5) * stride, (y + 0.5) * stride) by default (`offset=0.5`): this is where YOLO's decoding
  puts a box at t = 0 (sigmoid(0) = 0.5), and it makes the grid symmetric over the image.
  torchvision's `AnchorGenerator` uses the cell's top-left corner (x * stride): `offset=0.0` gives
  that (torchvision also rounds its base anchors to whole pixels; this module does not).
- Two layouts: "yolo" `Tensor[H, W, A, 4]` (a cell's A anchors together, indexed like the head's
  output) and "rcnn" `Tensor[H * W * A, 4]`, torchvision's order: positions row by row, the A
  anchors of a position next to each other (it is the "yolo" tensor flattened).
- Boxes are `xyxy` in pixels, as in `cvcourse.ops`.

References: S. Ren, K. He, R. Girshick and J. Sun, "Faster R-CNN: Towards Real-Time Object Detection
with Region Proposal Networks", NeurIPS 2015 (anchors, box encoding, matching); J. Redmon and
A. Farhadi, "YOLO9000: Better, Faster, Stronger", CVPR 2017 (k-means anchors, YOLO's encoding) and
"YOLOv3: An Incremental Improvement", arXiv:1804.02767, 2018.
"""

from .coding import decode_boxes, decode_yolo, encode_boxes, encode_yolo
from .grid import LAYOUTS, anchor_shapes, cell_grid, grid_anchors, multi_scale_anchors
from .kmeans import kmeans_anchors, kmeans_iou, mean_iou_vs_k, wh_iou
from .matching import BELOW_LOW_THRESHOLD, BETWEEN_THRESHOLDS, YoloTargets, assign_yolo, match_anchors

__all__ = [
    "BELOW_LOW_THRESHOLD",
    "BETWEEN_THRESHOLDS",
    "LAYOUTS",
    "YoloTargets",
    "anchor_shapes",
    "assign_yolo",
    "cell_grid",
    "decode_boxes",
    "decode_yolo",
    "encode_boxes",
    "encode_yolo",
    "grid_anchors",
    "kmeans_anchors",
    "kmeans_iou",
    "match_anchors",
    "mean_iou_vs_k",
    "multi_scale_anchors",
    "wh_iou",
]
