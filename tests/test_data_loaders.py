"""cvcourse.data.cifar and cvcourse.data.fashion_mnist: tiny fixture files written here in the real formats
(CIFAR-10: Python pickles, protocol 2, byte-string keys; Fashion-MNIST: IDX, raw and gzipped), round trips,
and every error: missing files (the message says where to put them), truncated files, wrong magic numbers,
count mismatches, foreign pickles."""
import gzip
import os
import pickle
import struct

import numpy as np
import pytest
import torch

from cvcourse import data
from cvcourse.data.cifar import CIFAR10, CIFAR10_CLASSES, load_cifar10
from cvcourse.data.fashion_mnist import FASHION_MNIST_CLASSES, FashionMNIST, load_fashion_mnist, read_idx


# ----------------------------------------------------------------------------- CIFAR-10 fixtures
def cifar_batch(n, seed):
    """A batch dict as in the real files: b"data" uint8 (n, 3072), b"labels" a list of ints, plus extras."""
    rng = np.random.default_rng(seed)
    return {b"batch_label": b"training batch 1 of 5", b"labels": [int(v) for v in rng.integers(0, 10, n)],
            b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            b"filenames": [b"img_%d.png" % i for i in range(n)]}


def write_cifar(root, sizes=(3, 2, 1, 2, 4), test=3, meta=True, legacy=False):
    """root/cifar-10-batches-py with five training batches of the given sizes and a test batch."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    batches = {f"data_batch_{i + 1}": cifar_batch(n, i) for i, n in enumerate(sizes)}
    batches["test_batch"] = cifar_batch(test, 99)
    for name, batch in batches.items():
        raw = pickle.dumps(batch, protocol=2)
        if legacy:                                             # the real files name numpy < 2's module
            raw = raw.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
        (folder / name).write_bytes(raw)
    if meta:
        names = [c.encode() for c in CIFAR10_CLASSES]
        (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": names, b"num_vis": 3072}, protocol=2))
    return batches


def expected(batches, names):
    images = np.concatenate([batches[n][b"data"] for n in names]).reshape(-1, 3, 32, 32)
    labels = np.concatenate([batches[n][b"labels"] for n in names])
    return torch.from_numpy(images), torch.from_numpy(labels).long()


@pytest.mark.parametrize("legacy", [False, True])
def test_cifar_round_trip(tmp_path, legacy):
    batches = write_cifar(tmp_path, legacy=legacy)
    images, labels = load_cifar10(tmp_path)
    want_images, want_labels = expected(batches, [f"data_batch_{i}" for i in range(1, 6)])
    assert images.dtype == torch.uint8 and images.shape == (12, 3, 32, 32)
    assert labels.dtype == torch.int64 and torch.equal(labels, want_labels) and torch.equal(images, want_images)
    # the row layout: 1024 red values, then green, then blue, each row by row
    row = batches["data_batch_1"][b"data"][0]
    assert images[0, 1, 2, 5] == row[1024 + 2 * 32 + 5]
    test_images, test_labels = load_cifar10(tmp_path, train=False)
    assert torch.equal(test_images, expected(batches, ["test_batch"])[0]) and len(test_labels) == 3
    # the batches folder itself works as root too
    assert torch.equal(load_cifar10(tmp_path / "cifar-10-batches-py", train=False)[0], test_images)


def test_cifar_dataset(tmp_path):
    batches = write_cifar(tmp_path)
    ds = CIFAR10(tmp_path, train=False, transform=lambda x: 1 - x)
    assert len(ds) == 3 and ds.class_names == CIFAR10_CLASSES and ds.train is False
    image, label = ds[1]
    want = torch.from_numpy(batches["test_batch"][b"data"][1].reshape(3, 32, 32)).float() / 255
    assert image.dtype == torch.float32 and torch.equal(image, 1 - want)
    assert label == batches["test_batch"][b"labels"][1]
    loader = torch.utils.data.DataLoader(CIFAR10(tmp_path), batch_size=5)
    assert [tuple(x.shape) for x, _ in loader] == [(5, 3, 32, 32), (5, 3, 32, 32), (2, 3, 32, 32)]
    assert repr(ds) == "CIFAR10(n=3, image=(3, 32, 32), classes=10)"
    assert data.CIFAR10 is CIFAR10 and data.load_cifar10 is load_cifar10


def test_cifar_class_names_from_meta_or_default(tmp_path):
    folder = tmp_path / "a" / "cifar-10-batches-py"
    write_cifar(tmp_path / "a", meta=False)
    assert CIFAR10(tmp_path / "a", train=False).class_names == CIFAR10_CLASSES
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": [b"x"] * 10}, protocol=2))
    assert CIFAR10(tmp_path / "a", train=False).class_names == ("x",) * 10
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": [b"x"]}, protocol=2))
    with pytest.raises(ValueError, match=r"batches.meta: expected a dict whose b'label_names' lists 10 names"):
        CIFAR10(tmp_path / "a", train=False)


def test_cifar_missing_files_say_where_to_put_them(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"CIFAR-10: data_batch_1, data_batch_2, .*data_batch_5 not found in "
                       r".*cifar-10-batches-py\. Download .*cifar-10-python.tar.gz\) from "
                       r"https://www\.cs\.toronto\.edu/~kriz/cifar\.html and extract it into") as info:
        load_cifar10(tmp_path)
    assert str(tmp_path / "cifar-10-batches-py" / "data_batch_1") in str(info.value)
    assert "never downloads" in str(info.value)
    write_cifar(tmp_path)
    os.remove(tmp_path / "cifar-10-batches-py" / "data_batch_3")
    with pytest.raises(FileNotFoundError, match=r"CIFAR-10: data_batch_3 not found"):
        load_cifar10(tmp_path)
    load_cifar10(tmp_path, train=False)                        # the test split does not need it
    with pytest.raises(FileNotFoundError, match=r"CIFAR-10: test_batch not found"):
        CIFAR10(tmp_path / "elsewhere", train=False)


def damage(path, how):
    raw = path.read_bytes()
    if how == "truncated":
        path.write_bytes(raw[: len(raw) // 2])
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "text":
        path.write_bytes(b"not a pickle at all\n")


@pytest.mark.parametrize("how", ["truncated", "empty", "text"])
def test_cifar_damaged_file_is_named(tmp_path, how):
    write_cifar(tmp_path)
    damage(tmp_path / "cifar-10-batches-py" / "data_batch_2", how)
    with pytest.raises(ValueError, match=r"data_batch_2: not a CIFAR-10 batch \(a truncated or foreign pickle"):
        load_cifar10(tmp_path)


@pytest.mark.parametrize("batch, match", [
    ([1, 2], r"test_batch: expected a pickled dict with b'data' and b'labels', got list"),
    ({b"data": np.zeros((2, 3072), np.uint8)}, r"expected a pickled dict with b'data' and b'labels', got \[b'data'\]"),
    ({b"data": np.zeros((2, 3000), np.uint8), b"labels": [0, 1]}, r"b'data' must be a uint8 array \(N, 3072\) .*got uint8 array \(2, 3000\)"),
    ({b"data": np.zeros((2, 3072), np.int64), b"labels": [0, 1]}, r"b'data' must be a uint8 array .*got int64"),
    ({b"data": [0] * 3072, b"labels": [0]}, r"b'data' must be a uint8 array .*got list"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}, r"b'labels' must hold one int per image \(2\)"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0.5, 1.0]}, r"b'labels' must hold one int per image"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": 7}, r"b'labels' must hold one int per image \(2\), got int64 \(\)"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}, r"b'labels' must be in 0..9, got 0..10"),
])
def test_cifar_malformed_batch(tmp_path, batch, match):
    write_cifar(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "test_batch").write_bytes(pickle.dumps(batch, protocol=2))
    with pytest.raises(ValueError, match=match):
        load_cifar10(tmp_path, train=False)


class Exploit:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_cifar_refuses_pickles_that_run_code(tmp_path):
    write_cifar(tmp_path)
    path = tmp_path / "cifar-10-batches-py" / "test_batch"
    path.write_bytes(pickle.dumps({b"data": Exploit(), b"labels": []}, protocol=2))
    with pytest.raises(ValueError, match=r"test_batch: not a CIFAR-10 batch .*refusing to load (posix|nt)\.system"):
        load_cifar10(tmp_path, train=False)


def test_cifar_empty_batch_and_bad_arguments(tmp_path):
    write_cifar(tmp_path, test=0)
    images, labels = load_cifar10(tmp_path, train=False)
    assert images.shape == (0, 3, 32, 32) and labels.shape == (0,) and labels.dtype == torch.int64
    with pytest.raises(TypeError, match=r"root: expected a path \(str or os.PathLike\), got int"):
        load_cifar10(3)
    with pytest.raises(TypeError, match=r"train: expected a bool, got str 'yes'"):
        load_cifar10(tmp_path, train="yes")


# ----------------------------------------------------------------------------- Fashion-MNIST fixtures
def idx_bytes(array, magic=None):
    """An unsigned-byte IDX file: big-endian magic (0x0800 + ndim), dimensions, values."""
    magic = 0x0800 + array.ndim if magic is None else magic
    return struct.pack(f">{1 + array.ndim}i", magic, *array.shape) + array.astype(np.uint8).tobytes()


def write_fashion(root, n=5, test=2, gz=True, rows=28, cols=28):
    rng = np.random.default_rng(0)
    arrays = {}
    for prefix, count in (("train", n), ("t10k", test)):
        images = rng.integers(0, 256, (count, rows, cols), dtype=np.uint8)
        labels = rng.integers(0, 10, count, dtype=np.uint8)
        for name, array in ((f"{prefix}-images-idx3-ubyte", images), (f"{prefix}-labels-idx1-ubyte", labels)):
            raw = idx_bytes(array)
            if gz:
                (root / f"{name}.gz").write_bytes(gzip.compress(raw))
            else:
                (root / name).write_bytes(raw)
        arrays[prefix] = images, labels
    return arrays


@pytest.mark.parametrize("gz", [True, False])
def test_fashion_round_trip(tmp_path, gz):
    arrays = write_fashion(tmp_path, gz=gz)
    for train, prefix in ((True, "train"), (False, "t10k")):
        images, labels = load_fashion_mnist(tmp_path, train=train)
        assert images.dtype == torch.uint8 and images.shape == (len(arrays[prefix][0]), 1, 28, 28)
        assert labels.dtype == torch.int64
        assert torch.equal(images[:, 0], torch.from_numpy(arrays[prefix][0]))
        assert torch.equal(labels, torch.from_numpy(arrays[prefix][1]).long())


def test_fashion_header_golden_bytes_and_raw_file_first(tmp_path):
    labels = np.array([3, 1, 4], np.uint8)
    raw = idx_bytes(labels)
    assert raw[:8] == bytes([0, 0, 8, 1, 0, 0, 0, 3])          # magic 2049, N = 3, big-endian
    (tmp_path / "l").write_bytes(raw)
    np.testing.assert_array_equal(read_idx(tmp_path / "l", 1), labels)
    # both a raw and a gzipped copy: the raw file is read
    write_fashion(tmp_path, n=4, gz=True)
    arrays = write_fashion(tmp_path, n=6, gz=False)
    assert torch.equal(load_fashion_mnist(tmp_path)[1], torch.from_numpy(arrays["train"][1]).long())


def test_fashion_dataset(tmp_path):
    arrays = write_fashion(tmp_path)
    ds = FashionMNIST(tmp_path, train=True)
    assert len(ds) == 5 and ds.class_names == FASHION_MNIST_CLASSES and ds.class_names[9] == "Ankle boot"
    image, label = ds[-1]
    assert image.shape == (1, 28, 28) and image.dtype == torch.float32
    assert torch.equal(image[0], torch.from_numpy(arrays["train"][0][4]).float() / 255)
    assert label == int(arrays["train"][1][4])
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=4)))
    assert batch[0].shape == (4, 1, 28, 28) and batch[1].dtype == torch.int64
    assert data.FashionMNIST is FashionMNIST and data.load_fashion_mnist is load_fashion_mnist


def test_fashion_missing_files_say_where_to_put_them(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"Fashion-MNIST: train-images-idx3-ubyte\(.gz\), "
                       r"train-labels-idx1-ubyte\(.gz\) not found in .*Download train-images-idx3-ubyte.gz and "
                       r"train-labels-idx1-ubyte.gz from https://github.com/zalandoresearch/fashion-mnist"):
        load_fashion_mnist(tmp_path)
    write_fashion(tmp_path)
    os.remove(tmp_path / "t10k-labels-idx1-ubyte.gz")
    with pytest.raises(FileNotFoundError, match=r"Fashion-MNIST: t10k-labels-idx1-ubyte\(.gz\) not found in " + str(tmp_path)):
        load_fashion_mnist(tmp_path, train=False)
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "nothing", 1)


@pytest.mark.parametrize("name, content, match", [
    ("train-images-idx3-ubyte", idx_bytes(np.zeros((5, 28, 28)), magic=2049),
     r"train-images-idx3-ubyte: magic number 2049, expected 2051 \(an IDX file of unsigned bytes with 3 dimensions: images\)"),
    ("train-labels-idx1-ubyte", idx_bytes(np.zeros(5), magic=2051),
     r"train-labels-idx1-ubyte: magic number 2051, expected 2049 \(.*1 dimension: labels\)"),
    ("train-images-idx3-ubyte", idx_bytes(np.zeros((5, 28, 28)))[:-10],
     r"train-images-idx3-ubyte: the header says 5 x 28 x 28 = 3920 bytes of data, found 3910 \(a truncated"),
    ("train-labels-idx1-ubyte", idx_bytes(np.zeros(5)) + b"\0",
     r"the header says 5 = 5 bytes of data, found 6"),
    ("train-labels-idx1-ubyte", b"\0\0\x08", r"train-labels-idx1-ubyte: 3 bytes, shorter than an IDX header \(8 bytes\)"),
    ("train-images-idx3-ubyte", idx_bytes(np.zeros((4, 28, 28))),
     r"train-images-idx3-ubyte holds 4 images but .*train-labels-idx1-ubyte holds 5 labels; expected one label per image"),
    ("train-labels-idx1-ubyte", idx_bytes(np.array([0, 1, 2, 3, 10])), r"train-labels-idx1-ubyte: labels must be in 0..9, got 10"),
])
def test_fashion_damaged_files(tmp_path, name, content, match):
    write_fashion(tmp_path, gz=False)
    (tmp_path / name).write_bytes(content)
    with pytest.raises(ValueError, match=match):
        load_fashion_mnist(tmp_path)


def test_fashion_damaged_gzip(tmp_path):
    write_fashion(tmp_path, gz=True)
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte.gz: cannot read the gzip stream .*expected a gzipped IDX file"):
        load_fashion_mnist(tmp_path, train=False)
    path.write_bytes(idx_bytes(np.zeros((2, 28, 28))))          # not gzipped although named .gz
    with pytest.raises(ValueError, match=r"cannot read the gzip stream"):
        load_fashion_mnist(tmp_path, train=False)


def test_fashion_other_sizes_empty_files_and_bad_arguments(tmp_path):
    write_fashion(tmp_path, n=0, test=3, rows=4, cols=6)       # any image size reads (MNIST's format too)
    assert load_fashion_mnist(tmp_path, train=False)[0].shape == (3, 1, 4, 6)
    images, labels = load_fashion_mnist(tmp_path)
    assert images.shape == (0, 1, 4, 6) and labels.shape == (0,) and labels.dtype == torch.int64
    with pytest.raises(ValueError, match=r"ndim: expected 1 \(labels\) or 3 \(images\), got 2"):
        read_idx(tmp_path / "t10k-images-idx3-ubyte.gz", 2)
    with pytest.raises(TypeError, match=r"root: expected a path"):
        load_fashion_mnist(None)
    with pytest.raises(TypeError, match=r"train: expected a bool, got int 1"):
        FashionMNIST(tmp_path, train=1)
