"""Compatibility imports for the blocks: the names that used to live here, from where they live now.

* :mod:`gr_semcod.contract` -- metadata keys, port/tag names, :class:`PDUError`, metadata checks
* :mod:`gr_semcod.pdu`      -- PMT <-> Python (:func:`make_pdu`, :func:`split_pdu`, ...)
* :mod:`gr_semcod.blocks.base` -- :class:`message_block` / :class:`DropMixin`, :func:`get_bundle`

The PDU formats are documented in ``docs/pdu.md``.
"""
from ..contract import *  # noqa: F401,F403
from ..contract import (CODEC_DEEPJSCC, CODEC_SEMANTIC, PDUError, apply_erasures, id_for_log, image_ids,  # noqa: F401
                        meta_float, meta_int, snr_from_meta)
from ..pdu import from_pmt, make_pdu, meta_to_pmt, meta_to_python, safe_meta, split_pdu, to_pmt  # noqa: F401
from .base import _BUNDLES, _BUNDLES_LOCK, DropMixin, get_bundle, message_block, post_done  # noqa: F401

_safe_meta = safe_meta
_to_pmt = to_pmt
