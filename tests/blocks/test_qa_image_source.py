"""qa_image_source: folders with corrupt files, npz with labels, finite mode, rate limit, batches."""
import time

import numpy as np
import pytest
from gnuradio import blocks, gr, gr_unittest

from gr_semcod.blocks import image_source
from gr_semcod.runtime.images import save_png

from .harness import pdus


def run_source(src, timeout=20.0):
    """Finite source alone in a flowgraph: tb.run() must return on its own."""
    tb = gr.top_block()
    dbg = blocks.message_debug()
    tb.msg_connect(src, "out", dbg, "store")
    t0 = time.monotonic()
    tb.start()
    done = False
    while time.monotonic() - t0 < timeout:
        if src.finished() and dbg.num_messages() >= src.n_processed():
            done = True
            break
        time.sleep(0.01)
    tb.stop()
    tb.wait()
    return dbg, time.monotonic() - t0, done


class qa_image_source(gr_unittest.TestCase):
    @pytest.fixture(autouse=True)
    def _fixtures(self, tmp_path, test_images):
        self.tmp, self.images = tmp_path, test_images

    def folder(self, n=4, corrupt=True):
        d = self.tmp / "imgs"
        for i in range(n):
            save_png(d / f"im{i}.png", self.images[i])
        if corrupt:
            (d / "im9_corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
        return d

    def test_001_folder_with_corrupt_file(self):
        src = image_source(str(self.folder()), 32)
        self.assertEqual((src.n_images(), src.n_dropped()), (4, 1))
        self.assertIn("im9_corrupt.png", src.last_drop_reason())
        dbg, _, done = run_source(src)
        self.assertTrue(done)
        out = pdus(dbg)
        self.assertEqual([m["image_id"] for m, _ in out], [0, 1, 2, 3])
        for i, (m, v) in enumerate(out):
            self.assertEqual((m["height"], m["width"], m["channels"]), (32, 32, 3))
            np.testing.assert_array_equal(v.reshape(32, 32, 3), self.images[i])
            self.assertIn("tx_time", m)

    def test_001b_photos_keep_their_size_limit_refuses_and_names(self):
        d = self.tmp / "photos"
        rng = np.random.default_rng(0)
        odd = rng.integers(0, 256, (45, 71, 3), dtype=np.uint8)
        save_png(d / "a_odd.png", odd)
        save_png(d / "b_wide.png", rng.integers(0, 256, (20, 130, 3), dtype=np.uint8))
        (d / "c_corrupt.jpg").write_bytes(b"\xff\xd8\xff garbage")
        src = image_source(str(d), max_side=128)  # size 0 (the default): native size
        self.assertEqual((src.n_images(), src.n_dropped()), (1, 2))
        self.assertEqual(len(src.skipped), 2)
        self.assertIn("b_wide.png' is 130x20, larger than the limit of 128x128", src.skipped[0] + src.skipped[1])
        self.assertTrue(any("c_corrupt.jpg" in r for r in src.skipped))
        dbg, _, done = run_source(src)
        ((m, v),) = pdus(dbg)
        self.assertEqual((m["height"], m["width"]), (45, 71))  # odd sizes kept (the tiler pads)
        np.testing.assert_array_equal(v.reshape(45, 71, 3), odd)
        self.assertEqual(image_source(str(d), 32, max_side=128).images[0].shape, (32, 32, 3))  # size still resizes
        with self.assertRaises(ValueError):
            image_source(str(d), max_side=5000)

    def test_002_npz_labels_start_id_limit(self):
        p = self.tmp / "set.npz"
        np.savez(p, images=self.images, labels=np.arange(len(self.images)) + 10)
        src = image_source(str(p), 0, limit=3, start_id=100)
        dbg, _, _ = run_source(src)
        out = pdus(dbg)
        self.assertEqual([(m["image_id"], m["label"]) for m, _ in out], [(100, 10), (101, 11), (102, 12)])

    def test_003_rate_limit(self):
        src = image_source(str(self.folder(corrupt=False)), 32, rate=20.0)
        dbg, elapsed, done = run_source(src)
        self.assertTrue(done)
        self.assertEqual(dbg.num_messages(), 4)
        self.assertGreaterEqual(elapsed, 3 / 20.0 - 0.01)  # 4 images at 20/s span >= 150 ms

    def test_004_batch(self):
        src = image_source(str(self.folder(corrupt=False)), 32, batch=2)
        dbg, _, _ = run_source(src)
        out = pdus(dbg)
        self.assertEqual(len(out), 2)
        self.assertEqual(out[1][0]["batch"], 2)
        np.testing.assert_array_equal(out[1][0]["image_id"], [2, 3])
        self.assertEqual(out[1][1].size, 2 * 32 * 32 * 3)

    def test_005_finite_flowgraph_ends(self):
        """Finite mode marks the block done: tb.run() returns without stop()."""
        src = image_source(str(self.folder(corrupt=False)), 32)
        tb = gr.top_block()
        dbg = blocks.message_debug()
        tb.msg_connect(src, "out", dbg, "store")
        t0 = time.monotonic()
        tb.run()
        self.assertLess(time.monotonic() - t0, 10.0)
        self.assertEqual(dbg.num_messages(), 4)

    def test_006_repeat_loops_with_new_ids(self):
        src = image_source(str(self.folder(n=2, corrupt=False)), 32, repeat=True, rate=200.0)
        tb = gr.top_block()
        dbg = blocks.message_debug()
        tb.msg_connect(src, "out", dbg, "store")
        tb.start()
        time.sleep(0.2)
        tb.stop()
        tb.wait()
        ids = [m["image_id"] for m, _ in pdus(dbg)]
        self.assertGreater(len(ids), 4)
        self.assertEqual(ids, list(range(len(ids))))

    def test_007_errors_at_construction(self):
        (self.tmp / "empty").mkdir()
        with self.assertRaises(Exception):
            image_source(str(self.tmp / "empty"))
        with self.assertRaises(ValueError):
            image_source(str(self.folder()), repeat=True, rate=0)


def test_fashion_mnist_is_zero_padded():
    """Fashion-MNIST 28x28 grey -> RGB, zero-padded and centred to 32x32, pixels exact."""
    import os

    from gr_semcod.runtime.datasets import FASHION_MNIST_DIR, load_images

    if not os.path.isdir(FASHION_MNIST_DIR):
        pytest.skip("dataset-fashion-mnist not installed")
    raw = load_images(FASHION_MNIST_DIR, limit=3)
    for src in (image_source(FASHION_MNIST_DIR, 32, limit=3), image_source(FASHION_MNIST_DIR, limit=3)):  # size 0 too
        assert src.labels == [int(v) for v in raw.labels]
        for im, r in zip(src.images, raw.images):
            assert im.shape == (32, 32, 3)
            np.testing.assert_array_equal(im[2:30, 2:30], r)
            assert im[:2].max() == 0 and im[:, :2].max() == 0
