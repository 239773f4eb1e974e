"""Checks of chapter 03's exercise (the Inception module), against `cvcourse.models.Inception`.

- 03.1 `inception_module(in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj)`: a class
  (or a function) that builds the Inception module with dimension reductions as an `nn.Module`.

The learner's module is not inspected by attribute names. Each case builds it (with the torch seed
fixed inside the check; the notebook's random state is left untouched) and measures one thing:

- the output shape, also for odd and non-square maps and a 1x1 map (every branch keeps H x W);
- the parameter count, and the convolutions as (kernel, in -> out) pairs: a missing 1x1 reduction
  shows up as, e.g., a 3x3 convolution 192 -> 128 where the reference has 96 -> 128;
- the branch order: the reference's weights are copied into the learner's `nn.Conv2d`s, matched by
  (kernel, in, out), which is unambiguous because every configuration of the check has six
  different convolutions; then each output channel is matched to the reference channel that holds
  the same values, and the branches those channels come from are listed in order ("1x1, 3x3, 5x5,
  pool"). A swapped concatenation, a missing ReLU or padding, or a projection before the pool
  changes that list. The reference's filters are shifted to zero mean and its biases are small and
  positive, so every conv channel is negative at some pixels and positive at others on the check's
  inputs: no channel is dead, and a missing ReLU changes every channel after it;
- that a gradient reaches every parameter (each branch is used in the forward pass).

The configurations: two small ones with odd widths (3 input channels with a 1-channel 5x5 reduction;
6 input channels with a 1-channel pool projection) on 7x7, 5x9, 6x6 and 1x1 maps, and the paper's 3a
(192 channels in, on an 8x8 map) and 4e (528 in, on a 5x5 map) from `INCEPTION_CONFIG`.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from ..models import INCEPTION_CONFIG
from ..models import Inception as _Reference
from ..models.inception import BRANCH_NAMES
from ._core import Case, exercise
from ._modules import Group, build_module, run_groups

_SEED = 301
_ATOL = 1e-4           # two channels "hold the same values" when they differ by less than this


@dataclass(frozen=True)
class _Config:
    """The seven constructor arguments, shown as the call in a failure message."""

    name: str
    values: tuple[int, int, int, int, int, int, int]

    def __repr__(self) -> str:
        return f"{self.name}{self.values}"


# ----------------------------------------------------------------------------- measuring a module
def _build(make: Callable, config: _Config) -> nn.Module:
    """`make(*config.values)` with the torch seed fixed; it must be an nn.Module."""
    return build_module(make, config.values, _SEED, repr(config))


def _reference(config: _Config) -> nn.Module:
    """The package's module for `config`, seeded, each conv filter shifted to zero mean and each bias
    drawn in [0, 0.1]: a filter then ignores the input's offset (a max-pool's output is mostly
    positive), and no output channel is all zero after its ReLU, so each one holds values that no
    other channel has."""
    module = _build(_Reference, config)
    gen = torch.Generator().manual_seed(_SEED)
    with torch.no_grad():
        for conv in _convs(module):
            conv.weight -= conv.weight.mean(dim=(1, 2, 3), keepdim=True)
            conv.bias.uniform_(0.0, 0.1, generator=gen)
    return module


def _conv_key(conv: nn.Conv2d) -> tuple[int, int, int]:
    """(kernel, in_channels, out_channels) of a convolution (its kernel's height)."""
    return conv.kernel_size[0], conv.in_channels, conv.out_channels


def _convs(module: nn.Module) -> list[nn.Conv2d]:
    return [m for m in module.modules() if isinstance(m, nn.Conv2d)]


def _conv_names(keys: list[tuple[int, int, int]]) -> str:
    return ", ".join(f"{k}x{k} {i}->{o}" for k, i, o in keys) or "none"


def _output_shape(module: nn.Module, config: _Config, x: Tensor) -> str:
    with torch.no_grad():
        out = module.eval()(x)
    if not isinstance(out, Tensor):
        return f"a {type(out).__name__}, not a Tensor"
    return f"Tensor{list(out.shape)}"


def _param_count(module: nn.Module, config: _Config) -> int:
    return sum(p.numel() for p in module.parameters())


def _conv_diff(module: nn.Module, config: _Config) -> str:
    """"the reference's convolutions", or which (kernel, in -> out) convolutions are missing and which
    are not in the reference."""
    missing = sorted(_conv_key(c) for c in _convs(_reference(config)))
    extra = []
    for key in sorted(_conv_key(c) for c in _convs(module)):
        if key in missing:
            missing.remove(key)
        else:
            extra.append(key)
    if not missing and not extra:
        return "the reference's convolutions"
    return f"missing: {_conv_names(missing)}; not in the reference: {_conv_names(extra)}"


def _copy_weights(source: nn.Module, target: nn.Module) -> str | None:
    """Copy each conv's weight and bias from `source` into the conv of `target` with the same
    (kernel, in, out); None on success, else why that cannot be done."""
    by_key = {_conv_key(c): c for c in _convs(source)}
    targets = _convs(target)
    keys = [_conv_key(c) for c in targets]
    if sorted(keys) != sorted(by_key):
        return "cannot compare: your convolutions differ from the reference's (see the convolution cases)"
    with torch.no_grad():
        for conv, key in zip(targets, keys, strict=True):
            ref = by_key[key]
            if conv.weight.shape != ref.weight.shape:
                return f"cannot compare: your {_conv_names([key])} conv has weights {list(conv.weight.shape)}"
            conv.weight.copy_(ref.weight)
            if conv.bias is not None and ref.bias is not None:
                conv.bias.copy_(ref.bias)
    return None


def _branch_order(module: nn.Module, config: _Config, x: Tensor) -> str:
    """The branches the output channels come from, in order ("1x1, 3x3, 5x5, pool"), once the
    reference's weights are copied into `module`; "?" marks channels that match no reference channel."""
    reference = _reference(config)
    problem = _copy_weights(reference, module)
    if problem:
        return problem
    with torch.no_grad():
        expected = reference.eval()(x)                                  # (N, C, H, W)
        got = module.eval()(x)
    if not isinstance(got, Tensor) or got.shape != expected.shape:
        return f"cannot compare: the output is not a Tensor{list(expected.shape)} (see the output shape cases)"
    widths = [config.values[i] for i in (1, 3, 5, 6)]
    labels = [name for name, c in zip(BRANCH_NAMES, widths, strict=True) for _ in range(c)]
    g, e = got.transpose(0, 1).flatten(1), expected.transpose(0, 1).flatten(1)    # (C, N*H*W)
    found = []
    for start, chunk in zip(range(0, len(g), 16), g.split(16), strict=True):    # (16, N*H*W)
        diff = (chunk[:, None, :] - e[None, :, :]).abs().amax(dim=2)            # (16, C)
        best = diff.min(dim=1)
        for i, (d, j) in enumerate(zip(best.values.tolist(), best.indices.tolist(), strict=True)):
            j = start + i if diff[i, start + i] < _ATOL else j     # the channel at the same place, if it matches
            found.append(labels[j] if d < _ATOL else "?")
    order = ", ".join(name for i, name in enumerate(found) if i == 0 or name != found[i - 1])
    if order == ", ".join(BRANCH_NAMES) and not torch.allclose(got, expected, atol=_ATOL, rtol=0):
        order += " (but channels inside a branch are out of order)"
    return order


def _missing_gradients(module: nn.Module, config: _Config, x: Tensor) -> str:
    """"every parameter" when each parameter gets a non-zero gradient from out.sum(), else their names."""
    out = module.train()(x)
    if not isinstance(out, Tensor):
        return f"cannot test: the module returned a {type(out).__name__}"
    out.sum().backward()
    missing = [name for name, p in module.named_parameters() if p.grad is None or not bool(p.grad.any())]
    return "every parameter" if not missing else "none for " + ", ".join(missing)


# ----------------------------------------------------------------------------- the cases
_SMALL = (3, 5, 2, 3, 1, 2, 4)
_OTHER = (6, 4, 3, 5, 2, 7, 1)
_3A = (192, *INCEPTION_CONFIG["3a"])
_4E = (528, *INCEPTION_CONFIG["4e"])


@functools.cache
def _plan() -> tuple[tuple[Callable, tuple[tuple[str, tuple[int, ...], tuple[Tensor, ...], Any], ...]], ...]:
    """The cases, grouped by what they measure: (measure, ((description, config, inputs, expected), ...)).
    The expected values are the reference's, computed once."""
    gen = torch.Generator().manual_seed(_SEED)
    x_small, x_rect, x_one = (torch.randn(n, 3, h, w, generator=gen) for n, h, w in ((2, 7, 7), (2, 5, 9), (1, 1, 1)))
    x_other = torch.randn(2, 6, 6, 6, generator=gen)
    x_3a, x_4e = torch.randn(1, 192, 8, 8, generator=gen), torch.randn(1, 528, 5, 5, generator=gen)
    groups = [
        (_output_shape, [
            ("a small module (3 channels in; widths 5, 2 -> 3, 1 -> 2, pool 4) on a 7x7 map: "
             "5 + 3 + 2 + 4 = 14 channels out, still 7x7", _SMALL, (x_small,)),
            ("the same module on a non-square 5x9 map: every branch keeps H x W", _SMALL, (x_rect,)),
            ("the same module on a 1x1 map (the pool and the 5x5 conv need their padding)", _SMALL, (x_one,)),
            ("the paper's 3a (192 channels in; on an 8x8 map): 64 + 128 + 32 + 32 = 256 channels out", _3A, (x_3a,)),
            ("the paper's 4e (528 channels in; on a 5x5 map): 256 + 320 + 128 + 128 = 832 channels out",
             _4E, (x_4e,)),
        ]),
        (_param_count, [
            ("the small module's parameters (weights and biases of six convolutions)", _SMALL, ()),
            ("the parameters of the paper's 3a: 163,328 weights + 368 biases", _3A, ()),
            ("the parameters of the paper's 4e", _4E, ()),
        ]),
        (_conv_diff, [
            ("the small module's convolutions as (kernel in->out): 1x1 reductions before the 3x3 and 5x5 "
             "convs, a 1x1 projection after the pool", _SMALL, ()),
            ("the convolutions of the paper's 3a", _3A, ()),
        ]),
        (_branch_order, [
            ("the small module with the reference's weights copied into your convs: the branch each output "
             "channel comes from, in order", _SMALL, (x_small,)),
            ("another small module (6 channels in; widths 4, 3 -> 5, 2 -> 7, pool 1) on a 6x6 map",
             _OTHER, (x_other,)),
            ("the paper's 3a, where the 5x5 and the pool branch both have 32 channels", _3A, (x_3a,)),
            ("the small module on a non-square 5x9 map", _SMALL, (x_rect,)),
        ]),
        (_missing_gradients, [
            ("gradients of out.sum() reach every parameter (every branch is used)", _SMALL, (x_small,)),
            ("gradients reach every parameter of the paper's 3a", _3A, (x_3a,)),
        ]),
    ]
    plan = []
    for measure, cases in groups:
        rows = []
        for description, values, inputs in cases:
            config = _Config("Inception", values)
            rows.append((description, values, inputs, measure(_reference(config), config, *inputs)))
        plan.append((measure, tuple(rows)))
    return tuple(plan)


def _run(fn: Callable, groups: list[Group]) -> tuple[str, int, int, str]:
    return run_groups(fn, groups, _build)


@exercise("03", 1, "the Inception module")
def inception_module(fn: Callable) -> tuple[str, int, int, str]:
    """Check ``fn(in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj) -> nn.Module``
    (Tensor[N, in_channels, H, W] -> Tensor[N, ch1x1 + ch3x3 + ch5x5 + pool_proj, H, W]) against
    `cvcourse.models.Inception` (Szegedy et al. 2015, Fig. 2b)."""
    if isinstance(fn, nn.Module):
        raise TypeError(f"checks.inception_module expects the class (or a function) that builds the module, "
                        f"e.g. checks.inception_module(InceptionModule); got a {type(fn).__name__} instance")
    name = getattr(fn, "__name__", "module")
    return _run(fn, [(measure, [Case(description, args=(_Config(name, values), *inputs), expected=expected)
                                for description, values, inputs, expected in rows])
                     for measure, rows in _plan()])
