"""The soak benchmark in CI: two minutes of the loopback with a repeating source at 10 dB --
every image arrives (zero loss), throughput holds the source rate, RSS does not grow."""
import re
import subprocess
import sys

import pytest

from .conftest import REPO, grc_env

pytestmark = pytest.mark.gnuradio


def test_soak_two_minutes(linear_bundle, image_dir):
    r = subprocess.run([sys.executable, "-m", "gr_semcod.cli", "bench", "soak", "--bundle", linear_bundle,
                        "--cbr", "1/2", "--data", image_dir, "--minutes", "2", "--rate", "10", "--snr", "10"],
                       env=grc_env(), capture_output=True, text=True, timeout=400, cwd=REPO)
    assert r.returncode == 0, r.stderr[-3000:]
    out = r.stdout
    reports = re.findall(r"minute [\d.]+: (\d+) images in ([\d.]+) s \(([\d.]+) images/s\), sent (\d+), "
                         r"received (\d+), lost (\d+), in flight (\d+), rss ([\d.]+) MB", out)
    assert len(reports) == 2, out
    for images, secs, rate, sent, received, lost, flight, rss in reports:
        assert float(rate) > 9.0, out  # the source's 10 images/s get through
        assert int(lost) == 0 and int(flight) <= 5, out
    assert int(reports[-1][4]) >= 1100  # ~1200 images in two minutes
    assert out.strip().splitlines()[-2] == "soak_lost=0"
    change = float(out.strip().splitlines()[-1].split("=")[1])
    assert abs(change) < 10.0, out  # flat RSS (the 30-minute run in docs/reliability.md: +-5 %)
