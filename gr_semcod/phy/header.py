"""Frame header of the analog OFDM PHY: fields, CRC-16, BPSK mapping (pure numpy).

Layout (128 bits, MSB first; K=7 rate-1/2 convolutional code (gr-fec) -> 268 code bits, BPSK,
every code bit sent ``reps`` times (default 2), interleaved over the data carriers of
``ceil(268 * reps / n_data)`` OFDM symbols (twelve with 48 data carriers), see :class:`HeaderLayout`)::

    bits   field        meaning
    8      seq          frame sequence number (mod 256), counted by the transmitter
    16     image_id     image identifier (mod 65536), from the PDU metadata
    10     frag_idx     fragment index within the image (0 .. n_frags-1)
    10     n_frags      number of fragments of the image (1 .. 1023)
    22     image_len    total complex symbols of the image (1 .. 4194303)
    14     payload_len  complex symbols carried by this frame (1 .. 16383)
    12     photo_height the photo's own height - 1 (1 .. 4096; tiles, padding not counted)
    12     photo_width  the photo's own width - 1 (1 .. 4096)
    8      mode         codec-specific (0 .. 255; digital: MCS index, semantic2: its own, others 0)
    16     crc          CRC-16/CCITT-FALSE over the 112 bits above (14 bytes)

The photo fields travel in every frame, so any one received fragment tells the receiver the size
of the photo it belongs to.  A 1 x 1 photo is what the transmitter sends when its PDU says no size
(no ``photo_height``/``photo_width`` nor ``height``/``width``): the receiver reports it as absent
(:attr:`Header.photo`).

Fragmentation is even: ``n_frags = ceil(image_len / max_payload)``, every fragment but the
last has ``frag_len = ceil(image_len / n_frags)`` symbols, so a receiver that lost fragments
still knows where every symbol belongs (:func:`fragment_bounds`).  The header is
self-consistent or rejected: a passing CRC with impossible fields (fragment index past the
count, payload length that does not match the fragment's bounds) also counts as a bad header.

BPSK mapping: bit 0 -> +1, bit 1 -> -1 (the same as ``commpy.modulation.PSKModem(2)``).
"""
from __future__ import annotations

import binascii
from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

from ..contract import MAX_PHOTO_SIDE  # 4096: the 12-bit photo fields hold 1 .. MAX_PHOTO_SIDE

HEADER_FIELDS = (("seq", 8), ("image_id", 16), ("frag_idx", 10), ("n_frags", 10),
                 ("image_len", 22), ("payload_len", 14), ("photo_height", 12), ("photo_width", 12), ("mode", 8))
#: fields sent as value - 1 (so that 12 bits hold 1 .. 4096)
MINUS_ONE_FIELDS = ("photo_height", "photo_width")
HEADER_PAYLOAD_BITS = sum(w for _, w in HEADER_FIELDS)  # 112
HEADER_BITS = HEADER_PAYLOAD_BITS + 16  # 128
MAX_PAYLOAD_LEN = (1 << 14) - 1
MAX_IMAGE_LEN = (1 << 22) - 1
MAX_FRAGMENTS = (1 << 10) - 1
MAX_MODE = (1 << 8) - 1  # the contract's MODE_MAX


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no final xor): ``binascii.crc_hqx``."""
    return binascii.crc_hqx(bytes(data), 0xFFFF)


@dataclass
class Header:
    seq: int
    image_id: int
    frag_idx: int
    n_frags: int
    image_len: int
    payload_len: int
    photo_height: int = 1
    photo_width: int = 1
    mode: int = 0

    @property
    def photo(self) -> Optional[Tuple[int, int]]:
        """``(photo_height, photo_width)``, None for the 1 x 1 "no size given"."""
        return None if (self.photo_height, self.photo_width) == (1, 1) else (self.photo_height, self.photo_width)

    def check(self) -> Optional[str]:
        """None if the fields are consistent, else the reason."""
        if not 1 <= self.n_frags <= MAX_FRAGMENTS:
            return "n_frags out of range"
        if not 0 <= self.frag_idx < self.n_frags:
            return "frag_idx >= n_frags"
        if not 1 <= self.image_len <= MAX_IMAGE_LEN or self.image_len < self.n_frags:
            return "image_len out of range"
        lo, hi = fragment_bounds(self.image_len, self.n_frags, self.frag_idx)
        if self.payload_len != hi - lo:
            return "payload_len does not match the fragment bounds"
        return None


def fragment_len(image_len: int, n_frags: int) -> int:
    return -(-int(image_len) // int(n_frags))


def fragment_bounds(image_len: int, n_frags: int, frag_idx: int) -> Tuple[int, int]:
    """Symbol range ``[lo, hi)`` of fragment ``frag_idx`` in the image."""
    f = fragment_len(image_len, n_frags)
    lo = min(int(frag_idx) * f, int(image_len))
    return lo, min(lo + f, int(image_len))


def plan_fragments(image_len: int, max_payload: int) -> int:
    """Number of fragments for an image of ``image_len`` symbols and frames of ``max_payload``."""
    n = -(-int(image_len) // int(max_payload))
    # even split may leave the last fragment empty only if f*(n-1) >= L; that cannot happen
    return n


def pack_header(h: Header) -> np.ndarray:
    """Header -> 128 bits (uint8 0/1)."""
    vals = dict(h.__dict__, seq=h.seq & 0xFF, image_id=h.image_id & 0xFFFF)
    v = 0
    for name, w in HEADER_FIELDS:
        x = int(vals[name]) - (name in MINUS_ONE_FIELDS)
        if not 0 <= x < (1 << w):
            raise ValueError(f"header field {name}={int(vals[name])} does not fit in {w} bits"
                             + (" (1 .. 4096)" if name in MINUS_ONE_FIELDS else ""))
        v = (v << w) | x
    body = v.to_bytes(HEADER_PAYLOAD_BITS // 8, "big")
    full = body + crc16(body).to_bytes(2, "big")
    return np.unpackbits(np.frombuffer(full, np.uint8))


def unpack_header(bits: np.ndarray) -> Tuple[Optional[Header], str]:
    """128 bits -> (Header, "") or (None, reason) on CRC failure / inconsistent fields."""
    bits = np.asarray(bits, np.uint8)[:HEADER_BITS]
    if bits.size != HEADER_BITS:
        return None, "short header"
    full = np.packbits(bits).tobytes()
    body = full[:HEADER_PAYLOAD_BITS // 8]
    if crc16(body) != int.from_bytes(full[HEADER_PAYLOAD_BITS // 8:], "big"):
        return None, "crc"
    v = int.from_bytes(body, "big")
    vals, pos = {}, HEADER_PAYLOAD_BITS
    for name, w in HEADER_FIELDS:
        pos -= w
        vals[name] = ((v >> pos) & ((1 << w) - 1)) + (name in MINUS_ONE_FIELDS)
    h = Header(**vals)
    why = h.check()
    return (None, why) if why else (h, "")


def bpsk_map(bits: np.ndarray) -> np.ndarray:
    """0 -> +1, 1 -> -1 (complex64)."""
    return (1.0 - 2.0 * np.asarray(bits, np.float32)).astype(np.complex64)


def _interleaver_step(n: int) -> int:
    """A step coprime to ``n`` near ``n / 2.1`` (scatters neighbouring code bits over the carriers)."""
    s = max(1, int(n / 2.1))
    while np.gcd(s, n) != 1:
        s += 1
    return s


class HeaderLayout:
    """Coding and placement of the 128 header bits on the header symbols' data carriers.

    The 128 bits (with their CRC-16) are encoded with the K=7 rate-1/2 convolutional code
    (:class:`gr_semcod.phy.code.ConvCode`, gr-fec) into ``C = 268`` code bits.  The header has
    ``n_syms = ceil(C * reps / n_data)`` OFDM symbols, and *every* data carrier of them carries a
    code bit (BPSK): carrier ``j`` carries code bit ``(j * step) mod C``, so each code bit is sent
    ``reps`` (or ``reps + 1``) times, on carriers far apart in time and frequency, and neighbouring
    code bits of the trellis never share a carrier neighbourhood (interleaving).

    The receiver adds the matched-filter outputs of all copies of a code bit (soft combining,
    maximum-ratio) and decodes the 268 combined soft values with gr-fec's soft Viterbi decoder;
    the CRC then checks the result.  After the CRC passes every header carrier is known and
    serves as training for the channel estimate.
    """

    def __init__(self, n_data: int, reps: int = 2):
        from .code import ConvCode

        self.n_data, self.reps = int(n_data), int(reps)
        if self.reps < 1:
            raise ValueError("header_reps must be >= 1")
        self.code = ConvCode(HEADER_BITS)
        C = self.code.n_coded
        self.n_syms = -(-C * self.reps // self.n_data)
        self.n_items = self.n_syms * self.n_data
        self.perm = (np.arange(self.n_items) * _interleaver_step(C)) % C  # carrier -> code bit

    def place(self, bits: np.ndarray) -> np.ndarray:
        """128 bits -> the header's data-carrier values (n_syms * n_data, complex64)."""
        return bpsk_map(self.code.encode(bits))[self.perm]

    def combine(self, z: np.ndarray) -> np.ndarray:
        """Matched-filter outputs on the header carriers -> 268 combined soft code-bit values (real)."""
        return np.bincount(self.perm, weights=np.real(np.asarray(z).reshape(-1)), minlength=self.code.n_coded)

    def decode(self, z: np.ndarray) -> np.ndarray:
        """Matched-filter outputs on the header carriers -> the 128 decoded header bits."""
        return self.code.decode(self.combine(z))
