"""Image loading and saving with numpy + Pillow: every source becomes uint8 ``N x H x W x 3``.

:func:`load_images` dispatches on ``path``:

==========================================  ==================================================
``x.npz``                                   key ``images`` (uint8 NHWC, NCHW or NHW grey;
                                            float in [0, 1] is scaled), optional ``labels``;
                                            read with ``allow_pickle=False``
a folder, a glob (``"photos/*.jpg"``) or    every image file (png, jpg, bmp, gif, tif, webp,
one image file                              ppm/pgm), sorted by path; folders recursively
a CIFAR-10 directory                        python batches (``data_batch_1..5``, ``test_batch``)
                                            or the binary version (``data_batch_*.bin``,
                                            ``test_batch.bin``); ``split`` picks train or test
a Fashion-MNIST directory or idx file       ``{train,t10k}-images-idx3-ubyte[.gz]`` with the
                                            matching ``-labels-idx1-`` file; grey replicated to
                                            RGB unless ``rgb=False`` (then ``N x H x W x 1``)
==========================================  ==================================================

CIFAR-10 python batches are pickles.  They are read by :class:`SafeUnpickler`, which refuses
every global except the three numpy needs to rebuild an array (``_reconstruct``, ``ndarray``,
``dtype``), so a crafted file cannot run code; the result is checked to be a dict holding a
uint8 ``data`` array.

``size`` (an int or ``(H, W)``) resizes each image so it covers the target (bicubic, aspect
kept) and centre-crops it.  ``limit`` keeps the first ``limit`` images.  Labels are int64.
"""
from __future__ import annotations

import glob as _glob
import gzip
import io
import os
import pickle
import re
import struct
import warnings
from pathlib import Path
from typing import Iterable, List, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np
from PIL import Image

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pnm")
FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)

PathLike = Union[str, os.PathLike]
Size = Union[None, int, Sequence[int]]


class ImageLoadError(ValueError):
    """An image source cannot be read; the message names the file."""


class ImageSet(NamedTuple):
    """Loaded images: ``images`` uint8 (N, H, W, 3), ``labels`` int64 (N,) or None, ``names``."""

    images: np.ndarray
    labels: Optional[np.ndarray]
    names: List[str]


# --------------------------------------------------------------------------- resizing


def _hw(size: Size) -> Optional[Tuple[int, int]]:
    if size is None:
        return None
    if isinstance(size, (int, np.integer)):
        return int(size), int(size)
    h, w = size
    return int(h), int(w)


def fit_image(img: Image.Image, size: Size) -> Image.Image:
    """Resize ``img`` to cover ``size`` (scale ``max(H/h, W/w)``, bicubic) and centre-crop it."""
    hw = _hw(size)
    if hw is None or (img.height, img.width) == hw:
        return img
    th, tw = hw
    scale = max(th / img.height, tw / img.width)
    nh, nw = max(th, round(img.height * scale)), max(tw, round(img.width * scale))
    img = img.resize((nw, nh), Image.BICUBIC)
    top, left = (nh - th) // 2, (nw - tw) // 2
    return img.crop((left, top, left + tw, top + th))


def resize_images(images: np.ndarray, size: Size) -> np.ndarray:
    """Apply :func:`fit_image` to every image of a uint8 NHWC batch (no-op when sizes match)."""
    hw = _hw(size)
    if hw is None or images.shape[1:3] == hw:
        return images
    squeeze = images.shape[-1] == 1
    out = [
        np.asarray(fit_image(Image.fromarray(im[..., 0] if squeeze else im), hw))
        for im in images
    ]
    out = np.stack(out) if out else np.zeros((0,) + hw + images.shape[3:], np.uint8)
    return out[..., None] if squeeze and out.ndim == 3 else out


def _to_rgb_batch(x: np.ndarray, rgb: bool = True) -> np.ndarray:
    """Grey ``(N, H, W)`` / ``(N, H, W, 1)`` -> ``(N, H, W, 3)`` (or ``(N, H, W, 1)`` if not rgb)."""
    if x.ndim == 3:
        x = x[..., None]
    if x.shape[-1] == 1 and rgb:
        x = np.repeat(x, 3, axis=-1)
    return np.ascontiguousarray(x)


# --------------------------------------------------------------------------- image files


def read_image(path: PathLike, size: Size = None) -> np.ndarray:
    """One image file -> uint8 (H, W, 3) RGB (alpha dropped, grey/palette converted)."""
    try:
        with Image.open(path) as im:
            im.load()
            img = im.convert("RGB")
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ImageLoadError(f"cannot read image {str(path)!r}: {msg}") from None
    return np.asarray(fit_image(img, size), dtype=np.uint8)


def _is_glob(s: str) -> bool:
    return any(c in s for c in "*?[")


def list_image_files(path: PathLike) -> List[Path]:
    """Image files of a folder (recursively), a glob pattern or a single file, sorted."""
    p = str(path)
    if os.path.isdir(p):
        files = [q for q in Path(p).rglob("*") if q.is_file()]
    elif os.path.isfile(p):
        files = [Path(p)]
    elif _is_glob(p):
        files = [Path(q) for q in _glob.glob(p, recursive=True) if os.path.isfile(q)]
    else:
        raise ImageLoadError(f"{p}: no such file, folder or matching glob")
    return sorted(q for q in files if q.suffix.lower() in IMAGE_EXTS)


def load_image_files(
    path: PathLike, size: Size = None, limit: Optional[int] = None, skip_bad: bool = False
) -> ImageSet:
    """Images of a folder / glob / file; unreadable files raise, or warn and are skipped."""
    files = list_image_files(path)
    if not files:
        raise ImageLoadError(f"{path}: no image files ({', '.join(IMAGE_EXTS)})")
    images, names = [], []
    for f in files:
        if limit is not None and len(images) >= limit:
            break
        try:
            img = read_image(f, size)
        except ImageLoadError as e:
            if not skip_bad:
                raise
            warnings.warn(f"skipping {e}", stacklevel=2)
            continue
        if images and img.shape != images[0].shape:
            raise ImageLoadError(
                f"{f}: size {img.shape[1]}x{img.shape[0]} differs from {names[0]} "
                f"({images[0].shape[1]}x{images[0].shape[0]}); pass size= to resize"
            )
        images.append(img)
        names.append(str(f))
    if not images:
        raise ImageLoadError(f"{path}: no readable images")
    return ImageSet(np.stack(images), None, names)


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


def _numpy_private(module: str, name: str):
    """``numpy.core.<module>.<name>`` on numpy 1.x, ``numpy._core...`` on numpy 2."""
    import importlib

    for base in ("numpy.core", "numpy._core"):
        try:
            return getattr(importlib.import_module(f"{base}.{module}"), name)
        except (ImportError, AttributeError):
            continue
    raise pickle.UnpicklingError(f"numpy has no {module}.{name}")  # pragma: no cover


def _latin1_encode(text, encoding="latin1", errors="strict"):
    """``_codecs.encode`` as Python 3 uses it to pickle bytes at protocol <= 2 (latin1 only)."""
    if str(encoding).lower().replace("-", "") not in ("latin1", "iso88591"):
        raise pickle.UnpicklingError(f"refusing _codecs.encode with encoding {encoding!r}")
    return str(text).encode("latin1", errors)


class SafeUnpickler(pickle.Unpickler):
    """Unpickler that refuses every global except what rebuilds bytes and plain numpy arrays.

    Plain containers (dict, list, tuple, str, bytes, int, float) need no globals.  Allowed:
    a numpy array (``numpy.core.multiarray._reconstruct`` + ``numpy.ndarray`` +
    ``numpy.dtype``; ``numpy.core.numeric._frombuffer`` at protocol 5) and
    ``_codecs.encode(..., "latin1")`` (bytes pickled by Python 3 at protocol 2).  Anything else
    (``os.system``, ``builtins.eval``...) raises ``pickle.UnpicklingError``.
    """

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),
    }

    def find_class(self, module, name):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")
        if module == "_codecs":
            return _latin1_encode
        if module == "numpy":
            return getattr(np, name)
        return _numpy_private(module.rsplit(".", 1)[1], name)


def safe_unpickle(data: bytes):
    """Unpickle ``data`` with :class:`SafeUnpickler` (latin1 for Python 2 pickles)."""
    return SafeUnpickler(io.BytesIO(data), encoding="latin1").load()


def read_cifar_python_batch(path: PathLike) -> Tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 python batch -> (uint8 (N, 32, 32, 3), int64 labels)."""
    try:
        obj = safe_unpickle(Path(path).read_bytes())
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, OSError) as e:
        raise ImageLoadError(f"cannot read CIFAR batch {str(path)!r}: {e}") from None
    if not isinstance(obj, dict):
        raise ImageLoadError(f"{path}: CIFAR batch is a {type(obj).__name__}, expected a dict")
    d = {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in obj.items()}
    data, labels = d.get("data"), d.get("labels", d.get("fine_labels"))
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise ImageLoadError(f"{path}: 'data' must be a uint8 N x 3072 array")
    if labels is None or len(labels) != len(data):
        raise ImageLoadError(f"{path}: 'labels' missing or of the wrong length")
    x = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(x), np.asarray(labels, np.int64)


def read_cifar_binary_batch(path: PathLike) -> Tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 binary batch: records of 1 label byte + 3072 pixel bytes (R, G, B planes)."""
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
    """CIFAR-10 from a batches directory (python or binary version) or a single batch file."""
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
        x, y = (read_cifar_binary_batch if f.suffix == ".bin" else read_cifar_python_batch)(f)
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


# --------------------------------------------------------------------------- saving


def to_uint8(image: np.ndarray) -> np.ndarray:
    """uint8 as is; float in [0, 1] -> ``round(255 * clip(x, 0, 1))``."""
    x = np.asarray(image)
    if x.dtype == np.uint8:
        return x
    if x.dtype.kind in "fb":
        return np.rint(np.clip(x.astype(np.float64), 0.0, 1.0) * 255.0).astype(np.uint8)
    raise ValueError(f"image must be uint8 or float in [0, 1], got dtype {x.dtype}")


def save_png(path: PathLike, image: np.ndarray) -> Path:
    """Write one (H, W), (H, W, 1) or (H, W, 3) image as PNG, creating parent folders."""
    x = to_uint8(image)
    if x.ndim == 3 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.ndim not in (2, 3) or (x.ndim == 3 and x.shape[-1] not in (3, 4)):
        raise ValueError(f"save_png needs an (H, W[, 1|3|4]) image, got shape {x.shape}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(x).save(path, format="PNG")
    return path


def image_grid(
    images: Union[np.ndarray, Sequence[np.ndarray]],
    ncols: Optional[int] = None,
    pad: int = 2,
    pad_value: int = 255,
) -> np.ndarray:
    """Tile images row by row into one uint8 (H', W', 3) image with ``pad`` px borders.

    ``images``: an NHWC batch or a list of equally-sized images (uint8 or float [0, 1], grey
    or RGB).  ``ncols`` defaults to ``ceil(sqrt(N))``; empty cells are ``pad_value``.
    """
    imgs = [to_uint8(im) for im in images]
    if not imgs:
        raise ValueError("image_grid needs at least one image")
    imgs = [im[..., None] if im.ndim == 2 else im for im in imgs]
    imgs = [np.repeat(im, 3, axis=-1) if im.shape[-1] == 1 else im[..., :3] for im in imgs]
    h, w = imgs[0].shape[:2]
    if any(im.shape != (h, w, 3) for im in imgs):
        raise ValueError(f"image_grid needs equally-sized images, got {sorted({im.shape for im in imgs})}")
    n = len(imgs)
    ncols = int(ncols or np.ceil(np.sqrt(n)))
    nrows = -(-n // ncols)
    grid = np.full((pad + nrows * (h + pad), pad + ncols * (w + pad), 3), pad_value, np.uint8)
    for i, im in enumerate(imgs):
        r, c = divmod(i, ncols)
        y, x = pad + r * (h + pad), pad + c * (w + pad)
        grid[y : y + h, x : x + w] = im
    return grid
