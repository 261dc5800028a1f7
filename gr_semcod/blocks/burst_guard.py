#!/usr/bin/env python3
# -*- coding: utf-8 -*-
#
# Copyright 2026 gr-semcod authors.
# SPDX-License-Identifier: GPL-3.0-or-later
"""``burst_guard``: zero samples before and after every burst of a tagged stream (hier block).

Chain (C++ blocks only): ``[zeros(pre), burst, zeros(post)]`` joined by
``blocks.tagged_stream_mux``; each guard is a repeating ``vector_source_c`` of zeros carrying
the length tag.  The output is again a tagged stream (length tag = pre + burst + post), so a
USRP sink in burst mode (``len_tag_name``) sends the guards with the burst.

Why not ``digital.burst_shaper_cc``: it does not flush the post-padding of the *last* burst
when its input ends, and the channel's filter delay then eats the end of the last frame, so
the last image of every finite run was lost.  Here each burst and its guards leave in the same
work call.  The leading guard gives the receiver's Schmidl & Cox detector quiet samples before
the first frame (without it the first frame of a stream was missed).
"""
from __future__ import annotations

import pmt
from gnuradio import blocks, gr

from ..contract import TX_LEN_TAG

#: the length tag of :class:`gr_semcod.phy.ofdm_analog_tx.ofdm_analog_tx`'s output
DEFAULT_LEN_TAG = TX_LEN_TAG


class burst_guard(gr.hier_block2):
    """Args: pre, post (guard samples, >= 1), len_tag_key (the stream's length tag)."""

    def __init__(self, pre=160, post=160, len_tag_key=DEFAULT_LEN_TAG):
        gr.hier_block2.__init__(self, "semcod_burst_guard", gr.io_signature(1, 1, gr.sizeof_gr_complex),
                                gr.io_signature(1, 1, gr.sizeof_gr_complex))
        pre, post = int(pre), int(post)
        if pre < 1 or post < 1:
            raise ValueError(f"guards must be >= 1 sample, got pre={pre}, post={post}")
        key = pmt.intern(str(len_tag_key))

        def zeros(n):
            tag = gr.tag_utils.python_to_tag((0, key, pmt.from_long(n), pmt.PMT_F))
            return blocks.vector_source_c([0j] * n, True, 1, [tag])

        self.pre, self.post = zeros(pre), zeros(post)
        self.mux = blocks.tagged_stream_mux(gr.sizeof_gr_complex, str(len_tag_key), 0)
        self.connect(self.pre, (self.mux, 0))
        self.connect(self, (self.mux, 1))
        self.connect(self.post, (self.mux, 2))
        self.connect(self.mux, self)
