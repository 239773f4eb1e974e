#!/usr/bin/env python
"""Train chapter 11's Mask R-CNN on the synthetic shapes and measure its box and mask mAP (a script, not a test).

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/mask_rcnn.py [--threads 1] [--curve]
        [--epochs N] [--train-images N] [--eval-images N] [--seed S]

What it does, on the CPU with `torch.set_num_threads(1)` (measured here with one other job running:
72-83 images/s with one thread, 59 with two; the model's tensors are small, so a second thread gains
little and loses much whenever the other core is busy):

1. Takes the chapter's settings, `cvcourse.models.mask_rcnn.shapes_config()` (the options above
   override single fields), and generates the training scenes (`ShapesDataset`, seed 0) and the
   held-out scenes (seed 1) into memory; the generation time is reported apart from the training.
2. Trains `MaskRCNN` with `train_mask_rcnn` (`cvcourse.train.fit` with `loss_fn=None`: AdamW, a
   OneCycle schedule stepped per batch, gradient clipping). `train_seconds` is the wall time of the
   training epochs (`fit`'s per-epoch "seconds"; with `--curve`, the evaluations after each epoch
   are left out of it).
3. Evaluates on the held-out scenes with `cvcourse.metrics.mean_average_precision`, iou_type "bbox"
   and "segm" (masks thresholded at 0.5): COCO mAP@0.5 and mAP@[.5:.95].
4. Prints a table and, as its LAST line, one JSON object: box_map_50, mask_map_50, box_map,
   mask_map, train_seconds, images_per_second (training), params, train_images, eval_images,
   image_size, plus epochs, threads, data_seconds, eval_seconds, load (the 1-minute load average
   before and after), and with --curve the per-epoch curve.

`OMP_WAIT_POLICY=PASSIVE` keeps idle OpenMP threads from spinning: on a shared 2-core machine they
otherwise steal the cores and make timings swing (see benchmarks/README.md). Measured numbers are in
benchmarks/README.md ("Mask R-CNN").
"""
from _common import report, run

from cvcourse.models.mask_rcnn import evaluate_mask_rcnn, shapes_config, shapes_data, train_mask_rcnn


def main() -> None:
    metrics = ("box_map_50", "mask_map_50", "box_map", "mask_map")
    done = run(__doc__, shapes_config, shapes_data, train_mask_rcnn, evaluate_mask_rcnn, threads=1,
               curve_keys=metrics,
               curve_line=lambda m: f"box mAP@0.5 {m['box_map_50']:.3f}  mask mAP@0.5 {m['mask_map_50']:.3f}")
    m = done.result
    report(done, "Mask R-CNN", table=[f"{'':24s}{'mAP@0.5':>10s}{'mAP@[.5:.95]':>14s}",
                                      f"{'boxes':24s}{m['box_map_50']:10.3f}{m['box_map']:14.3f}",
                                      f"{'masks':24s}{m['mask_map_50']:10.3f}{m['mask_map']:14.3f}"],
           metrics=metrics)


if __name__ == "__main__":
    main()
