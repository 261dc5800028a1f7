"""The separation bound of the Deep JSCC paper (Bourtsoulatze et al. 2019, Sec. V).

An ideal digital system sends ``k = round(CBR * H * W * 3)`` channel uses per image over an
AWGN channel at ``snr_db``; with capacity-achieving channel codes it delivers error-free::

    B = k * log2(1 + 10^(snr_db / 10))   bits per image

Each image is compressed with JPEG, WebP, AVIF or HEIF (Pillow, pillow-heif) at the highest quality whose size fits in
``B`` bits (binary search on quality, memoised per image), and decoded.  When nothing fits the
receiver shows the image's mean colour (3 bytes, 24 bits); when even that does not fit, mid grey
(no bits).  This is an upper bound for JPEG/WebP + digital transmission: no channel code
reaches capacity at these block lengths (see :mod:`.digital` for an actual chain).

Two accountings of the file size (``header``):

* ``True``  the whole file (JPEG: JFIF + tables + scan, Huffman tables optimised;
  WebP: RIFF container + VP8 chunk).
* ``False`` the entropy-coded payload only, for a receiver that knows the image size and the
  codec's defaults.  JPEG: standard Huffman tables (not optimised), the scan bytes between the
  SOS header and EOI, plus 1 byte to send the quality (the quantisation tables follow from it).
  WebP: the VP8 chunk payload (the RIFF/WEBP container's 20 bytes removed).  AVIF / HEIF
  (HEVC intra, BPG's codec): the ``mdat`` payload plus 1 byte for the quality (the receiver
  rebuilds the container, see :mod:`.source_codecs`).

For 32x32 images the headers dominate (a JPEG file is >= ~300 bytes) -- report both.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
from ..rates import num_symbols
from ..runtime.metrics import psnr_per_image
from . import source_codecs

CODECS = source_codecs.CODECS
QUALITY_RANGE = source_codecs.QUALITY_RANGE
MEAN_COLOUR_BITS = 24


def capacity_bits(k: int, snr_db: float) -> float:
    """``k * log2(1 + SNR)``: bits deliverable error-free in ``k`` complex AWGN channel uses."""
    return float(k) * math.log2(1.0 + 10.0 ** (float(snr_db) / 10.0))


def encode(image: np.ndarray, codec: str, quality: int, header: bool = True) -> Tuple[int, np.ndarray]:
    """Compress one uint8 ``H x W x 3`` image; returns ``(size in bits, decoded uint8 image)``.

    ``header`` chooses the size accounting (see the module docstring); the files and payloads are
    :mod:`.source_codecs`' (JPEG whole files with optimised Huffman tables).
    """
    if codec not in CODECS:
        raise ValueError(f"codec must be one of {CODECS}, got {codec!r}")
    data = source_codecs.encode_file(image, codec, quality, optimize=header)
    if header:
        nbytes = len(data)
    else:  # the payload, + 1 byte for the quality where the receiver needs it to rebuild the headers
        nbytes = len(source_codecs.payload(data, codec)) + (codec != "webp")
    return 8 * nbytes, source_codecs.decode_file(data, codec)


class QualitySearch:
    """Memoised ``quality -> (bits, decoded)`` for one image, and the best quality under a budget."""

    def __init__(self, image: np.ndarray, codec: str, header: bool = True):
        self.image, self.codec, self.header = image, codec, header
        self._memo: Dict[int, Tuple[int, np.ndarray]] = {}

    def at(self, q: int) -> Tuple[int, np.ndarray]:
        if q not in self._memo:
            self._memo[q] = encode(self.image, self.codec, q, self.header)
        return self._memo[q]

    def best_under(self, budget_bits: float) -> Optional[Tuple[int, int, np.ndarray]]:
        """Highest quality whose size fits ``budget_bits``: ``(quality, bits, decoded)`` or None.

        Binary search assuming size grows with quality (true up to rare one-step wiggles,
        so the result is the highest fitting quality found by the search, which always fits).
        """
        lo, hi = QUALITY_RANGE[self.codec]
        if self.at(lo)[0] > budget_bits:
            return None
        if self.at(hi)[0] <= budget_bits:
            return (hi,) + self.at(hi)
        while hi - lo > 1:  # invariant: lo fits, hi does not
            mid = (lo + hi) // 2
            if self.at(mid)[0] <= budget_bits:
                lo = mid
            else:
                hi = mid
        return (lo,) + self.at(lo)


@dataclass
class SeparationResult:
    """Per-image outcome: reconstructions (uint8 NHWC), PSNR (dB), bits used, chosen quality
    (-1 mean colour, -2 grey), the budget, and the mean PSNR."""

    images: np.ndarray
    psnr: np.ndarray
    bits: np.ndarray
    quality: np.ndarray
    budget_bits: float
    codec: str
    header: bool

    @property
    def mean_psnr(self) -> float:
        return float(np.mean(self.psnr))

    @property
    def fallback_rate(self) -> float:
        """Fraction of images shown as their mean colour (or grey)."""
        return float(np.mean(self.quality < 0))


def mean_colour_images(images: np.ndarray) -> np.ndarray:
    """Each image replaced by its rounded mean colour (what 3 bytes can carry)."""
    m = np.rint(images.reshape(len(images), -1, 3).mean(1)).astype(np.uint8)
    return np.broadcast_to(m[:, None, None, :], images.shape).copy()


def separation_bound(
    images: np.ndarray,
    cbr,
    snr_db: float,
    codec: str = "jpeg",
    header: bool = True,
    searches: Optional[Sequence[QualitySearch]] = None,
) -> SeparationResult:
    """JPEG/WebP at the capacity budget ``k log2(1 + SNR)`` for uint8 images ``N x H x W x 3``.

    ``searches`` (from :func:`make_searches`) shares the encodings across calls for several
    CBRs/SNRs of the same images.
    """
    images = np.asarray(images, np.uint8)
    n, h, w, _ = images.shape
    budget = capacity_bits(num_symbols(cbr, h, w), snr_db)
    if searches is None:
        searches = make_searches(images, codec, header)
    means = mean_colour_images(images)
    out = np.empty_like(images)
    bits = np.zeros(n, np.int64)
    quality = np.empty(n, np.int64)
    for i, s in enumerate(searches):
        hit = s.best_under(budget)
        if hit is not None:
            quality[i], bits[i], out[i] = hit
        elif budget >= MEAN_COLOUR_BITS:
            quality[i], bits[i], out[i] = -1, MEAN_COLOUR_BITS, means[i]
        else:
            quality[i], bits[i], out[i] = -2, 0, 128
    return SeparationResult(out, psnr_per_image(images, out), bits, quality, budget, codec, header)


def make_searches(images: np.ndarray, codec: str = "jpeg", header: bool = True):
    """One :class:`QualitySearch` per image (reuse across budgets)."""
    return [QualitySearch(im, codec, header) for im in np.asarray(images, np.uint8)]


def separation_table(images: np.ndarray, cbrs: Sequence, snrs: Sequence[float],
                     codecs: Sequence[str] = CODECS, headers: Sequence[bool] = (True, False)):
    """Rows ``{codec, header, cbr, snr_db, budget_bits, psnr, fallback_rate}`` for every combination."""
    rows = []
    for codec in codecs:
        for header in headers:
            searches = make_searches(images, codec, header)
            for cbr in cbrs:
                for snr in snrs:
                    r = separation_bound(images, cbr, snr, codec, header, searches)
                    rows.append({"codec": codec, "header": header, "cbr": str(cbr), "snr_db": float(snr),
                                 "budget_bits": r.budget_bits, "psnr": r.mean_psnr,
                                 "fallback_rate": r.fallback_rate})
    return rows
