"""cvcourse.data.voc: the PASCAL VOC XML reader and writer, the VOC <-> YOLO conversions, the shapes
scenes written in VOC's layout and `VOCDetection`, on fixture files written under tmp_path (no data set is
downloaded): hand-worked values, round trips (boxes, label lines, images), every error."""
import cv2
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cvcourse.data import voc
from cvcourse.data.shapes import CLASSES, ShapesDataset, make_scene
from cvcourse.data.voc import (
    VOC_CLASSES,
    VOCDetection,
    read_voc_xml,
    read_yolo_labels,
    voc_classes,
    voc_target,
    voc_to_yolo,
    write_shapes_voc,
    write_voc_xml,
    write_yolo_labels,
    yolo_to_voc,
)

# VOC2007's 000005.xml, shortened: chairs, one difficult, and fields the reader ignores.
VOC_000005 = """<annotation>
  <folder>VOC2007</folder>
  <filename>000005.jpg</filename>
  <source><database>The VOC2007 Database</database></source>
  <size><width>500</width><height>375</height><depth>3</depth></size>
  <segmented>0</segmented>
  <object>
    <name>chair</name><pose>Rear</pose><truncated>0</truncated><difficult>0</difficult>
    <bndbox><xmin>263</xmin><ymin>211</ymin><xmax>324</xmax><ymax>339</ymax></bndbox>
  </object>
  <object>
    <name>chair</name><pose>Unspecified</pose><truncated>1</truncated><difficult>1</difficult>
    <bndbox><xmin>5</xmin><ymin>244</ymin><xmax>67</xmax><ymax>374</ymax></bndbox>
  </object>
  <object>
    <name>diningtable</name>
    <bndbox><xmin>1</xmin><ymin>1</ymin><xmax>500</xmax><ymax>375</ymax></bndbox>
  </object>
</annotation>
"""


def annotation(objects="", size="<size><width>100</width><height>50</height><depth>3</depth></size>",
               filename="img.jpg"):
    return f"<annotation><filename>{filename}</filename>{size}{objects}</annotation>"


def obj(name, x1, y1, x2, y2, extra=""):
    return (f"<object><name>{name}</name>{extra}<bndbox><xmin>{x1}</xmin><ymin>{y1}</ymin>"
            f"<xmax>{x2}</xmax><ymax>{y2}</ymax></bndbox></object>")


@pytest.fixture
def voc_dir(tmp_path):
    folder = tmp_path / "Annotations"
    folder.mkdir()
    (folder / "000005.xml").write_text(VOC_000005)
    (folder / "b.xml").write_text(annotation(obj("person", 11, 21, 60, 50) + obj("dog", 1, 1, 10, 10)))
    (folder / "empty.xml").write_text(annotation())
    (folder / "notes.txt").write_text("not an annotation")
    return folder


# ----------------------------------------------------------------------------- reading
def test_read_voc_xml_golden(voc_dir):
    ann = read_voc_xml(voc_dir / "000005.xml")
    assert ann == {
        "filename": "000005.jpg", "size": (500, 375, 3), "zero_based": False,
        "objects": [
            {"name": "chair", "bbox": (263.0, 211.0, 324.0, 339.0), "difficult": False, "truncated": False},
            {"name": "chair", "bbox": (5.0, 244.0, 67.0, 374.0), "difficult": True, "truncated": True},
            {"name": "diningtable", "bbox": (1.0, 1.0, 500.0, 375.0), "difficult": False, "truncated": False},
        ],
    }


def test_zero_based_subtracts_one_from_the_top_left_corner(voc_dir):
    ann = read_voc_xml(str(voc_dir / "000005.xml"), zero_based=True)
    assert ann["zero_based"] is True
    assert [o["bbox"] for o in ann["objects"]] == [(262.0, 210.0, 324.0, 339.0), (4.0, 243.0, 67.0, 374.0),
                                                   (0.0, 0.0, 500.0, 375.0)]   # the whole 500x375 image


def test_fractional_coordinates_missing_filename_and_depth(tmp_path):
    path = tmp_path / "a.xml"
    path.write_text("<annotation><size><width>10</width><height>20</height></size>"
                    + obj(" cat ", 1.5, 2, 3.25, 4) + "</annotation>")
    ann = read_voc_xml(path)
    assert ann["filename"] == "" and ann["size"] == (10, 20, 3)
    assert ann["objects"][0]["name"] == "cat" and ann["objects"][0]["bbox"] == (1.5, 2.0, 3.25, 4.0)


def test_voc_classes_sorted_unique_from_a_folder_or_a_list(voc_dir):
    assert voc_classes(voc_dir) == ["chair", "diningtable", "dog", "person"]
    assert voc_classes(str(voc_dir)) == ["chair", "diningtable", "dog", "person"]
    assert voc_classes([voc_dir / "b.xml"]) == ["dog", "person"]
    assert voc_classes([voc_dir / "empty.xml"]) == []


# ----------------------------------------------------------------------------- YOLO labels
def test_voc_to_yolo_hand_worked(voc_dir):
    classes = ["chair", "diningtable"]
    lines = voc_to_yolo(read_voc_xml(voc_dir / "000005.xml"), classes)
    # chair 1: pixels 263..324 (1-based) are edges 262..324: cx = 293 / 500, w = 62 / 500;
    # rows 211..339 -> 210..339: cy = 274.5 / 375 = 0.732, h = 129 / 375 = 0.344
    assert lines == ["0 0.586000 0.732000 0.124000 0.344000",
                     "0 0.071000 0.822667 0.126000 0.349333",     # (4 + 67) / 2 / 500, (243 + 374) / 2 / 375
                     "1 0.500000 0.500000 1.000000 1.000000"]     # the whole image
    assert voc_to_yolo(read_voc_xml(voc_dir / "000005.xml", zero_based=True), classes) == lines
    assert voc_to_yolo(read_voc_xml(voc_dir / "000005.xml"), classes, skip_difficult=True) == [lines[0], lines[2]]
    assert voc_to_yolo(read_voc_xml(voc_dir / "empty.xml"), classes) == []


def test_voc_to_yolo_clips_boxes_to_the_image(tmp_path):
    path = tmp_path / "a.xml"
    path.write_text(annotation(obj("a", -4, 1, 120, 60)))          # 100x50 image, box past every edge
    assert voc_to_yolo(read_voc_xml(path), ["a"]) == ["0 0.500000 0.500000 1.000000 1.000000"]


@settings(max_examples=60, deadline=None)
@given(w=st.integers(1, 2000), h=st.integers(1, 2000), data=st.data())
def test_yolo_line_gives_back_the_zero_based_box(tmp_path_factory, w, h, data):
    x1, x2 = sorted(data.draw(st.lists(st.integers(1, w), min_size=2, max_size=2)))
    y1, y2 = sorted(data.draw(st.lists(st.integers(1, h), min_size=2, max_size=2)))
    path = tmp_path_factory.mktemp("voc") / "a.xml"
    size = f"<size><width>{w}</width><height>{h}</height><depth>3</depth></size>"
    path.write_text(annotation(obj("x", x1, y1, x2, y2) + obj("y", 1, 1, w, h), size=size))
    (line, whole), = [voc_to_yolo(read_voc_xml(path), ["y", "x"])]
    c, cx, cy, bw, bh = line.split()
    assert c == "1" and all(0 <= float(v) <= 1 for v in (cx, cy, bw, bh))
    back = [(float(cx) - float(bw) / 2) * w, (float(cy) - float(bh) / 2) * h,
            (float(cx) + float(bw) / 2) * w, (float(cy) + float(bh) / 2) * h]
    assert back == pytest.approx([x1 - 1, y1 - 1, x2, y2], abs=1e-6 * max(w, h) + 1e-9)
    assert whole == "0 0.500000 0.500000 1.000000 1.000000"


def test_write_yolo_labels(voc_dir, tmp_path):
    out = tmp_path / "labels" / "train"
    written = write_yolo_labels(voc_dir, out, ["chair", "diningtable", "dog", "person"])
    assert written == [out / "000005.txt", out / "b.txt", out / "empty.txt"]
    assert (out / "b.txt").read_text() == ("3 0.350000 0.700000 0.500000 0.600000\n"   # x 10..60, y 20..50 of 100x50
                                           "2 0.050000 0.100000 0.100000 0.200000\n")
    assert (out / "empty.txt").read_text() == ""
    assert (out / "000005.txt").read_text().splitlines()[0] == "0 0.586000 0.732000 0.124000 0.344000"
    assert len(write_yolo_labels(voc_dir, out, ["chair", "diningtable", "dog", "person"], skip_difficult=True)) == 3
    assert len((out / "000005.txt").read_text().splitlines()) == 2


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize("text, match", [
    ("<annotation><size>", r"malformed XML \(no element found"),
    ("<annotation><size><width>1</width></annotation>", r"malformed XML \(mismatched tag"),
    ("<voc></voc>", r"expected an <annotation> root element, got <voc>"),
    (annotation(size=""), r"missing <size> \(the image's width, height and depth\)"),
    (annotation(size="<size><height>5</height></size>"), r"<size>: missing <width>"),
    (annotation(size="<size><width>a</width><height>5</height></size>"), r"<size>: <width> is 'a', expected a number"),
    (annotation(size="<size><width>0</width><height>5</height></size>"), r"<size> must be positive, got width 0, height 5"),
    (annotation("<object><bndbox></bndbox></object>"), r"object 0: missing <name>"),
    (annotation(obj("a", 1, 1, 2, 2) + "<object><name>dog</name></object>"), r"object 1 \(dog\): missing <bndbox>"),
    (annotation(obj("a", 1, 1, "", 2)), r"object 0 \(a\): missing <xmax>"),
    (annotation(obj("a", 1, 1, "2px", 2)), r"object 0 \(a\): <xmax> is '2px', expected a number"),
    (annotation(obj("a", 5, 1, 2, 2)), r"object 0 \(a\): expected xmax >= xmin and ymax >= ymin, got \(5, 1, 2, 2\)"),
])
def test_read_voc_xml_errors_name_the_file_and_the_problem(tmp_path, text, match):
    path = tmp_path / "bad.xml"
    path.write_text(text)
    with pytest.raises(ValueError, match=r"bad\.xml: " + match):
        read_voc_xml(path)


def test_missing_files_and_folders(tmp_path, voc_dir):
    with pytest.raises(FileNotFoundError, match=r"path: no VOC annotation file at '.*nope\.xml'"):
        read_voc_xml(tmp_path / "nope.xml")
    with pytest.raises(FileNotFoundError, match=r"xml_paths: '.*nope' is not a folder \(pass a folder or a list"):
        voc_classes(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match=r"path: no VOC annotation file"):
        voc_classes([voc_dir / "b.xml", voc_dir / "c.xml"])
    with pytest.raises(FileNotFoundError, match=r"xml_dir: '.*nope' is not a folder"):
        write_yolo_labels(tmp_path / "nope", tmp_path / "out", ["a"])
    (tmp_path / "none").mkdir()
    with pytest.raises(ValueError, match=r"xml_dir: no \.xml files in '.*none'"):
        write_yolo_labels(tmp_path / "none", tmp_path / "out", ["a"])


def test_unknown_class_names_the_file_and_writes_nothing(voc_dir, tmp_path):
    with pytest.raises(ValueError, match=r"000005\.jpg: object 2 has class 'diningtable', which is not in classes \(chair\)"):
        voc_to_yolo(read_voc_xml(voc_dir / "000005.xml"), ["chair"])
    with pytest.raises(ValueError, match=r"img\.jpg: object 0 has class 'person', which is not in classes"):
        write_yolo_labels(voc_dir, tmp_path / "out", ["chair", "diningtable"])
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("args, error, match", [
    (({"objects": []}, ["a"]), TypeError, r"annotation: expected a dict from read_voc_xml"),
    (("a.xml", ["a"]), TypeError, r"annotation: expected a dict from read_voc_xml"),
    (({"size": (1, 1, 3), "objects": []}, "abc"), TypeError, r"classes: expected a sequence of class names, got str"),
])
def test_voc_to_yolo_bad_arguments(args, error, match):
    with pytest.raises(error, match=match):
        voc_to_yolo(*args)


def test_module_exports():
    assert set(voc.__all__) == {"VOCDetection", "VOC_CLASSES", "VOC_URL", "read_voc_xml", "read_yolo_labels",
                                "voc_classes", "voc_target", "voc_to_yolo", "write_shapes_voc", "write_voc_xml",
                                "write_yolo_labels", "yolo_to_voc"}
    assert all(hasattr(voc, name) for name in voc.__all__)


def test_voc_classes_constant():
    assert len(VOC_CLASSES) == 20 and list(VOC_CLASSES) == sorted(set(VOC_CLASSES))
    assert VOC_CLASSES[:3] == ("aeroplane", "bicycle", "bird") and VOC_CLASSES[-1] == "tvmonitor"
    assert VOC_CLASSES.index("person") == 14


# ----------------------------------------------------------------------------- voc_target
def test_voc_target_golden_either_convention(voc_dir):
    classes = ["chair", "diningtable"]
    for zero_based in (False, True):
        t = voc_target(read_voc_xml(voc_dir / "000005.xml", zero_based=zero_based), classes)
        assert set(t) == {"boxes", "labels", "difficult", "truncated"}
        assert t["boxes"].dtype == torch.float32 and t["labels"].dtype == torch.int64
        assert t["boxes"].tolist() == [[262, 210, 324, 339], [4, 243, 67, 374], [0, 0, 500, 375]]   # pixel edges
        assert t["labels"].tolist() == [0, 0, 1]
        assert t["difficult"].tolist() == [False, True, False] and t["truncated"].tolist() == [False, True, False]
    t = voc_target(read_voc_xml(voc_dir / "000005.xml"), classes, skip_difficult=True)
    assert t["labels"].tolist() == [0, 1] and t["difficult"].tolist() == [False, False]
    t = voc_target(read_voc_xml(voc_dir / "empty.xml"), classes)
    assert t["boxes"].shape == (0, 4) and t["labels"].shape == (0,) and t["difficult"].dtype == torch.bool


def test_voc_target_errors(voc_dir):
    with pytest.raises(ValueError, match=r"000005\.jpg: object 2 has class 'diningtable', which is not in classes"):
        voc_target(read_voc_xml(voc_dir / "000005.xml"), ["chair"])
    with pytest.raises(TypeError, match=r"annotation: expected a dict from read_voc_xml"):
        voc_target([], ["a"])
    with pytest.raises(TypeError, match=r"classes: expected a sequence of class names, got str"):
        voc_target(read_voc_xml(voc_dir / "empty.xml"), "chair")
    with pytest.raises(TypeError, match=r"skip_difficult: expected True or False, got int 1"):
        voc_target(read_voc_xml(voc_dir / "empty.xml"), ["a"], skip_difficult=1)


# ----------------------------------------------------------------------------- write_voc_xml
def test_write_voc_xml_golden(tmp_path):
    path = write_voc_xml(tmp_path / "sub" / "a.xml", "a.png", (50, 100), torch.tensor([[10, 20, 60, 50], [0, 0, 1, 1]]),
                         torch.tensor([1, 0]), ["dog", "person"], difficult=torch.tensor([False, True]))
    assert path == tmp_path / "sub" / "a.xml"
    assert path.read_text() == """<annotation>
  <filename>a.png</filename>
  <size>
    <width>100</width>
    <height>50</height>
    <depth>3</depth>
  </size>
  <segmented>0</segmented>
  <object>
    <name>person</name>
    <pose>Unspecified</pose>
    <truncated>0</truncated>
    <difficult>0</difficult>
    <bndbox>
      <xmin>11</xmin>
      <ymin>21</ymin>
      <xmax>60</xmax>
      <ymax>50</ymax>
    </bndbox>
  </object>
  <object>
    <name>dog</name>
    <pose>Unspecified</pose>
    <truncated>0</truncated>
    <difficult>1</difficult>
    <bndbox>
      <xmin>1</xmin>
      <ymin>1</ymin>
      <xmax>1</xmax>
      <ymax>1</ymax>
    </bndbox>
  </object>
</annotation>
"""
    ann = read_voc_xml(path)
    assert ann["filename"] == "a.png" and ann["size"] == (100, 50, 3)
    assert [(o["name"], o["bbox"], o["difficult"]) for o in ann["objects"]] == [
        ("person", (11.0, 21.0, 60.0, 50.0), False), ("dog", (1.0, 1.0, 1.0, 1.0), True)]   # the 1x1 box: pixel (1, 1)


def test_write_read_voc_round_trip_of_a_shapes_scene(tmp_path):
    scene = make_scene(7, image_size=(96, 128), min_objects=3, max_objects=5)
    flags = torch.arange(len(scene.labels)) % 2 == 1
    path = write_voc_xml(tmp_path / "s.xml", "s.png", (96, 128), scene.boxes, scene.labels, CLASSES,
                         difficult=flags, truncated=~flags)
    ann = read_voc_xml(path, zero_based=True)
    assert ann["size"] == (128, 96, 3)
    assert torch.equal(torch.tensor([o["bbox"] for o in ann["objects"]]), scene.boxes)
    target = voc_target(read_voc_xml(path), CLASSES)           # 1-based on disk, pixel edges back
    assert torch.equal(target["boxes"], scene.boxes) and torch.equal(target["labels"], scene.labels)
    assert torch.equal(target["difficult"], flags) and torch.equal(target["truncated"], ~flags)
    again = write_voc_xml(tmp_path / "t.xml", "s.png", (96, 128), **target, classes=CLASSES)   # voc_target -> writer
    assert again.read_text() == path.read_text()


def test_write_voc_xml_empty_and_fractional(tmp_path):
    path = write_voc_xml(tmp_path / "e.xml", "e.jpg", 32, torch.zeros(0, 4), torch.zeros(0, dtype=torch.int64), ["a"])
    assert read_voc_xml(path)["objects"] == [] and read_voc_xml(path)["size"] == (32, 32, 3)
    path = write_voc_xml(tmp_path / "f.xml", "f.jpg", 32, torch.tensor([[1.25, 2.5, 10.125, 30.0]], dtype=torch.float64),
                         torch.tensor([0]), ["a"])
    assert "<xmin>2.25</xmin>" in path.read_text() and "<xmax>10.125</xmax>" in path.read_text()
    assert read_voc_xml(path, zero_based=True)["objects"][0]["bbox"] == (1.25, 2.5, 10.125, 30.0)


@settings(max_examples=40, deadline=None)
@given(h=st.integers(1, 600), w=st.integers(1, 600), data=st.data())
def test_write_voc_xml_round_trip_property(tmp_path_factory, h, w, data):
    k = data.draw(st.integers(0, 5))
    rows = []
    for _ in range(k):
        x1 = data.draw(st.integers(0, w - 1))
        y1 = data.draw(st.integers(0, h - 1))
        rows.append([x1, y1, data.draw(st.integers(x1 + 1, w)), data.draw(st.integers(y1 + 1, h))])
    boxes = torch.tensor(rows, dtype=torch.float32).reshape(-1, 4)
    labels = torch.tensor(data.draw(st.lists(st.integers(0, 2), min_size=k, max_size=k)), dtype=torch.int64)
    path = write_voc_xml(tmp_path_factory.mktemp("xml") / "a.xml", "a.png", (h, w), boxes, labels, ["a", "b", "c"])
    target = voc_target(read_voc_xml(path), ["a", "b", "c"])
    assert torch.equal(target["boxes"], boxes) and torch.equal(target["labels"], labels)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"path": 3}, TypeError, r"path: expected a path \(str or os\.PathLike\), got int"),
    ({"filename": None}, TypeError, r"filename: expected a str, got NoneType"),
    ({"image_size": (10,)}, TypeError, r"image_size: expected an int or \(height, width\), got \(10,\)"),
    ({"image_size": (0, 10)}, ValueError, r"image_size\[0\] \(height\): expected an int >= 1, got 0"),
    ({"image_size": (10, 2.5)}, TypeError, r"image_size\[1\] \(width\): expected an int, got float"),
    ({"boxes": [[0, 0, 1, 1]]}, TypeError, r"boxes: expected a Tensor\[N, 4\], got list"),
    ({"boxes": torch.zeros(1, 3)}, ValueError, r"boxes: expected Tensor\[N, 4\] \(xyxy\), got Tensor\[1, 3\]"),
    ({"boxes": torch.tensor([[5.0, 0, 1, 1]])}, ValueError, r"boxes: expected x2 >= x1 and y2 >= y1"),
    ({"boxes": torch.tensor([[0.0, 0, 21, 5]])}, ValueError, r"boxes: row 0 is \[0\.0, 0\.0, 21\.0, 5\.0\], outside the 20x10 image \(width x height\); clip"),
    ({"boxes": torch.tensor([[-1.0, 0, 2, 5]])}, ValueError, r"outside the 20x10 image"),
    ({"boxes": torch.tensor([[3.0, 3, 3.5, 5]])}, ValueError, r"boxes: row 0 is .*, narrower or lower than one pixel; a VOC box"),
    ({"labels": torch.tensor([0.0])}, TypeError, r"labels: expected an integer Tensor\[1\] of class indices, got torch\.float32"),
    ({"labels": [0]}, TypeError, r"labels: expected an integer Tensor\[1\] of class indices, got list"),
    ({"labels": torch.tensor([0, 1])}, ValueError, r"labels: expected Tensor\[1\] \(one label per box\), got Tensor\[2\]"),
    ({"labels": torch.tensor([2])}, ValueError, r"labels: element 0 is 2, expected a class index in 0\.\.1 \(2 classes\)"),
    ({"labels": torch.tensor([-1])}, ValueError, r"labels: element 0 is -1, expected a class index in 0\.\.1"),
    ({"classes": "ab"}, TypeError, r"classes: expected a sequence of class names, got str"),
    ({"classes": []}, ValueError, r"classes: expected at least one class name"),
    ({"classes": ["a", "a"]}, ValueError, r"classes: each name may appear once, got \['a', 'a'\]"),
    ({"classes": ["a", " b"]}, ValueError, r"classes: expected non-empty names without surrounding spaces, got ' b'"),
    ({"difficult": torch.tensor([0.5])}, TypeError, r"difficult: expected a bool Tensor\[1\] or None, got torch\.float32"),
    ({"difficult": torch.tensor([2])}, ValueError, r"difficult: expected 0/1 or bool flags, got values \[2\]"),
    ({"truncated": torch.tensor([True, False])}, ValueError, r"truncated: expected Tensor\[1\] \(one flag per box\)"),
])
def test_write_voc_xml_errors(tmp_path, kwargs, error, match):
    args = {"path": tmp_path / "a.xml", "filename": "a.png", "image_size": (10, 20),
            "boxes": torch.tensor([[0.0, 0, 4, 4]]), "labels": torch.tensor([1]), "classes": ["a", "b"]} | kwargs
    with pytest.raises(error, match=match):
        write_voc_xml(**args)
    assert not (tmp_path / "a.xml").exists()


def test_write_voc_xml_accepts_0_1_flags(tmp_path):
    path = write_voc_xml(tmp_path / "a.xml", "a.png", 8, torch.tensor([[0, 0, 4, 4], [4, 4, 8, 8]]), torch.tensor([0, 0]),
                         ["a"], difficult=torch.tensor([1, 0]), truncated=torch.tensor([0, 1], dtype=torch.uint8))
    assert [(o["difficult"], o["truncated"]) for o in read_voc_xml(path)["objects"]] == [(True, False), (False, True)]


# ----------------------------------------------------------------------------- YOLO labels -> VOC
def test_read_yolo_labels_golden(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("0 0.586000 0.732000 0.124000 0.344000\n\n  1 0.5 0.5 1 1  \n")
    labels, boxes = read_yolo_labels(path, num_classes=2)
    assert labels.dtype == torch.int64 and labels.tolist() == [0, 1]
    assert boxes.dtype == torch.float32 and torch.equal(boxes, torch.tensor([[0.586, 0.732, 0.124, 0.344], [0.5, 0.5, 1, 1]]))
    (tmp_path / "empty.txt").write_text("")
    labels, boxes = read_yolo_labels(str(tmp_path / "empty.txt"))
    assert labels.shape == (0,) and boxes.shape == (0, 4) and boxes.dtype == torch.float32


@pytest.mark.parametrize("text, match", [
    ("0 0.5 0.5 0.1\n", r"line 1: expected 5 values 'class cx cy w h', got 4: '0 0\.5 0\.5 0\.1'"),
    ("0 0.5 0.5 0.1 0.1 0.2 0.3\n", r"line 1: expected 5 values .*, got 7"),
    ("\n0.0 0.5 0.5 0.1 0.1\n", r"line 2: the class '0\.0' is not an integer index"),
    ("dog 0.5 0.5 0.1 0.1\n", r"line 1: the class 'dog' is not an integer index"),
    ("0 0.5 0.5 0.1 0.1\n3 0.5 0.5 0.1 0.1\n", r"line 2: class 3 is out of range, expected an index in 0\.\.2 \(3 classes\)"),
    ("-1 0.5 0.5 0.1 0.1\n", r"line 1: class -1 is out of range, expected an index in 0\.\.2"),
    ("0 0.5 0.5 1e 0.1\n", r"line 1: expected numbers for cx cy w h, got '0\.5 0\.5 1e 0\.1'"),
    ("0 1.5 0.5 0.1 0.1\n", r"line 1: cx = 1\.5 is outside \[0, 1\] \(YOLO coordinates are fractions"),
    ("0 0.5 -0.01 0.1 0.1\n", r"line 1: cy = -0\.01 is outside \[0, 1\]"),
    ("0 0.5 0.5 0.1 nan\n", r"line 1: h = nan is outside \[0, 1\]"),
    ("0 0.5 0.5 200 40\n", r"line 1: w = 200 is outside \[0, 1\]"),          # pixels instead of fractions
])
def test_read_yolo_labels_errors_name_the_file_and_line(tmp_path, text, match):
    path = tmp_path / "bad.txt"
    path.write_text(text)
    with pytest.raises(ValueError, match=r"bad\.txt: " + match):
        read_yolo_labels(path, num_classes=3)


def test_read_yolo_labels_argument_errors(tmp_path):
    (tmp_path / "a.txt").write_text("7 0.5 0.5 0.1 0.1\n")
    assert read_yolo_labels(tmp_path / "a.txt")[0].tolist() == [7]      # no num_classes: any index >= 0
    with pytest.raises(FileNotFoundError, match=r"path: no YOLO label file at '.*nope\.txt'"):
        read_yolo_labels(tmp_path / "nope.txt")
    with pytest.raises(TypeError, match=r"path: expected a path"):
        read_yolo_labels(None)
    with pytest.raises(ValueError, match=r"num_classes: expected an int >= 1, got 0"):
        read_yolo_labels(tmp_path / "a.txt", num_classes=0)


def test_yolo_to_voc_gives_back_the_voc_annotation(voc_dir):
    classes = ["chair", "diningtable"]
    ann = read_voc_xml(voc_dir / "000005.xml")
    back = yolo_to_voc(voc_to_yolo(ann, classes), (375, 500), classes, filename="000005.jpg")
    assert back["filename"] == "000005.jpg" and back["size"] == (500, 375, 3) and back["zero_based"] is False
    assert [(o["name"], o["bbox"]) for o in back["objects"]] == [(o["name"], o["bbox"]) for o in ann["objects"]]
    assert not any(o["difficult"] or o["truncated"] for o in back["objects"])   # YOLO keeps no flags
    zero = yolo_to_voc(voc_to_yolo(ann, classes), (375, 500), classes, zero_based=True)
    assert zero["zero_based"] is True
    assert [o["bbox"] for o in zero["objects"]] == [o["bbox"] for o in read_voc_xml(voc_dir / "000005.xml", zero_based=True)["objects"]]


def test_yolo_to_voc_hand_worked():
    # a 100 (wide) x 50 (high) image: x 10..60, y 20..50 in pixel edges; image_size is (height, width)
    ann = yolo_to_voc("3 0.350000 0.700000 0.500000 0.600000\n\n", (50, 100), ["a", "b", "c", "dog"], filename="b.jpg")
    assert ann == {"filename": "b.jpg", "size": (100, 50, 3), "zero_based": False,
                   "objects": [{"name": "dog", "bbox": (11.0, 21.0, 60.0, 50.0), "difficult": False, "truncated": False}]}
    # fractions kept / rounded; a box past the image's edges is clipped to it
    lines = ["0 0.1234 0.5 0.1 0.2", "0 0.95 0.5 0.3 1.0"]
    raw = yolo_to_voc(lines, 100, ["a"], zero_based=True, round_pixels=False)
    assert [o["bbox"] for o in raw["objects"]] == [pytest.approx((7.34, 40.0, 17.34, 60.0)), (80.0, 0.0, 100.0, 100.0)]
    assert [o["bbox"] for o in yolo_to_voc(lines, 100, ["a"])["objects"]] == [(8.0, 41.0, 17.0, 60.0), (81.0, 1.0, 100.0, 100.0)]
    assert yolo_to_voc([], 10, ["a"])["objects"] == [] and yolo_to_voc("", 10, ["a"])["objects"] == []


@settings(max_examples=60, deadline=None)
@given(h=st.integers(1, 2000), w=st.integers(1, 2000), data=st.data())
def test_voc_yolo_voc_and_yolo_voc_yolo_round_trips(h, w, data):
    k = data.draw(st.integers(0, 4))
    objects = []
    for _ in range(k):
        x1, x2 = sorted(data.draw(st.lists(st.integers(1, w), min_size=2, max_size=2)))
        y1, y2 = sorted(data.draw(st.lists(st.integers(1, h), min_size=2, max_size=2)))
        name = data.draw(st.sampled_from(["a", "b"]))
        objects.append({"name": name, "bbox": (float(x1), float(y1), float(x2), float(y2)), "difficult": False,
                        "truncated": False})
    ann = {"filename": "x.jpg", "size": (w, h, 3), "zero_based": False, "objects": objects}
    lines = voc_to_yolo(ann, ["a", "b"])
    assert yolo_to_voc(lines, (h, w), ["a", "b"], filename="x.jpg") == ann      # VOC -> YOLO -> VOC
    assert voc_to_yolo(yolo_to_voc(lines, (h, w), ["a", "b"]), ["a", "b"]) == lines   # YOLO -> VOC -> YOLO


@pytest.mark.parametrize("args, kwargs, error, match", [
    ((["0 0.5 0.5 0.001 0.5"], 100, ["a"]), {}, ValueError,
     r"lines: line 1: the box is 0 x 50 pixels in the image; a VOC box covers at least one pixel \(zero_based=True"),
    ((["0 0.5 0.5 0.5 0.5", "1 0.5 0.5 0.5 0.5"], 100, ["a"]), {}, ValueError,
     r"lines: line 2: class 1 is out of range, expected an index in 0\.\.0 \(1 classes\)"),
    ((["0 0.5 0.5 0.5"], 100, ["a"]), {}, ValueError, r"lines: line 1: expected 5 values"),
    (([0.5], 100, ["a"]), {}, TypeError, r"lines: line 1: expected a str, got float"),
    ((None, 100, ["a"]), {}, TypeError, r"lines: expected a list of label lines or a str, got NoneType"),
    (([], (100, 0), ["a"]), {}, ValueError, r"image_size\[1\] \(width\): expected an int >= 1, got 0"),
    (([], True, ["a"]), {}, TypeError, r"image_size: expected an int or \(height, width\), got True"),
    (([], 10, "a"), {}, TypeError, r"classes: expected a sequence of class names, got str"),
    (([], 10, ["a"]), {"filename": 3}, TypeError, r"filename: expected a str, got int"),
    (([], 10, ["a"]), {"zero_based": "yes"}, TypeError, r"zero_based: expected True or False, got str 'yes'"),
    (([], 10, ["a"]), {"round_pixels": None}, TypeError, r"round_pixels: expected True or False"),
])
def test_yolo_to_voc_errors(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        yolo_to_voc(*args, **kwargs)


def test_zero_based_keeps_boxes_thinner_than_a_pixel():
    ann = yolo_to_voc(["0 0.5 0.5 0.001 0.5"], 100, ["a"], zero_based=True)
    assert ann["objects"][0]["bbox"] == (50.0, 25.0, 50.0, 75.0)


# ----------------------------------------------------------------------------- write_shapes_voc and VOCDetection
def test_write_shapes_voc_layout(tmp_path):
    root = write_shapes_voc(str(tmp_path / "shapes"), 5, seed=1, image_size=64, val=2)
    assert root == tmp_path / "shapes"
    ids = ["000000", "000001", "000002", "000003", "000004"]
    assert sorted(p.name for p in (root / "JPEGImages").iterdir()) == [i + ".png" for i in ids]
    assert sorted(p.name for p in (root / "Annotations").iterdir()) == [i + ".xml" for i in ids]
    main = root / "ImageSets" / "Main"
    assert (main / "train.txt").read_text() == "000000\n000001\n000002\n"
    assert (main / "val.txt").read_text() == "000003\n000004\n"
    assert (main / "trainval.txt").read_text().split() == ids
    ann = read_voc_xml(root / "Annotations" / "000003.xml")
    assert ann["filename"] == "000003.png" and ann["size"] == (64, 64, 3)
    scene = ShapesDataset(5, image_size=64, seed=1).scene(3)
    assert voc_target(ann, CLASSES)["boxes"].tolist() == scene.boxes.tolist()
    image = cv2.cvtColor(cv2.imread(str(root / "JPEGImages" / "000003.png")), cv2.COLOR_BGR2RGB)
    assert np.array_equal(image, scene.image)                  # PNG: lossless
    assert (main / "val.txt").exists() and write_shapes_voc(tmp_path / "none", 0) == tmp_path / "none"
    assert (tmp_path / "none" / "ImageSets" / "Main" / "train.txt").read_text() == ""


def test_vocdetection_gives_the_shapes_dataset_back(tmp_path):
    kwargs = {"image_size": (48, 80), "classes": ("circle", "cross", "square"), "min_objects": 0, "max_objects": 3}
    root = write_shapes_voc(tmp_path / "v", 6, seed=4, val=2, **kwargs)
    shapes = ShapesDataset(6, seed=4, **kwargs)
    ds = VOCDetection(root, "trainval", classes=shapes.classes)
    assert len(ds) == 6 and ds.ids == [f"{i:06d}" for i in range(6)] and ds.classes == shapes.classes
    for i in range(6):
        image, target = ds[i]
        expected_image, expected = shapes[i]
        assert image.dtype == torch.float32 and torch.equal(image, expected_image)
        assert target["boxes"].dtype == torch.float32 and torch.equal(target["boxes"], expected["boxes"])
        assert torch.equal(target["labels"], expected["labels"])
        assert not target["difficult"].any() and target["difficult"].shape == expected["labels"].shape
    val = VOCDetection(root, "val", classes=shapes.classes)
    assert len(val) == 2 and torch.equal(val[-1][0], shapes[5][0]) and torch.equal(val[0][1]["boxes"], shapes[4][1]["boxes"])
    assert len(VOCDetection(root, classes=shapes.classes)) == 4                     # "train" by default
    one_based = VOCDetection(root, "trainval", classes=shapes.classes, zero_based=False)
    for i in range(6):
        assert torch.equal(one_based[i][1]["boxes"], shapes[i][1]["boxes"] + torch.tensor([1.0, 1, 0, 0]))
        assert one_based.annotation(i)["objects"] == read_voc_xml(root / "Annotations" / f"{i:06d}.xml")["objects"]
    assert ds.annotation(0)["zero_based"] is True
    assert "VOCDetection(root=" in repr(ds) and "image_set='trainval', n=6, classes=3)" in repr(ds)


def test_write_shapes_voc_jpeg_is_close(tmp_path):
    root = write_shapes_voc(tmp_path / "j", 2, seed=2, image_size=64, ext=".jpg", background="gradient")
    assert sorted(p.name for p in (root / "JPEGImages").iterdir()) == ["000000.jpg", "000001.jpg"]
    shapes = ShapesDataset(2, image_size=64, seed=2, background="gradient")
    image, target = VOCDetection(root, "trainval", classes=CLASSES)[1]
    assert torch.equal(target["boxes"], shapes[1][1]["boxes"])
    assert 0 < (image - shapes[1][0]).abs().mean() < 0.02        # JPEG is lossy, but close (no pixel noise here)


def test_write_shapes_voc_errors(tmp_path):
    with pytest.raises(ValueError, match=r"val: expected at most n = 3 validation scenes, got 4"):
        write_shapes_voc(tmp_path, 3, val=4)
    with pytest.raises(ValueError, match=r"val: expected an int >= 0, got -1"):
        write_shapes_voc(tmp_path, 3, val=-1)
    with pytest.raises(ValueError, match=r"ext: expected '\.png' \(lossless\) or '\.jpg', got '\.bmp'"):
        write_shapes_voc(tmp_path, 3, ext=".bmp")
    with pytest.raises(TypeError, match=r"root: expected a path"):
        write_shapes_voc(None, 3)
    with pytest.raises(ValueError, match=r"classes: unknown shape 'dog'"):
        write_shapes_voc(tmp_path, 3, classes=("dog",))
    with pytest.raises(ValueError, match=r"n: expected an int >= 0, got -1"):
        write_shapes_voc(tmp_path, -1)
    assert not any(tmp_path.iterdir())                           # nothing written by a bad call


def write_real_voc(root):
    """A VOC2007-like folder: 000005 (chairs, a difficult one, a table), an empty annotation, a grey JPEG."""
    for sub in ("Annotations", "JPEGImages", "ImageSets/Main"):
        (root / sub).mkdir(parents=True)
    (root / "Annotations" / "000005.xml").write_text(VOC_000005)
    (root / "Annotations" / "000007.xml").write_text(annotation(filename="000007.jpg"))
    bgr = np.zeros((375, 500, 3), np.uint8)
    bgr[:, :, 2] = 255                                           # red, stored as OpenCV's BGR
    cv2.imwrite(str(root / "JPEGImages" / "000005.jpg"), bgr)
    cv2.imwrite(str(root / "JPEGImages" / "000007.jpg"), np.full((50, 100, 3), 128, np.uint8))
    (root / "ImageSets" / "Main" / "train.txt").write_text("000005\n\n000007\n")
    (root / "ImageSets" / "Main" / "chair_train.txt").write_text("000005  1\n000007 -1\n")


def test_vocdetection_on_a_voc2007_like_folder(tmp_path):
    root = tmp_path / "VOCdevkit" / "VOC2007"
    write_real_voc(root)
    ds = VOCDetection(root)
    assert ds.classes == VOC_CLASSES and ds.ids == ["000005", "000007"]
    image, target = ds[0]
    assert image.shape == (3, 375, 500) and image.dtype == torch.float32
    assert torch.allclose(image[:, 100, 100], torch.tensor([1.0, 0.0, 0.0]), atol=2 / 255)    # BGR -> RGB
    assert target["boxes"].tolist() == [[262, 210, 324, 339], [4, 243, 67, 374], [0, 0, 500, 375]]
    assert target["labels"].tolist() == [8, 8, 10]                # chair, chair, diningtable in VOC_CLASSES
    assert target["difficult"].tolist() == [False, True, False]
    image, target = ds[-1]                                       # an image without objects
    assert image.shape == (3, 50, 100) and target["boxes"].shape == (0, 4) and target["labels"].dtype == torch.int64
    easy = VOCDetection(str(root), classes="auto", skip_difficult=True)
    assert easy.classes == ("chair", "diningtable") and easy[0][1]["labels"].tolist() == [0, 1]
    assert VOCDetection(root, "chair_train", classes=["chair", "diningtable"]).ids == ["000005", "000007"]  # first column


def test_vocdetection_missing_folders_say_where_the_files_belong(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"PASCAL VOC: .*nope has no Annotations, JPEGImages, ImageSets/Main "
                                                r"folder\. Expected root to hold .*host\.robots\.ox\.ac\.uk.*never downloads it.*"
                                                r"write_shapes_voc"):
        VOCDetection(tmp_path / "nope")
    write_real_voc(tmp_path / "VOCdevkit" / "VOC2007")
    with pytest.raises(FileNotFoundError, match=r"It holds VOC2007: pass root='.*VOCdevkit/VOC2007'"):
        VOCDetection(tmp_path / "VOCdevkit")
    root = tmp_path / "VOCdevkit" / "VOC2007"
    with pytest.raises(FileNotFoundError, match=r"no image set 'test': .*test\.txt does not exist \(one id a line\); "
                                                r"the image sets there: train$"):
        VOCDetection(root, "test")
    (root / "ImageSets" / "Main" / "val.txt").write_text("000005\n000009\n000010\n")
    with pytest.raises(FileNotFoundError, match=r"2 of the 3 ids of .*val\.txt have no annotation, e\.g\. .*000009\.xml"):
        VOCDetection(root, "val")
    with pytest.raises(TypeError, match=r"root: expected a path \(str or os\.PathLike\), got int"):
        VOCDetection(5)
    with pytest.raises(ValueError, match=r"image_set: expected the name of a file in ImageSets/Main \(e\.g\. 'train'\), got ''"):
        VOCDetection(root, image_set="")
    with pytest.raises(ValueError, match=r"image_set: expected the name of a file in ImageSets/Main"):
        VOCDetection(root, image_set="../train")
    with pytest.raises(TypeError, match=r"image_set: expected a str, the name of a file in ImageSets/Main, got int"):
        VOCDetection(root, image_set=2007)


def test_vocdetection_item_errors(tmp_path):
    root = tmp_path / "VOC"
    write_real_voc(root)
    ds = VOCDetection(root)
    with pytest.raises(IndexError, match=r"index 2 out of range for a VOCDetection of length 2"):
        ds[2]
    with pytest.raises(TypeError, match=r"index: expected an int, got str"):
        ds["000005"]
    with pytest.raises(ValueError, match=r"000005\.jpg: object 2 has class 'diningtable', which is not in classes \(chair\)"):
        VOCDetection(root, classes=["chair"])[0]
    (root / "JPEGImages" / "000007.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(ValueError, match=r"000007\.jpg: OpenCV could not read this image"):
        ds[1]
    (root / "JPEGImages" / "000007.jpg").unlink()
    with pytest.raises(FileNotFoundError, match=r"no image for id '000007': looked for 000007\.jpeg, 000007\.jpg, "
                                                r"000007\.png in .*JPEGImages"):
        ds[1]
    cv2.imwrite(str(root / "JPEGImages" / "000007.png"), np.zeros((60, 100, 3), np.uint8))      # found by id
    with pytest.raises(ValueError, match=r"000007\.png: the image is 100x60 \(width x height\) but 000007\.xml says 100x50"):
        ds[1]
    with pytest.raises(ValueError, match=r"classes: expected None, 'auto' or a sequence of names, got 'chair'"):
        VOCDetection(root, classes="chair")
    with pytest.raises(ValueError, match=r"classes: each name may appear once"):
        VOCDetection(root, classes=["a", "a"])
    with pytest.raises(TypeError, match=r"zero_based: expected True or False, got int 0"):
        VOCDetection(root, zero_based=0)
