"""Instance masks: the box around a mask, pasting Mask R-CNN's small mask into the image, and mask IoU.

Masks are `Tensor[N, H, W]`, one binary (bool) image per object, except the `M x M` probabilities a
mask head predicts inside a box, which `paste_masks_in_image` turns into `H x W` image masks.

Two box conventions meet here (both `xyxy`):
- `masks_to_boxes`, like torchvision, gives pixel *indices*: x2 is the column of the last pixel, so
  a one-pixel mask has a zero-width box;
- COCO (pycocotools' `mask.toBbox`, and `cvcourse.data.shapes`) gives pixel *edges*: x2 is one past
  the last pixel. ``masks_to_boxes(masks) + [0, 0, 1, 1]`` is the COCO box.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from cvcourse._validate import check_int

from ._validate import check_boxes

__all__ = ["mask_iou", "masks_to_boxes", "paste_masks_in_image"]

_EXACT_FLOAT32 = 2**24      # float32 counts pixels exactly up to here; beyond, the matmul runs in float64


# ----------------------------------------------------------------------------- input
def _check_binary(masks: object, name: str) -> Tensor:
    """`masks` as a bool `Tensor[N, H, W]` (integer masks: nonzero is foreground); floats are refused."""
    if not isinstance(masks, Tensor):
        raise TypeError(f"{name}: expected a bool Tensor[N, H, W], got {type(masks).__name__}")
    if masks.is_floating_point() or masks.is_complex():
        raise TypeError(f"{name}: expected a bool Tensor[N, H, W] (or integer 0/1), got dtype {masks.dtype}; "
                        f"threshold probabilities first, e.g. {name} > 0.5")
    if masks.dim() != 3:
        raise ValueError(f"{name}: expected Tensor[N, H, W], got Tensor{list(masks.shape)}")
    return masks if masks.dtype == torch.bool else masks != 0


def _check_probabilities(masks: object) -> Tensor:
    """Mask-head outputs as a floating-point `Tensor[N, M, M]` of finite values."""
    if not isinstance(masks, Tensor):
        raise TypeError(f"masks: expected a float Tensor[N, 1, M, M], got {type(masks).__name__}")
    if not masks.is_floating_point():
        raise TypeError(f"masks: expected float probabilities (Tensor[N, 1, M, M]), got dtype {masks.dtype}")
    if masks.dim() == 4 and masks.shape[1] == 1:
        masks = masks[:, 0]
    if masks.dim() != 3 or masks.shape[1] != masks.shape[2] or masks.shape[1] == 0:
        raise ValueError(f"masks: expected Tensor[N, 1, M, M] or Tensor[N, M, M] (square, M >= 1), "
                         f"got Tensor{list(masks.shape)}")
    if masks.numel() and not torch.isfinite(masks.sum()):   # fast path; an overflowing sum falls through
        bad = ~torch.isfinite(masks).flatten(1).all(1)
        if bad.any():
            raise ValueError(f"masks: values must be finite; mask {int(bad.nonzero()[0, 0])} is not")
    return masks


def _check_image_shape(img_shape: object) -> tuple[int, int]:
    if not isinstance(img_shape, (tuple, list)) or len(img_shape) != 2:
        raise TypeError(f"img_shape: expected (height, width), got {img_shape!r}")
    return check_int("img_shape[0] (height)", img_shape[0], 1), check_int("img_shape[1] (width)", img_shape[1], 1)


# ----------------------------------------------------------------------------- masks_to_boxes
def masks_to_boxes(masks: Tensor) -> Tensor:
    """The tight box around each mask, in pixel indices: (first column, first row, last column, last row).

    torchvision's semantics: x2 and y2 are the indices of the last pixel, not one past it, so a
    one-pixel mask at (x, y) gives (x, y, x, y), a zero-area box. COCO's box (pycocotools'
    `mask.toBbox`, and the boxes of `cvcourse.data.shapes`) is ``masks_to_boxes(masks) + [0, 0, 1, 1]``.

    Args:
        masks (Tensor[N, H, W]): bool masks (integer masks: nonzero is foreground; float masks are
            refused: threshold them first), none of them empty.

    Returns:
        Tensor[N, 4]: float32 boxes in `xyxy` format (pixel indices), on the masks' device;
        Tensor[0, 4] for N = 0.

    Raises:
        ValueError: a mask without any pixel set, naming it (torchvision fails there with a
            RuntimeError from `torch.min` of an empty tensor); a wrong shape. TypeError: not a bool
            or integer tensor.

    Reference: torchvision.ops.masks_to_boxes; He et al., "Mask R-CNN", ICCV 2017.
    """
    masks = _check_binary(masks, "masks")
    n, h, w = masks.shape
    if n == 0:
        return torch.zeros(0, 4, device=masks.device)
    cols, rows = masks.any(1), masks.any(2)                          # (N, W), (N, H)
    empty = ~cols.any(1)
    if empty.any():
        i = int(empty.nonzero()[0, 0])
        raise ValueError(f"masks: mask {i} is empty (no pixel set): its box is undefined")
    cols, rows = cols.to(torch.uint8), rows.to(torch.uint8)         # argmax finds the first 1
    x1, y1 = cols.argmax(1), rows.argmax(1)
    x2, y2 = w - 1 - cols.flip(1).argmax(1), h - 1 - rows.flip(1).argmax(1)
    return torch.stack([x1, y1, x2, y2], dim=1).float()


# ----------------------------------------------------------------------------- paste_masks_in_image
def _expand_boxes(boxes: Tensor, scale: float) -> Tensor:
    """torchvision's `expand_boxes` then `.to(torch.int64)` (truncation toward zero), step by step."""
    w_half = (boxes[:, 2] - boxes[:, 0]) * 0.5
    h_half = (boxes[:, 3] - boxes[:, 1]) * 0.5
    x_c = (boxes[:, 2] + boxes[:, 0]) * 0.5
    y_c = (boxes[:, 3] + boxes[:, 1]) * 0.5
    w_half, h_half = w_half * scale, h_half * scale
    return torch.stack([x_c - w_half, y_c - h_half, x_c + w_half, y_c + h_half], dim=1).to(torch.int64)


def _resize_weights(first: Tensor, last: Tensor, size: int, pixels: int, dtype: torch.dtype) -> Tensor:
    """(N, pixels, size): row p holds the weights that bilinear resizing (align_corners=False) of
    `size` samples to the box's `last - first + 1` pixels gives image pixel p (zero outside the box)."""
    n_box = (last - first + 1)[:, None]                             # (N, 1) pixels in the box
    j = torch.arange(pixels, device=first.device) - first[:, None]  # (N, P) position in the box
    inside = (j >= 0) & (j < n_box)
    scale = size / n_box.to(dtype)                                  # F.interpolate's input / output
    src = ((j.to(dtype) + 0.5) * scale - 0.5).clamp_min(0)          # (N, P) source coordinate
    i0 = src.floor().clamp(max=size - 1)
    lam = (src - i0).masked_fill(~inside, 0)                        # weight of the next sample
    i0 = i0.long()
    i1 = (i0 + 1).clamp(max=size - 1)
    weights = torch.zeros(*j.shape, size, dtype=dtype, device=first.device)
    weights.scatter_add_(2, i0[..., None], ((1 - lam) * inside)[..., None])
    weights.scatter_add_(2, i1[..., None], lam[..., None])
    return weights


def paste_masks_in_image(masks: Tensor, boxes: Tensor, img_shape: tuple[int, int], padding: int = 1) -> Tensor:
    """Paste Mask R-CNN's `M x M` mask probabilities into their boxes in an `H x W` image.

    torchvision's `paste_masks_in_image` (roi_heads.py), computed for all masks at once:

    1. each mask is padded with `padding` zeros on every side (`S = M + 2 * padding` samples) and its
       box is grown about its centre by `S / M`, so the padding covers the margin added;
    2. the grown box is truncated to integers (toward zero, as `Tensor.to(torch.int64)`), giving the
       pixels x0..x1, y0..y1 (both ends included);
    3. the padded mask is resized to those `(y1 - y0 + 1) x (x1 - x0 + 1)` pixels by bilinear
       interpolation (`F.interpolate`, align_corners=False) and placed there; pixels outside the box,
       and the parts of the box outside the image, are 0.

    Instead of a Python loop over masks, bilinear resizing is separable: the pasted image mask is
    ``Wy @ mask @ Wx.T``, with `Wy` (H x S) and `Wx` (W x S) holding the interpolation weights of each
    image row and column (zero outside the box); one batched matrix product does every mask.
    Differences: an expanded box entirely outside the image gives an all-zero mask (torchvision fails
    there with a shape mismatch); float16/bfloat16 boxes and masks are computed in float32.

    Args:
        masks (Tensor[N, 1, M, M] or Tensor[N, M, M]): mask probabilities (float), square.
        boxes (Tensor[N, 4]): the box of each mask in the image, `xyxy` (x2 >= x1, y2 >= y1).
        img_shape (tuple[int, int]): the image's (height, width), ints >= 1.
        padding (int): zeros added around each mask before pasting, an int >= 0 (torchvision: 1).

    Returns:
        Tensor[N, 1, H, W]: the pasted masks in the dtype of `masks` (threshold them, e.g. at 0.5, for
        binary masks); Tensor[0, 1, H, W] for N = 0.

    Raises:
        TypeError / ValueError: naming the argument (`masks` not float or not square, non-finite
            values, a box count other than N, bad boxes, `img_shape` or `padding`).

    Reference: He et al., "Mask R-CNN", ICCV 2017 (section 3: the m x m mask is resized to the RoI
    and binarized at 0.5); torchvision.models.detection.roi_heads.paste_masks_in_image.
    """
    masks = _check_probabilities(masks)
    b = check_boxes(boxes, "boxes")
    if len(b) != len(masks):
        raise ValueError(f"boxes: expected Tensor[{len(masks)}, 4] (one box per mask), got Tensor{list(b.shape)}")
    height, width = _check_image_shape(img_shape)
    padding = check_int("padding", padding, 0)
    dtype = torch.promote_types(masks.dtype, torch.float32)        # half types: float32
    n, m = masks.shape[0], masks.shape[-1]
    size = m + 2 * padding
    x0, y0, x1, y1 = _expand_boxes(b.to(torch.promote_types(b.dtype, torch.float32)), size / m).unbind(1)
    padded = F.pad(masks.to(dtype), (padding,) * 4)                # (N, S, S)
    wy = _resize_weights(y0, y1, size, height, dtype)              # (N, H, S)
    wx = _resize_weights(x0, x1, size, width, dtype)               # (N, W, S)
    out = wy @ padded @ wx.transpose(1, 2)                         # (N, H, W)
    return out.to(masks.dtype).reshape(n, 1, height, width)


# ----------------------------------------------------------------------------- mask_iou
def mask_iou(masks1: Tensor, masks2: Tensor, *, dtype: torch.dtype = torch.float32) -> Tensor:
    """Pairwise intersection over union of two sets of binary masks.

    IoU = |A ∩ B| / |A ∪ B| in pixels. The intersections are one matrix product of the flattened
    masks, ``A (N x HW) @ B.T (HW x M)``; pixel counts are exact integers (the product runs in
    float32 up to 2^24 pixels per image, in float64 beyond) and the ratio is taken in float64, so
    ``dtype=torch.float64`` gives exactly pycocotools' ``(double) i / (double) u``. Two empty masks
    (union 0) have IoU 0, like two zero-area boxes in `box_iou`.

    Args:
        masks1 (Tensor[N, H, W]): bool masks (integer masks: nonzero is foreground; floats are
            refused: threshold probabilities first).
        masks2 (Tensor[M, H, W]): bool masks of the same H and W.
        dtype (torch.dtype): the result's floating-point dtype (float32 by default).

    Returns:
        Tensor[N, M]: the IoU of every mask of `masks1` (rows) with every mask of `masks2` (columns),
        in [0, 1], on the masks' device.

    Raises:
        TypeError / ValueError: naming the argument (not a bool or integer Tensor[N, H, W], H and W
            that differ between the two sets, a `dtype` that is not floating point).

    Reference: Lin et al., "Microsoft COCO: Common Objects in Context", ECCV 2014 (mask IoU of the
    "segm" evaluation; pycocotools' maskApi.c rleIou); torchvision.ops.box_iou for the layout.
    """
    a, b = _check_binary(masks1, "masks1"), _check_binary(masks2, "masks2")
    if a.shape[1:] != b.shape[1:]:
        raise ValueError(f"masks1 and masks2: expected masks of one size, got H x W = {a.shape[1]} x {a.shape[2]} "
                         f"and {b.shape[1]} x {b.shape[2]}")
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype: expected a floating-point torch.dtype, got {dtype!r}")
    count = torch.float32 if a.shape[1] * a.shape[2] <= _EXACT_FLOAT32 else torch.float64
    a, b = a.flatten(1), b.flatten(1)                               # (N, HW), (M, HW)
    inter = (a.to(count) @ b.to(count).T).double()                  # (N, M) exact pixel counts
    union = a.sum(1, dtype=torch.float64)[:, None] + b.sum(1, dtype=torch.float64)[None, :] - inter
    return (inter / union.masked_fill(union == 0, 1)).to(dtype)
