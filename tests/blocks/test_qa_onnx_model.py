"""qa_onnx_model: the generic ONNX block -- roles, batches, shape checks, drops."""
import numpy as np
import pmt
import pytest
from gnuradio import gr, gr_unittest

from gr_semcod.blocks import onnx_model
from gr_semcod.blocks.common import make_pdu
from gr_semcod.runtime import BundleError

from .bundles import N_TOKENS, SIZE, TOKEN_DIM
from .harness import pdus, run_block


class qa_onnx_model(gr_unittest.TestCase):
    @pytest.fixture(autouse=True)
    def _bundle(self, linear_bundle, test_images):
        self.bundle = linear_bundle
        self.images = test_images

    def test_001_f32_to_u8_role(self):
        """detokenizer role: f32 tokens in, u8 HWC image out, values exact."""
        blk = onnx_model(self.bundle, "detokenizer", "f32", "u8")
        img = self.images[0]
        tokens = (img.transpose(2, 0, 1).astype(np.float32) / 255.0).reshape(-1)
        d = run_block(blk, [make_pdu({"image_id": 7}, tokens)])
        (meta, out), = pdus(d["out"])
        self.assertEqual(meta["image_id"], 7)
        np.testing.assert_array_equal(out.reshape(SIZE, SIZE, 3), img)
        self.assertEqual((blk.n_processed(), blk.n_dropped()), (1, 0))

    def test_002_batch_of_three(self):
        """One PDU with 3 images -> one PDU with 3 token sets; batch and extra outputs in metadata."""
        blk = onnx_model(self.bundle, "tokenizer", "u8", "f32")
        batch = self.images[:3]
        d = run_block(blk, [make_pdu({"image_id": np.arange(3), "batch": 3}, batch)])
        (meta, out), = pdus(d["out"])
        self.assertEqual(out.size, 3 * N_TOKENS * TOKEN_DIM)
        self.assertEqual(meta["batch"], 3)
        np.testing.assert_array_equal(meta["sizes"], np.ones(3 * N_TOKENS, np.float32))
        want = (batch.transpose(0, 3, 1, 2).astype(np.float32) / 255.0).reshape(-1)
        np.testing.assert_allclose(out, want, atol=1e-7)

    def test_003_bad_pdus_dropped_and_block_keeps_running(self):
        blk = onnx_model(self.bundle, "detokenizer", "f32", "u8")
        good = make_pdu({"image_id": 1}, np.full(3 * SIZE * SIZE, 0.5, np.float32))
        bad = [
            make_pdu({"image_id": 2}, np.zeros(100, np.float32)),  # wrong size
            make_pdu({"image_id": 3}, np.zeros(3 * SIZE * SIZE, np.uint8)),  # wrong vector type
            make_pdu({"image_id": 4, "batch": 2}, np.zeros(3 * SIZE * SIZE, np.float32)),  # batch mismatch
            pmt.intern("not a pdu"),
            make_pdu({"image_id": 5}, np.full(3 * SIZE * SIZE, np.nan, np.float32)),  # non-finite output
        ]
        d = run_block(blk, bad + [good], expect=len(bad) + 1)
        self.assertEqual(blk.n_dropped(), len(bad))
        self.assertEqual(blk.n_processed(), 1)
        out = pdus(d["out"])
        self.assertEqual([m["image_id"] for m, _ in out], [1])
        drops = [pmt.symbol_to_string(pmt.dict_ref(m, pmt.intern("reason"), pmt.PMT_NIL))
                 for m in (d["drop"].get_message(i) for i in range(d["drop"].num_messages()))]
        self.assertEqual(len(drops), len(bad))
        self.assertIn("expected a positive multiple of 3072", drops[0])
        self.assertIn("not a f32vector", drops[1])
        self.assertIn("batch=2", drops[2])

    def test_004_missing_metadata_input(self):
        """jscc_decoder role needs snr_db from the metadata; without it the PDU is dropped."""
        blk = onnx_model(self.bundle, "jscc_decoder@1/2", "c32", "f32")
        z = np.zeros(1536, np.complex64)
        d = run_block(blk, [make_pdu({"image_id": 1}, z), make_pdu({"image_id": 2, "snr_db": 0.0}, z)], expect=2)
        self.assertEqual(blk.n_dropped(), 1)
        (meta, out), = pdus(d["out"])
        self.assertEqual(meta["image_id"], 2)
        np.testing.assert_allclose(out, 0.5, atol=1e-6)

    def test_005_unknown_role_fails_at_construction(self):
        with self.assertRaises(BundleError):
            onnx_model(self.bundle, "no_such_role", "f32", "f32")
        with self.assertRaises(ValueError):
            onnx_model(self.bundle, "tokenizer", "c32", "f32")  # a c32 input needs (B, k, 2)


class qa_onnx_model_batching(gr_unittest.TestCase):
    @pytest.fixture(autouse=True)
    def _bundle(self, linear_bundle):
        self.bundle = linear_bundle

    def test_001_queued_pdus_share_one_call(self):
        """PDUs queued before the block runs go through ORT together; outputs stay one per PDU,
        in order, values exact; a bad PDU among them is dropped alone."""
        from gnuradio import blocks

        from .harness import collect, post, wait_for

        blk = onnx_model(self.bundle, "detokenizer", "f32", "u8", max_batch=16)
        calls = []
        real_run = blk.bundle.run

        def counting_run(role, **inputs):
            calls.append(next(iter(inputs.values())).shape[0])
            return real_run(role, **inputs)

        blk.bundle.run = counting_run
        try:
            tb = gr.top_block()
            dbgs = collect(tb, {"out": (blk, "out"), "drop": (blk, "drop")})
            rng = np.random.default_rng(9)
            toks = rng.uniform(0, 1, (10, 3072)).astype(np.float32)
            for i in range(10):
                post(blk, "in", make_pdu({"image_id": i}, toks[i] if i != 4 else toks[i][:100]))
            tb.start()
            wait_for(lambda: dbgs["out"].num_messages() + dbgs["drop"].num_messages() >= 10)
            tb.stop()
            tb.wait()
        finally:
            del blk.bundle.run  # back to the class method
        out = pdus(dbgs["out"])
        self.assertEqual([m["image_id"] for m, _ in out], [0, 1, 2, 3, 5, 6, 7, 8, 9])
        for m, img in out:
            want = np.rint(toks[m["image_id"]].reshape(3, 32, 32).transpose(1, 2, 0) * 255).astype(np.uint8)
            np.testing.assert_array_equal(img.reshape(32, 32, 3), want)
        self.assertEqual(blk.n_dropped(), 1)
        self.assertEqual(sum(calls), 9)
        self.assertLess(len(calls), 9)  # batched
