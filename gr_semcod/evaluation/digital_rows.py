"""``semcod eval``'s digital rows: ``digital_<codec>`` = source codec + frame/CRC-32 + 802.16e
LDPC + QAM over the same channel, CBR and SNR as the JSCC codecs (:mod:`gr_semcod.baselines.digital`).

Each row carries ``failure_rate`` (images shown as the mean colour: CRC failures plus images for
which not even the lowest quality fits) and ``mcs`` (the table's choice for that SNR/channel).
"""
from __future__ import annotations

import hashlib
import math
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence

import numpy as np

SCHEME_PREFIX = "digital_"


def usable_codecs(codecs: Sequence[str]) -> List[str]:
    """The requested source codecs this Python can run (a missing plugin is reported, not fatal)."""
    from ..baselines import source_codecs

    out = []
    for c in codecs:
        why = source_codecs.unavailable_reason(c)
        if why is None:
            out.append(c)
        else:
            print(f"digital_{c}: skipped, {c} cannot encode here ({why}; the plugins: pip install pillow-heif / "
                  f"Pillow >= 11.3)")
    return out


class DigitalRows:
    """Memoised source-coding searches per codec, rows per (channel, CBR, SNR)."""

    def __init__(self, images: np.ndarray, codecs: Sequence[str], seed: int = 0):
        from ..baselines.digital import make_searches

        self.images = np.asarray(images, np.uint8)
        self.codecs = list(codecs)
        self.seed = seed
        self.searches = {c: make_searches(self.images, c) for c in self.codecs}

    def min_payload_bytes(self) -> Dict[str, float]:
        """Median payload (bytes) at each codec's lowest quality: the smallest frame it can send."""
        from ..baselines.source_codecs import QUALITY_RANGE

        return {c: float(np.median([s.at(QUALITY_RANGE[c][0])[0] / 8 for s in self.searches[c]]))
                for c in self.codecs}

    def rows(self, channel: str, cbr: str, snr: float, score) -> List[Dict]:
        from ..baselines.digital import transmit_images

        out = []
        for c in self.codecs:
            r = transmit_images(self.images, cbr, snr, c, channel=channel, rng=self.seed,
                                searches=self.searches[c])
            out.append({"scheme": SCHEME_PREFIX + c, "channel": channel, "cbr": cbr, "snr_db": snr,
                        **score(r.images.transpose(0, 3, 1, 2)), "fallback_rate": r.failure_rate,
                        "failure_rate": r.failure_rate, "mcs": r.mcs.name, "misdecoded": r.misdecoded})
        return out


def schemes(rows) -> List[str]:
    seen = []
    for r in rows:
        if r["scheme"].startswith(SCHEME_PREFIX) and r["scheme"] not in seen:
            seen.append(r["scheme"])
    return seen


def best_codec(rows, channel: str, cbr: str = "1/12", snr: float = 10.0) -> Optional[str]:
    """The digital scheme with the highest PSNR at ``cbr``/``snr`` on ``channel``."""
    pts = [(r["psnr"], r["scheme"]) for r in rows if r["scheme"].startswith(SCHEME_PREFIX)
           and (r["channel"], r["cbr"], r["snr_db"]) == (channel, cbr, snr)]
    return max(pts)[1] if pts else None


def versus_jpeg(rows) -> List[str]:
    """One line per BPG-class codec: where it beats digital JPEG at the same budget, and by how much."""
    lines = []
    base = {(r["channel"], r["cbr"], r["snr_db"]): r for r in rows if r["scheme"] == SCHEME_PREFIX + "jpeg"}
    for sc in schemes(rows):
        if sc == SCHEME_PREFIX + "jpeg":
            continue
        diffs = []
        for r in rows:
            b = base.get((r["channel"], r["cbr"], r["snr_db"]))
            if r["scheme"] == sc and b is not None and not (r["failure_rate"] == 1 and b["failure_rate"] == 1):
                diffs.append((r["psnr"] - b["psnr"], r, b))
        if not diffs:
            continue
        wins = sum(d > 0 for d, _, _ in diffs)
        mean = float(np.mean([d for d, _, _ in diffs]))
        both = [d for d, r, b in diffs if r["failure_rate"] == 0 and b["failure_rate"] == 0]
        lines.append(f"- `{sc}` vs `digital_jpeg`: better at {wins} of {len(diffs)} points where either delivers, "
                     f"mean {mean:+.2f} dB; where both deliver every image {len(both)} points, mean "
                     f"{(float(np.mean(both)) if both else math.nan):+.2f} dB.")
    return lines


# --------------------------------------------------------------------------- semcod eval --full-size


def fullsize_runs(img: np.ndarray, cbr: str, channel: str, snr: float, seed: int, codecs: Sequence[str]) -> Dict:
    """``semcod eval --full-size``'s digital schemes on one photo at its own size: ``{"digital_<codec>":
    {"image", "symbols", "cbr_spent", "failed", "mcs"}}``.

    The same total budget as the other schemes, ``k = round(CBR * H * W * 3)`` symbols for the
    whole (unpadded) photo, headers and CRC included; the source codec codes the photo whole
    (no tiles), the frame rides ``k // ...`` 802.16e codewords (:func:`gr_semcod.baselines.link.layout`)
    at the table's MCS for ``snr`` on ``channel``, the same seeded channel as the other schemes.
    ``cbr_spent``: ``k / (H * W * 3)`` -- the frame occupies its ``k`` channel uses (unused ones are
    sent as zeros), so the CBR exactly; ``used_symbols``: the codewords' part of ``k``.
    ``failed``: a CRC failure or a budget in which no frame fits; the photo is then shown as its
    mean colour (:func:`gr_semcod.baselines.digital.fallback_images`, 3 bytes) and scored so.
    """
    from ..baselines.digital import transmit_images

    img = np.asarray(img, np.uint8)
    h, w = img.shape[:2]
    out = {}
    for c in codecs:
        r = transmit_images(img[None], cbr, snr, c, channel=channel, rng=seed, searches=[_search(img, c)])
        k = r.layout.n_symbols
        out[SCHEME_PREFIX + c] = {"image": r.images[0].astype(np.float32) / 255.0, "symbols": k,
                                  "cbr_spent": k / (h * w * 3), "failed": float(r.failure_rate),
                                  "used_symbols": 0 if r.no_fit[0] else r.layout.used_symbols, "mcs": r.mcs.name}
    return out


#: payload searches of the latest photos (one per photo and codec), reused across CBRs, SNRs and channels
_SEARCHES: "OrderedDict[tuple, object]" = OrderedDict()
MAX_SEARCHES = 64


def _search(img: np.ndarray, codec: str):
    from ..baselines.link import PayloadSearch

    key = (hashlib.sha1(img.tobytes()).hexdigest(), img.shape, codec)
    if key not in _SEARCHES:
        _SEARCHES[key] = PayloadSearch(img, codec)
        while len(_SEARCHES) > MAX_SEARCHES:
            _SEARCHES.popitem(last=False)
    _SEARCHES.move_to_end(key)
    return _SEARCHES[key]


def format_fullsize_failures(rows) -> str:
    """Markdown lines for the full-size card: per digital scheme and condition, the failure rate
    (photos shown as their mean colour, scored so)."""
    lines = []
    for r in rows:
        if r["scheme"].startswith(SCHEME_PREFIX) and np.isfinite(r.get("failure_rate", np.nan)):
            lines.append(f"- {r['scheme']}, {r['channel']}, CBR {r['cbr']}, {r['snr_db']:g} dB: failed on "
                         f"{r['failure_rate'] * r['n']:.0f} of {r['n']} photos"
                         + (f" x draws ({r['draws']} per photo)" if r.get("draws", 1) > 1 else "")
                         + " (shown as the mean colour, scored so)")
    return "\n".join(lines)
