#!/usr/bin/env python3
# -*- coding: utf-8 -*-
#
# Copyright 2026 gr-semcod authors.
# SPDX-License-Identifier: GPL-3.0-or-later
"""``image_sink``: received image PDUs -> PNG files, PSNR/SSIM, metrics messages and a CSV.

In ``in``: image PDU (``u8vector`` B*H*W*3, HWC, ``height``/``width``/``channels`` metadata;
without them the reference image's shape is used).  The reference image of every ``image_id``
comes from the ``ref`` message port (connect the ``image_source`` output to it: the original
image PDUs) and/or from the ``reference`` parameter (a source path loaded exactly as
``image_source`` loads it, ids counted from ``start_id``).
In ``label``: classifier PDUs (``label_pred``) -> accuracy against the true label (the PDU's
``label``, else the label of the reference image with the same id: ``.npz`` labels or
Fashion-MNIST, via the ``ref`` port or the ``reference`` path).

Per received image (a photo of any size, e.g. stitched by ``semcod_rx``):

* ``<outdir>/<prefix>_<image_id>.png`` when ``outdir`` is set, at the image's own size;
* PSNR (dB), SSIM and -- when the image is large enough (:func:`~gr_semcod.runtime.metrics.ms_ssim_fits`,
  176 x 176 for 5 scales) -- MS-SSIM against the reference, on the whole image (NaN when there is
  none, counted in :meth:`n_no_reference`); ``metrics="psnr"`` skips SSIM and MS-SSIM;
* a metrics message on ``metrics``: a dict with the keys of :data:`CSV_FIELDS`;
* a row appended to ``csv_path`` as it arrives (header written when the file is new); ``time``
  is ``time.time()`` at reception with microsecond resolution.

Off the hot path: the message handler does the accounting and the PSNR and hands the image to one
worker thread, which computes SSIM / MS-SSIM, writes the PNG and the CSV row and publishes the
metrics, in arrival order; a finite run ends only after the worker is idle.  The accounting
(received, stand-ins, the ledger) is counted at reception, in the handler, under one lock, so
:meth:`summary` is consistent at any moment; :meth:`n_images` counts the rows the worker has out.

State stays bounded in long runs: :attr:`stats` holds running statistics per metric (count,
mean, std, min/max, median and 95th percentile by the streaming P-squared method, see
:mod:`gr_semcod.runtime.rolling`); only the latest ``keep`` results (:attr:`results`, dicts),
labels (:attr:`labels`), references and received images (:attr:`received`,
``{image_id: HWC uint8}``) are kept.

Accounting (no silent loss): every image announced on ``ref`` counts as sent.  It is either
received, or dropped upstream -- the ``drop`` messages of the other gr-semcod blocks, connected
to the ``drops`` port, name the block and the reason (an image PDU marked ``fallback``, the
digital decoder's stand-in for a failed frame, is not counted received: its row has
``stand_in`` = 1 and it stays out of :attr:`stats`, which score delivered images only; its PSNR
goes to :attr:`stats_with_stand_ins`, the figure that also scores what a viewer is shown for a
lost image, :meth:`mean_psnr_with_stand_ins`) -- or, at the end of a finite run (or
once ``keep`` newer images have been sent), counted lost with the reason "not received".
:meth:`summary` returns ``sent/received/lost`` with the reasons, :meth:`summary_line` is the
line the sink logs when a finite run ends.  Without a ``ref`` connection (the receiver of a
split flowgraph) the ids themselves are the ledger: ids skipped over are in flight until they
arrive late or fall ``keep`` ids behind the newest, then lost, "gap in image_id"; a jump
further than ``keep`` (a restarted transmitter) starts a new sequence (:meth:`n_restarts`).
"""
from __future__ import annotations

import csv
import math
import queue
import threading
import time
from collections import Counter, OrderedDict, deque
from pathlib import Path
from typing import Any, Dict

import numpy as np
import pmt

from ..contract import (IMAGE_ID_MODULO, KEY_CBR, KEY_CHANNELS, KEY_CODEC, KEY_FALLBACK, KEY_HEIGHT, KEY_LABEL,
                        KEY_N_LOST_TILES, KEY_LABEL_PRED, KEY_SNR_DB, KEY_SNR_USED, KEY_TX_TIME, KEY_WIDTH, PORT_DROPS,
                        PORT_IN,
                        PORT_LABEL, PORT_METRICS, PORT_REF, PDUError, check_image, image_ids, meta_int, meta_ints,
                        unwrap_id)
from ..pdu import meta_to_python, split_pdu
from ..runtime.images import save_png
from ..runtime.limits import MAX_IMAGE_BYTES
from ..runtime.metrics import ms_ssim_fits, ms_ssim_per_image, psnr_per_image, ssim_per_image
from ..runtime.rolling import RunningStat
from .base import message_block
from .image_source import load_source

#: columns of the metrics CSV and keys of the metrics messages
CSV_FIELDS = ("time", "tag", "image_id", "codec", "cbr", "snr_db", "psnr_db", "ssim", "ms_ssim", "height", "width",
              "n_lost_tiles", "latency_s", "png", "stand_in")
#: metrics with running statistics in :attr:`image_sink.stats` (delivered images) and
#: :attr:`image_sink.stats_with_stand_ins`; ``stand_in`` = 1: a stand-in shown for a lost image
STAT_FIELDS = ("psnr_db", "ssim", "ms_ssim", "snr_db", "latency_s")
#: what the sink computes: ``all`` (PSNR, SSIM, MS-SSIM where large enough) or ``psnr``
METRICS = ("all", "psnr")
#: lost-image reason when nothing arrived for an announced image
REASON_NOT_RECEIVED = "not received (lost on the air or in the PHY)"
#: lost-image reason of the id ledger (no ``ref`` port)
REASON_GAP = "not received (gap in image_id)"


class image_sink(message_block):
    """Args:
        outdir: folder for the received PNGs ('' = do not write images).
        reference: source of the original images ('' = only the ``ref`` port).
        size: resize of the reference source (as in image_source).
        start_id: image_id of the first reference image.
        csv_path: metrics CSV to append to ('' = none).
        tag: free text copied into every metrics row (e.g. "awgn 10dB").
        prefix: PNG file name prefix.
        keep: how many references / received images to keep in memory.
        linger: end of a finite run -- after upstream is done, wait for every reference image
            to arrive, but at most ``linger`` seconds without any new image.
        max_image_bytes: largest image PDU accepted (0 = the default
            :data:`~gr_semcod.runtime.limits.MAX_IMAGE_BYTES`, a 4096x4096 photo); bigger ones are refused unread.
        metrics: "all" (PSNR, SSIM, MS-SSIM) or "psnr".
    """

    #: images waiting for the metrics worker at most (the handler blocks beyond)
    METRICS_QUEUE = 64

    def __init__(self, outdir="", reference="", size=0, start_id=0, csv_path="", tag="", prefix="rx", keep=4096,
                 linger=2.0, max_image_bytes=0, metrics="all"):
        message_block.__init__(self, "semcod_image_sink",
                               {PORT_IN: self.handle_image, PORT_REF: self.handle_ref, PORT_LABEL: self.handle_label,
                                PORT_DROPS: self.handle_upstream_drop},
                               [PORT_METRICS])
        self.outdir = Path(outdir) if outdir else None
        self.csv_path = Path(csv_path) if csv_path else None
        self.tag = str(tag)
        self.prefix = str(prefix)
        self.keep = max(1, int(keep))
        self.linger = float(linger)
        self.max_image_bytes = int(max_image_bytes) if int(max_image_bytes) > 0 else MAX_IMAGE_BYTES
        if metrics not in METRICS:
            raise ValueError(f"image_sink: metrics must be one of {METRICS}, got {metrics!r}")
        self.metrics = metrics
        # bounded: a handler that gets ahead of SSIM / MS-SSIM waits here instead of piling up photos
        self._work: "queue.Queue" = queue.Queue(maxsize=self.METRICS_QUEUE)
        self._n_pending = 0  # images handed to the metrics worker and not finished
        self.stop_timeout = 10.0  # s the flowgraph's stop waits for the metrics worker
        self._n_unfinished = 0  # images whose row / PNG the worker had not written when the flowgraph stopped
        self._worker = None
        self._last_rx = time.monotonic()
        self.refs: "OrderedDict[int, np.ndarray]" = OrderedDict()
        self.ref_times: "OrderedDict[int, float]" = OrderedDict()  # tx_time of the ref PDUs
        self.ref_labels: "OrderedDict[int, int]" = OrderedDict()  # true labels of the references
        # (image_id, true label or None, predicted label) of the latest classified images
        self.labels: "deque" = deque(maxlen=self.keep)
        self.received: "OrderedDict[int, np.ndarray]" = OrderedDict()
        self.results: "deque" = deque(maxlen=self.keep)  # the latest metrics rows
        self.stats = {k: RunningStat() for k in STAT_FIELDS}  # delivered images only
        self.stats_with_stand_ins = {k: RunningStat() for k in STAT_FIELDS}  # delivered + stand-ins
        self._lock = threading.Lock()
        self._n_noref = 0
        self._n_labels = 0
        self._n_correct = 0
        self._n_images = 0  # rows out of the metrics worker
        self._n_received = 0  # images received, counted with the stand-ins and the ledger (handler thread)
        self._n_classified = 0
        # accounting: ids announced on ``ref`` and not yet received / dropped
        self._outstanding: "OrderedDict[int, bool]" = OrderedDict()
        self._n_sent = 0
        self._n_got = 0  # received images that had been announced
        self._lost = Counter()  # reason -> images
        self._last_key = None  # id ledger without a ref port: the newest id
        self._n_stand_in = 0  # images marked ``fallback`` (stand-ins for failed ones)
        self._missing: "OrderedDict[int, bool]" = OrderedDict()  # ids skipped over, maybe late
        self._n_restarts = 0
        self._summary_logged = False
        self.last_time = float("nan")  # time.time() of the latest received image
        self._start_id = int(start_id)
        # the ``reference`` path: image i has id start+i; a repeating image_source keeps counting,
        # so id start+n*N+i (sent mod 65536) is image i again -- found by unwrapping the id
        self.path_refs, self.path_labels = [], None
        self._last_id = self._start_id  # the latest received id, unwrapped
        if reference:
            images, labels, _ = load_source(reference, size, 0, on_bad=self._drop)
            self.path_refs = images
            self.path_labels = None if labels is None else [int(v) for v in labels]

    # ------------------------------------------------------------------ info
    def n_no_reference(self) -> int:
        return self._n_noref

    def n_images(self) -> int:
        """Images received and scored: their metrics row, PNG and message are out (all of them, not
        only the :attr:`results` kept); :meth:`n_pending` more are still with the metrics worker."""
        return self._n_images

    def n_images_received(self) -> int:
        """Images received, stand-ins included, as :meth:`summary` counts them (at reception;
        :meth:`n_received` is every message on every input port)."""
        return self._n_received

    def n_classified(self) -> int:
        """Images with a classifier label received."""
        return self._n_classified

    def accuracy(self) -> float:
        """Top-1 accuracy of the classifier PDUs that carried the true ``label`` (NaN if none)."""
        return self._n_correct / self._n_labels if self._n_labels else float("nan")

    def mean_psnr(self) -> float:
        """Mean PSNR of the delivered images (stand-ins for lost ones excluded)."""
        return self.stats["psnr_db"].value_mean()

    def mean_psnr_with_stand_ins(self) -> float:
        """Mean PSNR of everything shown: delivered images and the stand-ins of failed ones."""
        return self.stats_with_stand_ins["psnr_db"].value_mean()

    def mean_ssim(self) -> float:
        return self.stats["ssim"].value_mean()

    def mean_ms_ssim(self) -> float:
        return self.stats["ms_ssim"].value_mean()

    def n_pending(self) -> int:
        """Images whose metrics are still being computed."""
        return self._n_pending

    def set_tag(self, tag):
        self.tag = str(tag)

    def reset(self):
        with self._lock:
            self.results.clear()
            self.labels.clear()
            self.received.clear()
            self.stats = {k: RunningStat() for k in STAT_FIELDS}
            self.stats_with_stand_ins = {k: RunningStat() for k in STAT_FIELDS}
            self._n_images = self._n_received = self._n_classified = 0
            self._outstanding.clear()
            self._n_sent = self._n_got = self._n_stand_in = 0
            self._lost.clear()
            self._last_key = None
            self._missing.clear()

    # ------------------------------------------------------------------ accounting
    def n_sent(self) -> int:
        """Images announced on the ``ref`` port (what the source emitted)."""
        return self._n_sent

    def n_in_flight(self) -> int:
        """Announced images neither received nor accounted lost yet."""
        return len(self._outstanding)

    def n_lost(self) -> int:
        return sum(self._lost.values())

    def lost_reasons(self) -> Dict[str, int]:
        return dict(self._lost)

    def summary(self, final: bool = False) -> Dict[str, Any]:
        """``sent``, ``received`` (of the sent ones), ``lost`` (with ``reasons``), ``in_flight``.

        ``final=True`` (end of a finite run) counts every image still in flight as lost,
        "not received"."""
        with self._lock:
            if final and self._outstanding:
                self._lost[REASON_NOT_RECEIVED] += len(self._outstanding)
                self._outstanding.clear()
            if final and self._missing:
                self._lost[REASON_GAP] += len(self._missing)
                self._missing.clear()
            if self._n_sent:
                sent, got, flight = self._n_sent, self._n_got, len(self._outstanding)
            else:  # the id ledger: what arrived, the gaps counted lost and the ids still missing
                flight = len(self._missing)
                sent, got = self._n_received + self._lost[REASON_GAP] + flight, self._n_received - self._n_stand_in
            # every count here is taken at reception, in the message handler, under this lock:
            # a summary mid-run never mixes them with the metrics worker's progress (n_images)
            return {"sent": sent, "received": got, "received_total": self._n_received, "stand_ins": self._n_stand_in,
                    "lost": sum(self._lost.values()), "in_flight": flight, "unwritten": self._n_unfinished,
                    "reasons": {k: v for k, v in self._lost.items() if v}}

    def summary_line(self, final: bool = False) -> str:
        s = self.summary(final)
        why = "; ".join(f"{n} {r}" for r, n in sorted(s["reasons"].items(), key=lambda kv: -kv[1]))
        line = f"sent {s['sent']}, received {s['received']}, lost {s['lost']}" + (f" ({why})" if why else "")
        if s["in_flight"]:
            line += f", in flight {s['in_flight']}"
        if s["unwritten"]:
            line += f"; {s['unwritten']} received image(s) not written (metrics worker stopped)"
        if s["stand_ins"]:
            line += f"; {s['stand_ins']} stand-in image(s) shown for failed ones"
        if s["received_total"] - s["stand_ins"] != s["received"] and self._n_sent:
            line += f"; {s['received_total'] - s['stand_ins'] - s['received']} received image(s) were not announced on ref"
        return line

    def _announce(self, key: int) -> None:
        """A sent image (ref port); the oldest outstanding one is lost after ``keep`` newer ones."""
        self._n_sent += 1
        if key in self._outstanding:  # an id reused before its image came back (wrapped ids)
            self._lost[REASON_NOT_RECEIVED] += 1
        self._outstanding[key] = True
        self._outstanding.move_to_end(key)
        while len(self._outstanding) > self.keep:
            self._outstanding.popitem(last=False)
            self._lost[REASON_NOT_RECEIVED] += 1

    def n_restarts(self) -> int:
        """Id sequences restarted (a jump backwards / too far) in the id ledger."""
        return self._n_restarts

    def _ledger(self, key: int) -> None:
        """Id ledger (no ``ref`` port): ids skipped over are missing; a missing id that arrives
        late (the PHY releases incomplete images out of order) is received, one that falls
        ``keep`` ids behind the newest is lost."""
        hi = self._last_key
        if hi is None:
            self._last_key = key
            return
        d = (key - hi) % IMAGE_ID_MODULO
        if d == 0:
            return
        if d <= self.keep:  # forward
            for j in range(1, d):
                self._missing[(hi + j) % IMAGE_ID_MODULO] = True
            self._last_key = key
            while self._missing:
                old = next(iter(self._missing))
                if (key - old) % IMAGE_ID_MODULO <= self.keep:
                    break
                self._missing.popitem(last=False)
                self._lost[REASON_GAP] += 1
        elif IMAGE_ID_MODULO - d <= self.keep:  # behind the newest: a late image
            self._missing.pop(key, None)
        else:  # a new sequence (restarted transmitter): what was missing is lost
            self._n_restarts += 1
            self._lost[REASON_GAP] += len(self._missing)
            self._missing.clear()
            self._last_key = key

    def handle_upstream_drop(self, msg) -> None:
        """A ``drop`` message of an upstream block: the images it names are lost for that reason."""
        if not pmt.is_dict(msg):
            raise PDUError("drop message is not a dict")
        self._drain_refs()
        d = meta_to_python(msg)
        block, reason = str(d.get("block", "?")), str(d.get("reason", "?"))
        iid = d.get("image_id")
        ids = [] if iid is None or isinstance(iid, bool) else [int(v) for v in np.atleast_1d(np.asarray(iid)).ravel()]
        with self._lock:
            why = f"dropped by {block}: {reason}"
            if not ids:
                self._lost[why] += 1
            for i in ids:
                key = i % IMAGE_ID_MODULO
                if self._outstanding.pop(key, None) is not None or not self._n_sent:
                    self._lost[why] += 1
        self._last_rx = time.monotonic()

    def _path_index(self, key) -> int:
        """Index in the ``reference`` path of the image sent with id ``key`` (mod 65536): the id
        is unwrapped next to the latest one, so the count survives the 16-bit wrap."""
        u = unwrap_id(key, self._last_id)
        self._last_id = u
        return (u - self._start_id) % len(self.path_refs)

    def _ref(self, key):
        """Reference image of ``key``: from the ``ref`` port, else from the ``reference`` path."""
        ref = self.refs.get(key)
        if ref is None and self.path_refs:
            ref = self.path_refs[self._path_index(key)]
        return ref

    def _ready_to_finish(self) -> bool:
        """Finite runs: every reference image has arrived and, once classifier PDUs are flowing,
        every received image has its label too -- or nothing came for ``linger`` seconds.

        The sink has several upstreams (images, labels, references) that finish at different
        times, so the first ``done`` does not mean the last message has arrived."""
        with self._lock:
            if self._n_sent:
                missing = bool(self._outstanding)
            else:
                n = len(self.path_refs)
                path_keys = ((self._start_id + i) % IMAGE_ID_MODULO for i in range(max(0, n - self.keep), n))
                missing = (any(k not in self.received for k in self.refs)
                           or any(k not in self.received for k in path_keys))
            unlabelled = self._n_classified > 0 and self._n_classified < self._n_received
        if self._n_pending:  # the metrics of received images are not out yet
            return False
        idle = time.monotonic() - max(self._last_rx, self._done_seen or 0.0)
        ready = (not missing and not unlabelled) or idle >= self.linger
        if ready and not self._summary_logged:
            self._summary_logged = True
            self._log.info(self.summary_line(final=True))
        return ready

    # ------------------------------------------------------------------ helpers
    def _remember(self, store, key, value):
        store[key] = value
        store.move_to_end(key)
        while len(store) > self.keep:
            store.popitem(last=False)

    @staticmethod
    def _images_of(meta: Dict[str, Any], vec: np.ndarray, ref_shape=None) -> np.ndarray:
        if ref_shape is not None:
            h0, w0, c0 = ref_shape
        else:
            h0 = w0 = None
            c0 = 3
        h = meta_int(meta, KEY_HEIGHT, h0)
        w = meta_int(meta, KEY_WIDTH, w0)
        c = meta_int(meta, KEY_CHANNELS, c0)
        if h is None or w is None:
            raise PDUError(f"image PDU without {KEY_HEIGHT!r}/{KEY_WIDTH!r} metadata and no reference to infer them")
        if h <= 0 or w <= 0 or c <= 0:
            raise PDUError(f"image PDU metadata says {h}x{w}x{c}, expected positive sizes")
        return vec.reshape(check_image(meta, vec.size, (h, w, c), "image PDU"), h, w, c)

    # ------------------------------------------------------------------ handlers
    def handle_ref(self, msg) -> None:
        meta, vec = split_pdu(msg, np.uint8, self.max_image_bytes)
        imgs = self._images_of(meta, vec)
        tx_time = meta.get(KEY_TX_TIME)
        true = meta_ints(meta, KEY_LABEL, len(imgs))
        with self._lock:
            for j, (iid, im) in enumerate(zip(image_ids(meta, len(imgs)), imgs)):
                if iid is None:
                    raise PDUError("reference PDU without image_id")
                self._remember(self.refs, iid % IMAGE_ID_MODULO, im.copy())
                self._announce(iid % IMAGE_ID_MODULO)
                if isinstance(tx_time, (int, float)):
                    self._remember(self.ref_times, iid % IMAGE_ID_MODULO, float(tx_time))
                if true is not None:
                    self._remember(self.ref_labels, iid % IMAGE_ID_MODULO, int(true[j]))

    def _ref_label(self, key):
        lab = self.ref_labels.get(key)
        if lab is None and self.path_labels is not None:
            lab = self.path_labels[self._path_index(key)]
        return lab

    def handle_label(self, msg) -> None:
        """Classifier PDU: compare ``label_pred`` with the true label -- the PDU's ``label`` or,
        since the PHY carries only image_id, the label of the reference with the same id."""
        self._last_rx = time.monotonic()
        if not pmt.is_pair(msg):
            raise PDUError("label message is not a PDU")
        self._drain_refs()
        meta = meta_to_python(pmt.car(msg))
        if KEY_LABEL_PRED not in meta:
            raise PDUError("label PDU without label_pred")
        pred = meta_ints(meta, KEY_LABEL_PRED)
        ids = image_ids(meta, len(pred))
        if KEY_LABEL in meta:
            true = meta_ints(meta, KEY_LABEL, len(pred))
        else:
            with self._lock:
                true = [None if i is None else self._ref_label(i % IMAGE_ID_MODULO) for i in ids]
        with self._lock:  # counted under the lock the other counters use (the metrics worker counts too)
            for iid, t, p in zip(ids, true, pred):
                self.labels.append((iid, t, p))
                self._n_classified += 1
                if t is not None:
                    self._n_labels += 1
                    self._n_correct += int(p == t)
            self._n_out += 1

    def _drain_refs(self) -> None:
        """Handle queued reference PDUs first (ports are served in no particular order)."""
        port = pmt.intern(PORT_REF)
        for _ in range(self.keep):
            m = self.delete_head_nowait(port)
            if m is None:  # queue empty
                return
            try:
                self.handle_ref(m)
            except PDUError as e:
                self._drop(str(e))

    def handle_image(self, msg) -> None:
        self._last_rx = time.monotonic()
        self._drain_refs()
        meta, vec = split_pdu(msg, np.uint8, self.max_image_bytes)
        ids = image_ids(meta, 1)
        first = ids[0] % IMAGE_ID_MODULO if ids and ids[0] is not None else None
        with self._lock:
            ref0 = self._ref(first) if first is not None else None
        imgs = self._images_of(meta, vec, None if ref0 is None else ref0.shape)
        ids = image_ids(meta, len(imgs))
        now = time.time()
        snr = meta.get(KEY_SNR_USED, meta.get(KEY_SNR_DB, float("nan")))
        snr = np.atleast_1d(np.asarray(snr, np.float64)) if isinstance(snr, (int, float, np.ndarray, list)) \
            else np.full(1, np.nan)
        snr = np.broadcast_to(snr, (len(imgs),)) if snr.size in (1, len(imgs)) else np.full(len(imgs), np.nanmean(snr))
        tx_time = meta.get(KEY_TX_TIME)
        stand_in = bool(meta.get(KEY_FALLBACK))
        lost_tiles = meta_int(meta, KEY_N_LOST_TILES, 0)
        for j, (iid, im) in enumerate(zip(ids, imgs)):
            key = None if iid is None else iid % IMAGE_ID_MODULO
            with self._lock:
                ref = self._ref(key) if key is not None else None
                t_sent = tx_time if isinstance(tx_time, (int, float)) else self.ref_times.get(key)
            if ref is not None and ref.shape == im.shape:
                p = float(psnr_per_image(ref, im)[0])
            else:
                p, ref = float("nan"), None
                self._n_noref += 1
            row = {
                "time": now, "tag": self.tag, "image_id": -1 if key is None else int(key),
                "codec": str(meta.get(KEY_CODEC, "")), "cbr": str(meta.get(KEY_CBR, "")),
                "snr_db": float(snr[j]), "psnr_db": p, "ssim": float("nan"), "ms_ssim": float("nan"),
                "height": int(im.shape[0]), "width": int(im.shape[1]), "n_lost_tiles": int(lost_tiles),
                # the PHY carries only image_id: the source's tx_time comes from the ref port then
                "latency_s": float(now - float(t_sent)) if t_sent is not None else float("nan"),
                "png": "", "stand_in": int(stand_in),
            }
            im = im.copy()  # one copy, kept and scored (nothing below writes to it)
            with self._lock:
                self._n_received += 1  # with the stand-ins and the ledger: one thread, one lock
                # a stand-in for an image that failed (``fallback``): its drop counts it lost
                self._n_stand_in += stand_in
                if key is not None:
                    self._remember(self.received, key, im)
                    if not stand_in and self._outstanding.pop(key, None) is not None:
                        self._n_got += 1
                    elif not self._n_sent:
                        self._ledger(key)
                self._n_pending += 1
            self._submit((row, ref, im, key))

    # ------------------------------------------------------------------ metrics worker
    def _submit(self, item) -> None:
        if self._worker is None or not self._worker.is_alive():
            self._worker = threading.Thread(target=self._metrics_loop, name="semcod_image_sink_metrics", daemon=True)
            self._worker.start()
        self._work.put(item)

    def _metrics_loop(self) -> None:
        while True:
            item = self._work.get()
            try:
                self._finish_row(*item)
            except Exception as e:  # noqa: BLE001 - the worker never dies on one image
                self._drop(f"metrics: {type(e).__name__}: {e}", {"image_id": item[0]["image_id"]})
            finally:
                with self._lock:
                    self._n_pending -= 1

    def _finish_row(self, row, ref, im, key) -> None:
        """SSIM / MS-SSIM, PNG, stats, CSV and the metrics message of one image (worker thread)."""
        if ref is not None and self.metrics == "all":
            if min(im.shape[:2]) >= 11:
                row["ssim"] = float(ssim_per_image(ref, im)[0])
            if ms_ssim_fits(im.shape):
                row["ms_ssim"] = float(ms_ssim_per_image(ref, im)[0])
        if self.outdir is not None:
            name = f"{self.prefix}_{key if key is not None else self._n_out:05d}.png"
            row["png"] = str(save_png(self.outdir / name, im))
        with self._lock:
            self.results.append(row)
            self.last_time = row["time"]
            for k in STAT_FIELDS:
                self.stats_with_stand_ins[k].add(row[k])
                if not row["stand_in"]:
                    self.stats[k].add(row[k])
            self._n_images += 1
        self._write_csv(row)
        self._publish(row)
        with self._lock:
            self._n_out += 1

    def start(self):
        where = f"rows to {self.csv_path}" if self.csv_path is not None else "no CSV"
        refs = f"{len(self.path_refs)} reference images" if self.path_refs else "references from the ref port"
        self._log.info(f"receiving images ({where}; {refs})")  # the flowgraph is running
        return message_block.start(self)

    def stop(self):
        """End of the flowgraph: give the metrics worker up to 10 s to finish what it holds."""
        t0 = time.monotonic()
        while self._n_pending and time.monotonic() - t0 < self.stop_timeout:
            time.sleep(0.01)
        with self._lock:
            self._n_unfinished = self._n_pending
        if self._n_unfinished:
            self._log.warn(f"stopped with {self._n_unfinished} image(s) whose metrics row / PNG was not written "
                           f"(the metrics worker was still busy after {self.stop_timeout:g} s)")
        return True

    def n_unfinished(self) -> int:
        """Images received but not written (row, PNG, metrics message) when the flowgraph stopped."""
        return self._n_unfinished

    def _write_csv(self, row) -> None:
        if self.csv_path is None:
            return
        self.csv_path.parent.mkdir(parents=True, exist_ok=True)
        new = not self.csv_path.exists() or self.csv_path.stat().st_size == 0
        with open(self.csv_path, "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=CSV_FIELDS)
            if new:
                w.writeheader()
            w.writerow({k: (f"{v:.6f}" if k == "time" else f"{v:.6g}") if isinstance(v, float) and math.isfinite(v)
                        else v for k, v in row.items()})

    def _publish(self, row) -> None:
        d = pmt.make_dict()
        for k in CSV_FIELDS:
            v = row[k]
            pv = pmt.from_double(v) if isinstance(v, float) else pmt.from_long(v) if isinstance(v, int) \
                else pmt.intern(str(v))
            d = pmt.dict_add(d, pmt.intern(k), pv)
        self.message_port_pub(pmt.intern(PORT_METRICS), d)
