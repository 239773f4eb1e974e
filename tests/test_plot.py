"""cvcourse.plot: every helper returns a Figure with the expected axes; bad input is named."""
import matplotlib

matplotlib.use("Agg")

import subprocess  # noqa: E402
import sys  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from cvcourse import plot  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


def visible_axes(fig):
    return [ax for ax in fig.axes if ax.get_visible() and ax.images]


def test_show_images_accepts_tensors_and_arrays():
    images = [
        torch.rand(3, 8, 9), torch.rand(1, 8, 9), torch.rand(8, 9),
        np.zeros((8, 9), np.uint8), np.full((8, 9, 3), 200, np.uint8), np.random.default_rng(0).random((8, 9, 3)) * 1.5,
    ]
    fig = plot.show_images(images, titles=list("abcdef"), ncols=4)
    assert isinstance(fig, Figure)
    axes = visible_axes(fig)
    assert len(axes) == 6 and [ax.get_title() for ax in axes] == list("abcdef")
    assert axes[5].images[0].get_array().max() <= 1.0          # colour floats are clipped
    assert [ax.images[0].get_clim() for ax in axes[2:4]] == [(0.0, 1.0), (0.0, 255.0)]
    assert len(fig.axes) == 8                                   # 2 rows of 4, the last two blank
    assert isinstance(plot.show_images(np.zeros((4, 4))), Figure)  # a single image


@pytest.mark.parametrize("call, error, match", [
    (lambda: plot.show_images([np.zeros((4, 4))], titles=["a", "b"]), ValueError, r"titles: expected 1 titles"),
    (lambda: plot.show_images([np.zeros((4, 4, 5))]), ValueError, r"images: expected HxW or HxWx3"),
    (lambda: plot.show_images([[0, 1]]), TypeError, r"images: expected Tensors or ndarrays, got list"),
    (lambda: plot.show_images([]), ValueError, r"at least one image"),
    (lambda: plot.show_feature_maps(np.zeros((2, 4, 4))), TypeError, r"maps: expected a torch.Tensor"),
    (lambda: plot.show_feature_maps(torch.zeros(4, 4)), ValueError, r"maps: expected Tensor\[C, H, W\], got Tensor\[4, 4\]"),
    (lambda: plot.show_kernels(torch.zeros(4, 3, 3, 3)), ValueError, r"weight: expected single-channel kernels"),
    (lambda: plot.show_feature_maps(torch.zeros(2, 4, 4), titles=["a"]), ValueError, r"titles: expected 2 titles"),
])
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_show_images_default_and_given_limits():
    signed = np.linspace(-2.0, 1.0, 1000).reshape(20, 50)       # a filter response: grey is 0
    positive = np.linspace(0.0, 300.0, 1000).reshape(20, 50)
    fig = plot.show_images([signed, positive, np.zeros((3, 3))])
    (lo, hi), (lo2, hi2), flat = [ax.images[0].get_clim() for ax in visible_axes(fig)]
    assert lo == -hi and 1.9 < hi <= 2.0 and lo2 == 0.0 and 290 < hi2 <= 300 and flat == (0.0, 1.0)
    fig = plot.show_images([signed], vmin=0, vmax=255)
    assert visible_axes(fig)[0].images[0].get_clim() == (0.0, 255.0)


def test_show_feature_maps_normalises_each_map():
    maps = torch.stack([torch.arange(12.0).view(3, 4) * 100, torch.full((3, 4), 7.0), -torch.arange(12.0).view(3, 4)])
    fig = plot.show_feature_maps(maps, ncols=2, title="conv1")
    axes = visible_axes(fig)
    assert isinstance(fig, Figure) and len(axes) == 3 and fig._suptitle.get_text() == "conv1"
    shown = [np.asarray(ax.images[0].get_array()) for ax in axes]
    assert [(a.min(), a.max()) for a in shown] == [(0.0, 1.0), (0.0, 0.0), (0.0, 1.0)]
    assert all(not ax.get_xticks().size or not ax.axison for ax in axes)
    assert len(visible_axes(plot.show_feature_maps(maps[None]))) == 3  # a batch of one
    fig = plot.show_feature_maps(maps, titles=["a", "b", "c"])
    assert [ax.get_title() for ax in visible_axes(fig)] == ["a", "b", "c"]


def test_show_kernels_uses_symmetric_limits():
    w = torch.tensor([[[[-1.0, 0.0], [0.5, 0.0]]], [[[0.0, 0.0], [0.0, 0.0]]]])
    fig = plot.show_kernels(w, titles=["a", "b"])
    axes = visible_axes(fig)
    assert len(axes) == 2 and axes[0].images[0].get_clim() == (-1.0, 1.0)
    assert isinstance(plot.show_kernels(w[:, 0]), Figure)


def test_show_conv_step_writes_the_computation():
    x = torch.arange(25.0).view(5, 5)
    k = torch.tensor([[1.0, 0, 0], [0, 1, 0], [0, 0, 1]])
    fig = plot.show_conv_step(x, k, row=1, col=2)
    assert isinstance(fig, Figure) and len(fig.axes) == 3
    assert fig._suptitle.get_text() == "output[1, 2] = sum(window * kernel) = 39"  # 7 + 13 + 19
    texts = [t.get_text() for t in fig.axes[2].texts]
    assert [t for t in texts if t] == ["39"]


def test_importing_plot_does_not_import_matplotlib():
    code = "import sys, cvcourse.plot; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


# ----------------------------------------------------------------------------- boxes
def test_box_colors_are_distinct():
    assert len(set(plot.box_colors(10))) == 10 and len(set(plot.box_colors(20))) == 20
    assert plot.box_colors(0) == []
    with pytest.raises(ValueError, match="n: expected a non-negative int"):
        plot.box_colors(-1)


def test_draw_boxes_draws_on_a_copy_in_the_class_colour():
    image = np.zeros((64, 96, 3), np.uint8)
    out = plot.draw_boxes(image, torch.tensor([[10.0, 20.0, 50.0, 60.0]]), labels=[1], scores=[0.9],
                          class_names=["circle", "square"], thickness=1)
    assert image.sum() == 0 and out.shape == image.shape and out.dtype == np.uint8
    color = plot.box_colors(2)[1]
    assert tuple(out[40, 10]) == color and tuple(out[59, 30]) == color  # left and bottom edges, inside the box
    assert tuple(out[40, 30]) == (0, 0, 0) and not out[60:].any() and not out[20:, 50:].any()  # inside and outside untouched
    label_area = out[:20, 10:60]  # the label box sits above the box
    assert (label_area == np.array(color, np.uint8)).all(axis=2).sum() > 50


def test_draw_boxes_label_inside_when_no_room_above_and_grey_input():
    out = plot.draw_boxes(np.zeros((40, 40), np.uint8), np.array([[2, 0, 30, 30]]), labels=[0])
    assert out.shape == (40, 40, 3) and out[1:8, 3:10].any()
    assert plot.draw_boxes(np.zeros((8, 8, 3), np.uint8), torch.zeros(0, 4)).sum() == 0


def test_draw_boxes_draws_as_draw_detections():
    from cvcourse.yolo import draw_detections

    image = np.random.default_rng(0).integers(0, 256, (64, 96, 3), dtype=np.uint8)
    boxes = torch.tensor([[10.0, 20.0, 50.0, 60.0], [40.4, 0, 96, 30], [-5, 50, 20, 80], [70, 40, 71, 41]])
    labels, scores = torch.tensor([1, 0, 2, 1]), torch.tensor([0.9, 0.25, 0.5, 1.0])
    out = plot.draw_boxes(image, boxes, labels, scores, class_names=["a", "bb", "ccc"], thickness=2)
    assert np.array_equal(out, draw_detections(image, boxes, labels, scores, ["a", "bb", "ccc"], thickness=2))
    bare = plot.draw_boxes(image, boxes, thickness=1)                       # no labels: colour 0, no label boxes
    assert (bare[20:60, 10] == plot.box_colors(1)[0]).all() and np.array_equal(bare[:20, :40], image[:20, :40])


def test_box_colors_are_matplotlibs_tab10_and_tab20():
    import matplotlib

    for n, name in ((7, "tab10"), (10, "tab10"), (11, "tab20"), (45, "tab20")):
        cmap = matplotlib.colormaps[name]
        assert plot.box_colors(n) == [tuple(int(round(255 * c)) for c in cmap(i % cmap.N)[:3]) for i in range(n)]


def test_draw_boxes_bad_input():
    with pytest.raises(TypeError, match="image: expected an ndarray"):
        plot.draw_boxes(np.zeros((8, 8, 3), np.float32), torch.zeros(1, 4))
    with pytest.raises(ValueError, match=r"boxes: expected Tensor\[N, 4\]"):
        plot.draw_boxes(np.zeros((8, 8, 3), np.uint8), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="labels: expected 2 values"):
        plot.draw_boxes(np.zeros((8, 8, 3), np.uint8), torch.zeros(2, 4), labels=[0])
    with pytest.raises(ValueError, match=r"boxes: expected x2 >= x1 and y2 >= y1"):
        plot.draw_boxes(np.zeros((8, 8, 3), np.uint8), np.array([[5, 1, 1, 5]]))
    with pytest.raises(ValueError, match=r"boxes: coordinates must be finite"):
        plot.draw_boxes(np.zeros((8, 8, 3), np.uint8), torch.tensor([[1.0, float("nan"), 5, 5]]))
    with pytest.raises(ValueError, match=r"thickness: expected an int >= 1 \(pixels\), got -1"):
        plot.draw_boxes(np.zeros((8, 8, 3), np.uint8), torch.zeros(1, 4), thickness=-1)
    with pytest.raises(ValueError, match=r"font_scale: expected a number > 0, got 0"):
        plot.draw_boxes(np.zeros((8, 8, 3), np.uint8), torch.zeros(1, 4), font_scale=0)


def test_plot_boxes_adds_one_rectangle_per_box():
    ax = plot.plot_boxes(torch.tensor([[0.0, 0, 2, 2], [1, 1, 3, 4]]), labels=["a", "b"])
    assert len(ax.patches) == 2 and [t.get_text() for t in ax.texts] == ["a", "b"]
    assert ax.get_ylim()[0] > ax.get_ylim()[1]  # image convention: y grows downwards
    ax = plot.plot_boxes(np.array([[0, 0, 1, 1]]), ax=ax, colors="red", fill=True)
    assert len(ax.patches) == 4
    with pytest.raises(ValueError, match="labels: expected 1 labels"):
        plot.plot_boxes(torch.zeros(1, 4), labels=["a", "b"])


def test_plot_recall_curve_one_line_per_method_and_threshold():
    result = {"ks": torch.tensor([1, 2, 4]), "recall": {0.5: torch.tensor([0.2, 0.5, 0.9]), 0.7: torch.tensor([0.1, 0.2, 0.6])}}
    ax = plot.plot_recall_curve(result, title="t")
    assert len(ax.lines) == 2 and ax.get_xscale() == "log"
    ax = plot.plot_recall_curve({"a": result, "b": result}, log_x=False)
    assert [ln.get_label() for ln in ax.lines] == ["a IoU 0.5", "a IoU 0.7", "b IoU 0.5", "b IoU 0.7"]
    with pytest.raises(ValueError, match="expected the dict of proposal_recall"):
        plot.plot_recall_curve({"a": 1})
    with pytest.raises(TypeError, match="results: expected a dict"):
        plot.plot_recall_curve([result])
