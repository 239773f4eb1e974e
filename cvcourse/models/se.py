"""Squeeze-and-Excitation (chapter 05): a gate per channel, computed from the whole feature map.

`SEBlock` rescales each channel of its input by a number in (0, 1) that depends on the global
content of all channels: "squeeze" summarises each channel by its mean over H x W, "excitation"
maps the C means through a bottleneck of two fully connected layers (C -> C/r -> C, ReLU then
sigmoid) to C gates, and the output is the input times its gate. The SE-ResNets that put it on
each residual branch are built by `cvcourse.models.resnet` (`se_resnet50`, `se_resnet_cifar`).

Reference: J. Hu, L. Shen and G. Sun, "Squeeze-and-Excitation Networks", CVPR 2018 (sec. 3, Fig. 2-3).
"""
from __future__ import annotations

from torch import Tensor, nn

from ._validate import _int

__all__ = ["SEBlock"]


class SEBlock(nn.Module):
    """Squeeze-and-Excitation: output = input * gate, one gate in (0, 1) per sample and channel.

        s = mean over (H, W) of x                      # squeeze, (N, C)
        gate = sigmoid(W2 @ relu(W1 @ s + b1) + b2)    # excitation, (N, C)
        out = x * gate[:, :, None, None]               # scale, (N, C, H, W)

    W1 is (C/r, C) and W2 is (C, C/r), with biases, as in the common implementations: 2*C*(C/r)
    + C/r + C parameters (r = 16 adds about 10% to ResNet-50).

    Args:
        channels: C (>= 1).
        reduction: r (>= 1, <= C); the hidden width is C // r.

    Shape: Tensor[N, C, H, W] -> Tensor[N, C, H, W].

    Reference: Hu et al. 2018, eq. 2-4.
    """

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        channels = _int("channels", channels, 1)
        reduction = _int("reduction", reduction, 1)
        if reduction > channels:
            raise ValueError(f"reduction: expected reduction <= channels ({channels}) so that the hidden "
                             f"width channels // reduction is >= 1, got {reduction}")
        self.channels, self.reduction, self.hidden = channels, reduction, channels // reduction
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Linear(channels, self.hidden)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Linear(self.hidden, channels)
        self.sigmoid = nn.Sigmoid()

    def gate(self, x: Tensor) -> Tensor:
        """The channel gates of `x`: Tensor[N, C, H, W] -> Tensor[N, C], each in (0, 1)."""
        s = self.pool(x).flatten(1)                        # (N, C)     squeeze
        return self.sigmoid(self.fc2(self.relu(self.fc1(s))))  # (N, C) excitation

    def forward(self, x: Tensor) -> Tensor:
        return x * self.gate(x)[:, :, None, None]          # (N, C, H, W)
