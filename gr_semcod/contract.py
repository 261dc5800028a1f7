"""The wire contract of gr-semcod: PDU metadata keys, port and tag names, the image-id modulus,
and the checks a PDU's metadata must pass.  Pure Python + numpy (no torch, no GNU Radio), so
the PHY, the blocks, the runtime and the tools all import the same names from here.

The PDU formats themselves (which vector, which metadata) are described in ``docs/pdu.md``;
:mod:`gr_semcod.pdu` converts between PMT and the Python dicts these checks take.

Every check raises :class:`PDUError` with a one-line message that names the metadata key (or
the vector) and the value that was expected; the blocks turn it into a drop (logged, counted,
published on ``drop``) and go on with the next PDU.
"""
from __future__ import annotations

from numbers import Integral, Real
from typing import Any, List, Mapping, Optional, Tuple

import numpy as np

# --------------------------------------------------------------------------- metadata keys
KEY_IMAGE_ID = "image_id"  # int (one image) or s64 vector (a batch); 16 bits over the air
KEY_BATCH = "batch"  # images in the PDU (default 1)
KEY_HEIGHT = "height"
KEY_WIDTH = "width"
KEY_CHANNELS = "channels"
KEY_LABEL = "label"  # true class (int or s64 vector)
KEY_N_TOKENS = "n_tokens"
KEY_TOKEN_DIM = "token_dim"
KEY_TOKEN_SIZES = "token_sizes"  # f32, B*N: patches per merged token
KEY_CBR = "cbr"  # text, "1/12"
KEY_N_SYMBOLS = "n_symbols"  # k, channel symbols per image
KEY_CODEC = "codec"
KEY_SNR_DB = "snr_db"
KEY_NOISE_VAR = "noise_var"
KEY_ERASURES = "erasures"  # a u8 mask of B*k or a vector of erased symbol indices
KEY_ERASURE_MASK = "erasure_mask"  # the PHY receiver's u8 mask, exactly B*k long
KEY_N_ERASED = "n_erased"
KEY_LABEL_PRED = "label_pred"
KEY_LABEL_NAME = "label_name"
KEY_TX_TIME = "tx_time"  # time.time() when the source emitted the image (latency)
KEY_SNR_USED = "snr_db_used"  # the SNR the decoder was conditioned on
# written by the PHY receiver (gr_semcod.phy.deframer)
KEY_SYMBOL_NOISE_VAR = "symbol_noise_var"
KEY_N_FRAGMENTS = "n_fragments"
KEY_LOST_FRAGMENTS = "lost_fragments"
KEY_FRAG_IDX = "frag_idx"
KEY_SEQ = "seq"
KEY_RX_OFFSET = "rx_offset"
# a photo of any size (tiled by the codec, carried in every PHY frame header)
KEY_PHOTO_HEIGHT = "photo_height"  # the photo's own size, before tiling / padding (1 .. MAX_PHOTO_SIDE)
KEY_PHOTO_WIDTH = "photo_width"
KEY_MODE = "mode"  # int 0..255, codec-specific (digital: MCS index; semantic2: its own; others 0)
KEY_TILE = "tile"  # tile side S of a tiled photo (the bundle's image size)
KEY_N_TILES = "n_tiles"  # tiles of a photo, rows * cols of the grid
KEY_N_LOST_TILES = "n_lost_tiles"  # tiles whose symbols were all erased (filled with the mean colour)
# the digital baseline (gr_semcod.blocks.digital_encoder / digital_decoder)
KEY_SOURCE_CODEC = "source_codec"  # text: jpeg | webp | avif | heif
KEY_QUALITY = "quality"  # int: the source codec's quality
KEY_FALLBACK = "fallback"  # text: a stand-in image for one that failed ("mean" | "last"); counted by its drop
# the digital receiver's link report (digital_decoder ``snr`` -> digital_encoder ``snr``): snr_db (mean) and
KEY_EFF_SNR_DB = "eff_snr_db"  # f64, one per MCS (mode order): the frame's MIESM effective SNR (dB)
KEY_NOISE_SCALE = "noise_scale"  # float: measured error / reported noise variance of the decoded frame

# --------------------------------------------------------------------------- port names
PORT_IN = "in"
PORT_OUT = "out"
PORT_DROP = "drop"
PORT_REF = "ref"
PORT_METRICS = "metrics"
PORT_IMAGE = "image"
PORT_LABEL = "label"
PORT_SYSTEM = "system"  # GNU Radio's own: the ``done`` message
PORT_FRAMES = "frames"  # the PHY: one PDU per OFDM frame
PORT_IMAGES = "images"  # the PHY receiver: one PDU per reassembled image
PORT_DROPS = "drops"  # the image sink: the ``drop`` messages of upstream blocks (lost-image ledger)
PORT_SNR = "snr"  # the digital link's receiver report, fed back from the decoder to the encoder

# --------------------------------------------------------------------------- stream tags
#: length tag of the OFDM transmitter's tagged stream (and of ``burst_guard``)
TX_LEN_TAG = "semcod_tx_len"

# --------------------------------------------------------------------------- values
CODEC_SEMANTIC = "semantic"
CODEC_DEEPJSCC = "deepjscc"
CODEC_SEMANTIC2 = "semantic2"
CODEC_DIGITAL = "digital"
CODECS = (CODEC_SEMANTIC, CODEC_DEEPJSCC, CODEC_SEMANTIC2, CODEC_DIGITAL)
#: codecs that code a photo as tiles of the bundle's size in ``semcod_tx`` (the others take the photo whole)
TILED_CODECS = (CODEC_SEMANTIC, CODEC_DEEPJSCC)

#: largest photo side the PHY header carries (12 bits, value - 1) and the default photo limit
MAX_PHOTO_SIDE = 4096
MODE_MAX = 255

#: image ids wrap here (the PHY header carries 16 bits)
IMAGE_ID_MODULO = 1 << 16

SNR_SOURCES = ("metadata", "noise_var", "fixed")
#: the decoders clip the SNR they are conditioned on to this range (dB)
SNR_CLIP_DB = (-20.0, 50.0)
#: symbols above this magnitude are refused (transmitted symbols have unit average power)
MAX_SYMBOL_ABS = 1e3
#: received (equalised) symbols may be noisier, but not absurd
MAX_RX_SYMBOL_ABS = 1e6


class PDUError(ValueError):
    """A PDU that a block cannot process; the message is the one-line drop reason."""


# --------------------------------------------------------------------------- scalar entries


def _is_int(v: Any) -> bool:
    return isinstance(v, (Integral, np.integer)) and not isinstance(v, (bool, np.bool_))


def meta_int(meta: Mapping[str, Any], key: str, default: Optional[int] = None) -> Optional[int]:
    """An integer metadata entry, or ``default`` when absent; :class:`PDUError` when malformed."""
    if key not in meta:
        return default
    v = meta[key]
    if _is_int(v):
        return int(v)
    if isinstance(v, (Real, np.floating)) and not isinstance(v, (bool, np.bool_)) and float(v).is_integer():
        return int(v)
    raise PDUError(f"metadata {key!r} must be an integer, got {v!r}")


def meta_float(meta: Mapping[str, Any], key: str) -> Optional[np.ndarray]:
    """A scalar or vector float metadata entry as a finite float64 array, None when absent."""
    if key not in meta:
        return None
    v = meta[key]
    if isinstance(v, (str, bytes, bool, np.bool_)):
        raise PDUError(f"metadata {key!r} must be a number or a float vector, got {v!r}")
    try:
        a = np.asarray(v, np.float64).ravel()
    except (TypeError, ValueError):
        raise PDUError(f"metadata {key!r} must be a number or a float vector, got {v!r}") from None
    if a.size == 0 or not np.all(np.isfinite(a)):
        raise PDUError(f"metadata {key!r} must be finite, got {v!r}")
    return a


def meta_ints(meta: Mapping[str, Any], key: str, n: Optional[int] = None) -> Optional[List[int]]:
    """An int or int-vector entry (``label``, ``label_pred``) as a list of ``n`` ints (one value is
    repeated), None when absent; :class:`PDUError` naming the key otherwise."""
    if key not in meta:
        return None
    v = meta[key]
    a = np.atleast_1d(np.asarray(v)) if not isinstance(v, (str, bytes, dict)) else None
    if a is None or a.ndim != 1 or a.size == 0 or not (a.dtype.kind in "iu" or (
            a.dtype.kind == "f" and np.all(np.isfinite(a)) and np.all(np.mod(a, 1) == 0))):
        raise PDUError(f"metadata {key!r} must be an int or a vector of ints, got {v!r}")
    if n is not None and a.size not in (1, n):
        raise PDUError(f"metadata {key!r} has {a.size} values, expected 1 or {n}")
    vals = [int(x) for x in a]
    return vals * n if n is not None and len(vals) == 1 else vals


def meta_dims(meta: Mapping[str, Any], expect: Tuple[int, int, int]) -> Tuple[int, int, int]:
    """``(height, width, channels)`` of an image PDU, each defaulting to ``expect``'s."""
    h, w, c = expect
    return meta_int(meta, KEY_HEIGHT, h), meta_int(meta, KEY_WIDTH, w), meta_int(meta, KEY_CHANNELS, c)


# --------------------------------------------------------------------------- image ids


def image_ids(meta: Mapping[str, Any], batch: int) -> List[Optional[int]]:
    """The ``image_id`` entry as a list of ``batch`` ints (Nones when absent).

    A single id for a batch counts up (``id, id+1, ...``); a vector must hold ``batch`` ints.
    Text, floats with a fraction, or a vector of the wrong length are a :class:`PDUError`.
    """
    if KEY_IMAGE_ID not in meta or meta[KEY_IMAGE_ID] is None:
        return [None] * batch
    v = meta[KEY_IMAGE_ID]
    if _is_int(v):
        return [int(v) + i for i in range(batch)]
    a = np.asarray(v) if isinstance(v, (np.ndarray, list, tuple)) else None
    if a is None or a.dtype.kind not in "iu" or a.ndim > 1:
        raise PDUError(f"metadata {KEY_IMAGE_ID!r} must be an int or a vector of {batch} ints, got {v!r}")
    if a.size == 1:
        return [int(a[0]) + i for i in range(batch)]
    if a.size != batch:
        raise PDUError(f"metadata {KEY_IMAGE_ID!r} has {a.size} ids, expected {batch} (one per image)")
    return [int(x) for x in a]


def id_for_log(meta: Any):
    """``image_id`` for a log line: an int, a list, or None (never raises)."""
    v = meta.get(KEY_IMAGE_ID) if isinstance(meta, dict) else None
    if v is None:
        return None
    try:
        a = np.atleast_1d(np.asarray(v))
        if a.dtype.kind not in "iu":
            return None
        return int(a[0]) if a.size == 1 else [int(x) for x in a.ravel()]
    except (TypeError, ValueError):
        return None


# --------------------------------------------------------------------------- PDU vs metadata


def check_batch(meta: Mapping[str, Any], n: int, item: int, what: str, item_text: str = "") -> int:
    """The batch ``B`` of a vector of ``n`` elements, ``item`` per image; :class:`PDUError` if
    ``n`` is not a positive multiple of ``item`` or disagrees with the ``batch`` entry."""
    if n == 0 or n % item:
        raise PDUError(f"{what}: PDU has {n} items, expected a positive multiple of {item}{item_text}")
    b = n // item
    want = meta_int(meta, KEY_BATCH, b)
    if want != b:
        raise PDUError(f"{what}: metadata {KEY_BATCH}={want} but the PDU holds {b} items of {item}")
    return b


def check_image(meta: Mapping[str, Any], n_bytes: int, dims: Tuple[int, int, int], what: str = "image") -> int:
    """Batch of an image PDU of ``n_bytes`` for images of ``dims = (H, W, C)``.

    ``height``/``width``/``channels``, when present, must equal ``dims``.  A PDU holding more
    than one image must say so -- ``batch`` or ``height``/``width`` -- so that a larger image
    without metadata (64x64 = four 32x32 images' bytes) is refused, not misread as a batch.
    """
    h, w, c = dims
    got = meta_dims(meta, dims)
    if got != (h, w, c):
        for key, g, e in zip((KEY_HEIGHT, KEY_WIDTH, KEY_CHANNELS), got, (h, w, c)):
            if g != e:
                raise PDUError(f"{what}: metadata {key}={g}, expected {key}={e} "
                               f"(image is {got[0]}x{got[1]}x{got[2]}, the bundle expects {h}x{w}x{c})")
    b = check_batch(meta, n_bytes, h * w * c, what, f" ({h}x{w}x{c} bytes per image)")
    says_size = KEY_HEIGHT in meta and KEY_WIDTH in meta
    if b > 1 and KEY_BATCH not in meta and not says_size:
        raise PDUError(f"{what}: {n_bytes} bytes without {KEY_HEIGHT!r}/{KEY_WIDTH!r} or {KEY_BATCH!r} metadata; "
                       f"expected {h * w * c} bytes for one {h}x{w}x{c} image")
    return b


def check_symbols(z: np.ndarray, what: str = "symbols", max_abs: float = MAX_SYMBOL_ABS) -> None:
    """Symbols must be finite and at most ``max_abs`` in magnitude (unit average power expected)."""
    if not np.all(np.isfinite(z)):
        raise PDUError(f"{what}: not finite (expected finite complex symbols)")
    if z.size:
        peak = float(np.max(np.abs(z)))
        if peak > max_abs:
            raise PDUError(f"{what}: magnitude {peak:.3g} exceeds {max_abs:g} (expected unit average power)")


def check_n_symbols(meta: Mapping[str, Any], n: int, b: int) -> None:
    """An ``n_symbols`` entry, when present, must be the per-image count ``n / b``."""
    k = meta_int(meta, KEY_N_SYMBOLS)
    if k is not None and k * b != n:
        raise PDUError(f"metadata {KEY_N_SYMBOLS}={k} but the PDU holds {n} symbols for {b} image(s); "
                       f"expected {KEY_N_SYMBOLS}={n // b}")


def check_per_item(meta: Mapping[str, Any], key: str, expect: int) -> None:
    """A vector entry (e.g. ``token_sizes``), when present, must hold exactly ``expect`` values."""
    if key in meta:
        n = np.size(meta[key])
        if n != expect:
            raise PDUError(f"metadata {key!r} has {n} values, expected {expect}")


# --------------------------------------------------------------------------- receiver metadata


def snr_from_meta(meta: Mapping[str, Any], b: int, fallback_db: float, source: str = "metadata") -> Tuple[np.ndarray, str]:
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
        raise PDUError(f"SNR metadata has {snr.size} values, expected 1 or {b} (one per image)")
    snr = np.clip(np.broadcast_to(snr, (b,)), *SNR_CLIP_DB)
    return snr.astype(np.float32).reshape(b, 1), where


def erasure_mask(meta: Mapping[str, Any], n: int) -> Optional[np.ndarray]:
    """The erased symbols of a PDU of ``n`` symbols as a bool mask, None when nothing is erased.

    ``erasure_mask`` (the PHY's) must be a mask of exactly ``n`` entries.  ``erasures`` is a
    mask of ``n`` u8/bool entries or a vector of erased symbol indices in ``0 .. n-1``.
    """
    key = KEY_ERASURES if KEY_ERASURES in meta else KEY_ERASURE_MASK
    if key not in meta:
        return None
    raw = meta[key]
    e = np.atleast_1d(np.asarray(raw)) if not isinstance(raw, (str, bytes, dict)) else None
    if e is None or e.dtype.kind not in "biuf" or e.ndim != 1:
        raise PDUError(f"metadata {key!r} must be a mask or an index vector, got {raw!r}")
    if e.size == 0:
        return None
    if key == KEY_ERASURE_MASK:
        if e.size != n:
            raise PDUError(f"metadata {key!r} has {e.size} entries, expected {n} (one per symbol)")
        if e.dtype.kind == "f" and not np.all(np.isin(e, (0.0, 1.0))):
            raise PDUError(f"metadata {key!r} must hold 0/1 entries")
        return e.astype(bool)
    if (e.dtype == np.uint8 or e.dtype == np.bool_) and e.size == n:
        return e.astype(bool)
    if e.dtype.kind == "f" and not np.all(np.equal(np.mod(e, 1), 0)):
        raise PDUError(f"metadata {key!r} indices must be integers")
    idx = e.astype(np.int64)
    if idx.min() < 0 or idx.max() >= n:
        raise PDUError(f"metadata {key!r} index out of range 0..{n - 1}")
    mask = np.zeros(n, bool)
    mask[idx] = True
    return mask


def apply_erasures(meta: Mapping[str, Any], z: np.ndarray) -> Tuple[np.ndarray, int]:
    """Zero the erased symbols (:func:`erasure_mask`) of the flat vector ``z``; returns (symbols, n erased)."""
    mask = erasure_mask(meta, z.size)
    if mask is None:
        return z, 0
    z = z.copy()
    z[mask] = 0
    return z, int(mask.sum())


def photo_size(meta: Mapping[str, Any]) -> Optional[Tuple[int, int]]:
    """``(photo_height, photo_width)`` of a PDU, None when absent; :class:`PDUError` when malformed
    or outside ``1 .. MAX_PHOTO_SIDE``."""
    ph, pw = meta_int(meta, KEY_PHOTO_HEIGHT), meta_int(meta, KEY_PHOTO_WIDTH)
    if ph is None and pw is None:
        return None
    if ph is None or pw is None:
        raise PDUError(f"metadata has only one of {KEY_PHOTO_HEIGHT!r}/{KEY_PHOTO_WIDTH!r}")
    for key, v in ((KEY_PHOTO_HEIGHT, ph), (KEY_PHOTO_WIDTH, pw)):
        if not 1 <= v <= MAX_PHOTO_SIDE:
            raise PDUError(f"metadata {key}={v} outside 1..{MAX_PHOTO_SIDE}")
    return ph, pw


def unwrap_id(key: int, near: int) -> int:
    """The id ``u = key (mod 65536)`` nearest to ``near``: a running count from 16-bit ids.

    ``d = (key - near) mod M``, shifted into ``[-M/2, M/2)``; ``u = near + d``.
    """
    d = (int(key) - int(near)) % IMAGE_ID_MODULO
    if d >= IMAGE_ID_MODULO // 2:
        d -= IMAGE_ID_MODULO
    return int(near) + d



#: the constants (upper case) and the functions / classes defined here
__all__ = sorted(n for n, v in list(globals().items()) if not n.startswith("_")
                 and (n.isupper() or getattr(v, "__module__", None) == __name__))
