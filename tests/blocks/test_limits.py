"""Limits: oversized PDUs are refused before conversion -- logged, counted, the flowgraph keeps
running -- and the process's peak RSS stays bounded (a 25 MB image PDU used to peak at 5 GB)."""
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pmt
import pytest
from gnuradio import blocks, gr

from gr_semcod.blocks import image_sink, onnx_model
from gr_semcod.blocks.common import PDUError, make_pdu, split_pdu

from .harness import image_pdu, post, wait_for

REPO = Path(__file__).resolve().parents[2]


def test_split_pdu_refuses_before_converting():
    big = pmt.cons(pmt.make_dict(), pmt.make_u8vector(1000, 0))
    with pytest.raises(PDUError, match="1000 items, more than the limit of 999"):
        split_pdu(big, np.uint8, max_items=999)
    assert split_pdu(big, np.uint8, max_items=1000)[1].size == 1000


def test_model_block_and_sink_refuse_oversized_and_go_on(linear_bundle, test_images):
    enc = onnx_model(linear_bundle, "tokenizer", "u8", "f32", max_pdu_batch=2)
    sink = image_sink("", max_image_bytes=32 * 32 * 3)
    tb = gr.top_block()
    dbg = blocks.message_debug()
    tb.msg_connect(enc, "out", dbg, "store")
    tb.msg_connect(sink, "metrics", dbg, "store")
    tb.start()
    three = np.stack(test_images[:3])
    post(enc, "in", make_pdu({"image_id": 0, "batch": 3}, three))  # 3 images > max_pdu_batch 2
    post(enc, "in", image_pdu(test_images[0], 1))
    post(sink, "in", make_pdu({"image_id": 0, "height": 32, "width": 64, "channels": 3},
                              np.zeros((32, 64, 3), np.uint8)))  # 2x the image limit
    post(sink, "in", image_pdu(test_images[0], 1))
    assert wait_for(lambda: enc.n_processed() == 1 and enc.n_dropped() == 1 and sink.n_images() == 1
                    and sink.n_dropped() == 1)
    tb.stop()
    tb.wait()
    assert "more than the limit of 6144" in enc.last_drop_reason()
    assert "more than the limit of 3072" in sink.last_drop_reason()


RSS_SCRIPT = textwrap.dedent("""
    import sys, time
    import pmt
    from gnuradio import blocks, gr
    from gr_semcod.blocks import image_sink, onnx_model, semcod_tx

    def hwm_mb():
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0

    enc = onnx_model(sys.argv[1], "tokenizer", "u8", "f32")
    sink = image_sink("")
    tb = gr.top_block()
    dbg = blocks.message_debug()
    tb.msg_connect(enc, "out", dbg, "store")
    tb.msg_connect(sink, "metrics", dbg, "store")
    tb.start()
    d = pmt.make_dict()
    for k, v in (("image_id", 0), ("height", 4200), ("width", 4200), ("channels", 3)):
        d = pmt.dict_add(d, pmt.intern(k), pmt.from_long(v))
    big = pmt.cons(d, pmt.make_u8vector(4200 * 4200 * 3, 0))  # 53 MB image PDU (limits: 4096x4096)
    time.sleep(0.5)
    base = hwm_mb()
    for _ in range(3):
        enc.to_basic_block()._post(pmt.intern("in"), big)
        sink.to_basic_block()._post(pmt.intern("in"), big)
    t0 = time.time()
    while (enc.n_dropped() < 3 or sink.n_dropped() < 3) and time.time() - t0 < 60:
        time.sleep(0.05)
    tb.stop(); tb.wait()
    print(enc.n_dropped(), sink.n_dropped(), round(hwm_mb() - base, 1))
""")


def test_rss_bounded_under_oversized_pdus(linear_bundle, tmp_path):
    script = tmp_path / "rss.py"
    script.write_text(RSS_SCRIPT)
    r = subprocess.run([sys.executable, str(script), linear_bundle], capture_output=True, text=True, timeout=300,
                       cwd=REPO, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr[-2000:]
    n_enc, n_sink, growth_mb = r.stdout.split()[-3:]
    assert (int(n_enc), int(n_sink)) == (3, 3)
    assert float(growth_mb) < 50.0, f"peak RSS grew by {growth_mb} MB for 53 MB PDUs"
