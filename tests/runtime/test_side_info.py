"""Side-information schemes (gr_semcod.runtime.side_info): the ladder, thresholds and measured bit errors."""
import numpy as np
import pytest

from gr_semcod.runtime.semantic2 import side_cost
from gr_semcod.runtime.side_info import (FADING_MIN_SNR_DB, SIDE_CANDIDATES, SIDE_MCS, bit_error_rate, candidate,
                                         describe_schemes, reliable, scheme_index, side_beta, side_mcs)


def test_scheme_choice_by_snr_for_a_photo():
    """A photo's tree (~2400 flags): the LDPC schemes from -3.5 dB on AWGN, rate-matched QPSK
    between BPSK (2 symbols per bit) and QPSK (1)."""
    assert side_mcs(-10).name == "bpsk_r1-2_k7_x4" and side_beta(-4.0) == 8.0
    assert side_mcs(-3.5).name == "bpsk_r1-2_ldpc_x2" and side_beta(-1.0) == 4.0
    assert side_mcs(-0.5).name == "qpsk_r1-2_ldpc_x15-8" and side_beta(0.0) == pytest.approx(5 / 3)
    assert side_mcs(1.0).name == "qpsk_r1-2_ldpc_x11-8" and side_beta(1.0) == 1.375  # the 1 dB operating point
    assert side_mcs(1.5).name == "qpsk_r1-2_ldpc_x5-4" and side_mcs(2.0).name == "qpsk_r1-2_ldpc_x9-8"
    assert side_beta(0.0, fading=True) == 4.0 and side_beta(1.0, fading=True) == 2.0
    assert side_mcs(1.0, fading=True).name == "qpsk_r1-2_ldpc_x2"  # as many symbols as BPSK, holds 1 dB lower
    assert side_mcs(2.5, fading=True).name == "qpsk_r1-2_ldpc_x11-8" and side_beta(4.0, fading=True) == 1.125
    assert side_mcs(2.5).name == "qpsk_r1-2_ldpc" and side_mcs(5.5).name == "qpsk_r3-4_ldpc"
    assert side_mcs(10.0).name == "16qam_r1-2_ldpc" and side_mcs(20.0).name == "16qam_r3-4_ldpc"
    assert side_mcs(9.9, fading=True).name == "qpsk_r1-2_ldpc" and side_beta(10.0, fading=True) == 0.5
    assert [m.beta for m in SIDE_MCS] == [m.repeat / m.bits_per_symbol / m.rate for m in SIDE_MCS]
    assert all(FADING_MIN_SNR_DB[m.name] >= m.min_snr_db for m in SIDE_MCS)  # fading never needs less SNR


def test_cheapest_reliable_scheme_for_the_flag_count():
    """Among the schemes whose threshold holds, the one that sends the flags in the fewest symbols:
    K=7 for a short tree (an LDPC codeword sends all its 720 parity bits), LDPC for a long one."""
    for snr in (-5.0, -1.0, 1.0, 4.0, 8.0, 10.0, 20.0):
        for fading in (False, True):
            for n in (20, 300, 700, 2500, 3600):
                m = side_mcs(snr, fading, n)
                ok = reliable(snr, fading, n)
                assert m in ok and side_cost(n, m) == min(side_cost(n, o) for o in ok), (snr, fading, n)
    assert side_mcs(0.5, n_flags=40).name == "bpsk_r1-2_k7_x2" and side_mcs(1.0, n_flags=2500).name == "qpsk_r1-2_ldpc_x11-8"
    assert side_mcs(2.0, n_flags=40).name == "bpsk_r1-2_k7" and side_mcs(2.0, n_flags=300).name == "qpsk_r1-2_ldpc_x9-8"
    assert side_mcs(10.0, n_flags=40).code == "conv" and side_mcs(10.0, n_flags=2500).code == "ldpc"
    assert side_cost(2500, side_mcs(1.0)) < 0.6 * side_cost(2500, SIDE_CANDIDATES["bpsk_r1-2_k7_x2"])  # was used at 1 dB
    assert [m.name for m in reliable(-0.5, n_flags=500)] == ["bpsk_r1-2_k7_x4", "bpsk_r1-2_ldpc_x2", "bpsk_r1-2_k7_x2",
                                                             "bpsk_r1-2_ldpc", "qpsk_r1-2_ldpc_x2",
                                                             "qpsk_r1-2_ldpc_x15-8"]
    assert "bpsk_r1-2_k7_x2" not in [m.name for m in reliable(-0.5, n_flags=721)]  # measured for short trees only


def test_scheme_index_and_description():
    assert [scheme_index(m.name) for m in SIDE_MCS] == list(range(len(SIDE_MCS)))
    assert SIDE_MCS[scheme_index("16qam_r1-2_ldpc")].bits_per_symbol == 4
    with pytest.raises(ValueError, match="unknown side-information scheme 'qpsk_r1-2_k9'"):
        scheme_index("qpsk_r1-2_k9")
    with pytest.raises(ValueError, match="known: bpsk_r1-2_k7_x4"):
        candidate("nope")
    d = describe_schemes()
    assert "bpsk_r1-2_ldpc 2 (-0.5 dB / 1.5 dB)" in d and "bpsk_r1-2_k7_x4 8 (any / any)" in d
    assert "qpsk_r1-2_ldpc_x11-8 1.38 (1 dB / 2.5 dB)" in d
    assert all(m.name in d for m in SIDE_MCS) and "fewest symbols" in d
    assert set(m.name for m in SIDE_MCS) <= set(SIDE_CANDIDATES)


def test_conv_schemes_clean_at_their_snr_and_fail_far_below():
    rep, rep2, bpsk, qpsk = (SIDE_CANDIDATES[n] for n in ("bpsk_r1-2_k7_x4", "bpsk_r1-2_k7_x2", "bpsk_r1-2_k7",
                                                          "qpsk_r1-2_k7"))
    assert bit_error_rate(rep, -5.0, 1000) == 0.0
    assert bit_error_rate(rep2, -1.0, 1000) == 0.0
    assert bit_error_rate(rep2, -8.0, 1000) > 0.01
    assert bit_error_rate(bpsk, 2.0, 1000) == 0.0
    assert bit_error_rate(qpsk, 5.0, 1000) == 0.0
    assert bit_error_rate(qpsk, -3.0, 1000) > 0.05  # below its threshold the code breaks
    assert bit_error_rate(bpsk, -6.0, 1000) > 0.01


@pytest.mark.parametrize("mcs", [m for m in SIDE_MCS if m.code == "ldpc"], ids=lambda m: m.name)
def test_ldpc_ladder_clean_at_its_threshold_and_fails_3db_below(mcs):
    assert bit_error_rate(mcs, mcs.min_snr_db, 3000) == 0.0
    assert bit_error_rate(mcs, mcs.min_snr_db - 3.0, 3000) > 0.005
