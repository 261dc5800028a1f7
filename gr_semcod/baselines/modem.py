"""Gray-mapped BPSK/QAM from scikit-commpy and exact bit LLRs (numpy only).

Constellations are ``commpy.modulation.PSKModem(2)`` / ``QAMModem(M)`` scaled to unit average
power; the LLR of bit ``j`` of a symbol ``y`` with (per-symbol) noise variance ``sigma^2`` is::

    L_j = log sum_{s: b_j(s)=0} exp(-|y - s|^2 / sigma^2) - log sum_{s: b_j(s)=1} exp(-|y - s|^2 / sigma^2)

(vectorised log-sum-exp, clipped to +-:data:`LLR_MAX`).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

LLR_MAX = 30.0


@lru_cache(maxsize=None)
def constellation(order: int) -> np.ndarray:
    """Unit-average-power Gray-mapped constellation from commpy; index bits are MSB first."""
    from commpy.modulation import PSKModem, QAMModem

    modem = PSKModem(2) if order == 2 else QAMModem(order)
    c = np.asarray(modem.constellation, np.complex128)
    return c / np.sqrt(np.mean(np.abs(c) ** 2))


def modulate(bits: np.ndarray, order: int) -> np.ndarray:
    """bits ``(..., L)`` (L a multiple of log2(order)) -> symbols ``(..., L / log2(order))``."""
    m = int(np.log2(order))
    b = bits.reshape(bits.shape[:-1] + (-1, m)).astype(np.int64)
    idx = (b << np.arange(m - 1, -1, -1)).sum(-1)
    return constellation(order)[idx]


def demodulate_llr(y: np.ndarray, order: int, noise_var) -> np.ndarray:
    """Exact bit LLRs ``log P(b=0|y) / P(b=1|y)`` for symbols ``(..., S)`` -> ``(..., S * m)``.

    ``noise_var``: a scalar or one value per symbol (broadcastable to ``y``), e.g. the PHY's
    ``symbol_noise_var`` after zero-forcing equalisation."""
    c = constellation(order)
    m = int(np.log2(order))
    nv = np.maximum(np.asarray(noise_var, np.float64), 1e-12)
    d = -np.abs(y[..., None] - c) ** 2 / nv[..., None]  # (..., S, M)
    labels = (np.arange(order)[:, None] >> np.arange(m - 1, -1, -1)) & 1  # (M, m)
    out = np.empty(y.shape + (m,))
    for j in range(m):
        zero, one = d[..., labels[:, j] == 0], d[..., labels[:, j] == 1]
        out[..., j] = _logsumexp(zero) - _logsumexp(one)
    return np.clip(out.reshape(y.shape[:-1] + (-1,)), -LLR_MAX, LLR_MAX)


def _logsumexp(a: np.ndarray) -> np.ndarray:
    mx = a.max(-1)
    return mx + np.log(np.exp(a - mx[..., None]).sum(-1))


