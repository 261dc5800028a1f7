"""Image loading from folders, globs, npz, CIFAR-10 and Fashion-MNIST idx; PNG and grids."""
import gzip
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gr_semcod.runtime.images import (
    FASHION_MNIST_DIR,
    ImageLoadError,
    detect_format,
    fit_image,
    image_grid,
    load_images,
    read_idx,
    save_png,
)


def rgb(seed, h=12, w=10):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def smooth(h=12, w=10):
    y, x = np.mgrid[0:h, 0:w]
    return np.dstack([20 * x, 20 * y, 100 + 5 * (x + y)]).astype(np.uint8)


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "imgs"
    (d / "sub").mkdir(parents=True)
    Image.fromarray(rgb(0)).save(d / "a.png")
    Image.fromarray(rgb(1)[..., 0]).save(d / "b.png")  # grey
    Image.fromarray(np.dstack([rgb(2), np.full((12, 10), 128, np.uint8)])).save(d / "c.png")  # RGBA
    Image.fromarray(smooth()).save(d / "sub" / "d.jpg", quality=95)
    (d / "notes.txt").write_text("not an image")
    return d


# --------------------------------------------------------------------------- files


def test_folder_recursive_sorted_and_converted(folder):
    ds = load_images(folder)
    assert ds.images.shape == (4, 12, 10, 3) and ds.images.dtype == np.uint8
    assert ds.labels is None
    assert [Path(n).name for n in ds.names] == ["a.png", "b.png", "c.png", "d.jpg"]
    np.testing.assert_array_equal(ds.images[0], rgb(0))  # PNG is lossless
    grey = rgb(1)[..., 0]
    np.testing.assert_array_equal(ds.images[1], np.dstack([grey] * 3))
    np.testing.assert_array_equal(ds.images[2], rgb(2))  # alpha dropped
    assert np.abs(ds.images[3].astype(int) - smooth()).mean() < 3  # JPEG, lossy


def test_glob_single_file_and_limit(folder):
    ds = load_images(str(folder / "*.png"))
    assert len(ds.images) == 3
    assert len(load_images(folder / "sub" / "d.jpg").images) == 1
    ds = load_images(folder, limit=2)
    assert [Path(n).name for n in ds.names] == ["a.png", "b.png"]
    with pytest.raises(ImageLoadError, match="no such file"):
        load_images(folder / "missing")
    with pytest.raises(ImageLoadError, match="no image files"):
        load_images(str(folder / "*.txt"))


def test_corrupt_file_error_and_skip(folder):
    bad = folder / "b2.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    with pytest.raises(ImageLoadError) as e:
        load_images(folder)
    assert str(bad) in str(e.value) and "\n" not in str(e.value)
    with pytest.warns(UserWarning, match="b2.png"):
        ds = load_images(folder, skip_bad=True)
    assert len(ds.images) == 4 and not any("b2.png" in n for n in ds.names)


def test_mixed_sizes_need_size(tmp_path):
    Image.fromarray(rgb(0, 12, 10)).save(tmp_path / "a.png")
    Image.fromarray(rgb(1, 20, 30)).save(tmp_path / "b.png")
    with pytest.raises(ImageLoadError, match="pass size="):
        load_images(tmp_path)
    ds = load_images(tmp_path, size=8)
    assert ds.images.shape == (2, 8, 8, 3)
    assert load_images(tmp_path, size=(6, 9)).images.shape == (2, 6, 9, 3)


def test_fit_image_covers_and_centre_crops():
    # 20 high x 40 wide: left quarter red, middle half green, right quarter blue
    x = np.zeros((20, 40, 3), np.uint8)
    x[:, :10, 0] = 255
    x[:, 10:30, 1] = 255
    x[:, 30:, 2] = 255
    out = np.asarray(fit_image(Image.fromarray(x), 20))
    assert out.shape == (20, 20, 3)
    np.testing.assert_array_equal(out, x[:, 10:30])  # same scale: pure centre crop
    small = np.asarray(fit_image(Image.fromarray(x), (10, 10)))
    assert small.shape == (10, 10, 3)
    assert small[:, 2:8, 1].min() > 200 and small[:, 2:8, 0].max() < 50  # green middle kept


# --------------------------------------------------------------------------- npz


def test_npz_with_labels_layouts_and_resize(tmp_path):
    imgs = np.stack([rgb(i, 8, 8) for i in range(5)])
    np.savez(tmp_path / "a.npz", images=imgs, labels=np.arange(5, dtype=np.uint8))
    ds = load_images(tmp_path / "a.npz")
    np.testing.assert_array_equal(ds.images, imgs)
    assert ds.labels.dtype == np.int64 and list(ds.labels) == [0, 1, 2, 3, 4]
    assert ds.names[2].endswith("a.npz[2]")
    ds = load_images(tmp_path / "a.npz", size=16, limit=3)
    assert ds.images.shape == (3, 16, 16, 3) and list(ds.labels) == [0, 1, 2]

    np.savez(tmp_path / "nchw.npz", images=imgs.transpose(0, 3, 1, 2))
    np.testing.assert_array_equal(load_images(tmp_path / "nchw.npz").images, imgs)
    np.savez(tmp_path / "float.npz", images=imgs / 255.0)
    np.testing.assert_array_equal(load_images(tmp_path / "float.npz").images, imgs)
    np.savez(tmp_path / "grey.npz", images=imgs[..., 0])
    g = load_images(tmp_path / "grey.npz")
    assert g.images.shape == (5, 8, 8, 3) and np.all(g.images[..., 2] == imgs[..., 0])
    np.savez(tmp_path / "nokey.npz", x=imgs)
    with pytest.raises(ImageLoadError, match="no 'images'"):
        load_images(tmp_path / "nokey.npz")
    np.savez(tmp_path / "obj.npz", images=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ImageLoadError, match="obj.npz"):
        load_images(tmp_path / "obj.npz")


# --------------------------------------------------------------------------- idx (Fashion-MNIST)


def write_idx(path, array, code=0x08):
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(data)


@pytest.fixture
def fmnist(tmp_path):
    d = tmp_path / "fashion-mnist"
    d.mkdir()
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 7), ("t10k", 4)):
        write_idx(d / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        write_idx(d / f"{prefix}-labels-idx1-ubyte.gz", rng.integers(0, 10, n, dtype=np.uint8))
    return d


def test_idx_reader_roundtrip(tmp_path):
    a = np.arange(24, dtype=np.int32).reshape(2, 3, 4) - 5
    write_idx(tmp_path / "x-idx3-ubyte", a, code=0x0C)
    b = read_idx(tmp_path / "x-idx3-ubyte")
    assert b.dtype == np.int32 and b.dtype.isnative
    np.testing.assert_array_equal(b, a)
    (tmp_path / "bad").write_bytes(b"\x00\x00\x08\x03" + struct.pack(">3I", 2, 28, 28) + b"\x00" * 100)
    with pytest.raises(ImageLoadError, match="need 1568 data bytes, file has 100"):
        read_idx(tmp_path / "bad")
    (tmp_path / "bad2").write_bytes(b"PK\x03\x04")
    with pytest.raises(ImageLoadError, match="not an IDX file"):
        read_idx(tmp_path / "bad2")


def test_fashion_mnist_directory_and_file(fmnist):
    assert detect_format(fmnist) == "idx"
    test = load_images(fmnist)  # split defaults to test
    raw = read_idx(fmnist / "t10k-images-idx3-ubyte.gz")
    assert test.images.shape == (4, 28, 28, 3)
    np.testing.assert_array_equal(test.images[..., 1], raw)
    np.testing.assert_array_equal(test.labels, read_idx(fmnist / "t10k-labels-idx1-ubyte.gz"))
    train = load_images(fmnist, split="train", limit=5, size=32)
    assert train.images.shape == (5, 32, 32, 3) and len(train.labels) == 5
    grey = load_images(fmnist / "train-images-idx3-ubyte.gz", rgb=False)
    assert grey.images.shape == (7, 28, 28, 1) and grey.labels.shape == (7,)
    with pytest.raises(ImageLoadError, match="split"):
        load_images(fmnist, split="val")


@pytest.mark.skipif(not os.path.isdir(FASHION_MNIST_DIR), reason="dataset-fashion-mnist not installed")
def test_real_fashion_mnist_if_installed():
    ds = load_images(FASHION_MNIST_DIR, limit=20)
    assert ds.images.shape == (20, 28, 28, 3)
    assert set(ds.labels) <= set(range(10)) and len(set(ds.labels)) > 3


# --------------------------------------------------------------------------- CIFAR-10


def cifar_records(n, seed):
    """``n`` CIFAR-10 binary records: 1 label byte + 3072 pixel bytes (R, G, B planes)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n, dtype=np.uint8)
    pixels = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    return labels, pixels


def test_cifar10_binary_directory_splits_and_order(tmp_path):
    d = tmp_path / "cifar-10-batches-bin"
    d.mkdir()
    batches = {}
    for i, name in enumerate(["data_batch_1", "data_batch_2", "data_batch_10", "test_batch"]):
        batches[name] = cifar_records(3, i)
        np.concatenate([batches[name][0][:, None], batches[name][1]], axis=1).tofile(d / f"{name}.bin")
    assert detect_format(tmp_path) == "cifar10"
    test = load_images(tmp_path)  # finds the cifar-10-batches-bin sub-folder
    data = batches["test_batch"][1]
    assert test.images.shape == (3, 32, 32, 3)
    np.testing.assert_array_equal(test.images[1, :, :, 0].reshape(-1), data[1, :1024])  # R plane
    np.testing.assert_array_equal(test.images[1, :, :, 2].reshape(-1), data[1, 2048:])  # B plane
    assert list(test.labels) == list(batches["test_batch"][0])
    train = load_images(d, split="train", limit=7)
    assert train.images.shape == (7, 32, 32, 3)
    # numeric order: data_batch_1, data_batch_2, data_batch_10
    expect = list(batches["data_batch_1"][0]) + list(batches["data_batch_2"][0]) + \
        list(batches["data_batch_10"][0][:1])
    assert list(train.labels) == expect


def cifar_dict(n, seed):
    labels, pixels = cifar_records(n, seed)
    return {b"batch_label": b"testing batch", b"labels": [int(v) for v in labels], b"data": pixels,
            b"filenames": [f"img_{i}.png".encode() for i in range(n)]}


@pytest.mark.parametrize("protocol", [2, 5])
def test_cifar10_python_batches_are_refused_with_the_binary_hint(tmp_path, protocol):
    """The python version is a pickle: never unpickled, the error names the binary format."""
    d = tmp_path / "cifar-10-batches-py"
    d.mkdir()
    (d / "test_batch").write_bytes(pickle.dumps(cifar_dict(3, 0), protocol=protocol))
    assert detect_format(tmp_path) == "cifar10"
    with pytest.raises(ImageLoadError, match=r"python batch .*binary version .*test_batch\.bin"):
        load_images(tmp_path)


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def test_cifar10_pickle_with_code_is_refused(tmp_path):
    d = tmp_path / "cifar"
    d.mkdir()
    evil = cifar_dict(2, 0)
    evil[b"batch_label"] = _Evil()
    (d / "test_batch").write_bytes(pickle.dumps(evil, protocol=2))
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        with pytest.raises(ImageLoadError, match="python batch"):
            load_images(d)
    finally:
        os.chdir(cwd)
    assert not (tmp_path / "PWNED").exists()


def test_cifar10_binary_batches(tmp_path):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 4, dtype=np.uint8)
    pixels = rng.integers(0, 256, (4, 3072), dtype=np.uint8)
    np.concatenate([labels[:, None], pixels], axis=1).tofile(tmp_path / "test_batch.bin")
    ds = load_images(tmp_path)
    assert list(ds.labels) == list(labels)
    np.testing.assert_array_equal(ds.images[3, :, :, 1].reshape(-1), pixels[3, 1024:2048])
    (tmp_path / "test_batch.bin").write_bytes(b"\x00" * 100)
    with pytest.raises(ImageLoadError, match="3073-byte"):
        load_images(tmp_path)


# --------------------------------------------------------------------------- saving


def test_save_png_roundtrip(tmp_path):
    x = rgb(9)
    p = save_png(tmp_path / "out" / "x.png", x)
    np.testing.assert_array_equal(np.asarray(Image.open(p)), x)
    save_png(tmp_path / "f.png", x / 255.0)
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "f.png")), x)
    save_png(tmp_path / "g.png", x[..., :1])
    assert Image.open(tmp_path / "g.png").mode == "L"
    with pytest.raises(ValueError, match="image"):
        save_png(tmp_path / "bad.png", np.zeros((2, 4, 4, 3), np.uint8))


def test_image_grid_layout():
    imgs = np.stack([np.full((4, 5, 3), 10 * i, np.uint8) for i in range(5)])
    g = image_grid(imgs, ncols=3, pad=1, pad_value=255)
    assert g.shape == (1 + 2 * 5, 1 + 3 * 6, 3)
    assert np.all(g[1:5, 1:6] == 0) and np.all(g[1:5, 7:12] == 10)
    assert np.all(g[6:10, 7:12] == 40)  # second row, second column = image 4
    assert np.all(g[6:10, 13:18] == 255)  # empty cell
    assert np.all(g[0] == 255)
    auto = image_grid(list(imgs[:4, ..., 0]))  # grey list, 2x2 by default
    assert auto.shape == (2 + 2 * 6, 2 + 2 * 7, 3)
    with pytest.raises(ValueError, match="equally-sized"):
        image_grid([imgs[0], np.zeros((3, 3, 3), np.uint8)])
