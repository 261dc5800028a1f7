"""``ofdm_analog_rx``: OFDM receiver for analog (JSCC) symbols, a ``gr.hier_block2``.

Input: complex baseband samples (from :class:`gr_semcod.phy.channel.channel`, a file, ZMQ
or a USRP), the waveform of :class:`gr_semcod.phy.ofdm_analog_tx.ofdm_analog_tx` with the
same numerology.  Any amount of noise, gaps and garbage in between is fine.

PDU interface
-------------
Message output ``images``: one PDU per image, ``pmt.cons(meta, c32vector)``:

============================  ==========================================================
``image_id``                  int, from the header
``snr_db``                    float, estimated per-carrier Es/N0 (mean over fragments)
``noise_var``                 float, mean post-equaliser noise variance of the received
                              symbols (unit-power symbols: ``10^(-snr_db/10)`` on a flat
                              channel)
``symbol_noise_var``          f32vector, post-equaliser noise variance of every symbol
                              (``1e6`` where erased) — what a JSCC decoder conditions on
``n_fragments``               int, fragments of the image
``lost_fragments``            s32vector, indices of the fragments that never arrived
``erasure_mask``              u8vector, 1 for every erased (zero) symbol
``n_erased``                  int, number of erased symbols
``photo_height``,             int, the photo's own size from the headers (absent when the
``photo_width``               transmitter gave no size: 1 x 1 in the header)
``mode``                      int 0..255, the codec's mode from the headers
============================  ==========================================================

The vector holds the equalised symbols, in transmit order, zeros where erased.  No decision
is ever taken on them.  An image is released when all its fragments arrived, when its last
fragment arrived (fragments are sent in order: one missing then is lost), when too many
other images are open (``max_pending``), or ``timeout_samples`` after its last fragment; the
rest is released at the end of a finite stream, in the deframer's last work() call (while the
blocks downstream still run), or by :meth:`flush`.  No image leaves silently: one whose PDU cannot
be published is logged and counted (``publish_errors``), and images released only when the
flowgraph is stopped from outside are counted in ``released_at_stop``.

Message output ``frames`` (if ``emit_frames``): one PDU per decoded frame with the header
fields, ``snr_db``, ``noise_var``, ``symbol_noise_var`` and ``rx_offset`` (sample index).

Chain: :class:`~gr_semcod.phy.detector.preamble_detector` (C++ blocks: matched filter against
the periodic preamble, CFO-invariant coherent sum, local-energy normalisation = CFAR metric)
-> deframer (Python, vectorised numpy batched over the frames of each queued batch: peak
re-check, CFO, fine timing, integer CFO, FFT, soft header decoding with gr-fec's Viterbi,
channel estimate, pilot tracking, equalisation, reassembly; see :mod:`gr_semcod.phy.deframer` and :mod:`gr_semcod.phy.equalizer`).
Counters: :meth:`counters` (triggers, frames, header_errors, images, lost_fragments, errors,
duplicates, bad_payloads, publish_errors, released_at_stop, frame_pdu_errors).
"""
from __future__ import annotations

from gnuradio import blocks, gr

from .deframer import ofdm_analog_deframer
from .detector import preamble_detector
from .params import make_params


class ofdm_analog_rx(gr.hier_block2):
    """Args:
        fft_len, cp_len, occupied_carriers, pilot_carriers: as the transmitter.
        threshold: detection threshold on the CFAR metric (0..1); 0 or None = the default for the
            preamble length (no false alarm on 10^7 noise samples, detection down to -3 dB).
        preamble_len: short training symbols (as the transmitter).
        cfo_search: integer-CFO hypotheses +-4m subcarriers tried at fine timing (m = 0..cfo_search).
        tracking: "phase" (linear fit of the pilots' common phase; static channels) or
            "pilots" (per-symbol pilot gains interpolated across frequency; fading).
        equalizer: "zf" (unbiased) or "mmse".
        max_pending, timeout_samples: reassembly (see above).
        emit_frames: publish per-frame PDUs on ``frames``.
        min_chunk: the deframer queues samples until this many arrived, then decodes all their
            frames as one batch (GNU Radio hands it about one frame per call; a batch of ~45
            frames costs about a sixth per frame, docs/phy.md); 0 decodes on every call.
        max_latency: seconds after the last batch when queued samples are decoded however few
            they are; a stream that pauses (no sample for ``max_latency / 2``) or ends has its
            last frames decoded then: nothing waits longer.
        buffer_samples: the deframer's input buffers (items): the chain upstream keeps running
            while a batch is decoded.
    """

    def __init__(self, fft_len=64, cp_len=16, occupied_carriers=None, pilot_carriers=None, threshold=0.0,
                 tracking="phase", equalizer="zf", max_pending=4, timeout_samples=100000, emit_frames=False,
                 header_reps=2, preamble_len=3, cfo_search=1, min_chunk=1 << 17, max_latency=0.1,
                 buffer_samples=1 << 17):
        gr.hier_block2.__init__(self, "ofdm_analog_rx", gr.io_signature(1, 1, gr.sizeof_gr_complex),
                                gr.io_signature(0, 0, 0))
        if int(buffer_samples) < 8192:
            raise ValueError(f"buffer_samples must be >= 8192, got {buffer_samples}")
        self.params = p = make_params(fft_len, cp_len, occupied_carriers, pilot_carriers, preamble_len=preamble_len)
        self.message_port_register_hier_out("images")
        self.message_port_register_hier_out("frames")
        self.detector = preamble_detector(p)
        self.deframer = ofdm_analog_deframer(p, header_reps, tracking=tracking, equalizer=equalizer,
                                             max_pending=max_pending, timeout_samples=timeout_samples,
                                             emit_frames=emit_frames, threshold=threshold, cfo_search=cfo_search,
                                             min_chunk=min_chunk, max_latency=max_latency)
        # big buffers in front of the Python deframer: the C++ chain goes on while it decodes a
        # batch (the copy gives the sample path a buffer of that size whatever feeds the receiver)
        self.copy = blocks.copy(gr.sizeof_gr_complex)
        # port 0 named: blocks.copy has a variable number of outputs, and the one-argument form
        # sets none of them (the samples' buffer stayed at GNU Radio's 8192 items)
        self.copy.set_min_output_buffer(0, int(buffer_samples))
        self.detector.div.set_min_output_buffer(int(buffer_samples))
        self.deframer.set_upstream(self.detector.div)  # the end of the stream reaches the deframer
        self.connect(self, self.copy, (self.deframer, 0))
        self.connect(self.copy, self.detector, (self.deframer, 1))
        self.msg_connect(self.deframer, "images", self, "images")
        self.msg_connect(self.deframer, "frames", self, "frames")

    def counters(self) -> dict:
        return self.deframer.counters()

    def flush(self):
        return self.deframer.flush()
