"""Reassembly of image fragments by ``image_id`` and fragment index (pure numpy).

Frames are added as they are decoded; an image is released when

* all its fragments arrived, or
* its last fragment (index ``n_frags - 1``) arrived: a transmitter sends the fragments in order,
  so one still missing then is lost (a photo of a hundred fragments with one lost leaves at once,
  not a timeout later -- and not never, when it is the last image of a finite run), or
* a frame of another image arrives while ``max_pending`` images are already open
  (the oldest is released), or
* ``timeout`` samples passed since its last fragment (:meth:`expire`, called with the
  receiver's sample clock), or :meth:`flush_all`.

A released image whose fragments are missing carries zeros in their place, an erasure mask
(1 = erased symbol) and the list of lost fragment indices.  A fragment that arrives again
(same image, same index) replaces nothing and is counted as a duplicate.  Frames of an image
already released are delivered as a new image (the transmitter reused the id).

Every frame header also carries the photo's size and the codec's ``mode``
(:mod:`gr_semcod.phy.header`); the first received fragment sets them for the image, and a fragment
of the same id that disagrees starts a new image (like a different ``n_frags`` / ``image_len``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import numpy as np

from .header import fragment_bounds


@dataclass
class PendingImage:
    image_id: int
    n_frags: int
    image_len: int
    last_seen: int
    symbols: np.ndarray = field(repr=False)
    noise_var: np.ndarray = field(repr=False)
    received: np.ndarray = field(repr=False)
    snr_db: List[float] = field(default_factory=list)
    seqs: List[int] = field(default_factory=list)
    photo: Tuple[int, int, int] = (1, 1, 0)


@dataclass
class Image:
    """One delivered image."""
    image_id: int
    symbols: np.ndarray          # complex64 (image_len,), zeros where erased
    noise_var: np.ndarray        # float32 (image_len,), per-symbol noise variance (inf -> 1e6 where erased)
    erasure: np.ndarray          # uint8 (image_len,), 1 = erased
    n_fragments: int
    lost: List[int]
    snr_db: float                # mean over the received fragments (in dB of the mean linear SNR)
    seqs: List[int]
    photo_height: int = 1        # from the headers (1 x 1: no size given)
    photo_width: int = 1
    mode: int = 0

    @property
    def photo(self) -> Optional[Tuple[int, int]]:
        """``(photo_height, photo_width)``, None when the transmitter gave no size (1 x 1)."""
        return None if (self.photo_height, self.photo_width) == (1, 1) else (self.photo_height, self.photo_width)

    @property
    def mean_noise_var(self) -> float:
        ok = self.erasure == 0
        return float(np.mean(self.noise_var[ok])) if ok.any() else float("nan")


ERASED_NOISE_VAR = 1e6


class Reassembler:
    def __init__(self, max_pending: int = 4, timeout: int = 200000):
        self.max_pending = int(max_pending)
        self.timeout = int(timeout)
        self.pending: Dict[int, PendingImage] = {}
        self.n_duplicates = 0
        self.n_inconsistent = 0

    def add(self, image_id, frag_idx, n_frags, image_len, symbols, noise_var, snr_db, seq, now,
            photo: Tuple[int, int, int] = (1, 1, 0)) -> List[Image]:
        """Add one fragment; ``photo`` = ``(photo_height, photo_width, mode)`` of its header."""
        out: List[Image] = []
        img = self.pending.get(image_id)
        photo = tuple(int(v) for v in photo)
        if img is not None and (img.n_frags != n_frags or img.image_len != image_len or img.photo != photo):
            # same id, different image: release the old one
            self.n_inconsistent += 1
            out.append(self._release(image_id))
            img = None
        if img is None:
            while len(self.pending) >= self.max_pending:
                oldest = min(self.pending.values(), key=lambda i: i.last_seen)
                out.append(self._release(oldest.image_id))
            img = PendingImage(image_id, n_frags, image_len, now,
                               np.zeros(image_len, np.complex64), np.full(image_len, ERASED_NOISE_VAR, np.float32),
                               np.zeros(n_frags, bool), photo=photo)
            self.pending[image_id] = img
        if img.received[frag_idx]:
            self.n_duplicates += 1
            return out
        lo, hi = fragment_bounds(image_len, n_frags, frag_idx)
        img.symbols[lo:hi] = symbols[:hi - lo]
        img.noise_var[lo:hi] = noise_var[:hi - lo]
        img.received[frag_idx] = True
        img.last_seen = now
        img.snr_db.append(float(snr_db))
        img.seqs.append(int(seq))
        if img.received.all() or frag_idx == n_frags - 1:  # in order: nothing missing comes after the last
            out.append(self._release(image_id))
        return out

    def expire(self, now: int) -> List[Image]:
        old = [i for i, img in self.pending.items() if now - img.last_seen > self.timeout]
        return [self._release(i) for i in sorted(old, key=lambda i: self.pending[i].last_seen)]

    def flush_all(self) -> List[Image]:
        return [self._release(i) for i in sorted(self.pending, key=lambda i: self.pending[i].last_seen)]

    def _release(self, image_id: int) -> Image:
        img = self.pending.pop(image_id)
        erasure = np.ones(img.image_len, np.uint8)
        lost = []
        for f in range(img.n_frags):
            lo, hi = fragment_bounds(img.image_len, img.n_frags, f)
            if img.received[f]:
                erasure[lo:hi] = 0
            else:
                lost.append(f)
        snr = 10 * np.log10(np.mean(10 ** (np.asarray(img.snr_db) / 10))) if img.snr_db else float("nan")
        return Image(img.image_id, img.symbols, img.noise_var, erasure, img.n_frags, lost, float(snr), img.seqs,
                     *img.photo)
