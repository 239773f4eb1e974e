"""cvcourse.data.shapes: the synthetic shapes data set. Boxes against pycocotools' mask.toBbox and a
pixel loop, masks against the image's pixels, determinism per index, every argument check."""
import math

import numpy as np
import pycocotools.mask as mask_utils
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cvcourse import data
from cvcourse.data import shapes
from cvcourse.data.shapes import CLASSES, SHAPES, ShapesDataset, collate, make_scene, scenes
from cvcourse.ops import box_iou


def loop_box(mask):
    """The pixel-edge box of a bool HxW mask, one pixel at a time."""
    x1 = y1 = math.inf
    x2 = y2 = -math.inf
    for y in range(mask.shape[0]):
        for x in range(mask.shape[1]):
            if mask[y, x]:
                x1, y1, x2, y2 = min(x1, x), min(y1, y), max(x2, x + 1), max(y2, y + 1)
    return [x1, y1, x2, y2]


def check_scene(scene, h, w, n_classes):
    """Invariants every scene satisfies."""
    image, boxes, labels, masks = scene
    k = len(labels)
    assert image.dtype == np.uint8 and image.shape == (h, w, 3)
    assert boxes.dtype == torch.float32 and boxes.shape == (k, 4)
    assert labels.dtype == torch.int64 and masks.dtype == torch.bool and masks.shape == (k, h, w)
    assert ((labels >= 0) & (labels < n_classes)).all()
    assert (masks.sum(0) <= 1).all(), "a pixel belongs to at most one object"
    assert masks.flatten(1).any(1).all(), "no object is completely hidden"
    for box, m in zip(boxes.tolist(), masks.numpy(), strict=True):
        assert box == loop_box(m)
        assert len(np.unique(image[m], axis=0)) == 1, "an object's visible pixels have one colour"


# ----------------------------------------------------------------------------- scenes
def test_scene_golden_and_against_pycocotools():
    scene = make_scene(3)
    check_scene(scene, 128, 128, len(CLASSES))
    masks = scene.masks.numpy()
    rle = mask_utils.encode(np.asfortranarray(masks.transpose(1, 2, 0).astype(np.uint8)))
    xywh = torch.from_numpy(mask_utils.toBbox(rle)).float()       # COCO: (x, y, w, h), w = pixel count
    torch.testing.assert_close(scene.boxes, torch.cat([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], 1))
    assert scene.boxes.min() >= 0 and scene.boxes.max() <= 128


def test_same_seed_same_scene_other_seed_other_scene():
    a, b, c = make_scene(7), make_scene(7), make_scene(8)
    assert np.array_equal(a.image, b.image) and torch.equal(a.masks, b.masks) and torch.equal(a.boxes, b.boxes)
    assert not np.array_equal(a.image, c.image)


def test_square_without_occlusion_fills_its_box_and_shapes_have_their_area():
    # max_iou=0: boxes never overlap, so nothing is occluded and each mask is the whole shape
    ratios = {name: [] for name in SHAPES}
    for seed in range(12):
        s = make_scene(seed, classes=SHAPES, min_objects=3, max_objects=5, max_iou=0.0)
        assert (box_iou(s.boxes, s.boxes).fill_diagonal_(0) == 0).all()
        for box, label, m in zip(s.boxes, s.labels, s.masks, strict=True):
            w, h = (box[2:] - box[:2]).tolist()
            ratios[SHAPES[label]].append(m.sum().item() / (w * h))
            if SHAPES[label] == "circle":                          # a digital circle of radius r spans 2r + 1 pixels
                assert abs(m.sum().item() / (math.pi * ((w - 1) / 2) ** 2) - 1) < 0.06
            if SHAPES[label] in ("square", "circle", "cross"):
                assert w == h
    assert all(r == 1.0 for r in ratios["square"])
    assert all(abs(r - 5 / 9) < 0.08 for r in ratios["cross"])              # a plus sign, bars side/3 thick
    assert all(0.35 < r < 0.65 for r in ratios["triangle"])                  # rotated: at most 1/2 + rounding
    assert all(0.45 < r < 0.9 for r in ratios["ellipse"])
    assert all(ratios.values())


def test_min_visible_one_forbids_occlusion_and_overlap_occurs_otherwise():
    kw = dict(classes=("square",), min_objects=5, max_objects=5, max_iou=1.0)
    for seed in range(5):
        s = make_scene(seed, min_visible=1.0, **kw)
        areas = (s.boxes[:, 2:] - s.boxes[:, :2]).prod(1)
        assert torch.equal(s.masks.flatten(1).sum(1).float(), areas)             # every square is whole
    occluded = 0
    for seed in range(5):
        s = make_scene(seed, min_visible=0.3, **kw)
        areas = (s.boxes[:, 2:] - s.boxes[:, :2]).prod(1)
        occluded += int((s.masks.flatten(1).sum(1).float() < areas).sum())
    assert occluded > 0


@pytest.mark.parametrize("image_size, hw", [(64, (64, 64)), ((48, 96), (48, 96)), ((96, 40), (96, 40))])
def test_image_sizes(image_size, hw):
    s = make_scene(1, image_size=image_size, min_objects=2, max_objects=4)
    check_scene(s, *hw, len(CLASSES))
    assert (s.boxes[:, 2] <= hw[1]).all() and (s.boxes[:, 3] <= hw[0]).all()


def test_empty_scene_has_empty_targets_of_the_right_shape():
    s = make_scene(0, image_size=32, min_objects=0, max_objects=0)
    assert s.boxes.shape == (0, 4) and s.boxes.dtype == torch.float32
    assert s.labels.shape == (0,) and s.labels.dtype == torch.int64
    assert s.masks.shape == (0, 32, 32) and s.masks.dtype == torch.bool


def test_backgrounds_and_class_subsets():
    noise, gradient = make_scene(0, background="noise", min_objects=0, max_objects=0), \
        make_scene(0, background="gradient", min_objects=0, max_objects=0)
    # pixel noise (std 25) makes neighbouring pixels differ far more than along a gradient (std 3)
    assert np.abs(np.diff(noise.image.astype(float), axis=1)).mean() > 15
    assert np.abs(np.diff(gradient.image.astype(float), axis=1)).mean() < 8
    s = make_scene(4, classes=("cross", "ellipse"), min_objects=4, max_objects=4)
    check_scene(s, 128, 128, 2)


def test_placement_that_cannot_succeed_skips_objects():
    # 20 large shapes with no overlap allowed cannot fit in a 32x32 image
    s = make_scene(0, image_size=32, min_objects=20, max_objects=20, size_range=(0.5, 0.6), max_iou=0.0, attempts=5)
    assert 1 <= len(s.labels) < 20
    check_scene(s, 32, 32, len(CLASSES))


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31), h=st.integers(16, 48), w=st.integers(16, 48), n=st.integers(0, 6),
       classes=st.lists(st.sampled_from(SHAPES), min_size=1, max_size=5, unique=True),
       max_iou=st.floats(0, 1), min_visible=st.floats(0, 1), background=st.sampled_from(shapes.BACKGROUNDS))
def test_scene_invariants_on_random_arguments(seed, h, w, n, classes, max_iou, min_visible, background):
    s = make_scene(seed, image_size=(h, w), min_objects=0, max_objects=n, classes=classes,
                   max_iou=max_iou, min_visible=min_visible, background=background)
    assert len(s.labels) <= n
    check_scene(s, h, w, len(classes))


# ----------------------------------------------------------------------------- data set
def test_dataset_items_are_deterministic_and_independent_of_access_order():
    ds, again = ShapesDataset(20, seed=5), ShapesDataset(20, seed=5)
    forward = [ds[i] for i in range(20)]
    for i in reversed(range(20)):
        image, target = again[i]
        assert torch.equal(image, forward[i][0])
        assert all(torch.equal(target[key], forward[i][1][key]) for key in ("boxes", "labels", "masks"))
    assert not torch.equal(ShapesDataset(20, seed=6)[3][0], forward[3][0])
    assert torch.equal(ds[-1][0], forward[19][0])


def test_dataset_item_format_and_default_counts():
    ds = ShapesDataset(60, image_size=64, min_objects=1, max_objects=3, seed=0)
    assert len(ds) == 60 and ds.classes == CLASSES and ds.image_size == (64, 64)
    assert repr(ds) == "ShapesDataset(n=60, image_size=(64, 64), classes=('square', 'circle', 'triangle'), seed=0)"
    counts = set()
    for i in range(len(ds)):
        image, target = ds[i]
        assert set(target) == {"boxes", "labels", "masks"}
        assert image.dtype == torch.float32 and image.shape == (3, 64, 64)
        assert torch.equal(image, data.to_tensor(ds.scene(i).image))
        counts.add(len(target["labels"]))
    assert counts == {1, 2, 3}                                 # every count appears, none is below min_objects


def test_dataloader_with_collate():
    loader = torch.utils.data.DataLoader(ShapesDataset(10, image_size=32, seed=1), batch_size=4, collate_fn=collate)
    batches = list(loader)
    assert [b[0].shape for b in batches] == [(4, 3, 32, 32), (4, 3, 32, 32), (2, 3, 32, 32)]
    assert all(isinstance(t, list) and len(t) == len(im) for im, t in batches)
    image, target = ShapesDataset(10, image_size=32, seed=1)[9]
    assert torch.equal(batches[2][0][1], image) and torch.equal(batches[2][1][1]["boxes"], target["boxes"])


def test_scenes_are_the_dataset_items_with_the_chosen_keys():
    ds = ShapesDataset(6, image_size=32, min_objects=0, max_objects=3, seed=4)
    full, boxes_only = scenes(6, 32, 0, 3, seed=4), scenes(6, (32, 32), 0, 3, 4, keys=("labels", "boxes"))
    assert len(full) == len(boxes_only) == 6 and scenes(0) == []
    for i, (image, target) in enumerate(full):
        ds_image, ds_target = ds[i]
        assert torch.equal(image, ds_image) and torch.equal(boxes_only[i][0], ds_image)
        assert list(target) == ["boxes", "labels", "masks"] and list(boxes_only[i][1]) == ["labels", "boxes"]
        assert all(torch.equal(target[k], ds_target[k]) for k in ds_target)
        assert all(torch.equal(boxes_only[i][1][k], ds_target[k]) for k in ("boxes", "labels"))


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(keys="boxes"), TypeError, r"keys: expected a sequence of names \(or None: all\), got str 'boxes'"),
    (dict(keys=3), TypeError, r"keys: expected a sequence of names"),
    (dict(keys=("boxes", "scores")), ValueError,
     r"keys: expected distinct names from boxes, labels, masks, got \['boxes', 'scores'\]"),
    (dict(keys=["boxes", "boxes"]), ValueError, r"keys: expected distinct names"),
    (dict(n=-1), ValueError, r"n: expected an int >= 0, got -1"),
    (dict(seed=-1), TypeError, r"seed: expected an int >= 0"),
    (dict(image_size=8), ValueError, r"image_size: expected an int >= 16"),
])
def test_scenes_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        scenes(**{"n": 2, "image_size": 16, **kwargs})


def test_dataset_iteration_stops_and_index_errors():
    ds = ShapesDataset(3, image_size=16, seed=0)
    assert len(list(ds)) == 3
    with pytest.raises(IndexError, match=r"index 3 out of range for a ShapesDataset of length 3"):
        ds[3]
    with pytest.raises(IndexError, match=r"index -4 out of range"):
        ds[-4]
    with pytest.raises(TypeError, match=r"index: expected an int, got float"):
        ds[1.0]


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("kwargs, error, match", [
    (dict(image_size=8), ValueError, r"image_size: expected an int >= 16, got 8"),
    (dict(image_size=(32, 32, 3)), TypeError, r"image_size: expected an int or \(height, width\)"),
    (dict(image_size=32.0), TypeError, r"image_size: expected an int or \(height, width\), got 32.0"),
    (dict(min_objects=-1), ValueError, r"min_objects: expected an int >= 0, got -1"),
    (dict(min_objects=3, max_objects=2), ValueError, r"min_objects: expected min_objects <= max_objects, got 3 > 2"),
    (dict(max_objects=True), TypeError, r"max_objects: expected an int, got bool"),
    (dict(classes="square"), TypeError, r"classes: expected a non-empty sequence of shape names"),
    (dict(classes=()), TypeError, r"classes: expected a non-empty sequence"),
    (dict(classes=("square", "star")), ValueError, r"classes: unknown shape 'star'; expected names from square, circle"),
    (dict(classes=("circle", "circle")), ValueError, r"classes: each shape may appear once"),
    (dict(size_range=(0.5, 0.2)), ValueError, r"size_range: expected 0 < low <= high <= 1, got \(0.5, 0.2\)"),
    (dict(size_range=(0, 0.2)), ValueError, r"size_range: expected 0 < low <= high <= 1"),
    (dict(size_range=0.3), TypeError, r"size_range: expected \(low, high\) fractions"),
    (dict(max_iou=1.5), ValueError, r"max_iou: expected a value in \[0, 1\], got 1.5"),
    (dict(min_visible=-0.1), ValueError, r"min_visible: expected a value in \[0, 1\]"),
    (dict(background="plain"), ValueError, r"background: unknown kind 'plain'; expected one of noise, gradient, random"),
    (dict(attempts=0), ValueError, r"attempts: expected an int >= 1, got 0"),
])
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        make_scene(0, **kwargs)
    with pytest.raises(error, match=match):
        ShapesDataset(4, **kwargs)


@pytest.mark.parametrize("call, error, match", [
    (lambda: make_scene(-1), TypeError, r"seed: expected an int >= 0 or a numpy Generator, got int -1"),
    (lambda: make_scene("a"), TypeError, r"seed: expected an int >= 0 or a numpy Generator, got str"),
    (lambda: ShapesDataset(-1), ValueError, r"n: expected an int >= 0, got -1"),
    (lambda: ShapesDataset(4, seed=1.5), TypeError, r"seed: expected an int >= 0, got float 1.5"),
    (lambda: collate([]), ValueError, r"batch: expected at least one \(image, target\) pair"),
    (lambda: collate([(torch.zeros(3, 4, 4), {}), (torch.zeros(3, 5, 4), {})]), ValueError,
     r"batch: images must share one size to be stacked, got \[\(3, 4, 4\), \(3, 5, 4\)\]"),
])
def test_bad_calls(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_numpy_generator_seed_and_the_data_namespace():
    a = make_scene(np.random.default_rng([1, 2]), image_size=32)
    b = ShapesDataset(5, image_size=32, seed=1).scene(2)
    assert np.array_equal(a.image, b.image)                      # item i uses the seed (seed, i)
    assert data.shapes is shapes and data.sample_image is data.images.sample_image
