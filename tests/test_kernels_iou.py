"""cvcourse.kernels.iou (issue 7): the Triton IoU-family kernel against the torch reference of
cvcourse.ops, on the CPU in Triton's interpreter (TRITON_INTERPRET=1, set in tests/conftest.py);
and the backend dispatch of cvcourse.ops."""
import pytest
import torch

pytest.importorskip("triton")
pytestmark = pytest.mark.usefixtures("triton_debug")   # tl.device_assert on: bounds are checked

from cvcourse import ops  # noqa: E402
from cvcourse.kernels import backend as B  # noqa: E402
from cvcourse.kernels.iou import KINDS, pairwise_iou  # noqa: E402

REFERENCE = {"iou": ops.box_iou, "giou": ops.generalized_box_iou, "diou": ops.distance_box_iou,
             "ciou": ops.complete_box_iou}


def boxes(n, seed, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * 60
    wh = torch.rand(n, 2, generator=g) * 30
    return torch.cat([xy, xy + wh], 1).to(dtype)


def test_interpreter_is_on():
    assert B.interpreting(), "tests/conftest.py sets TRITON_INTERPRET=1 before kernels are imported"


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("n, m", [(1, 1), (70, 130), (64, 64), (0, 5), (5, 0)])   # edges of 64-tiles, empty
def test_matches_reference(kind, n, m):
    a, b = boxes(n, 1), boxes(m, 2)
    torch.testing.assert_close(pairwise_iou(a, b, kind), REFERENCE[kind](a, b, backend="torch"),
                               atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_degenerate_boxes(kind):
    # identical boxes, zero-area boxes (points, lines), boxes far apart, equal centres
    a = torch.tensor([[0.0, 0, 10, 10], [5, 5, 5, 5], [0, 3, 10, 3], [100, 100, 120, 130], [5, 5, 5, 5]])
    b = torch.tensor([[0.0, 0, 10, 10], [5, 5, 5, 5], [2, 3, 2, 9], [0, 0, 1, 1]])
    out = pairwise_iou(a, b, kind)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, REFERENCE[kind](a, b, backend="torch"), atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
@pytest.mark.parametrize("kind", ["iou", "ciou"])
def test_dtypes(dtype, kind):
    # half types are converted to float32 before the kernel and back after it (the interpreter computes
    # bfloat16 arithmetic wrongly, so no bfloat16 arithmetic happens inside a kernel)
    a, b = boxes(20, 3, dtype), boxes(30, 4, dtype)
    out = pairwise_iou(a, b, kind)
    assert out.dtype == dtype
    tol = dict(atol=1e-12, rtol=1e-10) if dtype == torch.float64 else dict(atol=1e-2, rtol=1e-2)
    torch.testing.assert_close(out, REFERENCE[kind](a, b, backend="torch"), **tol)


@pytest.mark.parametrize("kind", KINDS)
def test_ops_dispatch_runs_the_kernel(kind, monkeypatch):
    calls = []
    import cvcourse.kernels.iou as K

    original = K.pairwise_iou
    monkeypatch.setattr(K, "pairwise_iou", lambda *a, **k: calls.append(1) or original(*a, **k))
    a, b = boxes(9, 5), boxes(7, 6)
    out = REFERENCE[kind](a, b, backend="triton")
    assert calls == [1]
    torch.testing.assert_close(out, REFERENCE[kind](a, b, backend="torch"), atol=1e-6, rtol=1e-5)
    REFERENCE[kind](a, b)                                         # auto on CPU tensors: torch, no kernel
    assert calls == [1]


def test_backend_rules(monkeypatch):
    cpu = [torch.zeros(1, 4)]
    assert B.resolve_backend("auto", cpu) == "torch"
    assert B.resolve_backend("torch", cpu) == "torch"
    assert B.resolve_backend("triton", cpu) == "triton"           # the interpreter is on
    with pytest.raises(ValueError, match="forward-only"):
        B.resolve_backend("triton", cpu, needs_grad=True)
    with pytest.raises(ValueError, match="backend: expected one of"):
        B.resolve_backend("cuda", cpu)
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    with pytest.raises(ValueError, match="TRITON_INTERPRET=1"):
        B.resolve_backend("triton", cpu)
    monkeypatch.setattr(B, "triton_available", lambda: False)
    with pytest.raises(ValueError, match=r"cvcourse\[gpu\]"):
        B.resolve_backend("triton", cpu)


def test_gradients_use_the_reference():
    a = boxes(4, 7).requires_grad_(True)
    ops.complete_box_iou(a, boxes(3, 8)).sum().backward()        # auto: torch, differentiable
    assert a.grad is not None and torch.isfinite(a.grad).all()
    with pytest.raises(ValueError, match="forward-only"):
        ops.box_iou(a, boxes(3, 8), backend="triton")


def test_kernel_source_for_notebooks():
    from cvcourse.kernels import kernel_source
    from cvcourse.kernels.iou import pairwise_iou_kernel

    source = kernel_source(pairwise_iou_kernel)
    assert source.lstrip().startswith("@triton.jit") and "tl.program_id(0)" in source
    with pytest.raises(TypeError, match="@triton.jit kernel"):
        kernel_source(len)
