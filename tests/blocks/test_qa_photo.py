"""Photos of any size through semcod_tx / semcod_rx: tiler, stitcher, lost tiles, limits."""
import numpy as np
import pytest
from gnuradio import gr

from gr_semcod.blocks import image_sink, image_source, semcod_rx, semcod_tx
from gr_semcod.blocks.photo_stitcher import photo_stitcher
from gr_semcod.blocks.photo_tiler import photo_tiler
from gr_semcod.pdu import make_pdu
from gr_semcod.runtime.images import save_png
from gr_semcod.runtime.metrics import psnr_per_image
from gr_semcod.runtime.tiles import tile_photo_u8

from .harness import collect, image_pdu, pdu_awgn, pdus, post, run_block, wait_for

#: what the PHY carries besides the symbols: image_id, photo size, mode (height/width/batch are lost)
PHY_LOSES = ("height", "width", "channels", "batch", "tile", "n_tiles", "label", "tx_time")


def smooth_photo(h, w, seed=0):
    """A photo with structure at several scales (not flat: the mean-colour floor is far below)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([127 + 90 * np.sin(x / 17.0 + c) * np.cos(y / 23.0 - c) for c in range(3)], -1)
    img += rng.normal(0, 12, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def test_tiler_makes_a_batch_of_bundle_tiles_and_refuses_what_it_cannot():
    photo = smooth_photo(45, 70)
    big = np.zeros((90, 10, 3), np.uint8)
    out = run_block(photo_tiler(32, max_side=80),
                    [image_pdu(photo, 7, label=3), image_pdu(big, 8), make_pdu({"image_id": 9, "height": 45,
                                                                                 "width": 70}, photo[:44]),
                     image_pdu(photo[:32, :32], 10)])
    (meta, vec), (m32, v32) = pdus(out["out"])
    assert (meta["batch"], meta["height"], meta["width"], meta["photo_height"], meta["photo_width"]) == (6, 32, 32,
                                                                                                         45, 70)
    assert (meta["image_id"], meta["label"], meta["n_tiles"], meta["tile"]) == (7, 3, 6, 32)
    np.testing.assert_array_equal(vec.reshape(6, 32, 32, 3), tile_photo_u8(photo, 32)[0])
    assert m32["image_id"] == 10 and "photo_height" not in m32 and v32.size == 32 * 32 * 3  # passed unchanged
    assert out["drop"].num_messages() == 2  # too large, wrong byte count


def test_tiler_reasons_name_the_problem():
    t = photo_tiler(32, max_side=64)
    from gr_semcod.contract import PDUError

    with pytest.raises(PDUError, match="70x10 is larger than the limit of 64x64"):
        t.handle(image_pdu(np.zeros((70, 10, 3), np.uint8)))
    with pytest.raises(PDUError, match="7920 bytes, expected 45x60x3 = 8100"):
        t.handle(make_pdu({"height": 45, "width": 60}, np.zeros((44, 60, 3), np.uint8)))
    with pytest.raises(ValueError, match="max_side must be in 1..4096"):
        photo_tiler(32, max_side=5000)


def test_stitcher_fills_lost_tiles_with_the_mean_colour_and_counts_them():
    photo = smooth_photo(64, 96)
    tiles, _ = tile_photo_u8(photo, 32)
    k = 10
    mask = np.zeros(6 * k, np.uint8)
    mask[2 * k:3 * k] = 1  # tile 2 (row 0, col 2): all its symbols erased
    mask[4 * k:4 * k + 3] = 1  # tile 4 partly erased: left to the decoder
    meta = {"image_id": 3, "batch": 6, "height": 32, "width": 32, "channels": 3, "photo_height": 64,
            "photo_width": 96, "erasure_mask": mask, "symbol_noise_var": np.ones(6 * k, np.float32)}
    st = photo_stitcher(32, k)
    out = run_block(st, [make_pdu(meta, tiles)])
    ((m, v),) = pdus(out["out"])
    img = v.reshape(64, 96, 3)
    assert (m["height"], m["width"], m["n_tiles"], m["n_lost_tiles"]) == (64, 96, 6, 1)
    assert "batch" not in m and "erasure_mask" not in m and "symbol_noise_var" not in m
    mean = np.round(np.concatenate([tiles[:2], tiles[3:]]).reshape(-1, 3).mean(0)).astype(np.uint8)
    np.testing.assert_array_equal(img[:32, 64:96], np.broadcast_to(mean, (32, 32, 3)))
    np.testing.assert_array_equal(img[:32, :64], photo[:32, :64])
    np.testing.assert_array_equal(img[32:], photo[32:])
    assert st.n_lost_tiles() == 1
    # a batch of separate images (size disagrees with the tile count) passes unchanged
    out = run_block(photo_stitcher(32), [make_pdu({"image_id": 1, "batch": 6, "height": 32, "width": 32,
                                                   "photo_height": 32, "photo_width": 32}, tiles)])
    ((m, v),) = pdus(out["out"])
    assert m["batch"] == 6 and v.size == tiles.size
    # a photo whose tile count disagrees with its size is dropped with the reason, not passed on as tiles
    from gr_semcod.contract import PDUError

    with pytest.raises(PDUError, match="5 tiles of 32x32 for a 64x96 photo, expected 6"):
        photo_stitcher(32).handle(make_pdu({"image_id": 2, "batch": 5, "height": 32, "width": 32,
                                            "photo_height": 64, "photo_width": 96}, tiles[:5]))
    out = run_block(photo_stitcher(32), [make_pdu({"image_id": 2, "batch": 5, "height": 32, "width": 32,
                                                   "photo_height": 64, "photo_width": 96}, tiles[:5])])
    assert out["out"].num_messages() == 0 and out["drop"].num_messages() == 1


@pytest.mark.parametrize("codec", ["deepjscc", "semantic"])
def test_photo_of_odd_size_comes_back_at_its_own_size(codec, linear_bundle, tmp_path):
    """70x45 photo (odd sizes: padded, not refused) -> 6 tiles -> linear code, complex noise var
    1e-3, gain 2 -> stitched photo 45x70, PSNR 39 dB like a single 32x32 image."""
    photo = smooth_photo(45, 71, seed=1)
    save_png(tmp_path / "p.png", photo)
    tb = gr.top_block()
    src = image_source(str(tmp_path / "p.png"))  # native size by default
    tx = semcod_tx(linear_bundle, "1/2", codec, normalize=False)
    ch = pdu_awgn(1e-3, drop_keys=PHY_LOSES)
    rx = semcod_rx(linear_bundle, "1/2", codec, snr_db=10.0)
    sink = image_sink(str(tmp_path / "out"), linger=5.0)
    tb.msg_connect(src, "out", tx, "in")
    tb.msg_connect(src, "out", sink, "ref")
    tb.msg_connect(tx, "out", ch, "in")
    tb.msg_connect(ch, "out", rx, "in")
    tb.msg_connect(rx, "image", sink, "in")
    tb.run()
    assert sink.n_images() == 1 and rx.n_dropped() == 0 and tx.n_dropped() == 0
    got = sink.received[0]
    assert got.shape == (45, 71, 3)
    p = float(psnr_per_image(photo, got)[0])
    assert p == pytest.approx(10 * np.log10(1 / (1e-3 / 2 / 4)), abs=1.0)
    assert sink.results[-1]["psnr_db"] == pytest.approx(p)
    # the classifiers are trained on whole bundle-size images: a photo's tiles are skipped, not dropped
    assert rx.classifier.n_skipped_photos() == 1 and rx.classifier.n_processed() == 0 and sink.n_lost() == 0


def test_new_codecs_construct_or_say_why_not(linear_bundle):
    tx, rx = semcod_tx(linear_bundle, "1/2", "digital"), semcod_rx(linear_bundle, "1/2", "digital")  # needs no model
    assert tx.stages[0].name() == "semcod_digital_encoder" and rx.decoder.name() == "semcod_digital_decoder"
    for make in (semcod_tx, semcod_rx):  # semantic2 is built in; this bundle has no v2 models
        with pytest.raises(ValueError, match="has no semantic codec v2"):
            make(linear_bundle, "1/2", "semantic2")


def test_rx_fills_a_lost_tile_and_keeps_the_photo(linear_bundle):
    """semcod_rx on a 64x96 photo (6 tiles) whose tile 4 the PHY erased entirely (a lost
    fragment): the photo arrives, tile 4 is the mean colour of the others, counted; a partly
    erased tile is left to the decoder (erased symbols are zeros: mid-grey for the linear code)."""
    photo = smooth_photo(64, 96, seed=3)
    from gr_semcod.blocks import deepjscc_encoder

    tiles_pdu = pdus(run_block(photo_tiler(32), [image_pdu(photo, 9)])["out"])[0]
    ((meta, z),) = pdus(run_block(deepjscc_encoder(linear_bundle, "1/2", False), [make_pdu(*tiles_pdu)])["out"])
    k = 1536
    mask = np.zeros(6 * k, np.uint8)
    mask[4 * k:5 * k] = 1  # tile 4 (row 1, col 1): all symbols lost
    mask[k:k + 100] = 1  # tile 1: 100 symbols lost
    z = np.where(mask > 0, 0, z).astype(np.complex64)
    phy = {"image_id": 9, "photo_height": 64, "photo_width": 96, "mode": 0, "snr_db": 30.0, "erasure_mask": mask}
    rx = semcod_rx(linear_bundle, "1/2", "deepjscc", classify=False)
    tb = gr.top_block()
    dbg = collect(tb, {"image": (rx, "image")})["image"]
    tb.start()
    post(rx.decoder, "in", make_pdu(phy, z))
    assert wait_for(lambda: dbg.num_messages() == 1)
    tb.stop()
    tb.wait()
    ((m, v),) = pdus(dbg)
    img = v.reshape(64, 96, 3)
    assert (m["height"], m["width"], m["n_lost_tiles"], m["n_erased"]) == (64, 96, 1, k + 100)
    tiles, _ = tile_photo_u8(img, 32)
    others = np.concatenate([tiles[:4], tiles[5:]]).reshape(-1, 3).mean(0)
    np.testing.assert_array_equal(img[32:64, 32:64], np.broadcast_to(np.round(others).astype(np.uint8), (32, 32, 3)))
    good = np.ones((64, 96), bool)
    good[32:64, 32:64] = good[0:32, 32:64] = False
    assert float(psnr_per_image(photo[good][None], img[good][None])[0]) > 40.0  # the untouched tiles are exact-ish
    assert rx.n_lost_tiles() == 1 and rx.n_dropped() == 0
