"""Default limits of the radio side: every one is also a block / CLI parameter.

A PDU or message above a limit is refused before it is converted or copied -- logged, counted
and dropped -- so memory stays bounded by the limits, not by what a peer sends.

=============================  ==========  ====================================================
limit                          default     where
=============================  ==========  ====================================================
``MAX_PDU_ITEMS``              4 194 304   any PDU vector (items), checked before conversion
``MAX_PDU_BATCH``              256         images per PDU of a model block (``max_pdu_batch``)
``MAX_IMAGE_BYTES``            12 582 912  one image PDU at the image sink / display (2048x2048 RGB)
``MAX_PDU_SYMBOLS``            4 194 303   symbols per PDU into the OFDM framer (22-bit header field)
ZMQ ``max_message_bytes``      16 MiB      sample bridge (:mod:`gr_semcod.runtime.zmq_security`)
serve ``max_message_bytes``    64 MiB      ``semcod serve`` frames (:mod:`gr_semcod.serve`)
serve ``max_batch``            256         ``semcod serve`` items per request
=============================  ==========  ====================================================
"""
from __future__ import annotations

MAX_PDU_ITEMS = 1 << 22
MAX_PDU_BATCH = 256
MAX_IMAGE_BYTES = 2048 * 2048 * 3
MAX_PDU_SYMBOLS = (1 << 22) - 1
