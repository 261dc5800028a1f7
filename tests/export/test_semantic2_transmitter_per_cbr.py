"""A v2 transmitter of its own at one CBR (roles ``semantic2_encoder@<cbr>``, ``semantic2_merger@<cbr>``,
``semantic2_decoder@<cbr>``): exported by parity, read back to torch, picked by the rate at both ends
(the receiver from the symbol count alone), covered by the machine receivers' digest, and refused
where it does not belong."""
import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from gr_semcod.evaluation.semantic2_crops import check_classifier, head_digest, receive, semantic2_digest, transmit
from gr_semcod.export.cli import add_semantic2_decoder, add_semantic2_transmitter
from gr_semcod.export.from_onnx import semantic2_from_bundle
from gr_semcod.export.hybrid import export_semantic2
from gr_semcod.runtime.bundle import MANIFEST, load_bundle, write_manifest
from gr_semcod.runtime.semantic2 import codec_set, decode_photo, decoder_role, encode_photo

from tests.export.v2_bundles import shared_v2_bundle
OWN = ("semantic2_encoder@1/48", "semantic2_merger@1/48", "semantic2_decoder@1/48")


_bundle = shared_v2_bundle


def _run(runs: Path, name: str, bundle: Path, cbrs, seed=0, amp_log2=-1.0, transmitter=None, noise=0.002) -> dict:
    """A v2 run's files: the bundle's v2 (or its transmitter at ``transmitter``) with every weight
    moved by ``noise`` rms and the merged levels' amplitudes scaled by ``2^amp_log2``; returns its state dict."""
    codec = semantic2_from_bundle(bundle, transmitter=transmitter)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():  # through the parameters: a tensor two modules share moves once
        for k, v in codec.named_parameters():
            if k.startswith(("encoder_a.block.", "encoder_b.", "decoder.")):
                v.add_(noise * torch.randn(v.shape, generator=g))
        codec.level_log2_amp.add_(amp_log2)
    sd = {k: v.clone() for k, v in codec.state_dict().items()}
    run = runs / name
    run.mkdir(parents=True)
    torch.save(sd, run / "best.pt")
    (run / "config.json").write_text(json.dumps({"name": name, "model_kwargs": {
        "base_cbr": "1/12", "cbrs": list(cbrs), "init_from_bundle": str(bundle), "freeze_base": True}}))
    (run / "summary.json").write_text(json.dumps({"name": name, "steps": 10, "minutes": 0.1, "stages": [
        {"args": f"--config {name} --model-arg init_from={bundle}", "start_step": 0, "start_minutes": 0.0,
         "end_step": 10, "end_minutes": 0.1}]}))
    return sd


@pytest.fixture(scope="module")
def with_transmitter(tmp_path_factory):
    root = tmp_path_factory.mktemp("tx_per_cbr")
    bundle = _bundle(root / "bundle")
    shared = json.loads((bundle / MANIFEST).read_text())
    sd = _run(root / "runs", "semcod2_32_tx48lo", bundle, ["1/48"])
    parity = add_semantic2_transmitter(root / "runs", "semcod2_32_tx48lo", bundle)
    return root, bundle, shared, sd, parity


def _photo(seed=0, h=64, w=96):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([yy * 3, xx * 2, (yy + xx)], -1) % 256
    return np.clip(img + rng.normal(0, 20, img.shape), 0, 255).astype(np.uint8)


def _psnr(rec, img):
    return float(10 * np.log10(1.0 / np.mean((rec - img / 255.0) ** 2)))


def test_the_set_is_exported_by_parity_and_reads_back(with_transmitter):
    _, bundle, shared, sd, parity = with_transmitter
    assert set(parity) == set(OWN) and max(parity.values()) <= 1e-4
    b = load_bundle(bundle)  # every file's sha256 checked on load
    assert all(b.has(r) for r in OWN)
    rec = b.manifest["semantic2"]["transmitters"]["1/48"]
    assert rec["run"] == "semcod2_32_tx48lo" and rec["cbrs"] == ["1/48"]
    assert rec["warm_start"] == [shared["semantic2"]["run"]]  # started from the bundle: its budget counts
    np.testing.assert_allclose(rec["level_amp"][1:], 2.0 ** sd["level_log2_amp"].numpy(), rtol=1e-6)
    # the shared transmitter is untouched: its heads stay valid at the rates it still codes
    assert b.manifest["semantic2"]["level_amp"] == shared["semantic2"]["level_amp"]
    assert semantic2_digest(b.manifest) == semantic2_digest(shared)
    back = dict(semantic2_from_bundle(bundle, transmitter="1/48").named_parameters())  # parity-checked inside
    for k, v in back.items():  # every weight of the run, as it was saved
        torch.testing.assert_close(v.detach(), sd[k], rtol=0, atol=1e-6, msg=k)
    base = dict(semantic2_from_bundle(bundle).named_parameters())
    assert not torch.equal(base["level_log2_amp"], back["level_log2_amp"])
    with pytest.raises(ValueError, match="no transmitter of its own at CBR 1/24"):
        semantic2_from_bundle(bundle, transmitter="1/24")


def test_the_rate_picks_the_set(with_transmitter):
    _, bundle, _, _, _ = with_transmitter
    b = load_bundle(bundle)
    for rate in ("1/48", 1 / 50, 1 / 40):  # within a factor 1.25
        cs = codec_set(b, rate)
        assert (cs.cbr, cs.encoder, cs.merger, cs.decoder) == ("1/48",) + OWN
    for rate in ("1/24", "1/12", 1 / 70, None):
        cs = codec_set(b, rate)
        assert (cs.cbr, cs.encoder, cs.merger, cs.decoder) == (None, "semantic2_encoder", "semantic2_merger",
                                                               "semantic2_decoder")
    assert decoder_role(b, "1/48") == "semantic2_decoder@1/48"
    assert codec_set(b, "1/48").meta["level_amp"] != codec_set(b, "1/12").meta["level_amp"]


def test_a_photo_is_coded_by_the_set_of_its_rate(with_transmitter):
    _, bundle, shared, _, _ = with_transmitter
    b = load_bundle(bundle)
    img = _photo()
    rng = np.random.default_rng(1)
    sym, tx = encode_photo(b, img, "1/48", 10.0)
    assert tx["codec_set"] == "1/48" and sym.size <= round(64 * 96 * 3 / 48)
    y = sym + (rng.normal(0, 0.1, sym.shape) + 1j * rng.normal(0, 0.1, sym.shape)).astype(np.complex64)
    rec, rx = decode_photo(b, y, 64, 96, 10.0, mcs=tx["mcs"])  # the set from the symbol count alone
    assert rx["ok"] and rx["codec_set"] == "1/48" and rx["decoder"] == "semantic2_decoder@1/48"
    wrong, rw = decode_photo(b, y, 64, 96, 10.0, mcs=tx["mcs"], cbr="1/12")  # forced: the shared receiver
    assert rw["ok"] and rw["codec_set"] == "shared"
    # the set is the shared v2 with its merged levels' amplitudes halved (and weights moved by 0.002):
    # its own receiver gets the shared codec's quality back, the shared one (the other amplitudes) loses
    before = _bundle(bundle.parent / "shared_only")
    other, to = encode_photo(load_bundle(before), img, "1/48", 10.0)
    y_other = other + (rng.normal(0, 0.1, other.shape) + 1j * rng.normal(0, 0.1, other.shape)).astype(np.complex64)
    ref, _ = decode_photo(load_bundle(before), y_other, 64, 96, 10.0, mcs=to["mcs"])
    assert abs(_psnr(rec, img) - _psnr(ref, img)) < 0.3, (_psnr(rec, img), _psnr(ref, img))
    assert _psnr(rec, img) > _psnr(wrong, img) + 0.2, (_psnr(rec, img), _psnr(wrong, img))
    # the shared transmitter sends other symbols for the same photo; at 1/12 both bundles agree
    assert other.size != sym.size or np.abs(other - sym).max() > 1e-3
    a, ta = encode_photo(b, img, "1/12", 10.0)
    c, _ = encode_photo(load_bundle(before), img, "1/12", 10.0)
    assert ta["codec_set"] == "shared"
    np.testing.assert_array_equal(a, c)


def test_mode_none_spends_the_base_rate_with_the_set_that_rate_picks(with_transmitter):
    _, bundle, _, _, _ = with_transmitter
    b = load_bundle(bundle)
    img = _photo(2)
    sym, tx = encode_photo(b, img, "1/48", 10.0, mode="none")
    assert sym.size > round(64 * 96 * 3 / 12) * 0.9 and tx["codec_set"] == "shared"
    rec, rx = decode_photo(b, sym, 64, 96, 30.0, mcs=tx["mcs"])
    assert rx["ok"] and rx["codec_set"] == "shared" and _psnr(rec, img) > 20.0


def test_crops_go_through_the_set_of_their_rate(with_transmitter):
    _, bundle, _, _, _ = with_transmitter
    b = load_bundle(bundle)
    x = np.random.default_rng(3).random((6, 3, 32, 32)).astype(np.float32)
    sent = transmit(b, x, "1/48", 10.0)
    assert sent.cbr == "1/48"
    r = receive(b, sent, sent.symbols)
    feats = b.run("semantic2_encoder@1/48", images=x)["features"]
    merged = b.run("semantic2_merger@1/48", features=feats, levels=sent.levels[:, None].astype(np.float32))["latent"]
    ratio = np.abs(r["latent"]).sum(axis=(1, 2, 3)) / np.abs(merged).sum(axis=(1, 2, 3))
    assert np.all(np.abs(ratio - 1) < 0.015)  # the power gain's 0.25 dB step; the set's amplitudes undone
    np.testing.assert_allclose(r["latent"] / ratio[:, None, None, None], merged, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="Sent.cbr is not set"):
        receive(b, dataclasses.replace(sent, cbr=None), sent.symbols)


def test_the_digest_covers_the_transmitter_of_the_rate(with_transmitter):
    _, bundle, shared, _, _ = with_transmitter
    m = load_bundle(bundle).manifest
    assert semantic2_digest(m, "1/48") != semantic2_digest(m)
    assert semantic2_digest(m, "1/12") == semantic2_digest(m) == semantic2_digest(shared, "1/48")
    # a head trained on the shared transmitter is refused at 1/48, accepted at 1/12
    work = bundle.parent / "with_head"
    shutil.copytree(bundle, work)
    mm = json.loads((work / MANIFEST).read_text())
    mm["semantic2_classifier"] = {"codec_digest": semantic2_digest(shared).hex(), "run": "semcod2_32_cls"}
    write_manifest(work, mm)
    b = load_bundle(work)
    check_classifier(b, "semantic2_classifier", "1/12")
    with pytest.raises(ValueError, match="transmitter at CBR 1/48"):
        check_classifier(b, "semantic2_classifier", "1/48")


def test_a_head_reads_one_transmitter(with_transmitter):
    from gr_semcod.training.classify import Semantic2LatentClassifier

    _, bundle, _, _, _ = with_transmitter
    head = Semantic2LatentClassifier(bundle, 10, cbrs=("1/48",))
    m = head.bundle.manifest
    assert bytes(head.codec_digest.tolist()) == semantic2_digest(m, "1/48") == head_digest(m, ["1/48", 1 / 50])
    assert head.recon_decoders == {"1/48": "semantic2_decoder@1/48"}
    two = Semantic2LatentClassifier(bundle, 10, cbrs=("1/48", "1/12"))  # across two transmitters: both in its digest
    d2 = bytes(two.codec_digest.tolist())
    assert d2 not in (semantic2_digest(m, "1/48"), semantic2_digest(m, "1/12")) and d2 == head_digest(m, ["1/12", "1/48"])
    assert two.recon_decoders == {"1/48": "semantic2_decoder@1/48", "1/12": "semantic2_decoder"}
    # its record lists the rates: valid at each of them and at any rate the shared transmitter codes
    work = bundle.parent / "two_rate_head"
    shutil.copytree(bundle, work)
    mm = json.loads((work / MANIFEST).read_text())
    mm["semantic2_classifier"] = {"codec_digest": d2.hex(), "run": "semcod2_32_cls", "cbrs": ["1/48", "1/12"]}
    write_manifest(work, mm)
    b = load_bundle(work)
    for cbr in ("1/48", "1/24", "1/12", None):
        check_classifier(b, "semantic2_classifier", cbr)
    mm["semantic2_classifier"]["cbrs"] = ["1/12"]  # a record that does not say what it was trained on
    write_manifest(work, mm)
    with pytest.raises(ValueError, match="codec_digest differs"):
        check_classifier(load_bundle(work), "semantic2_classifier", "1/12")


def test_a_receiver_must_match_the_transmitter_of_its_rate(with_transmitter):
    root, bundle, _, _, _ = with_transmitter
    work = bundle.parent / "receivers"
    shutil.copytree(bundle, work)
    # a receiver-only run on the shared transmitter cannot serve 1/48 (coded by the set's own)
    _run(root / "runs_shared", "semcod2_32_rx48", work, ["1/48"], amp_log2=0.0)
    with pytest.raises(SystemExit, match="transmitter at CBR 1/48"):
        add_semantic2_decoder(root / "runs_shared", "semcod2_32_rx48", work)
    # one on the set's transmitter replaces the set's receiver (its transmitter unchanged)
    codec = semantic2_from_bundle(work, transmitter="1/48")
    sd = codec.state_dict()
    sd = {k: (v + 0.01 if k.startswith("decoder.") and v.is_floating_point() else v) for k, v in sd.items()}
    run = root / "runs_own" / "semcod2_32_rx48"
    run.mkdir(parents=True)
    torch.save(sd, run / "best.pt")
    (run / "config.json").write_text(json.dumps({"name": "semcod2_32_rx48", "model_kwargs": {
        "base_cbr": "1/12", "cbrs": ["1/48"], "init_from_bundle": str(work), "freeze_transmitter": True}}))
    add_semantic2_decoder(root / "runs_own", "semcod2_32_rx48", work)
    m = load_bundle(work).manifest
    assert m["semantic2"]["transmitters"]["1/48"]["receiver_run"] == "semcod2_32_rx48"
    assert "decoders" not in m["semantic2"]  # not a receiver of the shared transmitter
    assert semantic2_digest(m, "1/48") == semantic2_digest(load_bundle(bundle).manifest, "1/48")


def test_a_run_that_does_not_serve_the_rate_is_refused(with_transmitter):
    root, bundle, _, _, _ = with_transmitter
    _run(root / "runs_many", "semcod2_32_tx", bundle, ["1/48", "1/24", "1/12"])
    with pytest.raises(SystemExit, match="say which one it serves"):
        add_semantic2_transmitter(root / "runs_many", "semcod2_32_tx", bundle)
    _run(root / "runs_12", "semcod2_32_rx12", bundle, ["1/12"])
    with pytest.raises(SystemExit, match="cannot be the transmitter of 1/48"):
        add_semantic2_transmitter(root / "runs_12", "semcod2_32_rx12@1/48", bundle)


def test_a_new_shared_transmitter_keeps_the_sets(with_transmitter):
    _, bundle, _, _, _ = with_transmitter
    work = bundle.parent / "new_shared"
    shutil.copytree(bundle, work)
    export_semantic2(str(work), semantic2_from_bundle(work).eval(), meta={"run": "semcod2_32"})
    b = load_bundle(work)
    assert all(b.has(r) for r in OWN) and codec_set(b, "1/48").cbr == "1/48"
    assert semantic2_digest(b.manifest, "1/48") == semantic2_digest(load_bundle(bundle).manifest, "1/48")


def test_a_set_has_its_own_power_gain_grid(tmp_path, with_transmitter):
    """A set whose token power lies above the default grid ([-12, +3.75] dB) sends the grid's edge
    (``gain_clipped``); trained and exported with ``gain_min_db`` its set carries the grid, both ends
    read it from the set (the shared v2 keeps its own), and the sent gain is the power within half a step."""
    _, bundle, _, _, _ = with_transmitter
    img = _photo(3)
    for grid, clipped in ((None, True), (0.0, False)):
        work = tmp_path / f"grid{grid}"
        shutil.copytree(bundle, work / "bundle")
        runs = work / "runs"
        _run(runs, "semcod2_32_tx48lo", work / "bundle", ["1/48"], amp_log2=+1.5)  # token power ~ +10 dB
        if grid is not None:
            cfg = json.loads((runs / "semcod2_32_tx48lo" / "config.json").read_text())
            cfg["model_kwargs"]["gain_min_db"] = grid
            (runs / "semcod2_32_tx48lo" / "config.json").write_text(json.dumps(cfg))
        add_semantic2_transmitter(runs, "semcod2_32_tx48lo", work / "bundle")
        b = load_bundle(work / "bundle")
        s2 = b.manifest["semantic2"]
        own = s2["transmitters"]["1/48"]["gain_min_db"]
        assert own == (-12.0 if grid is None else grid) and s2["gain_min_db"] == -12.0
        assert codec_set(b, "1/48").meta["gain_min_db"] == own and codec_set(b, "1/12").meta["gain_min_db"] == -12.0
        sym, info = encode_photo(b, img, "1/48", 10.0)
        assert info["codec_set"] == "1/48" and info["gain_clipped"] is clipped
        sent_db = own + 0.25 * info["gain_index"]
        assert (abs(sent_db - info["power_db"]) <= 0.125 + 1e-9) is (not clipped)
        _, rx = decode_photo(b, sym, img.shape[0], img.shape[1], 10.0, mcs=info["mcs"])
        assert rx["ok"] and rx["codec_set"] == "1/48" and rx["gain_db"] == sent_db  # the receiver reads the set's grid
        x = np.ascontiguousarray((img[:32, :32] / 255.0).transpose(2, 0, 1)[None], np.float32)
        sent = transmit(b, x, "1/48", 10.0)  # the crop path: the same grid
        assert bool(sent.gain_clipped[0]) is clipped and sent.gain_db[0] >= own


def test_a_run_that_continues_the_set_records_it_as_its_warm_start(tmp_path, with_transmitter):
    """A run from the bundle's set at its rate (``init_transmitter``) replaces that set: the set's
    run and its own warm starts are recorded as this one's (their budgets count in its own)."""
    _, bundle, _, _, _ = with_transmitter
    work = tmp_path / "bundle"
    shutil.copytree(bundle, work)
    before = load_bundle(work).manifest["semantic2"]["transmitters"]["1/48"]
    runs = tmp_path / "runs"
    _run(runs, "semcod2_32_rx48g", work, ["1/48"], transmitter="1/48", amp_log2=0.0)
    cfg = json.loads((runs / "semcod2_32_rx48g" / "config.json").read_text())
    cfg["model_kwargs"]["init_transmitter"] = "1/48"
    (runs / "semcod2_32_rx48g" / "config.json").write_text(json.dumps(cfg))
    add_semantic2_transmitter(runs, "semcod2_32_rx48g", work)
    rec = load_bundle(work).manifest["semantic2"]["transmitters"]["1/48"]
    assert rec["run"] == "semcod2_32_rx48g"
    assert rec["warm_start"] == [before["run"], *before["warm_start"]]
    had = set(json.loads((bundle / MANIFEST).read_text())["meta"]["runs"]) & {before["run"], *before["warm_start"]}
    assert had and had <= set(load_bundle(work).manifest["meta"]["runs"])  # their records stay for the card
