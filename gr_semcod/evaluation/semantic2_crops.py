"""Semantic codec v2 on crops of the bundle's size, each with its own budget, down to the
*received latent* (after the channel and the unmerge, before the synthesis): what the machine
receiver ``semantic2_classifier`` reads, and what ``semantic2_decoder`` turns into an image.

Per crop (``k = CBR * S * S * 3`` symbols; the side bits charged, as the crop table charges them)::

    features = semantic2_encoder(x)
    levels   = quadtree.allocate(features[:c], k, beta(SNR), gain_bits)   one tree per crop
    latent   = semantic2_merger(features, levels) * a_level                leaf-constant
    s        = tokens(latent) / sqrt(P)        P: mean token power; its quantised dB value g is side info
    r        = channel(s)
    y^       = unmerge(r) * 10^(g/20) / a_level                            every position copies its leaf
    snr_in   = SNR - g                                                     the decoder's SNR input

:func:`transmit` and :func:`receive` are the two halves (the channel in between is the caller's:
one SNR per batch in the evaluation, one per crop in training); :func:`received_latents` is the
evaluation's loop (batches and seeds as :func:`gr_semcod.evaluation.fullsize.semantic2_images`,
whose images are ``semantic2_decoder(received_latents(...))`` exactly: the tests check it).
numpy + ONNX Runtime only.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Dict, Optional

import numpy as np

from ..rates import role_key
from ..runtime import quadtree
from ..runtime.bundle import Bundle
from ..runtime.channels import num_symbols
from ..runtime.side_info import reliable
from .pipeline import _batches, through_channel


CLASSIFIER_ROLE = "semantic2_classifier"


def semantic2_digest(manifest: Dict, cbr=None) -> bytes:
    """sha256 of what a v2 machine receiver of crops sent at ``cbr`` depends on: the transmitter
    that codes them (:func:`gr_semcod.runtime.semantic2.codec_set`'s; the shared one for
    ``cbr=None`` or a rate without a transmitter of its own): its ONNX files (their manifest sha256)
    and the numpy side's constants (:func:`~gr_semcod.runtime.semantic2.set_meta` without ``run``,
    ``decoders`` and ``transmitters``: none of them changes what is sent)."""
    from ..runtime.semantic2 import SHARED_KEYS, TRANSMITTER_ROLES, nearest_cbr, set_meta, transmitter_cbrs

    own = nearest_cbr(transmitter_cbrs(manifest), cbr)
    meta = {k: v for k, v in set_meta(manifest, own).items() if k not in SHARED_KEYS}
    parts = [manifest["models"][r if own is None else role_key(r, own)]["sha256"] for r in TRANSMITTER_ROLES]
    return hashlib.sha256("|".join(parts + [json.dumps(meta, sort_keys=True)]).encode()).digest()


def head_digest(manifest: Dict, cbrs) -> bytes:
    """The ``codec_digest`` of a machine receiver trained on crops sent at ``cbrs``: the
    :func:`semantic2_digest` of their transmitter when one codes them all, else the sha256 of the
    sorted digests of the transmitters they use (a head trained across a rate with a transmitter
    of its own and rates of the shared one)."""
    ds = sorted({semantic2_digest(manifest, c) for c in cbrs})
    return ds[0] if len(ds) == 1 else hashlib.sha256(b"|".join(ds)).digest()


def recon_decoder(bundle: Bundle, cbr) -> str:
    """The v2 receiver whose image a machine receiver of crops sent at ``cbr`` reads (a
    :class:`~gr_semcod.receivers.LatentReconClassifier`): the matched receiver of a transmitter of
    its own, else the shared ``semantic2_decoder`` (the per-CBR receivers of the shared transmitter
    are no part of :func:`semantic2_digest`)."""
    k = _codec(bundle, cbr)
    return k.decoder if k.cbr is not None else "semantic2_decoder"


def classifier_role(bundle: Bundle, cbr=None) -> str:
    """The machine receiver for crops sent at ``cbr``: ``semantic2_classifier@<cbr>``, a head trained
    at that rate alone, when the bundle has one, else the head trained over several rates,
    ``semantic2_classifier``.  Both read the same received latent."""
    if cbr is not None:
        role = role_key(CLASSIFIER_ROLE, cbr)
        if bundle.has(role):
            return role
    return CLASSIFIER_ROLE


def check_classifier(bundle: Bundle, role: str = CLASSIFIER_ROLE, cbr=None) -> None:
    """ValueError unless the bundle's ``role`` (``semantic2_classifier`` or a per-CBR head) was
    trained on the v2 transmitter that codes crops sent at ``cbr`` (``manifest[role]["codec_digest"]``,
    written by ``semcod export``, against :func:`semantic2_digest` of ``cbr``; for a head whose
    record lists the rates it trained at, ``cbrs``, against :func:`head_digest` of those, and
    ``cbr``'s transmitter must be one of theirs)."""
    rec = bundle.manifest.get(role) or {}
    m = bundle.manifest
    if rec.get("cbrs"):
        ok = rec.get("codec_digest") == head_digest(m, rec["cbrs"]).hex() and (
            cbr is None or semantic2_digest(m, cbr) in {semantic2_digest(m, c) for c in rec["cbrs"]})
    else:
        ok = rec.get("codec_digest") == semantic2_digest(m, cbr).hex()
    if not ok:
        at = "" if cbr is None else f" at CBR {cbr}"
        raise ValueError(f"bundle {bundle.name!r}: {role} was trained on another semantic codec v2 than "
                         f"the bundle's transmitter{at} (codec_digest differs); retrain it (semcod train --config "
                         f"{rec.get('run') or 'semcod2_32_cls'}) and export it again")


@dataclass
class Sent:
    """What :func:`transmit` puts on the air for a batch of crops."""

    symbols: np.ndarray    # (B, L, 2) float32 I/Q, unit mean power per crop, zero-padded to the longest
    n_symbols: np.ndarray  # (B,) token symbols of each crop (the rest of its row is padding, not sent)
    levels: np.ndarray     # (B, h, w) uint8 level maps (the tree, side information)
    gain_db: np.ndarray    # (B,) quantised power gain (side information)
    snr_db: np.ndarray     # (B,) the SNR each crop was allocated for
    spent: np.ndarray      # (B,) symbols charged: tokens + side bits at beta(SNR)
    cbr: str = None        # the rate they were sent at: it picks the codec set (codec_set) at both ends
    gain_clipped: np.ndarray = None  # (B,) bool: the token power lay outside the gain grid, so the
    #                                  receiver's scale is off by the excess (the grid's edge was sent)


def crop_beta(snr_db: float, fading: bool, n_flags: int) -> float:
    """Channel symbols per flag bit charged for a crop's tree of at most ``n_flags`` flags: the
    ``beta`` of the cheapest convolutional (K=7) scheme reliable at ``snr_db``, whose tree cost is
    linear in the flags, so the per-flag charge is exact (the always-reliable floor is one of
    them).  Crops charge the flags and the gain bits only, not the head and CRC a real side frame
    adds (:func:`gr_semcod.runtime.semantic2.side_cost`): at 64 symbols per crop at CBR 1/48 it
    would not fit; the photo path sends and charges everything."""
    return min(m.beta for m in reliable(snr_db, fading, n_flags) if m.code != "ldpc")


def _codec(bundle: Bundle, cbr):
    from ..runtime.semantic2 import codec_set

    return codec_set(bundle, cbr)


def transmit(bundle: Bundle, images: np.ndarray, cbr: str, snr_db, fading: bool = False,
             features: np.ndarray = None, fill_rounds: Optional[int] = None) -> Sent:
    """Crops ``(B, 3, S, S)`` in [0, 1] -> :class:`Sent`; ``snr_db`` a scalar or one per crop (it
    picks the side-information scheme, hence ``beta``, per crop; its fading table with ``fading``).
    ``features``: the encoder's output for ``images`` when the caller has it already (the
    :func:`~gr_semcod.runtime.semantic2.codec_set` of ``cbr``'s encoder);
    ``fill_rounds``: the allocation's (:func:`quadtree.allocate`; default its own), for ablations."""
    from ..runtime.semantic2 import gain_index, merge_tiles

    codec = _codec(bundle, cbr)
    meta = codec.meta
    c, depth, gbits = meta["c"], meta["depth"], meta["gain_bits"]
    n, _, h, w = images.shape
    snr = np.broadcast_to(np.asarray(snr_db, np.float64), (n,)).copy()
    k = float(num_symbols(cbr, h, w))
    feats = bundle.run(codec.encoder, images=images)["features"] if features is None else features
    # a crop's tree is a few dozen bits, charged per flag (crops idealise the head and CRC away):
    # at the K=7 scheme that holds at the SNR, whose cost is linear in the flags; an LDPC
    # codeword's nominal beta would undercharge so few flags (it still sends all its parity)
    betas = np.array([crop_beta(float(s), fading, 4 ** depth) for s in snr])
    lev = np.zeros((n,) + feats.shape[2:], np.uint8)
    spent = np.zeros(n)
    for beta in np.unique(betas):  # one allocation per scheme (all crops at once when the SNR is shared)
        idx = np.flatnonzero(betas == beta)
        kw = {} if fill_rounds is None else {"fill_rounds": int(fill_rounds)}
        lev[idx], info = quadtree.allocate(feats[idx, :c], depth, c / 2.0, k, float(beta), gbits, **kw)
        spent[idx] = info["symbols"]
    level_amp = np.asarray(meta["level_amp"], np.float32)
    latent = merge_tiles(bundle, meta, images, feats, lev, max(n, 1), merger=codec.merger)
    toks = quadtree.extract_tokens(latent * level_amp[lev][:, None], lev)
    lengths = np.array([len(t) * c // 2 for t in toks])
    sym = np.zeros((n, int(lengths.max()), 2), np.float32)
    p = np.array([float((t.astype(np.float64) ** 2).sum() / (len(t) * c / 2)) for t in toks])
    q, clipped = gain_index(meta, p)
    for i, t in enumerate(toks):
        sym[i, :lengths[i]] = (t / np.sqrt(p[i])).reshape(-1, 2)
    return Sent(sym, lengths, lev, meta["gain_min_db"] + meta["gain_step_db"] * q, snr, spent, str(cbr), clipped)


def receive(bundle: Bundle, sent: Sent, received: np.ndarray) -> Dict[str, np.ndarray]:
    """Received I/Q ``(B, L, 2)`` (rows as in ``sent.symbols``) -> ``{"latent" (B, c, h, w),
    "levels" (B, 1, h, w) float32, "snr_db" (B, 1) float32}``: the inputs of ``semantic2_decoder``
    and of ``semantic2_classifier`` (the codec set of ``sent.cbr``: its level amplitudes)."""
    if sent.cbr is None:
        raise ValueError("Sent.cbr is not set: the receiver needs the rate to pick the codec set")
    meta = _codec(bundle, sent.cbr).meta
    c = meta["c"]
    level_amp = np.asarray(meta["level_amp"], np.float32)
    parts = [received[i, :m].reshape(-1, c) * np.float32(10 ** (g / 20))
             for i, (m, g) in enumerate(zip(sent.n_symbols, sent.gain_db))]
    latent = quadtree.insert_tokens(parts, sent.levels) / level_amp[sent.levels][:, None]
    return {"latent": latent.astype(np.float32), "levels": sent.levels[:, None].astype(np.float32),
            "snr_db": (sent.snr_db - sent.gain_db).astype(np.float32)[:, None]}


def received_latents(bundle: Bundle, images: np.ndarray, cbr: str, channel: str, snr_db: float, seed: int = 0,
                     batch: int = 250):
    """Per batch of ``batch`` crops (batch ``j``: channel seed ``seed + j``), ``(slice, received)``
    with ``received`` as :func:`receive` returns it plus ``"spent"`` (symbols charged per crop)."""
    for j, sl in enumerate(_batches(len(images), batch)):
        sent = transmit(bundle, images[sl], cbr, snr_db, fading=channel == "rayleigh")
        rx = through_channel(sent.symbols, channel, snr_db, seed + j)
        yield sl, {**receive(bundle, sent, rx), "spent": sent.spent}
