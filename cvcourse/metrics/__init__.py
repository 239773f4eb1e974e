"""Evaluation metrics. `detection`: mean average precision with the COCO or PASCAL VOC conventions."""
from .detection import mean_average_precision, precision_recall_curve

__all__ = ["mean_average_precision", "precision_recall_curve"]
