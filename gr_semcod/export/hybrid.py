"""Export the semantic codec v2 (:class:`~gr_semcod.semantic.hybrid.HybridSemanticCodec`) into a bundle.

Three ONNX files (fixed tile size, dynamic batch = tiles), the numpy side does the rest
(:mod:`gr_semcod.runtime.quadtree` allocation, token extraction, power, channel, unmerge):

=====================  ==========================================  ===============================
role                   inputs                                      outputs
=====================  ==========================================  ===============================
semantic2_encoder      images (T,3,S,S) in [0,1]                   features (T,c+d,S/4,S/4)
semantic2_merger       features, levels (T,1,S/4,S/4) float        latent (T,c,S/4,S/4), leaf-constant
semantic2_decoder      latent, levels, snr_db (T,1)                images (T,3,S,S)
semantic2_decoder@cbr  as semantic2_decoder (optional)             images: a receiver trained at that rate
=====================  ==========================================  ===============================

A per-CBR receiver (:func:`export_semantic2_decoder`) comes from a receiver-only run
(``freeze_transmitter``, configs ``semcod2_32_rx48``/``_rx12``) on the bundle's transmitter: the
export refuses it unless its encoder and merger match the bundle's ONNX files and its level
amplitudes the manifest's.  ``manifest["semantic2"]["decoders"]`` lists them (``{cbr: {"run": name}}``);
:func:`gr_semcod.runtime.semantic2.decoder_role` picks one by the received rate.

``manifest["semantic2"]`` holds what the numpy side needs: ``c``, ``depth``, ``beta``,
``gain_bits``/``gain_step_db``/``gain_min_db``, ``tile``, ``base_cbr`` and the training CBRs.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, Optional

import numpy as np
import torch

from ..runtime.bundle import MANIFEST, write_manifest
from ..semantic.hybrid import GAIN_BITS, GAIN_MIN_DB, GAIN_STEP_DB, HybridSemanticCodec
from .bundle import _export

ROLES = ("semantic2_encoder", "semantic2_merger", "semantic2_decoder")
DECODER_PREFIX = "semantic2_decoder@"


@torch.no_grad()
def export_semantic2(out_dir, codec: HybridSemanticCodec, tile: int = 32, tol: float = 1e-4, seed: int = 0,
                     meta: Optional[Dict] = None) -> Dict[str, float]:
    """Add the three v2 roles to the bundle in ``out_dir`` (its manifest must exist); returns parity errors.
    The per-CBR receivers of a previous v2 go (they were trained on its transmitter)."""
    out = Path(out_dir)
    manifest = json.loads((out / MANIFEST).read_text())
    stale = {r: manifest["models"].pop(r)["file"] for r in [r for r in manifest["models"] if r.startswith(DECODER_PREFIX)]}
    for role in stale:
        manifest.get("meta", {}).get("onnx_parity_max_abs", {}).pop(role, None)
    codec = codec.eval()
    parity: Dict[str, float] = {}
    images, feats, levels, latent, snr = _example(codec, tile, seed)
    models = manifest["models"]
    models["semantic2_encoder"] = _export(out, "semantic2_encoder", codec.encoder_a, [images], ["images"],
                                          ["features"], tol, parity)
    models["semantic2_merger"] = _export(out, "semantic2_merger", codec.encoder_b, [feats, levels],
                                         ["features", "levels"], ["latent"], tol, parity)
    models["semantic2_decoder"] = _export(out, "semantic2_decoder", codec.decoder, [latent, levels, snr],
                                          ["latent", "levels", "snr_db"], ["images"], tol, parity)
    manifest["semantic2"] = {
        "c": codec.c, "depth": codec.depth, "beta": codec.beta, "tile": tile,
        "gain_bits": GAIN_BITS, "gain_step_db": GAIN_STEP_DB, "gain_min_db": GAIN_MIN_DB,
        "level_amp": [float(a) for a in codec.level_amp()],
        "base_cbr": str(codec.base_cbr), "cbrs": list(codec.cbr_choices), **(meta or {}),
    }
    manifest.setdefault("meta", {}).setdefault("onnx_parity_max_abs", {}).update(parity)
    write_manifest(out, manifest)
    for f in stale.values():  # only once the manifest no longer lists them
        (out / f).unlink(missing_ok=True)
    return parity


def _example(codec: HybridSemanticCodec, tile: int, seed: int):
    """Export / check inputs: images, their features and levels, a received (noisy) merged latent
    and the receiver's SNRs."""
    g = torch.Generator().manual_seed(seed)
    images = torch.rand(2, 3, tile, tile, generator=g)
    feats = codec.encoder_a(images)
    lev, _ = codec.allocate(feats, np.array([40.0, 120.0]))
    levels = torch.from_numpy(lev)[:, None].float()
    latent = codec.encoder_b(feats, levels) + 0.1 * torch.randn(2, codec.c, tile // 4, tile // 4, generator=g)
    return images, feats, levels, latent, torch.tensor([[3.0], [15.0]])


@torch.no_grad()
def check_transmitter(out_dir, codec: HybridSemanticCodec, tol: float = 1e-4, seed: int = 0) -> float:
    """ValueError unless ``codec``'s transmitter is the bundle's: its encoder and merger against the
    bundle's ONNX files (ONNX Runtime, max abs error <= ``tol``) and its level amplitudes against the
    manifest's; returns the larger error."""
    from ..runtime.bundle import load_bundle

    bundle = load_bundle(str(out_dir))
    meta = bundle.manifest.get("semantic2")
    if meta is None or not all(bundle.has(r) for r in ROLES):
        raise ValueError(f"bundle {out_dir} has no semantic codec v2 to add a receiver to")
    codec = codec.eval()
    tile = int(meta["tile"])
    if (codec.c, codec.depth) != (meta["c"], meta["depth"]):
        raise ValueError(f"receiver for c={codec.c}, depth={codec.depth}; the bundle's v2 has c={meta['c']}, "
                         f"depth={meta['depth']}")
    amp = np.asarray([float(a) for a in codec.level_amp()])
    err_amp = float(np.max(np.abs(amp - np.asarray(meta["level_amp"]))))
    images, feats, levels, _, _ = _example(codec, tile, seed)
    err_a = float(np.max(np.abs(bundle.run("semantic2_encoder", images=images.numpy())["features"] - feats.numpy())))
    ref = bundle.run("semantic2_merger", features=feats.numpy(), levels=levels.numpy())["latent"]
    err_b = float(np.max(np.abs(ref - codec.encoder_b(feats, levels).numpy())))
    worst = max(err_a, err_b, err_amp)
    if not worst <= tol:
        raise ValueError(f"this receiver was trained on another transmitter than the bundle's v2 (encoder "
                         f"{err_a:.1e}, merger {err_b:.1e}, level amplitudes {err_amp:.1e} > {tol:.0e}); train it "
                         f"with init_from=<this bundle> and freeze_transmitter")
    return worst


@torch.no_grad()
def export_semantic2_decoder(out_dir, codec: HybridSemanticCodec, cbr, tol: float = 1e-4, seed: int = 0,
                             meta: Optional[Dict] = None) -> Dict[str, float]:
    """Add ``codec``'s receiver as role ``semantic2_decoder@<cbr>`` to the bundle in ``out_dir``,
    after :func:`check_transmitter`; returns the parity errors."""
    from ..rates import cbr_text, role_key

    out = Path(out_dir)
    check_transmitter(out, codec, tol, seed)
    manifest = json.loads((out / MANIFEST).read_text())
    tile = int(manifest["semantic2"]["tile"])
    _, _, levels, latent, snr = _example(codec, tile, seed)
    role = role_key("semantic2_decoder", cbr)
    parity: Dict[str, float] = {}
    manifest["models"][role] = _export(out, role, codec.decoder.eval(), [latent, levels, snr],
                                       ["latent", "levels", "snr_db"], ["images"], tol, parity)
    manifest["semantic2"].setdefault("decoders", {})[cbr_text(cbr)] = dict(meta or {})
    manifest.setdefault("meta", {}).setdefault("onnx_parity_max_abs", {}).update(parity)
    write_manifest(out, manifest)
    return parity
