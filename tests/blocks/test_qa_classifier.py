"""qa_classifier: tokens PDU -> logits PDU with label_pred / label_name."""
import numpy as np
import pytest
from gnuradio import gr_unittest

from gr_semcod.blocks import classifier
from gr_semcod.blocks.common import make_pdu
from gr_semcod.runtime.datasets import CIFAR10_CLASSES

from .bundles import CLS_W
from .harness import pdus, run_block


class qa_classifier(gr_unittest.TestCase):
    @pytest.fixture(autouse=True)
    def _fixtures(self, linear_bundle):
        self.linear = linear_bundle

    def test_001_labels(self):
        blk = classifier(self.linear, "cifar10")
        rng = np.random.default_rng(3)
        toks = rng.uniform(0, 1, (4, 3072)).astype(np.float32)
        d = run_block(blk, [make_pdu({"image_id": i, "label": 2}, toks[i]) for i in range(4)])
        out = sorted(pdus(d["out"]), key=lambda p: p[0]["image_id"])
        want = np.argmax(toks @ CLS_W, axis=1)
        self.assertEqual([m["label_pred"] for m, _ in out], want.tolist())
        self.assertEqual([m["label_name"] for m, _ in out], [CIFAR10_CLASSES[i] for i in want])
        np.testing.assert_allclose(out[0][1], toks[0] @ CLS_W, rtol=1e-4, atol=1e-5)
        self.assertEqual(out[0][0]["label"], 2)

    def test_002_batch_and_custom_names(self):
        blk = classifier(self.linear, ",".join(f"c{i}" for i in range(10)))
        toks = np.random.default_rng(4).uniform(0, 1, (2, 3072)).astype(np.float32)
        d = run_block(blk, [make_pdu({"image_id": np.array([5, 6])}, toks)])
        (meta, logits), = pdus(d["out"])
        want = np.argmax(toks @ CLS_W, axis=1)
        np.testing.assert_array_equal(meta["label_pred"], want)
        self.assertEqual(meta["label_name"], ",".join(f"c{i}" for i in want))
        self.assertEqual(logits.size, 20)


class qa_image_classifier(gr_unittest.TestCase):
    @pytest.fixture(autouse=True)
    def _fixtures(self, linear_bundle, test_images):
        self.linear, self.images = linear_bundle, test_images

    def test_001_labels_from_images_and_manifest_names(self):
        from gr_semcod.blocks import image_classifier

        from .bundles import CLASSES
        from .harness import image_pdu

        blk = image_classifier(self.linear)  # no class names: the manifest's
        d = run_block(blk, [image_pdu(self.images[i], i) for i in range(3)])
        out = sorted(pdus(d["out"]), key=lambda p: p[0]["image_id"])
        flat = self.images[:3].transpose(0, 3, 1, 2).reshape(3, -1).astype(np.float32) / 255.0
        want = np.argmax(flat @ CLS_W, axis=1)
        self.assertEqual([m["label_pred"] for m, _ in out], want.tolist())
        self.assertEqual([m["label_name"] for m, _ in out], [CLASSES[i] for i in want])
        self.assertNotIn("height", out[0][0])

    def test_002_token_classifier_manifest_names(self):
        from .bundles import CLASSES

        blk = classifier(self.linear, "")
        self.assertEqual(list(blk.class_names), CLASSES)
