"""cvcourse.roi_plot: the figures draw what the ops compute (bins of roi_pool, samples of roi_align,
bilinear weights), with the expected numbers of patches and points; bad input is named."""
import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.collections import PathCollection  # noqa: E402

from cvcourse import ops, roi_plot  # noqa: E402
from cvcourse.roi_plot import _align_samples, _one_hot  # noqa: E402

BOX = (37.0, 29.0, 118.0, 100.0)          # on a stride-16 map: (2.3125, 1.8125, 7.375, 6.25)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


def rectangles(ax):
    """(x0, y0, x1, y1) of every patch, rounded for comparison."""
    out = []
    for p in ax.patches:
        x, y = p.get_xy()
        out.append(tuple(round(float(v), 6) for v in (x, y, x + p.get_width(), y + p.get_height())))
    return out


def scatters(ax):
    return [c for c in ax.collections if isinstance(c, PathCollection)]


# ----------------------------------------------------------------------------- RoIPool
def test_roi_pool_figure_shows_the_rounded_roi_and_its_bins():
    """Hand-worked: corners round to x 2..7 and y 2..6 (pixels, both ends included); 2 x 2 bins of a
    6-wide, 5-high RoI: columns 2-4 and 5-7, rows 2-4 and 4-6 (row 4 is shared)."""
    ax = roi_plot.draw_roi_pool((8, 9), BOX, 2, 1 / 16)
    rects = rectangles(ax)
    assert len(rects) == 2 + 4
    assert rects[:4] == [(2, 2, 5, 5), (5, 2, 8, 5), (2, 4, 5, 7), (5, 4, 8, 7)]      # bins (0,0) (0,1) (1,0) (1,1)
    assert rects[4] == (2, 2, 8, 7)                                                   # the pixels read
    assert rects[5] == (2.3125, 1.8125, 7.375, 6.25)                                  # the box on the map
    assert len(scatters(ax)[0].get_offsets()) == 8 * 9                                # pixel centres
    assert ax.get_title() == "RoIPool: 2x2 bins of whole pixels"


def test_roi_pool_bins_are_the_pixels_the_op_reads():
    """Every drawn bin holds exactly the pixels whose one-hot channel roi_pool reports in that bin."""
    h, w, box, size = 7, 10, (-20.0, 12.0, 97.0, 140.0), (3, 4)
    member = ops.roi_pool(_one_hot(h, w)[None], [torch.tensor([box])], size, 1 / 16)[0].view(h, w, *size) > 0
    ax = roi_plot.draw_roi_pool((h, w), box, size, 1 / 16)
    drawn = [(i, j) for i in range(3) for j in range(4) if member[:, :, i, j].any()]
    assert len(ax.patches) == 2 + len(drawn)
    for (i, j), (x0, y0, x1, y1) in zip(drawn, rectangles(ax), strict=False):
        expected = torch.zeros(h, w, dtype=torch.bool)
        expected[int(y0):int(y1), int(x0):int(x1)] = True
        assert torch.equal(member[:, :, i, j], expected), (i, j)


def test_roi_pool_figure_of_a_box_outside_the_map_has_no_bins():
    ax = roi_plot.draw_roi_pool(5, (200, 200, 260, 260), 2, 1 / 16)
    assert len(ax.patches) == 1                                          # the box only


# ----------------------------------------------------------------------------- RoIAlign
@pytest.mark.parametrize("box, size, scale, ratio, aligned", [
    (BOX, (2, 2), 1 / 16, 2, False),
    (BOX, (2, 3), 1 / 16, 2, True),
    ((1.3, 0.2, 6.9, 4.4), (3, 2), 1.0, 0, False),          # adaptive: ceil(2.8 / 2) = 2 and ceil(4.2 / 3) = 2
    ((1.3, 0.2, 6.9, 4.4), (2, 2), 1.0, -1, True),
    ((-3.0, 5.5, 4.0, 9.5), (2, 2), 1.0, 3, False),         # partly outside the map
    ((2.2, 3.1, 2.4, 3.15), (2, 2), 1.0, 0, False),         # smaller than a pixel: at least 1 x 1
])
def test_the_drawn_samples_are_roi_aligns(box, size, scale, ratio, aligned):
    """Averaging one-hot reads at the drawn sample positions gives roi_align of the one-hot map: the
    picture's samples are the op's."""
    h, w = 8, 9
    ys, xs, _, _ = _align_samples(torch.tensor(box, dtype=torch.float64), size, scale, ratio, aligned)
    reads = ops.bilinear_interpolate(_one_hot(h, w), ys[:, None, :, None], xs[None, :, None, :])   # (HW, oh, ow, gh, gw)
    footprint = reads.mean((3, 4))
    expected = ops.roi_align(_one_hot(h, w)[None], [torch.tensor([box], dtype=torch.float64)], size, scale,
                             ratio, aligned)[0]
    torch.testing.assert_close(footprint, expected)


def test_roi_align_figure_counts_and_positions():
    ax = roi_plot.draw_roi_align((8, 9), BOX, (2, 3), 1 / 16, sampling_ratio=2, aligned=True)
    assert len(ax.patches) == 2
    rects = rectangles(ax)
    assert rects[0] == (2.3125, 1.8125, 7.375, 6.25) == rects[1]          # aligned: the RoI is the box
    centres, samples = scatters(ax)
    assert len(centres.get_offsets()) == 72 and len(samples.get_offsets()) == 2 * 3 * 2 * 2
    first = samples.get_offsets()[0]                                      # bin (0, 0), sample (0, 0)
    assert first.tolist() == pytest.approx([2.3125 + 0.25 * (7.375 - 2.3125) / 3, 1.8125 + 0.25 * (6.25 - 1.8125) / 2])
    assert "aligned=True" in ax.get_title()


def test_aligned_false_draws_the_roi_half_a_pixel_lower_right():
    ax = roi_plot.draw_roi_align((8, 9), BOX, 2, 1 / 16, sampling_ratio=1)
    assert rectangles(ax)[1] == (2.8125, 2.3125, 7.875, 6.75)


@pytest.mark.parametrize("box, highlight, n_neighbours", [
    (BOX, (0, 1, 3), 4),                           # inside the map: four neighbours
    ((0.0, 0.0, 1.0, 1.0), (0, 0, 0), 1),           # sample (0.25, 0.25) on a map of one pixel
    ((-40.0, -40.0, -30.0, -30.0), (0, 0, 0), 0),   # far outside: no weights
])
def test_highlight_draws_one_line_and_weight_per_neighbour(box, highlight, n_neighbours):
    h, w = (8, 9) if box is BOX else (1, 1)
    ax = roi_plot.draw_roi_align((h, w), box, 2, 1 / 16 if box is BOX else 1.0, sampling_ratio=2, highlight=highlight)
    assert len(ax.lines) == n_neighbours
    weights = [float(t.get_text()) for t in ax.texts]
    assert len(weights) == n_neighbours
    if n_neighbours:
        assert sum(weights) == pytest.approx(1.0, abs=0.02)               # labels are rounded to 2 digits
    assert len(scatters(ax)) == 3                                         # centres, samples, the star


def test_highlighted_weights_are_bilinear_interpolates():
    ax = roi_plot.draw_roi_align((8, 9), BOX, 2, 1 / 16, sampling_ratio=2, aligned=True, highlight=(0, 1, 3))
    ys, xs, _, _ = _align_samples(torch.tensor(BOX, dtype=torch.float64), (2, 2), 1 / 16, 2, True)
    y, x = ys[0, 1].item(), xs[1, 1].item()
    expected = ops.bilinear_interpolate(_one_hot(8, 9), y, x)
    labels = sorted(float(t.get_text()) for t in ax.texts)
    assert labels == sorted(round(v, 2) for v in expected[expected > 0].tolist())


# ----------------------------------------------------------------------------- bilinear weights and drift
def test_bilinear_weights_are_the_opposite_areas():
    ax = roi_plot.draw_bilinear_weights(0.3, 0.7)
    areas = [p.get_width() * p.get_height() for p in ax.patches]
    assert areas == pytest.approx([0.7 * 0.3, 0.7 * 0.7, 0.3 * 0.3, 0.3 * 0.7])   # (y0,x0) (y0,x1) (y1,x0) (y1,x1)
    assert sum(areas) == pytest.approx(1.0)
    assert [t.get_text() for t in ax.texts if "." in t.get_text() and "[" not in t.get_text()] == \
        ["0.210", "0.490", "0.090", "0.210"]


def test_plot_roi_drift_draws_one_line_per_curve():
    shifts = torch.linspace(0, 32, 65)
    ax = roi_plot.plot_roi_drift(shifts, {"RoIPool": shifts.floor(), "RoIAlign": shifts / 2}, stride=16)
    assert [line.get_label() for line in ax.lines] == ["RoIPool", "RoIAlign"]
    assert ax.lines[1].get_ydata().tolist() == (shifts / 2).tolist()
    assert len(ax.collections) == 1 and len(ax.collections[0].get_segments()) == 3          # 0, 16, 32
    assert ax.get_ylabel() == "pooled value" and ax.get_xlabel() == "box shift (image pixels)"
    ax = roi_plot.plot_roi_drift(shifts, {"a": shifts}, ylabel="left edge")
    assert len(ax.collections) == 0 and ax.get_ylabel() == "left edge"


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("call, error, match", [
    (lambda: roi_plot.draw_roi_pool((65, 65), BOX, 2), ValueError, r"feature_size: at most 4096 pixels"),
    (lambda: roi_plot.draw_roi_pool((0, 4), BOX, 2), ValueError, r"feature_size: expected an int >= 1"),
    (lambda: roi_plot.draw_roi_pool((4, 4, 4), BOX, 2), TypeError, r"feature_size: expected an int or \(height, width\)"),
    (lambda: roi_plot.draw_roi_pool(4, (1, 2, 3), 2), TypeError, r"box: expected \(x1, y1, x2, y2\)"),
    (lambda: roi_plot.draw_roi_pool(4, (3, 2, 1, 4), 2), ValueError, r"box: expected x2 >= x1"),
    (lambda: roi_plot.draw_roi_pool(4, BOX, 0), ValueError, r"output_size: expected an int >= 1"),
    (lambda: roi_plot.draw_roi_align(4, BOX, 2, sampling_ratio=1.5), TypeError, r"sampling_ratio: expected an int"),
    (lambda: roi_plot.draw_roi_align(4, BOX, 2, aligned=1), TypeError, r"aligned: expected a bool"),
    (lambda: roi_plot.draw_roi_align(4, BOX, 2, sampling_ratio=2, highlight=(0, 0, 4)), ValueError,
     r"highlight: expected \(i, j, s\) with i < 2, j < 2, s < 4"),
    (lambda: roi_plot.draw_roi_align(4, BOX, 2, highlight=(0, 2)), ValueError, r"highlight: expected \(i, j, s\)"),
    (lambda: roi_plot.draw_bilinear_weights(1.2, 0.5), ValueError, r"ly: expected a number in \[0, 1\]"),
    (lambda: roi_plot.plot_roi_drift([0, 1], {"a": torch.zeros(2)}), TypeError, r"shifts: expected a Tensor\[S\]"),
    (lambda: roi_plot.plot_roi_drift(torch.zeros(3), {}), TypeError, r"curves: expected a non-empty dict"),
    (lambda: roi_plot.plot_roi_drift(torch.zeros(3), {"a": torch.zeros(2)}), ValueError,
     r"curves\['a'\]: expected a Tensor\[3\] \(one value per shift\), got \[2\]"),
])
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()
