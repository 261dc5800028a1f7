#!/usr/bin/env python3
# -*- coding: utf-8 -*-
#
# Copyright 2026 gr-semcod authors.
# SPDX-License-Identifier: GPL-3.0-or-later
"""``image_source``: emit images as image PDUs (one image per PDU, or ``batch`` per PDU).

Sources (see :func:`gr_semcod.runtime.images.load_images`): one image file, a folder
(recursive) or a glob of image files, an ``.npz`` (key ``images``, optional ``labels``), a
CIFAR-10 or Fashion-MNIST directory (test split).  Photos keep their own size by default
(``size=0``: ``semcod_tx`` tiles them); ``size`` > 0 resizes them (cover + centre crop).
Fashion-MNIST is always zero-padded and centred (28 -> 32, pixels exact) as the project's
classifiers were trained; CIFAR-10 is 32 x 32.  A file that cannot be decoded, or that is larger
than ``max_side`` (default 4096, the PHY header's photo limit) on a side, is logged with its name,
counted (:meth:`n_dropped`, :meth:`skipped`) and skipped; a path with no readable image at all
raises at construction.  Odd sizes are fine (the tiler pads the edges).

Out (``out``): image PDU ``u8vector`` ``B*H*W*3`` (HWC) with metadata ``image_id`` (running
count from ``start_id``, an int; an s64 vector for ``batch`` > 1), ``height``, ``width``,
``channels``, ``batch`` (when > 1), ``label`` (when the source has labels) and ``tx_time``
(``time.time()`` at emission).

Timing: ``rate`` images per second (0 = all at once: message ports have no back-pressure, so
the images queue at the next block; allowed only in finite mode); ``start_delay`` seconds before the first image
(lets ZMQ peers connect).  ``repeat=False`` (finite mode) sends every image once and then
marks the block done, which ends a flowgraph whose other sources are also finite;
``repeat=True`` loops forever with new ids.
"""
from __future__ import annotations

import threading
import time
from typing import List, Optional

import numpy as np
import pmt

from ..runtime.datasets import detect_format, load_prepared
from ..runtime.images import list_image_files, read_images
from ..contract import (IMAGE_ID_MODULO, MAX_PHOTO_SIDE, KEY_BATCH, KEY_CHANNELS, KEY_HEIGHT, KEY_IMAGE_ID, KEY_LABEL,  # noqa: F401
                        KEY_TX_TIME, KEY_WIDTH, PORT_OUT)
from ..pdu import make_pdu
from .base import message_block, post_done


#: Fashion-MNIST (idx) images are zero-padded to this size when no ``size`` is given (as trained)
PADDED_IDX_SIZE = 32


def load_source(path: str, size: int = 0, limit: int = 0, on_bad=None, max_side: int = 0):
    """(images list of uint8 HWC arrays, labels list or None, names) from any supported source.

    Unreadable image files (and, with ``max_side``, files larger than that on a side) are
    reported to ``on_bad(reason)`` and skipped.
    """
    size_arg = int(size) or None
    lim = int(limit) or None
    fmt = detect_format(path)
    if fmt != "files":
        if fmt == "idx" and size_arg is None:
            size_arg = PADDED_IDX_SIZE
        s = load_prepared(path, size_arg, lim)  # Fashion-MNIST zero-padded 28 -> 32, as trained
        labels = None if s.labels is None else [int(v) for v in s.labels]
        return [np.ascontiguousarray(v) for v in s.images], labels, list(s.names)
    images, names = [], []
    for f, img in read_images(list_image_files(path), size_arg, lim, on_bad=None if on_bad is None else
                              (lambda e: on_bad(str(e))), max_side=int(max_side) or None):
        images.append(np.ascontiguousarray(img))
        names.append(str(f))
    return images, None, names


class image_source(message_block):
    """Args:
        path: image file, folder, glob, .npz or dataset directory.
        size: resize (cover + centre crop) to size x size; 0 (default) keeps the files' size.
        repeat: loop forever (True) or send each image once and finish (False).
        rate: images per second, 0 = all at once (finite mode only).
        limit: use the first ``limit`` images (0 = all).
        start_id: image_id of the first image.
        batch: images per PDU (all images must have the same size).
        start_delay: seconds to wait after start before the first image.
        max_side: photos larger than this on a side are refused (skipped, counted, named); <= 4096.
    """

    def __init__(self, path="", size=0, repeat=False, rate=0.0, limit=0, start_id=0, batch=1,
                 start_delay=0.0, max_side=MAX_PHOTO_SIDE):
        message_block.__init__(self, "semcod_image_source", {}, [PORT_OUT])
        self.path = str(path)
        self.repeat = bool(repeat)
        self.rate = float(rate)
        self.start_id = int(start_id)
        self.batch = max(1, int(batch))
        self.start_delay = float(start_delay)
        if self.repeat and self.rate <= 0:
            raise ValueError("image_source: repeat needs a rate > 0 (message ports have no back-pressure)")
        self.max_side = int(max_side)
        if not 1 <= self.max_side <= MAX_PHOTO_SIDE:
            raise ValueError(f"image_source: max_side must be in 1..{MAX_PHOTO_SIDE}, got {max_side}")
        self.skipped: List[str] = []  # the reasons (with the file names) of the skipped files
        self.images, self.labels, self.names = load_source(self.path, size, limit, on_bad=self._skip,
                                                           max_side=self.max_side)
        if not self.images:
            raise ValueError(f"image_source: no readable image in {self.path!r}")
        if self.batch > 1 and len({im.shape for im in self.images}) > 1:
            raise ValueError("image_source: batch > 1 needs images of one size (set size)")
        self._stop_evt = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._n_sent = 0
        self._finished = threading.Event()

    def _skip(self, reason: str) -> None:
        self.skipped.append(reason)
        self._drop(reason)

    # ------------------------------------------------------------------ info
    def n_images(self) -> int:
        return len(self.images)

    def n_sent(self) -> int:
        return self._n_sent

    def finished(self) -> bool:
        """True once a finite source has sent everything."""
        return self._finished.is_set()

    def set_rate(self, rate):
        self.rate = float(rate)

    # ------------------------------------------------------------------ scheduler hooks
    def start(self):
        self._stop_evt.clear()
        self._finished.clear()
        self._thread = threading.Thread(target=self._run, name="semcod_image_source", daemon=True)
        self._thread.start()
        return True

    def stop(self):
        self._stop_evt.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        return True

    # ------------------------------------------------------------------ emission
    def _pdu(self, idx: List[int], count: int):
        imgs = [self.images[i] for i in idx]
        ids = [(self.start_id + count + j) % IMAGE_ID_MODULO for j in range(len(idx))]
        h, w, c = imgs[0].shape
        meta = {KEY_HEIGHT: h, KEY_WIDTH: w, KEY_CHANNELS: c, KEY_TX_TIME: time.time()}
        if len(idx) == 1:
            meta[KEY_IMAGE_ID] = ids[0]
            if self.labels is not None:
                meta[KEY_LABEL] = self.labels[idx[0]]
        else:
            meta[KEY_IMAGE_ID] = np.asarray(ids, np.int64)
            meta[KEY_BATCH] = len(idx)
            if self.labels is not None:
                meta[KEY_LABEL] = np.asarray([self.labels[i] for i in idx], np.int64)
        return make_pdu(meta, np.stack(imgs) if len(imgs) > 1 else imgs[0])

    def _run(self) -> None:
        if self.start_delay > 0 and self._stop_evt.wait(self.start_delay):
            return
        t0 = time.monotonic()
        n = len(self.images)
        order = list(range(n))
        count = 0
        while not self._stop_evt.is_set():
            for s in range(0, n, self.batch):
                if self._stop_evt.is_set():
                    return
                idx = order[s:s + self.batch]
                if self.rate > 0:
                    due = t0 + count / self.rate
                    delay = due - time.monotonic()
                    if delay > 0 and self._stop_evt.wait(delay):
                        return
                try:
                    self.message_port_pub(pmt.intern(PORT_OUT), self._pdu(idx, count))
                    self._n_out += 1
                except Exception as e:  # noqa: BLE001
                    self._drop(f"cannot emit image {idx}: {e}")
                count += len(idx)
                self._n_sent = count
            if not self.repeat:
                break
        self._finished.set()
        if not self.repeat:
            post_done(self)
