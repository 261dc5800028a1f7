#!/usr/bin/env python3
# -*- coding: utf-8 -*-
#
# Copyright 2026 gr-semcod authors.
# SPDX-License-Identifier: GPL-3.0-or-later
"""``image_classifier``: image PDU -> class scores PDU (role ``image_classifier``).

The machine receiver of the Deep JSCC baseline: it classifies the *reconstructed* image (the
semantic codec's ``classifier`` works on the received tokens instead).  In: image PDU (u8 HWC).
Out: ``f32vector`` of B*C logits with ``label_pred`` / ``label_name`` as the token
:class:`~gr_semcod.blocks.classifier.classifier`.
"""
from __future__ import annotations

from .classifier import classifier


class image_classifier(classifier):
    """Args: bundle, class_names ('' = the manifest's classes), threads."""

    ROLE, IN_TYPE, OUT_TYPE, NAME = "image_classifier", "u8", "f32", "semcod_image_classifier"
