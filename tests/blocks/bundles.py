"""Test bundles for the block tests.

* :func:`build_linear_bundle`: hand-written ONNX graphs (onnx.helper) with exact, known maths,
  so block tests can assert real numbers:

  ============================  ===========================================================
  tokenizer                     tokens = reshape(images, (B, 16, 192)); sizes = 1
  jscc_encoder@1/2              symbols = reshape((tokens - 0.5) * ENC_GAIN, (B, 1536, 2))
  jscc_decoder@1/2              tokens = reshape(symbols, ...) / ENC_GAIN * w(snr) + 0.5,
                                w(snr) = s / (1 + s), s = 10^(snr_db / 10)  (MMSE shrinkage)
  detokenizer                   images = reshape(tokens, (B, 3, 32, 32))
  classifier                    logits = flatten(tokens) @ CLS_W   (CLS_W fixed, seed 0)
  image_classifier              logits = flatten(images) @ CLS_W   (manifest classes: CLASSES)
  deepjscc_encoder@1/2          symbols = reshape(images - 0.5, (B, 1536, 2)) * ENC_GAIN
  deepjscc_decoder@1/2          images = reshape(symbols) / ENC_GAIN + 0.5 + 0 * snr_db
  ============================  ===========================================================

* :func:`build_tiny_bundle`: an untrained but real :class:`~gr_semcod.semcod.SemanticCodec`
  (dim 32, depth 2, patch 8, 16 tokens, CBR 1/12) + Deep JSCC, through the project's exporter.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

SIZE = 32
N_TOKENS = 16
TOKEN_DIM = 3 * SIZE * SIZE // N_TOKENS  # 192
LINEAR_CBR = "1/2"
K_LINEAR = 3 * SIZE * SIZE // 2  # 1536 complex symbols carry the 3072 pixels exactly
ENC_GAIN = 2.0
N_CLASSES = 10
CLASSES = [f"class{i}" for i in range(N_CLASSES)]
CLS_W = np.random.default_rng(0).standard_normal((3 * SIZE * SIZE, N_CLASSES)).astype(np.float32) / 50.0


def _w(snr_db):
    s = np.power(10.0, np.asarray(snr_db, np.float64) / 10.0)
    return s / (1.0 + s)


def linear_decode(symbols_iq: np.ndarray, snr_db: float) -> np.ndarray:
    """What ``jscc_decoder@1/2`` + ``detokenizer`` of the linear bundle compute (images NCHW in [0,1])."""
    b = symbols_iq.shape[0]
    return (symbols_iq.reshape(b, 3, SIZE, SIZE) / ENC_GAIN * _w(snr_db) + 0.5).astype(np.float32)


def build_linear_bundle(out: Path) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from gr_semcod.runtime import write_manifest

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)

    def const(name, value, dtype=np.float32):
        return numpy_helper.from_array(np.asarray(value, dtype), name)

    def io(name, dims):
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", *dims])

    def save(role, nodes, inputs, outputs, inits):
        g = helper.make_graph(nodes, role.replace("@", "_").replace("/", "_"), inputs, outputs, inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
        m.ir_version = 8
        onnx.checker.check_model(m)
        fname = role.replace("/", "-") + ".onnx"
        onnx.save(m, str(out / fname))
        return fname

    img, tok, sym = [3, SIZE, SIZE], [N_TOKENS, TOKEN_DIM], [K_LINEAR, 2]
    files = {}
    files["tokenizer"] = save("tokenizer", [
        helper.make_node("Reshape", ["images", "shape_tok"], ["tokens"]),
        helper.make_node("ReduceMean", ["tokens"], ["m"], axes=[2], keepdims=1),
        helper.make_node("Mul", ["m", "zero"], ["m0"]),
        helper.make_node("Add", ["m0", "one"], ["sizes"]),
    ], [io("images", img)], [io("tokens", tok), io("sizes", [N_TOKENS, 1])],
        [const("shape_tok", [-1, *tok], np.int64), const("zero", 0.0), const("one", 1.0)])
    files[f"jscc_encoder@{LINEAR_CBR}"] = save(f"jscc_encoder@{LINEAR_CBR}", [
        helper.make_node("Sub", ["tokens", "half"], ["c"]),
        helper.make_node("Mul", ["c", "gain"], ["g"]),
        helper.make_node("ReduceMean", ["sizes"], ["sm"], axes=[1, 2], keepdims=1),
        helper.make_node("Mul", ["sm", "zero"], ["s0"]),
        helper.make_node("Add", ["g", "s0"], ["g2"]),
        helper.make_node("Reshape", ["g2", "shape_sym"], ["symbols"]),
    ], [io("tokens", tok), io("sizes", [N_TOKENS, 1])], [io("symbols", sym)],
        [const("half", 0.5), const("gain", ENC_GAIN), const("zero", 0.0), const("shape_sym", [-1, *sym], np.int64)])
    files[f"jscc_decoder@{LINEAR_CBR}"] = save(f"jscc_decoder@{LINEAR_CBR}", [
        helper.make_node("Mul", ["snr_db", "ln10_10"], ["e"]),
        helper.make_node("Exp", ["e"], ["s"]),
        helper.make_node("Add", ["s", "one"], ["s1"]),
        helper.make_node("Div", ["s", "s1"], ["w"]),  # (B, 1)
        helper.make_node("Unsqueeze", ["w", "ax2"], ["w3"]),  # (B, 1, 1)
        helper.make_node("Reshape", ["symbols", "shape_tok"], ["t"]),
        helper.make_node("Div", ["t", "gain"], ["t1"]),
        helper.make_node("Mul", ["t1", "w3"], ["t2"]),
        helper.make_node("Add", ["t2", "half"], ["tokens"]),
    ], [io("symbols", sym), io("snr_db", [1])], [io("tokens", tok)],
        [const("ln10_10", np.log(10.0) / 10.0), const("one", 1.0), const("ax2", [2], np.int64),
         const("shape_tok", [-1, *tok], np.int64), const("gain", ENC_GAIN), const("half", 0.5)])
    files["detokenizer"] = save("detokenizer", [
        helper.make_node("Reshape", ["tokens", "shape_img"], ["images"]),
    ], [io("tokens", tok)], [io("images", img)], [const("shape_img", [-1, *img], np.int64)])
    files["classifier"] = save("classifier", [
        helper.make_node("Reshape", ["tokens", "shape_flat"], ["f"]),
        helper.make_node("MatMul", ["f", "W"], ["logits"]),
    ], [io("tokens", tok)], [io("logits", [N_CLASSES])],
        [const("shape_flat", [-1, 3 * SIZE * SIZE], np.int64), const("W", CLS_W)])
    files["image_classifier"] = save("image_classifier", [
        helper.make_node("Reshape", ["images", "shape_flat"], ["f"]),
        helper.make_node("MatMul", ["f", "W"], ["logits"]),
    ], [io("images", img)], [io("logits", [N_CLASSES])],
        [const("shape_flat", [-1, 3 * SIZE * SIZE], np.int64), const("W", CLS_W)])
    files[f"deepjscc_encoder@{LINEAR_CBR}"] = save(f"deepjscc_encoder@{LINEAR_CBR}", [
        helper.make_node("Sub", ["images", "half"], ["c"]),
        helper.make_node("Mul", ["c", "gain"], ["g"]),
        helper.make_node("Reshape", ["g", "shape_sym"], ["symbols"]),
    ], [io("images", img)], [io("symbols", sym)],
        [const("half", 0.5), const("gain", ENC_GAIN), const("shape_sym", [-1, *sym], np.int64)])
    files[f"deepjscc_decoder@{LINEAR_CBR}"] = save(f"deepjscc_decoder@{LINEAR_CBR}", [
        helper.make_node("Reshape", ["symbols", "shape_img"], ["t"]),
        helper.make_node("Div", ["t", "gain"], ["t1"]),
        helper.make_node("Add", ["t1", "half"], ["t2"]),
        helper.make_node("ReduceMean", ["snr_db"], ["sm"], axes=[1], keepdims=1),
        helper.make_node("Mul", ["sm", "zero"], ["s0"]),
        helper.make_node("Unsqueeze", ["s0", "ax23"], ["s4"]),
        helper.make_node("Add", ["t2", "s4"], ["images"]),
    ], [io("symbols", sym), io("snr_db", [1])], [io("images", img)],
        [const("shape_img", [-1, *img], np.int64), const("gain", ENC_GAIN), const("half", 0.5),
         const("zero", 0.0), const("ax23", [2, 3], np.int64)])
    manifest = {
        "name": "linear-test",
        "image": {"size": [SIZE, SIZE], "channels": 3, "mean": [0.0] * 3, "std": [1.0] * 3},
        "tokens": {"count": N_TOKENS, "dim": TOKEN_DIM},
        "cbr": [LINEAR_CBR],
        "classes": CLASSES,
        "models": {role: {"file": f} for role, f in files.items()},
    }
    return write_manifest(out, manifest).parent


def build_tiny_bundle(out: Path) -> Path:
    """Untrained real models through :func:`gr_semcod.export.bundle.export_bundle` (needs torch)."""
    import torch

    from gr_semcod.export.bundle import export_bundle
    from gr_semcod.jscc import DeepJSCC
    from gr_semcod.semcod import SemanticCodec, SemanticCodecConfig

    torch.manual_seed(0)
    codec = SemanticCodec(SemanticCodecConfig(dim=32, depth=2, heads=2, patch_size=8, num_tokens=16,
                                              cbrs=("1/12",), num_classes=10))
    deep = DeepJSCC(cbr="1/12", image_size=32)
    path, _ = export_bundle(str(out), codec=codec, deepjscc={"1/12": deep}, name="tiny-test")
    return Path(path).parent


def make_test_images(n: int = 6, size: int = SIZE, seed: int = 0) -> np.ndarray:
    """Smooth coloured test images, uint8 (n, size, size, 3)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / (size - 1)
    out = []
    for _ in range(n):
        a = rng.uniform(0.2, 1.0, 3)
        f = rng.uniform(0.5, 2.0, 3)
        ph = rng.uniform(0, np.pi, 3)
        im = np.stack([0.5 + 0.45 * a[c] * np.sin(2 * np.pi * f[c] * (x + y * c / 3) + ph[c]) for c in range(3)], -1)
        out.append(np.rint(im * 255).astype(np.uint8))
    return np.stack(out)
