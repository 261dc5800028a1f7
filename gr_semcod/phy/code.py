"""The header's forward error correction: GNU Radio gr-fec's K=7, rate-1/2 convolutional code.

Encoder ``fec.cc_encoder`` and soft-decision Viterbi decoder ``fec.cc_decoder`` (C++; the
802.11/CCSDS code: impulse responses 133/171 octal, which gr-fec and commpy spell ``[109, 79]``),
terminated (``CC_TERMINATED``: 6 tail bits return the trellis to state 0), so ``n`` information
bits become ``2 (n + 6)`` code bits.  The coders are called directly on numpy buffers (their
``generic_work``), one frame per call, with no flowgraph around them; :meth:`ConvCode.decode_many`
quantises a batch of frames at once.

Soft input convention (gr-fec's ``uchar`` conversion): 0..255 with 128 = no information and
larger = more likely a 1.  :meth:`ConvCode.decode` takes real soft values where *positive means
bit 0* (the BPSK matched-filter output: bit 0 -> +1) and does the scaling itself.
"""
from __future__ import annotations

import ctypes

import numpy as np

K = 7
POLYS = (109, 79)  # gr-fec's (and commpy's) spelling of the (133, 171) octal code
SOFT_SCALE = 48.0  # gr-fec extended_decoder's float -> uchar scale

_capsule_new = ctypes.pythonapi.PyCapsule_New
_capsule_new.restype = ctypes.py_object
_capsule_new.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]


def _buf(a: np.ndarray):
    """A capsule holding ``a``'s data pointer (what gr-fec's ``generic_work`` binding takes)."""
    return _capsule_new(a.ctypes.data, None, None)


class ConvCode:
    """Terminated K=7 rate-1/2 code for frames of ``n_bits`` information bits."""

    def __init__(self, n_bits: int):
        from gnuradio import fec

        self.n_bits = int(n_bits)
        self.n_coded = 2 * (self.n_bits + K - 1)
        self._enc = fec.cc_encoder.make(self.n_bits, K, 2, list(POLYS), 0, fec.CC_TERMINATED)
        self._dec = fec.cc_decoder.make(self.n_bits, K, 2, list(POLYS), 0, -1, fec.CC_TERMINATED)
        if self._enc.get_output_size() != self.n_coded or self._dec.get_input_size() != self.n_coded:
            raise RuntimeError("unexpected gr-fec frame sizes")

    def encode(self, bits: np.ndarray) -> np.ndarray:
        """``n_bits`` bits (0/1) -> ``n_coded`` code bits (uint8 0/1)."""
        b = np.ascontiguousarray(bits, np.uint8)
        if b.size != self.n_bits:
            raise ValueError(f"expected {self.n_bits} bits, got {b.size}")
        out = np.zeros(self.n_coded, np.uint8)
        self._enc.generic_work(_buf(b), _buf(out))
        return out

    def decode(self, soft: np.ndarray) -> np.ndarray:
        """Soft values of the ``n_coded`` code bits (real, > 0 means 0; any common scale) ->
        ``n_bits`` decoded bits (soft-decision Viterbi, maximum likelihood over the trellis)."""
        s = np.asarray(soft, np.float64)
        if s.size != self.n_coded:
            raise ValueError(f"expected {self.n_coded} soft values, got {s.size}")
        return self.decode_many(s[None, :])[0]

    def decode_many(self, soft: np.ndarray) -> np.ndarray:
        """(F, ``n_coded``) soft values of F frames -> (F, ``n_bits``) decoded bits: each frame
        scaled by its own rms and quantised in one numpy pass, then one Viterbi call per frame."""
        s = np.asarray(soft, np.float64)
        if s.ndim != 2 or s.shape[1] != self.n_coded:
            raise ValueError(f"expected (frames, {self.n_coded}) soft values, got {s.shape}")
        rms = np.sqrt(np.einsum("ij,ij->i", s, s) / self.n_coded)
        q = np.clip(np.rint(128.0 - (SOFT_SCALE / np.maximum(rms, 1e-30))[:, None] * s), 0, 255).astype(np.uint8)
        out = np.zeros((s.shape[0], self.n_bits), np.uint8)
        for f in range(s.shape[0]):
            self._dec.generic_work(_buf(q[f]), _buf(out[f]))
        return out
