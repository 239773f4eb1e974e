"""cvcourse.proposals (chapter 09): selective search on synthetic images with known rectangles, the
fixes patched into the selectivesearch package, the from-scratch grouping, and proposal recall against
a slow loop and hand-worked values."""
import warnings

import numpy as np
import pytest
import selectivesearch
import selectivesearch.selectivesearch as ss
import skimage.color
import skimage.segmentation
import skimage.util
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cvcourse.ops import box_iou
from cvcourse.proposals import (
    Region,
    _shim,
    hierarchical_grouping,
    initial_regions,
    merge_regions,
    proposal_recall,
    selective_search,
    similarity,
)

RECTS = [(5, 8, 25, 30, (200, 30, 30)), (40, 10, 60, 50, (30, 160, 30)), (70, 35, 90, 60, (30, 30, 200))]


def rectangles(height=64, width=96, rects=RECTS, background=200):
    """Flat-coloured rectangles (x1, y1, x2, y2 exclusive, colour) on a plain background."""
    image = np.full((height, width, 3), background, np.uint8)
    for x1, y1, x2, y2, colour in rects:
        image[y1:y2, x1:x2] = colour
    return image, torch.tensor([r[:4] for r in rects], dtype=torch.float32)


def textured(height=48, width=40, seed=0):
    """Smooth colour blobs plus noise: many segments, every LBP code, a real hierarchy."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (4, 4, 3)).repeat(height // 4 + 1, 0).repeat(width // 4 + 1, 1)
    return np.clip(coarse[:height, :width] + rng.normal(0, 12, (height, width, 3)), 0, 255).astype(np.uint8)


def contains(boxes, box):
    return bool((boxes == torch.tensor(box, dtype=boxes.dtype)).all(dim=1).any())


def segment_boxes_loop(labels):
    """Bounding box (x2, y2 exclusive) of every label, one pixel at a time."""
    found = {}
    for y in range(labels.shape[0]):
        for x in range(labels.shape[1]):
            x1, y1, x2, y2 = found.get(labels[y, x], (x, y, x + 1, y + 1))
            found[labels[y, x]] = (min(x1, x), min(y1, y), max(x2, x + 1), max(y2, y + 1))
    return set(found.values())


# ----------------------------------------------------------------------------- selective_search: boxes
def test_isolated_rectangle_gives_its_exact_box_in_the_exclusive_convention():
    image = np.full((20, 20, 3), 90, np.uint8)
    image[2:5, 3:8] = 250                                      # rows 2..4, columns 3..7
    boxes = selective_search(image, sigma=0)                   # no smoothing: two clean segments
    assert boxes.tolist() == [[0, 0, 20, 20], [3, 2, 8, 5]]    # the whole image first, x2 = 7 + 1
    assert contains(selective_search(image), (3, 2, 8, 5))      # smoothing adds ring segments around it


def test_each_rectangle_is_matched_by_a_proposal():
    image, gt = rectangles()
    boxes = selective_search(image)
    assert boxes.dtype == torch.float32 and boxes.shape[1] == 4
    assert (box_iou(gt, boxes).max(dim=1).values > 0.9).all()
    for box in gt.tolist():                                    # isolated flat rectangles: exact boxes
        assert contains(boxes, box)
    assert selective_search(image, sigma=0).tolist() == [[0, 0, 96, 64]] + gt.flip(0).tolist()


def test_boxes_are_inside_the_image_unique_and_the_whole_image_comes_first():
    image = textured()
    boxes = selective_search(image)
    assert boxes[0].tolist() == [0, 0, 40, 48]
    assert (boxes[:, :2] >= 0).all() and (boxes[:, 2] <= 40).all() and (boxes[:, 3] <= 48).all()
    assert (boxes[:, 2:] > boxes[:, :2]).all()
    assert len(torch.unique(boxes, dim=0)) == len(boxes)


@settings(max_examples=10, deadline=None)
@given(h=st.integers(1, 24), w=st.integers(1, 24), seed=st.integers(0, 2**16), scale=st.sampled_from([50, 500]))
def test_every_initial_segment_is_a_proposal(h, w, seed, scale):
    image = textured(h, w, seed)
    boxes = selective_search(image, scale=scale, sigma=0.5, min_size=5)
    labels = skimage.segmentation.felzenszwalb(skimage.util.img_as_float(image), scale=scale, sigma=0.5, min_size=5)
    assert segment_boxes_loop(labels) <= {tuple(b) for b in boxes.int().tolist()}
    assert boxes[0].tolist() == [0, 0, w, h] and len(torch.unique(boxes, dim=0)) == len(boxes)


def test_regions_side_by_side_merge_into_the_whole_image():
    image = np.zeros((16, 24, 3), np.uint8)
    image[:, :12] = (220, 20, 20)
    image[:, 12:] = (20, 20, 220)
    # The package alone never pairs them (no corner of one box lies strictly inside the other): no whole image.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, regions = selectivesearch.selective_search(image, scale=500, sigma=0, min_size=10)
    assert [r["rect"] for r in regions] == [(0, 0, 11, 15), (12, 0, 11, 15)]
    assert selective_search(image, sigma=0).tolist() == [[0, 0, 24, 16], [12, 0, 24, 16], [0, 0, 12, 16]]


# ----------------------------------------------------------------------------- selective_search: options
def test_max_proposals_and_min_box_size_filter_the_ranked_list():
    image = textured()
    boxes = selective_search(image)
    assert torch.equal(selective_search(image, max_proposals=5), boxes[:5])
    assert selective_search(image, max_proposals=0).shape == (0, 4)
    assert torch.equal(selective_search(image, max_proposals=10**6), boxes)
    wh = boxes[:, 2:] - boxes[:, :2]
    big = selective_search(image, min_box_size=8)
    assert torch.equal(big, boxes[(wh >= 8).all(dim=1)]) and 0 < len(big) < len(boxes)
    assert torch.equal(selective_search(image, min_box_size=8, max_proposals=3), big[:3])
    assert torch.equal(selective_search(image, min_box_size=0), boxes)


def test_seed_gives_the_papers_random_ranking_of_the_same_boxes():
    image = textured()
    boxes = selective_search(image)
    ranked = selective_search(image, seed=0)
    assert torch.equal(ranked, selective_search(image, seed=0))             # reproducible
    assert not torch.equal(ranked, boxes)
    as_set = lambda b: {tuple(r) for r in b.tolist()}  # noqa: E731
    assert as_set(ranked) == as_set(boxes) and len(ranked) == len(boxes)
    assert not torch.equal(selective_search(image, seed=1), ranked)


# ----------------------------------------------------------------------------- selective_search: inputs
def test_grey_rgba_float_tensor_and_int_inputs_give_the_same_proposals():
    rgb = textured()
    grey = rgb[:, :, 1]
    want = selective_search(rgb)
    assert torch.equal(selective_search(rgb.astype(np.float32) / 255), want)
    assert torch.equal(selective_search(rgb.astype(np.int64)), want)
    assert torch.equal(selective_search(torch.from_numpy(rgb).permute(2, 0, 1)), want)
    assert torch.equal(selective_search(torch.from_numpy(rgb).permute(2, 0, 1).float() / 255), want)
    assert torch.equal(selective_search(torch.from_numpy(rgb).permute(2, 0, 1).half() / 255), want)
    rgba = np.concatenate([rgb, np.full(grey.shape + (1,), 7, np.uint8)], axis=2)
    assert torch.equal(selective_search(rgba), want)
    assert torch.equal(selective_search(torch.from_numpy(rgba).permute(2, 0, 1)), want)
    want_grey = selective_search(np.repeat(grey[:, :, None], 3, axis=2))
    assert torch.equal(selective_search(grey), want_grey)
    assert torch.equal(selective_search(grey[:, :, None]), want_grey)
    assert torch.equal(selective_search(torch.from_numpy(grey)), want_grey)
    assert torch.equal(selective_search(torch.from_numpy(grey)[None].double() / 255), want_grey)
    assert torch.equal(selective_search(np.asfortranarray(rgb)), want)


def test_tiny_images():
    assert selective_search(np.zeros((1, 1, 3), np.uint8)).tolist() == [[0, 0, 1, 1]]
    assert selective_search(np.zeros((1, 7), np.uint8)).tolist() == [[0, 0, 7, 1]]


def test_no_warning_escapes():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        selective_search(textured())
        selective_search(textured().astype(np.float64) / 255, seed=3)


@pytest.mark.parametrize("image, error, match", [
    ([[0, 1], [2, 3]], TypeError, r"image: expected an ndarray HxW / HxWxC or a Tensor\[C, H, W\].*got list"),
    (np.zeros((4, 4, 3), bool), TypeError, "image: expected uint8 .* got dtype bool"),
    (np.zeros((4, 4, 3), np.complex64), TypeError, "got dtype complex64"),
    (np.zeros((2, 4, 4, 3), np.uint8), ValueError, r"image: expected an ndarray .* got shape \(2, 4, 4, 3\)"),
    (np.zeros(5, np.uint8), ValueError, r"got shape \(5,\)"),
    (np.zeros((4, 4, 2), np.uint8), ValueError, r"C in 1, 3, 4, got shape \(4, 4, 2\)"),
    (np.zeros((0, 5, 3), np.uint8), ValueError, r"image: expected a non-empty image, got shape \(0, 5, 3\)"),
    (np.full((4, 4), np.nan), ValueError, "image: values must be finite; found NaN"),
    (np.full((4, 4), 255.0), ValueError, r"float images must have values in \[0, 1\], got \[255, 255\]"),
    (np.full((4, 4), -1), ValueError, r"integer images must have values in 0..255, got -1..-1"),
    (torch.zeros(1, 3, 4, 4), ValueError, r"got Tensor\[1, 3, 4, 4\]"),
    (torch.zeros(2, 4, 4), ValueError, r"got Tensor\[2, 4, 4\]"),
    (torch.zeros(3, 0, 4), ValueError, r"non-empty image, got Tensor\[3, 0, 4\]"),
])
def test_bad_images(image, error, match):
    with pytest.raises(error, match=match):
        selective_search(image)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"scale": 0}, ValueError, "scale: expected a finite number > 0, got 0"),
    ({"scale": "big"}, TypeError, "scale: expected a number, got str"),
    ({"sigma": -1.0}, ValueError, "sigma: expected a finite number >= 0, got -1.0"),
    ({"sigma": float("nan")}, ValueError, "sigma: expected a finite number >= 0, got nan"),
    ({"min_size": 2.5}, TypeError, "min_size: expected an int, got float"),
    ({"min_size": -1}, ValueError, "min_size: expected an int >= 0, got -1"),
    ({"min_box_size": -2}, ValueError, "min_box_size: expected a finite number >= 0, got -2"),
    ({"max_proposals": -1}, ValueError, "max_proposals: expected an int >= 0, got -1"),
    ({"max_proposals": True}, TypeError, "max_proposals: expected an int, got bool"),
    ({"seed": 0.5}, TypeError, "seed: expected an int, got float"),
])
def test_bad_parameters(kwargs, error, match):
    with pytest.raises(error, match=match):
        selective_search(np.zeros((4, 4, 3), np.uint8), **kwargs)


# ----------------------------------------------------------------------------- the fixes in _shim
def hsv_pixels(*rgb):
    """The package's HSV: of a float image holding 0..255, so H, S in [0, 1] and V in [0, 255]."""
    return skimage.color.rgb2hsv(np.array([rgb], np.float64))[0]


def test_colour_histograms_see_hue_and_sum_to_one():
    red, green = hsv_pixels((255, 0, 0)), hsv_pixels((0, 255, 0))
    # The package bins H and S over [0, 255]: pure red and pure green look identical (3 = the maximum).
    assert np.minimum(ss._calc_colour_hist(red), ss._calc_colour_hist(green)).sum() == 3.0
    h_red, h_green = _shim._colour_hist(red), _shim._colour_hist(green)
    assert h_red.shape == (75,) and h_red.sum() == pytest.approx(1.0)
    assert np.minimum(h_red, h_green).sum() == pytest.approx(2 / 3)      # same S and V, other hue
    assert h_red[0] == h_red[25 + 24] == h_red[50 + 24] == pytest.approx(1 / 3)


def test_texture_histograms_count_every_pixel_and_lbp_gets_no_float():
    img = np.concatenate([textured(), np.zeros((48, 40, 1))], axis=2)     # the package's HxWx4 float image
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        codes = _shim._texture_gradient(img)
    assert codes.shape == (48, 40, 3) and set(np.unique(codes)) <= set(range(10))
    hist = _shim._texture_hist(codes.reshape(-1, 3))
    assert hist.shape == (30,) and hist.sum() == pytest.approx(1.0)
    for c in range(3):                                          # one bin per uniform LBP code
        want = np.bincount(codes[:, :, c].astype(int).ravel(), minlength=10) / codes[:, :, 0].size / 3
        np.testing.assert_allclose(hist[10 * c:10 * c + 10], want)
    # The package counts LBP codes 0 and 1 only (range [0, 1]).
    assert ss._calc_texture_hist(codes.reshape(-1, 3) * 25).sum() < 3.0


def test_fill_uses_inclusive_pixel_extents():
    a = {"min_x": 0, "max_x": 0, "min_y": 0, "max_y": 0, "size": 1}
    b = {"min_x": 1, "max_x": 1, "min_y": 0, "max_y": 0, "size": 1}
    assert _shim._sim_fill(a, b, 100) == 1.0                   # two pixels fill their 2x1 box
    assert ss._sim_fill(a, b, 100) > 1.0                       # the package's box is 1x0


def test_patched_restores_the_package_even_after_an_error():
    before = {name: getattr(ss, name) for name in vars(ss)}
    with pytest.raises(RuntimeError, match="boom"), _shim.patched():
        assert ss._calc_texture_hist is _shim._texture_hist
        raise RuntimeError("boom")
    assert {name: getattr(ss, name) for name in vars(ss)} == before


def test_patched_package_builds_a_complete_hierarchy():
    image = textured()
    with _shim.patched():
        img, regions = selectivesearch.selective_search(image, scale=500, sigma=0.9, min_size=10)
    n = len(np.unique(img[:, :, 3]))
    assert len(regions) == 2 * n - 1 and regions[-1]["rect"] == (0, 0, 39, 47)


# ----------------------------------------------------------------------------- from-scratch grouping
def region(box, size, hist):
    return Region(box, size, np.asarray(hist, dtype=np.float64))


def test_similarity_hand_worked():
    hist_a, hist_b = np.zeros(75), np.zeros(75)
    hist_a[[0, 25, 50]], hist_b[[1, 25, 50]] = 1 / 3, 1 / 3          # other hue bin, same S and V
    r1, r2 = region((0, 0, 2, 2), 4, hist_a), region((2, 0, 4, 1), 2, hist_b)
    # colour 2/3; size 1 - 6/100; fill: joint box 4x2 = 8 px, 2 of them not in either region
    assert similarity(r1, r2, 100) == pytest.approx(2 / 3 + 0.94 + 0.98)
    assert similarity(r1, r2, 100) == similarity(r2, r1, 100)


def test_merge_regions_matches_the_regions_of_the_merged_labels():
    image = textured()
    labels = np.zeros((48, 40), np.int64)
    labels[10:30, 5:20], labels[20:40, 15:35] = 1, 2
    regions = initial_regions(image, labels)
    merged = merge_regions(regions[1], regions[2])
    want = initial_regions(image, np.where(labels == 2, 1, labels))[1]
    assert merged.box == want.box == (5, 10, 35, 40) and merged.size == want.size == 20 * 15 + 20 * 20 - 50
    np.testing.assert_allclose(merged.hist, want.hist)


def test_initial_regions_boxes_sizes_and_histograms():
    image = textured()
    labels = skimage.segmentation.felzenszwalb(image, scale=100, sigma=0.5, min_size=5)
    regions = initial_regions(image, labels)
    assert list(regions) == sorted(np.unique(labels).tolist())
    assert {r.box for r in regions.values()} == segment_boxes_loop(labels)
    assert sum(r.size for r in regions.values()) == labels.size
    assert all(r.hist.shape == (75,) and r.hist.sum() == pytest.approx(1) for r in regions.values())


def test_hierarchical_grouping_hand_worked_order():
    # three 4x4 blocks: red, red, blue. s(red, red) = 1 + (1 - 32/48) + 1 > s(red, blue) = 2/3 + ... :
    # the reds merge first, then the blue joins; listed top of the hierarchy first.
    image = np.zeros((4, 12, 3), np.uint8)
    image[:, :8], image[:, 8:] = (255, 0, 0), (0, 0, 255)
    labels = np.repeat(np.arange(3), 4)[None].repeat(4, axis=0)
    assert hierarchical_grouping(image, labels).tolist() == [
        [0, 0, 12, 4], [0, 0, 8, 4], [8, 0, 12, 4], [4, 0, 8, 4], [0, 0, 4, 4]]


def test_hierarchical_grouping_finds_the_rectangles():
    image, gt = rectangles()
    labels = skimage.segmentation.felzenszwalb(image, scale=500, sigma=0.9, min_size=10)
    boxes = hierarchical_grouping(image, labels)
    assert boxes.dtype == torch.float32 and boxes[0].tolist() == [0, 0, 96, 64]
    assert len(torch.unique(boxes, dim=0)) == len(boxes)
    for box in gt.tolist():
        assert contains(boxes, box)


@pytest.mark.parametrize("labels, error, match", [
    (np.zeros((48, 40), np.float32), TypeError, "labels: expected an integer ndarray HxW, got ndarray of dtype float32"),
    ([[0]], TypeError, "labels: expected an integer ndarray HxW, got list"),
    (np.zeros((40, 48), np.int64), ValueError, r"labels: expected shape \(48, 40\) \(the image's H, W\), got \(40, 48\)"),
])
def test_grouping_bad_labels(labels, error, match):
    with pytest.raises(error, match=match):
        hierarchical_grouping(textured(), labels)


# ----------------------------------------------------------------------------- proposal_recall
def recall_loop(proposals, gts, t, k):
    """Found GT boxes / all GT boxes, one pair at a time."""
    found = total = 0
    for props, gt in zip(proposals, gts, strict=True):
        for g in gt:
            total += 1
            found += any(box_iou(g[None], p[None]).item() >= t for p in props[:k])
    return found / total


def random_boxes(n, seed, size=50.0):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * size
    return torch.cat([xy, xy + 1 + torch.rand(n, 2, generator=g) * size / 2], dim=1)


def test_recall_hand_worked():
    gt = torch.tensor([[0.0, 0, 10, 10], [20, 20, 30, 30]])
    proposals = torch.tensor([[0.0, 0, 10, 5], [20, 20, 30, 30], [0, 0, 10, 10], [50, 50, 60, 60]])
    result = proposal_recall(proposals, gt)
    assert result["ks"].tolist() == [1, 2, 3, 4] and result["num_gt"] == 2
    # IoU of the first proposal with gt 0 is exactly 0.5: found at t = 0.5, not at 0.7
    assert result["recall"][0.5].tolist() == [0.5, 1.0, 1.0, 1.0]
    assert result["recall"][0.7].tolist() == [0.0, 0.5, 1.0, 1.0]
    assert result["best_iou"].tolist() == [1.0, 1.0] and result["average_best_overlap"] == 1.0
    one = proposal_recall(proposals, gt, iou_thresholds=0.9, ks=[3, 0, 1])
    assert list(one["recall"]) == [0.9] and one["recall"][0.9].tolist() == [1.0, 0.0, 0.0]


def test_recall_micro_averages_over_images():
    gt = [torch.tensor([[0.0, 0, 10, 10]]), torch.tensor([[0.0, 0, 4, 4], [10, 10, 20, 20], [0, 0, 1, 1]]),
          torch.zeros(0, 4)]
    proposals = [torch.tensor([[0.0, 0, 10, 10]]), torch.tensor([[10.0, 10, 20, 20], [0, 0, 4, 2]]),
                 torch.tensor([[1.0, 1, 2, 2]])]
    result = proposal_recall(proposals, gt, ks=[1, 2, 5])
    assert result["num_gt"] == 4
    assert result["recall"][0.5].tolist() == [0.5, 0.75, 0.75]         # image 2's [0, 0, 4, 2]: IoU 0.5
    assert result["recall"][0.7].tolist() == [0.5, 0.5, 0.5]
    assert result["best_iou"].tolist() == [1.0, 0.5, 1.0, 0.125] and result["average_best_overlap"] == 0.65625


def test_recall_of_images_without_proposals():
    gt = [torch.tensor([[0.0, 0, 10, 10]]), torch.tensor([[0.0, 0, 10, 10]])]
    result = proposal_recall([torch.tensor([[0.0, 0, 10, 10]]), torch.zeros(0, 4)], gt)
    assert result["ks"].tolist() == [1] and result["recall"][0.5].tolist() == [0.5]
    assert result["best_iou"].tolist() == [1.0, 0.0]
    empty = proposal_recall([torch.zeros(0, 4)], [gt[0]])
    assert empty["ks"].shape == (0,) and empty["recall"][0.7].shape == (0,)
    assert proposal_recall([torch.zeros(0, 4)], [gt[0]], ks=[0, 5])["recall"][0.5].tolist() == [0.0, 0.0]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.int64])
def test_recall_accepts_box_dtypes(dtype):
    gt = torch.tensor([[0, 0, 10, 10], [20, 20, 30, 30]]).to(dtype)
    proposals = torch.tensor([[0, 0, 10, 5], [20, 20, 30, 30]]).to(dtype)
    assert proposal_recall(proposals, gt, ks=[1, 2])["recall"][0.5].tolist() == [0.5, 1.0]


@settings(max_examples=25, deadline=None)
@given(n_images=st.integers(1, 3), seed=st.integers(0, 2**16), t=st.sampled_from([0.0, 0.3, 0.5, 0.7, 1.0]))
def test_recall_equals_the_loop(n_images, seed, t):
    rng = np.random.default_rng(seed)
    gts = [random_boxes(int(rng.integers(0, 5)), seed + i) for i in range(n_images)]
    if sum(len(g) for g in gts) == 0:
        gts[0] = random_boxes(1, seed)
    proposals = [torch.cat([random_boxes(int(rng.integers(0, 12)), seed + 100 + i), gts[i][:1]])
                 for i in range(n_images)]
    ks = [0, 1, 2, 5, 13]
    result = proposal_recall(proposals, gts, iou_thresholds=(t, 0.5), ks=ks)
    for j, k in enumerate(ks):
        assert result["recall"][t][j].item() == pytest.approx(recall_loop(proposals, gts, t, k))
    full = proposal_recall(proposals, gts)                      # every k: non-decreasing, ends at the best
    for r in full["recall"].values():
        assert (r.diff() >= 0).all()
    assert (full["recall"][0.7] <= full["recall"][0.5]).all()


@pytest.mark.parametrize("args, kwargs, error, match", [
    ((np.zeros((1, 4)), torch.zeros(1, 4)), {}, TypeError, "proposals: expected a Tensor.* got ndarray"),
    ((torch.zeros(1, 4), [torch.zeros(1, 4)]), {}, TypeError, "proposals: .*give both arguments the same form"),
    (([torch.zeros(1, 4)], [torch.zeros(1, 4)] * 2), {}, ValueError,
     "proposals, gt_boxes: expected one entry per image in each, got 1 and 2"),
    (([torch.zeros(1, 4), torch.tensor([[5.0, 0, 1, 1]])], [torch.zeros(1, 4)] * 2), {}, ValueError,
     r"proposals\[1\]: expected x2 >= x1"),
    ((torch.zeros(1, 4), torch.zeros(1, 3)), {}, ValueError, r"gt_boxes: expected Tensor\[N, 4\]"),
    ((torch.zeros(1, 4), torch.zeros(0, 4)), {}, ValueError, "gt_boxes: no ground-truth box in any image"),
    ((torch.zeros(1, 4), torch.zeros(1, 4)), {"iou_thresholds": (0.5, 1.5)}, ValueError,
     r"iou_thresholds: expected a value in \[0, 1\], got 1.5"),
    ((torch.zeros(1, 4), torch.zeros(1, 4)), {"iou_thresholds": ()}, ValueError, "at least one threshold"),
    ((torch.zeros(1, 4), torch.zeros(1, 4)), {"ks": [1, -1]}, ValueError, "ks: expected ints >= 0, got -1"),
    ((torch.zeros(1, 4), torch.zeros(1, 4)), {"ks": [1.5]}, TypeError, r"ks: expected ints >= 0, got 1.5 \(float\)"),
    ((torch.zeros(1, 4), torch.zeros(1, 4)), {"ks": 10}, TypeError, "ks: expected a sequence of ints >= 0, got int"),
])
def test_recall_bad_inputs(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        proposal_recall(*args, **kwargs)


def test_recall_of_selective_search_on_rectangles():
    image, gt = rectangles()
    result = proposal_recall(selective_search(image), gt, ks=[1, 100])
    assert result["recall"][0.7].tolist() == [0.0, 1.0] and result["average_best_overlap"] == 1.0
