"""OFDM numerology shared by :mod:`ofdm_analog_tx` and :mod:`ofdm_analog_rx` (pure numpy).

Carrier indices are *signed* (``-fft_len/2 .. fft_len/2-1``, DC = 0), as in GNU Radio's
``ofdm_carrier_allocator_cvc`` with ``output_is_shifted=True`` followed by ``fft_vcc(shift=True)``;
on the receive side carrier ``k`` is FFT bin ``k mod fft_len`` of an unshifted ``numpy.fft.fft``.

Defaults follow IEEE 802.11a: 64-point FFT, 16-sample cyclic prefix, 48 data carriers
(-26..26 without 0, +-7, +-21) and 4 pilots at -21, -7, 7, 21 whose polarity follows the
802.11 127-chip scrambler sequence (generated here from the LFSR x^7 + x^4 + 1, all-ones seed).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np

DEFAULT_FFT_LEN = 64
DEFAULT_CP_LEN = 16
DEFAULT_PILOT_CARRIERS = (-21, -7, 7, 21)
DEFAULT_OCCUPIED_CARRIERS = tuple(k for k in range(-26, 27) if k != 0 and k not in DEFAULT_PILOT_CARRIERS)
#: base pilot values on the default pilot carriers (802.11a: 1, 1, 1, -1)
DEFAULT_PILOT_BASE = (1.0, 1.0, 1.0, -1.0)
SYNC_SEED = 0x5EC0D
DEFAULT_PREAMBLE_LEN = 3


def pilot_polarity(n: int = 127) -> np.ndarray:
    """The 802.11 pilot polarity sequence (+-1), from the scrambler x^7 + x^4 + 1 seeded with ones."""
    state = [1] * 7
    out = np.empty(n, np.float32)
    for i in range(n):
        bit = state[6] ^ state[3]
        state = [bit] + state[:-1]
        out[i] = 1.0 - 2.0 * bit
    return out


@dataclass
class OfdmParams:
    """Frame numerology.  All lists are signed carrier indices; one carrier set for all symbols."""

    fft_len: int = DEFAULT_FFT_LEN
    cp_len: int = DEFAULT_CP_LEN
    occupied_carriers: Sequence[int] = DEFAULT_OCCUPIED_CARRIERS
    pilot_carriers: Sequence[int] = DEFAULT_PILOT_CARRIERS
    pilot_base: Optional[Sequence[complex]] = None
    n_pilot_patterns: int = 127
    sync_seed: int = SYNC_SEED
    #: repeated short training symbols before sync word 2 (TX and RX must agree)
    preamble_len: int = DEFAULT_PREAMBLE_LEN
    pilot_symbols: np.ndarray = field(init=False, repr=False)
    sync_word1: np.ndarray = field(init=False, repr=False)
    sync_word2: np.ndarray = field(init=False, repr=False)

    def __post_init__(self):
        n = int(self.fft_len)
        self.fft_len, self.cp_len = n, int(self.cp_len)
        if n < 8 or n % 2:
            raise ValueError(f"fft_len must be even and >= 8, got {n}")
        if not 0 <= self.cp_len < n:
            raise ValueError(f"cp_len must be in [0, fft_len), got {self.cp_len}")
        self.occupied_carriers = tuple(int(k) for k in self.occupied_carriers)
        self.pilot_carriers = tuple(int(k) for k in self.pilot_carriers)
        allc = self.occupied_carriers + self.pilot_carriers
        if not self.occupied_carriers:
            raise ValueError("no data carriers")
        if len(set(allc)) != len(allc):
            raise ValueError("data and pilot carriers overlap or repeat")
        if any(not -n // 2 <= k < n // 2 for k in allc):
            raise ValueError(f"carrier index out of range for fft_len {n}")
        if 0 in allc:
            raise ValueError("the DC carrier (0) cannot be used")
        if self.pilot_base is None:
            base = DEFAULT_PILOT_BASE if len(self.pilot_carriers) == 4 else (1.0,) * len(self.pilot_carriers)
        else:
            base = tuple(self.pilot_base)
        if len(base) != len(self.pilot_carriers):
            raise ValueError("pilot_base must have one value per pilot carrier")
        pol = pilot_polarity(max(1, int(self.n_pilot_patterns)))
        self.pilot_symbols = (pol[:, None] * np.asarray(base, np.complex64)[None, :]).astype(np.complex64)
        self.preamble_len = int(self.preamble_len)
        if self.preamble_len < 1:
            raise ValueError(f"preamble_len must be >= 1, got {self.preamble_len}")
        # Short training symbol: energy on every (fft_len / period)-th carrier only, so its time
        # signal has period `period`; with cp_len a multiple of it the preamble_len symbols (CPs
        # included) are one seamless periodic waveform of preamble_len * sym_len / period periods.
        per = next((d for d in (n // 4, n // 2) if d and n % d == 0 and self.cp_len % d == 0), None)
        if per is None:
            raise ValueError(f"cp_len ({self.cp_len}) must be a multiple of fft_len/4 or fft_len/2")
        self.preamble_period = per
        step = n // per
        rng = np.random.RandomState(self.sync_seed)
        w1 = np.zeros(n, np.complex64)
        sel = [k for k in allc if k % step == 0]
        if len(sel) < 2:
            raise ValueError("too few carriers for the short training symbol")
        qpsk = (1 - 2 * rng.randint(0, 2, len(sel))) + 1j * (1 - 2 * rng.randint(0, 2, len(sel)))
        w1[np.asarray(sel) % n] = np.sqrt(len(allc) / len(sel) / 2.0) * qpsk  # same energy as sync word 2
        w2 = np.zeros(n, np.complex64)
        w2[np.asarray(allc) % n] = 1 - 2 * rng.randint(0, 2, len(allc))
        self.sync_word1, self.sync_word2 = w1, w2  # unshifted (bin order)

    # --- derived -----------------------------------------------------------------------------
    @property
    def n_data(self) -> int:
        return len(self.occupied_carriers)

    @property
    def n_pilots(self) -> int:
        return len(self.pilot_carriers)

    @property
    def sym_len(self) -> int:
        return self.fft_len + self.cp_len

    @property
    def data_bins(self) -> np.ndarray:
        return np.asarray(self.occupied_carriers, np.int64) % self.fft_len

    @property
    def pilot_bins(self) -> np.ndarray:
        return np.asarray(self.pilot_carriers, np.int64) % self.fft_len

    @property
    def active_bins(self) -> np.ndarray:
        """Data then pilot bins (the order used for channel estimates)."""
        return np.concatenate([self.data_bins, self.pilot_bins])

    def shifted(self, word: np.ndarray) -> list:
        """A bin-ordered vector in GNU Radio's shifted (DC-centred) order."""
        return list(np.fft.fftshift(np.asarray(word)).astype(complex))

    def gr_occupied(self) -> list:
        return [list(self.occupied_carriers)]

    def gr_pilots(self) -> list:
        return [list(self.pilot_carriers)]

    def gr_pilot_symbols(self) -> list:
        return [list(map(complex, row)) for row in self.pilot_symbols]

    def gr_sync_words(self) -> list:
        """The allocator's sync symbols: ``preamble_len`` short training symbols, then sync word 2."""
        return [self.shifted(self.sync_word1)] * self.preamble_len + [self.shifted(self.sync_word2)]

    @property
    def n_sync(self) -> int:
        """OFDM symbols before the header (short training symbols + sync word 2)."""
        return self.preamble_len + 1

    @property
    def preamble_periods(self) -> int:
        """Periods of the short training waveform (the detector's segments)."""
        return self.preamble_len * self.sym_len // self.preamble_period

    def time_symbol(self, word: np.ndarray) -> np.ndarray:
        """One transmitted OFDM symbol (CP first) for bin-ordered carrier values, as the
        transmitter makes it: unitary IFFT (gain ``1/sqrt(fft_len)`` on the carriers)."""
        t = np.fft.ifft(np.asarray(word, np.complex128)) * np.sqrt(self.fft_len)
        return np.concatenate([t[self.fft_len - self.cp_len:], t]).astype(np.complex64)

    @property
    def preamble_segment(self) -> np.ndarray:
        """One period of the short training waveform (the detector's matched filter)."""
        if getattr(self, "_pre_seg", None) is None:
            self._pre_seg = self.time_symbol(self.sync_word1)[:self.preamble_period]
        return self._pre_seg

    def pilots_for(self, sym_index: np.ndarray) -> np.ndarray:
        """Pilot values for data-symbol indices (counted from the first header symbol)."""
        return self.pilot_symbols[np.asarray(sym_index) % len(self.pilot_symbols)]

    def n_symbols(self, n_items: int) -> int:
        return -(-int(n_items) // self.n_data)


def make_params(fft_len=DEFAULT_FFT_LEN, cp_len=DEFAULT_CP_LEN, occupied_carriers=None, pilot_carriers=None,
                pilot_base=None, preamble_len=DEFAULT_PREAMBLE_LEN) -> OfdmParams:
    """Build :class:`OfdmParams`; ``None`` carrier lists pick 802.11a-like sets scaled to ``fft_len``."""
    if occupied_carriers is None or pilot_carriers is None:
        if fft_len == DEFAULT_FFT_LEN:
            occ, pil = DEFAULT_OCCUPIED_CARRIERS, DEFAULT_PILOT_CARRIERS
        else:
            edge = int(round(26 * fft_len / 64))
            pil = tuple(int(round(p * fft_len / 64)) for p in DEFAULT_PILOT_CARRIERS)
            occ = tuple(k for k in range(-edge, edge + 1) if k != 0 and k not in pil)
        occupied_carriers = occ if occupied_carriers is None else occupied_carriers
        pilot_carriers = pil if pilot_carriers is None else pilot_carriers
    return OfdmParams(fft_len, cp_len, occupied_carriers, pilot_carriers, pilot_base, preamble_len=preamble_len)
