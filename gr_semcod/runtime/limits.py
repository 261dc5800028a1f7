"""Default limits of the radio side: every one is also a block / CLI parameter.

A PDU or message above a limit is refused before it is converted or copied -- logged, counted
and dropped -- so memory stays bounded by the limits, not by what a peer sends.

=============================  ==========  ====================================================
limit                          default     where
=============================  ==========  ====================================================
``MAX_PDU_ITEMS``              4 194 304   any PDU vector (items), checked before conversion
``MAX_PDU_BATCH``              16 384      images (tiles) per PDU of a model block (``max_pdu_batch``):
                                           a 4096x4096 photo in 32x32 tiles
``MAX_RUN_BATCH``              256         items per ONNX Runtime call (``max_run_batch``; more: chunks)
``MAX_PHOTO_SIDE``             4096        photo side at the source / tiler (``max_side``; the PHY header)
``MAX_IMAGE_BYTES``            50 331 648  one image PDU at the image sink / display (4096x4096 RGB)
``MAX_PDU_SYMBOLS``            4 194 303   symbols per PDU into the OFDM framer (22-bit header field)
ZMQ ``max_message_bytes``      16 MiB      sample bridge (:mod:`gr_semcod.runtime.zmq_security`)
serve ``max_message_bytes``    64 MiB      ``semcod serve`` frames (:mod:`gr_semcod.serve`)
serve ``max_batch``            256         ``semcod serve`` items per request
=============================  ==========  ====================================================
"""
from __future__ import annotations

MAX_PDU_ITEMS = 1 << 22
from ..contract import MAX_PHOTO_SIDE  # noqa: E402,F401  (4096, the PHY header's photo fields)

MAX_PDU_BATCH = 16384
MAX_RUN_BATCH = 256
MAX_IMAGE_BYTES = MAX_PHOTO_SIDE * MAX_PHOTO_SIDE * 3
MAX_PDU_SYMBOLS = (1 << 22) - 1
