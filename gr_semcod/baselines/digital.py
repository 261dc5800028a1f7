"""The digital baseline as a chain: source codec -> frame + CRC-32 -> 802.16e LDPC -> QAM ->
channel -> exact LLRs -> sum-product decoding -> CRC check -> image.

Per image ``k = round(CBR * H * W * 3)`` complex channel uses at ``snr_db`` (unit-power symbols,
noise ``CN(0, 10^(-snr/10))``, the convention of :mod:`gr_semcod.runtime.channels`), the same
budget as the JSCC codecs, headers and CRC included:

1. **MCS** from the receiver-side SNR estimate (:func:`.mcs.select_mcs`, thresholds measured on
   the same channel by ``semcod bench mcs``); here the estimate is the channel's nominal SNR.
2. **Link** (:mod:`.link`): the layout of 802.16e codewords (shortened last one), the frame
   ``quality | length | payload | CRC-32``, the source payload at the best quality that fits
   (:mod:`.source_codecs`: JPEG, WebP, AVIF, HEIF/HEVC intra).  The real bits are sent.
3. **Channel**: AWGN, or block Rayleigh (16 symbols per fade) with zero-forcing equalisation and
   per-symbol noise variance (:func:`.mcs.channel_symbols`), as the OFDM PHY reports it.
4. **Receiver**: exact LLRs (:mod:`.modem`), vectorised BP (:mod:`.ldpc`, all codewords of all
   images at once), the CRC.  A failed CRC is a *failure*: the fallback image is shown and
   counted (``failed``); ``no_fit``: not even the lowest quality fits, nothing is sent.
   ``misdecoded`` counts frames whose CRC passed with wrong bits (expected 0).

Fallback image (``fallback``): ``"image_mean"`` each image's mean colour (its 3 bytes over a
robust side channel, the floor of :mod:`.separation`), ``"dataset_mean"`` the mean colour of all
images (a receiver-side prior, sends nothing), or ``"grey"``.

The building blocks are re-exported here: :mod:`.modem` (``constellation``, ``modulate``,
``demodulate_llr``), :mod:`.ldpc` (``LDPCCode``, ``regular_ldpc``, ``wimax_code``, ...),
:mod:`.mcs` (``MCS``, ``MCS_TABLE``, ``select_mcs``, ``codeword_error_rate``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Optional, Sequence

import numpy as np

from ..rates import num_symbols
from ..runtime.metrics import psnr_per_image
from . import link, source_codecs
from .ldpc import (LDPCCode, bp_decode, commpy_params, get_code, gf2_rref, load_code, regular_ldpc,  # noqa: F401
                   save_code, wimax_code)
from .mcs import MCS, MCS_TABLE, channel_symbols, codeword_error_rate, mcs_table, select_mcs  # noqa: F401
from .modem import LLR_MAX, constellation, demodulate_llr, modulate  # noqa: F401
from .separation import mean_colour_images

CODECS = source_codecs.CODECS


@dataclass
class DigitalResult:
    """Per-image reconstructions (uint8 NHWC), PSNR, flags, and the link configuration."""

    images: np.ndarray
    psnr: np.ndarray
    failed: np.ndarray      # CRC failure -> fallback image
    no_fit: np.ndarray      # not even the lowest quality fits -> nothing sent, fallback image
    quality: np.ndarray     # codec quality used (-1 when nothing was sent)
    mcs: MCS
    layout: link.Layout
    ber: float              # information-bit error rate after decoding (sent images)
    misdecoded: int = 0     # CRC passed but the bits differ (undetected errors)
    extra: Dict = field(default_factory=dict)

    @property
    def mean_psnr(self) -> float:
        return float(np.mean(self.psnr))

    @property
    def info_bits(self) -> int:
        return self.layout.info_bits

    @property
    def failure_rate(self) -> float:
        """Images shown as the fallback (CRC failures and nothing-fits alike)."""
        return float(np.mean(self.failed | self.no_fit))


def fallback_images(images: np.ndarray, how: str) -> np.ndarray:
    if how == "image_mean":
        return mean_colour_images(images)
    if how == "dataset_mean":
        m = np.rint(images.reshape(-1, 3).mean(0)).astype(np.uint8)
        return np.broadcast_to(m, images.shape).copy()
    if how == "grey":
        return np.full_like(images, 128)
    raise ValueError(f"fallback must be image_mean | dataset_mean | grey, got {how!r}")


def default_mcs(snr_db: float, channel: str) -> MCS:
    """The MCS a transmitter that knows the channel picks: the channel's table at ``snr_db``; on
    ``multipath`` (thresholds in effective SNR) the AWGN table at the channel's effective SNR per MCS."""
    if channel == "multipath":
        from .mcs import effective_snrs_by_mode, multipath_noise_var

        return select_mcs(effective_snrs_by_mode(multipath_noise_var(snr_db)), mcs_table("awgn"))
    return select_mcs(snr_db, mcs_table(channel))


def make_searches(images: np.ndarray, codec: str):
    """One :class:`.link.PayloadSearch` per image (reuse across CBRs, SNRs and channels)."""
    return [link.PayloadSearch(im, codec) for im in np.asarray(images, np.uint8)]


def transmit_images(
    images: np.ndarray,
    cbr,
    snr_db: float,
    codec: str = "jpeg",
    channel: str = "awgn",
    mcs: Optional[MCS] = None,
    iters: int = 50,
    fallback: str = "image_mean",
    rng=0,
    searches: Optional[Sequence[link.PayloadSearch]] = None,
) -> DigitalResult:
    """Send uint8 images ``N x H x W x 3`` through the digital chain (see the module docstring)."""
    images = np.asarray(images, np.uint8)
    rng = np.random.default_rng(rng)
    n_img, h, w, _ = images.shape
    k = num_symbols(cbr, h, w)
    mcs = mcs or default_mcs(snr_db, channel)
    lay = link.layout(k, mcs)
    out = fallback_images(images, fallback)
    quality = np.full(n_img, -1, np.int64)
    failed = np.zeros(n_img, bool)
    no_fit = np.ones(n_img, bool)
    searches = searches if searches is not None else make_searches(images, codec)
    frames, decoded, sent = [], {}, []
    for i, s in enumerate(searches):
        hit = s.best_payload(lay.payload_bytes)
        if hit is None:
            continue
        quality[i], body, decoded[i] = hit
        no_fit[i] = False
        sent.append(i)
        frames.append(link.frame(body, int(quality[i]), lay.info_bits))
    ber, bad_crc_pass = 0.0, 0
    if sent:
        u = np.stack(frames)
        y, nv = channel_symbols(link.encode_bits(u, lay), snr_db, channel, rng)
        got = link.decode_bits(y, nv, lay, iters)
        ber = float((got != u).mean())
        for j, i in enumerate(sent):
            rx = link.unframe(got[j])
            if rx is None:
                failed[i] = True
                continue
            if not np.array_equal(got[j], u[j]):  # CRC passed with wrong bits: decode what arrived
                bad_crc_pass += 1
                try:
                    out[i] = source_codecs.decode(rx[1], codec, h, w, rx[0])
                except Exception:  # noqa: BLE001 - undecodable: shown as the fallback
                    failed[i] = True
                continue
            out[i] = decoded[i]
    return DigitalResult(out, psnr_per_image(images, out), failed, no_fit, quality, mcs, lay, ber, bad_crc_pass)
