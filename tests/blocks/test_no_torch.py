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
