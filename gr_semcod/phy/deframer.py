"""``ofdm_analog_deframer``: Schmidl & Cox triggers + CFO-corrected samples -> image PDUs.

Inputs (both sync, same rate):

0. complex samples, already de-rotated by the Schmidl & Cox fine CFO estimate
   (``ofdm_sync_sc_cfb`` output 0 -> ``frequency_modulator_fc(-2/fft_len)`` -> multiply);
1. the ``ofdm_sync_sc_cfb`` trigger stream (1 = start of the second sync symbol).

The block keeps its own sample buffer, so a frame (or a sync plateau) split across work()
calls, back-to-back frames and frames separated by gaps are all the same case; triggers are
handled independently (no header/payload demux that could swallow the next trigger), and a
trigger is skipped only if it lies inside a frame whose header passed its CRC.  All per-frame
processing is vectorised numpy (:class:`gr_semcod.phy.equalizer.FrameEqualizer`).

Message output ``images``: one PDU per image (:mod:`gr_semcod.phy.ofdm_analog_rx` documents it).
Message output ``frames``: one PDU per decoded frame if ``emit_frames`` (debugging/metrics).

Counters: ``n_triggers``, ``n_frames``, ``n_header_errors`` (CRC or inconsistent fields),
``n_images``, ``n_lost_fragments``, ``n_errors`` (unexpected exceptions; frame dropped).
"""
from __future__ import annotations

from collections import deque

import numpy as np
import pmt
from gnuradio import gr

# metadata keys of the output PDUs: the contract's (re-exported by gr_semcod.phy)
from ..contract import (KEY_ERASURE_MASK, KEY_FRAG_IDX, KEY_IMAGE_ID, KEY_LOST_FRAGMENTS,  # noqa: F401
                        KEY_N_ERASED, KEY_N_FRAGMENTS, KEY_NOISE_VAR, KEY_RX_OFFSET, KEY_SEQ, KEY_SNR_DB,
                        KEY_SYMBOL_NOISE_VAR, PORT_FRAMES, PORT_IMAGES)
from .equalizer import FrameEqualizer
from .header import HeaderLayout, unpack_header
from .params import OfdmParams
from .reassembly import Reassembler


def trigger_delay(fft_len: int, cp_len: int) -> int:
    """Trigger position relative to the start of the frame (first sample of sync 1's CP), as
    measured on the loopback for ``ofdm_sync_sc_cfb``: ``trigger = frame_start + trigger_delay``."""
    return fft_len + cp_len - cp_len // 2


class ofdm_analog_deframer(gr.sync_block):
    def __init__(self, params: OfdmParams, header_reps: int = 2, backoff=None, tracking="phase", equalizer="zf",
                 max_payload_symbols=342, max_pending=4, timeout_samples=100000, emit_frames=False,
                 trigger_offset=None, fine_search=None):
        gr.sync_block.__init__(self, name="ofdm_analog_deframer", in_sig=[np.complex64, np.uint8], out_sig=None)
        self.p = params
        self.layout = HeaderLayout(params.n_data, header_reps)
        self.nh = self.layout.n_syms
        S = params.sym_len
        self.backoff = params.cp_len // 2 if backoff is None else int(backoff)
        self.eq = FrameEqualizer(params, self.nh, self.backoff, tracking=tracking, equalizer=equalizer)
        self.max_payload_symbols = int(max_payload_symbols)
        self.emit_frames = bool(emit_frames)
        self.trig_off = -(trigger_delay(params.fft_len, params.cp_len) if trigger_offset is None else int(trigger_offset))
        self.search = params.cp_len if fine_search is None else int(fine_search)
        self.margin = -self.trig_off + S + self.search
        # time-domain sync word 2 (without CP) for fine timing
        self._w2c = np.fft.ifft(params.sync_word2).astype(np.complex64)  # np.correlate conjugates
        self.reasm = Reassembler(max_pending, timeout_samples)
        # virtual silence before the first sample: a frame may start right at sample 0
        self.buf = np.zeros(self.margin, np.complex64)
        self.buf_start = -self.margin
        self.nread = 0
        self.triggers = deque()
        self._cache = None
        self.n_triggers = self.n_frames = self.n_header_errors = self.n_images = 0
        self.n_lost_fragments = self.n_errors = self.n_bad_payloads = 0
        self.header_error_reasons = {}
        #: set to a list to also keep every delivered :class:`~gr_semcod.phy.reassembly.Image` (tests, tools)
        self.image_log = None
        self.message_port_register_out(pmt.intern(PORT_IMAGES))
        self.message_port_register_out(pmt.intern(PORT_FRAMES))

    # ------------------------------------------------------------------------------------------
    def work(self, input_items, output_items):
        x, tr = input_items[0], input_items[1]
        n = len(x)
        if n == 0:
            return 0
        self.buf = np.concatenate([self.buf, x])
        idx = np.flatnonzero(tr)
        if idx.size:
            self.triggers.extend((idx + self.nread).tolist())
            self.n_triggers += int(idx.size)
        self.nread += n
        try:
            self._process()
        except Exception as e:  # never stall: drop the offending trigger and go on
            self.n_errors += 1
            gr.log.error(f"ofdm_analog_deframer: {type(e).__name__}: {e}")
            if self.triggers:
                self.triggers.popleft()
            self._cache = None
        for img in self.reasm.expire(self.nread):
            self._publish(img)
        keep = self.nread - self.margin
        if self.triggers:
            keep = min(keep, self.triggers[0] + self.trig_off - self.search)
        drop = keep - self.buf_start
        if drop > 0:
            self.buf = self.buf[drop:]
            self.buf_start += drop
        return n

    def _process(self):
        p, S, nh = self.p, self.p.sym_len, self.nh
        while self.triggers:
            t = self.triggers[0]
            s = t + self.trig_off
            if s - self.search < self.buf_start:  # only at the very beginning of the stream
                self.triggers.popleft()
                continue
            if self._cache is None or self._cache[0] != t:
                if s + (2 + nh) * S + self.search > self.nread:
                    return
                s = self._fine_timing(s)
                Y = self.eq.fft_symbols(self.buf, s - self.buf_start + S, 1 + nh)
                soft = self.layout.combine(self.eq.header_matched(Y[0], Y[1:]))
                if np.isfinite(soft).all():
                    bits = (soft < 0).astype(np.uint8)
                    h, why = unpack_header(bits)
                else:
                    h, why = None, "non-finite samples"
                if h is None or p.n_symbols(h.payload_len) > self.max_payload_symbols:
                    why = why or "payload too long"
                    self.n_header_errors += 1
                    self.header_error_reasons[why] = self.header_error_reasons.get(why, 0) + 1
                    self.triggers.popleft()
                    continue
                self._cache = (t, h, Y, bits, s)
            _, h, Y, bits, s = self._cache
            P = p.n_symbols(h.payload_len)
            end = s + (2 + nh + P) * S
            if end > self.nread:
                return
            Yp = self.eq.fft_symbols(self.buf, s - self.buf_start + (2 + nh) * S, P)
            known = self.layout.place(bits)
            est, ph = self.eq.estimate(Y[0], Y[1:], known)
            X, nv = self.eq.equalize(Yp, est, ph)
            sym = X.reshape(-1)[:h.payload_len].astype(np.complex64)
            nvs = nv.reshape(-1)[:h.payload_len].astype(np.float32)
            self._cache = None
            self.triggers.popleft()
            if not (np.isfinite(sym).all() and np.isfinite(nvs).all() and np.isfinite(est.snr_db)):
                # garbage (NaN/inf) inside the payload: the fragment counts as lost
                self.n_bad_payloads += 1
                continue
            while self.triggers and self.triggers[0] + self.trig_off < end - S // 2:
                self.triggers.popleft()
            self.n_frames += 1
            if self.emit_frames:
                self._publish_frame(h, sym, nvs, est, s)
            for img in self.reasm.add(h.image_id, h.frag_idx, h.n_frags, h.image_len, sym, nvs, est.snr_db, h.seq, end):
                self._publish(img)

    def _fine_timing(self, s: int) -> int:
        """Refine the frame start by correlating with sync word 2 over +-search samples
        (the Schmidl & Cox plateau is flat over the CP and can split in noise)."""
        W, p = self.search, self.p
        if W <= 0:
            return s
        a = s - self.buf_start + p.sym_len + p.cp_len - W
        seg = self.buf[a:a + 2 * W + p.fft_len]
        c = np.abs(np.correlate(seg, self._w2c, "valid"))
        return s + int(np.argmax(c)) - W

    # ------------------------------------------------------------------------------------------
    def _publish_frame(self, h, sym, nvs, est, s):
        d = pmt.make_dict()
        for k, v in h.__dict__.items():
            d = pmt.dict_add(d, pmt.intern(k), pmt.from_long(int(v)))
        d = pmt.dict_add(d, pmt.intern(KEY_SNR_DB), pmt.from_double(est.snr_db))
        d = pmt.dict_add(d, pmt.intern(KEY_NOISE_VAR), pmt.from_double(float(np.mean(nvs))))
        d = pmt.dict_add(d, pmt.intern(KEY_SYMBOL_NOISE_VAR), pmt.init_f32vector(nvs.size, nvs.tolist()))
        d = pmt.dict_add(d, pmt.intern(KEY_RX_OFFSET), pmt.from_uint64(int(s)))
        self.message_port_pub(pmt.intern(PORT_FRAMES), pmt.cons(d, pmt.init_c32vector(sym.size, sym.tolist())))

    def _publish(self, img):
        self.n_images += 1
        self.n_lost_fragments += len(img.lost)
        if self.image_log is not None:
            self.image_log.append(img)
        self.message_port_pub(pmt.intern(PORT_IMAGES), image_to_pdu(img))

    def flush(self):
        """Release every pending image now (end of a recording); returns them as well."""
        imgs = self.reasm.flush_all()
        for img in imgs:
            self._publish(img)
        return imgs

    def counters(self) -> dict:
        return dict(triggers=self.n_triggers, frames=self.n_frames, header_errors=self.n_header_errors,
                    images=self.n_images, lost_fragments=self.n_lost_fragments, errors=self.n_errors,
                    duplicates=self.reasm.n_duplicates, bad_payloads=self.n_bad_payloads)


def image_to_pdu(img) -> "pmt.pmt_t":
    d = pmt.make_dict()
    d = pmt.dict_add(d, pmt.intern(KEY_IMAGE_ID), pmt.from_long(int(img.image_id)))
    d = pmt.dict_add(d, pmt.intern(KEY_SNR_DB), pmt.from_double(float(img.snr_db)))
    d = pmt.dict_add(d, pmt.intern(KEY_NOISE_VAR), pmt.from_double(float(img.mean_noise_var)))
    d = pmt.dict_add(d, pmt.intern(KEY_SYMBOL_NOISE_VAR), pmt.init_f32vector(img.noise_var.size, img.noise_var.tolist()))
    d = pmt.dict_add(d, pmt.intern(KEY_N_FRAGMENTS), pmt.from_long(int(img.n_fragments)))
    lost = np.asarray(img.lost, np.int32)
    d = pmt.dict_add(d, pmt.intern(KEY_LOST_FRAGMENTS), pmt.init_s32vector(lost.size, lost.tolist()))
    d = pmt.dict_add(d, pmt.intern(KEY_ERASURE_MASK), pmt.init_u8vector(img.erasure.size, img.erasure.tolist()))
    d = pmt.dict_add(d, pmt.intern(KEY_N_ERASED), pmt.from_long(int(img.erasure.sum())))
    return pmt.cons(d, pmt.init_c32vector(img.symbols.size, img.symbols.tolist()))


def pdu_to_image(msg) -> dict:
    """Decode an ``images`` PDU into a dict of numpy arrays / Python scalars (for consumers and tests)."""
    meta = pmt.to_python(pmt.car(msg))
    meta["symbols"] = np.asarray(pmt.to_python(pmt.cdr(msg)), np.complex64)
    for k in (KEY_SYMBOL_NOISE_VAR, KEY_LOST_FRAGMENTS, KEY_ERASURE_MASK):
        meta[k] = np.asarray(meta[k])
    return meta
