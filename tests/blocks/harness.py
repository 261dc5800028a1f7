"""Run message blocks in a real flowgraph and collect what they publish."""
from __future__ import annotations

import time
from typing import Dict, Iterable, List, Sequence, Tuple

import numpy as np
import pmt
from gnuradio import blocks, gr

from gr_semcod.blocks.common import make_pdu, meta_to_python


def post(block, port: str, msg) -> None:
    """Deliver ``msg`` to ``block``'s input ``port`` (Python, hier or C++ block)."""
    target = block
    if isinstance(block, gr.hier_block2):
        raise TypeError("post into the inner block of a hier block")
    target.to_basic_block()._post(pmt.intern(port), msg)


def collect(tb: gr.top_block, outputs: Dict[str, Tuple[object, str]]) -> Dict[str, object]:
    """A ``message_debug`` per named output ``(block, port)``."""
    dbgs = {}
    for name, (blk, port) in outputs.items():
        d = blocks.message_debug()
        tb.msg_connect(blk, port, d, "store")
        dbgs[name] = d
    return dbgs


def wait_for(cond, timeout: float = 20.0, step: float = 0.01) -> bool:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if cond():
            return True
        time.sleep(step)
    return cond()


def messages(dbg) -> List:
    return [dbg.get_message(i) for i in range(dbg.num_messages())]


def pdus(dbg) -> List[Tuple[dict, np.ndarray]]:
    """The stored PDUs as (python metadata, numpy vector)."""
    out = []
    for m in messages(dbg):
        vec = pmt.cdr(m)
        for is_kind, elements, dt in ((pmt.is_u8vector, pmt.u8vector_elements, np.uint8),
                                       (pmt.is_f32vector, pmt.f32vector_elements, np.float32),
                                       (pmt.is_c32vector, pmt.c32vector_elements, np.complex64)):
            if is_kind(vec):
                out.append((meta_to_python(pmt.car(m)), np.asarray(elements(vec), dt)))
                break
    return out


def run_block(block, inputs: Sequence, in_port: str = "in", outputs: Iterable[str] = ("out", "drop"),
              expect: int = None, timeout: float = 20.0, wait_port: str = None):
    """Start a flowgraph around ``block``, post ``inputs`` to ``in_port``, wait, stop.

    Returns ``{port: message_debug}``.  Waits until ``expect`` messages (default: one per
    input) arrived on ``wait_port`` (default: the first output) plus the drops, or timeout.
    """
    tb = gr.top_block()
    dbgs = collect(tb, {p: (block, p) for p in outputs})
    # a block with only message ports needs something in the flowgraph to be scheduled
    tb.start()
    try:
        for m in inputs:
            post(block, in_port, m)
        n = len(inputs) if expect is None else expect
        wp = wait_port or list(outputs)[0]
        wait_for(lambda: sum(dbgs[p].num_messages() for p in dbgs if p in (wp, "drop")) >= n, timeout)
        time.sleep(0.05)
    finally:
        tb.stop()
        tb.wait()
    return dbgs


def image_pdu(img: np.ndarray, image_id: int = 0, **meta):
    h, w, c = img.shape[-3:]
    m = {"image_id": image_id, "height": h, "width": w, "channels": c}
    m.update(meta)
    return make_pdu(m, img.astype(np.uint8))


class pdu_awgn(gr.basic_block):
    """Test helper: complex AWGN of variance ``noise_var`` on c32 PDUs, writes ``snr_db`` metadata."""

    def __init__(self, noise_var: float, snr_db_meta: float = None, seed: int = 0, corrupt_ids=(), drop_keys=()):
        gr.basic_block.__init__(self, name="pdu_awgn", in_sig=None, out_sig=None)
        self.noise_var = float(noise_var)
        self.snr_db_meta = snr_db_meta
        self.rng = np.random.default_rng(seed)
        self.corrupt_ids = set(corrupt_ids)
        self.drop_keys = tuple(drop_keys)
        self.message_port_register_in(pmt.intern("in"))
        self.message_port_register_out(pmt.intern("out"))
        self.set_msg_handler(pmt.intern("in"), self.handle)

    def handle(self, msg):
        meta = meta_to_python(pmt.car(msg))
        for k in self.drop_keys:  # like the PHY, which carries only image_id
            meta.pop(k, None)
        z = np.asarray(pmt.c32vector_elements(pmt.cdr(msg)), np.complex64)
        n = np.sqrt(self.noise_var / 2) * (self.rng.standard_normal(z.size) + 1j * self.rng.standard_normal(z.size))
        meta["snr_db"] = float(-10 * np.log10(self.noise_var)) if self.snr_db_meta is None else self.snr_db_meta
        if meta.get("image_id") in self.corrupt_ids:  # a damaged PDU: truncated, bad metadata
            z, n = z[:-7], n[:-7]
            meta["snr_db"] = "garbage"
        self.message_port_pub(pmt.intern("out"), make_pdu(meta, (z + n).astype(np.complex64)))
