"""cvcourse.anchors (chapter 07): anchor grids against torchvision's AnchorGenerator code and a loop,
k-means anchors against Lloyd's fixed point, box encodings (round trips, gradcheck, hand-worked values),
YOLO assignment and Faster R-CNN matching against slow loop references."""
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cvcourse import anchors as A
from cvcourse.anchors import (
    anchor_shapes,
    assign_yolo,
    cell_grid,
    decode_boxes,
    decode_yolo,
    encode_boxes,
    encode_yolo,
    grid_anchors,
    kmeans_anchors,
    match_anchors,
    mean_iou_vs_k,
    multi_scale_anchors,
    wh_iou,
)
from cvcourse.ops import box_iou

PROPERTY = settings(max_examples=60, deadline=None)


def gen(seed):
    return torch.Generator().manual_seed(seed)


def random_boxes(n, seed=0, size=100.0, dtype=torch.float64, min_wh=1.0):
    g = gen(seed)
    xy = torch.rand(n, 2, generator=g, dtype=dtype) * size
    wh = torch.rand(n, 2, generator=g, dtype=dtype) * size / 2 + min_wh
    return torch.cat([xy, xy + wh], 1)


# ----------------------------------------------------------------------------- references
def torchvision_anchors(feature_size, stride, scales, ratios):
    """torchvision's AnchorGenerator.generate_anchors + grid_anchors (0.29), without its .round()."""
    scales, ratios = torch.as_tensor(scales, dtype=torch.float64), torch.as_tensor(ratios, dtype=torch.float64)
    h_ratios = torch.sqrt(ratios)
    w_ratios = 1 / h_ratios
    ws = (w_ratios[:, None] * scales[None, :]).view(-1)
    hs = (h_ratios[:, None] * scales[None, :]).view(-1)
    base = torch.stack([-ws, -hs, ws, hs], dim=1) / 2
    (gh, gw), (sy, sx) = feature_size, stride
    shift_y, shift_x = torch.meshgrid(torch.arange(gh, dtype=torch.float64) * sy,
                                      torch.arange(gw, dtype=torch.float64) * sx, indexing="ij")
    shift_x, shift_y = shift_x.reshape(-1), shift_y.reshape(-1)
    shifts = torch.stack((shift_x, shift_y, shift_x, shift_y), dim=1)
    return (shifts.view(-1, 1, 4) + base.view(1, -1, 4)).reshape(-1, 4)


def loop_grid(h, w, stride, wh, offset=0.5):
    out = torch.zeros(h, w, len(wh), 4, dtype=torch.float64)
    for y in range(h):
        for x in range(w):
            for a, (aw, ah) in enumerate(wh.tolist()):
                cx, cy = (x + offset) * stride, (y + offset) * stride
                out[y, x, a] = torch.tensor([cx - aw / 2, cy - ah / 2, cx + aw / 2, cy + ah / 2])
    return out


def loop_wh_iou(a, b):
    inter = min(a[0], b[0]) * min(a[1], b[1])
    return inter / (a[0] * a[1] + b[0] * b[1] - inter)


def loop_match(iou, high, low, allow_low_quality):
    """torchvision's Matcher, one anchor at a time, with cvcourse's rule for a GT of best IoU 0.
    The thresholds are compared in the IoU's dtype, as torch compares a tensor with a Python float."""
    high, low = (torch.tensor(v, dtype=iou.dtype).item() for v in (high, low))
    g_n, a_n = iou.shape
    matches, best_gt = [], []
    for j in range(a_n):
        column = iou[:, j].tolist()
        v = max(column)
        g = column.index(v)                          # first max
        best_gt.append(g)
        matches.append(g if v >= high else (-1 if v < low else -2))
    if allow_low_quality:
        for i in range(g_n):
            row = iou[i].tolist()
            if max(row) > 0:
                for j in range(a_n):
                    if row[j] == max(row):
                        matches[j] = best_gt[j]
    return torch.tensor(matches, dtype=torch.int64)


def loop_assign(gt, labels, h, w, stride, wh):
    slots = {}
    for i, box in enumerate(gt.tolist()):
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        c = (min(int(cx // stride), w - 1), min(int(cy // stride), h - 1))
        ious = [loop_wh_iou((box[2] - box[0], box[3] - box[1]), a) for a in wh.tolist()]
        best = ious.index(max(ious))
        key = (c[1], c[0], best)
        if key not in slots or ious[best] > slots[key][0]:
            slots[key] = (ious[best], i, c)
    gt_index = torch.full((h, w, len(wh)), -1, dtype=torch.int64)
    t = torch.zeros(h, w, len(wh), 4, dtype=torch.float64)
    for (y, x, a), (_, i, c) in slots.items():
        gt_index[y, x, a] = i
        box = gt[i].tolist()
        frac = [min(max((box[0] + box[2]) / 2 / stride - c[0], 1e-6), 1 - 1e-6),
                min(max((box[1] + box[3]) / 2 / stride - c[1], 1e-6), 1 - 1e-6)]
        t[y, x, a] = torch.tensor([math.log(f / (1 - f)) for f in frac]
                                  + [math.log((box[2] - box[0]) / wh[a, 0].item()), math.log((box[3] - box[1]) / wh[a, 1].item())])
    return gt_index, t, len(gt) - len(slots)


# ----------------------------------------------------------------------------- anchor shapes and grids
def test_anchor_shapes_golden_area_and_ratio():
    wh = anchor_shapes([32, 64], [0.5, 1, 2], dtype=torch.float64)
    assert wh.shape == (6, 2)
    s, r = torch.tensor([32.0, 64] * 3, dtype=torch.float64), torch.tensor([0.5] * 2 + [1.0] * 2 + [2.0] * 2, dtype=torch.float64)
    torch.testing.assert_close(wh[:, 0] * wh[:, 1], s**2, rtol=1e-14, atol=0)    # area s^2
    torch.testing.assert_close(wh[:, 1] / wh[:, 0], r, rtol=1e-14, atol=0)       # h / w == r
    torch.testing.assert_close(wh[4], torch.tensor([32 / math.sqrt(2), 32 * math.sqrt(2)], dtype=torch.float64))
    assert wh[2].tolist() == [32.0, 32.0] and anchor_shapes([8], [1]).dtype == torch.float32


@PROPERTY
@given(scales=st.lists(st.floats(1, 1000), min_size=1, max_size=4), ratios=st.lists(st.floats(0.05, 20), min_size=1, max_size=4))
def test_anchor_shapes_area_and_ratio_property(scales, ratios):
    wh = anchor_shapes(scales, ratios, dtype=torch.float64).view(len(ratios), len(scales), 2)
    s, r = torch.tensor(scales, dtype=torch.float64), torch.tensor(ratios, dtype=torch.float64)
    torch.testing.assert_close(wh[..., 0] * wh[..., 1], (s**2).expand(len(ratios), -1), rtol=1e-12, atol=0)
    torch.testing.assert_close(wh[..., 1] / wh[..., 0], r[:, None].expand(-1, len(scales)), rtol=1e-12, atol=0)


def test_grid_anchors_golden():
    wh = torch.tensor([[8.0, 4.0]])
    # cells (0, 0) and (1, 0) of a 1x2 map, stride 16: centres (8, 8) and (24, 8)
    assert grid_anchors((1, 2), 16, wh).tolist() == [[[[4.0, 6.0, 12.0, 10.0]], [[20.0, 6.0, 28.0, 10.0]]]]
    assert grid_anchors((1, 2), 16, wh, layout="rcnn", offset=0.0).tolist() == [[-4.0, -2.0, 4.0, 2.0], [12.0, -2.0, 20.0, 2.0]]
    assert grid_anchors((2, 1), (10, 4), wh, layout="rcnn").tolist() == [[-2.0, 3.0, 6.0, 7.0], [-2.0, 13.0, 6.0, 17.0]]


@pytest.mark.parametrize("size, stride", [((3, 5), (16, 16)), ((4, 2), (8, 12)), ((1, 1), (32, 32))])
def test_grid_anchors_equal_torchvision_with_offset_zero(size, stride):
    scales, ratios = [32.0, 64.0, 128.0], [0.5, 1.0, 2.0]
    got = grid_anchors(size, stride, anchor_shapes(scales, ratios, dtype=torch.float64), layout="rcnn", offset=0.0)
    torch.testing.assert_close(got, torchvision_anchors(size, stride, scales, ratios))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_grid_anchors_yolo_layout_equals_loop_and_rcnn_is_its_flattening(dtype):
    wh = torch.tensor([[10.0, 13.0], [16.0, 30.0], [33.0, 23.0]], dtype=dtype)
    yolo = grid_anchors((4, 3), 8, wh)
    assert yolo.shape == (4, 3, 3, 4) and yolo.dtype == dtype
    torch.testing.assert_close(yolo.double(), loop_grid(4, 3, 8, wh))
    assert torch.equal(grid_anchors((4, 3), 8, wh, layout="rcnn"), yolo.reshape(-1, 4))
    assert grid_anchors((0, 3), 8, wh).shape == (0, 3, 3, 4)
    assert grid_anchors((0, 3), 8, wh, layout="rcnn").shape == (0, 4)


def test_yolo_decode_of_zero_outputs_is_the_anchor_grid():
    wh = anchor_shapes([16, 40], [0.5, 2])
    grid = cell_grid((5, 7))
    assert grid.shape == (5, 7, 2) and grid[2, 6].tolist() == [6.0, 2.0]
    torch.testing.assert_close(decode_yolo(torch.zeros(5, 7, 4, 4), wh, 32, grid[:, :, None]), grid_anchors((5, 7), 32, wh))


def test_multi_scale_anchors():
    levels = [anchor_shapes([32], [0.5, 1, 2]), anchor_shapes([64, 90], [1])]
    out = multi_scale_anchors((100, 60), [16, 32], levels)
    n0 = 7 * 4 * 3                                              # ceil(100 / 16) x ceil(60 / 16) cells, 3 anchors
    assert out.shape == (n0 + 4 * 2 * 2, 4)
    assert torch.equal(out[:n0], grid_anchors((7, 4), 16, levels[0], layout="rcnn"))
    assert torch.equal(out[n0:], grid_anchors((4, 2), 32, levels[1], layout="rcnn"))
    assert torch.equal(multi_scale_anchors(64, [32], levels[:1], offset=0.0), grid_anchors(2, 32, levels[0], "rcnn", 0.0))


# ----------------------------------------------------------------------------- wh_iou and k-means
def test_wh_iou_golden_and_equals_box_iou_of_centred_boxes():
    assert wh_iou(torch.tensor([[2.0, 2.0]]), torch.tensor([[1.0, 4.0], [2.0, 2.0]])).tolist() == [[pytest.approx(1 / 3), 1.0]]
    wh1, wh2 = torch.rand(6, 2, generator=gen(0)) + 0.1, torch.rand(4, 2, generator=gen(1)) + 0.1
    centred = lambda wh: torch.cat([-wh / 2, wh / 2], 1)          # noqa: E731
    torch.testing.assert_close(wh_iou(wh1, wh2), box_iou(centred(wh1), centred(wh2)))
    assert wh_iou(torch.tensor([[2, 2]]), torch.tensor([[1, 4]])).dtype == torch.float32
    assert wh_iou(torch.zeros(0, 2) + 1, wh2).shape == (0, 4)


def test_kmeans_golden_two_groups():
    wh = torch.tensor([[10.0, 10.0], [10.0, 12.0], [1.0, 1.0], [1.0, 1.2]], dtype=torch.float64)
    anchors, mean_iou = kmeans_anchors(wh, 2)
    torch.testing.assert_close(anchors, torch.tensor([[1.0, 1.1], [10.0, 11.0]], dtype=torch.float64))
    assert mean_iou == pytest.approx((1 / 1.1 + 1.1 / 1.2) / 2)
    one, iou1 = kmeans_anchors(wh, 1)                           # k = 1: the mean of all shapes
    torch.testing.assert_close(one, wh.mean(0, keepdim=True))
    median, _ = kmeans_anchors(wh, 1, update="median")           # the lower median, per coordinate
    assert median.tolist() == [[1.0, 1.2]]
    assert kmeans_anchors(wh, 4)[1] == 1.0


def test_kmeans_recovers_separated_clusters_and_is_deterministic():
    g = gen(0)
    true = torch.tensor([[12.0, 10.0], [30.0, 60.0], [120.0, 90.0]])
    wh = (true.repeat_interleave(200, 0) * (1 + 0.05 * torch.randn(600, 2, generator=g))).abs()
    for init in ("kmeans++", "random"):
        anchors, mean_iou = kmeans_anchors(wh, 3, seed=1, init=init)
        assert anchors.dtype == torch.float32 and anchors.shape == (3, 2)
        torch.testing.assert_close(anchors, true, rtol=0.02, atol=0)
        assert mean_iou > 0.9
    again = kmeans_anchors(wh, 3, seed=1)
    assert torch.equal(again[0], kmeans_anchors(wh, 3, seed=1)[0])
    curve = mean_iou_vs_k(wh, [1, 2, 3, 5])
    assert len(curve) == 4 and curve == sorted(curve) and curve[2] == pytest.approx(again[1], abs=1e-3)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 60), k=st.integers(1, 8), seed=st.integers(0, 1000), init=st.sampled_from(["kmeans++", "random"]))
def test_kmeans_ends_at_a_lloyd_fixed_point(n, k, seed, init):
    wh = torch.rand(n, 2, generator=gen(seed), dtype=torch.float64) * 100 + 1
    k = min(k, n)
    anchors, mean_iou = kmeans_anchors(wh, k, seed=seed, init=init, iters=1000)
    areas = anchors.prod(1)
    assert torch.all(areas[1:] >= areas[:-1])
    iou = wh_iou(wh, anchors)
    assign = iou.argmax(1)
    assert torch.bincount(assign, minlength=k).min() > 0, "no empty cluster"
    for j in range(k):                                          # each anchor is the mean of its boxes
        torch.testing.assert_close(anchors[j], wh[assign == j].mean(0))
    assert mean_iou == pytest.approx(iou.max(1).values.mean().item())


def test_kmeans_reseeds_an_empty_cluster():
    # random init picks (6, 2), (11, 3), (8, 3); a later Lloyd round leaves the second cluster empty
    # (found by instrumenting the re-seed branch); it is re-seeded at the worst-covered box and the
    # run still ends at a fixed point with three non-empty clusters
    wh = torch.tensor([[8.0, 3], [9, 11], [6, 11], [11, 3], [6, 2]], dtype=torch.float64)
    anchors, mean_iou = kmeans_anchors(wh, 3, seed=1, init="random")
    assert anchors.tolist() == [[6.0, 2.0], [9.5, 3.0], [7.5, 11.0]]
    assert mean_iou == pytest.approx((1 + 24 / 28.5 + 28.5 / 33 + 82.5 / 99 + 66 / 82.5) / 5)
    assert torch.bincount(wh_iou(wh, anchors).argmax(1), minlength=3).tolist() == [1, 2, 2]


@pytest.mark.parametrize("call, error, match", [
    (lambda: kmeans_anchors(torch.tensor([[1.0, 1], [1, 1], [2, 2]]), 3), ValueError,
     r"k: cannot make 3 clusters from 2 distinct box shapes \(N = 3\); expected k <= 2"),
    (lambda: kmeans_anchors(torch.tensor([[1.0, 0.0]]), 1), ValueError,
     r"wh: widths and heights must be positive and finite; row 0 is \[1.0, 0.0\]"),
    (lambda: kmeans_anchors(torch.tensor([[1.0, -2.0]]), 1), ValueError, r"wh: widths and heights must be positive"),
    (lambda: kmeans_anchors(torch.tensor([[1.0, math.nan]]), 1), ValueError, r"wh: widths and heights must be positive and finite"),
    (lambda: kmeans_anchors(torch.ones(3), 1), ValueError, r"wh: expected Tensor\[N, 2\] of \(w, h\), got Tensor\[3\]"),
    (lambda: kmeans_anchors(torch.ones(2, 3, 2), 1), ValueError, r"wh: expected Tensor\[N, 2\] of \(w, h\), got Tensor\[2, 3, 2\]"),
    (lambda: kmeans_anchors([[1.0, 2.0]], 1), TypeError, r"wh: expected a Tensor\[N, 2\] of \(w, h\), got list"),
    (lambda: kmeans_anchors(torch.ones(2, 2, dtype=torch.bool), 1), TypeError, r"wh: expected real widths and heights"),
    (lambda: kmeans_anchors(torch.ones(2, 2), 0), ValueError, r"k: expected an int >= 1, got 0"),
    (lambda: kmeans_anchors(torch.ones(2, 2), 1.0), TypeError, r"k: expected an int, got float"),
    (lambda: kmeans_anchors(torch.ones(2, 2), 1, init="grid"), ValueError, r"init: unknown initialisation 'grid'"),
    (lambda: kmeans_anchors(torch.ones(2, 2), 1, update="mode"), ValueError, r"update: unknown centre update 'mode'"),
    (lambda: kmeans_anchors(torch.ones(2, 2), 1, iters=0), ValueError, r"iters: expected an int >= 1, got 0"),
    (lambda: mean_iou_vs_k(torch.ones(2, 2), 3), TypeError, r"ks: expected a sequence of ints, got int"),
    (lambda: wh_iou(torch.ones(2, 2), torch.ones(2, 2, 2)), ValueError, r"wh1, wh2: expected Tensor\[N, 2\] and Tensor\[M, 2\]"),
    (lambda: wh_iou(torch.ones(2, 2), -torch.ones(1, 2)), ValueError, r"wh2: widths and heights must be positive"),
])
def test_kmeans_and_wh_iou_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()


# ----------------------------------------------------------------------------- YOLO encoding
def test_decode_yolo_golden():
    # stride 32, cell (3, 2), anchor (50, 100): t = 0 puts the box at the cell centre (112, 80)
    anchor, cell = torch.tensor([50.0, 100.0]), torch.tensor([3.0, 2.0])
    assert decode_yolo(torch.zeros(4), anchor, 32, cell).tolist() == [87.0, 30.0, 137.0, 130.0]
    assert decode_yolo(torch.tensor([0.0, 0, math.log(2), 0]), anchor, 32, cell).tolist() == pytest.approx([62.0, 30, 162, 130])
    # sigmoid(+-inf-like) keeps the centre inside the cell: [96, 128]
    box = decode_yolo(torch.tensor([-50.0, 50.0, 0, 0]), anchor, 32, cell)
    assert box.tolist() == pytest.approx([96 - 25, 96 - 50, 96 + 25, 96 + 50], abs=1e-4)


def test_encode_yolo_golden_and_cell_borders():
    t = encode_yolo(torch.tensor([[87.0, 30, 137, 130]]), torch.tensor([[25.0, 50.0]]), 32, torch.tensor([[3, 2]]))
    torch.testing.assert_close(t, torch.tensor([[0.0, 0.0, math.log(2), math.log(2)]]))
    # a centre exactly on the cell's left border: logit(eps) instead of -inf; decoding moves it by <= eps * stride
    box = torch.tensor([[86.0, 50, 106, 70]], dtype=torch.float64)      # centre (96, 60): x on the border of cell 3
    t = encode_yolo(box, torch.tensor([[20.0, 20.0]], dtype=torch.float64), 32, torch.tensor([[3, 1]]))
    assert torch.isfinite(t).all() and t[0, 0] == pytest.approx(math.log(1e-6 / (1 - 1e-6)))
    back = decode_yolo(t, torch.tensor([20.0, 20.0], dtype=torch.float64), 32, torch.tensor([3, 1]))
    torch.testing.assert_close(back, box, atol=4e-5, rtol=0)
    # the same centre seen from cell 2 is on its right border
    assert encode_yolo(box, torch.tensor([[20.0, 20.0]], dtype=torch.float64), 32, torch.tensor([[2, 1]]))[0, 0] \
        == pytest.approx(math.log((1 - 1e-6) / 1e-6))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_yolo_round_trips(dtype):
    g = gen(0)
    t = (torch.rand(6, 5, 3, 4, generator=g, dtype=dtype) - 0.5) * 8              # |t| <= 4
    wh, grid = torch.rand(3, 2, generator=g, dtype=dtype) * 50 + 5, cell_grid((6, 5), dtype=dtype)[:, :, None]
    boxes = decode_yolo(t, wh, 16, grid)
    assert boxes.dtype == dtype and boxes.shape == (6, 5, 3, 4)
    torch.testing.assert_close(encode_yolo(boxes, wh, 16, grid), t, atol=1e-3 if dtype == torch.float32 else 1e-9, rtol=0)
    torch.testing.assert_close(decode_yolo(encode_yolo(boxes, wh, 16, grid), wh, 16, grid), boxes)


@PROPERTY
@given(cx=st.floats(0.01, 0.99), cy=st.floats(0.01, 0.99), w=st.floats(0.5, 500), h=st.floats(0.5, 500),
       rw=st.floats(0.02, 50), rh=st.floats(0.02, 50), stride=st.sampled_from([8, 16, 32]), c=st.integers(0, 20))
def test_decode_of_encode_is_the_box(cx, cy, w, h, rw, rh, stride, c):
    pw, ph = w / rw, h / rh                                     # box / anchor within 50x: below the clamp (62.5x)
    centre = torch.tensor([(c + cx) * stride, (c + cy) * stride], dtype=torch.float64)
    box = torch.cat([centre - torch.tensor([w, h]) / 2, centre + torch.tensor([w, h]) / 2])[None]
    anchor, cell = torch.tensor([[pw, ph]], dtype=torch.float64), torch.tensor([[c, c]])
    torch.testing.assert_close(decode_yolo(encode_yolo(box, anchor, stride, cell), anchor, stride, cell), box)


def test_yolo_gradcheck_and_half_precision():
    t = torch.randn(3, 4, generator=gen(1), dtype=torch.float64, requires_grad=True)
    wh = (torch.rand(3, 2, generator=gen(2), dtype=torch.float64) * 20 + 1).requires_grad_()
    cell = torch.tensor([[0, 1], [2, 2], [1, 0]])
    assert torch.autograd.gradcheck(lambda t, wh: decode_yolo(t, wh, 8, cell), (t, wh))
    boxes = decode_yolo(t, wh, 8, cell).detach().requires_grad_()
    assert torch.autograd.gradcheck(lambda b: encode_yolo(b, wh.detach(), 8, cell), (boxes,))
    half = decode_yolo(t.detach().half(), wh.detach().half(), 8, cell)
    assert half.dtype == torch.float16
    torch.testing.assert_close(half.double(), decode_yolo(t.detach(), wh.detach(), 8, cell), atol=0.05, rtol=0.01)
    huge = decode_yolo(torch.tensor([0.0, 0, 1000, 1000]), torch.tensor([1.0, 1.0]), 8, torch.tensor([0, 0]))
    assert torch.isfinite(huge).all() and huge[2] - huge[0] == pytest.approx(1000 / 16)   # clamped, not inf


@pytest.mark.parametrize("call, error, match", [
    (lambda: encode_yolo(torch.tensor([[0.0, 0, 10, 10]]), torch.ones(1, 2), 8, torch.tensor([[1, 0]])), ValueError,
     r"cell_xy: a box centre lies outside its cell \(element 0 of the broadcast boxes: centre / stride - cell = \[-0.375, 0.625\]"),
    (lambda: encode_yolo(torch.tensor([[0.0, 0, 0, 10]]), torch.ones(1, 2), 8, torch.tensor([[0, 0]])), ValueError,
     r"boxes: boxes need a positive width and height here \(a log of the size is taken\); row 0"),
    (lambda: encode_yolo(torch.tensor([[0.0, 0, 4, 4]]), torch.ones(1, 2), 8, torch.tensor([[0, 0]]), eps=0.5), ValueError,
     r"eps: expected a number in \(0, 0.5\), got 0.5"),
    (lambda: encode_yolo(torch.tensor([[0.0, 0, 4, 4]]), torch.zeros(1, 2), 8, torch.tensor([[0, 0]])), ValueError,
     r"anchor_wh: widths and heights must be positive and finite; row 0 is \[0.0, 0.0\]"),
    (lambda: encode_yolo(torch.tensor([[0.0, 0, 4, 4]]), torch.ones(1, 2), 0, torch.tensor([[0, 0]])), ValueError,
     r"stride: expected a positive finite number, got 0"),
    (lambda: decode_yolo(torch.zeros(2, 4), torch.ones(3, 2), 8, torch.zeros(2, 2)), ValueError,
     r"leading dimensions do not broadcast: t \[2, 4\], anchor_wh \[3, 2\], cell_xy \[2, 2\]"),
    (lambda: decode_yolo(torch.zeros(2, 3), torch.ones(2), 8, torch.zeros(2)), ValueError, r"t: expected Tensor\[\.\.\., 4\], got Tensor\[2, 3\]"),
    (lambda: decode_yolo(torch.full((4,), math.inf), torch.ones(2), 8, torch.zeros(2)), ValueError, r"t: values must be finite"),
    (lambda: decode_yolo(torch.zeros(4), torch.ones(2), 8, [0, 0]), TypeError, r"cell_xy: expected a Tensor\[\.\.\., 2\], got list"),
    (lambda: decode_yolo(torch.zeros(4), torch.ones(2), 8, torch.zeros(2), clamp=-1.0), ValueError, r"clamp: expected a positive"),
])
def test_yolo_encoding_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()


# ----------------------------------------------------------------------------- Faster R-CNN encoding
def loop_encode(gt, anchor, weights):
    """torchvision's BoxCoder.encode_single for one pair."""
    wx, wy, ww, wh = weights
    aw, ah = anchor[2] - anchor[0], anchor[3] - anchor[1]
    ax, ay = anchor[0] + 0.5 * aw, anchor[1] + 0.5 * ah
    gw, gh = gt[2] - gt[0], gt[3] - gt[1]
    gx, gy = gt[0] + 0.5 * gw, gt[1] + 0.5 * gh
    return [wx * (gx - ax) / aw, wy * (gy - ay) / ah, ww * math.log(gw / aw), wh * math.log(gh / ah)]


def test_encode_boxes_golden():
    d = encode_boxes(torch.tensor([[5.0, 5, 15, 25]]), torch.tensor([[0.0, 0, 10, 10]]))
    # gt centre (10, 15), size (10, 20); anchor centre (5, 5), size (10, 10)
    torch.testing.assert_close(d, torch.tensor([[0.5, 1.0, 0.0, math.log(2)]]))
    torch.testing.assert_close(encode_boxes(torch.tensor([[5.0, 5, 15, 25]]), torch.tensor([[0.0, 0, 10, 10]]), (10, 10, 5, 5)),
                               torch.tensor([[5.0, 10.0, 0.0, 5 * math.log(2)]]))


@pytest.mark.parametrize("weights", [(1.0, 1.0, 1.0, 1.0), (10.0, 10.0, 5.0, 5.0)])
def test_encode_boxes_equals_loop_and_decode_inverts_it(weights):
    gt, anchors = random_boxes(50, 0), random_boxes(50, 1)
    d = encode_boxes(gt, anchors, weights)
    torch.testing.assert_close(d, torch.tensor([loop_encode(g, a, weights) for g, a in zip(gt.tolist(), anchors.tolist(), strict=True)],
                                               dtype=torch.float64))
    torch.testing.assert_close(decode_boxes(d, anchors, weights), gt)


@PROPERTY
@given(seed=st.integers(0, 2**16), n=st.integers(0, 20), wx=st.floats(0.5, 20), ww=st.floats(0.5, 20))
def test_decode_of_encode_is_the_box_faster_rcnn(seed, n, wx, ww):
    gt, anchors = random_boxes(n, seed), random_boxes(n, seed + 1)  # sizes 1..51: below the clamp (62.5x)
    weights = (wx, wx, ww, ww)
    torch.testing.assert_close(decode_boxes(encode_boxes(gt, anchors, weights), anchors, weights), gt)


@pytest.mark.parametrize("dtype", [torch.float16, torch.float32, torch.float64])
def test_decode_boxes_per_class_clamp_and_dtypes(dtype):
    anchors = torch.tensor([[0.0, 0, 10, 10], [10, 10, 30, 20]], dtype=dtype)
    deltas = torch.tensor([[0.0, 0, 0, 0, 0.1, -0.2, 0.0, math.log(2)],
                           [0.0, 0, 100, 0, 0, 0, 0, 0]], dtype=dtype)             # 2 classes each
    out = decode_boxes(deltas, anchors)
    assert out.shape == (2, 8) and out.dtype == dtype
    tol = dict(atol=0.05, rtol=1e-3) if dtype == torch.float16 else {}
    torch.testing.assert_close(out[0], torch.tensor([0.0, 0, 10, 10, 1, -7, 11, 13], dtype=dtype), **tol)
    width = 20 * 1000 / 16                                       # d_w = 100 is clamped to log(1000 / 16)
    torch.testing.assert_close(out[1, :4], torch.tensor([20 - width / 2, 10, 20 + width / 2, 20], dtype=dtype),
                               **(dict(atol=1.0, rtol=1e-3) if dtype == torch.float16 else {}))
    assert decode_boxes(torch.zeros(0, 4), torch.zeros(0, 4)).shape == (0, 4)
    assert encode_boxes(torch.zeros(0, 4), torch.zeros(0, 4)).shape == (0, 4)


def test_box_coder_gradcheck():
    gt, anchors = random_boxes(4, 0).requires_grad_(), random_boxes(4, 1).requires_grad_()
    assert torch.autograd.gradcheck(lambda g, a: encode_boxes(g, a, (10, 10, 5, 5)), (gt, anchors))
    d = torch.randn(4, 4, generator=gen(2), dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda d, a: decode_boxes(d, a, (10, 10, 5, 5)), (d, anchors))


@pytest.mark.parametrize("call, error, match", [
    (lambda: encode_boxes(torch.tensor([[0.0, 0, 0, 1]]), torch.tensor([[0.0, 0, 1, 1]])), ValueError,
     r"gt: boxes need a positive width and height here"),
    (lambda: encode_boxes(torch.tensor([[0.0, 0, 1, 1]]), torch.tensor([[0.0, 0, 1, 0]])), ValueError,
     r"anchors: boxes need a positive width and height here"),
    (lambda: encode_boxes(torch.tensor([[0.0, 0, 1, 1]]), torch.tensor([[0.0, 0, 1, 1]] * 2)), ValueError,
     r"gt, anchors: expected Tensor\[N, 4\] each \(one ground truth per anchor\), got \[1, 4\] and \[2, 4\]"),
    (lambda: encode_boxes(torch.tensor([[2.0, 0, 1, 1]]), torch.tensor([[0.0, 0, 1, 1]])), ValueError,
     r"gt: expected x2 >= x1 and y2 >= y1"),
    (lambda: encode_boxes(torch.tensor([[0.0, 0, 1, 1]]), torch.tensor([[0.0, 0, 1, 1]]), (1, 1, 1)), TypeError,
     r"weights: expected 4 numbers \(wx, wy, ww, wh\)"),
    (lambda: encode_boxes(torch.tensor([[0.0, 0, 1, 1]]), torch.tensor([[0.0, 0, 1, 1]]), (1, 1, 0, 1)), ValueError,
     r"weights: expected a positive finite number, got 0"),
    (lambda: decode_boxes(torch.zeros(2, 6), torch.zeros(2, 4)), ValueError, r"deltas: expected Tensor\[N, 4\] or Tensor\[N, 4 \* C\], got Tensor\[2, 6\]"),
    (lambda: decode_boxes(torch.zeros(2, 4), torch.zeros(3, 4)), ValueError, r"deltas, anchors: expected the same N"),
    (lambda: decode_boxes(torch.full((1, 4), math.nan), torch.zeros(1, 4)), ValueError, r"deltas: values must be finite"),
    (lambda: decode_boxes([[0.0] * 4], torch.zeros(1, 4)), TypeError, r"deltas: expected a Tensor\[N, 4\], got list"),
])
def test_box_coder_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()


# ----------------------------------------------------------------------------- YOLO assignment
def test_assign_yolo_golden_and_conflict():
    anchors = torch.tensor([[4.0, 4.0], [10.0, 20.0]])
    gt = torch.tensor([[2.0, 2, 6, 6],        # centre (4, 4), cell (0, 0), shape IoU 1 with anchor 0
                       [12, 0, 18, 14],       # centre (15, 7), cell (1, 0), (6, 14): IoU .19 / .42 -> anchor 1
                       [1, 1, 7, 7]])         # centre (4, 4), cell (0, 0), (6, 6): anchor 0 with IoU 16/36 -> loses
    labels = torch.tensor([5, 6, 7])
    for order in ([0, 1, 2], [2, 1, 0]):       # the larger IoU wins whichever comes first
        tg = assign_yolo(gt[order], labels[order], (2, 2), 10, anchors)
        assert tg.lost == 1 and tg.obj.sum() == 2
        assert tg.labels[0, 0, 0] == 5 and tg.labels[0, 1, 1] == 6 and tg.labels[0, 0, 1] == -1
        assert order[tg.gt_index[0, 0, 0]] == 0 and order[tg.gt_index[0, 1, 1]] == 1
        assert tg.boxes[0, 0, 0].tolist() == [2.0, 2, 6, 6] and tg.boxes[1, 1].abs().sum() == 0
        torch.testing.assert_close(tg.t[0, 0, 0], torch.tensor([math.log(0.4 / 0.6)] * 2 + [0.0, 0.0]))
    tied = assign_yolo(torch.tensor([[2.0, 2, 6, 6], [2.0, 2, 6, 6]]), torch.tensor([1, 2]), 2, 10, anchors)
    assert tied.lost == 1 and tied.gt_index[0, 0, 0] == 0 and tied.labels[0, 0, 0] == 1   # ties: the earlier wins


def test_assign_yolo_edges_and_empty():
    anchors = torch.tensor([[4.0, 4.0]])
    tg = assign_yolo(torch.tensor([[16.0, 16, 24, 24], [0.0, 0, 2, 2]]), torch.tensor([0, 1]), 2, 10, anchors)
    # centre (20, 20) on the image's bottom-right corner -> the last cell; centre (1, 1) -> cell (0, 0)
    assert tg.gt_index[1, 1, 0] == 0 and tg.gt_index[0, 0, 0] == 1 and tg.lost == 0
    assert torch.isfinite(tg.t).all()
    empty = assign_yolo(torch.zeros(0, 4), torch.zeros(0, dtype=torch.int64), (3, 4), 8, anchors)
    assert empty.obj.shape == (3, 4, 1) and not empty.obj.any() and empty.lost == 0
    assert empty.boxes.shape == (3, 4, 1, 4) and (empty.gt_index == -1).all() and (empty.labels == -1).all()


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**16), g_n=st.integers(0, 12), h=st.integers(1, 3), w=st.integers(1, 3), a_n=st.integers(1, 3))
def test_assign_yolo_equals_loop(seed, g_n, h, w, a_n):
    gg = gen(seed)
    stride = 8
    centre = torch.randint(0, 2 * stride * max(h, w), (g_n, 2), generator=gg).double() / 2   # half pixels: shared cells
    centre = torch.minimum(centre, torch.tensor([w * stride, h * stride], dtype=torch.float64))
    size = torch.randint(1, 4, (g_n, 2), generator=gg).double() * 4                          # few sizes: IoU ties
    gt = torch.cat([centre - size / 2, centre + size / 2], 1)
    labels = torch.randint(0, 5, (g_n,), generator=gg)
    anchors = torch.randint(1, 4, (a_n, 2), generator=gg).double() * 4
    tg = assign_yolo(gt, labels, (h, w), stride, anchors)
    gt_index, t, lost = loop_assign(gt, labels, h, w, stride, anchors)
    assert torch.equal(tg.gt_index, gt_index) and tg.lost == lost
    if g_n == 0:
        assert not tg.obj.any() and (tg.labels == -1).all() and tg.t.abs().sum() == 0
        return
    assert torch.equal(tg.obj, gt_index >= 0)
    assert torch.equal(tg.labels, torch.where(gt_index >= 0, labels[gt_index.clamp(min=0)], -1))
    torch.testing.assert_close(tg.t, t)
    torch.testing.assert_close(tg.boxes, torch.where((gt_index >= 0)[..., None], gt[gt_index.clamp(min=0)], 0.0))


@pytest.mark.parametrize("call, error, match", [
    (lambda: assign_yolo(torch.tensor([[30.0, 0, 34, 4]]), torch.tensor([0]), 2, 10, torch.ones(1, 2)), ValueError,
     r"gt_boxes: box 0 has its centre \[32.0, 2.0\] outside the grid's 20 x 20 pixels"),
    (lambda: assign_yolo(torch.tensor([[0.0, 0, 4, 4]]), torch.tensor([0.0]), 2, 10, torch.ones(1, 2)), TypeError,
     r"gt_labels: expected an integer Tensor\[G\], got torch.float32"),
    (lambda: assign_yolo(torch.tensor([[0.0, 0, 4, 4]]), torch.tensor([0, 1]), 2, 10, torch.ones(1, 2)), ValueError,
     r"gt_labels: expected Tensor\[1\] \(one label per box\), got Tensor\[2\]"),
    (lambda: assign_yolo(torch.tensor([[0.0, 0, 4, 4]]), torch.tensor([-1]), 2, 10, torch.ones(1, 2)), ValueError,
     r"gt_labels: expected class indices >= 0, got -1"),
    (lambda: assign_yolo(torch.tensor([[0.0, 0, 4, 4]]), torch.tensor([0]), (0, 2), 10, torch.ones(1, 2)), ValueError,
     r"grid_size: expected a grid of at least 1 x 1, got \(0, 2\)"),
    (lambda: assign_yolo(torch.tensor([[0.0, 0, 4, 4]]), torch.tensor([0]), (2, 2, 2), 10, torch.ones(1, 2)), ValueError,
     r"grid_size: expected an int or \(H, W\)"),
    (lambda: assign_yolo(torch.tensor([[0.0, 0, 0, 4]]), torch.tensor([0]), 2, 10, torch.ones(1, 2)), ValueError,
     r"gt_boxes: boxes need a positive width and height"),
    (lambda: assign_yolo(torch.tensor([0.0, 0, 4, 4]), torch.tensor([0]), 2, 10, torch.ones(1, 2)), ValueError,
     r"gt_boxes: expected Tensor\[G, 4\] \(xyxy\), got Tensor\[4\]"),
    (lambda: assign_yolo(torch.tensor([[0.0, 0, 4, 4]]), torch.tensor([0]), 2, 10, torch.ones(2)), ValueError,
     r"anchor_wh: expected Tensor\[A, 2\] of \(w, h\), got Tensor\[2\]"),
])
def test_assign_yolo_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()


# ----------------------------------------------------------------------------- Faster R-CNN matching
def test_match_anchors_golden():
    gt = torch.tensor([[0.0, 0, 10, 10], [20, 20, 30, 30]])
    anchors = torch.tensor([[0.0, 0, 10, 10],      # IoU 1 with gt 0 -> 0
                            [0, 0, 10, 5],         # IoU 0.5 -> ignored
                            [0, 0, 10, 2],         # IoU 0.2 -> negative
                            [50, 50, 60, 60],      # no overlap -> negative
                            [20, 20, 30, 26],      # IoU 0.6 with gt 1: its best anchor -> low-quality match 1
                            [20, 20, 30, 25]])     # IoU 0.5 with gt 1 -> ignored
    assert match_anchors(anchors, gt).tolist() == [0, -2, -1, -1, 1, -2]
    assert match_anchors(anchors, gt, allow_low_quality=False).tolist() == [0, -2, -1, -1, -2, -2]
    assert match_anchors(anchors, gt, high=0.5, low=0.5, allow_low_quality=False).tolist() == [0, 0, -1, -1, 1, 1]
    assert A.BELOW_LOW_THRESHOLD == -1 and A.BETWEEN_THRESHOLDS == -2


def test_low_quality_match_goes_to_the_anchors_own_best_gt_and_ties_all_match():
    gt = torch.tensor([[0.0, 0, 10, 10], [0.0, 0, 10, 4]])
    anchors = torch.tensor([[0.0, 0, 10, 5], [100, 100, 110, 110], [200, 200, 210, 210]])
    # anchor 0 is gt 1's best (IoU 0.8) and gt 0's best (IoU 0.5); its own best gt is 1
    assert match_anchors(anchors, gt, high=0.9).tolist() == [1, -1, -1]
    two = torch.tensor([[0.0, 0, 10, 5], [0.0, 5, 10, 10]])     # both have IoU 0.5 with the gt: both match it
    assert match_anchors(two, gt[:1]).tolist() == [0, 0]


def test_match_anchors_gt_without_overlap_and_empty_inputs():
    anchors = torch.tensor([[0.0, 0, 10, 10], [20, 20, 30, 30]])
    # torchvision would match both anchors to this far-away gt (its best IoU, 0, ties with every anchor)
    assert match_anchors(anchors, torch.tensor([[100.0, 100, 110, 110]])).tolist() == [-1, -1]
    assert match_anchors(anchors, torch.zeros(0, 4)).tolist() == [-1, -1]
    out = match_anchors(torch.zeros(0, 4), torch.tensor([[0.0, 0, 1, 1]]))
    assert out.shape == (0,) and out.dtype == torch.int64


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**16), a_n=st.integers(1, 30), g_n=st.integers(1, 6), high=st.floats(0, 1),
       frac=st.floats(0, 1), allow=st.booleans())
def test_match_anchors_equals_loop(seed, a_n, g_n, high, frac, allow):
    anchors = torch.randint(0, 8, (a_n, 2), generator=gen(seed)).float().repeat(1, 2) + torch.tensor([0.0, 0, 4, 4])
    gt = torch.randint(0, 8, (g_n, 2), generator=gen(seed + 1)).float().repeat(1, 2) + torch.tensor([0.0, 0, 4, 6])
    low = high * frac
    got = match_anchors(anchors, gt, high=high, low=low, allow_low_quality=allow)
    assert torch.equal(got, loop_match(box_iou(gt, anchors), high, low, allow))


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(high=0.3, low=0.7), ValueError, r"low: expected low <= high, got low 0.7 > high 0.3"),
    (dict(high=1.2), ValueError, r"high: expected a value in \[0, 1\], got 1.2"),
    (dict(low="a"), TypeError, r"low: expected a number in \[0, 1\], got str"),
    (dict(allow_low_quality=1), TypeError, r"allow_low_quality: expected a bool, got int"),
    (dict(gt_boxes=torch.zeros(2, 3)), ValueError, r"gt_boxes: expected Tensor\[N, 4\] \(xyxy\), got Tensor\[2, 3\]"),
])
def test_match_anchors_bad_input(kwargs, error, match):
    args = dict(anchors=torch.tensor([[0.0, 0, 1, 1]]), gt_boxes=torch.tensor([[0.0, 0, 1, 1]])) | kwargs
    with pytest.raises(error, match=match):
        match_anchors(**args)


# ----------------------------------------------------------------------------- grid argument checks
@pytest.mark.parametrize("call, error, match", [
    (lambda: anchor_shapes([], [1.0]), ValueError, r"scales: expected a non-empty 1-D sequence of numbers, got shape \[0\]"),
    (lambda: anchor_shapes([32.0], [1.0, -2.0]), ValueError, r"ratios: expected positive finite values, got -2.0 at index 1"),
    (lambda: grid_anchors((2, 2), 16, torch.ones(3, 2), layout="ssd"), ValueError, r"layout: unknown layout 'ssd'; expected one of yolo, rcnn"),
    (lambda: grid_anchors((2, -1), 16, torch.ones(3, 2)), ValueError, r"feature_size: expected an int >= 0, got -1"),
    (lambda: grid_anchors((2, 2), -16, torch.ones(3, 2)), ValueError, r"stride: expected a positive finite number, got -16"),
    (lambda: grid_anchors((2, 2), 16, torch.ones(3, 2, 2)), ValueError, r"anchor_wh: expected Tensor\[A, 2\] of \(w, h\), got Tensor\[3, 2, 2\]"),
    (lambda: grid_anchors((2, 2), 16, torch.ones(3, 2), offset="centre"), TypeError, r"offset: expected a finite number"),
    (lambda: multi_scale_anchors(64, [8, 16], [torch.ones(1, 2)]), ValueError,
     r"strides: expected one stride per level of anchor_wh_per_level \(1 levels\), got \[8, 16\]"),
    (lambda: cell_grid(2.5), TypeError, r"feature_size: expected an int, got float 2.5"),
])
def test_grid_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()
