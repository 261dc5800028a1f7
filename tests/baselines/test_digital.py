"""The digital chain: commpy QAM, 802.16e LDPC (cross-checked with commpy), frame + CRC-32,
MCS table, and images through it."""
import binascii
import math

import numpy as np
import pytest

from gr_semcod.baselines import digital, ldpc, link, mcs as M, source_codecs
from gr_semcod.baselines.separation import mean_colour_images
from gr_semcod.runtime.metrics import psnr_per_image

from .fixtures import batch, photo_like


@pytest.mark.parametrize("order", [2, 4, 16, 64])
def test_modulation_round_trip_and_unit_power(order):
    m = int(np.log2(order))
    rng = np.random.default_rng(0)
    bits = rng.integers(0, 2, (3, 60 * m)).astype(np.uint8)
    sym = digital.modulate(bits, order)
    assert sym.shape == (3, 60)
    assert abs(np.mean(np.abs(digital.constellation(order)) ** 2) - 1) < 1e-12
    llr = digital.demodulate_llr(sym, order, 1e-3)
    np.testing.assert_array_equal((llr < 0).astype(np.uint8), bits)
    # per-symbol noise variance: a very noisy symbol gets small LLRs, a clean one large
    nv = np.full(sym.shape, 1e-3)
    nv[:, 0] = 1e3
    llr2 = digital.demodulate_llr(sym, order, nv)
    assert np.abs(llr2[:, :m]).max() < 0.1 and np.abs(llr2[:, m:]).min() > 1


def test_ldpc_encode_decode_and_commpy_parity(tmp_path):
    h = digital.regular_ldpc(96, 3, 6, seed=1)
    assert h.shape == (48, 96) and np.all(h.sum(0) == 3) and np.all(h.sum(1) == 6)
    code = digital.LDPCCode(h)
    rng = np.random.default_rng(0)
    u = rng.integers(0, 2, (8, code.k))
    x = code.encode(u)
    assert np.all(code.syndrome_ok(x))
    np.testing.assert_array_equal(code.info(x), u)
    path = digital.save_code(h, str(tmp_path / "h.txt"))
    np.testing.assert_array_equal(digital.load_code(path), h)


@pytest.mark.parametrize("rate,n,k", [("1/2", 1440, 720), ("3/4", 960, 720)])
def test_wimax_codes_from_commpy_and_decoder_agrees_with_commpy(rate, n, k):
    """commpy's 802.16e design files: dimensions, systematic encoding, and our vectorised
    decoder gives commpy's own SPA decoder's codewords (BPSK, AWGN near the waterfall)."""
    from commpy.channelcoding.ldpc import ldpc_bp_decode

    code = ldpc.wimax_code(rate)
    assert (code.n, code.k) == (n, k)
    rng = np.random.default_rng(1)
    u = rng.integers(0, 2, (6, code.k))
    x = code.encode(u)
    assert np.all(code.syndrome_ok(x))
    np.testing.assert_array_equal(code.info(x), u)
    snr = 1.5 if rate == "1/2" else 4.0
    nv = 10 ** (-snr / 10)
    llr = 4 * ((1.0 - 2.0 * x) + rng.standard_normal(x.shape) * math.sqrt(nv / 2)) / nv
    ours, ok = code.decode(llr, iters=20)
    theirs, _ = ldpc_bp_decode(llr.reshape(-1).copy(), ldpc.commpy_params(code.h), "SPA", 20)
    theirs = np.asarray(theirs).T.reshape(x.shape)
    assert ok.sum() >= 4
    np.testing.assert_array_equal(ours[ok], theirs[ok])
    np.testing.assert_array_equal(ours[ok], x[ok])


def test_shortened_codeword_round_trip():
    code = ldpc.wimax_code("1/2")
    rng = np.random.default_rng(2)
    s = 300
    u = rng.integers(0, 2, (4, code.k - s)).astype(np.uint8)
    tx = code.encode_shortened(u, s)
    assert tx.shape == (4, code.n - s)
    got, ok = code.decode_shortened(4.0 * (1.0 - 2.0 * tx), s)  # noiseless BPSK LLRs
    assert ok.all()
    np.testing.assert_array_equal(got, u)


def test_frame_crc_and_layout():
    body = bytes(range(40))
    bits = link.frame(body, 37, 512)
    assert bits.shape == (512,) and not bits[(4 + 40 + 4) * 8:].any()
    assert link.unframe(bits) == (37, body)
    data = np.packbits(bits[:(4 + 40) * 8]).tobytes()
    assert np.packbits(bits[(4 + 40) * 8:(4 + 40 + 4) * 8]).tobytes() == binascii.crc32(data).to_bytes(4, "big")
    for flip in (0, 8, 100, (4 + 40) * 8 + 3):  # header, payload, CRC: every single error is caught
        bad = bits.copy()
        bad[flip] ^= 1
        assert link.unframe(bad) is None
    with pytest.raises(ValueError, match="exceeds"):
        link.frame(body, 1, 100)
    m = M.MCS_TABLE[-1]  # 64-QAM 3/4, n = 960 = 160 symbols
    lay = link.layout(600, m)  # 3600 bits: 3 codewords + 720 bits, shortened by 240
    assert lay.n_full == 3 and lay.shorten == 240 and lay.used_symbols == 600
    assert lay.info_bits == 3 * 720 + 480
    short = link.layout(512, m)  # 192 bits left: fewer than the 240 parity bits -> unused
    assert short.n_full == 3 and short.shorten == -1 and short.used_symbols == 480
    assert link.layout(64, M.MCS_TABLE[0]).payload_bytes == 0  # nothing fits 64 BPSK symbols


def test_mcs_table_select_and_modes():
    table = M.mcs_table("awgn")
    assert [m.mode for m in table] == list(range(len(table)))
    assert M.select_mcs(-20).name == "bpsk-1/2"
    assert M.select_mcs(40).name == "64qam-3/4"
    tps = [M.select_mcs(s).throughput for s in np.arange(-5, 30, 0.5)]
    assert tps == sorted(tps)
    assert M.mcs_by_mode(3).name == table[3].name
    with pytest.raises(ValueError, match="mode"):
        M.mcs_by_mode(len(table))
    ray = M.mcs_table("rayleigh")
    assert all(r.min_snr_db > a.min_snr_db for r, a in zip(ray, table))  # fading needs more SNR


@pytest.mark.parametrize("name", ["qpsk-1/2", "16qam-3/4"])
def test_mcs_thresholds_are_what_codeword_error_rate_measures(name):
    """The thresholds of mcs_table.py come from `semcod bench mcs`: at the threshold codewords
    decode, 2 dB below they mostly fail."""
    m = next(x for x in M.MCS_TABLE if x.name == name)
    assert M.codeword_error_rate(m, m.min_snr_db, trials=60) <= 0.03
    assert M.codeword_error_rate(m, m.min_snr_db - 2.0, trials=60) >= 0.3


def test_bench_mcs_render_round_trips():
    from types import SimpleNamespace

    from gr_semcod.bench.mcs import render

    th = {"awgn": {"bpsk-1/2": -0.5}, "rayleigh": {"bpsk-1/2": 2.25}}
    ns = {}
    exec(render(th, SimpleNamespace(trials=10, target=0.01, margin=0.5, seed=0)), ns)
    assert ns["THRESHOLDS_DB"] == th


@pytest.mark.parametrize("codec", ["jpeg", "avif"])
def test_image_link_bit_exact_at_high_snr(codec):
    img = photo_like(48, 64)
    m = M.select_mcs(25.0)
    sym, info = link.encode_image(img, 1500, m, codec)
    assert sym.shape == (1500,) and abs(np.mean(np.abs(sym[:info["layout"].used_symbols]) ** 2) - 1) < 0.05
    nv = 10 ** (-25 / 10)
    rng = np.random.default_rng(0)
    y = sym + np.sqrt(nv / 2) * (rng.standard_normal(1500) + 1j * rng.standard_normal(1500))
    out, rx = link.decode_image(y, np.full(1500, nv), 48, 64, m, codec)
    assert rx["payload"] == source_codecs.encode(img, codec, info["quality"])
    np.testing.assert_array_equal(out, source_codecs.decode(rx["payload"], codec, 48, 64, info["quality"]))
    # far below the threshold: the CRC refuses the frame, nothing is shown
    nv = 10 ** (5 / 10)
    y = sym + np.sqrt(nv / 2) * (rng.standard_normal(1500) + 1j * rng.standard_normal(1500))
    out, rx = link.decode_image(y, nv, 48, 64, m, codec)
    assert out is None and rx["reason"] == "CRC-32 mismatch"


def test_digital_chain_error_free_at_high_snr():
    x = batch(4, 32, 32)
    r = digital.transmit_images(x, "1/6", 30.0, "webp")
    assert r.mcs.name == "64qam-3/4" and r.layout.n_codewords >= 3
    assert not r.failed.any() and not r.no_fit.any() and r.ber == 0.0 and r.misdecoded == 0
    for i in range(len(x)):
        body = source_codecs.encode(x[i], "webp", int(r.quality[i]))
        assert 8 * len(body) + link.FRAME_BITS <= r.info_bits
        np.testing.assert_array_equal(r.images[i], source_codecs.decode(body, "webp", 32, 32, int(r.quality[i])))
    floor = float(np.mean(psnr_per_image(x, mean_colour_images(x))))
    assert r.mean_psnr > floor + 5.0


def test_digital_chain_fails_cleanly_below_threshold_and_on_rayleigh():
    x = batch(4, 32, 32)
    r = digital.transmit_images(x, "1/6", 5.0, "jpeg", mcs=M.MCS_TABLE[-1])
    assert not r.no_fit.any() and r.failed.all() and r.ber > 0.01 and r.misdecoded == 0
    np.testing.assert_array_equal(r.images, mean_colour_images(x))
    assert r.failure_rate == 1.0
    # the table's own choice at 20 dB Rayleigh: a robust MCS that decodes
    ray = digital.transmit_images(x, "1/6", 20.0, "jpeg", channel="rayleigh")
    assert ray.mcs.name == M.select_mcs(20.0, M.mcs_table("rayleigh")).name
    assert ray.failure_rate <= 0.25


def test_effective_snr_flat_equals_snr_and_fades_cost():
    """MIESM: on a flat channel the effective SNR is the SNR for every constellation; on the 3-tap
    fade it is below the mean SNR, and more so for 64-QAM than for BPSK in dB above threshold."""
    from gr_semcod.baselines import esm, mcs

    for order in (2, 4, 16, 64):
        for snr in (0.0, 10.0, 20.0):
            assert esm.effective_snr_db(np.full(100, 10 ** (-snr / 10)), order) == pytest.approx(snr, abs=0.05)
    nv = 0.01 / np.abs(mcs.multipath_gains(48)) ** 2
    mean_snr = 10 * np.log10(np.mean(1 / nv))
    eff = mcs.effective_snrs_by_mode(nv)
    assert np.all(eff < mean_snr - 1.0), (eff, mean_snr)
    # the table the module ships is what the measurement gives (regenerated by semcod bench mcs --write)
    np.testing.assert_allclose(esm.bicm_mi(4), esm.measure_bicm_mi(4), atol=1e-6)


def test_multipath_thresholds_in_effective_snr_match_awgn():
    """The 3-tap thresholds, as MIESM effective SNR, are at most the 0.5 dB report margin above the
    AWGN ones (and within 1 dB below): the AWGN table + margin serves the receiver's reports
    (semcod bench mcs --channel multipath)."""
    from gr_semcod.baselines.mcs_table import THRESHOLDS_DB

    for name, th in THRESHOLDS_DB["awgn"].items():
        assert -1.0 <= THRESHOLDS_DB["multipath"][name] - th <= 0.5, name


def test_scrambler_is_the_802_11_sequence_of_the_phy_pilots():
    """The link scrambler is the PHY's pilot LFSR (one source): the 127-bit 802.11a sequence of the
    all-ones seed (IEEE 802.11a-1999, 17.3.5.4), and the pilot polarity is 1 - 2 * bit."""
    from gr_semcod.phy.params import pilot_polarity

    want = ("00001110111100101100100100000010001001100010111010110110000011001101010011100111"
            "10110100001010101111101001010001101110001111111")
    bits = link.scrambler(254)
    assert "".join(map(str, bits[:127])) == want
    np.testing.assert_array_equal(bits[127:], bits[:127])  # period 127
    np.testing.assert_array_equal(pilot_polarity(127), 1.0 - 2.0 * bits[:127])


def test_multipath_transmission_picks_from_the_effective_snr():
    """On the 3-tap channel at a 19 dB noise level (mean SNR 18.7 dB: 64-QAM 3/4 by the mean) the
    chain picks by effective SNR (64-QAM's is ~16.2 dB) and delivers every image."""
    imgs = batch(4, 32, 32)
    mean_snr = 19.0 + 10 * np.log10(np.mean(np.abs(M.multipath_gains(48)) ** 2))
    assert M.select_mcs(mean_snr).name == "64qam-3/4"
    r = digital.transmit_images(imgs, "1/2", 19.0, "jpeg", channel="multipath", rng=1)
    assert r.mcs.name == "16qam-3/4"
    assert r.failure_rate == 0.0 and r.misdecoded == 0


def test_multipath_noise_variance_is_one_function_of_the_phy_carriers():
    """One source for the multipath noise profile: 10^(-snr/10) / |H_k|^2 on the data carriers of
    phy.params (48 by default, fewer with a narrower carrier set); the digital baseline's default
    MCS and the threshold conversion both use it."""
    from gr_semcod.phy.params import OfdmParams

    p = OfdmParams()
    nv = M.multipath_noise_var(12.0)
    assert nv.shape == (p.n_data,) == (48,)
    h = np.fft.fft(np.asarray(M.MULTIPATH_TAPS) / np.linalg.norm(M.MULTIPATH_TAPS), p.fft_len)[p.data_bins]
    np.testing.assert_allclose(nv, 10 ** -1.2 / np.abs(h) ** 2, rtol=1e-12)
    narrow = OfdmParams(occupied_carriers=tuple(k for k in range(-12, 13) if k not in (0, -7, 7)),
                        pilot_carriers=(-7, 7))
    assert M.multipath_noise_var(12.0, narrow).shape == (narrow.n_data,) == (22,)
    want = M.select_mcs(M.effective_snrs_by_mode(nv), M.mcs_table("awgn"))
    assert digital.default_mcs(12.0, "multipath") == want
