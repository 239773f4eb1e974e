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
import argparse
import json
import os
import time

import torch

from cvcourse.train import Callback
from cvcourse.yolo import evaluate_yolo, shapes_config, shapes_data, train_yolo


class _Curve(Callback):
    """Evaluates the model after every epoch (outside the timed epochs) and keeps (seconds, mAPs)."""

    def __init__(self, data):
        self.data, self.points, self.seconds = data, [], 0.0

    def on_epoch_end(self, epoch, logs, state):
        self.seconds += logs["seconds"]
        m = evaluate_yolo(state.model, self.data)
        self.points.append({"epoch": epoch, "train_seconds": round(self.seconds, 1),
                            "map_50": round(m["map_50"], 4), "map": round(m["map"], 4)})
        print(f"  epoch {epoch}: {self.seconds:6.1f} s  mAP@0.5 {m['map_50']:.3f}  mAP {m['map']:.3f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    parser.add_argument("--curve", action="store_true", help="evaluate after every epoch (not timed)")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--train-images", type=int)
    parser.add_argument("--eval-images", type=int)
    parser.add_argument("--seed", type=int, help="the seed of the weights and the shuffling")
    args = parser.parse_args()
    changes = {k: v for k, v in (("epochs", args.epochs), ("train_images", args.train_images),
                                 ("eval_images", args.eval_images), ("seed", args.seed)) if v is not None}
    config = shapes_config(**changes)
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()[0]

    began = time.perf_counter()
    train, held_out = shapes_data(config, "train"), shapes_data(config, "eval")
    data_seconds = time.perf_counter() - began

    curve = _Curve(held_out) if args.curve else None
    model, history = train_yolo(config, train, progress="lines", callbacks=[curve] if curve else ())
    train_seconds = sum(history["seconds"])
    params = sum(p.numel() for p in model.parameters())
    result = evaluate_yolo(model, held_out)
    seen = config.epochs * (len(train) // config.batch_size) * config.batch_size   # drop_last

    print(f"\nTiny YOLO on synthetic shapes: {config.image_size} x {config.image_size} px, "
          f"{config.min_objects}-{config.max_objects} objects, {params:,} parameters, {args.threads} threads")
    print(f"mAP@0.5 {result['map_50']:.3f}   mAP@0.75 {result['map_75']:.3f}   mAP@[.5:.95] {result['map']:.3f}")
    print(f"training: {train_seconds:.1f} s for {config.epochs} epochs of {len(train)} images "
          f"({seen / train_seconds:.1f} images/s); data generation {data_seconds:.1f} s; "
          f"evaluation of {len(held_out)} images {result['seconds']:.1f} s")
    report = {
        "map_50": round(result["map_50"], 4), "map": round(result["map"], 4), "map_75": round(result["map_75"], 4),
        "train_seconds": round(train_seconds, 1), "images_per_second": round(seen / train_seconds, 1),
        "params": params, "train_images": len(train), "eval_images": len(held_out), "image_size": config.image_size,
        "epochs": config.epochs, "threads": args.threads, "data_seconds": round(data_seconds, 1),
        "eval_seconds": round(result["seconds"], 1), "eval_images_per_second": round(result["images_per_second"], 1),
        "load": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }
    if curve is not None:
        report["curve"] = curve.points
    print(json.dumps(report))


if __name__ == "__main__":
    main()
