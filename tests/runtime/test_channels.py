"""Numpy channels: power convention, measured SNR, block Rayleigh statistics, ZF/MMSE."""
from fractions import Fraction

import numpy as np
import pytest

from gr_semcod.runtime.channels import (
    average_power,
    awgn,
    complex_to_iq,
    equalize,
    fade,
    iq_to_complex,
    measured_snr_db,
    noise_variance,
    num_symbols,
    parse_cbr,
    power_normalize,
    rayleigh,
    rayleigh_gains,
    snr_db_from_noise_variance,
)

N_IMAGES, K = 64, 4096  # 262,144 symbols per draw


def unit_symbols(rng, shape=(N_IMAGES, K)):
    z = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) * rng.uniform(0.1, 5, shape[:-1] + (1,))
    return power_normalize(z)


def test_noise_variance_convention():
    assert noise_variance(0) == pytest.approx(1.0)
    assert noise_variance(10) == pytest.approx(0.1)
    assert noise_variance(-3) == pytest.approx(10 ** 0.3)
    np.testing.assert_allclose(snr_db_from_noise_variance(noise_variance([0, 7.5, 20])), [0, 7.5, 20])


def test_power_normalize_gives_unit_power_per_image():
    rng = np.random.default_rng(0)
    z = unit_symbols(rng, (5, 7, 300))
    assert z.dtype == np.complex64 and z.shape == (5, 7, 300)
    np.testing.assert_allclose(average_power(z), 1.0, rtol=1e-5)
    zeros = power_normalize(np.zeros((2, 10), np.complex64))
    assert np.all(zeros == 0) and np.all(np.isfinite(zeros))
    # scaling an image does not change the normalised result
    np.testing.assert_allclose(power_normalize(3.7 * z), z, rtol=1e-5, atol=1e-6)


def test_iq_roundtrip_and_layout():
    rng = np.random.default_rng(1)
    z = unit_symbols(rng, (3, 16))
    iq = complex_to_iq(z)
    assert iq.shape == (3, 16, 2) and iq.dtype == np.float32
    np.testing.assert_array_equal(iq[..., 0], z.real)
    np.testing.assert_array_equal(iq[..., 1], z.imag)
    back = iq_to_complex(iq)
    assert back.dtype == np.complex64
    np.testing.assert_array_equal(back, z)
    with pytest.raises(ValueError, match="last axis of size 2"):
        iq_to_complex(np.zeros((3, 16, 3), np.float32))


@pytest.mark.parametrize("snr_db", [0.0, 5.0, 10.0, 20.0])
def test_awgn_measured_snr_matches_set_snr(snr_db):
    rng = np.random.default_rng(int(snr_db) + 10)
    z = unit_symbols(rng)
    y = awgn(z, snr_db, rng)
    assert y.dtype == np.complex64 and y.shape == z.shape
    assert abs(measured_snr_db(z, y) - snr_db) < 0.2
    # circular noise: I and Q each carry half the variance and are uncorrelated
    n = (y - z).astype(np.complex128)
    nv = noise_variance(snr_db)
    assert np.var(n.real) == pytest.approx(nv / 2, rel=0.02)
    assert np.var(n.imag) == pytest.approx(nv / 2, rel=0.02)
    assert abs(np.mean(n.real * n.imag)) < 0.01 * nv


def test_awgn_per_image_snr_and_reproducibility():
    rng = np.random.default_rng(2)
    z = unit_symbols(rng, (2, 100_000))
    y = awgn(z, np.array([0.0, 20.0]), np.random.default_rng(5))
    assert abs(measured_snr_db(z[0], y[0]) - 0.0) < 0.2
    assert abs(measured_snr_db(z[1], y[1]) - 20.0) < 0.2
    np.testing.assert_array_equal(y, awgn(z, np.array([0.0, 20.0]), np.random.default_rng(5)))
    with pytest.raises(ValueError, match="broadcast"):
        awgn(z, np.array([0.0, 1.0, 2.0]), rng)


def test_rayleigh_gains_statistics_and_blocks():
    rng = np.random.default_rng(3)
    h = rayleigh_gains((N_IMAGES, K + 5), block_len=16, rng=rng)  # last block partial (5 symbols)
    assert h.shape == (N_IMAGES, K + 5) and h.dtype == np.complex64
    g = np.abs(h.astype(np.complex128)) ** 2
    assert g.mean() == pytest.approx(1.0, abs=0.03)
    # |h|^2 of CN(0,1) is Exp(1): variance 1, P(|h|^2 < 0.1) = 1 - e^-0.1
    blocks = h[:, : K : 16]
    gb = np.abs(blocks.astype(np.complex128)) ** 2
    assert gb.var() == pytest.approx(1.0, abs=0.08)
    assert np.mean(gb < 0.1) == pytest.approx(1 - np.exp(-0.1), abs=0.01)
    # constant within a block, independent across blocks
    np.testing.assert_array_equal(h[:, :K].reshape(N_IMAGES, -1, 16), np.repeat(blocks[..., None], 16, -1))
    np.testing.assert_array_equal(h[:, K:], np.repeat(h[:, K : K + 1], 5, axis=-1))
    corr = np.mean(blocks[:, 1:] * np.conj(blocks[:, :-1]))
    assert abs(corr) < 0.03
    with pytest.raises(ValueError, match="block_len"):
        rayleigh_gains((2, 10), 0)


@pytest.mark.parametrize("snr_db", [0.0, 10.0, 20.0])
def test_rayleigh_measured_snr_before_equalisation(snr_db):
    rng = np.random.default_rng(40 + int(snr_db))
    z = unit_symbols(rng)
    y, h, nv = fade(z, snr_db, block_len=8, rng=rng)
    signal = (h * z).astype(np.complex128)
    assert abs(measured_snr_db(signal, y) - snr_db) < 0.2
    assert float(nv) == pytest.approx(noise_variance(snr_db))
    # same through the public wrapper
    y2, nv2, h2 = rayleigh(z, snr_db, 8, np.random.default_rng(7), equalize=None, return_h=True)
    assert abs(measured_snr_db(h2 * z, y2) - snr_db) < 0.2
    np.testing.assert_allclose(nv2, noise_variance(snr_db), rtol=1e-6)


def test_zf_and_mmse_formulas():
    rng = np.random.default_rng(4)
    z = unit_symbols(rng, (4, 64))
    y, h, nv = fade(z, 5.0, 4, rng)
    zf, eff_zf = equalize(y, h, nv, "zf")
    np.testing.assert_allclose(zf, y / h, rtol=1e-5)
    np.testing.assert_allclose(eff_zf, nv / np.abs(h) ** 2, rtol=1e-5)
    mm, eff_mm = equalize(y, h, nv, "mmse")
    g = np.abs(h) ** 2
    np.testing.assert_allclose(mm, np.conj(h) * y / (g + nv), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(eff_mm, nv / (g + nv), rtol=1e-5)
    assert eff_zf.shape == eff_mm.shape == y.shape
    with pytest.raises(ValueError, match="'mmse' or 'zf'"):
        equalize(y, h, nv, "lmmse")


def test_equalisers_recover_symbols_without_noise():
    rng = np.random.default_rng(5)
    z = unit_symbols(rng, (4, 256))
    for method in ("zf", "mmse"):
        z_hat, eff = rayleigh(z, 120.0, 16, np.random.default_rng(6), equalize=method)
        np.testing.assert_allclose(z_hat, z, atol=1e-3)
        assert eff.max() < 1e-6


@pytest.mark.parametrize("snr_db", [0.0, 10.0])
def test_effective_noise_matches_empirical_error(snr_db):
    rng = np.random.default_rng(8)
    z = unit_symbols(rng)
    seed = 100 + int(snr_db)
    zf, eff_zf = rayleigh(z, snr_db, 16, np.random.default_rng(seed), equalize="zf")
    mm, eff_mm = rayleigh(z, snr_db, 16, np.random.default_rng(seed), equalize="mmse")
    err_zf = np.abs((zf - z).astype(np.complex128)) ** 2
    err_mm = np.abs((mm - z).astype(np.complex128)) ** 2
    # ZF noise is unbiased with variance sigma^2/|h|^2: the normalised error has mean 1
    assert np.mean(err_zf / eff_zf) == pytest.approx(1.0, abs=0.02)
    # MMSE: E|z_hat - z|^2 = sigma^2 / (|h|^2 + sigma^2)
    assert np.mean(err_mm) == pytest.approx(np.mean(eff_mm), rel=0.02)
    # MMSE never has a larger mean squared error than ZF on the same channel
    assert np.mean(err_mm) < np.mean(err_zf)
    assert np.all(eff_mm <= eff_zf + 1e-7)


def test_num_symbols_for_cbr():
    assert parse_cbr("1/12") == Fraction(1, 12) and parse_cbr(1 / 48) == Fraction(1, 48)
    assert num_symbols("1/12", 32, 32) == 256
    assert num_symbols("1/48", 32, 32) == 64
    assert num_symbols(Fraction(1, 6), 64, 64) == 2048
    assert num_symbols("1/24", 28, 28, 1) == 33  # 32.67 rounds to 33
    assert num_symbols("1/8", 2, 2, 3) == 2  # 1.5 rounds up
