"""Rate matching of the side information by partial repetition (gr_semcod.runtime.semantic2 /
side_info): QPSK + the rate-1/2 802.16e LDPC code with a fraction of its code bits sent twice,
the copies' LLRs added, between BPSK LDPC (2 symbols per bit) and QPSK LDPC (1)."""
from fractions import Fraction

import numpy as np
import pytest

from gr_semcod.baselines.ldpc import wimax_code
from gr_semcod.baselines.modem import modulate as qam
from gr_semcod.runtime.channels import awgn, rayleigh
from gr_semcod.runtime.semantic2 import (HEAD_BITS, SideInfoError, _coded_bits, _interleaver, _ldpc_blocks,
                                         _repetition, demodulate, head_mcs, modulate, n_sent_bits, read_side,
                                         side_cost, side_symbols_for, side_vector)
from gr_semcod.runtime.side_info import (FADING_MIN_SNR_DB, SIDE_CANDIDATES, SIDE_MCS, candidate, scheme_index,
                                         side_mcs)

FRACTIONAL = [m for m in SIDE_CANDIDATES.values() if Fraction(m.repeat).denominator > 1]
NEW = [m for m in SIDE_MCS if Fraction(m.repeat).denominator > 1]


def test_fractional_schemes_are_named_and_priced_by_their_repetition():
    m = SIDE_CANDIDATES["qpsk_r1-2_ldpc_x5-4"]
    assert (m.bits_per_symbol, m.rate, m.repeat, m.beta, m.code) == (2, 0.5, Fraction(5, 4), 1.25, "ldpc")
    assert SIDE_CANDIDATES["qpsk_r1-2_ldpc_x4-3"].beta == pytest.approx(4 / 3, abs=1e-15)
    assert all(1.0 < f.beta < 2.0 for f in FRACTIONAL) and len(FRACTIONAL) >= 4
    assert all(f.beta == f.repeat / f.bits_per_symbol / f.rate for f in FRACTIONAL)
    assert n_sent_bits(5396, Fraction(5, 4)) == 6745 and n_sent_bits(5397, Fraction(5, 4)) == 6747  # ceil(n r)
    assert n_sent_bits(100, 2) == 200
    # the ladder's first ten keep their index (the PDU's mode); the new schemes come after them
    assert [m.name for m in SIDE_MCS[:10]] == [
        "bpsk_r1-2_k7_x4", "bpsk_r1-2_ldpc_x2", "bpsk_r1-2_k7_x2", "bpsk_r1-2_ldpc", "bpsk_r1-2_k7",
        "qpsk_r1-2_ldpc", "qpsk_r1-2_k7", "qpsk_r3-4_ldpc", "16qam_r1-2_ldpc", "16qam_r3-4_ldpc"]
    assert NEW and all(scheme_index(m.name) >= 10 for m in NEW)


@pytest.mark.parametrize("mcs", FRACTIONAL, ids=lambda m: m.name)
@pytest.mark.parametrize("n_bits", [1, 721, 2516, 3616])
def test_fraction_of_the_code_bits_sent_twice_evenly(mcs, n_bits):
    _, sent = _ldpc_blocks(n_bits, mcs)
    n = sum(len(p) for p in sent)
    idx = _repetition(n_bits, mcs)
    copies = np.bincount(idx, minlength=n)
    extra = -(-n * mcs.repeat.numerator // mcs.repeat.denominator) - n
    assert idx.size == n + extra and set(copies) <= {1, 2} and int((copies == 2).sum()) == extra
    assert side_symbols_for(n_bits, mcs) == -(-idx.size // 2)
    # every codeword gets its share of the extra copies, and so does every column degree of H
    share = np.add.reduceat(copies - 1, np.cumsum([0] + [len(p) for p in sent[:-1]]))
    assert np.all(np.abs(share - extra * np.array([len(p) for p in sent]) / n) <= 1.0)
    degree = np.concatenate([np.asarray(wimax_code("1/2").h.sum(0)).astype(int).ravel()[p] for p in sent])
    for d in np.unique(degree):
        assert abs(int(((copies == 2) & (degree == d)).sum()) - extra * np.mean(degree == d)) <= 0.02 * n + 1


def test_integer_repetition_sends_what_it_always_sent():
    """Modes 0..9 stay what older transmitters send: an integer repeat is np.repeat of the code bits."""
    bits = np.random.default_rng(4).integers(0, 2, 1700).astype(np.uint8)
    for name in ("bpsk_r1-2_ldpc_x2", "bpsk_r1-2_ldpc_x4", "qpsk_r1-2_ldpc"):
        m = SIDE_CANDIDATES[name]
        code = np.repeat(_coded_bits(bits, m), int(m.repeat))
        want = qam(code[_interleaver(code.size)], 2 ** m.bits_per_symbol)
        got = modulate(bits, m)
        np.testing.assert_array_equal(got, (want.real if m.bits_per_symbol == 1 else want).astype(np.complex64))
    m = SIDE_CANDIDATES["bpsk_r1-2_k7_x2"]
    code = np.repeat(_coded_bits(bits, m), 2)
    np.testing.assert_array_equal(modulate(bits, m), (1.0 - 2.0 * code[_interleaver(code.size)]).astype(np.complex64))


def test_added_llrs_of_the_copies_gain_over_plain_qpsk():
    """At -1 dB QPSK LDPC breaks; with 3 of 4 code bits sent twice (1.75 symbols per bit) it decodes."""
    rng = np.random.default_rng(6)
    bits = rng.integers(0, 2, 3000).astype(np.uint8)
    plain, rep = SIDE_CANDIDATES["qpsk_r1-2_ldpc"], SIDE_CANDIDATES["qpsk_r1-2_ldpc_x7-4"]
    w = 10 ** 0.1
    y1 = awgn(modulate(bits, plain)[None], -1.0, rng)[0]
    y2 = awgn(modulate(bits, rep)[None], -1.0, rng)[0]
    assert y2.size == side_symbols_for(3000, rep) and y1.size < y2.size < 2 * y1.size
    assert np.mean(demodulate(y1, np.full(y1.size, w), 3000, plain) != bits) > 0.01
    assert np.array_equal(demodulate(y2, np.full(y2.size, w), 3000, rep), bits)


@pytest.mark.parametrize("mcs", NEW, ids=lambda m: m.name)
@pytest.mark.parametrize("channel", ["awgn", "rayleigh"])
def test_new_schemes_round_trip_a_tree_above_their_threshold(mcs, channel):
    rng = np.random.default_rng(7)
    flags = rng.integers(0, 2, 2500).astype(np.uint8)
    payload = ((rng.standard_normal(6000) + 1j * rng.standard_normal(6000)) / np.sqrt(2)).astype(np.complex64)
    z = side_vector(flags, 41, mcs, payload)
    assert z.size - payload.size == side_cost(flags.size, mcs)
    assert side_cost(flags.size, mcs) == side_symbols_for(HEAD_BITS, head_mcs(mcs)) + side_symbols_for(2516, mcs)
    if channel == "awgn":
        snr = mcs.min_snr_db + 0.5
        y, nv = awgn(z[None], snr, rng), np.full((1, z.size), 10 ** (-snr / 10))
    else:
        y, nv = rayleigh(z[None], FADING_MIN_SNR_DB[mcs.name] + 0.5, 16, rng)
    noisy = np.mean(np.sign(y[0].real) != np.sign(z.real))
    assert noisy > 0.05  # the channel flips many hard decisions; the code repairs them
    got, gain, rest = read_side(y[0], 1.0 / nv[0], mcs, 4000)
    assert np.array_equal(got, flags) and gain == 41 and rest.size == payload.size


@pytest.mark.parametrize("mcs", NEW, ids=lambda m: m.name)
def test_erased_symbols_and_an_erased_block(mcs):
    rng = np.random.default_rng(8)
    bits = rng.integers(0, 2, 2516).astype(np.uint8)
    x = modulate(bits, mcs)
    snr = mcs.min_snr_db + 1.0
    y = awgn(x[None], snr, rng)[0]
    kept = np.ones(y.size)
    kept[rng.permutation(y.size)[:y.size // 20]] = 0.0  # 5 % of the symbols erased (weight 0)
    assert np.array_equal(demodulate(y, kept * 10 ** (snr / 10), 2516, mcs), bits)
    with pytest.raises(SideInfoError, match="erased"):
        demodulate(y, np.zeros(y.size), 2516, mcs)


@pytest.mark.parametrize("n_flags", [2500, 3600])
def test_a_photo_tree_at_1_db_costs_less_than_bpsk_ldpc(n_flags):
    bpsk = SIDE_CANDIDATES["bpsk_r1-2_ldpc"]
    for fading in (False, True):
        m = side_mcs(1.0, fading, n_flags)
        assert m.code == "ldpc" and side_cost(n_flags, m) <= side_cost(n_flags, bpsk)
    m = side_mcs(1.0, n_flags=n_flags)
    assert m in NEW and 1.0 < m.beta < 2.0 and m.min_snr_db <= 1.0
    assert side_cost(n_flags, m) < 0.8 * side_cost(n_flags, bpsk)
    assert candidate(m.name, m.min_snr_db) == m


def test_frame_failure_rate_of_the_1_db_scheme():
    """The bench's frame measure on the scheme a photo's tree gets at 1 dB: clean there, lost 3 dB below."""
    from gr_semcod.bench.sideinfo import frame_failure_rate

    m = side_mcs(1.0, n_flags=2500)
    assert frame_failure_rate(m, 1.0, "awgn", 2500, 2000, 4, seed=3) == 0.0
    assert frame_failure_rate(m, -2.0, "awgn", 2500, 2000, 3, seed=3) == 1.0
    assert frame_failure_rate(SIDE_CANDIDATES["qpsk_r1-2_ldpc"], 0.0, "awgn", 2500, 2000, 3, seed=3) == 1.0
