#!/usr/bin/env python3
# -*- coding: utf-8 -*-
#
# Copyright 2026 gr-semcod authors.
# SPDX-License-Identifier: GPL-3.0-or-later
"""``image_display``: a Qt widget showing the latest received image PDU (and its metrics).

In ``in``: image PDU (u8 HWC, ``height``/``width``/``channels`` metadata), a photo of any size.
The whole photo is shown scaled to the window, aspect ratio kept (nearest neighbour when
enlarged, so 32x32 pixels stay visible; smooth when reduced), rescaled when the window is
resized; ``zoom`` sets the initial size of the picture area (``32 * zoom`` pixels, a 32x32 image
then shows at that integer zoom).  Caption: ``image_id``, the photo size, ``snr_db_used``, lost
tiles and, when connected, the PSNR/SSIM/MS-SSIM of the ``image_sink``'s ``metrics`` messages
(port ``metrics``).

The message handler only converts the PDU and emits a Qt signal; the widget is updated in the
GUI thread.  Use it in a ``qt_gui`` flowgraph (GRC: Semantic Coding > Image Display).
"""
from __future__ import annotations

import numpy as np

from ..contract import (KEY_CHANNELS, KEY_HEIGHT, KEY_IMAGE_ID, KEY_N_LOST_TILES, KEY_SNR_USED, KEY_WIDTH, PORT_IN,
                        PORT_METRICS, PDUError, meta_int)
from ..pdu import meta_to_python, split_pdu
from .base import message_block

try:
    from PyQt5 import Qt, QtCore, QtGui
except ImportError:  # pragma: no cover - a headless install without PyQt5
    Qt = QtCore = QtGui = None


if QtCore is not None:
    class _Bridge(QtCore.QObject):
        image = QtCore.pyqtSignal(object, str)
        caption = QtCore.pyqtSignal(str)

    class ScaledLabel(Qt.QLabel):
        """A label showing a pixmap scaled to its own size (aspect kept), rescaled on resize."""

        def __init__(self):
            Qt.QLabel.__init__(self)
            self._source = None
            self.setAlignment(QtCore.Qt.AlignCenter)
            self.setSizePolicy(Qt.QSizePolicy.Ignored, Qt.QSizePolicy.Ignored)  # never grows to the photo

        def set_source(self, pixmap):
            self._source = pixmap
            self._rescale()

        def source_size(self):
            return None if self._source is None else (self._source.width(), self._source.height())

        def _rescale(self):
            if self._source is None:
                return
            size = self.size()
            up = size.width() >= self._source.width() and size.height() >= self._source.height()
            mode = QtCore.Qt.FastTransformation if up else QtCore.Qt.SmoothTransformation
            self.setPixmap(self._source.scaled(size, QtCore.Qt.KeepAspectRatio, mode))

        def resizeEvent(self, event):  # noqa: N802 - Qt's name
            Qt.QLabel.resizeEvent(self, event)
            self._rescale()


class image_display(message_block):
    """Args: zoom (integer pixel scale), title."""

    def __init__(self, zoom=8, title="Received image"):
        if QtCore is None:
            raise RuntimeError("image_display needs PyQt5")
        message_block.__init__(self, "semcod_image_display", {PORT_IN: self.handle_image, PORT_METRICS: self.handle_metrics})
        self.zoom = max(1, int(zoom))
        self.widget = Qt.QWidget()
        layout = Qt.QVBoxLayout(self.widget)
        self._title = Qt.QLabel(str(title))
        self._label = ScaledLabel()
        self._label.setMinimumSize(64, 64)
        self._label.resize(32 * self.zoom, 32 * self.zoom)
        self.widget.resize(32 * self.zoom, 32 * self.zoom + 60)
        self._caption = Qt.QLabel("waiting for images")
        for w in (self._title, self._label, self._caption):
            layout.addWidget(w)
        self._bridge = _Bridge()
        self._bridge.image.connect(self._show)
        self._bridge.caption.connect(self._caption.setText)
        self._metrics = ""

    def qwidget(self):
        return self.widget

    def handle_image(self, msg):
        from ..runtime.limits import MAX_IMAGE_BYTES

        meta, vec = split_pdu(msg, np.uint8, MAX_IMAGE_BYTES)
        h, w, c = meta_int(meta, KEY_HEIGHT), meta_int(meta, KEY_WIDTH), meta_int(meta, KEY_CHANNELS, 3)
        if h is None or w is None or c != 3 or vec.size < h * w * 3:
            raise PDUError("image_display needs an RGB image PDU with height/width metadata")
        img = np.ascontiguousarray(vec[: h * w * 3].reshape(h, w, 3))
        snr = meta.get(KEY_SNR_USED)
        text = (f"image {meta.get(KEY_IMAGE_ID)} ({w}x{h})"
                + (f", decoder SNR {float(np.mean(snr)):.1f} dB" if snr is not None else "")
                + (f", {meta[KEY_N_LOST_TILES]} tile(s) lost" if meta.get(KEY_N_LOST_TILES) else ""))
        self._bridge.image.emit(img, text)
        self._n_out += 1

    def handle_metrics(self, msg):
        m = meta_to_python(msg)
        if "psnr_db" in m:
            self._metrics = (f"image {m.get('image_id')}: PSNR {m['psnr_db']:.2f} dB, "
                             f"SSIM {m.get('ssim', float('nan')):.3f}"
                             + (f", MS-SSIM {m['ms_ssim']:.3f}" if np.isfinite(m.get("ms_ssim", np.nan)) else ""))
            self._bridge.caption.emit(self._metrics)

    def _show(self, img, text):
        h, w, _ = img.shape
        qimg = QtGui.QImage(img.data, w, h, 3 * w, QtGui.QImage.Format_RGB888).copy()
        self._label.set_source(QtGui.QPixmap.fromImage(qimg))  # the whole photo, scaled to the window
        self._title.setText(text)
