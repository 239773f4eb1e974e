"""cvcourse.detection_plot: the semantic map by hand, the figures hold what they should (patches,
captions, mask colours, map extents, pipeline blocks), bad input is named."""
import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import FancyBboxPatch, Rectangle  # noqa: E402

from cvcourse import detection_plot as dp  # noqa: E402
from cvcourse.data.shapes import CLASSES, make_scene  # noqa: E402
from cvcourse.plot import box_colors  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


def square(h, w, x1, y1, x2, y2):
    m = torch.zeros(h, w, dtype=torch.bool)
    m[y1:y2, x1:x2] = True
    return m


def rects(ax):
    return [tuple(round(float(v), 6) for v in (p.get_x(), p.get_y(), p.get_x() + p.get_width(), p.get_y() + p.get_height()))
            for p in ax.patches if isinstance(p, Rectangle)]


# ----------------------------------------------------------------------------- semantic_map
def test_semantic_map_by_hand():
    """Two objects of class 1 side by side become one region of value 2; class 0 is 1; later masks win."""
    masks = torch.stack([square(4, 6, 0, 0, 2, 2), square(4, 6, 2, 0, 4, 2), square(4, 6, 1, 1, 5, 4)])
    got = dp.semantic_map(masks, torch.tensor([1, 1, 0]))
    expected = torch.tensor([[2, 2, 2, 2, 0, 0],
                             [2, 1, 1, 1, 1, 0],
                             [0, 1, 1, 1, 1, 0],
                             [0, 1, 1, 1, 1, 0]])
    assert got.dtype == torch.int64 and torch.equal(got, expected)


def test_semantic_map_of_a_scene_agrees_with_its_masks():
    scene = make_scene(14, image_size=96, min_objects=3, max_objects=4)
    sem = dp.semantic_map(scene.masks, scene.labels)
    assert torch.equal(sem > 0, scene.masks.any(0))
    for k in range(len(scene.labels)):
        assert (sem[scene.masks[k]] == scene.labels[k] + 1).all()      # the scene's masks are disjoint


def test_semantic_map_accepts_probabilities_and_no_objects():
    probs = torch.stack([square(3, 3, 0, 0, 2, 2).float() * 0.7, square(3, 3, 0, 0, 3, 3).float() * 0.4])
    assert torch.equal(dp.semantic_map(probs, torch.tensor([0, 2])), square(3, 3, 0, 0, 2, 2).long())
    empty = dp.semantic_map(torch.zeros(0, 5, 7, dtype=torch.bool), torch.zeros(0, dtype=torch.int64))
    assert empty.shape == (5, 7) and not empty.any()


@pytest.mark.parametrize("masks, labels, error, match", [
    ([[True]], torch.tensor([0]), TypeError, "masks: expected a Tensor"),
    (torch.zeros(4, 4, dtype=torch.bool), torch.tensor([0]), ValueError, r"masks: expected Tensor\[N, H, W\]"),
    (torch.zeros(2, 4, 4, dtype=torch.bool), torch.tensor([0]), ValueError,
     r"labels: expected Tensor\[2\] \(one label per object\), got Tensor\[1\]"),
    (torch.zeros(1, 4, 4, dtype=torch.bool), torch.tensor([0.0]), TypeError, "labels: expected an integer"),
    (torch.zeros(1, 4, 4, dtype=torch.bool), torch.tensor([-1]), ValueError, "labels: expected class indices >= 0"),
    (torch.full((1, 4, 4), float("nan")), torch.tensor([0]), ValueError, "masks: expected finite"),
])
def test_semantic_map_names_bad_input(masks, labels, error, match):
    with pytest.raises(error, match=match):
        dp.semantic_map(masks, labels)


# ----------------------------------------------------------------------------- show_semantic_vs_instance
def test_semantic_vs_instance_panels():
    scene = make_scene(14, image_size=96, min_objects=3, max_objects=4)
    fig = dp.show_semantic_vs_instance(scene.image, scene.masks, scene.labels, CLASSES)
    assert isinstance(fig, Figure) and len(fig.axes) == 3
    image, semantic, instance = fig.axes
    classes = sorted(set(scene.labels.tolist()))
    assert semantic.get_title() == f"semantic: {len(classes)} classes"
    assert instance.get_title() == f"instance: {len(scene.labels)} objects"
    assert [t.get_text() for t in semantic.get_legend().get_texts()] == [CLASSES[c] for c in classes]
    assert sorted(t.get_text() for t in instance.texts) == sorted(f"{k}: {CLASSES[c]}" for k, c in enumerate(scene.labels.tolist()))
    shown = semantic.images[0].get_array()
    k = int(scene.labels[0])
    y, x = (int(v[0]) for v in torch.nonzero(scene.masks[0], as_tuple=True))
    assert np.allclose(shown[y, x], np.asarray(box_colors(len(CLASSES))[k]) / 255)      # the class's colour
    assert image.images[0].get_extent() == [0, 96, 96, 0]                               # pixel edges


# ----------------------------------------------------------------------------- draw_instances
def test_draw_instances_draws_boxes_captions_and_masks():
    image = np.full((20, 30, 3), 100, np.uint8)
    boxes = torch.tensor([[2.0, 3.0, 10.0, 12.0], [12.0, 4.0, 28.0, 18.0]])
    masks = torch.stack([square(20, 30, 2, 3, 10, 12), square(20, 30, 12, 4, 28, 18)])[:, None].float() * 0.8
    ax = dp.draw_instances(image, boxes, torch.tensor([2, 0]), torch.tensor([0.987, 0.5]), masks, CLASSES, alpha=0.5)
    assert isinstance(ax, Axes)
    assert rects(ax) == [(2, 3, 10, 12), (12, 4, 28, 18)]
    assert [t.get_text() for t in ax.texts] == ["triangle 0.99", "square 0.50"]
    assert len(ax.collections) == 2                                   # one outline per mask
    shown = ax.images[0].get_array()
    colors = [np.asarray(c) / 255 for c in box_colors(3)]
    assert np.allclose(shown[5, 5], 0.5 * 100 / 255 + 0.5 * colors[2])   # inside mask 0: half its class's colour
    assert np.allclose(shown[15, 20], 0.5 * 100 / 255 + 0.5 * colors[0])
    assert np.allclose(shown[0, 0], 100 / 255)                          # background untouched
    assert ax.get_xlim() == (0, 30) and ax.get_ylim() == (20, 0)


def test_draw_instances_thresholds_probabilities_and_takes_tensors():
    image = torch.zeros(3, 8, 8)
    probs = torch.zeros(1, 8, 8)
    probs[0, 2:4, 2:4] = 0.6
    probs[0, 5, 5] = 0.4
    ax = dp.draw_instances(image, torch.tensor([[2.0, 2.0, 6.0, 6.0]]), torch.tensor([1]), masks=probs, alpha=1.0)
    shown = ax.images[0].get_array()
    assert np.allclose(shown[2, 2], np.asarray(box_colors(2)[1]) / 255) and np.allclose(shown[5, 5], 0)
    assert [t.get_text() for t in ax.texts] == ["1"]                    # no names, no score: the label


def test_draw_instances_without_detections_or_masks():
    ax = dp.draw_instances(np.zeros((8, 8, 3), np.uint8), torch.zeros(0, 4), torch.zeros(0, dtype=torch.int64),
                           torch.zeros(0), torch.zeros(0, 1, 8, 8))
    assert not ax.patches and not ax.texts and len(ax.images) == 1
    ax = dp.draw_instances(np.zeros((8, 8, 3), np.uint8), torch.tensor([[1.0, 1.0, 4.0, 4.0]]), torch.tensor([0]))
    assert len(rects(ax)) == 1 and not ax.collections


@pytest.mark.parametrize("kwargs, error, match", [
    ({"image": np.zeros((8, 8), np.uint8)}, ValueError, r"image: expected ndarray\[H, W, 3\]"),
    ({"image": torch.zeros(1, 8, 8)}, ValueError, r"image: expected a float Tensor\[3, H, W\]"),
    ({"image": np.zeros((8, 8, 3), bool)}, TypeError, "image: expected uint8 or float"),
    ({"boxes": torch.tensor([[4.0, 1.0, 2.0, 3.0]])}, ValueError, "boxes: expected x2 >= x1"),
    ({"labels": torch.tensor([0, 1])}, ValueError, r"labels: expected Tensor\[1\]"),
    ({"scores": torch.tensor([0.5, 0.2])}, ValueError, r"scores: expected Tensor\[1\]"),
    ({"masks": torch.zeros(1, 8, 9)}, ValueError, r"masks: expected Tensor\[1, 8, 8\]"),
    ({"masks": torch.zeros(2, 8, 8)}, ValueError, r"masks: expected Tensor\[1, 8, 8\]"),
    ({"class_names": ["square"], "labels": torch.tensor([1])}, ValueError, "class_names: expected a name for each of the 2"),
    ({"class_names": "square"}, TypeError, "class_names: expected a sequence"),
    ({"alpha": 1.5}, ValueError, "alpha"),
])
def test_draw_instances_names_bad_input(kwargs, error, match):
    args = {"image": np.zeros((8, 8, 3), np.uint8), "boxes": torch.tensor([[1.0, 1.0, 4.0, 4.0]]),
            "labels": torch.tensor([0]), "scores": None, "masks": None}
    args.update(kwargs)
    with pytest.raises(error, match=match):
        dp.draw_instances(**args)


# ----------------------------------------------------------------------------- draw_feature_map
def test_feature_map_is_drawn_over_the_image_it_came_from():
    feature = torch.arange(12.0).view(3, 4)
    ax = dp.draw_feature_map(feature, 4, torch.tensor([[2.0, 1.0, 9.5, 11.0]]), colors="red")
    assert ax.images[0].get_extent() == [0, 16, 12, 0]               # stride 4: 4 x 3 cells of 4 pixels
    assert np.array_equal(ax.images[0].get_array(), feature.numpy())
    assert rects(ax) == [(2, 1, 9.5, 11)]
    assert ax.patches[0].get_edgecolor()[:3] == (1.0, 0.0, 0.0)


@pytest.mark.parametrize("args, error, match", [
    ((torch.zeros(2, 3, 4), 4), ValueError, r"feature: expected a single-channel map Tensor\[H, W\]"),
    ((torch.zeros(3, 4), 0), ValueError, "stride: expected an int >= 1"),
    ((torch.zeros(3, 4), 2.5), TypeError, "stride: expected an int"),
    ((torch.zeros(3, 4), 4, torch.zeros(2, 3)), ValueError, r"boxes: expected Tensor\[N, 4\]"),
])
def test_draw_feature_map_names_bad_input(args, error, match):
    with pytest.raises(error, match=match):
        dp.draw_feature_map(*args)


# ----------------------------------------------------------------------------- pipelines
@pytest.mark.parametrize("stage, blocks, new, arrows, words", [
    ("rcnn", 5, 4, 4, ["selective search", "warp", "once per box"]),
    ("fast", 6, 4, 6, ["once per image", "RoIPool 7x7"]),
    ("faster", 6, 1, 6, ["RPN"]),
    ("mask", 8, 3, 8, ["RoIAlign 7x7", "RoIAlign 14x14", "28x28"]),
])
def test_pipeline_blocks_and_arrows(stage, blocks, new, arrows, words):
    ax = dp.draw_pipeline(stage)
    patches = [p for p in ax.patches if isinstance(p, FancyBboxPatch)]
    assert len(patches) == blocks and len([t for t in ax.texts if t.get_text()]) == blocks
    assert sum(p.get_facecolor()[:3] != patches[0].get_facecolor()[:3] for p in patches) in (new, blocks - new)
    assert len([t for t in ax.texts if t.get_text() == ""]) == arrows      # annotations with arrows
    text = " ".join(t.get_text().replace("\n", " ") for t in ax.texts)
    for word in words:
        assert word in text
    assert ax.get_xlim() == dp.draw_pipeline("rcnn").get_xlim()         # one scale for every stage


def test_pipelines_figure_and_bad_stages():
    fig = dp.draw_pipelines()
    assert isinstance(fig, Figure) and [ax.get_title(loc="left").split(" ")[0] for ax in fig.axes] == \
        ["R-CNN", "Fast", "Faster", "Mask"]
    assert len(dp.draw_pipelines("mask").axes) == 1
    with pytest.raises(ValueError, match="stage: expected one of rcnn, fast, faster, mask, got 'yolo'"):
        dp.draw_pipeline("yolo")
    with pytest.raises(ValueError, match="stages: expected names from"):
        dp.draw_pipelines(["rcnn", "ssd"])
    with pytest.raises(ValueError, match="stages: expected at least one"):
        dp.draw_pipelines([])
