"""The exercise checks of chapter 07 (`cvcourse.checks.anchors`): the references and a learner's
correct answers pass, typical mistakes fail with a message naming the case, a stub is "not attempted".
Also `cvcourse.anchors.kmeans_iou`, the k-means step from given centres that 07.2 is checked against:
a slow Lloyd loop, hand-worked values, `kmeans_anchors` built on it, bad input."""
import json

import pytest
import torch
from check_helpers import assert_fails_naming_the_case
from hypothesis import given, settings
from hypothesis import strategies as st

from cvcourse import anchors, checks
from cvcourse.anchors.kmeans import _kmeans_pp
from cvcourse.checks._core import GRADE_LOG_ENV


@pytest.fixture(autouse=True)
def no_grade_log(monkeypatch):
    monkeypatch.delenv(GRADE_LOG_ENV, raising=False)


# ----------------------------------------------------------------------------- what a learner writes
def learner_wh_iou(wh1, wh2):
    inter = torch.minimum(wh1[:, None, 0], wh2[None, :, 0]) * torch.minimum(wh1[:, None, 1], wh2[None, :, 1])
    area1, area2 = wh1[:, 0] * wh1[:, 1], wh2[:, 0] * wh2[:, 1]
    return inter / (area1[:, None] + area2[None, :] - inter)


def learner_kmeans(wh, centres, iters=100):
    """The notebook's answer: float32 as given, a loop over the clusters, the reference wh_iou."""
    assign = anchors.wh_iou(wh, centres).argmax(1)
    for _ in range(iters):
        centres = centres.clone()
        for j in range(len(centres)):
            if (assign == j).any():
                centres[j] = wh[assign == j].mean(0)
        for j in range(len(centres)):
            if not (assign == j).any():
                centres[j] = wh[anchors.wh_iou(wh, centres).max(1).values.argmin()]
        new = anchors.wh_iou(wh, centres).argmax(1)
        if torch.equal(new, assign):
            break
        assign = new
    return centres[(centres[:, 0] * centres[:, 1]).argsort()]


def learner_kmeans_variant(wh, centres, iters=100):
    """Another correct reading: no early stop, its own IoU, and the re-seed ignores the empty centre."""
    assign = learner_wh_iou(wh, centres).argmax(1)
    for _ in range(iters):
        keep = torch.stack([(assign == j).any() for j in range(len(centres))])
        centres = torch.stack([wh[assign == j].mean(0) if keep[j] else centres[j] for j in range(len(centres))])
        for j in (~keep).nonzero()[:, 0].tolist():
            centres[j] = wh[learner_wh_iou(wh, centres[keep]).max(1).values.argmin()]
            keep[j] = True
        assign = learner_wh_iou(wh, centres).argmax(1)
    return centres[torch.argsort(centres.prod(1))]


def reference_kmeans(wh, centres, iters=100):
    return anchors.kmeans_iou(wh, centres, iters)[0]


# ----------------------------------------------------------------------------- typical mistakes
def union_without_overlap(wh1, wh2):
    inter = torch.minimum(wh1[:, None, 0], wh2[None, :, 0]) * torch.minimum(wh1[:, None, 1], wh2[None, :, 1])
    return inter / ((wh1[:, 0] * wh1[:, 1])[:, None] + (wh2[:, 0] * wh2[:, 1])[None, :])


def smaller_area_as_overlap(wh1, wh2):
    a1, a2 = (wh1[:, 0] * wh1[:, 1])[:, None], (wh2[:, 0] * wh2[:, 1])[None, :]
    inter = torch.minimum(a1, a2)
    return inter / (a1 + a2 - inter)


def transposed(wh1, wh2):
    return learner_wh_iou(wh2, wh1)


def loop_without_empty_case(wh1, wh2):
    return torch.tensor([[learner_wh_iou(a[None], b[None]).item() for b in wh2] for a in wh1])


def _lloyd(wh, centres, iters, nearest, reseed=True):
    """learner_kmeans with another distance (`nearest(wh, centres)` -> cluster indices), optionally
    without the re-seed of empty clusters, and without the final sort."""
    assign = nearest(wh, centres)
    for _ in range(iters):
        centres = torch.stack([wh[assign == j].float().mean(0) if (assign == j).any() else centres[j].float()
                               for j in range(len(centres))])
        for j in range(len(centres)):
            if reseed and not (assign == j).any():
                centres[j] = wh[anchors.wh_iou(wh, centres).max(1).values.argmin()]
        new = nearest(wh, centres)
        if torch.equal(new, assign):
            break
        assign = new
    return centres


def _by_iou(wh, centres):
    return anchors.wh_iou(wh, centres).argmax(1)


def _by_area(centres):
    return centres[centres.prod(1).argsort()]


def not_sorted(wh, centres, iters=100):
    return _lloyd(wh, centres, iters, _by_iou)


def empty_cluster_stays(wh, centres, iters=100):
    return _by_area(_lloyd(wh, centres, iters, _by_iou, reseed=False))


def euclidean(wh, centres, iters=100):
    return _by_area(_lloyd(wh, centres, iters, lambda w, c: torch.cdist(w.float(), c.float()).argmin(1)))


def ignores_iters(wh, centres, iters=100):
    return learner_kmeans(wh, centres, 1000)


def one_round_too_many(wh, centres, iters=100):
    return learner_kmeans(wh, centres, iters + 1)


def also_returns_assignments(wh, centres, iters=100):
    return anchors.kmeans_iou(wh, centres, iters)


# ----------------------------------------------------------------------------- the checks
def test_checks_are_registered_for_chapter_07():
    assert [(s.id, s.name) for s in checks.exercises_of("07")] == [("07.1", "wh_iou"), ("07.2", "kmeans_iou")]


def test_the_references_and_a_learners_answers_pass(capsys):
    for fn in (anchors.wh_iou, learner_wh_iou):
        result = checks.wh_iou(fn)
        assert result.passed and result.passed_cases == result.total_cases == 7, result.message
    for fn in (reference_kmeans, learner_kmeans, learner_kmeans_variant):
        result = checks.kmeans_iou(fn)
        assert result.passed and result.passed_cases == result.total_cases == 7, result.message
    out = capsys.readouterr().out.splitlines()
    assert out == ["[PASS] Exercise 07.1 (IoU of box shapes): passed all 7 cases."] * 2 + \
                  ["[PASS] Exercise 07.2 (k-means with the distance 1 - IoU): passed all 7 cases."] * 3


@pytest.mark.parametrize("check, wrong, case, detail", [
    (checks.wh_iou, union_without_overlap, "a 2x2 square against a 1x4 box", "(expected 1, got 0.5)"),
    (checks.wh_iou, smaller_area_as_overlap, "a 2x2 square against a 1x4 box", "expected 0.333333, got 1"),
    (checks.wh_iou, transposed, "a 2x2 square against a 1x4 box", "shape (2, 1), expected (1, 2)"),
    (checks.wh_iou, loop_without_empty_case, "no boxes at all", "shape (0,), expected (0, 2)"),
    (checks.kmeans_iou, not_sorted, "centres given largest first", "values differ"),
    (checks.kmeans_iou, euclidean, "a 5x5 box between a 2x2 and a 10x10 centre", "(expected 8.66667, got 10.5)"),
    (checks.kmeans_iou, empty_cluster_stays, "its cluster is empty", "expected 7.5, got 100"),
    (checks.kmeans_iou, ignores_iters, "iters = 1: exactly one update", "values differ"),
    (checks.kmeans_iou, one_round_too_many, "iters = 1: exactly one update", "values differ"),
    (checks.kmeans_iou, also_returns_assignments, "two groups of boxes", "problem: expected a Tensor, got (Tensor[2, 2] float32"),
])
def test_a_wrong_function_fails_naming_the_case(check, wrong, case, detail, capsys):
    assert_fails_naming_the_case(check, wrong, case, detail, capsys)


def test_the_learners_inputs_are_copies():
    def mutates(wh, centres, iters=100):
        out = learner_kmeans(wh, centres, iters)
        wh.fill_(1.0)
        centres.fill_(1.0)
        return out

    assert checks.kmeans_iou(mutates).passed
    assert checks.kmeans_iou(learner_kmeans).passed


def test_a_verdict_is_logged_for_the_grader(tmp_path, monkeypatch):
    log = tmp_path / "grades.jsonl"
    monkeypatch.setenv(GRADE_LOG_ENV, str(log))
    checks.wh_iou(learner_wh_iou)
    checks.kmeans_iou(ignores_iters)
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(r["exercise"], r["status"]) for r in rows] == [("07.1", "passed"), ("07.2", "failed")]


# ----------------------------------------------------------------------------- anchors.kmeans_iou
def loop_kmeans(wh, centres, iters, update="mean"):
    """Lloyd's algorithm in plain Python floats, as kmeans_iou's docstring states it."""
    def iou(a, b):
        inter = min(a[0], b[0]) * min(a[1], b[1])
        return inter / (a[0] * a[1] + b[0] * b[1] - inter)

    def nearest(c):
        return [max(range(len(c)), key=lambda j: (iou(box, c[j]), -j)) for box in wh]

    def lower_median(values):
        return sorted(values)[(len(values) - 1) // 2]

    wh, c = wh.tolist(), centres.tolist()
    assign = nearest(c)
    for _ in range(iters if wh else 0):
        members = [[box for box, a in zip(wh, assign, strict=True) if a == j] for j in range(len(c))]
        for j, m in enumerate(members):
            if m:
                pick = (lambda v: sum(v) / len(v)) if update == "mean" else lower_median
                c[j] = [pick([b[0] for b in m]), pick([b[1] for b in m])]
        for j, m in enumerate(members):
            if not m:
                best = [max(iou(box, cj) for cj in c) for box in wh]
                c[j] = list(wh[best.index(min(best))])
        new = nearest(c)
        if new == assign:
            break
        assign = new
    c = sorted(c, key=lambda v: v[0] * v[1])
    return torch.tensor(c, dtype=torch.float64), torch.tensor(nearest(c), dtype=torch.int64)


def test_kmeans_iou_golden():
    wh = torch.tensor([[10.0, 10.0], [10.0, 12.0], [1.0, 1.0], [1.0, 1.2]])
    centres, assign = anchors.kmeans_iou(wh, torch.tensor([[10.0, 10.0], [1.0, 1.0]]))
    torch.testing.assert_close(centres, torch.tensor([[1.0, 1.1], [10.0, 11.0]]))
    assert assign.tolist() == [1, 1, 0, 0] and assign.dtype == torch.int64
    one, assign1 = anchors.kmeans_iou(wh, torch.tensor([[3.0, 3.0]]), iters=1)   # k = 1: the mean
    torch.testing.assert_close(one, wh.mean(0, keepdim=True))
    assert assign1.tolist() == [0, 0, 0, 0]
    median, _ = anchors.kmeans_iou(wh, torch.tensor([[3.0, 3.0]]), update="median")   # lower median
    torch.testing.assert_close(median, torch.tensor([[1.0, 1.2]]))
    start, assign0 = anchors.kmeans_iou(wh, torch.tensor([[10.0, 10.0], [1.0, 1.0]]), iters=0)
    assert start.tolist() == [[1.0, 1.0], [10.0, 10.0]] and assign0.tolist() == [1, 1, 0, 0]


def test_kmeans_iou_reseeds_an_empty_cluster_at_the_worst_covered_box():
    # (100, 100) is nobody's nearest centre; after one update the worst-covered box is (6, 2)
    wh = torch.tensor([[8.0, 3], [9, 11], [6, 11], [11, 3], [6, 2]])
    centres, assign = anchors.kmeans_iou(wh, torch.tensor([[7.0, 3], [8, 11], [100, 100]]))
    assert centres.tolist() == [[6.0, 2.0], [9.5, 3.0], [7.5, 11.0]]
    assert assign.tolist() == [1, 2, 2, 1, 0]


@settings(max_examples=40, deadline=None)
@given(n=st.integers(0, 40), k=st.integers(1, 6), iters=st.integers(0, 6), seed=st.integers(0, 10_000),
       update=st.sampled_from(["mean", "median"]), integer=st.booleans())
def test_kmeans_iou_equals_loop(n, k, iters, seed, update, integer):
    g = torch.Generator().manual_seed(seed)
    wh = torch.randint(1, 30, (n, 2), generator=g) if integer else torch.rand(n, 2, generator=g, dtype=torch.float64) * 50 + 1
    centres = torch.rand(k, 2, generator=g, dtype=torch.float64) * 60 + 0.5
    got, assign = anchors.kmeans_iou(wh, centres, iters=iters, update=update)
    want, want_assign = loop_kmeans(wh.double(), centres, iters, update)
    torch.testing.assert_close(got, want)
    assert torch.equal(assign, want_assign)
    assert got.dtype == torch.float64 and assign.shape == (n,)


def test_kmeans_anchors_is_kmeans_iou_from_its_seeds():
    wh = torch.rand(80, 2, generator=torch.Generator().manual_seed(3)) * 60 + 2
    seeds = _kmeans_pp(wh.double(), 4, torch.Generator().manual_seed(5))
    got, mean_iou = anchors.kmeans_anchors(wh, 4, seed=5)
    want, assign = anchors.kmeans_iou(wh, seeds)
    torch.testing.assert_close(got, want.float())
    assert mean_iou == pytest.approx(anchors.wh_iou(wh.double(), want).max(1).values.mean().item())


@pytest.mark.parametrize("wh_dtype, c_dtype, out", [
    (torch.float32, torch.float32, torch.float32), (torch.float32, torch.float64, torch.float64),
    (torch.int64, torch.int64, torch.float32), (torch.float16, torch.float16, torch.float16),
])
def test_kmeans_iou_dtypes(wh_dtype, c_dtype, out):
    wh = torch.tensor([[4, 4], [5, 6], [20, 10]]).to(wh_dtype)
    centres, assign = anchors.kmeans_iou(wh, torch.tensor([[20, 10], [4, 4]]).to(c_dtype))
    assert centres.dtype == out and assign.dtype == torch.int64
    assert centres.tolist() == [[4.5, 5.0], [20.0, 10.0]] and assign.tolist() == [0, 0, 1]


def test_kmeans_iou_without_boxes_keeps_the_centres():
    centres, assign = anchors.kmeans_iou(torch.zeros(0, 2), torch.tensor([[5.0, 5.0], [1.0, 2.0]]))
    assert centres.tolist() == [[1.0, 2.0], [5.0, 5.0]] and assign.shape == (0,) and assign.dtype == torch.int64


@pytest.mark.parametrize("kwargs, error, match", [
    ({"centres": torch.zeros(0, 2)}, ValueError, r"centres: expected Tensor\[k, 2\] of \(w, h\) with k >= 1, got Tensor\[0, 2\]"),
    ({"centres": torch.ones(2)}, ValueError, r"centres: expected Tensor\[k, 2\] of \(w, h\) with k >= 1, got Tensor\[2\]"),
    ({"centres": torch.tensor([[1.0, 0.0]])}, ValueError, r"centres: widths and heights must be positive and finite; row 0"),
    ({"centres": [[1.0, 1.0]]}, TypeError, r"centres: expected a Tensor\[N, 2\] of \(w, h\), got list"),
    ({"wh": torch.ones(2, 4)}, ValueError, r"wh: expected Tensor\[N, 2\] of \(w, h\), got Tensor\[2, 4\]"),
    ({"wh": torch.ones(2, 2, 2)}, ValueError, r"wh: expected Tensor\[N, 2\] of \(w, h\), got Tensor\[2, 2, 2\]"),
    ({"wh": -torch.ones(2, 2)}, ValueError, r"wh: widths and heights must be positive"),
    ({"iters": -1}, ValueError, r"iters: expected an int >= 0, got -1"),
    ({"iters": 2.0}, TypeError, r"iters: expected an int, got float"),
    ({"update": "mode"}, ValueError, r"update: unknown centre update 'mode'; expected 'mean' or 'median'"),
])
def test_kmeans_iou_bad_input(kwargs, error, match):
    args = {"wh": torch.ones(3, 2), "centres": torch.ones(1, 2)} | kwargs
    with pytest.raises(error, match=match):
        anchors.kmeans_iou(**args)
