"""Small versions of the classic CNNs, for the evolution timeline: LeNet-5, an AlexNet-style and a
VGG-style network, sized for 32x32 (CIFAR) or 28x28 (MNIST) inputs so that they train on a CPU;
and `evolution_table`, which lines them up with GoogLeNet, ResNet and SE-ResNet (params and MACs).

What each one introduced (what the small versions keep):

* LeNet-5 (1998): convolution + subsampling + fully connected layers, trained end to end by
  backpropagation; tanh, average pooling, 5x5 kernels.
* AlexNet (2012): much wider and deeper, ReLU, overlapping max-pooling (3x3, stride 2), local
  response normalisation, dropout in the large fully connected layers (most of the parameters).
* VGG (2015): only 3x3 convolutions, stacked in pairs (two 3x3 see 5x5 with fewer parameters and
  one more non-linearity), channels doubling after each 2x2 max-pool.

`input_size` is the side of the square input; the first fully connected layer is sized for it with
`cvcourse.sizes` (chapter 02), so any size the layers fit in works.

References:
    Y. LeCun, L. Bottou, Y. Bengio and P. Haffner, "Gradient-based learning applied to document
    recognition", Proc. IEEE 86(11), 1998.
    A. Krizhevsky, I. Sutskever and G. E. Hinton, "ImageNet classification with deep convolutional
    neural networks", NeurIPS 2012.
    K. Simonyan and A. Zisserman, "Very deep convolutional networks for large-scale image
    recognition", ICLR 2015.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from ..sizes import conv_output_size, pool_output_size, summary
from ._validate import _bool, _fraction, _init_weights, _int
from .inception import googlenet
from .resnet import resnet_cifar, se_resnet_cifar

__all__ = [
    "AlexNetSmall",
    "LeNet5",
    "VGGSmall",
    "alexnet_small",
    "evolution_table",
    "lenet5",
    "vgg_small",
]


def _final_size(model: str, input_size: int, layers: Sequence[tuple[str, int, int, int]]) -> int:
    """The side of the last feature map: `layers` are ("conv" | "pool", kernel, stride, padding)."""
    size = input_size
    try:
        for kind, k, s, p in layers:
            size = conv_output_size(size, k, s, p) if kind == "conv" else pool_output_size(size, k, s, p)
    except ValueError:
        raise ValueError(f"input_size: {input_size} pixels is too small for {model}'s layers") from None
    return size


class LeNet5(nn.Module):
    """LeNet-5 for 32x32 images: C1 conv 5x5 (6) - S2 pool - C3 conv 5x5 (16) - S4 pool - C5 conv 5x5
    (120) - F6 FC 84 - output, tanh activations.

    Simplifications (the usual modern reading of the paper): S2/S4 are plain 2x2 average pools (the
    paper's had a trainable coefficient and bias), C3 connects to all 6 maps (the paper used a
    sparse connection table), and the output layer is linear (the paper's were RBF units).
    61,706 parameters for 1 input channel and 10 classes.

    Args:
        num_classes: outputs (>= 1).
        in_channels: 1 for MNIST-like digits, 3 for RGB.
        input_size: the side of the square input: 32 (the paper), or 28 for MNIST (C1 then pads
            by 2, the paper's 32x32 field around a 28x28 digit), or more (C5's map is then larger
            than 1x1 and F6 gets more inputs).

    Shape: Tensor[N, in_channels, input_size, input_size] -> Tensor[N, num_classes].

    Reference: LeCun et al. 1998, sec. II.B and Fig. 2.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1, input_size: int = 32) -> None:
        super().__init__()
        num_classes, in_channels = _int("num_classes", num_classes, 1), _int("in_channels", in_channels, 1)
        input_size = _int("input_size", input_size, 1)
        pad = 2 if input_size == 28 else 0
        side = _final_size("LeNet5", input_size, [("conv", 5, 1, pad), ("pool", 2, 2, 0), ("conv", 5, 1, 0),
                                                  ("pool", 2, 2, 0), ("conv", 5, 1, 0)])
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, 5, padding=pad), nn.Tanh(), nn.AvgPool2d(2),  # C1, S2
            nn.Conv2d(6, 16, 5), nn.Tanh(), nn.AvgPool2d(2),                       # C3, S4
            nn.Conv2d(16, 120, 5), nn.Tanh(),                                      # C5
        )
        self.classifier = nn.Sequential(nn.Linear(120 * side * side, 84), nn.Tanh(), nn.Linear(84, num_classes))

    def forward(self, x: Tensor) -> Tensor:
        x = self.features(x).flatten(1)  # (N, 120) for 32x32 inputs
        return self.classifier(x)        # (N, num_classes)


class AlexNetSmall(nn.Module):
    """An AlexNet-style network at half of AlexNet's widths, for 32x32 images.

    Five convolutions (5x5 then 5x5 then three 3x3; channels 32, 96, 192, 128, 128 = half of
    torchvision's AlexNet), ReLU, LocalResponseNorm after the first two, overlapping 3x3/2 max-pools
    after conv 1, 2 and 5, then FC 512 - FC 512 - FC num_classes with dropout 0.5 before each of the
    first two. AlexNet's 11x11 stride-4 first layer is a 5x5 stride-1 one here (32 px, not 224).
    1,472,426 parameters for 3 input channels, 10 classes and 32x32 inputs.

    Args:
        num_classes: outputs (>= 1).
        in_channels: input channels (3 for RGB).
        input_size: the side of the square input (32 for CIFAR; >= 15 fits).
        dropout: in the classifier (0.5 in the paper).

    Shape: Tensor[N, in_channels, input_size, input_size] -> Tensor[N, num_classes].

    Reference: Krizhevsky et al. 2012, sec. 3 and Fig. 2.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 3, input_size: int = 32, dropout: float = 0.5) -> None:
        super().__init__()
        num_classes, in_channels = _int("num_classes", num_classes, 1), _int("in_channels", in_channels, 1)
        input_size, dropout = _int("input_size", input_size, 1), _fraction("dropout", dropout)
        side = _final_size("AlexNetSmall", input_size, [("conv", 5, 1, 2), ("pool", 3, 2, 0), ("conv", 5, 1, 2),
                                                        ("pool", 3, 2, 0), ("pool", 3, 2, 0)])
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 32, 5, padding=2), nn.ReLU(inplace=True), nn.LocalResponseNorm(5),
            nn.MaxPool2d(3, 2),                                                       # (N, 32, 15, 15)
            nn.Conv2d(32, 96, 5, padding=2), nn.ReLU(inplace=True), nn.LocalResponseNorm(5),
            nn.MaxPool2d(3, 2),                                                       # (N, 96, 7, 7)
            nn.Conv2d(96, 192, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(192, 128, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(128, 128, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),  # (N, 128, 3, 3)
        )
        self.classifier = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(128 * side * side, 512), nn.ReLU(inplace=True),
            nn.Dropout(dropout), nn.Linear(512, 512), nn.ReLU(inplace=True),
            nn.Linear(512, num_classes),
        )
        _init_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        x = self.features(x).flatten(1)  # (N, 128 * 3 * 3) for 32x32 inputs
        return self.classifier(x)        # (N, num_classes)


class VGGSmall(nn.Module):
    """A VGG-style network for 32x32 images: three stages of two 3x3 convolutions (32, 64, 128
    channels) each followed by a 2x2 max-pool, then FC 256 - FC 256 - FC num_classes with dropout.

    The VGG recipe at a CPU-friendly size: 3x3 kernels only (padding 1 keeps the size), the
    channels doubling whenever the resolution halves. 880,202 parameters for 3 input channels,
    10 classes and 32x32 inputs.

    Args:
        num_classes: outputs (>= 1).
        in_channels: input channels (3 for RGB).
        input_size: the side of the square input (32 for CIFAR, 28 for MNIST; >= 8 fits).
        batch_norm: BatchNorm2d after each convolution (not in the paper, which predates it;
            it makes the net much easier to train).
        dropout: in the classifier (0.5 in the paper).

    Shape: Tensor[N, in_channels, input_size, input_size] -> Tensor[N, num_classes].

    Reference: Simonyan & Zisserman 2015, Table 1 (the recipe of configurations A-E).
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 3, input_size: int = 32,
                 batch_norm: bool = False, dropout: float = 0.5) -> None:
        super().__init__()
        num_classes, in_channels = _int("num_classes", num_classes, 1), _int("in_channels", in_channels, 1)
        input_size, bn = _int("input_size", input_size, 1), _bool("batch_norm", batch_norm)
        dropout = _fraction("dropout", dropout)
        side = _final_size("VGGSmall", input_size, [("pool", 2, 2, 0)] * 3)
        layers: list[nn.Module] = []
        channels = in_channels
        for width in (32, 64, 128):
            for _ in range(2):
                layers += [nn.Conv2d(channels, width, 3, padding=1, bias=not bn),
                           *([nn.BatchNorm2d(width)] if bn else []), nn.ReLU(inplace=True)]
                channels = width
            layers.append(nn.MaxPool2d(2))  # halves H and W
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Linear(128 * side * side, 256), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(256, 256), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(256, num_classes),
        )
        _init_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        x = self.features(x).flatten(1)  # (N, 128 * 4 * 4) for 32x32 inputs
        return self.classifier(x)        # (N, num_classes)


def lenet5(num_classes: int = 10, in_channels: int = 1, input_size: int = 32) -> LeNet5:
    """LeNet-5 (see `LeNet5`).

    Args:
        num_classes: outputs.
        in_channels: input channels.
        input_size: 32, or 28 for MNIST (padded by 2 in C1).

    Returns:
        LeNet5: Tensor[N, in_channels, input_size, input_size] -> Tensor[N, num_classes].

    Reference: LeCun et al. 1998.
    """
    return LeNet5(num_classes, in_channels, input_size)


def alexnet_small(num_classes: int = 10, in_channels: int = 3, input_size: int = 32) -> AlexNetSmall:
    """An AlexNet-style network for 32x32 images (see `AlexNetSmall`).

    Args:
        num_classes: outputs.
        in_channels: input channels.
        input_size: the side of the square input.

    Returns:
        AlexNetSmall: Tensor[N, in_channels, input_size, input_size] -> Tensor[N, num_classes].

    Reference: Krizhevsky et al. 2012.
    """
    return AlexNetSmall(num_classes, in_channels, input_size)


def vgg_small(num_classes: int = 10, in_channels: int = 3, input_size: int = 32, batch_norm: bool = False) -> VGGSmall:
    """A VGG-style network for 32x32 images (see `VGGSmall`).

    Args:
        num_classes: outputs.
        in_channels: input channels.
        input_size: the side of the square input.
        batch_norm: BatchNorm2d after each convolution.

    Returns:
        VGGSmall: Tensor[N, in_channels, input_size, input_size] -> Tensor[N, num_classes].

    Reference: Simonyan & Zisserman 2015.
    """
    return VGGSmall(num_classes, in_channels, input_size, batch_norm)


# (name, year, reference, builder(num_classes, in_channels, input_size))
_TIMELINE: tuple[tuple[str, int, str, Callable[[int, int, int], nn.Module]], ...] = (
    ("LeNet-5", 1998, "LeCun et al. 1998", lambda k, c, s: LeNet5(k, c, s)),
    ("AlexNet (small)", 2012, "Krizhevsky et al. 2012", lambda k, c, s: AlexNetSmall(k, c, s)),
    ("VGG (small)", 2015, "Simonyan & Zisserman 2015", lambda k, c, s: VGGSmall(k, c, s)),
    ("GoogLeNet (small, width 0.25)", 2015, "Szegedy et al. 2015",
     lambda k, c, s: googlenet(k, aux_logits=False, width=0.25, stem="small", in_channels=c)),
    ("ResNet-20", 2016, "He et al. 2016", lambda k, c, s: resnet_cifar(20, k, in_channels=c)),
    ("SE-ResNet-20", 2018, "Hu et al. 2018", lambda k, c, s: se_resnet_cifar(20, k, in_channels=c)),
)


def evolution_table(input_shape: Sequence[int] = (1, 3, 32, 32), num_classes: int = 10) -> list[dict[str, Any]]:
    """Parameters and multiply-accumulates of the small classic CNNs and their successors, in order.

    The models: `LeNet5`, `AlexNetSmall`, `VGGSmall`, `googlenet(width=0.25, stem="small",
    aux_logits=False)` (the inference network: the aux heads are dropped after training), and
    `resnet_cifar(20)`, `se_resnet_cifar(20)`. Each is built for `input_shape`'s channels and size
    and measured with `cvcourse.sizes.summary` (one forward pass on zeros). The global random
    state is left untouched.

    Args:
        input_shape: (N, C, S, S), a square input; MACs are for the whole batch of N.
        num_classes: outputs of every model (>= 1).

    Returns:
        One dict per model, oldest first: {"name": str, "year": int, "reference": str,
        "params": int, "macs": int}.

    Raises:
        TypeError: input_shape is not a sequence of 4 ints.
        ValueError: the input is not square, or too small for one of the models.

    References: the papers of the models (see the `reference` of each row).
    """
    if not isinstance(input_shape, (tuple, list)) or len(input_shape) != 4:
        raise TypeError(f"input_shape: expected (N, C, S, S), got {input_shape!r}")
    n, c, h, w = (_int(f"input_shape[{i}]", v, 1) for i, v in enumerate(input_shape))
    if h != w:
        raise ValueError(f"input_shape: expected a square input (N, C, S, S), got H={h}, W={w}")
    num_classes = _int("num_classes", num_classes, 1)
    rows = []
    with torch.random.fork_rng(devices=[]):
        for name, year, reference, build in _TIMELINE:
            found = summary(build(num_classes, c, h), (n, c, h, w), print_table=False)
            rows.append(dict(name=name, year=year, reference=reference, params=found.total_params,
                             macs=found.total_macs))
    return rows
