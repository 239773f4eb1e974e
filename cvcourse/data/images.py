"""Sample photographs and the image -> Tensor conversion.

The photographs ship with scikit-image (no download needed); `to_tensor` turns any uint8 or [0, 1]
float image into the channels-first float Tensor layout the models use.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

__all__ = ["SAMPLE_IMAGES", "sample_image", "to_tensor"]

#: The names `sample_image` accepts (all ship with scikit-image, so they work offline).
SAMPLE_IMAGES = ("astronaut", "camera", "coffee", "chelsea", "coins", "rocket", "brick")


def sample_image(name: str = "astronaut", gray: bool = False) -> np.ndarray:
    """A photograph bundled with scikit-image, as a uint8 array.

    Args:
        name: one of `SAMPLE_IMAGES`: "astronaut" (512x512, colour), "camera" (512x512, gray),
            "coffee" (400x600, colour), "chelsea" (a cat, 300x451, colour), "coins" (303x384,
            gray), "rocket" (427x640, colour), "brick" (a texture, 512x512, gray).
        gray: if True, return HxW (colour images converted with ITU-R BT.601 weights,
            ``0.299 R + 0.587 G + 0.114 B``, as `cv2.COLOR_RGB2GRAY`); if False, always HxWx3 RGB
            (gray images repeated over the three channels).

    Returns:
        ndarray uint8, HxW if `gray` else HxWx3 (a new array each call).
    """
    if not isinstance(name, str) or name not in SAMPLE_IMAGES:
        raise ValueError(f"name: unknown sample image {name!r}; expected one of {', '.join(SAMPLE_IMAGES)}")
    import cv2
    import skimage.data

    image = getattr(skimage.data, name)()
    if image.ndim == 3 and image.shape[2] == 4:                  # drop an alpha channel, if any
        image = image[:, :, :3]
    if gray:
        return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image.copy()
    return np.repeat(image[:, :, None], 3, axis=2) if image.ndim == 2 else image.copy()


def to_tensor(image: np.ndarray) -> Tensor:
    """An image array as a float32 Tensor[C, H, W] with values in [0, 1] (channels first).

    Args:
        image: ndarray HxW or HxWxC; uint8 (divided by 255) or float already in [0, 1].

    Returns:
        Tensor[C, H, W] float32 (C = 1 for an HxW image).

    Like `torchvision.transforms.functional.to_tensor`.
    """
    if not isinstance(image, np.ndarray):
        raise TypeError(f"image: expected an ndarray HxW or HxWxC, got {type(image).__name__}")
    if image.ndim not in (2, 3):
        raise ValueError(f"image: expected an ndarray HxW or HxWxC, got shape {image.shape}")
    if image.dtype == np.uint8:
        scale = True
    elif np.issubdtype(image.dtype, np.floating):
        if image.size and not (np.isfinite(image).all() and image.min() >= 0 and image.max() <= 1):
            raise ValueError(f"image: expected float values in [0, 1], got values in "
                             f"[{image.min():.4g}, {image.max():.4g}] (uint8 images are scaled automatically)")
        scale = False
    else:
        raise TypeError(f"image: expected dtype uint8 or float in [0, 1], got {image.dtype}")
    # the layout change and the copy in numpy: torch's permute().contiguous() is far slower on a busy machine
    chw = (image[None] if image.ndim == 2 else image.transpose(2, 0, 1)).astype(np.float32, order="C")  # (C, H, W)
    if scale:
        chw /= np.float32(255.0)
    return torch.from_numpy(chw)
