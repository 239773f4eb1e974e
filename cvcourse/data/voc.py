"""PASCAL VOC: read and write the XML annotations, convert them to YOLO label files and back, write
the synthetic shapes in VOC's folder layout, and read such a folder as a torch Dataset.

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
`read_voc_xml(path, zero_based=True)` returns that (Detectron2's VOC loader does the same), and
`write_voc_xml` writes pixel-edge boxes back as (x1 + 1, y1 + 1, x2, y2), so integer boxes make the
round trip exactly. A VOC box covers at least one pixel (xmax >= xmin): a pixel-edge box narrower
than one pixel has no VOC form. `voc_to_yolo` converts with this rule either way. Darknet's
`voc_label.py` (and Ultralytics' VOC script) use cx = (xmin + xmax) / 2 - 1 and w = xmax - xmin
instead: a half pixel and one pixel off.

YOLO label files: one `.txt` per image, one line per object, "class cx cy w h" with the class an
index into the class list and the box's centre and size divided by the image's width and height
(`read_yolo_labels`, `voc_to_yolo`, and back: `yolo_to_voc`).

Folder layout (VOCdevkit/VOC2007, and what `write_shapes_voc` writes; `VOCDetection` reads it)::

    root/Annotations/<id>.xml         one annotation per image
    root/JPEGImages/<id>.jpg          the images (`write_shapes_voc` writes lossless .png)
    root/ImageSets/Main/<set>.txt     the ids of each image set (train, val, trainval, test), one a line

Image sizes: `image_size` arguments are (height, width) as everywhere in the course (or one int for
a square); the annotation dict's "size" is VOC's (width, height, depth).

Reference: M. Everingham et al., "The PASCAL Visual Object Classes (VOC) Challenge", IJCV 2010, and
the VOC development kit documentation; YOLO's format: J. Redmon, darknet (scripts/voc_label.py).
"""
from __future__ import annotations

import math
import os
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from cvcourse._validate import check_int
from cvcourse.ops._validate import check_boxes

from .images import to_tensor
from .shapes import ShapesDataset

__all__ = ["VOCDetection", "VOC_CLASSES", "VOC_URL", "read_voc_xml", "read_yolo_labels", "voc_classes", "voc_target",
           "voc_to_yolo", "write_shapes_voc", "write_voc_xml", "write_yolo_labels", "yolo_to_voc"]

PathLike = str | os.PathLike

#: The 20 PASCAL VOC classes, sorted alphabetically (their index is the label).
VOC_CLASSES = ("aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow", "diningtable",
               "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor")
#: Where to download the data sets by hand.
VOC_URL = "http://host.robots.ox.ac.uk/pascal/VOC/"


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


def _class_index(annotation: Any, classes: Any) -> dict[str, int]:
    """Check an annotation dict and a class list; the class list as {name: index}."""
    if not isinstance(annotation, dict) or not {"size", "objects"} <= annotation.keys():
        raise TypeError("annotation: expected a dict from read_voc_xml (with 'size' and 'objects')")
    if isinstance(classes, str) or not isinstance(classes, Sequence):
        raise TypeError(f"classes: expected a sequence of class names, got {type(classes).__name__}")
    return {name: i for i, name in enumerate(classes)}


def _check_known(annotation: dict[str, Any], i: int, index: dict[str, int], classes: Sequence[str]) -> None:
    name = annotation["objects"][i]["name"]
    if name not in index:
        raise ValueError(f"{annotation.get('filename', '')}: object {i} has class {name!r}, "
                         f"which is not in classes ({', '.join(classes)})")


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
    index = _class_index(annotation, classes)
    width, height = annotation["size"][:2]
    shift = 0.0 if annotation.get("zero_based", False) else 1.0
    lines = []
    for i, obj in enumerate(annotation["objects"]):
        _check_known(annotation, i, index, classes)
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


# ----------------------------------------------------------------------------- argument checks
def _image_size(image_size: Any) -> tuple[int, int]:
    """An int or (height, width) as (height, width) of ints >= 1."""
    if isinstance(image_size, (int, np.integer)) and not isinstance(image_size, (bool, np.bool_)):
        image_size = (image_size, image_size)
    if not isinstance(image_size, (tuple, list)) or len(image_size) != 2:
        raise TypeError(f"image_size: expected an int or (height, width), got {image_size!r}")
    return check_int("image_size[0] (height)", image_size[0], 1), check_int("image_size[1] (width)", image_size[1], 1)


def _class_names(classes: Any) -> tuple[str, ...]:
    """A non-empty sequence of distinct, non-empty class names, as a tuple."""
    if isinstance(classes, str) or not isinstance(classes, Sequence):
        raise TypeError(f"classes: expected a sequence of class names, got {type(classes).__name__}")
    if not classes:
        raise ValueError("classes: expected at least one class name, got an empty sequence")
    bad = [c for c in classes if not isinstance(c, str) or not c.strip() or c != c.strip()]
    if bad:
        raise ValueError(f"classes: expected non-empty names without surrounding spaces, got {bad[0]!r}")
    if len(set(classes)) != len(classes):
        raise ValueError(f"classes: each name may appear once, got {list(classes)}")
    return tuple(classes)


def _bool(value: Any, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}: expected True or False, got {type(value).__name__} {value!r}")
    return bool(value)


def _labels(labels: Any, k: int, num_classes: int) -> Tensor:
    """Tensor[k] of class indices in 0..num_classes - 1, as int64."""
    if not isinstance(labels, Tensor) or labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        got = labels.dtype if isinstance(labels, Tensor) else type(labels).__name__
        raise TypeError(f"labels: expected an integer Tensor[{k}] of class indices, got {got}")
    if labels.shape != (k,):
        raise ValueError(f"labels: expected Tensor[{k}] (one label per box), got Tensor{list(labels.shape)}")
    bad = (labels < 0) | (labels >= num_classes)
    if bad.any():
        i = int(bad.nonzero()[0, 0])
        raise ValueError(f"labels: element {i} is {int(labels[i])}, expected a class index in 0..{num_classes - 1} "
                         f"({num_classes} classes)")
    return labels.long()


def _flags(flags: Any, k: int, name: str) -> Tensor:
    """None (all False) or a bool / 0-1 integer Tensor[k], as bool."""
    if flags is None:
        return torch.zeros(k, dtype=torch.bool)
    if not isinstance(flags, Tensor) or flags.is_floating_point() or flags.is_complex():
        got = flags.dtype if isinstance(flags, Tensor) else type(flags).__name__
        raise TypeError(f"{name}: expected a bool Tensor[{k}] or None, got {got}")
    if flags.shape != (k,):
        raise ValueError(f"{name}: expected Tensor[{k}] (one flag per box), got Tensor{list(flags.shape)}")
    if flags.dtype != torch.bool and ((flags != 0) & (flags != 1)).any():
        raise ValueError(f"{name}: expected 0/1 or bool flags, got values {sorted(set(flags.tolist()))}")
    return flags.bool()


def _coordinate(v: float) -> str:
    """A coordinate as VOC writes it: an integer without ".0", else up to 6 decimals."""
    return str(int(v)) if float(v).is_integer() else f"{v:.6f}".rstrip("0").rstrip(".")


# ----------------------------------------------------------------------------- YOLO labels -> VOC
def _parse_yolo(lines: Iterable[str], num_classes: int | None, where: str) -> list[tuple[int, int, float, float, float, float]]:
    """(line number, class, cx, cy, w, h) of each non-blank YOLO label line, checked."""
    rows = []
    for n, line in enumerate(lines, 1):
        if not isinstance(line, str):
            raise TypeError(f"{where}: line {n}: expected a str, got {type(line).__name__}")
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 5:
            raise ValueError(f"{where}: line {n}: expected 5 values 'class cx cy w h', got {len(parts)}: {line.strip()!r}")
        try:
            c = int(parts[0])
        except ValueError:
            raise ValueError(f"{where}: line {n}: the class {parts[0]!r} is not an integer index") from None
        if c < 0 or (num_classes is not None and c >= num_classes):
            expected = "an index >= 0" if num_classes is None else f"an index in 0..{num_classes - 1} ({num_classes} classes)"
            raise ValueError(f"{where}: line {n}: class {c} is out of range, expected {expected}")
        try:
            values = [float(v) for v in parts[1:]]
        except ValueError:
            raise ValueError(f"{where}: line {n}: expected numbers for cx cy w h, got {' '.join(parts[1:])!r}") from None
        for name, v in zip(("cx", "cy", "w", "h"), values, strict=True):
            if not 0.0 <= v <= 1.0:                              # also refuses nan
                raise ValueError(f"{where}: line {n}: {name} = {v:g} is outside [0, 1] (YOLO coordinates are "
                                 f"fractions of the image's width and height)")
        rows.append((n, c, *values))
    return rows


def read_yolo_labels(path: PathLike, num_classes: int | None = None) -> tuple[Tensor, Tensor]:
    """Read one YOLO label file: one line "class cx cy w h" per object (blank lines are skipped).

    Args:
        path: the `.txt` file.
        num_classes: if given, every class must be in 0..num_classes - 1.

    Returns:
        (labels Tensor[K] int64, boxes Tensor[K, 4] float32 in YOLO's normalised `cxcywh`: the
        centre and size divided by the image's width and height, each in [0, 1]). An empty file
        (a background image) gives Tensor[0] and Tensor[0, 4].

    Raises:
        FileNotFoundError: `path` does not exist.
        ValueError: a line without exactly 5 values, a class that is not an integer or is out of
            range, a coordinate that is not a number or is outside [0, 1]; the message names the
            file and the line (counted from 1, blank lines included).

    Reference: darknet's YOLO label format (Redmon & Farhadi, "YOLO9000", CVPR 2017).
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path: expected a path (str or os.PathLike), got {type(path).__name__}")
    if num_classes is not None:
        num_classes = check_int("num_classes", num_classes, 1)
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path: no YOLO label file at {str(path)!r}")
    rows = _parse_yolo(path.read_text().splitlines(), num_classes, str(path))
    labels = torch.tensor([r[1] for r in rows], dtype=torch.int64)
    boxes = torch.tensor([r[2:] for r in rows], dtype=torch.float32).reshape(-1, 4)
    return labels, boxes


def yolo_to_voc(lines: str | Sequence[str], image_size: int | tuple[int, int], classes: Sequence[str],
                filename: str = "", zero_based: bool = False, round_pixels: bool = True) -> dict[str, Any]:
    """YOLO label lines as an annotation dict in `read_voc_xml`'s format: the reverse of `voc_to_yolo`.

    A line "c cx cy w h" becomes the pixel-edge box x1 = (cx - w / 2) * width, x2 = (cx + w / 2) *
    width (likewise for y), clipped to the image, rounded to whole pixels if `round_pixels` (VOC
    stores whole pixels; a line written with 6 decimals is off by less than width * 1e-6 pixels,
    so the boxes of a VOC file come back exactly), and, unless `zero_based`, shifted to VOC's
    1-based inclusive corners (x1 + 1, y1 + 1, x2, y2).

    Args:
        lines: the label lines (e.g. `voc_to_yolo`'s list), or a label file's whole text; blank
            lines are skipped.
        image_size: the image's (height, width), or one int for a square image.
        classes: the class list; a line's class indexes it.
        filename: the image file, stored as "filename".
        zero_based: as in `read_voc_xml`: False gives VOC's 1-based corners, True pixel-edge ones.
        round_pixels: round the corners to whole pixels (False keeps the fractions).

    Returns:
        {"filename", "size": (width, height, 3), "zero_based", "objects": [{"name", "bbox": (x1, y1,
        x2, y2) floats, "difficult": False, "truncated": False}, ...]}: YOLO has no difficult or
        truncated flags. No lines give no objects.

    Raises:
        TypeError / ValueError: a bad argument, or a bad line (as `read_yolo_labels`); with
        `zero_based=False`, a box narrower or lower than one pixel (VOC has no such box).

    Reference: darknet's YOLO label format (Redmon & Farhadi, "YOLO9000", CVPR 2017); VOC's
    corners: the VOC development kit (Everingham et al., IJCV 2010).
    """
    if isinstance(lines, str):
        lines = lines.splitlines()
    elif not isinstance(lines, Sequence):
        raise TypeError(f"lines: expected a list of label lines or a str, got {type(lines).__name__}")
    height, width = _image_size(image_size)
    classes = _class_names(classes)
    if not isinstance(filename, str):
        raise TypeError(f"filename: expected a str, got {type(filename).__name__}")
    zero_based, round_pixels = _bool(zero_based, "zero_based"), _bool(round_pixels, "round_pixels")
    objects = []
    for n, c, cx, cy, w, h in _parse_yolo(lines, len(classes), "lines"):
        x1, x2 = (min(max((cx + s * w / 2) * width, 0.0), float(width)) for s in (-1, 1))
        y1, y2 = (min(max((cy + s * h / 2) * height, 0.0), float(height)) for s in (-1, 1))
        if round_pixels:
            x1, y1, x2, y2 = (float(math.floor(v + 0.5)) for v in (x1, y1, x2, y2))
        if not zero_based:
            if x2 - x1 < 1 or y2 - y1 < 1:
                raise ValueError(f"lines: line {n}: the box is {x2 - x1:g} x {y2 - y1:g} pixels in the image; a VOC "
                                 f"box covers at least one pixel (zero_based=True keeps it in pixel-edge coordinates)")
            x1, y1 = x1 + 1, y1 + 1
        objects.append({"name": classes[c], "bbox": (x1, y1, x2, y2), "difficult": False, "truncated": False})
    return {"filename": filename, "size": (width, height, 3), "zero_based": zero_based, "objects": objects}


# ----------------------------------------------------------------------------- annotations <-> tensors, writing
def voc_target(annotation: dict[str, Any], classes: Sequence[str], skip_difficult: bool = False) -> dict[str, Tensor]:
    """An annotation from `read_voc_xml` (or `yolo_to_voc`) as tensors, in torchvision's detection format.

    Boxes are put in 0-based pixel-edge `xyxy` coordinates whichever convention the annotation was
    read with (its "zero_based"), as the course's other data sets (`cvcourse.data.shapes`).

    Args:
        annotation: a dict as returned by `read_voc_xml`.
        classes: the class list; an object's label is the position of its name here.
        skip_difficult: leave out objects marked difficult.

    Returns:
        {"boxes": Tensor[K, 4] float32 `xyxy`, "labels": Tensor[K] int64, "difficult": Tensor[K]
        bool, "truncated": Tensor[K] bool}, objects in file order; these keys are `write_voc_xml`'s
        argument names. No objects give Tensor[0, 4] and Tensor[0].

    Raises:
        TypeError: `annotation` is not such a dict, `classes` not a sequence of names.
        ValueError: an object whose name is not in `classes` (naming the file and the object).

    Reference: torchvision's detection target format; VOC: Everingham et al., IJCV 2010.
    """
    index = _class_index(annotation, classes)
    skip_difficult = _bool(skip_difficult, "skip_difficult")
    shift = 0.0 if annotation.get("zero_based", False) else 1.0
    boxes, labels, difficult, truncated = [], [], [], []
    for i, obj in enumerate(annotation["objects"]):
        _check_known(annotation, i, index, classes)
        if skip_difficult and obj["difficult"]:
            continue
        x1, y1, x2, y2 = obj["bbox"]
        boxes.append((x1 - shift, y1 - shift, x2, y2))
        labels.append(index[obj["name"]])
        difficult.append(bool(obj["difficult"]))
        truncated.append(bool(obj["truncated"]))
    return {"boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
            "labels": torch.tensor(labels, dtype=torch.int64),
            "difficult": torch.tensor(difficult, dtype=torch.bool),
            "truncated": torch.tensor(truncated, dtype=torch.bool)}


def write_voc_xml(path: PathLike, filename: str, image_size: int | tuple[int, int], boxes: Tensor, labels: Tensor,
                  classes: Sequence[str], difficult: Tensor | None = None, truncated: Tensor | None = None) -> Path:
    """Write one PASCAL VOC annotation file, which `read_voc_xml` reads back.

    A pixel-edge box (x1, y1, x2, y2) is written as VOC's 1-based inclusive corners (x1 + 1, y1 + 1,
    x2, y2): `read_voc_xml(path, zero_based=True)` gives the boxes back, exactly for integer ones
    (others keep 6 decimals). Each object gets <name>, <pose>Unspecified</pose>, <truncated>,
    <difficult> and <bndbox>, as in the VOC files.

    Args:
        path: the `.xml` file to write (its folder is created if missing).
        filename: the image file, e.g. "000005.jpg" (stored as <filename>).
        image_size: the image's (height, width), or one int for a square image (depth 3).
        boxes: Tensor[K, 4] `xyxy` in pixel-edge coordinates, inside the image, each at least one
            pixel wide and high (a VOC box covers whole pixels).
        labels: Tensor[K] int, indices into `classes`.
        classes: the class names.
        difficult, truncated: Tensor[K] bool (or 0/1), or None for all False.

    Returns:
        The written path (a Path).

    Raises:
        TypeError / ValueError: a bad argument, naming it; a box outside the image or narrower or
        lower than one pixel names its row.

    Reference: the VOC development kit's annotation format (Everingham et al., IJCV 2010).
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path: expected a path (str or os.PathLike), got {type(path).__name__}")
    if not isinstance(filename, str):
        raise TypeError(f"filename: expected a str, got {type(filename).__name__}")
    height, width = _image_size(image_size)
    classes = _class_names(classes)
    b = check_boxes(boxes, "boxes").detach().cpu().double()
    k = len(b)
    labels = _labels(labels, k, len(classes))
    difficult, truncated = _flags(difficult, k, "difficult"), _flags(truncated, k, "truncated")
    outside = (b[:, 0] < 0) | (b[:, 1] < 0) | (b[:, 2] > width) | (b[:, 3] > height)    # (K,)
    if outside.any():
        i = int(outside.nonzero()[0, 0])
        raise ValueError(f"boxes: row {i} is {b[i].tolist()}, outside the {width}x{height} image (width x height); "
                         f"clip it first (cvcourse.ops.clip_boxes_to_image)")
    thin = (b[:, 2] - b[:, 0] < 1) | (b[:, 3] - b[:, 1] < 1)
    if thin.any():
        i = int(thin.nonzero()[0, 0])
        raise ValueError(f"boxes: row {i} is {b[i].tolist()}, narrower or lower than one pixel; a VOC box covers "
                         f"at least one pixel (xmax >= xmin in its inclusive corners)")
    root = ET.Element("annotation")
    ET.SubElement(root, "filename").text = filename
    size = ET.SubElement(root, "size")
    for tag, value in (("width", width), ("height", height), ("depth", 3)):
        ET.SubElement(size, tag).text = str(value)
    ET.SubElement(root, "segmented").text = "0"
    for (x1, y1, x2, y2), c, diff, trunc in zip(b.tolist(), labels.tolist(), difficult.tolist(), truncated.tolist(),
                                                strict=True):
        obj = ET.SubElement(root, "object")
        for tag, text in (("name", classes[c]), ("pose", "Unspecified"), ("truncated", str(int(trunc))),
                          ("difficult", str(int(diff)))):
            ET.SubElement(obj, tag).text = text
        bndbox = ET.SubElement(obj, "bndbox")
        for tag, value in (("xmin", x1 + 1), ("ymin", y1 + 1), ("xmax", x2), ("ymax", y2)):
            ET.SubElement(bndbox, tag).text = _coordinate(value)
    ET.indent(root, space="  ")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(ET.tostring(root, encoding="unicode") + "\n")
    return path


def write_shapes_voc(root: PathLike, n: int, seed: int = 0, image_size: int | tuple[int, int] = 128, val: int = 0,
                     ext: str = ".png", **scene_kwargs: Any) -> Path:
    """Write `n` synthetic shapes scenes as a small data set in PASCAL VOC's folder layout.

    Scene i is `ShapesDataset(n, image_size, seed=seed, **scene_kwargs).scene(i)`, saved as
    `root/JPEGImages/NNNNNN.png` (i with 6 digits; VOC's folder name is kept whatever the format)
    and `root/Annotations/NNNNNN.xml` (`write_voc_xml`; class names from the scene's `classes`).
    The image sets, as in VOC: `ImageSets/Main/train.txt` lists the first n - val ids, `val.txt`
    the last `val` (empty for val=0), `trainval.txt` all of them. So `VOCDetection(root, "trainval",
    classes=ds.classes)[i]` equals `ds[i]` (masks aside). Existing files of the same names are
    replaced.

    PNG is lossless, so the images read back are exactly the scenes; ".jpg" (quality 95) looks
    like VOC's files but changes pixel values slightly (JPEG is lossy).

    Args:
        root: the folder to write (created if missing), e.g. `tmp_path / "VOCshapes"`.
        n: the number of scenes, >= 0.
        seed: the data set's seed (int >= 0).
        image_size: (height, width) or one int, as in `make_scene`.
        val: how many of the scenes (the last ones) form the "val" set, 0..n.
        ext: ".png" (default) or ".jpg".
        **scene_kwargs: more arguments of `ShapesDataset` / `make_scene` (classes, min_objects, ...).

    Returns:
        `root` as a Path.

    Raises:
        TypeError / ValueError: a bad argument (the scene arguments as `ShapesDataset`).
        OSError: an image could not be written.

    Reference: the VOC development kit's layout (Everingham et al., IJCV 2010); the scenes:
    `cvcourse.data.shapes` (after Matterport's Mask R-CNN shapes, Abdulla 2017).
    """
    import cv2

    if not isinstance(root, (str, os.PathLike)):
        raise TypeError(f"root: expected a path (str or os.PathLike), got {type(root).__name__}")
    ds = ShapesDataset(n, image_size=image_size, seed=seed, **scene_kwargs)
    val = check_int("val", val, 0)
    if val > ds.n:
        raise ValueError(f"val: expected at most n = {ds.n} validation scenes, got {val}")
    if ext not in (".png", ".jpg"):
        raise ValueError(f"ext: expected '.png' (lossless) or '.jpg', got {ext!r}")
    root = Path(root)
    images, annotations, sets = root / "JPEGImages", root / "Annotations", root / "ImageSets" / "Main"
    for folder in (images, annotations, sets):
        folder.mkdir(parents=True, exist_ok=True)
    params = [cv2.IMWRITE_JPEG_QUALITY, 95] if ext == ".jpg" else [cv2.IMWRITE_PNG_COMPRESSION, 3]
    ids = [f"{i:06d}" for i in range(ds.n)]
    for i, name in enumerate(ids):
        scene = ds.scene(i)
        target = images / (name + ext)
        if not cv2.imwrite(str(target), cv2.cvtColor(scene.image, cv2.COLOR_RGB2BGR), params):
            raise OSError(f"could not write the image {target}")
        write_voc_xml(annotations / (name + ".xml"), name + ext, ds.image_size, scene.boxes, scene.labels, ds.classes)
    for image_set, members in (("train", ids[:ds.n - val]), ("val", ids[ds.n - val:]), ("trainval", ids)):
        (sets / f"{image_set}.txt").write_text("".join(m + "\n" for m in members))
    return root


# ----------------------------------------------------------------------------- the Dataset
_LAYOUT = ("Annotations", "JPEGImages", "ImageSets/Main")
_IMAGE_EXTS = (".jpg", ".png", ".jpeg")


def _voc_root(root: Any) -> Path:
    """`root` as a Path holding VOC's folders, or a FileNotFoundError that says where they belong."""
    if not isinstance(root, (str, os.PathLike)):
        raise TypeError(f"root: expected a path (str or os.PathLike), got {type(root).__name__}")
    root = Path(root)
    missing = [sub for sub in _LAYOUT if not (root / sub).is_dir()]
    if missing:
        inner = sorted(p.name for p in root.iterdir() if (p / "Annotations").is_dir()) if root.is_dir() else []
        hint = f" It holds {', '.join(inner)}: pass root={str(root / inner[0])!r}." if inner else ""
        raise FileNotFoundError(
            f"PASCAL VOC: {root} has no {', '.join(missing)} folder.{hint} Expected root to hold Annotations/ "
            f"(<id>.xml), JPEGImages/ (<id>.jpg) and ImageSets/Main/ (<set>.txt), as VOCdevkit/VOC2007. Download "
            f"e.g. VOCtrainval_06-Nov-2007.tar from {VOC_URL}, extract it (`tar -xf VOCtrainval_06-Nov-2007.tar -C "
            f"DIR`) and pass root=DIR/VOCdevkit/VOC2007; the course never downloads it "
            f"(`cvcourse.data.voc.write_shapes_voc` writes a small folder of this layout).")
    return root


class VOCDetection(torch.utils.data.Dataset):
    """A PASCAL VOC folder (VOCdevkit/VOC2007, or `write_shapes_voc`'s) as a map-style torch Dataset.

    `ds[i]` is `(image, target)`, as `ShapesDataset` (torchvision's detection format): image
    Tensor[3, H, W] float32 in [0, 1] (read with OpenCV, BGR -> RGB); target `voc_target`'s dict:
    "boxes" Tensor[K, 4] float32 `xyxy` in pixel-edge coordinates (VOC's 1-based corners if
    `zero_based=False`), "labels" Tensor[K] int64 (indices into `ds.classes`), "difficult" and
    "truncated" Tensor[K] bool. Items are read on access; nothing is cached. `ds.ids` lists the
    image ids, `ds.annotation(i)` gives item i's `read_voc_xml` dict. Batch with
    `DataLoader(ds, batch_size=..., collate_fn=lambda b: tuple(zip(*b)))` (image sizes vary).

    An image is `JPEGImages/<filename>` (the XML's <filename>), else `JPEGImages/<id>` with
    .jpg, .png or .jpeg.

    Args:
        root: the folder holding Annotations/, JPEGImages/ and ImageSets/Main/.
        image_set: the ids file `ImageSets/Main/<image_set>.txt` ("train", "val", "trainval", ...).
        classes: the class list: None for `VOC_CLASSES`, "auto" for the sorted names found in the
            image set's annotations (`voc_classes`), or a sequence of names.
        skip_difficult: leave out objects marked difficult.
        zero_based: True for pixel-edge boxes (the course's convention), False for VOC's numbers.

    Raises (at construction): FileNotFoundError when a folder, the image-set file or an
    annotation file is missing (saying where the files belong); on access: FileNotFoundError for
    a missing image, ValueError for an unreadable one, one whose size differs from its XML, or an
    object whose class is not in `classes`.
    Reference: Everingham et al., IJCV 2010; torchvision.datasets.VOCDetection.
    """

    def __init__(self, root: PathLike, image_set: str = "train", classes: Sequence[str] | str | None = None,
                 skip_difficult: bool = False, zero_based: bool = True) -> None:
        self.root = _voc_root(root)
        if not isinstance(image_set, str):
            raise TypeError(f"image_set: expected a str, the name of a file in ImageSets/Main, got {type(image_set).__name__}")
        if not image_set.strip() or "/" in image_set or "\\" in image_set:
            raise ValueError(f"image_set: expected the name of a file in ImageSets/Main (e.g. 'train'), got {image_set!r}")
        ids_file = self.root / "ImageSets" / "Main" / f"{image_set}.txt"
        if not ids_file.is_file():
            known = sorted(p.stem for p in ids_file.parent.glob("*.txt") if "_" not in p.stem)
            raise FileNotFoundError(f"PASCAL VOC: no image set {image_set!r}: {ids_file} does not exist (one id a line); "
                                    f"the image sets there: {', '.join(known) or 'none'}")
        self.image_set = image_set
        self.ids: list[str] = [line.split()[0] for line in ids_file.read_text().splitlines() if line.strip()]
        missing = [i for i in self.ids if not self._xml(i).is_file()]
        if missing:
            raise FileNotFoundError(f"PASCAL VOC: {len(missing)} of the {len(self.ids)} ids of {ids_file} have no "
                                    f"annotation, e.g. {self._xml(missing[0])}")
        if classes is None:
            classes = VOC_CLASSES
        elif isinstance(classes, str):
            if classes != "auto":
                raise ValueError(f"classes: expected None, 'auto' or a sequence of names, got {classes!r}")
            classes = voc_classes([self._xml(i) for i in self.ids])
        self.classes: tuple[str, ...] = _class_names(classes) if classes else ()
        self.skip_difficult = _bool(skip_difficult, "skip_difficult")
        self.zero_based = _bool(zero_based, "zero_based")

    def _xml(self, image_id: str) -> Path:
        return self.root / "Annotations" / f"{image_id}.xml"

    def _index(self, i: int) -> int:
        if isinstance(i, (bool, np.bool_)) or not isinstance(i, (int, np.integer)):
            raise TypeError(f"index: expected an int, got {type(i).__name__}")
        if not -len(self.ids) <= i < len(self.ids):
            raise IndexError(f"index {i} out of range for a VOCDetection of length {len(self.ids)}")
        return int(i) % len(self.ids)

    def __len__(self) -> int:
        return len(self.ids)

    def annotation(self, i: int) -> dict[str, Any]:
        """Item i's annotation, as `read_voc_xml(path, zero_based=ds.zero_based)` returns it."""
        return read_voc_xml(self._xml(self.ids[self._index(i)]), zero_based=self.zero_based)

    def _image_path(self, image_id: str, filename: str) -> Path:
        folder = self.root / "JPEGImages"
        candidates = ([folder / filename] if filename else []) + [folder / (image_id + e) for e in _IMAGE_EXTS]
        for path in candidates:
            if path.is_file():
                return path
        raise FileNotFoundError(f"PASCAL VOC: no image for id {image_id!r}: looked for "
                                f"{', '.join(sorted({p.name for p in candidates}))} in {folder}")

    def __getitem__(self, i: int) -> tuple[Tensor, dict[str, Tensor]]:
        import cv2

        image_id = self.ids[self._index(i)]
        ann = read_voc_xml(self._xml(image_id))
        target = voc_target(ann, self.classes, self.skip_difficult)
        if not self.zero_based:
            target["boxes"][:, :2] += 1
        path = self._image_path(image_id, ann["filename"])
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise ValueError(f"{path}: OpenCV could not read this image (not an image file, or truncated)")
        (w, h), (img_h, img_w) = ann["size"][:2], bgr.shape[:2]
        if (img_w, img_h) != (w, h):
            raise ValueError(f"{path}: the image is {img_w}x{img_h} (width x height) but {self._xml(image_id).name} "
                             f"says {w}x{h}")
        return to_tensor(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)), target

    def __repr__(self) -> str:
        return (f"VOCDetection(root={str(self.root)!r}, image_set={self.image_set!r}, n={len(self)}, "
                f"classes={len(self.classes)})")
