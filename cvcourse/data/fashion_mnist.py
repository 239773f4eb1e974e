"""Fashion-MNIST from its IDX files on disk (never downloaded by the course).

Get the four files from https://github.com/zalandoresearch/fashion-mnist (folder `data/fashion`, or
the links in its README) and put them, gzipped or not, in one folder `root`::

    train-images-idx3-ubyte.gz   60,000 training images, 28x28 gray
    train-labels-idx1-ubyte.gz   their labels, 0..9
    t10k-images-idx3-ubyte.gz    10,000 test images
    t10k-labels-idx1-ubyte.gz    their labels

The IDX format (that of LeCun's MNIST files): a big-endian int32 magic number, 2051 (0x00000803:
unsigned bytes, 3 dimensions) for images and 2049 (0x00000801: unsigned bytes, 1 dimension) for
labels, then one big-endian int32 per dimension (images: N, rows, columns; labels: N), then the
values, one byte each, row by row.

Reference: H. Xiao, K. Rasul and R. Vollgraf, "Fashion-MNIST: a Novel Image Dataset for Benchmarking
Machine Learning Algorithms", arXiv:1708.07747, 2017; IDX: Y. LeCun et al., the MNIST database.
"""
from __future__ import annotations

import gzip
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from .classification import LabelledImages

__all__ = ["FASHION_MNIST_CLASSES", "FASHION_MNIST_URL", "FashionMNIST", "load_fashion_mnist", "read_idx"]

#: The class names, in label order.
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                         "Bag", "Ankle boot")
#: Where to download the files by hand.
FASHION_MNIST_URL = "https://github.com/zalandoresearch/fashion-mnist"

_FILES = {True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
          False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
_MAGIC = {3: 2051, 1: 2049}                                     # unsigned-byte IDX files, by dimensions


def read_idx(path: str | os.PathLike, ndim: int) -> np.ndarray:
    """Read an unsigned-byte IDX file (raw, or gzipped if the name ends in ".gz").

    Args:
        path: the file.
        ndim: the number of dimensions the file must have: 3 (images, magic 2051) or 1 (labels,
            magic 2049).

    Returns:
        A uint8 ndarray with the file's dimensions: (N, rows, columns) or (N,).

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a gzip file / truncated gzip stream, a wrong magic number, or fewer / more
            bytes than the dimensions say; the message names the file and the rule.

    Reference: the IDX format of the MNIST database (LeCun, Cortes and Burges).
    """
    if ndim not in _MAGIC:
        raise ValueError(f"ndim: expected 1 (labels) or 3 (images), got {ndim!r}")
    path = Path(path)
    try:
        with (gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")) as f:
            raw = f.read()
    except FileNotFoundError:
        raise
    except (OSError, EOFError) as e:
        raise ValueError(f"{path}: cannot read the gzip stream ({e}); expected a gzipped IDX file") from None
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: {len(raw)} bytes, shorter than an IDX header ({header} bytes)")
    magic, *dims = (int(v) for v in np.frombuffer(raw, ">i4", count=1 + ndim))
    if magic != _MAGIC[ndim]:
        kind = "images" if ndim == 3 else "labels"
        raise ValueError(f"{path}: magic number {magic}, expected {_MAGIC[ndim]} "
                         f"(an IDX file of unsigned bytes with {ndim} dimension{'s' * (ndim > 1)}: {kind})")
    size = int(np.prod(dims))
    if len(raw) - header != size:
        raise ValueError(f"{path}: the header says {' x '.join(map(str, dims))} = {size} bytes of data, "
                         f"found {len(raw) - header} (a truncated or damaged file)")
    return np.frombuffer(raw, np.uint8, offset=header).reshape(dims)


def _find(root: Path, name: str) -> Path | None:
    """root/name or root/name.gz (the uncompressed file first), or None."""
    for candidate in (root / name, root / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def load_fashion_mnist(root: str | os.PathLike, train: bool = True) -> tuple[Tensor, Tensor]:
    """The Fashion-MNIST training (60,000) or test (10,000) images and labels, read from `root`.

    Args:
        root: the folder that holds the IDX files (gzipped or not; see the module docstring).
        train: True for `train-*-ubyte`, False for `t10k-*-ubyte`.

    Returns:
        (images Tensor[N, 1, 28, 28] uint8, 0 = background, labels Tensor[N] int64 in 0..9, indices
        into `FASHION_MNIST_CLASSES`), in file order.

    Raises:
        FileNotFoundError: a file is missing; the message lists the files and where to put and
            download them (nothing is downloaded).
        ValueError: a damaged file (see `read_idx`), image and label counts that differ, or labels
            outside 0..9; the message names the file(s).

    Reference: Xiao, Rasul and Vollgraf, arXiv:1708.07747, 2017.
    """
    if not isinstance(root, (str, os.PathLike)):
        raise TypeError(f"root: expected a path (str or os.PathLike), got {type(root).__name__}")
    if not isinstance(train, bool):
        raise TypeError(f"train: expected a bool, got {type(train).__name__} {train!r}")
    root = Path(root)
    names = _FILES[train]
    paths = [_find(root, name) for name in names]
    missing = [f"{name}(.gz)" for name, path in zip(names, paths, strict=True) if path is None]
    if missing:
        raise FileNotFoundError(
            f"Fashion-MNIST: {', '.join(missing)} not found in {root}. Download {names[0]}.gz and "
            f"{names[1]}.gz from {FASHION_MNIST_URL} (folder data/fashion) and put them in {root} "
            f"(gzipped or not); the course never downloads them.")
    images, labels = read_idx(paths[0], 3), read_idx(paths[1], 1)
    if len(images) != len(labels):
        raise ValueError(f"{paths[0]} holds {len(images)} images but {paths[1]} holds {len(labels)} labels; "
                         f"expected one label per image")
    if len(labels) and labels.max() >= len(FASHION_MNIST_CLASSES):
        raise ValueError(f"{paths[1]}: labels must be in 0..9, got {labels.max()}")
    return torch.from_numpy(images[:, None].copy()), torch.from_numpy(labels.astype(np.int64))


class FashionMNIST(LabelledImages):
    """Fashion-MNIST as a map-style torch Dataset: `ds[i]` is (image Tensor[1, 28, 28] float32 in
    [0, 1], label int); the split is read into memory by `load_fashion_mnist` (`ds.images` uint8,
    `ds.labels`). `ds.class_names` is `FASHION_MNIST_CLASSES`.

    Args: `root` and `train` as in `load_fashion_mnist`; `transform`: None or a callable applied to
    each float image (e.g. `cvcourse.data.augment.RandomAugment(...)`).
    """

    def __init__(self, root: str | os.PathLike, train: bool = True,
                 transform: Callable[[Tensor], Tensor] | None = None) -> None:
        images, labels = load_fashion_mnist(root, train)
        super().__init__(images, labels, FASHION_MNIST_CLASSES, transform)
        self.train = train
