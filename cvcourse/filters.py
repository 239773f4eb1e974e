"""Chapter 01 reference implementations: convolution as a sliding dot product, classic image
filters, Gabor edge detectors and a small CNN whose feature maps the chapter looks at.

Conventions (the same as every deep-learning framework):

* "convolution" in `conv2d` is cross-correlation: the kernel is slid over the input *without*
  flipping it. `convolve2d` is the textbook convolution (kernel flipped in both axes) and
  `correlate2d` the cross-correlation, both for one 2-D image with a 'same'-size output.
* The kernels of `kernel(name)` are written the way `cv2.filter2D` and CNNs apply them, i.e. for
  correlation. For the symmetric ones the flip changes nothing; for `sobel_x` / `sobel_y` it
  changes the sign.
"""
from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "KERNEL_NAMES",
    "conv1x1",
    "conv2d",
    "convolve2d",
    "correlate2d",
    "feature_maps",
    "gabor_bank",
    "gaussian_kernel",
    "kernel",
    "small_cnn",
    "sobel_magnitude",
]

KERNEL_NAMES = ("identity", "box_blur", "gaussian", "sharpen", "edge", "laplacian", "sobel_x", "sobel_y")
_KERNELS = {
    "identity": [[0, 0, 0], [0, 1, 0], [0, 0, 0]],
    "box_blur": [[1 / 9] * 3] * 3,
    "sharpen": [[0, -1, 0], [-1, 5, -1], [0, -1, 0]],
    "edge": [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]],
    "laplacian": [[0, 1, 0], [1, -4, 1], [0, 1, 0]],
    "sobel_x": [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]],
    "sobel_y": [[-1, -2, -1], [0, 0, 0], [1, 2, 1]],
}
_BORDERS = ("reflect", "zeros")


# ----------------------------------------------------------------------------- convolution layers
def conv2d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
) -> Tensor:
    """2-D convolution (cross-correlation) as an explicit sliding dot product.

    Same semantics as `torch.nn.functional.conv2d` restricted to `groups=1`, `dilation=1` and
    zero padding: every output value is the dot product of the kernel with one window of the
    (padded) input, summed over all input channels::

        out[n, o, i, j] = bias[o] + sum_{c, u, v} input_pad[n, c, i*sh + u, j*sw + v] * weight[o, c, u, v]

    The windows are taken with `Tensor.unfold` (a view, no copy) and the dot products done by one
    `einsum`, so it is vectorized and differentiable.

    Args:
        input (Tensor[N, C_in, H, W]): a floating-point batch of images (N may be 0).
        weight (Tensor[C_out, C_in, kh, kw]): the kernels, same dtype as `input`.
        bias (Tensor[C_out], optional): added to every output position of each channel.
        stride (int or (int, int)): step of the window, >= 1 (one value for both axes, or (sh, sw)).
        padding (int or (int, int)): zeros added on each side, >= 0 (one value, or (ph, pw)).

    Returns:
        Tensor[N, C_out, H_out, W_out] with H_out = (H + 2*ph - kh) // sh + 1 (same for W).

    Raises:
        TypeError: an argument is not a Tensor / int, or the dtypes differ.
        ValueError: a shape does not fit (dims, channels, kernel larger than the padded input),
            stride < 1 or padding < 0.

    Reference: Dumoulin & Visin, "A guide to convolution arithmetic for deep learning", 2016.
    """
    _check_tensor("input", input, "Tensor[N, C_in, H, W]", dims=4, float_only=True)
    _check_tensor("weight", weight, "Tensor[C_out, C_in, kh, kw]", dims=4, like=input)
    c_in, c_out, kh, kw = input.shape[1], weight.shape[0], weight.shape[2], weight.shape[3]
    if weight.shape[1] != c_in:
        raise ValueError(f"weight: expected Tensor[C_out, C_in, kh, kw] with C_in == input channels ({c_in}), "
                         f"got {_shape(weight)}")
    if bias is not None:
        _check_bias(bias, c_out, input)
    sh, sw = _pair("stride", stride, minimum=1)
    ph, pw = _pair("padding", padding, minimum=0)
    _check_fits(input, kh, kw, ph, pw)

    x = F.pad(input, (pw, pw, ph, ph))                         # (N, C_in, H + 2ph, W + 2pw)
    patches = x.unfold(2, kh, sh).unfold(3, kw, sw)            # (N, C_in, H_out, W_out, kh, kw)
    out = torch.einsum("nchwuv,ocuv->nohw", patches, weight)   # (N, C_out, H_out, W_out)
    if bias is not None:
        out = out + bias.view(1, c_out, 1, 1)
    return out


def conv1x1(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """A 1x1 convolution, written as what it is: a matrix product over the channels at each pixel.

    ``out[n, o, i, j] = bias[o] + sum_c weight[o, c] * input[n, c, i, j]`` -- a linear layer
    applied independently to the C_in-vector of every pixel. It mixes channels and changes the
    depth (e.g. reduces it before an expensive 3x3 conv, as in Inception) but never looks at
    neighbouring pixels.

    Args:
        input (Tensor[N, C_in, H, W]): a floating-point batch of images.
        weight (Tensor[C_out, C_in] or Tensor[C_out, C_in, 1, 1]): the channel-mixing matrix
            (the second form is what `nn.Conv2d(C_in, C_out, 1).weight` holds).
        bias (Tensor[C_out], optional): added to each output channel.

    Returns:
        Tensor[N, C_out, H, W]

    Reference: Lin, Chen & Yan, "Network In Network", ICLR 2014.
    """
    _check_tensor("input", input, "Tensor[N, C_in, H, W]", dims=4, float_only=True)
    _check_tensor("weight", weight, "Tensor[C_out, C_in] or Tensor[C_out, C_in, 1, 1]", like=input)
    c_in = input.shape[1]
    if weight.dim() == 4 and weight.shape[2:] == (1, 1):
        weight = weight[:, :, 0, 0]                              # (C_out, C_in)
    if weight.dim() != 2 or weight.shape[1] != c_in:
        raise ValueError(f"weight: expected Tensor[C_out, C_in] or Tensor[C_out, C_in, 1, 1] with "
                         f"C_in == input channels ({c_in}), got {_shape(weight)}")
    if bias is not None:
        _check_bias(bias, weight.shape[0], input)
    out = torch.einsum("oc,nchw->nohw", weight, input)          # (N, C_out, H, W)
    if bias is not None:
        out = out + bias.view(1, -1, 1, 1)
    return out


# ----------------------------------------------------------------------------- filtering one image
def correlate2d(image: Tensor | np.ndarray, kernel: Tensor | np.ndarray,
                border: str = "reflect") -> Tensor | np.ndarray:
    """Cross-correlate one single-channel image with a kernel; the output has the image's size.

    ``out[i, j] = sum_{u, v} kernel[u, v] * image[i + u - kh//2, j + v - kw//2]`` -- the kernel is
    centred on each pixel and *not* flipped. This is what `cv2.filter2D` and `conv2d` compute.

    Args:
        image (Tensor[H, W] or ndarray HxW): any real dtype; uint8 and integers are computed in
            float32, float64 stays float64.
        kernel (Tensor[kh, kw] or ndarray): odd height and width (so that it has a centre).
        border: how pixels outside the image are made up. "reflect" (default) mirrors the image
            without repeating the edge pixel (``dcb|abcd|cba``): the same as cv2's default
            `BORDER_REFLECT_101` and torch's "reflect" padding, so the result equals
            `cv2.filter2D(image, -1, kernel)` everywhere. "zeros" pads with 0 like `conv2d`
            (cv2's `BORDER_CONSTANT`); borders then darken.

    Returns:
        Tensor[H, W] if `image` is a Tensor, else ndarray HxW (float32 or float64).
    """
    x, k = _image_and_kernel(image, kernel, border)
    kh, kw = k.shape
    mode = "reflect" if border == "reflect" else "constant"
    x = F.pad(x[None, None], (kw // 2, kw // 2, kh // 2, kh // 2), mode=mode)  # (1, 1, H + kh - 1, W + kw - 1)
    out = conv2d(x, k[None, None])[0, 0]                                     # (H, W)
    return out.numpy() if isinstance(image, np.ndarray) else out


def convolve2d(image: Tensor | np.ndarray, kernel: Tensor | np.ndarray,
               border: str = "reflect") -> Tensor | np.ndarray:
    """Convolve one single-channel image with a kernel (the textbook definition, kernel flipped).

    ``out[i, j] = sum_{u, v} kernel[u, v] * image[i - u + kh//2, j - v + kw//2]``, which is
    `correlate2d` with the kernel flipped in both axes -- so ``cv2.filter2D(image, -1,
    cv2.flip(kernel, -1))`` computes it too. Convolution is commutative and associative
    (blurring twice = blurring once with the convolved kernels); correlation is not.

    Args and Returns: as `correlate2d`.
    """
    _, k = _image_and_kernel(image, kernel, border)
    return correlate2d(image, torch.flip(k, dims=(0, 1)), border)


def sobel_magnitude(image: Tensor | np.ndarray, border: str = "reflect") -> Tensor | np.ndarray:
    """Gradient magnitude ``sqrt(gx**2 + gy**2)`` with the 3x3 Sobel kernels.

    Large where the brightness changes quickly (edges), 0 on flat regions. A unit step gives 4
    on the two pixel columns beside it (the Sobel weights 1, 2, 1 sum to 4).

    Args and Returns: as `correlate2d` (no kernel argument).

    Reference: Sobel & Feldman, "An isotropic 3x3 image gradient operator", 1968.
    """
    gx = correlate2d(image, kernel("sobel_x"), border)
    gy = correlate2d(image, kernel("sobel_y"), border)
    return np.hypot(gx, gy) if isinstance(gx, np.ndarray) else torch.hypot(gx, gy)


# ----------------------------------------------------------------------------- kernels
def kernel(name: str) -> Tensor:
    """A classic image kernel by name: 3x3, except the 5x5 "gaussian" (a new float32 Tensor each call).

    Names: "identity", "box_blur" (mean of 3x3), "gaussian" (``gaussian_kernel(5, 1.0)``, 5x5),
    "sharpen" (identity + negative Laplacian), "edge" (8-neighbour outline), "laplacian"
    (4-neighbour), "sobel_x" (responds to brightness increasing to the right), "sobel_y"
    (increasing downwards). Written for correlation (`correlate2d`, `cv2.filter2D`, `conv2d`).

    Returns:
        Tensor[k, k] float32.
    """
    if not isinstance(name, str):
        raise TypeError(f"name: expected a str, one of {', '.join(KERNEL_NAMES)}; got {type(name).__name__}")
    if name == "gaussian":
        return gaussian_kernel(5, 1.0)
    if name not in _KERNELS:
        raise ValueError(f"name: unknown kernel {name!r}; expected one of {', '.join(KERNEL_NAMES)}")
    return torch.tensor(_KERNELS[name], dtype=torch.float32)


def gaussian_kernel(size: int = 5, sigma: float = 1.0) -> Tensor:
    """A normalised 2-D Gaussian blur kernel: the outer product of two 1-D Gaussians.

    Equals ``g @ g.T`` for ``g = cv2.getGaussianKernel(size, sigma)``.

    Args:
        size: odd side length >= 1.
        sigma: standard deviation in pixels, > 0.

    Returns:
        Tensor[size, size] float32 summing to 1.
    """
    _check_odd_size(size)
    _check_positive("sigma", sigma)
    x = torch.arange(size, dtype=torch.float64) - size // 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()                                              # (size,)
    return torch.outer(g, g).float()                             # (size, size)


def gabor_bank(
    n_orientations: int = 8,
    size: int = 7,
    sigma: float = 2.0,
    wavelength: float = 6.0,
    gamma: float = 0.5,
    phase: float = -math.pi / 2,
) -> Tensor:
    """A bank of oriented Gabor filters: edge detectors at ``n_orientations`` evenly spaced angles.

    Filter i is a sinusoid of the given `wavelength` running in direction
    ``theta_i = i * pi / n_orientations`` (counter-clockwise from the x-axis as seen on screen,
    i.e. rows point down and y up), under a Gaussian envelope::

        x' = x cos(theta) + y sin(theta),  y' = -x sin(theta) + y cos(theta)
        g  = exp(-(x'^2 + gamma^2 y'^2) / (2 sigma^2)) * cos(2 pi x' / wavelength + phase)

    With the default odd phase (-pi/2) each filter is an edge detector: under correlation it
    responds positively where the image gets brighter in direction theta_i (theta_0 = 0: a dark
    to bright edge from left to right, a vertical edge). `gamma` < 1 stretches it along the edge.
    Each filter is made zero-mean (flat regions give 0) with unit L2 norm.

    The first convolutional layer of a CNN trained on photographs learns very similar filters:
    see the 96 first-layer kernels in Krizhevsky, Sutskever & Hinton, "ImageNet Classification
    with Deep Convolutional Neural Networks", NeurIPS 2012, Fig. 3.

    Args:
        n_orientations: number of filters, >= 1.
        size: odd side length of each filter.
        sigma, wavelength, gamma: envelope width, carrier wavelength (pixels), envelope aspect.
        phase: carrier phase; 0 gives even (line / bar) detectors instead.

    Returns:
        Tensor[n_orientations, 1, size, size] float32, ready to be a conv weight.
    """
    if isinstance(n_orientations, bool) or not isinstance(n_orientations, int) or n_orientations < 1:
        raise ValueError(f"n_orientations: expected an int >= 1, got {n_orientations!r}")
    _check_odd_size(size)
    for name, value in (("sigma", sigma), ("wavelength", wavelength), ("gamma", gamma)):
        _check_positive(name, value)
    r = torch.arange(size, dtype=torch.float64) - size // 2
    y, x = -r[:, None], r[None, :]                               # (size, 1), (1, size): y points up
    theta = torch.arange(n_orientations, dtype=torch.float64)[:, None, None] * math.pi / n_orientations
    xr = x * torch.cos(theta) + y * torch.sin(theta)             # (n, size, size)
    yr = -x * torch.sin(theta) + y * torch.cos(theta)            # (n, size, size)
    envelope = torch.exp(-(xr**2 + gamma**2 * yr**2) / (2 * sigma**2))
    g = envelope * torch.cos(2 * math.pi * xr / wavelength + phase)
    g = g - g.mean(dim=(1, 2), keepdim=True)
    g = g / g.flatten(1).norm(dim=1)[:, None, None]
    return g[:, None].float()                                    # (n, 1, size, size)


# ----------------------------------------------------------------------------- a small CNN
def small_cnn(seed: int = 0) -> nn.Sequential:
    """A small two-layer CNN for grayscale images, to look at feature maps (chapter 01).

    No weights are downloaded and nothing is trained:

    * ``conv1`` (1 -> 10 channels, 7x7, padding 3) is set by hand: 8 Gabor edge detectors
      (`gabor_bank`, orientations 0, 22.5, ..., 157.5 degrees), a centre-surround "blob" detector
      (a zero-mean difference of Gaussians, bright spots) and a Gaussian blur (local brightness).
      These resemble what the first layer of a CNN trained on photographs learns (Krizhevsky et
      al. 2012, Fig. 3), but they are hand-set.
    * ``conv2`` (10 -> 16 channels, 3x3, padding 1) is random (He-normal init, seeded by `seed`),
      i.e. *not* meaningful features: deeper layers only become interesting after training.

    Layers, by name (for `feature_maps`): conv1, relu1, pool1 (2x2 max), conv2, relu2, pool2.
    The global random state is left untouched.

    Returns:
        nn.Sequential in eval mode, mapping Tensor[N, 1, H, W] to Tensor[N, 16, H//4, W//4].
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = nn.Sequential(OrderedDict([
            ("conv1", nn.Conv2d(1, 10, kernel_size=7, padding=3)),
            ("relu1", nn.ReLU()),
            ("pool1", nn.MaxPool2d(2)),
            ("conv2", nn.Conv2d(10, 16, kernel_size=3, padding=1)),
            ("relu2", nn.ReLU()),
            ("pool2", nn.MaxPool2d(2)),
        ]))
        with torch.no_grad():
            model.conv1.weight.copy_(torch.cat([gabor_bank(8, 7), _blob_kernel(7)[None, None],
                                                gaussian_kernel(7, 1.5)[None, None]]))
            model.conv1.bias.zero_()
            nn.init.kaiming_normal_(model.conv2.weight, nonlinearity="relu")
            model.conv2.bias.zero_()
    return model.eval()


def feature_maps(model: nn.Module, image: Tensor, layers: str | Sequence[str]) -> dict[str, Tensor]:
    """Run `model` once on `image` and return the outputs of the named submodules.

    A forward hook is put on each named submodule to record its output; the hooks are always
    removed afterwards, even if the forward pass fails. Runs under `torch.no_grad()`.

    Args:
        model: any nn.Module, e.g. `small_cnn()`.
        image (Tensor[N, C, H, W] or Tensor[C, H, W]): the input; a single image gets a batch
            dimension added and removed again, so its maps come back as Tensor[C', H', W'].
        layers: a submodule name or a list of them, as in ``dict(model.named_modules())``.

    Returns:
        dict layer name -> its output (detached), in the order of `layers`.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected an nn.Module, got {type(model).__name__}")
    _check_tensor("image", image, "Tensor[N, C, H, W] or Tensor[C, H, W]")
    if image.dim() not in (3, 4):
        raise ValueError(f"image: expected Tensor[N, C, H, W] or Tensor[C, H, W], got {_shape(image)}")
    layers = [layers] if isinstance(layers, str) else list(layers)
    modules = dict(model.named_modules())
    names = ", ".join(n for n in modules if n)
    if not layers:
        raise ValueError(f"layers: expected at least one submodule name (one of {names}), got none")
    for name in layers:
        if not isinstance(name, str) or name not in modules or not name:
            raise ValueError(f"layers: model has no submodule {name!r}; expected some of {names}")

    single = image.dim() == 3
    outputs: dict[str, Tensor] = {}

    def hook_for(name: str) -> Callable:
        def hook(module: nn.Module, args: tuple, output: Tensor) -> None:
            outputs[name] = output.detach()
        return hook

    handles = [modules[name].register_forward_hook(hook_for(name)) for name in layers]
    try:
        with torch.no_grad():
            model(image[None] if single else image)
    finally:
        for handle in handles:
            handle.remove()
    return {name: outputs[name][0] if single else outputs[name] for name in layers}


# ----------------------------------------------------------------------------- private helpers
def _blob_kernel(size: int) -> Tensor:
    """A zero-mean, unit-norm difference of Gaussians (a centre-surround "blob" detector)."""
    g = gaussian_kernel(size, 1.0) - gaussian_kernel(size, 2.5)                 # (size, size)
    g = g - g.mean()
    return g / g.norm()


def _check_odd_size(size: object) -> None:
    if isinstance(size, bool) or not isinstance(size, int):
        raise TypeError(f"size: expected an odd int, got {type(size).__name__}")
    if size < 1 or size % 2 == 0:
        raise ValueError(f"size: expected an odd int >= 1, got {size}")


def _check_positive(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name}: expected a number > 0, got {type(value).__name__}")
    if not value > 0:
        raise ValueError(f"{name}: expected a number > 0, got {value!r}")


def _shape(t: Tensor | np.ndarray) -> str:
    kind = "Tensor" if isinstance(t, Tensor) else "ndarray"
    return f"{kind}[{', '.join(str(s) for s in t.shape)}]"


def _check_tensor(name: str, t: object, expected: str, dims: int | None = None,
                  float_only: bool = False, like: Tensor | None = None) -> None:
    if not isinstance(t, Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor ({expected}), got {type(t).__name__}")
    if dims is not None and t.dim() != dims:
        hint = " (for one image, add a batch dimension: x[None])" if name == "input" and t.dim() == dims - 1 else ""
        raise ValueError(f"{name}: expected {expected}, got {_shape(t)}{hint}")
    if float_only and not t.is_floating_point():
        raise TypeError(f"{name}: expected a floating-point Tensor, got {t.dtype} (use .float())")
    if like is not None and t.dtype != like.dtype:
        raise TypeError(f"{name}: expected dtype {like.dtype} like input, got {t.dtype}")


def _check_bias(bias: object, c_out: int, input: Tensor) -> None:
    _check_tensor("bias", bias, "Tensor[C_out]", like=input)
    if bias.shape != (c_out,):
        raise ValueError(f"bias: expected Tensor[C_out] with C_out == weight's output channels ({c_out}), "
                         f"got {_shape(bias)}")


def _pair(name: str, value: int | tuple[int, int], minimum: int) -> tuple[int, int]:
    """`value` as (vertical, horizontal); TypeError unless an int or a pair of ints."""
    pair = (value, value) if not isinstance(value, (tuple, list)) else tuple(value)
    if len(pair) != 2 or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) for v in pair):
        raise TypeError(f"{name}: expected an int or a pair of ints, got {value!r}")
    if min(pair) < minimum:
        raise ValueError(f"{name}: expected an int >= {minimum} (or a pair of them), got {value!r}")
    return int(pair[0]), int(pair[1])


def _check_fits(input: Tensor, kh: int, kw: int, ph: int, pw: int) -> None:
    h, w = input.shape[2] + 2 * ph, input.shape[3] + 2 * pw
    if kh < 1 or kw < 1 or kh > h or kw > w:
        raise ValueError(f"weight: kernel {kh}x{kw} does not fit in the padded input {h}x{w} "
                         f"(H + 2*padding by W + 2*padding); expected a kernel of at least 1x1 and at most {h}x{w}")


def _as_2d(name: str, a: object) -> Tensor:
    """`a` (Tensor or ndarray) as a 2-D floating-point Tensor (float64 stays, the rest -> float32)."""
    if not isinstance(a, (Tensor, np.ndarray)):
        raise TypeError(f"{name}: expected a Tensor[H, W] or a 2-D ndarray, got {type(a).__name__}")
    if a.ndim != 2:
        raise ValueError(f"{name}: expected a single-channel 2-D array (H, W), got {_shape(a)}"
                         + (" (convert colour images to gray first)" if a.ndim == 3 else ""))
    if isinstance(a, np.ndarray):
        a = torch.from_numpy(np.ascontiguousarray(a))
    if a.dtype == torch.bool or a.is_complex():
        raise TypeError(f"{name}: expected a real-valued array, got {a.dtype}")
    return a if a.dtype == torch.float64 else a.float()


def _image_and_kernel(image: object, kernel: object, border: str) -> tuple[Tensor, Tensor]:
    x = _as_2d("image", image)
    k = _as_2d("kernel", kernel).to(x.dtype)
    if k.shape[0] % 2 == 0 or k.shape[1] % 2 == 0:
        raise ValueError(f"kernel: expected odd height and width (so it has a centre pixel), got {_shape(kernel)}")
    if border not in _BORDERS:
        raise ValueError(f"border: expected one of {', '.join(map(repr, _BORDERS))}, got {border!r}")
    if border == "reflect" and (k.shape[0] // 2 >= x.shape[0] or k.shape[1] // 2 >= x.shape[1]):
        raise ValueError(f"kernel: {k.shape[0]}x{k.shape[1]} is too large to reflect the borders of a "
                         f"{x.shape[0]}x{x.shape[1]} image (half the kernel must be smaller than the image); "
                         f"use border='zeros' or a smaller kernel")
    return x, k
