"""Data-set readers: every source becomes uint8 ``N x H x W x 3`` (no pickles anywhere).

:func:`load_images` dispatches on ``path``:

==========================================  ==================================================
``x.npz``                                   key ``images`` (uint8 NHWC, NCHW or NHW grey;
                                            float in [0, 1] is scaled), optional ``labels``;
                                            read with ``allow_pickle=False``
a folder, a glob (``"photos/*.jpg"``) or    every image file (png, jpg, bmp, gif, tif, webp,
one image file                              ppm/pgm), sorted by path; folders recursively
                                            (:mod:`gr_semcod.runtime.images`)
a CIFAR-10 directory                        the binary version (``data_batch_*.bin``,
                                            ``test_batch.bin``, from ``cifar-10-binary.tar.gz``);
                                            ``split`` picks train or test.  The python version
                                            is a pickle and is refused with a clear message.
a Fashion-MNIST directory or idx file       ``{train,t10k}-images-idx3-ubyte[.gz]`` with the
                                            matching ``-labels-idx1-`` file; grey replicated to
                                            RGB unless ``rgb=False`` (then ``N x H x W x 1``)
==========================================  ==================================================

``size`` (an int or ``(H, W)``) resizes each image so it covers the target (bicubic, aspect
kept) and centre-crops it.  ``limit`` keeps the first ``limit`` images.  Labels are int64.
"""
from __future__ import annotations

import gzip
import re
import struct
from pathlib import Path
from typing import Iterable, List, Optional, Tuple

import numpy as np

from .images import (ImageLoadError, ImageSet, PathLike, Size, _is_glob, _to_rgb_batch, load_image_files, pad_or_resize,
                     resize_images)

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)


# --------------------------------------------------------------------------- npz


def load_npz(path: PathLike, size: Size = None, limit: Optional[int] = None, rgb: bool = True) -> ImageSet:
    """``images`` (+ optional ``labels``) from an ``.npz`` (no pickles)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            if "images" not in z.files:
                raise ImageLoadError(f"{path}: no 'images' array (has {z.files})")
            x = z["images"][:limit] if limit is not None else z["images"]
            labels = z["labels"] if "labels" in z.files else None
    except (OSError, ValueError, EOFError) as e:
        if isinstance(e, ImageLoadError):
            raise
        raise ImageLoadError(f"cannot read {str(path)!r}: {str(e).splitlines()[0]}") from None
    x = np.asarray(x)
    if x.dtype.kind == "f":
        x = np.rint(np.clip(x, 0.0, 1.0) * 255.0).astype(np.uint8)
    elif x.dtype != np.uint8:
        raise ImageLoadError(f"{path}: images must be uint8 or float in [0, 1], got {x.dtype}")
    if x.ndim == 4 and x.shape[1] in (1, 3) and x.shape[-1] not in (1, 3):
        x = x.transpose(0, 2, 3, 1)  # NCHW -> NHWC
    if x.ndim not in (3, 4) or (x.ndim == 4 and x.shape[-1] not in (1, 3)):
        raise ImageLoadError(f"{path}: images must be N x H x W x 3 (or grey), got shape {x.shape}")
    x = resize_images(_to_rgb_batch(x, rgb), size)
    if labels is not None:
        labels = np.asarray(labels).astype(np.int64).reshape(-1)[: len(x)]
        if len(labels) != len(x):
            raise ImageLoadError(f"{path}: {len(labels)} labels for {len(x)} images")
    return ImageSet(x, labels, [f"{path}[{i}]" for i in range(len(x))])


# --------------------------------------------------------------------------- idx (MNIST)

_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: PathLike) -> np.ndarray:
    """An IDX file (optionally gzipped), as used by (Fashion-)MNIST, as a native numpy array.

    Format: 2 zero bytes, a type code (0x08 ubyte ... 0x0E double), the number of dims, then
    each dim as a big-endian uint32, then the data, big-endian, row-major.
    """
    opener = gzip.open if str(path).endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as e:
        raise ImageLoadError(f"cannot read idx file {str(path)!r}: {e}") from None
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] not in _IDX_DTYPES:
        raise ImageLoadError(f"{path}: not an IDX file (bad magic {data[:4].hex()})")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ImageLoadError(f"{path}: truncated IDX header")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    count = int(np.prod(dims, dtype=np.int64))
    if len(data) - header != count * dtype.itemsize:
        raise ImageLoadError(
            f"{path}: IDX dims {dims} need {count * dtype.itemsize} data bytes, file has {len(data) - header}"
        )
    return np.frombuffer(data, dtype, count, header).reshape(dims).astype(dtype.newbyteorder("="))


def _find_one(directory: Path, patterns: Iterable[str]) -> Optional[Path]:
    for pat in patterns:
        hits = sorted(directory.glob(pat))
        if hits:
            return hits[0]
    return None


def load_idx_images(
    path: PathLike, size: Size = None, limit: Optional[int] = None, split: str = "test", rgb: bool = True
) -> ImageSet:
    """Fashion-MNIST / MNIST: a directory (``split`` = train | test) or an ``*-images-idx3*`` file.

    The labels come from the sibling ``*-labels-idx1*`` file when present.
    """
    p = Path(path)
    if p.is_dir():
        prefix = {"train": "train", "test": "t10k"}.get(split)
        if prefix is None:
            raise ImageLoadError(f"{p}: split must be 'train' or 'test', got {split!r}")
        img_file = _find_one(p, [f"{prefix}-images-idx3-ubyte.gz", f"{prefix}-images-idx3-ubyte",
                                 f"{prefix}-images*idx3*"])
        if img_file is None:
            raise ImageLoadError(f"{p}: no {prefix}-images-idx3-ubyte[.gz] file")
    else:
        img_file = p
    x = read_idx(img_file)
    if x.dtype != np.uint8 or x.ndim not in (3, 4):
        raise ImageLoadError(f"{img_file}: expected uint8 N x H x W images, got {x.dtype} {x.shape}")
    label_file = img_file.with_name(img_file.name.replace("images-idx3", "labels-idx1"))
    labels = None
    if label_file != img_file and label_file.is_file():
        labels = read_idx(label_file).astype(np.int64).reshape(-1)
        if len(labels) != len(x):
            raise ImageLoadError(f"{label_file}: {len(labels)} labels for {len(x)} images in {img_file.name}")
    if limit is not None:
        x = x[:limit]
        labels = labels[:limit] if labels is not None else None
    x = resize_images(_to_rgb_batch(x, rgb), size)
    return ImageSet(x, labels, [f"{img_file}[{i}]" for i in range(len(x))])


# --------------------------------------------------------------------------- CIFAR-10


def read_cifar_binary_batch(path: PathLike) -> Tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 binary batch: records of 1 label byte + 3072 pixel bytes (R, G, B planes)."""
    if Path(path).suffix != ".bin":
        raise ImageLoadError(f"{path}: a CIFAR-10 python batch (a pickle, not read); use the binary version "
                             "(cifar-10-binary.tar.gz: data_batch_*.bin, test_batch.bin)")
    raw = np.fromfile(path, np.uint8)
    if raw.size == 0 or raw.size % 3073:
        raise ImageLoadError(f"{path}: size {raw.size} is not a multiple of 3073-byte CIFAR-10 records")
    rec = raw.reshape(-1, 3073)
    x = rec[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(x), rec[:, 0].astype(np.int64)


_CIFAR_RE = re.compile(r"^(data_batch_\d+|test_batch)(\.bin)?$")


def _cifar_files(directory: Path, split: str) -> List[Path]:
    if split == "train":
        files = [f for f in directory.iterdir() if re.match(r"^data_batch_\d+(\.bin)?$", f.name)]
    elif split == "test":
        files = [f for f in directory.iterdir() if re.match(r"^test_batch(\.bin)?$", f.name)]
    else:
        raise ImageLoadError(f"{directory}: split must be 'train' or 'test', got {split!r}")
    bins = [f for f in files if f.suffix == ".bin"]
    files = bins or files  # a directory holding both versions: use the binary one
    return sorted(files, key=lambda f: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", f.name)])


def load_cifar10(
    path: PathLike, size: Size = None, limit: Optional[int] = None, split: str = "test"
) -> ImageSet:
    """CIFAR-10 from a batches directory (binary version) or a single ``.bin`` batch file."""
    p = Path(path)
    if p.is_dir():
        sub = [d for d in (p / "cifar-10-batches-py", p / "cifar-10-batches-bin") if d.is_dir()]
        if sub and not _cifar_files(p, split):
            p = sub[0]
        files = _cifar_files(p, split)
        if not files:
            raise ImageLoadError(f"{p}: no CIFAR-10 {split} batches")
    else:
        files = [p]
    xs, ys, names = [], [], []
    n = 0
    for f in files:
        if limit is not None and n >= limit:
            break
        x, y = read_cifar_binary_batch(f)
        xs.append(x)
        ys.append(y)
        names += [f"{f}[{i}]" for i in range(len(x))]
        n += len(x)
    x, y = np.concatenate(xs), np.concatenate(ys)
    if limit is not None:
        x, y, names = x[:limit], y[:limit], names[:limit]
    return ImageSet(resize_images(x, size), y, names)


# --------------------------------------------------------------------------- dispatcher


def detect_format(path: PathLike) -> str:
    """``"npz"``, ``"idx"``, ``"cifar10"`` or ``"files"`` for a path (see module docstring)."""
    p = Path(path)
    name = p.name
    if p.is_file():
        if name.endswith(".npz"):
            return "npz"
        if "idx" in name and ("ubyte" in name or name.endswith(".gz")):
            return "idx"
        if _CIFAR_RE.match(name):
            return "cifar10"
        return "files"
    if p.is_dir():
        for d in (p, p / "cifar-10-batches-py", p / "cifar-10-batches-bin"):
            if d.is_dir() and any(_CIFAR_RE.match(f.name) for f in d.iterdir()):
                return "cifar10"
        if any(p.glob("*-images*idx3*")):
            return "idx"
        return "files"
    if _is_glob(str(path)):
        return "files"
    raise ImageLoadError(f"{path}: no such file, folder or matching glob")


def load_images(
    path: PathLike,
    size: Size = None,
    limit: Optional[int] = None,
    *,
    split: str = "test",
    rgb: bool = True,
    skip_bad: bool = False,
) -> ImageSet:
    """Load images from any supported source as uint8 ``(N, H, W, 3)`` (see module docstring).

    ``split`` applies to CIFAR-10 and Fashion-MNIST directories, ``skip_bad`` to image files,
    ``rgb=False`` keeps grey sources as ``(N, H, W, 1)``.
    """
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    fmt = detect_format(path)
    if fmt == "npz":
        return load_npz(path, size, limit, rgb=rgb)
    if fmt == "idx":
        return load_idx_images(path, size, limit, split=split, rgb=rgb)
    if fmt == "cifar10":
        return load_cifar10(path, size, limit, split=split)
    return load_image_files(path, size, limit, skip_bad=skip_bad)




def load_prepared(path: PathLike, size: Size, limit: Optional[int] = None, split: str = "test") -> ImageSet:
    """Images prepared as the project's models were trained: Fashion-MNIST (idx) grey -> RGB and
    zero-padded, centred, to ``size`` (28 -> 32 keeps every pixel exact); every other source
    resized to cover ``size`` and centre-cropped (:func:`load_images`)."""
    if detect_format(path) == "idx":
        s = load_images(path, None, limit, split=split)
        return ImageSet(pad_or_resize(s.images, size), s.labels, s.names)
    return load_images(path, size, limit, split=split)
