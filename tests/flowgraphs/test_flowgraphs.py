"""Flowgraphs: every .grc compiles with grcc; the headless loopback, the ZMQ split and the Qt
loopback run (the Qt one offscreen); the demo runs end to end on a test bundle."""
import csv
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import FLOWGRAPHS, REPO, free_port, grc_env, grcc

pytestmark = pytest.mark.gnuradio
PY = sys.executable
ALL_GRC = sorted(p.name for p in FLOWGRAPHS.glob("*.grc"))
EXPECTED = {"semcod_loopback_nogui.grc", "semcod_loopback.grc", "semcod_tx_zmq.grc", "channel_zmq.grc",
            "semcod_rx_zmq.grc", "semcod_tx_usrp.grc", "semcod_rx_usrp.grc"}


def read_rows(path: Path):
    if not path.is_file():
        return []
    with open(path) as f:
        return list(csv.DictReader(f))


def test_all_flowgraphs_present():
    assert EXPECTED <= set(ALL_GRC)


@pytest.mark.parametrize("name", ALL_GRC)
def test_grcc_compiles(name, tmp_path):
    py = grcc(FLOWGRAPHS / name, tmp_path)
    src = py.read_text()
    assert "gr_semcod" in src
    if "zmq" in name:
        assert "tcp://127.0.0.1:" in src  # loopback by default


def test_loopback_headless_runs_and_ends(compiled, linear_bundle, image_dir, tmp_path):
    """4 images through OFDM + AWGN 20 dB: they arrive with the PSNR of the linear code and the
    finite flowgraph exits on its own with status 0."""
    csv_path = tmp_path / "m.csv"
    cmd = [PY, "-u", str(compiled["semcod_loopback_nogui"]), "--bundle", linear_bundle, "--cbr", "1/2",
           "--data", image_dir, "--snr-db", "20", "--outdir", str(tmp_path / "rx"), "--csv-path", str(csv_path),
           "--linger", "1.0"]
    t0 = time.monotonic()
    r = subprocess.run(cmd, env=grc_env(), capture_output=True, text=True, timeout=120, cwd=REPO)
    assert r.returncode == 0, r.stderr[-3000:]
    assert time.monotonic() - t0 < 60
    rows = read_rows(csv_path)
    # every image, the last one too (burst_guard flushes the last frame's trailing zeros)
    assert sorted(int(r["image_id"]) for r in rows) == [0, 1, 2, 3]
    for row in rows:
        assert float(row["psnr_db"]) > 25.0  # ~29 dB expected (see the image_dir fixture)
        assert abs(float(row["snr_db"]) - 20.0) < 1.5  # the decoder used the PHY's SNR estimate
        assert (row["codec"], row["cbr"]) == ("semantic", "1/2")
        assert Path(row["png"]).is_file()


def test_loopback_multipath_and_cfo(compiled, linear_bundle, image_dir, tmp_path):
    """3-tap multipath and a CFO of 0.2 subcarrier spacings: the PHY equalises and corrects, the
    images arrive (ZF noise enhancement costs a few dB against the flat channel's ~28 dB)."""
    csv_path = tmp_path / "m.csv"
    cmd = [PY, "-u", str(compiled["semcod_loopback_nogui"]), "--bundle", linear_bundle, "--cbr", "1/2",
           "--data", image_dir, "--snr-db", "20", "--multipath", "1", "--cfo", "0.2", "--csv-path", str(csv_path),
           "--linger", "1.0"]
    r = subprocess.run(cmd, env=grc_env(), capture_output=True, text=True, timeout=120, cwd=REPO)
    assert r.returncode == 0, r.stderr[-3000:]
    rows = read_rows(csv_path)
    assert sorted(int(row["image_id"]) for row in rows) == [0, 1, 2, 3]
    assert all(float(row["psnr_db"]) > 21.0 for row in rows), [row["psnr_db"] for row in rows]


def _start(script, args, log):
    # PYTHONFAULTHANDLER: a process that hangs on SIGTERM prints every thread's stack on SIGABRT
    return subprocess.Popen([PY, "-u", str(script), *args], env=grc_env(PYTHONFAULTHANDLER="1"), stdout=log,
                            stderr=subprocess.STDOUT, cwd=REPO, start_new_session=True, preexec_fn=_no_core)


def _no_core():
    """No core file from the SIGABRT that makes a hung process print its stacks."""
    import resource

    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def stop_all(procs, logs):
    """SIGTERM every process still running (its group), wait; a process that hangs gets SIGABRT
    (its threads' stacks go to its log), then SIGKILL.  Exit codes by name, ``hung`` with the
    log's tail for one that did not stop."""
    for p in procs.values():
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
    codes = {}
    for name, p in procs.items():
        try:
            codes[name] = p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGABRT)
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=10)
            logs[name].flush()
            codes[name] = "hung: " + Path(logs[name].name).read_text(errors="replace")[-6000:]
    for f in logs.values():
        f.close()
    return codes


@pytest.mark.parametrize("item_type,order", [("fc32", "rx,channel,tx"), ("sc16", "tx,channel,rx")])
def test_zmq_split(compiled, linear_bundle, image_dir, tmp_path, item_type, order):
    """Three processes over ZMQ PUSH/PULL on 127.0.0.1, started in either order: the images
    arrive above a PSNR threshold and all three stop cleanly on SIGTERM."""
    p1, p2 = free_port(), free_port()
    a1, a2 = f"tcp://127.0.0.1:{p1}", f"tcp://127.0.0.1:{p2}"
    a3 = f"tcp://127.0.0.1:{free_port()}"  # the link reports (digital MCS feedback), rx -> tx
    csv_path = tmp_path / "rx.csv"
    args = {
        "tx": (compiled["semcod_tx_zmq"], ["--bundle", linear_bundle, "--cbr", "1/2", "--data", image_dir,
                                           "--address", a1, "--item-type", item_type, "--rate", "4",
                                           "--samp-rate", "2e6", "--report-address", a3]),
        "channel": (compiled["channel_zmq"], ["--in-address", a1, "--out-address", a2, "--item-type", item_type,
                                              "--snr-db", "20"]),
        "rx": (compiled["semcod_rx_zmq"], ["--bundle", linear_bundle, "--cbr", "1/2", "--address", a2,
                                           "--item-type", item_type, "--reference", image_dir,
                                           "--csv-path", str(csv_path), "--report-address", a3]),
    }
    procs, logs = {}, {}
    try:
        for name in order.split(","):
            logs[name] = open(tmp_path / f"{name}.log", "w")
            procs[name] = _start(*args[name], logs[name])
            time.sleep(0.5)
        t0 = time.monotonic()
        while time.monotonic() - t0 < 90:
            rows = [r for r in read_rows(csv_path) if r["psnr_db"] not in ("", "nan")]
            if len(rows) >= 6:
                break
            assert all(p.poll() is None for p in procs.values()), {n: (tmp_path / f"{n}.log").read_text()[-2000:]
                                                                  for n in procs}
            time.sleep(0.25)
        rows = [r for r in read_rows(csv_path) if r["psnr_db"] not in ("", "nan")]
        assert len(rows) >= 6, (tmp_path / "rx.log").read_text()[-3000:]
        psnrs = sorted(float(r["psnr_db"]) for r in rows)
        assert psnrs[len(psnrs) // 2] > 25.0, psnrs
        assert all(math.isfinite(p) for p in psnrs)
        assert len({int(r["image_id"]) % 4 for r in rows}) == 4  # every image made it at least once
    finally:
        codes = stop_all(procs, logs)
    assert codes == {n: 0 for n in procs}, codes


def test_qt_loopback_offscreen(compiled, linear_bundle, image_dir, tmp_path):
    pytest.importorskip("PyQt5")
    csv_path = tmp_path / "qt.csv"
    log = open(tmp_path / "qt.log", "w")
    p = subprocess.Popen([PY, "-u", str(compiled["semcod_loopback"]), "--bundle", linear_bundle, "--cbr", "1/2",
                          "--data", image_dir, "--rate", "10", "--csv-path", str(csv_path)],
                         env=grc_env(QT_QPA_PLATFORM="offscreen"), stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
                         start_new_session=True)
    try:
        t0 = time.monotonic()
        while time.monotonic() - t0 < 60 and len(read_rows(csv_path)) < 4:
            assert p.poll() is None, (tmp_path / "qt.log").read_text()[-3000:]
            time.sleep(0.25)
        assert len(read_rows(csv_path)) >= 4, (tmp_path / "qt.log").read_text()[-3000:]
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
        try:
            rc = p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            rc = "hung"
        log.close()
    assert rc == 0, (tmp_path / "qt.log").read_text()[-3000:]


def test_demo_end_to_end(linear_bundle, image_dir, tmp_path):
    out = tmp_path / "demo"
    import numpy as np

    from gr_semcod.runtime.datasets import load_images

    labelled = tmp_path / "labelled.npz"
    np.savez(labelled, images=load_images(image_dir).images, labels=np.arange(4))
    r = subprocess.run([PY, "-m", "gr_semcod.cli", "demo", "--bundle", linear_bundle, "--data", image_dir,
                        "--out", str(out), "--snrs", "10", "20", "--channels", "awgn", "--quiet",
                        "--classify-data", str(labelled), "--classify-images", "4"],
                       env=grc_env(), capture_output=True, text=True, timeout=300, cwd=REPO)
    assert r.returncode == 0, r.stderr[-3000:]
    last = r.stdout.strip().splitlines()[-1]
    assert last.startswith("demo_psnr_10db=")
    assert float(last.split("=")[1]) > 12.0
    for f in ("grid.png", "grid_snr.png", "psnr_vs_snr.png", "results.csv", "results.md", "metrics.csv"):
        assert (out / f).is_file(), f
    per_image = read_rows(out / "metrics.csv")
    # the codec parameter reaches the blocks: the decoders stamp what actually decoded each image
    assert {r["tag"].split()[0] for r in per_image if r["codec"] == "deepjscc"} == {"deepjscc"}
    assert {r["tag"].split()[0] for r in per_image if r["codec"] == "semantic"} == {"semantic"}
    rows = read_rows(out / "results.csv")
    assert {(r["codec"], float(r["snr_db"])) for r in rows} == {(c, s) for c in ("semantic", "deepjscc", "digital")
                                                                for s in (10.0, 20.0)}
    dig = {float(r["snr_db"]): r for r in rows if r["codec"] == "digital"}  # the digital column: all 4 at 20 dB
    assert int(dig[20.0]["received"]) == 4 and float(dig[20.0]["psnr_db"]) > 15.0, dig  # JPEG of 4x4 colour blocks
    assert float(next(r for r in rows if r["codec"] == "semantic" and float(r["snr_db"]) == 20.0)["psnr_db"]) > \
        float(next(r for r in rows if r["codec"] == "semantic" and float(r["snr_db"]) == 10.0)["psnr_db"])
    # machine receivers of the test bundle (token + image classifier), labelled .npz through the loopback
    md = (out / "results.md").read_text()
    assert "| semantic | token classifier | 4/4 |" in md and "| deepjscc | image classifier | 4/4 |" in md, md


def test_bench_e2e(linear_bundle, image_dir):
    r = subprocess.run([PY, "-m", "gr_semcod.cli", "bench", "e2e", "--bundle", linear_bundle, "--data", image_dir,
                        "--images", "8", "--snr", "20", "--repeats", "1"],
                       env=grc_env(), capture_output=True, text=True, timeout=300, cwd=REPO)
    assert r.returncode == 0, r.stderr[-3000:]
    lines = r.stdout.strip().splitlines()
    assert lines[-1].startswith("e2e_images_per_s=")
    assert float(lines[-1].split("=")[1]) > 0
    assert any("semcod_semantic_encoder" in line and "%" in line for line in lines)
