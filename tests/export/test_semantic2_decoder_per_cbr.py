"""A v2 receiver per CBR (role ``semantic2_decoder@<cbr>``): exported from a receiver-only run on
the bundle's transmitter, refused on another transmitter, picked by the received rate, and gone
when the transmitter it was trained on is replaced."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from gr_semcod.evaluation.semantic2_crops import semantic2_digest
from gr_semcod.export.cli import add_semantic2_decoder
from gr_semcod.export.from_onnx import semantic2_from_bundle
from gr_semcod.export.hybrid import export_semantic2
from gr_semcod.runtime.bundle import MANIFEST, load_bundle
from gr_semcod.runtime.semantic2 import decode_photo, decoder_role, encode_photo

from tests.export.v2_bundles import shared_v2_bundle


_bundle = shared_v2_bundle


def _receiver_run(runs: Path, name: str, bundle: Path, cbrs, touch=("decoder.",), seed=0) -> Path:
    """A receiver-only run's files: the bundle's v2 with the parameters under ``touch`` changed."""
    codec = semantic2_from_bundle(bundle)
    g = torch.Generator().manual_seed(seed)
    sd = codec.state_dict()
    for k, v in sd.items():
        if k.startswith(touch) and v.is_floating_point():
            sd[k] = v + 0.02 * torch.randn(v.shape, generator=g)
    run = runs / name
    run.mkdir(parents=True)
    torch.save(sd, run / "best.pt")
    (run / "config.json").write_text(json.dumps({"name": name, "model_kwargs": {
        "base_cbr": "1/12", "cbrs": list(cbrs), "init_from_bundle": str(bundle), "freeze_transmitter": True,
        "init_from": str(bundle)}}))
    (run / "summary.json").write_text(json.dumps({"name": name, "steps": 10, "minutes": 0.1}))
    return run


@pytest.fixture(scope="module")
def with_receiver(tmp_path_factory):
    root = tmp_path_factory.mktemp("per_cbr")
    bundle = _bundle(root / "bundle")
    digest = semantic2_digest(json.loads((bundle / MANIFEST).read_text()))
    _receiver_run(root / "runs", "semcod2_32_rx48", bundle, ["1/48"])
    parity = add_semantic2_decoder(root / "runs", "semcod2_32_rx48", bundle)
    return root, bundle, digest, parity


def test_the_receiver_is_exported_beside_the_transmitter(with_receiver):
    _, bundle, digest, parity = with_receiver
    assert parity["semantic2_decoder@1/48"] <= 1e-4
    b = load_bundle(bundle)  # sha256 of every file checked on load
    assert b.has("semantic2_decoder@1/48") and (bundle / "semantic2_decoder@1-48.onnx").is_file()
    assert b.manifest["semantic2"]["decoders"] == {"1/48": {"run": "semcod2_32_rx48"}}
    assert "semcod2_32_rx48" in b.manifest["meta"]["runs"]  # its budget goes to the card
    assert semantic2_digest(b.manifest) == digest  # what is sent is unchanged: a v2 classifier stays valid


def test_the_rate_picks_the_receiver(with_receiver):
    _, bundle, _, _ = with_receiver
    b = load_bundle(bundle)
    assert decoder_role(b, "1/48") == "semantic2_decoder@1/48"
    assert decoder_role(b, 1 / 50) == "semantic2_decoder@1/48"      # within a factor 1.25
    assert decoder_role(b, "1/24") == "semantic2_decoder"           # no receiver of its own: the shared one
    assert decoder_role(b, "1/12") == "semantic2_decoder"
    assert decoder_role(b, None) == "semantic2_decoder"


def test_a_photo_is_decoded_by_the_receiver_of_its_rate(with_receiver):
    _, bundle, _, _ = with_receiver
    b = load_bundle(bundle)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:64, 0:96]
    img = np.stack([yy * 3, xx * 2, (yy + xx)], -1) % 256
    img = np.clip(img + rng.normal(0, 20, img.shape), 0, 255).astype(np.uint8)
    for cbr, role in (("1/48", "semantic2_decoder@1/48"), ("1/12", "semantic2_decoder")):
        sym, tx = encode_photo(b, img, cbr, 10.0)
        y = sym + (rng.normal(0, 0.1, sym.shape) + 1j * rng.normal(0, 0.1, sym.shape)).astype(np.complex64)
        rec, rx = decode_photo(b, y, 64, 96, 10.0, mcs=tx["mcs"])
        assert rx["ok"] and rx["decoder"] == role  # from the symbol count alone
        shared, rs = decode_photo(b, y, 64, 96, 10.0, mcs=tx["mcs"], cbr="1/12")  # forced: the shared receiver
        assert rs["decoder"] == "semantic2_decoder"
        diff = float(np.abs(rec - shared).max())
        if role == "semantic2_decoder":
            assert diff == 0.0
        else:  # the changed receiver's own image (its weights differ by 0.02 rms)
            assert diff > 1e-3, diff


def test_a_receiver_of_another_transmitter_is_refused(with_receiver):
    root, bundle, _, _ = with_receiver
    _receiver_run(root / "runs_bad", "semcod2_32_rx48", bundle, ["1/48"], touch=("encoder_a.block.", "encoder_b.a.block."), seed=1)
    with pytest.raises(SystemExit, match="another transmitter"):
        add_semantic2_decoder(root / "runs_bad", "semcod2_32_rx48", bundle)
    _receiver_run(root / "runs_any", "semcod2_32_rx", bundle, ["1/48", "1/24", "1/12"])
    with pytest.raises(SystemExit, match="say which one it serves"):
        add_semantic2_decoder(root / "runs_any", "semcod2_32_rx", bundle)
    assert load_bundle(bundle).manifest["semantic2"]["decoders"] == {"1/48": {"run": "semcod2_32_rx48"}}


def test_a_new_transmitter_drops_the_old_receivers(tmp_path):
    bundle = _bundle(tmp_path / "bundle")
    _receiver_run(tmp_path / "runs", "semcod2_32_rx48", bundle, ["1/48"])
    add_semantic2_decoder(tmp_path / "runs", "semcod2_32_rx48", bundle)
    export_semantic2(str(bundle), semantic2_from_bundle(bundle).eval())
    b = load_bundle(bundle)
    assert not b.has("semantic2_decoder@1/48") and not (bundle / "semantic2_decoder@1-48.onnx").exists()
    assert "decoders" not in b.manifest["semantic2"] and decoder_role(b, "1/48") == "semantic2_decoder"


def test_a_new_transmitter_from_a_run_drops_the_old_receivers_records(tmp_path):
    """``semcod export --semantic2 RUN --into``: the per-CBR receivers of the transmitter it replaces go
    from the manifest, their files and the card's run records."""
    from gr_semcod.export.cli import add_semantic2

    bundle = _bundle(tmp_path / "bundle")
    _receiver_run(tmp_path / "runs", "semcod2_32_rx48", bundle, ["1/48"])
    add_semantic2_decoder(tmp_path / "runs", "semcod2_32_rx48", bundle)
    _receiver_run(tmp_path / "runs", "semcod2_32", bundle, ["1/48", "1/24", "1/12"], touch=("decoder.out.",))
    add_semantic2(tmp_path / "runs", "semcod2_32", bundle)
    m = load_bundle(bundle).manifest
    assert "semcod2_32_rx48" not in m["meta"]["runs"] and "semcod2_32" in m["meta"]["runs"]
    assert "semantic2_decoder@1/48" not in m["models"] and "semantic2_decoder@1/48" not in m["meta"]["onnx_parity_max_abs"]
    assert not (bundle / "semantic2_decoder@1-48.onnx").exists()
