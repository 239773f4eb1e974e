"""NMS (`cvcourse.ops.nms`): greedy NMS against plain-Python loops on random and clustered boxes
(several rank blocks and pair chunks), hand-worked cases, IoU exactly at the threshold, ties,
zero-area boxes, properties, batched_nms against per-category nms, Soft-NMS against a loop and
hand-worked values, dtypes, empty inputs and every refused input."""
import importlib
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cvcourse.ops import batched_nms, box_iou, nms, soft_nms

nms_module = importlib.import_module("cvcourse.ops.nms")  # `cvcourse.ops.nms` is the function
PROPERTY = settings(max_examples=80, deadline=None)


# ----------------------------------------------------------------------------- slow references
def loop_iou(a, b, f=float):
    """IoU of two boxes, computed like torchvision's CPU kernel in the number type `f`."""
    a, b = [f(v) for v in a], [f(v) for v in b]
    w = max(f(0), min(a[2], b[2]) - max(a[0], b[0]))
    h = max(f(0), min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else f(0)


def loop_nms(boxes, scores, t, f=float):
    """Greedy NMS, the definition: by decreasing score (ties: lower index first), keep a box unless
    a kept box has IoU > t with it. The comparison is made in real numbers (float64)."""
    boxes, scores = boxes.tolist(), scores.tolist()
    keep = []
    for i in sorted(range(len(scores)), key=lambda i: -scores[i]):        # sorted() is stable
        if all(float(loop_iou(boxes[i], boxes[j], f)) <= t for j in keep):
            keep.append(i)
    return keep


def loop_nms_by_box(boxes, scores, t):
    """The same greedy loop shaped like torchvision's kernel (each kept box suppresses the boxes
    after it), one Python step per box with the IoU against all boxes done by torch: for large N."""
    x1, y1, x2, y2 = boxes.unbind(1)
    area = (x2 - x1) * (y2 - y1)
    suppressed = torch.zeros(len(scores), dtype=torch.bool)
    keep = []
    for i in sorted(range(len(scores)), key=lambda i: -float(scores[i])):
        if suppressed[i]:
            continue
        keep.append(i)
        inter = ((torch.minimum(x2[i], x2) - torch.maximum(x1[i], x1)).clamp(min=0)
                 * (torch.minimum(y2[i], y2) - torch.maximum(y1[i], y1)).clamp(min=0))
        suppressed |= (inter / (area[i] + area - inter)).double() > t      # 0/0 = NaN is not > t
    return keep


def loop_soft_nms(boxes, scores, t, sigma, score_threshold, method):
    """Soft-NMS, one selected box and one decayed box at a time."""
    boxes = boxes.tolist()
    s = {i: v for i, v in enumerate(scores.tolist()) if v >= score_threshold}
    keep, kept = [], []
    while s:
        i = max(s, key=lambda j: (s[j], -j))                               # best score, then lowest index
        keep.append(i)
        kept.append(s.pop(i))
        for j in list(s):
            o = loop_iou(boxes[i], boxes[j])
            s[j] *= (1 - o if o > t else 1.0) if method == "linear" else math.exp(-o * o / sigma)
            if s[j] < score_threshold:
                del s[j]
    return keep, kept


# ----------------------------------------------------------------------------- inputs
def clustered(n, seed, dtype=torch.float64, img=400.0):
    """Detector-like output: clusters of jittered boxes around objects, random scores, plus a few
    large boxes and a few zero-area ones."""
    g = torch.Generator().manual_seed(seed)
    k = max(1, n // 12)
    centre, size = torch.rand(k, 2, generator=g) * img, 8 + torch.rand(k, 2, generator=g) * 60
    obj = torch.randint(k, (n,), generator=g)
    c = centre[obj] + torch.randn(n, 2, generator=g) * size[obj] * 0.15
    wh = size[obj] * (0.7 + 0.6 * torch.rand(n, 2, generator=g))
    big = torch.rand(n, generator=g) < 0.02
    wh[big] *= 6
    wh[torch.rand(n, generator=g) < 0.02, 0] = 0
    boxes = torch.cat([c - wh / 2, c + wh / 2], 1).to(dtype)
    return boxes, torch.rand(n, generator=g).to(dtype)


def uniform(n, seed, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    xy, wh = torch.rand(n, 2, generator=g) * 300, 5 + torch.rand(n, 2, generator=g) * 60
    return torch.cat([xy, xy + wh], 1).to(dtype), torch.rand(n, generator=g)


# small integer grids make ties, zero-area boxes, identical boxes and IoU == threshold frequent
grid_boxes = st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6), st.integers(0, 4), st.integers(0, 4)),
                      min_size=0, max_size=40)
THRESHOLDS = st.sampled_from([0.0, 0.2, 0.25, 1 / 3, 0.5, 0.6, 0.75, 0.9, 1.0])


def from_grid(rows, dtype=torch.float64):
    b = torch.tensor([[x, y, x + w, y + h] for x, y, w, h in rows], dtype=dtype).reshape(-1, 4)
    return b


# ----------------------------------------------------------------------------- nms: hand-worked
def test_nms_hand_worked():
    boxes = torch.tensor([[0.0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    # IoU(0, 1) = 81 / (100 + 100 - 81) = 0.68: box 1 goes at 0.5, stays at 0.7; box 2 overlaps nothing
    assert nms(boxes, scores, 0.5).tolist() == [0, 2]
    assert nms(boxes, scores, 0.7).tolist() == [0, 1, 2]
    assert nms(boxes, torch.tensor([0.1, 0.8, 0.7]), 0.5).tolist() == [1, 2]   # now box 1 wins
    assert nms(boxes, scores, 0.5).dtype == torch.int64


def test_nms_is_greedy_a_suppressed_box_suppresses_nothing():
    # A-B and B-C overlap with IoU 1/3, A-C not at all: A removes B, so C survives
    boxes = torch.tensor([[0.0, 0, 10, 10], [5, 0, 15, 10], [10, 0, 20, 10]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    assert nms(boxes, scores, 0.3).tolist() == [0, 2]
    assert nms(boxes, scores, 0.34).tolist() == [0, 1, 2]
    # IoU 50/150: in float32 that is 0.33333334 > 1/3 (suppressed), in float64 exactly the double 1/3
    assert nms(boxes, scores, 1 / 3).tolist() == [0, 2]
    assert nms(boxes.double(), scores, 1 / 3).tolist() == [0, 1, 2]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
def test_iou_equal_to_threshold_is_kept(dtype):
    # inter 1, union 2: IoU is exactly 0.5 in binary floating point
    boxes = torch.tensor([[0.0, 0, 2, 1], [0, 0, 1, 1]], dtype=dtype)
    scores = torch.tensor([0.9, 0.8], dtype=dtype)
    assert nms(boxes, scores, 0.5).tolist() == [0, 1]
    assert nms(boxes, scores, 0.4999).tolist() == [0]
    # IoU 0.25 (inter 1, union 4) and 0.75 (inter 3, union 4)
    assert nms(torch.tensor([[0.0, 0, 4, 1], [0, 0, 1, 1]], dtype=dtype), scores, 0.25).tolist() == [0, 1]
    assert nms(torch.tensor([[0.0, 0, 4, 1], [0, 0, 3, 1]], dtype=dtype), scores, 0.75).tolist() == [0, 1]
    assert nms(torch.tensor([[0.0, 0, 4, 1], [0, 0, 3, 1]], dtype=dtype), scores, 0.7499).tolist() == [0]


def test_threshold_is_compared_exactly_not_rounded_to_float32():
    # inter 1, union 10: float32 IoU is float32(0.1) = 0.10000000149 > 0.1, so it is suppressed (as in
    # torchvision's kernel, which compares with the double 0.1); in float64 the IoU is the double 0.1
    boxes = torch.tensor([[0.0, 0, 1, 1], [0, 0, 10, 1]])
    scores = torch.tensor([0.9, 0.8])
    assert nms(boxes, scores, 0.1).tolist() == [0]
    assert nms(boxes.double(), scores, 0.1).tolist() == [0, 1]
    for t in (0.1, 0.3, 0.7, 1 / 3, 0.5, 0.0, 1.0):
        t32 = nms_module._threshold_in(torch.float32, t)
        assert t32 <= t < float(np.nextafter(np.float32(t32), np.float32(2))), t


def test_soft_nms_linear_threshold_is_exact_too():
    boxes, scores = torch.tensor([[0.0, 0, 1, 1], [0, 0, 10, 1]]), torch.tensor([0.9, 0.8])
    assert soft_nms(boxes, scores, 0.1, method="linear")[1].tolist() == pytest.approx([0.9, 0.72])
    assert soft_nms(boxes.double(), torch.tensor([0.9, 0.8], dtype=torch.float64), 0.1, method="linear")[1].tolist() == [0.9, 0.8]


def test_inputs_that_require_grad():
    boxes = torch.tensor([[0.0, 0, 10, 10], [1, 1, 11, 11]], requires_grad=True)
    scores = torch.tensor([0.9, 0.8], requires_grad=True)
    assert nms(boxes, scores, 0.5).tolist() == [0]
    keep, s = soft_nms(boxes, scores)
    assert keep.tolist() == [0, 1] and not s.requires_grad


def test_ties_are_broken_by_index():
    boxes = torch.tensor([[0.0, 0, 10, 10]] * 3 + [[50, 50, 60, 60]] * 2)
    scores = torch.tensor([0.5, 0.5, 0.5, 0.7, 0.7])
    assert nms(boxes, scores, 0.5).tolist() == [3, 0]
    assert nms(boxes, torch.ones(5), 0.5).tolist() == [0, 3]
    assert nms(boxes, torch.ones(5), 1.0).tolist() == [0, 1, 2, 3, 4]  # nothing suppressed: index order


def test_zero_area_boxes_never_suppress_and_are_never_suppressed():
    boxes = torch.tensor([[0.0, 0, 10, 10], [2, 2, 2, 8], [2, 2, 2, 8], [3, 3, 3, 3], [0, 0, 10, 10],
                          [0, 5, 10, 5]])
    scores = torch.tensor([0.9, 0.95, 0.94, 0.93, 0.8, 0.1])
    assert nms(boxes, scores, 0.0).tolist() == [1, 2, 3, 0, 5]
    assert nms(boxes[1:4], scores[1:4], 0.0).tolist() == [0, 1, 2]


def test_empty_and_single_box():
    for out in (nms(torch.zeros(0, 4), torch.zeros(0), 0.5),
                batched_nms(torch.zeros(0, 4), torch.zeros(0), torch.zeros(0, dtype=torch.int64), 0.5)):
        assert out.dtype == torch.int64 and out.shape == (0,)
    keep, s = soft_nms(torch.zeros(0, 4, dtype=torch.float64), torch.zeros(0, dtype=torch.float64))
    assert keep.dtype == torch.int64 and keep.shape == (0,) and s.dtype == torch.float64 and s.shape == (0,)
    assert nms(torch.tensor([[1.0, 2, 3, 4]]), torch.tensor([0.3]), 0.5).tolist() == [0]


# ----------------------------------------------------------------------------- nms: against the loops
@PROPERTY
@given(rows=grid_boxes, t=THRESHOLDS, data=st.data())
def test_nms_equals_loop_on_grid_boxes(rows, t, data):
    boxes = from_grid(rows)
    scores = torch.tensor(data.draw(st.lists(st.sampled_from([0.1, 0.5, 0.9, 1.0]), min_size=len(rows),
                                             max_size=len(rows))), dtype=torch.float64)
    assert nms(boxes, scores, t).tolist() == loop_nms(boxes, scores, t)
    assert nms(boxes.float(), scores.float(), t).tolist() == loop_nms(boxes, scores, t, f=np.float32)


@PROPERTY
@given(n=st.integers(1, 60), seed=st.integers(0, 2**16), t=st.floats(0, 1))
def test_nms_equals_loop_on_random_boxes(n, seed, t):
    boxes, scores = uniform(n, seed, torch.float64)
    boxes = boxes / 6                                                     # dense: many overlaps
    assert nms(boxes, scores, t).tolist() == loop_nms(boxes, scores, t)
    assert nms(boxes.float(), scores, t).tolist() == loop_nms(boxes.float(), scores, t, f=np.float32)


def test_loop_references_agree():
    boxes, scores = clustered(300, 1)
    for t in (0.0, 0.3, 0.5, 0.9):
        assert loop_nms_by_box(boxes, scores, t) == loop_nms(boxes, scores, t)
        assert loop_nms_by_box(boxes.float(), scores, t) == loop_nms(boxes.float(), scores, t, f=np.float32)


@pytest.mark.parametrize("seed, t, dense", [(0, 0.5, False), (1, 0.3, False), (2, 0.7, True), (3, 0.0, False),
                                           (4, 0.95, False), (5, 0.5, True)])
def test_nms_equals_loop_on_3000_clustered_boxes(monkeypatch, seed, t, dense):
    boxes, scores = clustered(3000, seed, torch.float32)                  # 3 rank blocks of 1024
    if dense:                                                             # pair in rank blocks 64, 128, ..., 1024
        monkeypatch.setattr(nms_module, "_CANDIDATES_PER_BOX", 0)
    keep = nms(boxes, scores, t)
    assert keep.tolist() == loop_nms_by_box(boxes, scores, t)
    assert 0.05 * 3000 < len(keep) < 0.9 * 3000 or t in (0.0, 0.95)


@pytest.mark.parametrize("block, chunk", [(64, 1000), (7, 50), (1, 1)])
@pytest.mark.parametrize("per_box", [0, 10**9], ids=["rank-blocks", "all-pairs"])
def test_small_blocks_and_chunks_give_the_same_result(monkeypatch, block, chunk, per_box):
    boxes, scores = clustered(300, 5)
    idxs = torch.randint(0, 3, (300,), generator=torch.Generator().manual_seed(0))
    want, want_batched = loop_nms_by_box(boxes, scores, 0.5), per_category(boxes, scores, idxs, 0.5)
    monkeypatch.setattr(nms_module, "_BLOCK", block)
    monkeypatch.setattr(nms_module, "_PAIRS_PER_CHUNK", chunk)
    monkeypatch.setattr(nms_module, "_CANDIDATES_PER_BOX", per_box)   # 0: always the rank-block path
    assert nms(boxes, scores, 0.5).tolist() == want
    assert batched_nms(boxes, scores, idxs, 0.5).tolist() == want_batched


def test_long_suppression_chain():
    # box k overlaps box k+1 only (IoU 1/3), scores decrease along the row: greedy keeps every other one
    # (the worst case for the fixed-point iteration: one more box settles per pass)
    n = 2500
    x = torch.arange(n, dtype=torch.float64) * 5
    boxes = torch.stack([x, torch.zeros(n), x + 10, torch.ones(n) * 10], 1)
    scores = torch.linspace(1, 0, n, dtype=torch.float64)
    assert nms(boxes, scores, 0.3).tolist() == list(range(0, n, 2))


def test_every_box_identical():
    # 3000 boxes, 4.5M pairs above any threshold: the rank-block path pairs each block with the one
    # kept box only, so time and memory stay small
    boxes = torch.tensor([[1.0, 1, 5, 5]]).repeat(3000, 1)
    scores = torch.rand(3000, generator=torch.Generator().manual_seed(0))
    assert nms(boxes, scores, 0.5).tolist() == [int(scores.argmax())]
    assert nms(boxes, scores, 1.0).tolist() == torch.sort(scores, descending=True, stable=True).indices.tolist()


def test_far_apart_coordinates_and_huge_boxes():
    boxes = torch.tensor([[0.0, 0, 1, 1], [0.1, 0, 1.1, 1], [1e6, 1e6, 1e6 + 1, 1e6 + 1],
                          [1e6 + 0.1, 1e6, 1e6 + 1.1, 1e6 + 1], [-1e4, -1e4, 1e4, 1e4], [-1e4, -1e4, 1e4, 9e3]],
                         dtype=torch.float64)
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6, 0.5, 0.4], dtype=torch.float64)
    assert nms(boxes, scores, 0.5).tolist() == loop_nms(boxes, scores, 0.5) == [0, 2, 4]


# ----------------------------------------------------------------------------- helpers
@settings(max_examples=40, deadline=None)
@given(values=st.lists(st.integers(-5, 5), max_size=30), queries=st.lists(st.integers(-6, 6), max_size=30))
def test_count_at_most_equals_searchsorted(values, queries):
    v, q = torch.tensor(values, dtype=torch.float64), torch.tensor(queries, dtype=torch.float64)
    rank, count = nms_module._count_at_most(v, q)
    assert count.tolist() == torch.searchsorted(v.sort().values, q, right=True).tolist()
    assert sorted(rank.tolist()) == list(range(len(values)))                     # a permutation ...
    assert all(v[i] <= v[j] for i in range(len(values)) for j in range(len(values)) if rank[i] < rank[j])


@settings(max_examples=40, deadline=None)
@given(counts=st.lists(st.integers(0, 4), max_size=12))
def test_ragged(counts):
    rows, pos = nms_module._ragged(torch.tensor(counts, dtype=torch.int64))
    assert list(zip(rows.tolist(), pos.tolist(), strict=True)) == [(r, k) for r, c in enumerate(counts) for k in range(c)]


# ----------------------------------------------------------------------------- nms: properties
@PROPERTY
@given(n=st.integers(0, 80), seed=st.integers(0, 2**16), t=st.floats(0, 1))
def test_nms_properties(n, seed, t):
    boxes, scores = clustered(n, seed)
    keep = nms(boxes, scores, t)
    kept = set(keep.tolist())
    assert len(kept) == len(keep) and kept <= set(range(n))                       # a subset, no repeats
    assert torch.all(scores[keep][:-1] >= scores[keep][1:])                      # sorted by score
    iou = box_iou(boxes, boxes)
    assert not torch.any(iou[keep][:, keep].triu(1) > t)                          # no kept pair above t
    rank = torch.empty(n, dtype=torch.long)
    rank[torch.sort(scores, descending=True, stable=True).indices] = torch.arange(n)
    for j in set(range(n)) - kept:                                                # removed by a better kept box
        assert any(iou[i, j] > t and rank[i] < rank[j] for i in kept)


def test_nms_does_not_depend_on_input_order_except_ties():
    boxes, scores = clustered(500, 9)
    perm = torch.randperm(500, generator=torch.Generator().manual_seed(0))
    assert perm[nms(boxes[perm], scores[perm], 0.5)].tolist() == nms(boxes, scores, 0.5).tolist()


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.int32, torch.int64])
def test_nms_other_dtypes_are_computed_in_float32(dtype):
    boxes, scores = uniform(200, 3, torch.float32)
    boxes = boxes.round().to(dtype)
    want = loop_nms(boxes.float(), scores, 0.5, f=np.float32)
    assert nms(boxes, scores, 0.5).tolist() == want
    assert nms(boxes, scores.to(torch.float16), 0.5).dtype == torch.int64


def test_integer_scores_and_tensor_threshold():
    boxes = torch.tensor([[0.0, 0, 10, 10], [1, 1, 11, 11]])
    assert nms(boxes, torch.tensor([1, 2]), torch.tensor(0.5)).tolist() == [1]


# ----------------------------------------------------------------------------- batched_nms
def per_category(boxes, scores, idxs, t):
    """nms on each category, merged by decreasing score (ties: index)."""
    keep = []
    for c in idxs.unique():
        members = torch.nonzero(idxs == c).squeeze(1)
        keep += members[nms(boxes[members], scores[members], t)].tolist()
    return sorted(keep, key=lambda i: (-float(scores[i]), i))


@settings(max_examples=40, deadline=None)
@given(n=st.integers(0, 120), seed=st.integers(0, 2**16), classes=st.integers(1, 6), t=st.floats(0, 1))
def test_batched_nms_equals_nms_per_category(n, seed, classes, t):
    boxes, scores = clustered(n, seed)
    idxs = torch.randint(-2, classes - 2, (n,), generator=torch.Generator().manual_seed(seed))
    assert batched_nms(boxes, scores, idxs, t).tolist() == per_category(boxes, scores, idxs, t)


def test_batched_nms_categories_never_suppress_each_other():
    boxes = torch.tensor([[0.0, 0, 10, 10]] * 4)
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6])
    assert batched_nms(boxes, scores, torch.tensor([0, 1, 0, 7]), 0.5).tolist() == [0, 1, 3]
    assert batched_nms(boxes, scores, torch.tensor([3, 3, 3, 3], dtype=torch.int32), 0.5).tolist() == [0]
    # one category: the same as nms
    b, s = clustered(2000, 4)
    assert batched_nms(b, s, torch.zeros(2000, dtype=torch.long), 0.5).tolist() == nms(b, s, 0.5).tolist()


def test_batched_nms_many_categories_large():
    boxes, scores = clustered(3000, 11, torch.float32)
    idxs = torch.randint(0, 20, (3000,), generator=torch.Generator().manual_seed(1))
    assert batched_nms(boxes, scores, idxs, 0.5).tolist() == per_category(boxes, scores, idxs, 0.5)


# ----------------------------------------------------------------------------- soft_nms
def test_soft_nms_hand_worked():
    # IoU(A, B) = 0.5 exactly, C is far away
    boxes = torch.tensor([[0.0, 0, 2, 1], [0, 0, 1, 1], [10, 10, 11, 11]], dtype=torch.float64)
    scores = torch.tensor([0.9, 0.8, 0.5], dtype=torch.float64)
    keep, s = soft_nms(boxes, scores)                                  # gaussian, sigma 0.5
    assert keep.tolist() == [0, 2, 1]                                  # B decays to 0.8 e^-0.5 = 0.485 < 0.5
    torch.testing.assert_close(s, torch.tensor([0.9, 0.5, 0.8 * math.exp(-0.5)], dtype=torch.float64))
    keep, s = soft_nms(boxes, scores, iou_threshold=0.3, method="linear")
    assert keep.tolist() == [0, 2, 1]                                  # 0.8 (1 - 0.5) = 0.4
    torch.testing.assert_close(s, torch.tensor([0.9, 0.5, 0.4], dtype=torch.float64))
    keep, s = soft_nms(boxes, scores, iou_threshold=0.5, method="linear")
    assert keep.tolist() == [0, 1, 2] and s.tolist() == [0.9, 0.8, 0.5]  # IoU == threshold: no decay
    keep, s = soft_nms(boxes, scores, sigma=0.1)                       # 0.8 e^-2.5 = 0.066
    torch.testing.assert_close(s, torch.tensor([0.9, 0.5, 0.8 * math.exp(-2.5)], dtype=torch.float64))
    keep, s = soft_nms(boxes, scores, sigma=0.1, score_threshold=0.1)  # ... is dropped
    assert keep.tolist() == [0, 2]


def test_soft_nms_score_threshold_and_ties():
    boxes = torch.tensor([[0.0, 0, 10, 10], [0, 0, 10, 10], [20, 20, 30, 30], [40, 40, 50, 50]])
    scores = torch.tensor([0.6, 0.6, 0.6, 0.0005])
    keep, s = soft_nms(boxes, scores, method="linear", iou_threshold=0.5)   # identical box: 1 - IoU = 0
    assert keep.tolist() == [0, 2] and s.tolist() == pytest.approx([0.6, 0.6])
    keep, _ = soft_nms(boxes, scores, score_threshold=0.0)
    assert keep.tolist() == [0, 2, 1, 3]                               # gaussian: 0.6 e^-2 = 0.081 stays
    assert soft_nms(boxes, scores, score_threshold=1.0)[0].tolist() == []


@settings(max_examples=40, deadline=None)
@given(n=st.integers(0, 60), seed=st.integers(0, 2**16), method=st.sampled_from(["gaussian", "linear"]),
       t=st.floats(0, 1), sigma=st.floats(0.05, 2), score_threshold=st.sampled_from([0.0, 0.001, 0.05, 0.3]))
def test_soft_nms_equals_loop(n, seed, method, t, sigma, score_threshold):
    boxes, scores = clustered(n, seed)
    keep, s = soft_nms(boxes, scores, t, sigma, score_threshold, method)
    want_keep, want_s = loop_soft_nms(boxes, scores, t, sigma, score_threshold, method)
    assert keep.tolist() == want_keep
    torch.testing.assert_close(s, torch.tensor(want_s, dtype=torch.float64).reshape(-1))
    assert torch.all(s[:-1] >= s[1:]) and torch.all(s >= score_threshold)


def test_soft_nms_dtypes():
    boxes, scores = clustered(100, 2, torch.float32)
    keep, s = soft_nms(boxes.half(), scores.half())
    assert keep.dtype == torch.int64 and s.dtype == torch.float16
    keep, s = soft_nms(boxes, scores, method="linear")
    want_keep, want_s = loop_soft_nms(boxes.double(), scores.double(), 0.3, 0.5, 0.001, "linear")
    assert s.dtype == torch.float32 and keep.tolist() == want_keep
    torch.testing.assert_close(s, torch.tensor(want_s, dtype=torch.float32))


# ----------------------------------------------------------------------------- refused input
B3, S3 = torch.tensor([[0.0, 0, 1, 1], [0, 0, 2, 2], [1, 1, 3, 3]]), torch.tensor([0.1, 0.2, 0.3])
NAN_BOX = torch.tensor([[0.0, 0, 1, 1], [0, 0, float("nan"), 2], [1, 1, 3, 3]])
FLIPPED = torch.tensor([[0.0, 0, 1, 1], [2, 0, 1, 2], [1, 1, 3, 3]])


@pytest.mark.parametrize("fn", [
    lambda b, s, t: nms(b, s, t),
    lambda b, s, t: batched_nms(b, s, torch.zeros(len(s), dtype=torch.long), t),
    lambda b, s, t: soft_nms(b, s, t),
], ids=["nms", "batched_nms", "soft_nms"])
@pytest.mark.parametrize("boxes, scores, t, error, match", [
    ([[0.0, 0, 1, 1]], S3[:1], 0.5, TypeError, r"boxes: expected a Tensor\[N, 4\], got list"),
    (torch.zeros(3, 5), S3, 0.5, ValueError, r"boxes: expected Tensor\[N, 4\] \(xyxy\), got Tensor\[3, 5\]"),
    (torch.zeros(4), S3, 0.5, ValueError, r"boxes: expected Tensor\[N, 4\]"),
    (B3.bool(), S3, 0.5, TypeError, "boxes: expected real coordinates"),
    (NAN_BOX, S3, 0.5, ValueError, "boxes: coordinates must be finite; row 1"),
    (B3 * float("inf"), S3, 0.5, ValueError, "boxes: coordinates must be finite; row 0"),
    (FLIPPED, S3, 0.5, ValueError, r"boxes: expected x2 >= x1 and y2 >= y1 \(xyxy\); row 1"),
    (B3, S3[:2], 0.5, ValueError, r"scores: expected Tensor\[3\] \(one score per box\), got Tensor\[2\]"),
    (B3, S3[None], 0.5, ValueError, r"scores: expected Tensor\[3\]"),
    (B3, S3.tolist(), 0.5, TypeError, "scores: expected a Tensor"),
    (B3, torch.tensor([0.1, float("nan"), 0.3]), 0.5, ValueError, "scores: scores must be finite; element 1"),
    (B3, torch.tensor([0.1, 0.2, -float("inf")]), 0.5, ValueError, "scores: scores must be finite; element 2"),
    (B3, S3.bool(), 0.5, TypeError, "scores: expected real scores"),
    (B3, S3, 1.5, ValueError, r"iou_threshold: expected a value in \[0, 1\], got 1.5"),
    (B3, S3, -0.1, ValueError, r"iou_threshold: expected a value in \[0, 1\], got -0.1"),
    (B3, S3, float("nan"), ValueError, r"iou_threshold: expected a value in \[0, 1\]"),
    (B3, S3, "0.5", TypeError, r"iou_threshold: expected a number in \[0, 1\], got str"),
    (B3, S3, True, TypeError, r"iou_threshold: expected a number in \[0, 1\], got bool"),
])
def test_refuses_bad_input(fn, boxes, scores, t, error, match):
    with pytest.raises(error, match=f"^{match}"):
        fn(boxes, scores, t)


@pytest.mark.parametrize("idxs, error, match", [
    ([0, 1, 2], TypeError, r"idxs: expected an integer Tensor\[N\] of category indices, got list"),
    (torch.tensor([0.0, 1, 2]), TypeError, "idxs: expected an integer Tensor.* got dtype torch.float32"),
    (torch.tensor([True, False, True]), TypeError, "idxs: expected an integer Tensor.* got dtype torch.bool"),
    (torch.tensor([0, 1]), ValueError, r"idxs: expected Tensor\[3\] \(one category per box\), got Tensor\[2\]"),
    (torch.zeros(3, 1, dtype=torch.long), ValueError, r"idxs: expected Tensor\[3\] .*got Tensor\[3, 1\]"),
])
def test_batched_nms_refuses_bad_idxs(idxs, error, match):
    with pytest.raises(error, match=f"^{match}"):
        batched_nms(B3, S3, idxs, 0.5)


@pytest.mark.parametrize("kw, error, match", [
    (dict(method="hard"), ValueError, "method: unknown Soft-NMS method 'hard'; expected one of gaussian, linear"),
    (dict(method=None), ValueError, "method: unknown Soft-NMS method None"),
    (dict(sigma=0), ValueError, "sigma: expected a finite number > 0, got 0"),
    (dict(sigma=-1.0), ValueError, "sigma: expected a finite number > 0, got -1.0"),
    (dict(sigma=float("inf")), ValueError, "sigma: expected a finite number > 0, got inf"),
    (dict(sigma=float("nan")), ValueError, "sigma: expected a finite number > 0, got nan"),
    (dict(sigma="1"), TypeError, "sigma: expected a finite number > 0, got str"),
    (dict(score_threshold=1.5), ValueError, r"score_threshold: expected a value in \[0, 1\], got 1.5"),
    (dict(score_threshold=-0.5), ValueError, r"score_threshold: expected a value in \[0, 1\], got -0.5"),
    (dict(score_threshold=None), TypeError, r"score_threshold: expected a number in \[0, 1\], got NoneType"),
    (dict(iou_threshold=2), ValueError, r"iou_threshold: expected a value in \[0, 1\], got 2.0"),
])
def test_soft_nms_refuses_bad_parameters(kw, error, match):
    with pytest.raises(error, match=f"^{match}"):
        soft_nms(B3, S3, **kw)


INTERNAL_PATHS = [
    {"_SMALL_PASSES": 1},            # long chains settled by the blocked fallback
    {"_BAND": 0.25},                 # many bands per box: pairs seen in several bands are de-duplicated
    {"_SMALL_PAIRS": 64},            # too many candidates: the general path
    {"_CANDIDATES_PER_BOX": 0},      # the small path switched off, rank blocks
    {"_SMALL_BOXES": 0},             # the small path switched off, all pairs at once
]


@pytest.mark.parametrize("constants", INTERNAL_PATHS)
def test_nms_every_internal_path_equals_the_loop(constants, monkeypatch):
    for name, value in constants.items():
        monkeypatch.setattr(nms_module, name, value)
    for seed in range(3):
        boxes, scores = clustered(600, 200 + seed)
        for t in (0.3, 0.5):
            assert nms(boxes, scores, t).tolist() == loop_nms_by_box(boxes, scores, t)


@pytest.mark.parametrize("constants", INTERNAL_PATHS)
def test_batched_nms_every_internal_path_equals_nms_per_category(constants, monkeypatch):
    for name, value in constants.items():
        monkeypatch.setattr(nms_module, name, value)
    for seed in range(3):
        boxes, scores = clustered(600, 100 + seed)
        idxs = torch.randint(0, 5, (600,), generator=torch.Generator().manual_seed(seed))
        assert batched_nms(boxes, scores, idxs, 0.5).tolist() == per_category(boxes, scores, idxs, 0.5)
