"""Receiver-side fill of erased latent entries (gr_semcod.runtime.latent_fill) and its effect on
a photo that lost a PHY fragment (gr_semcod.runtime.semantic2.decode_photo)."""
from pathlib import Path

import numpy as np
import pytest

from gr_semcod.runtime import load_bundle
from gr_semcod.runtime.channels import awgn
from gr_semcod.runtime.latent_fill import fill_erased
from gr_semcod.runtime.semantic2 import decode_photo, encode_photo, payload_positions, read_side
from gr_semcod.runtime.side_info import SIDE_MCS

SHIPPED = Path(__file__).resolve().parents[2] / "models" / "semcod_32"


def test_known_entries_untouched_and_smooth_field_recovered():
    """A linear ramp (per channel) across a 2 x 3 tile grid with a hole spanning a tile border:
    known entries stay bit-exact and the filled ones are close to the ramp."""
    rng = np.random.default_rng(0)
    gh, gw, c, h, w = 2, 3, 4, 8, 8
    yy, xx = np.mgrid[0:gh * h, 0:gw * w].astype(np.float32)
    full = np.stack([1.0 + (k + 1) * 0.05 * yy - 0.03 * xx for k in range(c)])  # (c, H, W)
    tiles = full.reshape(c, gh, h, gw, w).transpose(1, 3, 0, 2, 4).reshape(gh * gw, c, h, w)
    known = np.ones_like(tiles, bool)
    known[1, :, 2:8, 3:8] = False     # tile (0, 1), up to its right border
    known[2, :2, 2:8, 0:3] = False    # tile (0, 2), two channels only
    noisy = np.where(known, tiles, rng.normal(size=tiles.shape).astype(np.float32) * 5)
    out = fill_erased(noisy, known, (gh, gw))
    np.testing.assert_array_equal(out[known], tiles[known])
    err_fill = np.abs(out[~known] - tiles[~known]).mean()
    err_zero = np.abs(tiles[~known]).mean()
    assert err_fill < 0.25 * err_zero
    assert np.isfinite(out).all()


def test_everything_known_is_a_copy_nothing_known_is_zero():
    x = np.random.default_rng(1).normal(size=(4, 2, 8, 8)).astype(np.float32)
    np.testing.assert_array_equal(fill_erased(x, np.ones(x.shape, bool), (2, 2)), x)
    np.testing.assert_array_equal(fill_erased(x, np.zeros(x.shape, bool), (2, 2)), np.zeros_like(x))
    with pytest.raises(ValueError, match="mask shape"):
        fill_erased(x, np.ones((4, 2, 8, 7), bool), (2, 2))
    with pytest.raises(ValueError, match="grid"):
        fill_erased(x, np.ones(x.shape, bool), (3, 2))


@pytest.fixture(scope="module")
def bundle():
    return load_bundle(SHIPPED)


def photo(h=128, w=192, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / np.array([h, w])[:, None, None]
    img = np.stack([0.3 + 0.4 * yy, 0.5 + 0.2 * xx + 0.1 * np.sin(9 * yy), 0.9 - 0.3 * yy], -1)
    img += 0.05 * rng.random((h, w, 3))
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)


def psnr(a, b):
    return 10 * np.log10(1 / np.mean((a - b) ** 2))


def test_payload_positions_are_what_read_side_returns(bundle):
    img = photo()
    sym, tx = encode_photo(bundle, img, "1/12", 10.0)
    mcs = SIDE_MCS[tx["mcs"]]
    pos = payload_positions(sym.size, mcs, tx["side_symbols"])
    _, _, payload = read_side(sym, np.ones(sym.size), mcs, 10 ** 6)
    assert pos.size == sym.size - tx["side_symbols"] == 4 * tx["tokens"]
    np.testing.assert_array_equal(sym[pos], payload)


@pytest.mark.parametrize("where", [0.3, 0.6])
def test_a_lost_fragment_costs_less_with_the_fill(bundle, where):
    """A contiguous 1/20 of the vector lost (a PHY fragment of the token payload): with the fill the
    photo is closer to the no-loss decode than with erased tokens decoded as zeros."""
    img = photo()
    ref = img / 255.0
    sym, tx = encode_photo(bundle, img, "1/12", 10.0)
    y = awgn(sym[None], 10.0, np.random.default_rng(4))[0]
    lost = np.zeros(sym.size, bool)
    a = int(where * sym.size)
    lost[a:a + sym.size // 20] = True
    clean, _ = decode_photo(bundle, y, *img.shape[:2], 10.0)
    zeros, rz = decode_photo(bundle, y, *img.shape[:2], 10.0, erasures=lost, fill=False)
    filled, rf = decode_photo(bundle, y, *img.shape[:2], 10.0, erasures=lost)
    assert rz["ok"] and rf["ok"] and rz["latent_filled"] == 0 and rf["latent_filled"] > 0
    p_clean, p_zero, p_fill = psnr(ref, clean), psnr(ref, zeros), psnr(ref, filled)
    assert p_fill > p_zero + 1.0, (p_clean, p_zero, p_fill)
    assert p_fill > p_clean - 1.5, (p_clean, p_zero, p_fill)


def test_erasures_bench(tmp_path, capsys):
    from PIL import Image

    from gr_semcod.cli import main

    Image.fromarray(photo(96, 128, 5)).save(tmp_path / "a.png")
    assert main(["bench", "erasures", "--bundle", str(SHIPPED), "--data", str(tmp_path), "--cbr", "1/12",
                 "--snr", "10", "--positions", "2", "--lost", "0.05"]) == 0
    last = dict(l.split("=") for l in capsys.readouterr().out.strip().splitlines()[-5:])
    clean, zeros, fill = (float(last[f"erasure_psnr_{m}_1-12_10db"]) for m in ("clean", "zeros", "fill"))
    assert zeros < clean and fill <= clean + 0.05
    assert float(last["erasure_fill_gain_1-12_10db"]) == pytest.approx(fill - zeros, abs=0.011)
