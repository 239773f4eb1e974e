"""Images and datasets for the chapters.

- `cvcourse.data.images`: the photographs bundled with scikit-image and `to_tensor` (re-exported
  here: `data.sample_image`, `data.to_tensor`, `data.SAMPLE_IMAGES`).
- `cvcourse.data.shapes`: a seeded synthetic detection / instance-segmentation data set (squares,
  circles, triangles, ...) with boxes, labels and masks.
- `cvcourse.data.voc`: a PASCAL VOC XML reader/writer, VOC <-> YOLO label conversion, `write_shapes_voc`
  and the `VOCDetection` Dataset.
- `cvcourse.data.classification`: the synthetic shapes as a 12-class image classification set with
  clutter and distractors (`make_classification_set`, `ShapesClassification`, `SHAPE_CLASSES`), and
  `LabelledImages`, the in-memory Dataset the classification sets share.
- `cvcourse.data.augment`: batch augmentation in torch with Keras' `ImageDataGenerator` arguments
  (`RandomAugment`) and the affine warp underneath (`affine`).
- `cvcourse.data.cifar`, `cvcourse.data.fashion_mnist`: CIFAR-10 and Fashion-MNIST read from files
  you put on disk (`load_cifar10`, `CIFAR10`, `load_fashion_mnist`, `FashionMNIST`); never downloaded.
"""
from . import augment, cifar, classification, fashion_mnist, images, shapes, voc
from .augment import RandomAugment
from .cifar import CIFAR10, load_cifar10
from .classification import SHAPE_CLASSES, ShapesClassification, make_classification_set
from .fashion_mnist import FashionMNIST, load_fashion_mnist
from .images import SAMPLE_IMAGES, sample_image, to_tensor
from .voc import VOC_CLASSES, VOCDetection, read_yolo_labels, write_shapes_voc, write_voc_xml, yolo_to_voc

__all__ = ["CIFAR10", "SAMPLE_IMAGES", "SHAPE_CLASSES", "FashionMNIST", "RandomAugment", "ShapesClassification",
           "augment", "cifar", "classification", "fashion_mnist", "images", "load_cifar10", "load_fashion_mnist",
           "make_classification_set", "sample_image", "shapes", "to_tensor", "voc", "VOC_CLASSES", "VOCDetection",
           "read_yolo_labels", "write_shapes_voc", "write_voc_xml", "yolo_to_voc"]
