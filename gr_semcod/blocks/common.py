"""Shared pieces of the gr-semcod blocks: PDU formats, metadata keys, bundle cache, drop reporting.

PDU formats (a GNU Radio PDU is ``pmt.cons(metadata dict, uniform vector)``)
==========================================================================

=========  ====================  ===========================================  ==========================
kind       vector                layout                                       metadata (besides ids)
=========  ====================  ===========================================  ==========================
image      ``u8vector``          ``B*H*W*C`` bytes, row-major HWC (RGB), the  ``height``, ``width``,
                                 batch axis first (B images back to back)     ``channels`` (3)
tokens     ``f32vector``         ``B*N*D`` floats, (B, N, D) row-major        ``n_tokens``, ``token_dim``,
                                                                              ``token_sizes`` (f32, B*N)
symbols    ``c32vector``         ``B*k`` complex64 channel symbols, unit      ``cbr`` (str), ``n_symbols``
                                 average power per image                      (k, per image), ``codec``
logits     ``f32vector``         ``B*C`` classifier scores                    ``label_pred``, ``label_name``
=========  ====================  ===========================================  ==========================

Images travel as uint8 (not float): 4x smaller than f32, exactly what a PNG holds, and the
PSNR of the sink is then measured on the same 8-bit pixels a user would save.

Every PDU carries ``image_id`` (an int for one image, an ``s64vector`` of B ids for a batch)
and ``batch`` (B, default 1 when absent).  Blocks pass through the metadata they do not own,
so ``image_id``, ``label`` and ``tx_time`` survive the model chain; the OFDM PHY carries only
``image_id`` over the air (16 bits, ids wrap at 65536).  The receiver side reads ``snr_db`` /
``noise_var`` (per PDU) and ``erasure_mask`` (u8, length ``B*k``) written by the PHY
receiver, or ``erasures`` (a mask or a vector of erased symbol indices) from other sources;
the decoders stamp ``cbr``, ``codec``, ``snr_db_used`` and ``n_erased`` on their output.

The message blocks end cleanly in finite flowgraphs: GNU Radio's ``done`` message is
deferred until their input queues are drained (see :meth:`DropMixin._install_done_handler`).

Errors
======
A PDU that cannot be processed (wrong type, wrong size, bad metadata, inference failure) is
never raised out of a message handler: the block logs one line, increments
``n_dropped`` and publishes a message on its ``drop`` port::

    ((block . <alias>) (reason . <one line>) (image_id . <id or #f>) (count . <n_dropped>))
"""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import numpy as np
import pmt

# --------------------------------------------------------------------------- metadata keys
KEY_IMAGE_ID = "image_id"
KEY_BATCH = "batch"
KEY_HEIGHT = "height"
KEY_WIDTH = "width"
KEY_CHANNELS = "channels"
KEY_LABEL = "label"
KEY_NAME = "name"
KEY_N_TOKENS = "n_tokens"
KEY_TOKEN_DIM = "token_dim"
KEY_TOKEN_SIZES = "token_sizes"
KEY_CBR = "cbr"
KEY_N_SYMBOLS = "n_symbols"
KEY_CODEC = "codec"
KEY_SNR_DB = "snr_db"
KEY_NOISE_VAR = "noise_var"
KEY_ERASURES = "erasures"
KEY_ERASURE_MASK = "erasure_mask"  # the PHY receiver's name (u8 mask)
KEY_LABEL_PRED = "label_pred"
KEY_LABEL_NAME = "label_name"
KEY_TX_TIME = "tx_time"  # time.time() when the source emitted the image (latency)
KEY_SNR_USED = "snr_db_used"  # the SNR the decoder was conditioned on

# --------------------------------------------------------------------------- port names
PORT_IN = "in"
PORT_OUT = "out"
PORT_DROP = "drop"
PORT_REF = "ref"
PORT_METRICS = "metrics"
PORT_IMAGE = "image"
PORT_LABEL = "label"
PORT_SYSTEM = "system"

CODEC_SEMANTIC = "semantic"
CODEC_DEEPJSCC = "deepjscc"


class PDUError(ValueError):
    """A PDU that a block cannot process; the message is the one-line drop reason."""


# --------------------------------------------------------------------------- PDU helpers
_VECTOR_DTYPES = {
    np.dtype(np.uint8): (pmt.is_u8vector, pmt.init_u8vector, pmt.u8vector_elements),
    np.dtype(np.float32): (pmt.is_f32vector, pmt.init_f32vector, pmt.f32vector_elements),
    np.dtype(np.complex64): (pmt.is_c32vector, pmt.init_c32vector, pmt.c32vector_elements),
}
_DTYPE_NAMES = {np.dtype(np.uint8): "u8", np.dtype(np.float32): "f32", np.dtype(np.complex64): "c32"}


def split_pdu(msg, dtype, max_items: Optional[int] = None) -> Tuple[Dict[str, Any], np.ndarray]:
    """``(metadata as a python dict, vector as a numpy array of dtype)`` or :class:`PDUError`.

    A vector longer than ``max_items`` (default :data:`~gr_semcod.runtime.limits.MAX_PDU_ITEMS`)
    is refused before it is converted, so an oversized PDU costs no memory."""
    from ..runtime.limits import MAX_PDU_ITEMS

    dtype = np.dtype(dtype)
    if not pmt.is_pair(msg):
        raise PDUError("not a PDU (expected a pair of metadata dict and vector)")
    meta, vec = pmt.car(msg), pmt.cdr(msg)
    if not (pmt.is_dict(meta) or pmt.is_null(meta)):
        raise PDUError("PDU metadata is not a dict")
    is_kind, _, elements = _VECTOR_DTYPES[dtype]
    if not is_kind(vec):
        raise PDUError(f"PDU vector is not a {_DTYPE_NAMES[dtype]}vector")
    limit = MAX_PDU_ITEMS if max_items is None else int(max_items)
    n = pmt.length(vec)
    if n > limit:
        raise PDUError(f"PDU vector has {n} items, more than the limit of {limit}")
    arr = np.asarray(elements(vec), dtype=dtype)
    return meta_to_python(meta), arr


_UVECTORS = [
    (pmt.is_u8vector, pmt.u8vector_elements, np.uint8),
    (pmt.is_s8vector, pmt.s8vector_elements, np.int8),
    (pmt.is_u16vector, pmt.u16vector_elements, np.uint16),
    (pmt.is_s16vector, pmt.s16vector_elements, np.int16),
    (pmt.is_u32vector, pmt.u32vector_elements, np.uint32),
    (pmt.is_s32vector, pmt.s32vector_elements, np.int32),
    (pmt.is_u64vector, pmt.u64vector_elements, np.uint64),
    (pmt.is_s64vector, pmt.s64vector_elements, np.int64),
    (pmt.is_f32vector, pmt.f32vector_elements, np.float32),
    (pmt.is_f64vector, pmt.f64vector_elements, np.float64),
    (pmt.is_c32vector, pmt.c32vector_elements, np.complex64),
    (pmt.is_c64vector, pmt.c64vector_elements, np.complex128),
]


def from_pmt(v) -> Any:
    """PMT -> python; uniform vectors of every type become numpy arrays."""
    if pmt.is_uniform_vector(v):
        for is_kind, elements, dtype in _UVECTORS:
            if is_kind(v):
                return np.asarray(elements(v), dtype=dtype)
    try:
        return pmt.to_python(v)
    except Exception:  # an exotic PMT: keep its text form
        return pmt.write_string(v)


def meta_to_python(meta) -> Dict[str, Any]:
    """A PDU metadata dict as ``{str: python value}`` (``{}`` for PMT_NIL)."""
    if pmt.is_null(meta) or not pmt.is_dict(meta):
        return {}
    out = {}
    items = pmt.dict_items(meta)
    while pmt.is_pair(items):
        kv = pmt.car(items)
        k = pmt.car(kv)
        key = pmt.symbol_to_string(k) if pmt.is_symbol(k) else pmt.write_string(k)
        out[key] = from_pmt(pmt.cdr(kv))
        items = pmt.cdr(items)
    return out


def _to_pmt(v: Any):
    if isinstance(v, np.ndarray):
        if v.dtype == np.float32:
            return pmt.init_f32vector(v.size, v.ravel().tolist())
        if v.dtype == np.float64:
            return pmt.init_f64vector(v.size, v.ravel().tolist())
        if v.dtype == np.uint8 or v.dtype == np.bool_:
            return pmt.init_u8vector(v.size, v.astype(np.uint8).ravel().tolist())
        if v.dtype.kind in "iu":
            return pmt.init_s64vector(v.size, v.astype(np.int64).ravel().tolist())
        if v.dtype == np.complex64:
            return pmt.init_c32vector(v.size, v.ravel().tolist())
    if isinstance(v, (bool, np.bool_)):
        return pmt.from_bool(bool(v))
    if isinstance(v, (int, np.integer)):
        return pmt.from_long(int(v))
    if isinstance(v, (float, np.floating)):
        return pmt.from_double(float(v))
    if isinstance(v, str):
        return pmt.intern(v)
    return pmt.to_pmt(v)


def meta_to_pmt(meta: Dict[str, Any]):
    d = pmt.make_dict()
    for k, v in meta.items():
        d = pmt.dict_add(d, pmt.intern(str(k)), _to_pmt(v))
    return d


def make_pdu(meta: Dict[str, Any], arr: np.ndarray):
    """PDU from a python metadata dict and a u8/f32/c32 numpy array (flattened)."""
    arr = np.ascontiguousarray(arr).ravel()
    _, init, _ = _VECTOR_DTYPES[arr.dtype]
    return pmt.cons(meta_to_pmt(meta), init(arr.size, arr))


def meta_int(meta: Dict[str, Any], key: str, default: Optional[int] = None) -> Optional[int]:
    """An integer metadata entry, or ``default`` when absent; :class:`PDUError` when malformed."""
    if key not in meta:
        return default
    v = meta[key]
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer, float, np.floating)) \
            or not float(v).is_integer():
        raise PDUError(f"metadata {key!r} must be an integer, got {v!r}")
    return int(v)


def meta_float(meta: Dict[str, Any], key: str) -> Optional[np.ndarray]:
    """A scalar or vector float metadata entry as a float64 array, None when absent."""
    if key not in meta:
        return None
    v = meta[key]
    try:
        a = np.asarray(v, np.float64).ravel()
    except (TypeError, ValueError):
        raise PDUError(f"metadata {key!r} must be a number or a float vector, got {v!r}") from None
    if a.size == 0 or not np.all(np.isfinite(a)):
        raise PDUError(f"metadata {key!r} must be finite, got {v!r}")
    return a


def image_ids(meta: Dict[str, Any], batch: int):
    """The ``image_id`` entry as a list of ``batch`` ints (or Nones when absent)."""
    v = meta.get(KEY_IMAGE_ID)
    if v is None:
        return [None] * batch
    a = np.atleast_1d(np.asarray(v))
    if a.size == 1 and batch > 1:
        return [int(a[0]) + i for i in range(batch)]
    return [int(x) for x in a.ravel()]


def id_for_log(meta: Dict[str, Any]):
    v = meta.get(KEY_IMAGE_ID) if isinstance(meta, dict) else None
    if v is None:
        return None
    a = np.atleast_1d(np.asarray(v))
    return int(a[0]) if a.size == 1 else [int(x) for x in a.ravel()]


def post_done(block) -> None:
    """Mark a message-only block finished (the scheduler then ends it and notifies neighbours)."""
    block._post(pmt.intern(PORT_SYSTEM), pmt.cons(pmt.intern("done"), pmt.from_long(1)))


# --------------------------------------------------------------------------- bundles
_BUNDLES: Dict[Tuple[str, int], Any] = {}
_BUNDLES_LOCK = threading.Lock()


def get_bundle(path, threads: int = 1):
    """A process-wide cached :class:`~gr_semcod.runtime.Bundle` (ORT sessions are thread-safe).

    ``threads`` is ORT's intra-op thread count per session (0 = ORT default, all cores).
    An address (``tcp://host:port``, ``ipc://...``) gives a
    :class:`~gr_semcod.serve.RemoteBundle`: the models run in ``semcod serve``.
    """
    from ..runtime import Bundle
    from ..serve import RemoteBundle, is_remote

    if is_remote(str(path)):
        key = (str(path), -1)
        with _BUNDLES_LOCK:
            b = _BUNDLES.get(key)
            if b is None:
                b = _BUNDLES[key] = RemoteBundle(str(path))
            return b
    key = (str(Path(path).resolve()), int(threads))
    with _BUNDLES_LOCK:
        b = _BUNDLES.get(key)
        if b is None:
            b = Bundle.load(path, intra_op_threads=int(threads) or None, inter_op_threads=1)
            _BUNDLES[key] = b
        return b


# --------------------------------------------------------------------------- block mixin
class DropMixin:
    """Counters, timing and the ``drop`` port of every gr-semcod message block."""

    def _init_drop(self, name: str) -> None:
        from gnuradio import gr

        self._log = gr.logger(name)
        self._n_in = 0
        self._n_out = 0
        self._n_drop = 0
        self._busy_s = 0.0
        self._last_drop = ""
        self._counter_lock = threading.Lock()
        self.message_port_register_out(pmt.intern(PORT_DROP))

    def _drop(self, reason: str, meta: Optional[Dict[str, Any]] = None) -> None:
        with self._counter_lock:
            self._n_drop += 1
            n = self._n_drop
            self._last_drop = reason
        iid = id_for_log(meta) if meta else None
        self._log.warn(f"dropped PDU (image_id={iid}): {reason}")
        try:
            d = pmt.make_dict()
            d = pmt.dict_add(d, pmt.intern("block"), pmt.intern(self.alias()))
            d = pmt.dict_add(d, pmt.intern("reason"), pmt.intern(reason))
            d = pmt.dict_add(d, pmt.intern(KEY_IMAGE_ID), pmt.PMT_F if iid is None else pmt.to_pmt(iid))
            d = pmt.dict_add(d, pmt.intern("count"), pmt.from_long(n))
            self.message_port_pub(pmt.intern(PORT_DROP), d)
        except Exception:  # never let reporting kill the handler
            pass

    def _set_guarded_handler(self, port: str, handler) -> None:
        """Register ``handler`` (``msg -> None``) on ``port``: exceptions become drops, time is accounted.

        GNU Radio's Python gateway calls a handler by its ``__name__`` on the block, so the
        wrapper is stored as a uniquely named attribute.
        """
        wrapped = self._guarded(handler)
        name = f"_semcod_handle_{port}"
        wrapped.__name__ = name
        setattr(self, name, wrapped)
        self.set_msg_handler(pmt.intern(port), wrapped)

    def _guarded(self, handler):
        """Wrap a ``msg -> None`` handler: exceptions become drops, time is accounted."""

        def run(msg):
            t0 = time.perf_counter()
            self._n_in += 1
            try:
                handler(msg)
            except Exception as e:  # noqa: BLE001 - a handler must never raise into GNU Radio
                self._drop_exception(e, msg)
            finally:
                self._busy_s += time.perf_counter() - t0

        return run

    def _drop_exception(self, e: Exception, msg) -> None:
        """Drop ``msg`` because of ``e`` (a :class:`PDUError` reason as is, else type + first line)."""
        if isinstance(e, PDUError):
            self._drop(str(e), _safe_meta(msg))
        else:
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            self._drop(f"{type(e).__name__}: {first}", _safe_meta(msg))

    # ------------------------------------------------------------------ end of stream
    def _install_done_handler(self, in_ports) -> None:
        """Finish only after the queued input is handled.

        GNU Radio ends a message-only block as soon as a ``done`` message reaches its
        ``system`` port, which may be handled before data still queued on other ports (the
        ports are drained in map order), losing the last PDUs of a finite run.  This handler
        defers ``done`` until every port in ``in_ports`` is empty and :meth:`_ready_to_finish`
        agrees, re-posting it on a short timer meanwhile, then lets the base class finish.
        """
        self._done_ports = [pmt.intern(p) for p in in_ports]
        self._done_seen = None
        self._set_raw_handler(PORT_SYSTEM, self._handle_system)

    def _set_raw_handler(self, port: str, handler) -> None:
        """Register ``handler`` on ``port`` under a unique attribute name (the gateway calls by name)."""
        name = f"_semcod_raw_{port}"
        wrapper = _named(name, handler)
        setattr(self, name, wrapper)
        self.set_msg_handler(pmt.intern(port), wrapper)

    def _ready_to_finish(self) -> bool:
        return True

    def _handle_system(self, msg) -> None:
        try:
            is_done = pmt.is_pair(msg) and pmt.eq(pmt.car(msg), pmt.intern("done"))
        except Exception:
            is_done = False
        if not is_done:
            self.system_handler(msg)
            return
        if self._done_seen is None:
            self._done_seen = time.monotonic()
        queued = sum(self.nmsgs(p) for p in self._done_ports)
        if queued == 0 and self._ready_to_finish():
            self.system_handler(msg)
            return
        t = threading.Timer(0.02, self._repost_done, args=(msg,))
        t.daemon = True
        t.start()

    def _repost_done(self, msg) -> None:
        try:
            self._post(pmt.intern(PORT_SYSTEM), msg)
        except Exception:
            pass

    # counters, callable from python and from GRC variables / tests
    def n_received(self) -> int:
        return self._n_in

    def n_processed(self) -> int:
        return self._n_out

    def n_dropped(self) -> int:
        return self._n_drop

    def last_drop_reason(self) -> str:
        return self._last_drop

    def busy_seconds(self) -> float:
        """Wall time spent in the message handler (the per-block share in ``bench e2e``)."""
        return self._busy_s


def _named(name, fn):
    def handler(msg):
        fn(msg)

    handler.__name__ = name
    return handler


def _safe_meta(msg) -> Dict[str, Any]:
    try:
        if pmt.is_pair(msg) and pmt.is_dict(pmt.car(msg)):
            return meta_to_python(pmt.car(msg))
    except Exception:
        pass
    return {}


# --------------------------------------------------------------------------- receiver metadata
SNR_SOURCES = ("metadata", "noise_var", "fixed")
#: the decoders clip the SNR they are conditioned on to this range (dB)
SNR_CLIP_DB = (-20.0, 50.0)


def snr_from_meta(meta: Dict[str, Any], b: int, fallback_db: float, source: str = "metadata") -> Tuple[np.ndarray, str]:
    """Per-image SNR in dB ``(b, 1)`` float32 and where it came from.

    ``source="metadata"``: ``snr_db`` if present, else ``-10 log10(noise_var)`` (unit signal
    power), else ``fallback_db``; ``"noise_var"``: the post-equaliser ``noise_var`` first, then
    ``snr_db`` (on a frequency-selective channel the equaliser's noise enhancement makes this
    the SNR the decoder actually sees); ``"fixed"``: always ``fallback_db``.  A present but malformed
    entry (non-numeric, non-finite, wrong length, ``noise_var <= 0``) is a :class:`PDUError`.
    """
    if source not in SNR_SOURCES:
        raise PDUError(f"snr source must be one of {SNR_SOURCES}, got {source!r}")
    where = "fixed"
    snr = None
    if source != "fixed":
        v = meta_float(meta, KEY_SNR_DB)
        nv = meta_float(meta, KEY_NOISE_VAR)
        if nv is not None and np.any(nv <= 0):
            raise PDUError(f"metadata {KEY_NOISE_VAR!r} must be > 0, got {nv}")
        order = [(KEY_SNR_DB, v), (KEY_NOISE_VAR, nv)]
        if source == "noise_var":
            order.reverse()
        for key, val in order:
            if val is not None:
                snr, where = (val if key == KEY_SNR_DB else -10.0 * np.log10(val)), key
                break
    if snr is None:
        snr, where = np.array([float(fallback_db)]), ("fixed" if source == "fixed" else "fallback")
    if snr.size not in (1, b):
        raise PDUError(f"SNR metadata has {snr.size} values for a batch of {b}")
    snr = np.clip(np.broadcast_to(snr, (b,)), *SNR_CLIP_DB)
    return snr.astype(np.float32).reshape(b, 1), where


def apply_erasures(meta: Dict[str, Any], z: np.ndarray) -> Tuple[np.ndarray, int]:
    """Zero the erased symbols of the flat symbol vector ``z``; returns (symbols, n erased).

    ``erasures`` (or the PHY's ``erasure_mask``) is either a mask (u8/bool vector of ``len(z)``,
    non-zero = erased) or a vector of erased symbol indices; indices out of range are a
    :class:`PDUError`.
    """
    key = KEY_ERASURES if KEY_ERASURES in meta else KEY_ERASURE_MASK
    if key not in meta:
        return z, 0
    e = np.atleast_1d(np.asarray(meta[key]))
    if e.size == 0:
        return z, 0
    if e.dtype.kind not in "biuf":
        raise PDUError(f"metadata {key!r} must be a mask or an index vector, got {meta[key]!r}")
    if (e.dtype == np.uint8 or e.dtype == np.bool_) and e.size == z.size:
        mask = e.astype(bool)
    else:
        if e.dtype.kind == "f" and not np.all(np.equal(np.mod(e, 1), 0)):
            raise PDUError(f"metadata {key!r} indices must be integers")
        idx = e.astype(np.int64)
        if idx.min() < 0 or idx.max() >= z.size:
            raise PDUError(f"metadata {key!r} index out of range 0..{z.size - 1}")
        mask = np.zeros(z.size, bool)
        mask[idx] = True
    z = z.copy()
    z[mask] = 0
    return z, int(mask.sum())
