"""qa_image_sink accounting: sent / received / lost with reasons; bounded state over many images."""
import csv

import numpy as np
import pytest
import pmt
from gnuradio import blocks, gr

from gr_semcod.blocks import image_sink
from gr_semcod.blocks.image_sink import REASON_NOT_RECEIVED

from .harness import image_pdu, post, wait_for


def drop_msg(block, reason, iid):
    d = pmt.make_dict()
    d = pmt.dict_add(d, pmt.intern("block"), pmt.intern(block))
    d = pmt.dict_add(d, pmt.intern("reason"), pmt.intern(reason))
    d = pmt.dict_add(d, pmt.intern("image_id"), pmt.from_long(iid))
    d = pmt.dict_add(d, pmt.intern("count"), pmt.from_long(1))
    return d


def run(sink, msgs, until):
    tb = gr.top_block()
    dbg = blocks.message_debug()
    tb.msg_connect(sink, "metrics", dbg, "store")
    tb.start()
    for port, m in msgs:
        post(sink, port, m)
    assert wait_for(until)
    tb.stop()
    tb.wait()


def test_sent_received_lost_with_reasons(test_images):
    sink = image_sink("", linger=0.5)
    imgs = test_images
    msgs = [("ref", image_pdu(imgs[i % len(imgs)], i)) for i in range(5)]
    msgs += [("in", image_pdu(imgs[i % len(imgs)], i)) for i in (0, 1, 3)]
    msgs += [("drops", drop_msg("semcod_jscc_decoder", "metadata 'snr_db' must be finite", 2))]
    run(sink, msgs, lambda: sink.n_images() == 3 and sink.n_lost() == 1)
    s = sink.summary()
    assert (s["sent"], s["received"], s["lost"], s["in_flight"]) == (5, 3, 1, 1)
    assert s["reasons"] == {"dropped by semcod_jscc_decoder: metadata 'snr_db' must be finite": 1}
    final = sink.summary(final=True)  # end of the run: image 4 never came
    assert (final["lost"], final["in_flight"]) == (2, 0)
    assert final["reasons"][REASON_NOT_RECEIVED] == 1
    line = sink.summary_line()
    assert line.startswith("sent 5, received 3, lost 2 (") and "semcod_jscc_decoder" in line


def test_bounded_state_and_streaming_csv(test_images, tmp_path):
    """3000 images through a sink with keep=64: the kept lists stay at 64, the statistics count
    all 3000, and the CSV has a row per image written as it arrived."""
    csv_path = tmp_path / "m.csv"
    sink = image_sink("", csv_path=str(csv_path), keep=64)
    n = 3000
    rng = np.random.default_rng(0)
    ref = test_images[0]
    noisy = [np.clip(ref.astype(int) + rng.integers(-8, 9, ref.shape), 0, 255).astype(np.uint8) for _ in range(8)]
    tb = gr.top_block()
    dbg = blocks.message_debug()
    tb.msg_connect(sink, "metrics", dbg, "store")
    tb.start()
    for i in range(n):
        post(sink, "ref", image_pdu(ref, i))
        post(sink, "in", image_pdu(noisy[i % 8], i))
        if i % 32 == 31:  # fewer than ``keep`` references ahead of their images
            assert wait_for(lambda: sink.n_images() > i - 16)
        if i == 100:
            assert wait_for(lambda: sink.n_images() > 50)
            with open(csv_path) as f:  # rows are on disk while the run goes on
                assert len(list(csv.DictReader(f))) >= 50
    assert wait_for(lambda: sink.n_images() == n, timeout=120)
    tb.stop()
    tb.wait()
    assert len(sink.results) == 64 and len(sink.received) <= 64 and len(sink.refs) <= 64
    st = sink.stats["psnr_db"]
    assert st.n == n
    from gr_semcod.runtime.metrics import psnr
    exact = [psnr(ref, noisy[i % 8]) for i in range(n)]
    assert abs(st.mean - np.mean(exact)) < 1e-9 * n
    assert abs(st.quantile(0.5) - np.median(exact)) < 0.1
    s = sink.summary(final=True)
    assert (s["sent"], s["received"], s["lost"]) == (n, n, 0)
    with open(csv_path) as f:
        assert len(list(csv.DictReader(f))) == n


def test_id_ledger_without_ref_port(test_images):
    """A receiver without the ref port counts gaps in the ids as lost, a restart as a new sequence."""
    sink = image_sink("")
    # 3 arrives late (out of order), 4 and 7, 8 never; the transmitter restarts; 2 is missing at the end
    ids = [0, 1, 2, 5, 6, 3, 9, 40000, 40001, 40003]
    run(sink, [("in", image_pdu(test_images[0], i)) for i in ids], lambda: sink.n_images() == len(ids))
    s = sink.summary()
    assert (s["sent"], s["received"], s["lost"], s["in_flight"], sink.n_restarts()) == (14, 10, 3, 1, 1)
    s = sink.summary(final=True)
    assert (s["lost"], s["in_flight"]) == (4, 0)
    assert s["reasons"] == {"not received (gap in image_id)": 4}


def test_stand_in_images_count_as_lost_in_either_order(test_images):
    """The digital decoder's stand-in for a failed frame (``fallback`` metadata) is scored but counted
    lost through its drop, whether the drop or the stand-in reaches the sink first; with and without ref."""
    imgs = test_images
    stand_in = lambda i: image_pdu(np.full_like(imgs[0], 90), i, fallback="mean")  # noqa: E731
    drop = lambda i: drop_msg("semcod_digital_decoder", "digital: CRC-32 mismatch", i)  # noqa: E731
    for with_ref in (True, False):
        sink = image_sink("", linger=0.5)
        msgs = [("ref", image_pdu(imgs[i], i)) for i in range(3)] if with_ref else []
        msgs += [("in", image_pdu(imgs[0], 0)), ("in", stand_in(1)), ("drops", drop(1)),
                 ("drops", drop(2)), ("in", stand_in(2))]
        run(sink, msgs, lambda: sink.n_images() == 3 and sink.n_lost() == 2)
        s = sink.summary(final=True)
        assert (s["sent"], s["received"], s["lost"], s["stand_ins"]) == (3, 1, 2, 2), (with_ref, s)
        assert s["reasons"] == {"dropped by semcod_digital_decoder: digital: CRC-32 mismatch": 2}
        assert "2 stand-in image(s)" in sink.summary_line() and "not announced" not in sink.summary_line()


def started_with_a_held_worker(sink, hold_s=10.0):
    """Start ``sink`` in a flowgraph whose metrics worker holds every image until the returned
    event is set (or ``hold_s`` passed); returns ``(top_block, event)``."""
    import threading

    release = threading.Event()
    finish = sink._finish_row

    def slow(*a):
        release.wait(hold_s)
        finish(*a)

    sink._finish_row = slow
    tb = gr.top_block()
    tb.msg_connect(sink, "metrics", blocks.message_debug(), "store")
    tb.start()
    return tb, release


def test_stop_with_a_busy_metrics_worker_says_what_was_not_written(test_images, tmp_path):
    """The flowgraph stops while the metrics worker still holds images: the sink waits
    ``stop_timeout``, then counts and reports the unwritten ones instead of losing them silently."""
    csv_path = tmp_path / "m.csv"
    sink = image_sink("", csv_path=str(csv_path), linger=0.0)
    sink.stop_timeout = 0.2
    tb, release = started_with_a_held_worker(sink, 5.0)
    for i in range(3):
        post(sink, "in", image_pdu(test_images[i % len(test_images)], i))
    assert wait_for(lambda: sink._n_pending == 3)
    tb.stop()
    tb.wait()
    assert sink.n_unfinished() == 3 and sink.summary()["unwritten"] == 3
    assert "3 received image(s) not written" in sink.summary_line()
    release.set()
    assert wait_for(lambda: sink.n_images() == 3)  # the worker still finishes them afterwards
    with open(csv_path) as f:
        assert len(list(csv.DictReader(f))) == 3


def test_stand_ins_stay_out_of_the_delivered_psnr(test_images, tmp_path):
    """The mean PSNR scores delivered images only; the stand-ins of lost ones are in their own,
    clearly named figure and marked ``stand_in`` = 1 in the CSV."""
    from gr_semcod.runtime.metrics import psnr

    imgs = test_images
    csv_path = tmp_path / "m.csv"
    sink = image_sink("", csv_path=str(csv_path), linger=0.5)
    noisy = np.clip(imgs[0].astype(int) + 6, 0, 255).astype(np.uint8)
    grey = np.full_like(imgs[0], 90)
    msgs = [("ref", image_pdu(imgs[i], i)) for i in range(3)]
    msgs += [("in", image_pdu(noisy, 0)), ("in", image_pdu(grey, 1, fallback="mean")),
             ("drops", drop_msg("semcod_digital_decoder", "digital: CRC-32 mismatch", 1)),
             ("in", image_pdu(grey, 2, fallback="mean")),
             ("drops", drop_msg("semcod_digital_decoder", "digital: CRC-32 mismatch", 2))]
    run(sink, msgs, lambda: sink.n_images() == 3 and sink.n_lost() == 2)
    p = [psnr(imgs[0], noisy), psnr(imgs[1], grey), psnr(imgs[2], grey)]
    assert p[0] > p[1] + 5  # the stand-ins would pull the mean down
    assert sink.mean_psnr() == pytest.approx(p[0], abs=1e-6)
    assert sink.mean_psnr_with_stand_ins() == pytest.approx(np.mean(p), abs=1e-6)
    s = sink.summary(final=True)
    assert (s["received"], s["lost"], s["stand_ins"]) == (1, 2, 2)
    with open(csv_path) as f:
        rows = {int(r["image_id"]): r for r in csv.DictReader(f)}
    assert {i: rows[i]["stand_in"] for i in rows} == {0: "0", 1: "1", 2: "1"}


@pytest.mark.parametrize("with_ref", [True, False])
def test_mid_run_summary_is_consistent_while_the_worker_is_busy(test_images, with_ref):
    """Received images and their stand-ins are counted together, at reception: a summary taken
    while the metrics worker still holds the images already counts them (never a negative or
    short 'received'), and it does not change when the worker finishes."""
    imgs = test_images
    sink = image_sink("", linger=0.5)
    tb, release = started_with_a_held_worker(sink)
    try:
        if with_ref:
            for i in range(3):
                post(sink, "ref", image_pdu(imgs[i], i))
        post(sink, "in", image_pdu(imgs[0], 0))
        post(sink, "in", image_pdu(np.full_like(imgs[0], 90), 1, fallback="mean"))
        post(sink, "drops", drop_msg("semcod_digital_decoder", "digital: CRC-32 mismatch", 1))
        post(sink, "in", image_pdu(imgs[2], 2))
        assert wait_for(lambda: sink.n_pending() == 3 and sink.n_lost() == 1)
        busy = sink.summary()
        assert (busy["sent"], busy["received"], busy["received_total"], busy["stand_ins"], busy["lost"]) == \
            (3, 2, 3, 1, 1), busy
        assert sink.n_images() == 0 and sink.n_images_received() == 3  # nothing scored yet, all received
        assert "not announced" not in sink.summary_line()
        release.set()
        assert wait_for(lambda: sink.n_images() == 3 and sink.n_pending() == 0)
        assert sink.summary() == busy
    finally:
        release.set()
        tb.stop()
        tb.wait()
