"""qa_image_sink: PNGs, PSNR/SSIM against the reference by id, metrics messages, CSV."""
import csv
import time

import numpy as np
import pmt
import pytest
from gnuradio import blocks, gr, gr_unittest
from PIL import Image

from gr_semcod.blocks import image_sink
from gr_semcod.blocks.common import make_pdu
from gr_semcod.runtime.images import save_png
from gr_semcod.runtime.metrics import psnr, ssim

from .harness import image_pdu, post, wait_for


class qa_image_sink(gr_unittest.TestCase):
    @pytest.fixture(autouse=True)
    def _fixtures(self, tmp_path, test_images):
        self.tmp, self.images = tmp_path, test_images
        rng = np.random.default_rng(6)
        noise = rng.integers(-12, 13, self.images.shape)
        self.noisy = np.clip(self.images.astype(int) + noise, 0, 255).astype(np.uint8)

    def run_sink(self, sink, msgs, n_expect):
        tb = gr.top_block()
        met = blocks.message_debug()
        tb.msg_connect(sink, "metrics", met, "store")
        tb.start()
        for port, m in msgs:
            post(sink, port, m)
        wait_for(lambda: sink.n_processed() + sink.n_dropped() >= n_expect)
        # the metrics messages are handled by message_debug's own thread
        wait_for(lambda: met.num_messages() >= len(sink.results), timeout=5.0)
        tb.stop()
        tb.wait()
        return met

    def test_001_metrics_png_csv_via_ref_port(self):
        out, csv_path = self.tmp / "rx", self.tmp / "m.csv"
        sink = image_sink(str(out), csv_path=str(csv_path), tag="awgn 10dB")
        msgs = [("ref", image_pdu(self.images[i], i)) for i in range(3)]
        msgs += [("in", image_pdu(self.noisy[i], i, snr_db_used=10.0, codec="semantic", cbr="1/12")) for i in range(3)]
        met = self.run_sink(sink, msgs, 3)
        self.assertEqual(sink.n_images(), 3)
        self.assertEqual(met.num_messages(), 3)
        with open(csv_path) as f:
            rows = list(csv.DictReader(f))
        self.assertEqual(len(rows), 3)
        self.assertEqual(list(rows[0]), ["time", "tag", "image_id", "codec", "cbr", "snr_db", "psnr_db", "ssim",
                                         "ms_ssim", "height", "width", "n_lost_tiles", "latency_s", "png", "stand_in"])
        # the time column keeps microseconds (time.time() is ~1.8e9 s: 6 significant digits were 1000 s)
        t = [float(r["time"]) for r in rows]
        self.assertTrue(all(abs(a - round(a, 6)) < 1e-7 for a in t) and len(rows[0]["time"].split(".")[1]) == 6)
        self.assertAlmostEqual(t[0], sink.results[0]["time"], places=5)
        for i, r in enumerate(rows):
            self.assertEqual((r["tag"], int(r["image_id"]), r["codec"], r["cbr"]), ("awgn 10dB", i, "semantic", "1/12"))
            self.assertAlmostEqual(float(r["snr_db"]), 10.0)
            self.assertAlmostEqual(float(r["psnr_db"]), psnr(self.images[i], self.noisy[i]), places=3)
            self.assertAlmostEqual(float(r["ssim"]), ssim(self.images[i], self.noisy[i]), places=4)
            self.assertEqual(r["ms_ssim"], "nan")  # 32x32 is too small for 5 scales
            self.assertEqual((int(r["height"]), int(r["width"]), int(r["n_lost_tiles"])), (32, 32, 0))
            png = np.asarray(Image.open(r["png"]))
            np.testing.assert_array_equal(png, self.noisy[i])
        m = met.get_message(0)
        self.assertAlmostEqual(pmt.to_double(pmt.dict_ref(m, pmt.intern("psnr_db"), pmt.PMT_NIL)),
                               psnr(self.images[0], self.noisy[0]), places=3)
        self.assertAlmostEqual(sink.mean_psnr(), np.mean([psnr(a, b) for a, b in zip(self.images[:3], self.noisy[:3])]),
                               places=3)

    def test_001b_whole_photo_psnr_ssim_ms_ssim(self):
        """A 200x300 photo: every metric on the whole photo, MS-SSIM too (>= 176 on both sides)."""
        from gr_semcod.runtime.metrics import ms_ssim_per_image

        rng = np.random.default_rng(3)
        y, x = np.mgrid[0:200, 0:300]
        photo = np.clip(np.stack([128 + 80 * np.sin(x / (9.0 + c)) * np.cos(y / 13.0) for c in range(3)], -1), 0, 255)
        photo = photo.astype(np.uint8)
        noisy = np.clip(photo.astype(int) + rng.integers(-20, 21, photo.shape), 0, 255).astype(np.uint8)
        sink = image_sink("", metrics="all")
        self.run_sink(sink, [("ref", image_pdu(photo, 4)), ("in", image_pdu(noisy, 4, n_lost_tiles=1))], 1)
        (r,) = list(sink.results)
        self.assertAlmostEqual(r["psnr_db"], psnr(photo, noisy), places=4)
        self.assertAlmostEqual(r["ssim"], ssim(photo, noisy), places=5)
        self.assertAlmostEqual(r["ms_ssim"], float(ms_ssim_per_image(photo, noisy)[0]), places=5)
        self.assertTrue(0.3 < r["ms_ssim"] < 1.0)
        self.assertEqual((r["height"], r["width"], r["n_lost_tiles"]), (200, 300, 1))
        fast = image_sink("", metrics="psnr")
        self.run_sink(fast, [("ref", image_pdu(photo, 4)), ("in", image_pdu(noisy, 4))], 1)
        (r,) = list(fast.results)
        self.assertAlmostEqual(r["psnr_db"], psnr(photo, noisy), places=4)
        self.assertTrue(np.isnan(r["ssim"]) and np.isnan(r["ms_ssim"]))

    def test_002_reference_from_path_and_csv_appends(self):
        ref = self.tmp / "ref"
        for i in range(2):
            save_png(ref / f"a{i}.png", self.images[i])
        csv_path = self.tmp / "m.csv"
        for run in range(2):
            sink = image_sink("", reference=str(ref), csv_path=str(csv_path), start_id=50)
            self.run_sink(sink, [("in", image_pdu(self.noisy[1], 51))], 1)
            self.assertAlmostEqual(sink.results[0]["psnr_db"], psnr(self.images[1], self.noisy[1]), places=4)
        with open(csv_path) as f:
            self.assertEqual(len(list(csv.DictReader(f))), 2)  # one header, two rows

    def test_003_no_reference_and_bad_pdus(self):
        sink = image_sink("")
        msgs = [("in", image_pdu(self.noisy[0], 7)),  # no reference: NaN, counted
                ("in", make_pdu({"image_id": 8}, np.zeros(100, np.uint8))),  # no shape, no reference
                ("in", make_pdu({"image_id": 9, "height": 32, "width": 32, "channels": 3}, np.zeros(17, np.uint8))),
                ("in", make_pdu({"image_id": 10}, np.zeros(3, np.float32))),
                ("ref", pmt.PMT_T)]
        self.run_sink(sink, msgs, 5)
        self.assertEqual(sink.n_no_reference(), 1)
        self.assertTrue(np.isnan(sink.results[0]["psnr_db"]))
        self.assertEqual(sink.n_dropped(), 4)

    def test_005_latency_from_ref_port(self):
        """Without tx_time on the received PDU (the PHY drops it) the ref PDU's tx_time is used."""
        sink = image_sink("")
        t0 = time.time() - 0.5
        self.run_sink(sink, [("ref", image_pdu(self.images[0], 4, tx_time=t0)), ("in", image_pdu(self.images[0], 4))], 1)
        self.assertGreaterEqual(sink.results[0]["latency_s"], 0.5)
        self.assertLess(sink.results[0]["latency_s"], 5.0)

    def test_004_labels_accuracy(self):
        sink = image_sink("")
        msgs = [("label", make_pdu({"image_id": i, "label": 3, "label_pred": p}, np.zeros(10, np.float32)))
                for i, p in enumerate([3, 3, 1, 3])]
        self.run_sink(sink, msgs, 4)
        self.assertAlmostEqual(sink.accuracy(), 0.75)
