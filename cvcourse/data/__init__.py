"""Images and datasets for the chapters.

- `cvcourse.data.images`: the photographs bundled with scikit-image and `to_tensor` (re-exported
  here: `data.sample_image`, `data.to_tensor`, `data.SAMPLE_IMAGES`).
- `cvcourse.data.shapes`: a seeded synthetic detection / instance-segmentation data set (squares,
  circles, triangles, ...) with boxes, labels and masks.
- `cvcourse.data.voc`: a PASCAL VOC XML reader and the VOC -> YOLO label conversion.
"""
from . import images, shapes, voc
from .images import SAMPLE_IMAGES, sample_image, to_tensor

__all__ = ["SAMPLE_IMAGES", "images", "sample_image", "shapes", "to_tensor", "voc"]
