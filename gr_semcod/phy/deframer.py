"""``ofdm_analog_deframer``: samples + matched-filter detection metric -> image PDUs.

Inputs (both sync, same rate):

0. complex samples as received (any carrier frequency offset within about +-2 subcarriers);
1. the detection metric ``L`` of :class:`gr_semcod.phy.detector.preamble_detector` (float).

Per frame (vectorised numpy, never per sample; steps 2-5 run batched over every frame a work()
call can handle: one numpy call per step for the batch, at most ``max_batch`` headers at once):

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

**Batches.**  GNU Radio hands the block about one frame per call, and a Python call and a
batch of one frame cost far more per frame than a batch of dozens.  With ``min_chunk`` > 0 the
samples are queued (each call only copies them) and decoded once ``min_chunk`` of them are
queued, ``max_latency`` seconds after the last batch, or, from a ticker thread, as soon as no
sample arrived for ``max_latency / 2`` (a stream that pauses).  In a flowgraph the block keeps
the last queued item of both inputs unconsumed (:meth:`forecast` asks for one more metric item
than it holds), so when the upstream block set by :meth:`set_upstream` finishes, GNU Radio
calls it once more and the queue is decoded before the block ends: the last frames of a finite
run reach the blocks downstream.  :meth:`flush` (and the end of the run) decodes the queue too.

The block keeps its own sample buffer, so a frame split across work() calls, back-to-back
frames and frames separated by gaps are all the same case.  The headers of all candidates in
the buffer are decoded together, then the candidates are consumed in order exactly as one by
one (:meth:`ofdm_analog_deframer._walk`): one is skipped only if it lies inside a frame whose
header passed its CRC, and only the consumed ones are counted; the payloads of the accepted
frames are then equalised together.  The chunk size changes no output
(``tests/phy/test_qa_batch.py``).  No BLAS or LAPACK call is on this path (``einsum``,
Gram-Schmidt, Gauss-Jordan): OpenBLAS's worker threads would spin against the flowgraph.

Message output ``images``: one PDU per image (:mod:`gr_semcod.phy.ofdm_analog_rx` documents it).
Message output ``frames``: one PDU per decoded frame if ``emit_frames`` (debugging/metrics).

**Delivery.**  Every decoded frame ends in an image PDU or in a counter with a log line: an
image whose PDU cannot be published is counted in ``n_publish_errors`` (the others still leave);
a ``frames`` PDU that cannot be published (``n_frame_pdu_errors``) still joins its image; at the
end of a finite stream (the upstream finished and its last item is read) the pending images are
released in that last work() call, while the blocks downstream still run; images released only
by :meth:`stop` (the flowgraph stopped from outside) are counted in ``n_released_at_stop``.

Counters: ``n_triggers`` (peaks that passed the exact re-check), ``n_frames``, ``n_header_errors``
(CRC or inconsistent fields), ``n_images`` (published), ``n_lost_fragments``, ``n_errors``
(unexpected exceptions; frame dropped), ``n_bad_payloads``, ``n_publish_errors``,
``n_released_at_stop``, ``n_frame_pdu_errors``; ``n_work_calls`` and ``n_batches`` (header
batches decoded) tell how well the batching works; ``n_samples_done``: samples decoded so far.
"""
from __future__ import annotations

import threading
import time
from collections import deque

import numpy as np
import pmt
from gnuradio import gr

# metadata keys of the output PDUs: the contract's (re-exported by gr_semcod.phy)
from ..contract import (KEY_ERASURE_MASK, KEY_FRAG_IDX, KEY_IMAGE_ID, KEY_LOST_FRAGMENTS,  # noqa: F401
                        KEY_MODE, KEY_N_ERASED, KEY_N_FRAGMENTS, KEY_NOISE_VAR, KEY_PHOTO_HEIGHT, KEY_PHOTO_WIDTH,
                        KEY_RX_OFFSET, KEY_SEQ, KEY_SNR_DB, KEY_SYMBOL_NOISE_VAR, PORT_FRAMES, PORT_IMAGES)
from ..pdu import c32vector, meta_to_python, uvector, vector_to_numpy
from .detector import default_threshold
from .equalizer import FrameEqualizer, einsum
from .header import HEADER_BITS, HeaderLayout, unpack_header
from .params import OfdmParams
from .reassembly import Reassembler


class ofdm_analog_deframer(gr.basic_block):
    def __init__(self, params: OfdmParams, header_reps: int = 2, backoff=None, tracking="phase", equalizer="zf",
                 max_payload_symbols=342, max_pending=4, timeout_samples=100000, emit_frames=False,
                 threshold=None, cfo_search=1, fine_search=None, header_iterations=2, max_batch=64,
                 min_chunk=0, max_latency=0.05):
        gr.basic_block.__init__(self, name="ofdm_analog_deframer", in_sig=[np.complex64, np.float32], out_sig=None)
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
        self._n_sym = np.arange(S)
        self._sym_starts = S * np.arange(self.max_payload_symbols + p.n_sync + self.nh + 8)  # symbol starts of any span
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
        self._acq = {}  # trigger -> its header result (decoded in batches, consumed in order)
        self._counted = set()  # triggers already counted in n_triggers (header passed, payload pending)
        self.max_batch = int(max_batch)
        if self.max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        # deferred processing: samples are queued until min_chunk of them (or max_latency seconds)
        self.min_chunk = int(min_chunk)
        self.max_latency = float(max_latency)
        if self.min_chunk < 0 or not self.max_latency > 0:
            raise ValueError(f"min_chunk must be >= 0 and max_latency > 0, got {min_chunk}, {max_latency}")
        self._queue = []  # (samples, metric) chunks received and not processed yet
        self._n_queued = 0
        self._lock = threading.RLock()  # work(), the latency ticker and flush() share the state
        self._last_run = self._last_call = time.monotonic()
        self.n_samples_done = 0  # samples whose processing has finished (all frames in them decoded)
        self._ticker = None
        self._ticker_stop = threading.Event()
        self._upstream = None  # the block feeding the metric input (set_upstream): its end is the stream's
        self._up_detail = None  # its block_detail, once the flowgraph runs
        self._held = 0  # items of both inputs queued but not consumed: the end of the stream still calls us
        seg = p.preamble_segment.astype(np.complex64)
        self._seg_conj = np.conj(seg)
        self._Ep = float(np.vdot(seg, seg).real)
        self.n_triggers = self.n_frames = self.n_header_errors = self.n_images = 0
        self.n_lost_fragments = self.n_errors = self.n_bad_payloads = self.n_candidates = 0
        self.n_header_retries = 0  # headers that passed only after decision-directed re-decoding
        self.n_publish_errors = 0  # released images whose PDU could not be published (each logged)
        self.n_released_at_stop = 0  # images released by stop(), not at the stream's end in work()
        self.n_frame_pdu_errors = 0  # ``frames`` PDUs that could not be published (the frame still counts)
        self._ended = False  # the end of the stream was handled in work()
        self.header_error_reasons = {}
        self.n_work_calls = self.n_batches = 0  # work() calls; header batches decoded (their mean size: speed)
        #: set to a list to also keep every delivered :class:`~gr_semcod.phy.reassembly.Image` (tests, tools)
        self.image_log = None
        self.message_port_register_out(pmt.intern(PORT_IMAGES))
        self.message_port_register_out(pmt.intern(PORT_FRAMES))
        # No outputs: GNU Radio's scheduler starts from max_noutput_items and halves it down to 1,
        # asking forecast() each time (~27 Python calls from the default 10^8), before it decides
        # the block waits for input; with 1 it asks once.  noutput_items means nothing here.
        self.set_max_noutput_items(1)

    # ------------------------------------------------------------------------------------------
    def set_upstream(self, block) -> None:
        """``block`` produces the metric input (the later of the two to end).  In a flowgraph the
        deframer then keeps its last queued item unconsumed, so GNU Radio calls it once more when
        ``block`` has finished and the queued frames are decoded before the deframer ends (its
        messages reach the blocks downstream)."""
        self._upstream = block
        self._up_detail = None

    def _upstream_detail(self):
        """The upstream block's ``block_detail`` (None before the flowgraph runs), fetched once:
        ``detail()`` costs about 0.2 ms through the bindings, and the scheduler asks
        :meth:`forecast` several times per work() call (``done()`` on the kept object: 0.2 us)."""
        if self._up_detail is None and self._upstream is not None:
            self._up_detail = self._upstream.detail()
        return self._up_detail

    def _upstream_done(self) -> bool:
        """True when the upstream block has finished (or is not known / not running)."""
        try:
            d = self._upstream_detail() if self.min_chunk > 0 else None
            return d is None or bool(d.done())
        except Exception:  # noqa: BLE001 - unknown: do not hold items back
            return True

    def forecast(self, noutput_items, ninputs):
        """One new metric item beyond the held ones, unless the upstream has finished."""
        if self._held and not self._upstream_done():
            return [self._held, self._held + 1][:ninputs]
        return [1] * ninputs

    def general_work(self, input_items, output_items):
        x, lam = input_items[0], input_items[1]
        n = min(len(x), len(lam))
        done = self._upstream_done()
        new = n - self._held
        if new > 0:
            self.work([x[self._held:n], lam[self._held:n]], output_items, flush=done)
        elif done and self._held:
            with self._lock:
                self._run_queued()
        keep = 0 if done or not self._n_queued else 1
        if done and not self._ended and self._stream_ended(n):
            self._end_of_stream()
        self.consume(0, n - keep)
        self.consume(1, n - keep)
        self._held = keep
        return 0

    def _stream_ended(self, n: int) -> bool:
        """True when the upstream block set by :meth:`set_upstream` has finished and this call
        holds the last of the items it wrote (nothing more will arrive)."""
        if self._upstream is None:
            return False
        try:
            d = self._upstream_detail()
            return d is not None and bool(d.done()) and self.nitems_read(1) + n >= d.nitems_written(0)
        except Exception:  # noqa: BLE001 - unknown: stop() releases the rest
            return False

    def work(self, input_items, output_items, flush=False):
        """Queue the samples and metric of one call; decode the queue once it holds ``min_chunk``
        samples, ``max_latency`` s after the last batch, or with ``flush``.  Returns the count."""
        x, lam = input_items[0], input_items[1]
        n = len(x)
        if n == 0:
            return 0
        self.n_work_calls += 1
        self._last_call = time.monotonic()
        with self._lock:
            # copies: GNU Radio reuses its buffers once the items are consumed
            self._queue.append((np.array(x, np.complex64), np.array(lam, np.float32)))
            self._n_queued += n
            if flush or self._n_queued >= self.min_chunk or time.monotonic() - self._last_run >= self.max_latency:
                self._run_queued()
        return n

    def _run_queued(self):
        """Process every queued chunk as one (the caller holds ``_lock``)."""
        self._last_run = time.monotonic()
        if not self._queue:
            return
        q, self._queue, n = self._queue, [], self._n_queued
        self._n_queued = 0
        self.buf = np.concatenate([self.buf] + [c[0] for c in q])
        self.lam = np.concatenate([self.lam] + [c[1] for c in q])
        self.nread += n
        self.nlam += n
        try:
            self._process()
        except Exception as e:  # never stall: drop the offending candidate and go on
            self.n_errors += 1
            gr.log.error(f"ofdm_analog_deframer: {type(e).__name__}: {e}")
            if self.triggers:
                self.triggers.popleft()
            self._acq.clear()
            self._counted.clear()
        self._deliver(self.reasm.expire(self.nread))
        keep = min(self.nread, self.nlam) - self.margin
        if self.triggers:
            keep = min(keep, self.triggers[0][0] - self.head)
        keep = min(keep, self.skip_until - self.win - self.head)  # a peak found later may start a preamble back
        drop = keep - self.buf_start
        if drop > 0:
            self.buf = self.buf[drop:]
            self.lam = self.lam[drop:]
            self.buf_start += drop
        self.n_samples_done = self.nread

    def start(self):
        """With ``min_chunk``: a ticker decodes the queued samples ``max_latency`` after the last
        batch, or as soon as no sample arrived for ``max_latency / 2`` (the stream paused or
        ended), so nothing waits longer than that."""
        self._up_detail = None  # a (re)started flowgraph gives its blocks new details
        self._ended = False
        if self.min_chunk > 0 and self._ticker is None:
            self._ticker_stop.clear()
            self._ticker = threading.Thread(target=self._tick, name="semcod_deframer_ticker", daemon=True)
            self._ticker.start()
        return True

    def _due(self, now: float) -> bool:
        return bool(self._n_queued) and (now - self._last_run >= self.max_latency
                                         or now - self._last_call >= self.max_latency / 2)

    def _tick(self):
        while not self._ticker_stop.wait(self.max_latency / 10):
            if self._due(time.monotonic()):
                try:
                    with self._lock:
                        if self._due(time.monotonic()):
                            self._run_queued()
                except Exception as e:  # noqa: BLE001 - the ticker must survive
                    gr.log.error(f"ofdm_analog_deframer: ticker: {type(e).__name__}: {e}")

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
            pk = self._peak_after(t1, look, top)
            if pk is None:  # the peak may lie beyond the metric received so far: look again later
                self.skip_until = t1
                return
            self.n_candidates += 1
            self.triggers.append((pk - self.win + 1, pk))  # (coarse frame start, peak)
            self.skip_until = pk + self.win
            i = int(np.searchsorted(above, self.skip_until - lo))
        self.skip_until = max(self.skip_until, top - look)

    def _peak_after(self, t1: int, look: int, top: int):
        """The candidate peak of a first crossing at ``t1``: the maximum of ``L`` over
        ``[t1, t1 + look)``, then followed uphill until no larger value lies within a preamble
        length after it; None if that needs metric values at or beyond ``top``.

        The climb matters when the crossing is not the preamble's own: a stray crossing (the tail
        of a payload before a guard, a truncated burst) a few hundred samples before a frame
        would otherwise put the peak on the rising edge of the frame's metric -- a coarse start
        further off than fine timing searches -- and hide the frame's own peak behind it
        (``skip_until``): the frame was lost to two header CRC failures."""
        lam, b, win = self.lam, self.buf_start, self.win
        pk = t1 + int(np.argmax(lam[t1 - b:t1 - b + look]))
        while True:
            if pk + win > top:
                return None
            nxt = pk + 1 + int(np.argmax(lam[pk + 1 - b:pk + win - b]))
            if not lam[nxt - b] > lam[pk - b]:
                return pk
            pk = nxt

    def _derot(self, a: np.ndarray, n: int, s0: np.ndarray, eps: np.ndarray) -> np.ndarray:
        """Samples ``[a_f, a_f + n)`` of F frames (F, n) with their CFOs ``eps_f`` (subcarriers)
        removed, phases referenced to ``s0_f``: ``x[t] e^{-j w (t - s0)}``, ``w = 2 pi eps / fft_len``.
        The phasor is an outer product per symbol, ``e^{-j w (a - s0 + S r)} e^{-j w m}`` (S + rows
        complex exponentials per frame instead of one per sample)."""
        S = self.p.sym_len
        rows = -(-n // S)
        x = _stack([self.buf[i:i + n] for i in (a - self.buf_start).tolist()])
        w = (-2j * np.pi / self.p.fft_len) * eps[:, None]
        rot = np.exp(w * ((a - s0)[:, None] + self._sym_starts[:rows]))[:, :, None] * np.exp(w * self._n_sym)[:, None, :]
        return x * rot.reshape(len(a), -1)[:, :n].astype(np.complex64)

    def _phasor(self, n: int, eps: np.ndarray) -> np.ndarray:
        """``e^{-j 2 pi eps t / fft_len}`` for t = 0..n-1 (F, n), complex64, as :meth:`_derot`'s."""
        S = self.p.sym_len
        rows = -(-n // S)
        w = (-2j * np.pi / self.p.fft_len) * eps[:, None]
        rot = np.exp(w * self._sym_starts[:rows])[:, :, None] * np.exp(w * self._n_sym)[:, None, :]
        return rot.reshape(len(eps), -1)[:, :n].astype(np.complex64)

    def _acquire(self, cands):
        """Candidates ``[(coarse start, peak)]`` -> per candidate None (the exact re-check failed)
        or (fine start, CFO, derotated [s, s + (n_sync + nh) S)), all frames at once."""
        p, S, W, P, Q = self.p, self.p.sym_len, self.search, self.P, self.Q
        s = np.array([c[0] for c in cands], np.int64)
        # exact re-check of the peak: L and D of the preamble window (detector.window_metric, batched)
        xw = _stack([self.buf[i:i + self.win] for i in (s - self.buf_start).tolist()])
        c = einsum("fqp,p->fq", xw.reshape(-1, Q, P), self._seg_conj)
        D = np.sum(c[:, 1:] * np.conj(c[:, :-1]), axis=1)
        E = einsum("fi,fi->f", xw.real.astype(np.float64), xw.real) + einsum("fi,fi->f", xw.imag.astype(np.float64), xw.imag)
        with np.errstate(invalid="ignore", divide="ignore"):
            L = np.where(E > 0, np.abs(D) / (self._Ep * E), 0.0)
        ok = np.flatnonzero(L > self.threshold)
        out = [None] * len(cands)
        if ok.size == 0:
            return out
        s, D = s[ok], D[ok]
        eps = np.angle(D) * (p.fft_len / (2 * np.pi * P))
        # fine timing + integer CFO: [last training symbol, sync 2] at offsets -W..W
        a = s + (p.preamble_len - 1) * S - W
        seg = self._derot(a, 2 * S + 2 * W, s, eps)
        cc = np.abs(np.fft.ifft(np.fft.fft(seg, axis=1)[:, None, :] * self._tmpl_f[None], axis=2)[:, :, :2 * W + 1])
        m, k = np.divmod(np.argmax(cc.reshape(len(s), -1), axis=1), 2 * W + 1)  # (F,): hypothesis, offset
        s = s + k - W
        eps = eps + self._m[m]
        n = (p.n_sync + self.nh) * S
        x = self._derot(s, n, s, eps)
        # fine CFO: slope of the per-period matched-filter phases over the whole preamble
        if Q - 1 > 2:
            cs = einsum("fqp,p->fq", x[:, :self.win].reshape(-1, Q, P), self._seg_conj)[:, 1:]  # [0]: maybe the previous burst
            ph = np.concatenate([np.zeros((len(s), 1)), np.cumsum(np.angle(cs[:, 1:] * np.conj(cs[:, :-1])), axis=1)], axis=1)
            d = einsum("fq,q->f", ph, self._tc) * (p.fft_len / (2 * np.pi * P * float(np.sum(self._tc ** 2))))
            eps = eps + d
            x *= self._phasor(n, d)
        for j, i in enumerate(ok):
            out[i] = (int(s[j]), float(eps[j]), x[j])
        return out

    def _decode_headers(self, cands):
        """Candidates -> per candidate None (no preamble on re-check), (None, reason) for a bad
        header, or (Header, Y2, Yh, bits, fine start, CFO); every step batched over candidates."""
        p, nh, ns, pl = self.p, self.nh, self.p.n_sync, self.p.preamble_len
        acq = self._acquire(cands)
        idx = [i for i, r in enumerate(acq) if r is not None]
        out = [None] * len(cands)
        if not idx:
            return out
        Y = self.eq.fft_symbols(_stack([acq[i][2] for i in idx]), 0, ns + nh)  # (F, ns + nh, fft_len)
        Ys, Y2, Yh = Y[:, :pl], Y[:, pl], Y[:, ns:]
        z = self.eq.header_matched(self.eq.header_channel(Y2, Ys), Yh)
        fin = np.isfinite(z).all(axis=1)
        bits = np.zeros((len(idx), HEADER_BITS), np.uint8)
        if fin.any():
            bits[fin] = self.layout.code.decode_many(self._combine(z[fin]))
        for j, i in enumerate(idx):
            if not fin[j]:
                out[i] = (None, "non-finite samples")
                continue
            b = bits[j]
            h, why = unpack_header(b)
            for _ in range(self.header_iterations if h is None else 0):
                # decision-directed: the tentative header (re-encoded) as training for a better
                # channel and phase estimate, then decode again
                est, ph = self.eq.estimate(Y2[j:j + 1], Yh[j:j + 1], self.layout.place(b)[None])
                b = self.layout.decode(self.eq.header_matched_known(est.H, Yh[j:j + 1], ph)[0])
                h, why = unpack_header(b)
                if h is not None:
                    self.n_header_retries += 1
                    break
            if h is not None and p.n_symbols(h.payload_len) > self.max_payload_symbols:
                h, why = None, "payload too long"
            out[i] = (h, why) if h is None else (h, Y2[j], Yh[j], b, acq[i][0], acq[i][1])
        return out

    def _combine(self, z: np.ndarray) -> np.ndarray:
        """(F, header carriers) matched-filter outputs -> (F, code bits) soft values: every code
        bit's copies added (``HeaderLayout.combine`` for F frames in one ``bincount``; a matrix
        product this size would wake BLAS threads that then spin against the flowgraph's)."""
        F, C = z.shape[0], self.layout.code.n_coded
        k = (self.layout.perm[None, :] + C * np.arange(F)[:, None]).ravel()
        return np.bincount(k, weights=z.real.ravel(), minlength=F * C).reshape(F, C)

    def _pop(self):
        self._acq.pop(self.triggers.popleft(), None)

    def _process(self):
        """Candidates in order, exactly as one by one; the heavy steps run batched: the headers of
        every candidate whose header is in the buffer (:meth:`_decode_headers`), then the payloads
        of every frame accepted on the way (:meth:`_payloads`)."""
        self._scan()
        batch = []
        try:
            self._walk(batch)
        finally:  # frames accepted before an error are delivered all the same
            if batch:
                self._payloads(batch)

    def _walk(self, batch):
        """Consume the triggers in order (header results from the batch cache ``_acq``): drop
        failed ones, count header errors, append accepted frames whose payload is in the buffer
        to ``batch``; stop at the first trigger that needs more samples."""
        p, S, nh = self.p, self.p.sym_len, self.nh
        ns = p.n_sync
        while self.triggers:
            t = self.triggers[0]
            if t[0] - self.head < self.buf_start:  # only at the very beginning of the stream
                self._pop()
                continue
            if t not in self._acq:
                if t[0] + (ns + nh) * S + self.head > self.nread:
                    break
                ready = []
                for c in self.triggers:
                    if len(ready) >= self.max_batch or c[0] + (ns + nh) * S + self.head > self.nread:
                        break
                    if c not in self._acq:
                        ready.append(c)
                self._acq.update(zip(ready, self._decode_headers(ready)))
                self.n_batches += 1
            r = self._acq[t]
            if r is None:  # the exact re-check failed
                self._pop()
                continue
            if r[0] is None:
                self.n_triggers += 1
                self.n_header_errors += 1
                self.header_error_reasons[r[1]] = self.header_error_reasons.get(r[1], 0) + 1
                self._pop()
                continue
            h, s = r[0], r[4]
            if t not in self._counted:
                self._counted.add(t)
                self.n_triggers += 1
            a = s + (ns + nh) * S
            end = a + p.n_symbols(h.payload_len) * S
            if end + self.backoff > self.nread:
                break
            self._counted.discard(t)
            self._pop()
            if not np.isfinite(self.buf[a - self.buf_start:end - self.buf_start]).all():
                # garbage (NaN/inf) inside the payload: the fragment counts as lost
                self.n_bad_payloads += 1
                continue
            while self.triggers and self.triggers[0][0] < end - S // 2:
                self._counted.discard(self.triggers[0])
                self._pop()
            self.skip_until = max(self.skip_until, end - S // 2 + self.win)
            batch.append(r)

    def _payloads(self, frames):
        """Accepted frames -> equalised payloads -> reassembly, in order; the channel estimates,
        FFTs and equalisation of all frames with the same number of payload symbols at once."""
        p, S, nh, ns = self.p, self.p.sym_len, self.nh, self.p.n_sync
        groups = {}
        for i, r in enumerate(frames):
            groups.setdefault(p.n_symbols(r[0].payload_len), []).append(i)
        res = [None] * len(frames)
        for P, members in groups.items():
            rs = [frames[i] for i in members]
            try:
                s = np.array([r[4] for r in rs], np.int64)
                eps = np.array([r[5] for r in rs])
                Yp = self.eq.fft_symbols(self._derot(s + (ns + nh) * S, P * S, s, eps), 0, P)
                known = _stack([self.layout.place(r[3]) for r in rs])
                est, ph = self.eq.estimate(_stack([r[1] for r in rs]), _stack([r[2] for r in rs]), known)
                X, nv = self.eq.equalize(Yp, est, ph)
            except Exception as e:  # never stall: these frames are lost, counted, logged
                self.n_errors += 1
                gr.log.error(f"ofdm_analog_deframer: {len(rs)} payloads dropped: {type(e).__name__}: {e}")
                continue
            X = X.reshape(len(rs), -1).astype(np.complex64)
            nv = nv.reshape(len(rs), -1).astype(np.float32)
            for j, i in enumerate(members):
                res[i] = (X[j], nv[j], float(est.snr_db[j]))
        for r, out in zip(frames, res):
            if out is None:
                self.n_bad_payloads += 1
                continue
            X, nv, snr_db = out
            h, s = r[0], r[4]
            sym, nvs = X[:h.payload_len], nv[:h.payload_len]
            if not (np.isfinite(sym).all() and np.isfinite(nvs).all() and np.isfinite(snr_db)):
                self.n_bad_payloads += 1
                continue
            self.n_frames += 1
            end = s + (ns + nh + p.n_symbols(h.payload_len)) * S
            if self.emit_frames:
                try:  # a frame PDU that cannot be published costs that PDU only: the frame still joins its image
                    self._publish_frame(h, sym, nvs, snr_db, s)
                except Exception as e:  # noqa: BLE001 - never stall the receiver
                    self.n_frame_pdu_errors += 1
                    gr.log.error(f"ofdm_analog_deframer: frame PDU of image {h.image_id} fragment {h.frag_idx} not "
                                 f"published ({self.n_frame_pdu_errors} so far): {type(e).__name__}: {e}")
            try:  # one frame that cannot be reassembled costs that frame only (logged, counted), not the batch's rest
                imgs = self.reasm.add(h.image_id, h.frag_idx, h.n_frags, h.image_len, sym, nvs, snr_db, h.seq,
                                      end, (h.photo_height, h.photo_width, h.mode))
            except Exception as e:  # noqa: BLE001 - never stall the receiver
                self.n_errors += 1
                gr.log.error(f"ofdm_analog_deframer: frame of image {h.image_id} fragment {h.frag_idx} dropped: "
                             f"{type(e).__name__}: {e}")
                continue
            self._deliver(imgs)

    # ------------------------------------------------------------------------------------------
    def _publish_frame(self, h, sym, nvs, snr_db, s):
        d = pmt.make_dict()
        for k, v in h.__dict__.items():
            d = pmt.dict_add(d, pmt.intern(k), pmt.from_long(int(v)))
        d = pmt.dict_add(d, pmt.intern(KEY_SNR_DB), pmt.from_double(snr_db))
        d = pmt.dict_add(d, pmt.intern(KEY_NOISE_VAR), pmt.from_double(float(np.mean(nvs))))
        d = pmt.dict_add(d, pmt.intern(KEY_SYMBOL_NOISE_VAR), uvector(np.asarray(nvs, np.float32)))
        d = pmt.dict_add(d, pmt.intern(KEY_RX_OFFSET), pmt.from_uint64(int(s)))
        self.message_port_pub(pmt.intern(PORT_FRAMES), pmt.cons(d, c32vector(sym)))

    def _deliver(self, imgs) -> int:
        """Publish released images, each on its own: one that cannot be published (its PDU cannot
        be built or posted) is logged with its id and the reason and counted in
        ``n_publish_errors`` -- it is never dropped silently, and it costs no other image.
        Returns the number published."""
        ok = 0
        for img in imgs:
            try:
                pdu = image_to_pdu(img)
                self.message_port_pub(pmt.intern(PORT_IMAGES), pdu)
            except Exception as e:  # noqa: BLE001 - never stall the receiver
                self.n_publish_errors += 1
                gr.log.error(f"ofdm_analog_deframer: image {img.image_id} ({img.n_fragments} fragments) could not be "
                             f"published, lost ({self.n_publish_errors} so far): {type(e).__name__}: {e}")
                continue
            ok += 1
            self.n_images += 1
            self.n_lost_fragments += len(img.lost)
            if self.image_log is not None:
                self.image_log.append(img)
        return ok

    def flush(self):
        """Process the queued samples, then release every pending image now (end of a
        recording); returns those images as well."""
        with self._lock:
            self._run_queued()
            imgs = self.reasm.flush_all()
            self._deliver(imgs)
        return imgs

    def _end_of_stream(self) -> None:
        """The last work() call of a finite stream (every item the upstream will ever write has
        been read): decode the queue and release every pending image *now*, while the blocks
        downstream still run -- released later, in :meth:`stop`, an image reaches a downstream
        block that may already have finished, and would be lost there."""
        imgs = self.flush()
        self._ended = True
        if imgs:
            gr.log.info(f"ofdm_analog_deframer: end of stream: {len(imgs)} pending image(s) released")

    def stop(self):
        """End of the stream (GNU Radio calls this when the block finishes): every image still
        pending is released, its missing fragments erased -- the last photo of a finite run whose
        last fragment was lost would otherwise never leave (no more samples, no timeout)."""
        self._ticker_stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=5)
            self._ticker = None
        try:
            imgs = self.flush()
        except Exception as e:  # noqa: BLE001 - never fail the shutdown
            imgs = []
            gr.log.error(f"ofdm_analog_deframer: flush at stop: {type(e).__name__}: {e}")
        if imgs:
            # the stream's end was not seen in work() (stopped from outside, or no upstream known):
            # blocks downstream that already finished do not get these -- say so, count them
            self.n_released_at_stop += len(imgs)
            gr.log.warn(f"ofdm_analog_deframer: {len(imgs)} image(s) released at stop(), ids "
                        f"{[int(i.image_id) for i in imgs]}: delivered only to blocks still running")
        return True

    def counters(self) -> dict:
        return dict(triggers=self.n_triggers, frames=self.n_frames, header_errors=self.n_header_errors,
                    images=self.n_images, lost_fragments=self.n_lost_fragments, errors=self.n_errors,
                    duplicates=self.reasm.n_duplicates, bad_payloads=self.n_bad_payloads,
                    publish_errors=self.n_publish_errors, released_at_stop=self.n_released_at_stop,
                    frame_pdu_errors=self.n_frame_pdu_errors)


def _stack(arrays):
    """``np.stack`` of equal-shape arrays; a view for a single one (the common batch of one frame
    costs no copy and none of ``np.stack``'s checks)."""
    return arrays[0][None] if len(arrays) == 1 else np.stack(arrays)


def image_to_pdu(img) -> "pmt.pmt_t":
    d = pmt.make_dict()
    d = pmt.dict_add(d, pmt.intern(KEY_IMAGE_ID), pmt.from_long(int(img.image_id)))
    d = pmt.dict_add(d, pmt.intern(KEY_SNR_DB), pmt.from_double(float(img.snr_db)))
    d = pmt.dict_add(d, pmt.intern(KEY_NOISE_VAR), pmt.from_double(float(img.mean_noise_var)))
    d = pmt.dict_add(d, pmt.intern(KEY_SYMBOL_NOISE_VAR), uvector(np.asarray(img.noise_var, np.float32)))
    d = pmt.dict_add(d, pmt.intern(KEY_N_FRAGMENTS), pmt.from_long(int(img.n_fragments)))
    lost = np.asarray(img.lost, np.int32)
    d = pmt.dict_add(d, pmt.intern(KEY_LOST_FRAGMENTS), pmt.init_s32vector(lost.size, lost.tolist()))
    mask = uvector(np.asarray(img.erasure, np.uint8))
    d = pmt.dict_add(d, pmt.intern(KEY_ERASURE_MASK), mask)
    d = pmt.dict_add(d, pmt.intern(KEY_N_ERASED), pmt.from_long(int(img.erasure.sum())))
    if img.photo is not None:  # 1 x 1 in the header: the transmitter gave no size
        d = pmt.dict_add(d, pmt.intern(KEY_PHOTO_HEIGHT), pmt.from_long(int(img.photo_height)))
        d = pmt.dict_add(d, pmt.intern(KEY_PHOTO_WIDTH), pmt.from_long(int(img.photo_width)))
    d = pmt.dict_add(d, pmt.intern(KEY_MODE), pmt.from_long(int(img.mode)))
    return pmt.cons(d, c32vector(img.symbols))


def pdu_to_image(msg) -> dict:
    """Decode an ``images`` PDU into a dict of numpy arrays / Python scalars (for consumers and tests)."""
    meta = meta_to_python(pmt.car(msg))
    meta["symbols"] = vector_to_numpy(pmt.cdr(msg), np.complex64)
    for k in (KEY_SYMBOL_NOISE_VAR, KEY_LOST_FRAGMENTS, KEY_ERASURE_MASK):
        meta[k] = np.asarray(meta[k])
    return meta
