#!/usr/bin/env python3
# -*- coding: utf-8 -*-
#
# Copyright 2026 gr-semcod authors.
# SPDX-License-Identifier: GPL-3.0-or-later
"""``classifier``: semantic tokens PDU -> class scores PDU (role ``classifier``, the machine receiver).

In: tokens PDU.  Out: ``f32vector`` of B*C logits with ``label_pred`` (int, or s64 vector for
a batch) and ``label_name`` (from ``class_names``: comma separated, or a preset "cifar10" /
"fashion_mnist"; empty = the bundle manifest's ``classes``, else the index as text).

The classifiers are trained on whole images of the bundle's size: the tiles of a larger photo
(``photo_height`` / ``photo_width`` other than the bundle size) are not classified unless
``classify_photos`` is set; they are counted in :meth:`n_skipped_photos`, not dropped.
"""
from __future__ import annotations

import numpy as np

import pmt

from ..contract import (KEY_CHANNELS, KEY_HEIGHT, KEY_LABEL_NAME, KEY_LABEL_PRED, KEY_N_TOKENS, KEY_PHOTO_HEIGHT,
                        KEY_PHOTO_WIDTH, KEY_TOKEN_DIM, KEY_WIDTH)
from ..runtime.datasets import CIFAR10_CLASSES, FASHION_MNIST_CLASSES
from .onnx_model import onnx_model

ROLE = "classifier"
PRESETS = {"cifar10": CIFAR10_CLASSES, "fashion_mnist": FASHION_MNIST_CLASSES}


def parse_class_names(class_names):
    if isinstance(class_names, (list, tuple)):
        return tuple(str(c) for c in class_names)
    s = str(class_names or "").strip()
    if s in PRESETS:
        return PRESETS[s]
    return tuple(c.strip() for c in s.split(",")) if s else ()


class classifier(onnx_model):
    """Args: bundle, class_names, threads, classify_photos (also the tiles of larger photos)."""

    ROLE, IN_TYPE, OUT_TYPE, NAME = ROLE, "f32", "f32", "semcod_classifier"

    def __init__(self, bundle="models/semcod_32", class_names="", threads=1, classify_photos=False):
        self.class_names = parse_class_names(class_names)
        self.classify_photos = bool(classify_photos)
        self._n_skipped_photos = 0
        onnx_model.__init__(self, bundle, threads=threads)
        if not self.class_names:
            self.class_names = tuple(str(c) for c in self.bundle.manifest.get("classes", []) or [])
        size = getattr(self.bundle, "image_size", None)
        self._image_hw = tuple(size[:2]) if size else None

    def n_skipped_photos(self) -> int:
        """PDUs holding the tiles of a photo larger than the bundle size, not classified."""
        return self._n_skipped_photos

    def _is_large_photo(self, msg) -> bool:
        """The PDU is the tiles of a photo other than the bundle size (metadata only, no vector read)."""
        if self._image_hw is None or not pmt.is_pair(msg) or not pmt.is_dict(pmt.car(msg)):
            return False
        meta = pmt.car(msg)
        hw = [pmt.dict_ref(meta, pmt.intern(k), pmt.PMT_NIL) for k in (KEY_PHOTO_HEIGHT, KEY_PHOTO_WIDTH)]
        if not all(pmt.is_integer(v) for v in hw):
            return False
        return tuple(pmt.to_long(v) for v in hw) != self._image_hw

    def handle(self, msg) -> None:
        if not self.classify_photos and self._is_large_photo(msg):
            self._n_skipped_photos += 1
            return
        onnx_model.handle(self, msg)

    def finish(self, meta, outputs, b):
        logits = np.asarray(outputs[self.output_names[0]], np.float32)
        pred = np.argmax(logits, axis=1)
        names = [self.class_names[p] if p < len(self.class_names) else str(int(p)) for p in pred]
        for key in (KEY_N_TOKENS, KEY_TOKEN_DIM, KEY_HEIGHT, KEY_WIDTH, KEY_CHANNELS):
            meta.pop(key, None)
        meta[KEY_LABEL_PRED] = int(pred[0]) if b == 1 else pred.astype(np.int64)
        meta[KEY_LABEL_NAME] = names[0] if b == 1 else ",".join(names)
        return meta, logits
