"""Checks of chapter 04's exercise (ResNet), against `cvcourse.models.BasicBlock`.

- 04.1 `residual_block(in_channels, out_channels, stride)`: a class (or a function) that builds the
  basic residual block, relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)), as an `nn.Module`,
  with the identity shortcut when the shape is kept and a projection (1x1 conv with the block's
  stride, no bias, + BatchNorm2d) when the channels or the resolution change.

The learner's module is not inspected by attribute names: the convolutions are found by their
kernel size (3x3: the residual branch F; 1x1: the projection). Each case builds the module (with the
torch seed fixed inside the check; the notebook's random state is left untouched), runs it in train
mode (BatchNorm normalises with the batch's statistics, so its running averages play no part) and
measures one thing:

- the parameter count (no conv bias; a projection only where the shape changes) and the 1x1
  convolutions as (in -> out, stride);
- the output shape, also at stride 2 on an odd 7x7 map (ceil(7 / 2) = 4);
- that the shortcut is *added*: with the 3x3 convolutions' weights set to 0 the residual branch
  gives F(x) = BN(0) = 0, so the block must return relu(shortcut(x)): relu(x) for the identity,
  relu(BN(conv1x1(x))) for the projection (its weights set to known values). A block without the
  addition returns relu(0) = 0 there;
- the whole forward pass, with known weights in the 3x3 and 1x1 convolutions, against the
  reference `BasicBlock` holding the same weights (where the two 3x3 convs have the same shape,
  both orders of the two are tried: the check does not depend on the order you defined them in);
- gradients: with the residual branch zeroed, the gradient still reaches x through the shortcut,
  and with normal weights every parameter gets a gradient (everything defined is used).

The configurations: 16 -> 16 at stride 1 (identity), 16 -> 32 at stride 2 (a ResNet stage's first
block), 8 -> 16 at stride 1 and 16 -> 16 at stride 2 (a projection for one change only), and
3 -> 8 at stride 2 on a 7x7 map.
"""
from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from ..models import BasicBlock as _Reference
from ._core import Case, exercise
from ._modules import Group, build_module, run_groups

_SEED = 401
_IDENTITY = "no 1x1 conv (an identity shortcut, or none)"
_ALL_GRADIENTS = "every parameter has a gradient"


@dataclass(frozen=True)
class _Config:
    """The constructor's arguments, shown as the call in a failure message: `ResidualBlock(16, 32, 2)`."""

    name: str
    in_channels: int
    out_channels: int
    stride: int

    def __repr__(self) -> str:
        return f"{self.name}({self.in_channels}, {self.out_channels}, {self.stride})"


# ----------------------------------------------------------------------------- building and loading
def _build(make: Callable, config: _Config) -> nn.Module:
    """`make(in_channels, out_channels, stride)` with the torch seed fixed; it must be an nn.Module."""
    return build_module(make, (config.in_channels, config.out_channels, config.stride), _SEED, repr(config))


def _convs(module: nn.Module, k: int) -> list[nn.Conv2d]:
    """The module's k x k convolutions, in the order they were defined."""
    return [m for m in module.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (k, k)]


@functools.cache
def _weights(config: _Config) -> tuple[Tensor, Tensor, Tensor]:
    """Known weights (conv1, conv2, projection) for `config`, Kaiming-scaled."""
    gen = torch.Generator().manual_seed(_SEED + 7 * config.in_channels + config.out_channels + config.stride)
    c_in, c_out = config.in_channels, config.out_channels
    return (torch.randn(c_out, c_in, 3, 3, generator=gen) * math.sqrt(2 / (9 * c_in)),
            torch.randn(c_out, c_out, 3, 3, generator=gen) * math.sqrt(2 / (9 * c_out)),
            torch.randn(c_out, c_in, 1, 1, generator=gen) * math.sqrt(2 / c_in))


def _load(module: nn.Module, config: _Config, swap: bool = False, zero_branch: bool = False) -> None:
    """Put the known weights into the module's convolutions: each 3x3 conv gets the first unused
    weight of its shape (conv1's, then conv2's; the other way round with `swap`), or zeros with
    `zero_branch`; the 1x1 conv gets the projection's if there is exactly one."""
    w1, w2, wp = _weights(config)
    convs1 = _convs(module, 1)
    unused = [w2, w1] if swap else [w1, w2]
    with torch.no_grad():
        for conv in _convs(module, 3):
            if zero_branch:
                conv.weight.zero_()
                continue
            i = next((i for i, w in enumerate(unused) if conv.weight.shape == w.shape), None)
            if i is not None:
                conv.weight.copy_(unused.pop(i))
        if len(convs1) == 1 and convs1[0].weight.shape == wp.shape:
            convs1[0].weight.copy_(wp)


def _reference(config: _Config) -> nn.Module:
    """The package's block for `config` holding the known weights, in train mode."""
    module = _build(_Reference, config)
    _load(module, config)
    return module.train()


# ----------------------------------------------------------------------------- measurements
def _param_count(module: nn.Module, config: _Config) -> int:
    return sum(p.numel() for p in module.parameters())


def _projections(module: nn.Module, config: _Config) -> str:
    """The 1x1 convolutions as "a 1x1 conv 16 -> 32, stride 2", or `_IDENTITY`."""
    convs = _convs(module, 1)
    if not convs:
        return _IDENTITY
    return "; ".join(f"a 1x1 conv {c.in_channels} -> {c.out_channels}, stride {c.stride[0]}" for c in convs)


def _output_shape(module: nn.Module, config: _Config, x: Tensor) -> str:
    with torch.no_grad():
        out = module.train()(x)
    return f"Tensor{list(out.shape)}" if isinstance(out, Tensor) else f"a {type(out).__name__}, not a Tensor"


def _zero_branch(module: nn.Module, config: _Config, x: Tensor) -> Tensor:
    """The output with the 3x3 convolutions' weights set to 0 (F(x) = 0): relu(shortcut(x))."""
    _load(module, config, zero_branch=True)
    with torch.no_grad():
        return module.train()(x)


def _forward(module: nn.Module, config: _Config, x: Tensor) -> Tensor:
    """The output with the known weights; both orders of two same-shaped 3x3 convs are tried and
    the output closer to the reference's is returned."""
    convs3 = _convs(module, 3)
    swaps = [False, True] if len(convs3) == 2 and convs3[0].weight.shape == convs3[1].weight.shape else [False]
    with torch.no_grad():
        expected = _reference(config)(x)
        outs = []
        for swap in swaps:
            _load(module, config, swap=swap)
            outs.append(module.train()(x))
    if not all(isinstance(o, Tensor) and o.shape == expected.shape for o in outs):
        return outs[0]
    return min(outs, key=lambda o: float((o - expected).abs().max()))


def _input_gradient(module: nn.Module, config: _Config, x: Tensor) -> Tensor:
    """d out.sum() / dx with the residual branch zeroed: what flows through the shortcut alone."""
    _load(module, config, zero_branch=True)
    x = x.clone().requires_grad_(True)
    module.train()(x).sum().backward()
    return x.grad if x.grad is not None else torch.zeros_like(x)


def _missing_gradients(module: nn.Module, config: _Config, x: Tensor) -> str:
    """`_ALL_GRADIENTS` when out.sum() gives every parameter a gradient, else their names."""
    out = module.train()(x)
    if not isinstance(out, Tensor):
        return f"cannot test: the module returned a {type(out).__name__}"
    out.sum().backward()
    missing = [name for name, p in module.named_parameters() if p.grad is None]
    return _ALL_GRADIENTS if not missing else "no gradient for " + ", ".join(missing)


# ----------------------------------------------------------------------------- the cases
_IDENT = (16, 16, 1)
_STAGE = (16, 32, 2)
_WIDER = (8, 16, 1)
_SMALLER = (16, 16, 2)
_ODD = (3, 8, 2)


def _x(config: tuple[int, int, int], size: int = 8) -> Tensor:
    gen = torch.Generator().manual_seed(_SEED + sum(config) + size)
    return torch.randn(4, config[0], size, size, generator=gen)


@functools.cache
def _plan() -> tuple[tuple[Callable, tuple[tuple[str, tuple[int, int, int], tuple[Tensor, ...], Any], ...]], ...]:
    """The cases grouped by what they measure: (measure, ((description, config, inputs, expected), ...)).
    The expected values are the reference's, computed once."""
    x_ident, x_stage, x_wider, x_smaller, x_odd = _x(_IDENT), _x(_STAGE), _x(_WIDER, 6), _x(_SMALLER), _x(_ODD, 7)
    groups = [
        (_param_count, [
            ("16 -> 16 channels, stride 1: two 3x3 convs without bias and two BatchNorm2d; the identity "
             "shortcut has no parameters", _IDENT, ()),
            ("16 -> 32 channels, stride 2: the branch, plus a projection shortcut (1x1 conv without bias "
             "+ BatchNorm2d)", _STAGE, ()),
            ("8 -> 16 channels, stride 1: the channels change, so a projection is needed", _WIDER, ()),
            ("16 -> 16 channels, stride 2: the resolution changes, so a projection is needed", _SMALLER, ()),
            ("3 -> 8 channels, stride 2", _ODD, ()),
        ]),
        (_projections, [
            ("16 -> 16, stride 1: the shapes match, the shortcut is the identity (no 1x1 conv)", _IDENT, ()),
            ("16 -> 32, stride 2: a 1x1 conv with the block's stride", _STAGE, ()),
            ("8 -> 16, stride 1: a 1x1 conv, stride 1", _WIDER, ()),
            ("16 -> 16, stride 2: a 1x1 conv with stride 2 (the channels alone do not decide)", _SMALLER, ()),
        ]),
        (_output_shape, [
            ("16 -> 16, stride 1 on an 8x8 map: the shape is kept (padding 1 in the 3x3 convs)", _IDENT, (x_ident,)),
            ("16 -> 32, stride 2 on an 8x8 map: 32 channels, 4x4 (the first 3x3 conv has the stride)",
             _STAGE, (x_stage,)),
            ("8 -> 16, stride 1 on a 6x6 map", _WIDER, (x_wider,)),
            ("3 -> 8, stride 2 on an odd 7x7 map: 4x4 (ceil(7 / 2), in the branch and the shortcut)",
             _ODD, (x_odd,)),
        ]),
        (_zero_branch, [
            ("16 -> 16, stride 1, with the 3x3 convs' weights set to 0: then F(x) = 0 and the block must "
             "return relu(x + 0) = relu(x). Is x added before the last ReLU?", _IDENT, (x_ident,)),
            ("16 -> 32, stride 2, with the 3x3 convs' weights set to 0: the block must return "
             "relu(bn(conv1x1(x))), the projection shortcut alone", _STAGE, (x_stage,)),
            ("8 -> 16, stride 1, with the 3x3 convs' weights set to 0: relu(bn(conv1x1(x)))", _WIDER, (x_wider,)),
            ("16 -> 16, stride 2, with the 3x3 convs' weights set to 0: relu(bn(conv1x1(x)))", _SMALLER,
             (x_smaller,)),
            ("3 -> 8, stride 2 on 7x7, with the 3x3 convs' weights set to 0", _ODD, (x_odd,)),
        ]),
        (_forward, [
            ("16 -> 16, stride 1, known weights in your convs (train mode): "
             "relu(bn2(conv2(relu(bn1(conv1(x))))) + x)", _IDENT, (x_ident,)),
            ("16 -> 32, stride 2, known weights: relu(bn2(conv2(relu(bn1(conv1(x))))) + bn(conv1x1(x)))",
             _STAGE, (x_stage,)),
            ("8 -> 16, stride 1, known weights", _WIDER, (x_wider,)),
            ("16 -> 16, stride 2, known weights", _SMALLER, (x_smaller,)),
            ("3 -> 8, stride 2 on 7x7, known weights", _ODD, (x_odd,)),
        ]),
        (_input_gradient, [
            ("16 -> 16, stride 1, residual branch zeroed: the gradient of out.sum() still reaches x through "
             "the identity shortcut (1 where x > 0)", _IDENT, (x_ident,)),
            ("16 -> 32, stride 2, residual branch zeroed: the gradient reaches x through the projection",
             _STAGE, (x_stage,)),
        ]),
        (_missing_gradients, [
            ("16 -> 32, stride 2: out.sum() gives every parameter a gradient (every layer you defined is "
             "used in forward)", _STAGE, (x_stage,)),
            ("16 -> 16, stride 1: every parameter gets a gradient", _IDENT, (x_ident,)),
        ]),
    ]
    plan = []
    for measure, cases in groups:
        rows = []
        for description, values, inputs in cases:
            config = _Config("BasicBlock", *values)
            rows.append((description, values, inputs, measure(_build(_Reference, config), config, *inputs)))
        plan.append((measure, tuple(rows)))
    return tuple(plan)


def _run(fn: Callable, groups: list[Group]) -> tuple[str, int, int, str]:
    return run_groups(fn, groups, _build, "raised NotImplementedError (nn.Module raises it when a class has no "
                                          "`forward` method)")


@exercise("04", 1, "a residual block with a projection shortcut")
def residual_block(fn: Callable) -> tuple[str, int, int, str]:
    """Check ``fn(in_channels, out_channels, stride) -> nn.Module`` (Tensor[N, C_in, H, W] ->
    Tensor[N, C_out, ceil(H / stride), ceil(W / stride)]) against `cvcourse.models.BasicBlock`
    (He et al. 2016, Fig. 2 and eq. 2: y = relu(F(x) + W_s x), W_s a projection only where the shape
    changes)."""
    name = getattr(fn, "__name__", "block")
    return _run(fn, [(measure, [Case(description, args=(_Config(name, *values), *inputs), expected=expected)
                                for description, values, inputs, expected in rows])
                     for measure, rows in _plan()])
