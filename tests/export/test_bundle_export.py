"""Bundle export: every stage to ONNX with parity, manifest with checksums, runtime round trip."""
import json

import numpy as np
import pytest
import torch

from gr_semcod.export.bundle import export_bundle
from gr_semcod.jscc import DeepJSCC
from gr_semcod.runtime import Bundle, BundleError
from gr_semcod.semcod import SemanticCodec, SemanticCodecConfig


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory):
    torch.manual_seed(0)
    codec = SemanticCodec(SemanticCodecConfig(dim=32, depth=3, heads=2, cbrs=("1/48", "1/12"), num_classes=10))
    deep = {"1/12": DeepJSCC("1/12", 32, widths=(8, 16))}
    out = tmp_path_factory.mktemp("bundle")
    _, parity = export_bundle(str(out), codec, deep, name="tiny")
    assert max(parity.values()) <= 1e-4
    return out, codec.eval(), deep["1/12"].eval()


def test_manifest_lists_every_role_with_checksums(bundle_dir):
    out, _, _ = bundle_dir
    m = json.loads((out / "manifest.json").read_text())
    assert set(m["models"]) == {
        "tokenizer", "detokenizer", "classifier", "jscc_encoder@1/48", "jscc_decoder@1/48",
        "jscc_encoder@1/12", "jscc_decoder@1/12", "deepjscc_encoder@1/12", "deepjscc_decoder@1/12",
    }
    assert all(len(v["sha256"]) == 64 for v in m["models"].values())
    assert m["symbols"] == {"1/48": 64, "1/12": 256}
    assert m["models"]["tokenizer"]["outputs"]["tokens"]["shape"] == ["batch", 16, 32]


def test_runtime_chain_matches_torch(bundle_dir):
    out, codec, deep = bundle_dir
    b = Bundle.load(out)
    x = np.random.default_rng(0).random((3, 3, 32, 32), dtype=np.float32)
    snr = np.full((3, 1), 7.0, np.float32)
    tok = b.run("tokenizer", images=x)
    sym = b.run("jscc_encoder@1/12", **tok)["symbols"]
    rx = b.run("jscc_decoder@1/12", symbols=sym, snr_db=snr)["tokens"]
    img = b.run("detokenizer", tokens=rx)["images"]
    with torch.no_grad():
        ref = codec.decode(codec.encode(torch.from_numpy(x), "1/12"), torch.full((3,), 7.0))
    np.testing.assert_allclose(img, ref["recon"].numpy(), atol=1e-4)
    np.testing.assert_allclose(b.run("classifier", tokens=rx)["logits"], ref["logits"].numpy(), atol=1e-4)
    dsym = b.run("deepjscc_encoder@1/12", images=x)["symbols"]
    assert dsym.shape == (3, 256, 2)
    with torch.no_grad():
        dref = deep.decoder(deep.encoder(torch.from_numpy(x)), torch.full((3, 1), 7.0))
    np.testing.assert_allclose(b.run("deepjscc_decoder@1/12", symbols=dsym, snr_db=snr)["images"], dref.numpy(), atol=1e-4)


def test_tampered_file_is_refused(bundle_dir, tmp_path):
    out, _, _ = bundle_dir
    import shutil

    copy = tmp_path / "b"
    shutil.copytree(out, copy)
    with open(copy / "detokenizer.onnx", "ab") as f:
        f.write(b"\0")
    with pytest.raises(BundleError, match="detokenizer.onnx"):
        Bundle.load(copy)


def test_wrong_symbol_count_is_a_clear_error(bundle_dir):
    out, _, _ = bundle_dir
    b = Bundle.load(out)
    with pytest.raises(BundleError, match="symbols"):
        b.run("jscc_decoder@1/12", symbols=np.zeros((1, 64, 2), np.float32), snr_db=np.zeros((1, 1), np.float32))
