"""Helpers for the PHY tests: make tx waveforms, run the receiver, collect PDUs."""
from __future__ import annotations

import time

import numpy as np
import pmt
from gnuradio import blocks, gr

from gr_semcod.phy.channel import channel
from gr_semcod.phy.header import plan_fragments
from gr_semcod.phy.ofdm_analog_rx import ofdm_analog_rx
from gr_semcod.phy.ofdm_analog_tx import make_pdu, ofdm_analog_tx


def random_symbols(rng, n):
    return ((rng.standard_normal(n) + 1j * rng.standard_normal(n)) / np.sqrt(2)).astype(np.complex64)


class Collector(gr.basic_block):
    """Stores every message received on ``in``."""

    def __init__(self):
        gr.basic_block.__init__(self, "collector", None, None)
        self.msgs = []
        self.message_port_register_in(pmt.intern("in"))
        self.set_msg_handler(pmt.intern("in"), self.handle)

    def handle(self, msg):
        self.msgs.append(msg)


def tx_waveform(images, timeout=30.0, **tx_kwargs):
    """Run the transmitter on ``images`` ([(image_id, symbols)] or [(image_id, symbols, metadata)]); returns (samples, frames) where
    frames is a list of dicts (start, end, image_id, frag_idx, n_frags) in transmit order."""
    tb = gr.top_block()
    tx = ofdm_analog_tx(frame_tags=True, **tx_kwargs)
    snk = blocks.vector_sink_c()
    tb.connect(tx, snk)
    tb.start()
    for iid, x, *meta in images:
        tx.post(make_pdu(iid, x, **(meta[0] if meta else {})))
    n_expected = sum(plan_fragments(len(im[1]), tx.framer.max_payload) for im in images)
    t0 = time.time()
    while time.time() - t0 < timeout:
        starts = [t.offset for t in snk.tags() if pmt.symbol_to_string(t.key) == "semcod_tx_len"]
        if len(starts) == n_expected and len(snk.data()) >= _expected_len(tx, snk):
            break
        time.sleep(0.02)
    tb.stop()
    tb.wait()
    y = np.asarray(snk.data(), np.complex64)
    frames = {}
    for t in snk.tags():
        k = pmt.symbol_to_string(t.key)
        if k in ("image_id", "frag_idx", "n_frags", "payload_len"):
            frames.setdefault(t.offset, {})[k] = pmt.to_long(t.value)
    out = []
    for start in sorted(frames):
        f = frames[start]
        f["start"] = start
        f["end"] = start + tx.frame_samples(f["payload_len"])
        out.append(f)
    assert out and out[-1]["end"] == len(y), (len(y), out[-1] if out else None)
    return y, out


def _expected_len(tx, snk):
    total = 0
    for t in snk.tags():
        if pmt.symbol_to_string(t.key) == "payload_len":
            total += tx.frame_samples(pmt.to_long(t.value))
    return total


def run_rx(samples, chan=None, collect_pdus=False, **rx_kwargs):
    """samples -> [channel] -> ofdm_analog_rx; returns (images, rx) with images a list of
    reassembly.Image (in delivery order, pending ones flushed at the end)."""
    tb = gr.top_block()
    src = blocks.vector_source_c(np.asarray(samples, np.complex64).tolist(), False)
    rx = ofdm_analog_rx(**rx_kwargs)
    rx.deframer.image_log = []
    if chan is not None:
        tb.connect(src, channel(**chan), rx)
    else:
        tb.connect(src, rx)
    col = None
    if collect_pdus:
        col = Collector()
        tb.msg_connect(rx, "images", col, "in")
    tb.run()
    rx.flush()
    rx.collector = col
    return list(rx.deframer.image_log), rx


def pad(y, before=400, after=4000):
    return np.concatenate([np.zeros(before, np.complex64), y, np.zeros(after, np.complex64)])
