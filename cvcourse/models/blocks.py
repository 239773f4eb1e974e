"""Small building blocks the classification and detection chapters share: `ConvBlock` (conv + BN +
activation), the `Mish` activation and YOLO's `SPP` block.

References:
    D. Misra, "Mish: A self regularized non-monotonic activation function", BMVC 2020 (arXiv:1908.08681, 2019).
    K. He, X. Zhang, S. Ren and J. Sun, "Spatial pyramid pooling in deep convolutional networks for
    visual recognition", ECCV 2014 / TPAMI 2015 (SPP-net); the stride-1 variant below is the "SPP"
    block of YOLOv3-SPP and YOLOv4 (A. Bochkovskiy et al., arXiv:2004.10934, 2020).
    S. Ioffe and C. Szegedy, "Batch normalization", ICML 2015.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._validate import _choice, _int

__all__ = ["ACTIVATIONS", "SPP", "ConvBlock", "Mish"]

ACTIVATIONS = ("leaky", "relu", "mish")


class Mish(nn.Module):
    """Mish activation: x * tanh(softplus(x)), with softplus(x) = log(1 + exp(x)).

    Smooth and non-monotonic (a small negative dip near x = -1.2), unbounded above, bounded below
    (about -0.31); YOLOv4's backbone uses it. Same values as `torch.nn.Mish`, written out here.

    Shape: any; the output has the input's shape.

    Reference: Misra 2019, eq. 1.
    """

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.tanh(F.softplus(x))


def _activation(name: str) -> nn.Module:
    """The activation module called `name` ("leaky" is LeakyReLU with slope 0.1, as in YOLO)."""
    _choice("activation", name, ACTIVATIONS)
    if name == "leaky":
        return nn.LeakyReLU(0.1, inplace=True)
    if name == "relu":
        return nn.ReLU(inplace=True)
    return Mish()


class ConvBlock(nn.Sequential):
    """Conv2d (no bias, "same" padding k // 2) -> BatchNorm2d -> activation: the unit of YOLO's
    Darknet backbones (and of most CNNs since batch normalisation).

    The bias is dropped because BatchNorm2d subtracts the mean right after (its beta is the bias).

    Args:
        in_channels: input channels C_in (>= 1).
        out_channels: output channels C_out (>= 1).
        kernel_size: an odd kernel size k (>= 1); padding k // 2 keeps H, W at stride 1.
        stride: the convolution's stride (>= 1); the output is ceil(H / stride).
        activation: "leaky" (LeakyReLU(0.1), YOLOv1-v3), "relu" or "mish" (YOLOv4).

    Shape: Tensor[N, C_in, H, W] -> Tensor[N, C_out, ceil(H / stride), ceil(W / stride)].

    Reference: Ioffe & Szegedy 2015; J. Redmon and A. Farhadi, "YOLOv3", arXiv:1804.02767, 2018.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1,
                 activation: str = "leaky") -> None:
        in_channels = _int("in_channels", in_channels, 1)
        out_channels = _int("out_channels", out_channels, 1)
        kernel_size = _int("kernel_size", kernel_size, 1)
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size: expected an odd size (padding k // 2 keeps the map's size "
                             f"only for odd k), got {kernel_size}")
        stride = _int("stride", stride, 1)
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size, stride, kernel_size // 2, bias=False),
            nn.BatchNorm2d(out_channels),
            _activation(activation),
        )


class SPP(nn.Module):
    """Spatial pyramid pooling as in YOLOv3-SPP / YOLOv4: max-pools of several sizes at stride 1
    with "same" padding, concatenated with the input along the channels.

    Each pool sees a k x k neighbourhood of every position, so the block widens the receptive field
    cheaply (no parameters) while keeping H and W. The original SPP-net pooled into fixed grids
    (1x1, 2x2, 4x4 bins) to get a fixed-length vector from any image size; this stride-1 variant
    keeps the map instead.

    Args:
        kernel_sizes: odd pool sizes (>= 1), default (5, 9, 13).

    Shape: Tensor[N, C, H, W] -> Tensor[N, (1 + len(kernel_sizes)) * C, H, W], channels ordered
    [x, pool_k1(x), pool_k2(x), ...].

    Reference: He et al. 2015 (SPP-net); Bochkovskiy et al. 2020 (YOLOv4), sec. 3.4.
    """

    def __init__(self, kernel_sizes: Sequence[int] = (5, 9, 13)) -> None:
        super().__init__()
        if not isinstance(kernel_sizes, (tuple, list)):
            raise TypeError(f"kernel_sizes: expected a tuple of odd ints, got {type(kernel_sizes).__name__}")
        if not kernel_sizes:
            raise ValueError("kernel_sizes: expected at least one pool size, got ()")
        for i, k in enumerate(kernel_sizes):
            k = _int(f"kernel_sizes[{i}]", k, 1)
            if k % 2 == 0:
                raise ValueError(f"kernel_sizes[{i}]: expected an odd size (stride-1 'same' pooling), got {k}")
        self.kernel_sizes = tuple(int(k) for k in kernel_sizes)
        self.pools = nn.ModuleList(nn.MaxPool2d(k, stride=1, padding=k // 2) for k in self.kernel_sizes)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([x, *(pool(x) for pool in self.pools)], dim=1)  # (N, (1 + P) * C, H, W)
