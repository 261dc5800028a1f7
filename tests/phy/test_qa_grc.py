"""The GRC block YAML loads: a tiny flowgraph using all three blocks compiles with grcc and runs."""
import importlib.util
import os
import shutil
import subprocess
import time

import numpy as np
import pytest
from gnuradio import gr_unittest

from gr_semcod.phy.ofdm_analog_tx import make_pdu

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "grc", "phy_loopback.grc")

pytestmark = pytest.mark.gnuradio


@pytest.mark.skipif(shutil.which("grcc") is None, reason="grcc not installed")
class qa_grc(gr_unittest.TestCase):
    def test_001_compile_and_run(self):
        import tempfile

        out = tempfile.mkdtemp(prefix="semcod-grc-")
        env = dict(os.environ, GRC_BLOCKS_PATH=os.path.join(ROOT, "grc"),
                   PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
        r = subprocess.run(["grcc", "-o", out, GRC], env=env, capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        path = os.path.join(out, "phy_loopback.py")
        self.assertTrue(os.path.exists(path), r.stdout + r.stderr)
        self.assertNotIn("rror", r.stderr)
        spec = importlib.util.spec_from_file_location("phy_loopback", path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        tb = mod.phy_loopback()
        tb.start()
        rng = np.random.default_rng(0)
        x = ((rng.standard_normal(1500) + 1j * rng.standard_normal(1500)) / np.sqrt(2)).astype(np.complex64)
        tb.semcod_ofdm_analog_tx_0.post(make_pdu(42, x))
        tb.semcod_ofdm_analog_tx_0.post(make_pdu(43, x[:100]))  # flushes the pipeline
        t0 = time.time()
        while tb.blocks_message_debug_0.num_messages() < 1 and time.time() - t0 < 20:
            time.sleep(0.05)
        tb.set_snr(20)  # the callback reaches the channel
        tb.stop()
        tb.wait()
        self.assertGreaterEqual(tb.blocks_message_debug_0.num_messages(), 1)
        from gr_semcod.phy import pdu_to_image

        d = pdu_to_image(tb.blocks_message_debug_0.get_message(0))
        self.assertEqual(d["image_id"], 42)
        self.assertEqual(len(d["lost_fragments"]), 0)
        self.assertLess(10 * np.log10(np.mean(np.abs(d["symbols"] - x) ** 2)), -12.0)
        self.assertGreater(d["snr_db"], 13.0)
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    gr_unittest.run(qa_grc)
