"""cvcourse.data.voc: the PASCAL VOC XML reader and the VOC -> YOLO conversion, on fixture files written
here (no data set is downloaded): hand-worked values, a round trip back to pixel boxes, every error."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cvcourse.data import voc
from cvcourse.data.voc import read_voc_xml, voc_classes, voc_to_yolo, write_yolo_labels

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
    assert set(voc.__all__) == {"read_voc_xml", "voc_classes", "voc_to_yolo", "write_yolo_labels"}
