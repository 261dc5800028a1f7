"""The digital link of one image: source payload -> frame (header + CRC-32) -> 802.16e LDPC ->
QAM symbols, and back.  Pure numpy + Pillow + commpy; the GNU Radio blocks and ``semcod eval``
share it.

Per image the link has exactly ``k`` channel uses (the CBR's, as the JSCC codecs):

1. **Layout** (:func:`layout`).  ``k * log2(M)`` coded bits hold ``n_full`` codewords of the
   MCS's 802.16e code and, when at least :data:`MIN_SHORT_INFO` information bits are left, one
   *shortened* codeword (its first ``s`` information bits are known zeros, not sent).  Unused
   channel uses stay empty (zero symbols; their power is not used to boost the rest).  The
   coded bits are scrambled (:func:`scrambler`) before QAM mapping.
2. **Frame** (:func:`frame`), all charged to the budget::

       quality (8 bits) | payload length in bytes (24 bits) | payload | CRC-32 (32 bits) | zeros

   The CRC (``binascii.crc32``) covers the header and the payload.  The MCS index (``mode``)
   and the image size travel in the PHY header / PDU metadata, not in the frame.
3. **Source** (:class:`PayloadSearch`).  The highest codec quality whose payload
   (:mod:`.source_codecs`) fits ``info_bits - FRAME_BITS`` (binary search on quality); when
   even the lowest does not fit, nothing is sent (``no_fit``) and the receiver shows its fallback.
4. **Receiver** (:func:`decode_bits` / :func:`unframe`).  Exact LLRs from the equalised symbols
   and their per-symbol noise variance, sum-product decoding, the CRC check; a frame whose CRC
   fails is a *failure* (never shown).
"""
from __future__ import annotations

import binascii
from dataclasses import dataclass
from functools import lru_cache
from typing import Dict, Optional, Tuple

import numpy as np

from . import source_codecs
from .mcs import MCS
from .modem import demodulate_llr, modulate
from .separation import QualitySearch

#: frame header (quality byte + 24-bit length) and CRC-32, in bits
HEADER_BITS = 32
CRC_BITS = 32
FRAME_BITS = HEADER_BITS + CRC_BITS
#: a shortened last codeword is used only when it carries at least this many information bits
MIN_SHORT_INFO = 64
#: the largest payload the 24-bit length field can say (bytes)
MAX_PAYLOAD_BYTES = (1 << 24) - 1


@dataclass(frozen=True)
class Layout:
    """Codewords of one image's ``n_symbols`` channel uses under ``mcs``."""

    mcs: MCS
    n_symbols: int
    n_full: int        # full codewords
    shorten: int       # bits the last codeword is shortened by (-1: no shortened codeword)

    @property
    def n_codewords(self) -> int:
        return self.n_full + (self.shorten >= 0)

    @property
    def info_bits(self) -> int:
        k = self.mcs.code.k
        return self.n_full * k + (k - self.shorten if self.shorten >= 0 else 0)

    @property
    def coded_bits(self) -> int:
        n = self.mcs.code.n
        return self.n_full * n + (n - self.shorten if self.shorten >= 0 else 0)

    @property
    def used_symbols(self) -> int:
        return self.coded_bits // self.mcs.bits_per_symbol

    @property
    def payload_bytes(self) -> int:
        """The largest source payload that fits (bytes), 0 when the frame does not fit."""
        return max(0, min(MAX_PAYLOAD_BYTES, (self.info_bits - FRAME_BITS) // 8))


def layout(n_symbols: int, mcs: MCS) -> Layout:
    """Full 802.16e codewords, then one shortened codeword if it carries >= MIN_SHORT_INFO bits."""
    code, m = mcs.code, mcs.bits_per_symbol
    n_avail = int(n_symbols) * m
    n_full, rest = divmod(n_avail, code.n)
    rest -= rest % m  # whole symbols
    short_info = code.k - (code.n - rest)
    shorten = code.n - rest if short_info >= MIN_SHORT_INFO else -1
    return Layout(mcs, int(n_symbols), int(n_full), int(shorten))


# --------------------------------------------------------------------------- frame


def _bits(data: bytes) -> np.ndarray:
    return np.unpackbits(np.frombuffer(data, np.uint8))


def frame(payload: bytes, quality: int, info_bits: int) -> np.ndarray:
    """``info_bits`` bits (uint8): header, payload, CRC-32, zero padding (see the module docstring)."""
    if len(payload) > MAX_PAYLOAD_BYTES or not 0 <= int(quality) <= 255:
        raise ValueError(f"payload of {len(payload)} bytes / quality {quality} does not fit the frame header")
    head = bytes([int(quality)]) + len(payload).to_bytes(3, "big")
    body = head + payload
    bits = _bits(body + binascii.crc32(body).to_bytes(4, "big"))
    if len(bits) > info_bits:
        raise ValueError(f"frame of {len(bits)} bits exceeds the {info_bits} information bits")
    out = np.zeros(int(info_bits), np.uint8)
    out[:len(bits)] = bits
    return out


def unframe(bits: np.ndarray) -> Optional[Tuple[int, bytes]]:
    """``(quality, payload)`` of a received frame, or None when the length or the CRC is wrong."""
    bits = np.asarray(bits, np.uint8).ravel()
    if len(bits) < FRAME_BITS:
        return None
    data = np.packbits(bits[: len(bits) // 8 * 8]).tobytes()
    n = int.from_bytes(data[1:4], "big")
    if 4 + n + 4 > len(data):
        return None
    body, crc = data[:4 + n], data[4 + n:8 + n]
    if binascii.crc32(body).to_bytes(4, "big") != crc:
        return None
    return data[0], body[4:]


# --------------------------------------------------------------------------- channel coding


@lru_cache(maxsize=16)
def scrambler(n: int) -> np.ndarray:
    """``n`` bits of the IEEE 802.11 scrambler ``x^7 + x^4 + 1`` (state all ones): the bits of the
    PHY's pilot polarity sequence (:func:`gr_semcod.phy.params.pilot_polarity`, ``+-1 = 1 - 2 b``),
    one LFSR for both, period 127.

    The coded bits are XORed with it so that the zero padding of a frame does not become a
    run of one constellation point (unit average power, no spectral lines)."""
    from ..phy.params import pilot_polarity

    period = ((1.0 - pilot_polarity(127)) / 2.0).astype(np.uint8)
    return np.resize(period, int(n))


def encode_bits(info: np.ndarray, lay: Layout) -> np.ndarray:
    """``(B, info_bits)`` -> ``(B, n_symbols)`` complex symbols (unit power; unused ones zero)."""
    info = np.asarray(info, np.uint8).reshape(-1, lay.info_bits)
    code, mcs = lay.mcs.code, lay.mcs
    parts = []
    if lay.n_full:
        u = info[:, : lay.n_full * code.k].reshape(-1, code.k)
        parts.append(code.encode(u).reshape(info.shape[0], -1))
    if lay.shorten >= 0:
        parts.append(code.encode_shortened(info[:, lay.n_full * code.k:], lay.shorten))
    coded = np.concatenate(parts, axis=1) ^ scrambler(lay.coded_bits)
    sym = np.zeros((info.shape[0], lay.n_symbols), np.complex128)
    sym[:, : lay.used_symbols] = modulate(coded, mcs.order)
    return sym


def decode_bits(y: np.ndarray, noise_var, lay: Layout, iters: int = 50) -> np.ndarray:
    """Equalised symbols ``(B, n_symbols)`` and their noise variance (scalar, per image or per
    symbol) -> hard information bits ``(B, info_bits)`` after sum-product decoding."""
    y = np.asarray(y).reshape(-1, lay.n_symbols)
    b = y.shape[0]
    nv = np.asarray(noise_var, np.float64)
    if nv.size == y.size:
        nv = nv.reshape(y.shape)
    elif nv.size in (1, b):
        nv = np.broadcast_to(nv.reshape(-1, 1), y.shape)
    else:
        raise ValueError(f"noise_var has {nv.size} values, expected 1, {b} or {y.size}")
    u = lay.used_symbols
    llr = demodulate_llr(y[:, :u], lay.mcs.order, nv[:, :u])  # (B, coded_bits)
    llr = np.where(scrambler(lay.coded_bits).astype(bool), -llr, llr)  # descramble
    code = lay.mcs.code
    out = []
    if lay.n_full:
        full = llr[:, : lay.n_full * code.n].reshape(-1, code.n)
        hard, _ = code.decode(full, iters)
        out.append(code.info(hard).reshape(b, -1))
    if lay.shorten >= 0:
        info, _ = code.decode_shortened(llr[:, lay.n_full * code.n:], lay.shorten, iters)
        out.append(info)
    return np.concatenate(out, axis=1).astype(np.uint8)


# --------------------------------------------------------------------------- source


class PayloadSearch(QualitySearch):
    """``quality -> (payload bits, decoded image)`` of one image (memoised), payload bytes kept."""

    def __init__(self, image: np.ndarray, codec: str):
        super().__init__(image, codec, header=False)
        self.payloads: Dict[int, bytes] = {}

    def at(self, q: int):
        if q not in self._memo:
            body = source_codecs.encode(self.image, self.codec, q)
            h, w = self.image.shape[:2]
            self.payloads[q] = body
            self._memo[q] = (8 * len(body), source_codecs.decode(body, self.codec, h, w, q))
        return self._memo[q]

    def best_payload(self, max_bytes: int) -> Optional[Tuple[int, bytes, np.ndarray]]:
        """``(quality, payload, decoded)`` of the best quality within ``max_bytes``, or None."""
        if max_bytes <= 0:
            return None
        hit = self.best_under(8 * max_bytes)
        if hit is None:
            return None
        q, _, dec = hit
        return q, self.payloads[q], dec


def encode_image(image: np.ndarray, n_symbols: int, mcs: MCS, codec: str,
                 search: Optional[PayloadSearch] = None) -> Tuple[Optional[np.ndarray], Dict]:
    """One uint8 image -> ``(symbols (n_symbols,) complex or None when nothing fits, info)``."""
    lay = layout(n_symbols, mcs)
    search = search or PayloadSearch(np.asarray(image, np.uint8), codec)
    hit = search.best_payload(lay.payload_bytes)
    info = {"layout": lay, "quality": -1, "payload_bytes": 0}
    if hit is None:
        return None, info
    q, body, _ = hit
    info.update(quality=q, payload_bytes=len(body))
    return encode_bits(frame(body, q, lay.info_bits), lay)[0], info


def decode_image(y: np.ndarray, noise_var, height: int, width: int, mcs: MCS, codec: str,
                 iters: int = 50) -> Tuple[Optional[np.ndarray], Dict]:
    """Equalised symbols of one image -> ``(uint8 image or None on failure, info)``.

    ``info["reason"]`` says why a frame failed (CRC, or a payload the codec refused)."""
    lay = layout(len(np.ravel(y)), mcs)
    if lay.payload_bytes == 0:
        return None, {"layout": lay, "reason": "no frame fits this budget"}
    bits = decode_bits(np.ravel(y)[None], noise_var, lay, iters)[0]
    got = unframe(bits)
    if got is None:
        return None, {"layout": lay, "reason": "CRC-32 mismatch", "bits": bits}
    q, body = got
    try:
        img = source_codecs.decode(body, codec, int(height), int(width), q)
    except Exception as e:  # noqa: BLE001 - a payload that passed the CRC but does not decode
        return None, {"layout": lay, "reason": f"{codec} payload does not decode: {e}", "quality": q, "bits": bits}
    return img, {"layout": lay, "quality": q, "payload": body, "bits": bits}


def link_report(y: np.ndarray, noise_var, bits: np.ndarray, lay: Layout, table) -> Dict:
    """The receiver's report of one decoded frame (equalised symbols ``y``, their noise variance,
    the decoded information ``bits``): ``noise_scale`` (:func:`.esm.noise_scale` of the re-encoded
    bits on the used, finite-noise symbols) and ``eff_snr_db`` (one per entry of ``table``, the
    MIESM effective SNR of the scaled noise variances)."""
    from .esm import noise_scale
    from .mcs import effective_snrs_by_mode

    u = lay.used_symbols
    y = np.ravel(y)[:u]
    nv = np.broadcast_to(np.asarray(noise_var, np.float64).ravel(), (lay.n_symbols,))[:u]
    ok = nv < 1e6  # erased symbols carry no information about the channel
    if not ok.any():
        raise ValueError("every symbol of the frame is erased")
    x_hat = encode_bits(np.asarray(bits, np.uint8)[None], lay)[0, :u]
    r = noise_scale(y[ok], x_hat[ok], nv[ok])
    return {"noise_scale": r, "eff_snr_db": effective_snrs_by_mode(nv[ok] * r, table)}
