"""The radio side never imports torch: blocks, demo, serve and bench e2e load without it."""
import subprocess
import sys


def test_blocks_do_not_import_torch():
    code = ("import sys; import gr_semcod.blocks, gr_semcod.blocks.image_display, gr_semcod.demo, "
            "gr_semcod.serve, gr_semcod.bench.e2e, gr_semcod.contract, gr_semcod.rates, gr_semcod.pdu, "
            "gr_semcod.runtime.datasets, gr_semcod.bench.metrics, gr_semcod.runtime.semantic2, "
            "gr_semcod.runtime.flag_coder, gr_semcod.evaluation.fullsize, gr_semcod.bench.sideinfo; "
            "bad = [m for m in ('torch', 'timm', 'torchvision') if m in sys.modules]; "
            "assert not bad, bad")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]


def test_digital_chain_does_not_import_torch():
    """The digital baseline (blocks, link, LDPC, MCS bench, eval rows) loads and runs without torch."""
    code = ("import sys, numpy as np; from gr_semcod.blocks import digital_encoder, digital_decoder; "
            "import gr_semcod.baselines.digital, gr_semcod.bench.mcs, gr_semcod.evaluation.digital_rows; "
            "digital_encoder('1/12', 'heif'); digital_decoder('1/12', 'avif'); "
            "gr_semcod.baselines.digital.transmit_images(np.full((2, 32, 32, 3), 99, np.uint8), '1/6', 20.0, 'heif'); "
            "bad = [m for m in ('torch', 'timm', 'torchvision') if m in sys.modules]; "
            "assert not bad, bad")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
