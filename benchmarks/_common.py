"""What benchmarks/mask_rcnn.py and benchmarks/yolo.py share: the command line, the timed run, the report.

A script calls `run` with its chapter's functions (`shapes_config`, `shapes_data`, `train_*`,
`evaluate_*`), prints its own table of metrics and hands the rest to `report`. See either script's
docstring for the options and the report's fields.
"""
import argparse
import json
import os
import time
from types import SimpleNamespace

import torch

from cvcourse.train import Callback


class _Curve(Callback):
    """Evaluates the model after every epoch (outside the timed epochs) and keeps (seconds, mAPs)."""

    def __init__(self, data, evaluate, keys, line):
        self.data, self.evaluate, self.keys, self.line = data, evaluate, keys, line
        self.points, self.seconds = [], 0.0

    def on_epoch_end(self, epoch, logs, state):
        self.seconds += logs["seconds"]
        m = self.evaluate(state.model, self.data)
        self.points.append({"epoch": epoch, "train_seconds": round(self.seconds, 1),
                            **{k: round(m[k], 4) for k in self.keys}})
        print(f"  epoch {epoch}: {self.seconds:6.1f} s  {self.line(m)}", flush=True)


def run(doc, shapes_config, shapes_data, train, evaluate, *, threads, curve_keys, curve_line):
    """Parse the options, generate the scenes, train (timed) and evaluate; returns what `report` needs.

    `threads` is the default of --threads; with --curve, `curve_keys` of `evaluate`'s result go into
    the per-epoch points and `curve_line(result)` is printed after each epoch.
    """
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    parser.add_argument("--threads", type=int, default=threads, help=f"torch.set_num_threads (default {threads})")
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
    train_data, held_out = shapes_data(config, "train"), shapes_data(config, "eval")
    data_seconds = time.perf_counter() - began

    curve = _Curve(held_out, evaluate, curve_keys, curve_line) if args.curve else None
    model, history = train(config, train_data, progress="lines", callbacks=[curve] if curve else ())
    return SimpleNamespace(
        threads=args.threads, config=config, curve=curve, load_before=load_before, data_seconds=data_seconds,
        train_images=len(train_data), eval_images=len(held_out), train_seconds=sum(history["seconds"]),
        params=sum(p.numel() for p in model.parameters()), result=evaluate(model, held_out),
        seen=config.epochs * (len(train_data) // config.batch_size) * config.batch_size)   # drop_last


def report(done, name, *, table, metrics, extra=None):
    """Print the headline, the script's `table` lines, the timings and, last, the JSON report.

    The JSON object starts with the `metrics` keys of the evaluation (rounded to 4 places); `extra`
    entries go after "eval_seconds".
    """
    config, result = done.config, done.result
    print(f"\n{name} on synthetic shapes: {config.image_size} x {config.image_size} px, "
          f"{config.min_objects}-{config.max_objects} objects, {done.params:,} parameters, {done.threads} threads")
    for line in table:
        print(line)
    print(f"training: {done.train_seconds:.1f} s for {config.epochs} epochs of {done.train_images} images "
          f"({done.seen / done.train_seconds:.1f} images/s); data generation {done.data_seconds:.1f} s; "
          f"evaluation of {done.eval_images} images {result['seconds']:.1f} s")
    out = {
        **{k: round(result[k], 4) for k in metrics},
        "train_seconds": round(done.train_seconds, 1), "images_per_second": round(done.seen / done.train_seconds, 1),
        "params": done.params, "train_images": done.train_images, "eval_images": done.eval_images,
        "image_size": config.image_size, "epochs": config.epochs, "threads": done.threads,
        "data_seconds": round(done.data_seconds, 1), "eval_seconds": round(result["seconds"], 1), **(extra or {}),
        "load": [round(done.load_before, 2), round(os.getloadavg()[0], 2)],
    }
    if done.curve is not None:
        out["curve"] = done.curve.points
    print(json.dumps(out))
