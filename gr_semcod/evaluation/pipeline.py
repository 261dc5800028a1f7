"""Image -> symbols -> channel -> image with a bundle's ONNX models (numpy + ONNX Runtime only).

Both schemes see the same channel realisation for the same ``seed``, so their difference is
the codec's alone.
"""
from __future__ import annotations

from typing import Dict, Optional

import numpy as np

from ..runtime.bundle import Bundle, role_key
from ..runtime.channels import awgn, complex_to_iq, iq_to_complex, rayleigh


def through_channel(symbols: np.ndarray, channel: str, snr_db: float, seed: int, block_len: int = 16) -> np.ndarray:
    """(B, k, 2) I/Q -> received, equalised (B, k, 2) I/Q; unit power in, noise 10^(-SNR/10)."""
    rng = np.random.default_rng(seed)
    z = iq_to_complex(symbols)
    if channel == "awgn":
        y = awgn(z, snr_db, rng)
    elif channel == "rayleigh":
        y, _ = rayleigh(z, snr_db, block_len, rng, equalize="mmse")
    else:
        raise ValueError(f"channel must be awgn or rayleigh, got {channel!r}")
    return complex_to_iq(y).astype(np.float32)


def _batches(n: int, batch: int):
    for i in range(0, n, batch):
        yield slice(i, min(i + batch, n))


def semantic_roundtrip(bundle: Bundle, images: np.ndarray, cbr: str, channel: str, snr_db: float,
                       seed: int = 0, batch: int = 250) -> Dict[str, np.ndarray]:
    """images (N,3,H,W) float32 in [0,1] -> {"images": recon, ["logits"]}."""
    recon, logits = [], []
    for j, sl in enumerate(_batches(len(images), batch)):
        tok = bundle.run("tokenizer", images=images[sl])
        sym = bundle.run(role_key("jscc_encoder", cbr), **tok)["symbols"]
        rx = through_channel(sym, channel, snr_db, seed + j)
        snr = np.full((len(sym), 1), snr_db, np.float32)
        tokens = bundle.run(role_key("jscc_decoder", cbr), symbols=rx, snr_db=snr)["tokens"]
        recon.append(bundle.run("detokenizer", tokens=tokens)["images"])
        if bundle.has("classifier"):
            logits.append(bundle.run("classifier", tokens=tokens)["logits"])
    out = {"images": np.clip(np.concatenate(recon), 0, 1)}
    if logits:
        out["logits"] = np.concatenate(logits)
    return out


def deepjscc_roundtrip(bundle: Bundle, images: np.ndarray, cbr: str, channel: str, snr_db: float,
                       seed: int = 0, batch: int = 250) -> Dict[str, np.ndarray]:
    recon = []
    for j, sl in enumerate(_batches(len(images), batch)):
        sym = bundle.run(role_key("deepjscc_encoder", cbr), images=images[sl])["symbols"]
        rx = through_channel(sym, channel, snr_db, seed + j)
        snr = np.full((len(sym), 1), snr_db, np.float32)
        recon.append(bundle.run(role_key("deepjscc_decoder", cbr), symbols=rx, snr_db=snr)["images"])
    return {"images": np.clip(np.concatenate(recon), 0, 1)}


def has_semantic(bundle: Bundle, cbr: str) -> bool:
    return bundle.has("tokenizer") and bundle.has(role_key("jscc_encoder", cbr))


def has_deepjscc(bundle: Bundle, cbr: Optional[str]) -> bool:
    return bundle.has(role_key("deepjscc_encoder", cbr))
