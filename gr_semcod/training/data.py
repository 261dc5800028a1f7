"""Torch datasets for training: every item is ``(image float32 (3, H, W) in [0, 1], label int64)``,
label ``-1`` when the source has none.

* :class:`ArrayDataset`   uint8 ``N x H x W x 3`` arrays (``.npz`` key ``images``, optional
  ``labels``), CIFAR-10 batches and Fashion-MNIST idx files are all loaded to one by
  :func:`gr_semcod.runtime.datasets.load_images`; optional random horizontal flip.
* :class:`PhotoCropDataset` photos decoded once, then on every access a random photo, a random
  downscale (short side log-uniform in ``[min_side, full]``), a random ``size x size`` window and
  a random flip: an unlimited stream of crops (the recipe of ``shared/data/make_crops.py``).

:func:`make_dataset` picks one from a path; the spec may carry a split suffix,
``"/usr/share/datasets/fashion-mnist:train"``, and a slice of it, ``"...:train[55000:]"`` (a held-out
part of a split: Python slice bounds, no step).
"""
from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Optional, Tuple, Union

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from ..runtime.datasets import detect_format, load_prepared
from ..runtime.images import fit_image, list_image_files, pad_or_resize  # noqa: F401 - pad_or_resize re-exported

PathLike = Union[str, os.PathLike]


def _size_hw(size) -> Optional[Tuple[int, int]]:
    if size is None:
        return None
    return (int(size), int(size)) if isinstance(size, int) else (int(size[0]), int(size[1]))


class ArrayDataset(Dataset):
    """In-memory uint8 images ``N x H x W x 3`` (+ labels) as float tensors, optional random flip."""

    def __init__(self, images: np.ndarray, labels: Optional[np.ndarray] = None, flip: bool = False):
        images = np.asarray(images)
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
            raise ValueError(f"need uint8 N x H x W x 3 images, got {images.dtype} {images.shape}")
        self.images = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))  # N,3,H,W
        self.labels = None if labels is None else torch.as_tensor(np.asarray(labels), dtype=torch.int64)
        self.flip = flip

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def image_size(self) -> Tuple[int, int]:
        return tuple(self.images.shape[2:])

    def __getitem__(self, i):
        x = self.images[i].float().div_(255.0)
        if self.flip and torch.rand(()) < 0.5:
            x = x.flip(-1)
        y = self.labels[i] if self.labels is not None else torch.tensor(-1)
        return x, y

    def get_batch(self, idx: torch.Tensor):
        """Vectorised ``__getitem__`` for a tensor of indices (the training loop's fast path)."""
        x = self.images[idx].float().div_(255.0)
        if self.flip:
            m = torch.rand(len(idx)) < 0.5
            x[m] = x[m].flip(-1)
        y = self.labels[idx] if self.labels is not None else torch.full((len(idx),), -1, dtype=torch.int64)
        return x, y

    @classmethod
    def from_path(cls, path: PathLike, size=None, split: str = "train", flip: bool = False,
                  limit: Optional[int] = None) -> "ArrayDataset":
        """Load any source :func:`load_images` reads (npz, CIFAR-10, Fashion-MNIST, small folders)."""
        s = load_prepared(path, _size_hw(size), limit, split=split)  # Fashion-MNIST: pad 28 -> 32
        return cls(s.images, s.labels, flip)


class PhotoCropDataset(Dataset):
    """Random crops of photos, generated on the fly (random scale, window, horizontal flip).

    Each access draws a photo uniformly, downsizes it (box filter) so its short side is
    log-uniform in ``[max(min_side, size), short side]``, cuts a random ``size x size`` window
    and flips it with probability 1/2.  ``length`` is the nominal epoch length.
    """

    def __init__(self, root: PathLike, size: int = 32, min_side: int = 64, length: int = 20000,
                 flip: bool = True, max_side: int = 1024):
        files = list_image_files(root)
        if not files:
            raise ValueError(f"{root}: no image files")
        self.photos = []
        for f in files:
            with Image.open(f) as im:
                im = im.convert("RGB")
                if max(im.size) > max_side:
                    im.thumbnail((max_side, max_side), Image.BOX)
                self.photos.append(im.copy())
        self.size, self.min_side, self.length, self.flip = int(size), int(min_side), int(length), flip

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i):
        rng = np.random.default_rng(torch.randint(0, 2**31 - 1, ()).item())
        im = self.photos[rng.integers(len(self.photos))]
        w, h = im.size
        short = min(w, h)
        lo = max(self.min_side, self.size)
        side = short if short <= lo else int(round(math.exp(rng.uniform(math.log(lo), math.log(short)))))
        scale = side / short
        nw, nh = max(self.size, int(round(w * scale))), max(self.size, int(round(h * scale)))
        small = im.resize((nw, nh), Image.BOX) if (nw, nh) != (w, h) else im
        x0, y0 = rng.integers(nw - self.size + 1), rng.integers(nh - self.size + 1)
        crop = np.asarray(small.crop((x0, y0, x0 + self.size, y0 + self.size)), np.uint8)
        if self.flip and rng.random() < 0.5:
            crop = crop[:, ::-1]
        x = torch.from_numpy(np.ascontiguousarray(crop.transpose(2, 0, 1))).float().div_(255.0)
        return x, torch.tensor(-1)


def make_dataset(spec: PathLike, image_size=None, train: bool = True, limit: Optional[int] = None,
                 flip: Optional[bool] = None) -> Dataset:
    """A dataset from a path spec (``path[:split]``).

    * ``.npz`` / CIFAR-10 dir / Fashion-MNIST dir: :class:`ArrayDataset`, flips when ``train``
      (or as ``flip`` says).
    * a folder of photos: :class:`PhotoCropDataset` when ``train`` (random crops of ``image_size``),
      else the images resized/centre-cropped to ``image_size``.
    """
    spec = str(spec)
    split = "train" if train else "test"
    path = spec
    part = None
    m = re.fullmatch(r"(.+):(\w+)\[(-?\d*):(-?\d*)\]", spec)
    if m and not Path(spec).exists():
        path, split = m.group(1), m.group(2)
        part = slice(int(m.group(3)) if m.group(3) else None, int(m.group(4)) if m.group(4) else None)
    elif ":" in spec and not Path(spec).exists():
        path, split = spec.rsplit(":", 1)
    fmt = detect_format(path)
    flip = train if flip is None else bool(flip)
    if fmt == "files" and Path(path).is_dir() and train:
        size = _size_hw(image_size)
        if size is None or size[0] != size[1]:
            raise ValueError("random photo crops need a square image_size")
        return PhotoCropDataset(path, size[0], length=limit or 20000)
    if part is not None:
        ds = ArrayDataset.from_path(path, image_size, split=split, flip=flip)
        ds.images = ds.images[part][:limit]
        if ds.labels is not None:
            ds.labels = ds.labels[part][:limit]
        return ds
    return ArrayDataset.from_path(path, image_size, split=split, flip=flip, limit=limit)
