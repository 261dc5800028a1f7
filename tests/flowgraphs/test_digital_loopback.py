"""codec=digital through the headless loopback (OFDM PHY, AWGN): 16 images at 15 dB arrive
bit-exact; below the lowest MCS threshold every image fails cleanly -- dropped, counted, never
shown as decoded -- and the finite flowgraph still ends on its own."""
import re
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.baselines.fixtures import photo_like

from .conftest import REPO, grc_env
from .test_flowgraphs import read_rows

pytestmark = pytest.mark.gnuradio
N_IMAGES = 16
CBR = "1/2"  # 1536 symbols per 32x32 image: room for one 802.16e codeword even at BPSK


@pytest.fixture(scope="module")
def photo_dir(tmp_path_factory):
    from gr_semcod.runtime.images import save_png

    d = tmp_path_factory.mktemp("digital_images")
    imgs = [photo_like(32, 32, seed=i) for i in range(N_IMAGES)]
    for i, im in enumerate(imgs):
        save_png(d / f"im{i:02d}.png", im)
    return d, imgs


def _run(compiled, bundle, data, snr_db, tmp_path, *extra):
    csv_path = tmp_path / "m.csv"
    cmd = [sys.executable, "-u", str(compiled["semcod_loopback_nogui"]), "--bundle", bundle, "--cbr", CBR,
           "--codec", "digital", "--source-codec", "jpeg", "--data", str(data), "--snr-db", str(snr_db),
           "--outdir", str(tmp_path / "rx"), "--csv-path", str(csv_path), "--linger", "1.0", *extra]
    t0 = time.monotonic()
    r = subprocess.run(cmd, env=grc_env(), capture_output=True, text=True, timeout=240, cwd=REPO)
    assert r.returncode == 0, r.stderr[-3000:]
    assert time.monotonic() - t0 < 200  # nothing hangs
    return r, read_rows(csv_path)


def test_digital_loopback_bit_exact_at_15db(compiled, linear_bundle, photo_dir, tmp_path):
    from gr_semcod.baselines import link, mcs, source_codecs
    from gr_semcod.rates import num_symbols
    from gr_semcod.runtime.images import read_image
    from gr_semcod.runtime.metrics import psnr

    data, imgs = photo_dir
    r, rows = _run(compiled, linear_bundle, data, 15.0, tmp_path)
    assert sorted(int(row["image_id"]) for row in rows) == list(range(N_IMAGES)), r.stderr[-3000:]
    m = mcs.select_mcs(15.0)
    k = num_symbols(CBR, 32, 32)
    for row in rows:
        i = int(row["image_id"])
        assert (row["codec"], row["cbr"]) == ("digital", CBR)
        _, info = link.encode_image(imgs[i], k, m, "jpeg")
        q = info["quality"]
        want = source_codecs.decode(source_codecs.encode(imgs[i], "jpeg", q), "jpeg", 32, 32, q)
        np.testing.assert_array_equal(read_image(row["png"]), want)  # the payload arrived bit-exact
        assert float(row["psnr_db"]) == pytest.approx(psnr(imgs[i], want), abs=1e-3)  # the sink scores what arrived
        assert q >= 50  # a 16-QAM 3/4 frame of 1536 symbols holds a good JPEG of a 32x32 image
    assert "digital: CRC-32 mismatch" not in r.stderr + r.stdout


def test_digital_loopback_below_threshold_fails_cleanly(compiled, linear_bundle, photo_dir, tmp_path):
    from gr_semcod.baselines import mcs

    data, _ = photo_dir
    snr = min(m.min_snr_db for m in mcs.MCS_TABLE) - 4.0
    r, rows = _run(compiled, linear_bundle, data, snr, tmp_path)
    log = r.stderr + r.stdout
    # every row is a stand-in (flat mean colour) or nothing: no image is shown as decoded
    from gr_semcod.runtime.images import read_image

    for row in rows:
        im = read_image(row["png"])
        assert np.all(im == im[0, 0]), row
    crc_ids = {int(i) for i in re.findall(r"dropped PDU \(image_id=(\d+)\): digital: CRC-32 mismatch", log)}
    summary = re.findall(r"sent (\d+), received (\d+), lost (\d+)", log)
    assert summary, log[-3000:]
    sent, got, lost = (int(v) for v in summary[-1])
    assert (sent, got, lost) == (N_IMAGES, 0, N_IMAGES), log[-3000:]
    # the frames the PHY delivered were each refused by the CRC; every stand-in shown is one of them
    assert crc_ids and {int(row["image_id"]) for row in rows} <= crc_ids, (crc_ids, rows)
    assert re.search(r"dropped by semcod_digital_decoder\d*: digital: CRC-32 mismatch", log), log[-2000:]


def test_digital_loopback_multipath_20db_with_receiver_feedback(compiled, linear_bundle, photo_dir, tmp_path):
    """The 3-tap channel at 20 dB: the transmitter starts from its snr_db (20 dB: 64-QAM 3/4, which
    the fade defeats); the receiver's report (effective SNR per MCS) goes back over semcod_rx ->
    semcod_tx's snr port, and every image encoded after the first report arrives, at a lower MCS."""
    from gr_semcod.baselines import mcs

    data, _ = photo_dir
    r, rows = _run(compiled, linear_bundle, data, 20.0, tmp_path, "--multipath", "1", "--rate", "4")
    log = r.stderr + r.stdout
    assert mcs.select_mcs(20.0).name == "64qam-3/4"  # what the transmitter's own SNR alone picks
    changes = re.findall(r"MCS (\S+) from image_id=(\d+) \((receiver report|SNR estimate)", log)
    assert changes and changes[0][2] == "SNR estimate", log[-3000:]
    fed = [(name, int(i)) for name, i, src in changes if src == "receiver report"]
    assert fed, log[-3000:]  # the report arrived and moved the MCS
    first_fed = fed[0][1]
    assert first_fed < N_IMAGES // 2, fed  # early enough to matter
    assert all(name != "64qam-3/4" for name, _ in fed), fed
    delivered = {int(row["image_id"]) for row in rows if row["stand_in"] == "0"}
    assert set(range(first_fed, N_IMAGES)) <= delivered, (first_fed, sorted(delivered), log[-3000:])
    dropped = {int(i) for i in re.findall(r"dropped PDU \(image_id=(\d+)\)", log)}
    assert not dropped & set(range(first_fed, N_IMAGES)), dropped


def test_zmq_split_feeds_the_reports_back(compiled, linear_bundle, photo_dir, tmp_path):
    """The three-process ZMQ split with codec=digital on the 3-tap channel at 20 dB: the receiver's
    link reports travel back over their own PUSH/PULL link (semcod_rx snr -> zmq_msg_sink ->
    semcod_tx report_address); the transmitter (told 10 dB) follows them -- never to the 64-QAM 3/4
    the 20 dB mean SNR would pick -- and every image after the first report arrives.  The finite
    transmitter still ends by itself.

    No timing assumption on process start-up: the transmitter (whose source emits 4 images/s
    from its first moment) starts once the receiver and the channel run, so "the first report
    comes within the first 8 images" measures the feedback loop, not which process imported
    faster; and no report is lost to the start order (the sink queues until the transmitter
    binds), which the receiver's log must confirm."""
    from .conftest import free_port
    from .test_flowgraphs import _start, stop_all

    data, _ = photo_dir
    a1, a2, a3 = (f"tcp://127.0.0.1:{free_port()}" for _ in range(3))
    csv_path = tmp_path / "rx.csv"
    common = ["--bundle", linear_bundle, "--cbr", CBR, "--codec", "digital", "--source-codec", "jpeg",
              "--report-address", a3]
    args = {
        "rx": (compiled["semcod_rx_zmq"], common + ["--address", a2, "--reference", str(data),
                                                    "--csv-path", str(csv_path)]),
        "channel": (compiled["channel_zmq"], ["--in-address", a1, "--out-address", a2, "--snr-db", "20",
                                              "--multipath", "1"]),
        "tx": (compiled["semcod_tx_zmq"], common + ["--data", str(data), "--address", a1, "--repeat", "0",
                                                    "--rate", "4", "--samp-rate", "2e6"]),
    }
    procs, logs = {}, {}
    log_text = lambda n: (tmp_path / f"{n}.log").read_text()  # noqa: E731
    ready = {"rx": "semcod_image_sink :info: receiving images", "channel": "semcod_zmq_sample_sink :info: sending"}
    try:
        for name, (script, a) in args.items():
            if name == "tx":  # the receiver and the channel are running (each logs it at start)
                t0 = time.monotonic()
                while not all(ready[n] in log_text(n) for n in ready) and time.monotonic() - t0 < 120:
                    assert all(p.poll() is None for p in procs.values()), {n: log_text(n)[-2000:] for n in procs}
                    time.sleep(0.1)
                assert all(ready[n] in log_text(n) for n in ready), {n: log_text(n)[-2000:] for n in procs}
            logs[name] = open(tmp_path / f"{name}.log", "w")
            procs[name] = _start(script, a, logs[name])
        t0 = time.monotonic()
        while time.monotonic() - t0 < 120:
            if len(read_rows(csv_path)) >= N_IMAGES:
                break
            assert all(p.poll() is None for n, p in procs.items() if n != "tx"), \
                {n: (tmp_path / f"{n}.log").read_text()[-2000:] for n in procs}
            time.sleep(0.25)
        procs["tx"].wait(timeout=30)  # finite (--repeat 0): it ends by itself, the report puller too
    finally:
        codes = stop_all(procs, logs)
    tx_log = (tmp_path / "tx.log").read_text()
    fed = [(name, int(i)) for name, i in re.findall(r"MCS (\S+) from image_id=(\d+) \(receiver report", tx_log)]
    assert fed and fed[0][1] < N_IMAGES // 2 and all(name != "64qam-3/4" for name, _ in fed), tx_log[-3000:]
    rows = read_rows(csv_path)
    delivered = {int(r["image_id"]) for r in rows if r["stand_in"] == "0"}
    assert set(range(fed[0][1], N_IMAGES)) <= delivered, (fed, sorted(delivered))
    assert "not sent" not in log_text("rx"), log_text("rx")[-3000:]  # every report went out
    assert codes == {n: 0 for n in procs}, codes
