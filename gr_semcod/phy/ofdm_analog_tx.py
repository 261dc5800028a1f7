"""``ofdm_analog_tx``: OFDM transmitter for analog (JSCC) symbols, a ``gr.hier_block2``.

PDU interface
-------------
Message input ``in``: one PDU per image, ``pmt.cons(meta, c32vector)``.

* ``meta``: a PMT dict with at least ``image_id`` (integer, sent mod 65536);
  ``photo_height``/``photo_width`` (1..4096; absent: ``height``/``width``; absent too: 1 x 1 =
  "no size") and ``mode`` (0..255, default 0) go into every frame header; other keys are
  ignored by the radio.
* vector: the image's complex channel symbols (``complex64``), nominally unit average power;
  they go onto the data carriers *as they are* (no quantisation, no constellation).
  Up to 4194303 symbols and 1023 fragments per image.

A tagged stream of symbols can be turned into such PDUs with ``pdu.tagged_stream_to_pdu``
(put the ``image_id`` on the first item).  Malformed PDUs are logged, counted
(:attr:`n_dropped`) and dropped.

Output: complex baseband, one burst per fragment::

    [short x preamble_len][sync 2][header x 12][payload x ceil(payload_len / 48)]   (802.11a numerology)

each OFDM symbol ``fft_len + cp_len`` samples.  The short training symbols have energy on every
4th carrier only, so the preamble is one periodic waveform of ``5 * preamble_len`` periods of 16
samples (the receiver's matched filter, CFO range +-2 subcarriers); sync 2 is a full BPSK symbol
for fine timing and channel estimation.  The header (see :mod:`gr_semcod.phy.header`) is 128
bits with CRC-16, K=7 convolutionally coded (gr-fec), BPSK, every code bit sent twice
(interleaved) on twelve symbols.  Pilots (802.11a
positions and polarity) are on every symbol after the sync words.  The IFFT is scaled by
``1/sqrt(fft_len)`` (unitary), so a unit-power symbol on a carrier has unit power after the
receiver's unitary FFT: :class:`gr_semcod.phy.channel.channel` with ``snr_db`` then gives
exactly that per-carrier Es/N0.

Chain (C++ blocks except the framer): framer (Python, per fragment) ->
``pdu_to_tagged_stream`` -> ``ofdm_carrier_allocator_cvc`` -> ``fft_vcc`` (inverse, shifted)
-> ``ofdm_cyclic_prefixer``.  The ``1/sqrt(fft_len)`` gain is applied to the carrier values
(symbols, pilots and sync words) before the IFFT, so no extra multiply block is needed.
"""
from __future__ import annotations

import numpy as np
import pmt
from gnuradio import digital, fft, gr, pdu

from ..contract import TX_LEN_TAG
from ..pdu import symbols_pdu
from .framer import ofdm_analog_framer
from .params import make_params


class ofdm_analog_tx(gr.hier_block2):
    """Args:
        fft_len, cp_len: OFDM numerology (64, 16).
        occupied_carriers, pilot_carriers: signed carrier indices (None = 802.11a sets).
        max_payload_symbols: OFDM payload symbols per frame at most (fragment size =
            max_payload_symbols * n_data complex symbols, at most 16383).
        rolloff: cyclic-prefix raised-cosine rolloff in samples (< cp_len).
        header_reps: copies of every header code bit (interleaved, soft-combined at the receiver).
        preamble_len: short training symbols before sync word 2 (the receiver must use the same).
        frame_tags: put the header fields as stream tags on each frame's first sample.
        max_noutput_items: cap on the carrier allocator's output buffer (its memset cost grows
            with it); 0 leaves the scheduler's default.
    """

    def __init__(self, fft_len=64, cp_len=16, occupied_carriers=None, pilot_carriers=None,
                 max_payload_symbols=20, rolloff=0, max_noutput_items=64, header_reps=2,
                 frame_tags=False, preamble_len=3):
        gr.hier_block2.__init__(self, "ofdm_analog_tx", gr.io_signature(0, 0, 0),
                                gr.io_signature(1, 1, gr.sizeof_gr_complex))
        self.params = p = make_params(fft_len, cp_len, occupied_carriers, pilot_carriers, preamble_len=preamble_len)
        self.message_port_register_hier_in("in")
        g = 1.0 / np.sqrt(p.fft_len)  # unitary IFFT: the gain goes on every carrier value
        self.framer = ofdm_analog_framer(p, max_payload_symbols, header_reps, bool(frame_tags), g)
        self.to_stream = pdu.pdu_to_tagged_stream(gr.types.complex_t, TX_LEN_TAG)
        # a whole frame must fit in this buffer before pdu_to_tagged_stream writes it; with the
        # default size the block stalls between frames once its message queue is pre-filled
        frame_items = (self.framer.n_hdr_syms + self.framer.max_payload_symbols) * p.n_data
        self.to_stream.set_min_output_buffer(int(max(1 << 15, 8 * frame_items)))
        self.allocator = digital.ofdm_carrier_allocator_cvc(
            p.fft_len, p.gr_occupied(), p.gr_pilots(), [[v * g for v in row] for row in p.gr_pilot_symbols()],
            [[v * g for v in w] for w in p.gr_sync_words()], TX_LEN_TAG, True)
        if max_noutput_items:
            self.allocator.set_max_noutput_items(int(max_noutput_items))
        self.ifft = fft.fft_vcc(p.fft_len, False, [], True, 1)
        self.prefixer = digital.ofdm_cyclic_prefixer(p.fft_len, p.sym_len, int(rolloff), TX_LEN_TAG)
        # tagged-stream blocks need a whole frame of output space: size the buffers for the longest
        # frame (long headers with many header_reps exceed GNU Radio's default 32 KiB buffers)
        frame_syms = p.n_sync + self.framer.n_hdr_syms + self.framer.max_payload_symbols
        self.ifft.set_min_output_buffer(2 * frame_syms)
        self.prefixer.set_min_output_buffer(2 * frame_syms * p.sym_len)
        self.message_port_register_hier_out("frames")
        self.msg_connect(self, "in", self.framer, "in")
        self.msg_connect(self.framer, "frames", self, "frames")
        self.msg_connect(self.framer, "frames", self.to_stream, "pdus")
        self.connect(self.to_stream, self.allocator, self.ifft, self.prefixer, self)
        # a finite run ends only after pdu_to_tagged_stream has written every frame (no queued tail lost)
        self.framer.set_drain_check(lambda: self.to_stream.nitems_written(0) >= self.framer.n_items)

    def post(self, pdu) -> None:
        """Hand one image PDU to the transmitter from Python (same as a message on ``in``)."""
        self.framer.to_basic_block()._post(pmt.intern("in"), pdu)

    # counters (read-only views of the framer's)
    @property
    def n_frames(self) -> int:
        return self.framer.n_frames

    @property
    def n_images(self) -> int:
        return self.framer.n_images

    @property
    def n_dropped(self) -> int:
        return self.framer.n_dropped

    def frame_samples(self, payload_len: int) -> int:
        """Samples of one burst carrying ``payload_len`` symbols."""
        p = self.params
        return (p.n_sync + self.framer.n_hdr_syms + p.n_symbols(payload_len)) * p.sym_len


#: the transmitter's input PDU for one image (:func:`gr_semcod.pdu.symbols_pdu`)
make_pdu = symbols_pdu
