#!/usr/bin/env python
"""Train chapter 12's tiny YOLO on the synthetic shapes and measure its mAP (a script, not a test).

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/yolo.py [--threads 2] [--curve]
        [--epochs N] [--train-images N] [--eval-images N] [--seed S]

What it does, on the CPU:

1. Takes the chapter's settings, `cvcourse.yolo.shapes_config()` (the options above override single
   fields), and generates the training scenes (`ShapesDataset`, seed 0) and the held-out scenes
   (seed 1, at least 200) into memory; the generation time is reported apart from the training.
2. Trains `TinyYOLO` with `cvcourse.yolo.train_yolo` (k-means anchors from the training boxes, then
   `cvcourse.train.fit` with `loss_fn=None`: AdamW, a OneCycle schedule stepped per batch, gradient
   clipping, random left-right flips). `train_seconds` is the wall time of the training epochs
   (`fit`'s per-epoch "seconds"; with `--curve`, the evaluations after each epoch are left out).
3. Evaluates on the held-out scenes with `cvcourse.metrics.mean_average_precision` (COCO rules):
   mAP@0.5 and mAP@[.5:.95].
4. Prints a table and, as its LAST line, one JSON object: map_50, map, map_75, train_seconds,
   images_per_second (training), params, train_images, eval_images, image_size, epochs, threads,
   data_seconds, eval_seconds, eval_images_per_second, load (the 1-minute load average before and
   after), and with --curve the per-epoch curve.

`OMP_WAIT_POLICY=PASSIVE` keeps idle OpenMP threads from spinning: on a shared 2-core machine they
otherwise steal the cores and make timings swing (see benchmarks/README.md). Measured numbers are in
benchmarks/README.md ("YOLO").
"""
from _common import report, run

from cvcourse.yolo import evaluate_yolo, shapes_config, shapes_data, train_yolo


def main() -> None:
    done = run(__doc__, shapes_config, shapes_data, train_yolo, evaluate_yolo, threads=2,
               curve_keys=("map_50", "map"), curve_line=lambda m: f"mAP@0.5 {m['map_50']:.3f}  mAP {m['map']:.3f}")
    m = done.result
    report(done, "Tiny YOLO",
           table=[f"mAP@0.5 {m['map_50']:.3f}   mAP@0.75 {m['map_75']:.3f}   mAP@[.5:.95] {m['map']:.3f}"],
           metrics=("map_50", "map", "map_75"), extra={"eval_images_per_second": round(m["images_per_second"], 1)})


if __name__ == "__main__":
    main()
