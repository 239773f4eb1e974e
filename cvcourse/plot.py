"""Small matplotlib helpers shared by the chapters. Each returns its Figure; end the notebook cell
with `plt.show()`. matplotlib is imported inside the functions, so `import cvcourse.plot` is cheap.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["show_conv_step", "show_feature_maps", "show_images", "show_kernels"]


def show_images(images: Tensor | np.ndarray | Sequence[Tensor | np.ndarray], titles: Sequence[str] | None = None, ncols: int = 4, cmap: str = "gray",
                size: float = 2.5, vmin: float | None = None, vmax: float | None = None) -> Figure:
    """Show images in a grid, without axes.

    Args:
        images: one image or a list of them; each a Tensor[C, H, W] / Tensor[H, W] (C = 1 or 3)
            or an ndarray HxW / HxWx3, uint8 (0..255) or float (colour floats are clipped to [0, 1]).
        titles: one title per image.
        ncols: images per row.
        cmap: colour map of single-channel images.
        size: width of each image, in inches.
        vmin, vmax: the values drawn black and white in single-channel images. By default uint8
            images use 0..255, floats within [0, 1] use 0..1, and other floats (e.g. filter
            responses) are scaled to their 99.5th percentile of absolute values, symmetric around 0
            (grey = 0) when they have negative values -- so a few extreme pixels do not wash out the rest.

    Returns:
        the matplotlib Figure.
    """
    images = [images] if isinstance(images, (Tensor, np.ndarray)) else list(images)
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"titles: expected {len(images)} titles (one per image), got {len(titles)}")
    arrays = [_to_display(image) for image in images]
    fig, axes = _grid(len(arrays), ncols, size, aspect=max((a.shape[0] / max(a.shape[1], 1) for a in arrays), default=1.0))
    for i, (ax, a) in enumerate(zip(axes, arrays, strict=False)):
        if a.ndim == 3 and a.dtype != np.uint8:
            a = np.clip(a, 0.0, 1.0)
        if a.ndim == 2:
            lo, hi = _limits(a)
            ax.imshow(a, cmap=cmap, vmin=lo if vmin is None else vmin, vmax=hi if vmax is None else vmax)
        else:
            ax.imshow(a)
        if titles is not None:
            ax.set_title(titles[i], fontsize=9)
    return fig


def show_feature_maps(maps: Tensor, ncols: int = 8, title: str | None = None, size: float = 1.3,
                      titles: Sequence[str] | None = None) -> Figure:
    """Show the channels of one layer's output side by side, each min-max normalised to [0, 1].

    Args:
        maps (Tensor[C, H, W] or Tensor[1, C, H, W]): e.g. a value of `filters.feature_maps`.
        ncols: maps per row.
        title: figure title.
        size: width of each map, in inches.
        titles: one title per map (default: the channel index).

    Returns:
        the matplotlib Figure.
    """
    maps = _check_maps("maps", maps, "Tensor[C, H, W]")
    if titles is not None and len(titles) != len(maps):
        raise ValueError(f"titles: expected {len(maps)} titles (one per map), got {len(titles)}")
    lo = maps.amin(dim=(1, 2), keepdim=True)
    hi = maps.amax(dim=(1, 2), keepdim=True)
    maps = (maps - lo) / (hi - lo).clamp_min(1e-12)            # (C, H, W) in [0, 1]; constant maps -> 0
    fig, axes = _grid(len(maps), ncols, size, aspect=maps.shape[1] / max(maps.shape[2], 1))
    for c, ax in enumerate(axes):
        ax.imshow(maps[c].numpy(), cmap="gray", vmin=0, vmax=1)
        ax.set_title(str(c) if titles is None else titles[c], fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


def show_kernels(weight: Tensor, ncols: int = 8, titles: Sequence[str] | None = None, size: float = 1.0) -> Figure:
    """Show single-channel conv kernels: grey is 0, white positive, black negative.

    Args:
        weight (Tensor[C_out, 1, k, k] or Tensor[C_out, k, k]): e.g. ``model.conv1.weight``.
        ncols: kernels per row.
        titles: one title per kernel.
        size: width of each kernel, in inches.

    Returns:
        the matplotlib Figure.
    """
    if isinstance(weight, Tensor) and weight.dim() == 4:
        if weight.shape[1] != 1:
            raise ValueError(f"weight: expected single-channel kernels Tensor[C_out, 1, k, k], "
                             f"got Tensor[{', '.join(map(str, weight.shape))}] (show one input channel: weight[:, c:c+1])")
        weight = weight[:, 0]
    w = _check_maps("weight", weight, "Tensor[C_out, 1, k, k]", batched=False)
    fig, axes = _grid(len(w), ncols, size)
    for i, ax in enumerate(axes):
        lim = float(w[i].abs().max()) or 1.0                   # symmetric limits: 0 is mid-grey
        ax.imshow(w[i].numpy(), cmap="gray", vmin=-lim, vmax=lim)
        if titles is not None:
            ax.set_title(titles[i], fontsize=8)
    return fig


def show_conv_step(image: Tensor, kernel: Tensor, row: int = 0, col: int = 0) -> Figure:
    """Draw one step of a convolution: the window of `image` under `kernel` at output (row, col),
    the kernel, and the output grid with that value filled in (stride 1, no padding).

    Args:
        image (Tensor[H, W]): small, with values to print in the cells (e.g. 5x5 integers).
        kernel (Tensor[kh, kw]): e.g. 3x3.
        row, col: the output position to explain.

    Returns:
        the matplotlib Figure (three panels: input, kernel, output).
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    kh, kw = kernel.shape
    out = torch.stack([torch.stack([(image[i:i + kh, j:j + kw] * kernel).sum()
                                    for j in range(image.shape[1] - kw + 1)])
                       for i in range(image.shape[0] - kh + 1)])  # (H - kh + 1, W - kw + 1)
    fig, axes = plt.subplots(1, 3, figsize=(9, 3.4), layout="constrained", gridspec_kw={"width_ratios": [image.shape[1], kw, out.shape[1]]})
    panels = [(image, "input", (row, col, kh, kw)), (kernel, "kernel", None), (out, "output", (row, col, 1, 1))]
    for ax, (a, name, box) in zip(axes, panels, strict=True):
        shown = out.new_full(out.shape, float("nan")) if name == "output" else a
        if name == "output":
            shown[row, col] = out[row, col]
        ax.imshow(np.zeros(a.shape), cmap="Greys", vmin=0, vmax=1)
        for (i, j), v in np.ndenumerate(shown.numpy()):
            ax.text(j, i, "" if np.isnan(v) else f"{v:g}", ha="center", va="center", fontsize=10)
        if box is not None:
            r, c, h, w = box
            ax.add_patch(Rectangle((c - 0.5, r - 0.5), w, h, fill=True, alpha=0.3, color="tab:orange", lw=2))
        for i in range(a.shape[0] + 1):
            ax.axhline(i - 0.5, color="black", lw=1)
        for j in range(a.shape[1] + 1):
            ax.axvline(j - 0.5, color="black", lw=1)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(name)
    fig.suptitle(f"output[{row}, {col}] = sum(window * kernel) = {float(out[row, col]):g}")
    return fig


# ----------------------------------------------------------------------------- private helpers
def _grid(n: int, ncols: int, size: float, aspect: float = 1.0):
    """A figure with `n` axes (ticks off) in rows of `ncols`, each `size` inches wide and
    `aspect` times as high; the unused axes are hidden."""
    import matplotlib.pyplot as plt

    if n < 1:
        raise ValueError("expected at least one image, got none")
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * size, nrows * size * aspect + 0.4), squeeze=False,
                             layout="constrained")
    axes = axes.ravel()
    for ax in axes:
        ax.axis("off")
    return fig, axes[:n]


def _limits(a: np.ndarray) -> tuple[float, float]:
    """Default black and white values of a single-channel image (see `show_images`)."""
    if a.dtype == np.uint8:
        return 0.0, 255.0
    lo, hi = float(np.nanmin(a)), float(np.nanmax(a))
    if 0.0 <= lo and hi <= 1.0:
        return 0.0, 1.0
    lim = float(np.nanpercentile(np.abs(a), 99.5)) or max(abs(lo), abs(hi), 1e-12)
    return (-lim, lim) if lo < 0 else (0.0, lim)


def _to_display(image) -> np.ndarray:
    """An image as an ndarray HxW or HxWx3 for `imshow`."""
    if isinstance(image, Tensor):
        image = image.detach().cpu()
        if image.dim() == 3:
            image = image.permute(1, 2, 0)                     # (H, W, C)
        image = image.numpy()
    if not isinstance(image, np.ndarray):
        raise TypeError(f"images: expected Tensors or ndarrays, got {type(image).__name__}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (3, 4)):
        raise ValueError(f"images: expected HxW or HxWx3 (or Tensor[C, H, W] with C = 1 or 3), got shape {image.shape}")
    return image


def _check_maps(name: str, maps: object, expected: str, batched: bool = True) -> Tensor:
    if not isinstance(maps, Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor ({expected}), got {type(maps).__name__}")
    if batched and maps.dim() == 4 and maps.shape[0] == 1:
        maps = maps[0]
    if maps.dim() != 3:
        raise ValueError(f"{name}: expected {expected}, got Tensor[{', '.join(map(str, maps.shape))}]")
    return maps.detach().cpu().float()
