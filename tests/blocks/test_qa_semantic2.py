"""qa_semantic2_encoder / qa_semantic2_decoder: the semantic codec v2 on whole photos, one
symbols PDU per photo with its side information inside, over a simulated channel."""
from pathlib import Path

import numpy as np
import pytest
from gnuradio import gr_unittest

from gr_semcod.blocks import semantic2_decoder, semantic2_encoder
from gr_semcod.blocks.common import make_pdu
from gr_semcod.rates import num_symbols
from gr_semcod.runtime.metrics import psnr
from gr_semcod.runtime.side_info import scheme_index

from .harness import pdus, run_block

SHIPPED = str(Path(__file__).resolve().parents[2] / "models" / "semcod_32")


def make_photo(h, w, seed=0):
    """Sky gradient over noisy ground, u8 HWC."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / np.array([h, w])[:, None, None]
    img = np.stack([0.3 + 0.4 * yy, 0.5 + 0.2 * xx, 0.9 - 0.3 * yy], -1)
    img[h // 2:] = 0.3 + 0.2 * rng.random((h - h // 2, w, 3)) + 0.2 * np.sin(xx[h // 2:] * 20)[..., None]
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)


def photo_pdu(img, image_id=0, **meta):
    return make_pdu({"image_id": image_id, "height": img.shape[0], "width": img.shape[1], **meta}, img)


def awgn(z, snr_db, seed):
    rng = np.random.default_rng(seed)
    nv = 10 ** (-snr_db / 10)
    return (z + np.sqrt(nv / 2) * (rng.standard_normal(z.size) + 1j * rng.standard_normal(z.size))).astype(np.complex64)


class qa_semantic2(gr_unittest.TestCase):
    def test_001_photo_round_trip_over_awgn(self):
        img = make_photo(80, 120)
        enc = semantic2_encoder(SHIPPED, "1/24", 10.0, floor=False)
        (meta, z), = pdus(run_block(enc, [photo_pdu(img, 7)])["out"])
        self.assertEqual((meta["codec"], meta["photo_height"], meta["photo_width"], meta["image_id"]),
                         ("semantic2", 80, 120, 7))
        self.assertEqual(meta["mode"], scheme_index("16qam_r1-2_ldpc"))  # 16-QAM LDPC from 7.5 dB: cheapest here
        self.assertTrue(z.size == meta["n_symbols"] <= num_symbols("1/24", 80, 120))
        self.assertEqual(z.size, meta["side_symbols"] + 4 * meta["n_tokens"])
        self.assertNotIn("height", meta)
        self.assertAlmostEqual(float(np.mean(np.abs(z) ** 2)), 1.0, places=2)  # 16-QAM side symbols: 1 on average
        dec = semantic2_decoder(SHIPPED)
        rx = {k: v for k, v in meta.items() if k in ("image_id", "photo_height", "photo_width", "mode")}  # what the PHY carries
        (m2, out), = pdus(run_block(dec, [make_pdu({**rx, "snr_db": 10.0}, awgn(z, 10.0, 1))])["out"])
        self.assertEqual((m2["height"], m2["width"], m2["channels"], m2["image_id"], m2["side_info_ok"]),
                         (80, 120, 3, 7, True))
        rec = out.reshape(80, 120, 3)
        mean = np.broadcast_to(np.rint(img.reshape(-1, 3).mean(0)).astype(np.uint8), img.shape)
        self.assertGreater(psnr(img, rec), psnr(img, mean) + 3)
        self.assertEqual((dec.n_side_failures(), dec.n_dropped()), (0, 0))

    def test_002_side_info_failure_is_counted_and_grey(self):
        img = make_photo(64, 64, 1)
        enc = semantic2_encoder(SHIPPED, "1/12", 3.0, floor=False)
        (meta, z), = pdus(run_block(enc, [photo_pdu(img, 1)])["out"])
        self.assertEqual(meta["mode"], scheme_index("bpsk_r1-2_k7"))
        faded = semantic2_encoder(SHIPPED, "1/12", 3.0, fading=True, floor=False)
        (fmeta, _), = pdus(run_block(faded, [photo_pdu(img, 1)])["out"])
        self.assertEqual(fmeta["mode"], scheme_index("qpsk_r1-2_ldpc_x5-4"))  # K=7 BPSK holds from 7 dB when fading
        dec = semantic2_decoder(SHIPPED)
        bad = z.copy()
        bad[:meta["side_symbols"]] *= -1  # the tree block (and part of the spread head): inverted code bits
        good_meta = {"image_id": 1, "photo_height": 64, "photo_width": 64, "mode": meta["mode"], "snr_db": 30.0}
        # the grey stand-in goes out AND its drop report is published: wait for 2 outputs + 1 drop
        d = run_block(dec, [make_pdu(good_meta, bad), make_pdu({**good_meta, "image_id": 2}, z)], expect=3)
        (m1, o1), (m2, o2) = pdus(d["out"])
        self.assertFalse(m1["side_info_ok"])
        self.assertIn("side-info", m1["side_info_error"])
        self.assertTrue(np.all(o1 == 128))  # the documented fallback: mid-grey, no token placed
        self.assertTrue(m2["side_info_ok"])
        self.assertGreater(psnr(img, o2.reshape(64, 64, 3)), 20)
        # the grey photo is a stand-in: marked, and its drop tells the image sink the photo was lost
        self.assertEqual((m1["fallback"], "fallback" in m2), ("grey", False))
        self.assertEqual((dec.n_side_failures(), dec.n_processed(), dec.n_dropped()), (1, 2, 1))
        self.assertEqual(d["drop"].num_messages(), 1)

    def test_003_erased_fragment(self):
        img = make_photo(96, 96, 2)
        enc = semantic2_encoder(SHIPPED, "1/12", 10.0, floor=False)
        (meta, z), = pdus(run_block(enc, [photo_pdu(img, 3)])["out"])
        mask = np.zeros(z.size, np.uint8)
        mask[z.size // 2: z.size // 2 + z.size // 8] = 1  # one lost PHY fragment
        dec = semantic2_decoder(SHIPPED)
        m = {"image_id": 3, "photo_height": 96, "photo_width": 96, "mode": meta["mode"], "snr_db": 10.0,
             "erasure_mask": mask}
        y = awgn(z, 10.0, 4)
        (m2, out), = pdus(run_block(dec, [make_pdu(m, y)])["out"])
        self.assertTrue(m2["side_info_ok"])
        self.assertEqual(m2["n_erased"], int(mask.sum()))
        # the erased token symbols' latent is filled from its neighbours (not decoded as zeros)
        self.assertGreater(m2["latent_filled"], 0)
        (m3, zeros), = pdus(run_block(semantic2_decoder(SHIPPED, fill_erasures=False), [make_pdu(m, y)])["out"])
        self.assertEqual(m3["latent_filled"], 0)
        self.assertGreater(psnr(img, out.reshape(96, 96, 3)), psnr(img, zeros.reshape(96, 96, 3)) + 0.5)

    def test_004_bad_input_is_dropped(self):
        img = make_photo(40, 50)
        enc = semantic2_encoder(SHIPPED, "1/12", 10.0, max_pixels=40 * 50)
        bad = [make_pdu({"image_id": 0}, img),  # no size
               make_pdu({"image_id": 1, "height": 40, "width": 51}, img),  # wrong size
               make_pdu({"image_id": 2, "height": 60, "width": 60}, np.zeros(60 * 60 * 3, np.uint8)),  # too big
               photo_pdu(img, 3)]
        d = run_block(enc, bad, expect=4)
        self.assertEqual((enc.n_dropped(), enc.n_processed(), enc.n_over_budget()), (3, 1, 0))
        (meta, z), = pdus(d["out"])
        dec = semantic2_decoder(SHIPPED)
        cases = [make_pdu({"image_id": 4, "mode": meta["mode"]}, z),  # no photo size
                 make_pdu({"image_id": 5, "photo_height": 40, "photo_width": 50, "mode": 99}, z),  # unknown scheme
                 make_pdu({"image_id": 6, "photo_height": 40, "photo_width": 50, "codec": "deepjscc"}, z),
                 make_pdu({"image_id": 7, "photo_height": 40, "photo_width": 50}, np.full(z.size, np.nan, np.complex64)),
                 make_pdu({"image_id": 8, "photo_height": 40, "photo_width": 50, "mode": meta["mode"], "snr_db": 10.0}, z)]
        d = run_block(dec, cases, expect=5)
        self.assertEqual((dec.n_dropped(), dec.n_processed(), dec.n_side_failures()), (4, 1, 0))
        reasons = [str(m) for m in [d["drop"].get_message(i) for i in range(d["drop"].num_messages())]]
        self.assertTrue(any("photo_height" in r for r in reasons))
        self.assertTrue(any("mode=99" in r for r in reasons))

    def test_009_deep_jscc_floor(self):
        """By default the encoder sends the Deep JSCC at the CBR (mode 255, no side information) when
        merging decodes worse on its own channel draws: here a busy 64x64 photo at the base rate,
        1 dB.  The decoder takes mode 255 from the PDU; a mode that is neither a scheme nor the floor
        is dropped."""
        from gr_semcod.runtime.semantic2 import FLOOR_MODE

        img = make_photo(64, 64, 5)
        enc = semantic2_encoder(SHIPPED, "1/12", 1.0)
        (meta, z), = pdus(run_block(enc, [photo_pdu(img, 9)])["out"])
        self.assertEqual((meta["mode"], meta["side_symbols"], meta["n_tokens"], enc.n_floor()), (FLOOR_MODE, 0, 0, 1))
        self.assertEqual(z.size, meta["n_symbols"])
        self.assertEqual(z.size, 4 * num_symbols("1/12", 32, 32))  # four tiles of Deep JSCC 1/12
        dec = semantic2_decoder(SHIPPED)
        rx = {"image_id": 9, "photo_height": 64, "photo_width": 64, "mode": FLOOR_MODE, "snr_db": 1.0}
        bad = {**rx, "image_id": 10, "mode": 200}
        d = run_block(dec, [make_pdu(rx, awgn(z, 1.0, 2)), make_pdu(bad, z)], expect=2)
        (m2, out), = pdus(d["out"])
        self.assertTrue(m2["side_info_ok"])
        mean = np.broadcast_to(np.rint(img.reshape(-1, 3).mean(0)).astype(np.uint8), img.shape)
        self.assertGreater(psnr(img, out.reshape(64, 64, 3)), psnr(img, mean) + 3)
        self.assertEqual((dec.n_dropped(), dec.n_processed(), dec.n_side_failures()), (1, 1, 0))
        self.assertIn("mode=200", str(d["drop"].get_message(0)))
        merged = semantic2_encoder(SHIPPED, "1/12", 1.0, floor=False)
        (m3, _), = pdus(run_block(merged, [photo_pdu(img, 9)])["out"])
        self.assertNotEqual(m3["mode"], FLOOR_MODE)
        self.assertEqual(merged.n_floor(), 0)
        # a photo whose token power lies off its set's gain grid is counted (as encode_photo reports it)
        from gr_semcod.runtime.bundle import Bundle
        from gr_semcod.runtime.semantic2 import encode_photo

        for cbr in ("1/48", "1/12"):
            enc48 = semantic2_encoder(SHIPPED, cbr, 10.0, floor=False)
            run_block(enc48, [photo_pdu(img, 11)])
            _, info = encode_photo(Bundle.load(SHIPPED), img, cbr, 10.0, "photo")
            self.assertEqual(enc48.n_gain_clipped(), int(info["gain_clipped"]))
            if cbr == "1/12":
                self.assertEqual(enc48.n_gain_clipped(), 0)  # the shared set's power sits inside its grid
        for bad_draws in (0, 21):
            with self.assertRaisesRegex(ValueError, "floor_draws"):
                semantic2_encoder(SHIPPED, "1/12", 1.0, floor_draws=bad_draws)

    def test_008_ldpc_side_information_of_a_larger_photo(self):
        """A photo whose tree is long (>720 flags) gets an LDPC scheme: QPSK rate 1/2 with 3 of 8 code
        bits sent twice at 1 dB (1.375 symbols per bit; the K=7 code needed 4 there), decoded by the
        block from the PDU's mode."""
        from gr_semcod.runtime.side_info import SIDE_MCS

        img = make_photo(192, 320, 8)
        enc = semantic2_encoder(SHIPPED, "1/48", 1.0, floor=False)
        (meta, z), = pdus(run_block(enc, [photo_pdu(img, 11)])["out"])
        self.assertEqual(meta["mode"], scheme_index("qpsk_r1-2_ldpc_x11-8"))
        self.assertEqual(SIDE_MCS[meta["mode"]].code, "ldpc")
        dec = semantic2_decoder(SHIPPED)
        rx = {"image_id": 11, "photo_height": 192, "photo_width": 320, "mode": meta["mode"], "snr_db": 1.0}
        (m2, out), = pdus(run_block(dec, [make_pdu(rx, awgn(z, 1.0, 12))])["out"])
        self.assertTrue(m2["side_info_ok"], m2.get("side_info_error"))
        mean = np.broadcast_to(np.rint(img.reshape(-1, 3).mean(0)).astype(np.uint8), img.shape)
        self.assertGreater(psnr(img, out.reshape(img.shape)), psnr(img, mean) + 3)
        bad = {**rx, "mode": scheme_index("bpsk_r1-2_k7_x2")}  # the wrong scheme: counted, grey
        (m3, _), = pdus(run_block(dec, [make_pdu(bad, awgn(z, 1.0, 12))])["out"])
        self.assertFalse(m3["side_info_ok"])
        self.assertEqual(dec.n_side_failures(), 1)

    def test_005_photo_too_small_for_its_rate(self):
        enc = semantic2_encoder(SHIPPED, "1/48", 0.0, floor=False)
        (meta, z), = pdus(run_block(enc, [photo_pdu(make_photo(16, 16), 9)])["out"])
        self.assertEqual(enc.n_over_budget(), 1)
        self.assertTrue(z.size == meta["n_symbols"] > num_symbols("1/48", 16, 16))  # sent, and says what it spent

    def test_006_a_bundle_without_v2(self):
        from .bundles import build_linear_bundle

        import tempfile

        with tempfile.TemporaryDirectory() as d:
            with pytest.raises(ValueError, match="semantic codec v2"):
                semantic2_encoder(str(build_linear_bundle(Path(d) / "lin")))

    def test_007_semcod_tx_rx_codec_semantic2(self):
        """The hier blocks' semantic2 branch over a simulated channel that keeps only what the PHY
        header carries (image_id, photo_height, photo_width, mode) and adds snr_db."""
        from gnuradio import blocks, gr

        from gr_semcod.blocks import semcod_rx, semcod_tx

        from .harness import pdu_awgn, post, wait_for

        photos = [make_photo(70, 90, 5), make_photo(64, 128, 6)]
        tb = gr.top_block()
        tx = semcod_tx(SHIPPED, "1/24", "semantic2", snr_db=10.0)
        ch = pdu_awgn(0.1, drop_keys=("codec", "cbr", "n_symbols", "n_tokens", "side_symbols"))
        rx = semcod_rx(SHIPPED, "1/24", "semantic2")
        got = blocks.message_debug()
        tb.msg_connect(tx, "out", ch, "in")
        tb.msg_connect(ch, "out", rx, "in")
        tb.msg_connect(rx, "image", got, "store")
        tb.start()
        try:
            for i, p in enumerate(photos):
                post(tx.stages[0], "in", photo_pdu(p, 20 + i))
            wait_for(lambda: got.num_messages() == 2, 30)
        finally:
            tb.stop()
            tb.wait()
        out = pdus(got)
        self.assertEqual(len(out), 2)
        self.assertIsNone(tx.n_symbols)  # varies per photo
        for (meta, img), ref in zip(out, photos):
            self.assertEqual((meta["height"], meta["width"], meta["side_info_ok"]), (*ref.shape[:2], True))
            mean = np.broadcast_to(np.rint(ref.reshape(-1, 3).mean(0)).astype(np.uint8), ref.shape)
            self.assertGreater(psnr(ref, img.reshape(ref.shape)), psnr(ref, mean) + 3)
        self.assertEqual((tx.n_dropped(), rx.n_dropped(), rx.n_processed()), (0, 0, 2))
