"""The exercise check of chapter 05 (`cvcourse.checks.se`): the reference and learners' correct SE
blocks (nn.Linear under other names, 1x1 convolutions, plain parameters used as s @ W, a function
returning a module) pass; every typical mistake fails with a message naming the case; a stub is
"not attempted"; the check leaves the caller's random state alone."""
import json

import pytest
import torch
from check_helpers import assert_fails_naming_the_case
from torch import nn

from cvcourse import checks
from cvcourse.checks._core import GRADE_LOG_ENV
from cvcourse.models import SEBlock


@pytest.fixture(autouse=True)
def no_grade_log(monkeypatch):
    monkeypatch.delenv(GRADE_LOG_ENV, raising=False)


# ----------------------------------------------------------------------------- what a learner writes
class LearnerSE(nn.Module):
    """The notebook's answer: two nn.Linear layers, the mean over H and W, x * gate."""

    def __init__(self, channels, reduction=16):
        super().__init__()
        hidden = channels // reduction
        self.squeeze_to = nn.Linear(channels, hidden)
        self.expand_to = nn.Linear(hidden, channels)

    def forward(self, x):
        s = x.mean(dim=(2, 3))                                      # (N, C)
        gate = torch.sigmoid(self.expand_to(torch.relu(self.squeeze_to(s))))
        return x * gate[:, :, None, None]


class ConvSE(nn.Module):
    """torchvision's SqueezeExcitation style: adaptive pooling and 1x1 convolutions, defined fc2 first."""

    def __init__(self, channels, reduction=16):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc2 = nn.Conv2d(channels // reduction, channels, 1)
        self.fc1 = nn.Conv2d(channels, channels // reduction, 1)

    def forward(self, x):
        return x * torch.sigmoid(self.fc2(torch.relu(self.fc1(self.pool(x)))))


class MatrixSE(nn.Module):
    """Plain parameters used as s @ W1 (the transposed layout), inplace ReLU."""

    def __init__(self, channels, reduction=16):
        super().__init__()
        hidden = channels // reduction
        self.w1 = nn.Parameter(torch.randn(channels, hidden) * 0.1)
        self.b1 = nn.Parameter(torch.zeros(hidden))
        self.w2 = nn.Parameter(torch.randn(hidden, channels) * 0.1)
        self.b2 = nn.Parameter(torch.zeros(channels))

    def forward(self, x):
        z = torch.relu_(x.flatten(2).mean(-1) @ self.w1 + self.b1)   # (N, hidden)
        return x * torch.sigmoid(z @ self.w2 + self.b2).unsqueeze(-1).unsqueeze(-1)


def se_function(channels, reduction=16):
    """A function that builds a module is fine too."""
    return SEBlock(channels, reduction)


def sequential_se(channels, reduction=16):
    """A module whose forward comes from a wrapper around an nn.Sequential excitation."""
    class Scale(nn.Module):
        def __init__(self):
            super().__init__()
            self.excite = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, channels // reduction),
                                        nn.ReLU(), nn.Linear(channels // reduction, channels), nn.Sigmoid())

        def forward(self, x):
            return x * self.excite(x).view(x.shape[0], -1, 1, 1)
    return Scale()


# ----------------------------------------------------------------------------- typical mistakes
def _variant(forward):
    class Wrong(LearnerSE):
        pass
    Wrong.forward = forward
    return Wrong


def _excite(self, s):
    return torch.sigmoid(self.expand_to(torch.relu(self.squeeze_to(s))))


no_sigmoid = _variant(lambda self, x: x * self.expand_to(torch.relu(self.squeeze_to(x.mean((2, 3)))))[:, :, None, None])
no_relu = _variant(lambda self, x: x * torch.sigmoid(self.expand_to(self.squeeze_to(x.mean((2, 3)))))[:, :, None, None])
max_pool = _variant(lambda self, x: x * _excite(self, x.amax((2, 3)))[:, :, None, None])
returns_gate = _variant(lambda self, x: _excite(self, x.mean((2, 3))))
adds_gate = _variant(lambda self, x: x + _excite(self, x.mean((2, 3)))[:, :, None, None])
pools_the_batch = _variant(lambda self, x: x * _excite(self, x.mean((0, 2, 3)))[None, :, None, None])
softmax_gate = _variant(lambda self, x: x * torch.softmax(
    self.expand_to(torch.relu(self.squeeze_to(x.mean((2, 3))))), 1)[:, :, None, None])
sigmoid_then_relu = _variant(lambda self, x: x * torch.relu(
    self.expand_to(torch.sigmoid(self.squeeze_to(x.mean((2, 3))))))[:, :, None, None])
ignores_the_input = _variant(lambda self, x: x * _excite(self, torch.ones_like(x.mean((2, 3))))[:, :, None, None])


class NoBias(LearnerSE):
    def __init__(self, channels, reduction=16):
        super().__init__(channels, reduction)
        self.squeeze_to = nn.Linear(channels, channels // reduction, bias=False)
        self.expand_to = nn.Linear(channels // reduction, channels, bias=False)


class IgnoresReduction(LearnerSE):
    def __init__(self, channels, reduction=16):
        super().__init__(channels, 2)


class RoundsTheWidth(LearnerSE):
    def __init__(self, channels, reduction=16):
        nn.Module.__init__(self)
        hidden = round(channels / reduction)
        self.squeeze_to, self.expand_to = nn.Linear(channels, hidden), nn.Linear(hidden, channels)


class NoDefault(LearnerSE):
    def __init__(self, channels, reduction):
        super().__init__(channels, reduction)


class NoForward(nn.Module):
    def __init__(self, channels, reduction=16):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(channels, channels // reduction), nn.Linear(channels // reduction, channels)


class ThreeLayers(LearnerSE):
    """The right count, but a free vector in place of fc2's bias: it takes the bias's values and is unused."""

    def __init__(self, channels, reduction=16):
        super().__init__(channels, reduction)
        hidden = channels // reduction
        self.expand_to = nn.Linear(hidden, channels, bias=False)
        self.extra = nn.Parameter(torch.zeros(channels))


def not_a_module(channels, reduction=16):
    return lambda x: x


# ----------------------------------------------------------------------------- the check
def test_check_is_registered_for_chapter_05():
    assert [(s.id, s.name) for s in checks.exercises_of("05")] == [("05.1", "se_block")]


def test_the_reference_and_learners_answers_pass(capsys):
    for fn in (SEBlock, LearnerSE, ConvSE, MatrixSE, se_function, sequential_se):
        result = checks.se_block(fn)
        assert result.passed and result.passed_cases == result.total_cases == 13, (fn, result.message)
    assert capsys.readouterr().out.splitlines() == ["[PASS] Exercise 05.1 (the SE block): passed all 13 cases."] * 6


@pytest.mark.parametrize("wrong, case, detail", [
    (NoBias, "C = 16, r = 4: two fully connected layers with biases", "expected 148, got 128"),
    (IgnoresReduction, "C = 16, r = 4", "expected 148, got 280"),
    (NoDefault, "fn(64) without a reduction: r defaults to 16", "missing 1 required positional argument"),
    (RoundsTheWidth, "C = 12, r = 8: a hidden width of 1", "could not find the two layers"),
    (ThreeLayers, "the same weights as cvcourse's SEBlock give the same output", "values differ"),
    (not_a_module, "C = 16, r = 4", "expected an nn.Module"),
    (NoForward, "the output has the input's shape", "NoForward has no forward method"),
    (returns_gate, "the output has the input's shape", "expected 4 items, got 2"),
    (adds_gate, "output / input must be the same for every pixel of a channel", "varies over H x W"),
    (no_sigmoid, "a sigmoid's output, so it must lie in (0, 1)", "outside (0, 1)"),
    (sigmoid_then_relu, "a sigmoid's output, so it must lie in (0, 1)", "outside (0, 1)"),
    (pools_the_batch, "two images that differ only in channel 0", "did not change"),
    (ignores_the_input, "two images that differ only in channel 0", "did not change"),
    (no_relu, "the same weights as cvcourse's SEBlock give the same output", "values differ"),
    (max_pool, "the same weights as cvcourse's SEBlock give the same output", "values differ"),
    (softmax_gate, "the same weights as cvcourse's SEBlock give the same output", "values differ"),
], ids=lambda v: getattr(v, "__name__", None))
def test_a_wrong_block_fails_naming_the_case(wrong, case, detail, capsys):
    assert_fails_naming_the_case(checks.se_block, wrong, case, detail, capsys)


def test_a_stub_is_not_attempted(capsys):
    class Stub(nn.Module):
        def __init__(self, channels, reduction=16):
            super().__init__()
            raise NotImplementedError("Exercise 05.1: write __init__; see the instructions above")

    result = checks.se_block(Stub)
    assert result.status == "not attempted" and result.passed_cases == 0 and result.total_cases == 13
    assert capsys.readouterr().out.startswith("[TODO] Exercise 05.1 (the SE block): not attempted yet")


def test_the_check_leaves_the_random_state_alone():
    torch.manual_seed(5)
    state = torch.random.get_rng_state()
    checks.se_block(LearnerSE)
    checks.se_block(no_sigmoid)
    assert torch.equal(torch.random.get_rng_state(), state)


def test_a_verdict_is_logged_for_the_grader(tmp_path, monkeypatch):
    log = tmp_path / "grades.jsonl"
    monkeypatch.setenv(GRADE_LOG_ENV, str(log))
    checks.se_block(LearnerSE)
    checks.se_block(no_relu)
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(r["exercise"], r["status"]) for r in rows] == [("05.1", "passed"), ("05.1", "failed")]
