"""Export the semantic codec v2 (:class:`~gr_semcod.semantic.hybrid.HybridSemanticCodec`) into a bundle.

Three ONNX files (fixed tile size, dynamic batch = tiles), the numpy side does the rest
(:mod:`gr_semcod.runtime.quadtree` allocation, token extraction, power, channel, unmerge):

=====================  ==========================================  ===============================
role                   inputs                                      outputs
=====================  ==========================================  ===============================
semantic2_encoder      images (T,3,S,S) in [0,1]                   features (T,c+d,S/4,S/4)
semantic2_merger       features, levels (T,1,S/4,S/4) float        latent (T,c,S/4,S/4), leaf-constant
semantic2_decoder      latent, levels, snr_db (T,1)                images (T,3,S,S)
=====================  ==========================================  ===============================

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


@torch.no_grad()
def export_semantic2(out_dir, codec: HybridSemanticCodec, tile: int = 32, tol: float = 1e-4, seed: int = 0,
                     meta: Optional[Dict] = None) -> Dict[str, float]:
    """Add the three v2 roles to the bundle in ``out_dir`` (its manifest must exist); returns parity errors."""
    out = Path(out_dir)
    manifest = json.loads((out / MANIFEST).read_text())
    codec = codec.eval()
    g = torch.Generator().manual_seed(seed)
    parity: Dict[str, float] = {}
    images = torch.rand(2, 3, tile, tile, generator=g)
    models = manifest["models"]
    models["semantic2_encoder"] = _export(out, "semantic2_encoder", codec.encoder_a, [images], ["images"],
                                          ["features"], tol, parity)
    feats = codec.encoder_a(images)
    lev, _ = codec.allocate(feats, np.array([40.0, 120.0]))
    levels = torch.from_numpy(lev)[:, None].float()
    models["semantic2_merger"] = _export(out, "semantic2_merger", codec.encoder_b, [feats, levels],
                                         ["features", "levels"], ["latent"], tol, parity)
    latent = codec.encoder_b(feats, levels) + 0.1 * torch.randn(2, codec.c, tile // 4, tile // 4, generator=g)
    snr = torch.tensor([[3.0], [15.0]])
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
    return parity
