"""Side-information schemes (gr_semcod.runtime.side_info): thresholds and measured bit errors."""
import numpy as np

from gr_semcod.runtime.side_info import SIDE_MCS, bit_error_rate, side_beta, side_mcs


def test_scheme_choice_by_snr():
    assert side_mcs(-10).name == "bpsk_r1-2_k7_x4" and side_beta(-2.0) == 8.0
    assert side_mcs(0.0).name == "bpsk_r1-2_k7_x2" and side_beta(0.0) == 4.0
    assert side_beta(0.0, fading=True) == 8.0 and side_beta(1.0, fading=True) == 4.0
    assert side_mcs(1.0).name == "bpsk_r1-2_k7_x2" and side_mcs(1.5).name == "bpsk_r1-2_k7" and side_beta(1.5) == 2.0
    assert side_mcs(5.0).name == "qpsk_r1-2_k7" and side_beta(20.0) == 1.0
    assert [m.beta for m in SIDE_MCS] == [m.repeat / m.bits_per_symbol / m.rate for m in SIDE_MCS]


def test_each_scheme_is_clean_at_its_threshold_and_fails_far_below():
    rep, rep2, bpsk, qpsk = SIDE_MCS
    assert bit_error_rate(rep, -5.0, 1000) == 0.0
    assert bit_error_rate(rep2, rep2.min_snr_db, 1000) == 0.0
    assert bit_error_rate(rep2, -8.0, 1000) > 0.01
    assert bit_error_rate(bpsk, bpsk.min_snr_db, 1000) == 0.0
    assert bit_error_rate(qpsk, qpsk.min_snr_db, 1000) == 0.0
    assert bit_error_rate(qpsk, -3.0, 1000) > 0.05  # below its threshold the code breaks
    assert bit_error_rate(bpsk, -6.0, 1000) > 0.01
