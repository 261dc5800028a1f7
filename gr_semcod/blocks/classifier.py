#!/usr/bin/env python3
# -*- coding: utf-8 -*-
#
# Copyright 2026 gr-semcod authors.
# SPDX-License-Identifier: GPL-3.0-or-later
"""``classifier``: semantic tokens PDU -> class scores PDU (role ``classifier``, the machine receiver).

In: tokens PDU.  Out: ``f32vector`` of B*C logits with ``label_pred`` (int, or s64 vector for
a batch) and ``label_name`` (from ``class_names``: comma separated, or a preset "cifar10" /
"fashion_mnist"; empty = the bundle manifest's ``classes``, else the index as text).
"""
from __future__ import annotations

import numpy as np

from ..contract import KEY_CHANNELS, KEY_HEIGHT, KEY_LABEL_NAME, KEY_LABEL_PRED, KEY_N_TOKENS, KEY_TOKEN_DIM, KEY_WIDTH
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
    """Args: bundle, class_names, threads."""

    ROLE, IN_TYPE, OUT_TYPE, NAME = ROLE, "f32", "f32", "semcod_classifier"

    def __init__(self, bundle="models/semcod_32", class_names="", threads=1):
        self.class_names = parse_class_names(class_names)
        onnx_model.__init__(self, bundle, threads=threads)
        if not self.class_names:
            self.class_names = tuple(str(c) for c in self.bundle.manifest.get("classes", []) or [])

    def finish(self, meta, outputs, b):
        logits = np.asarray(outputs[self.output_names[0]], np.float32)
        pred = np.argmax(logits, axis=1)
        names = [self.class_names[p] if p < len(self.class_names) else str(int(p)) for p in pred]
        for key in (KEY_N_TOKENS, KEY_TOKEN_DIM, KEY_HEIGHT, KEY_WIDTH, KEY_CHANNELS):
            meta.pop(key, None)
        meta[KEY_LABEL_PRED] = int(pred[0]) if b == 1 else pred.astype(np.int64)
        meta[KEY_LABEL_NAME] = names[0] if b == 1 else ",".join(names)
        return meta, logits
