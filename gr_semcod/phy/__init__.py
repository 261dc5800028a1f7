"""OFDM physical layer for analog (JSCC) symbols, built from GNU Radio blocks.

* :class:`ofdm_analog_tx` — image PDU -> OFDM bursts (see its module for the PDU interface)
* :class:`ofdm_analog_rx` — samples -> image PDUs with SNR / noise-variance metadata
* :class:`channel` — AWGN (SNR in dB), multipath, CFO, sample-rate offset, Rayleigh fading

Numpy only (no torch): the radio runtime imports this package.
"""
from .deframer import (KEY_ERASURE_MASK, KEY_FRAG_IDX, KEY_IMAGE_ID, KEY_LOST_FRAGMENTS, KEY_N_ERASED,
                       KEY_N_FRAGMENTS, KEY_NOISE_VAR, KEY_RX_OFFSET, KEY_SEQ, KEY_SNR_DB, KEY_SYMBOL_NOISE_VAR,
                       image_to_pdu, pdu_to_image)
from .params import OfdmParams, make_params

__all__ = ["ofdm_analog_tx", "ofdm_analog_rx", "channel", "make_pdu", "OfdmParams", "make_params", "image_to_pdu",
           "pdu_to_image", "KEY_IMAGE_ID", "KEY_SNR_DB", "KEY_NOISE_VAR", "KEY_SYMBOL_NOISE_VAR", "KEY_N_FRAGMENTS",
           "KEY_LOST_FRAGMENTS", "KEY_ERASURE_MASK", "KEY_N_ERASED", "KEY_FRAG_IDX", "KEY_SEQ", "KEY_RX_OFFSET"]


def __getattr__(name):  # lazy: importing the package does not build GNU Radio blocks
    if name in ("ofdm_analog_tx", "make_pdu"):
        from . import ofdm_analog_tx as m
        return getattr(m, name)
    if name == "ofdm_analog_rx":
        from .ofdm_analog_rx import ofdm_analog_rx
        return ofdm_analog_rx
    if name == "channel":
        from .channel import channel
        return channel
    raise AttributeError(name)
