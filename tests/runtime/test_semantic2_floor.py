"""Mode ``auto`` of the semantic codec v2: the photo merged, or its Deep JSCC at the CBR (the floor,
``mode`` 255, no side information) when merging decodes worse on the transmitter's own channel draws."""
from pathlib import Path

import numpy as np
import pytest

from gr_semcod.runtime.bundle import load_bundle, role_key
from gr_semcod.runtime.metrics import psnr
from gr_semcod.runtime.semantic2 import (FLOOR_DRAWS, FLOOR_MIN_DRAWS, FLOOR_MODE, FLOOR_SEED, _simulate,
                                         decode_floor, decode_photo, encode_auto, encode_floor, encode_photo,
                                         floor_decision, run_batched)
from gr_semcod.runtime.tiles import stitch, tile_photo

SHIPPED = Path(__file__).resolve().parents[2] / "models" / "semcod_32"


@pytest.fixture(scope="module")
def bundle():
    return load_bundle(SHIPPED)


def photo(h, w, busy: float, seed=0):
    """Sky over ground; ``busy`` is the share of rows that are texture (stripes and a little noise)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / np.array([h, w])[:, None, None]
    img = np.stack([0.3 + 0.4 * yy, 0.5 + 0.2 * xx, 0.9 - 0.3 * yy], -1)
    cut = int(h * (1 - busy))
    wave = np.sin(40 * xx + 17 * yy)[cut:, :, None] * np.array([0.3, 0.2, 0.25])
    img[cut:] = 0.5 + wave + 0.1 * rng.random((h - cut, w, 3))
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)


def test_the_floor_is_the_deep_jscc_of_the_cbr(bundle):
    img = photo(70, 100, 0.5)
    sym, tx = encode_floor(bundle, img, "1/48")
    tiles, grid = tile_photo(img, 32)
    iq = run_batched(bundle, role_key("deepjscc_encoder", "1/48"), 64, images=tiles)
    assert tx["mcs"] == FLOOR_MODE and tx["side_symbols"] == 0 and sym.size == iq.shape[0] * iq.shape[1] == 12 * 64
    np.testing.assert_array_equal(sym, (iq[..., 0] + 1j * iq[..., 1]).ravel().astype(np.complex64))
    rec, rx = decode_photo(bundle, sym, 70, 100, 20.0, mcs=FLOOR_MODE)
    ref = run_batched(bundle, role_key("deepjscc_decoder", "1/48"), 64, symbols=iq,
                      snr_db=np.full((len(iq), 1), 20.0, np.float32))
    assert rx["ok"] and rx["decoder"] == "deepjscc_decoder@1/48"
    np.testing.assert_allclose(rec, np.clip(stitch(ref, grid, (70, 100)), 0, 1), atol=1e-6)
    _, rb = decode_photo(bundle, sym, 70, 100, 20.0)  # no mode: no v2 tree decodes, the floor is not guessed
    assert not rb["ok"] and "needs its mode, 255" in rb["reason"]
    bad, rbad = decode_floor(bundle, sym[:-1], 70, 100, 20.0)
    assert not rbad["ok"] and "no Deep JSCC rate" in rbad["reason"] and np.all(bad == 0.5)
    _, rmode = decode_photo(bundle, sym, 70, 100, 20.0, mcs=200)
    assert not rmode["ok"] and "mode 200" in rmode["reason"]


def _simulated_gains(bundle, img, cbr, snr, draws=FLOOR_DRAWS):
    """PSNR of the merged photo minus the floor's on the transmitter's draws ``0..draws-1``,
    decoded here with decode_photo (not with encode_auto's own candidate_error)."""
    cands = (encode_photo(bundle, img, cbr, snr, "photo"), encode_floor(bundle, img, cbr))
    gains = []
    for j in range(draws):
        err = []
        for sym, tx in cands:
            y, nv = _simulate(sym, snr, False, FLOOR_SEED + j)
            rec, rx = decode_photo(bundle, y, *img.shape[:2], snr, noise_var=nv, mcs=tx["mcs"])
            err.append(float(np.mean((rec - img / 255.0) ** 2)) if rx["ok"] else np.inf)
        gains.append(10 * np.log10(err[1] / err[0]))
    return gains


def test_floor_decision_is_a_sequential_test_of_the_mean():
    drawn = []

    def gains(values):
        for g in values:
            drawn.append(g)
            yield g

    assert floor_decision(gains([0.4, 0.45, 0.38, 9.0, 9.0]), 5, 3) == (True, [0.4, 0.45, 0.38])  # clear: stops at 3
    assert drawn == [0.4, 0.45, 0.38]  # lazily: the draws it did not need were never made
    merged, seen = floor_decision([0.1, -0.1, 0.05, -0.08, 0.02], 5, 3)  # unclear: all 5, mean -0.002
    assert not merged and len(seen) == 5
    assert floor_decision([0.05, -0.2, -0.25, -0.2, 5.0], 5, 3) == (False, [0.05, -0.2, -0.25, -0.2])  # a lucky first draw outvoted
    # a draw whose side information failed is not averaged, but counts as a draw; two of them send the floor
    assert floor_decision([0.4, -np.inf, 0.45, 0.38, 9.0], 5, 3) == (True, [0.4, -np.inf, 0.45, 0.38])
    assert floor_decision([0.4, -np.inf, 0.45, -np.inf, 9.0], 5, 3) == (False, [0.4, -np.inf, 0.45, -np.inf])
    assert floor_decision([0.4, 0.3, -np.inf, 0.5, 0.2], 4, 3) == (True, [0.4, 0.3, -np.inf, 0.5])  # at most 4
    assert floor_decision([-np.inf], 1, 1) == (False, [-np.inf])  # nothing decoded: the floor
    assert floor_decision([0.2], 1, 1) == (True, [0.2])  # one draw: the sign decides
    with pytest.raises(ValueError, match="min_draws"):
        floor_decision([0.1], 2, 3)


@pytest.mark.parametrize("cbr,snr,busy", [("1/48", 10.0, 0.3), ("1/12", 1.0, 1.0)])
def test_auto_sends_what_decoded_better_on_its_own_draw(bundle, cbr, snr, busy):
    img = photo(96, 128, busy, seed=1)
    sym, tx = encode_auto(bundle, img, cbr, snr)
    gains = _simulated_gains(bundle, img, cbr, snr)
    merged, seen = floor_decision(gains, FLOOR_DRAWS, FLOOR_MIN_DRAWS)
    assert FLOOR_MIN_DRAWS <= tx["floor_draws"] == len(seen) <= FLOOR_DRAWS
    if busy == 1.0:  # all texture at the base rate: merging cannot pay, the floor is sent
        assert tx["floor"] and tx["floor_gain_db"] < 0
    assert tx["floor"] == (not merged)
    assert tx["floor_gain_db"] == pytest.approx(np.mean(seen), rel=1e-3, abs=1e-4)
    assert (tx["mcs"] == FLOOR_MODE) == tx["floor"]
    again, tx2 = encode_photo(bundle, img, cbr, snr, "auto")  # deterministic: the same draw, the same choice
    assert np.array_equal(sym, again) and tx2["floor"] == tx["floor"]
    rng = np.random.default_rng(7)
    y = sym + np.sqrt(10 ** (-snr / 10) / 2) * (rng.standard_normal(sym.size) + 1j * rng.standard_normal(sym.size))
    rec, rx = decode_photo(bundle, y.astype(np.complex64), 96, 128, snr, mcs=tx["mcs"])
    mean = np.broadcast_to(img.reshape(-1, 3).mean(0) / 255.0, img.shape)
    assert rx["ok"] and psnr(img / 255.0, rec) > psnr(img / 255.0, mean) + 3


def test_smooth_content_at_low_rate_is_merged(bundle):
    """A sky at 1/48, 10 dB: merging pays (the floor is taken by the small, busy photos above)."""
    _, tx = encode_auto(bundle, photo(192, 256, 0.1, seed=2), "1/48", 10.0)
    assert not tx["floor"] and tx["floor_gain_db"] > 0.3 and tx["mcs"] != FLOOR_MODE


def test_floor_bench(tmp_path, capsys):
    """``semcod bench floor``: per rule the score is the true gain where it merges, 0 at the floor,
    so it lies between min(always merged, 0) and the oracle, its loss between min(always merged, 0)
    and 0; the ``auto`` rule on the bench's transmitter draws is encode_auto's decision."""
    from PIL import Image

    from gr_semcod.cli import main

    a, b = photo(96, 128, 1.0, seed=1), photo(192, 256, 0.1, seed=2)  # one the floor, one merged (above)
    Image.fromarray(a).save(tmp_path / "a.png")
    Image.fromarray(b).save(tmp_path / "b.png")
    assert main(["bench", "floor", "--bundle", str(SHIPPED), "--data", str(tmp_path), "--cbr", "1/48", "--snr", "10",
                 "--sim-draws", "3", "--draws", "2", "--margins", "0", "0.5"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    last = dict(l.split("=") for l in out if l.startswith("floor_"))
    assert len(last) == 3 * 2 * 2 + 3 + 2 + 2
    assert float(last["floor_seconds_candidates_1-48_10db"]) > 0 and float(last["floor_seconds_auto_1-48_10db"]) > 0
    merged, oracle = float(last["floor_always_merged_1-48_10db"]), float(last["floor_oracle_1-48_10db"])
    assert oracle >= max(merged, 0.0) and oracle > 0.1  # the sky photo gains from merging
    rules = [f"k{k}_margin{m}" for k in (1, 2, 3) for m in ("0", "0.5")] + ["auto"]
    for r in rules:
        assert min(merged, 0.0) - 1e-9 <= float(last[f"floor_rule_1-48_10db_{r}"]) <= oracle + 1e-9
        assert min(merged, 0.0) - 1e-9 <= float(last[f"floor_loss_1-48_10db_{r}"]) <= 1e-9
    assert 1 <= float(last["floor_draws_1-48_10db_auto"]) <= 3
    sims = [[float(g) for g in l.split("G simulated ")[1].split(",")[0].split()] for l in out[:2]]
    for img, sim in zip((a, b), sims):  # the bench's transmitter draws are auto's own: the same decision
        tx = encode_auto(load_bundle(SHIPPED), img, "1/48", 10.0, draws=3)[1]
        merged_here, seen = floor_decision(sim, 3, FLOOR_MIN_DRAWS)
        assert tx["floor"] == (not merged_here) and tx["floor_draws"] == len(seen)
