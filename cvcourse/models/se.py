"""Squeeze-and-Excitation (chapter 05): a gate per channel, computed from the whole feature map.

`SEBlock` rescales each channel of its input by a number in (0, 1) that depends on the global
content of all channels: "squeeze" summarises each channel by its mean over H x W, "excitation"
maps the C means through a bottleneck of two fully connected layers (C -> C/r -> C, ReLU then
sigmoid) to C gates, and the output is the input times its gate. The SE-ResNets that put it on
each residual branch are built by `cvcourse.models.resnet` (`se_resnet50`, `se_resnet_cifar`).
`se_gates` collects the gates every SE block of a trained network applies to given images.

Reference: J. Hu, L. Shen and G. Sun, "Squeeze-and-Excitation Networks", CVPR 2018 (sec. 3, Fig. 2-3).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ._validate import _int

__all__ = ["SEBlock", "se_gates"]


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


@torch.no_grad()
def se_gates(model: nn.Module, images: Tensor, *, batch_size: int = 256) -> dict[str, Tensor]:
    """The gates every `SEBlock` of `model` applies to each image, by forward hooks.

    The model runs in eval mode (every module's training flag is restored afterwards) under
    `torch.no_grad()`, `batch_size` images at a time; a forward hook on each SEBlock records
    `block.gate(input)`, the Tensor[n, C] the block multiplies its input by. The hooks are removed
    even if the forward pass fails.

    Args:
        model: a network containing SEBlocks, e.g. `se_resnet_cifar(8, 12)`.
        images: Tensor[N, C_in, H, W], floating point, as the model takes them (e.g. uint8 / 255);
            moved to the device of the model's parameters batch by batch.
        batch_size: images per forward pass (>= 1).

    Returns:
        dict from each SEBlock's qualified name in `model.named_modules()` order (e.g.
        "stages.0.0.se", early blocks first) to its gates, Tensor[N, C] float32 on the CPU, each
        in (0, 1). N = 0 gives Tensor[0, C].

    Raises:
        TypeError: `model` is not an nn.Module, or `images` is not a floating-point Tensor.
        ValueError: `images` is not 4-D, or `model` has no SEBlock.

    Reference: Hu et al. 2018, sec. 7.2 and Fig. 6 (the SE blocks' average activations per class).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected an nn.Module, got {type(model).__name__}")
    if not isinstance(images, Tensor) or not images.is_floating_point():
        got = f"a {images.dtype} Tensor" if isinstance(images, Tensor) else type(images).__name__
        raise TypeError(f"images: expected a floating-point Tensor[N, C, H, W] (e.g. uint8 images / 255), got {got}")
    if images.dim() != 4:
        raise ValueError(f"images: expected Tensor[N, C, H, W], got Tensor{list(images.shape)}")
    batch_size = _int("batch_size", batch_size, 1)
    blocks = {name: m for name, m in model.named_modules() if isinstance(m, SEBlock)}
    if not blocks:
        raise ValueError(f"model: expected a network with SEBlocks, found none in {type(model).__name__}")
    device = next(model.parameters()).device
    found: dict[str, list[Tensor]] = {name: [] for name in blocks}

    def hook_for(name: str):
        def hook(block: SEBlock, inputs: tuple[Tensor, ...], output: Tensor) -> None:
            found[name].append(block.gate(inputs[0]).float().cpu())   # (n, C)
        return hook

    modes = [(m, m.training) for m in model.modules()]
    handles = [block.register_forward_hook(hook_for(name)) for name, block in blocks.items()]
    try:
        model.eval()
        for start in range(0, len(images), batch_size):
            model(images[start:start + batch_size].to(device))
    finally:
        for handle in handles:
            handle.remove()
        for m, mode in modes:
            m.training = mode
    return {name: torch.cat(found[name]) if found[name] else torch.zeros(0, block.channels)
            for name, block in blocks.items()}
