"""The quadtree split flags as a real bit stream: an adaptive binary arithmetic coder.

The flags of one photo's level map (:func:`gr_semcod.runtime.quadtree.stitch_levels`) are coded
in the order the decoder can follow: windows (``2^depth`` positions) in raster order, nodes depth
first in Z order inside a window, one flag per visited node of level ``>= 1``.  Each flag is coded
with the adaptive Krichevsky–Trofimov estimate of its context, ``(level, s)`` where ``s`` is the
number of split left/upper neighbours at the same level (0, 1, 2; a neighbour that was not visited
counts as not split) -- exactly the model whose ideal length
:func:`~gr_semcod.runtime.quadtree.flag_code_bits` charges::

    P(flag = 1 | ctx) = (2 n1 + 1) / (2 (n0 + n1) + 2)     (counts of ctx so far)

The coder is the classic integer arithmetic coder (Witten, Neal & Cleary 1987: 32-bit interval,
``low``/``high`` with carry-free underflow bits, 2 termination bits); the decoder reads zeros past
the end of the stream.  Its length is the KT ideal length plus at most a few bits; both are
measured by ``tests/runtime/test_flag_coder.py`` and ``semcod bench sideinfo``.
"""
from __future__ import annotations

from typing import List, Tuple

import numpy as np

from .quadtree import N_CONTEXTS

_PREC = 32
_FULL = 1 << _PREC
_HALF = _FULL >> 1
_QUARTER = _FULL >> 2


class _Encoder:
    def __init__(self):
        self.low, self.high, self.pending = 0, _FULL - 1, 0
        self.out: List[int] = []

    def _emit(self, bit: int) -> None:
        self.out.append(bit)
        self.out.extend([1 - bit] * self.pending)
        self.pending = 0

    def encode(self, bit: int, f0: int, tot: int) -> None:
        split = self.low + (self.high - self.low + 1) * f0 // tot - 1
        if bit:
            self.low = split + 1
        else:
            self.high = split
        while True:
            if self.high < _HALF:
                self._emit(0)
            elif self.low >= _HALF:
                self._emit(1)
                self.low -= _HALF
                self.high -= _HALF
            elif self.low >= _QUARTER and self.high < 3 * _QUARTER:
                self.pending += 1
                self.low -= _QUARTER
                self.high -= _QUARTER
            else:
                break
            self.low, self.high = 2 * self.low, 2 * self.high + 1

    def finish(self) -> np.ndarray:
        self.pending += 1
        self._emit(0 if self.low < _QUARTER else 1)
        return np.array(self.out, np.uint8)


class _Decoder:
    def __init__(self, bits: np.ndarray):
        self.bits = np.asarray(bits, np.uint8)
        self.pos = 0
        self.low, self.high, self.value = 0, _FULL - 1, 0
        for _ in range(_PREC):
            self.value = 2 * self.value + self._next()

    def _next(self) -> int:
        b = int(self.bits[self.pos]) if self.pos < self.bits.size else 0
        self.pos += 1
        return b

    def decode(self, f0: int, tot: int) -> int:
        split = self.low + (self.high - self.low + 1) * f0 // tot - 1
        bit = int(self.value > split)
        if bit:
            self.low = split + 1
        else:
            self.high = split
        while True:
            if self.high < _HALF:
                pass
            elif self.low >= _HALF:
                self.low -= _HALF
                self.high -= _HALF
                self.value -= _HALF
            elif self.low >= _QUARTER and self.high < 3 * _QUARTER:
                self.low -= _QUARTER
                self.high -= _QUARTER
                self.value -= _QUARTER
            else:
                break
            self.low, self.high = 2 * self.low, 2 * self.high + 1
            self.value = 2 * self.value + self._next()
        return bit


def _walk(shape: Tuple[int, int], depth: int, flag) -> None:
    """Visit the nodes in coding order; ``flag(lv, i, j, ctx) -> split`` codes one flag.

    ``i, j`` index the node among the level-``lv`` nodes; ``ctx`` counts its split left/upper
    neighbours.  Split state is kept per level (zeros: not visited or not split).
    """
    h, w = shape
    win = 1 << depth
    if h % win or w % win:
        raise ValueError(f"level map {h}x{w} is not a multiple of the {win}x{win} window")
    split = {lv: np.zeros((h >> lv, w >> lv), np.uint8) for lv in range(1, depth + 1)}

    def visit(i, j, lv):
        s = split[lv]
        ctx = (int(s[i, j - 1]) if j else 0) + (int(s[i - 1, j]) if i else 0)
        if flag(lv, i, j, ctx):
            s[i, j] = 1
            if lv > 1:
                for di, dj in ((0, 0), (0, 1), (1, 0), (1, 1)):
                    visit(2 * i + di, 2 * j + dj, lv - 1)

    for wi in range(h // win):
        for wj in range(w // win):
            visit(wi, wj, depth)


def _model(depth: int) -> np.ndarray:
    return np.zeros((depth + 1, N_CONTEXTS, 2), np.int64)


def encode_flags(lev: np.ndarray, depth: int) -> np.ndarray:
    """Level map ``(h, w)`` of one photo -> the arithmetic-coded flag bits (uint8 0/1)."""
    lev = np.asarray(lev)
    if lev.ndim != 2:
        raise ValueError(f"level map must be (h, w), got shape {lev.shape}")
    counts, enc = _model(depth), _Encoder()

    def flag(lv, i, j, ctx):
        s = 1 << lv
        bit = int(lev[i * s:(i + 1) * s, j * s:(j + 1) * s].max() < lv)
        n0, n1 = counts[lv, ctx]
        enc.encode(bit, int(2 * n0 + 1), int(2 * (n0 + n1) + 2))
        counts[lv, ctx, bit] += 1
        return bit

    _walk(lev.shape, depth, flag)
    return enc.finish()


def decode_flags(bits: np.ndarray, shape: Tuple[int, int], depth: int) -> Tuple[np.ndarray, int]:
    """Inverse of :func:`encode_flags`: ``(level map (h, w) uint8, bits read)``.

    ``bits read`` counts what the decoder consumed beyond the stream (it reads zeros there); a
    stream of the right length but wrong content decodes to *some* tree, so the caller checks
    the stream's CRC first.
    """
    h, w = shape
    lev = np.zeros((h, w), np.uint8)
    counts, dec = _model(depth), _Decoder(bits)

    def flag(lv, i, j, ctx):
        n0, n1 = counts[lv, ctx]
        bit = dec.decode(int(2 * n0 + 1), int(2 * (n0 + n1) + 2))
        counts[lv, ctx, bit] += 1
        if not bit:
            s = 1 << lv
            lev[i * s:(i + 1) * s, j * s:(j + 1) * s] = lv
        return bit

    _walk((h, w), depth, flag)
    return lev, dec.pos
