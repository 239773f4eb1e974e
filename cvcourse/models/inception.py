"""Inception modules and GoogLeNet (chapter 03).

An Inception module runs 1x1, 3x3 and 5x5 convolutions and a 3x3 max-pool side by side on the same
input and concatenates their outputs along the channels, so the next layer sees features of several
scales. The naive version (`InceptionNaive`) is expensive: the 3x3 and 5x5 convolutions see all input
channels and the pool passes all of them on, so the width grows at every module. `Inception` puts
1x1 convolutions ("reductions") before the 3x3 and 5x5 convolutions and after the pool: a cheap
channel mixing that cuts their cost several times (chapter 01: a 1x1 conv is a matrix product).

`GoogLeNet` stacks nine Inception modules (3a-5b) with the branch widths of the paper's Table 1
(`INCEPTION_CONFIG`). Two auxiliary classifiers, after 4a and 4d, add a loss during training to give
the lower layers a gradient of their own; they are run in training mode only.

`branch_costs` lists the parameters and multiply-accumulates of each branch of one module (naive or
reduced), and `draw_inception` draws a module as a diagram (chapter 03).

Choices (documented once):

* `batch_norm=False` (default) is the paper: convolutions with biases, ReLU, no BatchNorm (GoogLeNet
  predates it), and the two LocalResponseNorm layers of the stem. `batch_norm=True` gives each conv
  BatchNorm2d (conv bias dropped) and drops the LRNs, as torchvision does; it trains far more easily.
* `width` multiplies every channel count (convolutions, the aux heads' 128 channels and 1024 hidden
  units); each count is rounded, at least 1. `width=1.0` is the paper.
* `stem="imagenet"` is the paper's stem for 224x224 inputs (7x7/2 conv, max-pool, LRN, 1x1 and 3x3
  convs, LRN, max-pool: H/8). The aux heads then pool 5x5 with stride 3, which needs the 14x14 maps of
  a 224x224 input (4x4 out). `stem="small"` is one 3x3 conv (stride 1) and one 3x3/2 max-pool (H/2)
  for 32-64 px images: the Inception stages see 16-32, 8-16 and 4-8 px maps, and the aux heads pool
  adaptively to 4x4 instead.
* Max-pools with stride 2 use `ceil_mode=True` (Caffe's rounding: 112 -> 56 -> 28 -> 14 -> 7).

Parameter counts, 1000 classes (`tests/test_models_inception.py`): paper version 6,998,552 without
the aux heads, 13,378,280 with them; with BatchNorm 7,005,832 / 13,385,816.

Reference: C. Szegedy, W. Liu, Y. Jia, P. Sermanet, S. Reed, D. Anguelov, D. Erhan, V. Vanhoucke and
A. Rabinovich, "Going deeper with convolutions", CVPR 2015 (Fig. 2, Table 1, sec. 5).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..sizes import summary
from ._validate import _bool, _choice, _fraction, _init_weights, _int, _positive_float, _scaled

__all__ = [
    "BRANCH_NAMES",
    "INCEPTION_CONFIG",
    "STEMS",
    "GoogLeNet",
    "GoogLeNetOutputs",
    "Inception",
    "InceptionAux",
    "InceptionNaive",
    "branch_costs",
    "draw_inception",
    "googlenet",
    "googlenet_loss",
]

STEMS = ("imagenet", "small")
BRANCH_NAMES = ("1x1", "3x3", "5x5", "pool")   # the branches of a module, in concatenation order

# Table 1 of the paper: (#1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj) per module.
INCEPTION_CONFIG: dict[str, tuple[int, int, int, int, int, int]] = {
    "3a": (64, 96, 128, 16, 32, 32),
    "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64),
    "4b": (160, 112, 224, 24, 64, 64),
    "4c": (128, 128, 256, 24, 64, 64),
    "4d": (112, 144, 288, 32, 64, 64),
    "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128),
    "5b": (384, 192, 384, 48, 128, 128),
}


def _conv(in_channels: int, out_channels: int, kernel_size: int, batch_norm: bool, stride: int = 1) -> nn.Sequential:
    """Conv2d (padding k // 2) + ReLU, or Conv2d (no bias) + BatchNorm2d + ReLU."""
    conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, kernel_size // 2, bias=not batch_norm)
    norm = [nn.BatchNorm2d(out_channels)] if batch_norm else []
    return nn.Sequential(conv, *norm, nn.ReLU(inplace=True))


class InceptionNaive(nn.Module):
    """The naive Inception module (Szegedy et al. 2015, Fig. 2a): 1x1, 3x3 and 5x5 convolutions and
    a 3x3 max-pool (stride 1) on the same input, concatenated.

    The pool branch passes all C_in channels on, so the output is wider than the input, and the 3x3
    and 5x5 convolutions cost H*W*C_in*C_out*k^2 MACs each on the full input depth.

    Args:
        in_channels: C_in (>= 1).
        ch1x1, ch3x3, ch5x5: the output channels of the three convolutions (>= 1).
        batch_norm: BatchNorm2d after each convolution (see the module docstring).

    Shape: Tensor[N, C_in, H, W] -> Tensor[N, ch1x1 + ch3x3 + ch5x5 + C_in, H, W].
    """

    def __init__(self, in_channels: int, ch1x1: int, ch3x3: int, ch5x5: int, *, batch_norm: bool = False) -> None:
        super().__init__()
        c_in = _int("in_channels", in_channels, 1)
        c1, c3, c5 = _int("ch1x1", ch1x1, 1), _int("ch3x3", ch3x3, 1), _int("ch5x5", ch5x5, 1)
        bn = _bool("batch_norm", batch_norm)
        self.branch1 = _conv(c_in, c1, 1, bn)
        self.branch2 = _conv(c_in, c3, 3, bn)
        self.branch3 = _conv(c_in, c5, 5, bn)
        self.branch4 = nn.MaxPool2d(3, stride=1, padding=1)
        self.out_channels = c1 + c3 + c5 + c_in

    def forward(self, x: Tensor) -> Tensor:
        branches = (self.branch1, self.branch2, self.branch3, self.branch4)
        return torch.cat([b(x) for b in branches], dim=1)  # (N, c1 + c3 + c5 + C_in, H, W)


class Inception(nn.Module):
    """The Inception module with dimension reductions (Szegedy et al. 2015, Fig. 2b).

    Four branches on the same input, concatenated along the channels:
        1x1 conv (ch1x1);  1x1 conv (ch3x3red) -> 3x3 conv (ch3x3);
        1x1 conv (ch5x5red) -> 5x5 conv (ch5x5);  3x3 max-pool, stride 1 -> 1x1 conv (pool_proj).
    Every convolution is followed by a ReLU (and BatchNorm2d before it with `batch_norm=True`).

    Args:
        in_channels: C_in (>= 1).
        ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj: the columns of the paper's Table 1
            (>= 1); see `INCEPTION_CONFIG`.
        batch_norm: BatchNorm2d after each convolution.

    Shape: Tensor[N, C_in, H, W] -> Tensor[N, ch1x1 + ch3x3 + ch5x5 + pool_proj, H, W].
    """

    def __init__(self, in_channels: int, ch1x1: int, ch3x3red: int, ch3x3: int, ch5x5red: int, ch5x5: int,
                 pool_proj: int, *, batch_norm: bool = False) -> None:
        super().__init__()
        names = ("in_channels", "ch1x1", "ch3x3red", "ch3x3", "ch5x5red", "ch5x5", "pool_proj")
        values = (in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj)
        c_in, c1, c3r, c3, c5r, c5, cp = (_int(n, v, 1) for n, v in zip(names, values, strict=True))
        bn = _bool("batch_norm", batch_norm)
        self.branch1 = _conv(c_in, c1, 1, bn)
        self.branch2 = nn.Sequential(_conv(c_in, c3r, 1, bn), _conv(c3r, c3, 3, bn))
        self.branch3 = nn.Sequential(_conv(c_in, c5r, 1, bn), _conv(c5r, c5, 5, bn))
        self.branch4 = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1), _conv(c_in, cp, 1, bn))
        self.out_channels = c1 + c3 + c5 + cp

    def forward(self, x: Tensor) -> Tensor:
        branches = (self.branch1, self.branch2, self.branch3, self.branch4)
        return torch.cat([b(x) for b in branches], dim=1)  # (N, c1 + c3 + c5 + cp, H, W)


class InceptionAux(nn.Module):
    """An auxiliary classifier (Szegedy et al. 2015, sec. 5): average pool to 4x4, 1x1 conv (128),
    FC 1024 + ReLU, dropout 0.7, FC num_classes.

    Args:
        in_channels: C (512 after 4a, 528 after 4d, times the width).
        num_classes: outputs (>= 1).
        width: multiplies the 128 channels and the 1024 hidden units.
        pool: "5x5/3" (the paper: `AvgPool2d(5, stride=3)`, 14x14 -> 4x4) or "adaptive"
            (`AdaptiveAvgPool2d(4)`, any map of at least 1x1 pixels).
        batch_norm: BatchNorm2d after the 1x1 conv.
        dropout: the dropout probability (0.7 in the paper).

    Shape: Tensor[N, C, H, W] -> Tensor[N, num_classes] (H, W in 14..16 with pool "5x5/3").
    """

    def __init__(self, in_channels: int, num_classes: int, *, width: float = 1.0, pool: str = "5x5/3",
                 batch_norm: bool = False, dropout: float = 0.7) -> None:
        super().__init__()
        in_channels, num_classes = _int("in_channels", in_channels, 1), _int("num_classes", num_classes, 1)
        width = _positive_float("width", width)
        _choice("pool", pool, ("5x5/3", "adaptive"))
        channels, hidden = _scaled(128, width), _scaled(1024, width)
        self.pool = nn.AvgPool2d(5, stride=3) if pool == "5x5/3" else nn.AdaptiveAvgPool2d(4)
        self.conv = _conv(in_channels, channels, 1, _bool("batch_norm", batch_norm))
        self.fc1 = nn.Linear(channels * 4 * 4, hidden)
        self.relu = nn.ReLU(inplace=True)
        self.dropout = nn.Dropout(_fraction("dropout", dropout))
        self.fc2 = nn.Linear(hidden, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv(self.pool(x)).flatten(1)     # (N, 128w * 4 * 4)
        x = self.dropout(self.relu(self.fc1(x)))  # (N, 1024w)
        return self.fc2(x)                         # (N, num_classes)


class GoogLeNetOutputs(NamedTuple):
    """What `GoogLeNet` returns in training mode with aux heads: three Tensor[N, num_classes] logits."""

    logits: Tensor
    aux1: Tensor
    aux2: Tensor


class GoogLeNet(nn.Module):
    """GoogLeNet (Inception v1): stem, Inception 3a-3b, max-pool, 4a-4e, max-pool, 5a-5b, global
    average pooling, dropout 0.4 and a fully connected classifier; aux classifiers after 4a and 4d.

    Args:
        num_classes: outputs (>= 1).
        aux_logits: build the two auxiliary classifiers (used in training mode only).
        width: channel multiplier (> 0); 1.0 is the paper.
        stem: "imagenet" (224x224 inputs) or "small" (32-64 px inputs); see the module docstring.
        batch_norm: False is the paper (conv biases, LRN in the stem); True adds BatchNorm2d.
        in_channels: channels of the input images (3 for RGB).
        dropout: before the classifier (0.4 in the paper).
        aux_dropout: inside the aux heads (0.7 in the paper).

    Shape: Tensor[N, in_channels, H, W] ->
        eval mode, or aux_logits=False: Tensor[N, num_classes] (logits);
        train mode with aux_logits: GoogLeNetOutputs(logits, aux1, aux2), each Tensor[N, num_classes].
    With the ImageNet stem, training mode needs 224x224-sized inputs (the aux heads' 5x5/3 pool).

    Reference: Szegedy et al. 2015, Table 1 and sec. 5.
    """

    def __init__(self, num_classes: int = 1000, aux_logits: bool = True, *, width: float = 1.0,
                 stem: str = "imagenet", batch_norm: bool = False, in_channels: int = 3,
                 dropout: float = 0.4, aux_dropout: float = 0.7) -> None:
        super().__init__()
        num_classes, in_channels = _int("num_classes", num_classes, 1), _int("in_channels", in_channels, 1)
        aux_logits, bn = _bool("aux_logits", aux_logits), _bool("batch_norm", batch_norm)
        width, stem = _positive_float("width", width), _choice("stem", stem, STEMS)
        dropout, aux_dropout = _fraction("dropout", dropout), _fraction("aux_dropout", aux_dropout)

        def c(channels: int) -> int:
            return _scaled(channels, width)

        if stem == "imagenet":
            def lrn() -> list[nn.Module]:  # the paper's LocalRespNorm (Caffe's settings); none with BN
                return [] if bn else [nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75)]

            self.stem = nn.Sequential(
                _conv(in_channels, c(64), 7, bn, stride=2), nn.MaxPool2d(3, 2, ceil_mode=True), *lrn(),
                _conv(c(64), c(64), 1, bn), _conv(c(64), c(192), 3, bn), *lrn(), nn.MaxPool2d(3, 2, ceil_mode=True))
        else:
            self.stem = nn.Sequential(_conv(in_channels, c(192), 3, bn), nn.MaxPool2d(3, 2, ceil_mode=True))

        channels = c(192)
        for name, widths in INCEPTION_CONFIG.items():
            module = Inception(channels, *map(c, widths), batch_norm=bn)
            setattr(self, f"inception{name}", module)
            channels = module.out_channels
        self.pool3 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.pool4 = nn.MaxPool2d(3, 2, ceil_mode=True)

        self.aux1: InceptionAux | None = None
        self.aux2: InceptionAux | None = None
        if aux_logits:
            pool = "5x5/3" if stem == "imagenet" else "adaptive"
            kw: dict[str, Any] = dict(width=width, pool=pool, batch_norm=bn, dropout=aux_dropout)
            self.aux1 = InceptionAux(self.inception4a.out_channels, num_classes, **kw)
            self.aux2 = InceptionAux(self.inception4d.out_channels, num_classes, **kw)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(channels, num_classes)
        _init_weights(self)

    def forward(self, x: Tensor) -> Tensor | GoogLeNetOutputs:
        x = self.stem(x)           # (N, 192w, H/8, W/8) imagenet stem; (N, 192w, H/2, W/2) small stem
        x = self.inception3a(x)    # (N, 256w, ...)
        x = self.inception3b(x)    # (N, 480w, ...)
        x = self.pool3(x)          # (N, 480w, H/16, W/16) imagenet; (N, 480w, H/4, W/4) small
        x = self.inception4a(x)    # (N, 512w, ...)
        aux = self.training and self.aux1 is not None
        aux1 = self.aux1(x) if aux else None
        x = self.inception4b(x)    # (N, 512w, ...)
        x = self.inception4c(x)    # (N, 512w, ...)
        x = self.inception4d(x)    # (N, 528w, ...)
        aux2 = self.aux2(x) if aux else None
        x = self.inception4e(x)    # (N, 832w, ...)
        x = self.pool4(x)          # (N, 832w, H/32, W/32) imagenet; (N, 832w, H/8, W/8) small
        x = self.inception5a(x)    # (N, 832w, ...)
        x = self.inception5b(x)    # (N, 1024w, ...)
        x = self.avgpool(x).flatten(1)   # (N, 1024w)
        logits = self.fc(self.dropout(x))  # (N, num_classes)
        return GoogLeNetOutputs(logits, aux1, aux2) if aux else logits


def googlenet(num_classes: int = 1000, aux_logits: bool = True, **kwargs: Any) -> GoogLeNet:
    """GoogLeNet as in the paper (224x224 inputs; no BatchNorm), or a variant through `kwargs`.

    Args:
        num_classes: outputs (>= 1).
        aux_logits: build the two auxiliary classifiers (active in training mode only).
        **kwargs: further `GoogLeNet` keywords: width, stem ("imagenet" or "small"), batch_norm,
            in_channels, dropout, aux_dropout.

    Returns:
        GoogLeNet: Tensor[N, 3, H, W] -> Tensor[N, num_classes] in eval mode,
        GoogLeNetOutputs(logits, aux1, aux2) in train mode with aux_logits.

    Reference: Szegedy et al. 2015.
    """
    return GoogLeNet(num_classes, aux_logits, **kwargs)


def googlenet_loss(outputs: Tensor | GoogLeNetOutputs, targets: Tensor, aux_weight: float = 0.3) -> Tensor:
    """GoogLeNet's training loss: CE(logits) + aux_weight * (CE(aux1) + CE(aux2)); plain cross-entropy
    for plain logits (eval mode or no aux heads).

    Args:
        outputs: Tensor[N, K] logits, or GoogLeNetOutputs(logits, aux1, aux2) of Tensor[N, K].
        targets: Tensor[N] class indices in [0, K) (integer), or Tensor[N, K] class probabilities
            (float), as `F.cross_entropy` takes them.
        aux_weight: the weight of each auxiliary loss (>= 0; 0.3 in the paper).

    Returns:
        Tensor[] (a scalar): the mean loss over the batch.

    Raises:
        TypeError: `outputs` or `targets` is not a tensor (tuple) of the expected kind.
        ValueError: the shapes do not match, or aux_weight is negative or not finite.

    Reference: Szegedy et al. 2015, sec. 5 ("their loss gets added to the total loss of the network
    with a discount weight (the losses of the auxiliary classifiers were weighted by 0.3)").
    """
    if isinstance(aux_weight, bool) or not isinstance(aux_weight, (int, float)):
        raise TypeError(f"aux_weight: expected a float >= 0, got {type(aux_weight).__name__} {aux_weight!r}")
    if not aux_weight >= 0 or aux_weight == float("inf"):
        raise ValueError(f"aux_weight: expected a finite float >= 0, got {aux_weight}")
    if isinstance(outputs, Tensor):
        heads = [("outputs", outputs)]
    elif isinstance(outputs, tuple) and len(outputs) == 3 and all(isinstance(o, Tensor) for o in outputs):
        heads = list(zip(("outputs.logits", "outputs.aux1", "outputs.aux2"), outputs, strict=True))
    else:
        raise TypeError(f"outputs: expected Tensor[N, K] logits or GoogLeNetOutputs(logits, aux1, aux2), "
                        f"got {type(outputs).__name__}")
    for name, logits in heads:
        if logits.dim() != 2 or not logits.is_floating_point():
            raise ValueError(f"{name}: expected floating-point Tensor[N, K] logits, got {logits.dtype} "
                             f"Tensor{list(logits.shape)}")
        if logits.shape != heads[0][1].shape:
            raise ValueError(f"{name}: expected the shape of outputs.logits {list(heads[0][1].shape)}, "
                             f"got {list(logits.shape)}")
    _check_targets(targets, heads[0][1].shape)
    losses = [F.cross_entropy(logits, targets) for _, logits in heads]
    return losses[0] if len(losses) == 1 else losses[0] + aux_weight * (losses[1] + losses[2])


def _check_targets(targets: Any, shape: torch.Size) -> None:
    n, k = shape
    if not isinstance(targets, Tensor) or targets.dtype == torch.bool:
        raise TypeError(f"targets: expected a Tensor[N] of class indices, got {type(targets).__name__}")
    if targets.is_floating_point():
        if targets.shape != shape:
            raise ValueError(f"targets: float targets are class probabilities, expected Tensor{[n, k]}, "
                             f"got Tensor{list(targets.shape)}")
        return
    if targets.shape != (n,):
        raise ValueError(f"targets: expected Tensor[{n}] class indices (one per row of the logits), "
                         f"got Tensor{list(targets.shape)}")
    if n and (targets.min() < 0 or targets.max() >= k):
        raise ValueError(f"targets: class indices must be in [0, {k}), got values in "
                         f"[{int(targets.min())}, {int(targets.max())}]")


# ----------------------------------------------------------------------------- looking at one module
def _branch_layers(module: Inception | InceptionNaive) -> tuple[int, list[list[tuple[str, int, int]]]]:
    """(C_in, per branch its convolutions and pools in order as (kind, kernel, out_channels)); kind is
    "conv" or "pool", and a pool's out_channels are what it passes on."""
    if not isinstance(module, (Inception, InceptionNaive)):
        raise TypeError(f"module: expected a cvcourse.models Inception or InceptionNaive, got {type(module).__name__}")
    c_in = module.branch1[0].in_channels
    branches = []
    for branch in (module.branch1, module.branch2, module.branch3, module.branch4):
        layers = []
        for m in branch.modules():
            if isinstance(m, nn.Conv2d):
                layers.append(("conv", m.kernel_size[0], m.out_channels))
            elif isinstance(m, nn.MaxPool2d):
                layers.append(("pool", m.kernel_size, c_in))
        branches.append(layers)
    return c_in, branches


def branch_costs(module: Inception | InceptionNaive, input_shape: Sequence[int]) -> list[dict[str, Any]]:
    """Parameters and multiply-accumulates of each branch of an Inception module, in concatenation order.

    Measured with `cvcourse.sizes.summary` (one forward pass on zeros; MACs of the convolutions for
    the whole batch, biases excluded; pooling and ReLU count 0).

    Args:
        module: an `Inception` or an `InceptionNaive`.
        input_shape: (N, C_in, H, W), e.g. (1, 192, 28, 28) for the paper's 3a.

    Returns:
        Four dicts, one per branch in the order of `BRANCH_NAMES` ("1x1", "3x3", "5x5", "pool"):
        {"branch": name, "channels": its output channels, "params": int, "macs": int}.

    Raises:
        TypeError: `module` is not an Inception module.
        TypeError / ValueError: a bad `input_shape` (see `summary`); a shape the module cannot take
            raises PyTorch's error.

    Reference: Szegedy et al. 2015, sec. 4 (the cost of the naive module) and Table 1.
    """
    _branch_layers(module)  # validates `module`
    rows = summary(module, input_shape, print_table=False).rows
    costs = []
    for i, name in enumerate(BRANCH_NAMES, start=1):
        mine = [r for r in rows if r.name.split(".")[0] == f"branch{i}"]
        costs.append(dict(branch=name, channels=mine[-1].output_shape[1], params=sum(r.params for r in mine),
                          macs=sum(r.macs for r in mine)))
    return costs


_COLOURS = {"1x1": "#fdf2b3", "3x3": "#fdd0a2", "5x5": "#c6dbef", "pool": "#f4b6b6"}


def draw_inception(module: Inception | InceptionNaive, ax: Any = None, title: str | None = None) -> Any:
    """Draw an Inception module as a diagram: the input at the bottom, the four branches side by side
    (each layer a box with its kernel and output channels), their concatenation at the top.

    Colours: 1x1 convolutions yellow, 3x3 orange, 5x5 blue, max-pools red (as in the paper's Fig. 2).

    Args:
        module: an `Inception` (Fig. 2b) or an `InceptionNaive` (Fig. 2a).
        ax: the matplotlib Axes to draw on; a new figure if None.
        title: the Axes' title (default: the module's class name and its channels in and out).

    Returns:
        The matplotlib Axes.

    Raises:
        TypeError: `module` is not an Inception module.

    Reference: Szegedy et al. 2015, Fig. 2.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    c_in, branches = _branch_layers(module)
    rows = max(len(layers) for layers in branches)
    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 4.0))
    width, height = 1.6, 0.55

    def box(x: float, y: float, text: str, colour: str, w: float = width) -> None:
        ax.add_patch(FancyBboxPatch((x - w / 2, y - height / 2), w, height, boxstyle="round,pad=0.03",
                                    facecolor=colour, edgecolor="0.3"))
        ax.text(x, y, text, ha="center", va="center", fontsize=9)

    def arrow(x0: float, y0: float, x1: float, y1: float) -> None:
        ax.annotate("", xy=(x1, y1), xytext=(x0, y0), arrowprops=dict(arrowstyle="->", color="0.3"))

    top, low = rows + 1, (2 - rows) / 2          # a one-row (naive) module is centred in the same frame
    box(3.0, low, f"input: {c_in} channels", "0.92", w=3.5)
    box(3.0, low + top, f"concatenate: {module.out_channels} channels", "0.92", w=3.5)
    for column, layers in enumerate(branches):
        x = column * 2.0
        levels = range(rows - len(layers) + 1, rows + 1)   # a short branch sits at the top
        y_prev = None
        for (kind, k, channels), level in zip(layers, levels, strict=True):
            name = f"{k}x{k} max-pool" if kind == "pool" else f"{k}x{k} conv"
            box(x, low + level, f"{name}\n{channels} ch", _COLOURS["pool" if kind == "pool" else f"{k}x{k}"])
            if y_prev is None:
                arrow(min(max(x, 1.45), 4.55), low + height / 2, x, low + level - height / 2)   # from the input box
            else:
                arrow(x, y_prev, x, low + level - height / 2)
            y_prev = low + level + height / 2
        arrow(x, y_prev, min(max(x, 1.45), 4.55), low + top - height / 2)
    ax.set_xlim(-1.0, 7.0)
    ax.set_ylim(-0.6, 3.6)
    ax.axis("off")
    ax.set_title(title if title is not None else f"{type(module).__name__}: {c_in} -> {module.out_channels} channels",
                 fontsize=10)
    return ax
