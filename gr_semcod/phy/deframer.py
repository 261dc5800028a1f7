"""``ofdm_analog_deframer``: samples + matched-filter detection metric -> image PDUs.

Inputs (both sync, same rate):

0. complex samples as received (any carrier frequency offset within about +-2 subcarriers);
1. the detection metric ``L`` of :class:`gr_semcod.phy.detector.preamble_detector` (float).

Per frame (all vectorised numpy, one call per frame, never per sample):

1. **Detection.**  Every first crossing of ``L > threshold`` (CFAR: ``L`` is normalised by the
   local energy) opens a candidate; its peak is the maximum of ``L`` over the next preamble
   length, re-checked exactly from the samples (:func:`~gr_semcod.phy.detector.window_metric`),
   whose ``angle(D)`` gives the CFO modulo ``fft_len / P`` = 4 subcarriers.
2. **Fine timing + integer CFO.**  The CFO-corrected samples are correlated with the known last
   training symbol + sync word 2 (2 symbols, coherent) at every offset within +-(2P + cp) and for
   CFO hypotheses ``+- 4m`` subcarriers (``cfo_search`` = max m): the best (offset, m) wins.
3. **Fine CFO.**  Slope of the phases of the ``Q`` per-period matched-filter outputs.
4. **Header.**  Channel from sync 2 + training symbols (joint ridge fit in the delay domain),
   matched filter, common phase line through the pilots, soft combining of the code bits'
   copies, gr-fec soft Viterbi, CRC-16 + field consistency.  If the CRC fails, the tentative
   header (re-encoded) serves as training for a better channel/phase estimate and the header is
   decoded again (``header_iterations`` times at most).  Bad headers are counted and dropped.
5. **Payload.**  Channel and noise re-estimated with the verified header as extra training, pilot
   tracking, ZF/MMSE (:class:`gr_semcod.phy.equalizer.FrameEqualizer`), reassembly.

The block keeps its own sample buffer, so a frame split across work() calls, back-to-back
frames and frames separated by gaps are all the same case; candidates are handled one by one
and one is skipped only if it lies inside a frame whose header passed its CRC.

Message output ``images``: one PDU per image (:mod:`gr_semcod.phy.ofdm_analog_rx` documents it).
Message output ``frames``: one PDU per decoded frame if ``emit_frames`` (debugging/metrics).

Counters: ``n_triggers`` (peaks that passed the exact re-check), ``n_frames``, ``n_header_errors``
(CRC or inconsistent fields), ``n_images``, ``n_lost_fragments``, ``n_errors`` (unexpected
exceptions; frame dropped), ``n_bad_payloads``.
"""
from __future__ import annotations

from collections import deque

import numpy as np
import pmt
from gnuradio import gr

# metadata keys of the output PDUs: the contract's (re-exported by gr_semcod.phy)
from ..contract import (KEY_ERASURE_MASK, KEY_FRAG_IDX, KEY_IMAGE_ID, KEY_LOST_FRAGMENTS,  # noqa: F401
                        KEY_MODE, KEY_N_ERASED, KEY_N_FRAGMENTS, KEY_NOISE_VAR, KEY_PHOTO_HEIGHT, KEY_PHOTO_WIDTH,
                        KEY_RX_OFFSET, KEY_SEQ, KEY_SNR_DB, KEY_SYMBOL_NOISE_VAR, PORT_FRAMES, PORT_IMAGES)
from .detector import default_threshold, segment_correlations, window_metric
from .equalizer import FrameEqualizer
from .header import HeaderLayout, unpack_header
from .params import OfdmParams
from .reassembly import Reassembler


class ofdm_analog_deframer(gr.sync_block):
    def __init__(self, params: OfdmParams, header_reps: int = 2, backoff=None, tracking="phase", equalizer="zf",
                 max_payload_symbols=342, max_pending=4, timeout_samples=100000, emit_frames=False,
                 threshold=None, cfo_search=1, fine_search=None, header_iterations=2):
        gr.sync_block.__init__(self, name="ofdm_analog_deframer", in_sig=[np.complex64, np.float32], out_sig=None)
        self.p = p = params
        self.layout = HeaderLayout(p.n_data, header_reps)
        self.nh = self.layout.n_syms
        S, N = p.sym_len, p.fft_len
        self.backoff = p.cp_len // 2 if backoff is None else int(backoff)
        self.eq = FrameEqualizer(p, self.nh, self.backoff, tracking=tracking, equalizer=equalizer)
        self.max_payload_symbols = int(max_payload_symbols)
        self.emit_frames = bool(emit_frames)
        self.threshold = float(threshold) if threshold else default_threshold(p)
        if not 0 < self.threshold < 1:
            raise ValueError(f"threshold must be in (0, 1), got {self.threshold}")
        self.P, self.Q = p.preamble_period, p.preamble_periods
        self.win = self.P * self.Q  # preamble samples (= preamble_len * sym_len)
        self.search = 2 * self.P + p.cp_len if fine_search is None else int(fine_search)
        self.cfo_search = int(cfo_search)
        self._tc = np.arange(self.Q - 1) - (self.Q - 2) / 2.0  # centred period index (fine-CFO fit)
        self._n_sym = np.arange(params.sym_len)
        self.header_iterations = int(header_iterations)
        # fine-timing template: last training symbol + sync word 2, for each integer-CFO hypothesis
        tmpl = np.concatenate([p.time_symbol(p.sync_word1), p.time_symbol(p.sync_word2)]).astype(np.complex128)
        ms = np.arange(-self.cfo_search, self.cfo_search + 1)
        n = np.arange(tmpl.size)
        self._m = ms * (N // self.P)  # subcarriers
        # correlation by FFT (circular over the search segment, exact for its 2W+1 valid lags; not a
        # matrix product: BLAS threads spin against the flowgraph's threads)
        self._seg_len = 2 * S + 2 * self.search
        self._tmpl_f = np.conj(np.fft.fft(tmpl[None, :] * np.exp(2j * np.pi * self._m[:, None] * n[None, :] / N),
                                          self._seg_len, axis=1))
        # samples needed around a frame start s: [s - search, s + (n_sync + nh) S + search)
        self.head = self.search + self.win
        self.margin = 2 * self.win + self.search + 2 * S
        self.reasm = Reassembler(max_pending, timeout_samples)
        # virtual silence before the first sample: a frame may start right at sample 0
        self.buf = np.zeros(self.margin, np.complex64)
        self.lam = np.zeros(self.margin, np.float32)
        self.buf_start = -self.margin
        self.nread = self.nlam = 0  # samples / metric values received
        self.skip_until = 0  # first crossings before this index belong to a handled candidate
        self.triggers = deque()
        self._cache = None
        self.n_triggers = self.n_frames = self.n_header_errors = self.n_images = 0
        self.n_lost_fragments = self.n_errors = self.n_bad_payloads = self.n_candidates = 0
        self.n_header_retries = 0  # headers that passed only after decision-directed re-decoding
        self.header_error_reasons = {}
        #: set to a list to also keep every delivered :class:`~gr_semcod.phy.reassembly.Image` (tests, tools)
        self.image_log = None
        self.message_port_register_out(pmt.intern(PORT_IMAGES))
        self.message_port_register_out(pmt.intern(PORT_FRAMES))

    # ------------------------------------------------------------------------------------------
    def work(self, input_items, output_items):
        x, lam = input_items[0], input_items[1]
        n = len(x)
        if n == 0:
            return 0
        self.buf = np.concatenate([self.buf, x])
        self.lam = np.concatenate([self.lam, lam])
        self.nread += n
        self.nlam += n
        try:
            self._process()
        except Exception as e:  # never stall: drop the offending candidate and go on
            self.n_errors += 1
            gr.log.error(f"ofdm_analog_deframer: {type(e).__name__}: {e}")
            if self.triggers:
                self.triggers.popleft()
            self._cache = None
        for img in self.reasm.expire(self.nread):
            self._publish(img)
        keep = min(self.nread, self.nlam) - self.margin
        if self.triggers:
            keep = min(keep, self.triggers[0][0] - self.head)
        keep = min(keep, self.skip_until - self.win - self.head)  # a peak found later may start a preamble back
        drop = keep - self.buf_start
        if drop > 0:
            self.buf = self.buf[drop:]
            self.lam = self.lam[drop:]
            self.buf_start += drop
        return n

    def _scan(self):
        """New first crossings of the threshold -> candidate peaks (appended to ``triggers``)."""
        lo = max(self.skip_until, self.buf_start)
        look = 2 * self.win  # the peak lies within a preamble length of the first crossing (+ margin)
        top = min(self.nlam, self.nread)
        if top - lo < look:
            return
        seg = self.lam[lo - self.buf_start:top - look - self.buf_start]
        above = np.flatnonzero(seg > self.threshold)
        i = 0
        while i < above.size:
            t1 = lo + int(above[i])
            a = t1 - self.buf_start
            pk = t1 + int(np.argmax(self.lam[a:a + look]))
            self.n_candidates += 1
            self.triggers.append((pk - self.win + 1, pk))  # (coarse frame start, peak)
            self.skip_until = pk + self.win
            i = int(np.searchsorted(above, self.skip_until - lo))
        self.skip_until = max(self.skip_until, top - look)

    def _derot(self, a: int, b: int, s0: int, eps: float) -> np.ndarray:
        """Samples [a, b) with the CFO ``eps`` (subcarriers) removed, phase referenced to ``s0``.
        The phasor ``e^{-j w (n - s0)}`` is built per symbol as an outer product (S + rows complex
        exponentials instead of one per sample)."""
        x = self.buf[a - self.buf_start:b - self.buf_start]
        n, S = b - a, self.p.sym_len
        if eps == 0.0:
            return x.astype(np.complex64)
        w = -2.0 * np.pi * eps / self.p.fft_len
        rows = -(-n // S)
        rot = np.exp(1j * w * (a - s0 + S * np.arange(rows)))[:, None] * np.exp(1j * w * self._n_sym)[None, :]
        return x * rot.reshape(-1)[:n].astype(np.complex64)

    def _acquire(self, s: int, pk: int):
        """Coarse start ``s`` -> (fine start, CFO, derotated [s, s + (n_sync + nh) S)) or None when
        the exact re-check fails."""
        p, S, W = self.p, self.p.sym_len, self.search
        L, D = window_metric(self.buf[s - self.buf_start:pk + 1 - self.buf_start], p)
        if not L > self.threshold:
            return None
        eps = float(np.angle(D)) * p.fft_len / (2 * np.pi * self.P)
        # fine timing + integer CFO: [last training symbol, sync 2] at offsets -W..W
        a = s + (p.preamble_len - 1) * S - W
        seg = self._derot(a, a + 2 * S + 2 * W, s, eps)
        c = np.abs(np.fft.ifft(np.fft.fft(seg)[None, :] * self._tmpl_f, axis=1)[:, :2 * W + 1])  # (M, 2W+1)
        m, k = np.unravel_index(int(np.argmax(c)), c.shape)
        s = s + int(k) - W
        eps += float(self._m[m])
        # fine CFO: slope of the per-period matched-filter phases over the whole preamble
        x = self._derot(s, s + (p.n_sync + self.nh) * S, s, eps)
        cs = segment_correlations(x[:self.win], p)[1:]  # [0] may hold the previous burst's tail
        if cs.size > 2:  # least-squares slope of the phases (unwrapped by summing neighbour differences)
            ph = np.concatenate([[0.0], np.cumsum(np.angle(cs[1:] * np.conj(cs[:-1])))])
            d = float(self._tc @ ph) / float(self._tc @ self._tc) * p.fft_len / (2 * np.pi * self.P)
            eps += d
            rows = x.size // S
            w = -2.0 * np.pi * d / p.fft_len
            x *= (np.exp(1j * w * S * np.arange(rows))[:, None] * np.exp(1j * w * self._n_sym)[None, :]).reshape(-1).astype(np.complex64)
        return s, eps, x

    def _process(self):
        p, S, nh = self.p, self.p.sym_len, self.nh
        ns = p.n_sync
        self._scan()
        while self.triggers:
            s0, pk = self.triggers[0]
            if s0 - self.head < self.buf_start:  # only at the very beginning of the stream
                self.triggers.popleft()
                continue
            if self._cache is None or self._cache[0] != (s0, pk):
                if s0 + (ns + nh) * S + self.head > self.nread:
                    return
                acq = self._acquire(s0, pk)
                if acq is None:
                    self.triggers.popleft()
                    continue
                self.n_triggers += 1
                s, eps, x = acq
                Y = self.eq.fft_symbols(x, 0, ns + nh)
                Ys, Y2, Yh = Y[:p.preamble_len], Y[p.preamble_len], Y[ns:]
                z = self.eq.header_matched(self.eq.header_channel(Y2, Ys), Yh)
                if np.isfinite(z).all():
                    bits = self.layout.decode(z)
                    h, why = unpack_header(bits)
                    for _ in range(self.header_iterations if h is None else 0):
                        # decision-directed: the tentative header (re-encoded) as training for a
                        # better channel and phase estimate, then decode again
                        est, ph = self.eq.estimate(Y2, Yh, self.layout.place(bits))
                        bits = self.layout.decode(self.eq.header_matched_known(est.H, Yh, ph))
                        h, why = unpack_header(bits)
                        if h is not None:
                            self.n_header_retries += 1
                            break
                else:
                    h, why = None, "non-finite samples"
                if h is None or p.n_symbols(h.payload_len) > self.max_payload_symbols:
                    why = why or "payload too long"
                    self.n_header_errors += 1
                    self.header_error_reasons[why] = self.header_error_reasons.get(why, 0) + 1
                    self.triggers.popleft()
                    continue
                self._cache = ((s0, pk), h, Y2, Yh, bits, s, eps)
            _, h, Y2, Yh, bits, s, eps = self._cache
            P = p.n_symbols(h.payload_len)
            a = s + (ns + nh) * S
            end = a + P * S
            if end + self.backoff > self.nread:
                return
            Yp = self.eq.fft_symbols(self._derot(a, end, s, eps), 0, P)
            known = self.layout.place(bits)
            est, ph = self.eq.estimate(Y2, Yh, known)
            X, nv = self.eq.equalize(Yp, est, ph)
            sym = X.reshape(-1)[:h.payload_len].astype(np.complex64)
            nvs = nv.reshape(-1)[:h.payload_len].astype(np.float32)
            self._cache = None
            self.triggers.popleft()
            if not (np.isfinite(sym).all() and np.isfinite(nvs).all() and np.isfinite(est.snr_db)):
                # garbage (NaN/inf) inside the payload: the fragment counts as lost
                self.n_bad_payloads += 1
                continue
            while self.triggers and self.triggers[0][0] < end - S // 2:
                self.triggers.popleft()
            self.skip_until = max(self.skip_until, end - S // 2 + self.win)
            self.n_frames += 1
            if self.emit_frames:
                self._publish_frame(h, sym, nvs, est, s)
            for img in self.reasm.add(h.image_id, h.frag_idx, h.n_frags, h.image_len, sym, nvs, est.snr_db, h.seq, end,
                                      (h.photo_height, h.photo_width, h.mode)):
                self._publish(img)

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

    def stop(self):
        """End of the stream (GNU Radio calls this when the block finishes): every image still
        pending is released, its missing fragments erased -- the last photo of a finite run whose
        last fragment was lost would otherwise never leave (no more samples, no timeout)."""
        try:
            self.flush()
        except Exception as e:  # noqa: BLE001 - never fail the shutdown
            gr.log.error(f"ofdm_analog_deframer: flush at stop: {type(e).__name__}: {e}")
        return True

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
    mask = (pmt.init_u8vector(img.erasure.size, img.erasure.tolist()) if img.erasure.any()
            else pmt.make_u8vector(img.erasure.size, 0))
    d = pmt.dict_add(d, pmt.intern(KEY_ERASURE_MASK), mask)
    d = pmt.dict_add(d, pmt.intern(KEY_N_ERASED), pmt.from_long(int(img.erasure.sum())))
    if img.photo is not None:  # 1 x 1 in the header: the transmitter gave no size
        d = pmt.dict_add(d, pmt.intern(KEY_PHOTO_HEIGHT), pmt.from_long(int(img.photo_height)))
        d = pmt.dict_add(d, pmt.intern(KEY_PHOTO_WIDTH), pmt.from_long(int(img.photo_width)))
    d = pmt.dict_add(d, pmt.intern(KEY_MODE), pmt.from_long(int(img.mode)))
    return pmt.cons(d, pmt.init_c32vector(img.symbols.size, img.symbols.tolist()))


def pdu_to_image(msg) -> dict:
    """Decode an ``images`` PDU into a dict of numpy arrays / Python scalars (for consumers and tests)."""
    meta = pmt.to_python(pmt.car(msg))
    meta["symbols"] = np.asarray(pmt.to_python(pmt.cdr(msg)), np.complex64)
    for k in (KEY_SYMBOL_NOISE_VAR, KEY_LOST_FRAGMENTS, KEY_ERASURE_MASK):
        meta[k] = np.asarray(meta[k])
    return meta
