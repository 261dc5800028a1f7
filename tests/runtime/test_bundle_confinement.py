"""Bundle confinement: manifest file names stay inside the bundle folder; ONNX external-data
files are listed and hashed; no error carries the hash of a file outside the bundle."""
import json
import os
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from gr_semcod.runtime.bundle import Bundle, BundleError, bundle_file, sha256_file, write_manifest  # noqa: E402
from gr_semcod.runtime.onnx_refs import external_data_files  # noqa: E402

W = np.arange(16, dtype=np.float32).reshape(4, 4) / 16.0


def matmul_model(path: Path, external: str = "", w=W) -> None:
    """y = x @ w, x (batch, 4); with ``external`` the weight lives in that file."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "mm", [x], [y],
                              initializer=[numpy_helper.from_array(np.asarray(w, np.float32), "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if external:
        onnx.save_model(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                        location=external, size_threshold=0)
    else:
        onnx.save(model, str(path))


def manifest(file="m.onnx"):
    return {"name": "mm", "models": {"tokenizer": {"file": file}}}


def write_raw_manifest(d: Path, man: dict) -> None:
    man = dict(man, format="gr-semcod-bundle", version=1)
    (d / "manifest.json").write_text(json.dumps(man))


@pytest.fixture
def outside(tmp_path):
    """A model outside the bundle folder (a secret-looking file next to it)."""
    f = tmp_path / "outside.onnx"
    matmul_model(f)
    return f


@pytest.mark.parametrize("name", ["../outside.onnx", "sub/../../outside.onnx", "..\\outside.onnx"])
def test_dotdot_is_refused_without_hash(tmp_path, outside, name):
    d = tmp_path / "bundle"
    d.mkdir()
    man = manifest(name)
    man["models"]["tokenizer"]["sha256"] = "0" * 64
    write_raw_manifest(d, man)
    with pytest.raises(BundleError, match=r"'\.\.'") as e:
        Bundle.load(d)
    assert sha256_file(outside) not in str(e.value)


def test_absolute_path_is_refused_without_hash(tmp_path, outside):
    d = tmp_path / "bundle"
    d.mkdir()
    man = manifest(str(outside))
    man["models"]["tokenizer"]["sha256"] = "0" * 64
    write_raw_manifest(d, man)
    with pytest.raises(BundleError, match="absolute path") as e:
        Bundle.load(d)
    assert sha256_file(outside) not in str(e.value)
    with pytest.raises(BundleError, match="absolute path"):
        write_manifest(d, manifest(str(outside)))


def test_symlink_out_is_refused_but_inside_is_fine(tmp_path, outside):
    d = tmp_path / "bundle"
    d.mkdir()
    matmul_model(d / "real.onnx")
    os.symlink(outside, d / "m.onnx")
    man = manifest("m.onnx")
    man["models"]["tokenizer"]["sha256"] = sha256_file(outside)  # even a correct hash does not help
    write_raw_manifest(d, man)
    with pytest.raises(BundleError, match="outside the bundle folder") as e:
        Bundle.load(d)
    assert sha256_file(outside) not in str(e.value)
    (d / "m.onnx").unlink()
    os.symlink("real.onnx", d / "m.onnx")  # a symlink that stays inside
    write_manifest(d, manifest("m.onnx"))
    out = Bundle.load(d).run("tokenizer", x=np.eye(4, dtype=np.float32))["y"]
    np.testing.assert_allclose(out, W, rtol=1e-6)


def test_bundle_file_rules(tmp_path):
    assert bundle_file(tmp_path, "a/b.onnx", "x") == tmp_path / "a" / "b.onnx"
    for bad in ("", "/etc/passwd", "C:\\x.onnx", "a/../../b", "a\x00b", 3):
        with pytest.raises(BundleError):
            bundle_file(tmp_path, bad, "models['r'].file")


def test_external_data_listed_hashed_and_tamper_detected(tmp_path):
    d = tmp_path / "bundle"
    d.mkdir()
    matmul_model(d / "m.onnx", external="m.weights")
    assert external_data_files(d / "m.onnx") == ["m.weights"]
    write_manifest(d, manifest())
    entry = json.loads((d / "manifest.json").read_text())["models"]["tokenizer"]
    assert entry["external_data"] == [{"file": "m.weights", "sha256": sha256_file(d / "m.weights")}]
    x = np.eye(4, dtype=np.float32)
    np.testing.assert_allclose(Bundle.load(d).run("tokenizer", x=x)["y"], W, rtol=1e-6)
    # tampered weights (the model file itself unchanged): refused, naming the file inside the bundle
    raw = bytearray((d / "m.weights").read_bytes())
    raw[:4] = np.float32(1000.0).tobytes()
    (d / "m.weights").write_bytes(bytes(raw))
    with pytest.raises(BundleError, match=r"m\.weights: sha256 mismatch"):
        Bundle.load(d)


def test_unlisted_external_data_is_refused(tmp_path):
    d = tmp_path / "bundle"
    d.mkdir()
    matmul_model(d / "m.onnx", external="m.weights")
    man = manifest()
    man["models"]["tokenizer"]["sha256"] = sha256_file(d / "m.onnx")
    write_raw_manifest(d, man)  # an old-style manifest: the weights file is not listed
    with pytest.raises(BundleError, match=r"references external data 'm\.weights', which is not listed"):
        Bundle.load(d)


def test_external_data_outside_the_bundle_is_refused(tmp_path):
    d = tmp_path / "bundle"
    d.mkdir()
    matmul_model(tmp_path / "evil.onnx", external="evil.weights")  # weights next to the bundle
    model = onnx.load(str(tmp_path / "evil.onnx"), load_external_data=False)
    for t in model.graph.initializer:
        for e in t.external_data:
            if e.key == "location":
                e.value = "../evil.weights"
    onnx.save(model, str(d / "m.onnx"))
    assert external_data_files(d / "m.onnx") == ["../evil.weights"]
    man = manifest()
    man["models"]["tokenizer"]["sha256"] = sha256_file(d / "m.onnx")
    write_raw_manifest(d, man)
    with pytest.raises(BundleError, match="'\\.\\.'") as e:
        Bundle.load(d)
    assert sha256_file(tmp_path / "evil.weights") not in str(e.value)
    with pytest.raises(BundleError, match="'\\.\\.'"):
        write_manifest(d, manifest())
