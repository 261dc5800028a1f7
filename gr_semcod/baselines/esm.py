"""Effective SNR of a frequency-selective link, per MCS: mutual-information effective SNR
mapping (MIESM) over the receiver's per-symbol noise variances (numpy only).

A frame whose symbols see different SNRs (OFDM carriers in a multipath fade, the PHY's
``symbol_noise_var``) decodes about as well as an AWGN frame at the SNR whose bit-interleaved
coded-modulation (BICM) mutual information is the frame's mean::

    I_M(snr) = 1 - 1/m sum_j E[ log2(1 + exp(-(1 - 2 b_j) L_j)) ]      (m = log2 M, L_j exact LLRs)
    snr_eff(M) = I_M^-1( mean_k I_M(1 / nv_k) )

so the AWGN thresholds of :mod:`.mcs_table` apply to ``snr_eff`` of each MCS's constellation.
(The mean of the Gaussian capacity ``log2(1 + snr)`` is the same idea without the
constellation; it is optimistic for 64-QAM in deep fades, where the MI of the constellation
saturates.  It is used only where ``I_M`` itself has saturated -- BPSK above ~12 dB -- and the
constellation's curve cannot be inverted.)  ``I_M`` is tabulated per constellation on a 0.25 dB grid by Monte Carlo with a
fixed seed and common random numbers (a smooth, monotone curve): :func:`measure_bicm_mi`, stored
in :mod:`.esm_table` by ``semcod bench mcs --write`` (recomputed when that table is missing).

:func:`noise_scale` is the data-aided check of the reported noise: the typical ratio
``|y - x_hat|^2 / nv`` over the symbols of a decoded frame (``x_hat`` the re-encoded decoded
bits; a median, robust to the wrong codewords of a failed frame); above 1 when the PHY's noise
variance misses part of the error (e.g. the pilot-tracking gain error).  The receiver's report scales its noise variances by it.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Dict, Sequence

import numpy as np

from .modem import constellation, demodulate_llr

#: SNR grid (dB) of the tabulated BICM mutual information
GRID_DB = np.arange(-15.0, 45.0 + 1e-9, 0.25)
#: Monte Carlo symbols per grid point
MC_SYMBOLS = 4096
#: the range a report's noise scale is clipped to
NOISE_SCALE_RANGE = (0.5, 10.0)


@lru_cache(maxsize=None)
def bicm_mi(order: int) -> np.ndarray:
    """BICM mutual information per coded bit (0..1) of Gray ``order``-QAM on :data:`GRID_DB`
    (from :mod:`.esm_table`, else measured)."""
    try:
        from .esm_table import GRID, MI
    except ImportError:
        GRID, MI = None, {}
    if int(order) in MI and GRID == (float(GRID_DB[0]), float(GRID_DB[-1]), len(GRID_DB)):
        return np.asarray(MI[int(order)], np.float64)
    return measure_bicm_mi(int(order))


def measure_bicm_mi(order: int, n_symbols: int = MC_SYMBOLS) -> np.ndarray:
    """:func:`bicm_mi` by Monte Carlo (seed = ``order``, ``n_symbols`` per SNR, the same noise)."""
    rng = np.random.default_rng(order)
    MC_SYMBOLS = int(n_symbols)
    m = int(np.log2(order))
    idx = rng.integers(0, order, MC_SYMBOLS)
    x = constellation(order)[idx]
    bits = (idx[:, None] >> np.arange(m - 1, -1, -1)) & 1  # (S, m), MSB first as the modem
    w = (rng.standard_normal(MC_SYMBOLS) + 1j * rng.standard_normal(MC_SYMBOLS)) / np.sqrt(2)
    out = np.empty(len(GRID_DB))
    for i, s in enumerate(GRID_DB):
        nv = 10.0 ** (-s / 10.0)
        llr = demodulate_llr(x + np.sqrt(nv) * w, order, nv).reshape(MC_SYMBOLS, m)
        out[i] = 1.0 - np.mean(np.logaddexp(0.0, -(1 - 2 * bits) * llr)) / np.log(2)
    out = np.clip(out, 0.0, 1.0)
    return np.maximum.accumulate(out)  # monotone in SNR


def render_table(orders=(2, 4, 16, 64), n_symbols: int = MC_SYMBOLS) -> str:
    """The text of :mod:`.esm_table` (``semcod bench mcs --write``)."""
    lines = ['"""BICM mutual information per coded bit of Gray QAM on the grid of :data:`.esm.GRID_DB`,',
             f"measured by :func:`.esm.measure_bicm_mi` ({n_symbols} symbols per point), written by",
             "``semcod bench mcs --write``.  Do not edit by hand.\"\"\"",
             f"GRID = ({float(GRID_DB[0])!r}, {float(GRID_DB[-1])!r}, {len(GRID_DB)})", "MI = {"]
    for o in orders:
        v = measure_bicm_mi(int(o), n_symbols)
        lines.append(f"    {int(o)}: (" + ", ".join(f"{x:.6f}" for x in v) + "),")
    lines.append("}")
    return "\n".join(lines) + "\n"


def effective_snr_db(noise_var, order: int) -> float:
    """MIESM effective SNR (dB) of symbols with per-symbol noise variances ``noise_var`` (unit-power
    ``order``-QAM): the AWGN SNR of the same mean BICM mutual information."""
    nv = np.asarray(noise_var, np.float64).ravel()
    if nv.size == 0:
        raise ValueError("no noise variances")
    snr = -10.0 * np.log10(np.maximum(nv, 1e-30))
    mi_curve = bicm_mi(int(order))
    mi = float(np.mean(np.interp(snr, GRID_DB, mi_curve)))
    # invert on the strictly increasing part of the curve
    keep = np.concatenate([[True], np.diff(mi_curve) > 0])
    top = int(np.flatnonzero(keep)[-1])
    if mi >= mi_curve[top]:  # saturated: the constellation cannot tell these SNRs apart; the
        # mean Gaussian capacity can, and no lower than where the saturation starts
        cap = 10.0 * np.log10(2.0 ** float(np.mean(np.log2(1.0 + 10.0 ** (snr / 10.0)))) - 1.0)
        return float(max(GRID_DB[top], cap))
    return float(np.interp(mi, mi_curve[keep], GRID_DB[keep]))


def effective_snrs_db(noise_var, orders: Sequence[int]) -> Dict[int, float]:
    """:func:`effective_snr_db` of every constellation order in ``orders``."""
    return {int(o): effective_snr_db(noise_var, int(o)) for o in sorted(set(orders))}


def noise_scale(y: np.ndarray, x_hat: np.ndarray, noise_var) -> float:
    """How much larger the measured error of a decoded frame is than its reported noise variance
    (1 when the report is exact): ``median(|y - x_hat|^2 / nv) / ln 2``, the mean of the
    exponential distribution of ``|complex Gaussian|^2`` estimated from its median, so that the
    few wrongly decoded codewords of a failed frame (their ``x_hat`` is not what was sent) are
    outliers it ignores.  Clipped to :data:`NOISE_SCALE_RANGE`."""
    y, x_hat = np.ravel(y), np.ravel(x_hat)
    nv = np.broadcast_to(np.asarray(noise_var, np.float64).ravel(), y.shape)
    if y.size == 0:
        return 1.0
    r = float(np.median(np.abs(y - x_hat) ** 2 / np.maximum(nv, 1e-30)) / np.log(2.0))
    return float(np.clip(r, *NOISE_SCALE_RANGE))
