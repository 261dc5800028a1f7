"""One 768x512 photo (made here) through the headless loopback and the ZMQ split at 10 dB with the
shipped bundle's Deep JSCC: it comes back at its own size, far above the mean-colour floor."""
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from .conftest import REPO, free_port, grc_env
from .test_flowgraphs import _start, read_rows, stop_all

pytestmark = pytest.mark.gnuradio
PY = sys.executable
BUNDLE = REPO / "models" / "semcod_32"
H, W = 512, 768


def make_photo(h=H, w=W, seed=0):
    """Smooth colour waves, a checker of shadows (edges) and sensor noise: structure at every scale."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([127 + 90 * np.sin(x / 37.0 + c) * np.cos(y / 29.0 - c) for c in range(3)], -1)
    img[(x // 96 + y // 96) % 2 == 0] *= 0.6
    img += rng.normal(0, 6, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    if not (BUNDLE / "manifest.json").is_file():
        pytest.skip("the shipped bundle models/semcod_32 is not there")
    from gr_semcod.runtime.images import save_png

    d = tmp_path_factory.mktemp("photo")
    img = make_photo()
    save_png(d / "photo.png", img)
    mean = np.broadcast_to(img.reshape(-1, 3).mean(0).round().astype(np.uint8), img.shape)
    from gr_semcod.runtime.metrics import psnr

    return str(d), img, psnr(img, mean)


def check_row(row, img, floor):
    assert (int(row["height"]), int(row["width"])) == (H, W)
    assert row["codec"] == "deepjscc" and row["cbr"] == "1/12"
    assert int(row["n_lost_tiles"]) == 0
    p = float(row["psnr_db"])
    assert p > floor + 10.0, (p, floor)  # ~30 dB against a ~12 dB mean-colour floor
    assert 0.5 < float(row["ssim"]) <= 1.0 and 0.8 < float(row["ms_ssim"]) <= 1.0
    return p


def test_photo_through_the_headless_loopback(compiled, photo, tmp_path):
    d, img, floor = photo
    csv_path = tmp_path / "m.csv"
    cmd = [PY, "-u", str(compiled["semcod_loopback_nogui"]), "--bundle", str(BUNDLE), "--codec", "deepjscc",
           "--cbr", "1/12", "--data", d, "--snr-db", "10", "--outdir", str(tmp_path / "rx"),
           "--csv-path", str(csv_path)]
    r = subprocess.run(cmd, env=grc_env(), capture_output=True, text=True, timeout=180, cwd=REPO)
    assert r.returncode == 0, r.stderr[-3000:]
    (row,) = read_rows(csv_path)
    check_row(row, img, floor)
    from PIL import Image

    assert np.asarray(Image.open(row["png"])).shape == (H, W, 3)  # the PNG at the photo's own size


def test_photo_through_the_zmq_split(compiled, photo, tmp_path):
    d, img, floor = photo
    a1, a2 = f"tcp://127.0.0.1:{free_port()}", f"tcp://127.0.0.1:{free_port()}"
    csv_path = tmp_path / "rx.csv"
    common = ["--bundle", str(BUNDLE), "--codec", "deepjscc", "--cbr", "1/12",
              "--report-address", f"tcp://127.0.0.1:{free_port()}"]
    args = {
        "rx": (compiled["semcod_rx_zmq"], common + ["--address", a2, "--reference", d, "--csv-path", str(csv_path)]),
        "channel": (compiled["channel_zmq"], ["--in-address", a1, "--out-address", a2, "--snr-db", "10"]),
        "tx": (compiled["semcod_tx_zmq"], common + ["--data", d, "--address", a1, "--repeat", "0", "--rate", "1",
                                                    "--samp-rate", "2e6"]),
    }
    procs, logs = {}, {}
    try:
        for name, (script, a) in args.items():
            logs[name] = open(tmp_path / f"{name}.log", "w")
            procs[name] = _start(script, a, logs[name])
            time.sleep(0.5)
        t0 = time.monotonic()
        while time.monotonic() - t0 < 90 and not read_rows(csv_path):
            assert all(p.poll() is None for n, p in procs.items() if n != "tx"), \
                {n: (tmp_path / f"{n}.log").read_text()[-2000:] for n in procs}
            time.sleep(0.25)
        rows = read_rows(csv_path)
        assert len(rows) == 1, (tmp_path / "rx.log").read_text()[-3000:]
        p = check_row(rows[0], img, floor)
        assert math.isfinite(p)
    finally:
        codes = stop_all(procs, logs)
    assert codes == {n: 0 for n in procs}, codes


def test_demo_with_photos_and_a_deepjscc_only_bundle(linear_bundle, tmp_path):
    """``semcod demo --data PHOTOS``: received PNGs at the photos' own sizes, the side-by-side grid,
    the per-photo table; a bundle holding only Deep JSCC runs Deep JSCC (and the digital baseline, which
    needs no model) without error."""
    import json
    import shutil

    from PIL import Image

    from gr_semcod.runtime.images import save_png

    photos = tmp_path / "photos"
    save_png(photos / "a.png", make_photo(64, 96, seed=1))
    save_png(photos / "b.png", make_photo(45, 70, seed=2))
    only = tmp_path / "deepjscc_only"
    shutil.copytree(linear_bundle, only)
    man = json.loads((only / "manifest.json").read_text())
    man["models"] = {k: v for k, v in man["models"].items() if k.startswith("deepjscc_")}
    (only / "manifest.json").write_text(json.dumps(man))
    for bundle, codecs in ((linear_bundle, {"semantic", "deepjscc", "digital"}), (str(only), {"deepjscc", "digital"})):
        out = tmp_path / f"demo_{Path(bundle).name}"
        r = subprocess.run([PY, "-m", "gr_semcod.cli", "demo", "--bundle", bundle, "--data", str(photos),
                            "--out", str(out), "--snrs", "20", "--channels", "awgn", "--quiet",
                            "--classify-images", "0"],
                           env=grc_env(), capture_output=True, text=True, timeout=300, cwd=REPO)
        assert r.returncode == 0, r.stderr[-3000:]
        for codec in codecs:
            sizes = sorted(np.asarray(Image.open(p)).shape for p in (out / "rx" / f"{codec}_awgn_20dB").glob("*.png"))
            assert sizes == [(45, 70, 3), (64, 96, 3)], (codec, sizes)
        md = (out / "results.md").read_text()
        assert "Per photo" in md and "| a | 96x64 |" in md and "| b | 70x45 |" in md, md
        assert {line.split("|")[3].strip() for line in md.splitlines() if line.startswith("| a |")} == codecs
        grid = np.asarray(Image.open(out / "grid.png"))
        assert grid.shape[1] == 4 + (1 + len(codecs)) * (320 + 4)  # original + one column per codec
