"""The semantic codec: exact symbol counts per CBR, unit power, SNR conditioning, training signal."""
import pytest
import torch

from gr_semcod.jscc.power import num_symbols
from gr_semcod.semcod import SemanticCodec, SemanticCodecConfig

CBRS = ("1/48", "1/24", "1/12", "1/6")


@pytest.mark.parametrize("size,patch", [(32, 4), (64, 8)])
def test_exact_symbol_counts_and_unit_power(size, patch):
    torch.manual_seed(0)
    codec = SemanticCodec(SemanticCodecConfig(img_size=size, patch_size=patch, dim=32, depth=3, heads=2, cbrs=CBRS)).eval()
    x = torch.rand(3, 3, size, size)
    for cbr in CBRS:
        z = codec.encode(x, cbr)
        assert z.shape == (3, num_symbols(cbr, size, size), 2)
        assert z.shape[1] == round(eval(cbr) * size * size * 3)
        power = z.pow(2).sum(-1).mean(-1)
        assert torch.allclose(power, torch.ones(3), atol=1e-5)
        out = codec.decode(z, torch.full((3,), 10.0))
        assert out["recon"].shape == x.shape and out["tokens"].shape == (3, 16, 32)


def test_rates_must_divide_into_tokens():
    with pytest.raises(ValueError, match="not a multiple"):
        SemanticCodec(SemanticCodecConfig(dim=32, depth=3, heads=2, num_tokens=17))


def test_decoder_rejects_wrong_symbol_count():
    codec = SemanticCodec(SemanticCodecConfig(dim=32, depth=3, heads=2)).eval()
    with pytest.raises(ValueError, match="do not match"):
        codec.jscc_decoder(torch.zeros(1, 100, 2), torch.zeros(1, 1))


def test_decoder_depends_on_snr():
    torch.manual_seed(0)
    codec = SemanticCodec(SemanticCodecConfig(dim=32, depth=3, heads=2)).eval()
    z = codec.encode(torch.rand(2, 3, 32, 32), "1/12")
    a = codec.decode(z, torch.full((2,), 0.0))["tokens"]
    b = codec.decode(z, torch.full((2,), 20.0))["tokens"]
    assert (a - b).abs().max() > 1e-3


@pytest.mark.parametrize("shape_code", [True, False])
def test_short_training_lowers_the_loss(shape_code):
    torch.manual_seed(0)
    codec = SemanticCodec(SemanticCodecConfig(dim=32, depth=3, heads=2, cbrs=("1/12",), shape_code=shape_code))
    # smooth images (low-frequency colour fields) are learnable in a few dozen steps
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 32), torch.linspace(0, 1, 32), indexing="ij")
    coef = torch.rand(64, 3, 3)
    data = (coef[..., 0, None, None] + coef[..., 1, None, None] * xx + coef[..., 2, None, None] * yy) / 3
    opt = torch.optim.AdamW(codec.parameters(), 2e-3)
    losses = []
    for step in range(80):
        x = data[torch.randint(64, (16,))]
        out = codec(x, torch.full((16,), 20.0))
        loss = (out["recon"] - x).pow(2).mean()
        assert ("aux_loss" in out) == shape_code
        opt.zero_grad()
        (loss + out.get("aux_loss", 0.0)).backward()
        opt.step()
        losses.append(loss.item())
    assert sum(losses[-10:]) / 10 < 0.5 * sum(losses[:5]) / 5
