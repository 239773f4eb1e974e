"""Output sizes, padding and receptive fields of convolutions and pooling (chapter 02).

Every size function works on one spatial axis: sizes are scalars. A square 2-D layer gives the same
answer on both axes; for a rectangular kernel or input, call the function once per axis.

The rules are PyTorch's (`nn.Conv2d`, `nn.MaxPool2d`, `nn.AvgPool2d`, `nn.ConvTranspose2d`), except
`same_padding`, which reproduces TensorFlow's `padding="SAME"`. Symbols in the formulas: I input
size, K kernel, S stride, P padding (on each side), D dilation, O output size.

Reference: V. Dumoulin and F. Visin, "A guide to convolution arithmetic for deep learning",
arXiv:1603.07285, 2016.
"""
from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn

__all__ = [
    "LayerRow",
    "ModelSummary",
    "ReceptiveField",
    "conv_output_size",
    "pool_output_size",
    "receptive_field",
    "same_padding",
    "summary",
    "transposed_conv_output_size",
]


# ----------------------------------------------------------------------------- validation
def _int(name: str, value: Any, minimum: int) -> int:
    """`value` as a Python int, or TypeError (not an int, or a bool) / ValueError (below `minimum`)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}: expected an int, got {type(value).__name__} {value!r}")
    if value < minimum:
        rule = "positive" if minimum == 1 else "non-negative"
        raise ValueError(f"{name}: must be {rule} (>= {minimum}), got {value}")
    return int(value)


def _sizes(size: Any, kernel: Any, stride: Any, padding: Any, dilation: Any) -> tuple[int, ...]:
    return (_int("size", size, 1), _int("kernel", kernel, 1), _int("stride", stride, 1),
            _int("padding", padding, 0), _int("dilation", dilation, 1))


def _dilated(kernel: int, dilation: int) -> int:
    """The extent of a dilated kernel: D*(K-1) + 1 (a 3-tap kernel with dilation 2 spans 5 pixels)."""
    return dilation * (kernel - 1) + 1


def _kernel_too_large(size: int, kernel: int, padding: int, dilation: int) -> ValueError:
    return ValueError(
        f"kernel: the dilated kernel ({_dilated(kernel, dilation)}) is larger than the padded input "
        f"({size} + 2*{padding} = {size + 2 * padding}); expected D*(K-1)+1 <= I + 2P"
    )


# ----------------------------------------------------------------------------- output sizes
def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """The output size of a convolution along one axis, as `nn.Conv2d` computes it.

    The kernel's first tap visits positions 0, S, 2S, ... of the padded input (I + 2P pixels) while
    its last tap, D*(K-1) pixels further, stays inside:

        O = floor((I + 2P - D*(K-1) - 1) / S) + 1

    A fraction means the last few pixels are not reached by another window: they are dropped.

    Args:
        size: input size I along the axis (>= 1).
        kernel: kernel size K (>= 1).
        stride: step S between windows (>= 1).
        padding: zeros P added on each side (>= 0).
        dilation: spacing D between kernel taps (>= 1); D*(K-1)+1 is the dilated kernel's extent.

    Returns:
        The output size O (>= 1).

    Raises:
        TypeError: an argument is not an int (bools are refused).
        ValueError: an argument is out of range, or the dilated kernel is larger than the padded
            input (PyTorch refuses it too).

    Reference: Dumoulin & Visin 2016, relationship 15; PyTorch `nn.Conv2d` documentation.
    """
    size, kernel, stride, padding, dilation = _sizes(size, kernel, stride, padding, dilation)
    if _dilated(kernel, dilation) > size + 2 * padding:
        raise _kernel_too_large(size, kernel, padding, dilation)
    return (size + 2 * padding - _dilated(kernel, dilation)) // stride + 1


def pool_output_size(size: int, kernel: int, stride: int | None = None, padding: int = 0,
                     dilation: int = 1, ceil_mode: bool = False) -> int:
    """The output size of max or average pooling along one axis, as `nn.MaxPool2d` computes it.

    With `ceil_mode=False` this is the convolution formula. With `ceil_mode=True` the division is
    rounded up, so a last, partial window covers the leftover pixels, but that window must start
    inside the input or the left padding (else it is dropped):

        O = ceil((I + 2P - D*(K-1) - 1) / S) + 1;   if (O-1)*S >= I + P: O = O - 1

    Pooling also requires P <= K // 2 (PyTorch raises otherwise). With `ceil_mode=True` PyTorch
    accepts a kernel up to S-1 pixels larger than the padded input (one partial window); so does
    this function.

    Args:
        size: input size I (>= 1).
        kernel: window size K (>= 1).
        stride: step S (>= 1); None means S = K, the default of `nn.MaxPool2d`.
        padding: P on each side, 0 <= P <= K // 2.
        dilation: spacing D between window taps (>= 1; `nn.AvgPool2d` has none, use 1).
        ceil_mode: round the division up instead of down.

    Returns:
        The output size O (>= 1).

    Raises:
        TypeError: a size is not an int, or `ceil_mode` is not a bool.
        ValueError: an argument is out of range, P > K // 2, or the window does not fit even once.

    Reference: PyTorch `nn.MaxPool2d` documentation and `pooling_output_shape` in
    aten/src/ATen/native/Pool.h.
    """
    stride = kernel if stride is None else stride
    size, kernel, stride, padding, dilation = _sizes(size, kernel, stride, padding, dilation)
    if not isinstance(ceil_mode, (bool, np.bool_)):
        raise TypeError(f"ceil_mode: expected a bool, got {type(ceil_mode).__name__} {ceil_mode!r}")
    if padding > kernel // 2:
        raise ValueError(f"padding: pooling pads at most half the window, expected P <= K // 2 = "
                         f"{kernel // 2}, got {padding}")
    span = size + 2 * padding - _dilated(kernel, dilation)
    out = (-(-span // stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1  # the last window would start in the right padding: PyTorch drops it
    if out < 1:
        raise _kernel_too_large(size, kernel, padding, dilation)
    return out


def same_padding(size: int, kernel: int, stride: int = 1, dilation: int = 1) -> tuple[int, int]:
    """The padding (before, after) that makes a convolution's output ceil(I / S): TensorFlow's "SAME".

    O = ceil(I/S) windows need (O-1)*S + D*(K-1)+1 pixels, so the total padding is

        P_total = max((ceil(I/S) - 1)*S + D*(K-1) + 1 - I, 0)

    split as before = P_total // 2, after = P_total - before: when P_total is odd the extra pixel
    goes after (right/bottom), TensorFlow's convention (PyTorch's `padding="same"` splits the same
    way). Example, the first layer of YOLOv1: I=448, K=7, S=2 needs 5 pixels, (2, 3), giving 224.
    Apply it with `F.pad(x, (before, after, before, after))` and a convolution with padding=0.

    Args:
        size: input size I (>= 1).
        kernel: kernel size K (>= 1).
        stride: step S (>= 1).
        dilation: spacing D between kernel taps (>= 1).

    Returns:
        (before, after), two non-negative ints.

    Raises:
        TypeError: an argument is not an int.
        ValueError: an argument is not positive.

    Reference: TensorFlow, "tf.nn: Notes on padding"
    (https://www.tensorflow.org/api_docs/python/tf/nn#notes_on_padding_2).
    """
    size, kernel, stride, _, dilation = _sizes(size, kernel, stride, 0, dilation)
    out = -(-size // stride)
    total = max((out - 1) * stride + _dilated(kernel, dilation) - size, 0)
    return total // 2, total - total // 2


def transposed_conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0,
                                output_padding: int = 0, dilation: int = 1) -> int:
    """The output size of a transposed convolution along one axis, as `nn.ConvTranspose2d` computes it.

    The transposed convolution inverts the shape of a convolution with the same arguments:

        O = (I - 1)*S - 2P + D*(K-1) + output_padding + 1

    A strided convolution maps several input sizes to one output size (floor); `output_padding`
    (< max(S, D), PyTorch's rule) picks which of them to produce. PyTorch returns an empty tensor
    when O = 0; this function raises instead.

    Args:
        size: input size I (>= 1).
        kernel: kernel size K (>= 1).
        stride: S (>= 1), the upsampling factor.
        padding: P (>= 0), removed from each side of the output.
        output_padding: extra pixels added on one side, 0 <= output_padding < max(S, D).
        dilation: D (>= 1).

    Returns:
        The output size O (>= 1).

    Raises:
        TypeError: an argument is not an int.
        ValueError: an argument is out of range, or the padding leaves no output.

    Reference: Dumoulin & Visin 2016, relationship 14; PyTorch `nn.ConvTranspose2d` documentation.
    """
    size, kernel, stride, padding, dilation = _sizes(size, kernel, stride, padding, dilation)
    output_padding = _int("output_padding", output_padding, 0)
    if output_padding >= max(stride, dilation):
        raise ValueError(f"output_padding: must be smaller than the stride or the dilation, expected "
                         f"output_padding < max(S, D) = {max(stride, dilation)}, got {output_padding}")
    out = (size - 1) * stride - 2 * padding + _dilated(kernel, dilation) + output_padding
    if out < 1:
        raise ValueError(f"padding: {padding} on each side leaves an output of size {out}; expected "
                         f"(I-1)*S - 2P + D*(K-1) + output_padding + 1 >= 1")
    return out


# ----------------------------------------------------------------------------- receptive fields
class ReceptiveField(NamedTuple):
    """The receptive field of the units of a layer, along one axis, in input pixels.

    Pixel centres are at integer coordinates 0, 1, ..., I-1.

    Attributes:
        size: how many input pixels one output unit sees (first to last, holes of dilation included).
        jump: the distance between the fields of two neighbouring output units (product of strides).
        start: the centre of the first output unit's field; negative with padding, a half-integer
            after an even kernel. Output unit i is centred on start + i*jump.
    """

    size: int
    jump: int
    start: float


_POOLS = (nn.MaxPool2d, nn.AvgPool2d)
# Layers that keep the spatial geometry (pointwise activations, normalisation, dropout): skipped.
_GEOMETRY_FREE = (
    nn.Identity, nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU,
    nn.Mish, nn.Sigmoid, nn.Tanh, nn.Hardtanh, nn.Hardswish, nn.Hardsigmoid, nn.Softplus,
    nn.BatchNorm2d, nn.SyncBatchNorm, nn.InstanceNorm2d, nn.GroupNorm, nn.LocalResponseNorm,
    nn.Dropout, nn.Dropout2d,
)


def receptive_field(layers: Sequence[Any] | nn.Module) -> ReceptiveField:
    """The receptive field (size, jump, start) of the last layer of a stack, along one axis.

    With k = D*(K-1)+1 the dilated kernel, each layer updates, from r = 1, j = 1, start = 0:

        r_out = r_in + (k - 1) * j_in
        j_out = j_in * S
        start_out = start_in + ((k - 1)/2 - P) * j_in

    Args:
        layers: a sequence whose items are `(kernel, stride)`, `(kernel, stride, padding)` or
            `(kernel, stride, padding, dilation)` tuples, or `nn.Conv2d` / `nn.MaxPool2d` /
            `nn.AvgPool2d` modules with the same geometry on both axes. An `nn.Sequential` (as an
            item or as `layers` itself) is walked; activations, normalisation and dropout layers
            are skipped. An empty sequence gives ReceptiveField(1, 1, 0.0).

    Returns:
        ReceptiveField(size, jump, start).

    Raises:
        TypeError: an item is neither a tuple nor a supported module (the message names it).
        ValueError: a tuple has the wrong length or a value out of range, or a module's geometry
            differs between the axes.

    Reference: A. Araujo, W. Norris and J. Sim, "Computing receptive fields of convolutional neural
    networks", Distill, 2019 (doi:10.23915/distill.00021).
    """
    size, jump, start = 1, 1, 0.0
    for kernel, stride, padding, dilation in _geometries(layers, "layers"):
        extent = _dilated(kernel, dilation)
        start += ((extent - 1) / 2 - padding) * jump
        size += (extent - 1) * jump
        jump *= stride
    return ReceptiveField(size, jump, start)


def _geometries(layers: Any, where: str) -> Iterator[tuple[int, int, int, int]]:
    """(kernel, stride, padding, dilation) of each layer that changes the geometry, in order."""
    if isinstance(layers, nn.Module) and not isinstance(layers, nn.Sequential):
        layers = [layers]
    for i, layer in enumerate(layers):
        here = f"{where}[{i}]"
        if isinstance(layer, nn.Sequential):
            yield from _geometries(layer, here)
        elif isinstance(layer, _GEOMETRY_FREE):
            continue
        elif isinstance(layer, (nn.Conv2d, *_POOLS)):
            yield _module_geometry(layer, here)
        elif isinstance(layer, nn.Module):
            raise TypeError(f"{here}: receptive_field does not know the geometry of {type(layer).__name__}; "
                            f"expected Conv2d, MaxPool2d, AvgPool2d, or a layer that keeps it (ReLU, BatchNorm2d, ...)")
        elif isinstance(layer, tuple):
            if not 2 <= len(layer) <= 4:
                raise ValueError(f"{here}: expected (kernel, stride[, padding[, dilation]]), got {layer!r}")
            kernel, stride, padding, dilation = (*layer, *(0, 1)[len(layer) - 2:])  # defaults P=0, D=1
            yield (_int(f"{here}.kernel", kernel, 1), _int(f"{here}.stride", stride, 1),
                   _int(f"{here}.padding", padding, 0), _int(f"{here}.dilation", dilation, 1))
        else:
            raise TypeError(f"{here}: expected a (kernel, stride[, padding[, dilation]]) tuple or a "
                            f"Conv2d/MaxPool2d/AvgPool2d module, got {type(layer).__name__}")


def _module_geometry(module: nn.Module, where: str) -> tuple[int, int, int, int]:
    def pair(v: Any) -> tuple[int, int]:
        return tuple(v) if isinstance(v, (tuple, list)) else (v, v)

    kernel, stride = pair(module.kernel_size), pair(module.stride)
    dilation = pair(getattr(module, "dilation", 1))
    padding = module.padding
    if padding == "valid":
        padding = 0
    elif padding == "same":  # PyTorch pads D*(K-1) in total, the smaller half before
        padding = tuple(d * (k - 1) // 2 for k, d in zip(kernel, dilation, strict=True))
    values = (kernel, stride, pair(padding), dilation)
    if any(v[0] != v[1] for v in values):
        raise ValueError(f"{where}: {type(module).__name__} has a different geometry per axis "
                         f"(kernel {kernel}, stride {stride}, padding {padding}, dilation {dilation}); "
                         f"receptive_field works on one axis: pass (kernel, stride, padding, dilation) tuples")
    return tuple(int(v[0]) for v in values)


# ----------------------------------------------------------------------------- model summary
@dataclass(frozen=True)
class LayerRow:
    """One call of a leaf module during `summary`'s forward pass.

    Attributes:
        name: the module's dotted path in the model ("features.0"; "(model)" for a leaf model).
        kind: the module's class name ("Conv2d").
        output_shape: the shape of its output (of the first tensor if it returns several; () if none).
        params: the module's parameter count.
        macs: the multiply-accumulates of this call, for the whole batch of `summary`'s input_shape
            (see `summary` for what is counted; 0 for layers that do none).
    """

    name: str
    kind: str
    output_shape: tuple[int, ...]
    params: int
    macs: int = 0


@dataclass
class ModelSummary:
    """What `summary` found: one row per leaf-module call, the model's parameter totals and its
    multiply-accumulates (`total_macs`, the sum of the rows' `macs`, for the whole input batch).

    `str(summary)` is the table `summary` prints.
    """

    rows: list[LayerRow]
    total_params: int
    trainable_params: int
    total_macs: int = 0

    def __str__(self) -> str:
        return _table(self)


# The table's columns: (header, text of a row, right-aligned). A new LayerRow field adds one line.
_COLUMNS = (
    ("Layer", lambda r: r.name, False),
    ("Type", lambda r: r.kind, False),
    ("Output shape", lambda r: str(list(r.output_shape)) if r.output_shape else "-", False),
    ("Params", lambda r: f"{r.params:,}", True),
    ("MACs", lambda r: f"{r.macs:,}", True),
)


def summary(model: nn.Module, input_shape: Sequence[int], *, device: str | torch.device = "cpu",
            print_table: bool = True) -> ModelSummary:
    """Run one forward pass and list every leaf module's output shape, parameters and MACs.

    The model runs in eval mode under `torch.no_grad()` on zeros of `input_shape`, with a forward
    hook on each leaf module (one without children); each call gives a row, in call order, so a
    module used twice appears twice (and its MACs count twice). Totals count each parameter once.
    Every module's training flag is restored and the hooks are removed afterwards, even if the
    forward pass fails.

    MACs (multiply-accumulates; one MAC = one multiplication and one addition, papers' "FLOPs"
    tables often mean MACs) are counted for the whole batch of `input_shape`, biases excluded:

        Conv1d/2d/3d:          output elements * (in_channels / groups) * kernel elements
        ConvTranspose1d/2d/3d: input elements * (out_channels / groups) * kernel elements
        Linear:                output elements * in_features
        anything else:         0 (normalisation, activations, pooling: cheap next to the above)

    Output elements include the batch: a 3x3 conv 3 -> 8 with padding 1 on (1, 3, 32, 32) gives
    32*32*8 * 3*9 = 221,184 MACs. A transposed convolution multiplies each input element by its
    (out_channels / groups) * kernel weights; counting it like a convolution over its output would
    also count the products with the zeros a stride inserts (S^2 times too many for stride S in
    2-D). Operations outside modules (`x + y`, `x * gate`, `torch.cat`) are not seen by the hooks.

    Args:
        model: the network.
        input_shape: the input's shape including the batch dimension, e.g. (1, 3, 224, 224).
        device: where the input is created (the model is not moved).
        print_table: print the table (the same text as `str(result)`).

    Returns:
        ModelSummary(rows, total_params, trainable_params, total_macs).

    Raises:
        TypeError: `model` is not an `nn.Module` or `input_shape` is not a sequence of ints.
        ValueError: a dimension of `input_shape` is not positive.
        Any exception of the model's forward pass, unchanged.

    Reference: the layout of Keras' `Model.summary()` and of the torchinfo package.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected an nn.Module, got {type(model).__name__}")
    if not isinstance(input_shape, (tuple, list)):
        raise TypeError(f"input_shape: expected a tuple of ints including the batch dimension, "
                        f"e.g. (1, 3, 224, 224), got {type(input_shape).__name__}")
    shape = tuple(_int(f"input_shape[{i}]", n, 1) for i, n in enumerate(input_shape))
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)

    rows: list[LayerRow] = []

    def hook_for(name: str) -> Any:
        def hook(module: nn.Module, inputs: Any, output: Any) -> None:
            params = sum(p.numel() for p in module.parameters())
            macs = _macs(module, inputs, output)
            rows.append(LayerRow(name or "(model)", type(module).__name__, _first_shape(output), params, macs))
        return hook

    modes = [(m, m.training) for m in model.modules()]
    handles = [m.register_forward_hook(hook_for(name))
               for name, m in model.named_modules() if next(m.children(), None) is None]
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(shape, dtype=dtype, device=device))
    finally:
        for handle in handles:
            handle.remove()
        for module, training in modes:
            module.training = training
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    result = ModelSummary(rows, total, trainable, sum(r.macs for r in rows))
    if print_table:
        print(result)
    return result


def _first_shape(output: Any) -> tuple[int, ...]:
    """The shape of `output`, or of the first tensor inside a tuple, list or dict; () if none."""
    if isinstance(output, torch.Tensor):
        return tuple(output.shape)
    items = output.values() if isinstance(output, dict) else output if isinstance(output, (tuple, list)) else ()
    return next((s for s in map(_first_shape, items) if s), ())


_TRANSPOSED = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, *_TRANSPOSED)


def _macs(module: nn.Module, inputs: Any, output: Any) -> int:
    """The multiply-accumulates of one call of a leaf module (the rules in `summary`'s docstring)."""
    if isinstance(module, _CONVS):
        kernel = math.prod(module.kernel_size)
        if isinstance(module, _TRANSPOSED):
            return inputs[0].numel() * (module.out_channels // module.groups) * kernel
        return output.numel() * (module.in_channels // module.groups) * kernel
    if isinstance(module, nn.Linear):
        return output.numel() * module.in_features
    return 0


def _table(s: ModelSummary) -> str:
    cells = [[text(r) for _, text, _ in _COLUMNS] for r in s.rows]
    widths = [max([len(h)] + [len(c[i]) for c in cells]) for i, (h, _, _) in enumerate(_COLUMNS)]

    def line(values: Sequence[str]) -> str:
        parts = [v.rjust(w) if right else v.ljust(w) for v, w, (_, _, right) in zip(values, widths, _COLUMNS, strict=True)]
        return "  ".join(parts).rstrip()

    rule = "-" * (sum(widths) + 2 * (len(widths) - 1))
    lines = [line([h for h, _, _ in _COLUMNS]), rule, *map(line, cells), rule.replace("-", "=")]
    lines += [f"Total MACs: {s.total_macs:,}", f"Total params: {s.total_params:,}", f"Trainable params: {s.trainable_params:,}",
              f"Non-trainable params: {s.total_params - s.trainable_params:,}"]
    return "\n".join(lines)
