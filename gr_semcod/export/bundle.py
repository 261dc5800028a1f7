"""Write a model bundle: every stage as its own ONNX file + ``manifest.json`` (sha256 each).

Roles (see :mod:`gr_semcod.runtime.bundle`), all float32 with a dynamic batch axis:

=======================  ======================================  ===========================
role                     inputs                                  outputs
=======================  ======================================  ===========================
tokenizer                images (B,3,H,W) in [0,1]              tokens (B,N,D), sizes (B,N,1)
jscc_encoder@<cbr>       tokens, sizes                           symbols (B,k,2), unit power
jscc_decoder@<cbr>       symbols (B,k,2), snr_db (B,1)           tokens (B,N,D)
detokenizer              tokens                                  images (B,3,H,W)
classifier (optional)    tokens                                  logits (B,C)
image_classifier (opt.)  images (B,3,H,W) in [0,1]              logits (B,C)  (Deep JSCC's machine receiver)
deepjscc_encoder@<cbr>   images                                  symbols (B,k,2)
deepjscc_decoder@<cbr>   symbols, snr_db                         images
=======================  ======================================  ===========================

Every file is checked against PyTorch with ONNX Runtime at export (max abs error <= ``tol``).
The manifest lists (and hashes) the external-data files of a model saved with them too
(:func:`~gr_semcod.runtime.bundle.write_manifest`), so the runtime verifies every weight it loads.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn

from ..rates import num_symbols, role_key
from ..runtime.bundle import write_manifest
from .onnx_export import export_onnx, parity_error


class _JSCE(nn.Module):
    def __init__(self, jsce: nn.Module, s: int):
        super().__init__()
        self.jsce, self.s = jsce, s

    def forward(self, tokens, sizes):
        return self.jsce(tokens, sizes, self.s)


class _DeepJSCCDecoder(nn.Module):
    def __init__(self, decoder: nn.Module):
        super().__init__()
        self.decoder = decoder

    def forward(self, symbols, snr_db):
        return self.decoder(symbols, snr_db)


def file_name(role: str) -> str:
    return role.replace("/", "-") + ".onnx"


def _export(out_dir: Path, role: str, module: nn.Module, example: Sequence[torch.Tensor],
            inputs: List[str], outputs: List[str], tol: float, report: Dict[str, float]) -> Dict:
    path = out_dir / file_name(role)
    export_onnx(module, example, str(path), inputs, outputs)
    # parity on a different batch size than the traced one (checks the dynamic batch too)
    probe = [torch.cat([t, t.flip(0)], 0) for t in example]
    err = parity_error(module, str(path), probe, inputs)
    if not err <= tol:
        raise RuntimeError(f"{path.name}: ONNX Runtime differs from PyTorch by {err:.2e} > {tol:.0e}")
    report[role] = err
    results = module(*example)
    results = results if isinstance(results, (tuple, list)) else (results,)

    def spec(t: torch.Tensor) -> Dict:
        return {"shape": ["batch", *t.shape[1:]], "dtype": "float32"}

    return {"file": path.name, "inputs": {n: spec(t) for n, t in zip(inputs, example)},
            "outputs": {n: spec(t) for n, t in zip(outputs, results)}}


@torch.no_grad()
def export_bundle(
    out_dir: str,
    codec: Optional[nn.Module] = None,
    deepjscc: Optional[Dict[str, nn.Module]] = None,
    name: str = "semcod",
    meta: Optional[Dict] = None,
    tol: float = 1e-4,
    seed: int = 0,
    image_classifier: Optional[nn.Module] = None,
    classes: Optional[Sequence[str]] = None,
) -> Tuple[Path, Dict[str, float]]:
    """Export a :class:`~gr_semcod.semcod.SemanticCodec` and/or Deep JSCC models per CBR.

    ``image_classifier`` (images -> logits, e.g. trained on Deep JSCC reconstructions) is
    exported as role ``image_classifier``; ``classes`` (class names) goes to ``manifest["classes"]``.

    Returns the manifest path and the ONNX-vs-torch parity error of every file.
    """
    if codec is None and not deepjscc:
        raise ValueError("nothing to export: give a codec and/or deepjscc models")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(seed)
    models: Dict[str, Dict] = {}
    parity: Dict[str, float] = {}
    cbrs: List[str] = []
    manifest: Dict = {"name": name, "models": models, "meta": dict(meta or {})}
    size = None

    if codec is not None:
        codec = codec.eval()
        cfg = codec.cfg
        size = cfg.img_size
        images = torch.rand(2, 3, size, size, generator=g)
        models["tokenizer"] = _export(out, "tokenizer", codec.tokenizer, [images], ["images"], ["tokens", "sizes"], tol, parity)
        tokens, sizes = codec.tokenizer(images)
        for cbr in cfg.cbrs:
            s = codec.symbols_per_token(cbr)
            enc = _JSCE(codec.jscc_encoder, s)
            models[role_key("jscc_encoder", cbr)] = _export(out, role_key("jscc_encoder", cbr), enc, [tokens, sizes],
                                                            ["tokens", "sizes"], ["symbols"], tol, parity)
            symbols = enc(tokens, sizes) + 0.1 * torch.randn(2, s * cfg.num_tokens, 2, generator=g)
            snr = torch.tensor([[3.0], [15.0]])
            models[role_key("jscc_decoder", cbr)] = _export(out, role_key("jscc_decoder", cbr), codec.jscc_decoder,
                                                            [symbols, snr], ["symbols", "snr_db"], ["tokens"], tol, parity)
            cbrs.append(cbr)
        models["detokenizer"] = _export(out, "detokenizer", codec.detokenizer, [tokens], ["tokens"], ["images"], tol, parity)
        if codec.classifier is not None:
            models["classifier"] = _export(out, "classifier", codec.classifier, [tokens], ["tokens"], ["logits"], tol, parity)
        manifest["tokens"] = {"count": cfg.num_tokens, "dim": cfg.dim}
        manifest["tokenizer"] = {
            "vit": {"dim": cfg.dim, "depth": cfg.depth, "heads": cfg.heads, "patch": cfg.patch_size, "conv_stem": cfg.conv_stem},
            "reorganizer": cfg.reorganizer, "schedule": codec.tokenizer.schedule,
            "tokens_per_layer": codec.tokenizer.token_counts(),
            "shape_code": bool(getattr(cfg, "shape_code", False)),
        }

    for cbr, model in (deepjscc or {}).items():
        model = model.eval()
        h, w = model.image_size
        if size is not None and (h, w) != (size, size):
            raise ValueError(f"Deep JSCC at CBR {cbr} is {h}x{w}, the codec {size}x{size}")
        size = h
        images = torch.rand(2, 3, h, w, generator=g)
        models[role_key("deepjscc_encoder", cbr)] = _export(out, role_key("deepjscc_encoder", cbr), model.encoder,
                                                            [images], ["images"], ["symbols"], tol, parity)
        symbols = model.encoder(images)
        snr = torch.tensor([[3.0], [15.0]])
        models[role_key("deepjscc_decoder", cbr)] = _export(out, role_key("deepjscc_decoder", cbr), _DeepJSCCDecoder(model.decoder),
                                                            [symbols, snr], ["symbols", "snr_db"], ["images"], tol, parity)
        if cbr not in cbrs:
            cbrs.append(cbr)

    if image_classifier is not None:
        image_classifier = image_classifier.eval()
        if size is None:
            raise ValueError("an image classifier needs a codec or Deep JSCC models (for the image size)")
        images = torch.rand(2, 3, size, size, generator=g)
        models["image_classifier"] = _export(out, "image_classifier", image_classifier, [images], ["images"],
                                             ["logits"], tol, parity)
    if classes:
        manifest["classes"] = [str(c) for c in classes]

    manifest["image"] = {"size": [size, size], "channels": 3, "mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0]}
    manifest["cbr"] = cbrs
    manifest["symbols"] = {cbr: num_symbols(cbr, size, size) for cbr in cbrs}
    manifest["meta"]["onnx_parity_max_abs"] = parity
    return write_manifest(out, manifest), parity
