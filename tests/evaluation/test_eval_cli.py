"""`semcod eval` end to end on a tiny exported bundle and generated images."""
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from gr_semcod.evaluation.pipeline import through_channel
from gr_semcod.export.bundle import export_bundle
from gr_semcod.jscc import DeepJSCC
from gr_semcod.semcod import SemanticCodec, SemanticCodecConfig


@pytest.fixture(scope="module")
def bundle_and_data(tmp_path_factory):
    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("eval")
    codec = SemanticCodec(SemanticCodecConfig(dim=32, depth=3, heads=2, cbrs=("1/12",)))
    export_bundle(str(root / "b"), codec, {"1/12": DeepJSCC("1/12", 32, widths=(8, 16))}, name="tiny")
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (12, 32, 32, 3), dtype=np.uint8)
    np.savez(root / "imgs.npz", images=images)
    return root


def test_channel_noise_matches_snr():
    rng = np.random.default_rng(1)
    z = rng.standard_normal((4, 4096, 2)).astype(np.float32)
    z /= np.sqrt((z ** 2).sum(-1).mean(-1, keepdims=True))[..., None]
    y = through_channel(z, "awgn", 10.0, seed=3)
    snr = 10 * np.log10((z ** 2).sum() / ((y - z) ** 2).sum())
    assert abs(snr - 10.0) < 0.2
    with pytest.raises(ValueError, match="awgn or rayleigh"):
        through_channel(z, "rician", 10.0, seed=0)


def test_eval_cli_table_card_and_last_line(bundle_and_data, tmp_path):
    root = bundle_and_data
    cmd = [sys.executable, "-m", "gr_semcod.cli", "eval", "--bundle", str(root / "b"), "--data", str(root / "imgs.npz"),
           "--snr", "0", "10", "--channel", "awgn", "rayleigh", "--out", str(tmp_path / "out"),
           "--card", str(tmp_path / "card.md"), "--separation", "jpeg", "--digital", "jpeg", "avif"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    last = res.stdout.strip().splitlines()[-1]
    assert last.startswith("psnr_gain_db=")
    gain = float(last.split("=")[1])
    rows = json.loads((tmp_path / "out" / "results.json").read_text())["rows"]
    sem = [r for r in rows if (r["scheme"], r["channel"], r["cbr"], r["snr_db"]) == ("semcod", "awgn", "1/12", 10.0)][0]
    deep = [r for r in rows if (r["scheme"], r["channel"], r["cbr"], r["snr_db"]) == ("deepjscc", "awgn", "1/12", 10.0)][0]
    assert gain == pytest.approx(sem["psnr"] - deep["psnr"], abs=0.01)
    schemes = {(r["scheme"], r["channel"]) for r in rows}
    digital = {(f"digital_{c}", ch) for c in ("jpeg", "avif") for ch in ("awgn", "rayleigh")}
    assert schemes == {("semcod", "awgn"), ("deepjscc", "awgn"), ("jpeg_bound", "awgn"), ("semcod", "rayleigh"),
                       ("deepjscc", "rayleigh")} | digital
    summary = json.loads((tmp_path / "out" / "results.json").read_text())
    for r in rows:
        if r["scheme"].startswith("digital_"):
            assert 0.0 <= r["failure_rate"] <= 1.0 and r["misdecoded"] == 0 and r["mcs"]
            if r["failure_rate"] == 1.0:  # every image shown as its mean colour
                assert r["psnr"] == pytest.approx(summary["mean_colour_psnr"], abs=0.01)  # uint8-rounded mean
    best = [ln for ln in res.stdout.splitlines() if ln.startswith("digital_psnr_1-12_10db=")]
    assert len(best) == 1
    best_codec = [ln for ln in res.stdout.splitlines() if ln.startswith("digital_best_codec=")][0].split("=")[1]
    ref = [r for r in rows if (r["scheme"], r["channel"], r["cbr"], r["snr_db"]) == (f"digital_{best_codec}", "awgn", "1/12", 10.0)][0]
    assert float(best[0].split("=")[1]) == pytest.approx(ref["psnr"], abs=0.01)
    assert (tmp_path / "out" / "psnr_vs_snr.png").stat().st_size > 1000
    card = (tmp_path / "card.md").read_text()
    assert "semcod eval" in card and f"{gain:+.2f} dB" in card
    assert "| digital_avif |" in card and "802.16e" in card
