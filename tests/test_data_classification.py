"""cvcourse.data.classification: the synthetic shapes classification set. Determinism per index, balanced
labels, formats, hand-worked area ratios of the upright shapes, clean images without clutter, classes that
differ, the Dataset, every argument check."""
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cvcourse import data
from cvcourse.data.classification import (
    SHAPE_CLASSES,
    LabelledImages,
    ShapesClassification,
    make_classification_set,
)


def coverage(image):
    """Per-pixel coverage in [0, 1] of an image with one shape on a flat background: the projection of
    each pixel's colour onto the segment from the background (the corner pixel) to the shape's colour."""
    img = image.permute(1, 2, 0).double()                      # (H, W, 3)
    bg = img[0, 0]
    diff = img - bg
    fg = img.reshape(-1, 3)[(diff ** 2).sum(-1).flatten().argmax()]
    direction = fg - bg
    return (diff @ direction / (direction @ direction)).clamp(0, 1)


# ----------------------------------------------------------------------------- the set
def test_formats_and_balance():
    images, labels = make_classification_set(50, seed=3)
    assert images.dtype == torch.uint8 and images.shape == (50, 3, 32, 32)
    assert labels.dtype == torch.int64 and labels.shape == (50,)
    counts = torch.bincount(labels, minlength=len(SHAPE_CLASSES))
    assert counts.max() - counts.min() <= 1 and counts.sum() == 50
    for block in range(4):                                      # each block of 12 is a permutation
        assert sorted(labels[12 * block:12 * block + 12].tolist()) == list(range(12))
    empty = make_classification_set(0, (20, 24))
    assert empty[0].shape == (0, 3, 20, 24) and empty[0].dtype == torch.uint8 and empty[1].shape == (0,)
    assert len(SHAPE_CLASSES) >= 10 and len(set(SHAPE_CLASSES)) == len(SHAPE_CLASSES)


def test_same_seed_same_images_and_every_prefix_is_the_same_set():
    a, b = make_classification_set(30, seed=5), make_classification_set(30, seed=5)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    short = make_classification_set(17, seed=5)
    assert torch.equal(short[0], a[0][:17]) and torch.equal(short[1], a[1][:17])
    other = make_classification_set(30, seed=6)
    assert not torch.equal(other[0], a[0]) and not torch.equal(other[1], a[1])


@settings(max_examples=12, deadline=None)
@given(n=st.integers(0, 40), seed=st.integers(0, 2**31), h=st.integers(16, 40), w=st.integers(16, 40),
       classes=st.lists(st.sampled_from(SHAPE_CLASSES), min_size=2, max_size=12, unique=True),
       rotation=st.booleans(), clutter=st.booleans(), distractors=st.booleans())
def test_invariants_on_random_arguments(n, seed, h, w, classes, rotation, clutter, distractors):
    images, labels = make_classification_set(n, (h, w), classes=classes, seed=seed, rotation=rotation,
                                             clutter=clutter, distractors=distractors)
    assert images.shape == (n, 3, h, w) and labels.shape == (n,)
    counts = torch.bincount(labels, minlength=len(classes))
    assert len(counts) == len(classes) and counts.max() - counts.min() <= (1 if n else 0)
    for image in images:                                        # the shape stands out from the background
        assert coverage(image).max() > 0 or not clutter


# Hand-worked area / bounding-box area of each upright shape (circumradius r): square 1; circle and ellipse
# pi/4 (a 40-gon: 40 sin(2pi/40) / (2 pi) of it); triangle and rhombus 1/2; hexagon (3 sqrt3 / 2) / (2 sqrt3) =
# 3/4; pentagon (5/2) sin 72 / (2 sin 72 (1 + cos 36)); cross 1 - 0.7^2; ring (0.95^2 - 0.55^2) pi / (4 0.95^2).
POLY40 = 40 * math.sin(2 * math.pi / 40) / (2 * math.pi)
FILL_RATIOS = {
    "square": 1.0, "circle": math.pi / 4 * POLY40, "ellipse": math.pi / 4 * POLY40, "triangle": 0.5, "rhombus": 0.5,
    "hexagon": 0.75, "pentagon": 2.5 / (2 * (1 + math.cos(math.pi / 5))), "cross": 1 - 0.7 ** 2,
    "ring": (0.95 ** 2 - 0.55 ** 2) * math.pi / (4 * 0.95 ** 2) * POLY40,
}


def test_upright_shapes_have_their_hand_worked_area_ratios():
    classes = tuple(FILL_RATIOS)
    images, labels = make_classification_set(3 * len(classes), 96, classes=classes, seed=0, rotation=False,
                                             clutter=False, distractors=False)
    for image, label in zip(images, labels, strict=True):
        cov = coverage(image)                                   # (H, W)
        rows, cols = torch.nonzero(cov > 0.5, as_tuple=True)
        box = (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
        assert float(cov.sum() / box) == pytest.approx(FILL_RATIOS[classes[label]], abs=0.04), classes[label]


def test_without_clutter_and_distractors_an_image_is_two_colours_and_their_blends():
    images, _ = make_classification_set(24, seed=1, clutter=False, distractors=False)
    for image in images:
        img = image.permute(1, 2, 0).double().reshape(-1, 3)
        bg, cov = img[0], coverage(image).reshape(-1, 1)
        fg = img[(img - bg).pow(2).sum(1).argmax()]
        assert (img - (bg + cov * (fg - bg))).abs().max() <= 1.0   # on the segment, up to uint8 rounding
        assert 0.05 < (cov > 0.5).float().mean() < 0.6            # the shape covers a good part of the image
    cluttered, _ = make_classification_set(24, seed=1)
    assert not torch.equal(cluttered, images)


def test_classes_differ_and_rotation_spreads_them():
    n = 12 * 8
    upright, labels = make_classification_set(n, seed=2, rotation=False, clutter=False, distractors=False)
    masks = torch.stack([coverage(im) for im in upright])      # (N, H, W)
    means = torch.stack([masks[labels == k].mean(0) for k in range(12)])   # (12, H, W): per-class mean mask
    distance = (means[:, None] - means[None]).abs().mean((2, 3))           # (12, 12)
    off_diagonal = distance[~torch.eye(12, dtype=torch.bool)]
    assert off_diagonal.min() > 0.01
    # upright triangles (a vertex up, a side down) have their mass low: rows skewed towards the top, always;
    # rotated ones either way
    rotated, rlabels = make_classification_set(n, seed=2, clutter=False, distractors=False)
    tri = SHAPE_CLASSES.index("triangle")
    assert all(row_skew(m) < 0 for m in masks[labels == tri])
    skews = [row_skew(coverage(im)) for im in rotated[rlabels == tri]]
    assert min(skews) < 0 < max(skews)


def row_skew(mask):
    """The third central moment of a mask's rows (weighted by coverage)."""
    rows = torch.arange(mask.shape[0], dtype=torch.float64)[:, None].expand_as(mask)
    mean = (rows * mask).sum() / mask.sum()
    return float(((rows - mean) ** 3 * mask).sum() / mask.sum())


def test_class_subsets_use_their_own_label_order():
    images, labels = make_classification_set(20, classes=("star", "ring"), seed=0, rotation=False, clutter=False,
                                             distractors=False)
    assert set(labels.tolist()) == {0, 1}
    for image, label in zip(images, labels.tolist(), strict=True):
        cov = coverage(image)
        y, x = (torch.nonzero(cov > 0.5).double().mean(0) + 0.5).long().tolist()   # the shape's centre
        assert (cov[y, x] < 0.5) == (label == 1)                   # rings are hollow, stars are not


# ----------------------------------------------------------------------------- the Dataset
def test_dataset_items_loader_and_transform():
    ds = ShapesClassification(30, seed=4)
    images, labels = make_classification_set(30, seed=4)
    assert len(ds) == 30 and ds.class_names == SHAPE_CLASSES and ds.image_size == (32, 32)
    assert torch.equal(ds.images, images) and torch.equal(ds.labels, labels)
    image, label = ds[7]
    assert image.dtype == torch.float32 and image.shape == (3, 32, 32) and isinstance(label, int)
    assert torch.equal(image, images[7].float() / 255) and label == labels[7]
    assert torch.isfinite(image).all() and 0 <= image.min() and image.max() <= 1
    assert torch.equal(ds[-1][0], ds[29][0])
    batches = list(torch.utils.data.DataLoader(ds, batch_size=8))
    assert [tuple(b[0].shape) for b in batches] == [(8, 3, 32, 32)] * 3 + [(6, 3, 32, 32)]
    assert torch.equal(torch.cat([b[1] for b in batches]), labels)
    flipped = ShapesClassification(30, seed=4, transform=lambda x: x.flip(-1))
    assert torch.equal(flipped[3][0], ds[3][0].flip(-1))
    sub = ShapesClassification(4, 20, classes=("ring", "cross"), seed=1)
    assert sub.class_names == ("ring", "cross") and sub[0][0].shape == (3, 20, 20)
    assert repr(sub) == "ShapesClassification(n=4, image_size=(20, 20), classes=2, seed=1)"
    assert data.ShapesClassification is ShapesClassification and data.SHAPE_CLASSES is SHAPE_CLASSES


def test_labelled_images_checks_its_inputs():
    images, labels = torch.zeros(3, 1, 4, 4, dtype=torch.uint8), torch.tensor([0, 1, 1])
    ds = LabelledImages(images, labels, ("a", "b"))
    assert repr(ds) == "LabelledImages(n=3, image=(1, 4, 4), classes=2)"
    with pytest.raises(TypeError, match=r"images: expected a uint8 Tensor\[N, C, H, W\], got torch.float32 Tensor of shape \(3, 1, 4, 4\)"):
        LabelledImages(images.float(), labels, ("a", "b"))
    with pytest.raises(TypeError, match=r"labels: expected an int64 Tensor\[3\], got torch.int64 Tensor of shape \(2,\)"):
        LabelledImages(images, labels[:2], ("a", "b"))
    with pytest.raises(TypeError, match=r"labels: expected an int64 Tensor\[3\], got list"):
        LabelledImages(images, [0, 1, 1], ("a", "b"))
    with pytest.raises(ValueError, match=r"labels: expected values in \[0, 1\), got \[0, 1\]"):
        LabelledImages(images, labels, ("a",))
    with pytest.raises(TypeError, match=r"transform: expected None or a callable, got int"):
        LabelledImages(images, labels, ("a", "b"), transform=3)


def test_index_errors():
    ds = ShapesClassification(3, 16)
    assert len(list(ds)) == 3
    with pytest.raises(IndexError, match=r"index 3 out of range for a ShapesClassification of length 3"):
        ds[3]
    with pytest.raises(IndexError, match=r"index -4 out of range"):
        ds[-4]
    with pytest.raises(TypeError, match=r"index: expected an int, got float"):
        ds[0.0]


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("kwargs, error, match", [
    (dict(n=-1), ValueError, r"n: expected an int >= 0, got -1"),
    (dict(n=2.0), TypeError, r"n: expected an int, got float 2.0"),
    (dict(image_size=8), ValueError, r"image_size: expected an int >= 16, got 8"),
    (dict(image_size=(32, 32, 3)), TypeError, r"image_size: expected an int or \(height, width\)"),
    (dict(seed=-2), TypeError, r"seed: expected an int >= 0, got int -2"),
    (dict(seed=1.0), TypeError, r"seed: expected an int >= 0, got float 1.0"),
    (dict(classes="circle"), TypeError, r"classes: expected None or a sequence of at least two names"),
    (dict(classes=("circle",)), TypeError, r"classes: expected None or a sequence of at least two names"),
    (dict(classes=("circle", "blob")), ValueError, r"classes: unknown shape 'blob'; expected names from square, circle"),
    (dict(classes=("ring", "ring")), ValueError, r"classes: each shape may appear once, got \['ring', 'ring'\]"),
    (dict(rotation=1), TypeError, r"rotation: expected a bool, got int 1"),
    (dict(clutter=None), TypeError, r"clutter: expected a bool, got NoneType None"),
    (dict(distractors="yes"), TypeError, r"distractors: expected a bool, got str 'yes'"),
])
def test_bad_arguments(kwargs, error, match):
    kwargs = {"n": 4, **kwargs}
    with pytest.raises(error, match=match):
        make_classification_set(**kwargs)
    with pytest.raises(error, match=match):
        ShapesClassification(**kwargs)


def test_bad_transform():
    with pytest.raises(TypeError, match=r"transform: expected None or a callable, got str"):
        ShapesClassification(2, transform="flip")
