"""ResNet (chapter 04), its plain twin for the degradation experiment, and SE-ResNets (chapter 05).

A residual block computes y = relu(F(x) + shortcut(x)): the layers F only have to learn the change
to x, and the identity shortcut gives the gradient a path that skips them. A plain network has the
same layers without the shortcut, y = relu(F(x)); He et al. showed that the deeper plain nets train
*worse* (higher training error) than shallower ones, while deeper ResNets train better.

Conventions (torchvision's, so the ImageNet parameter counts match the published ones):

* Convolutions have no bias (BatchNorm2d follows each one); Kaiming-normal initialisation.
* Shortcuts are the identity when the shape is kept and a projection (1x1 conv with the block's
  stride + BatchNorm2d, the paper's option B) when the channels or the resolution change, also in
  the CIFAR nets, where the paper used option A (subsampling and zero-padding the extra channels,
  no parameters). Option B adds 2,752 parameters to the CIFAR ResNet-20.
* `Bottleneck` strides in its 3x3 convolution (torchvision's "ResNet v1.5"; the paper strided the
  first 1x1): the same parameter count, slightly more accurate.
* `zero_init_residual=True` sets the last BN gamma of every residual branch to 0, so each block
  starts as the identity (Goyal et al. 2017); off by default, as in torchvision.
* Two options for images whose colours carry no class information (the synthetic shapes: a random
  colour on a random background), both off by default: `image_norm=True` standardises each image
  before the stem (minus its mean colour, divided by its standard deviation), and
  `zero_mean_stem=True` initialises the stem's filters with zero mean over each input channel's
  kernel, so that at the start they answer edges and not flat colour. Without them the SE-ResNet-8
  of benchmarks/classification.py spends its first 2-3 epochs near chance: the features of a
  freshly initialised net are dominated by the image's colour, which says nothing about the class.

Parameter counts (ImageNet, 1000 classes; `python -m pytest tests/test_models_resnet.py`):
ResNet-18 11,689,512; -34 21,797,672; -50 25,557,032; -101 44,549,160; -152 60,192,808;
SE-ResNet-50 28,088,024.

References:
    K. He, X. Zhang, S. Ren and J. Sun, "Deep residual learning for image recognition", CVPR 2016
    (Table 1: the ImageNet configurations; sec. 4.2: the CIFAR-10 nets and the plain baselines).
    J. Hu, L. Shen and G. Sun, "Squeeze-and-Excitation Networks", CVPR 2018 (Fig. 3: SE-ResNet).
    P. Goyal et al., "Accurate, large minibatch SGD: training ImageNet in 1 hour", arXiv:1706.02677, 2017.
    K. Jarrett, K. Kavukcuoglu, M. Ranzato and Y. LeCun, "What is the best multi-stage architecture
    for object recognition?", ICCV 2009 (contrast normalisation of the input; `image_norm` is the
    per-image form, TensorFlow's `tf.image.per_image_standardization`).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from ._validate import _bool, _choice, _init_weights, _int
from .se import SEBlock

__all__ = [
    "BasicBlock",
    "Bottleneck",
    "PlainNet",
    "ResNet",
    "plainnet_cifar",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
    "resnet_cifar",
    "se_resnet50",
    "se_resnet_cifar",
]

STEMS = ("imagenet", "cifar")


def _projection(in_channels: int, out_channels: int, stride: int, shortcut: bool) -> nn.Module | None:
    """The block's shortcut: None (plain block), the identity, or a 1x1 conv + BN where the shape changes."""
    if not shortcut:
        return None
    if stride == 1 and in_channels == out_channels:
        return nn.Identity()
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride, bias=False), nn.BatchNorm2d(out_channels))


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a shortcut: relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)).

    The block of ResNet-18/34 and of the CIFAR ResNets (He et al. 2016, Fig. 2 and Fig. 5 left).

    Args:
        in_channels: C_in (>= 1).
        out_channels: C_out (>= 1).
        stride: the stride of the first conv (and of the projection): 1 or 2 in ResNets.
        shortcut: False gives the plain block, relu(F(x)), for `PlainNet`.
        se_reduction: if set, an `SEBlock(C_out, se_reduction)` rescales the residual branch
            before the addition (Hu et al. 2018, Fig. 3).

    Shape: Tensor[N, C_in, H, W] -> Tensor[N, C_out, ceil(H / stride), ceil(W / stride)].
    """

    expansion = 1

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, *, shortcut: bool = True,
                 se_reduction: int | None = None) -> None:
        super().__init__()
        in_channels, out_channels = _int("in_channels", in_channels, 1), _int("out_channels", out_channels, 1)
        stride = _int("stride", stride, 1)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.se = None if se_reduction is None else SEBlock(out_channels, se_reduction)
        self.shortcut = _projection(in_channels, out_channels, stride, _bool("shortcut", shortcut))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))  # (N, C_out, H/s, W/s)
        out = self.bn2(self.conv2(out))           # (N, C_out, H/s, W/s), the residual F(x)
        if self.se is not None:
            out = self.se(out)
        if self.shortcut is not None:
            out = out + self.shortcut(x)
        return self.relu(out)


class Bottleneck(nn.Module):
    """1x1 (reduce to `width`) -> 3x3 (stride) -> 1x1 (expand to 4 * width), with a shortcut.

    The block of ResNet-50/101/152 (He et al. 2016, Fig. 5 right): the 3x3 convolution works on
    `width` channels, a quarter of the block's output, which keeps the deep nets affordable. The
    shortcut is a projection (1x1 conv + BN) whenever stride != 1 or C_in != 4 * width.

    Args:
        in_channels: C_in (>= 1).
        width: the channels of the inner 3x3 conv (>= 1); the output has 4 * width.
        stride: the stride of the 3x3 conv and of the projection.
        shortcut: False gives the plain block (no shortcut at all).
        se_reduction: if set, an `SEBlock(4 * width, se_reduction)` on the residual branch.

    Shape: Tensor[N, C_in, H, W] -> Tensor[N, 4 * width, ceil(H / stride), ceil(W / stride)].
    """

    expansion = 4

    def __init__(self, in_channels: int, width: int, stride: int = 1, *, shortcut: bool = True,
                 se_reduction: int | None = None) -> None:
        super().__init__()
        in_channels, width, stride = _int("in_channels", in_channels, 1), _int("width", width, 1), _int("stride", stride, 1)
        out_channels = width * self.expansion
        self.conv1 = nn.Conv2d(in_channels, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.se = None if se_reduction is None else SEBlock(out_channels, se_reduction)
        self.shortcut = _projection(in_channels, out_channels, stride, _bool("shortcut", shortcut))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))    # (N, width, H, W)
        out = self.relu(self.bn2(self.conv2(out)))  # (N, width, H/s, W/s)
        out = self.bn3(self.conv3(out))             # (N, 4 * width, H/s, W/s), the residual F(x)
        if self.se is not None:
            out = self.se(out)
        if self.shortcut is not None:
            out = out + self.shortcut(x)
        return self.relu(out)


class _ImageNorm(nn.Module):
    """Per-image standardisation: (x - mean over (H, W) of each channel) / (std over (C, H, W) + eps).

    Removes each image's mean colour and contrast (a plain flat image becomes 0); no parameters.
    Shape: Tensor[N, C, H, W] -> Tensor[N, C, H, W].
    """

    def __init__(self, eps: float = 0.02) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        x = x - x.mean((2, 3), keepdim=True)                              # (N, C, H, W)
        return x / (x.std((1, 2, 3), correction=0, keepdim=True) + self.eps)


def _zero_mean_(conv: nn.Conv2d) -> None:
    """In place: subtract each filter's mean over (kh, kw) per input channel, keep the weights' std."""
    with torch.no_grad():
        std = conv.weight.std()
        conv.weight -= conv.weight.mean((2, 3), keepdim=True)             # (C_out, C_in, kh, kw)
        conv.weight *= std / conv.weight.std().clamp_min(1e-12)


class ResNet(nn.Module):
    """A stem, stages of residual blocks (the first block of each later stage halves H and W and
    changes the width), global average pooling and one fully connected layer.

    Stems:
        "imagenet": 7x7 conv, stride 2 + BN + ReLU + 3x3 max-pool, stride 2 (H/4), for 224x224.
        "cifar": one 3x3 conv, stride 1 + BN + ReLU, for 32x32 inputs (He et al. 2016, sec. 4.2).

    Args:
        block: `BasicBlock` or `Bottleneck`.
        layers: blocks per stage, e.g. (2, 2, 2, 2) for ResNet-18, (3, 3, 3) for CIFAR ResNet-20.
        num_classes: outputs of the classifier (>= 1).
        widths: the width of each stage (the stem outputs widths[0]); a Bottleneck stage outputs
            4 * width. One width per entry of `layers`.
        stem: "imagenet" or "cifar".
        in_channels: channels of the input images (3 for RGB).
        se_reduction: None (a ResNet) or r: an SE block with reduction r on every residual branch.
        se_min_hidden: the SE hidden width is kept >= min(se_min_hidden, C) by using the reduction
            min(se_reduction, max(1, C // se_min_hidden)) in a block with C output channels (for
            narrow nets: C = 16 and r = 16 would leave one hidden unit).
        zero_init_residual: start each residual branch's last BN gamma at 0 (blocks = identity).
        shortcuts: False removes every shortcut (use `PlainNet`).
        image_norm: standardise each input image before the stem: subtract its mean over (H, W) per
            channel and divide by its standard deviation over (C, H, W) plus 0.02 (no parameters).
            For data whose colour and contrast say nothing about the class (synthetic shapes).
        zero_mean_stem: initialise the stem convolution's filters with zero mean over each input
            channel's kh x kw kernel (rescaled to the Kaiming standard deviation): at the start
            they respond to edges, not to the image's flat colour.

    Shape: Tensor[N, in_channels, H, W] -> Tensor[N, num_classes] (logits), for any H, W the
    stem and the strides leave >= 1 pixel.

    Reference: He et al. 2016, Table 1 and sec. 4.2; Hu et al. 2018 for `se_reduction`.
    """

    def __init__(self, block: type[BasicBlock] | type[Bottleneck], layers: Sequence[int], num_classes: int = 1000,
                 *, widths: Sequence[int] = (64, 128, 256, 512), stem: str = "imagenet", in_channels: int = 3,
                 se_reduction: int | None = None, se_min_hidden: int = 1, zero_init_residual: bool = False,
                 shortcuts: bool = True, image_norm: bool = False, zero_mean_stem: bool = False) -> None:
        super().__init__()
        if not (isinstance(block, type) and issubclass(block, (BasicBlock, Bottleneck))):
            raise TypeError(f"block: expected BasicBlock or Bottleneck, got {block!r}")
        layers, widths = _ints("layers", layers), _ints("widths", widths)
        if len(layers) != len(widths):
            raise ValueError(f"widths: expected one width per stage ({len(layers)} stages in layers), got {len(widths)}")
        num_classes = _int("num_classes", num_classes, 1)
        in_channels = _int("in_channels", in_channels, 1)
        _choice("stem", stem, STEMS)
        se_min_hidden = _int("se_min_hidden", se_min_hidden, 1)
        if se_reduction is not None:
            se_reduction = _int("se_reduction", se_reduction, 1)
        shortcuts = _bool("shortcuts", shortcuts)
        zero_mean_stem = _bool("zero_mean_stem", zero_mean_stem)

        self.image_norm = _ImageNorm() if _bool("image_norm", image_norm) else None
        if stem == "imagenet":
            self.stem = nn.Sequential(
                nn.Conv2d(in_channels, widths[0], 7, 2, 3, bias=False), nn.BatchNorm2d(widths[0]),
                nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1))
        else:
            self.stem = nn.Sequential(
                nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False), nn.BatchNorm2d(widths[0]),
                nn.ReLU(inplace=True))
        stages, channels = [], widths[0]
        for i, (blocks, width) in enumerate(zip(layers, widths, strict=True)):
            out = width * block.expansion
            r = None if se_reduction is None else max(1, min(se_reduction, out // se_min_hidden))
            stage = []
            for j in range(blocks):
                stride = 2 if i > 0 and j == 0 else 1
                stage.append(block(channels, width, stride, shortcut=shortcuts, se_reduction=r))
                channels = out
            stages.append(nn.Sequential(*stage))
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)

        _init_weights(self)
        if _bool("zero_init_residual", zero_init_residual):
            for m in self.modules():
                if isinstance(m, (BasicBlock, Bottleneck)):
                    nn.init.zeros_((m.bn3 if isinstance(m, Bottleneck) else m.bn2).weight)
        if zero_mean_stem:
            _zero_mean_(self.stem[0])

    def forward(self, x: Tensor) -> Tensor:
        if self.image_norm is not None:
            x = self.image_norm(x)  # (N, in_channels, H, W), each image standardised
        x = self.stem(x)     # (N, widths[0], H/4, W/4) imagenet stem; (N, widths[0], H, W) cifar stem
        x = self.stages(x)   # (N, C_last, H/32, W/32) ImageNet ResNets; (N, 4 * width, H/4, W/4) CIFAR
        x = self.pool(x).flatten(1)  # (N, C_last)
        return self.fc(x)    # (N, num_classes)


class PlainNet(ResNet):
    """`ResNet` without any shortcut: the same convolutions, BN and ReLUs, y = relu(F(x)) per block.

    The baseline of He et al.'s degradation experiment (2016, sec. 4.1-4.2, Fig. 1, 4 and 6): a
    deeper plain net has a *higher training error* than a shallower one. Same arguments as
    `ResNet` (without `shortcuts`); it has fewer parameters, the projections being gone.
    """

    def __init__(self, block: type[BasicBlock] | type[Bottleneck], layers: Sequence[int], num_classes: int = 1000,
                 **kwargs: Any) -> None:
        if "shortcuts" in kwargs:
            raise TypeError("shortcuts: PlainNet never has shortcuts; use ResNet")
        super().__init__(block, layers, num_classes, shortcuts=False, **kwargs)


def _ints(name: str, values: Any) -> tuple[int, ...]:
    if not isinstance(values, (tuple, list)) or not values:
        raise TypeError(f"{name}: expected a non-empty tuple of ints, got {values!r}")
    return tuple(_int(f"{name}[{i}]", v, 1) for i, v in enumerate(values))


# ----------------------------------------------------------------------------- ImageNet factories
def resnet18(num_classes: int = 1000, **kwargs: Any) -> ResNet:
    """ResNet-18 for 224x224 images: BasicBlock stages (2, 2, 2, 2), 11,689,512 parameters.

    Args:
        num_classes: outputs (>= 1).
        **kwargs: further `ResNet` keywords (in_channels, zero_init_residual, ...).

    Returns:
        ResNet, mapping Tensor[N, 3, H, W] to Tensor[N, num_classes].

    Reference: He et al. 2016, Table 1.
    """
    return ResNet(BasicBlock, (2, 2, 2, 2), num_classes, **kwargs)


def resnet34(num_classes: int = 1000, **kwargs: Any) -> ResNet:
    """ResNet-34: BasicBlock stages (3, 4, 6, 3), 21,797,672 parameters. Args and Returns as `resnet18`.

    Reference: He et al. 2016, Table 1.
    """
    return ResNet(BasicBlock, (3, 4, 6, 3), num_classes, **kwargs)


def resnet50(num_classes: int = 1000, **kwargs: Any) -> ResNet:
    """ResNet-50: Bottleneck stages (3, 4, 6, 3), 25,557,032 parameters. Args and Returns as `resnet18`.

    Reference: He et al. 2016, Table 1.
    """
    return ResNet(Bottleneck, (3, 4, 6, 3), num_classes, **kwargs)


def resnet101(num_classes: int = 1000, **kwargs: Any) -> ResNet:
    """ResNet-101: Bottleneck stages (3, 4, 23, 3), 44,549,160 parameters. Args and Returns as `resnet18`.

    Reference: He et al. 2016, Table 1.
    """
    return ResNet(Bottleneck, (3, 4, 23, 3), num_classes, **kwargs)


def resnet152(num_classes: int = 1000, **kwargs: Any) -> ResNet:
    """ResNet-152: Bottleneck stages (3, 8, 36, 3), 60,192,808 parameters. Args and Returns as `resnet18`.

    Reference: He et al. 2016, Table 1.
    """
    return ResNet(Bottleneck, (3, 8, 36, 3), num_classes, **kwargs)


def se_resnet50(num_classes: int = 1000, reduction: int = 16, **kwargs: Any) -> ResNet:
    """SE-ResNet-50: ResNet-50 with an SE block (reduction r) on every residual branch, before the
    addition; 28,088,024 parameters with r = 16 (2,530,992 more than ResNet-50).

    Args:
        num_classes: outputs (>= 1).
        reduction: the SE reduction r (>= 1).
        **kwargs: further `ResNet` keywords.

    Returns:
        ResNet, mapping Tensor[N, 3, H, W] to Tensor[N, num_classes].

    Reference: Hu et al. 2018, Fig. 3 and Table 1.
    """
    return ResNet(Bottleneck, (3, 4, 6, 3), num_classes, se_reduction=reduction, **kwargs)


# ----------------------------------------------------------------------------- CIFAR factories
def _cifar_blocks(depth: Any) -> int:
    """n for depth = 6n + 2 (n BasicBlocks per stage, 2 convs each, plus the stem conv and the FC)."""
    depth = _int("depth", depth, 1)
    if depth < 8 or (depth - 2) % 6:
        raise ValueError(f"depth: CIFAR ResNets have depth = 6n + 2 with n >= 1 (20, 32, 44, 56, 110, ...), got {depth}")
    return (depth - 2) // 6


def resnet_cifar(depth: int, num_classes: int = 10, width: int = 16, **kwargs: Any) -> ResNet:
    """The CIFAR-10 ResNet of He et al. 2016, sec. 4.2, for 32x32 images.

    A 3x3 conv stem (width channels), 3 stages of n BasicBlocks with widths (w, 2w, 4w) on 32x32,
    16x16 and 8x8 maps, global average pooling and a fully connected layer: depth = 6n + 2 layers
    with weights. Shortcuts are projections where the shape changes (the paper: option A,
    zero-padding), see the module docstring. ResNet-20 has 272,474 parameters (269,722 with
    option A; the paper's "0.27M").

    Args:
        depth: 6n + 2 (20, 32, 44, 56, 110, ...).
        num_classes: outputs (>= 1).
        width: w, the first stage's width (16 in the paper).
        **kwargs: further `ResNet` keywords (in_channels, zero_init_residual, ...).

    Returns:
        ResNet, mapping Tensor[N, 3, H, W] to Tensor[N, num_classes] (any H, W >= 1; made for 32).

    Raises:
        ValueError: depth is not 6n + 2, or another argument is out of range.

    Reference: He et al. 2016, sec. 4.2.
    """
    n, width = _cifar_blocks(depth), _int("width", width, 1)
    return ResNet(BasicBlock, (n, n, n), num_classes, widths=(width, 2 * width, 4 * width), stem="cifar", **kwargs)


def plainnet_cifar(depth: int, num_classes: int = 10, width: int = 16, **kwargs: Any) -> PlainNet:
    """The plain CIFAR-10 baseline of He et al. 2016, sec. 4.2: `resnet_cifar` without shortcuts.

    Args and Raises as `resnet_cifar`.

    Returns:
        PlainNet, mapping Tensor[N, 3, H, W] to Tensor[N, num_classes].

    Reference: He et al. 2016, sec. 4.2 and Fig. 6 (left).
    """
    n, width = _cifar_blocks(depth), _int("width", width, 1)
    return PlainNet(BasicBlock, (n, n, n), num_classes, widths=(width, 2 * width, 4 * width), stem="cifar", **kwargs)


def se_resnet_cifar(depth: int, num_classes: int = 10, reduction: int = 16, width: int = 16,
                    **kwargs: Any) -> ResNet:
    """`resnet_cifar` with an SE block on every residual branch (before the addition).

    The CIFAR stages are narrow (16, 32, 64 channels): r = 16 would leave 1 to 4 hidden units, so
    the reduction is capped to keep the hidden width >= 4 (r = min(reduction, C // 4): with the
    default widths every SE block has 4 hidden units; `se_min_hidden` overrides the 4).

    Args:
        depth: 6n + 2.
        num_classes: outputs (>= 1).
        reduction: the SE reduction r before the cap (>= 1).
        width: the first stage's width (16).
        **kwargs: further `ResNet` keywords.

    Returns:
        ResNet, mapping Tensor[N, 3, H, W] to Tensor[N, num_classes].

    Reference: Hu et al. 2018 (SE); He et al. 2016, sec. 4.2 (the network).
    """
    n, width = _cifar_blocks(depth), _int("width", width, 1)
    kwargs.setdefault("se_min_hidden", 4)
    return ResNet(BasicBlock, (n, n, n), num_classes, widths=(width, 2 * width, 4 * width), stem="cifar",
                  se_reduction=_int("reduction", reduction, 1), **kwargs)

