"""Whole photos at their own size (gr_semcod.evaluation.fullsize): tiling, equal symbols,
the semantic codec v2 through its ONNX files + numpy, against its torch model."""
import argparse
import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gr_semcod.evaluation import cli as eval_cli
from gr_semcod.evaluation.fullsize import deepjscc_photo, semantic2_photo, stitch, tile_photo
from gr_semcod.export.bundle import export_bundle
from gr_semcod.export.from_onnx import deepjscc_from_bundle
from gr_semcod.export.hybrid import export_semantic2
from gr_semcod.runtime import load_bundle, quadtree
from gr_semcod.runtime.channels import num_symbols
from gr_semcod.runtime.semantic2 import photo_levels, side_cost, side_overhead_bits
from gr_semcod.runtime.side_info import SIDE_MCS, side_mcs
from gr_semcod.semantic.hybrid import HybridSemanticCodec

SHIPPED = Path(__file__).resolve().parents[2] / "models" / "semcod_32"


def synthetic_photo(h=100, w=140, seed=0):
    """A sky gradient over a textured ground with an edge: smooth and busy content in one photo."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.zeros((h, w, 3), np.float32)
    img[..., 0] = 0.3 + 0.4 * yy / h
    img[..., 1] = 0.5 + 0.2 * xx / w
    img[..., 2] = 0.9 - 0.3 * yy / h
    ground = yy > h // 2
    img[ground] = 0.35 + 0.25 * rng.random((int(ground.sum()), 3))
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)


def _export(out, perturb: bool):
    dj = {cbr: deepjscc_from_bundle(SHIPPED, cbr) for cbr in ("1/48", "1/12")}
    export_bundle(str(out), deepjscc=dj, name="test_v2")
    codec = HybridSemanticCodec(base_cbr="1/12", cbrs=("1/48", "1/12"), init_from_bundle=str(SHIPPED))
    if perturb:  # non-trivial new layers, so that a parity test covers them too
        g = torch.Generator().manual_seed(0)
        with torch.no_grad():
            codec.level_log2_amp.add_(0.2)
            for w in (codec.decoder.out.weight, codec.encoder_b.to_latent.weight, codec.encoder_a.to_latent.weight):
                w.copy_(0.01 * torch.randn(w.shape, generator=g))
    export_semantic2(str(out), codec)
    return out, codec


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory):
    """Warm start from the shipped Deep JSCC, new layers at their (identity) initialisation."""
    return _export(tmp_path_factory.mktemp("bundle_v2"), perturb=False)


@pytest.fixture(scope="module")
def perturbed_bundle(tmp_path_factory):
    return _export(tmp_path_factory.mktemp("bundle_v2p"), perturb=True)


def test_tile_and_stitch_round_trip_odd_sizes():
    img = synthetic_photo(45, 70)
    tiles, grid = tile_photo(img, 32)
    assert grid == (2, 3) and tiles.shape == (6, 3, 32, 32)
    np.testing.assert_array_equal((stitch(tiles, grid, (45, 70)) * 255).round().astype(np.uint8), img)


def test_equal_budget_same_size_and_above_the_mean_colour_floor(bundle_dir):
    b = load_bundle(bundle_dir[0])
    img = synthetic_photo()
    ref = img.astype(np.float32) / 255
    floor = 10 * np.log10(1 / ((ref - ref.reshape(-1, 3).mean(0)) ** 2).mean())
    for cbr in ("1/48", "1/12"):
        k = num_symbols(cbr, *img.shape[:2])
        for mode in ("photo", "tile", "uniform", "photo_unpriced"):
            r = semantic2_photo(b, img, cbr, "awgn", 20.0, 0, mode)
            assert r["image"].shape == img.shape
            assert r["symbols"] <= k and r["cbr_spent"] <= float(eval(cbr)) + 1e-12
            assert 10 * np.log10(1 / ((r["image"] - ref) ** 2).mean()) > floor + 3
        d = deepjscc_photo(b, img, cbr, "rayleigh", 20.0, 0)
        assert d["image"].shape == img.shape and d["symbols"] >= k  # padding: the baseline spends a bit more


def test_photo_mode_gives_the_busy_tiles_more_tokens(bundle_dir):
    b = load_bundle(bundle_dir[0])
    img = synthetic_photo(128, 128)
    r = semantic2_photo(b, img, "1/48", "awgn", 10.0, 0, "photo")
    tiles, _ = tile_photo(img, 32)
    feats = b.run("semantic2_encoder", images=tiles)["features"]
    mcs = SIDE_MCS[r["mcs"]]
    assert mcs == side_mcs(10.0, n_flags=r["flag_bits"])  # the scheme that sends this (short) tree cheapest
    lev = photo_levels(feats[:, :b.manifest["semantic2"]["c"]], b.manifest["semantic2"],
                       float(num_symbols("1/48", 128, 128)), "photo", mcs.beta, (4, 4), side_overhead_bits(mcs, r["flag_bits"]))
    tokens = (4.0 ** -lev.astype(float)).sum(axis=(1, 2)).reshape(4, 4)
    assert tokens[:2].mean() < tokens[2:].mean()  # sky (top) cheaper than ground (bottom)
    assert r["tokens"] == tokens.sum() and r["side_ok"]
    np.testing.assert_array_equal(r["levels"], lev)  # the real coded flags fit without tightening here


@pytest.mark.parametrize("cbr", ["1/48", "1/12"])
def test_numpy_pipeline_matches_the_torch_codec(perturbed_bundle, cbr):
    """ONNX + numpy (allocation, tokens, power, gain, unmerge, whole tiles) == the torch forward, noise-free."""
    out, codec = perturbed_bundle
    b = load_bundle(out)
    img = synthetic_photo(64, 96)
    tiles, grid = tile_photo(img, 32)
    r = semantic2_photo(b, img, cbr, "awgn", 200.0, 0, "photo")
    lev = r["levels"]
    assert r["side_ok"]
    whole = quadtree.whole_tiles(lev)
    assert whole.any() == (cbr == "1/12") and not whole.all()  # at 1/12 the busy tiles stay whole
    with torch.no_grad():
        rec = codec.eval()(torch.from_numpy(tiles), 200.0, levels=lev, groups=np.zeros(len(tiles), int))["recon"]
    np.testing.assert_allclose(r["image"], np.clip(stitch(rec.numpy(), grid, (64, 96)), 0, 1), atol=2e-4)


@pytest.mark.parametrize("which", ["init", "trained"])
def test_nothing_merged_is_deep_jscc_of_the_base_rate_through_onnx(bundle_dir, perturbed_bundle, which):
    """At initialisation AND with non-trivial new layers (as after training): a tile left whole is
    coded by the base-rate Deep JSCC itself, so nothing merged is the baseline."""
    b = load_bundle((bundle_dir if which == "init" else perturbed_bundle)[0])
    img = synthetic_photo(64, 64)
    r = semantic2_photo(b, img, "1/12", "awgn", 200.0, 0, "none")
    d = deepjscc_photo(b, img, "1/12", "awgn", 200.0, 0)
    np.testing.assert_allclose(r["image"], d["image"], atol=2e-3)
    # with trained layers the refinement decoder alone would not give the floor: the whole-tile path does
    tiles, _ = tile_photo(img, 32)
    y = b.run("deepjscc_encoder@1/12", images=tiles)["symbols"].reshape(4, 8, 8, 8)
    snr = np.full((4, 1), 200.0, np.float32)
    via_refinement = b.run("semantic2_decoder", latent=y, levels=np.zeros((4, 1, 8, 8), np.float32), snr_db=snr)
    base = b.run("deepjscc_decoder@1/12", symbols=y.reshape(4, -1, 2), snr_db=snr)["images"]
    gap = np.abs(via_refinement["images"] - base).max()
    assert (gap > 1e-3) == (which == "trained")
    lev = np.zeros((4, 8, 8), np.uint8)
    tokens, bits = quadtree.tree_cost(lev, 3)
    coded = quadtree.flag_code_bits(quadtree.flag_counts(quadtree.stitch_levels(lev, (2, 2)), 3)[0])
    assert coded < 0.25 * bits.sum()  # every node split: the arithmetic coder nearly skips the flags
    assert r["flag_bits"] <= coded + 1 and r["side_ok"]  # the real coder attains the charged KT length
    assert r["symbols"] == tokens.sum() * 4 + side_cost(r["flag_bits"], SIDE_MCS[r["mcs"]]) == r["side_symbols"] + 256 * 4
    assert SIDE_MCS[r["mcs"]] == side_mcs(200.0, n_flags=r["flag_bits"])


def test_eval_full_size_cli(bundle_dir, tmp_path, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(synthetic_photo(70, 100, 1)).save(photos / "a.png")
    Image.fromarray(synthetic_photo(64, 64, 2)).save(photos / "b.png")
    (photos / "broken.png").write_bytes(b"not a png")
    p = argparse.ArgumentParser()
    eval_cli.add_arguments(p)
    args = p.parse_args(["--bundle", str(bundle_dir[0]), "--data", str(photos), "--full-size", "--cbr", "1/48",
                         "--snr", "1", "10", "--channel", "awgn", "rayleigh", "--modes", "photo", "none",
                         "--out", str(tmp_path / "out"), "--card", str(tmp_path / "card.md")])
    assert eval_cli.run(args) == 0
    text = capsys.readouterr()
    assert "broken.png" in text.err
    last = text.out.strip().splitlines()[-1]
    assert last.startswith("fullsize_psnr_") and float(last.split("=")[1]) > 10
    rows = list(csv.DictReader(open(tmp_path / "out" / "results.csv")))
    assert {r["scheme"] for r in rows} == {"deepjscc", "semantic2_photo", "semantic2_none"}
    assert len(rows) == 3 * 2 * 2 and all(r["n"] == "2" for r in rows)
    photo = [r for r in rows if r["scheme"] == "semantic2_photo"]
    # these photos are tiny (k = 437 and 256 symbols): only at 1 symbol per side bit (QPSK, AWGN 10 dB)
    # does the 174-bit frame leave room for tokens; elsewhere they spend more than k, and say so
    assert all(float(r["cbr_spent"]) <= 1 / 48 for r in photo if (r["channel"], r["snr_db"]) == ("awgn", "10.0"))
    assert all(float(r["cbr_spent"]) > 1 / 48 for r in photo if (r["channel"], r["snr_db"]) == ("awgn", "1.0"))
    assert all(0 < float(r["side_share"]) < 1 and float(r["side_fail"]) in (0.0, 0.5, 1.0) for r in photo)
    assert all(float(r["side_fail"]) == 0 for r in photo if r["channel"] == "awgn")
    card = (tmp_path / "card.md").read_text()
    assert "semcod eval" in card and "minus Deep JSCC" in card and "Side information actually sent" in card


def test_crops_each_with_its_own_budget_match_the_torch_codec(perturbed_bundle):
    from gr_semcod.evaluation.fullsize import semantic2_images

    out, codec = perturbed_bundle
    b = load_bundle(out)
    tiles, _ = tile_photo(synthetic_photo(64, 128), 32)
    r = semantic2_images(b, tiles, "1/24", "awgn", 200.0)
    assert r["images"].shape == tiles.shape and r["cbr_spent"] <= 1 / 24
    from gr_semcod.evaluation.semantic2_crops import crop_beta
    from gr_semcod.runtime.semantic2 import check_bundle

    codec.beta = crop_beta(200.0, False, 4 ** check_bundle(b)["depth"])  # what the crop transmitter charges per flag
    with torch.no_grad():
        rec = codec.eval()(torch.from_numpy(tiles), 200.0, cbr="1/24")["recon"].numpy()
    np.testing.assert_allclose(r["images"], np.clip(rec, 0, 1), atol=2e-4)
    noisy = semantic2_images(b, tiles, "1/24", "rayleigh", 5.0)
    assert 0 < np.mean((noisy["images"] - tiles) ** 2) < np.mean((tiles - tiles.mean()) ** 2)


def test_semantic2_machine_receiver_reads_its_reconstruction(tmp_path):
    """`semcod eval`'s accuracy for semantic2 in a bundle without a ``semantic2_classifier``: the
    image classifier on v2's images (with one: ``tests/export/test_export_semantic2_classifier.py``)."""
    from gr_semcod.evaluation.fullsize import semantic2_images
    from gr_semcod.evaluation.pipeline import Classification
    from tests.receivers.fixtures import v2_bundle_copy

    b = load_bundle(SHIPPED)
    v2 = load_bundle(v2_bundle_copy(tmp_path / "v2"))
    x, _ = tile_photo(synthetic_photo(64, 64, 3), 32)
    logits = Classification(x, batch=4).semantic2_logits(v2, b, "1/12", "awgn", 10.0, 0)
    rec = semantic2_images(v2, x, "1/12", "awgn", 10.0, 0, 4)["images"]
    assert logits.shape == (4, len(b.manifest["classes"]))
    np.testing.assert_allclose(logits, b.run("image_classifier", images=rec)["logits"], rtol=1e-4, atol=1e-5)


def test_eval_full_size_digital_rows(bundle_dir, tmp_path, capsys):
    """``--full-size --digital jpeg``: digital rows with the same photos, channels and SNRs, the
    whole photo in k = round(CBR * H * W * 3) symbols (cbr_spent <= CBR), a failure rate; at 20 dB
    on AWGN the photo arrives as its JPEG, far below the lowest threshold it fails (mean colour)."""
    from gr_semcod.baselines import source_codecs
    from gr_semcod.evaluation.digital_rows import fullsize_runs
    from gr_semcod.runtime.metrics import psnr

    img = synthetic_photo(96, 128, 3)
    good = fullsize_runs(img, "1/6", "awgn", 20.0, 0, ["jpeg"])["digital_jpeg"]
    k = num_symbols("1/6", 96, 128)
    assert good["failed"] == 0.0 and good["symbols"] == k and good["cbr_spent"] == pytest.approx(1 / 6, rel=1e-3)
    assert 0.9 * k <= good["used_symbols"] <= k
    assert good["mcs"] == "64qam-3/4"
    bad = fullsize_runs(img, "1/6", "awgn", -8.0, 0, ["jpeg"])["digital_jpeg"]
    assert bad["failed"] == 1.0
    mean = np.rint(img.reshape(-1, 3).mean(0)) / 255.0
    np.testing.assert_allclose(bad["image"].reshape(-1, 3), np.broadcast_to(mean, (96 * 128, 3)), atol=1e-6)
    got = (good["image"] * 255).round().astype(np.uint8)
    assert psnr(img, got) > psnr(img, (bad["image"] * 255).round().astype(np.uint8)) + 5
    # the received JPEG is the one the transmitter's quality search chose (bit-exact payload)
    q = max(q for q in range(1, 96) if len(source_codecs.encode(img, "jpeg", q)) * 8 + 64 <= good["used_symbols"] * 6 * 3 // 4)
    assert psnr(img, got) == pytest.approx(psnr(img, source_codecs.decode(source_codecs.encode(img, "jpeg", q), "jpeg", 96, 128, q)), abs=0.5)

    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(img).save(photos / "a.png")
    p = argparse.ArgumentParser()
    eval_cli.add_arguments(p)
    args = p.parse_args(["--bundle", str(bundle_dir[0]), "--data", str(photos), "--full-size", "--cbr", "1/12",
                         "--snr", "-8", "20", "--channel", "awgn", "--modes", "none", "--digital", "jpeg",
                         "--out", str(tmp_path / "out"), "--card", str(tmp_path / "card.md")])
    assert eval_cli.run(args) == 0
    rows = {(r["scheme"], float(r["snr_db"])): r for r in csv.DictReader(open(tmp_path / "out" / "results.csv"))}
    assert {s for s, _ in rows} == {"deepjscc", "semantic2_none", "digital_jpeg"}
    assert float(rows[("digital_jpeg", 20.0)]["failure_rate"]) == 0.0
    assert float(rows[("digital_jpeg", -8.0)]["failure_rate"]) == 1.0
    assert float(rows[("digital_jpeg", 20.0)]["cbr_spent"]) == pytest.approx(1 / 12, rel=1e-3)
    assert rows[("deepjscc", 20.0)]["failure_rate"] in ("", "nan")
    card = (tmp_path / "card.md").read_text()
    assert "digital_jpeg, awgn, CBR 1/12, -8 dB: failed on 1 of 1 photos" in card
    assert "digital_jpeg, awgn, CBR 1/12, 20 dB: failed on 0 of 1 photos" in card


def test_deepjscc_whole_photo_bench(tmp_path, capsys):
    """The baseline's two forms on one photo: per tile is what the card sends; the whole-photo
    form spends the same symbols (c * H/4 * W/4 / 2) and is scored on the same noise seed."""
    from PIL import Image

    from gr_semcod.cli import main

    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:64, 0:96]
    img = np.stack([yy * 3, xx * 2, (xx + yy) % 256], -1).astype(np.float64) + rng.normal(0, 8, (64, 96, 3))
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(tmp_path / "a.png")
    assert main(["bench", "deepjscc-whole", "--bundle", str(SHIPPED), "--data", str(tmp_path), "--cbr", "1/12",
                 "--snr", "10"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert "(1536 symbols" in out[-3] and "(1536 symbols; budget 1536)" in out[-3]
    last = dict(line.split("=") for line in out[-2:])
    tile, whole = float(last["deepjscc_psnr_tile_1-12_10db"]), float(last["deepjscc_psnr_whole_1-12_10db"])
    assert 20 < tile < 50 and 5 < whole < 50


def test_photo_mode_sends_the_tree_that_merges_least(bundle_dir):
    """Mode ``photo`` takes, of the flag-priced free tree and one level per tile, the one with the
    smaller merge distortion within the budget: never more distortion than either candidate."""
    from gr_semcod.runtime import quadtree

    b = load_bundle(bundle_dir[0])
    meta = b.manifest["semantic2"]
    img = synthetic_photo(128, 160)
    tiles, grid = tile_photo(img, 32)
    y = b.run("semantic2_encoder", images=tiles)["features"][:, :meta["c"]]
    dist = quadtree.node_distortion(y, meta["depth"])
    for cbr in ("1/48", "1/12"):
        k = float(num_symbols(cbr, *img.shape[:2]))
        got = photo_levels(y, meta, k, "photo", 1.375, grid, 300.0)
        flat, info = quadtree.allocate_tile_levels(y, meta["depth"], meta["c"] / 2, k, 1.375, 300.0, grid)
        free, _ = quadtree.allocate(y, meta["depth"], meta["c"] / 2, k, 1.375, 300.0, groups=np.zeros(len(y), int),
                                    layout=grid, entropy_rounds=2)
        d = quadtree.partition_distortion(dist, got)
        assert d <= min(quadtree.partition_distortion(dist, free), info["distortion"]) + 1e-9
        assert np.array_equal(got, flat) or np.array_equal(got, free)



def test_eval_full_size_draws(bundle_dir, tmp_path, capsys):
    """--draws 3: per photo three channel seeds, the first the one-draw run's (its PSNRs reproduce
    exactly), the rows average photos x draws, and the card's gain is the mean of the per-draw
    gains with their standard error, recomputed here from per_photo.csv."""
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(synthetic_photo(64, 96, 3)).save(photos / "a.png")
    Image.fromarray(synthetic_photo(64, 64, 4)).save(photos / "b.png")

    def run(draws, out):
        p = argparse.ArgumentParser()
        eval_cli.add_arguments(p)
        args = p.parse_args(["--bundle", str(bundle_dir[0]), "--data", str(photos), "--full-size", "--cbr", "1/12",
                             "--snr", "1", "--channel", "awgn", "--draws", str(draws), "--out", str(tmp_path / out),
                             "--card", str(tmp_path / f"{out}.md")])
        assert eval_cli.run(args) == 0
        return list(csv.DictReader(open(tmp_path / out / "per_photo.csv")))

    one, three = run(1, "one"), run(3, "three")
    assert len(one) == 2 * 2 and len(three) == 2 * 2 * 3
    psnr = {(r["scheme"], r["photo"], r["draw"]): float(r["psnr"]) for r in three}
    for r in one:
        assert abs(psnr[(r["scheme"], r["photo"], "0")] - float(r["psnr"])) < 1e-9
    assert len({psnr[("deepjscc", "a.png", d)] for d in "012"}) == 3  # other noise in every draw
    rows = list(csv.DictReader(open(tmp_path / "three" / "results.csv")))
    assert all((r["n"], r["draws"]) == ("6", "3") for r in rows)
    g = np.array([np.mean([psnr[("semantic2_photo", f, d)] - psnr[("deepjscc", f, d)] for f in ("a.png", "b.png")])
                  for d in "012"])
    card = (tmp_path / "three.md").read_text()
    assert f"awgn, CBR 1/12, 1 dB: {g.mean():+.2f} dB (± {g.std(ddof=1) / np.sqrt(3):.2f}: standard error over 3 " \
           "channel draws per photo)" in card
    assert "± " not in (tmp_path / "one.md").read_text()
    p = argparse.ArgumentParser()
    eval_cli.add_arguments(p)
    with pytest.raises(SystemExit, match="--draws"):
        eval_cli.run(p.parse_args(["--bundle", str(bundle_dir[0]), "--data", str(photos), "--full-size",
                                   "--draws", "0", "--out", str(tmp_path / "bad")]))


def test_eval_full_size_auto_mode(tmp_path):
    """--modes auto photo: a photo the transmitter sends at the floor is the Deep JSCC baseline's
    symbols on the same noise (its PSNR equals the baseline's exactly); ``floor`` is 0/1 for
    ``semantic2_auto``, NaN for the other schemes; the card states both v2 gains and the floor count."""
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(synthetic_photo(64, 96, 5)).save(photos / "a.png")  # small and half texture: the floor
    rng = np.random.default_rng(2)
    yy, xx = np.mgrid[0:192, 0:256] / np.array([192, 256])[:, None, None]
    sky = np.stack([0.3 + 0.4 * yy, 0.5 + 0.2 * xx, 0.9 - 0.3 * yy], -1)  # sky over a strip of stripes:
    sky[173:] = 0.5 + np.sin(40 * xx + 17 * yy)[173:, :, None] * np.array([0.3, 0.2, 0.25]) \
        + 0.1 * rng.random((19, 256, 3))  # merging pays at 1/48
    Image.fromarray((np.clip(sky, 0, 1) * 255).astype(np.uint8)).save(photos / "b.png")
    p = argparse.ArgumentParser()
    eval_cli.add_arguments(p)
    args = p.parse_args(["--bundle", str(SHIPPED), "--data", str(photos), "--full-size", "--cbr", "1/48",
                         "--snr", "10", "--channel", "awgn", "--modes", "auto", "photo", "--out", str(tmp_path / "o"),
                         "--card", str(tmp_path / "card.md")])
    assert eval_cli.run(args) == 0
    rows = list(csv.DictReader(open(tmp_path / "o" / "per_photo.csv")))
    by = {(r["scheme"], r["photo"]): r for r in rows}
    floors = 0
    for f in ("a.png", "b.png"):
        auto, dj, merged = by[("semantic2_auto", f)], by[("deepjscc", f)], by[("semantic2_photo", f)]
        assert auto["floor"] in ("0.0", "1.0") and dj["floor"] == "nan"
        if auto["floor"] == "1.0":
            floors += 1
            assert auto["psnr"] == dj["psnr"] and auto["cbr_spent"] == dj["cbr_spent"]
        else:
            assert auto["psnr"] == merged["psnr"]
    assert floors == 1  # one of each: both branches of the transmitter's choice are scored
    card = (tmp_path / "card.md").read_text()
    assert "Semantic v2 (`semantic2_auto`) minus Deep JSCC" in card and "Semantic v2 (`semantic2_photo`)" in card
    assert f"sent at the Deep JSCC floor (counted above as 0 side symbols and flags): {floors} of 2" in card
