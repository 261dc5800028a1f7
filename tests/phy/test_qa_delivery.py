"""No decoded image is lost silently: it is delivered on ``images``, or counted (``counters()``)
and logged with its reason.

* An image whose PDU cannot be published is counted in ``publish_errors`` and costs no other image.
* A frame PDU (``emit_frames``) that cannot be published still joins its image.
* At the end of a finite run the images still pending (their last fragment lost) are released in
  the receiver's last work() call, while the blocks downstream still run -- not in stop(), after
  which a downstream block that already finished would drop them.
"""
import numpy as np
import pmt
import pytest
from gnuradio import blocks, gr

import gr_semcod.phy.deframer as deframer_mod
from gr_semcod.phy.deframer import ofdm_analog_deframer, pdu_to_image
from gr_semcod.phy.detector import detection_metric
from gr_semcod.phy.drain import defer_done
from gr_semcod.phy.ofdm_analog_rx import ofdm_analog_rx
from gr_semcod.phy.params import make_params

from .phyutil import Collector, pad, random_symbols, tx_waveform

pytestmark = pytest.mark.gnuradio


class DrainingCollector(Collector):
    """A downstream message block as gr-semcod's are: it finishes only once its queue is empty."""

    def __init__(self):
        Collector.__init__(self)
        defer_done(self, lambda: self.nmsgs(pmt.intern("in")) == 0)


@pytest.fixture(scope="module")
def three_images():
    rng = np.random.default_rng(21)
    imgs = [(i, random_symbols(rng, 2000)) for i in range(3)]  # 3 fragments each
    y, frames = tx_waveform(imgs)
    return imgs, pad(y), frames


def _deframe(y, **kw):
    p = make_params()
    d = ofdm_analog_deframer(p, **kw)
    d.image_log = []
    d.work([y, detection_metric(y, p).astype(np.float32)], [])
    d.flush()
    return d


def test_image_that_cannot_be_published_is_counted_and_costs_no_other(three_images, monkeypatch):
    imgs, y, _ = three_images
    real = deframer_mod.image_to_pdu

    def failing(img):
        if img.image_id == 1:
            raise MemoryError("no room for the PDU")
        return real(img)

    monkeypatch.setattr(deframer_mod, "image_to_pdu", failing)
    d = _deframe(y)
    c = d.counters()
    assert c["frames"] == 9 and c["errors"] == 0, c
    assert c["publish_errors"] == 1 and c["images"] == 2, c
    assert sorted(g.image_id for g in d.image_log) == [0, 2]
    for g in d.image_log:
        np.testing.assert_allclose(g.symbols, imgs[g.image_id][1], atol=1e-3)


def test_frame_pdu_failure_keeps_the_frame_in_its_image(three_images, monkeypatch):
    imgs, y, _ = three_images

    def failing(self, h, *a):
        if h.frag_idx == 1:
            raise RuntimeError("port gone")
        return real(self, h, *a)

    real = ofdm_analog_deframer._publish_frame
    monkeypatch.setattr(ofdm_analog_deframer, "_publish_frame", failing)
    d = _deframe(y, emit_frames=True)
    c = d.counters()
    assert c["frame_pdu_errors"] == 3 and c["images"] == 3 and c["lost_fragments"] == 0, c
    assert all(not g.lost for g in d.image_log)


def test_end_of_run_images_are_released_while_downstream_runs(three_images):
    """The last fragment of the last image lost, the stream ends right after: the image is
    released at the end of the stream in work(), and a draining downstream block gets it."""
    imgs, _, frames = three_images
    y, _ = tx_waveform(imgs)
    last = frames[-1]
    y = pad(y[:last["start"]], 400, 2000)  # 2000 samples of silence: far below the timeout
    for trial in range(3):
        tb = gr.top_block()
        rx = ofdm_analog_rx()
        rx.deframer.image_log = []
        col = DrainingCollector()
        tb.connect(blocks.vector_source_c(y.tolist(), False), rx)
        tb.msg_connect(rx, "images", col, "in")
        tb.run()
        c = rx.counters()
        assert c["released_at_stop"] == 0, c
        got = {m["image_id"]: m for m in map(pdu_to_image, col.msgs)}
        assert sorted(got) == [0, 1, 2], (trial, sorted(got), c)
        assert list(got[2]["lost_fragments"]) == [last["frag_idx"]]
        assert c["images"] == 3 and c["publish_errors"] == 0


def test_images_released_at_stop_are_counted(three_images):
    """Without an upstream to watch (a deframer fed by hand) the pending image leaves at stop():
    counted in ``released_at_stop`` (downstream blocks that finished would not get it)."""
    imgs, _, frames = three_images
    y, _ = tx_waveform(imgs)
    y = pad(y[:frames[-1]["start"]], 400, 2000)
    p = make_params()
    d = ofdm_analog_deframer(p)
    d.image_log = []
    d.work([y, detection_metric(y, p).astype(np.float32)], [])
    assert sorted(g.image_id for g in d.image_log) == [0, 1]
    d.stop()
    assert sorted(g.image_id for g in d.image_log) == [0, 1, 2]
    assert d.counters()["released_at_stop"] == 1
