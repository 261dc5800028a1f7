"""The semantic codec v2 through the real OFDM PHY: a photo made here -> semcod_tx(semantic2) ->
OFDM TX -> burst guard -> channel (AWGN 10 dB) -> OFDM RX -> semcod_rx(semantic2) -> the photo at
its own size, its side information (tree + gain) decoded from the received symbols."""
import time
from pathlib import Path

import numpy as np
import pmt
from gnuradio import blocks, gr

from gr_semcod.blocks import burst_guard, semcod_rx, semcod_tx
from gr_semcod.pdu import make_pdu, meta_to_python
from gr_semcod.phy.channel import channel
from gr_semcod.phy.ofdm_analog_rx import ofdm_analog_rx
from gr_semcod.phy.ofdm_analog_tx import ofdm_analog_tx
from gr_semcod.rates import num_symbols
from gr_semcod.runtime.metrics import psnr
from gr_semcod.runtime.side_info import scheme_index

SHIPPED = str(Path(__file__).resolve().parents[2] / "models" / "semcod_32")


def make_photo(h, w, seed=0):
    """A smooth sky with a sun, a horizon, textured ground: u8 HWC."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / np.array([h, w])[:, None, None]
    img = np.stack([0.35 + 0.3 * yy, 0.55 + 0.15 * xx, 0.95 - 0.35 * yy], -1)
    img[((yy - 0.2) ** 2 + (xx - 0.7) ** 2) < 0.01] = (1.0, 0.9, 0.5)
    ground = yy > 0.55
    tex = 0.35 + 0.15 * np.sin(40 * xx + 9 * yy)[..., None] + 0.1 * rng.random((h, w, 3))
    img[ground] = (tex * np.array([0.8, 1.0, 0.5]))[ground]
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)


def make_texture(h, w, seed=0):
    """The photo's textured ground all over: u8 HWC."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / np.array([h, w])[:, None, None]
    tex = 0.35 + 0.15 * np.sin(40 * xx + 9 * yy)[..., None] + 0.1 * rng.random((h, w, 3))
    return (np.clip(tex * np.array([0.8, 1.0, 0.5]), 0, 1) * 255).astype(np.uint8)


def loopback(photos, cbr, snr_db, timeout=120.0, floor=False):
    tb = gr.top_block()
    tx = semcod_tx(SHIPPED, cbr, "semantic2", snr_db=snr_db, floor=floor)
    phy_tx = ofdm_analog_tx(header_reps=2)
    guard = burst_guard(160, 160)
    ch = channel(snr_db=snr_db, seed=3)
    phy_rx = ofdm_analog_rx(tracking="pilots", equalizer="zf", header_reps=2)
    rx = semcod_rx(SHIPPED, cbr, "semantic2", snr_db=snr_db)
    got, sent = blocks.message_debug(), blocks.message_debug()
    tb.msg_connect(tx, "out", phy_tx, "in")
    tb.msg_connect(tx, "out", sent, "store")
    tb.connect(phy_tx, guard, ch, phy_rx)
    tb.msg_connect(phy_rx, "images", rx, "in")
    tb.msg_connect(rx, "image", got, "store")
    tb.start()
    try:
        for i, p in enumerate(photos):
            msg = make_pdu({"image_id": i, "height": p.shape[0], "width": p.shape[1], "channels": 3}, p)
            tx.stages[0].to_basic_block()._post(pmt.intern("in"), msg)
        t0 = time.monotonic()
        while got.num_messages() < len(photos) and time.monotonic() - t0 < timeout:
            time.sleep(0.05)
    finally:
        tb.stop()
        tb.wait()
    out = []
    for i in range(got.num_messages()):
        m = got.get_message(i)
        out.append((meta_to_python(pmt.car(m)), np.asarray(pmt.u8vector_elements(pmt.cdr(m)), np.uint8)))
    tx_meta = [meta_to_python(pmt.car(sent.get_message(i))) for i in range(sent.num_messages())]
    return out, tx_meta, tx, rx


def test_photo_256_at_10db_through_the_phy():
    photo = make_photo(256, 256)
    out, tx_meta, tx, rx = loopback([photo], "1/12", 10.0)
    assert len(out) == 1, (tx.n_dropped(), rx.n_dropped())
    meta, img = out[0]
    assert (meta["height"], meta["width"], meta["photo_height"], meta["photo_width"]) == (256, 256, 256, 256)
    assert meta["side_info_ok"] and meta["mode"] == tx_meta[0]["mode"] == scheme_index("16qam_r1-2_ldpc")  # via the header
    assert tx_meta[0]["n_symbols"] <= num_symbols("1/12", 256, 256)
    assert abs(meta["snr_db_used"] - 10.0) < 1.5  # the PHY's estimate conditioned the decoder
    rec = img.reshape(256, 256, 3)
    mean = np.broadcast_to(np.rint(photo.reshape(-1, 3).mean(0)).astype(np.uint8), photo.shape)
    assert psnr(photo, rec) > max(psnr(photo, mean) + 8, 24.0)
    assert (tx.n_dropped(), rx.n_dropped(), rx.decoder.n_side_failures()) == (0, 0, 0)


def test_floor_photo_through_the_phy():
    """semcod_tx's default (floor): at the base rate a photo of texture all over decodes better as
    the Deep JSCC 1/12 on the encoder's own channel draws, so it goes as such (mode 255, no side
    information); the mode crosses the PHY header and the receiver decodes it as Deep JSCC."""
    from gr_semcod.runtime.semantic2 import FLOOR_MODE

    photo = make_texture(256, 256)
    out, tx_meta, tx, rx = loopback([photo], "1/12", 10.0, floor=True)
    assert len(out) == 1, (tx.n_dropped(), rx.n_dropped())
    meta, img = out[0]
    assert meta["side_info_ok"] and meta["mode"] == tx_meta[0]["mode"] == FLOOR_MODE
    assert tx_meta[0]["n_symbols"] == num_symbols("1/12", 256, 256) and tx_meta[0]["side_symbols"] == 0
    rec = img.reshape(256, 256, 3)
    mean = np.broadcast_to(np.rint(photo.reshape(-1, 3).mean(0)).astype(np.uint8), photo.shape)
    assert psnr(photo, rec) > max(psnr(photo, mean) + 8, 24.0)
    assert (tx.n_dropped(), rx.n_dropped(), rx.decoder.n_side_failures()) == (0, 0, 0)


def test_photo_768x512_at_1_48_and_a_second_photo_through_the_phy():
    """The paper's low rate on a photo of the validation size, then a small photo right behind it:
    each keeps its own size, tree and side-information scheme."""
    photos = [make_photo(512, 768, 1), make_photo(100, 140, 2)]
    out, tx_meta, tx, rx = loopback(photos, "1/48", 10.0)
    assert len(out) == 2
    by_id = {m["image_id"]: (m, img) for m, img in out}
    for i, p in enumerate(photos):
        meta, img = by_id[i]
        assert (meta["height"], meta["width"], meta["side_info_ok"]) == (*p.shape[:2], True)
        assert tx_meta[i]["n_symbols"] <= num_symbols("1/48", *p.shape[:2])
        mean = np.broadcast_to(np.rint(p.reshape(-1, 3).mean(0)).astype(np.uint8), p.shape)
        assert psnr(p, img.reshape(p.shape)) > psnr(p, mean) + 6
    assert psnr(photos[0], by_id[0][1].reshape(photos[0].shape)) > 26.0
    assert (tx.n_dropped(), rx.n_dropped(), rx.decoder.n_side_failures()) == (0, 0, 0)


def test_photo_through_the_headless_loopback_flowgraph(compiled, tmp_path):
    """The shipped headless loopback (GRC, compiled by grcc) with --codec semantic2: a 768x512 photo
    made here comes back at its own size from the image sink, far above the mean-colour floor."""
    import subprocess
    import sys

    from gr_semcod.runtime.images import save_png

    from .conftest import REPO, grc_env
    from .test_flowgraphs import read_rows

    photo = make_photo(512, 768, 4)
    d = tmp_path / "photos"
    save_png(d / "photo.png", photo)
    csv_path = tmp_path / "m.csv"
    cmd = [sys.executable, "-u", str(compiled["semcod_loopback_nogui"]), "--bundle", SHIPPED, "--codec", "semantic2",
           "--cbr", "1/48", "--data", str(d), "--snr-db", "10", "--csv-path", str(csv_path),
           "--linger", "60"]  # ends as soon as the photo is accounted for; coding a 768x512 photo takes ~10 s here
    r = subprocess.run(cmd, env=grc_env(), capture_output=True, text=True, timeout=180, cwd=REPO)
    assert r.returncode == 0, r.stderr[-3000:]
    rows = read_rows(csv_path)
    assert len(rows) == 1, (r.stdout[-3000:], r.stderr[-3000:])
    (row,) = rows
    assert (int(row["height"]), int(row["width"]), row["codec"]) == (512, 768, "semantic2")
    mean = np.broadcast_to(np.rint(photo.reshape(-1, 3).mean(0)).astype(np.uint8), photo.shape)
    assert float(row["psnr_db"]) > max(psnr(photo, mean) + 10, 26.0)
