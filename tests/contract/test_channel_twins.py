"""The numpy channels (radio side) and the torch channels (training side) on the same inputs."""
import numpy as np
import pytest

from gr_semcod.runtime import channels as npc

torch = pytest.importorskip("torch")
from gr_semcod.jscc import channels as tc  # noqa: E402
from gr_semcod.jscc import power as tp  # noqa: E402


def iq(z):
    return torch.from_numpy(npc.complex_to_iq(z))


def cplx(x):
    return npc.iq_to_complex(x.numpy())


@pytest.fixture(scope="module")
def signals():
    rng = np.random.default_rng(0)
    z = npc.power_normalize((rng.standard_normal((4, 256)) + 1j * rng.standard_normal((4, 256))) * [[0.1], [1], [3], [10]])
    h = npc.rayleigh_gains(z.shape, 8, rng)
    snr = np.array([0.0, 5.0, 10.0, 20.0])
    y = (h * z + npc.complex_noise(z.shape, npc.noise_variance(snr)[:, None], rng)).astype(np.complex64)
    return z, h, y, snr


def test_power_normalize_and_noise_variance_agree(signals):
    rng = np.random.default_rng(1)
    raw = (rng.standard_normal((3, 100)) + 1j * rng.standard_normal((3, 100))) * [[0.01], [1], [50]]
    np.testing.assert_allclose(cplx(tp.power_normalize(iq(raw))), npc.power_normalize(raw), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(tp.average_power(tp.power_normalize(iq(raw))).numpy(), 1.0, atol=1e-5)
    snr = np.array([-5.0, 0.0, 12.5])
    np.testing.assert_allclose(tc.noise_variance(torch.tensor(snr)).numpy(), npc.noise_variance(snr), rtol=1e-12)


@pytest.mark.parametrize("method", ["zf", "mmse"])
def test_equalizers_agree(signals, method):
    z, h, y, snr = signals
    zn, en = npc.equalize(y, h, npc.noise_variance(snr)[:, None], method)
    zt, et = tc.equalize(iq(y), iq(h), torch.tensor(snr, dtype=torch.float32), method)
    np.testing.assert_allclose(cplx(zt), zn, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(et.numpy(), en, rtol=1e-4, atol=1e-7)


def test_measured_snr_agrees(signals):
    z, h, y, snr = signals
    assert tc.measured_snr_db(iq(z), iq(y)) == pytest.approx(npc.measured_snr_db(z, y), abs=1e-4)


@pytest.mark.parametrize("snr", [0.0, 10.0])
def test_awgn_and_rayleigh_have_the_same_statistics(snr):
    """Different generators, same channel: measured AWGN SNR and MMSE error after block fading."""
    rng = np.random.default_rng(2)
    z = npc.power_normalize(rng.standard_normal((64, 4096)) + 1j * rng.standard_normal((64, 4096)))
    g = torch.Generator().manual_seed(2)
    y_np, y_t = npc.awgn(z, snr, rng), tc.awgn(iq(z), snr, g)
    assert npc.measured_snr_db(z, y_np) == pytest.approx(snr, abs=0.1)
    assert tc.measured_snr_db(iq(z), y_t) == pytest.approx(snr, abs=0.1)
    mse_np = np.mean(np.abs(npc.rayleigh(z, snr, 8, rng, "mmse")[0] - z) ** 2)
    mse_t = float(((tc.rayleigh(iq(z), snr, 8, "mmse", g) - iq(z)) ** 2).sum(-1).mean())
    assert mse_t == pytest.approx(mse_np, rel=0.05)
