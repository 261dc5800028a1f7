"""qa_semcod_tx / qa_semcod_rx: the hier blocks end to end (message domain, AWGN on the PDUs)."""
import time

import numpy as np
import pytest
from gnuradio import gr, gr_unittest

from gr_semcod.blocks import image_sink, image_source, semcod_rx, semcod_tx
from gr_semcod.runtime.images import save_png

from .harness import pdu_awgn


class qa_semcod_tx_rx(gr_unittest.TestCase):
    @pytest.fixture(autouse=True)
    def _fixtures(self, tmp_path, linear_bundle, tiny_bundle, test_images):
        self.tmp, self.linear, self.tiny, self.images = tmp_path, linear_bundle, tiny_bundle, test_images
        self.folder = tmp_path / "imgs"
        for i in range(4):
            save_png(self.folder / f"im{i}.png", test_images[i])

    def chain(self, bundle, cbr, codec, noise_var, normalize, csv="", corrupt_ids=(), linger=30.0, source=None,
              drop_keys=()):
        tb = gr.top_block()
        src = image_source(str(source or self.folder), 32)
        tx = semcod_tx(bundle, cbr, codec, normalize=normalize)
        ch = pdu_awgn(noise_var, corrupt_ids=corrupt_ids, drop_keys=drop_keys)
        rx = semcod_rx(bundle, cbr, codec, snr_db=10.0)
        # a long linger: a run that waited for it instead of ending at the last image would show
        sink = image_sink(str(self.tmp / "out") if source is None else "", csv_path=csv, linger=linger)
        tb.msg_connect(src, "out", tx, "in")
        tb.msg_connect(src, "out", sink, "ref")
        tb.msg_connect(tx, "out", ch, "in")
        tb.msg_connect(ch, "out", rx, "in")
        tb.msg_connect(rx, "image", sink, "in")
        tb.msg_connect(rx, "label", sink, "label")
        t0 = time.monotonic()
        tb.run()  # finite source: ends by itself once every image is through
        return tx, rx, sink, time.monotonic() - t0

    def test_001_semantic_linear_psnr(self):
        """Linear code, gain 2, complex noise var 1e-3: pixel noise var 1e-3/2/4 -> PSNR 39 dB."""
        tx, rx, sink, dt = self.chain(self.linear, "1/2", "semantic", 1e-3, normalize=False)
        self.assertEqual(sink.n_images(), 4)
        self.assertEqual(tx.n_symbols, 1536)
        self.assertAlmostEqual(sink.mean_psnr(), 10 * np.log10(1 / (1e-3 / 2 / 4)), delta=1.0)
        self.assertTrue(all(r["snr_db"] == pytest.approx(30.0) for r in sink.results))
        self.assertEqual((tx.n_dropped(), rx.n_dropped()), (0, 0))
        self.assertLess(dt, 15.0)  # ended as soon as the last image arrived, not after the linger

    def test_002_semantic_noise_lowers_psnr(self):
        _, _, clean, _ = self.chain(self.linear, "1/2", "semantic", 1e-4, normalize=False)
        _, _, noisy, _ = self.chain(self.linear, "1/2", "semantic", 1e-1, normalize=False)
        self.assertGreater(clean.mean_psnr(), noisy.mean_psnr() + 10.0)

    def test_003_deepjscc_codec(self):
        _, rx, sink, _ = self.chain(self.linear, "1/2", "deepjscc", 1e-3, normalize=False)
        self.assertEqual(sink.n_images(), 4)
        self.assertEqual(type(rx.classifier).__name__, "image_classifier")  # Deep JSCC's machine receiver
        self.assertGreater(sink.mean_psnr(), 35.0)

    def test_004_real_models_with_classifier(self):
        tx, rx, sink, _ = self.chain(self.tiny, "1/12", "semantic", 0.1, normalize=True, csv=str(self.tmp / "m.csv"))
        self.assertEqual(sink.n_images(), 4)
        self.assertEqual(tx.n_symbols, 256)
        self.assertIsNotNone(rx.classifier)
        self.assertEqual(rx.classifier.n_processed(), 4)
        self.assertTrue(all(np.isfinite(r["psnr_db"]) for r in sink.results))
        self.assertEqual(len((self.tmp / "m.csv").read_text().strip().splitlines()), 5)

    def test_005_bad_pdu_mid_stream(self):
        """A damaged PDU in the middle is dropped and counted; the rest arrive, the run ends."""
        tx, rx, sink, dt = self.chain(self.linear, "1/2", "semantic", 1e-3, normalize=False, corrupt_ids={1},
                                        linger=1.0)  # image 1 never arrives: the sink waits 1 s for it
        self.assertEqual(sorted(r["image_id"] for r in sink.results), [0, 2, 3])
        self.assertEqual(rx.n_dropped(), 1)
        self.assertIn("expected a positive multiple of 1536", rx.decoder.last_drop_reason())
        self.assertLess(dt, 10.0)

    def test_006_machine_receivers_accuracy(self):
        """Labels ride in the source .npz; the PHY-like channel drops them (only image_id passes);
        the sink finds the true label by id and scores both receivers: the token classifier
        (semantic) and the image classifier on the reconstruction (Deep JSCC)."""
        from .bundles import CLS_W

        imgs = self.images[:4]
        flat = imgs.transpose(0, 3, 1, 2).reshape(4, -1).astype(np.float32) / 255.0
        labels = np.argmax(flat @ CLS_W, axis=1)
        labels[3] = (labels[3] + 1) % 10  # one wrong on purpose: accuracy 3/4
        npz = self.tmp / "labelled.npz"
        np.savez(npz, images=imgs, labels=labels)
        for codec in ("semantic", "deepjscc"):
            _, rx, sink, _ = self.chain(self.linear, "1/2", codec, 1e-6, normalize=False, source=npz,
                                        drop_keys=("label",))
            self.assertIsNotNone(rx.classifier, codec)
            self.assertEqual(len(sink.labels), 4, codec)
            self.assertAlmostEqual(sink.accuracy(), 0.75, msg=codec)
            self.assertEqual(rx.n_processed(), 4, codec)  # images out, the same count for both codecs

    def test_007_bad_codec(self):
        with self.assertRaises(ValueError):
            semcod_tx(self.linear, "1/2", "jpeg")
