"""cvcourse.kernels.nms (issue 7): the Triton NMS bitmask kernel and the host scan against the torch
NMS of cvcourse.ops (which matches torchvision), in Triton's interpreter (TRITON_INTERPRET=1)."""
import pytest
import torch

pytest.importorskip("triton")
pytestmark = pytest.mark.usefixtures("triton_debug")   # tl.device_assert on: bounds are checked

from cvcourse import ops  # noqa: E402
from cvcourse.kernels import nms as K  # noqa: E402


def boxes(n, seed, dtype=torch.float32, size=100.0):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * size
    wh = torch.rand(n, 2, generator=g) * 40 + 1
    return torch.cat([xy, xy + wh], 1).to(dtype)


def scores(n, seed, decimals=1):
    return torch.rand(n, generator=torch.Generator().manual_seed(seed + 100)).round(decimals=decimals)   # many ties


@pytest.mark.parametrize("n", [1, 2, 63, 64, 65, 200])          # around the 64-box words and tiles
@pytest.mark.parametrize("threshold", [0.0, 0.3, 0.7, 1.0])
def test_matches_reference(n, threshold):
    b, s = boxes(n, n), scores(n, n)
    assert torch.equal(K.nms(b, s, threshold), ops.nms(b, s, threshold, backend="torch"))


@pytest.mark.parametrize("n", [1, 65, 200])
def test_batched_matches_reference(n):
    b, s = boxes(n, n + 1, size=40.0), scores(n, n + 1)
    c = torch.randint(0, 3, (n,), generator=torch.Generator().manual_seed(n))
    assert torch.equal(K.batched_nms(b, s, c, 0.4), ops.batched_nms(b, s, c, 0.4, backend="torch"))


def test_bitmask_golden():
    # ranks 0, 1, 2: box 0 overlaps box 1 with IoU 0.5 (kept at threshold 0.5, suppressed at 0.4),
    # box 2 is far away
    b = torch.tensor([[0.0, 0, 10, 10], [0, 0, 10, 5], [50, 50, 60, 60]])
    assert K.nms_bitmask(b, 0.5).tolist() == [[0], [0], [0]]
    assert K.nms_bitmask(b, 0.4).tolist() == [[0b10], [0], [0]]
    assert K.nms(b, torch.tensor([0.9, 0.8, 0.7]), 0.5).tolist() == [0, 1, 2]      # IoU == threshold is kept
    assert K.nms(b, torch.tensor([0.9, 0.8, 0.7]), 0.4).tolist() == [0, 2]


def test_bit_63_and_many_words():
    # 130 identical boxes: every later box is suppressed by box 0; row 0 has all bits of words 0..2 set
    b = torch.tensor([[0.0, 0, 10, 10]]).repeat(130, 1)
    mask = K.nms_bitmask(b, 0.5)
    assert mask.shape == (130, 3)
    assert mask[0, 0] == -2 and mask[0, 1] == -1 and mask[0, 2] == 0b11   # bit 63 is the sign bit
    assert K.nms(b, torch.ones(130), 0.5).tolist() == [0]


def test_degenerate_and_empty():
    b = torch.tensor([[5.0, 5, 5, 5], [5, 5, 5, 5], [0, 0, 10, 10], [0, 3, 10, 3]])   # points and a line
    s = torch.tensor([0.9, 0.8, 0.7, 0.6])
    assert K.nms(b, s, 0.0).tolist() == ops.nms(b, s, 0.0, backend="torch").tolist() == [0, 1, 2, 3]
    assert K.nms(torch.zeros(0, 4), torch.zeros(0), 0.5).tolist() == []


@pytest.mark.parametrize("dtype", [torch.float16, torch.float64])
def test_dtypes(dtype):
    b, s = boxes(90, 3, dtype), scores(90, 3)
    ref = ops.nms(b, s, 0.5, backend="torch")
    assert torch.equal(ops.nms(b, s, 0.5, backend="triton"), ref)


def test_ops_dispatch(monkeypatch):
    calls = []
    original = K.nms
    monkeypatch.setattr(K, "nms", lambda *a: calls.append(1) or original(*a))
    b, s = boxes(30, 9), scores(30, 9)
    assert torch.equal(ops.nms(b, s, 0.5, backend="triton"), ops.nms(b, s, 0.5))   # auto on CPU: torch
    assert calls == [1]
    c = torch.zeros(30, dtype=torch.long)
    assert torch.equal(ops.batched_nms(b, s, c, 0.5, backend="triton"), ops.nms(b, s, 0.5))
