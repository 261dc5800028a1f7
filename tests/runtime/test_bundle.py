"""Model bundles: manifest, checksums, input checks, providers, no torch on the radio side."""
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper  # noqa: E402

from gr_semcod.runtime import bundle as bmod  # noqa: E402
from gr_semcod.runtime.bundle import (  # noqa: E402
    Bundle,
    BundleError,
    role_key,
    select_providers,
    sha256_file,
    write_manifest,
)

REPO = Path(__file__).resolve().parents[2]


def tiny_model(path: Path, hw: int = 4) -> None:
    """y = 2 x + 1 on images (batch, 3, hw, hw); z = s * s on (batch, 1)."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, hw, hw])
    s = helper.make_tensor_value_info("s", TensorProto.FLOAT, ["N", 1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3, hw, hw])
    z = helper.make_tensor_value_info("z", TensorProto.FLOAT, ["N", 1])
    two = helper.make_tensor("two", TensorProto.FLOAT, [], [2.0])
    one = helper.make_tensor("one", TensorProto.FLOAT, [], [1.0])
    nodes = [
        helper.make_node("Mul", ["x", "two"], ["x2"]),
        helper.make_node("Add", ["x2", "one"], ["y"]),
        helper.make_node("Mul", ["s", "s"], ["z"]),
    ]
    graph = helper.make_graph(nodes, "tiny", [x, s], [y, z], initializer=[two, one])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def manifest_dict(hw: int = 4, with_io: bool = True) -> dict:
    m = {
        "name": "tiny",
        "image": {"size": [hw, hw], "channels": 3, "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.5, 1.0]},
        "tokens": {"count": 10, "dim": 8},
        "cbr": ["1/12"],
        "models": {"detokenizer": {"file": "tiny.onnx"}, "jscc_encoder@1/12": {"file": "tiny2.onnx"}},
        "meta": {"note": "test"},
    }
    if with_io:
        for entry in m["models"].values():
            entry["inputs"] = {
                "x": {"shape": ["batch", 3, hw, hw], "dtype": "float32"},
                "s": {"shape": ["batch", 1], "dtype": "float32"},
            }
            entry["outputs"] = {
                "y": {"shape": ["batch", 3, hw, hw], "dtype": "float32"},
                "z": {"shape": ["batch", 1], "dtype": "float32"},
            }
    return m


@pytest.fixture
def bundle_dir(tmp_path):
    d = tmp_path / "bundle"
    d.mkdir()
    tiny_model(d / "tiny.onnx")
    tiny_model(d / "tiny2.onnx")
    write_manifest(d, manifest_dict())
    return d


def one_line(exc_info) -> str:
    msg = str(exc_info.value)
    assert "\n" not in msg, msg
    return msg


def inputs(n=2, hw=4):
    rng = np.random.default_rng(0)
    return {
        "x": rng.standard_normal((n, 3, hw, hw)).astype(np.float32),
        "s": rng.standard_normal((n, 1)).astype(np.float32),
    }


# --------------------------------------------------------------------------- load / run


def test_write_manifest_fills_sha256_and_load_runs(bundle_dir):
    man = json.loads((bundle_dir / "manifest.json").read_text())
    assert man["format"] == "gr-semcod-bundle" and man["version"] == 1
    digest = hashlib.sha256((bundle_dir / "tiny.onnx").read_bytes()).hexdigest()
    assert man["models"]["detokenizer"]["sha256"] == digest == sha256_file(bundle_dir / "tiny.onnx")

    b = Bundle.load(bundle_dir)
    assert b.name == "tiny"
    assert b.roles == ["detokenizer", "jscc_encoder@1/12"]
    assert b.image_size == (4, 4) and b.tokens == {"count": 10, "dim": 8} and b.cbrs == ["1/12"]
    feeds = inputs(3)
    out = b.run("detokenizer", **feeds)
    assert set(out) == {"y", "z"}
    np.testing.assert_allclose(out["y"], 2 * feeds["x"] + 1, rtol=1e-6)
    np.testing.assert_allclose(out["z"], feeds["s"] ** 2, rtol=1e-6)
    # per-CBR role keys are ordinary roles
    out2 = b.run(role_key("jscc_encoder", 1 / 12), outputs=["z"], **feeds)
    assert list(out2) == ["z"]
    # sessions are created once and cached
    assert b.session("detokenizer") is b.session("detokenizer")
    # the manifest file itself may be given
    assert Bundle.load(bundle_dir / "manifest.json").roles == b.roles


def test_write_manifest_derives_io_from_the_model(tmp_path):
    tiny_model(tmp_path / "tiny.onnx")
    tiny_model(tmp_path / "tiny2.onnx")
    src = manifest_dict(with_io=False)
    write_manifest(tmp_path, src)
    assert "sha256" not in src["models"]["detokenizer"]  # input not modified
    man = json.loads((tmp_path / "manifest.json").read_text())
    ins = man["models"]["detokenizer"]["inputs"]
    assert ins == {"x": {"shape": ["batch", 3, 4, 4], "dtype": "float32"},
                   "s": {"shape": ["batch", 1], "dtype": "float32"}}
    b = Bundle.load(tmp_path)
    with pytest.raises(BundleError) as e:
        b.run("detokenizer", x=np.zeros((2, 3, 4, 4), np.float32), s=np.zeros((3, 1), np.float32))
    assert "'s'" in one_line(e) and "batch" in str(e.value)


def test_role_key():
    assert role_key("jscc_encoder", "1/12") == "jscc_encoder@1/12"
    assert role_key("jscc_encoder", 1 / 48) == "jscc_encoder@1/48"
    assert role_key("tokenizer") == "tokenizer"


# --------------------------------------------------------------------------- integrity errors


def test_checksum_mismatch_names_file_and_both_hashes(bundle_dir):
    f = bundle_dir / "tiny.onnx"
    expected = sha256_file(f)
    tiny_model(f, hw=5)  # a different model under the same name
    actual = sha256_file(f)
    assert actual != expected
    with pytest.raises(BundleError) as e:
        Bundle.load(bundle_dir)
    msg = one_line(e)
    assert str(f) in msg and expected in msg and actual in msg and "sha256" in msg
    # verify=False skips the check (the manifest's io then disagrees at run time)
    b = Bundle.load(bundle_dir, verify=False)
    with pytest.raises(BundleError) as e:
        b.run("detokenizer", **inputs())
    msg = one_line(e)
    assert "'x'" in msg and "[N, 3, 5, 5]" in msg and "[batch, 3, 4, 4]" in msg


def test_missing_model_file(bundle_dir):
    os.remove(bundle_dir / "tiny2.onnx")
    with pytest.raises(BundleError) as e:
        Bundle.load(bundle_dir)
    msg = one_line(e)
    assert str(bundle_dir / "tiny2.onnx") in msg and "not found" in msg and "jscc_encoder@1/12" in msg


def test_missing_manifest_and_bad_manifest(tmp_path):
    with pytest.raises(BundleError) as e:
        Bundle.load(tmp_path)
    assert "manifest.json" in one_line(e) and "not found" in str(e.value)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(BundleError) as e:
        Bundle.load(tmp_path)
    assert "cannot parse" in one_line(e)
    (tmp_path / "manifest.json").write_text(json.dumps({"format": "other", "version": 1, "models": {}}))
    with pytest.raises(BundleError) as e:
        Bundle.load(tmp_path)
    assert "'format'" in one_line(e)
    (tmp_path / "manifest.json").write_text(json.dumps({"format": "gr-semcod-bundle", "version": 2,
                                                         "models": {"a": {"file": "a.onnx"}}}))
    with pytest.raises(BundleError) as e:
        Bundle.load(tmp_path)
    assert "version" in one_line(e)


@pytest.mark.parametrize("spec, fragment", [
    ({"shape": "batch,3", "dtype": "float32"}, "shape must be a list"),
    ({"shape": ["batch", 3.5], "dtype": "float32"}, "shape must be a list"),
    ({"shape": ["batch", 1]}, "dtype None"),
    ({"shape": ["batch", 1], "dtype": "floaty"}, "dtype 'floaty'"),
])
def test_malformed_io_spec(bundle_dir, spec, fragment):
    man = json.loads((bundle_dir / "manifest.json").read_text())
    man["models"]["detokenizer"]["inputs"]["s"] = spec
    (bundle_dir / "manifest.json").write_text(json.dumps(man))
    with pytest.raises(BundleError) as e:
        Bundle.load(bundle_dir)
    msg = one_line(e)
    assert "manifest.json" in msg and "models['detokenizer'].inputs['s']" in msg and fragment in msg


def test_manifest_without_sha256_is_refused_when_verifying(bundle_dir):
    man = json.loads((bundle_dir / "manifest.json").read_text())
    del man["models"]["detokenizer"]["sha256"]
    (bundle_dir / "manifest.json").write_text(json.dumps(man))
    with pytest.raises(BundleError) as e:
        Bundle.load(bundle_dir)
    assert "no sha256" in one_line(e)
    assert Bundle.load(bundle_dir, verify=False).roles


def test_manifest_io_names_must_match_the_model(bundle_dir):
    man = json.loads((bundle_dir / "manifest.json").read_text())
    man["models"]["detokenizer"]["inputs"]["images"] = man["models"]["detokenizer"]["inputs"].pop("x")
    (bundle_dir / "manifest.json").write_text(json.dumps(man))
    b = Bundle.load(bundle_dir)
    with pytest.raises(BundleError) as e:
        b.session("detokenizer")
    msg = one_line(e)
    assert "tiny.onnx" in msg and "'images'" in msg


# --------------------------------------------------------------------------- input checks


def test_wrong_input_shape(bundle_dir):
    b = Bundle.load(bundle_dir)
    feeds = inputs()
    feeds["x"] = np.zeros((2, 3, 5, 4), np.float32)
    with pytest.raises(BundleError) as e:
        b.run("detokenizer", **feeds)
    msg = one_line(e)
    assert "tiny.onnx" in msg and "'x'" in msg and "[2, 3, 5, 4]" in msg and "[batch, 3, 4, 4]" in msg
    feeds["x"] = np.zeros((2, 3, 4), np.float32)  # wrong rank
    with pytest.raises(BundleError) as e:
        b.run("detokenizer", **feeds)
    assert "[batch, 3, 4, 4]" in one_line(e)


def test_inconsistent_batch_between_inputs(bundle_dir):
    b = Bundle.load(bundle_dir)
    feeds = inputs(2)
    feeds["s"] = np.zeros((5, 1), np.float32)
    with pytest.raises(BundleError) as e:
        b.run("detokenizer", **feeds)
    msg = one_line(e)
    assert "'s'" in msg and "[5, 1]" in msg and "'batch': 2" in msg


def test_wrong_dtype(bundle_dir):
    b = Bundle.load(bundle_dir)
    feeds = inputs()
    feeds["x"] = feeds["x"].astype(np.float64)
    with pytest.raises(BundleError) as e:
        b.run("detokenizer", **feeds)
    msg = one_line(e)
    assert "'x'" in msg and "float64" in msg and "expected float32" in msg and "tiny.onnx" in msg


def test_missing_and_unknown_inputs_and_roles(bundle_dir):
    b = Bundle.load(bundle_dir)
    with pytest.raises(BundleError) as e:
        b.run("detokenizer", x=inputs()["x"])
    assert "missing ['s']" in one_line(e)
    with pytest.raises(BundleError) as e:
        b.run("detokenizer", foo=1, **inputs())
    assert "unknown ['foo']" in one_line(e)
    with pytest.raises(BundleError) as e:
        b.run("classifier", **inputs())
    assert "'classifier'" in one_line(e) and "detokenizer" in str(e.value)


# --------------------------------------------------------------------------- providers, threads


def test_provider_selection():
    assert select_providers(available=["CUDAExecutionProvider", "CPUExecutionProvider"]) == [
        "CUDAExecutionProvider", "CPUExecutionProvider"]
    assert select_providers(available=["AzureExecutionProvider", "CPUExecutionProvider"]) == [
        "CPUExecutionProvider"]
    assert select_providers(["CPUExecutionProvider"], available=["CPUExecutionProvider"]) == [
        "CPUExecutionProvider"]
    with pytest.raises(BundleError) as e:
        select_providers(["TensorrtExecutionProvider"], available=["CPUExecutionProvider"])
    assert "TensorrtExecutionProvider" in str(e.value) and "CPUExecutionProvider" in str(e.value)


def test_bundle_picks_cuda_when_onnxruntime_offers_it(bundle_dir, monkeypatch):
    expected = ["CUDAExecutionProvider", "CPUExecutionProvider"] if (
        "CUDAExecutionProvider" in ort.get_available_providers()) else ["CPUExecutionProvider"]
    assert Bundle.load(bundle_dir).providers == expected
    monkeypatch.setattr(ort, "get_available_providers",
                        lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    assert Bundle.load(bundle_dir).providers[0] == "CUDAExecutionProvider"
    assert Bundle.load(bundle_dir, providers=["CPUExecutionProvider"]).providers == ["CPUExecutionProvider"]


def test_threads_reach_the_session(bundle_dir):
    b = Bundle.load(bundle_dir, intra_op_threads=1, inter_op_threads=1)
    opts = b.session("detokenizer").get_session_options()
    assert opts.intra_op_num_threads == 1 and opts.inter_op_num_threads == 1
    assert b.session("detokenizer").get_providers() == ["CPUExecutionProvider"]


# --------------------------------------------------------------------------- images


def test_normalize_roundtrip(bundle_dir):
    b = Bundle.load(bundle_dir)
    img = np.random.default_rng(1).integers(0, 256, (2, 4, 4, 3), dtype=np.uint8)
    x = b.normalize(img)
    assert x.shape == (2, 3, 4, 4) and x.dtype == np.float32
    np.testing.assert_allclose(x[:, 0], (img[..., 0] / 255 - 0.5) / 0.25, atol=1e-6)
    np.testing.assert_allclose(x[:, 2], img[..., 2] / 255 - 0.5, atol=1e-6)
    np.testing.assert_array_equal(b.denormalize(x), img)


# --------------------------------------------------------------------------- no torch


def test_runtime_import_does_not_pull_torch():
    code = (
        "import sys, gr_semcod.runtime as r, gr_semcod.runtime.bundle, gr_semcod.runtime.images;"
        "import onnxruntime;"
        "assert 'torch' not in sys.modules, [m for m in sys.modules if m.startswith('torch')]"
    )
    res = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr


def test_runtime_sources_do_not_import_torch():
    src = REPO / "gr_semcod" / "runtime"
    for f in src.glob("*.py"):
        text = f.read_text()
        assert "import torch" not in text and "from torch" not in text, f
    assert bmod.FORMAT == "gr-semcod-bundle"
