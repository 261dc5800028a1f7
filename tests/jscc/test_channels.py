"""Channel statistics of the differentiable torch channels."""
import math

import pytest
import torch

from gr_semcod.jscc import Channel, awgn, equalize, fade, measured_snr_db, power_normalize, rayleigh


def _symbols(b=64, k=1024, seed=0):
    g = torch.Generator().manual_seed(seed)
    return power_normalize(torch.randn(b, k, 2, generator=g))


@pytest.mark.parametrize("snr", [0.0, 7.5, 20.0])
def test_awgn_measured_snr(snr):
    z = _symbols()
    y = awgn(z, snr, torch.Generator().manual_seed(1))
    assert abs(measured_snr_db(z, y) - snr) < 0.2


def test_awgn_per_image_snr():
    z = _symbols(b=4, k=50000)
    snr = torch.tensor([0.0, 5.0, 10.0, 20.0])
    y = awgn(z, snr, torch.Generator().manual_seed(2))
    for i in range(4):
        assert abs(measured_snr_db(z[i], y[i]) - float(snr[i])) < 0.2


@pytest.mark.parametrize("snr", [0.0, 10.0, 20.0])
def test_rayleigh_average_received_snr(snr):
    """E|h|^2 = 1: the received SNR before equalisation is the set SNR on average."""
    z = _symbols(b=256, k=1024)
    g = torch.Generator().manual_seed(3)
    y, h = fade(z, snr, block_len=8, generator=g)
    from gr_semcod.jscc.channels import cmul

    hz = cmul(h, z)
    signal = hz.double().pow(2).sum()
    noise = (y - hz).double().pow(2).sum()
    assert abs(10 * math.log10(float(signal / noise)) - snr) < 0.2
    assert abs(float(h.pow(2).sum(-1).mean()) - 1.0) < 0.05


def test_rayleigh_blocks_constant():
    from gr_semcod.jscc import rayleigh_gains

    h = rayleigh_gains(3, 50, 16, generator=torch.Generator().manual_seed(0))
    assert h.shape == (3, 50, 2)
    for b0 in range(0, 50, 16):
        blk = h[:, b0:b0 + 16]
        assert torch.equal(blk, blk[:, :1].expand_as(blk))
    assert not torch.equal(h[:, 0], h[:, 16])


def test_mmse_equaliser_mse_matches_theory():
    """MMSE output error equals E[sigma^2 / (|h|^2 + sigma^2)]; ZF is unbiased and worse."""
    z = _symbols(b=128, k=1024)
    snr = 5.0
    g = torch.Generator().manual_seed(4)
    y, h = fade(z, snr, block_len=4, generator=g)
    s = torch.full((z.shape[0],), snr)
    z_mmse, eff = equalize(y, h, s, "mmse")
    z_zf, _ = equalize(y, h, s, "zf")
    mse_mmse = float((z_mmse - z).pow(2).sum(-1).mean())
    assert abs(mse_mmse - float(eff.mean())) / float(eff.mean()) < 0.05
    assert mse_mmse < float((z_zf - z).pow(2).sum(-1).median()) * 10
    assert mse_mmse < float((z_zf - z).pow(2).sum(-1).mean())


def test_high_snr_rayleigh_recovers_symbols():
    z = _symbols(b=4, k=256)
    zh = rayleigh(z, 60.0, 16, "zf", torch.Generator().manual_seed(5))
    assert float((zh - z).abs().max()) < 0.1


def test_channel_module_policy_and_gradient():
    ch = Channel("awgn", snr_range=(0, 20), snr_db=7.0)
    z = _symbols(b=4000, k=8).requires_grad_(True)
    ch.train()
    y, s = ch(z)
    assert s.shape == (4000,) and float(s.min()) >= 0 and float(s.max()) <= 20
    assert abs(float(s.mean()) - 10) < 0.5  # uniform in dB
    y.sum().backward()
    torch.testing.assert_close(z.grad, torch.ones_like(z))
    ch.eval()
    _, s = ch(z)
    assert torch.all(s == 7.0)
    _, s = ch(z, torch.tensor(3.0))
    assert torch.all(s == 3.0)
    with pytest.raises(ValueError):
        Channel("rician")


def test_channel_module_rayleigh_measured_snr():
    ch = Channel("rayleigh", snr_range=None, snr_db=10.0, block_len=8, equalizer="zf").eval()
    z = _symbols(b=64, k=1024)
    y, _ = ch(z)
    # after ZF the noise is sigma^2/|h|^2: the error power is larger than at the set SNR
    assert measured_snr_db(z, y) < 10.0
