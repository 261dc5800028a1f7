"""qa_semantic_encoder: image PDU -> tokens PDU."""
import numpy as np
import pytest
from gnuradio import gr_unittest

from gr_semcod.blocks import semantic_encoder

from .bundles import N_TOKENS, TOKEN_DIM
from .harness import image_pdu, pdus, run_block


class qa_semantic_encoder(gr_unittest.TestCase):
    @pytest.fixture(autouse=True)
    def _fixtures(self, linear_bundle, tiny_bundle, test_images):
        self.linear, self.tiny, self.images = linear_bundle, tiny_bundle, test_images

    def test_001_tokens_exact(self):
        blk = semantic_encoder(self.linear)
        d = run_block(blk, [image_pdu(self.images[i], i, label=3) for i in range(2)])
        out = pdus(d["out"])
        self.assertEqual(len(out), 2)
        for i, (meta, tok) in enumerate(out):
            self.assertEqual((meta["image_id"], meta["label"]), (i, 3))  # passed through
            self.assertEqual((meta["n_tokens"], meta["token_dim"]), (N_TOKENS, TOKEN_DIM))
            self.assertEqual(meta["token_sizes"].shape, (N_TOKENS,))
            want = (self.images[i].transpose(2, 0, 1).astype(np.float32) / 255.0).reshape(-1)
            np.testing.assert_allclose(tok, want, atol=1e-7)

    def test_002_real_model_shapes(self):
        """The exported (untrained) ViT tokenizer: 16 merged tokens of dim 32, sizes sum to 16 patches."""
        blk = semantic_encoder(self.tiny)
        d = run_block(blk, [image_pdu(self.images[0], 0)])
        (meta, tok), = pdus(d["out"])
        self.assertEqual((meta["n_tokens"], meta["token_dim"], tok.size), (16, 32, 16 * 32))
        self.assertTrue(np.all(np.isfinite(tok)))
        self.assertEqual(meta["token_sizes"].size, 16)

    def test_003_wrong_image_metadata_dropped(self):
        blk = semantic_encoder(self.linear)
        img = self.images[0]
        bad_meta = image_pdu(img, 1, height=16, width=64)  # right byte count, wrong shape claim
        small = image_pdu(img[:16, :16], 2)
        d = run_block(blk, [small, bad_meta, image_pdu(img, 3)], expect=3)
        self.assertEqual(blk.n_dropped(), 2)
        self.assertEqual([m["image_id"] for m, _ in pdus(d["out"])], [3])
        self.assertIn("the bundle expects 32x32x3", blk.last_drop_reason())
