"""Checks of chapter 02 (output sizes): expected answers come from `cvcourse.sizes`."""
from __future__ import annotations

from collections.abc import Callable

from .. import sizes as _ref
from ._core import Case, exercise, run_cases


def _conv(description: str, *args: int, **kwargs: int) -> Case:
    return Case(description, args=args, kwargs=kwargs, expected=_ref.conv_output_size(*args, **kwargs))


def _same(description: str, *args: int, **kwargs: int) -> Case:
    return Case(description, args=args, kwargs=kwargs, expected=_ref.same_padding(*args, **kwargs))


@exercise("02", 1, "conv_output_size")
def conv_output_size(fn: Callable) -> tuple[str, int, int, str]:
    """Check `fn(size, kernel, stride=1, padding=0, dilation=1)` against `cvcourse.sizes.conv_output_size`."""
    return run_cases(fn, [
        _conv("no padding, stride 1", 32, 3),
        _conv("ResNet's first layer: kernel 7, stride 2, padding 3", 224, 7, stride=2, padding=3),
        _conv("a fraction to round down", 224, 3, stride=2),
        _conv("kernel exactly as large as the padded input", 5, 7, padding=1),
        _conv("stride larger than the kernel", 10, 2, stride=3),
        _conv("dilation 2", 32, 3, dilation=2),
        _conv("stride, padding and dilation together", 17, 3, stride=2, padding=2, dilation=2),
        Case("a dilated kernel larger than the padded input must raise ValueError",
             args=(5, 3), kwargs={"dilation": 3}, raises=ValueError),
    ])


@exercise("02", 2, "same_padding")
def same_padding(fn: Callable) -> tuple[str, int, int, str]:
    """Check `fn(size, kernel, stride=1, dilation=1) -> (before, after)` against `cvcourse.sizes.same_padding`."""
    return run_cases(fn, [
        _same("stride 1, odd kernel: the same on both sides", 32, 3),
        _same("stride 1, even kernel: the extra pixel goes after", 32, 4),
        _same("YOLOv1's first layer: 448, kernel 7, stride 2", 448, 7, stride=2),
        _same("stride 2, odd input size", 225, 3, stride=2),
        _same("stride equal to the kernel needs no padding", 8, 2, stride=2),
        _same("stride larger than the kernel: never negative", 9, 1, stride=3),
        _same("dilation 2", 32, 3, dilation=2),
        _same("kernel larger than the input", 3, 5),
    ])
