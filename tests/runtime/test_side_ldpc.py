"""LDPC side-information schemes (gr_semcod.runtime.semantic2 on gr_semcod.baselines.ldpc): shortened
802.16e codewords, exact LLRs on BPSK/QPSK/16-QAM, repetition, the conv-coded head."""
import numpy as np
import pytest

from gr_semcod.baselines.ldpc import wimax_code
from gr_semcod.runtime.channels import awgn, rayleigh
from gr_semcod.runtime.semantic2 import (HEAD_BITS, SideInfoError, demodulate, head_mcs, modulate, read_side,
                                         side_cost, side_symbols_for, side_vector)
from gr_semcod.runtime.side_info import SIDE_CANDIDATES, candidate

LDPC = [m for m in SIDE_CANDIDATES.values() if m.code == "ldpc"]


@pytest.mark.parametrize("mcs", LDPC, ids=lambda m: m.name)
@pytest.mark.parametrize("n_bits", [1, 719, 720, 721, 2516])
def test_round_trip_and_cost(mcs, n_bits):
    bits = np.random.default_rng(n_bits).integers(0, 2, n_bits).astype(np.uint8)
    x = modulate(bits, mcs)
    assert x.dtype == np.complex64 and x.size == side_symbols_for(n_bits, mcs)
    code = wimax_code("1/2" if mcs.rate == 0.5 else "3/4")
    blocks = -(-n_bits // code.k)
    coded = (n_bits + blocks * (code.n - code.k)) * mcs.repeat  # shortened: the info bits + every parity bit
    assert x.size == -(-coded // mcs.bits_per_symbol)
    assert np.array_equal(demodulate(x, np.ones(x.size), n_bits, mcs), bits)


def test_symbol_power_and_constellations():
    bits = np.random.default_rng(0).integers(0, 2, 7200).astype(np.uint8)
    for name, levels in [("bpsk_r1-2_ldpc", {1.0}), ("qpsk_r1-2_ldpc", {0.5}), ("16qam_r3-4_ldpc", {0.1, 0.5, 0.9})]:
        x = modulate(bits, SIDE_CANDIDATES[name])
        assert np.mean(np.abs(x) ** 2) == pytest.approx(1.0, abs=0.03)
        assert set(np.round(x.real.astype(np.float64) ** 2, 3)) <= {round(v, 3) for v in levels} | {0.0}
        if name.startswith("bpsk"):
            assert not np.any(x.imag)  # I only


def test_ldpc_corrects_what_the_hard_decision_gets_wrong():
    mcs = SIDE_CANDIDATES["qpsk_r1-2_ldpc"]
    rng = np.random.default_rng(1)
    bits = rng.integers(0, 2, 3000).astype(np.uint8)
    x = modulate(bits, mcs)
    y = awgn(x[None], 3.0, rng)[0]
    raw = (np.stack([y.real, y.imag], -1).reshape(-1) < 0).mean()  # channel bit errors before decoding
    assert raw > 0.01
    assert np.array_equal(demodulate(y, np.full(y.size, 10 ** 0.3), 3000, mcs), bits)
    erased = np.ones(y.size)
    erased[rng.permutation(y.size)[:y.size // 10]] = 0.0  # a tenth of the symbols erased (weight 0)
    assert np.array_equal(demodulate(y, erased * 10 ** 0.3, 3000, mcs), bits)
    with pytest.raises(SideInfoError, match="erased"):
        demodulate(y, np.zeros(y.size), 3000, mcs)


def test_repetition_adds_the_llrs():
    """x2 sends each code bit twice: at -2.5 dB the repeated scheme decodes, the plain one does not."""
    rng = np.random.default_rng(2)
    bits = rng.integers(0, 2, 1500).astype(np.uint8)
    one, two = SIDE_CANDIDATES["bpsk_r1-2_ldpc"], SIDE_CANDIDATES["bpsk_r1-2_ldpc_x2"]
    w = 10 ** 0.25
    y1 = awgn(modulate(bits, one)[None], -4.0, rng)[0]
    y2 = awgn(modulate(bits, two)[None], -4.0, rng)[0]
    assert y2.size == 2 * y1.size
    assert np.mean(demodulate(y1, np.full(y1.size, w), 1500, one) != bits) > 0.01
    assert np.array_equal(demodulate(y2, np.full(y2.size, w), 1500, two), bits)


def test_head_is_conv_coded_at_four_times_the_cost():
    for m in SIDE_CANDIDATES.values():
        h = head_mcs(m)
        assert h.code == "conv" and h.bits_per_symbol <= 2 and h.beta >= 4 * m.beta - 1e-9
        assert h.beta == 2.0 * h.repeat / h.bits_per_symbol
    assert head_mcs(SIDE_CANDIDATES["bpsk_r1-2_k7"]).repeat == 4  # the conv schemes' head as before
    assert head_mcs(SIDE_CANDIDATES["16qam_r3-4_ldpc"]).beta == 2.0  # QPSK, twice


@pytest.mark.parametrize("name", ["bpsk_r1-2_ldpc", "qpsk_r3-4_ldpc", "16qam_r3-4_ldpc"])
def test_side_frame_round_trip(name):
    mcs = candidate(name, 0.0)
    rng = np.random.default_rng(3)
    flags = rng.integers(0, 2, 2100).astype(np.uint8)
    payload = ((rng.standard_normal(5000) + 1j * rng.standard_normal(5000)) / np.sqrt(2)).astype(np.complex64)
    z = side_vector(flags, 17, mcs, payload)
    assert z.size == side_cost(flags.size, mcs) + payload.size
    assert side_cost(flags.size, mcs) == side_symbols_for(HEAD_BITS, head_mcs(mcs)) + side_symbols_for(2116, mcs)
    y, nv = rayleigh(z[None], 25.0, 16, rng)
    got, gain, rest = read_side(y[0], 1.0 / nv[0], mcs, 4000)
    assert np.array_equal(got, flags) and gain == 17 and rest.size == payload.size
    assert np.mean(np.abs(rest - payload) ** 2) < 0.05  # the tokens, in order (MMSE-equalised at 25 dB)


def test_frame_failure_rate_of_an_ldpc_scheme():
    from gr_semcod.bench.sideinfo import frame_failure_rate

    mcs = SIDE_CANDIDATES["bpsk_r1-2_ldpc"]
    times = []
    assert frame_failure_rate(mcs, 1.0, "awgn", 2500, 2000, 4, times=times) == 0.0  # where conv BPSK lost frames
    assert len(times) == 4 and all(t > 0 for t in times)
    assert frame_failure_rate(mcs, -4.0, "awgn", 2500, 2000, 3) == 1.0
