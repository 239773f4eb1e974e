"""Pictures of RoI pooling (chapter 10): what RoIPool and RoIAlign read from a feature map.

Drawing convention: pixel-edge coordinates, as the images and boxes of the course (`cvcourse.plot`,
`cvcourse.data.shapes`): feature-map pixel (r, c) is the square [c, c + 1] x [r, r + 1], its centre
at (c + 0.5, r + 0.5), and a box is drawn at its coordinates times `spatial_scale`. The ops put pixel
centres at integers instead, so a point they sample at (y, x) is drawn at (y + 0.5, x + 0.5).

What is drawn is computed by the ops, not re-derived: the pixels of RoIPool's bins come from pooling
a map of one-hot channels (channel p is 1 at pixel p only, so bin (i, j) of channel p is 1 exactly
when the bin holds pixel p), and the weights of a sample's neighbours from `bilinear_interpolate` of
the same map. Only RoIAlign's sample positions are computed here (the rule of `cvcourse.ops.roi`).

Each function draws on `ax` (a new figure if None) and returns the Axes; end the cell with `plt.show()`.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from ._validate import check_int
from .ops import bilinear_interpolate, roi_pool
from .ops._validate import check_boxes

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["draw_bilinear_weights", "draw_roi_align", "draw_roi_pool", "plot_roi_drift"]

_MAX_PIXELS = 64 * 64        # one one-hot channel per pixel: larger maps are not drawn (nor readable)


# ----------------------------------------------------------------------------- arguments
def _feature_size(feature_size: object) -> tuple[int, int]:
    size = (feature_size, feature_size) if not isinstance(feature_size, (tuple, list)) else tuple(feature_size)
    if len(size) != 2:
        raise TypeError(f"feature_size: expected an int or (height, width), got {feature_size!r}")
    h, w = (check_int("feature_size", s, 1) for s in size)
    if h * w > _MAX_PIXELS:
        raise ValueError(f"feature_size: at most {_MAX_PIXELS} pixels can be drawn, got {h} x {w}")
    return h, w


def _output_size(output_size: object) -> tuple[int, int]:
    size = (output_size, output_size) if not isinstance(output_size, (tuple, list)) else tuple(output_size)
    if len(size) != 2:
        raise TypeError(f"output_size: expected an int or (oh, ow), got {output_size!r}")
    return check_int("output_size", size[0], 1), check_int("output_size", size[1], 1)


def _box(box: object) -> Tensor:
    """One `xyxy` box (a Tensor[4] or 4 numbers) as a float64 Tensor[4]."""
    if not isinstance(box, Tensor):
        if not isinstance(box, Sequence) or len(box) != 4:
            raise TypeError(f"box: expected (x1, y1, x2, y2) or a Tensor[4], got {box!r}")
        box = torch.tensor([float(v) for v in box])
    return check_boxes(box.reshape(1, -1) if box.dim() == 1 else box, "box")[0].double()


def _one_hot(h: int, w: int) -> Tensor:
    """`Tensor[H * W, H, W]`: channel p is 1 at pixel p = r * W + c, else 0."""
    return torch.eye(h * w, dtype=torch.float64).view(h * w, h, w)


def _axes(ax: Axes | None, h: int, w: int) -> Axes:
    """`ax` (or a new one) set up for an H x W map: pixel grid, centres, limits, y downwards."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(min(0.55 * w + 1, 9), min(0.55 * h + 1, 9)))
    ax.vlines(range(w + 1), 0, h, colors="0.75", linewidth=0.6, zorder=0)
    ax.hlines(range(h + 1), 0, w, colors="0.75", linewidth=0.6, zorder=0)
    ys, xs = torch.meshgrid(torch.arange(h) + 0.5, torch.arange(w) + 0.5, indexing="ij")
    ax.scatter(xs.flatten(), ys.flatten(), s=4, color="0.55", zorder=1)
    ax.set_xlim(-0.5, w + 0.5)
    ax.set_ylim(h + 0.5, -0.5)
    ax.set_aspect("equal")
    ax.tick_params(labelsize=7)
    return ax


def _legend(ax: Axes) -> None:
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.06), ncol=3, fontsize=8, frameon=False)


def _rectangle(ax: Axes, x0: float, y0: float, x1: float, y1: float, **style: object) -> None:
    from matplotlib.patches import Rectangle

    ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, **style))


# ----------------------------------------------------------------------------- RoIPool
def draw_roi_pool(feature_size: int | tuple[int, int], box: Sequence[float] | Tensor,
                  output_size: int | tuple[int, int], spatial_scale: float = 1.0, ax: Axes | None = None) -> Axes:
    """Draw RoIPool's quantisation: the box on the map, the pixels it is rounded to, and the bins.

    The box (times `spatial_scale`) is the black outline; the dashed red outline holds the pixels
    RoIPool reads (corners rounded to whole pixels); each bin's pixels are shaded in its own colour
    (neighbouring bins may share a row or column; an empty bin is not drawn). The bins are those of
    `cvcourse.ops.roi_pool` itself (pooled from one-hot channels).

    Args:
        feature_size: (H, W) of the feature map, or an int for a square map (at most 64 x 64 pixels).
        box: (x1, y1, x2, y2) in image coordinates (`xyxy`), or a `Tensor[4]`.
        output_size: (oh, ow) bins, or an int.
        spatial_scale: feature-map size / image size, e.g. 1/16.
        ax: the matplotlib Axes to draw on; a new figure if None.

    Returns:
        The Axes: 2 + (non-empty bins) patches (the box, the rounded RoI, one per bin).

    Reference: Girshick, "Fast R-CNN", ICCV 2015 (RoI max pooling); He et al., "Mask R-CNN",
    ICCV 2017 (Figure 3 and the quantisation it removes).
    """
    h, w = _feature_size(feature_size)
    oh, ow = _output_size(output_size)
    b = _box(box)
    member = roi_pool(_one_hot(h, w)[None], [b[None]], (oh, ow), spatial_scale)[0] > 0   # (H*W, oh, ow)
    member = member.view(h, w, oh, ow)
    ax = _axes(ax, h, w)
    for i in range(oh):
        for j in range(ow):
            rows, cols = member[:, :, i, j].any(1).nonzero()[:, 0], member[:, :, i, j].any(0).nonzero()[:, 0]
            if len(rows):
                colour = f"C{(i * ow + j) % 10}"
                _rectangle(ax, cols[0], rows[0], cols[-1] + 1, rows[-1] + 1, facecolor=colour, edgecolor=colour,
                           alpha=0.3, linewidth=1.5)
    rows, cols = member.any(3).any(2).any(1).nonzero()[:, 0], member.any(3).any(2).any(0).nonzero()[:, 0]
    if len(rows):
        _rectangle(ax, cols[0], rows[0], cols[-1] + 1, rows[-1] + 1, fill=False, edgecolor="tab:red",
                   linestyle="--", linewidth=2, label="pixels read (rounded)")
    x1, y1, x2, y2 = (b * spatial_scale).tolist()
    _rectangle(ax, x1, y1, x2, y2, fill=False, edgecolor="black", linewidth=2, label="box x spatial_scale")
    _legend(ax)
    ax.set_title(f"RoIPool: {oh}x{ow} bins of whole pixels", fontsize=10)
    return ax


# ----------------------------------------------------------------------------- RoIAlign
def _axis_samples(start: float, size: float, n_bins: int, grid: int) -> Tensor:
    """Sample positions along one axis, `Tensor[n_bins, grid]`: start + i * bin + (s + 0.5) * bin / grid."""
    bin_size = size / n_bins
    i = torch.arange(n_bins, dtype=torch.float64)[:, None]
    s = torch.arange(grid, dtype=torch.float64)[None, :] + 0.5
    return start + i * bin_size + s * bin_size / max(grid, 1)


def _align_samples(box: Tensor, output_size: tuple[int, int], spatial_scale: float, sampling_ratio: int,
                   aligned: bool) -> tuple[Tensor, Tensor, tuple[float, float], tuple[float, float]]:
    """RoIAlign's sample positions in the ops' coordinates (pixel centres at integers), float64:
    (ys `Tensor[oh, gh]`, xs `Tensor[ow, gw]`, the RoI's start (x, y) and size (w, h)); the rules of
    `cvcourse.ops.roi`."""
    oh, ow = output_size
    x1, y1, x2, y2 = (box * spatial_scale - (0.5 if aligned else 0.0)).tolist()
    rw, rh = x2 - x1, y2 - y1
    if not aligned:
        rw, rh = max(rw, 1.0), max(rh, 1.0)
    gh, gw = (sampling_ratio, sampling_ratio) if sampling_ratio > 0 else (math.ceil(rh / oh), math.ceil(rw / ow))
    return _axis_samples(y1, rh, oh, gh), _axis_samples(x1, rw, ow, gw), (x1, y1), (rw, rh)


def draw_roi_align(feature_size: int | tuple[int, int], box: Sequence[float] | Tensor,
                   output_size: int | tuple[int, int], spatial_scale: float = 1.0, sampling_ratio: int = 2,
                   aligned: bool = False, highlight: tuple[int, int, int] | None = None,
                   ax: Axes | None = None) -> Axes:
    """Draw RoIAlign: the box, its bins (never rounded), the sample points, and one sample's weights.

    The box (times `spatial_scale`) is the black outline; the blue outline is the region RoIAlign
    divides into `oh x ow` bins (the box itself with `aligned=True`; with `aligned=False`, the box
    shifted by half a pixel, and at least 1 pixel wide and high); blue dots are the `gh x gw` samples
    of each bin. With `highlight=(i, j, s)`, sample s of bin (i, j) (row-major in its bin's grid) is
    a red star joined to the pixel centres it reads, each labelled with its bilinear weight (from
    `cvcourse.ops.bilinear_interpolate`, border rules included).

    Args:
        feature_size: (H, W) of the feature map, or an int (at most 64 x 64 pixels).
        box: (x1, y1, x2, y2) in image coordinates (`xyxy`), or a `Tensor[4]`.
        output_size: (oh, ow) bins, or an int.
        spatial_scale: feature-map size / image size, e.g. 1/16.
        sampling_ratio: samples per bin along each axis; <= 0: ceil(RoI size / output size).
        aligned: RoIAlign's `aligned` (shift the box by -0.5 pixel on the map).
        highlight: (i, j, s) of the sample whose weights are drawn, or None.
        ax: the matplotlib Axes to draw on; a new figure if None.

    Returns:
        The Axes: 2 patches (box and RoI); the samples are one scatter of oh * ow * gh * gw points.

    Reference: He et al., "Mask R-CNN", ICCV 2017 (Figure 3).
    """
    h, w = _feature_size(feature_size)
    oh, ow = _output_size(output_size)
    b = _box(box)
    if isinstance(sampling_ratio, bool) or not isinstance(sampling_ratio, int):
        raise TypeError(f"sampling_ratio: expected an int (<= 0 for adaptive), got {sampling_ratio!r}")
    if not isinstance(aligned, bool):
        raise TypeError(f"aligned: expected a bool, got {aligned!r}")
    ys, xs, start, size = _align_samples(b, (oh, ow), float(spatial_scale), sampling_ratio, aligned)
    gh, gw = ys.shape[1], xs.shape[1]
    if highlight is not None:
        ok = (isinstance(highlight, (tuple, list)) and len(highlight) == 3 and all(isinstance(v, int) for v in highlight)
              and 0 <= highlight[0] < oh and 0 <= highlight[1] < ow and 0 <= highlight[2] < gh * gw)
        if not ok:
            raise ValueError(f"highlight: expected (i, j, s) with i < {oh}, j < {ow}, s < {gh * gw} "
                             f"(samples per bin), got {highlight!r}")
    ax = _axes(ax, h, w)
    x1, y1, x2, y2 = (b * spatial_scale).tolist()
    _rectangle(ax, x1, y1, x2, y2, fill=False, edgecolor="black", linewidth=2, label="box x spatial_scale")
    (rx, ry), (rw, rh) = (start[0] + 0.5, start[1] + 0.5), size
    _rectangle(ax, rx, ry, rx + rw, ry + rh, fill=False, edgecolor="tab:blue", linewidth=1.5,
               label="RoI divided into bins")
    ax.vlines([rx + rw * j / ow for j in range(1, ow)], ry, ry + rh, colors="tab:blue", linewidth=0.8)
    ax.hlines([ry + rh * i / oh for i in range(1, oh)], rx, rx + rw, colors="tab:blue", linewidth=0.8)
    py = ys[:, None, :, None].expand(oh, ow, gh, gw) + 0.5
    px = xs[None, :, None, :].expand(oh, ow, gh, gw) + 0.5
    ax.scatter(px.flatten(), py.flatten(), s=14, color="tab:blue", zorder=3, label="samples")
    if highlight is not None:
        i, j, s = highlight
        y, x = ys[i, s // gw].item(), xs[j, s % gw].item()
        weights = bilinear_interpolate(_one_hot(h, w), y, x)                   # (H*W,) one per pixel
        for p in weights.nonzero()[:, 0].tolist():
            cy, cx = p // w + 0.5, p % w + 0.5
            ax.plot([x + 0.5, cx], [y + 0.5, cy], color="tab:red", linewidth=1 + 3 * weights[p].item(), zorder=4)
            right, below = cx > x + 0.5, cy > y + 0.5                          # label outside, away from the star
            ax.text(cx + (0.1 if right else -0.1), cy + (0.1 if below else -0.1), f"{weights[p].item():.2f}",
                    color="tab:red", fontsize=8, ha="left" if right else "right", va="top" if below else "bottom",
                    zorder=5, bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 0.5})
        ax.scatter([x + 0.5], [y + 0.5], marker="*", s=150, color="tab:red", zorder=5)
    _legend(ax)
    ax.set_title(f"RoIAlign: {oh}x{ow} bins, {gh}x{gw} samples each (aligned={aligned})", fontsize=10)
    return ax


def draw_bilinear_weights(ly: float, lx: float, ax: Axes | None = None) -> Axes:
    """Draw the bilinear weights of a point between four pixel centres as areas.

    The four centres are the corners of a unit square, (y0, x0) top left; the point sits at (ly, lx)
    from it. Each centre's weight is the area of the rectangle diagonally opposite it: (1-ly)(1-lx)
    for (y0, x0), (1-ly) lx for (y0, x1), ly (1-lx) for (y1, x0), ly lx for (y1, x1). They sum to 1,
    and the nearest centre gets the largest weight.

    Args:
        ly, lx: the point's offsets from the top-left centre, each in [0, 1].
        ax: the matplotlib Axes to draw on; a new figure if None.

    Returns:
        The Axes: 4 patches (one rectangle per weight), each in its corner's colour.

    Reference: He et al., "Mask R-CNN", ICCV 2017 (RoIAlign's bilinear interpolation).
    """
    import matplotlib.pyplot as plt

    for name, v in (("ly", ly), ("lx", lx)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1:
            raise ValueError(f"{name}: expected a number in [0, 1], got {v!r}")
    if ax is None:
        _, ax = plt.subplots(figsize=(3.6, 3.6))
    corners = [("y0, x0", 0, 0, (1 - ly) * (1 - lx)), ("y0, x1", 0, 1, (1 - ly) * lx),
               ("y1, x0", 1, 0, ly * (1 - lx)), ("y1, x1", 1, 1, ly * lx)]
    for k, (name, cy, cx, weight) in enumerate(corners):
        # the rectangle opposite the corner: between the point and the far corner (1 - cy, 1 - cx)
        _rectangle(ax, min(lx, 1 - cx), min(ly, 1 - cy), max(lx, 1 - cx), max(ly, 1 - cy),
                   facecolor=f"C{k}", alpha=0.35, edgecolor=f"C{k}")
        ax.text((lx + 1 - cx) / 2, (ly + 1 - cy) / 2, f"{weight:.3f}", ha="center", va="center", fontsize=9)
        ax.scatter([cx], [cy], s=60, color=f"C{k}", zorder=3)
        ax.text(cx, cy + (0.09 if cy else -0.09), f"f[{name}]", ha="center", va="top" if cy else "bottom",
                fontsize=9, color=f"C{k}")
    ax.scatter([lx], [ly], marker="*", s=150, color="tab:red", zorder=4)
    ax.set_xlim(-0.25, 1.25)
    ax.set_ylim(1.3, -0.3)
    ax.set_aspect("equal")
    ax.set_axis_off()
    ax.set_title(f"weights of a point at ly={ly:g}, lx={lx:g}", fontsize=10)
    return ax


# ----------------------------------------------------------------------------- drift
def plot_roi_drift(shifts: Tensor, curves: Mapping[str, Tensor], stride: float | None = None,
                   ylabel: str = "pooled value", ax: Axes | None = None) -> Axes:
    """Plot values (a pooled feature, an edge position) against the shift of a box: one line per curve.

    Args:
        shifts: `Tensor[S]`, the box's shift in image pixels.
        curves: name -> `Tensor[S]` of the pooled value at each shift (e.g. one bin of one channel).
        stride: if given, dotted vertical lines every `stride` pixels (one feature-map pixel).
        ylabel: the label of the y axis.
        ax: the matplotlib Axes to draw on; a new figure if None.

    Returns:
        The Axes, with one line per curve and a legend.

    Reference: He et al., "Mask R-CNN", ICCV 2017 (section 3: RoIPool's quantisations misalign the
    extracted features with the RoI).
    """
    import matplotlib.pyplot as plt

    if not isinstance(shifts, Tensor) or shifts.dim() != 1:
        raise TypeError(f"shifts: expected a Tensor[S], got {type(shifts).__name__}")
    if not isinstance(curves, Mapping) or not curves:
        raise TypeError("curves: expected a non-empty dict of name -> Tensor[S]")
    for name, values in curves.items():
        if not isinstance(values, Tensor) or values.shape != shifts.shape:
            got = list(values.shape) if isinstance(values, Tensor) else type(values).__name__
            raise ValueError(f"curves[{name!r}]: expected a Tensor[{len(shifts)}] (one value per shift), got {got}")
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.2))
    if stride is not None:
        lo, hi = shifts.min().item(), shifts.max().item()
        ticks = [k * stride for k in range(math.ceil(lo / stride), math.floor(hi / stride) + 1)]
        ax.vlines(ticks, 0, 1, transform=ax.get_xaxis_transform(), colors="0.7", linestyles=":", linewidth=1)
    for k, (name, values) in enumerate(curves.items()):
        ax.plot(shifts.tolist(), values.detach().double().tolist(), marker=".", markersize=4, linewidth=1.2,
                color=f"C{k}", label=name)
    ax.set_xlabel("box shift (image pixels)")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    return ax
