"""cvcourse.yolo.plot: the figures hold what they should (responsible cells, the target's values,
the assigned priors, one line per NMS threshold), the threshold sweep agrees with a slow loop over
`postprocess` and a greedy matcher and with hand-worked detections, bad input is named."""
import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from cvcourse.data.shapes import CLASSES, make_scene  # noqa: E402
from cvcourse.ops import box_iou  # noqa: E402
from cvcourse.yolo import assign_targets, decode_boxes, encode_v1_targets, make_priors, postprocess  # noqa: E402
from cvcourse.yolo.plot import (  # noqa: E402
    draw_v1_grid,
    plot_threshold_sweep,
    show_priors,
    show_v1_target,
    sweep_thresholds,
    v1_channel_names,
)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


def rects(ax, **where):
    """(x1, y1, x2, y2) of the Rectangles on `ax` whose properties match `where` (e.g. alpha=0.45)."""
    out = []
    for p in ax.patches:
        if isinstance(p, Rectangle) and all(getattr(p, f"get_{k}")() == v for k, v in where.items()):
            out.append(tuple(round(float(v), 4) for v in (p.get_x(), p.get_y(), p.get_x() + p.get_width(),
                                                         p.get_y() + p.get_height())))
    return out


# ----------------------------------------------------------------------------- YOLOv1
def test_channel_names():
    assert v1_channel_names(2, 3, CLASSES) == ["x0", "y0", "w0", "h0", "conf0", "x1", "y1", "w1", "h1", "conf1",
                                               "p(square)", "p(circle)", "p(triangle)"]
    assert v1_channel_names(1, 4, ["a"]) == ["x0", "y0", "w0", "h0", "conf0", "p(a)", "p(1)", "p(2)", "p(3)"]
    assert len(v1_channel_names()) == 30


def test_grid_shades_the_responsible_cells():
    """A 140 x 70 image (W x H), S = 7: cells of 20 x 10 pixels. Box 0's centre (50, 25) is in column 2,
    row 2; box 1's (130, 65) in column 6, row 6; box 2's (45, 28) also in (2, 2): it is dropped (dashed)."""
    image = np.zeros((70, 140, 3), dtype=np.uint8)
    boxes = torch.tensor([[40.0, 20.0, 60.0, 30.0], [120.0, 60.0, 140.0, 70.0], [41.0, 26.0, 49.0, 30.0]])
    ax = draw_v1_grid(image, boxes, torch.tensor([0, 2, 1]), S=7, class_names=CLASSES)
    assert sorted(rects(ax, alpha=0.45)) == [(40.0, 20.0, 60.0, 30.0), (120.0, 60.0, 140.0, 70.0)]
    assert sorted(t.get_text() for t in ax.texts) == ["(2, 2)", "(6, 6)"]
    dashed = [p for p in ax.patches if isinstance(p, Rectangle) and p.get_linestyle() == "--"]
    assert len(dashed) == 1 and dashed[0].get_x() == 41.0
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["square", "circle", "triangle", "no cell left"]
    assert ax.get_xlim() == (0.0, 140.0) and ax.get_ylim() == (70.0, 0.0)


def test_target_figure_shows_the_tensor_and_one_cell():
    scene = make_scene(3, image_size=112, min_objects=3, max_objects=4)
    target = encode_v1_targets(scene.boxes, scene.labels, 7, 2, 20, image_size=112)
    fig = show_v1_target(scene.image, target, scene.boxes, scene.labels, class_names=CLASSES)
    assert isinstance(fig, Figure) and len(fig.axes) == 3
    heat = fig.axes[1].images[0].get_array()
    np.testing.assert_allclose(np.asarray(heat), target.reshape(49, 30).double().numpy())
    first = tuple((target[..., 4] == 1).nonzero()[0].tolist())                # the default cell
    heights = [p.get_height() for p in fig.axes[2].patches]
    np.testing.assert_allclose(heights, target[first].double().numpy())
    assert f"cell {first}" in fig.axes[2].get_title()
    assert [t.get_text() for t in fig.axes[2].get_xticklabels()][10:13] == ["p(square)", "p(circle)", "p(triangle)"]
    fig2 = show_v1_target(scene.image, target, scene.boxes, scene.labels, cell=(0, 0))
    assert all(p.get_height() == 0 for p in fig2.axes[2].patches)



def test_grid_shows_tensor_images_clamped_and_uint8_images_as_they_are():
    scene = make_scene(3, image_size=64)
    from_array = draw_v1_grid(scene.image, scene.boxes, scene.labels).images[0].get_array()
    assert np.array_equal(np.asarray(from_array), scene.image)
    bright = torch.full((3, 64, 64), 1.5)
    bright[0] = -0.5                                                        # out of [0, 1]: clamped, not rejected
    shown = np.asarray(draw_v1_grid(bright, scene.boxes, scene.labels).images[0].get_array())
    assert (shown[..., 0] == 0).all() and (shown[..., 1:] == 255).all()

# ----------------------------------------------------------------------------- priors
def test_priors_figure_draws_the_assigned_anchor_of_each_object():
    scene = make_scene(22, image_size=416, min_objects=4, max_objects=5, size_range=(0.05, 0.6))
    priors = make_priors(416)
    fig = show_priors(scene.image, priors, scene.boxes, scene.labels, CLASSES)
    assert len(fig.axes) == 3
    a = assign_targets([{"boxes": scene.boxes, "labels": scene.labels}], priors)
    for level, ax in enumerate(fig.axes):
        solid = rects(ax, edgecolor=(1.0, 1.0, 0.0, 1.0))                       # yellow: the assigned anchors
        picked = a.pred_index[priors.level[a.pred_index] == level]
        centre = (priors.cell_xy[picked] + 0.5) * priors.stride[picked, None]    # where t = 0 puts a box
        half = priors.anchor_wh[picked] / 2
        expected = torch.cat([centre - half, centre + half], 1)
        assert sorted(solid) == sorted(tuple(round(v, 4) for v in row) for row in expected.tolist())
        assert f"{len(picked)} object(s) assigned here" in ax.get_title()
    assert sum(len(rects(ax, edgecolor=(1.0, 1.0, 0.0, 1.0))) for ax in fig.axes) == len(scene.boxes)


# ----------------------------------------------------------------------------- the threshold sweep
def slow_sweep(pred, priors, targets, scores, nms_thresholds, iou_threshold=0.5):
    """postprocess at every (score, NMS) pair, then COCO's greedy matching with Python loops."""
    total = sum(len(t["labels"]) for t in targets)
    out = {k: torch.zeros(len(nms_thresholds), len(scores), dtype=torch.float64) for k in ("precision", "recall", "detections")}
    for u, nms in enumerate(nms_thresholds):
        for k, s in enumerate(scores):
            tp = n = 0
            for det, gt in zip(postprocess(pred, priors, score_threshold=s, iou_threshold=nms), targets, strict=True):
                for c in set(det["labels"].tolist()) | set(gt["labels"].tolist()):
                    d = [i for i in torch.argsort(det["scores"], descending=True, stable=True).tolist()
                         if det["labels"][i] == c]
                    g = gt["boxes"][gt["labels"] == c]
                    taken = [False] * len(g)
                    for i in d:
                        n += 1
                        best, best_iou = -1, iou_threshold
                        for j in range(len(g)):
                            iou = float(box_iou(det["boxes"][i:i + 1], g[j:j + 1])[0, 0])
                            if not taken[j] and iou >= best_iou:
                                best, best_iou = j, iou
                        if best >= 0:
                            taken[best] = True
                            tp += 1
            out["precision"][u, k] = tp / n if n else 1.0
            out["recall"][u, k] = tp / total
            out["detections"][u, k] = n / len(targets)
    return out


def random_detector(seed):
    """Raw outputs of 4 images of 64 x 64 pixels and ground truth near some of the decoded boxes."""
    g = torch.Generator().manual_seed(seed)
    priors = make_priors(64, (8, 16), [[(10, 10), (20, 14)], [(30, 30), (40, 24)]])
    pred = torch.randn(4, len(priors.stride), 8, generator=g)
    pred[..., 4] -= 1.5
    boxes = decode_boxes(pred, priors).clamp(0, 64)
    targets = []
    for i in range(4):
        pick = torch.randperm(len(priors.stride), generator=g)[:3]
        gt = boxes[i, pick] + torch.randn(3, 4, generator=g)
        gt = torch.cat([gt[:, :2].clamp(0, 60), torch.maximum(gt[:, 2:], gt[:, :2] + 2).clamp(max=64)], 1)
        targets.append({"boxes": gt, "labels": torch.randint(3, (3,), generator=g)})
    return pred, priors, targets


@pytest.mark.parametrize("seed", [0, 1])
def test_sweep_agrees_with_a_slow_loop(seed):
    pred, priors, targets = random_detector(seed)
    scores, nms = [0.05, 0.2, 0.35, 0.5, 0.7], [0.3, 0.6, 1.0]
    got = sweep_thresholds(pred, priors, targets, scores, nms)
    expected = slow_sweep(pred, priors, targets, scores, nms)
    for key in ("precision", "recall", "detections"):
        torch.testing.assert_close(got[key], expected[key], msg=key)
    assert got["score_thresholds"].tolist() == scores and got["nms_thresholds"].tolist() == nms
    assert (got["detections"][:, 1:] <= got["detections"][:, :-1]).all()       # fewer with a higher threshold
    assert (got["detections"][1:] >= got["detections"][:-1]).all()             # more with a laxer NMS


def hand_worked():
    """A 32 x 32 image, stride 16 (2 x 2 cells), two anchors 16 x 16 and 16 x 14, one class. t = 0 puts
    every box on its cell: in cell (0, 0) the boxes [0, 0, 16, 16] and [0, 1, 16, 15] (IoU 0.875). The
    ground truth is [0, 0, 16, 16]. Scores: 0.9 (the exact box), 0.8 (its duplicate), 0.6 (cell (1, 1), no
    object): sigmoid(logit) with the class probability ~1."""
    priors = make_priors(32, (16,), [[(16, 16), (16, 14)]])
    pred = torch.zeros(1, 8, 6)
    pred[..., 4] = -20.0                                                     # nothing, except:
    pred[..., 5] = 20.0                                                      # p(class 0) = 1
    logit = lambda p: float(torch.logit(torch.tensor(p, dtype=torch.float64)))  # noqa: E731
    pred[0, 0, 4], pred[0, 1, 4], pred[0, 6, 4] = logit(0.9), logit(0.8), logit(0.6)
    return pred, priors, [{"boxes": torch.tensor([[0.0, 0.0, 16.0, 16.0]]), "labels": torch.tensor([0])}]


def test_sweep_hand_worked():
    """NMS 0.5 removes the duplicate (IoU 0.875): 2 detections, 1 true positive (precision 1/2) above 0.5;
    above 0.7 only the exact box (precision 1); above 0.95 none (precision 1 by convention, recall 0).
    Without NMS (1.0) the duplicate is a false positive: 3 detections above 0.5, 2 above 0.7."""
    pred, priors, targets = hand_worked()
    got = sweep_thresholds(pred, priors, targets, [0.5, 0.7, 0.85, 0.95], [0.5, 1.0])
    torch.testing.assert_close(got["detections"], torch.tensor([[2.0, 1, 1, 0], [3, 2, 1, 0]], dtype=torch.float64))
    torch.testing.assert_close(got["precision"], torch.tensor([[0.5, 1, 1, 1], [1 / 3, 0.5, 1, 1]], dtype=torch.float64))
    torch.testing.assert_close(got["recall"], torch.tensor([[1.0, 1, 1, 0], [1, 1, 1, 0]], dtype=torch.float64))
    assert got["objects"].item() == 1.0


def test_sweep_counts_detections_of_a_class_without_ground_truth_as_false_positives():
    pred, priors, targets = hand_worked()
    pred = torch.cat([pred, torch.full((1, 8, 2), -20.0)], -1)             # 3 classes; 1 and 2 never fire, but:
    pred[0, 6, 5], pred[0, 6, 6] = -20.0, 20.0                              # the cell (1, 1) box is class 1
    got = sweep_thresholds(pred, priors, targets, [0.5], [0.5])
    assert got["detections"].item() == 2 and got["precision"].item() == 0.5 and got["recall"].item() == 1


def test_plot_threshold_sweep_draws_one_line_per_nms_threshold():
    pred, priors, targets = random_detector(0)
    sweep = sweep_thresholds(pred, priors, targets, [0.1, 0.3, 0.5], [0.3, 0.6, 1.0])
    fig = plot_threshold_sweep(sweep)
    assert isinstance(fig, Figure) and len(fig.axes) == 4
    for ax in fig.axes:
        assert len(ax.lines) == (4 if ax is fig.axes[2] else 3)            # + the objects per image, dashed
    assert fig.axes[2].lines[3].get_ydata()[0] == sweep["objects"].item() == 3.0
    drawn = sweep["detections"][1] > 0
    np.testing.assert_allclose(fig.axes[0].lines[1].get_ydata()[drawn.numpy()], sweep["precision"][1][drawn].numpy())
    assert np.isnan(fig.axes[0].lines[1].get_ydata()[~drawn.numpy()]).all()
    np.testing.assert_allclose(fig.axes[3].lines[2].get_xdata(), sweep["recall"][2].numpy())
    assert [t.get_text() for t in fig.axes[1].get_legend().get_texts()] == ["NMS 0.3", "NMS 0.6", "no NMS (1.0)"]


# ----------------------------------------------------------------------------- bad input
IMAGE = np.zeros((32, 32, 3), dtype=np.uint8)
BOX, LABEL = torch.tensor([[2.0, 2.0, 10.0, 10.0]]), torch.tensor([0])


@pytest.mark.parametrize("call, error, match", [
    (lambda: draw_v1_grid(IMAGE[..., 0], BOX, LABEL), ValueError, r"image: expected an ndarray\[H, W, 3\]"),
    (lambda: draw_v1_grid(torch.zeros(3, 8, 8, dtype=torch.uint8), BOX, LABEL), ValueError, "image: expected a float"),
    (lambda: draw_v1_grid(torch.full((3, 32, 32), float("nan")), BOX, LABEL), ValueError, r"image: expected float values"),
    (lambda: draw_v1_grid([[0]], BOX, LABEL), TypeError, r"image: expected an ndarray\[H, W, 3\] \(uint8 RGB\) or a float"),
    (lambda: draw_v1_grid(IMAGE, BOX, torch.tensor([0.0])), TypeError, "labels: expected an integer"),
    (lambda: draw_v1_grid(IMAGE, BOX, torch.tensor([0, 1])), ValueError, r"labels: expected Tensor\[1\]"),
    (lambda: draw_v1_grid(IMAGE, BOX, torch.tensor([-1])), ValueError, "labels: expected class indices >= 0"),
    (lambda: draw_v1_grid(IMAGE, BOX, LABEL, S=0), ValueError, "S"),
    (lambda: draw_v1_grid(IMAGE, BOX + 30, LABEL), ValueError, "boxes: expected boxes inside the image"),
    (lambda: draw_v1_grid(IMAGE, BOX, LABEL, class_names="abc"), TypeError, "class_names"),
    (lambda: show_v1_target(IMAGE, torch.zeros(7, 7, 30, dtype=torch.int64), BOX, LABEL), TypeError,
     "target: expected a floating"),
    (lambda: show_v1_target(IMAGE, torch.zeros(7, 6, 30), BOX, LABEL), ValueError, r"target: expected Tensor\[S, S"),
    (lambda: show_v1_target(IMAGE, torch.zeros(7, 7, 10), BOX, LABEL), ValueError, "C >= 1"),
    (lambda: show_v1_target(IMAGE, torch.zeros(7, 7, 30), BOX, LABEL, cell=(7, 0)), ValueError, r"cell: expected \(row, col\)"),
    (lambda: show_priors(IMAGE, "priors", BOX), TypeError, "priors: expected the YoloPriors"),
    (lambda: show_priors(IMAGE, make_priors(64, (8, 16), [[(4, 4)], [(8, 8)]]), BOX), ValueError,
     "image: expected 64 x 64 pixels"),
    (lambda: v1_channel_names(0, 3), ValueError, "B"),
    (lambda: plot_threshold_sweep({"precision": torch.zeros(1, 1)}), TypeError, "sweep: expected the dict"),
])
def test_bad_input_is_named(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_sweep_names_bad_input():
    pred, priors, targets = hand_worked()
    with pytest.raises(ValueError, match=r"targets: expected a list of 1 dicts"):
        sweep_thresholds(pred, priors, targets * 2, [0.5])
    with pytest.raises(TypeError, match=r"targets\[0\]: expected a dict"):
        sweep_thresholds(pred, priors, [{"boxes": BOX}], [0.5])
    with pytest.raises(ValueError, match=r"score_thresholds: expected a non-empty sequence"):
        sweep_thresholds(pred, priors, targets, [])
    with pytest.raises(ValueError, match=r"nms_thresholds\[1\]"):
        sweep_thresholds(pred, priors, targets, [0.5], [0.5, 1.5])
    with pytest.raises(ValueError, match="pred: expected Tensor"):
        sweep_thresholds(pred[:, :4], priors, targets, [0.5])
    with pytest.raises(ValueError, match="max_detections"):
        sweep_thresholds(pred, priors, targets, [0.5], max_detections=5)
    with pytest.raises(ValueError, match="no ground-truth box"):
        sweep_thresholds(pred, priors, [{"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.int64)}],
                         [0.5])
    bad = plot_threshold_sweep
    sweep = sweep_thresholds(pred, priors, targets, [0.5, 0.7], [0.5])
    with pytest.raises(ValueError, match=r"Tensor\[1, 2\]"):
        bad({**sweep, "recall": torch.zeros(2, 2)})
