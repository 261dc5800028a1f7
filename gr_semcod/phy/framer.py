"""``ofdm_analog_framer``: image PDU -> one frame PDU per fragment (header + raw JSCC symbols).

Message in ``in``: a PDU ``(metadata, c32vector)``; ``metadata`` is a dict with at least
``image_id`` (int, used mod 65536); the vector holds the image's complex channel symbols
(unit average power expected; they are sent as they are, never quantised).  Optional entries
that go into every frame header: ``photo_height``/``photo_width`` (the photo's own size,
1..4096; absent: ``height``/``width``; absent too: 1 x 1, "no size") and ``mode`` (0..255,
default 0).

Message out ``frames``: one PDU per fragment, ``(metadata, c32vector)`` with the frame's
data-carrier values in order: the header (:mod:`gr_semcod.phy.header`: convolutionally coded,
BPSK, every code bit ``header_reps`` times on whole OFDM symbols, by
:class:`~gr_semcod.phy.header.HeaderLayout`), then the fragment's symbols zero-padded to whole
OFDM symbols, all multiplied by ``scale``.  With ``frame_tags`` the metadata repeats the header
fields (``seq``, ``image_id``, ``frag_idx``, ``n_frags``, ``image_len``, ``payload_len``,
``photo_height``, ``photo_width``, ``mode``),
which then become stream tags on the frame's first item; otherwise it is empty (faster).  ``ofdm_analog_tx`` feeds this to
``pdu_to_tagged_stream`` and the OFDM carrier allocator.

Malformed input (not a pair, metadata not a dict, no integer ``image_id``, vector not c32,
empty, too long, non-finite or above ``max_abs`` in magnitude, a photo size outside 1..4096 or a
``mode`` outside 0..255) is logged, counted in :attr:`n_dropped` and dropped.

End of a finite run: the framer finishes only after its input queue is empty and
:meth:`set_drain_check`'s check agrees (``ofdm_analog_tx`` waits until
``pdu_to_tagged_stream`` has written every item the framer published, :attr:`n_items`), so no
frame is left in a queue when the transmitter stops.
"""
from __future__ import annotations

import numpy as np
import pmt
from gnuradio import gr

from .header import (MAX_FRAGMENTS, MAX_IMAGE_LEN, MAX_MODE, MAX_PAYLOAD_LEN, MAX_PHOTO_SIDE, Header, HeaderLayout,
                     fragment_bounds, pack_header, plan_fragments)
from ..contract import (KEY_HEIGHT, KEY_IMAGE_ID, KEY_MODE, KEY_PHOTO_HEIGHT, KEY_PHOTO_WIDTH, KEY_WIDTH,
                        MAX_SYMBOL_ABS, PDUError, check_symbols)
from .drain import defer_done
from ..pdu import c32vector, vector_to_numpy
from .params import OfdmParams


class ofdm_analog_framer(gr.basic_block):
    def __init__(self, params: OfdmParams, max_payload_symbols: int = 20, header_reps: int = 2,
                 frame_tags: bool = False, scale: float = 1.0, max_abs: float = MAX_SYMBOL_ABS):
        gr.basic_block.__init__(self, name="ofdm_analog_framer", in_sig=None, out_sig=None)
        self.params = params
        self.max_payload_symbols = int(max_payload_symbols)
        if self.max_payload_symbols < 1:
            raise ValueError("max_payload_symbols must be >= 1")
        self.max_payload = min(self.max_payload_symbols * params.n_data, MAX_PAYLOAD_LEN)
        self.scale = float(scale)
        self.max_abs = float(max_abs)  # symbols above this magnitude are refused (unit power expected)
        self.layout = HeaderLayout(params.n_data, header_reps)
        self.n_hdr_syms = self.layout.n_syms
        self.seq = 0
        self.n_images = 0
        self.n_frames = 0
        self.n_dropped = 0
        self.n_items = 0  # carrier values published on ``frames`` (all frames, all images)
        self._drained = None
        self.frame_tags = bool(frame_tags)
        self._empty = pmt.make_dict()
        self.message_port_register_in(pmt.intern("in"))
        self.message_port_register_out(pmt.intern("frames"))
        self.set_msg_handler(pmt.intern("in"), self.handle_pdu)
        defer_done(self, self._ready_to_finish)

    def set_drain_check(self, drained) -> None:
        """``drained()`` -> True once everything published has left downstream (end of a run)."""
        self._drained = drained

    def _ready_to_finish(self) -> bool:
        if self.nmsgs(pmt.intern("in")):
            return False
        return self._drained is None or bool(self._drained())

    @staticmethod
    def _meta(h):
        d = pmt.make_dict()
        for k, v in h.__dict__.items():
            d = pmt.dict_add(d, pmt.intern(k), pmt.from_long(int(v)))
        return d

    def _drop(self, why: str):
        self.n_dropped += 1
        gr.log.warn(f"ofdm_analog_framer: dropping PDU ({why}); {self.n_dropped} dropped so far")

    @staticmethod
    def photo_fields(meta) -> tuple:
        """``(photo_height, photo_width, mode)`` for the header from a PMT metadata dict
        (:class:`PDUError` naming the key when a value is not an integer in range)."""
        def get(key):
            v = pmt.dict_ref(meta, pmt.intern(key), pmt.PMT_NIL)
            if pmt.is_null(v):
                return None
            if not pmt.is_integer(v):
                raise PDUError(f"metadata {key!r} must be an integer")
            return pmt.to_long(v)

        ph, pw = get(KEY_PHOTO_HEIGHT), get(KEY_PHOTO_WIDTH)
        if (ph is None) != (pw is None):
            raise PDUError(f"metadata has only one of {KEY_PHOTO_HEIGHT!r}/{KEY_PHOTO_WIDTH!r}")
        if ph is None:
            ph, pw = get(KEY_HEIGHT), get(KEY_WIDTH)
        if ph is None or pw is None:
            ph = pw = 1  # "no size"
        mode = get(KEY_MODE) or 0
        for key, v, top in ((KEY_PHOTO_HEIGHT, ph, MAX_PHOTO_SIDE), (KEY_PHOTO_WIDTH, pw, MAX_PHOTO_SIDE)):
            if not 1 <= v <= top:
                raise PDUError(f"photo size {key}={v} outside 1..{top} (the header's 12-bit field)")
        if not 0 <= mode <= MAX_MODE:
            raise PDUError(f"metadata {KEY_MODE!r}={mode} outside 0..{MAX_MODE}")
        return ph, pw, mode

    def frames_for(self, image_id: int, symbols: np.ndarray, photo_height: int = 1, photo_width: int = 1,
                   mode: int = 0):
        """Yield ``(Header, frame_symbols)`` for one image (pure; used by the block and tests)."""
        n = int(symbols.size)
        n_frags = plan_fragments(n, self.max_payload)
        nd = self.params.n_data
        for i in range(n_frags):
            lo, hi = fragment_bounds(n, n_frags, i)
            h = Header(self.seq & 0xFF, image_id & 0xFFFF, i, n_frags, n, hi - lo, photo_height, photo_width, mode)
            self.seq += 1
            n_pay = -(-(hi - lo) // nd) * nd
            frame = np.zeros(self.n_hdr_syms * nd + n_pay, np.complex64)
            frame[:self.n_hdr_syms * nd] = self.layout.place(pack_header(h))
            frame[self.n_hdr_syms * nd:self.n_hdr_syms * nd + hi - lo] = symbols[lo:hi]
            if self.scale != 1.0:
                frame *= self.scale
            yield h, frame

    def handle_pdu(self, msg):
        try:
            if not pmt.is_pair(msg):
                return self._drop("not a PDU pair")
            meta, vec = pmt.car(msg), pmt.cdr(msg)
            if not pmt.is_dict(meta):
                return self._drop("metadata is not a dict")
            iid = pmt.dict_ref(meta, pmt.intern(KEY_IMAGE_ID), pmt.PMT_NIL)
            if not pmt.is_integer(iid):
                return self._drop("no integer image_id in metadata")
            if not pmt.is_c32vector(vec):
                return self._drop("payload is not a c32vector")
            if pmt.length(vec) > MAX_IMAGE_LEN:  # before converting: an oversized PDU costs no memory
                return self._drop(f"{pmt.length(vec)} symbols (allowed 1..{MAX_IMAGE_LEN})")
            x = vector_to_numpy(vec, np.complex64)
            if x.size == 0 or x.size > MAX_IMAGE_LEN:
                return self._drop(f"{x.size} symbols (allowed 1..{MAX_IMAGE_LEN})")
            if plan_fragments(x.size, self.max_payload) > MAX_FRAGMENTS:
                return self._drop(f"{x.size} symbols need {plan_fragments(x.size, self.max_payload)} fragments of "
                                  f"{self.max_payload}, more than {MAX_FRAGMENTS} (raise max_payload_symbols)")
            try:
                fields = self.photo_fields(meta)
            except PDUError as e:
                return self._drop(str(e))
            try:
                check_symbols(x, "symbols", self.max_abs)
            except PDUError as e:
                return self._drop(str(e))
            image_id = pmt.to_long(iid)
        except Exception as e:  # never let a bad message kill the flowgraph
            return self._drop(f"{type(e).__name__}: {e}")
        self.n_images += 1
        for h, frame in self.frames_for(image_id, x, *fields):
            d = self._meta(h) if self.frame_tags else self._empty
            self.n_items += frame.size
            self.message_port_pub(pmt.intern("frames"), pmt.cons(d, c32vector(frame)))
            self.n_frames += 1
