"""CIFAR-10 from the "python version" files on disk (never downloaded by the course).

Get `cifar-10-python.tar.gz` from https://www.cs.toronto.edu/~kriz/cifar.html and extract it into
a folder `root`, so that `root/cifar-10-batches-py/` holds::

    data_batch_1 ... data_batch_5    training images, 10,000 each
    test_batch                       10,000 test images
    batches.meta                     the class names

(`root` may also be the `cifar-10-batches-py` folder itself.) Each batch is a Python pickle of a
dict with b"data", a uint8 array (10000, 3072) whose rows hold a 32x32 image's red, green and blue
planes one after the other, row by row, and b"labels", a list of 10,000 ints in 0..9.

Pickles can run code when loaded; these files are read with an unpickler that accepts only the
objects a CIFAR batch holds (dicts, lists, strings, numbers and a numpy array) and fails otherwise.

Reference: A. Krizhevsky, "Learning Multiple Layers of Features from Tiny Images", tech. report,
University of Toronto, 2009.
"""
from __future__ import annotations

import os
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .classification import LabelledImages

__all__ = ["CIFAR10", "CIFAR10_CLASSES", "CIFAR10_URL", "load_cifar10"]

#: The class names, in label order (as in `batches.meta`).
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
#: Where to download the files by hand.
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar.html"

_FOLDER = "cifar-10-batches-py"
_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
_TEST = ("test_batch",)
_RECONSTRUCT = np.zeros(1).__reduce__()[0]                      # numpy's array unpickling function
_ALLOWED = {("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"), ("__builtin__", "bytes"), ("builtins", "bytes")}


class _BatchUnpickler(pickle.Unpickler):
    """Loads plain data and numpy arrays only (Python 2 pickles: byte strings stay bytes)."""

    def find_class(self, module: str, name: str) -> Any:
        if name == "_reconstruct" and module in ("numpy.core.multiarray", "numpy._core.multiarray"):
            return _RECONSTRUCT
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: a CIFAR batch holds only data")


def _unpickle(path: Path) -> Any:
    try:
        with open(path, "rb") as f:
            return _BatchUnpickler(f, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as e:
        raise ValueError(f"{path}: not a CIFAR-10 batch (a truncated or foreign pickle: {e})") from None


def _folder(root: Any) -> Path:
    """The folder that holds the batches: root/cifar-10-batches-py, or root itself."""
    if not isinstance(root, (str, os.PathLike)):
        raise TypeError(f"root: expected a path (str or os.PathLike), got {type(root).__name__}")
    root = Path(root)
    if (root / _FOLDER).is_dir() or not any((root / name).is_file() for name in _TRAIN + _TEST):
        return root / _FOLDER
    return root


def _read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (N, 3, 32, 32), labels int64 (N,)) of one batch file, checked."""
    batch = _unpickle(path)
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise ValueError(f"{path}: expected a pickled dict with b'data' and b'labels', got "
                         f"{sorted(batch) if isinstance(batch, dict) else type(batch).__name__}")
    data, labels = batch[b"data"], batch[b"labels"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        got = f"{data.dtype} array {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise ValueError(f"{path}: b'data' must be a uint8 array (N, 3072) (N images of 3x32x32), got {got}")
    labels = np.asarray(labels)
    if labels.size == 0:
        labels = labels.astype(np.int64)                        # np.asarray([]) is float64
    if labels.shape != (len(data),) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{path}: b'labels' must hold one int per image ({len(data)}), got {labels.dtype} {labels.shape}")
    if len(labels) and not (labels.min() >= 0 and labels.max() < len(CIFAR10_CLASSES)):
        raise ValueError(f"{path}: b'labels' must be in 0..9, got {labels.min()}..{labels.max()}")
    return data.reshape(-1, 3, 32, 32), labels.astype(np.int64)


def load_cifar10(root: str | os.PathLike, train: bool = True) -> tuple[Tensor, Tensor]:
    """The CIFAR-10 training (50,000) or test (10,000) images and labels, read from `root`.

    Args:
        root: the folder into which `cifar-10-python.tar.gz` was extracted (it holds
            `cifar-10-batches-py/`), or that `cifar-10-batches-py` folder itself.
        train: True for `data_batch_1` ... `data_batch_5`, False for `test_batch`.

    Returns:
        (images Tensor[N, 3, 32, 32] uint8 RGB, labels Tensor[N] int64 in 0..9, indices into
        `CIFAR10_CLASSES`), in file order.

    Raises:
        FileNotFoundError: a batch file is missing; the message lists the files and where to put
            and download them (nothing is downloaded).
        ValueError: a file is not a CIFAR-10 batch (truncated, not a pickle, wrong keys, shapes or
            labels); the message names the file.

    Reference: Krizhevsky 2009; the file format as documented at https://www.cs.toronto.edu/~kriz/cifar.html.
    """
    if not isinstance(train, bool):
        raise TypeError(f"train: expected a bool, got {type(train).__name__} {train!r}")
    folder = _folder(root)
    names = _TRAIN if train else _TEST
    missing = [name for name in names if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"CIFAR-10: {', '.join(missing)} not found in {folder}. Download the 'CIFAR-10 python version' "
            f"(cifar-10-python.tar.gz) from {CIFAR10_URL} and extract it into {Path(root)} (for example "
            f"`tar -xzf cifar-10-python.tar.gz -C {Path(root)}`), so that {folder / names[0]} exists; "
            f"the course never downloads it.")
    batches = [_read_batch(folder / name) for name in names]
    images = np.concatenate([b[0] for b in batches])            # (N, 3, 32, 32)
    labels = np.concatenate([b[1] for b in batches])            # (N,)
    return torch.from_numpy(images), torch.from_numpy(labels)


def _class_names(folder: Path) -> tuple[str, ...]:
    """The names in `batches.meta` if it is there, else `CIFAR10_CLASSES`."""
    path = folder / "batches.meta"
    if not path.is_file():
        return CIFAR10_CLASSES
    meta = _unpickle(path)
    names = meta.get(b"label_names") if isinstance(meta, dict) else None
    if not isinstance(names, list) or len(names) != len(CIFAR10_CLASSES):
        raise ValueError(f"{path}: expected a dict whose b'label_names' lists {len(CIFAR10_CLASSES)} names")
    return tuple(n.decode() if isinstance(n, bytes) else str(n) for n in names)


class CIFAR10(LabelledImages):
    """CIFAR-10 as a map-style torch Dataset: `ds[i]` is (image Tensor[3, 32, 32] float32 in [0, 1],
    label int); the whole split is read into memory (`ds.images` uint8, `ds.labels`, 150 MB for the
    training set) by `load_cifar10`. `ds.class_names`: the names in `batches.meta` (or
    `CIFAR10_CLASSES` without it).

    Args: `root` and `train` as in `load_cifar10`; `transform`: None or a callable applied to each
    float image (e.g. `cvcourse.data.augment.RandomAugment(...)`).
    """

    def __init__(self, root: str | os.PathLike, train: bool = True,
                 transform: Callable[[Tensor], Tensor] | None = None) -> None:
        images, labels = load_cifar10(root, train)
        super().__init__(images, labels, _class_names(_folder(root)), transform)
        self.train = train
