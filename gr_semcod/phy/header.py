"""Frame header of the analog OFDM PHY: fields, CRC-16, BPSK mapping (pure numpy).

Layout (96 bits, MSB first, BPSK, sent ``reps`` times (default 2, frequency-interleaved, see
:class:`HeaderLayout`) on the data carriers of ``ceil(96 * reps / n_data)`` OFDM symbols:
four symbols with 48 data carriers)::

    bits   field        meaning
    8      seq          frame sequence number (mod 256), counted by the transmitter
    16     image_id     image identifier (mod 65536), from the PDU metadata
    10     frag_idx     fragment index within the image (0 .. n_frags-1)
    10     n_frags      number of fragments of the image (1 .. 1023)
    22     image_len    total complex symbols of the image (1 .. 4194303)
    14     payload_len  complex symbols carried by this frame (1 .. 16383)
    16     crc          CRC-16/CCITT-FALSE over the 80 bits above (10 bytes)

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

HEADER_FIELDS = (("seq", 8), ("image_id", 16), ("frag_idx", 10), ("n_frags", 10),
                 ("image_len", 22), ("payload_len", 14))
HEADER_PAYLOAD_BITS = sum(w for _, w in HEADER_FIELDS)  # 80
HEADER_BITS = HEADER_PAYLOAD_BITS + 16  # 96
MAX_PAYLOAD_LEN = (1 << 14) - 1
MAX_IMAGE_LEN = (1 << 22) - 1
MAX_FRAGMENTS = (1 << 10) - 1


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
    """Header -> 96 bits (uint8 0/1)."""
    vals = dict(seq=h.seq & 0xFF, image_id=h.image_id & 0xFFFF, frag_idx=h.frag_idx, n_frags=h.n_frags,
                image_len=h.image_len, payload_len=h.payload_len)
    v = 0
    for name, w in HEADER_FIELDS:
        x = int(vals[name])
        if not 0 <= x < (1 << w):
            raise ValueError(f"header field {name}={x} does not fit in {w} bits")
        v = (v << w) | x
    body = v.to_bytes(HEADER_PAYLOAD_BITS // 8, "big")
    full = body + crc16(body).to_bytes(2, "big")
    return np.unpackbits(np.frombuffer(full, np.uint8))


def unpack_header(bits: np.ndarray) -> Tuple[Optional[Header], str]:
    """96 bits -> (Header, "") or (None, reason) on CRC failure / inconsistent fields."""
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
        vals[name] = (v >> pos) & ((1 << w) - 1)
    h = Header(**vals)
    why = h.check()
    return (None, why) if why else (h, "")


def bpsk_map(bits: np.ndarray) -> np.ndarray:
    """0 -> +1, 1 -> -1 (complex64)."""
    return (1.0 - 2.0 * np.asarray(bits, np.float32)).astype(np.complex64)


class HeaderLayout:
    """Placement of the 96 header bits on the header symbols' data carriers.

    The header is sent ``reps`` times (default 2); copy ``r`` is cyclically rotated by
    ``r * n_data // reps`` positions so each bit's copies sit on carriers far apart in frequency
    (diversity on frequency-selective channels).  The receiver adds the copies' matched-filter
    outputs (maximum-ratio combining) before the hard decision.  Carriers left over after the
    copies carry a fixed +-1 filler, so after the CRC passes every header carrier is known and
    serves as training for the channel estimate.
    """

    def __init__(self, n_data: int, reps: int = 2):
        self.n_data, self.reps = int(n_data), int(reps)
        if self.reps < 1:
            raise ValueError("header_reps must be >= 1")
        self.n_syms = -(-HEADER_BITS * self.reps // self.n_data)
        self.n_items = self.n_syms * self.n_data
        b = np.arange(HEADER_BITS)
        self.pos = np.stack([r * HEADER_BITS + (b + (r * self.n_data) // self.reps) % HEADER_BITS
                             for r in range(self.reps)])  # (reps, 96)
        n_pad = self.n_items - HEADER_BITS * self.reps
        rng = np.random.RandomState(0x4EAD)
        self.pad = (1 - 2 * rng.randint(0, 2, n_pad)).astype(np.complex64)
        self._tmpl = np.zeros(self.n_items, np.complex64)
        self._tmpl[HEADER_BITS * self.reps:] = self.pad
        self._pos_flat = self.pos.reshape(-1)

    def place(self, bits: np.ndarray) -> np.ndarray:
        """96 bits -> the header's data-carrier values (n_syms * n_data, complex64)."""
        out = self._tmpl.copy()
        out[self._pos_flat] = np.tile(bpsk_map(bits), self.reps)
        return out

    def combine(self, z: np.ndarray) -> np.ndarray:
        """Matched-filter outputs on the header carriers -> 96 combined soft values (real)."""
        return np.real(np.asarray(z).reshape(-1)[self.pos]).sum(axis=0)
