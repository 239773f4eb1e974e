"""Chapter 02: output sizes, padding, receptive fields and model summaries, checked against hand-worked
values and against the shapes that real torch layers produce."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from check_helpers import assert_fails_naming_the_case
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from cvcourse import checks, sizes, sizes_plot
from cvcourse.checks._core import GRADE_LOG_ENV
from cvcourse.sizes import (
    ReceptiveField,
    conv_output_size,
    pool_output_size,
    receptive_field,
    same_padding,
    summary,
    transposed_conv_output_size,
)

PROPERTY = settings(max_examples=150, deadline=None)


def _torch_size(make_layer, size):
    """The output width of `make_layer()` on a size x size input, or None if torch refuses it or
    returns an empty tensor (ConvTranspose2d does for an output size of 0; cvcourse refuses that)."""
    try:
        return make_layer()(torch.zeros(1, 1, size, size)).shape[-1] or None
    except (RuntimeError, ValueError):
        return None


# ----------------------------------------------------------------------------- golden values
@pytest.mark.parametrize("args, kwargs, expected", [
    ((224, 7), dict(stride=2, padding=3), 112),  # ResNet's first layer
    ((224, 3), dict(stride=2), 111),  # (224 - 3)/2 + 1 = 111.5, floored
    ((32, 3), {}, 30),
    ((32, 3), dict(padding=1), 32),
    ((5, 7), dict(padding=1), 1),  # the kernel fills the padded input exactly
    ((10, 2), dict(stride=3), 3),  # stride larger than the kernel: pixel 9 is never seen
    ((32, 3), dict(dilation=2), 28),
    ((453, 7), dict(stride=2), 224),  # 448 + 'same' padding (2, 3)
])
def test_conv_output_size_golden(args, kwargs, expected):
    assert conv_output_size(*args, **kwargs) == expected


def test_sizes_accept_numpy_ints_and_return_python_ints():
    out = conv_output_size(np.int64(224), np.int32(7), stride=np.int64(2), padding=3)
    assert out == 112 and type(out) is int
    assert all(type(v) is int for v in same_padding(np.int64(448), 7, 2))


@pytest.mark.parametrize("args, kwargs, expected", [
    ((224, 2), {}, 112),  # stride defaults to the kernel
    ((224, 3), dict(stride=2), 111),
    ((224, 3), dict(stride=2, ceil_mode=True), 112),  # the half window at the end is kept
    ((6, 3), dict(stride=3, padding=1), 2),
    ((6, 3), dict(stride=3, padding=1, ceil_mode=True), 3),
    # ceil would give 4, but window 3 would start at 6 >= I + P = 6, in the right padding: dropped
    ((5, 2), dict(stride=2, padding=1, ceil_mode=True), 3),
    ((2, 3), dict(stride=2, ceil_mode=True), 1),  # ceil_mode accepts one partial window
    ((8, 2), dict(stride=2, padding=1, dilation=3), 4),
])
def test_pool_output_size_golden(args, kwargs, expected):
    assert pool_output_size(*args, **kwargs) == expected


@pytest.mark.parametrize("args, kwargs, expected", [
    ((448, 7), dict(stride=2), (2, 3)),  # YOLOv1's first layer: 5 pixels, the extra one after
    ((224, 7), dict(stride=2), (2, 3)),
    ((32, 3), {}, (1, 1)),
    ((32, 4), {}, (1, 2)),
    ((8, 2), dict(stride=2), (0, 0)),
    ((9, 1), dict(stride=3), (0, 0)),  # the formula gives -2: clipped to 0
    ((32, 3), dict(dilation=2), (2, 2)),
    ((3, 5), {}, (2, 2)),  # kernel larger than the input
])
def test_same_padding_golden(args, kwargs, expected):
    assert same_padding(*args, **kwargs) == expected


def test_same_padding_gives_ceil_of_size_over_stride_for_yolo_v1():
    before, after = same_padding(448, 7, stride=2)
    assert conv_output_size(448 + before + after, 7, stride=2) == 224


def test_transposed_conv_output_size_golden_and_output_padding_inverts_conv():
    assert transposed_conv_output_size(4, 3, stride=2, padding=1, output_padding=1) == 8
    assert transposed_conv_output_size(4, 3, stride=2, padding=1) == 7
    # a stride-2 conv maps both 7 and 8 to 4; output_padding chooses which one comes back
    assert conv_output_size(7, 3, stride=2, padding=1) == conv_output_size(8, 3, stride=2, padding=1) == 4
    assert transposed_conv_output_size(7, 4, stride=2, padding=1) == 14  # DCGAN's upsampling block
    assert transposed_conv_output_size(3, 3, dilation=2, output_padding=1) == 8


def test_receptive_field_golden():
    assert receptive_field([]) == ReceptiveField(1, 1, 0.0)
    assert receptive_field([(3, 1)]) == ReceptiveField(3, 1, 1.0)
    assert receptive_field([(3, 1, 1)]) == ReceptiveField(3, 1, 0.0)
    assert receptive_field([(3, 1, 1)] * 3).size == 7  # three 3x3 convs see as far as one 7x7
    assert receptive_field([(2, 2)]) == ReceptiveField(2, 2, 0.5)
    assert receptive_field([(3, 1, 0, 2)]) == ReceptiveField(5, 1, 2.0)


def _vgg16_features():
    layers = []
    for convs in (2, 2, 3, 3, 3):
        layers += [m for _ in range(convs) for m in (nn.Conv2d(1, 1, 3, padding=1), nn.ReLU())]
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers)


def test_receptive_field_of_vgg16_matches_the_literature():
    features = _vgg16_features()
    assert receptive_field(features[:-1]).size == 196  # conv5_3
    assert receptive_field(features) == ReceptiveField(212, 32, 15.5)  # pool5 (Araujo et al. 2019)


def test_receptive_field_reads_modules_like_tuples():
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Dropout(0.1),
        nn.MaxPool2d(3, stride=2, padding=1),
        nn.Sequential(nn.Conv2d(8, 8, 5, padding="same", dilation=2), nn.ReLU()),
        nn.AvgPool2d(2), nn.Conv2d(8, 8, 4, padding="valid"),
    )
    as_tuples = [(3, 2, 1), (3, 2, 1), (5, 1, 4, 2), (2, 2, 0), (4, 1, 0)]
    assert receptive_field(model) == receptive_field(as_tuples)
    assert receptive_field(list(model)) == receptive_field(as_tuples)
    assert receptive_field(model[0]) == receptive_field([(3, 2, 1)])


# ----------------------------------------------------------------------------- invalid input
@pytest.mark.parametrize("call, error, match", [
    (lambda: conv_output_size(5.0, 3), TypeError, r"^size: expected an int, got float"),
    (lambda: conv_output_size(True, 3), TypeError, r"^size: expected an int, got bool"),
    (lambda: conv_output_size(5, "3"), TypeError, r"^kernel:"),
    (lambda: conv_output_size(0, 3), ValueError, r"^size: must be positive"),
    (lambda: conv_output_size(5, 0), ValueError, r"^kernel: must be positive"),
    (lambda: conv_output_size(5, 3, stride=0), ValueError, r"^stride: must be positive"),
    (lambda: conv_output_size(5, 3, padding=-1), ValueError, r"^padding: must be non-negative"),
    (lambda: conv_output_size(5, 3, dilation=0), ValueError, r"^dilation: must be positive"),
    (lambda: conv_output_size(5, 7), ValueError,
     r"^kernel: the dilated kernel \(7\) is larger than the padded input \(5 \+ 2\*0 = 5\); "
     r"expected D\*\(K-1\)\+1 <= I \+ 2P$"),
    (lambda: conv_output_size(5, 3, dilation=3), ValueError, r"^kernel: the dilated kernel \(7\)"),
    (lambda: pool_output_size(8, 3, padding=2), ValueError, r"^padding: .*P <= K // 2 = 1, got 2"),
    (lambda: pool_output_size(2, 3, stride=2), ValueError, r"^kernel: the dilated kernel \(3\)"),
    (lambda: pool_output_size(8, 2, stride=0), ValueError, r"^stride:"),
    (lambda: pool_output_size(8, 2, ceil_mode=1), TypeError, r"^ceil_mode: expected a bool"),
    (lambda: same_padding(0, 3), ValueError, r"^size:"),
    (lambda: same_padding(8, 3.0), TypeError, r"^kernel:"),
    (lambda: same_padding(8, 3, stride=0), ValueError, r"^stride:"),
    (lambda: same_padding(8, 3, dilation=0), ValueError, r"^dilation:"),
    (lambda: transposed_conv_output_size(4, 3, stride=2, output_padding=2), ValueError,
     r"^output_padding: .*output_padding < max\(S, D\) = 2, got 2"),
    (lambda: transposed_conv_output_size(4, 3, output_padding=-1), ValueError, r"^output_padding:"),
    (lambda: transposed_conv_output_size(1, 1, padding=1), ValueError, r"^padding: .*output of size -1"),
    (lambda: receptive_field([(3,)]), ValueError, r"^layers\[0\]: expected \(kernel, stride"),
    (lambda: receptive_field([(3, 1), (3, 1, 0, 1, 1)]), ValueError, r"^layers\[1\]: expected"),
    (lambda: receptive_field([(3, 0)]), ValueError, r"^layers\[0\]\.stride: must be positive"),
    (lambda: receptive_field([(3, 1, -1)]), ValueError, r"^layers\[0\]\.padding:"),
    (lambda: receptive_field([(3.5, 1)]), TypeError, r"^layers\[0\]\.kernel:"),
    (lambda: receptive_field([3]), TypeError, r"^layers\[0\]: expected a \(kernel, stride"),
    (lambda: receptive_field([nn.Conv2d(1, 1, 3), nn.Linear(2, 2)]), TypeError, r"^layers\[1\]: .*Linear"),
    (lambda: receptive_field([(3, 1), nn.Sequential(nn.Flatten())]), TypeError, r"^layers\[1\]\[0\]: .*Flatten"),
    (lambda: receptive_field([nn.Conv2d(1, 1, (3, 5))]), ValueError, r"^layers\[0\]: Conv2d has a different geometry"),
    (lambda: summary(nn.ReLU(), 224), TypeError, r"^input_shape: expected a tuple"),
    (lambda: summary(nn.ReLU(), (1, 3, 0, 4)), ValueError, r"^input_shape\[2\]: must be positive"),
    (lambda: summary(lambda x: x, (1, 3)), TypeError, r"^model: expected an nn.Module"),
])
def test_invalid_input_names_the_argument(call, error, match):
    with pytest.raises(error, match=match):
        call()


# ----------------------------------------------------------------------------- against torch
@PROPERTY
@given(size=st.integers(1, 16), kernel=st.integers(1, 6), stride=st.integers(1, 4),
       padding=st.integers(0, 3), dilation=st.integers(1, 3))
def test_conv_output_size_matches_torch(size, kernel, stride, padding, dilation):
    expected = _torch_size(lambda: nn.Conv2d(1, 1, kernel, stride, padding, dilation, bias=False), size)
    if expected is None:
        with pytest.raises(ValueError, match="^kernel:"):
            conv_output_size(size, kernel, stride, padding, dilation)
    else:
        assert conv_output_size(size, kernel, stride, padding, dilation) == expected


@PROPERTY
@given(size=st.integers(1, 16), kernel=st.integers(1, 6), stride=st.none() | st.integers(1, 4),
       padding=st.integers(0, 3), dilation=st.integers(1, 3), ceil_mode=st.booleans(),
       kind=st.sampled_from(["max", "avg"]))
def test_pool_output_size_matches_torch(size, kernel, stride, padding, dilation, ceil_mode, kind):
    if kind == "avg":
        dilation = 1  # nn.AvgPool2d has no dilation

        def make():
            return nn.AvgPool2d(kernel, stride, padding, ceil_mode=ceil_mode)
    else:
        def make():
            return nn.MaxPool2d(kernel, stride, padding, dilation, ceil_mode=ceil_mode)
    expected = _torch_size(make, size)
    if expected is None:
        with pytest.raises(ValueError, match="^(kernel|padding):"):
            pool_output_size(size, kernel, stride, padding, dilation, ceil_mode)
    else:
        assert pool_output_size(size, kernel, stride, padding, dilation, ceil_mode) == expected


@PROPERTY
@given(size=st.integers(1, 10), kernel=st.integers(1, 5), stride=st.integers(1, 4),
       padding=st.integers(0, 3), output_padding=st.integers(0, 3), dilation=st.integers(1, 3))
def test_transposed_conv_output_size_matches_torch(size, kernel, stride, padding, output_padding, dilation):
    expected = _torch_size(lambda: nn.ConvTranspose2d(1, 1, kernel, stride, padding, output_padding,
                                                      dilation=dilation, bias=False), size)
    args = (size, kernel, stride, padding, output_padding, dilation)
    if expected is None:
        with pytest.raises(ValueError, match="^(output_padding|padding):"):
            transposed_conv_output_size(*args)
    else:
        assert transposed_conv_output_size(*args) == expected


@PROPERTY
@given(size=st.integers(1, 20), kernel=st.integers(1, 6), stride=st.integers(1, 4), dilation=st.integers(1, 3))
def test_same_padding_gives_ceil_size_over_stride_with_the_least_padding(size, kernel, stride, dilation):
    before, after = same_padding(size, kernel, stride, dilation)
    x = F.pad(torch.zeros(1, 1, size, size), (before, after, before, after))
    y = F.conv2d(x, torch.ones(1, 1, kernel, kernel), stride=stride, dilation=dilation)
    assert y.shape[-2:] == (math.ceil(size / stride),) * 2
    assert 0 <= before <= after <= before + 1
    if before + after:  # one pixel less would not do
        try:
            fewer = conv_output_size(size + before + after - 1, kernel, stride, dilation=dilation)
        except ValueError:
            fewer = 0
        assert fewer < math.ceil(size / stride)


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@settings(max_examples=40, deadline=None)
@given(size=st.integers(1, 12), kernel=st.integers(1, 6), dilation=st.integers(1, 3))
def test_same_padding_splits_like_torch_padding_same(size, kernel, dilation):
    gen = torch.Generator().manual_seed(size * 100 + kernel * 10 + dilation)
    x, w = torch.randn(1, 1, size, size, generator=gen), torch.randn(1, 1, kernel, kernel, generator=gen)
    before, after = same_padding(size, kernel, dilation=dilation)
    ours = F.conv2d(F.pad(x, (before, after, before, after)), w, dilation=dilation)
    torch.testing.assert_close(ours, F.conv2d(x, w, padding="same", dilation=dilation))


_LAYER = st.tuples(st.integers(1, 5), st.integers(1, 2), st.integers(0, 2), st.integers(1, 2))


@settings(max_examples=100, deadline=None)
@given(layers=st.lists(_LAYER, min_size=1, max_size=4))
def test_receptive_field_matches_the_gradient_of_one_output_unit(layers):
    """Convs with all-ones weights: the input pixels with a non-zero gradient are the field."""
    rf = receptive_field(layers)
    width = 3 * rf.size + 8 * rf.jump
    x = torch.zeros(1, 1, 1, width, requires_grad=True)
    y = x
    for k, s, p, d in layers:
        y = F.conv2d(y, torch.ones(1, 1, 1, k), stride=(1, s), padding=(0, p), dilation=(1, d))
    i = round(((width - 1) / 2 - rf.start) / rf.jump)  # the unit nearest the middle: no clipping
    first = rf.start + i * rf.jump - (rf.size - 1) / 2
    assert 0 <= i < y.shape[-1] and 0 <= first and first + rf.size <= width
    y[0, 0, 0, i].backward()
    seen = x.grad[0, 0, 0].nonzero().flatten()
    assert int(seen.max() - seen.min()) + 1 == rf.size
    assert int(seen.min()) == first


def test_draw_sliding_windows_draws_cells_and_windows():
    import matplotlib.pyplot as plt

    ax = sizes_plot.draw_sliding_windows(8, 3, stride=2, padding=1)
    try:
        cells, windows = ax.patches[:10], ax.patches[10:]
        assert len(cells) == 8 + 2 and len(windows) == conv_output_size(8, 3, stride=2, padding=1) == 4
        assert [c.get_hatch() for c in cells].count("//") == 1  # the right padding cell is never reached
        assert ax.get_title() == "I=8, K=3, S=2, P=1  ->  O=4"
    finally:
        plt.close(ax.figure)


# ----------------------------------------------------------------------------- summary
def _small_cnn():
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Sequential(nn.Conv2d(8, 4, 3), nn.ReLU()),
        nn.Flatten(), nn.Linear(4 * 14 * 14, 10),
    )


def test_summary_rows_shapes_and_totals(capsys):
    model = _small_cnn()
    model[0].requires_grad_(False)
    result = summary(model, (2, 3, 32, 32))
    assert [r.name for r in result.rows] == ["0", "1", "2", "3", "4.0", "4.1", "5", "6"]
    assert [r.kind for r in result.rows] == ["Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d", "Conv2d", "ReLU",
                                             "Flatten", "Linear"]
    assert [r.output_shape for r in result.rows] == [
        (2, 8, 32, 32), (2, 8, 32, 32), (2, 8, 32, 32), (2, 8, 16, 16), (2, 4, 14, 14), (2, 4, 14, 14),
        (2, 784), (2, 10)]
    assert [r.params for r in result.rows] == [224, 16, 0, 0, 292, 0, 0, 7850]
    assert result.total_params == sum(p.numel() for p in model.parameters()) == 8382
    assert result.trainable_params == 8382 - 224
    printed = capsys.readouterr().out
    assert printed == str(result) + "\n"
    assert "4.0    Conv2d" in printed and "[2, 4, 14, 14]" in printed and "7,850" in printed
    assert printed.splitlines()[-3:] == ["Total params: 8,382", "Trainable params: 8,158",
                                         "Non-trainable params: 224"]
    summary(model, (2, 3, 32, 32))
    assert capsys.readouterr().out == printed  # deterministic


def _all_hooks(model):
    return [h for m in model.modules() for h in (*m._forward_hooks.values(), *m._forward_pre_hooks.values())]


def test_summary_restores_modes_removes_hooks_and_leaves_batchnorm_alone(capsys):
    model = _small_cnn().train()
    model[4].eval()  # a mixed state must come back as it was
    modes = [m.training for m in model.modules()]
    summary(model, (1, 3, 32, 32), print_table=False)
    assert [m.training for m in model.modules()] == modes
    assert not _all_hooks(model)
    assert torch.equal(model[1].running_mean, torch.zeros(8))  # ran in eval mode: stats untouched
    assert model[1].num_batches_tracked.item() == 0
    assert capsys.readouterr().out == ""


def test_summary_cleans_up_when_forward_fails():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Linear(5, 5)).train()
    with pytest.raises(RuntimeError):
        summary(model, (1, 3, 8, 8), print_table=False)
    assert model.training and all(m.training for m in model.modules())
    assert not _all_hooks(model)


class _Split(nn.Module):
    def forward(self, x):
        return x[:, :1], x[:, 1:]


class _TwoHeads(nn.Module):
    def __init__(self):
        super().__init__()
        self.split, self.conv = _Split(), nn.Conv2d(2, 2, 3, padding=1)

    def forward(self, x):
        a, b = self.split(x)
        return self.conv(self.conv(b)), a  # the same conv called twice


def test_summary_tuple_outputs_shared_modules_and_leaf_models():
    result = summary(_TwoHeads(), (1, 3, 6, 6), print_table=False)
    assert [(r.name, r.output_shape) for r in result.rows] == [
        ("split", (1, 1, 6, 6)), ("conv", (1, 2, 6, 6)), ("conv", (1, 2, 6, 6))]
    assert result.total_params == 38  # counted once although called twice
    leaf = summary(nn.Conv2d(1, 2, 3), (1, 1, 5, 5), print_table=False)
    assert [(r.name, r.kind, r.output_shape, r.params) for r in leaf.rows] == [("(model)", "Conv2d", (1, 2, 3, 3), 20)]


# ----------------------------------------------------------------------------- the exercise checks
@pytest.fixture
def no_grade_log(monkeypatch):
    monkeypatch.delenv(GRADE_LOG_ENV, raising=False)


def test_checks_are_registered_for_chapter_02():
    assert [s.name for s in checks.exercises_of("02")] == ["conv_output_size", "same_padding"]


@pytest.mark.usefixtures("no_grade_log")
def test_checks_pass_the_reference(capsys):
    result = checks.conv_output_size(sizes.conv_output_size)
    assert result.passed and result.passed_cases == result.total_cases == 8
    assert capsys.readouterr().out == "[PASS] Exercise 02.1 (conv_output_size): passed all 8 cases.\n"
    assert checks.same_padding(sizes.same_padding).passed
    assert capsys.readouterr().out.startswith("[PASS] Exercise 02.2 (same_padding)")


def _no_dilation(size, kernel, stride=1, padding=0, dilation=1):
    if kernel > size + 2 * padding:
        raise ValueError("kernel too large")
    return (size + 2 * padding - kernel) // stride + 1


def _ceil(size, kernel, stride=1, padding=0, dilation=1):
    return math.ceil((size + 2 * padding - dilation * (kernel - 1) - 1) / stride) + 1


def _true_division(size, kernel, stride=1, padding=0, dilation=1):
    return (size + 2 * padding - dilation * (kernel - 1) - 1) / stride + 1


def _never_raises(size, kernel, stride=1, padding=0, dilation=1):
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def _extra_pixel_before(size, kernel, stride=1, dilation=1):
    total = max((math.ceil(size / stride) - 1) * stride + dilation * (kernel - 1) + 1 - size, 0)
    return total - total // 2, total // 2


def _not_clipped(size, kernel, stride=1, dilation=1):
    total = (math.ceil(size / stride) - 1) * stride + dilation * (kernel - 1) + 1 - size
    return total // 2, total - total // 2


@pytest.mark.usefixtures("no_grade_log")
@pytest.mark.parametrize("check, wrong, case, detail", [
    (checks.conv_output_size, _no_dilation, "dilation 2", "expected 28, got 30"),
    (checks.conv_output_size, _ceil, "ResNet's first layer", "expected 112, got 113"),
    (checks.conv_output_size, _true_division, "no padding, stride 1", "expected an int 30, got 30.0"),
    (checks.conv_output_size, _never_raises, "must raise ValueError", "should raise ValueError"),
    (checks.same_padding, _extra_pixel_before, "the extra pixel goes after", "item 0: expected 1, got 2"),
    (checks.same_padding, _not_clipped, "never negative", "item 0: expected 0, got -1"),
])
def test_checks_fail_a_wrong_function_naming_the_case(check, wrong, case, detail, capsys):
    assert_fails_naming_the_case(check, wrong, case, detail, capsys)


# ----------------------------------------------------------------------------- summary: MACs
@pytest.mark.parametrize("layer, input_shape, expected", [
    (nn.Conv2d(3, 8, 3, padding=1), (1, 3, 32, 32), 32 * 32 * 8 * 3 * 9),  # 221,184
    (nn.Conv2d(3, 8, 3, padding=1), (2, 3, 32, 32), 2 * 221_184),  # the whole batch
    (nn.Conv2d(3, 8, 3, stride=2, bias=False), (1, 3, 9, 9), 4 * 4 * 8 * 3 * 9),
    (nn.Conv2d(4, 8, 3, groups=2), (1, 4, 5, 5), 3 * 3 * 8 * 2 * 9),  # each output sees C_in / groups
    (nn.Conv2d(6, 6, 3, padding=1, groups=6), (1, 6, 4, 4), 4 * 4 * 6 * 1 * 9),  # depthwise
    (nn.Conv2d(5, 7, (1, 3)), (1, 5, 4, 6), 4 * 4 * 7 * 5 * 3),
    (nn.Conv1d(2, 4, 5, padding=2), (3, 2, 10), 3 * 10 * 4 * 2 * 5),
    # transposed: every input element times (C_out / groups) * kernel weights (not the output's
    # 8x8 = 4x as many positions, most of which would multiply the zeros the stride inserts)
    (nn.ConvTranspose2d(2, 3, 4, stride=2, padding=1), (1, 2, 4, 4), 2 * 4 * 4 * 3 * 16),
    (nn.ConvTranspose2d(4, 6, 3, groups=2), (1, 4, 5, 5), 4 * 5 * 5 * 3 * 9),
    (nn.Linear(784, 10), (2, 784), 2 * 10 * 784),
    (nn.Linear(8, 3), (2, 5, 8), 2 * 5 * 3 * 8),  # extra dims count as more outputs
    (nn.ReLU(), (1, 3, 8, 8), 0),
    (nn.BatchNorm2d(3), (1, 3, 8, 8), 0),
    (nn.MaxPool2d(2), (1, 3, 8, 8), 0),
])
def test_summary_macs_golden(layer, input_shape, expected):
    result = summary(layer, input_shape, print_table=False)
    assert [r.macs for r in result.rows] == [expected] and result.total_macs == expected


def test_transposed_conv_macs_count_every_product_with_an_input_element():
    """Brute force: scatter each input pixel's products into the output and count them."""
    layer = nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1, bias=False)
    x = torch.randn(1, 2, 4, 5)
    out = torch.zeros(1, 3, (4 - 1) * 2 + 3, (5 - 1) * 2 + 3)  # before cropping the padding
    products = 0
    for c in range(2):
        for i in range(4):
            for j in range(5):
                out[0, :, 2 * i:2 * i + 3, 2 * j:2 * j + 3] += x[0, c, i, j] * layer.weight[c]
                products += layer.weight[c].numel()
    torch.testing.assert_close(out[:, :, 1:-1, 1:-1], layer(x).detach())
    assert summary(layer, (1, 2, 4, 5), print_table=False).total_macs == products == 2 * 4 * 5 * 3 * 9


def test_summary_macs_of_a_model_and_the_table(capsys):
    result = summary(_small_cnn(), (2, 3, 32, 32))
    macs = [2 * 32 * 32 * 8 * 3 * 9, 0, 0, 0, 2 * 14 * 14 * 4 * 8 * 9, 0, 0, 2 * 10 * 784]
    assert [r.macs for r in result.rows] == macs
    assert result.total_macs == sum(macs) == 570_944
    printed = capsys.readouterr().out
    header = printed.splitlines()[0]
    assert header.split() == ["Layer", "Type", "Output", "shape", "Params", "MACs"]
    assert printed.splitlines()[2].split()[-2:] == ["224", "442,368"]  # the first conv's row
    assert "Total MACs: 570,944" in printed.splitlines()[-4]


def test_summary_counts_a_module_called_twice_twice():
    result = summary(_TwoHeads(), (1, 3, 6, 6), print_table=False)
    assert [r.macs for r in result.rows] == [0, 6 * 6 * 2 * 2 * 9, 6 * 6 * 2 * 2 * 9]
    assert result.total_macs == 2 * 1_296
