"""The semantic codec v2 on a whole photo, as it goes over the air: symbols out, image back.

:func:`encode_photo` tiles the photo, runs ``semantic2_encoder``, allocates the quadtree (one
budget per photo, mode b), merges (``semantic2_merger``) and returns ONE complex symbol vector of ``N`` symbols::

    head   32 bits: flag-stream length (20) | power-gain index (6) | check (6, CRC-16 low bits),
           its symbols spread evenly over the whole vector (positions ``i N // n_head``)
    tree   the arithmetic-coded split flags (:mod:`.flag_coder`) + CRC-16 of head and flags,
           its symbols spread evenly over the positions the head leaves
    tokens in the remaining positions in order: c/2 complex symbols per token, raster order of
           the leaves, tiles in raster order

The head block is coded with gr-fec's terminated K=7 rate-1/2 code (the PHY header's,
:class:`gr_semcod.phy.code.ConvCode`: ``2 (n + 6)`` code bits), on the scheme's modulation (QPSK at
most) with ``HEAD_REPEAT`` times its symbols per bit (:func:`head_mcs`).  The tree block is coded by
the scheme's own code: the same K=7 code, or (``code == "ldpc"``) the IEEE 802.16e LDPC code of its
rate (:func:`gr_semcod.baselines.ldpc.wimax_code`: (1440, 720) or (960, 720)), the ``n`` bits split
evenly over ``B = ceil(n / 720)`` codewords of 720 information bits, each shortened to its share (``720 - n_b`` known zeros,
not sent; all its parity bits are sent).  The code bits (repeated where the scheme says) are
interleaved by a fixed pseudo-random permutation and mapped on BPSK (I only) / QPSK / 16-QAM by the
scheme :func:`.side_info.side_mcs` picks for the SNR (its index travels as the PDU's ``mode``).
Interleaving and spreading turn a fade or a lost PHY frame into scattered bit errors that the
decoder corrects.  The side information costs exactly :func:`side_cost` channel symbols; for the
conv schemes::

    S_side = beta * (4 (HEAD_BITS + 6) + n_flags + CRC_BITS + 6)  = beta * (n_flags + SIDE_OVERHEAD_BITS)

and for the LDPC schemes ``beta`` per flag bit plus the head, the CRC and the parity of the
shortened codewords (:func:`side_overhead_bits`: 400 bits at rate 1/2 for ~2400 flags).  The head is
repeated 4x on top of the scheme: losing it loses the photo, and it is short.  The photo spends
``N = S_side + tokens * c/2 <= round(CBR * H * W * 3)``:
what is sent is what is charged (the allocation charges the flags at their ideal KT length, then
the real coded length is measured and the budget tightened until the real total fits).

:func:`decode_photo` soft-Viterbi-decodes the head, then the tree block (soft Viterbi or sum-product), checks both CRCs, parses
the flags and only then places the tokens.  Any failure (check or CRC mismatch, a length that
does not fit the vector, a tree whose token count disagrees with the symbols left) is reported in
``info["ok"] = False`` / ``info["reason"]`` and the photo falls back to uniform mid-grey: tokens
are never placed on a tree that did not pass its CRC.

Mode ``auto`` (:func:`encode_auto`, the GNU Radio encoder's default) sends either that vector or,
when merging decodes worse on the transmitter's own channel draws, the photo's Deep JSCC at the CBR
tile by tile (:func:`encode_floor`: no side information, ``mode`` = :data:`FLOOR_MODE`, ``T k_tile``
symbols, what the Deep JSCC baseline spends); :func:`decode_photo` takes the floor from the mode.
Both ends code with the :func:`codec_set` of the rate: a transmitter of its own at that CBR
(``semantic2_encoder@<cbr>``, ``semantic2_merger@<cbr>``, its level amplitudes and its matched
``semantic2_decoder@<cbr>``) when the bundle has one, else the shared transmitter and
:func:`decoder_role` of the rate.  The transmitter picks it from the CBR and checks that the rate the
receiver will measure, ``N / (3 H W)``, picks the same one; the receiver picks it from that rate.

numpy + ONNX Runtime (+ gr-fec's C++ coder, scikit-commpy's 802.16e designs); no torch.
"""
from __future__ import annotations

import functools
import threading
from fractions import Fraction
from typing import Dict, Iterable, List, NamedTuple, Optional, Tuple

import numpy as np

from ..contract import CODEC_SEMANTIC2  # noqa: F401  (the codec's name, re-exported)
from ..rates import parse_cbr
from . import quadtree
from .bundle import Bundle, role_key
from .flag_coder import decode_flags, encode_flags
from .latent_fill import fill_erased
from .side_info import SIDE_MCS, TYPICAL_FLAGS, SideMCS, side_mcs
from .tiles import stitch, tile_photo

LEN_BITS = 20          # flag-stream length field: up to 2^20 - 1 flag bits (> 4096 x 4096 pixels)
GAIN_BITS = 6          # the bundle's gain_bits (checked against the manifest)
CHECK_BITS = 6
HEAD_BITS = LEN_BITS + GAIN_BITS + CHECK_BITS
CRC_BITS = 16
TAIL_BITS = 6          # K - 1 termination bits of each convolutional block
HEAD_REPEAT = 4        # the head is sent 4x more often than the tree block: losing it loses everything
SIDE_OVERHEAD_BITS = HEAD_REPEAT * (HEAD_BITS + TAIL_BITS) + CRC_BITS + TAIL_BITS  # 174
INTERLEAVER_SEED = 0x5EC2
FALLBACK_LEVEL = 0.5   # the image a receiver shows when the side information fails
MODES = ("photo", "tile", "uniform", "none", "photo_unpriced", "auto")
FLOOR_MODE = 255       # PDU / PHY header ``mode``: the photo went as the Deep JSCC at its CBR, tile by tile
FLOOR_SEED = 0xF1005   # the transmitter's own channel draws for the floor decision (mode ``auto``): a
                       # SeedSequence spawn of it, which no integer seed of an evaluation can reproduce
FLOOR_BLOCK_LEN = 16   # its fading model: Rayleigh blocks of this many symbols (the evaluation's)
FLOOR_MAX_OVERSPEND = 0.05  # the floor spends Deep JSCC's padded tiles: at most this share above round(CBR H W 3)
FLOOR_DRAWS = 5        # the floor decision: at most this many channel draws of the transmitter's own ...
FLOOR_MIN_DRAWS = 3    # ... at least this many ...
MAX_FLOOR_DRAWS = 20   # the largest number a caller may ask for (each is two decodes of the photo)
FLOOR_Z = 2.0          # ... stopping once their mean gain is this many standard errors from 0 (floor_decision)
FLOOR_MAX_FAILURES = 2  # draws on which the merged photo's side information failed that send the floor
BISECT_SLACK = 0.005   # a photo left this share of its budget unspent by the tightening is refilled by bisection
ENTROPY_ROUNDS = 2     # photo trees: re-solved twice with every flag priced at its coded length
DECODER_CBR_TOLERANCE = 1.25  # a per-CBR receiver serves rates within this factor of its own


class SideInfoError(ValueError):
    """The side information of a photo could not be decoded (the message says why)."""


# --------------------------------------------------------------------------- bits


def _uint_bits(value: int, n: int) -> np.ndarray:
    return np.array([(int(value) >> (n - 1 - i)) & 1 for i in range(n)], np.uint8)


def _bits_uint(bits: np.ndarray) -> int:
    v = 0
    for b in bits:
        v = 2 * v + int(b)
    return v


def crc16(bits: np.ndarray) -> np.ndarray:
    """The PHY header's CRC-16/CCITT (:func:`gr_semcod.phy.header.crc16`) of a bit string
    (zero-padded to bytes, its length included so that trailing zeros count) as 16 bits."""
    from ..phy.header import crc16 as crc16_bytes

    b = np.asarray(bits, np.uint8)
    return _uint_bits(crc16_bytes(int(b.size).to_bytes(4, "big") + np.packbits(b).tobytes()), CRC_BITS)


def _head_bits(n_flags: int, gain: int) -> np.ndarray:
    body = np.concatenate([_uint_bits(n_flags, LEN_BITS), _uint_bits(gain, GAIN_BITS)])
    return np.concatenate([body, crc16(body)[-CHECK_BITS:]])


# --------------------------------------------------------------------------- protected blocks


def _n_code_bits(n_bits: int, mcs: SideMCS) -> int:
    """Code bits of one block of ``n_bits`` before repetition (conv: ``2 (n + 6)``; LDPC: the
    shortened codewords' information bits + all their parity bits)."""
    if mcs.code == "ldpc":
        return sum(len(p) for p in _ldpc_blocks(int(n_bits), mcs)[1])
    return 2 * (int(n_bits) + TAIL_BITS)


def n_sent_bits(n_coded: int, repeat) -> int:
    """Code bits on air for ``n_coded`` code bits repeated ``repeat`` times (an integer or a
    fraction ``p/q``): ``ceil(n_coded * repeat)``, exact."""
    r = Fraction(repeat)
    return -(-(int(n_coded) * r.numerator) // r.denominator)


def side_symbols_for(n_bits: int, mcs: SideMCS) -> int:
    """Channel symbols of one protected block of ``n_bits`` information bits under ``mcs``."""
    return -(-n_sent_bits(_n_code_bits(n_bits, mcs), mcs.repeat) // mcs.bits_per_symbol)


def head_mcs(mcs: SideMCS) -> SideMCS:
    """The head block's scheme: ``mcs``'s modulation (QPSK at most) with the K=7 code and the
    repetitions that make it cost ``HEAD_REPEAT`` times ``mcs``'s symbols per bit or more (at least
    +6 dB over the conv scheme of the same cost; the head is too short for an LDPC block)."""
    bps = min(mcs.bits_per_symbol, 2)
    repeat = max(1, int(np.ceil(HEAD_REPEAT * mcs.beta * bps * 0.5 - 1e-9)))
    return mcs._replace(code="conv", bits_per_symbol=bps, rate=0.5, repeat=repeat, beta=2.0 * repeat / bps)


def side_cost(n_flags: int, mcs: SideMCS) -> int:
    """Symbols of the whole side information (head block + tree block) for ``n_flags`` flag bits."""
    return side_symbols_for(HEAD_BITS, head_mcs(mcs)) + side_symbols_for(n_flags + CRC_BITS, mcs)


def side_overhead_bits(mcs: SideMCS, n_flags: int = TYPICAL_FLAGS) -> float:
    """The side information's cost beyond ``beta`` per flag bit, in bits at ``beta``, for a tree of
    about ``n_flags`` flags: head, CRC, termination (conv: :data:`SIDE_OVERHEAD_BITS`, whatever
    ``n_flags``) or the parity of the shortened codewords (LDPC); what the allocation charges up front."""
    if mcs.code != "ldpc":
        return float(SIDE_OVERHEAD_BITS)
    return side_cost(int(n_flags), mcs) / mcs.beta - int(n_flags)


@functools.lru_cache(maxsize=64)
def _interleaver(n: int) -> np.ndarray:
    """The fixed pseudo-random permutation of a block's ``n`` (repeated) code bits: neighbouring
    code bits land on distant symbols, so a fade or a lost PHY frame hits the Viterbi decoder as
    scattered errors, not as a burst."""
    perm = np.random.default_rng([INTERLEAVER_SEED, int(n)]).permutation(int(n))
    perm.flags.writeable = False  # shared by the cache
    return perm


_CODES = threading.local()  # gr-fec coders keep state while they run: one set per thread
MAX_CACHED_CODES = 64


def _conv_code(n_bits: int):
    """gr-fec's terminated K=7 rate-1/2 code for blocks of ``n_bits``, built once per length and thread."""
    from ..phy.code import ConvCode

    cache = _CODES.__dict__.setdefault("codes", {})
    code = cache.get(int(n_bits))
    if code is None:
        if len(cache) >= MAX_CACHED_CODES:
            cache.clear()
        code = cache[int(n_bits)] = ConvCode(int(n_bits))
    return code


LDPC_ITERATIONS = 50   # sum-product iterations at most (codewords that check stop earlier)
_LDPC_DESIGN = {0.5: "1/2", 0.75: "3/4"}


def _ldpc(mcs: SideMCS):
    """The 802.16e code of ``mcs``'s rate (:func:`gr_semcod.baselines.ldpc.wimax_code`, cached)."""
    from ..baselines.ldpc import wimax_code

    if mcs.rate not in _LDPC_DESIGN:
        raise ValueError(f"{mcs.name}: no 802.16e design of rate {mcs.rate:g} (have {sorted(_LDPC_DESIGN)})")
    return wimax_code(_LDPC_DESIGN[mcs.rate])


def _ldpc_blocks(n_bits: int, mcs: SideMCS):
    """``n_bits`` split over ``B = ceil(n_bits / K)`` codewords as evenly as possible: per codeword
    the shortening ``s_b = K - n_b`` and its transmitted positions (``n_b`` + the ``n - K`` parity)."""
    code = _ldpc(mcs)
    nb = max(1, -(-int(n_bits) // code.k))
    sizes = np.full(nb, int(n_bits) // nb) + (np.arange(nb) < int(n_bits) % nb)
    short = [int(code.k - m) for m in sizes]
    return short, [code.sent(s) for s in short]


def _coded_bits(bits: np.ndarray, mcs: SideMCS) -> np.ndarray:
    """Information bits -> the block's code bits (conv: terminated K=7; LDPC: shortened codewords)."""
    if mcs.code != "ldpc":
        return _conv_code(len(bits)).encode(bits)
    code = _ldpc(mcs)
    short, _ = _ldpc_blocks(len(bits), mcs)
    parts = np.split(np.asarray(bits, np.uint8), np.cumsum([code.k - s for s in short])[:-1])
    return np.concatenate([code.encode_shortened(u[None], s)[0] for u, s in zip(parts, short)])


@functools.lru_cache(maxsize=256)
def _repetition(n_bits: int, mcs: SideMCS) -> np.ndarray:
    """Which code bit each bit on air is, before interleaving (read-only, cached)::

        idx = [0, .., 0, 1, .., 1, ..., n-1, .., n-1] (floor(r) each) ++ spread(n, e),
        e = ceil(n r) - n floor(r)

    for ``n`` code bits and ``repeat`` ``r``: an integer ``r`` sends ``np.repeat(code, r)`` as it
    always did; a fraction adds one more copy of ``e`` code bits evenly spaced over the block
    (every codeword and every column degree of the LDPC matrix get their share; in the screen of
    :mod:`.side_info` it lost no more frames than favouring the degree-2 columns, most of this
    encoder's systematic positions, and fewer than favouring the high-degree ones)."""
    n = _n_code_bits(n_bits, mcs)
    whole = int(Fraction(mcs.repeat))
    idx = np.repeat(np.arange(n), whole)
    extra = n_sent_bits(n, mcs.repeat) - n * whole
    if extra:
        idx = np.concatenate([idx, spread(n, extra)])
    idx.flags.writeable = False
    return idx


def _combine(soft: np.ndarray, n_bits: int, mcs: SideMCS) -> np.ndarray:
    """De-interleave the soft values / LLRs of the bits on air and add the copies of each code bit."""
    idx = _repetition(n_bits, mcs)
    x = np.empty(idx.size)
    x[_interleaver(idx.size)] = soft[:idx.size]
    return np.bincount(idx, weights=x, minlength=_n_code_bits(n_bits, mcs))


def modulate(bits: np.ndarray, mcs: SideMCS) -> np.ndarray:
    """Information bits -> coded, repeated, interleaved, unit-power symbols: BPSK (I only) / QPSK
    (bit 0 -> +) for the conv schemes, commpy's Gray BPSK/QPSK/16-QAM (:mod:`gr_semcod.baselines.modem`)
    for the LDPC ones."""
    code = _coded_bits(bits, mcs)
    code = code[_repetition(len(bits), mcs)]
    code = code[_interleaver(code.size)]
    if mcs.code == "ldpc":
        from ..baselines.modem import modulate as qam

        pad = (-code.size) % mcs.bits_per_symbol
        x = qam(np.concatenate([code, np.zeros(pad, np.uint8)]), 2 ** mcs.bits_per_symbol)
        return (x.real if mcs.bits_per_symbol == 1 else x).astype(np.complex64)  # commpy's BPSK: +-1 (+ 1e-16 j)
    x = 1.0 - 2.0 * code.astype(np.float64)
    if mcs.bits_per_symbol == 1:
        return x.astype(np.complex64)
    x = np.concatenate([x, np.ones(len(x) % 2)])  # pad to pairs (never needed: 2 (n + 6) is even)
    return ((x[0::2] + 1j * x[1::2]) * np.sqrt(0.5)).astype(np.complex64)


def demodulate(y: np.ndarray, weight: np.ndarray, n_bits: int, mcs: SideMCS) -> np.ndarray:
    """Decode ``n_bits`` from the symbols of :func:`modulate` (``weight``: per-symbol reliability
    ``1 / noise_var``, 0 for an erased symbol): soft Viterbi (conv) or sum-product over all the
    block's codewords at once (LDPC, exact LLRs)."""
    if mcs.code == "ldpc":
        return _ldpc_demodulate(y, weight, n_bits, mcs)
    cc = _conv_code(n_bits)
    y = np.asarray(y, np.complex64) * np.asarray(weight, np.float64)
    soft = y.real if mcs.bits_per_symbol == 1 else np.stack([y.real, y.imag], -1).reshape(-1)
    x = _combine(soft, n_bits, mcs)  # maximum-ratio combining of the repetitions
    if not np.any(x):
        raise SideInfoError("side information erased")
    return cc.decode(x)


def _ldpc_demodulate(y: np.ndarray, weight: np.ndarray, n_bits: int, mcs: SideMCS) -> np.ndarray:
    """LLRs ``log P(0)/P(1)`` per code bit (:func:`gr_semcod.baselines.modem.demodulate_llr`,
    repetitions added), de-interleaved, then the shortened codewords decoded together
    (:meth:`gr_semcod.baselines.ldpc.LDPCCode.decode`; shortened bits enter as certain zeros)."""
    from ..baselines.ldpc import LLR_MAX
    from ..baselines.modem import demodulate_llr

    code = _ldpc(mcs)
    short, sent = _ldpc_blocks(n_bits, mcs)
    w = np.asarray(weight, np.float64)
    nv = np.divide(1.0, w, out=np.full(w.shape, 1e300), where=w > 0)
    llr = demodulate_llr(np.asarray(y, np.complex128), 2 ** mcs.bits_per_symbol, nv)
    x = _combine(llr, n_bits, mcs)
    if not np.any(x):
        raise SideInfoError("side information erased")
    full = np.full((len(short), code.n), LLR_MAX)
    for b, part in enumerate(np.split(x, np.cumsum([len(p) for p in sent])[:-1])):
        full[b, sent[b]] = part
    hard, _ = code.decode(full, LDPC_ITERATIONS)
    info = code.info(hard)
    return np.concatenate([info[b, s:] for b, s in enumerate(short)]).astype(np.uint8)


def head_positions(n_symbols: int, mcs: SideMCS) -> np.ndarray:
    """Where the head block's symbols sit in a photo's vector of ``n_symbols``: spread evenly over
    all of it (the receiver knows ``n_symbols``), so that no single fade or lost frame takes the
    head; the tree block is spread over the other positions (:func:`spread`), the tokens fill the rest."""
    n_head = side_symbols_for(HEAD_BITS, head_mcs(mcs))
    if n_symbols < n_head:
        raise SideInfoError(f"{n_symbols} symbols, fewer than the {n_head} of the side-info head")
    return (np.arange(n_head) * n_symbols) // n_head


def spread(n: int, k: int) -> np.ndarray:
    """``k`` of ``n`` positions, evenly spaced (``i n // k``): where a side block's symbols go among
    the positions left to it, so that a lost PHY frame erases only a scattered few of them."""
    if k > n:
        raise SideInfoError(f"a side block of {k} symbols does not fit the {n} positions left")
    return (np.arange(k) * n) // k


# --------------------------------------------------------------------------- allocation


def photo_levels(y: np.ndarray, meta: Dict, budget: float, mode: str, beta: float,
                 layout: Tuple[int, int], extra_bits: float = SIDE_OVERHEAD_BITS) -> np.ndarray:
    """Level maps ``(T, h, w)`` of a photo's tiles for ``mode``, charging the flags at their KT
    length and the fixed side overhead (``extra_bits``, :func:`side_overhead_bits`) at ``beta``
    symbols per bit."""
    c, depth = meta["c"], meta["depth"]
    t = len(y)
    r = c / 2.0
    extra = float(extra_bits)
    if mode == "photo_unpriced":  # ablation: the free tree with no flag priced (the allocation before)
        return quadtree.allocate(y, depth, r, budget, beta, extra, groups=np.zeros(t, np.int64), layout=layout)[0]
    if mode == "photo":  # the free tree, its flags priced at their coded length, or one level per tile
        free, info = quadtree.allocate(y, depth, r, budget, beta, extra, groups=np.zeros(t, np.int64), layout=layout,
                                       entropy_rounds=ENTROPY_ROUNDS)
        flat, flat_info = quadtree.allocate_tile_levels(y, depth, r, budget, beta, extra, layout)
        if not flat_info["over"] and (bool(info["over"][0]) or flat_info["distortion"]
                                      < quadtree.partition_distortion(quadtree.node_distortion(y, depth), free)):
            return flat
        return free
    if mode == "tile":
        return quadtree.allocate(y, depth, r, (budget - extra * beta) / t, beta, 0.0)[0]
    if mode == "none":
        return np.zeros(y.shape[:1] + y.shape[2:], np.uint8)
    if mode == "uniform":  # the finest level every tile can afford (its tree costs next to nothing)
        pos = y.shape[2] * y.shape[3]
        fits = [lv for lv in range(depth + 1) if t * pos / 4 ** lv * r + (extra + t) * beta <= budget]
        return np.full(y.shape[:1] + y.shape[2:], fits[0] if fits else depth, np.uint8)
    raise ValueError(f"mode must be one of {MODES}, got {mode!r}")


def run_batched(bundle: Bundle, role: str, batch: int, **inputs) -> np.ndarray:
    """``bundle.run(role, ...)``'s first output over the inputs' first axis, ``batch`` at a time."""
    n = len(next(iter(inputs.values())))
    outs = []
    for i in range(0, n, batch):
        res = bundle.run(role, **{k: v[i:i + batch] for k, v in inputs.items()})
        outs.append(next(iter(res.values())))
    return np.concatenate(outs)




def merge_tiles(bundle: Bundle, meta: Dict, tiles: np.ndarray, feats: np.ndarray, lev: np.ndarray,
                batch: int = 256, merger: str = "semantic2_merger") -> np.ndarray:
    """Tiles ``(T, 3, S, S)``, their features and level maps -> the merged latent ``(T, c, h, w)``,
    constant over each leaf (``merger``: the :func:`codec_set`'s); a whole tile
    (:func:`quadtree.whole_tiles`) carries the base-rate Deep JSCC latent instead."""
    latent = run_batched(bundle, merger, batch, features=feats, levels=lev[:, None].astype(np.float32))
    whole = quadtree.whole_tiles(lev)
    if whole.any():
        base = run_batched(bundle, role_key("deepjscc_encoder", meta["base_cbr"]), batch, images=tiles[whole])
        latent[whole] = base.reshape(latent[whole].shape)
    return latent


TRANSMITTER_ROLES = ("semantic2_encoder", "semantic2_merger")
SET_ROLES = TRANSMITTER_ROLES + ("semantic2_decoder",)
# manifest["semantic2"] (and transmitters[cbr]) entries that are no codec constant: runs and receivers
SHARED_KEYS = ("run", "decoders", "transmitters", "receiver_run", "warm_start")


class CodecSet(NamedTuple):
    """The v2 transmitter and receiver that code a photo sent at some rate (:func:`codec_set`)."""

    cbr: Optional[str]  # the rate of a transmitter of its own; None: the shared transmitter
    encoder: str
    merger: str
    decoder: str
    meta: Dict          # manifest["semantic2"] with this transmitter's own constants (its level_amp)


def _as_rate(rate) -> Optional[float]:
    if rate is None:
        return None
    r = float(parse_cbr(rate)) if isinstance(rate, str) else float(rate)
    return r if r > 0 else None


def nearest_cbr(cbrs: Iterable[str], rate, tolerance: float = DECODER_CBR_TOLERANCE) -> Optional[str]:
    """The CBR of ``cbrs`` nearest to ``rate`` (a CBR or a ratio; distance ``|log(rate / cbr)|``)
    when it is within a factor ``tolerance``, else None."""
    r = _as_rate(rate)
    if r is None:
        return None
    dist = {c: abs(np.log(r / float(parse_cbr(c)))) for c in cbrs}
    best = min(dist, key=dist.get, default=None)
    return None if best is None or dist[best] > np.log(tolerance) else best


def transmitter_cbrs(manifest: Dict) -> List[str]:
    """The rates that have a transmitter of their own (``manifest["semantic2"]["transmitters"]``,
    all of its three roles in the manifest)."""
    s2 = manifest.get("semantic2") or {}
    return [c for c in (s2.get("transmitters") or {})
            if all(role_key(r, c) in manifest.get("models", {}) for r in SET_ROLES)]


def set_meta(manifest: Dict, cbr: Optional[str]) -> Dict:
    """``manifest["semantic2"]`` as the set of ``cbr`` sees it: the shared constants with the
    transmitter's own (``transmitters[cbr]``: ``level_amp``, ``cbrs``, ``run``) over them; the
    shared entry itself for ``cbr=None``."""
    s2 = manifest["semantic2"]
    if cbr is None:
        return s2
    shared = {k: v for k, v in s2.items() if k not in SHARED_KEYS}
    return {**shared, **s2["transmitters"][cbr]}


def codec_set(bundle: Bundle, rate=None) -> CodecSet:
    """The v2 codec for a photo sent at ``rate`` (a CBR, or the symbols-per-real ratio the receiver
    measures, ``N / (3 H W)``): the transmitter of its own of the nearest CBR within a factor
    :data:`DECODER_CBR_TOLERANCE` and its matched receiver, when the bundle has one; else the
    shared transmitter with :func:`decoder_role`'s receiver.  Transmitter and receiver call it
    with the same rate (the transmitter checks that the rate it spends picks the same set)."""
    check_bundle(bundle)
    own = nearest_cbr(transmitter_cbrs(bundle.manifest), rate)
    if own is not None:
        return CodecSet(own, *(role_key(r, own) for r in SET_ROLES), set_meta(bundle.manifest, own))
    return CodecSet(None, "semantic2_encoder", "semantic2_merger", _shared_decoder(bundle, rate),
                    bundle.manifest["semantic2"])


def _shared_decoder(bundle: Bundle, rate) -> str:
    decoders = (bundle.manifest.get("semantic2") or {}).get("decoders") or {}
    best = nearest_cbr([c for c in decoders if bundle.has(role_key("semantic2_decoder", c))], rate)
    return "semantic2_decoder" if best is None else role_key("semantic2_decoder", best)


def decoder_role(bundle: Bundle, rate=None) -> str:
    """The receiver role for a photo sent at ``rate`` (a CBR, or the symbols-per-real ratio the
    receiver measures, ``N / (3 H W)``): the matched ``semantic2_decoder@<cbr>`` of a transmitter
    of its own (:func:`codec_set`); else ``semantic2_decoder@<cbr>``, a receiver of the shared
    transmitter trained at that rate alone, when the bundle has one for a rate within a factor
    ``DECODER_CBR_TOLERANCE`` of it (the nearest), else ``semantic2_decoder``, the one trained
    over every rate in ``meta["cbrs"]``."""
    return codec_set(bundle, rate).decoder


def synthesize_tiles(bundle: Bundle, meta: Dict, latent_hat: np.ndarray, lev: np.ndarray, snr_db: np.ndarray,
                     batch: int = 256, rate=None) -> np.ndarray:
    """Received latent ``(T, c, h, w)`` (tokens copied over their leaves, amplitudes removed), level
    maps and the latent's SNR ``(T, 1)`` -> tiles ``(T, 3, S, S)``: the v2 receiver for ``rate``
    (:func:`decoder_role`: refinement + synthesis), or for a whole tile the base-rate Deep JSCC decoder."""
    whole = quadtree.whole_tiles(lev)
    s = meta["tile"]
    rec = np.empty((len(lev), 3, s, s), np.float32)
    snr_db = np.asarray(snr_db, np.float32).reshape(-1, 1)
    if (~whole).any():
        rec[~whole] = run_batched(bundle, decoder_role(bundle, rate), batch, latent=latent_hat[~whole],
                                  levels=lev[~whole][:, None].astype(np.float32), snr_db=snr_db[~whole])
    if whole.any():
        rec[whole] = run_batched(bundle, role_key("deepjscc_decoder", meta["base_cbr"]), batch,
                                 symbols=latent_hat[whole].reshape(int(whole.sum()), -1, 2), snr_db=snr_db[whole])
    return rec


def token_amplitudes(meta: Dict, lev: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """Amplitude ``a_l`` of every token (tiles in order, leaves in raster order): ``anchors`` is
    :func:`quadtree.anchor_mask` of ``lev``; ``meta`` the :func:`codec_set`'s."""
    level_amp = np.asarray(meta["level_amp"], np.float32)
    return level_amp[lev[anchors]]


def check_bundle(bundle: Bundle) -> Dict:
    """The bundle's ``semantic2`` manifest entry; ValueError when it has no codec v2 this side info fits."""
    if "semantic2" not in bundle.manifest or not all(
            bundle.has(r) for r in ("semantic2_encoder", "semantic2_merger", "semantic2_decoder")):
        raise ValueError(f"bundle {bundle.name!r} has no semantic codec v2 (roles semantic2_*)")
    meta = bundle.manifest["semantic2"]
    if int(meta["gain_bits"]) != GAIN_BITS:
        raise ValueError(f"bundle gain_bits={meta['gain_bits']}, the side-info head carries {GAIN_BITS}")
    return meta


def _gain_db(meta: Dict, q: int) -> float:
    return float(meta["gain_min_db"] + meta["gain_step_db"] * q)


def gain_index(meta: Dict, power) -> Tuple[np.ndarray, np.ndarray]:
    """Mean token power ``P`` (per complex symbol; scalar or array) -> ``(q, clipped)``: the index
    sent for ``10 log10 P`` on the grid of ``meta`` (a codec set's: ``gain_min_db``,
    ``gain_step_db``, ``gain_bits``) and whether ``P`` lay off it (its edge is then sent, and the
    receiver's scale is off by the excess).  The numpy twin of ``semantic.hybrid.quantize_gain_db``."""
    p_db = 10 * np.log10(np.maximum(np.asarray(power, np.float64), 1e-10))
    raw = np.round((p_db - meta["gain_min_db"]) / meta["gain_step_db"])
    q = np.clip(raw, 0, (1 << int(meta["gain_bits"])) - 1)
    return q.astype(np.int64), raw != q


# --------------------------------------------------------------------------- transmitter


def encode_photo(bundle: Bundle, img: np.ndarray, cbr: str, snr_db: float, mode: str = "photo",
                 batch: int = 256, mcs: Optional[int] = None, fading: bool = False,
                 floor_draws: int = FLOOR_DRAWS) -> Tuple[np.ndarray, Dict]:
    """uint8 ``H x W x 3`` photo -> ``(symbols complex64 (N,), info)``.

    The side-information scheme is :func:`.side_info.side_mcs` of ``snr_db`` (its fading table
    with ``fading``) for the photo's flag count (first for a typical count, then once more with
    the count the first allocation gave, ...), or ``mcs`` (an index of :data:`SIDE_MCS`) when given.

    ``N <= round(CBR * H * W * 3)`` (except mode ``none``, which spends the base rate, and a photo
    mode ``auto`` sends at the floor: the Deep JSCC's ``T k_tile``, see :func:`encode_auto`); ``info``:
    ``height``, ``width``, ``n_symbols`` (= N), ``side_symbols``, ``tokens``, ``flag_bits`` (real
    coded length), ``flag_bits_ideal`` (the KT length the allocation charged), ``gain_index``
    (``gain_clipped``: the token power ``power_db`` lay off the set's grid, its edge was sent),
    ``mcs`` (index into :data:`SIDE_MCS`; the PDU's ``mode``), ``budget``, ``levels`` (the tiles'
    level maps ``(T, h, w)``), ``over_budget`` (True when even the coarsest tree and the side
    information do not fit ``k``: a photo too small for its CBR; mode ``none`` always),
    ``codec_set`` (the CBR of the transmitter of its own that coded it, :func:`codec_set`, or
    ``"shared"``).
    """
    check_bundle(bundle)
    img = np.asarray(img)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ValueError(f"photo must be uint8 H x W x 3, got {img.dtype} {img.shape}")
    if mode == "auto":
        return encode_auto(bundle, img, cbr, snr_db, batch, mcs, fading, draws=floor_draws)
    h, w = img.shape[:2]
    codec = codec_set(bundle, cbr)
    sym, info = _encode_merged(bundle, codec, img, cbr, snr_db, mode, batch, mcs, fading)
    spent = codec_set(bundle, sym.size / (3.0 * h * w))  # what the receiver will pick from the length
    if spent.cbr != codec.cbr:  # e.g. mode none spends the base rate: code with the set that rate picks
        sym, info = _encode_merged(bundle, spent, img, cbr, snr_db, mode, batch, mcs, fading)
        again = codec_set(bundle, sym.size / (3.0 * h * w)).cbr
        if again != spent.cbr:
            raise ValueError(f"photo {h}x{w} at CBR {cbr}, mode {mode}: its {sym.size} symbols pick the v2 "
                             f"codec set {again or 'shared'}, coded with {spent.cbr or 'shared'}; no set is "
                             f"consistent (send it in mode auto or at another CBR)")
        codec = spent
    info["codec_set"] = codec.cbr or "shared"
    return sym, info


def _encode_merged(bundle: Bundle, codec: CodecSet, img: np.ndarray, cbr: str, snr_db: float, mode: str,
                   batch: int, mcs: Optional[int], fading: bool) -> Tuple[np.ndarray, Dict]:
    """:func:`encode_photo` (a mode other than ``auto``) with the transmitter of ``codec``."""
    from .channels import num_symbols

    meta = codec.meta
    s, c, depth = meta["tile"], meta["c"], meta["depth"]
    scheme = side_mcs(snr_db, fading) if mcs is None else SIDE_MCS[int(mcs)]
    h, w = img.shape[:2]
    tiles, grid = tile_photo(img, s)
    feats = run_batched(bundle, codec.encoder, batch, images=tiles)
    budget = float(num_symbols(cbr, h, w))
    n_est, seen = TYPICAL_FLAGS, set()
    for _ in range(4):  # the scheme (and its overhead) for the photo's own flag count: a few passes at most
        seen.add((scheme.name, side_overhead_bits(scheme, n_est)))
        def attempt(target):
            lev = photo_levels(feats[:, :c], meta, target, mode, scheme.beta, grid, side_overhead_bits(scheme, n_est))
            flags = encode_flags(quadtree.stitch_levels(lev, grid)[0], depth)
            anchors = quadtree.anchor_mask(lev)
            return side_cost(len(flags), scheme) + int(anchors.sum()) * c // 2, lev, flags, anchors

        target, over = budget, None
        for _ in range(8):  # tighten until the REAL coded flags fit (they are within bits of the estimate)
            n, lev, flags, anchors = attempt(target)
            if n <= budget or mode in ("none", "uniform"):
                break
            over, target = target, target - (n - budget)
        if over is not None and n <= budget and budget - n > BISECT_SLACK * budget:
            lo, hi = target, over  # an LDPC codeword more overshot: find what fits below that step
            for _ in range(3):
                mid = 0.5 * (lo + hi)
                got = attempt(mid)
                if got[0] <= budget:
                    lo, (n, lev, flags, anchors) = mid, got
                else:
                    hi = mid
        tokens = int(anchors.sum())
        sent_with = scheme  # the scheme this tree and its budget were sized for: what is sent
        best = scheme if mcs is not None else side_mcs(snr_db, fading, len(flags))
        if (best.name, side_overhead_bits(best, len(flags))) in seen:
            break
        scheme, n_est = best, len(flags)
    scheme = sent_with
    latent = merge_tiles(bundle, meta, tiles, feats, lev, batch, merger=codec.merger)
    parts = quadtree.extract_tokens(latent, lev)
    amp = token_amplitudes(meta, lev, anchors)
    tok = (np.concatenate(parts) * amp[:, None]).reshape(-1, 2).astype(np.float64)
    z = tok[:, 0] + 1j * tok[:, 1]
    p = float(np.mean(np.abs(z) ** 2))
    q, clipped = (int(v) for v in gain_index(meta, p))
    sym = side_vector(flags, q, scheme, (z / np.sqrt(max(p, 1e-20))).astype(np.complex64))
    ideal = float(quadtree.flag_code_bits(quadtree.flag_counts(quadtree.stitch_levels(lev, grid), depth))[0])
    return sym, {"height": h, "width": w, "n_symbols": int(sym.size), "side_symbols": side_cost(len(flags), scheme),
                 "tokens": tokens, "tiles": len(tiles), "flag_bits": int(len(flags)), "flag_bits_ideal": ideal,
                 "gain_index": q, "gain_clipped": bool(clipped),
                 "power_db": float(10 * np.log10(max(p, 1e-10))), "mcs": SIDE_MCS.index(scheme), "budget": budget, "levels": lev,
                 "over_budget": bool(sym.size > budget)}


def has_floor(bundle: Bundle, cbr) -> bool:
    """True when the bundle has the Deep JSCC at ``cbr`` (encoder and decoder): the floor of mode ``auto``."""
    return all(bundle.has(role_key(r, cbr)) for r in ("deepjscc_encoder", "deepjscc_decoder"))


def encode_floor(bundle: Bundle, img: np.ndarray, cbr: str, batch: int = 256) -> Tuple[np.ndarray, Dict]:
    """The photo as the bundle's Deep JSCC at ``cbr`` codes it: every tile's ``k_tile`` symbols, tiles
    in raster order, no side information (``mode`` = :data:`FLOOR_MODE`; with padding the photo spends
    a little more than ``round(CBR H W 3)``, as the Deep JSCC baseline does)."""
    from .channels import num_symbols

    s = check_bundle(bundle)["tile"]
    tiles, grid = tile_photo(img, s)
    iq = run_batched(bundle, role_key("deepjscc_encoder", cbr), batch, images=tiles)
    sym = (iq[..., 0] + 1j * iq[..., 1]).astype(np.complex64).ravel()
    h, w = img.shape[:2]
    budget = float(num_symbols(cbr, h, w))
    return sym, {"height": h, "width": w, "n_symbols": int(sym.size), "side_symbols": 0, "tokens": 0,
                 "tiles": len(tiles), "flag_bits": 0, "flag_bits_ideal": 0.0, "gain_index": 0, "gain_clipped": False,
                 "mcs": FLOOR_MODE,
                 "budget": budget, "levels": np.zeros((len(tiles), s // 4, s // 4), np.uint8),
                 "over_budget": False, "overspend": float(sym.size / budget - 1.0), "floor": True}


def floor_cbr(bundle: Bundle, n_symbols: int, n_tiles: int) -> Optional[str]:
    """The CBR of the bundle's Deep JSCC (its ``deepjscc_decoder@<cbr>`` roles) whose tiles make
    ``n_symbols`` (None when none does)."""
    from .channels import num_symbols

    s = check_bundle(bundle)["tile"]
    for role in bundle.manifest["models"]:
        if role.startswith("deepjscc_decoder@"):
            c = role.partition("@")[2]
            if n_tiles * num_symbols(c, s, s) == int(n_symbols):
                return c
    return None


def decode_floor(bundle: Bundle, y: np.ndarray, height: int, width: int, snr_db: float,
                 batch: int = 256) -> Tuple[np.ndarray, Dict]:
    """Symbols of :func:`encode_floor` -> ``(image, info)``; the CBR is the one the length gives."""
    s = check_bundle(bundle)["tile"]
    gh, gw = -(-int(height) // s), -(-int(width) // s)
    t = gh * gw
    y = np.asarray(y, np.complex64).ravel()
    info = {"ok": False, "reason": "", "tiles": t, "n_symbols": int(y.size), "mcs": FLOOR_MODE, "floor": True}
    cbr = floor_cbr(bundle, y.size, t)
    if cbr is None:
        info["reason"] = (f"{y.size} symbols are no Deep JSCC rate of the bundle for {t} tiles "
                          f"({height}x{width})")
        return np.full((int(height), int(width), 3), FALLBACK_LEVEL, np.float32), info
    iq = np.stack([y.real, y.imag], -1).reshape(t, -1, 2).astype(np.float32)
    role = role_key("deepjscc_decoder", cbr)
    rec = run_batched(bundle, role, batch, symbols=iq, snr_db=np.full((t, 1), snr_db, np.float32))
    info.update(ok=True, tokens=0, side_symbols=0, gain_index=0, latent_filled=0, decoder=role, cbr=cbr)
    return np.clip(stitch(rec, (gh, gw), (int(height), int(width))), 0, 1).astype(np.float32), info


def _simulate(sym: np.ndarray, snr_db: float, fading: bool, seed: int):
    """The transmitter's own channel draw: received (equalised) symbols and their noise variance."""
    from .channels import awgn, rayleigh

    rng = np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(1,)))
    z = np.asarray(sym, np.complex64)[None]
    if fading:
        y, nv = rayleigh(z, snr_db, FLOOR_BLOCK_LEN, rng, equalize="mmse")
        return np.asarray(y[0], np.complex64), np.asarray(nv, np.float64).reshape(-1)
    return np.asarray(awgn(z, snr_db, rng)[0], np.complex64), 10 ** (-float(snr_db) / 10)


def candidate_error(bundle: Bundle, img: np.ndarray, tx: Dict, y: np.ndarray, noise_var, snr_db: float,
                    fading: bool = False, batch: int = 256) -> float:
    """Mean squared error of photo ``img`` (uint8) decoded from ``y``, the received symbols of a
    candidate sent as ``tx`` says (merged, or the floor), as the receiver decodes it; a photo whose side
    information fails scores ``inf``.  The measure of :func:`encode_auto` and ``semcod bench floor``."""
    h, w = img.shape[:2]
    if tx["mcs"] == FLOOR_MODE:
        rec, rx = decode_floor(bundle, y, h, w, snr_db, batch)
    else:
        rec, rx = decode_photo(bundle, y, h, w, snr_db, noise_var=noise_var, mcs=tx["mcs"], batch=batch, fading=fading)
    return float(np.mean((rec - img.astype(np.float32) / 255.0) ** 2)) if rx["ok"] else float("inf")


def floor_gain(err_merged: float, err_floor: float) -> float:
    """PSNR of the merged photo minus the floor's (dB) on one draw, from their squared errors;
    ``-inf`` when the merged photo's side information failed (``err_merged`` is ``inf``)."""
    if not np.isfinite(err_merged):
        return -np.inf
    return float(10 * np.log10(err_floor / err_merged)) if err_merged > 0 else np.inf


def floor_decision(gains: Iterable[float], draws: int = FLOOR_DRAWS, min_draws: int = FLOOR_MIN_DRAWS,
                   z: float = FLOOR_Z, max_failures: int = FLOOR_MAX_FAILURES) -> Tuple[bool, List[float]]:
    """Merge or send the floor, from the gains ``G_j`` (dB, merged over floor, :func:`floor_gain`)
    of the transmitter's own channel draws, taken one at a time from ``gains`` (lazily: each costs
    two decodes).

    A sequential test of the mean: with ``G_1..G_j`` drawn, stop when ``j = draws`` or, from
    ``j >= min_draws``, when ``|mean(G)| > z * std(G) / sqrt(j)``; merged iff ``mean(G) > 0``.  One
    draw's ``G`` is noisy (about 0.05–0.1 dB at the base rate on AWGN, comparable to the gain
    itself; more on a fading channel); a clear case (a sky at 1/48) stops at ``min_draws``.
    A draw on which the merged photo's side information failed (``G = -inf``) is not averaged: the
    scheme was chosen to hold at this SNR, and one failure in a few draws says little of its rate
    (rare by design); it still counts as a draw, and ``max_failures`` of
    them send the floor.  Returns ``(merged, the gains drawn)``.
    """
    if draws < 1 or not 1 <= min_draws <= draws:
        raise ValueError(f"floor draws: need 1 <= min_draws <= draws, got {min_draws}, {draws}")
    seen: List[float] = []
    ok: List[float] = []
    for g in gains:
        seen.append(float(g))
        if seen[-1] == -np.inf:
            if len(seen) - len(ok) >= max_failures:
                return False, seen
        else:
            ok.append(min(seen[-1], 100.0))
        if len(seen) >= draws:
            break
        j = len(ok)
        if j >= min_draws and abs(np.mean(ok)) > z * np.std(ok, ddof=1) / np.sqrt(j):
            break
    return bool(ok) and float(np.mean(ok)) > 0, seen


def encode_auto(bundle: Bundle, img: np.ndarray, cbr: str, snr_db: float, batch: int = 256,
                mcs: Optional[int] = None, fading: bool = False,
                max_overspend: float = FLOOR_MAX_OVERSPEND, draws: int = FLOOR_DRAWS) -> Tuple[np.ndarray, Dict]:
    """Mode ``auto``: the photo merged (mode ``photo``) or, when that decodes worse on the
    transmitter's own simulated channel, the Deep JSCC at the CBR (:func:`encode_floor`).

    The transmitter knows the SNR and whether the channel fades, so it draws channels of its own
    (seeds :data:`FLOOR_SEED` ``+ j``, independent of the real one), decodes both candidates on each
    as the receiver would, and sends the merged photo when its mean gain in PSNR over the floor is
    positive (:func:`floor_decision`: up to ``draws`` draws, fewer when the answer is clear): a photo
    whose merging does not pay (at the base rate, where no finer level can spend what merging saves,
    or a photo of texture at low SNR) goes at the floor.  ``info["floor"]`` says which;
    ``info["floor_gain_db"]`` is the mean simulated gain, ``info["floor_draws"]`` how many draws
    it took.  The floor spends what the Deep JSCC baseline spends: for a photo that is not whole
    tiles a little more than ``round(CBR H W 3)``; it is a candidate only while that excess is at
    most ``max_overspend`` (5 %: a 432 x 768 photo pads 3.7 %, an 80 x 120 one 28 %) or the floor
    spends no more than the merged photo.  Without a Deep JSCC at the CBR in the bundle, or past
    that excess, it is mode ``photo``.
    """
    sym, info = encode_photo(bundle, img, cbr, snr_db, "photo", batch, mcs, fading)
    info["floor"] = False
    if not has_floor(bundle, cbr):
        return sym, info
    fsym, finfo = encode_floor(bundle, img, cbr, batch)
    if fsym.size > max((1.0 + float(max_overspend)) * info["budget"], sym.size):
        info["floor_gain_db"] = float("inf")  # not a candidate: it would spend too far above the budget
        return sym, info
    cands = ((sym, info), (fsym, finfo))

    def gains():
        for j in range(draws):
            err = [candidate_error(bundle, img, tx, *_simulate(c, snr_db, fading, FLOOR_SEED + j), snr_db, fading,
                                   batch) for c, tx in cands]
            yield floor_gain(*err)

    merged, seen = floor_decision(gains(), draws, min(FLOOR_MIN_DRAWS, draws))
    if not merged:
        sym, info = fsym, finfo
    ok = [g for g in seen if g != -np.inf]
    info["floor_gain_db"] = float(np.mean(ok)) if ok else -np.inf
    info["floor_draws"] = len(seen)
    return sym, info


# --------------------------------------------------------------------------- receiver


def side_vector(flags: np.ndarray, gain: int, mcs: SideMCS, payload: np.ndarray) -> np.ndarray:
    """The photo's symbol vector: the head spread over all of it, the tree block spread over the
    positions left, ``payload`` (the token symbols) in the rest, in order."""
    head = _head_bits(len(flags), gain)
    tree = modulate(np.concatenate([flags, crc16(np.concatenate([head, flags]))]), mcs)
    payload = np.asarray(payload, np.complex64)
    sym = np.empty(side_symbols_for(HEAD_BITS, head_mcs(mcs)) + tree.size + payload.size, np.complex64)
    at = head_positions(sym.size, mcs)
    sym[at] = modulate(head, head_mcs(mcs))
    rest = np.setdiff1d(np.arange(sym.size), at)
    in_tree = np.zeros(rest.size, bool)
    in_tree[spread(rest.size, tree.size)] = True
    sym[rest[in_tree]] = tree
    sym[rest[~in_tree]] = payload
    return sym


def read_side(y: np.ndarray, weight: np.ndarray, mcs: SideMCS, max_flags: int) -> Tuple[np.ndarray, int, np.ndarray]:
    """Inverse of :func:`side_vector`: ``(flag bits, gain index, payload symbols)`` once the head's
    check and the tree's CRC pass; :class:`SideInfoError` otherwise (or when the length the head
    gives exceeds ``max_flags`` or the vector)."""
    at = head_positions(y.size, mcs)
    head = demodulate(y[at], weight[at], HEAD_BITS, head_mcs(mcs))
    body = head[:LEN_BITS + GAIN_BITS]
    if not np.array_equal(crc16(body)[-CHECK_BITS:], head[-CHECK_BITS:]):
        raise SideInfoError("side-info head check failed")
    n_flags, q = _bits_uint(head[:LEN_BITS]), _bits_uint(head[LEN_BITS:LEN_BITS + GAIN_BITS])
    rest = np.setdiff1d(np.arange(y.size), at)
    y, weight = y[rest], weight[rest]
    n_tree = side_symbols_for(n_flags + CRC_BITS, mcs)
    if n_flags > max_flags or n_tree > y.size:
        raise SideInfoError(f"side-info head says {n_flags} flag bits: more than {max_flags} or than the "
                            f"{y.size + at.size} symbols hold")
    in_tree = np.zeros(y.size, bool)
    in_tree[spread(y.size, n_tree)] = True
    tree = demodulate(y[in_tree], weight[in_tree], n_flags + CRC_BITS, mcs)
    flags = tree[:n_flags]
    if not np.array_equal(crc16(np.concatenate([head, flags])), tree[n_flags:]):
        raise SideInfoError("side-info tree CRC failed")
    return flags, q, y[~in_tree]


def decode_side(y: np.ndarray, weight: np.ndarray, n_tiles: int, grid: Tuple[int, int], tile_shape: Tuple[int, int],
                depth: int, mcs: SideMCS) -> Tuple[np.ndarray, int, np.ndarray, int]:
    """Head + tree blocks of a photo's vector ``y`` -> ``(level maps (T, h, w), gain index, the
    symbols after the side information (the tokens), side symbols)``; :class:`SideInfoError`
    when a check fails."""
    flags, q, rx = read_side(y, weight, mcs, 32 * n_tiles + 64)  # 21 raw flags per tile at most, + coder bits
    gh, gw = grid
    th, tw = tile_shape
    lev, _ = decode_flags(flags, (gh * th, gw * tw), depth)
    lev = lev.reshape(gh, th, gw, tw).transpose(0, 2, 1, 3).reshape(n_tiles, th, tw)
    return lev, q, rx, y.size - rx.size


def payload_positions(n_symbols: int, mcs: SideMCS, n_side: int) -> np.ndarray:
    """Where the token symbols sit in a photo's vector of ``n_symbols`` whose side information
    (head + tree block) takes ``n_side`` symbols: the positions :func:`side_vector` leaves."""
    at = head_positions(n_symbols, mcs)
    rest = np.setdiff1d(np.arange(n_symbols), at)
    in_tree = np.zeros(rest.size, bool)
    in_tree[spread(rest.size, n_side - at.size)] = True
    return rest[~in_tree]


def decode_photo(bundle: Bundle, symbols: np.ndarray, height: int, width: int, snr_db: float,
                 noise_var=None, erasures: Optional[np.ndarray] = None, mcs: Optional[int] = None,
                 batch: int = 256, fading: bool = False, fill: bool = True,
                 cbr=None) -> Tuple[np.ndarray, Dict]:
    """Received (equalised) symbols of :func:`encode_photo` -> ``(image float32 H x W x 3 in [0, 1], info)``.

    The receiver is the :func:`codec_set` of ``cbr``, by default of the rate the symbols themselves
    give, ``N / (3 H W)`` (``info["decoder"]``, ``info["codec_set"]``): nothing beyond the PDU's
    length and image size; its level amplitudes undo the transmitter's.

    ``snr_db`` conditions the decoder; ``mcs`` is the side scheme (the PDU's ``mode``; without it
    every scheme is tried, the typical photo's at ``snr_db`` first, and the head check and tree
    CRC tell the right one); ``noise_var`` (scalar or one per symbol, e.g. the PHY's post-equaliser
    noise; default ``10^(-snr_db/10)``) weights the soft side bits (the LDPC decoder needs it
    calibrated); ``erasures`` (bool mask) zeroes symbols, and with ``fill``
    the latent entries of erased token symbols are filled from their received neighbours
    (:func:`.latent_fill.fill_erased`; their count is ``info["latent_filled"]``).  ``info["ok"]``
    is False (with ``info["reason"]``) when the side information failed: the image is then the
    uniform fallback, no token is placed.
    """
    meta = check_bundle(bundle)
    s, c, depth = meta["tile"], meta["c"], meta["depth"]
    if mcs is not None and int(mcs) == FLOOR_MODE:  # sent as the Deep JSCC at its CBR (mode auto's floor)
        y = np.asarray(symbols, np.complex64).ravel()
        if erasures is not None:  # lost symbols are zeros to the Deep JSCC decoder
            y = np.where(np.asarray(erasures, bool).ravel(), 0, y).astype(np.complex64)
        return decode_floor(bundle, y, height, width, snr_db, batch)
    if mcs is not None and not 0 <= int(mcs) < len(SIDE_MCS):
        info = {"ok": False, "tiles": -(-int(height) // s) * -(-int(width) // s), "n_symbols": int(np.size(symbols)),
                "reason": f"mode {mcs} is no side-information scheme (0..{len(SIDE_MCS) - 1}) and not the "
                          f"floor ({FLOOR_MODE})"}
        return np.full((int(height), int(width), 3), FALLBACK_LEVEL, np.float32), info
    scheme = side_mcs(snr_db, fading) if mcs is None else SIDE_MCS[int(mcs)]
    y = np.asarray(symbols, np.complex64).ravel()
    if noise_var is None:  # the LDPC decoder needs calibrated LLRs: the SNR's noise (unit-power symbols)
        noise_var = 10 ** (-float(snr_db) / 10)
    weight = 1.0 / np.broadcast_to(np.maximum(np.asarray(noise_var, np.float64), 1e-12), y.shape)
    if erasures is not None:
        weight = np.where(np.asarray(erasures, bool), 0.0, weight)
        y = np.where(np.asarray(erasures, bool), 0, y).astype(np.complex64)
    gh, gw = -(-int(height) // s), -(-int(width) // s)
    t = gh * gw
    lat = s // 4  # the trunk's downsampling: 32 px -> 8 positions
    info = {"ok": False, "reason": "", "tiles": t, "n_symbols": int(y.size)}
    # without the PDU's mode the scheme is unknown (the transmitter picks it by the photo's own flag
    # count): the typical photo's scheme is tried first, then every other one; the head check and the
    # tree CRC (22 bits) tell the right one
    tries = [scheme] if mcs is not None else [scheme] + [m for m in SIDE_MCS if m != scheme]
    try:
        for i, scheme in enumerate(tries):
            try:
                lev, q, rx, n_side = decode_side(y, weight, t, (gh, gw), (lat, lat), depth, scheme)
                anchors = quadtree.anchor_mask(lev)
                n_tok = int(anchors.sum())
                if rx.size != n_tok * c // 2:
                    raise SideInfoError(f"tree of {n_tok} tokens needs {n_tok * c // 2} symbols, "
                                        f"{rx.size} follow the side information")
                break
            except SideInfoError as e:
                if i == len(tries) - 1:
                    raise SideInfoError(str(e) if len(tries) == 1 else
                                        f"no side-information scheme decodes (mode not given; the typical photo's "
                                        f"{tries[0].name}: {first})") from None
                if i == 0:
                    first = str(e)
    except SideInfoError as e:
        info["reason"] = str(e) + (" (a photo sent at the Deep JSCC floor needs its mode, "
                                   f"{FLOOR_MODE})" if mcs is None and floor_cbr(bundle, y.size, t) else "")
        return np.full((int(height), int(width), 3), FALLBACK_LEVEL, np.float32), info
    rate = float(y.size) / (3.0 * int(height) * int(width)) if cbr is None else cbr
    codec = codec_set(bundle, rate)
    g_db = _gain_db(codec.meta, q)  # the set's own grid
    amp = token_amplitudes(codec.meta, lev, anchors)
    iq = np.stack([rx.real, rx.imag], -1).reshape(-1, c) * np.float32(10 ** (g_db / 20)) / amp[:, None]
    counts = anchors.sum(axis=(1, 2))
    latent_hat = quadtree.insert_tokens(np.split(iq.astype(np.float32), np.cumsum(counts)[:-1]), lev)
    n_filled = 0
    if erasures is not None and fill:
        lost = np.asarray(erasures, bool).ravel()[payload_positions(y.size, scheme, n_side)]
        if lost.any():
            kept = np.repeat(~lost, 2).reshape(-1, c).astype(np.float32)
            known = quadtree.insert_tokens(np.split(kept, np.cumsum(counts)[:-1]), lev) > 0.5
            latent_hat = fill_erased(latent_hat, known, (gh, gw), quadtree.leaf_ids(lev))
            n_filled = int((~known).sum())
    rec = synthesize_tiles(bundle, meta, latent_hat, lev, np.full((t, 1), snr_db - g_db, np.float32), batch,
                           rate=rate)
    info.update(ok=True, tokens=n_tok, side_symbols=n_side, gain_index=q, gain_db=g_db, latent_filled=n_filled,
                mcs=SIDE_MCS.index(scheme), decoder=codec.decoder, codec_set=codec.cbr or "shared")
    return np.clip(stitch(rec, (gh, gw), (int(height), int(width))), 0, 1).astype(np.float32), info
