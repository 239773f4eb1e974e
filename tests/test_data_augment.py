"""cvcourse.data.augment: `affine` against a pixel loop of the documented map, torch.rot90, shifted copies
(zeros, nearest, reflect), gradcheck; `RandomAugment`: exact identity, exact flips, brightness, Keras' zoom,
determinism with a generator, shapes and dtypes, every argument check."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from cvcourse import data
from cvcourse.data.augment import FILLS, RandomAugment, affine


def loop_affine(image, angle, translate, scale, shear):
    """The map of the module docstring, one output pixel at a time, bilinear with zeros outside (float64)."""
    c, h, w = image.shape
    a, s = math.radians(angle), math.radians(shear)
    rot = np.array([[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]])
    m = rot @ np.array([[1, math.tan(s)], [0, 1]]) @ np.diag(scale)
    m_inv = np.linalg.inv(m)
    img = image.numpy()
    out = np.zeros_like(img)
    for i in range(h):
        for j in range(w):
            p = np.array([j + 0.5 - w / 2, i + 0.5 - h / 2]) - translate    # relative to the centre
            x, y = m_inv @ p + [w / 2 - 0.5, h / 2 - 0.5]                    # source, in pixel indices
            x0, y0 = math.floor(x), math.floor(y)
            for yy, xx, wt in ((y0, x0, (1 - (x - x0)) * (1 - (y - y0))), (y0, x0 + 1, (x - x0) * (1 - (y - y0))),
                               (y0 + 1, x0, (1 - (x - x0)) * (y - y0)), (y0 + 1, x0 + 1, (x - x0) * (y - y0))):
                if 0 <= yy < h and 0 <= xx < w:
                    out[:, i, j] += wt * img[:, yy, xx]
    return torch.from_numpy(out)


# ----------------------------------------------------------------------------- affine
@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31), h=st.integers(1, 9), w=st.integers(1, 9), angle=st.floats(-180, 180),
       tx=st.floats(-4, 4), ty=st.floats(-4, 4), sx=st.floats(0.3, 3), sy=st.floats(0.3, 3), shear=st.floats(-60, 60))
def test_affine_matches_the_pixel_loop(seed, h, w, angle, tx, ty, sx, sy, shear):
    image = torch.rand(2, h, w, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    got = affine(image, angle, (tx, ty), (sx, sy), shear, fill="zeros")
    torch.testing.assert_close(got, loop_affine(image, angle, np.array([tx, ty]), [sx, sy], shear), atol=1e-9, rtol=0)


@pytest.mark.parametrize("hw", [(5, 5), (6, 6), (4, 7)])
def test_right_angles_are_rot90_and_flips(hw):
    x = torch.rand(3, 2, *hw, dtype=torch.float64)
    if hw[0] == hw[1]:
        torch.testing.assert_close(affine(x, 90), torch.rot90(x, 1, (-2, -1)), atol=1e-12, rtol=0)
        torch.testing.assert_close(affine(x, -90), torch.rot90(x, -1, (-2, -1)), atol=1e-12, rtol=0)
        torch.testing.assert_close(affine(x, 270), torch.rot90(x, 3, (-2, -1)), atol=1e-12, rtol=0)
    torch.testing.assert_close(affine(x, 180), x.flip(-1, -2), atol=1e-12, rtol=0)
    torch.testing.assert_close(affine(x), x, atol=1e-12, rtol=0)


@pytest.mark.parametrize("tx, ty", [(2, 1), (-3, 0), (0, -2), (1, -1)])
def test_whole_pixel_shifts_are_padded_rolls(tx, ty):
    x = torch.rand(2, 3, 6, 7, dtype=torch.float64)
    h, w = x.shape[-2:]

    def shifted(padded):                                       # padded by 3 on every side, then cropped
        return padded[..., 3 - ty:3 - ty + h, 3 - tx:3 - tx + w]

    zeros = shifted(F.pad(x, (3, 3, 3, 3)))
    nearest = shifted(F.pad(x, (3, 3, 3, 3), mode="replicate"))
    symmetric = shifted(torch.from_numpy(np.pad(x.numpy(), ((0, 0), (0, 0), (3, 3), (3, 3)), mode="symmetric")))
    for fill, want in (("zeros", zeros), ("nearest", nearest), ("reflect", symmetric)):
        torch.testing.assert_close(affine(x, translate=(tx, ty), fill=fill), want, atol=1e-12, rtol=0)
    # the content moves right by tx and down by ty
    if tx > 0 and ty >= 0:
        assert affine(x, translate=(tx, ty), fill="zeros")[0, 0, ty, tx].item() == pytest.approx(x[0, 0, 0, 0].item())


def test_per_image_parameters_and_golden_zoom():
    x = torch.rand(3, 1, 8, 8, dtype=torch.float64)
    angles = torch.tensor([0.0, 90.0, 180.0])
    got = affine(x, angles)
    for i, k in enumerate((0, 1, 2)):
        torch.testing.assert_close(got[i], torch.rot90(x[i], k, (-2, -1)), atol=1e-12, rtol=0)
    torch.testing.assert_close(affine(x, translate=torch.tensor([[1.0, 0], [0, 0], [2, 0]]), fill="zeros")[1], x[1])
    # a 2x zoom of a 2x2 checkerboard: output pixel (0, 0), centre (-0.5, -0.5) from the image's centre, samples
    # (-0.25, -0.25), i.e. pixel coordinates (0.25, 0.25): 0.75 * 0.75 * 0 + 2 * 0.75 * 0.25 * 1 + 0.25 * 0.25 * 0
    board = torch.tensor([[[0.0, 1.0], [1.0, 0.0]]], dtype=torch.float64)
    zoomed = affine(board, scale=2, fill="nearest")
    torch.testing.assert_close(zoomed, torch.tensor([[[0.375, 0.625], [0.625, 0.375]]], dtype=torch.float64))
    constant = torch.full((1, 5, 5), 0.3)
    torch.testing.assert_close(affine(constant, 33, (1.5, -0.7), 0.7, 12), constant)   # reflect keeps a constant


@pytest.mark.parametrize("fill", list(FILLS))
def test_affine_gradcheck(fill):
    x = torch.rand(1, 2, 4, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: affine(t, 30, (0.6, -0.3), (1.2, 0.9), 10, fill), (x,))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_affine_shapes_dtypes_and_empty_batch(dtype):
    assert affine(torch.rand(3, 4, 5, dtype=dtype), 10).shape == (3, 4, 5)
    assert affine(torch.rand(2, 3, 4, 5, dtype=dtype), 10).dtype == dtype
    assert affine(torch.zeros(0, 3, 4, 5, dtype=dtype), 10).shape == (0, 3, 4, 5)


# ----------------------------------------------------------------------------- RandomAugment
def test_all_ranges_zero_is_the_exact_identity():
    x = torch.rand(4, 3, 8, 8)
    assert torch.equal(RandomAugment(horizontal_flip=False)(x), x)
    assert torch.equal(RandomAugment(horizontal_flip=False, zoom_range=(1, 1), brightness_range=(1, 1))(x), x)


def test_flips_are_exact_and_follow_the_sampled_parameters():
    x = torch.rand(64, 3, 5, 6)
    aug = RandomAugment(horizontal_flip=True, vertical_flip=True, generator=torch.Generator().manual_seed(3))
    out = aug(x)
    p = RandomAugment(horizontal_flip=True, vertical_flip=True, generator=torch.Generator().manual_seed(3)).sample(64)
    for i in range(64):
        want = x[i].flip(-1) if p["hflip"][i] else x[i]
        assert torch.equal(out[i], want.flip(-2) if p["vflip"][i] else want)
    assert 10 < int(p["hflip"].sum()) < 54 and 10 < int(p["vflip"].sum()) < 54
    assert not RandomAugment(horizontal_flip=False).sample(8)["hflip"].any()


def test_brightness_scales_and_clips():
    x = torch.rand(5, 3, 4, 4)
    torch.testing.assert_close(RandomAugment(horizontal_flip=False, brightness_range=(0.5, 0.5))(x), x * 0.5)
    assert torch.equal(RandomAugment(horizontal_flip=False, brightness_range=(3, 3))(torch.full((3, 2, 2), 0.5)),
                       torch.ones(3, 2, 2))
    aug = RandomAugment(horizontal_flip=False, brightness_range=(0.2, 1.0), generator=torch.Generator().manual_seed(0))
    factors = aug(torch.full((200, 1, 1, 1), 1.0)).flatten()
    assert 0.2 <= factors.min() < 0.3 and 0.9 < factors.max() <= 1.0


def test_keras_zoom_and_the_drawn_ranges():
    x = torch.rand(3, 1, 8, 8, dtype=torch.float64)
    # Keras: zoom 0.5 resamples at half the distance from the centre, i.e. a 2x magnification
    torch.testing.assert_close(RandomAugment(horizontal_flip=False, zoom_range=(0.5, 0.5))(x), affine(x, scale=2))
    aug = RandomAugment(rotation_range=20, width_shift_range=0.25, height_shift_range=0.5, shear_range=8,
                        zoom_range=0.2, brightness_range=(0.7, 1.3), generator=torch.Generator().manual_seed(1))
    p = aug.sample(2000, height=10, width=8)
    assert p["angle"].abs().max() <= 20 and p["angle"].abs().max() > 19
    assert p["translate"][:, 0].abs().max() <= 2 and p["translate"][:, 1].abs().max() <= 5
    assert p["translate"][:, 1].abs().max() > 4.9 and p["shear"].abs().max() <= 8
    assert (1 / p["scale"]).min() >= 0.8 and (1 / p["scale"]).max() <= 1.2
    assert not torch.equal(p["scale"][:, 0], p["scale"][:, 1])    # zx, zy drawn independently, as Keras
    assert p["brightness"].min() >= 0.7 and p["brightness"].max() <= 1.3


def test_random_augment_is_deterministic_with_a_generator_and_differs_per_image():
    x = torch.rand(1, 3, 16, 16).expand(6, 3, 16, 16)
    kw = dict(rotation_range=40, width_shift_range=0.1, shear_range=10, zoom_range=0.2, brightness_range=(0.8, 1.2))
    a = RandomAugment(**kw, generator=torch.Generator().manual_seed(7))(x)
    b = RandomAugment(**kw, generator=torch.Generator().manual_seed(7))(x)
    assert torch.equal(a, b)
    assert not torch.equal(a[0], a[1])                          # each image its own draw
    assert torch.isfinite(a).all() and a.min() >= 0 and a.max() <= 1
    torch.manual_seed(0)
    c = RandomAugment(**kw)(x)                                   # the global generator
    torch.manual_seed(0)
    assert torch.equal(c, RandomAugment(**kw)(x))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", [(3, 9, 7), (4, 1, 9, 7), (0, 3, 4, 4)])
def test_random_augment_shapes_dtypes_and_use_as_a_transform(dtype, shape):
    aug = RandomAugment(rotation_range=15, zoom_range=0.1, fill="zeros", generator=torch.Generator().manual_seed(0))
    out = aug(torch.rand(shape, dtype=dtype))
    assert out.shape == shape and out.dtype == dtype
    model = torch.nn.Sequential(aug, torch.nn.Flatten())
    assert model(torch.rand(2, 3, 4, 4, dtype=dtype)).shape == (2, 48)
    assert "rotation_range=15.0" in repr(aug) and data.RandomAugment is RandomAugment


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("kwargs, error, match", [
    (dict(horizontal_flip=1), TypeError, r"horizontal_flip: expected a bool, got int 1"),
    (dict(vertical_flip="no"), TypeError, r"vertical_flip: expected a bool"),
    (dict(rotation_range=-5), ValueError, r"rotation_range: expected a value in \[0, inf\), got -5"),
    (dict(rotation_range="30"), TypeError, r"rotation_range: expected a finite number, got str"),
    (dict(rotation_range=math.nan), TypeError, r"rotation_range: expected a finite number, got float nan"),
    (dict(width_shift_range=1.0), ValueError, r"width_shift_range: expected a value in \[0, 1\), got 1.0"),
    (dict(height_shift_range=-0.1), ValueError, r"height_shift_range: expected a value in \[0, 1\)"),
    (dict(shear_range=90), ValueError, r"shear_range: expected a value in \[0, 90\), got 90"),
    (dict(zoom_range=1.0), ValueError, r"zoom_range: expected a value in \[0, 1\), got 1.0"),
    (dict(zoom_range=(0, 1.2)), ValueError, r"zoom_range: expected 0 < low, got \(0, 1.2\)"),
    (dict(zoom_range=(1.2, 0.8)), ValueError, r"zoom_range: expected low <= high, got \(1.2, 0.8\)"),
    (dict(zoom_range=(1, 2, 3)), TypeError, r"zoom_range: expected a \(low, high\) pair"),
    (dict(brightness_range=0.5), TypeError, r"brightness_range: expected a \(low, high\) pair, got 0.5"),
    (dict(brightness_range=(-0.5, 1)), ValueError, r"brightness_range: expected a value in \[0, inf\), got -0.5"),
    (dict(fill="wrap"), ValueError, r"fill: expected one of reflect, nearest, zeros, got 'wrap'"),
    (dict(generator=0), TypeError, r"generator: expected None or a torch.Generator, got int"),
])
def test_bad_augment_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        RandomAugment(**kwargs)


@pytest.mark.parametrize("call, error, match", [
    (lambda: affine(np.zeros((3, 4, 4))), TypeError, r"images: expected a float Tensor\[N, C, H, W\] or Tensor\[C, H, W\], got ndarray"),
    (lambda: affine(torch.zeros(4, 4)), ValueError, r"images: expected a Tensor\[N, C, H, W\] or Tensor\[C, H, W\], got shape \(4, 4\)"),
    (lambda: affine(torch.zeros(3, 4, 4, dtype=torch.uint8)), TypeError, r"images: expected a float tensor \(uint8 images: divide by 255\), got torch.uint8"),
    (lambda: RandomAugment()(torch.zeros(1, 1, 2, 3, 4)), ValueError, r"images: expected a Tensor\[N, C, H, W\]"),
    (lambda: affine(torch.zeros(3, 4, 4), fill="constant"), ValueError, r"fill: expected one of reflect, nearest, zeros"),
    (lambda: affine(torch.zeros(3, 4, 4), scale=0), ValueError, r"scale: expected values > 0, got 0"),
    (lambda: affine(torch.zeros(3, 4, 4), scale=(1, -2)), ValueError, r"scale: expected values > 0, got -2"),
    (lambda: affine(torch.zeros(3, 4, 4), shear=90), ValueError, r"shear: expected degrees in \(-90, 90\), got 90"),
    (lambda: affine(torch.zeros(3, 4, 4), angle=math.inf), ValueError, r"angle: expected finite values"),
    (lambda: affine(torch.zeros(3, 4, 4), angle="10"), TypeError, r"angle: expected a number, a Tensor\[N\] or a Tensor\[N, 1\], got '10'"),
    (lambda: affine(torch.zeros(3, 4, 4), translate=(1, 2, 3)), TypeError, r"translate: expected a number, a pair, a Tensor\[N\] or a Tensor\[N, 2\]"),
    (lambda: affine(torch.zeros(2, 3, 4, 4), angle=torch.zeros(3)), ValueError,
     r"angle: expected one number or a Tensor\[N\] with N = 2, got shape \(3,\)"),
    (lambda: affine(torch.zeros(2, 3, 4, 4), translate=torch.zeros(2, 3)), ValueError,
     r"translate: expected one number or a Tensor\[N\] or Tensor\[N, 2\] with N = 2, got shape \(2, 3\)"),
])
def test_bad_affine_calls(call, error, match):
    with pytest.raises(error, match=match):
        call()
