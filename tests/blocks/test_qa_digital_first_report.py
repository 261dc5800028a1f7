"""digital_encoder ``wait_first_report``: the first image may wait for the receiver's report
instead of going at the transmitter's own SNR estimate; the default does not wait."""
import time

import numpy as np
import pytest
from gnuradio import gr

from gr_semcod.baselines import mcs as M
from gr_semcod.blocks import zmq_msg_sink
from gr_semcod.blocks.digital_encoder import digital_encoder
from gr_semcod.pdu import meta_to_pmt
from tests.baselines.fixtures import photo_like

from .harness import collect, image_pdu, pdus, post, run_block, wait_for

pytestmark = pytest.mark.gnuradio


def fading_report():
    """A report whose effective SNRs let 16-QAM 3/4 through and not 64-QAM 3/4 (snr_db=20 alone picks 64-QAM)."""
    th = np.array([m.min_snr_db for m in M.MCS_TABLE])
    eff = np.minimum(th + 1.0, 20.0)
    eff[-1] = th[-1] - 1.0
    return meta_to_pmt({"snr_db": 20.0, "eff_snr_db": eff})


def test_default_does_not_wait():
    enc = digital_encoder("1/6", "jpeg", snr_db=20.0)
    (m0, _), = pdus(run_block(enc, [image_pdu(photo_like(32, 32), 0)])["out"])
    assert M.MCS_TABLE[m0["mode"]].name == "64qam-3/4" and enc.n_report_timeouts() == 0


def test_the_first_image_waits_for_a_report_on_the_snr_port():
    """The report comes on the snr port while the first image waits (the handler serves that port
    during the wait): the first image already goes at the reported MCS."""
    enc = digital_encoder("1/6", "jpeg", snr_db=20.0, wait_first_report=30.0)
    tb = gr.top_block()
    dbg = collect(tb, {"out": (enc, "out")})["out"]
    tb.start()
    try:
        post(enc, "in", image_pdu(photo_like(32, 32), 0))
        time.sleep(0.5)
        assert dbg.num_messages() == 0  # still waiting
        post(enc, "snr", fading_report())
        assert wait_for(lambda: dbg.num_messages() == 1, 20)
    finally:
        tb.stop()
        tb.wait()
    (m0, _), = pdus(dbg)
    assert (M.MCS_TABLE[m0["mode"]].name, enc.n_reports(), enc.n_report_timeouts()) == ("16qam-3/4", 1, 0)


def test_a_wait_without_a_report_ends_logged_and_counted_and_only_the_first_image_waits():
    enc = digital_encoder("1/6", "jpeg", snr_db=20.0, wait_first_report=0.3)
    out = pdus(run_block(enc, [image_pdu(photo_like(32, 32), i) for i in range(3)])["out"])
    assert [m["image_id"] for m, _ in out] == [0, 1, 2]
    assert {M.MCS_TABLE[m["mode"]].name for m, _ in out} == {"64qam-3/4"}  # the SNR estimate's
    assert enc.n_report_timeouts() == 1
    with pytest.raises(ValueError, match="wait_first_report"):
        digital_encoder("1/6", "jpeg", wait_first_report=-1)


def test_a_restarted_transmitter_takes_the_queued_report_for_its_first_image():
    """Split flowgraph: the receiver's zmq_msg_sink queued a report while the transmitter was away;
    the transmitter binds report_address, waits for it and codes its first image at that MCS."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        addr = f"tcp://127.0.0.1:{s.getsockname()[1]}"
    snk = zmq_msg_sink(addr)
    rx = gr.top_block()
    collect(rx, {"drop": (snk, "drop")})
    rx.start()
    try:
        post(snk, "in", fading_report())
        assert wait_for(lambda: snk.n_processed() == 1, 10)
        enc = digital_encoder("1/6", "jpeg", snr_db=20.0, report_address=addr, wait_first_report=30.0)
        (m0, _), = pdus(run_block(enc, [image_pdu(photo_like(32, 32), 0)], timeout=40)["out"])
    finally:
        rx.stop()
        rx.wait()
    assert (M.MCS_TABLE[m0["mode"]].name, enc.n_reports(), enc.n_report_timeouts()) == ("16qam-3/4", 1, 0)


def test_semcod_tx_passes_the_wait_to_its_digital_encoder():
    from gr_semcod.blocks.semcod_tx import semcod_tx

    tx = semcod_tx(codec="digital", cbr="1/6", source_codec="jpeg", wait_first_report=2.5)
    assert tx.stages[-1].wait_first_report == 2.5
    with pytest.raises(ValueError, match="wait_first_report"):
        semcod_tx(codec="digital", cbr="1/6", source_codec="jpeg", wait_first_report=-1)
