#!/usr/bin/env python
"""Median CPU times of the box operators in `cvcourse.ops` (a script, not a test).

    .venv/bin/python benchmarks/ops.py [--min-time SECONDS] [--only NAME]

Threads are fixed at 2 (`torch.set_num_threads(2)`). Calls faster than 50 ms are timed with
`torch.utils.benchmark.Timer.blocked_autorange`, slower ones by single `time.perf_counter` calls;
cvcourse and torchvision are timed interleaved, five alternating rounds, median. Inputs are
seeded. NMS inputs look like a detector's raw output:
clusters of jittered boxes around objects of many sizes, with random scores, so that about a
fifth of the boxes survive IoU 0.5. On a shared machine expect 10-30 % drift between runs; see
benchmarks/README.md for the comparison with torchvision.

Where torchvision can be imported (e.g. in the reference venv of ../shared/bench/), each case is also
timed with `torchvision.ops` on the same inputs, with the ratio (cvcourse / torchvision; above 1 is
slower) and whether the kept sets agree. torchvision is not a dependency of the course.
"""
import argparse
import statistics
import time

import torch
from torch.utils import benchmark

from cvcourse.ops import batched_nms, box_iou, nms, soft_nms

try:
    import torchvision.ops as tv
except Exception:  # noqa: BLE001 - the comparison is optional
    tv = None

THREADS = 2


def median_times(fns, min_time):
    """Median seconds per call of each `fn()` (after one warm-up call each), measured interleaved:
    five alternating rounds (A B A B ...), so that drift on a shared machine hits all alike."""
    first = []
    for fn in fns:
        t0 = time.perf_counter()
        fn()
        first.append(time.perf_counter() - t0)
    samples = [[] for _ in fns]
    for _ in range(5):
        for fn, acc in zip(fns, samples, strict=True):
            if max(first) < 0.05:
                timer = benchmark.Timer(stmt="fn()", globals={"fn": fn}, num_threads=THREADS)
                acc.append(timer.blocked_autorange(min_run_time=min_time / 5).median)
            else:
                t0 = time.perf_counter()
                fn()
                acc.append(time.perf_counter() - t0)
    return [statistics.median(acc) for acc in samples]


def random_boxes(n, seed, img=1000.0):
    """Uniform boxes, 10..100 pixels a side, in an img x img image."""
    g = torch.Generator().manual_seed(seed)
    xy, wh = torch.rand(n, 2, generator=g) * img, 10 + torch.rand(n, 2, generator=g) * 90
    return torch.cat([xy, xy + wh], 1)


def detections(n, seed, img=1000.0, per_object=8, classes=20):
    """Boxes, scores and class indices like a detector's raw output: n / per_object objects (16..200
    pixels, one of `classes` classes each), each seen by about per_object jittered boxes."""
    g = torch.Generator().manual_seed(seed)
    k = max(1, n // per_object)
    centre = torch.rand(k, 2, generator=g) * img
    size = 16 * (200 / 16) ** torch.rand(k, 1, generator=g) * (0.6 + 0.8 * torch.rand(k, 2, generator=g))
    cls = torch.randint(classes, (k,), generator=g)
    obj = torch.randint(k, (n,), generator=g)
    c = centre[obj] + 0.12 * size[obj] * torch.randn(n, 2, generator=g)
    wh = size[obj] * (0.8 + 0.45 * torch.rand(n, 2, generator=g))
    return torch.cat([c - wh / 2, c + wh / 2], 1), torch.rand(n, generator=g), cls[obj]


def cases():
    for n in (1000, 4000):
        a, b = random_boxes(n, 7 * n), random_boxes(n, 7 * n + 1)
        yield "box_iou", f"{n}x{n}", lambda a=a, b=b: box_iou(a, b), None, tv and (lambda a=a, b=b: tv.box_iou(a, b))
    for n in (1000, 5000, 20000):
        boxes, scores, _ = detections(n, n)
        yield ("nms", f"{n} clustered boxes, IoU 0.5", lambda b=boxes, s=scores: nms(b, s, 0.5), n,
               tv and (lambda b=boxes, s=scores: tv.nms(b, s, 0.5)))
    for n in (1000, 5000, 20000):
        boxes = random_boxes(n, n)
        scores = torch.rand(n, generator=torch.Generator().manual_seed(n + 1))
        yield ("nms", f"{n} uniform boxes, IoU 0.5 (bench_ops.py's)", lambda b=boxes, s=scores: nms(b, s, 0.5), n,
               tv and (lambda b=boxes, s=scores: tv.nms(b, s, 0.5)))
    boxes, scores, idxs = detections(5000, 3, classes=20)
    yield ("batched_nms", "5000 clustered boxes, 20 classes, IoU 0.5",
           lambda: batched_nms(boxes, scores, idxs, 0.5), 5000, tv and (lambda: tv.batched_nms(boxes, scores, idxs, 0.5)))
    boxes = random_boxes(5000, 11)
    scores = torch.rand(5000, generator=torch.Generator().manual_seed(12))
    idxs = torch.randint(20, (5000,), generator=torch.Generator().manual_seed(13))
    yield ("batched_nms", "5000 uniform boxes, 20 classes, IoU 0.5",
           lambda: batched_nms(boxes, scores, idxs, 0.5), 5000, tv and (lambda: tv.batched_nms(boxes, scores, idxs, 0.5)))
    boxes, scores, _ = detections(1000, 5)
    yield "soft_nms", "1000 clustered boxes, gaussian, sigma 0.5", lambda: soft_nms(boxes, scores)[0], 1000, None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--min-time", type=float, default=1.0, help="seconds of timing per case (fast calls)")
    ap.add_argument("--only", default=None, help="run only the ops whose name contains this")
    args = ap.parse_args()
    torch.set_num_threads(THREADS)
    print(f"# torch {torch.__version__}, threads={torch.get_num_threads()}")
    print(f"# {'op':<12} {'case':<44} {'median':>12}  kept" + ("   torchvision  ratio  agree" if tv else ""))
    for op, case, fn, n, tv_fn in cases():
        if args.only and args.only not in op:
            continue
        seconds, *tv_seconds = median_times([fn] + ([tv_fn] if tv_fn else []), args.min_time)
        kept = "" if n is None else f"{len(fn()) / n:5.1%}"
        line = f"{op:<14} {case:<44} {seconds * 1e3:9.3f} ms  {kept:>5}"
        if tv_fn is not None:
            ours, theirs = fn(), tv_fn()
            agree = (set(ours.tolist()) == set(theirs.tolist()) if ours.dim() == 1
                     else torch.allclose(ours, theirs, atol=1e-5))
            line += f"  {tv_seconds[0] * 1e3:9.3f} ms  {seconds / tv_seconds[0]:4.2f}x  {'yes' if agree else 'NO'}"
        print(line, flush=True)


if __name__ == "__main__":
    main()
