"""Instance-mask ops (`cvcourse.ops.masks`): masks_to_boxes, paste_masks_in_image and mask_iou against
slow loop references (torchvision's per-mask algorithms, written out here), hand-worked values, the
box convention of the shapes data set, gradients, properties, dtypes, empty inputs and every refused
input."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.autograd import gradcheck

from cvcourse.data.shapes import make_scene
from cvcourse.ops import box_iou, mask_iou, masks_to_boxes, paste_masks_in_image
from cvcourse.ops import masks as masks_module

PROPERTY = settings(max_examples=40, deadline=None)


def _random_masks(n, h, w, seed, p=None):
    """Blobs: random rectangles and discs, some overlapping the border, some a single pixel."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w]
    out = np.zeros((n, h, w), dtype=bool)
    for k in range(n):
        kind = rng.integers(3)
        cy, cx = rng.integers(-2, h + 2), rng.integers(-2, w + 2)
        if kind == 0:
            r = rng.uniform(0.5, max(h, w) / 2)
            out[k] = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
        elif kind == 1:
            hh, ww = rng.integers(1, h + 1), rng.integers(1, w + 1)
            out[k, max(cy, 0):cy + hh, max(cx, 0):cx + ww] = True
        else:
            out[k, rng.integers(h), rng.integers(w)] = True
        if p is not None:
            out[k] |= rng.random((h, w)) < p
        if not out[k].any():
            out[k, rng.integers(h), rng.integers(w)] = True
    return torch.from_numpy(out)


# ----------------------------------------------------------------------------- masks_to_boxes
def _ref_masks_to_boxes(masks):
    """torchvision.ops.masks_to_boxes, literally: one mask at a time."""
    boxes = torch.zeros((masks.shape[0], 4), dtype=torch.float)
    for index, mask in enumerate(masks):
        y, x = torch.where(mask != 0)
        boxes[index] = torch.stack([torch.min(x), torch.min(y), torch.max(x), torch.max(y)]).float()
    return boxes


def test_masks_to_boxes_golden():
    masks = torch.zeros(4, 5, 7, dtype=torch.bool)
    masks[0, 2, 3] = True                       # one pixel: a zero-area box on it
    masks[1, 1:4, 2] = masks[1, 3, 2:6] = True  # an L: rows 1-3, columns 2-5
    masks[2] = True                             # the whole image
    masks[3, 0, 0] = masks[3, 4, 6] = True      # two corners
    expected = torch.tensor([[3, 2, 3, 2], [2, 1, 5, 3], [0, 0, 6, 4], [0, 0, 6, 4]], dtype=torch.float32)
    torch.testing.assert_close(masks_to_boxes(masks), expected, rtol=0, atol=0)


@pytest.mark.parametrize("seed", range(3))
def test_masks_to_boxes_matches_loop_reference(seed):
    masks = _random_masks(30, 13, 17, seed, p=0.002 if seed else None)
    torch.testing.assert_close(masks_to_boxes(masks), _ref_masks_to_boxes(masks), rtol=0, atol=0)


@pytest.mark.parametrize("seed", range(4))
def test_masks_to_boxes_plus_one_is_the_shapes_box(seed):
    # cvcourse.data.shapes uses COCO's pixel-edge boxes: one past the last pixel
    scene = make_scene(seed, image_size=(48, 64), max_objects=6)
    boxes = masks_to_boxes(scene.masks)
    torch.testing.assert_close(boxes + torch.tensor([0.0, 0.0, 1.0, 1.0]), scene.boxes, rtol=0, atol=0)


@pytest.mark.parametrize("dtype", [torch.bool, torch.uint8, torch.int32, torch.int64])
def test_masks_to_boxes_dtypes(dtype):
    masks = _random_masks(6, 9, 11, 5)
    out = masks_to_boxes(masks.to(dtype) * (255 if dtype == torch.uint8 else 1))   # nonzero is foreground
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, _ref_masks_to_boxes(masks), rtol=0, atol=0)


@pytest.mark.parametrize("shape", [(0, 5, 5), (0, 0, 0)])
def test_masks_to_boxes_empty(shape):
    out = masks_to_boxes(torch.zeros(shape, dtype=torch.bool))
    assert out.shape == (0, 4) and out.dtype == torch.float32


@given(st.integers(0, 2**16), st.integers(1, 12), st.integers(1, 12))
@PROPERTY
def test_masks_to_boxes_box_is_tight(seed, h, w):
    masks = _random_masks(3, h, w, seed, p=0.05)
    for mask, (x1, y1, x2, y2) in zip(masks, masks_to_boxes(masks).long().tolist(), strict=True):
        inside = torch.zeros_like(mask)
        inside[y1:y2 + 1, x1:x2 + 1] = True
        assert not (mask & ~inside).any()                                   # every pixel in the box
        assert mask[:, x1].any() and mask[:, x2].any() and mask[y1].any() and mask[y2].any()   # edges touch it


@pytest.mark.parametrize("bad, error, match", [
    (torch.zeros(2, 3, 3, dtype=torch.bool), ValueError, r"masks: mask 0 is empty \(no pixel set\)"),
    (torch.tensor([[[True]], [[False]]]), ValueError, r"masks: mask 1 is empty"),
    (torch.ones(2, 0, 3, dtype=torch.bool), ValueError, r"masks: mask 0 is empty"),
    (torch.ones(3, 3, dtype=torch.bool), ValueError, r"masks: expected Tensor\[N, H, W\], got Tensor\[3, 3\]"),
    (torch.ones(1, 1, 3, 3, dtype=torch.bool), ValueError, r"got Tensor\[1, 1, 3, 3\]"),
    (torch.ones(1, 3, 3), TypeError, r"masks: expected a bool Tensor\[N, H, W\] .*got dtype torch.float32; threshold"),
    ([[[True]]], TypeError, r"masks: expected a bool Tensor\[N, H, W\], got list"),
])
def test_masks_to_boxes_refuses(bad, error, match):
    with pytest.raises(error, match=match):
        masks_to_boxes(bad)


# ----------------------------------------------------------------------------- paste_masks_in_image
def _ref_expand_boxes(boxes, scale):
    w_half = (boxes[:, 2] - boxes[:, 0]) * 0.5
    h_half = (boxes[:, 3] - boxes[:, 1]) * 0.5
    x_c = (boxes[:, 2] + boxes[:, 0]) * 0.5
    y_c = (boxes[:, 3] + boxes[:, 1]) * 0.5
    w_half *= scale
    h_half *= scale
    boxes_exp = torch.zeros_like(boxes)
    boxes_exp[:, 0] = x_c - w_half
    boxes_exp[:, 2] = x_c + w_half
    boxes_exp[:, 1] = y_c - h_half
    boxes_exp[:, 3] = y_c + h_half
    return boxes_exp


def _ref_paste_mask_in_image(mask, box, im_h, im_w):
    w = max(int(box[2] - box[0] + 1), 1)
    h = max(int(box[3] - box[1] + 1), 1)
    mask = F.interpolate(mask[None, None], size=(h, w), mode="bilinear", align_corners=False)[0][0]
    im_mask = torch.zeros((im_h, im_w), dtype=mask.dtype)
    x_0, x_1 = max(box[0], 0), min(box[2] + 1, im_w)
    y_0, y_1 = max(box[1], 0), min(box[3] + 1, im_h)
    im_mask[y_0:y_1, x_0:x_1] = mask[(y_0 - box[1]):(y_1 - box[1]), (x_0 - box[0]):(x_1 - box[0])]
    return im_mask


def _ref_paste(masks, boxes, img_shape, padding=1):
    """torchvision.models.detection.roi_heads.paste_masks_in_image, literally: one mask at a time."""
    scale = float(masks.shape[-1] + 2 * padding) / masks.shape[-1]
    masks = F.pad(masks, (padding,) * 4)
    boxes = _ref_expand_boxes(boxes, scale).to(dtype=torch.int64)
    res = [_ref_paste_mask_in_image(m[0], b, *img_shape) for m, b in zip(masks, boxes, strict=True)]
    return torch.stack(res)[:, None] if res else masks.new_empty((0, 1, *img_shape))


def _expanded_int_boxes(boxes, m, padding):
    return _ref_expand_boxes(boxes.clone(), (m + 2 * padding) / m).to(torch.int64)


def _paste_case(n, m, h, w, seed, dtype=torch.float32):
    """Probabilities and boxes of every size (zero-width ones included) whose expanded integer box meets
    the image (torchvision's loop fails on one entirely outside it)."""
    g = torch.Generator().manual_seed(seed)
    masks = torch.rand(n, 1, m, m, generator=g, dtype=dtype)
    xy = torch.rand(n, 2, generator=g, dtype=dtype) * torch.tensor([w + 10.0, h + 10.0], dtype=dtype) - 8
    wh = torch.rand(n, 2, generator=g, dtype=dtype) * torch.tensor([w, h], dtype=dtype) * 0.8
    wh[: n // 8] = 0
    return masks, torch.cat([xy, xy + wh], 1)


def _meets_image(boxes, m, padding, h, w):
    b = _expanded_int_boxes(boxes, m, padding)
    return (b[:, 2] >= 0) & (b[:, 3] >= 0) & (b[:, 0] < w) & (b[:, 1] < h)


def test_paste_golden_profile():
    # a 1x1 mask of 1, padding 1: samples [0, 1, 0]; box (4, 4, 6, 6) grows by 3 about its centre to
    # (2, 2, 8, 8): 7 pixels. Bilinear resizing 3 -> 7 reads source x = (j + 0.5) * 3/7 - 0.5 (>= 0):
    # 0, 1/7, 4/7, 1, 4/7, 1/7, 0 at columns 2..8, and the same down the rows
    profile = torch.tensor([0, 1 / 7, 4 / 7, 1, 4 / 7, 1 / 7, 0], dtype=torch.float64)
    expected = torch.zeros(10, 11, dtype=torch.float64)
    expected[2:9, 2:9] = profile[:, None] * profile[None, :]
    out = paste_masks_in_image(torch.ones(1, 1, 1, 1, dtype=torch.float64), torch.tensor([[4.0, 4, 6, 6]]), (10, 11))
    assert out.shape == (1, 1, 10, 11) and out.dtype == torch.float64
    torch.testing.assert_close(out[0, 0], expected, rtol=0, atol=1e-15)


def test_paste_without_padding_fills_the_integer_box_inclusive():
    # padding 0: the box is not grown; (1.7, 1.2, 4.9, 3.0) truncates to columns 1..4, rows 1..3
    out = paste_masks_in_image(torch.full((1, 3, 3), 0.8), torch.tensor([[1.7, 1.2, 4.9, 3.0]]), (6, 7), padding=0)
    expected = torch.zeros(6, 7)
    expected[1:4, 1:5] = 0.8
    torch.testing.assert_close(out[0, 0], expected, rtol=0, atol=1e-7)


@pytest.mark.parametrize("padding", [0, 1, 3])
@pytest.mark.parametrize("m", [1, 7, 28])
@pytest.mark.parametrize("dtype, atol", [(torch.float32, 1e-5), (torch.float64, 1e-12)])
def test_paste_matches_torchvision_loop(padding, m, dtype, atol):
    masks, boxes = _paste_case(60, m, 37, 45, seed=m + padding, dtype=dtype)
    keep = _meets_image(boxes, m, padding, 37, 45)
    assert keep.sum() > 40
    out = paste_masks_in_image(masks, boxes, (37, 45), padding)
    assert out.shape == (60, 1, 37, 45) and out.dtype == dtype
    torch.testing.assert_close(out[keep], _ref_paste(masks[keep], boxes[keep], (37, 45), padding), rtol=0, atol=atol)


def test_paste_box_outside_the_image_gives_zeros():
    masks = torch.rand(4, 1, 5, 5, generator=torch.Generator().manual_seed(0))
    boxes = torch.tensor([[-30.0, 2, -10, 8], [50, 2, 60, 8], [2, -40, 8, -20], [2, 30, 8, 50]])
    assert not _meets_image(boxes, 5, 1, 20, 24).any()
    out = paste_masks_in_image(masks, boxes, (20, 24))
    assert out.shape == (4, 1, 20, 24) and (out == 0).all()
    with pytest.raises(RuntimeError):    # torchvision's loop: a shape mismatch on the left of the image
        _ref_paste(masks[:1], boxes[:1], (20, 24))


def test_paste_accepts_n_m_m_masks_and_integer_boxes():
    masks, boxes = _paste_case(10, 6, 20, 20, seed=3)
    boxes = boxes.round()
    want = paste_masks_in_image(masks, boxes, (20, 20))
    torch.testing.assert_close(paste_masks_in_image(masks[:, 0], boxes, (20, 20)), want, rtol=0, atol=0)
    torch.testing.assert_close(paste_masks_in_image(masks, boxes.long(), [20, 20]), want, rtol=0, atol=0)


@pytest.mark.parametrize("dtype, atol", [(torch.float16, 2e-3), (torch.bfloat16, 1e-2)])
def test_paste_half_precision(dtype, atol):
    masks, boxes = _paste_case(12, 8, 24, 30, seed=4)
    masks = masks.to(dtype)
    out = paste_masks_in_image(masks, boxes, (24, 30))
    assert out.dtype == dtype
    torch.testing.assert_close(out.float(), paste_masks_in_image(masks.float(), boxes, (24, 30)), rtol=0, atol=atol)


def test_paste_gradcheck():
    masks, boxes = _paste_case(3, 4, 9, 10, seed=5, dtype=torch.float64)
    masks.requires_grad_()
    assert gradcheck(lambda m: paste_masks_in_image(m, boxes, (9, 10)), (masks,))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_paste_empty(dtype):
    out = paste_masks_in_image(torch.zeros(0, 1, 28, 28, dtype=dtype), torch.zeros(0, 4), (5, 6))
    assert out.shape == (0, 1, 5, 6) and out.dtype == dtype


_M, _B = torch.rand(2, 1, 4, 4), torch.tensor([[0.0, 0, 3, 3], [1, 1, 5, 5]])


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(masks=_M.tolist()), TypeError, r"masks: expected a float Tensor\[N, 1, M, M\], got list"),
    (dict(masks=_M > 0.5), TypeError, r"masks: expected float probabilities .*got dtype torch.bool"),
    (dict(masks=torch.rand(2, 1, 4, 5)), ValueError, r"masks: expected Tensor\[N, 1, M, M\] or Tensor\[N, M, M\] \(square"),
    (dict(masks=torch.rand(2, 2, 4, 4)), ValueError, r"masks: .*got Tensor\[2, 2, 4, 4\]"),
    (dict(masks=torch.rand(2, 0, 0)), ValueError, r"masks: .*M >= 1"),
    (dict(masks=torch.rand(4, 4)), ValueError, r"masks: .*got Tensor\[4, 4\]"),
    (dict(masks=torch.cat([_M[:1], torch.full((1, 1, 4, 4), float("nan"))])), ValueError, r"masks: values must be finite; mask 1"),
    (dict(boxes=_B[:1]), ValueError, r"boxes: expected Tensor\[2, 4\] \(one box per mask\), got Tensor\[1, 4\]"),
    (dict(boxes=torch.tensor([[0.0, 0, 3, 3], [5, 1, 1, 5]])), ValueError, r"boxes: expected x2 >= x1"),
    (dict(boxes=torch.tensor([[0.0, 0, 3, float("inf")], [1, 1, 5, 5]])), ValueError, r"boxes: coordinates must be finite"),
    (dict(img_shape=(5,)), TypeError, r"img_shape: expected \(height, width\)"),
    (dict(img_shape=8), TypeError, r"img_shape: expected \(height, width\)"),
    (dict(img_shape=(0, 5)), ValueError, r"img_shape\[0\] \(height\): expected an int >= 1"),
    (dict(img_shape=(5, 5.0)), TypeError, r"img_shape\[1\] \(width\): expected an int"),
    (dict(img_shape=(True, 5)), TypeError, r"img_shape\[0\] \(height\): expected an int"),
    (dict(padding=-1), ValueError, r"padding: expected an int >= 0"),
    (dict(padding=1.0), TypeError, r"padding: expected an int"),
])
def test_paste_refuses(kwargs, error, match):
    args = dict(masks=_M, boxes=_B, img_shape=(8, 8)) | kwargs
    with pytest.raises(error, match=match):
        paste_masks_in_image(**args)


# ----------------------------------------------------------------------------- mask_iou
def _ref_mask_iou(masks1, masks2):
    out = torch.zeros(len(masks1), len(masks2), dtype=torch.float64)
    for i, a in enumerate(masks1.numpy()):
        for j, b in enumerate(masks2.numpy()):
            union = np.logical_or(a, b).sum()
            out[i, j] = np.logical_and(a, b).sum() / union if union else 0.0
    return out


def test_mask_iou_golden():
    a = torch.zeros(3, 4, 6, dtype=torch.bool)
    a[0, :2, :2] = True          # 4 px
    a[1, :2, 1:4] = True         # 6 px, 2 shared with the first: 2 / 8
    b = a.clone()
    b[2, 3, 5] = True            # a[2] is empty; b[2] is one pixel
    expected = torch.tensor([[1, 2 / 8, 0], [2 / 8, 1, 0], [0, 0, 0]], dtype=torch.float64)
    torch.testing.assert_close(mask_iou(a, b, dtype=torch.float64), expected, rtol=0, atol=0)
    assert mask_iou(a[2:], a[2:]).item() == 0.0    # two empty masks: union 0 -> 0, not NaN


@pytest.mark.parametrize("seed", range(3))
def test_mask_iou_matches_loop_reference(seed):
    masks1, masks2 = _random_masks(11, 15, 13, seed, p=0.05), _random_masks(7, 15, 13, seed + 10)
    masks2[:3] = masks1[:3]
    masks1[-1] = False
    out = mask_iou(masks1, masks2)
    assert out.shape == (11, 7) and out.dtype == torch.float32
    want = _ref_mask_iou(masks1, masks2)
    torch.testing.assert_close(out, want.float(), rtol=0, atol=0)            # the float64 ratio, rounded once
    torch.testing.assert_close(mask_iou(masks1, masks2, dtype=torch.float64), want, rtol=0, atol=0)


def test_mask_iou_counts_in_float64_for_large_images(monkeypatch):
    monkeypatch.setattr(masks_module, "_EXACT_FLOAT32", 10)      # 13 x 15 pixels: above it
    masks1, masks2 = _random_masks(5, 15, 13, 0, p=0.05), _random_masks(4, 15, 13, 1)
    torch.testing.assert_close(mask_iou(masks1, masks2, dtype=torch.float64), _ref_mask_iou(masks1, masks2), rtol=0, atol=0)


@given(st.integers(0, 2**16))
@PROPERTY
def test_mask_iou_properties(seed):
    masks1, masks2 = _random_masks(4, 6, 7, seed, p=0.1), _random_masks(3, 6, 7, seed + 1, p=0.1)
    out = mask_iou(masks1, masks2)
    assert ((out >= 0) & (out <= 1)).all()
    assert torch.equal(out, mask_iou(masks2, masks1).T)
    assert (mask_iou(masks1, masks1).diagonal() == 1).all()            # _random_masks are never empty


def test_mask_iou_of_filled_boxes_is_box_iou():
    # masks that fill integer boxes (pixel-edge coordinates) overlap as the boxes do
    boxes = torch.tensor([[1, 2, 5, 9], [3, 3, 12, 7], [0, 0, 20, 20], [8, 1, 9, 19], [4, 4, 6, 6]])
    masks = torch.zeros(5, 20, 20, dtype=torch.bool)
    for m, (x1, y1, x2, y2) in zip(masks, boxes.tolist(), strict=True):
        m[y1:y2, x1:x2] = True
    torch.testing.assert_close(mask_iou(masks, masks, dtype=torch.float64), box_iou(boxes.double(), boxes.double()),
                               rtol=0, atol=1e-15)


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int64])
def test_mask_iou_integer_masks(dtype):
    masks1, masks2 = _random_masks(5, 8, 9, 2), _random_masks(4, 8, 9, 3)
    torch.testing.assert_close(mask_iou(masks1.to(dtype), masks2.to(dtype)), mask_iou(masks1, masks2), rtol=0, atol=0)


@pytest.mark.parametrize("n, m", [(0, 3), (3, 0), (0, 0)])
def test_mask_iou_empty(n, m):
    out = mask_iou(torch.zeros(n, 4, 5, dtype=torch.bool), torch.ones(m, 4, 5, dtype=torch.bool))
    assert out.shape == (n, m) and out.dtype == torch.float32


_GM = torch.ones(1, 3, 4, dtype=torch.bool)


@pytest.mark.parametrize("which", ["masks1", "masks2"])
@pytest.mark.parametrize("bad, error, match", [
    (torch.ones(1, 3, 4), TypeError, r"expected a bool Tensor\[N, H, W\] \(or integer 0/1\), got dtype torch.float32; "
                                     r"threshold probabilities first"),
    (torch.ones(3, 4, dtype=torch.bool), ValueError, r"expected Tensor\[N, H, W\], got Tensor\[3, 4\]"),
    ([[[True]]], TypeError, r"expected a bool Tensor\[N, H, W\], got list"),
])
def test_mask_iou_refuses(which, bad, error, match):
    args = (bad, _GM) if which == "masks1" else (_GM, bad)
    with pytest.raises(error, match=f"^{which}: {match}"):
        mask_iou(*args)


def test_mask_iou_refuses_different_sizes_and_dtypes():
    with pytest.raises(ValueError, match=r"masks1 and masks2: expected masks of one size, got H x W = 3 x 4 and 4 x 3"):
        mask_iou(_GM, torch.ones(2, 4, 3, dtype=torch.bool))
    with pytest.raises(TypeError, match=r"dtype: expected a floating-point torch.dtype, got torch.int64"):
        mask_iou(_GM, _GM, dtype=torch.int64)
