"""RoIAlign forward and backward in Triton, wired into `torch.autograd.Function`.

One program per (RoI k, output bin (i, j)): it reads the RoI's row (batch index, x1, y1, x2, y2),
places the bin's gh x gw sample points, and for each sample reads the 4 neighbouring pixels of a
block of BLOCK_C channels at once (a vector load with a channel mask), weights them bilinearly and
averages. The backward pass walks the same samples and adds grad_output x weight / count to the 4
pixels with atomic adds: bins of neighbouring RoIs touch the same pixels, so plain stores would race.

The edge rules are those of the torch reference, `cvcourse.ops.roi` (and torchvision's kernel):
`aligned` shifts by -0.5 and otherwise forces a size of at least 1; `sampling_ratio <= 0` gives
ceil(roi / output) samples per bin and per RoI (a loop with a bound read at run time); samples more
than one pixel outside the map count but add 0; y in [-1, 0] reads row 0; y >= H - 1 reads row H - 1.
float16/bfloat16 maps are computed in float32 and cast back (the cast is part of the autograd graph).
Index bounds (the RoI's batch index, every sample's pixels) are checked with `tl.device_assert`,
which Triton evaluates in debug mode only (the tests turn it on in the interpreter).

Reference: He et al., "Mask R-CNN", ICCV 2017; torchvision's `roi_align_kernel` (CPU/CUDA).
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch import Tensor

__all__ = ["roi_align", "roi_align_backward_kernel", "roi_align_forward_kernel"]

_BLOCK_C = 64


@triton.jit
def _sample(y, x, H, W):
    """Bilinear corners and weights of one sample (scalars): y_low, x_low, y_high, x_high, 4 weights, valid."""
    valid = (y >= -1.0) & (y <= H) & (x >= -1.0) & (x <= W)
    y = tl.maximum(y, 0.0)
    x = tl.maximum(x, 0.0)
    y_low = tl.minimum(y.to(tl.int32), H - 1)
    x_low = tl.minimum(x.to(tl.int32), W - 1)
    y = tl.where(y_low >= H - 1, y_low.to(y.dtype), y)
    x = tl.where(x_low >= W - 1, x_low.to(x.dtype), x)
    y_high = tl.minimum(y_low + 1, H - 1)
    x_high = tl.minimum(x_low + 1, W - 1)
    ly = y - y_low
    lx = x - x_low
    hy = 1.0 - ly
    hx = 1.0 - lx
    return y_low, x_low, y_high, x_high, hy * hx, hy * lx, ly * hx, ly * lx, valid


@triton.jit
def _roi_geometry(rois_ptr, pid, scale, offset, sampling_ratio, NB, PH, PW, ALIGNED: tl.constexpr):
    """Program `pid`'s (RoI k, bin i, j), the RoI's batch index, the bin's first sample corner, the
    sample steps, the sample grid (gh, gw) and the number of samples the bin averages (at least 1)."""
    k = pid // (PH * PW)                                         # one (RoI, bin) per program
    i = (pid // PW) % PH
    j = pid % PW
    b = tl.load(rois_ptr + k * 5).to(tl.int32)
    tl.device_assert((b >= 0) & (b < NB), "RoI batch index outside the batch")
    x1 = tl.load(rois_ptr + k * 5 + 1) * scale - offset
    y1 = tl.load(rois_ptr + k * 5 + 2) * scale - offset
    x2 = tl.load(rois_ptr + k * 5 + 3) * scale - offset
    y2 = tl.load(rois_ptr + k * 5 + 4) * scale - offset
    roi_w = x2 - x1
    roi_h = y2 - y1
    if not ALIGNED:
        roi_w = tl.maximum(roi_w, 1.0)
        roi_h = tl.maximum(roi_h, 1.0)
    bin_h = roi_h / PH
    bin_w = roi_w / PW
    gh = tl.where(sampling_ratio > 0, sampling_ratio, tl.maximum(tl.ceil(bin_h), 0.0).to(tl.int32))
    gw = tl.where(sampling_ratio > 0, sampling_ratio, tl.maximum(tl.ceil(bin_w), 0.0).to(tl.int32))
    y_start = y1 + i * bin_h
    x_start = x1 + j * bin_w
    step_y = bin_h / tl.maximum(gh, 1).to(bin_h.dtype)          # no sample at all (gh = 0): the loop is empty
    step_x = bin_w / tl.maximum(gw, 1).to(bin_w.dtype)
    count = tl.maximum(gh * gw, 1).to(y_start.dtype)
    return k, i, j, b, y_start, x_start, step_y, step_x, gh, gw, count


@triton.jit
def roi_align_forward_kernel(x_ptr, rois_ptr, out_ptr, NB, C, H, W, PH, PW, scale, offset, sampling_ratio,
                   ALIGNED: tl.constexpr, BLOCK_C: tl.constexpr):
    k, i, j, b, y_start, x_start, step_y, step_x, gh, gw, count = _roi_geometry(
        rois_ptr, tl.program_id(0), scale, offset, sampling_ratio, NB, PH, PW, ALIGNED)
    for c0 in range(0, C, BLOCK_C):
        ch = c0 + tl.arange(0, BLOCK_C)                          # (BLOCK_C,)
        c_ok = ch < C
        base = x_ptr + (b * C + ch) * H * W                      # (BLOCK_C,) pointers to each channel's map
        acc = tl.zeros((BLOCK_C,), dtype=y_start.dtype)
        for iy in range(0, gh):
            y = y_start + (iy + 0.5) * step_y
            for ix in range(0, gw):
                x = x_start + (ix + 0.5) * step_x
                yl, xl, yh, xh, w1, w2, w3, w4, valid = _sample(y, x, H, W)
                m = tl.where(valid, c_ok, False)
                tl.device_assert(~valid | ((yl >= 0) & (yh < H) & (xl >= 0) & (xh < W)), "sample outside the map")
                v = w1 * tl.load(base + yl * W + xl, mask=m, other=0.0) \
                    + w2 * tl.load(base + yl * W + xh, mask=m, other=0.0) \
                    + w3 * tl.load(base + yh * W + xl, mask=m, other=0.0) \
                    + w4 * tl.load(base + yh * W + xh, mask=m, other=0.0)
                acc += tl.where(valid, v, 0.0)
        tl.store(out_ptr + ((k * C + ch) * PH + i) * PW + j, acc / count, mask=c_ok)


@triton.jit
def roi_align_backward_kernel(grad_out_ptr, rois_ptr, grad_in_ptr, NB, C, H, W, PH, PW, scale, offset, sampling_ratio,
                   ALIGNED: tl.constexpr, BLOCK_C: tl.constexpr):
    k, i, j, b, y_start, x_start, step_y, step_x, gh, gw, count = _roi_geometry(
        rois_ptr, tl.program_id(0), scale, offset, sampling_ratio, NB, PH, PW, ALIGNED)
    for c0 in range(0, C, BLOCK_C):
        ch = c0 + tl.arange(0, BLOCK_C)
        c_ok = ch < C
        g = tl.load(grad_out_ptr + ((k * C + ch) * PH + i) * PW + j, mask=c_ok, other=0.0) / count
        base = grad_in_ptr + (b * C + ch) * H * W
        for iy in range(0, gh):
            y = y_start + (iy + 0.5) * step_y
            for ix in range(0, gw):
                x = x_start + (ix + 0.5) * step_x
                yl, xl, yh, xh, w1, w2, w3, w4, valid = _sample(y, x, H, W)
                m = tl.where(valid, c_ok, False)
                tl.atomic_add(base + yl * W + xl, g * w1, mask=m)
                tl.atomic_add(base + yl * W + xh, g * w2, mask=m)
                tl.atomic_add(base + yh * W + xl, g * w3, mask=m)
                tl.atomic_add(base + yh * W + xh, g * w4, mask=m)


class _RoIAlign(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, rois, output_size, spatial_scale, sampling_ratio, aligned):  # noqa: D102
        ph, pw = output_size
        k, (_, c, h, w) = len(rois), x.shape
        out = torch.zeros(k, c, ph, pw, dtype=x.dtype, device=x.device)
        if k and c:
            roi_align_forward_kernel[(k * ph * pw,)](x, rois, out, x.shape[0], c, h, w, ph, pw, spatial_scale, 0.5 if aligned else 0.0,
                                           sampling_ratio, ALIGNED=aligned, BLOCK_C=_BLOCK_C)
        ctx.save_for_backward(rois)
        ctx.args = (x.shape, output_size, spatial_scale, sampling_ratio, aligned)
        return out

    @staticmethod
    def backward(ctx, grad_out):  # noqa: D102
        (rois,) = ctx.saved_tensors
        shape, (ph, pw), spatial_scale, sampling_ratio, aligned = ctx.args
        nb, c, h, w = shape
        grad_in = torch.zeros(shape, dtype=grad_out.dtype, device=grad_out.device)
        if len(rois) and c:
            roi_align_backward_kernel[(len(rois) * ph * pw,)](grad_out.contiguous(), rois, grad_in, nb, c, h, w, ph, pw,
                                                   spatial_scale, 0.5 if aligned else 0.0, sampling_ratio,
                                                   ALIGNED=aligned, BLOCK_C=_BLOCK_C)
        return grad_in, None, None, None, None, None


def roi_align(input: Tensor, rois: Tensor, output_size: tuple[int, int], spatial_scale: float = 1.0,
              sampling_ratio: int = -1, aligned: bool = False) -> Tensor:
    """RoIAlign with the Triton kernels (no input checks: `cvcourse.ops.roi_align` checks first).

    Args:
        input: Tensor[N, C, H, W] floating, on a CUDA device (or the CPU with TRITON_INTERPRET=1).
        rois: Tensor[K, 5] rows (batch index, x1, y1, x2, y2) in image coordinates.
        output_size: (oh, ow).
        spatial_scale: feature-map size / image size.
        sampling_ratio: samples per bin along each axis; <= 0: ceil(roi size / output size) per RoI.
        aligned: the -0.5 pixel shift (see `cvcourse.ops.roi`).

    Returns:
        Tensor[K, C, oh, ow] in `input`'s dtype; differentiable with respect to `input`.

    Reference: He et al., "Mask R-CNN", ICCV 2017.
    """
    compute = torch.float64 if input.dtype == torch.float64 else torch.float32
    x = input.to(compute).contiguous()
    r = rois.to(device=x.device, dtype=compute).contiguous()
    out = _RoIAlign.apply(x, r, tuple(output_size), float(spatial_scale), int(sampling_ratio), bool(aligned))
    return out.to(input.dtype)
