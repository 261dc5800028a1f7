"""``preamble_detector``: matched-filter frame detection metric with a CFAR normalisation (hier block).

The preamble is ``Q`` periods of a known ``P``-sample waveform ``p`` (``preamble_len`` short
training symbols, :class:`gr_semcod.phy.params.OfdmParams`).  With ``r`` the received samples::

    c[n] = sum_m r[n-P+1+m] conj(p[m])              matched filter over one period
    D[n] = sum_{i=0}^{Q-2} c[n-iP] conj(c[n-(i+1)P])  coherent sum of neighbouring periods' products
    E[n] = sum_{m=0}^{QP-1} |r[n-m]|^2                local energy of the same window
    L[n] = |D[n]| / (||p||^2 E[n])                    in [0, 1): ~ (Q-1)/Q * S/(S+N) on the preamble

``L`` is scale invariant, so one threshold holds at every input level (constant false-alarm
rate): on noise ``L`` is about ``|z| / (P sqrt(Q))`` with ``z`` unit complex Gaussian, on the
preamble it is the signal's share of the window's energy.  The product of *neighbouring*
periods cancels the carrier frequency offset's rotation (each ``c`` is coherent over ``P``
samples only), so detection holds for CFOs up to about +-2 subcarriers (P = fft_len / 4) and
``angle(D) * fft_len / (2 pi P)`` is the CFO estimate (Schmidl & Cox's idea, on the matched
filter outputs instead of the raw samples, which gains ``10 log10(P)`` dB at low SNR).

``L[n]`` peaks at the last sample of the preamble (the window ``r[n-QP+1..n]``).

Chain (C++ only): ``fir_filter_ccc`` (matched filter) -> ``delay`` + ``multiply_conjugate_cc``
-> ``stream_to_vector(P)`` -> ``moving_average_cc(Q-1, vlen=P)`` (the stride-P sum) ->
``vector_to_stream`` -> ``complex_to_mag``; ``complex_to_mag_squared`` -> ``moving_average_ff(QP)``;
``divide_ff``.  :func:`detection_metric` is the same in numpy (the receiver re-checks every peak
with it, exactly, before it decodes a header).
"""
from __future__ import annotations

import numpy as np
from gnuradio import blocks, filter, gr

from .params import OfdmParams

#: default threshold = DEFAULT_KAPPA / (P sqrt(Q)) (noise-only L is |z| / (P sqrt(Q)); see docs/phy.md)
DEFAULT_KAPPA = 7.5
#: the running sums restart at least every MAX_ITER samples (see preamble_detector)
MAX_ITER = 512


def default_threshold(params: OfdmParams) -> float:
    """CFAR threshold on ``L``: no false alarm on 10^7 noise samples, detection down to -3 dB."""
    return DEFAULT_KAPPA / (params.preamble_period * np.sqrt(params.preamble_periods))


def segment_correlations(x: np.ndarray, params: OfdmParams) -> np.ndarray:
    """Matched-filter outputs ``c_i`` of the ``Q`` periods of a preamble-long window ``x``."""
    P, Q = params.preamble_period, params.preamble_periods
    return np.asarray(x[:P * Q]).reshape(Q, P) @ np.conj(params.preamble_segment)


def window_metric(x: np.ndarray, params: OfdmParams):
    """``(L, D)`` for one window of ``Q * P`` samples (the numpy reference of the C++ chain)."""
    c = segment_correlations(x, params)
    D = complex(np.sum(c[1:] * np.conj(c[:-1])))
    x = np.asarray(x)
    E = float(np.vdot(x, x).real)
    Ep = float(np.vdot(params.preamble_segment, params.preamble_segment).real)
    return (abs(D) / (Ep * E) if E > 0 else 0.0), D


def detection_metric(x: np.ndarray, params: OfdmParams) -> np.ndarray:
    """``L[n]`` for every ``n`` of ``x`` (zeros before the first full window); vectorised numpy."""
    x = np.asarray(x, np.complex128)
    P, Q = params.preamble_period, params.preamble_periods
    p = params.preamble_segment.astype(np.complex128)
    c = np.convolve(x, np.conj(p[::-1]))[:x.size]  # c[n] = sum_m x[n-P+1+m] conj(p[m])
    d = np.zeros_like(c)
    d[P:] = c[P:] * np.conj(c[:-P])
    # stride-P moving sum of Q-1 terms: D[n] = sum_i d[n - iP]
    D = d.copy()
    for i in range(1, Q - 1):
        D[i * P:] += d[:-i * P]
    e = np.cumsum(np.abs(x) ** 2)
    E = e.copy()
    E[Q * P:] -= e[:-Q * P]
    Ep = float(np.sum(np.abs(p) ** 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        L = np.where(E > 0, np.abs(D) / (Ep * E), 0.0)
    L[:Q * P - 1] = 0.0
    return L


class preamble_detector(gr.hier_block2):
    """complex samples in -> float metric ``L`` out (same rate; see the module docstring)."""

    def __init__(self, params: OfdmParams):
        gr.hier_block2.__init__(self, "semcod_preamble_detector", gr.io_signature(1, 1, gr.sizeof_gr_complex),
                                gr.io_signature(1, 1, gr.sizeof_float))
        P, Q = params.preamble_period, params.preamble_periods
        p = params.preamble_segment.astype(np.complex128)
        Ep = float(np.sum(np.abs(p) ** 2))
        self.mf = filter.fir_filter_ccc(1, [complex(v) for v in np.conj(p[::-1])])
        self.delay = blocks.delay(gr.sizeof_gr_complex, P)
        self.prod = blocks.multiply_conjugate_cc()
        # max_iter: the running sums restart from scratch at least every 512 samples, so NaN/inf
        # input or float drift cannot blind the detector for longer (FFT filters would hold back
        # the last block of a finite stream)
        self.s2v = blocks.stream_to_vector(gr.sizeof_gr_complex, P)
        self.comb = blocks.moving_average_cc(Q - 1, 1.0, max(1, MAX_ITER // P), P)
        self.v2s = blocks.vector_to_stream(gr.sizeof_gr_complex, P)
        self.mag = blocks.complex_to_mag()
        self.pow = blocks.complex_to_mag_squared()
        self.energy = blocks.moving_average_ff(Q * P, Ep, MAX_ITER)
        self.div = blocks.divide_ff()
        self.connect(self, self.mf)
        self.connect(self.mf, (self.prod, 0))
        self.connect(self.mf, self.delay, (self.prod, 1))
        self.connect(self.prod, self.s2v, self.comb, self.v2s, self.mag, (self.div, 0))
        self.connect(self, self.pow, self.energy, (self.div, 1))
        self.connect(self.div, self)
