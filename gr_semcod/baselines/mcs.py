"""Modulation and coding schemes of the digital link: commpy QAM x IEEE 802.16e LDPC.

An :class:`MCS` is a constellation order and an 802.16e code rate (:func:`.ldpc.wimax_code`);
its index in :data:`MCS_TABLE` is the ``mode`` the link carries (PHY header / PDU metadata).
The SNR thresholds (Es/N0 in dB, per channel) live in :mod:`.mcs_table`, written by
``semcod bench mcs --write`` (:func:`threshold`): the lowest SNR on a 0.25 dB grid at which the
measured codeword error rate is at most ``target`` (1 %), plus a margin (0.5 dB).
:func:`select_mcs` takes the receiver-side SNR estimate and returns the highest-throughput
entry whose threshold it meets (the most robust one otherwise; that will usually fail, as a
real link would).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

import numpy as np

from .ldpc import LDPCCode, wimax_code
from .modem import demodulate_llr, modulate

#: (name, constellation order, code rate) in mode order; thresholds from :mod:`.mcs_table`
MCS_DESIGNS: Tuple[Tuple[str, int, str], ...] = (
    ("bpsk-1/2", 2, "1/2"),
    ("qpsk-1/2", 4, "1/2"),
    ("qpsk-3/4", 4, "3/4"),
    ("16qam-1/2", 16, "1/2"),
    ("16qam-3/4", 16, "3/4"),
    ("64qam-3/4", 64, "3/4"),
)
CHANNELS = ("awgn", "rayleigh", "multipath")
#: block-fading length (symbols) of the Rayleigh thresholds, as in ``semcod eval``
RAYLEIGH_BLOCK = 16
#: the ``multipath`` channel: the demo's 3-tap channel (taps 1, 0.5j, 0.25, unit energy) on the
#: 48 data carriers of the default OFDM numerology, symbols filling the carriers in order, ZF with
#: known gains (the OFDM PHY's mapping); its thresholds are in *effective* SNR (:mod:`.esm`)
MULTIPATH_TAPS = (1.0, 0.5j, 0.25)


@dataclass(frozen=True)
class MCS:
    """Constellation ``order`` (2 = BPSK, 4, 16, 64), 802.16e ``code_rate``, SNR threshold (dB)."""

    name: str
    order: int
    code_rate: str
    min_snr_db: float
    mode: int = 0

    @property
    def bits_per_symbol(self) -> int:
        return int(np.log2(self.order))

    @property
    def code(self) -> LDPCCode:
        return wimax_code(self.code_rate)

    @property
    def rate(self) -> float:
        return self.code.rate

    @property
    def throughput(self) -> float:
        """Information bits per channel use."""
        return self.bits_per_symbol * self.rate


def mcs_table(channel: str = "awgn") -> Tuple[MCS, ...]:
    """The MCS table with the thresholds measured on ``channel``."""
    from .mcs_table import THRESHOLDS_DB

    if channel not in THRESHOLDS_DB:
        raise ValueError(f"channel must be one of {sorted(THRESHOLDS_DB)}, got {channel!r}")
    th = THRESHOLDS_DB[channel]
    return tuple(MCS(n, o, r, float(th[n]), i) for i, (n, o, r) in enumerate(MCS_DESIGNS))


MCS_TABLE = mcs_table("awgn")


def mcs_by_mode(mode: int, channel: str = "awgn") -> MCS:
    table = mcs_table(channel)
    if not 0 <= int(mode) < len(table):
        raise ValueError(f"mode (MCS index) must be in 0..{len(table) - 1}, got {mode!r}")
    return table[int(mode)]


def select_mcs(snr_db, table: Optional[Sequence[MCS]] = None, margin_db: float = 0.0) -> MCS:
    """Highest-throughput entry with ``min_snr_db + margin_db <= snr_db`` (the most robust one
    otherwise).  ``snr_db``: one SNR for all entries, or one per entry (indexed by ``mode``: the
    effective SNR of each entry's constellation, :func:`effective_snrs_by_mode`)."""
    table = MCS_TABLE if table is None else table
    snr = np.broadcast_to(np.asarray(snr_db, np.float64).ravel(), (len(table),)) if np.size(snr_db) in (1, len(table)) \
        else None
    if snr is None:
        raise ValueError(f"snr_db must be one value or one per MCS ({len(table)}), got {np.size(snr_db)}")
    ok = [m for m in table if m.min_snr_db + margin_db <= snr[m.mode]]
    if not ok:
        return min(table, key=lambda m: m.min_snr_db)
    return max(ok, key=lambda m: m.throughput)


def effective_snrs_by_mode(noise_var, table: Optional[Sequence[MCS]] = None) -> np.ndarray:
    """The MIESM effective SNR (dB, :func:`.esm.effective_snr_db`) of per-symbol noise variances
    for every entry of ``table`` (its constellation's), indexed by ``mode``."""
    from .esm import effective_snrs_db

    table = MCS_TABLE if table is None else table
    eff = effective_snrs_db(noise_var, [m.order for m in table])
    return np.array([eff[m.order] for m in table])


def multipath_gains(n: int, params=None) -> np.ndarray:
    """Per-symbol gains of :data:`MULTIPATH_TAPS` for ``n`` symbols filling the data carriers of
    ``params`` (default :class:`~gr_semcod.phy.params.OfdmParams`) in order."""
    from ..phy.params import OfdmParams

    p = OfdmParams() if params is None else params
    taps = np.asarray(MULTIPATH_TAPS, np.complex128)
    h = np.fft.fft(taps / np.linalg.norm(taps), p.fft_len)[p.data_bins]
    return np.resize(h, int(n))


def multipath_noise_var(snr_db: float, params=None) -> np.ndarray:
    """Per-carrier noise variance after zero forcing on the ``multipath`` channel at ``snr_db``:
    ``10^(-snr/10) / |H_k|^2``, one value per data carrier of ``params`` (default
    :class:`~gr_semcod.phy.params.OfdmParams`, 48 carriers) -- one OFDM symbol of the profile."""
    from ..phy.params import OfdmParams

    p = OfdmParams() if params is None else params
    return 10.0 ** (-float(snr_db) / 10.0) / np.abs(multipath_gains(p.n_data, p)) ** 2


def channel_symbols(sym: np.ndarray, snr_db: float, channel: str, rng) -> Tuple[np.ndarray, np.ndarray]:
    """Unit-power symbols through ``channel`` -> (zero-forcing equalised symbols, per-symbol noise var)."""
    from ..runtime.channels import awgn, complex_noise, rayleigh

    if channel == "awgn":
        return awgn(sym, snr_db, rng), np.full(sym.shape, 10.0 ** (-snr_db / 10.0))
    if channel == "rayleigh":
        y, nv = rayleigh(sym, snr_db, RAYLEIGH_BLOCK, rng, equalize="zf")
        return y, np.asarray(nv, np.float64)
    if channel == "multipath":
        nv0 = 10.0 ** (-snr_db / 10.0)
        h = multipath_gains(sym.shape[-1])
        y = sym + complex_noise(sym.shape, nv0, rng) / h
        return y, np.broadcast_to(nv0 / np.abs(h) ** 2, sym.shape).copy()
    raise ValueError(f"channel must be one of {CHANNELS}, got {channel!r}")


def codeword_error_rate(mcs: MCS, snr_db: float, channel: str = "awgn", trials: int = 200, iters: int = 50,
                        rng=0) -> float:
    """Measured codeword (information-bit) error rate of ``mcs`` at ``snr_db``."""
    rng = np.random.default_rng(rng)
    code = mcs.code
    u = rng.integers(0, 2, (trials, code.k))
    sym = modulate(code.encode(u), mcs.order)
    y, nv = channel_symbols(sym, snr_db, channel, rng)
    hard, _ = code.decode(demodulate_llr(y, mcs.order, nv), iters)
    return float((code.info(hard) != u).any(1).mean())


def threshold(mcs: MCS, channel: str = "awgn", target: float = 0.01, margin_db: float = 0.5, trials: int = 200,
              lo: float = -5.0, hi: float = 40.0, step: float = 0.25, rng=0) -> float:
    """Lowest SNR on the ``step`` grid with codeword error rate <= ``target`` (bisection;
    the rate falls with SNR), plus ``margin_db``.  ``multipath``: that SNR as the MIESM effective
    SNR of the channel's noise profile (comparable with the AWGN threshold)."""
    grid = np.arange(lo, hi + step / 2, step)
    a, b = 0, len(grid) - 1  # invariant: grid[b] passes (assumed at hi), grid[a] may not
    if codeword_error_rate(mcs, grid[a], channel, trials, rng=rng) <= target:
        b = 0
    while b - a > 1:
        mid = (a + b) // 2
        if codeword_error_rate(mcs, grid[mid], channel, trials, rng=rng) <= target:
            b = mid
        else:
            a = mid
    snr = float(grid[b])
    if channel == "multipath":
        from .esm import effective_snr_db

        snr = effective_snr_db(multipath_noise_var(snr), mcs.order)
    return float(snr + margin_db)
