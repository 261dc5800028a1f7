"""Drain before done: a finite loopback run at rate 0 delivers every image it emitted.

3000 images queued at once (``rate`` 0) used to lose their tail when the transmitter ended
with frames still queued in ``pdu_to_tagged_stream`` (2671 of 3000 arrived); now the run ends
only after every image is delivered or accounted lost, and the sink says so."""
import csv
import subprocess
import sys

import numpy as np
import pytest

from .conftest import REPO, grc_env

pytestmark = pytest.mark.gnuradio
N_IMAGES = 3000


def test_3000_images_at_rate_0_all_delivered(compiled, linear_bundle, tmp_path):
    rng = np.random.default_rng(3)
    blocks = np.where(rng.integers(0, 2, (N_IMAGES, 8, 8, 3)) > 0, 218, 37).astype(np.uint8)
    npz = tmp_path / "images.npz"
    np.savez(npz, images=np.repeat(np.repeat(blocks, 4, axis=1), 4, axis=2))
    csv_path = tmp_path / "m.csv"
    cmd = [sys.executable, "-u", str(compiled["semcod_loopback_nogui"]), "--bundle", linear_bundle, "--cbr", "1/2",
           "--data", str(npz), "--snr-db", "20", "--rate", "0", "--csv-path", str(csv_path), "--linger", "2.0"]
    r = subprocess.run(cmd, env=grc_env(), capture_output=True, text=True, timeout=900, cwd=REPO)
    assert r.returncode == 0, r.stderr[-3000:]
    with open(csv_path) as f:
        ids = sorted(int(row["image_id"]) for row in csv.DictReader(f))
    assert ids == list(range(N_IMAGES)), f"{len(ids)} of {N_IMAGES} received"
    assert f"sent {N_IMAGES}, received {N_IMAGES}, lost 0" in r.stdout + r.stderr, (r.stdout + r.stderr)[-2000:]
