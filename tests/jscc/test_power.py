"""CBR parsing, exact symbol counts and per-image power normalisation."""
from fractions import Fraction

import pytest
import torch

from gr_semcod.jscc import DeepJSCC, deepjscc_channels, num_symbols, parse_cbr, power_normalize
from gr_semcod.jscc.power import average_power, cbr_tag

# k = round(CBR * H * W * 3)
EXPECTED = {
    (32, "1/48"): 64, (32, "1/24"): 128, (32, "1/12"): 256, (32, "1/6"): 512,
    (64, "1/48"): 256, (64, "1/24"): 512, (64, "1/12"): 1024, (64, "1/6"): 2048,
}


@pytest.mark.parametrize("size,cbr", sorted(EXPECTED))
def test_num_symbols_exact(size, cbr):
    assert num_symbols(cbr, size, size) == EXPECTED[(size, cbr)]


@pytest.mark.parametrize("cbr,c", [("1/48", 2), ("1/24", 4), ("1/12", 8), ("1/6", 16)])
@pytest.mark.parametrize("size", [32, 64])
def test_deepjscc_channel_count_and_symbols(size, cbr, c):
    assert deepjscc_channels(cbr, size, size) == c
    m = DeepJSCC(cbr, (size, size)).eval()
    z = m.encoder(torch.rand(3, 3, size, size))
    assert z.shape == (3, EXPECTED[(size, cbr)], 2) and z.dtype == torch.float32
    out = m(torch.rand(3, 3, size, size), torch.tensor([0.0, 10.0, 20.0]))
    assert out["recon"].shape == (3, 3, size, size)


def test_parse_cbr_forms():
    assert parse_cbr("1/12") == Fraction(1, 12)
    assert parse_cbr(" 1/48 ") == Fraction(1, 48)
    assert parse_cbr("1-24") == Fraction(1, 24)
    assert parse_cbr(1 / 6) == Fraction(1, 6)
    assert parse_cbr("0.0833333") == Fraction(1, 12)
    assert parse_cbr(Fraction(1, 12)) == Fraction(1, 12)
    assert cbr_tag("1/12") == "1-12"
    with pytest.raises(ValueError):
        parse_cbr("0")
    with pytest.raises(ValueError):
        deepjscc_channels("1/7", 32, 32)  # 438.86 symbols: no integer c


def test_rounding_matches_runtime():
    from gr_semcod.runtime.channels import num_symbols as np_num_symbols

    for cbr in ["1/48", "1/24", "1/12", "1/6", "1/7", "1/10", "0.3"]:
        for h, w in [(32, 32), (64, 64), (28, 28), (17, 23)]:
            assert num_symbols(cbr, h, w) == np_num_symbols(cbr, h, w)


def test_unit_average_power_per_image():
    torch.manual_seed(0)
    z = torch.randn(6, 256, 2) * torch.tensor([0.1, 1, 3, 10, 100, 1e-3])[:, None, None]
    p = average_power(power_normalize(z))
    torch.testing.assert_close(p, torch.ones(6), atol=1e-5, rtol=0)
    # the encoder's output is normalised per image, whatever the input
    m = DeepJSCC("1/24", (32, 32)).eval()
    x = torch.rand(5, 3, 32, 32) * torch.tensor([0, 0.01, 0.5, 1, 1])[:, None, None, None]
    torch.testing.assert_close(average_power(m.encoder(x)), torch.ones(5), atol=1e-4, rtol=0)


def test_power_normalize_gradient_is_finite():
    z = torch.randn(2, 64, 2, requires_grad=True)
    power_normalize(z).sum().backward()
    assert torch.isfinite(z.grad).all()
