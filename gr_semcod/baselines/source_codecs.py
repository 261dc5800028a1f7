"""Image source codecs as *payloads*: the entropy-coded bytes a link must carry, and back.

A receiver that knows the image size, the codec and its quality (1 byte in the digital link's
frame header) rebuilds the rest of the file itself, so only the payload is sent:

=========  =========================================================  ==========================
codec      payload (what is sent)                                     rebuilt by the receiver
=========  =========================================================  ==========================
``jpeg``   the scan (between the SOS header and EOI), standard        JFIF/DQT/SOF/DHT/SOS of
           Huffman tables (``optimize=False``)                        the same size and quality
``webp``   the VP8 chunk payload (holds the frame size itself)        the 20-byte RIFF header
``avif``   the ``mdat`` payload (AV1 OBUs; Pillow >= 11.3)            ``ftyp``/``meta`` of the
``heif``   the ``mdat`` payload (HEVC intra, x265 via pillow-heif:    same size and quality, the
           BPG's codec in the HEIF container)                         ``iloc`` extent patched
=========  =========================================================  ==========================

The headers a receiver rebuilds come from a *template*: a flat grey image coded at the same size
and quality (:func:`template`); for HEIF/AVIF only ``iloc``'s extent length and the ``mdat`` box
size differ between images, and :func:`rebuild` patches them.  The tests check
``rebuild(payload(file)) == file`` byte for byte.
"""
from __future__ import annotations

import io
import struct
from functools import lru_cache
from typing import Dict, Optional, Tuple

import numpy as np
from PIL import Image

#: every codec this module knows; :func:`available` says which ones this Pillow can run
CODECS = ("jpeg", "webp", "avif", "heif")
QUALITY_RANGE: Dict[str, Tuple[int, int]] = {"jpeg": (1, 100), "webp": (0, 100), "avif": (0, 100), "heif": (0, 100)}
#: AVIF encoder speed (0 slowest/best .. 10); HEIF uses x265's default preset
AVIF_SPEED = 6


class CodecUnavailable(RuntimeError):
    """The codec's Pillow plugin is not installed (``pip install pillow-heif``; Pillow >= 11.3 for AVIF)."""


@lru_cache(maxsize=None)
def unavailable_reason(codec: str) -> Optional[str]:
    """None when this Python can encode ``codec``; else why not (a missing plugin, or the error
    the codec raised on a test image -- so that a broken codec is not taken for a missing one)."""
    try:
        _register(codec)
        encode_file(np.full((8, 8, 3), 128, np.uint8), codec, 50)
        return None
    except Exception as e:  # noqa: BLE001 - reported by the caller with its text
        return f"{type(e).__name__}: {e}"


def available(codec: str) -> bool:
    """True when this Python can encode and decode ``codec``."""
    return unavailable_reason(codec) is None


def _register(codec: str) -> None:
    if codec not in CODECS:
        raise ValueError(f"codec must be one of {CODECS}, got {codec!r}")
    if codec == "heif":
        try:
            import pillow_heif
        except ImportError as e:
            raise CodecUnavailable("heif needs pillow-heif (pip install pillow-heif)") from e
        pillow_heif.register_heif_opener()
    elif codec == "avif":
        from PIL import features

        if not features.check("avif"):
            raise CodecUnavailable(f"avif needs Pillow >= 11.3 built with libavif (this is Pillow {Image.__version__})")


def encode_file(image: np.ndarray, codec: str, quality: int, optimize: bool = False) -> bytes:
    """The complete file of one uint8 ``H x W x 3`` image at ``quality``.  ``optimize``: JPEG with
    Huffman tables optimised for the image (a smaller file; the payload then needs its tables, so
    the link uses the standard ones)."""
    _register(codec)
    im = Image.fromarray(np.ascontiguousarray(image, np.uint8))
    buf = io.BytesIO()
    if codec == "jpeg":
        im.save(buf, "JPEG", quality=int(quality), optimize=bool(optimize))
    elif codec == "webp":
        im.save(buf, "WEBP", quality=int(quality), method=6)
    elif codec == "avif":
        im.save(buf, "AVIF", quality=int(quality), speed=AVIF_SPEED, subsampling="4:2:0")
    else:
        im.save(buf, "HEIF", quality=int(quality))
    return buf.getvalue()


def decode_file(data: bytes, codec: str) -> np.ndarray:
    """A file back to uint8 ``H x W x 3``."""
    _register(codec)
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"), np.uint8)


# --------------------------------------------------------------------------- payload <-> file


def _boxes(data: bytes, start: int = 0, end: int = None):
    """ISO-BMFF boxes ``(type, start, payload start, end)`` of ``data[start:end]``."""
    end = len(data) if end is None else end
    i = start
    while i + 8 <= end:
        size, typ = struct.unpack(">I4s", data[i:i + 8])
        head = 8
        if size == 1:
            size, head = struct.unpack(">Q", data[i + 8:i + 16])[0], 16
        elif size == 0:
            size = end - i
        if size < head or i + size > end:
            raise ValueError(f"malformed box {typ!r} at {i}")
        yield typ, i, i + head, i + size
        i += size


def _find(data: bytes, typ: bytes, start: int = 0, end: int = None):
    for t, s, p, e in _boxes(data, start, end):
        if t == typ:
            return s, p, e
    raise ValueError(f"no {typ.decode()} box")


def _iloc_extent_field(data: bytes) -> Tuple[int, int]:
    """``(byte offset, width)`` of the single extent-length field in ``meta/iloc``.

    ``iloc`` (ISO/IEC 14496-12 8.11.3): version, flags, offset/length/base-offset(/index) sizes
    in nibbles, item count, then per item: id, [construction method], data reference index,
    base offset, extent count, extents (index, offset, length).
    """
    _, mp, me = _find(data, b"meta")
    _, p, e = _find(data, b"iloc", mp + 4, me)  # meta is a full box: 4 bytes version/flags
    version = data[p]
    q = p + 4
    off_sz, len_sz = data[q] >> 4, data[q] & 15
    base_sz, idx_sz = data[q + 1] >> 4, (data[q + 1] & 15 if version in (1, 2) else 0)
    q += 2
    count, q = (struct.unpack(">H", data[q:q + 2])[0], q + 2) if version < 2 else (struct.unpack(">I", data[q:q + 4])[0], q + 4)
    fields = []
    for _ in range(count):
        q += 2 if version < 2 else 4  # item id
        if version in (1, 2):
            q += 2  # construction method
        q += 2 + base_sz  # data reference index, base offset
        n_ext = struct.unpack(">H", data[q:q + 2])[0]
        q += 2
        for _ in range(n_ext):
            q += idx_sz + off_sz
            fields.append((q, len_sz))
            q += len_sz
    if len(fields) != 1 or fields[0][1] not in (4, 8):
        raise ValueError(f"iloc has {len(fields)} extents; expected one image extent")
    return fields[0]


def payload(data: bytes, codec: str) -> bytes:
    """The bytes of ``data`` (a file from :func:`encode_file`) that a link sends."""
    if codec == "jpeg":
        i = data.rfind(b"\xff\xda")
        end = data.rfind(b"\xff\xd9")
        if i < 0 or end < i:
            raise ValueError("not a baseline JPEG file (no SOS / EOI)")
        return data[i + 2 + int.from_bytes(data[i + 2:i + 4], "big"):end]
    if codec == "webp":
        if data[:4] != b"RIFF" or data[8:16] != b"WEBPVP8 ":
            raise ValueError("not a simple lossy WebP file (RIFF/WEBP/VP8 )")
        n = int.from_bytes(data[16:20], "little")
        return data[20:20 + n]
    if codec in ("avif", "heif"):
        _, p, e = _find(data, b"mdat")
        return data[p:e]
    raise ValueError(f"codec must be one of {CODECS}, got {codec!r}")


@lru_cache(maxsize=512)
def template(codec: str, height: int, width: int, quality: int) -> bytes:
    """The file of a flat grey image of this size and quality: the receiver's header source."""
    return encode_file(np.full((int(height), int(width), 3), 128, np.uint8), codec, int(quality))


def rebuild(body: bytes, codec: str, height: int, width: int, quality: int) -> bytes:
    """The complete file around a payload ``body`` (inverse of :func:`payload`)."""
    t = template(codec, height, width, quality)
    if codec == "jpeg":
        i = t.rfind(b"\xff\xda")
        return t[:i + 2 + int.from_bytes(t[i + 2:i + 4], "big")] + body + b"\xff\xd9"
    if codec == "webp":
        pad = b"\x00" * (len(body) & 1)
        return (b"RIFF" + struct.pack("<I", 12 + len(body) + len(pad)) + b"WEBPVP8 " + struct.pack("<I", len(body))
                + body + pad)
    if codec in ("avif", "heif"):
        s, p, _ = _find(t, b"mdat")
        if p - s != 8:
            raise ValueError("template mdat uses a large-size header")
        at, width_b = _iloc_extent_field(t)
        head = bytearray(t[:s])
        head[at:at + width_b] = len(body).to_bytes(width_b, "big")
        return bytes(head) + struct.pack(">I4s", 8 + len(body), b"mdat") + body
    raise ValueError(f"codec must be one of {CODECS}, got {codec!r}")


def encode(image: np.ndarray, codec: str, quality: int) -> bytes:
    """One uint8 ``H x W x 3`` image -> its payload at ``quality``."""
    return payload(encode_file(image, codec, quality), codec)


def decode(body: bytes, codec: str, height: int, width: int, quality: int) -> np.ndarray:
    """A payload back to a uint8 ``height x width x 3`` image (raises on a corrupt payload)."""
    out = decode_file(rebuild(body, codec, height, width, quality), codec)
    if out.shape != (height, width, 3):
        raise ValueError(f"{codec} payload decoded to {out.shape}, expected {(height, width, 3)}")
    return out
