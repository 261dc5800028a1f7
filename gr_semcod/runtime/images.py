"""Image files with numpy + Pillow: decode, resize or pad, save, tile -- uint8 ``H x W x 3``.

* :func:`read_image`, :func:`list_image_files`, :func:`load_image_files`: image files (png,
  jpg, bmp, gif, tif, webp, ppm/pgm), a folder (recursively), a glob or one file
* :func:`fit_image` / :func:`resize_images`: cover the target size (bicubic, aspect kept) and
  centre-crop; :func:`pad_or_resize`: zero-pad centred when smaller (Fashion-MNIST 28 -> 32
  keeps its pixels exact), else resize
* :func:`save_png`, :func:`image_grid`, :func:`to_uint8`

Data sets (npz, CIFAR-10, Fashion-MNIST) and the :func:`load_images` dispatcher are in
:mod:`gr_semcod.runtime.datasets`.
"""
from __future__ import annotations

import glob as _glob
import os
import warnings
from pathlib import Path
from typing import List, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np
from PIL import Image

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pnm")

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


def pad_or_resize(images: np.ndarray, size: Size) -> np.ndarray:
    """uint8 ``N x h x w x C`` -> ``N x H x W x C``: zero-pad, centred, when not larger than
    ``size`` (Fashion-MNIST 28 -> 32 keeps every pixel exact), else :func:`resize_images`."""
    hw = _hw(size)
    if hw is None or images.shape[1:3] == hw:
        return images
    h, w = images.shape[1:3]
    if h <= hw[0] and w <= hw[1]:
        top, left = (hw[0] - h) // 2, (hw[1] - w) // 2
        out = np.zeros((len(images), hw[0], hw[1], images.shape[3]), np.uint8)
        out[:, top:top + h, left:left + w] = images
        return out
    return resize_images(images, hw)


def _to_rgb_batch(x: np.ndarray, rgb: bool = True) -> np.ndarray:
    """Grey ``(N, H, W)`` / ``(N, H, W, 1)`` -> ``(N, H, W, 3)`` (or ``(N, H, W, 1)`` if not rgb)."""
    if x.ndim == 3:
        x = x[..., None]
    if x.shape[-1] == 1 and rgb:
        x = np.repeat(x, 3, axis=-1)
    return np.ascontiguousarray(x)


# --------------------------------------------------------------------------- image files


def read_image(path: PathLike, size: Size = None, max_side: Optional[int] = None) -> np.ndarray:
    """One image file -> uint8 (H, W, 3) RGB (alpha dropped, grey/palette converted).

    ``max_side``: without ``size``, a file wider or taller than this is refused
    (:class:`ImageLoadError`) from its header, before it is decoded."""
    try:
        with Image.open(path) as im:
            if max_side and not size and max(im.size) > int(max_side):
                raise ImageLoadError(f"image {str(path)!r} is {im.size[0]}x{im.size[1]}, larger than the limit of "
                                     f"{int(max_side)}x{int(max_side)} (max_side)")
            im.load()
            img = im.convert("RGB")
    except ImageLoadError:
        raise
    except Exception as e:  # noqa: BLE001 - Pillow raises many types (OSError, SyntaxError, struct.error, ...) for corrupt files
        msg = str(e).splitlines()[0] if str(e) else ""
        raise ImageLoadError(f"cannot read image {str(path)!r}: {type(e).__name__}: {msg}") from None
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


def read_images(files: Sequence[PathLike], size: Size = None, limit: Optional[int] = None, on_bad=None,
                max_side: Optional[int] = None):
    """``(path, uint8 H x W x 3)`` for each readable file, at most ``limit``; an unreadable (or, with
    ``max_side``, too large) file raises :class:`ImageLoadError`, or -- with ``on_bad`` -- is reported
    to ``on_bad(error)`` and skipped."""
    n = 0
    for f in files:
        if limit is not None and n >= limit:
            return
        try:
            img = read_image(f, size, max_side)
        except ImageLoadError as e:
            if on_bad is None:
                raise
            on_bad(e)
            continue
        n += 1
        yield f, img


def load_image_files(
    path: PathLike, size: Size = None, limit: Optional[int] = None, skip_bad: bool = False
) -> ImageSet:
    """Images of a folder / glob / file; unreadable files raise, or warn and are skipped."""
    files = list_image_files(path)
    if not files:
        raise ImageLoadError(f"{path}: no image files ({', '.join(IMAGE_EXTS)})")
    images, names = [], []
    warn = (lambda e: warnings.warn(f"skipping {e}", stacklevel=3)) if skip_bad else None
    for f, img in read_images(files, size, limit, warn):
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


# names that moved to :mod:`gr_semcod.runtime.datasets` (imported lazily: datasets imports this module)
_MOVED = ("FASHION_MNIST_DIR", "FASHION_MNIST_CLASSES", "CIFAR10_CLASSES", "load_npz", "read_idx", "load_idx_images",
          "read_cifar_binary_batch", "load_cifar10", "detect_format", "load_images")


def __getattr__(name):
    if name in _MOVED:
        from . import datasets

        return getattr(datasets, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
