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

A transmitter of its own at a CBR (:func:`export_semantic2_transmitter`, from a run trained at that
rate alone, e.g. ``semcod2_32_tx48lo``) adds ``semantic2_encoder@<cbr>``, ``semantic2_merger@<cbr>``
and its matched receiver ``semantic2_decoder@<cbr>`` (which replaces a receiver of the shared
transmitter at that rate); ``manifest["semantic2"]["transmitters"]`` lists them (``{cbr: {"level_amp",
"cbrs", "run"}}``) and :func:`gr_semcod.runtime.semantic2.codec_set` picks the set by the rate.

``manifest["semantic2"]`` holds what the numpy side needs: ``c``, ``depth``, ``beta``,
``gain_bits``/``gain_step_db``/``gain_min_db``, ``tile``, ``base_cbr`` and the training CBRs.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, Optional

import numpy as np
import torch

from ..rates import role_key
from ..runtime.bundle import MANIFEST, write_manifest
from ..semantic.hybrid import GAIN_BITS, GAIN_MIN_DB, GAIN_STEP_DB, HybridSemanticCodec
from .bundle import _export

ROLES = ("semantic2_encoder", "semantic2_merger", "semantic2_decoder")
DECODER_PREFIX = "semantic2_decoder@"
#: the constants a transmitter of its own shares with the bundle's v2 (its own: level_amp, cbrs,
#: gain_min_db: the power gain's grid is the set's, written in every set's entry)
SET_CONSTANTS = ("c", "depth", "beta", "tile", "gain_bits", "gain_step_db", "base_cbr")


def _constants(codec: HybridSemanticCodec, tile: int) -> Dict:
    return {"c": codec.c, "depth": codec.depth, "beta": codec.beta, "tile": tile, "gain_bits": GAIN_BITS,
            "gain_step_db": GAIN_STEP_DB, "gain_min_db": float(codec.gain_min_db),
            "base_cbr": str(codec.base_cbr)}


@torch.no_grad()
def export_semantic2(out_dir, codec: HybridSemanticCodec, tile: int = 32, tol: float = 1e-4, seed: int = 0,
                     meta: Optional[Dict] = None) -> Dict[str, float]:
    """Add the three v2 roles to the bundle in ``out_dir`` (its manifest must exist); returns parity errors.
    The per-CBR receivers of a previous v2 go (they were trained on its transmitter); its
    transmitters of their own stay when their constants (:data:`SET_CONSTANTS`) are the new v2's."""
    from ..runtime.semantic2 import SET_ROLES

    out = Path(out_dir)
    manifest = json.loads((out / MANIFEST).read_text())
    before = manifest.get("semantic2") or {}
    same = all(before.get(k) == _constants(codec, tile)[k] for k in SET_CONSTANTS)
    # a kept set keeps its own gain grid (the previous shared one unless it had its own)
    kept = {c: {"gain_min_db": before.get("gain_min_db", GAIN_MIN_DB), **t}
            for c, t in (before.get("transmitters") or {}).items()
            if same and all(role_key(r, c) in manifest["models"] for r in SET_ROLES)}
    own = {role_key(r, c) for c in kept for r in SET_ROLES}
    drop = [r for r in manifest["models"] if r not in own and (
        r.startswith(DECODER_PREFIX) or r.startswith("semantic2_encoder@") or r.startswith("semantic2_merger@"))]
    stale = {r: manifest["models"].pop(r)["file"] for r in drop}
    for role in stale:
        manifest.get("meta", {}).get("onnx_parity_max_abs", {}).pop(role, None)
    parity = _export_set(out, manifest["models"], codec.eval(), tile, tol, seed)
    manifest["semantic2"] = {
        **_constants(codec, tile), "level_amp": [float(a) for a in codec.level_amp()],
        "cbrs": list(codec.cbr_choices), **(meta or {}), **({"transmitters": kept} if kept else {}),
    }
    manifest.setdefault("meta", {}).setdefault("onnx_parity_max_abs", {}).update(parity)
    write_manifest(out, manifest)
    for f in stale.values():  # only once the manifest no longer lists them
        (out / f).unlink(missing_ok=True)
    return parity


def _export_set(out: Path, models: Dict, codec: HybridSemanticCodec, tile: int, tol: float, seed: int,
                cbr: Optional[str] = None) -> Dict[str, float]:
    """Export ``codec``'s encoder, merger and decoder as :data:`ROLES` (``role@<cbr>`` with ``cbr``)
    into ``out`` and their entries into ``models``; returns the parity errors."""
    parity: Dict[str, float] = {}
    images, feats, levels, latent, snr = _example(codec, tile, seed)
    for role, module, example, names, outs in (
            ("semantic2_encoder", codec.encoder_a, [images], ["images"], ["features"]),
            ("semantic2_merger", codec.encoder_b, [feats, levels], ["features", "levels"], ["latent"]),
            ("semantic2_decoder", codec.decoder, [latent, levels, snr], ["latent", "levels", "snr_db"], ["images"])):
        key = role if cbr is None else role_key(role, cbr)
        models[key] = _export(out, key, module, example, names, outs, tol, parity)
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
def check_transmitter(out_dir, codec: HybridSemanticCodec, tol: float = 1e-4, seed: int = 0,
                      cbr: Optional[str] = None) -> float:
    """ValueError unless ``codec``'s transmitter is the bundle's (its transmitter of its own at
    ``cbr`` when given): its encoder and merger against the bundle's ONNX files (ONNX Runtime, max
    abs error <= ``tol``) and its level amplitudes against the manifest's; returns the larger error."""
    from ..runtime.bundle import load_bundle
    from ..runtime.semantic2 import set_meta

    bundle = load_bundle(str(out_dir))
    meta = bundle.manifest.get("semantic2")
    if meta is None or not all(bundle.has(r) for r in ROLES):
        raise ValueError(f"bundle {out_dir} has no semantic codec v2 to add a receiver to")
    meta = set_meta(bundle.manifest, cbr)
    enc, mrg = ("semantic2_encoder", "semantic2_merger") if cbr is None else (
        role_key("semantic2_encoder", cbr), role_key("semantic2_merger", cbr))
    codec = codec.eval()
    tile = int(meta["tile"])
    if (codec.c, codec.depth) != (meta["c"], meta["depth"]):
        raise ValueError(f"receiver for c={codec.c}, depth={codec.depth}; the bundle's v2 has c={meta['c']}, "
                         f"depth={meta['depth']}")
    amp = np.asarray([float(a) for a in codec.level_amp()])
    err_amp = float(np.max(np.abs(amp - np.asarray(meta["level_amp"]))))
    images, feats, levels, _, _ = _example(codec, tile, seed)
    err_a = float(np.max(np.abs(bundle.run(enc, images=images.numpy())["features"] - feats.numpy())))
    ref = bundle.run(mrg, features=feats.numpy(), levels=levels.numpy())["latent"]
    err_b = float(np.max(np.abs(ref - codec.encoder_b(feats, levels).numpy())))
    worst = max(err_a, err_b, err_amp)
    if not worst <= tol:
        which = "the bundle's v2" if cbr is None else f"the bundle's transmitter at CBR {cbr}"
        raise ValueError(f"this receiver was trained on another transmitter than {which} (encoder "
                         f"{err_a:.1e}, merger {err_b:.1e}, level amplitudes {err_amp:.1e} > {tol:.0e}); train it "
                         f"with init_from=<this bundle> and freeze_transmitter")
    return worst


@torch.no_grad()
def export_semantic2_decoder(out_dir, codec: HybridSemanticCodec, cbr, tol: float = 1e-4, seed: int = 0,
                             meta: Optional[Dict] = None) -> Dict[str, float]:
    """Add ``codec``'s receiver as role ``semantic2_decoder@<cbr>`` to the bundle in ``out_dir``,
    after :func:`check_transmitter` (against the transmitter of its own at ``cbr`` when the bundle
    has one: the receiver then replaces that set's matched one, ``transmitters[cbr]["receiver_run"]``);
    returns the parity errors."""
    from ..rates import cbr_text

    out = Path(out_dir)
    cbr = cbr_text(cbr)
    manifest = json.loads((out / MANIFEST).read_text())
    from ..runtime.semantic2 import transmitter_cbrs

    own = cbr if cbr in transmitter_cbrs(manifest) else None
    check_transmitter(out, codec, tol, seed, cbr=own)
    tile = int(manifest["semantic2"]["tile"])
    _, _, levels, latent, snr = _example(codec, tile, seed)
    role = role_key("semantic2_decoder", cbr)
    parity: Dict[str, float] = {}
    manifest["models"][role] = _export(out, role, codec.decoder.eval(), [latent, levels, snr],
                                       ["latent", "levels", "snr_db"], ["images"], tol, parity)
    if own is None:
        manifest["semantic2"].setdefault("decoders", {})[cbr] = dict(meta or {})
    else:
        manifest["semantic2"]["transmitters"][own]["receiver_run"] = (meta or {}).get("run")
    manifest.setdefault("meta", {}).setdefault("onnx_parity_max_abs", {}).update(parity)
    write_manifest(out, manifest)
    return parity


@torch.no_grad()
def export_semantic2_transmitter(out_dir, codec: HybridSemanticCodec, cbr, tol: float = 1e-4, seed: int = 0,
                                 meta: Optional[Dict] = None) -> Dict[str, float]:
    """Add ``codec`` whole as the transmitter of its own at ``cbr`` (roles ``semantic2_encoder@<cbr>``,
    ``semantic2_merger@<cbr>`` and its matched ``semantic2_decoder@<cbr>``, which replaces a receiver
    of the shared transmitter at that rate) to the bundle in ``out_dir``; its constants
    (:data:`SET_CONSTANTS`) must be the bundle's v2's.  Returns the parity errors."""
    from ..rates import cbr_text

    out = Path(out_dir)
    cbr = cbr_text(cbr)
    manifest = json.loads((out / MANIFEST).read_text())
    s2 = manifest.get("semantic2")
    if s2 is None or not all(r in manifest["models"] for r in ROLES):
        raise ValueError(f"bundle {out_dir} has no semantic codec v2 to add a transmitter to")
    tile = int(s2["tile"])
    wrong = {k: (v, s2.get(k)) for k, v in _constants(codec, tile).items() if k in SET_CONSTANTS and s2.get(k) != v}
    if wrong:
        raise ValueError("this transmitter's constants differ from the bundle's v2: " + ", ".join(
            f"{k}={a} (bundle {b})" for k, (a, b) in wrong.items()))
    codec = codec.eval()
    parity = _export_set(out, manifest["models"], codec, tile, tol, seed, cbr)
    (s2.get("decoders") or {}).pop(cbr, None)  # the receiver of the shared transmitter at this rate: replaced
    if "decoders" in s2 and not s2["decoders"]:
        del s2["decoders"]
    s2.setdefault("transmitters", {})[cbr] = {"level_amp": [float(a) for a in codec.level_amp()],
                                              "cbrs": list(codec.cbr_choices),
                                              "gain_min_db": float(codec.gain_min_db),
                                              **(meta or {})}
    manifest.setdefault("meta", {}).setdefault("onnx_parity_max_abs", {}).update(parity)
    write_manifest(out, manifest)
    return parity
