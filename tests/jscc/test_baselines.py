"""Separation bound and the digital JPEG/WebP + LDPC + QAM chain."""
import math

import numpy as np
import pytest

from gr_semcod.baselines import digital, separation
from gr_semcod.runtime.metrics import psnr_per_image


def _images(n=6, size=32, seed=0):
    """Smooth gradients + a blob + mild texture: compressible but not trivial."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, size)
    yy, xx = np.meshgrid(t, t, indexing="ij")
    out = np.empty((n, size, size, 3))
    for i in range(n):
        a, b, c = rng.uniform(-1, 1, (3, 3))
        cx, cy = rng.uniform(0.2, 0.8, 2)
        blob = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / 0.02)
        for ch in range(3):
            out[i, ..., ch] = 0.5 + 0.4 * (a[ch] * (xx - .5) + b[ch] * (yy - .5)) + 0.3 * c[ch] * blob
        out[i] += 0.03 * rng.standard_normal((size, size, 1))
    return np.clip(np.rint(out * 255), 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------- separation


def test_capacity_budget():
    assert separation.capacity_bits(256, 10.0) == pytest.approx(256 * math.log2(11))
    assert separation.capacity_bits(64, 0.0) == pytest.approx(64.0)


@pytest.mark.parametrize("codec", ["jpeg", "webp"])
def test_tiny_budget_gives_mean_image(codec):
    x = _images()
    r = separation.separation_bound(x, "1/48", 0.0, codec)  # k = 64 -> 64 bits, no file fits
    assert r.budget_bits == pytest.approx(64.0)
    assert np.all(r.quality == -1) and r.fallback_rate == 1.0
    np.testing.assert_array_equal(r.images, separation.mean_colour_images(x))
    np.testing.assert_allclose(r.psnr, psnr_per_image(x, separation.mean_colour_images(x)))
    # below 24 bits not even the mean colour fits: mid grey
    g = separation.separation_bound(x, "1/3072", 0.0, codec)  # k = 1 symbol, 1 bit
    assert np.all(g.quality == -2) and np.all(g.images == 128)


@pytest.mark.parametrize("codec", ["jpeg", "webp"])
def test_large_budget_beats_mean_and_fits(codec):
    x = _images()
    floor = float(np.mean(psnr_per_image(x, separation.mean_colour_images(x))))
    r = separation.separation_bound(x, "1/6", 30.0, codec)
    assert r.fallback_rate == 0.0
    assert np.all(r.bits <= r.budget_bits)
    assert r.mean_psnr > floor + 8.0, (r.mean_psnr, floor)
    # the quality found is the highest that fits: one step up does not fit (or is the maximum)
    s = separation.QualitySearch(x[0], codec)
    q = int(r.quality[0])
    assert q == separation.QUALITY_RANGE[codec][1] or s.at(q + 1)[0] > r.budget_bits


def test_headerless_accounting_is_smaller_and_better():
    x = _images()
    full = separation.encode(x[0], "jpeg", 50, header=True)[0]
    bare = separation.encode(x[0], "jpeg", 50, header=False)[0]
    assert bare < full - 8 * 150  # JPEG headers+tables are hundreds of bytes
    w_full = separation.encode(x[0], "webp", 50, header=True)[0]
    w_bare = separation.encode(x[0], "webp", 50, header=False)[0]
    assert w_full - w_bare == 8 * 20  # RIFF + WEBP + VP8 chunk header
    a = separation.separation_bound(x, "1/12", 5.0, "jpeg", header=True)
    b = separation.separation_bound(x, "1/12", 5.0, "jpeg", header=False)
    assert b.mean_psnr > a.mean_psnr


# --------------------------------------------------------------------------- digital chain


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


def test_ldpc_encode_decode_and_commpy_parity(tmp_path):
    h = digital.regular_ldpc(96, 3, 6, seed=1)
    assert h.shape == (48, 96) and np.all(h.sum(0) == 3) and np.all(h.sum(1) == 6)
    code = digital.LDPCCode(h)
    assert code.k >= 48
    rng = np.random.default_rng(0)
    u = rng.integers(0, 2, (8, code.k))
    x = code.encode(u)
    assert np.all(code.syndrome_ok(x))
    np.testing.assert_array_equal(code.info(x), u)
    # commpy design-file round trip
    path = digital.save_code(h, str(tmp_path / "h.txt"))
    np.testing.assert_array_equal(digital.load_code(path), h)
    # BPSK over AWGN at 3 dB: our vectorised decoder agrees with commpy's SPA decoder
    from commpy.channelcoding.ldpc import ldpc_bp_decode

    noisy = (1.0 - 2.0 * x) + rng.standard_normal(x.shape) * math.sqrt(10 ** (-3 / 10) / 2)
    llr_ch = 4 * noisy / 10 ** (-3 / 10)
    ours, ok = code.decode(llr_ch, iters=30)
    params = digital.commpy_params(h)
    theirs, _ = ldpc_bp_decode(llr_ch.reshape(-1).copy(), params, "SPA", 30)
    theirs = np.asarray(theirs).T.reshape(x.shape)
    agree = np.all(ours == theirs, axis=1)
    assert ok.sum() >= 6 and np.all(agree[ok])
    np.testing.assert_array_equal(ours[ok], x[ok])


def test_select_mcs_table():
    assert digital.select_mcs(-20).name == "bpsk-1/3"
    assert digital.select_mcs(10).name == "16qam-1/2"
    assert digital.select_mcs(30).name == "64qam-3/4"
    tps = [digital.select_mcs(s).throughput for s in range(-5, 25)]
    assert tps == sorted(tps)


def test_digital_chain_error_free_at_high_snr():
    x = _images(4)
    r = digital.transmit_images(x, "1/6", 30.0, "webp")
    assert r.mcs.name == "64qam-3/4" and r.n_blocks >= 2
    assert not r.failed.any() and not r.no_fit.any() and r.ber == 0.0
    for i in range(len(x)):  # exactly the codec's output at the chosen quality
        bits, dec = separation.encode(x[i], "webp", int(r.quality[i]))
        assert bits <= r.info_bits
        np.testing.assert_array_equal(r.images[i], dec)
    floor = float(np.mean(psnr_per_image(x, separation.mean_colour_images(x))))
    assert r.mean_psnr > floor + 8.0


def test_digital_chain_falls_back_at_low_snr():
    x = _images(4)
    mcs = digital.select_mcs(30.0)
    r = digital.transmit_images(x, "1/6", -5.0, "webp", mcs=mcs, fallback="image_mean")
    assert not r.no_fit.any() and r.failed.all() and r.ber > 0.05
    np.testing.assert_array_equal(r.images, separation.mean_colour_images(x))
    # with the table's own choice at -5 dB nothing fits the budget: fallback as well
    r2 = digital.transmit_images(x, "1/6", -5.0, "webp", fallback="grey")
    assert r2.no_fit.all() and np.all(r2.images == 128)


@pytest.mark.parametrize("name", ["bpsk-1/2", "16qam-1/2"])
def test_mcs_thresholds_are_what_codeword_error_rate_measures(name):
    """The MCS table's SNR thresholds come from :func:`digital.codeword_error_rate`: at the
    threshold (measured 1 % point + 0.5 dB margin) codewords decode, 2 dB below they mostly fail."""
    mcs = next(m for m in digital.MCS_TABLE if m.name == name)
    assert digital.codeword_error_rate(mcs, mcs.min_snr_db, trials=100) <= 0.02
    assert digital.codeword_error_rate(mcs, mcs.min_snr_db - 2.0, trials=100) >= 0.2
