"""PASCAL VOC annotations: read the XML files and convert them to YOLO label files.

A VOC annotation is one XML file per image::

    <annotation>
      <filename>000005.jpg</filename>
      <size><width>500</width><height>375</height><depth>3</depth></size>
      <object>
        <name>chair</name><truncated>0</truncated><difficult>0</difficult>
        <bndbox><xmin>263</xmin><ymin>211</ymin><xmax>324</xmax><ymax>339</ymax></bndbox>
      </object>
      ...
    </annotation>

Coordinates: VOC numbers pixels from 1 and both corners are inclusive: a box from xmin to xmax
covers xmax - xmin + 1 pixel columns, and the image's pixels run from 1 to width. In the 0-based,
pixel-edge coordinates of the rest of the course (a box's x2 is the right edge of its last pixel, so
the whole image is (0, 0, width, height)), the same box is (xmin - 1, ymin - 1, xmax, ymax):
`read_voc_xml(path, zero_based=True)` returns that (Detectron2's VOC loader does the same).
`voc_to_yolo` converts with it either way. Darknet's `voc_label.py` (and Ultralytics' VOC script)
use cx = (xmin + xmax) / 2 - 1 and w = xmax - xmin instead: a half pixel and one pixel off.

YOLO label files: one `.txt` per image, one line per object, "class cx cy w h" with the class an
index into the class list and the box's centre and size divided by the image's width and height.

Reference: M. Everingham et al., "The PASCAL Visual Object Classes (VOC) Challenge", IJCV 2010, and
the VOC development kit documentation; YOLO's format: J. Redmon, darknet (scripts/voc_label.py).
"""
from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["read_voc_xml", "voc_classes", "voc_to_yolo", "write_yolo_labels"]

PathLike = str | os.PathLike


def _text(node: ET.Element, tag: str, where: str) -> str:
    """The stripped text of `node`'s child `tag`, or a ValueError naming the file and the element."""
    child = node.find(tag)
    if child is None or child.text is None or not child.text.strip():
        raise ValueError(f"{where}: missing <{tag}>")
    return child.text.strip()


def _number(node: ET.Element, tag: str, where: str) -> float:
    text = _text(node, tag, where)
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{where}: <{tag}> is {text!r}, expected a number") from None


def _flag(node: ET.Element, tag: str) -> bool:
    """An optional 0/1 element (truncated, difficult): absent means 0."""
    child = node.find(tag)
    return child is not None and (child.text or "").strip() not in ("", "0")


def read_voc_xml(path: PathLike, zero_based: bool = False) -> dict[str, Any]:
    """Read one PASCAL VOC annotation file.

    Args:
        path: the XML file.
        zero_based: if False, boxes are as in the file (1-based, inclusive corners); if True,
            1 is subtracted from xmin and ymin, which gives 0-based pixel-edge `xyxy` boxes (see
            the module docstring).

    Returns:
        A dict: "filename" (str, the image file; "" if absent), "size" (width, height, depth) ints,
        "zero_based" (the argument, so `voc_to_yolo` knows the convention) and "objects", a list of
        dicts with "name" (str), "bbox" (xmin, ymin, xmax, ymax) floats in `xyxy` order,
        "difficult" and "truncated" (bools; absent means False).

    Raises:
        FileNotFoundError: `path` does not exist.
        ValueError: malformed XML, a root other than <annotation>, a missing or non-positive
            <size>, or an object without <name> or with a missing, non-numeric or inverted
            (xmax < xmin) <bndbox>; the message names the file and the object.

    Reference: the VOC development kit (Everingham et al., IJCV 2010).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path: no VOC annotation file at {str(path)!r}")
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as err:
        raise ValueError(f"{path}: malformed XML ({err})") from None
    if root.tag != "annotation":
        raise ValueError(f"{path}: expected an <annotation> root element, got <{root.tag}>")
    size = root.find("size")
    if size is None:
        raise ValueError(f"{path}: missing <size> (the image's width, height and depth)")
    width, height = (_number(size, tag, f"{path}: <size>") for tag in ("width", "height"))
    depth = _number(size, "depth", f"{path}: <size>") if size.find("depth") is not None else 3.0
    if width <= 0 or height <= 0:
        raise ValueError(f"{path}: <size> must be positive, got width {width:g}, height {height:g}")
    objects = []
    for i, obj in enumerate(root.findall("object")):
        where = f"{path}: object {i}"
        name = _text(obj, "name", where)
        box = obj.find("bndbox")
        if box is None:
            raise ValueError(f"{where} ({name}): missing <bndbox>")
        x1, y1, x2, y2 = (_number(box, tag, f"{where} ({name})") for tag in ("xmin", "ymin", "xmax", "ymax"))
        if x2 < x1 or y2 < y1:
            raise ValueError(f"{where} ({name}): expected xmax >= xmin and ymax >= ymin, got "
                             f"({x1:g}, {y1:g}, {x2:g}, {y2:g})")
        if zero_based:
            x1, y1 = x1 - 1, y1 - 1
        objects.append({"name": name, "bbox": (x1, y1, x2, y2),
                        "difficult": _flag(obj, "difficult"), "truncated": _flag(obj, "truncated")})
    filename = root.find("filename")
    return {"filename": (filename.text or "").strip() if filename is not None else "",
            "size": (int(width), int(height), int(depth)), "zero_based": bool(zero_based), "objects": objects}


def _xml_files(xml_paths: PathLike | Iterable[PathLike]) -> list[Path]:
    if isinstance(xml_paths, (str, os.PathLike)):
        folder = Path(xml_paths)
        if not folder.is_dir():
            raise FileNotFoundError(f"xml_paths: {str(folder)!r} is not a folder (pass a folder or a list of files)")
        return sorted(folder.glob("*.xml"))
    return [Path(p) for p in xml_paths]


def voc_classes(xml_paths: PathLike | Iterable[PathLike]) -> list[str]:
    """The class list of a VOC data set: the sorted set of every object name in its annotations.

    Args:
        xml_paths: a folder (its `*.xml` files are read) or an iterable of XML file paths.

    Returns:
        list[str], sorted alphabetically (so a class's index does not depend on file order), each
        name once. Empty if no file has an object.

    Raises:
        FileNotFoundError / ValueError: as `read_voc_xml`, for the first bad file.

    Reference: the class-list extraction of the darknet / Ultralytics VOC conversion scripts.
    """
    return sorted({obj["name"] for p in _xml_files(xml_paths) for obj in read_voc_xml(p)["objects"]})


def voc_to_yolo(annotation: dict[str, Any], classes: Sequence[str], skip_difficult: bool = False) -> list[str]:
    """An annotation from `read_voc_xml` as YOLO label lines "class cx cy w h".

    Boxes are first put in 0-based pixel-edge coordinates (the annotation's "zero_based" says
    whether that was done on reading), clipped to the image, then divided by its width and height:
    cx = (x1 + x2) / 2 / width, w = (x2 - x1) / width, likewise for y; all four lie in [0, 1] and
    are written with 6 decimals.

    Args:
        annotation: a dict as returned by `read_voc_xml`.
        classes: the class list; an object's class index is the position of its name here.
        skip_difficult: leave out objects marked difficult.

    Returns:
        list[str], one line per object in file order (no trailing newline); [] for no objects.

    Raises:
        ValueError: an object whose name is not in `classes` (naming the file and the object).

    Reference: darknet's YOLO label format (Redmon & Farhadi, "YOLO9000", CVPR 2017).
    """
    if not isinstance(annotation, dict) or not {"size", "objects"} <= annotation.keys():
        raise TypeError("annotation: expected a dict from read_voc_xml (with 'size' and 'objects')")
    if isinstance(classes, str) or not isinstance(classes, Sequence):
        raise TypeError(f"classes: expected a sequence of class names, got {type(classes).__name__}")
    index = {name: i for i, name in enumerate(classes)}
    width, height = annotation["size"][:2]
    shift = 0.0 if annotation.get("zero_based", False) else 1.0
    lines = []
    for i, obj in enumerate(annotation["objects"]):
        if obj["name"] not in index:
            raise ValueError(f"{annotation.get('filename', '')}: object {i} has class {obj['name']!r}, "
                             f"which is not in classes ({', '.join(classes)})")
        if skip_difficult and obj["difficult"]:
            continue
        x1, y1, x2, y2 = obj["bbox"]
        x1, y1 = min(max(x1 - shift, 0.0), width), min(max(y1 - shift, 0.0), height)
        x2, y2 = min(max(x2, x1), width), min(max(y2, y1), height)
        cx, cy, w, h = (x1 + x2) / 2 / width, (y1 + y2) / 2 / height, (x2 - x1) / width, (y2 - y1) / height
        lines.append(f"{index[obj['name']]} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}")
    return lines


def write_yolo_labels(xml_dir: PathLike, out_dir: PathLike, classes: Sequence[str],
                      skip_difficult: bool = False) -> list[Path]:
    """Convert every VOC annotation in a folder to a YOLO label file.

    Each `name.xml` in `xml_dir` becomes `out_dir/name.txt` (YOLO pairs a label file with the image
    of the same stem); an annotation without objects gives an empty file (a background image).

    Args:
        xml_dir: the folder of VOC XML files (e.g. VOCdevkit/VOC2007/Annotations).
        out_dir: where to write the `.txt` files (created if missing).
        classes: the class list, e.g. from `voc_classes`.
        skip_difficult: leave out objects marked difficult.

    Returns:
        The written paths, sorted.

    Raises:
        FileNotFoundError: `xml_dir` is not a folder.
        ValueError: `xml_dir` holds no `.xml` file, or any error of `read_voc_xml` / `voc_to_yolo`
            (all files are read and converted before the first one is written).

    Reference: darknet's scripts/voc_label.py (J. Redmon).
    """
    xml_dir, out_dir = Path(xml_dir), Path(out_dir)
    if not xml_dir.is_dir():
        raise FileNotFoundError(f"xml_dir: {str(xml_dir)!r} is not a folder")
    files = sorted(xml_dir.glob("*.xml"))
    if not files:
        raise ValueError(f"xml_dir: no .xml files in {str(xml_dir)!r}")
    converted = [(out_dir / (p.stem + ".txt"), voc_to_yolo(read_voc_xml(p), classes, skip_difficult))
                 for p in files]
    out_dir.mkdir(parents=True, exist_ok=True)
    for target, lines in converted:
        target.write_text("".join(line + "\n" for line in lines))
    return [target for target, _ in converted]
