"""cvcourse.data: the bundled sample images and to_tensor."""
import numpy as np
import pytest
import torch

from cvcourse import data


@pytest.mark.parametrize("name", data.SAMPLE_IMAGES)
def test_sample_images_are_uint8_rgb_or_gray(name):
    rgb, gray = data.sample_image(name), data.sample_image(name, gray=True)
    assert rgb.dtype == gray.dtype == np.uint8
    assert rgb.ndim == 3 and rgb.shape[2] == 3 and gray.shape == rgb.shape[:2]


def test_gray_conversion_and_copies():
    rgb, gray = data.sample_image("chelsea"), data.sample_image("chelsea", gray=True)
    weighted = rgb.astype(np.float64) @ [0.299, 0.587, 0.114]
    assert np.abs(gray - weighted).max() <= 1.0
    camera = data.sample_image("camera")
    assert (camera[..., 0] == camera[..., 2]).all()            # a gray photo repeated over RGB
    camera[:] = 0
    assert data.sample_image("camera").any()                   # a new array each call


def test_unknown_name_lists_the_allowed_ones():
    with pytest.raises(ValueError, match=r"name: unknown sample image 'lena'; expected one of astronaut, camera, coffee"):
        data.sample_image("lena")


def test_to_tensor():
    x = data.to_tensor(np.array([[[0, 255, 51]]], np.uint8))
    assert x.dtype == torch.float32 and x.shape == (3, 1, 1)
    torch.testing.assert_close(x.flatten(), torch.tensor([0.0, 1.0, 0.2]))
    gray = data.to_tensor(data.sample_image("coins", gray=True))
    assert gray.shape == (1, 303, 384) and 0 <= gray.min() and gray.max() <= 1
    assert data.to_tensor(np.full((2, 3), 0.5)).dtype == torch.float32
    assert data.to_tensor(np.zeros((0, 3, 3), np.float32)).shape == (3, 0, 3)


@pytest.mark.parametrize("image, error, match", [
    (torch.zeros(3, 4, 4), TypeError, r"image: expected an ndarray HxW or HxWxC, got Tensor"),
    (np.zeros(4, np.uint8), ValueError, r"image: expected an ndarray HxW or HxWxC, got shape \(4,\)"),
    (np.full((2, 2), 2.0), ValueError, r"image: expected float values in \[0, 1\], got values in \[2, 2\]"),
    (np.zeros((2, 2), np.int64), TypeError, r"image: expected dtype uint8 or float in \[0, 1\], got int64"),
])
def test_to_tensor_bad_input(image, error, match):
    with pytest.raises(error, match=match):
        data.to_tensor(image)
