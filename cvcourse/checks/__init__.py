"""Exercise checks: `checks.<name>(your_function)` runs your function against the package's
reference on several cases and prints a verdict (see `_core` for the machinery)."""
from ._core import REGISTRY, Case, CheckResult, exercises_of
from .anchors import kmeans_iou, wh_iou
from .boxes import box_iou, generalized_box_iou
from .filters import conv1x1, conv2d
from .inception import inception_module
from .intro import box_area
from .mask_rcnn import mask_loss, mask_target
from .nms import nms
from .proposals import recall_at_k, region_similarity
from .resnet import residual_block
from .roi import roi_align_bin, roi_bilinear
from .se import se_block
from .sizes import conv_output_size, same_padding
from .yolo import decode_one, encode_one, v1_loss

__all__ = [
    "REGISTRY", "Case", "CheckResult", "exercises_of",
    "box_area",
    "conv2d", "conv1x1", "conv_output_size", "same_padding",
    "inception_module", "residual_block", "se_block",
    "box_iou", "generalized_box_iou",
    "wh_iou", "kmeans_iou",
    "nms",
    "region_similarity", "recall_at_k",
    "roi_bilinear", "roi_align_bin",
    "mask_target", "mask_loss",
    "encode_one", "v1_loss", "decode_one",
]
