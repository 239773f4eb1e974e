"""Checks of chapter 05's exercise (Squeeze-and-Excitation), against `cvcourse.models.SEBlock`.

- 05.1 `se_block(channels, reduction=16)`: a class (or a function) that builds an SE block as an
  `nn.Module` mapping Tensor[N, C, H, W] to Tensor[N, C, H, W]: squeeze (the mean over H x W),
  excitation (C -> C // r -> C, ReLU then sigmoid, with biases), scale (input times gate).

The learner's layers may have any names and may be `nn.Linear`, 1x1 `nn.Conv2d` or plain
`nn.Parameter`s: the check finds the two weights and two biases by their shapes ((C/r, C) and
(C, C/r), as in `nn.Linear`, or transposed for a module that computes `s @ W`) and loads the
reference's values into them, so the learner's output can be compared with `SEBlock`'s number for
number. The cases, in the order a mistake is most clearly named:

1. the parameter count, 2 C (C // r) + C // r + C, for several C and r (the default r = 16, C not
   divisible by r, r = 1): one bias-free layer, a wrong hidden width or a missing layer fail here;
2. the output keeps the input's shape (returning the gate instead of input * gate fails here);
3. with the reference's weights, on positive inputs: output / input is one number per image and
   channel (the gate scales whole channels: adding it, or gating pixels, fails), it lies in (0, 1)
   (a missing sigmoid fails), and changing one channel changes the other channels' gates (the
   excitation mixes all channels);
4. with the reference's weights, the output equals `SEBlock`'s on several shapes (a max instead of
   a mean, a missing ReLU, pooling over the batch fail here).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..models.se import SEBlock
from ._core import Case, exercise, run_cases

_SEED = 501
_CALIBRATE = 1e-4   # the largest |learner - reference| that picks a weight layout


def _hidden(channels: int, reduction: int) -> int:
    return channels // reduction


def _reference(channels: int, reduction: int) -> SEBlock:
    """An SEBlock with seeded weights whose gates spread over (0, 1) (about 0.02 to 0.97). On the
    positive inputs of the property cases most hidden units are alive (W1's rows sum to about 0.8,
    |b1| <= 0.6), so the gates follow the input; on the zero-mean inputs of the output cases the
    units with b1 < 0 (every other one) are cut by the ReLU, so a missing ReLU changes the output."""
    gen = torch.Generator().manual_seed(_SEED + 100 * channels + reduction)
    with torch.random.fork_rng(devices=[]):            # SEBlock's default initialisation, overwritten below
        block = SEBlock(channels, reduction)
    h = block.hidden
    with torch.no_grad():
        block.fc1.weight.copy_((torch.rand(h, channels, generator=gen) * 2 - 0.6) * 2 / channels)
        sign = 1 - 2 * (torch.arange(h) % 2 == 0).float()                  # -1, +1, -1, ...
        block.fc1.bias.copy_((torch.rand(h, generator=gen) * 0.5 + 0.1) * sign)
        block.fc2.weight.copy_((torch.rand(channels, h, generator=gen) * 2 - 1) * 3 / h ** 0.5)
        block.fc2.bias.copy_(torch.rand(channels, generator=gen) - 0.5)
    return block


def _positive(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed)) + 0.5     # in [0.5, 1.5)


def _signed(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def _build(fn: Callable, channels: int, reduction: int | None, forward: bool = True) -> nn.Module:
    """`fn(channels, reduction)` (or `fn(channels)` to test the default), without touching the
    caller's random state; TypeError if it is not an nn.Module (with a forward method if `forward`)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(_SEED)
        module = fn(channels) if reduction is None else fn(channels, reduction)
    if not isinstance(module, nn.Module):
        raise TypeError(f"expected an nn.Module (an instance of a subclass of torch.nn.Module), got "
                        f"{type(module).__name__}")
    if forward and getattr(type(module), "forward", None) is nn.Module.forward:
        raise TypeError(f"{type(module).__name__} has no forward method: define forward(self, x), "
                        "which returns x times the gate")
    return module


def _layout(module: nn.Module, channels: int, hidden: int) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """The learner's (weights, biases) in registration order, or ValueError describing what is there."""
    params = list(module.parameters())
    weights = [p for p in params if p.dim() >= 2]
    biases = [p for p in params if p.dim() == 1]
    square = {(hidden, channels), (channels, hidden)}

    def matrix(p: torch.Tensor) -> tuple[int, ...]:
        return tuple(p.shape[:2]) if p.dim() == 2 or all(s == 1 for s in p.shape[2:]) else tuple(p.shape)

    if (len(weights) != 2 or len(biases) != 2 or {matrix(w) for w in weights} != square
            or sorted(b.numel() for b in biases) != sorted((hidden, channels))):
        found = ", ".join(str(tuple(p.shape)) for p in params) or "none"
        raise ValueError(f"could not find the two layers: expected two weights of shapes ({hidden}, {channels}) "
                         f"and ({channels}, {hidden}) (nn.Linear, or nn.Conv2d with 1x1 kernels) and biases of "
                         f"{hidden} and {channels} values; your module's parameters have the shapes {found}")
    return weights, biases


def _load(module: nn.Module, ref: SEBlock, transposed: bool) -> None:
    """Copy the reference's weights into the learner's parameters (in place), matched by shape.

    transposed=False: the weight shaped (hidden, C) is W1 (nn.Linear's (out, in) layout);
    transposed=True: the one shaped (C, hidden) is W1, used as s @ W1. With hidden == C, by order."""
    c, h = ref.channels, ref.hidden
    weights, biases = _layout(module, c, h)
    w1_shape = (c, h) if transposed else (h, c)
    if h == c:
        w1, w2 = weights
        b1, b2 = biases
    else:
        w1 = next(w for w in weights if tuple(w.shape[:2]) == w1_shape)
        w2 = next(w for w in weights if w is not w1)
        b1 = next(b for b in biases if b.numel() == h)
        b2 = next(b for b in biases if b is not b1)
    ref_w1, ref_w2 = ref.fc1.weight, ref.fc2.weight
    if transposed:
        ref_w1, ref_w2 = ref_w1.t(), ref_w2.t()
    with torch.no_grad():
        w1.copy_(ref_w1.reshape(w1.shape))
        w2.copy_(ref_w2.reshape(w2.shape))
        b1.copy_(ref.fc1.bias.reshape(b1.shape))
        b2.copy_(ref.fc2.bias.reshape(b2.shape))


def _with_reference_weights(fn: Callable, channels: int, reduction: int) -> tuple[nn.Module, SEBlock]:
    """The learner's module carrying the reference's weights, in the layout that reproduces the
    reference on a calibration input if one does (else nn.Linear's layout)."""
    ref = _reference(channels, reduction)
    module = _build(fn, channels, reduction)
    x = _positive((2, channels, 3, 4), seed=_SEED)
    want = ref(x)
    for transposed in (True, False):            # nn.Linear's layout last: it stays loaded if neither fits
        if transposed and ref.hidden == channels:
            continue
        _load(module, ref, transposed)
        with torch.no_grad():
            got = module(x.clone())
        if isinstance(got, torch.Tensor) and got.shape == want.shape and torch.allclose(got, want, atol=_CALIBRATE):
            break
    return module, ref


@dataclass
class _Probe:
    """One question about the learner's SE block; `repr` is the case's "input" line."""

    what: str                       # "params", "shape", "scaling", "range", "mixing" or "output"
    channels: int
    reduction: int | None           # None: call fn(channels) to test the default reduction
    shape: tuple[int, ...] = ()
    seed: int = 0

    def __repr__(self) -> str:
        call = f"fn({self.channels})" if self.reduction is None else f"fn({self.channels}, {self.reduction})"
        if self.what == "params":
            return f"{call}, its parameters counted"
        weights = "" if self.what == "shape" else " with cvcourse's weights"
        return f"{call}{weights}, applied to Tensor{list(self.shape)}"

    def run(self, fn: Callable) -> Any:
        if self.what == "params":
            return sum(p.numel() for p in _build(fn, self.channels, self.reduction, forward=False).parameters())
        if self.what == "shape":
            with torch.no_grad():
                out = _build(fn, self.channels, self.reduction)(_signed(self.shape, self.seed))
            return tuple(out.shape) if isinstance(out, torch.Tensor) else out
        module, ref = _with_reference_weights(fn, self.channels, self.reduction or 16)
        if self.what == "output":
            x = _signed(self.shape, self.seed)
            with torch.no_grad():
                return module(x.clone())
        return getattr(self, f"_{self.what}")(module)

    def _ratio(self, module: nn.Module, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            out = module(x.clone())
        if not isinstance(out, torch.Tensor) or out.shape != x.shape:
            raise ValueError(f"expected an output shaped like the input, {list(x.shape)}, got "
                             f"{list(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__}")
        return (out / x).flatten(2)                                     # (N, C, H*W)

    def _scaling(self, module: nn.Module) -> str:
        ratio = self._ratio(module, _positive(self.shape, self.seed))
        spread = ratio.amax(2) - ratio.amin(2)                          # (N, C)
        if not torch.isfinite(spread).all() or spread.max() > 1e-4 * max(1.0, ratio.abs().max().item()):
            n, c = divmod(int(spread.nan_to_num(float("inf")).argmax()), spread.shape[1])
            row = ratio[n, c]
            return (f"output / input varies over H x W in image {n}, channel {c} (from {row.min():.4g} to "
                    f"{row.max():.4g}): each channel must be multiplied by one number, its gate")
        return "one number per image and channel"

    def _range(self, module: nn.Module) -> str:
        ratio = self._ratio(module, _positive(self.shape, self.seed))
        low, high = ratio.min().item(), ratio.max().item()
        if not (0 < low and high < 1):
            return f"output / input ranges over [{low:.4g}, {high:.4g}], outside (0, 1)"
        return "output / input in (0, 1)"

    def _mixing(self, module: nn.Module) -> str:
        x = _positive(self.shape, self.seed)
        x[1] = x[0]
        x[1, 0] *= 3                                                    # image 1: channel 0 brighter
        gate = self._ratio(module, x).mean(2)                           # (2, C)
        change = (gate[1, 1:] - gate[0, 1:]).abs().max().item()
        if not change > 1e-3:
            return (f"the gates of channels 1..{self.channels - 1} did not change (largest change {change:.2g}) "
                    "when only channel 0 changed")
        return "the other channels' gates change"


def _count(channels: int, reduction: int) -> int:
    h = _hidden(channels, reduction)
    return 2 * channels * h + h + channels


def _params(description: str, channels: int, reduction: int | None) -> Case:
    return Case(description, args=(_Probe("params", channels, reduction),),
                expected=_count(channels, reduction or 16))


def _output(description: str, channels: int, reduction: int, shape: tuple[int, ...], seed: int) -> Case:
    x = _signed(shape, seed)
    with torch.no_grad():
        expected = _reference(channels, reduction)(x)
    return Case(description, args=(_Probe("output", channels, reduction, shape, seed),), expected=expected)


@exercise("05", 1, "the SE block")
def se_block(fn: Callable) -> tuple[str, int, int, str]:
    """Check ``fn(channels, reduction=16) -> nn.Module`` (a class or a function), an SE block mapping
    Tensor[N, C, H, W] to Tensor[N, C, H, W], against `cvcourse.models.SEBlock`."""
    shape = (2, 16, 5, 7)
    cases = [
        _params("C = 16, r = 4: two fully connected layers with biases, 16*4 + 4 + 4*16 + 16 = 148 parameters",
                16, 4),
        _params("C = 64, r = 16: a hidden width of C // r = 4", 64, 16),
        _params("fn(64) without a reduction: r defaults to 16", 64, None),
        _params("C = 10, r = 3: C is not divisible by r, the hidden width is C // r = 3", 10, 3),
        _params("C = 8, r = 1: no bottleneck, hidden width 8", 8, 1),
        Case("the output has the input's shape: the block rescales x, it returns x * gate, not the gate",
             args=(_Probe("shape", 16, 4, shape, 1),), expected=shape),
        Case("positive input: output / input must be the same for every pixel of a channel (x * gate, one gate "
             "per image and channel, from the mean over H x W)",
             args=(_Probe("scaling", 16, 4, shape, 2),), expected="one number per image and channel"),
        Case("positive input: output / input is the gate, a sigmoid's output, so it must lie in (0, 1)",
             args=(_Probe("range", 64, 16, (2, 64, 4, 4), 3),), expected="output / input in (0, 1)"),
        Case("two images that differ only in channel 0: the gates of the other channels differ too (the two "
             "fully connected layers mix the channels' means: global context)",
             args=(_Probe("mixing", 16, 4, (2, 16, 4, 4), 4),), expected="the other channels' gates change"),
        _output("the same weights as cvcourse's SEBlock give the same output: squeeze = mean over H, W; "
                "fc1, ReLU, fc2, sigmoid; output = x * gate", 16, 4, shape, 5),
        _output("C = 32, r = 8 on a 3 x 9 map, batch of 3 (each image gets its own gates)", 32, 8, (3, 32, 3, 9), 6),
        _output("C = 12, r = 8: a hidden width of 1", 12, 8, (2, 12, 3, 3), 7),
        _output("a 1 x 1 map, one image, C = 64, r = 16", 64, 16, (1, 64, 1, 1), 8),
    ]
    return run_cases(lambda probe: probe.run(fn), cases)
