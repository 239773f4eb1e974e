"""The exercise check of chapter 03 (`cvcourse.checks.inception`): the reference and learners' correct
modules pass (whatever their attribute names, as a class or as a function), typical mistakes fail
with a message naming the case (a wrong branch order included), a stub is "not attempted".
Also the chapter's helpers in `cvcourse.models.inception`: `branch_costs` (parameters and MACs worked
by hand) and `draw_inception`."""
import json

import matplotlib
import pytest
import torch
import torch.nn.functional as F
from check_helpers import assert_fails_naming_the_case
from torch import nn

from cvcourse.checks import inception as inception_checks
from cvcourse.checks._core import GRADE_LOG_ENV
from cvcourse.models import INCEPTION_CONFIG, Inception, InceptionNaive
from cvcourse.models.inception import BRANCH_NAMES, branch_costs, draw_inception

matplotlib.use("Agg")
check = inception_checks.inception_module


@pytest.fixture(autouse=True)
def no_grade_log(monkeypatch):
    monkeypatch.delenv(GRADE_LOG_ENV, raising=False)


# ----------------------------------------------------------------------------- what a learner writes
def conv_relu(c_in, c_out, k):
    return nn.Sequential(nn.Conv2d(c_in, c_out, k, padding=k // 2), nn.ReLU(inplace=True))


class LearnerInception(nn.Module):
    """The notebook's answer: a ModuleList of the four branches, concatenated in order."""

    def __init__(self, in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj):
        super().__init__()
        self.branches = nn.ModuleList([
            conv_relu(in_channels, ch1x1, 1),
            nn.Sequential(conv_relu(in_channels, ch3x3red, 1), conv_relu(ch3x3red, ch3x3, 3)),
            nn.Sequential(conv_relu(in_channels, ch5x5red, 1), conv_relu(ch5x5red, ch5x5, 5)),
            nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1), conv_relu(in_channels, pool_proj, 1)),
        ])

    def forward(self, x):
        return torch.cat([branch(x) for branch in self.branches], dim=1)


class OwnNames(nn.Module):
    """Another correct answer: its own attribute names, defined in another order than they are
    concatenated, padding="same", functional ReLU and pooling in forward."""

    def __init__(self, in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj):
        super().__init__()
        self.proj = nn.Conv2d(in_channels, pool_proj, 1)
        self.big = nn.Conv2d(ch5x5red, ch5x5, 5, padding="same")
        self.big_in = nn.Conv2d(in_channels, ch5x5red, 1)
        self.mid_in = nn.Conv2d(in_channels, ch3x3red, 1)
        self.mid = nn.Conv2d(ch3x3red, ch3x3, 3, padding="same")
        self.point = nn.Conv2d(in_channels, ch1x1, 1)

    def forward(self, x):
        pooled = F.max_pool2d(x, 3, stride=1, padding=1)
        return torch.cat([F.relu(self.point(x)), F.relu(self.mid(F.relu(self.mid_in(x)))),
                          F.relu(self.big(F.relu(self.big_in(x)))), F.relu(self.proj(pooled))], dim=1)


def as_function(in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj):
    """A function that returns the module, instead of a class."""
    return LearnerInception(in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj)


# ----------------------------------------------------------------------------- typical mistakes
class PoolBefore5x5(LearnerInception):
    """Concatenates the pool branch before the 5x5 branch (3a: both 32 channels, same shape)."""

    def forward(self, x):
        b = self.branches
        return torch.cat([b[0](x), b[1](x), b[3](x), b[2](x)], dim=1)


class Reversed(LearnerInception):
    def forward(self, x):
        return torch.cat([branch(x) for branch in reversed(self.branches)], dim=1)


class NoReductions(nn.Module):
    """The naive module's 3x3 and 5x5 convolutions, with the pool projection kept."""

    def __init__(self, in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj):
        super().__init__()
        self.branches = nn.ModuleList([
            conv_relu(in_channels, ch1x1, 1), conv_relu(in_channels, ch3x3, 3), conv_relu(in_channels, ch5x5, 5),
            nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1), conv_relu(in_channels, pool_proj, 1))])

    forward = LearnerInception.forward


def _changed(index, *path_and_module):
    """A LearnerInception whose branch `index` has the sub-module at `path` replaced."""
    *path, module = path_and_module

    class Changed(LearnerInception):
        def __init__(self, *args):
            super().__init__(*args)
            target = self.branches[index]
            for step in path[:-1]:
                target = target[step]
            target[path[-1]] = module(*args) if callable(module) and not isinstance(module, nn.Module) else module
    return Changed


PaddingOneFor5x5 = _changed(2, 1, 0, lambda c, c1, c3r, c3, c5r, c5, cp: nn.Conv2d(c5r, c5, 5, padding=1))
NoReluAfterReduction = _changed(1, 0, lambda c, c1, c3r, c3, c5r, c5, cp: nn.Conv2d(c, c3r, 1))
PoolWithDefaultStride = _changed(3, 0, nn.MaxPool2d(3, padding=1))
ProjectionBeforePool = _changed(3, 1, lambda c, c1, c3r, c3, c5r, c5, cp: nn.Sequential(
    nn.Conv2d(c, cp, 1), nn.ReLU(), nn.MaxPool2d(3, stride=1, padding=1)))
NoReluOn1x1 = _changed(0, 1, nn.Identity())


class AveragePool(LearnerInception):
    def __init__(self, *args):
        super().__init__(*args)
        self.branches[3][0] = nn.AvgPool2d(3, stride=1, padding=1)


class BatchNormInstead(nn.Module):
    """BatchNorm after every conv (bias dropped): torchvision's variant, not the paper's module."""

    def __init__(self, in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj):
        super().__init__()
        self.inner = Inception(in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj, batch_norm=True)

    def forward(self, x):
        return self.inner(x)


class PoolBranchUnderNoGrad(LearnerInception):
    """Right values, but no gradient reaches the pool branch."""

    def forward(self, x):
        b = self.branches
        with torch.no_grad():
            pooled = b[3](x)
        return torch.cat([b[0](x), b[1](x), b[2](x), pooled], dim=1)


class SwappedArguments(LearnerInception):
    """Reads the arguments as (in, 1x1, 3x3, 3x3 reduce, ...): reductions of the wrong width."""

    def __init__(self, in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj):
        super().__init__(in_channels, ch1x1, ch3x3, ch3x3red, ch5x5, ch5x5red, pool_proj)


def forgets_to_return(in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj):
    LearnerInception(in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj)


def stub(in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj):
    raise NotImplementedError("Exercise 03.1")


# ----------------------------------------------------------------------------- the check
def test_check_is_registered_for_chapter_03():
    spec = check.spec
    assert (spec.id, spec.name, spec.title) == ("03.1", "inception_module", "the Inception module")


def test_the_reference_and_a_learners_modules_pass(capsys):
    for fn in (Inception, LearnerInception, OwnNames, as_function):
        result = check(fn)
        assert result.passed and result.passed_cases == result.total_cases == 16, (fn, result.message)
    assert capsys.readouterr().out.splitlines() == \
        ["[PASS] Exercise 03.1 (the Inception module): passed all 16 cases."] * 4


ORDER = "the small module with the reference's weights copied into your convs"


@pytest.mark.parametrize("wrong, case, detail", [
    (PoolBefore5x5, ORDER, "got '1x1, 3x3, pool, 5x5'"),
    (Reversed, ORDER, "got 'pool, 5x5, 3x3, 1x1'"),
    (NoReductions, "the small module's parameters", "expected 157, got 272"),
    (PaddingOneFor5x5, "on a 7x7 map", "Sizes of tensors must match"),
    (PoolWithDefaultStride, "on a 7x7 map", "Sizes of tensors must match"),
    (NoReluAfterReduction, ORDER, "got '1x1, ?, 5x5, pool'"),
    (NoReluOn1x1, ORDER, "got '?, 3x3, 5x5, pool'"),
    (ProjectionBeforePool, ORDER, "got '1x1, 3x3, 5x5, ?'"),
    (AveragePool, ORDER, "got '1x1, 3x3, 5x5, ?'"),
    (BatchNormInstead, "the small module's parameters", "expected 157, got 174"),
    (PoolBranchUnderNoGrad, "gradients of out.sum() reach every parameter",
     "got 'none for branches.3.1.0.weight, branches.3.1.0.bias'"),
    (SwappedArguments, "on a 7x7 map", "got 'Tensor[2, 12, 7, 7]'"),
    (forgets_to_return, "on a 7x7 map", "returned NoneType; expected an nn.Module"),
])
def test_a_wrong_module_fails_naming_the_case(wrong, case, detail, capsys):
    assert_fails_naming_the_case(check, wrong, case, detail, capsys)


def test_the_convolution_case_names_missing_reductions():
    config = inception_checks._Config("NoReductions", inception_checks._SMALL)
    assert inception_checks._conv_diff(NoReductions(*config.values), config) == \
        "missing: 1x1 3->1, 1x1 3->2, 3x3 2->3, 5x5 1->2; not in the reference: 3x3 3->3, 5x5 3->2"
    assert inception_checks._conv_diff(OwnNames(*config.values), config) == "the reference's convolutions"


def test_a_swapped_branch_order_is_told_apart_on_every_order_case():
    """Every order case (not only the first) sees a swap of two equally wide branches."""
    result = check(PoolBefore5x5)
    assert result.passed_cases == result.total_cases - 4, result.message


def test_a_stub_is_not_attempted(capsys):
    result = check(stub)
    assert result.status == "not attempted" and result.passed_cases == 0
    assert capsys.readouterr().out.startswith("[TODO] Exercise 03.1 (the Inception module): not attempted yet")


def test_a_module_instance_instead_of_its_class_is_refused():
    with pytest.raises(TypeError, match=r"expects the class \(or a function\) that builds the module, e.g. "
                                        r"checks.inception_module\(InceptionModule\); got a LearnerInception instance"):
        check(LearnerInception(*inception_checks._SMALL))


def test_the_check_leaves_the_global_random_state_alone():
    torch.manual_seed(5)
    before = torch.get_rng_state()
    check(LearnerInception)
    assert torch.equal(torch.get_rng_state(), before)


def test_reference_channels_are_distinct_so_the_order_is_well_defined():
    """Each order case's reference output has no two equal channels and no all-zero channel:
    matching a channel to its branch is unambiguous."""
    measure, rows = next(group for group in inception_checks._plan() if group[0] is inception_checks._branch_order)
    for _, values, (x,), expected in rows:
        assert expected == "1x1, 3x3, 5x5, pool"
        module = inception_checks._reference(inception_checks._Config("Inception", values))
        with torch.no_grad():
            out = module(x).transpose(0, 1).flatten(1)                   # (C, N*H*W)
        gaps = torch.cdist(out, out, p=float("inf"))
        gaps.fill_diagonal_(float("inf"))
        assert gaps.min() > 10 * inception_checks._ATOL and (out.abs().amax(1) > 0).all()


def test_every_reference_conv_channel_is_negative_somewhere_and_positive_somewhere():
    """On the order cases' inputs: a missing ReLU changes every channel after it, and no channel is dead."""
    _, rows = next(group for group in inception_checks._plan() if group[0] is inception_checks._branch_order)
    for _, values, (x,), _ in rows:
        module = inception_checks._reference(inception_checks._Config("Inception", values))
        outputs = []
        for conv in inception_checks._convs(module):   # the ReLUs work in place: keep a copy of each conv's output
            conv.register_forward_hook(lambda m, i, out, keep=outputs.append: keep(out.clone().transpose(0, 1).flatten(1)))
        with torch.no_grad():
            module(x)
        for out in outputs:                                                 # (C, N*H*W)
            assert (out.amin(1) < 0).all() and (out.amax(1) > 0).all(), values


def test_every_configuration_has_six_different_convolutions():
    for values in (inception_checks._SMALL, inception_checks._OTHER, inception_checks._3A, inception_checks._4E):
        keys = [inception_checks._conv_key(c) for c in Inception(*values).modules() if isinstance(c, nn.Conv2d)]
        assert len(set(keys)) == len(keys) == 6, values


def test_a_verdict_is_logged_for_the_grader(tmp_path, monkeypatch):
    log = tmp_path / "grades.jsonl"
    monkeypatch.setenv(GRADE_LOG_ENV, str(log))
    check(LearnerInception)
    check(PoolBefore5x5)
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(r["exercise"], r["status"]) for r in rows] == [("03.1", "passed"), ("03.1", "failed")]


# ----------------------------------------------------------------------------- models.inception helpers
def test_branch_costs_of_3a_by_hand():
    hw = 28 * 28
    reduced = branch_costs(Inception(192, *INCEPTION_CONFIG["3a"]), (1, 192, 28, 28))
    assert [r["branch"] for r in reduced] == list(BRANCH_NAMES)
    assert [r["channels"] for r in reduced] == [64, 128, 32, 32]
    weights = [192 * 64, 192 * 96 + 9 * 96 * 128, 192 * 16 + 25 * 16 * 32, 192 * 32]
    biases = [64, 96 + 128, 16 + 32, 32]
    assert [r["params"] for r in reduced] == [w + b for w, b in zip(weights, biases, strict=True)]
    assert [r["macs"] for r in reduced] == [w * hw for w in weights]        # stride 1, "same": H*W per weight

    naive = branch_costs(InceptionNaive(192, 64, 128, 32), (2, 192, 28, 28))
    assert [r["channels"] for r in naive] == [64, 128, 32, 192]            # the pool passes all 192 on
    weights = [192 * 64, 9 * 192 * 128, 25 * 192 * 32, 0]
    assert [r["macs"] for r in naive] == [2 * w * hw for w in weights]     # MACs count the whole batch
    assert sum(r["macs"] for r in naive) / 2 == 303_464_448 > 2.3 * sum(r["macs"] for r in reduced) == 2.3 * 128_049_152


def test_branch_costs_bad_input():
    with pytest.raises(TypeError, match="module: expected a cvcourse.models Inception or InceptionNaive, got Conv2d"):
        branch_costs(nn.Conv2d(3, 3, 1), (1, 3, 8, 8))
    with pytest.raises(ValueError, match=r"input_shape\[2\]"):
        branch_costs(Inception(3, *(2,) * 6), (1, 3, 0, 8))


def test_draw_inception_labels_every_layer():
    import matplotlib.pyplot as plt

    ax = draw_inception(Inception(192, *INCEPTION_CONFIG["3a"]))
    texts = [t.get_text() for t in ax.texts if t.get_text()]           # arrows are empty annotations
    assert texts[:2] == ["input: 192 channels", "concatenate: 256 channels"]
    assert texts[2:] == ["1x1 conv\n64 ch", "1x1 conv\n96 ch", "3x3 conv\n128 ch", "1x1 conv\n16 ch", "5x5 conv\n32 ch",
                         "3x3 max-pool\n192 ch", "1x1 conv\n32 ch"]
    assert ax.get_title() == "Inception: 192 -> 256 channels"
    fig, axes = plt.subplots(1, 2)
    assert draw_inception(InceptionNaive(192, 64, 128, 32), ax=axes[1], title="naive") is axes[1]
    assert [t.get_text() for t in axes[1].texts if t.get_text()][-1] == "3x3 max-pool\n192 ch"
    assert axes[1].get_title() == "naive"
    plt.close("all")
    with pytest.raises(TypeError, match="module: expected a cvcourse.models Inception"):
        draw_inception(nn.Sequential())
