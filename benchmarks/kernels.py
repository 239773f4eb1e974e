#!/usr/bin/env python
"""Triton kernels against their torch references (and torchvision where installed): a script, not a test.

    .venv/bin/python benchmarks/kernels.py [--repeat 20]

On a CUDA GPU: median wall times (CUDA-synchronised) of `cvcourse.ops` with backend="triton" and
backend="torch", and of torchvision.ops, for box_iou 4000 x 4000, nms on 5,000 and 20,000 boxes, and
roi_align with 512 RoIs on a 1 x 256 x 50 x 68 map (7 x 7 output, sampling ratio 2, scale 1/16).

Without a GPU (as on the course's CI machines) the kernels can only run in Triton's interpreter,
which executes every program in Python: its times say nothing about GPU speed. The script then says
so, runs each kernel once on a small input in the interpreter (TRITON_INTERPRET=1, set here before
the kernels are imported) to show that it works and how slow the interpreter is, and checks each
result against the torch reference. The last line is one JSON object.
"""
import argparse
import json
import os
import statistics
import time

import torch

GPU = torch.cuda.is_available()
if not GPU:
    os.environ.setdefault("TRITON_INTERPRET", "1")               # before cvcourse.kernels is imported

from cvcourse import ops  # noqa: E402


def _boxes(n, size, seed, device):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * size
    wh = torch.rand(n, 2, generator=g) * size / 4 + 1
    return torch.cat([xy, xy + wh], 1).to(device)


def _time(fn, repeat):
    times = []
    for _ in range(repeat):
        if GPU:
            torch.cuda.synchronize()
        began = time.perf_counter()
        fn()
        if GPU:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def _cases(device, small):
    g = torch.Generator().manual_seed(0)
    n_iou, n_nms, n_roi = (64, 200, 8) if small else (4000, None, 512)
    a, b = _boxes(n_iou, 400, 1, device), _boxes(n_iou, 400, 2, device)
    cases = {f"box_iou {n_iou}x{n_iou}": (lambda be: ops.box_iou(a, b, backend=be), "box_iou", (a, b))}
    for n in ((n_nms,) if small else (5000, 20000)):
        boxes, scores = _boxes(n, 1000, 3, device), torch.rand(n, generator=g).to(device)
        cases[f"nms {n}"] = (lambda be, boxes=boxes, scores=scores: ops.nms(boxes, scores, 0.5, backend=be), "nms",
                             (boxes, scores, 0.5))
    shape = (1, 8, 12, 16) if small else (1, 256, 50, 68)
    x = torch.randn(*shape, generator=g).to(device)
    rois = torch.cat([torch.zeros(n_roi, 1), _boxes(n_roi, 16 * shape[3] * 0.8, 4, "cpu")], 1).to(device)
    cases[f"roi_align {n_roi} RoIs on {'x'.join(map(str, shape))}"] = (
        lambda be: ops.roi_align(x, rois, 7, 1 / 16, 2, backend=be), "roi_align", (x, rois, 7, 1 / 16, 2))
    return cases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=20, help="timed runs per case on a GPU (median)")
    args = parser.parse_args()
    try:
        import torchvision.ops as tv
    except ImportError:
        tv = None
    report = {"device": torch.cuda.get_device_name() if GPU else "cpu (Triton interpreter only)", "cases": {}}
    if not GPU:
        print("No CUDA GPU: Triton kernels run in the interpreter only (TRITON_INTERPRET=1), one Python step per\n"
              "program; the times below measure the interpreter, not a GPU, and are not speed results.")
    for name, (run, tv_name, tv_args) in _cases("cuda" if GPU else "cpu", small=not GPU).items():
        reference = run("torch")
        result = run("triton")
        same = torch.equal(result, reference) if result.dtype == torch.int64 else \
            bool(torch.allclose(result, reference, atol=1e-5, rtol=1e-5))
        row = {"matches_torch": same, "triton_s": _time(lambda run=run: run("triton"), args.repeat if GPU else 1),
               "torch_s": _time(lambda run=run: run("torch"), args.repeat if GPU else 1)}
        if tv is not None and GPU:
            tv_fn = getattr(tv, tv_name)
            row["torchvision_s"] = _time(lambda f=tv_fn, a=tv_args: f(*a), args.repeat)
        report["cases"][name] = {k: round(v, 6) if isinstance(v, float) else v for k, v in row.items()}
        extra = f"  torchvision {row['torchvision_s'] * 1e3:9.2f} ms" if "torchvision_s" in row else ""
        print(f"{name:40s} triton {row['triton_s'] * 1e3:9.2f} ms  torch {row['torch_s'] * 1e3:9.2f} ms{extra}  "
              f"matches torch: {same}")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
