#!/usr/bin/env python
"""Train a small SE-ResNet and a plain CNN on the synthetic shapes classification set (a script, not a test).

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/classification.py [--seed S] [--confusion]
        [--models se plain resnet plainnet] [--baseline-epochs N] [--epochs N] [--lr LR]
        [--no-image-norm] [--no-zero-mean-stem] [--plain-image-norm] ...

What it does, on the CPU with `torch.set_num_threads(2)`:

1. Generates the training set (`ShapesClassification(15000, seed=0)`) and the validation set (2000
   images, seed 1; 12 classes, rotation, clutter and distractors: the defaults) and reports the
   generation time separately from the training.
2. Trains `cvcourse.models.se_resnet_cifar(8, 12, reduction=4, width=16, image_norm=True,
   zero_mean_stem=True)` (SE-ResNet-8, 81,000 parameters; each image standardised before the stem,
   the stem's filters initialised with zero mean per input channel) with `cvcourse.train.fit` for 5
   epochs: batch 64, SGD with Nesterov momentum 0.9 and weight decay 5e-4, a OneCycle learning rate
   (peak 0.4, 15 % warm-up) stepped per batch, cross-entropy. The model's weights are put in
   channels-last memory order (about 1.4x faster convolutions on this CPU). Without the two options
   (`--no-image-norm --no-zero-mean-stem`, the plain `se_resnet_cifar`) the first 2-3 epochs sit
   near chance: a new net's features are dominated by each image's colour, which is random here.
3. Trains the baseline the same way (same data, epochs, optimizer, schedule): a plain CNN of three
   conv-BN-ReLU layers (32, 64, 128 channels; max-pools after the first two, global average pooling,
   a linear classifier; 95,020 parameters, Kaiming-initialised like cvcourse.models) with about as
   many parameters as the SE-ResNet, but no shortcuts, no SE gates and 4 instead of 8 layers with
   weights. `--baseline-epochs N` gives it more epochs (e.g. as much wall time as the SE-ResNet);
   `--plain-image-norm` standardises its input images as `image_norm=True` does.
   `--models` adds `resnet_cifar` (no SE) and `plainnet_cifar` (the same layers without shortcuts),
   with the SE-ResNet's `image_norm` and `zero_mean_stem`.
4. Prints the parameter counts, validation accuracy and training time (the wall time of `fit`,
   validation after every epoch included), and as its LAST line one JSON object.

`OMP_WAIT_POLICY=PASSIVE` keeps idle OpenMP threads from spinning: on this shared 2-core VM they
otherwise steal the cores and make timings swing (see benchmarks/README.md). Measured numbers are in
benchmarks/README.md ("Classification").
"""
import argparse
import json
import math
import time

import torch
from torch import nn

from cvcourse.data.classification import SHAPE_CLASSES, ShapesClassification
from cvcourse.models import plainnet_cifar, resnet_cifar, se_resnet_cifar
from cvcourse.models.resnet import _ImageNorm  # what image_norm=True puts before the stem
from cvcourse.train import fit

THREADS = 2


def plain_cnn(num_classes: int, width: int = 32, image_norm: bool = False) -> nn.Sequential:
    """Three conv-BN-ReLU layers (width, 2 width, 4 width channels), max-pools, global pooling, linear;
    convolutions initialised as in cvcourse.models (Kaiming normal, fan_in); `image_norm`: each image
    standardised first, as in `ResNet(image_norm=True)`."""
    def conv(cin, cout):
        return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]

    model = nn.Sequential(*conv(3, width), nn.MaxPool2d(2), *conv(width, 2 * width), nn.MaxPool2d(2),
                          *conv(2 * width, 4 * width), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(4 * width, num_classes))
    if image_norm:
        model.insert(0, _ImageNorm())
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
    return model


def parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@torch.no_grad()
def confusion(model: nn.Module, dataset) -> torch.Tensor:
    """Tensor[K, K] int64: row = true class, column = predicted class, on `dataset`."""
    model.eval()
    predicted = torch.cat([model(dataset.images[i:i + 500].float() / 255).argmax(1)
                           for i in range(0, len(dataset), 500)])
    k = len(dataset.class_names)
    return torch.bincount(dataset.labels * k + predicted, minlength=k * k).reshape(k, k)


def train(model: nn.Module, train_set, val_set, args, epochs: int) -> tuple[float, float, list[float]]:
    """(final validation accuracy, seconds in fit, validation accuracy per epoch)."""
    model = model.to(memory_format=torch.channels_last)
    if args.optimizer == "sgd":
        optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, nesterov=True,
                                    weight_decay=args.weight_decay)
    else:
        optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    steps = epochs * math.ceil(len(train_set) / args.batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, args.lr, total_steps=steps, pct_start=args.warmup)
    began = time.perf_counter()
    history = fit(model, train_set, val_set, epochs=epochs, optimizer=optimizer, loss_fn=nn.CrossEntropyLoss(label_smoothing=args.label_smoothing),
                  scheduler=scheduler, scheduler_step="batch", batch_size=args.batch_size, device="cpu",
                  seed=args.seed, progress="lines" if args.verbose else False)
    seconds = time.perf_counter() - began
    return history["val_accuracy"][-1], seconds, history["val_accuracy"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--train", type=int, default=15000, help="training images")
    p.add_argument("--val", type=int, default=2000, help="validation images")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=0.4, help="OneCycle's peak learning rate")
    p.add_argument("--warmup", type=float, default=0.15, help="OneCycle's warm-up fraction")
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--optimizer", choices=("sgd", "adamw"), default="sgd", help="SGD (Nesterov momentum 0.9) or AdamW")
    p.add_argument("--label-smoothing", type=float, default=0.0)
    p.add_argument("--depth", type=int, default=8, help="SE-ResNet depth, 6n + 2")
    p.add_argument("--width", type=int, default=16, help="SE-ResNet width of the first stage")
    p.add_argument("--reduction", type=int, default=4, help="SE reduction")
    p.add_argument("--image-norm", action=argparse.BooleanOptionalAction, default=True,
                   help="ResNets: standardise each image before the stem (image_norm=True)")
    p.add_argument("--zero-mean-stem", action=argparse.BooleanOptionalAction, default=True,
                   help="ResNets: stem filters initialised with zero mean per input channel")
    p.add_argument("--plain-width", type=int, default=32, help="plain CNN width of the first layer")
    p.add_argument("--plain-image-norm", action="store_true", help="plain CNN: standardise each image first")
    p.add_argument("--baseline-epochs", type=int, help="epochs of the models other than se (default: --epochs)")
    p.add_argument("--models", nargs="+", choices=("se", "plain", "resnet", "plainnet"), default=("se", "plain"),
                   help="what to train: se (SE-ResNet), plain (the 3-conv baseline), resnet (no SE), "
                        "plainnet (the SE-ResNet's layers without shortcuts and SE)")
    p.add_argument("--seed", type=int, default=0, help="seed of fit (weights, shuffling)")
    p.add_argument("--verbose", action="store_true", help="one line per epoch (on stderr)")
    p.add_argument("--confusion", action="store_true", help="print each model's validation confusion matrix")
    args = p.parse_args()
    torch.set_num_threads(THREADS)

    began = time.perf_counter()
    train_set = ShapesClassification(args.train, seed=0)
    val_set = ShapesClassification(args.val, seed=1)
    generate = time.perf_counter() - began
    k = len(SHAPE_CLASSES)
    print(f"data: {args.train} training + {args.val} validation images, 32x32, {k} classes; "
          f"generated in {generate:.1f} s ({(args.train + args.val) / generate:.0f} images/s)")

    options = {"image_norm": args.image_norm, "zero_mean_stem": args.zero_mean_stem}
    makers = {"se": lambda: se_resnet_cifar(args.depth, k, args.reduction, args.width, **options),
              "plain": lambda: plain_cnn(k, args.plain_width, args.plain_image_norm),
              "resnet": lambda: resnet_cifar(args.depth, k, args.width, **options),
              "plainnet": lambda: plainnet_cifar(args.depth, k, args.width, **options)}
    names = {"se": f"SE-ResNet-{args.depth} (width {args.width}, r {args.reduction})",
             "plain": f"plain CNN (3 conv, width {args.plain_width})",
             "resnet": f"ResNet-{args.depth} (width {args.width})",
             "plainnet": f"PlainNet-{args.depth} (width {args.width})"}
    results, models = {}, {}
    for key, make in makers.items():
        if key not in args.models:
            continue
        torch.manual_seed(args.seed)                            # the initial weights
        model = models[key] = make()
        epochs = args.baseline_epochs if key != "se" and args.baseline_epochs else args.epochs
        accuracy, seconds, curve = train(model, train_set, val_set, args, epochs)
        results[key] = (accuracy, seconds, epochs)
        print(f"{names[key]}: val accuracy {accuracy:.4f} after {epochs} epochs, {seconds:.1f} s; "
              f"per epoch: {' '.join(f'{a:.3f}' for a in curve)}", flush=True)
        if args.confusion:
            matrix = confusion(model, val_set)
            print("confusion (rows: true class, columns: predicted):")
            for name, row in zip(SHAPE_CLASSES, matrix.tolist(), strict=True):
                print(f"  {name:>9s} " + " ".join(f"{v:4d}" for v in row))

    print(f"\n{'model':40s} {'params':>8s} {'epochs':>6s} {'val acc':>8s} {'train s':>8s}")
    for key, (accuracy, seconds, epochs) in results.items():
        print(f"{names[key]:40s} {parameters(models[key]):8d} {epochs:6d} {accuracy:8.4f} {seconds:8.1f}")
    out = {"train_images": args.train, "val_images": args.val, "epochs": args.epochs, "batch_size": args.batch_size,
           "generate_seconds": round(generate, 1)}
    baseline = next((key for key in ("plain", "plainnet", "resnet") if key in results), None)
    for key, prefix in (("se", ""), (baseline, "baseline_")):
        if key in results:
            accuracy, seconds, epochs = results[key]
            out.update({f"{prefix}val_accuracy": round(accuracy, 4), f"{prefix}train_seconds": round(seconds, 1),
                        f"{prefix}params": parameters(models[key])})
            if prefix:
                out.update(baseline=names[key], baseline_epochs=epochs)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
