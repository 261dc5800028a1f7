"""Torch modules from a bundle's ONNX files: the trained weights are the ONNX initialisers.

``runs/`` (checkpoints) is not part of the repository, but every exported model keeps its
weights as initialisers, so a shipped bundle is also a warm start.  The Deep JSCC exports keep
the parameter names of :class:`~gr_semcod.jscc.deepjscc.DeepJSCCEncoder` / ``DeepJSCC.decoder``;
PReLU slopes appear as anonymous initialisers, in the order of the graph's ``PRelu`` nodes.
The file's sha256 is checked against the manifest first (:func:`gr_semcod.runtime.load_bundle`).
"""
from __future__ import annotations

from typing import Dict

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
