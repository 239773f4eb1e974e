"""cvcourse.yolo.draw: detections drawn with OpenCV. Exact pixels of the outlines (pixel-edge boxes,
drawn inside), class colours, the label box (size from cv2.getTextSize, above the box or inside it, kept
in the image), clipping at the border, the input never modified, every bad argument."""
import cv2
import numpy as np
import pytest
import torch

from cvcourse.data import to_tensor
from cvcourse.data.shapes import make_scene
from cvcourse.plot import box_colors
from cvcourse.yolo import draw
from cvcourse.yolo.draw import PALETTE, draw_detections

FONT = cv2.FONT_HERSHEY_SIMPLEX
BLACK = np.zeros((64, 80, 3), np.uint8)                          # H = 64, W = 80


def label_size(text, font_scale=0.4):
    """(width, height) of the label box draw_detections draws for `text`: the text plus a 1-pixel margin."""
    (tw, th), baseline = cv2.getTextSize(text, FONT, font_scale, 1)
    return tw + 2, th + baseline + 2


def ring(h, w, x1, y1, x2, y2, t):
    """bool HxW: the t-pixel band inside the pixel-edge box (x1, y1, x2, y2)."""
    inside = np.zeros((h, w), bool)
    inside[y1:y2, x1:x2] = True
    inner = np.zeros((h, w), bool)
    inner[y1 + t:y2 - t, x1 + t:x2 - t] = True
    return inside & ~inner


def has(image, color):
    """bool HxW: pixels of exactly this colour."""
    return (image == np.asarray(color, np.uint8)).all(axis=2)


def dark(image):
    """bool HxW: near-black pixels (anti-aliased black text)."""
    return (image < 60).all(axis=2)


def light(image):
    """bool HxW: near-white pixels (anti-aliased white text)."""
    return (image > 200).all(axis=2)


# ----------------------------------------------------------------------------- outlines and colours
def test_outline_is_the_band_inside_the_box_in_the_class_colour():
    image = BLACK.copy()
    out = draw_detections(image, torch.tensor([[10.0, 20, 40, 50]]), torch.tensor([0]), thickness=2)
    assert out.shape == (64, 80, 3) and out.dtype == np.uint8 and out.flags.c_contiguous
    assert not np.shares_memory(out, image) and not image.any()      # a new image; the input untouched
    below = np.zeros((64, 80), bool)
    below[20:] = True                                             # the label box lies above row 20
    assert np.array_equal(has(out, PALETTE[0]) & below, ring(64, 80, 10, 20, 40, 50, 2) & below)
    assert not out[20:][~ring(64, 80, 10, 20, 40, 50, 2)[20:]].any()  # interior and outside untouched


@pytest.mark.parametrize("thickness", [1, 3])
def test_thickness_and_rounding_of_fractional_boxes(thickness):
    exact = draw_detections(BLACK, torch.tensor([[10, 20, 40, 50]]), torch.tensor([1]), thickness=thickness)
    rounded = draw_detections(BLACK, np.array([[9.6, 19.5, 40.4, 50.2]]), np.array([1]), thickness=thickness)
    assert np.array_equal(exact, rounded)                          # ndarray arguments; corners rounded half up
    assert np.array_equal(has(exact, PALETTE[1])[20:], ring(64, 80, 10, 20, 40, 50, thickness)[20:])


def test_small_boxes_are_filled_when_thicker_than_half_their_size():
    out = draw_detections(BLACK, torch.tensor([[30.0, 40, 33, 43], [50, 40, 50.2, 44]]), torch.tensor([2, 2]), thickness=5)
    assert has(out, PALETTE[2])[40:43, 30:33].all() and has(out, PALETTE[2])[40:44, 50].all()   # 3x3; a zero-width box: 1 column
    assert not out[40:44, 33:50].any() and not out[44:].any()


def test_classes_get_distinct_fixed_colours():
    assert len(PALETTE) == 20 and len(set(PALETTE)) == 20
    assert list(PALETTE[:10]) == box_colors(10)                   # the course's tab10 colours, label by label
    boxes = torch.tensor([[2.0, 30, 20, 60], [30, 30, 50, 60], [55, 30, 75, 60]])
    out = draw_detections(BLACK, boxes, torch.tensor([0, 3, 13]))
    for label, x in ((0, 2), (3, 30), (13, 55)):
        assert tuple(out[45, x]) == PALETTE[label]               # the left edge of each box
    assert len({tuple(out[45, x]) for x in (2, 30, 55)}) == 3
    cycled = draw_detections(BLACK, boxes, torch.tensor([20, 23, 33]))
    assert [tuple(cycled[45, x]) for x in (2, 30, 55)] == [PALETTE[0], PALETTE[3], PALETTE[13]]   # label % 20
    custom = draw_detections(BLACK, boxes, torch.tensor([0, 1, 1]), colors=[(255, 0, 0), [0, 0, 255]])
    assert tuple(custom[45, 2]) == (255, 0, 0) and tuple(custom[45, 30]) == (0, 0, 255)


# ----------------------------------------------------------------------------- labels
def test_label_box_above_the_box_sized_by_get_text_size():
    out = draw_detections(BLACK, torch.tensor([[5.0, 30, 70, 60]]), torch.tensor([1]), torch.tensor([0.934]),
                          ["square", "circle"])
    lw, lh = label_size("circle 0.93")
    assert lh < 30 and 5 + lw <= 80
    region = out[30 - lh:30, 5:5 + lw]
    assert region.any(axis=2).all()                               # filled: every pixel drawn
    assert has(region, PALETTE[1]).any() and dark(region).sum() > 10   # orange fill, black text on it
    painted = out[:30].any(axis=2)
    assert not painted[:30 - lh].any() and not painted[:, :5].any() and not painted[:, 5 + lw:].any()
    no_score = draw_detections(BLACK, torch.tensor([[10.0, 30, 70, 60]]), torch.tensor([1]), class_names=["square", "circle"])
    assert np.flatnonzero(no_score[30 - lh].any(axis=1)).tolist() == list(range(10, 10 + label_size("circle")[0]))
    numbered = draw_detections(BLACK, torch.tensor([[10.0, 30, 70, 60]]), torch.tensor([1]))
    assert np.flatnonzero(numbered[30 - lh].any(axis=1)).tolist() == list(range(10, 10 + label_size("1")[0]))


def test_white_text_on_dark_colours():
    out = draw_detections(BLACK, torch.tensor([[10.0, 30, 70, 60]]), torch.tensor([0]), class_names=["square"])
    lw, lh = label_size("square")
    region = out[30 - lh:30, 10:10 + lw]
    assert light(region).sum() > 10 and has(region, PALETTE[0]).any() and not dark(region).any()


def test_label_goes_inside_the_box_without_room_above():
    out = draw_detections(BLACK, torch.tensor([[5.0, 2, 60, 40]]), torch.tensor([0]), class_names=["square"])
    lw, lh = label_size("square")
    assert out[2:2 + lh, 5:5 + lw].any(axis=2).all()
    assert not out[:2].any()                                      # nothing above the box's top row


def test_label_is_shifted_into_the_image_at_the_right_border():
    out = draw_detections(BLACK, torch.tensor([[70.0, 30, 80, 40]]), torch.tensor([2]), torch.tensor([0.5]),
                          ["a", "b", "tri"])
    lw, lh = label_size("tri 0.50")
    assert 10 < lw < 70
    assert out[30 - lh:30, 80 - lw:].any(axis=2).all() and not out[:30, :80 - lw].any()


def test_boxes_are_clipped_to_the_image():
    out = draw_detections(BLACK, torch.tensor([[-10.0, -10, 200, 200]]), torch.tensor([4]), thickness=1)
    lw, lh = label_size("4")
    color = has(out, PALETTE[4])
    assert color[63].all() and color[lh:, 0].all() and color[lh:, 79].all()    # bottom, left and right image edges
    assert out[0:lh, 0:lw].any(axis=2).all()                      # the label inside, at the top-left corner
    assert not out[lh:63, 1:79].any()
    outside = draw_detections(BLACK, torch.tensor([[100.0, 10, 120, 20], [-30, -30, 0, 0]]), torch.tensor([0, 1]),
                              torch.tensor([0.9, 0.8]))
    assert not outside.any()                                      # no pixel in the image: nothing drawn, no label
    tiny = draw_detections(np.zeros((8, 8, 3), np.uint8), torch.tensor([[0.0, 0, 8, 8]]), torch.tensor([0]),
                           torch.tensor([0.5]), ["a long class name"])
    assert tiny.shape == (8, 8, 3) and tiny.any(axis=2).all()      # a label bigger than the image is cut off


# ----------------------------------------------------------------------------- inputs
def test_tensor_image_and_no_detections():
    scene = make_scene(3, image_size=48)
    tensor = to_tensor(scene.image)
    before = tensor.clone()
    from_tensor = draw_detections(tensor, scene.boxes, scene.labels, torch.rand(len(scene.labels)), ["s", "c", "t"])
    from_array = draw_detections(scene.image, scene.boxes, scene.labels, torch.rand(len(scene.labels)), ["s", "c", "t"])
    assert torch.equal(tensor, before) and from_tensor.shape == (48, 48, 3) and from_tensor.dtype == np.uint8
    assert np.array_equal(draw_detections(tensor, torch.zeros(0, 4), torch.zeros(0, dtype=torch.int64)), scene.image)
    empty = draw_detections(scene.image, np.zeros((0, 4)), np.zeros(0, np.int64), np.zeros(0))
    assert np.array_equal(empty, scene.image) and not np.shares_memory(empty, scene.image)
    assert (from_tensor != scene.image).any() and from_array.shape == from_tensor.shape


def test_non_contiguous_input_is_not_modified():
    base = np.zeros((64, 160, 3), np.uint8)
    view = base[:, ::2]                                           # a strided view
    out = draw_detections(view, torch.tensor([[10.0, 20, 40, 50]]), torch.tensor([0]))
    assert not base.any() and out.shape == (64, 80, 3) and out.flags.c_contiguous
    assert np.array_equal(out, draw_detections(BLACK, torch.tensor([[10.0, 20, 40, 50]]), torch.tensor([0])))


BOX, LABEL = torch.tensor([[1.0, 1, 5, 5]]), torch.tensor([0])


@pytest.mark.parametrize("kwargs, error, match", [
    ({"image": [[0]]}, TypeError, r"image: expected an ndarray\[H, W, 3\] \(uint8 RGB\) or a float Tensor\[3, H, W\], got list"),
    ({"image": np.zeros((8, 8, 3))}, ValueError, r"image: expected an ndarray\[H, W, 3\] of uint8 \(RGB\), got float64 ndarray\[8, 8, 3\]"),
    ({"image": np.zeros((8, 8), np.uint8)}, ValueError, r"image: expected an ndarray\[H, W, 3\] of uint8"),
    ({"image": np.zeros((8, 8, 4), np.uint8)}, ValueError, r"got uint8 ndarray\[8, 8, 4\]"),
    ({"image": torch.zeros(3, 8, 8, dtype=torch.uint8)}, ValueError, r"image: expected a float Tensor\[3, H, W\] in \[0, 1\], got torch\.uint8"),
    ({"image": torch.zeros(1, 8, 8)}, ValueError, r"image: expected a float Tensor\[3, H, W\] .*Tensor\[1, 8, 8\]"),
    ({"image": torch.full((3, 8, 8), 1.5)}, ValueError, r"image: expected float values in \[0, 1\], got values in \[1\.5, 1\.5\]"),
    ({"image": torch.full((3, 8, 8), float("nan"))}, ValueError, r"image: expected float values in \[0, 1\]"),
    ({"boxes": [[1, 1, 5, 5]]}, TypeError, r"boxes: expected a Tensor\[N, 4\], got list"),
    ({"boxes": torch.zeros(4)}, ValueError, r"boxes: expected Tensor\[N, 4\] \(xyxy\), got Tensor\[4\]"),
    ({"boxes": torch.tensor([[5.0, 1, 1, 5]])}, ValueError, r"boxes: expected x2 >= x1 and y2 >= y1"),
    ({"boxes": torch.tensor([[1.0, float("inf"), 5, 5]])}, ValueError, r"boxes: coordinates must be finite"),
    ({"labels": torch.tensor([0.0])}, TypeError, r"labels: expected an integer Tensor\[1\] of class indices, got torch\.float32"),
    ({"labels": 0}, TypeError, r"labels: expected an integer Tensor\[1\] of class indices, got int"),
    ({"labels": torch.tensor([0, 1])}, ValueError, r"labels: expected Tensor\[1\] \(one label per box\), got Tensor\[2\]"),
    ({"labels": torch.tensor([-1])}, ValueError, r"labels: expected class indices >= 0, got -1"),
    ({"scores": torch.tensor([0.5, 0.6])}, ValueError, r"scores: expected Tensor\[1\] \(one score per box\), got Tensor\[2\]"),
    ({"scores": torch.tensor([float("nan")])}, ValueError, r"scores: scores must be finite"),
    ({"scores": [0.5]}, TypeError, r"scores: expected a Tensor\[N\], got list"),
    ({"labels": torch.tensor([2]), "class_names": ["a", "b"]}, ValueError,
     r"class_names: expected a name for each label up to 2 \(3 names\), got 2"),
    ({"class_names": "ab"}, TypeError, r"class_names: expected a sequence of names indexed by label, got str"),
    ({"labels": torch.tensor([1]), "colors": [(1, 2, 3)]}, ValueError, r"colors: expected a colour for each label up to 1 \(2 colours\), got 1"),
    ({"colors": [(0, 0, 256)]}, ValueError, r"colors: colour 0 is \(0, 0, 256\), expected an \(r, g, b\) triple of ints in 0\.\.255"),
    ({"colors": [(0.5, 0, 0)]}, ValueError, r"colors: colour 0 is \(0\.5, 0, 0\)"),
    ({"colors": "red"}, TypeError, r"colors: expected a sequence of \(r, g, b\) triples indexed by label, got str"),
    ({"thickness": 0}, ValueError, r"thickness: expected an int >= 1 \(pixels\), got 0"),
    ({"thickness": 1.5}, ValueError, r"thickness: expected an int >= 1 \(pixels\), got 1\.5"),
    ({"font_scale": 0}, ValueError, r"font_scale: expected a number > 0, got 0"),
    ({"font_scale": True}, ValueError, r"font_scale: expected a number > 0, got True"),
])
def test_bad_arguments(kwargs, error, match):
    args = {"image": np.zeros((8, 8, 3), np.uint8), "boxes": BOX, "labels": LABEL} | kwargs
    with pytest.raises(error, match=match):
        draw_detections(**args)


def test_module_exports():
    assert set(draw.__all__) == {"PALETTE", "draw_detections"}
