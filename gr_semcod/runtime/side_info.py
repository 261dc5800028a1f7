"""Protected side information (the semantic codec v2's quadtree flags and power gain).

The tree bits (flags + CRC) are sent with one of two codes, on BPSK (I only), QPSK or 16-QAM:

* ``k7``: gr-fec's K = 7 rate-1/2 convolutional code (generators 133, 171 octal: the 802.11/DVB
  code), soft Viterbi;
* ``ldpc``: the IEEE 802.16e LDPC codes scikit-commpy ships ((1440, 720) rate 1/2, (960, 720) rate
  3/4; :mod:`gr_semcod.baselines.ldpc`), the bits split over ``ceil(n / 720)`` codewords, each
  shortened to its share, exact LLRs, sum-product decoding.

Rate matching between BPSK (2 symbols per bit) and QPSK (1) LDPC: ``qpsk_r1-2_ldpc_x<p>-<q>``
sends the rate-1/2 code bits on QPSK and, of every ``q`` code bits, ``p - q`` twice (``repeat =
p/q``: ``ceil(n p / q)`` code bits on air for ``n``; the extra copies evenly spaced over the
block, so every codeword and every column degree gets its share), the copies' LLRs added
(:func:`gr_semcod.runtime.semantic2.modulate` / ``demodulate``; ``_x2``: every code bit twice).
Spreading the copies evenly was kept because, in a screen of 100 frames per point at AWGN 0-1 dB,
repeating the degree-2 columns first lost as many frames and the high-degree columns first more.

A scheme costs ``beta`` channel symbols per bit (nominal; a shortened LDPC codeword also sends all
its parity bits, so short trees cost more: :func:`gr_semcod.runtime.semantic2.side_cost` is the
exact count).  The head (length, gain, check) always goes with the K=7 code at 4x the scheme's
symbols per bit.  Repetitions are combined by adding their soft values / LLRs.

The transmitter is told the SNR (and whether the channel fades) and takes, among the schemes
whose threshold the SNR reaches (:func:`reliable`), the one that sends the photo's flags in the
fewest symbols (:func:`side_mcs`): LDPC for a photo's tree (thousands of flags), the K=7 code for
short trees, where an LDPC codeword's parity costs more than the code gains.  ``SIDE_MCS``'s order
is the scheme index carried as the PDU's and the PHY header's ``mode``.

Thresholds: one dB above the last SNR that lost a frame, over ``--frames 100`` real side-information
frames (:func:`gr_semcod.runtime.semantic2.side_vector` / ``read_side``: head + tree + CRCs,
interleaved, spread over a vector of token symbols) with ``--seed 0`` and ``1``, on AWGN and on
block Rayleigh (16 symbols per fade, MMSE; ``FADING_MIN_SNR_DB``).  LDPC schemes::

    semcod bench sideinfo --bits 0 --frames 100 --flag-bits 3600 --payload 20000 --seed S \
        --channel awgn rayleigh --schemes NAME --snr ...

(3600 flags: the longest tree of the validation photos at CBR 1/12; more codewords fail more often),
K=7 schemes the same with ``--flag-bits 720 --payload 4000`` (the trees they are used for, ``max_flags``).
Frames lost of 100 (seed 0, seed 1) at the SNRs that decide:

====================  =====  =========  ==========================================  ===========  =======================================
scheme                beta   AWGN from  AWGN losses                                 fading from  fading losses
====================  =====  =========  ==========================================  ===========  =======================================
bpsk_r1-2_k7_x4       8      any        floor; 3600 flags: -5.5: 4; -5: 0           any          floor: -5: 17; -4: 0
bpsk_r1-2_ldpc_x2     4      -3.5 dB    -4.5: 1, 1; -4: 0, 0                        -3 dB        -4: 16, 13; -3.5: 0, 0
bpsk_r1-2_k7_x2       4      -0.5 dB    -2: 0, 3; -1.5: 0, 1; -1: 0, 0              0 dB         -1: 2, 2; 0: 0, 0
bpsk_r1-2_ldpc        2      -0.5 dB    -1.5: 2, 0; -1: 0, 0                        1.5 dB       0: 20, 12; 0.5: 1, 1; 1: 0, 0
bpsk_r1-2_k7          2      2 dB       1: 0, 1; 1.5: 0, 0                          7 dB         5: 1, 0; 6: 0, 1
qpsk_r1-2_ldpc        1      2.5 dB     1: 22, 30; 1.5: 0, 1; 2: 0, 0               5 dB         4: 1, 0; 5: 0, 0
qpsk_r1-2_k7          1      6 dB       4.5: 0, 1; 5: 0, 1; 5.5: 0, 0               8 dB         7: 1, 0; 8: 0, 0
qpsk_r3-4_ldpc        0.667  5.5 dB     4.5: 7, 5; 5: 0, 0                          10 dB        9: 1, 0; 10: 0, 0
16qam_r1-2_ldpc       0.5    7.5 dB     6.5: 6, 3; 7: 0, 0                          10 dB        9: 15, -; 9.5: -, 0; 10: 0, 0
16qam_r3-4_ldpc       0.333  12 dB      10.5: 7, 8; 11: 1, 0; 11.5: 0, 0            16 dB        15: 3, 2; 16: 0, 0
qpsk_r1-2_ldpc_x2     2      -0.5 dB    -1.5: 0, 1; -1: 0, 0; -0.5: 0, 0            0.5 dB       -0.5: 2, 0; 0: 0, 0; 0.5: 0, 0; 1: 0, 0
qpsk_r1-2_ldpc_x15-8  1.875  -0.5 dB    -1.5: 16, 12; -1: 0, 0; -0.5: 0, 0          1.5 dB       0: 0, 1; 0.5: 0, 1; 1: 0, 0; 1.5: 0, 0
qpsk_r1-2_ldpc_x5-3   1.667  0 dB       -1: 15, 16; -0.5: 0, 0; 0: 0, 0             1.5 dB       0.5: 2, 0; 1: 0, 0; 1.5: 0, 0
qpsk_r1-2_ldpc_x13-8  1.625  0.5 dB     -1: 33, 39; -0.5: 1, 1; 0: 0, 0; 0.5: 0, 0  1.5 dB       0.5: 11, 12; 1: 0, 0; 1.5: 0, 0
qpsk_r1-2_ldpc_x3-2   1.5    1 dB       -0.5: 10, 3; 0: 1, 1; 0.5: 0, 0; 1: 0, 0    2 dB         1: 7, 4; 1.5: 0, 0; 2: 0, 0
qpsk_r1-2_ldpc_x11-8  1.375  1 dB       0: 11, 6; 0.5: 0, 0; 1: 0, 0                2.5 dB       1.5: 6, 6; 2: 0, 0; 2.5: 0, 0
qpsk_r1-2_ldpc_x5-4   1.25   1.5 dB     0.5: 6, 7; 1: 0, 0; 1.5: 0, 0               3 dB         2: 5, 12; 2.5: 0, 0; 3: 0, 0
qpsk_r1-2_ldpc_x9-8   1.125  2 dB       0.5: 41, 44; 1: 2, 3; 1.5: 0, 0; 2: 0, 0    4 dB         2.5: 9, 8; 3: 1, 0; 3.5: 0, 0; 4: 0, 0
====================  =====  =========  ==========================================  ===========  =======================================

Measured and left off the ladder (another scheme is as cheap or cheaper and holds as low):
``qpsk_r1-2_ldpc_x4-3`` (AWGN 0: 20, 18; 0.5: 1, 1; 1: 0, 1; fading 1.5: 13, 19; 2: 0, 1) and
``qpsk_r1-2_ldpc_x7-4`` (AWGN -1.5: 57, 55; -1: 3, 2; -0.5 and 0: 0, 0; fading 0: 9, 7; 0.5: 1, 0;
1: 0, 0).  ``bpsk_r1-2_ldpc``'s fading threshold was 1 dB from runs at 0 and 1 dB; the run at
0.5 dB lost a frame per seed, so it is 1.5 dB by the rule.  ``qpsk_r1-2_ldpc_x2`` sends the same
symbols per bit and holds on AWGN as BPSK does (the same LLRs), but on a fading channel from
0.5 dB: its two copies of a code bit sit on different symbols, so in different fades.

The K=7 code measured on a photo's tree (3600 flags) needs more: BPSK lost 1 frame at 3 dB, QPSK
1 at 6 dB, BPSK x2 1 at -1.5 dB (AWGN), which is why it is kept for short trees only.  Decoding
one frame's side information (3600 flags, head included) took, in those runs (2 cores at a load of
~10), 50-150 ms on average with BPSK/QPSK LDPC at or above its threshold, 100-500 ms with 16-QAM
(worst frame 3 s, Rayleigh at 10 dB), 10-15 ms with K=7 (720 flags); the bench prints
``side_decode_ms`` per point.
"""
from __future__ import annotations

from fractions import Fraction
from functools import lru_cache
from typing import NamedTuple

import numpy as np


class SideMCS(NamedTuple):
    name: str
    min_snr_db: float
    bits_per_symbol: int   # coded bits per complex symbol (1: BPSK on I only, 2: QPSK, 4: 16-QAM)
    rate: float            # code rate
    beta: float            # channel symbols per information bit
    repeat: Fraction = Fraction(1)  # code bits on air per code bit: an integer, or p/q (the extra copies of some)
    code: str = "conv"     # "conv": gr-fec's K=7 code, soft Viterbi; "ldpc": 802.16e LDPC, sum-product
    max_flags: int = 0     # the longest tree (flag bits) its thresholds were measured for (0: any)


def _scheme(mod: str, rate: str, code: str, repeat="1", min_snr_db: float = np.inf) -> SideMCS:
    """``repeat``: ``"2"``, or a fraction ``"5/4"`` (named ``_x2``, ``_x5-4``)."""
    bps = {"bpsk": 1, "qpsk": 2, "16qam": 4}[mod]
    num, den = (int(v) for v in rate.split("/"))
    r = Fraction(repeat)
    tag = "k7" if code == "conv" else "ldpc"
    name = f"{mod}_r{num}-{den}_{tag}" + (f"_x{r.numerator}" + (f"-{r.denominator}" if r.denominator > 1 else "")
                                          if r != 1 else "")
    return SideMCS(name, min_snr_db, bps, num / den, float(r * den / (num * bps)), r, code)


#: every scheme the modem can send (``semcod bench sideinfo --schemes`` measures any of them);
#: :data:`SIDE_MCS` is the ladder of those the transmitter uses
SIDE_CANDIDATES = {m.name: m for m in (
    _scheme("bpsk", "1/2", "conv", 4), _scheme("bpsk", "1/2", "conv", 2), _scheme("bpsk", "1/2", "conv"),
    _scheme("qpsk", "1/2", "conv"),
    _scheme("bpsk", "1/2", "ldpc", 4), _scheme("bpsk", "1/2", "ldpc", 2), _scheme("bpsk", "1/2", "ldpc"),
    _scheme("qpsk", "1/2", "ldpc"), _scheme("qpsk", "3/4", "ldpc"),
    _scheme("16qam", "1/2", "ldpc"), _scheme("16qam", "3/4", "ldpc"),
    *(_scheme("qpsk", "1/2", "ldpc", r) for r in ("9/8", "5/4", "4/3", "11/8", "3/2", "13/8", "5/3", "7/4", "15/8", "2")))}


def candidate(name: str, min_snr_db: float = np.inf, max_flags: int = 0) -> SideMCS:
    """The scheme ``name`` of :data:`SIDE_CANDIDATES` used from ``min_snr_db`` for trees of at most
    ``max_flags`` flag bits (0: any)."""
    if name not in SIDE_CANDIDATES:
        raise ValueError(f"unknown side-information scheme {name!r}; known: {', '.join(SIDE_CANDIDATES)}")
    return SIDE_CANDIDATES[name]._replace(min_snr_db=float(min_snr_db), max_flags=int(max_flags))


#: the K=7 schemes (but the floor) are used for trees of at most this many flag bits (a small photo's),
#: where they send fewer symbols than an LDPC codeword and where their thresholds were measured
SHORT_TREE = 720

SIDE_MCS = (
    candidate("bpsk_r1-2_k7_x4", -np.inf),
    candidate("bpsk_r1-2_ldpc_x2", -3.5),
    candidate("bpsk_r1-2_k7_x2", -0.5, SHORT_TREE),
    candidate("bpsk_r1-2_ldpc", -0.5),
    candidate("bpsk_r1-2_k7", 2.0, SHORT_TREE),
    candidate("qpsk_r1-2_ldpc", 2.5),
    candidate("qpsk_r1-2_k7", 6.0, SHORT_TREE),
    candidate("qpsk_r3-4_ldpc", 5.5),
    candidate("16qam_r1-2_ldpc", 7.5),
    candidate("16qam_r3-4_ldpc", 12.0),
    # rate matching between BPSK and QPSK LDPC (appended: the indices above are the modes older
    # transmitters send), by symbols per bit from 2 down
    candidate("qpsk_r1-2_ldpc_x2", -0.5),
    candidate("qpsk_r1-2_ldpc_x15-8", -0.5),
    candidate("qpsk_r1-2_ldpc_x5-3", 0.0),
    candidate("qpsk_r1-2_ldpc_x13-8", 0.5),
    candidate("qpsk_r1-2_ldpc_x3-2", 1.0),
    candidate("qpsk_r1-2_ldpc_x11-8", 1.0),
    candidate("qpsk_r1-2_ldpc_x5-4", 1.5),
    candidate("qpsk_r1-2_ldpc_x9-8", 2.0),
)
#: per scheme, the SNR from which it is used on a fading channel
FADING_MIN_SNR_DB = {"bpsk_r1-2_k7_x4": -np.inf, "bpsk_r1-2_ldpc_x2": -3.0, "bpsk_r1-2_k7_x2": 0.0,
                     "bpsk_r1-2_ldpc": 1.5, "bpsk_r1-2_k7": 7.0, "qpsk_r1-2_ldpc": 5.0, "qpsk_r1-2_k7": 8.0,
                     "qpsk_r3-4_ldpc": 10.0, "16qam_r1-2_ldpc": 10.0, "16qam_r3-4_ldpc": 16.0,
                     "qpsk_r1-2_ldpc_x2": 0.5, "qpsk_r1-2_ldpc_x15-8": 1.5, "qpsk_r1-2_ldpc_x5-3": 1.5,
                     "qpsk_r1-2_ldpc_x13-8": 1.5, "qpsk_r1-2_ldpc_x3-2": 2.0, "qpsk_r1-2_ldpc_x11-8": 2.5,
                     "qpsk_r1-2_ldpc_x5-4": 3.0, "qpsk_r1-2_ldpc_x9-8": 4.0}


#: flag bits of a typical photo's side information (a 768x480 photo at CBR 1/48: ~2500), for
#: choosing a scheme before the photo's own count is known
TYPICAL_FLAGS = 2400


def reliable(snr_db: float, fading: bool = False, n_flags: int = TYPICAL_FLAGS) -> list:
    """The schemes of :data:`SIDE_MCS` whose threshold ``snr_db`` reaches (the fading thresholds
    with ``fading``) for a tree of ``n_flags`` flag bits."""
    return [m for m in SIDE_MCS if snr_db >= (FADING_MIN_SNR_DB[m.name] if fading else m.min_snr_db)
            and (m.max_flags == 0 or n_flags <= m.max_flags)]


def side_mcs(snr_db: float, fading: bool = False, n_flags: int = TYPICAL_FLAGS) -> SideMCS:
    """The scheme that sends ``n_flags`` flag bits in the fewest channel symbols
    (:func:`gr_semcod.runtime.semantic2.side_cost`: head, CRC and code included) among those
    reliable at ``snr_db`` (:func:`reliable`); a tie goes to the more robust (earlier) one.  The
    K=7 code wins short trees (an LDPC codeword sends all its parity bits, however shortened),
    LDPC long ones, at a lower SNR."""
    return _cheapest(float(snr_db), bool(fading), int(n_flags))


@lru_cache(maxsize=4096)
def _cheapest(snr_db: float, fading: bool, n_flags: int) -> SideMCS:
    from .semantic2 import side_cost

    ok = reliable(snr_db, fading, n_flags)
    return min(ok, key=lambda m: (side_cost(max(n_flags, 0), m), SIDE_MCS.index(m)))


def scheme_index(name: str) -> int:
    """Index of the scheme ``name`` in :data:`SIDE_MCS` (the PDU's and the PHY header's ``mode``)."""
    names = [m.name for m in SIDE_MCS]
    if name not in names:
        raise ValueError(f"unknown side-information scheme {name!r}; known: {', '.join(names)}")
    return names.index(name)


def describe_schemes() -> str:
    """The scheme ladder in words (for model cards): channel symbols per bit and the SNR from which
    each scheme holds, on AWGN and when the channel fades, and the rule that picks one."""
    def thr(t):
        return "any" if t == -np.inf else f"{t:g} dB"

    parts = [f"{m.name} {m.beta:.3g} ({thr(m.min_snr_db)} / {thr(FADING_MIN_SNR_DB[m.name])}"
             + (f", trees of at most {m.max_flags} flags)" if m.max_flags else ")") for m in SIDE_MCS]
    return ("schemes by channel symbols per bit (nominal; shortened LDPC codewords cost a little more) and the SNR "
            f"from which each holds on AWGN / on a fading channel (the transmitter told so): {', '.join(parts)}; "
            "the transmitter takes the one that sends the photo's flags in the fewest symbols")


def side_beta(snr_db: float, fading: bool = False, n_flags: int = TYPICAL_FLAGS) -> float:
    """Channel symbols per side bit at ``snr_db`` (nominal: the scheme's ``beta``)."""
    return side_mcs(snr_db, fading, n_flags).beta


def bit_error_rate(mcs: SideMCS, snr_db: float, n_bits: int, seed: int = 0) -> float:
    """Measured BER of ``mcs`` over AWGN at ``snr_db`` (Es/N0 per complex symbol), unit-power
    symbols, through the path the side information takes on air (:func:`gr_semcod.runtime.semantic2.modulate`
    / ``demodulate``: gr-fec's K=7 code, the interleaver, repetitions, soft Viterbi)."""
    from .semantic2 import demodulate, modulate

    rng = np.random.default_rng(seed)
    bits = rng.integers(0, 2, n_bits).astype(np.uint8)
    x = modulate(bits, mcs)
    n0 = 10 ** (-snr_db / 10)
    y = x + np.sqrt(n0 / 2) * (rng.normal(size=x.size) + 1j * rng.normal(size=x.size))
    dec = demodulate(y.astype(np.complex64), np.full(x.size, 1.0 / n0), n_bits, mcs)
    return float(np.mean(dec != bits))
