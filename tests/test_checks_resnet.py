"""The exercise check of chapter 04 (`cvcourse.checks.resnet`): the reference and learners' correct
blocks pass whatever their attribute names and layer order, typical mistakes (no shortcut, a
shortcut that is never added, projections in the wrong places, a missing BN or ReLU, the stride in
the wrong conv) fail with a message naming the case, a stub is "not attempted"."""
import json

import pytest
import torch
import torch.nn.functional as F
from check_helpers import assert_fails_naming_the_case
from torch import nn

from cvcourse import checks
from cvcourse.checks import resnet as check_module
from cvcourse.checks._core import GRADE_LOG_ENV
from cvcourse.checks.resnet import residual_block
from cvcourse.models import BasicBlock


@pytest.fixture(autouse=True)
def no_grade_log(monkeypatch):
    monkeypatch.delenv(GRADE_LOG_ENV, raising=False)


# ----------------------------------------------------------------------------- what a learner writes
def _projection(cin, cout, stride, bn=True, bias=False, kernel=1):
    layers = [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=bias)] + ([nn.BatchNorm2d(cout)] if bn else [])
    return nn.Sequential(*layers)


class ResidualBlock(nn.Module):
    """The notebook's answer: conv1/bn1/conv2/bn2 attributes and a `shortcut`."""

    def __init__(self, in_channels, out_channels, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = _projection(in_channels, out_channels, stride)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class SequentialBlock(nn.Module):
    """Another correct answer: other names, the shortcut defined first, a Sequential branch, and the
    second 3x3 conv defined before the first one."""

    def __init__(self, in_channels, out_channels, stride=1):
        super().__init__()
        self.proj = _projection(in_channels, out_channels, stride) if (stride, in_channels) != (1, out_channels) else None
        self.second = nn.Sequential(nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
                                    nn.BatchNorm2d(out_channels))
        self.first = nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
                                   nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))

    def forward(self, x):
        identity = x if self.proj is None else self.proj(x)
        out = self.second(self.first(x))
        out += identity
        return out.relu_()


def residual_factory(in_channels, out_channels, stride=1):
    """A function (not a class) returning the package's block."""
    return BasicBlock(in_channels, out_channels, stride)


# ----------------------------------------------------------------------------- typical mistakes
class PlainBlock(ResidualBlock):
    """No shortcut at all: relu(F(x))."""

    def __init__(self, in_channels, out_channels, stride=1):
        super().__init__(in_channels, out_channels, stride)
        self.shortcut = None

    def forward(self, x):
        return F.relu(self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))))


class ProjectionOnlyAdded(ResidualBlock):
    """Adds the shortcut only when it is a projection: the identity case forgets x."""

    def forward(self, x):
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        if not isinstance(self.shortcut, nn.Identity):
            out = out + self.shortcut(x)
        return F.relu(out)


class AlwaysProjection(ResidualBlock):
    def __init__(self, in_channels, out_channels, stride=1):
        super().__init__(in_channels, out_channels, stride)
        self.shortcut = _projection(in_channels, out_channels, stride)


class ProjectionWithoutBN(ResidualBlock):
    def __init__(self, in_channels, out_channels, stride=1):
        super().__init__(in_channels, out_channels, stride)
        if not isinstance(self.shortcut, nn.Identity):
            self.shortcut = _projection(in_channels, out_channels, stride, bn=False)


class ProjectionOnlyForChannels(ResidualBlock):
    """Decides on the channels alone: 16 -> 16 at stride 2 gets an identity of the wrong size."""

    def __init__(self, in_channels, out_channels, stride=1):
        super().__init__(in_channels, out_channels, stride)
        self.shortcut = nn.Identity() if in_channels == out_channels else _projection(in_channels, out_channels, stride)


class ProjectionWithoutStride(ResidualBlock):
    def __init__(self, in_channels, out_channels, stride=1):
        super().__init__(in_channels, out_channels, stride)
        if not isinstance(self.shortcut, nn.Identity):
            self.shortcut = _projection(in_channels, out_channels, 1)


class Projection3x3(ResidualBlock):
    def __init__(self, in_channels, out_channels, stride=1):
        super().__init__(in_channels, out_channels, stride)
        if not isinstance(self.shortcut, nn.Identity):
            self.shortcut = _projection(in_channels, out_channels, stride, kernel=3)


class ConvBiases(ResidualBlock):
    def __init__(self, in_channels, out_channels, stride=1):
        super().__init__(in_channels, out_channels, stride)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=True)


class NoFinalReLU(ResidualBlock):
    def forward(self, x):
        return self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))) + self.shortcut(x)


class ReLUBeforeAdding(ResidualBlock):
    """relu(F(x)) + shortcut(x), then relu: the branch can no longer subtract."""

    def forward(self, x):
        return F.relu(F.relu(self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))) + self.shortcut(x))


class StrideInSecondConv(ResidualBlock):
    def __init__(self, in_channels, out_channels, stride=1):
        super().__init__(in_channels, out_channels, stride)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, 1, 1, bias=False)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, stride, 1, bias=False)


class MissingBN2(ResidualBlock):
    def forward(self, x):
        return F.relu(self.conv2(F.relu(self.bn1(self.conv1(x)))) + self.shortcut(x))


class DetachedShortcut(ResidualBlock):
    def forward(self, x):
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(out + self.shortcut(x.detach()))


class NoForward(ResidualBlock):
    """__init__ written, forward not yet (nn.Module's own forward raises NotImplementedError)."""

    forward = nn.Module.forward


def returns_a_tensor(in_channels, out_channels, stride=1):
    return torch.zeros(1)


# ----------------------------------------------------------------------------- the check
def test_check_is_registered_for_chapter_04():
    assert [(s.id, s.name) for s in checks.exercises_of("04")] == [("04.1", "residual_block")]


@pytest.mark.parametrize("block", [BasicBlock, ResidualBlock, SequentialBlock, residual_factory])
def test_the_reference_and_learners_blocks_pass(block, capsys):
    result = residual_block(block)
    assert result.passed and result.passed_cases == result.total_cases == 27, result.message
    assert capsys.readouterr().out == ("[PASS] Exercise 04.1 (a residual block with a projection shortcut): "
                                       "passed all 27 cases.\n")


@pytest.mark.parametrize("wrong, case, detail", [
    (PlainBlock, "16 -> 32 channels, stride 2: the branch, plus a projection", "expected 14528, got 13952"),
    (AlwaysProjection, "16 -> 16 channels, stride 1: two 3x3 convs", "expected 4672, got 4960"),
    (ProjectionWithoutBN, "16 -> 32 channels, stride 2", "expected 14528, got 14464"),
    (ProjectionOnlyForChannels, "16 -> 16 channels, stride 2: the resolution changes", "expected 4960, got 4672"),
    (Projection3x3, "16 -> 32 channels, stride 2", "expected 14528, got 18624"),
    (ConvBiases, "16 -> 16 channels, stride 1", "expected 4672, got 4688"),
    (ProjectionWithoutStride, "16 -> 32, stride 2: a 1x1 conv with the block's stride",
     "expected 'a 1x1 conv 16 -> 32, stride 2', got 'a 1x1 conv 16 -> 32, stride 1'"),
    (ProjectionOnlyAdded, "16 -> 16, stride 1, with the 3x3 convs' weights set to 0", "values differ"),
    (NoFinalReLU, "16 -> 16, stride 1, with the 3x3 convs' weights set to 0", "values differ"),
    (ReLUBeforeAdding, "16 -> 16, stride 1, known weights", "values differ"),
    (StrideInSecondConv, "16 -> 32, stride 2, known weights", "values differ"),
    (MissingBN2, "16 -> 16, stride 1, known weights", "values differ"),
    (DetachedShortcut, "the gradient of out.sum() still reaches x", "values differ"),
    (NoForward, "16 -> 16, stride 1 on an 8x8 map", "nn.Module raises it when a class has no `forward`"),
    (returns_a_tensor, "16 -> 16 channels, stride 1", "returned Tensor; expected an nn.Module"),
])
def test_a_wrong_block_fails_naming_the_case(wrong, case, detail, capsys):
    assert_fails_naming_the_case(residual_block, wrong, case, detail, capsys)


def test_the_failure_message_shows_the_call():
    message = residual_block(PlainBlock).message
    assert "input: PlainBlock(16, 32, 2)" in message
    message = residual_block(ProjectionOnlyAdded).message
    assert "input: ProjectionOnlyAdded(16, 16, 1), Tensor[4, 16, 8, 8] float32" in message


def test_a_missing_shortcut_fails_every_zero_branch_case():
    """With F(x) = 0 a block without the addition returns 0: each of the 5 zero-branch cases fails."""
    plan = dict(check_module._plan())
    cases = plan[check_module._zero_branch]
    for description, values, inputs, expected in cases:
        config = check_module._Config("PlainBlock", *values)
        got = check_module._zero_branch(check_module._build(PlainBlock, config), config, *inputs)
        assert got.abs().max() == 0 and expected.abs().max() > 0, description


def test_a_block_with_an_unused_layer_misses_a_gradient():
    class Unused(ResidualBlock):
        def __init__(self, in_channels, out_channels, stride=1):
            super().__init__(in_channels, out_channels, stride)
            self.extra = nn.Conv2d(out_channels, out_channels, 1, bias=False)

    config = check_module._Config("Unused", 16, 32, 2)
    x = torch.randn(2, 16, 8, 8)
    got = check_module._missing_gradients(check_module._build(Unused, config), config, x)
    assert got == "no gradient for extra.weight"


def test_a_stub_is_not_attempted(capsys):
    class Stub(nn.Module):
        def __init__(self, in_channels, out_channels, stride=1):
            super().__init__()
            raise NotImplementedError("Exercise 04.1: write __init__; see the instructions above")

    result = residual_block(Stub)
    assert result.status == "not attempted" and result.total_cases == 27
    assert capsys.readouterr().out.startswith("[TODO] Exercise 04.1")


def test_the_check_leaves_the_random_state_alone():
    torch.manual_seed(5)
    before = torch.random.get_rng_state()
    residual_block(ResidualBlock)
    assert torch.equal(torch.random.get_rng_state(), before)


def test_a_verdict_is_logged_for_the_grader(tmp_path, monkeypatch):
    log = tmp_path / "grades.jsonl"
    monkeypatch.setenv(GRADE_LOG_ENV, str(log))
    residual_block(ResidualBlock)
    residual_block(PlainBlock)
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(r["exercise"], r["status"]) for r in rows] == [("04.1", "passed"), ("04.1", "failed")]
