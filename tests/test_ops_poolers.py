"""Multi-scale RoIAlign (`cvcourse.ops.poolers`): FPN level assignment (hand-worked sizes, clamping,
against a loop), scale inference, the pooler against per-level `roi_align` in box order, a single
level, gradients, empty inputs and refused inputs."""
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cvcourse.ops import MultiScaleRoIAlign, assign_levels, infer_scale, roi_align

PROPERTY = settings(max_examples=40, deadline=None)
NAMES = ["p2", "p3", "p4", "p5"]


def square(side, x=10.0, y=20.0):
    return [x, y, x + side, y + side]


def pyramid(n=2, c=3, h=800, w=1088, seed=0, dtype=torch.float32):
    """FPN-like maps P2..P5 (strides 4..32) of n images of h x w pixels."""
    g = torch.Generator().manual_seed(seed)
    return {name: torch.randn(n, c, h // 2 ** k, w // 2 ** k, generator=g).to(dtype)
            for k, name in enumerate(NAMES, start=2)}


def random_boxes(k, h, w, seed):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(k, 2, generator=g) * torch.tensor([w, h])
    wh = torch.rand(k, 2, generator=g) ** 2 * torch.tensor([w, h])     # many small, some large
    return torch.cat([xy, xy + wh], 1)


def loop_level(box, k_min, k_max, s0=224.0, k0=4):
    """FPN eq. (1) for one box, in float64."""
    s = math.sqrt((box[2] - box[0]) * (box[3] - box[1]))
    k = math.floor(k0 + math.log2(s / s0) + 1e-6) if s > 0 else k_min
    return min(max(k, k_min), k_max)


# ----------------------------------------------------------------------------- assign_levels
@pytest.mark.parametrize("box, expected", [
    (square(224), 4), (square(112), 3), (square(448), 5), (square(56), 2),
    (square(223), 3), (square(447), 4),                       # just below a power of 2: the lower level
    ([0, 0, 112, 448], 4),                                    # sqrt(112 * 448) = 224
    (square(10), 2), (square(2000), 5),                       # clamped to [2, 5]
    ([5, 5, 5, 30], 2),                                       # zero area
])
def test_assign_levels_hand_worked(box, expected):
    assert assign_levels(torch.tensor([box]), 2, 5).tolist() == [expected]


def test_assign_levels_constants_and_dtype():
    boxes = torch.tensor([square(224), square(112), square(448)])
    assert assign_levels(boxes, 0, 9).dtype == torch.int64
    assert assign_levels(boxes, 0, 9, canonical_scale=112).tolist() == [5, 4, 6]
    assert assign_levels(boxes, 0, 9, canonical_level=3).tolist() == [3, 2, 4]
    assert assign_levels(boxes.half(), 2, 5).tolist() == [4, 3, 5]          # areas in float32: no overflow
    assert assign_levels(torch.zeros(0, 4), 2, 5).shape == (0,)


def test_assign_levels_matches_loop():
    boxes = random_boxes(300, 800, 1088, seed=1)
    expected = [loop_level(b, 2, 5) for b in boxes.double().tolist()]
    assert assign_levels(boxes, 2, 5).tolist() == expected


@PROPERTY
@given(side=st.floats(1, 3000), k_min=st.integers(0, 4), span=st.integers(0, 3))
def test_assign_levels_doubling_a_box_moves_it_up_one_level(side, k_min, span):
    k_max = k_min + span
    a, b = assign_levels(torch.tensor([square(side), square(2 * side)], dtype=torch.float64), -20, 20).tolist()
    assume_exact = abs(math.log2(side / 224) - round(math.log2(side / 224))) > 1e-4   # away from the boundaries
    if assume_exact:
        assert b == a + 1
    clamped = assign_levels(torch.tensor([square(side)], dtype=torch.float64), k_min, k_max).item()
    assert clamped == min(max(a, k_min), k_max)


@pytest.mark.parametrize("args, error, match", [
    ((torch.zeros(1, 4), 3, 2), ValueError, "k_min <= k_max"),
    ((torch.zeros(1, 4), 2.0, 5), TypeError, "k_min: expected an int"),
    ((torch.zeros(1, 4), 2, 5, 0), ValueError, "canonical_scale: expected a finite number > 0"),
    ((torch.zeros(1, 4), 2, 5, "224"), TypeError, "canonical_scale"),
    ((torch.zeros(1, 4), 2, 5, 224, 4.0), TypeError, "canonical_level: expected an int"),
    ((torch.zeros(1, 5), 2, 5), ValueError, r"boxes: expected Tensor\[N, 4\]"),
    ((torch.tensor([[0.0, 0, float("nan"), 1]]), 2, 5), ValueError, "finite"),
])
def test_assign_levels_refuses_bad_input(args, error, match):
    with pytest.raises(error, match=match):
        assign_levels(*args)


# ----------------------------------------------------------------------------- infer_scale
@pytest.mark.parametrize("rows, image_h, expected", [(200, 800, 0.25), (50, 800, 1 / 16), (101, 800, 0.125),
                                                     (13, 800, 1 / 64), (800, 800, 1.0), (25, 800, 1 / 32)])
def test_infer_scale(rows, image_h, expected):
    assert infer_scale(torch.zeros(1, 1, rows, 7), (image_h, 999)) == expected


# ----------------------------------------------------------------------------- MultiScaleRoIAlign
@pytest.mark.parametrize("sampling_ratio", [2, -1])
def test_pooler_equals_per_level_roi_align_in_box_order(sampling_ratio):
    x = pyramid()
    boxes = [random_boxes(40, 760, 1000, seed=2), random_boxes(30, 800, 1088, seed=3)]
    shapes = [(760, 1000), (800, 1088)]                      # padded to 800 x 1088: P2 is 200 x 272, scale 1/4
    out = MultiScaleRoIAlign(NAMES, (7, 5), sampling_ratio)(x, boxes, shapes)
    assert out.shape == (70, 3, 7, 5)
    levels = assign_levels(torch.cat(boxes), 2, 5)
    assert len(set(levels.tolist())) == 4                    # every level is used
    for k, (b, box) in enumerate([(i, box) for i, bs in enumerate(boxes) for box in bs]):
        lvl = int(levels[k])
        expected = roi_align(x[NAMES[lvl - 2]], torch.cat([torch.tensor([float(b)]), box])[None], (7, 5),
                             2.0 ** -lvl, sampling_ratio)
        torch.testing.assert_close(out[k], expected[0], rtol=1e-6, atol=1e-6)


def test_pooler_ignores_other_maps_and_uses_the_names_order():
    x = pyramid()
    x = {"pool": torch.zeros(2, 3, 13, 17), **{n: x[n] for n in reversed(NAMES)}}     # dict order: coarse first
    boxes, shapes = [random_boxes(20, 800, 1088, seed=4)], [(800, 1088)]
    out = MultiScaleRoIAlign(NAMES, 7, 2)(x, boxes, shapes)
    torch.testing.assert_close(out, MultiScaleRoIAlign(NAMES, 7, 2)(pyramid(), boxes, shapes))


def test_pooler_single_level_is_roi_align():
    x = pyramid()
    boxes, shapes = [random_boxes(10, 800, 1088, seed=5), random_boxes(5, 800, 1088, seed=6)], [(800, 1088)] * 2
    out = MultiScaleRoIAlign(["p4"], 7, 2)(x, boxes, shapes)
    assert torch.equal(out, roi_align(x["p4"], boxes, 7, 1 / 16, 2))


def test_pooler_two_levels_clamp():
    x = pyramid()
    boxes, shapes = [torch.tensor([square(20), square(224), square(900)])], [(800, 1088)]
    out = MultiScaleRoIAlign(["p3", "p4"], 3, 2)(x, boxes, shapes)
    rois = torch.cat([torch.zeros(3, 1), boxes[0]], 1)
    torch.testing.assert_close(out[0], roi_align(x["p3"], rois[:1], 3, 1 / 8, 2)[0])      # level 2 -> 3
    torch.testing.assert_close(out[1:], roi_align(x["p4"], rois[1:], 3, 1 / 16, 2))       # 4, and 5 -> 4


def test_pooler_gradient_reaches_every_level():
    x = {k: v.double().requires_grad_() for k, v in pyramid(n=1, c=2, h=256, w=256).items()}
    boxes = [torch.tensor([square(30), square(130), square(250), square(500, 0, 0)], dtype=torch.float64)]  # P2..P5
    MultiScaleRoIAlign(NAMES, 2, 2)(x, boxes, [(256, 256)]).sum().backward()
    assert all(v.grad is not None and v.grad.abs().sum() > 0 for v in x.values())


def test_pooler_half_and_empty():
    x = pyramid(dtype=torch.float16)
    boxes, shapes = [random_boxes(6, 800, 1088, seed=7)], [(800, 1088)]
    out = MultiScaleRoIAlign(NAMES, 7, 2)(x, boxes, shapes)
    assert out.dtype == torch.float16 and out.shape == (6, 3, 7, 7)
    pooler = MultiScaleRoIAlign(NAMES, 7, 2)
    assert pooler(pyramid(), [torch.zeros(0, 4), torch.zeros(0, 4)], [(800, 1088)] * 2).shape == (0, 3, 7, 7)
    assert pooler(pyramid(), [], []).shape == (0, 3, 7, 7)


def test_pooler_repr():
    assert repr(MultiScaleRoIAlign(["p2", "p3"], 7, 2)) == \
        "MultiScaleRoIAlign(featmap_names=['p2', 'p3'], output_size=(7, 7), sampling_ratio=2)"


@pytest.mark.parametrize("args, kwargs, error, match", [
    (([], 7, 2), {}, TypeError, "featmap_names: expected a non-empty list of str"),
    (("p2", 7, 2), {}, TypeError, "featmap_names"),
    ((["p2", "p2"], 7, 2), {}, ValueError, "featmap_names: names must be distinct"),
    ((NAMES, 0, 2), {}, ValueError, "output_size"),
    ((NAMES, 7, 2.0), {}, TypeError, "sampling_ratio"),
    ((NAMES, 7, 2), dict(canonical_scale=-1), ValueError, "canonical_scale"),
    ((NAMES, 7, 2), dict(canonical_level=4.5), TypeError, "canonical_level"),
])
def test_pooler_refuses_bad_construction(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        MultiScaleRoIAlign(*args, **kwargs)


@pytest.mark.parametrize("names, x, boxes, shapes, error, match", [
    (NAMES, [1], [torch.zeros(1, 4)], [(800, 1088)], TypeError, "x: expected a dict"),
    (NAMES + ["p6"], None, [torch.zeros(1, 4)], [(800, 1088)], ValueError, r"x: no feature map named \['p6'\]"),
    (["p2", "p4"], None, [torch.zeros(1, 4)], [(800, 1088)], ValueError, "finest to the coarsest, each half"),
    (["p3", "p2"], None, [torch.zeros(1, 4)], [(800, 1088)], ValueError, "finest to the coarsest"),
    (NAMES, None, torch.zeros(1, 4), [(800, 1088)], TypeError, r"boxes: expected a list of Tensor\[L, 4\]"),
    (NAMES, None, [torch.zeros(1, 5)], [(800, 1088)], ValueError, r"boxes\[0\]: expected Tensor\[N, 4\]"),
    (NAMES, None, [torch.tensor([[4.0, 0, 2, 2]])], [(800, 1088)], ValueError, r"boxes\[0\]: expected x2 >= x1"),
    (NAMES, None, [torch.zeros(1, 4)], [(800, 1088)] * 2, ValueError, "image_shapes: expected one"),
    (NAMES, None, [torch.zeros(1, 4)], [800], TypeError, r"image_shapes: expected a list of \(height, width\)"),
    (NAMES, None, [torch.zeros(1, 4)] * 3, [(800, 1088)] * 3, ValueError, "batch of 2 images"),
])
def test_pooler_refuses_bad_input(names, x, boxes, shapes, error, match):
    with pytest.raises(error, match=match):
        MultiScaleRoIAlign(names, 7, 2)(pyramid() if x is None else x, boxes, shapes)


def test_pooler_refuses_mismatched_maps():
    x = pyramid()
    x["p3"] = x["p3"][:, :2]
    with pytest.raises(ValueError, match=r"x\['p3'\]: every map must have the same N, C, dtype and device"):
        MultiScaleRoIAlign(NAMES, 7, 2)(x, [torch.zeros(1, 4)], [(800, 1088)])
    x = pyramid()
    x["p3"] = x["p3"][0]
    with pytest.raises(ValueError, match=r"x\['p3'\]: expected a Tensor\[N, C, H, W\]"):
        MultiScaleRoIAlign(NAMES, 7, 2)(x, [torch.zeros(1, 4)], [(800, 1088)])
