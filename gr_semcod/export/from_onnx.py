"""Torch modules from a bundle's ONNX files: the trained weights are the ONNX initialisers.

``runs/`` (checkpoints) is not part of the repository, but every exported model keeps its
weights as initialisers, so a shipped bundle is also a warm start.  The Deep JSCC exports keep
the parameter names of :class:`~gr_semcod.jscc.deepjscc.DeepJSCCEncoder` / ``DeepJSCC.decoder``;
PReLU slopes appear as anonymous initialisers, in the order of the graph's ``PRelu`` nodes.
The file's sha256 is checked against the manifest first (:func:`gr_semcod.runtime.load_bundle`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Optional

import numpy as np
import torch

from ..jscc.deepjscc import DeepJSCC
from ..runtime.bundle import load_bundle, role_key


def onnx_weights(path) -> Dict[str, np.ndarray]:
    """``{name: array}`` of the initialisers; PReLU slopes renamed ``prelu.<i>`` in node order."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    init = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    out = {k: v for k, v in init.items() if not k.startswith("onnx::")}
    slopes = [n.input[1] for n in model.graph.node if n.op_type == "PRelu"]
    for i, name in enumerate(slopes):
        out[f"prelu.{i}"] = init[name]
    return out


def _load_part(module: torch.nn.Module, weights: Dict[str, np.ndarray], prefix: str = "") -> None:
    sd = {}
    slope_names = [k for k in module.state_dict() if k.startswith("acts.") and k.endswith(".weight")]
    for k in module.state_dict():
        if k in slope_names:
            i = int(k.split(".")[1])
            sd[k] = torch.from_numpy(np.array(weights[f"prelu.{i}"]).reshape(-1))
        else:
            sd[k] = torch.from_numpy(np.array(weights[prefix + k]))
    module.load_state_dict(sd)


def deepjscc_from_bundle(bundle_dir, cbr) -> DeepJSCC:
    """The bundle's Deep JSCC at ``cbr`` as a torch :class:`DeepJSCC` (AWGN channel, eval mode)."""
    bundle = load_bundle(bundle_dir)
    enc_path = bundle.path(role_key("deepjscc_encoder", cbr))
    dec_path = bundle.path(role_key("deepjscc_decoder", cbr))
    enc_w, dec_w = onnx_weights(enc_path), onnx_weights(dec_path)
    widths = (enc_w["convs.0.weight"].shape[0], enc_w["convs.1.weight"].shape[0])
    h, w = bundle.image_size
    model = DeepJSCC(cbr=cbr, image_size=(h, w), widths=widths,
                     decoder_snr=any(k.startswith("decoder.af.") for k in dec_w))
    _load_part(model.encoder, enc_w)
    _load_part(model.decoder, dec_w, prefix="decoder.")
    return model.eval()


#: the ONNX part of each v2 role: the module it was exported from (``export_semantic2``)
SEMANTIC2_PARTS = (("semantic2_encoder", "encoder_a"), ("semantic2_merger", "encoder_b"),
                   ("semantic2_decoder", "decoder"))


def _graph_tensors(path, own: Dict[str, torch.Tensor]) -> Dict[str, np.ndarray]:
    """The initialisers of the ONNX file ``path`` under the names of ``own`` (a module's
    ``state_dict``): named ones as they are; anonymous ones by their node, in graph order --
    a ``PRelu`` slope to the next ``*acts.<i>.weight``, a ``MatMul`` matrix (a bias-split
    ``nn.Linear``: ``x @ W^T``) transposed to the next 2-D ``*.weight`` of that shape not named in
    the file.  Tensors of ``own`` the graph does not use are not returned."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    init = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    out = {k: v for k, v in init.items() if k in own}
    extra = sorted(k for k in init if k not in own and not k.startswith("onnx::"))
    if extra:
        raise ValueError(f"{Path(path).name}: {len(extra)} weights the model does not have (e.g. {extra[0]}): "
                         "another architecture (codec_kwargs)?")
    used = set()
    open_slopes = [k for k in own if ".acts." in f".{k}" and k.endswith(".weight") and k not in out]
    open_linear = [k for k in own if k.endswith(".weight") and own[k].dim() == 2 and k not in out]
    for node in model.graph.node:
        for name in node.input:
            if name not in init or name in own:
                continue
            if node.op_type == "PRelu" and open_slopes:
                key = open_slopes.pop(0)
                out[key] = init[name].reshape(own[key].shape)
                used.add(name)
            elif node.op_type == "MatMul" and init[name].ndim == 2:
                key = next((k for k in open_linear if tuple(own[k].shape) == init[name].shape[::-1]), None)
                if key is not None:
                    open_linear.remove(key)
                    out[key] = init[name].T
                    used.add(name)
    left = [n for n in init if n.startswith("onnx::") and n not in used and init[n].size > 1
            and any(n in node.input and node.op_type in ("PRelu", "MatMul") for node in model.graph.node)]
    if left:
        raise ValueError(f"{Path(path).name}: {len(left)} anonymous weights match no tensor of the model "
                         f"(e.g. {left[0]} {init[left[0]].shape}): another architecture (codec_kwargs)?")
    return out


def semantic2_from_bundle(bundle_dir, tol: float = 1e-4, decoder: str = "semantic2_decoder",
                          transmitter: Optional[str] = None, **codec_kwargs):
    """The bundle's semantic codec v2 as a torch
    :class:`~gr_semcod.semantic.hybrid.HybridSemanticCodec` (eval mode), its weights the
    initialisers of ``semantic2_encoder`` / ``semantic2_merger`` / ``decoder`` (the shared receiver
    ``semantic2_decoder``, or a receiver per CBR, ``semantic2_decoder@<cbr>``) and the
    level amplitudes of ``manifest["semantic2"]``; ``codec_kwargs`` the architecture's other
    arguments (``dim``, ``heads``, ``decoder_blocks``; the config's defaults otherwise).
    ``transmitter``: a CBR with a transmitter of its own: that set instead (its
    ``semantic2_encoder@<cbr>`` / ``semantic2_merger@<cbr>``, its level amplitudes and, unless
    ``decoder`` names another, its matched ``semantic2_decoder@<cbr>``).

    Checked, not trusted: every parameter must come from a file, and the three modules must
    reproduce ONNX Runtime on random inputs within ``tol`` (ValueError naming the role otherwise,
    e.g. for a wrong ``heads``, which no weight's shape shows)."""
    from ..rates import cbr_text, role_key
    from ..runtime.semantic2 import check_bundle, set_meta, transmitter_cbrs
    from ..semantic.hybrid import HybridSemanticCodec

    bundle = load_bundle(bundle_dir)
    check_bundle(bundle)
    if transmitter is not None:
        transmitter = cbr_text(transmitter)
        if transmitter not in transmitter_cbrs(bundle.manifest):
            raise ValueError(f"bundle {bundle.name!r} has no transmitter of its own at CBR {transmitter} (it has "
                             f"{', '.join(transmitter_cbrs(bundle.manifest)) or 'none'})")
        if decoder == "semantic2_decoder":
            decoder = role_key("semantic2_decoder", transmitter)
    meta = set_meta(bundle.manifest, transmitter)
    at = decoder.partition("@")[2]
    if transmitter is None and at and cbr_text(at) in transmitter_cbrs(bundle.manifest):
        raise ValueError(f"bundle {bundle.name!r}: {decoder} is the receiver of the transmitter of its own at CBR "
                         f"{cbr_text(at)}, not of the shared one: read that set (transmitter={cbr_text(at)!r}; "
                         f"training: --model-arg init_transmitter={cbr_text(at)})")
    if decoder.split("@")[0] != "semantic2_decoder" or not bundle.has(decoder):
        have = sorted(r for r in bundle.manifest.get("models", {}) if r.startswith("semantic2_decoder"))
        raise ValueError(f"bundle {bundle.name!r} has no v2 receiver {decoder!r} (it has {', '.join(have) or 'none'})")
    roles = {r: r if transmitter is None else role_key(r, transmitter) for r, _ in SEMANTIC2_PARTS}
    roles["semantic2_decoder"] = decoder
    parts = [(roles[role], attr) for role, attr in SEMANTIC2_PARTS]
    enc_w = onnx_weights(bundle.path(roles["semantic2_encoder"]))
    kw = {"dim": int(enc_w["embed.weight"].shape[0]),  # the width shows in the weights
          "gain_min_db": float(meta["gain_min_db"]), **codec_kwargs}  # the set's power gain grid
    codec = HybridSemanticCodec(base_cbr=meta["base_cbr"], cbrs=tuple(meta["cbrs"]), image_size=meta["tile"],
                                depth=meta["depth"], beta=meta["beta"], freeze_base=True, **kw)
    loaded = set()
    for role, attr in parts:
        module = getattr(codec, attr)
        own = module.state_dict()
        tensors = _graph_tensors(bundle.path(role), own)
        for k, v in tensors.items():
            if tuple(own[k].shape) != tuple(v.shape):
                raise ValueError(f"{role}: {k} has shape {tuple(v.shape)} in the file, {tuple(own[k].shape)} in the model")
        module.load_state_dict({**own, **{k: torch.from_numpy(np.array(v)) for k, v in tensors.items()}})
        loaded |= {id(p) for name, p in module.named_parameters() if name in tensors}
    amp = np.asarray(meta["level_amp"], np.float64)
    with torch.no_grad():
        codec.level_log2_amp.copy_(torch.from_numpy(np.log2(amp[1:])).float())
    params = [(n, p) for n, p in codec.named_parameters() if n != "level_log2_amp"]
    missing = [n for n, p in params if id(p) not in loaded]
    if missing:
        raise ValueError(f"bundle {bundle.name!r}: {len(missing)} parameters of the v2 model are in none of its "
                         f"ONNX files (e.g. {missing[0]}): another architecture (codec_kwargs)?")
    codec.eval()
    _check_semantic2_parity(bundle, codec, meta, tol, roles)
    return codec


def _check_semantic2_parity(bundle, codec, meta, tol: float, roles: Dict[str, str]) -> None:
    g = torch.Generator().manual_seed(0)
    s = meta["tile"]
    images = torch.rand(2, 3, s, s, generator=g)
    with torch.no_grad():
        feats = codec.encoder_a(images)
        lev, _ = codec.allocate(feats, np.array([40.0, 120.0]))
        levels = torch.from_numpy(lev)[:, None].float()
        latent = codec.encoder_b(feats, levels)
        noisy = latent + 0.1 * torch.randn(latent.shape, generator=g)
        snr = torch.tensor([[3.0], [15.0]])
        ref = {roles["semantic2_encoder"]: (feats, {"images": images}),
               roles["semantic2_merger"]: (latent, {"features": feats, "levels": levels}),
               roles["semantic2_decoder"]: (codec.decoder(noisy, levels, snr),
                                            {"latent": noisy, "levels": levels, "snr_db": snr})}
    for role, (want, inputs) in ref.items():
        got = next(iter(bundle.run(role, **{k: v.numpy() for k, v in inputs.items()}).values()))
        err = float(np.abs(got - want.numpy()).max())
        if not err <= tol:
            raise ValueError(f"bundle {bundle.name!r}: the torch {role} differs from its ONNX file by {err:.3g} "
                             f"(> {tol:g}): another architecture (codec_kwargs)?")
