"""Box and RoI operators with torchvision.ops' names, argument order, box format (`xyxy`) and semantics.

Conventions shared by every op are documented in `cvcourse.ops._validate`.
"""
# Each submodule adds its public names here (one import line per module).
from .boxes import box_area, box_convert, clip_boxes_to_image, remove_small_boxes  # noqa: F401
from .iou import box_iou, complete_box_iou, distance_box_iou, generalized_box_iou  # noqa: F401
from .losses import complete_box_iou_loss, distance_box_iou_loss, generalized_box_iou_loss  # noqa: F401
from .masks import mask_iou, masks_to_boxes, paste_masks_in_image  # noqa: F401
from .nms import batched_nms, nms, soft_nms  # noqa: F401
from .poolers import MultiScaleRoIAlign, assign_levels, infer_scale  # noqa: F401
from .roi import RoIAlign, RoIPool, convert_boxes_to_roi_format, roi_align, roi_pool  # noqa: F401
from .sampling import bilinear_interpolate  # noqa: F401
