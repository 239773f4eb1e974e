"""A picture of the convolution arithmetic of chapter 02: where a kernel's windows fall on a 1-D input."""
from __future__ import annotations

from typing import Any

from .sizes import conv_output_size


def draw_sliding_windows(size: int, kernel: int, stride: int = 1, padding: int = 0, ax: Any = None) -> Any:
    """Draw a 1-D input of `size` cells (padding cells grey) and, below it, one bar per window.

    Window i covers padded cells i*S to i*S + K - 1; cells that no window reaches are hatched, the
    pixels that the floor in O = floor((I + 2P - K) / S) + 1 drops.

    Args:
        size: input size I.
        kernel: kernel size K.
        stride: stride S.
        padding: zeros P on each side.
        ax: the matplotlib Axes to draw on; a new figure if None.

    Returns:
        The Axes.

    Reference: the figures of Dumoulin & Visin, "A guide to convolution arithmetic for deep
    learning", 2016.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    out = conv_output_size(size, kernel, stride, padding)
    total, reached = size + 2 * padding, (out - 1) * stride + kernel
    if ax is None:
        _, ax = plt.subplots(figsize=(max(4.0, 0.45 * total), 0.45 * (out + 3)))
    for c in range(total):
        pad = c < padding or c >= padding + size
        ax.add_patch(Rectangle((c, 0), 1, 1, facecolor="0.85" if pad else "white", edgecolor="black",
                               hatch="//" if c >= reached else None))
        ax.text(c + 0.5, 0.5, "p" if pad else str(c - padding), ha="center", va="center", fontsize=8)
    for i in range(out):
        y = -1.2 - i
        ax.add_patch(Rectangle((i * stride + 0.1, y + 0.2), kernel - 0.2, 0.6, facecolor=f"C{i % 10}", alpha=0.6))
        ax.text(i * stride - 0.2, y + 0.5, f"out {i}", ha="right", va="center", fontsize=8)
    ax.set_xlim(-2.2, total + 0.2)
    ax.set_ylim(-out - 0.4, 1.2)
    ax.set_axis_off()
    ax.set_title(f"I={size}, K={kernel}, S={stride}, P={padding}  ->  O={out}", fontsize=10)
    return ax
