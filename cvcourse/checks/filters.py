"""Checks of chapter 01's exercises (convolution), against `cvcourse.filters`.

The learner's functions work on ONE image (no batch dimension) so that plain Python loops stay
simple; the expected answers come from the batched references applied to ``x[None]``. Inputs are
small integer-valued float32 tensors, so a failing case prints values one can check by hand.
"""
from __future__ import annotations

import torch

from .. import filters as _ref
from ._core import Case, exercise, run_cases


def _ints(gen: torch.Generator, *shape: int) -> torch.Tensor:
    """Small integers -3..3 as float32: exact sums, readable failure messages."""
    return torch.randint(-3, 4, shape, generator=gen).float()


def _conv_case(description: str, gen: torch.Generator, x_shape: tuple, w_shape: tuple,
               stride: int = 1, padding: int = 0) -> Case:
    x, w = _ints(gen, *x_shape), _ints(gen, *w_shape)
    kwargs = {}
    if stride != 1:
        kwargs["stride"] = stride
    if padding != 0:
        kwargs["padding"] = padding
    expected = _ref.conv2d(x[None], w, stride=stride, padding=padding)[0]
    return Case(description, args=(x, w), kwargs=kwargs, expected=expected)


@exercise("01", 1, "conv2d by hand")
def conv2d(fn):
    """Check ``fn(x: Tensor[C_in, H, W], weight: Tensor[C_out, C_in, kh, kw], stride=1, padding=0)
    -> Tensor[C_out, H_out, W_out]`` against `cvcourse.filters.conv2d`."""
    gen = torch.Generator().manual_seed(101)
    return run_cases(fn, [
        _conv_case("one channel, 4x4 image, 3x3 kernel", gen, (1, 4, 4), (1, 1, 3, 3)),
        _conv_case("kernel as large as the input (1x1 output)", gen, (1, 3, 3), (1, 1, 3, 3)),
        _conv_case("stride 2 on an odd-sized 5x5 image", gen, (1, 5, 5), (1, 1, 3, 3), stride=2),
        _conv_case("padding 1 (output as large as the input)", gen, (1, 4, 4), (1, 1, 3, 3), padding=1),
        _conv_case("3 input channels, 2 output channels", gen, (3, 4, 4), (2, 3, 3, 3)),
        _conv_case("non-square 2x3 kernel on a non-square 4x5 image", gen, (2, 4, 5), (1, 2, 2, 3)),
        _conv_case("all at once: 2 -> 3 channels, stride 2, padding 1", gen, (2, 5, 4), (3, 2, 3, 3),
                   stride=2, padding=1),
    ])


@exercise("01", 2, "1x1 convolution as a matrix product")
def conv1x1(fn):
    """Check ``fn(x: Tensor[C_in, H, W], weight: Tensor[C_out, C_in]) -> Tensor[C_out, H, W]``
    against `cvcourse.filters.conv1x1`."""
    gen = torch.Generator().manual_seed(102)

    def case(description: str, c_in: int, c_out: int, h: int, w: int, weight=None) -> Case:
        x = _ints(gen, c_in, h, w)
        weight = _ints(gen, c_out, c_in) if weight is None else weight
        return Case(description, args=(x, weight), expected=_ref.conv1x1(x[None], weight)[0])

    return run_cases(fn, [
        case("3 -> 2 channels on a 4x4 image", 3, 2, 4, 4),
        case("C_out = 1: every pixel's channels collapse to one number", 3, 1, 3, 3),
        case("H = W = 1: a single pixel (just a matrix-vector product)", 4, 3, 1, 1),
        case("identity weight: the output equals the input", 3, 3, 2, 2, weight=torch.eye(3)),
        case("non-square 2x5 image, 2 -> 4 channels (more channels out than in)", 2, 4, 2, 5),
    ])
