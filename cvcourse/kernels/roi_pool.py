"""RoIPool forward and backward in Triton (the argmax kind), wired into `torch.autograd.Function`.

One program per (RoI k, output bin (i, j)) and block of channels: it rounds the RoI's corners to
map pixels (halves away from zero), finds the bin's rows and columns, walks them in row-major
order keeping the maximum of every channel and where it was (the first maximum wins: a later value
replaces it only if strictly larger), and stores both. The backward pass adds each bin's gradient to
the input pixel its argmax names (atomic adds: bins may share a pixel).

Rules as the torch reference, `cvcourse.ops.roi` (torchvision's kernel): RoI size
max(x2' - x1' + 1, 1); bin i covers floor(i h / oh) .. ceil((i + 1) h / oh) - 1 from y1', clipped to
the map; an empty bin gives 0 and no gradient; a NaN makes its bin NaN; a bin of -inf is -inf (its
first pixel receives the gradient).

Reference: Girshick, "Fast R-CNN", ICCV 2015; torchvision's `roi_pool_kernel` (CPU/CUDA).
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch import Tensor

__all__ = ["roi_pool", "roi_pool_backward_kernel", "roi_pool_forward_kernel"]

_BLOCK_C = 64


@triton.jit
def _round_away(v):
    """C's round: halves away from zero."""
    return tl.where(v >= 0, tl.floor(v + 0.5), tl.ceil(v - 0.5))


@triton.jit
def roi_pool_forward_kernel(x_ptr, rois_ptr, out_ptr, arg_ptr, NB, C, H, W, PH, PW, scale, BLOCK_C: tl.constexpr):
    pid = tl.program_id(0)                                       # one (RoI, bin) per program
    k = pid // (PH * PW)
    i = (pid // PW) % PH
    j = pid % PW
    b = tl.load(rois_ptr + k * 5).to(tl.int32)
    tl.device_assert((b >= 0) & (b < NB), "RoI batch index outside the batch")
    x1 = _round_away(tl.load(rois_ptr + k * 5 + 1) * scale).to(tl.int32)
    y1 = _round_away(tl.load(rois_ptr + k * 5 + 2) * scale).to(tl.int32)
    x2 = _round_away(tl.load(rois_ptr + k * 5 + 3) * scale).to(tl.int32)
    y2 = _round_away(tl.load(rois_ptr + k * 5 + 4) * scale).to(tl.int32)
    dt = x_ptr.dtype.element_ty                                  # bins computed in the map's dtype, as the reference
    bin_h = tl.maximum(y2 - y1 + 1, 1).to(dt) / PH
    bin_w = tl.maximum(x2 - x1 + 1, 1).to(dt) / PW
    h0 = tl.minimum(tl.maximum(tl.floor(i * bin_h).to(tl.int32) + y1, 0), H)
    h1 = tl.minimum(tl.maximum(tl.ceil((i + 1) * bin_h).to(tl.int32) + y1, 0), H)
    w0 = tl.minimum(tl.maximum(tl.floor(j * bin_w).to(tl.int32) + x1, 0), W)
    w1 = tl.minimum(tl.maximum(tl.ceil((j + 1) * bin_w).to(tl.int32) + x1, 0), W)
    for c0 in range(0, C, BLOCK_C):
        ch = c0 + tl.arange(0, BLOCK_C)                          # (BLOCK_C,)
        c_ok = ch < C
        base = x_ptr + (b * C + ch) * H * W
        best = tl.full((BLOCK_C,), float("-inf"), dt)
        where = tl.full((BLOCK_C,), -1, tl.int32)
        for h in range(h0, h1):
            for w in range(w0, w1):
                v = tl.load(base + h * W + w, mask=c_ok, other=0.0)
                take = (v > best) | (where < 0) | ((v != v) & (best == best))   # first max; NaN wins once
                best = tl.where(take, v, best)
                where = tl.where(take, h * W + w, where)
        out = tl.where(where < 0, 0.0, best)                     # an empty bin: 0
        tl.store(out_ptr + ((k * C + ch) * PH + i) * PW + j, out, mask=c_ok)
        tl.store(arg_ptr + ((k * C + ch) * PH + i) * PW + j, where, mask=c_ok)


@triton.jit
def roi_pool_backward_kernel(grad_out_ptr, rois_ptr, arg_ptr, grad_in_ptr, NB, C, H, W, PH, PW,
                             BLOCK_C: tl.constexpr):
    pid = tl.program_id(0)
    k = pid // (PH * PW)
    i = (pid // PW) % PH
    j = pid % PW
    b = tl.load(rois_ptr + k * 5).to(tl.int32)
    for c0 in range(0, C, BLOCK_C):
        ch = c0 + tl.arange(0, BLOCK_C)
        c_ok = ch < C
        at = ((k * C + ch) * PH + i) * PW + j
        where = tl.load(arg_ptr + at, mask=c_ok, other=-1)
        g = tl.load(grad_out_ptr + at, mask=c_ok, other=0.0)
        ok = c_ok & (where >= 0)
        tl.device_assert((b >= 0) & (b < NB) & (~ok | (where < H * W)), "argmax outside the map")
        tl.atomic_add(grad_in_ptr + (b * C + ch) * H * W + tl.where(ok, where, 0), g, mask=ok)


class _RoIPool(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, rois, output_size, spatial_scale):  # noqa: D102
        ph, pw = output_size
        k, (_, c, h, w) = len(rois), x.shape
        out = torch.zeros(k, c, ph, pw, dtype=x.dtype, device=x.device)
        argmax = torch.full((k, c, ph, pw), -1, dtype=torch.int32, device=x.device)
        if k and c:
            roi_pool_forward_kernel[(k * ph * pw,)](x, rois, out, argmax, x.shape[0], c, h, w, ph, pw, spatial_scale, BLOCK_C=_BLOCK_C)
        ctx.save_for_backward(rois, argmax)
        ctx.shape = x.shape
        return out

    @staticmethod
    def backward(ctx, grad_out):  # noqa: D102
        rois, argmax = ctx.saved_tensors
        k, c, ph, pw = argmax.shape
        nb, _, h, w = ctx.shape
        grad_in = torch.zeros(ctx.shape, dtype=grad_out.dtype, device=grad_out.device)
        if k and c:
            roi_pool_backward_kernel[(k * ph * pw,)](grad_out.contiguous(), rois, argmax, grad_in, nb, c, h, w, ph, pw,
                                          BLOCK_C=_BLOCK_C)
        return grad_in, None, None, None


def roi_pool(input: Tensor, rois: Tensor, output_size: tuple[int, int], spatial_scale: float = 1.0) -> Tensor:
    """RoIPool with the Triton kernels (no input checks: `cvcourse.ops.roi_pool` checks first).

    Args:
        input: Tensor[N, C, H, W] floating, on a CUDA device (or the CPU with TRITON_INTERPRET=1).
        rois: Tensor[K, 5] rows (batch index, x1, y1, x2, y2) in image coordinates.
        output_size: (oh, ow).
        spatial_scale: feature-map size / image size.

    Returns:
        Tensor[K, C, oh, ow] in `input`'s dtype; differentiable with respect to `input` (the gradient
        of each bin goes to its first maximal pixel).

    Reference: Girshick, "Fast R-CNN", ICCV 2015.
    """
    compute = torch.float64 if input.dtype == torch.float64 else torch.float32
    x = input.to(compute).contiguous()
    r = rois.to(device=x.device, dtype=compute).contiguous()
    return _RoIPool.apply(x, r, tuple(output_size), float(spatial_scale)).to(input.dtype)
