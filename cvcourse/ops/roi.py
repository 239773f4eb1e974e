"""RoI pooling: RoIAlign (Mask R-CNN) and RoIPool (Fast R-CNN), chapter 10.

A two-stage detector crops every region of interest (RoI) out of a shared feature map and turns it
into a fixed `oh x ow` grid of features, whatever the RoI's size. Both operators split the RoI
into `oh x ow` bins and summarise each bin; they differ in how.

Boxes are either a `Tensor[K, 5]` of rows (batch index, x1, y1, x2, y2), or a list of
`Tensor[L_i, 4]` (`xyxy`), one per image (image i gets batch index i; a list shorter than the batch
is allowed, as in torchvision: the remaining images have no RoIs). Coordinates are in input-image
pixels; `spatial_scale` (the feature map's size over the image's, e.g. 1/16) maps them onto the map.

**RoIAlign** (`roi_align`, He et al. 2017) never rounds. Rules, exactly those of torchvision's CPU
kernel (`input` is `Tensor[N, C, H, W]`, a RoI's start/end are its corners times `spatial_scale`):

- `aligned=True` shifts the corners by -0.5 pixel (pixel i's centre is at i + 0.5 in image
  coordinates, at i on the map); `aligned=False` does not, and forces the RoI's width and height
  to be at least 1 (a smaller or malformed RoI becomes 1 wide/high from its start corner).
- Bin size = RoI size / output size. In each bin a `gh x gw` grid of sample points sits at the
  centres of a regular subdivision: y = y1 + i * bin_h + (s + 0.5) * bin_h / gh.
- `sampling_ratio > 0` fixes gh = gw = sampling_ratio; `sampling_ratio <= 0` is adaptive, per RoI:
  gh = ceil(roi_h / oh), gw = ceil(roi_w / ow). With `aligned=True` a zero-size RoI gets 0
  samples, and its bins are 0 (so does a malformed one, x2 < x1: ceil of a negative size; on
  such a RoI torchvision's CPU kernel raises an error instead).
- A sample with y < -1 or y > H (or x < -1 or x > W), i.e. more than one pixel outside the map,
  contributes zero (but still counts in the average). Otherwise y in [-1, 0] is clamped to 0, and
  y >= H - 1 reads row H - 1 only (the same for x).
- Each sample is the bilinear interpolation of its (at most) 4 neighbours; a bin's value is the
  average of its gh * gw samples (zero samples: 0).

**RoIPool** (`roi_pool`, Girshick 2015) quantises:

- each corner is rounded to the nearest map pixel, halves away from zero (C's `round`):
  x1' = round(x1 * spatial_scale), etc.; the RoI covers pixels x1'..x2' inclusive, so its width is
  max(x2' - x1' + 1, 1) (likewise the height);
- bin i covers rows floor(i * roi_h / oh) .. ceil((i + 1) * roi_h / oh) - 1 from y1' (neighbouring
  bins may share a row), clipped to the map; an empty bin (all outside) gives 0;
- a bin's value is the maximum over its pixels. The gradient goes to one pixel per bin: the first
  maximum in row-major order (lowest row, then lowest column), as torchvision's argmax. Ties are
  thus broken deterministically, and the gradient is not split. (Unlike torchvision's loop, which
  skips them, a NaN in a bin makes the bin NaN; a bin of -inf values is -inf, not -FLT_MAX.)

How it is computed, without a loop per RoI or per bin (RoIs are processed in a few chunks of
similar size, to bound memory; the feature map is read channels-last, so that a pixel's C values
are contiguous and gathering pixels copies rows of C values):

- RoIAlign is separable. A sample's bilinear weights are a product w_y(row) * w_x(column), its
  validity is valid_y * valid_x, and averaging over a gh x gw grid is averaging over rows times
  averaging over columns. So out[k, c, i, j] = sum_h sum_w Wy[k, i, h] X[c, h, w] Wx[k, j, w],
  where Wy[k, i, h] is the average over bin i's sample rows of the 1-D weights on row h (two
  rows per sample), likewise Wx. Each RoI only reads the rows and columns its samples touch (a
  window of about its own size), so the window is gathered and contracted with Wy and Wx: two
  batched matrix products. Exact (up to float rounding), and differentiable in `input` by autograd.
- RoIPool's max is separable too: the maximum over a bin = the maximum over its rows of the maximum
  over its columns in that row. For each RoI row in the window and each column bin, the bin's
  columns are gathered (padded to the widest bin by repeating its last column, which leaves the
  maximum unchanged) and reduced with `max`; then the same over each row bin's rows. `torch.max`
  along a dimension returns the index of the first maximal element, so columns first, then rows,
  finds the row-major first maximum. For the gradient, the output is read from the input at
  that pixel (`take`), and autograd routes each gradient there. (When no gradient is needed,
  `amax`, which gives the values only, several times faster, is used instead.)

Like torchvision, the ops are differentiable in `input` only: `boxes` are treated as constants.
float16/bfloat16 inputs are computed in float32 and the result is cast back; boxes are cast to the
dtype of the computation (torchvision instead requires the same dtype as `input`).

References: He et al., "Mask R-CNN", ICCV 2017 (RoIAlign); Girshick, "Fast R-CNN", ICCV 2015
(RoIPool).
"""
from __future__ import annotations

import itertools
import math

import torch
from torch import Tensor, nn

from cvcourse.kernels.backend import resolve_backend

from ._validate import upcast

__all__ = ["RoIAlign", "RoIPool", "convert_boxes_to_roi_format", "roi_align", "roi_pool"]

# Elements of the intermediates per chunk of RoIs (measured on the benchmark: RoIAlign's matrix
# products like chunks that stay in cache, RoIPool's gathers and reductions like fewer calls).
_ALIGN_CHUNK = 1 << 18
_POOL_CHUNK = 1 << 20
_BOXES_HELP = "boxes must be Tensor[K, 5] (batch index, x1, y1, x2, y2) or a list of Tensor[L, 4] per image"


# ----------------------------------------------------------------------------- input checks
def _check_input(input: object) -> Tensor:
    if not isinstance(input, Tensor):
        raise TypeError(f"input: expected a Tensor[N, C, H, W], got {type(input).__name__}")
    if input.dim() != 4:
        raise ValueError(f"input: expected a 4-D Tensor[N, C, H, W], got Tensor{list(input.shape)}")
    if not input.is_floating_point():
        raise TypeError(f"input: expected a floating-point tensor, got dtype {input.dtype}")
    return input


def _check_output_size(output_size: object) -> tuple[int, int]:
    size = (output_size, output_size) if not isinstance(output_size, (tuple, list)) else tuple(output_size)
    ok = len(size) == 2 and all(isinstance(s, int) and not isinstance(s, bool) for s in size)
    if not ok:
        raise TypeError(f"output_size: expected an int or a pair of ints (oh, ow), got {output_size!r}")
    if min(size) < 1:
        raise ValueError(f"output_size: expected positive sizes, got {output_size!r}")
    return size  # type: ignore[return-value]


def _check_scale(spatial_scale: object) -> float:
    if isinstance(spatial_scale, bool) or not isinstance(spatial_scale, (int, float)):
        raise TypeError(f"spatial_scale: expected a finite number > 0, got {type(spatial_scale).__name__}")
    if not (math.isfinite(spatial_scale) and spatial_scale > 0):
        raise ValueError(f"spatial_scale: expected a finite number > 0, got {spatial_scale}")
    return float(spatial_scale)


def convert_boxes_to_roi_format(boxes: list[Tensor]) -> Tensor:
    """Per-image boxes as one `Tensor[K, 5]` of RoIs (batch index, x1, y1, x2, y2).

    Args:
        boxes: a list of `Tensor[L_i, 4]` (`xyxy`), one per image; image i's boxes get batch index i.

    Returns:
        `Tensor[sum L_i, 5]`, the boxes in list order, in the dtype of the first tensor (float32 for
        integer boxes; all tensors must be on one device).

    References: Girshick, "Fast R-CNN", ICCV 2015 (the (batch index, box) RoI rows).
    """
    if not isinstance(boxes, (list, tuple)) or not all(isinstance(b, Tensor) for b in boxes):
        raise TypeError(f"{_BOXES_HELP}; got {type(boxes).__name__} of {[type(b).__name__ for b in boxes]}"
                        if isinstance(boxes, (list, tuple)) else f"{_BOXES_HELP}; got {type(boxes).__name__}")
    for i, b in enumerate(boxes):
        if b.dim() != 2 or b.shape[1] != 4:
            raise ValueError(f"{_BOXES_HELP}; boxes[{i}] is Tensor{list(b.shape)}")
        if b.dtype == torch.bool or b.is_complex():
            raise TypeError(f"boxes[{i}]: expected real coordinates, got dtype {b.dtype}")
    if not boxes:
        return torch.zeros(0, 5)
    dtype = boxes[0].dtype if boxes[0].is_floating_point() else torch.float32
    device = boxes[0].device
    if any(b.device != device for b in boxes):
        raise ValueError(f"boxes: all tensors must be on one device, got {sorted({str(b.device) for b in boxes})}")
    ids = torch.cat([torch.full((len(b), 1), i, dtype=dtype, device=device) for i, b in enumerate(boxes)])
    return torch.cat([ids, torch.cat([b.to(dtype) for b in boxes])], dim=1)


def _rois(boxes: object, input: Tensor, dtype: torch.dtype) -> Tensor:
    """`boxes` (either form) as a checked `Tensor[K, 5]` of dtype `dtype` on `input`'s device."""
    n = input.shape[0]
    if isinstance(boxes, (list, tuple)):
        if len(boxes) > n:
            raise ValueError(f"boxes: a list of {len(boxes)} Tensor[L, 4] for a batch of {n} images; "
                             f"expected at most one tensor per image")
        rois = convert_boxes_to_roi_format(list(boxes))
    elif isinstance(boxes, Tensor):
        if boxes.dim() == 2 and boxes.shape[1] == 4:
            raise ValueError(f"{_BOXES_HELP}; got Tensor[K, 4]: pass a list [boxes] for one image")
        if boxes.dim() != 2 or boxes.shape[1] != 5:
            raise ValueError(f"{_BOXES_HELP}; got Tensor{list(boxes.shape)}")
        if boxes.dtype == torch.bool or boxes.is_complex():
            raise TypeError(f"boxes: expected real coordinates, got dtype {boxes.dtype}")
        rois = boxes
    else:
        raise TypeError(f"{_BOXES_HELP}; got {type(boxes).__name__}")
    if rois.device != input.device:
        raise ValueError(f"boxes: on {rois.device}, but input is on {input.device}; expected the same device")
    rois = rois.detach()
    if rois.numel() and not bool(torch.isfinite(rois).all()):
        i = int((~torch.isfinite(rois).all(dim=1)).nonzero()[0, 0])
        raise ValueError(f"boxes: coordinates must be finite; RoI {i} is {rois[i].tolist()}")
    idx = rois[:, 0]
    bad = (idx != idx.round()) | (idx < 0) | (idx >= n)
    if bad.any():
        i = int(bad.nonzero()[0, 0])
        raise ValueError(f"boxes: batch index (column 0) must be an integer in [0, {n}) for a batch of {n} "
                         f"images; RoI {i} has {idx[i].item()}")
    return rois.to(dtype)


def _prepare(input: object, boxes: object, output_size: object, spatial_scale: object):
    x = _check_input(input)
    size = _check_output_size(output_size)
    scale = _check_scale(spatial_scale)
    dtype = upcast(x).dtype
    rois = _rois(boxes, x, dtype)
    if len(rois) and (x.shape[2] == 0 or x.shape[3] == 0):
        raise ValueError(f"input: RoIs need a feature map of positive height and width, got Tensor{list(x.shape)}")
    return x, rois, size, scale, dtype


def _empty(x: Tensor, k: int, size: tuple[int, int]) -> Tensor:
    """zeros `Tensor[k, C, oh, ow]` like `x`, connected to `x` for autograd (no RoIs, or C == 0)."""
    zero = x.reshape(-1)[:0].sum() if x.requires_grad else 0
    return x.new_zeros(k, x.shape[1], *size) + zero


# ----------------------------------------------------------------------------- chunks
def _chunks(cost: Tensor, key: Tensor, budget: int) -> tuple[Tensor, list[Tensor]]:
    """Split RoIs into chunks: (order, [positions in `order`, one tensor per chunk]).

    RoIs are sorted by `key` (similar RoIs next to each other, so that padding each to the largest
    of its chunk wastes little), and cut where the running total of `cost` (elements of a RoI's
    intermediates) crosses a multiple of `budget`."""
    device = cost.device                                        # the bookkeeping runs on the CPU (float64:
    cost, key = cost.cpu(), key.cpu()                           # MPS has none), the chunks go back to `device`
    order = torch.argsort(key, stable=True)
    total = torch.cumsum(cost.index_select(0, order).double(), 0)
    n = max(1, math.ceil(float(total[-1]) / budget))
    cuts = torch.searchsorted(total, torch.arange(1, n, dtype=torch.float64) * budget)
    bounds = sorted({0, len(cost), *[min(int(c) + 1, len(cost)) for c in cuts.tolist()]})
    return order.to(device), [torch.arange(a, b, device=device) for a, b in itertools.pairwise(bounds)]


def _unsort(parts: list[Tensor], order: Tensor) -> Tensor:
    """The chunks' results, `Tensor[K, oh, ow, C]` each in `order`, as `Tensor[K, C, oh, ow]` in the
    boxes' order. (One `cat` and one `index_select`, not an in-place copy per chunk: autograd would
    copy the whole output's gradient once per chunk.)"""
    out = torch.cat(parts).index_select(0, torch.argsort(order))
    return out.permute(0, 3, 1, 2).contiguous()


def _channels_last(x: Tensor) -> Tensor:
    """`Tensor[N, C, H, W]` -> `Tensor[N * H * W, C]`: row b*H*W + h*W + w holds pixel (h, w)'s C values."""
    return x.permute(0, 2, 3, 1).contiguous().view(-1, x.shape[1])


# ----------------------------------------------------------------------------- RoIAlign
def _samples(start: Tensor, size: Tensor, n_out: int, grid: Tensor, length: int):
    """1-D sample weights along one axis for `roi_align`.

    Args: RoI `start` and `size` along the axis, `Tensor[K]`; `n_out` bins; `grid`: `Tensor[K]`
    int64 samples per bin (may be 0); `length` of the feature map along the axis.

    Returns: (low, high, w_low, w_high), each `Tensor[K, n_out, G]` (G = max grid, padded samples
    have weight 0): the two neighbouring rows of each sample and their bilinear weights, already
    divided by the number of samples and zero for samples more than one pixel outside the map.
    """
    g = max(int(grid.max()), 1)
    dt = start.dtype
    bin_size = (size / n_out)[:, None, None]                                # (K, 1, 1)
    gf = grid.clamp(min=1).to(dt)[:, None, None]
    i = torch.arange(n_out, dtype=dt, device=start.device)[None, :, None]
    s = torch.arange(g, dtype=dt, device=start.device)[None, None, :] + 0.5
    pos = (start[:, None, None] + i * bin_size) + s * bin_size / gf          # (K, n_out, G), kernel's order
    live = (s < grid[:, None, None]) & (pos >= -1) & (pos <= length)
    pos = pos.clamp(min=0)
    low = pos.floor().clamp(max=length - 1)
    top = low >= length - 1
    frac = torch.where(top, torch.zeros_like(pos), pos - low)
    w = live.to(dt) / gf
    low = low.long().clamp(0, length - 1)
    high = torch.where(top, low, low + 1)
    return low, high, w * (1 - frac), w * frac


def _window(low: Tensor, high: Tensor, w_low: Tensor, w_high: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """The rows each RoI reads, and their weights: (first, count, weights).

    first, count: `Tensor[K]`, each RoI's window of rows first .. first + count - 1; weights:
    `Tensor[K, n_out, M]` on the rows of the window (M the largest count, zero beyond a RoI's own)."""
    k, n_out, g = low.shape
    big = torch.iinfo(torch.int64).max
    used = (w_low != 0) | (w_high != 0)                                     # (K, n_out, G)
    first = torch.where(used, low, big).flatten(1).amin(1)
    last = torch.where(used, high, -1).flatten(1).amax(1)
    first = torch.where(last >= 0, first, 0)
    count = (last - first + 1).clamp(min=1)
    m = int(count.max())
    weights = low.new_zeros(k, n_out, m, dtype=w_low.dtype)
    ix = first[:, None, None]
    weights.scatter_add_(2, (low - ix).clamp(0, m - 1), w_low)
    weights.scatter_add_(2, (high - ix).clamp(0, m - 1), w_high)
    return first, count, weights


def _axis(start: Tensor, size: Tensor, n_out: int, grid: Tensor, length: int) -> tuple[Tensor, Tensor, Tensor]:
    """`_window` of `_samples` for all RoIs, in blocks of RoIs when the samples are many (huge RoIs
    with an adaptive sampling ratio)."""
    block = max(1, _ALIGN_CHUNK // (n_out * max(int(grid.max()), 1)))
    parts = [_window(*_samples(start[i:i + block], size[i:i + block], n_out, grid[i:i + block], length))
             for i in range(0, len(start), block)]
    m = max(p[2].shape[2] for p in parts)
    return (torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts]),
            torch.cat([nn.functional.pad(p[2], (0, m - p[2].shape[2])) for p in parts]))


def roi_align(input: Tensor, boxes: Tensor | list[Tensor], output_size: int | tuple[int, int],
              spatial_scale: float = 1.0, sampling_ratio: int = -1, aligned: bool = False, *,
              backend: str = "auto") -> Tensor:
    """RoIAlign: average of bilinearly sampled points in each of `oh x ow` bins per RoI.

    The edge rules (minimum RoI size 1 when `aligned=False`, zero for samples more than one pixel
    outside, the adaptive sampling ratio ceil(roi / output)) are listed in the module docstring;
    they are torchvision's.

    Args:
        input: `Tensor[N, C, H, W]` feature maps (floating point).
        boxes: `Tensor[K, 5]` (batch index, x1, y1, x2, y2), or a list of `Tensor[L_i, 4]` (`xyxy`),
            one per image; in input-image coordinates.
        output_size: (oh, ow), or an int for a square output.
        spatial_scale: feature-map size / image size, e.g. 1/16.
        sampling_ratio: samples per bin along each axis; <= 0: ceil(roi size / output size) per RoI.
        aligned: shift the box by -0.5 pixel (the pixel-centre convention); see the module docstring.
        backend: "auto" (the Triton kernels of `cvcourse.kernels.roi_align` for CUDA tensors when
            Triton is installed, else this module's torch implementation), "torch" or "triton".

    Returns:
        `Tensor[K, C, oh, ow]` in `input`'s dtype, RoIs in the order of `boxes` (a list: image by
        image). Differentiable with respect to `input`.

    References: He et al., "Mask R-CNN", ICCV 2017.
    """
    x, rois, (oh, ow), scale, dt = _prepare(input, boxes, output_size, spatial_scale)
    if isinstance(sampling_ratio, bool) or not isinstance(sampling_ratio, int):
        raise TypeError(f"sampling_ratio: expected an int (<= 0 for adaptive), got {sampling_ratio!r}")
    if not isinstance(aligned, bool):
        raise TypeError(f"aligned: expected a bool, got {aligned!r}")
    if resolve_backend(backend, (x, rois)) == "triton":
        from cvcourse.kernels.roi_align import roi_align as kernel  # imports triton: only when it runs

        return kernel(x, rois, (oh, ow), scale, sampling_ratio, aligned)
    k, (_, c, h, w) = len(rois), x.shape
    if k == 0 or c == 0:
        return _empty(x, k, (oh, ow))
    offset = 0.5 if aligned else 0.0
    corners = rois[:, 1:] * torch.tensor(scale, dtype=dt) - offset          # (K, 4), as the kernel: in dt
    start, size = corners[:, :2], corners[:, 2:] - corners[:, :2]           # (K, 2): x, y
    if not aligned:
        size = size.clamp(min=1)
    if sampling_ratio > 0:
        grid = torch.full((k, 2), sampling_ratio, dtype=torch.int64, device=x.device)
    else:
        grid = torch.ceil(size / torch.tensor([ow, oh], dtype=dt, device=x.device)).clamp(min=0).long()
    y0, hy, wy = _axis(start[:, 1], size[:, 1], oh, grid[:, 1], h)      # wy (K, oh, My): rows y0 .. y0 + hy - 1
    x0, hx, wx = _axis(start[:, 0], size[:, 0], ow, grid[:, 0], w)      # wx (K, ow, Mx)
    xc = _channels_last(upcast(x))                                          # (N*H*W, C)
    b = rois[:, 0].long()
    # Chunks of RoIs with windows of similar height (then width): little padding in each chunk.
    order, chunks = _chunks(hy * c * hx, hy * (w + 1) + hx, _ALIGN_CHUNK)
    parts = []
    for pos in chunks:
        r = order.index_select(0, pos)
        mh, mw = int(hy.index_select(0, r).max()), int(hx.index_select(0, r).max())
        rows = (y0.index_select(0, r)[:, None] + torch.arange(mh, device=x.device)).clamp(max=h - 1)  # (Kc, mh)
        cols = (x0.index_select(0, r)[:, None] + torch.arange(mw, device=x.device)).clamp(max=w - 1)  # (Kc, mw)
        flat = (b.index_select(0, r)[:, None, None] * h + rows[:, :, None]) * w + cols[:, None, :]   # (Kc, mh, mw)
        patch = xc.index_select(0, flat.view(-1)).view(len(r), mh, mw * c)                          # (Kc, mh, mw*C)
        t = torch.bmm(wy.index_select(0, r)[:, :, :mh], patch).view(len(r), oh, mw, c)             # (Kc, oh, mw, C)
        parts.append(torch.matmul(wx.index_select(0, r)[:, None, :, :mw], t))                       # (Kc, oh, ow, C)
    return _unsort(parts, order).to(x.dtype)


# ----------------------------------------------------------------------------- RoIPool
def _round(v: Tensor) -> Tensor:
    """Round halves away from zero, as C's `round` (`torch.round` rounds halves to even)."""
    t = v.trunc()
    return torch.where((v - t).abs() == 0.5, t + v.sign(), v.round())


def _bins(start: Tensor, size: Tensor, n_out: int, length: int, dt: torch.dtype) -> tuple[Tensor, Tensor]:
    """RoIPool's bins along one axis: (lo, hi), each `Tensor[K, n_out]`; bin i covers lo .. hi - 1.

    `start`, `size`: `Tensor[K]` int64 (rounded corner, size >= 1). The bin boundaries are computed in
    `dt`, the input's dtype, as the kernel does, then clipped to the map [0, length]."""
    bin_size = (size.to(dt) / n_out)[:, None]                               # (K, 1)
    i = torch.arange(n_out, dtype=dt, device=start.device)[None, :]
    lo = torch.floor(i * bin_size).long() + start[:, None]
    hi = torch.ceil((i + 1) * bin_size).long() + start[:, None]
    return lo.clamp(0, length), hi.clamp(0, length)


def _max(t: Tensor, dim: int, where: bool) -> tuple[Tensor, Tensor | None]:
    """(maximum along `dim`, index of its first occurrence): with `where` from `torch.max`, else
    (`torch.amax`, None), several times faster."""
    if where:
        values, indices = t.max(dim=dim)
        return values, indices
    return t.amax(dim=dim), None


def roi_pool(input: Tensor, boxes: Tensor | list[Tensor], output_size: int | tuple[int, int],
             spatial_scale: float = 1.0, *, backend: str = "auto") -> Tensor:
    """RoIPool: the maximum over each of `oh x ow` bins of a RoI rounded to the map's pixels.

    The rules (corners rounded halves away from zero, RoI size at least 1 pixel, bins by floor/ceil
    clipped to the map, an empty bin gives 0) and the tie rule of the gradient (the row-major first
    maximum of a bin) are listed in the module docstring; they are torchvision's.

    Args:
        input: `Tensor[N, C, H, W]` feature maps (floating point).
        boxes: `Tensor[K, 5]` (batch index, x1, y1, x2, y2), or a list of `Tensor[L_i, 4]` (`xyxy`),
            one per image; in input-image coordinates.
        output_size: (oh, ow), or an int for a square output.
        spatial_scale: feature-map size / image size, e.g. 1/16.
        backend: "auto" (the Triton kernels of `cvcourse.kernels.roi_pool` for CUDA tensors when
            Triton is installed, else this module's torch implementation), "torch" or "triton".

    Returns:
        `Tensor[K, C, oh, ow]` in `input`'s dtype, RoIs in the order of `boxes`. Differentiable with
        respect to `input` (each output's gradient goes to one input pixel, the bin's maximum).

    References: Girshick, "Fast R-CNN", ICCV 2015.
    """
    x, rois, (oh, ow), scale, dt = _prepare(input, boxes, output_size, spatial_scale)
    if resolve_backend(backend, (x, rois)) == "triton":
        from cvcourse.kernels.roi_pool import roi_pool as kernel  # imports triton: only when it runs

        return kernel(x, rois, (oh, ow), scale)
    k, (_, c, h, w) = len(rois), x.shape
    if k == 0 or c == 0:
        return _empty(x, k, (oh, ow))
    corners = _round(rois[:, 1:] * torch.tensor(scale, dtype=dt)).long()   # (K, 4): x1', y1', x2', y2'
    start, size = corners[:, :2], (corners[:, 2:] - corners[:, :2] + 1).clamp(min=1)
    y_lo, y_hi = _bins(start[:, 1], size[:, 1], oh, h, dt)              # (K, oh)
    x_lo, x_hi = _bins(start[:, 0], size[:, 0], ow, w, dt)              # (K, ow)
    y0 = y_lo[:, 0].clamp(max=h - 1)                                        # the RoI's rows: y0 .. y0 + hy - 1
    hy = (y_hi[:, -1] - y0).clamp(min=1)
    bh, bw = (y_hi - y_lo).amax(1).clamp(min=1), (x_hi - x_lo).amax(1).clamp(min=1)   # (K,) widest bins
    empty = ((y_hi <= y_lo)[:, :, None] | (x_hi <= x_lo)[:, None, :])[..., None]     # (K, oh, ow, 1)
    xc = _channels_last(upcast(x))                                          # (N*H*W, C)
    b = rois[:, 0].long()
    grad = torch.is_grad_enabled() and x.requires_grad
    # Chunks of RoIs with similar numbers of rows and bin widths: little padding in each chunk.
    order, chunks = _chunks((hy * bw + oh * bh) * ow * c, hy * (w + 1) + bw, _POOL_CHUNK)
    parts = []
    for pos in chunks:
        r = order.index_select(0, pos)
        kc, mh, mw, mb = len(r), int(hy[r].max()), int(bw[r].max()), int(bh[r].max())
        t = torch.arange(mw, device=x.device)
        cols = torch.minimum(x_lo[r, :, None] + t, x_hi[r, :, None] - 1).clamp(0, w - 1)   # (Kc, ow, mw)
        t = torch.arange(mb, device=x.device)
        local = (torch.minimum(y_lo[r, :, None] + t, y_hi[r, :, None] - 1) - y0[r, None, None]).clamp(0, mh - 1)
        rows = (y0[r, None] + torch.arange(mh, device=x.device)).clamp(max=h - 1)          # (Kc, mh)
        with torch.no_grad():
            # 1. per row of the RoI and column bin: the maximum over the bin's columns
            flat = (b[r, None, None, None] * h + rows[:, :, None, None]) * w + cols[:, None]   # (Kc, mh, ow, mw)
            m, m_at = _max(xc.index_select(0, flat.view(-1)).view(kc, mh, ow, mw, c), 3, grad)  # (Kc, mh, ow, C)
            # 2. per row bin: the maximum over the bin's rows of step 1
            flat = torch.arange(kc, device=x.device)[:, None, None] * mh + local                # (Kc, oh, mb)
            v, v_at = _max(m.view(kc * mh, ow * c).index_select(0, flat.view(-1)).view(kc, oh, mb, ow, c), 2, grad)
        if grad:   # read the maxima from the input where they are, so that autograd routes the gradient there
            row = local[:, :, :, None, None].expand(kc, oh, mb, ow, c).gather(2, v_at[:, :, None]).squeeze(2)
            col_in_bin = m_at.gather(1, row)                                                 # (Kc, oh, ow, C)
            col = cols[:, None, :, :, None].expand(kc, oh, ow, mw, c).gather(3, col_in_bin[:, :, :, None]).squeeze(3)
            pixel = (b[r, None, None, None] * h + rows.gather(1, row.flatten(1)).view_as(row)) * w + col
            v = xc.take(pixel * c + torch.arange(c, device=x.device))                       # (Kc, oh, ow, C)
        parts.append(v.masked_fill(empty[r], 0))                                             # (Kc, oh, ow, C)
    return _unsort(parts, order).to(x.dtype)


# ----------------------------------------------------------------------------- modules
class RoIAlign(nn.Module):
    """`roi_align` as a module (see its docstring for the arguments).

    References: He et al., "Mask R-CNN", ICCV 2017.
    """

    def __init__(self, output_size: int | tuple[int, int], spatial_scale: float, sampling_ratio: int,
                 aligned: bool = False) -> None:
        super().__init__()
        _check_output_size(output_size)
        _check_scale(spatial_scale)
        self.output_size, self.spatial_scale = output_size, spatial_scale
        self.sampling_ratio, self.aligned = sampling_ratio, aligned

    def forward(self, input: Tensor, rois: Tensor | list[Tensor]) -> Tensor:
        """`Tensor[K, C, oh, ow]` for `input` `Tensor[N, C, H, W]` and `rois` `Tensor[K, 5]` or a list
        of `Tensor[L_i, 4]` (`xyxy`)."""
        return roi_align(input, rois, self.output_size, self.spatial_scale, self.sampling_ratio, self.aligned)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(output_size={self.output_size}, spatial_scale={self.spatial_scale}, "
                f"sampling_ratio={self.sampling_ratio}, aligned={self.aligned})")


class RoIPool(nn.Module):
    """`roi_pool` as a module (see its docstring for the arguments).

    References: Girshick, "Fast R-CNN", ICCV 2015.
    """

    def __init__(self, output_size: int | tuple[int, int], spatial_scale: float) -> None:
        super().__init__()
        _check_output_size(output_size)
        _check_scale(spatial_scale)
        self.output_size, self.spatial_scale = output_size, spatial_scale

    def forward(self, input: Tensor, rois: Tensor | list[Tensor]) -> Tensor:
        """`Tensor[K, C, oh, ow]` for `input` `Tensor[N, C, H, W]` and `rois` `Tensor[K, 5]` or a list
        of `Tensor[L_i, 4]` (`xyxy`)."""
        return roi_pool(input, rois, self.output_size, self.spatial_scale)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(output_size={self.output_size}, spatial_scale={self.spatial_scale})"
