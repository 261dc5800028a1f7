"""`semcod eval` accuracy of the machine receivers (bundle ``classifier`` on the received tokens,
``image_classifier`` on Deep JSCC reconstructions) on a generated labelled idx / npz fixture."""
import gzip
import json
import os
import struct
import subprocess
import sys

import numpy as np
import pytest
import torch

from gr_semcod.evaluation.pipeline import load_labelled
from gr_semcod.export.bundle import export_bundle
from gr_semcod.jscc import DeepJSCC
from gr_semcod.receivers import ImageClassifier, TokenClassifier
from gr_semcod.semcod import SemanticCodec, SemanticCodecConfig


def write_idx(path, array):
    codes = {np.dtype(np.uint8): 0x08}
    a = np.ascontiguousarray(array)
    with gzip.open(path, "wb") as f:
        f.write(b"\0\0" + bytes([codes[a.dtype], a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape) + a.tobytes())


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("evalcls")
    codec = SemanticCodec(SemanticCodecConfig(dim=32, depth=3, heads=2, cbrs=("1/12",), jscd_depth=1, detok_depth=1))
    codec.classifier = TokenClassifier(32, 10, 2)
    export_bundle(str(root / "b"), codec, {"1/12": DeepJSCC("1/12", 32, widths=(8, 16))}, name="tiny",
                  image_classifier=ImageClassifier(10, (8, 16)))
    rng = np.random.default_rng(0)
    np.savez(root / "imgs.npz", images=rng.integers(0, 256, (6, 32, 32, 3), dtype=np.uint8))
    fm = root / "fmnist"
    fm.mkdir()
    write_idx(fm / "t10k-images-idx3-ubyte.gz", rng.integers(0, 256, (30, 28, 28), dtype=np.uint8))
    write_idx(fm / "t10k-labels-idx1-ubyte.gz", (np.arange(30) % 10).astype(np.uint8))
    np.savez(root / "labelled.npz", images=rng.integers(0, 256, (9, 32, 32, 3), dtype=np.uint8), labels=np.arange(9) % 3)
    return root


def _eval(root, out, *extra):
    env = dict(os.environ, SEMCOD_FASHION_MNIST=str(root / "absent"))
    cmd = [sys.executable, "-m", "gr_semcod.cli", "eval", "--bundle", str(root / "b"), "--data", str(root / "imgs.npz"),
           "--snr", "0", "10", "--separation", "--digital", "--out", str(out), *extra]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert res.returncode == 0, res.stderr
    return res.stdout, json.loads((out / "results.json").read_text())


def test_eval_prints_accuracy_per_scheme(setup, tmp_path):
    root = setup
    stdout, summary = _eval(root, tmp_path / "o", "--classify-data", str(root / "fmnist"), "--classify-limit", "20",
                            "--channel", "awgn", "rayleigh", "--card", str(tmp_path / "card.md"))
    assert "classification: 20 labelled images" in stdout
    assert stdout.strip().splitlines()[-1].startswith("psnr_gain_db=")
    rows = summary["rows"]
    assert summary["classify_images"] == 20 and summary["classify_data"] == str(root / "fmnist")
    for scheme in ("semcod", "deepjscc"):
        accs = [r["acc"] for r in rows if r["scheme"] == scheme]
        assert len(accs) == 4 and all(0.0 <= a <= 1.0 for a in accs)  # 2 channels x 2 SNRs
        assert all(a * 20 == pytest.approx(round(a * 20)) for a in accs)
    table = [ln for ln in stdout.splitlines() if ln.startswith("| awgn | 1/12 |")]
    assert len(table) == 2 and all(" acc " in ln for ln in table)
    csv_head = (tmp_path / "o" / "results.csv").read_text().splitlines()[0]
    assert "acc" in csv_head.split(",")
    assert "top-1 accuracy" in (tmp_path / "card.md").read_text()


def test_eval_accuracy_matches_direct_computation(setup, tmp_path):
    """The eval's semcod accuracy equals tokenizer -> JSCE -> channel -> JSCD -> classifier run by hand."""
    from gr_semcod.evaluation.pipeline import through_channel
    from gr_semcod.runtime import Bundle

    root = setup
    _, summary = _eval(root, tmp_path / "o", "--classify-data", str(root / "labelled.npz"), "--seed", "3")
    b = Bundle.load(root / "b")
    x, y = load_labelled(str(root / "labelled.npz"), (32, 32))
    for snr in (0.0, 10.0):
        tok = b.run("tokenizer", images=x)
        sym = b.run("jscc_encoder@1/12", **tok)["symbols"]
        rx = through_channel(sym, "awgn", snr, 3)
        t = b.run("jscc_decoder@1/12", symbols=rx, snr_db=np.full((len(x), 1), snr, np.float32))["tokens"]
        acc = float((b.run("classifier", tokens=t)["logits"].argmax(1) == y).mean())
        row = [r for r in summary["rows"] if (r["scheme"], r["snr_db"]) == ("semcod", snr)][0]
        assert row["acc"] == pytest.approx(acc)


def test_eval_without_labelled_data_has_no_accuracy(setup, tmp_path):
    stdout, summary = _eval(setup, tmp_path / "o", "--classify-data", "none")
    assert all("acc" not in r for r in summary["rows"]) and "classify_data" not in summary
    stdout, summary = _eval(setup, tmp_path / "o2")  # default Fashion-MNIST absent: skipped, no error
    assert all("acc" not in r for r in summary["rows"])


def test_labelled_idx_is_padded_like_training(setup):
    from gr_semcod.training.data import make_dataset

    root = setup
    x, y = load_labelled(str(root / "fmnist"), (32, 32), limit=7)
    ds = make_dataset(f"{root / 'fmnist'}:test", 32, train=False, limit=7)
    assert x.shape == (7, 3, 32, 32) and x[:, :, :2].max() == 0 and x[:, :, :, -2:].max() == 0
    np.testing.assert_array_equal(x, ds.images.numpy().astype(np.float32) / 255.0)
    np.testing.assert_array_equal(y, ds.labels.numpy())
