"""Export of the v2 machine receiver (role ``semantic2_classifier``): ONNX parity on real
received latents, sha256 in the manifest, refused for another codec; the eval's semantic2 rows
use it."""
import argparse
import json

import numpy as np
import pytest
import torch

from gr_semcod.evaluation.pipeline import Classification, semantic2_receiver
from gr_semcod.evaluation.semantic2_crops import received_latents
from gr_semcod.export import cli as export_cli
from gr_semcod.runtime import Bundle
from gr_semcod.runtime.bundle import MANIFEST, sha256_file, write_manifest
from gr_semcod.training import get_config
from gr_semcod.training.classify import Semantic2LatentClassifier
from tests.receivers.fixtures import labelled_images, v2_bundle_copy


def _randomise_bn(module):
    g = torch.Generator().manual_seed(1)
    for m in module.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=g))
            m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=g))


RUNS = {"semcod2_32_cls": None, "semcod2_32_recon_cls": (16, 32, 64)}  # config -> image_widths


@pytest.fixture(params=sorted(RUNS))
def run_and_bundle(tmp_path, request):
    """A v2-only bundle and a run of a registered v2 classifier config in ``tmp/runs`` trained on
    it (weights: a random head with non-trivial BatchNorm statistics)."""
    bundle = v2_bundle_copy(tmp_path / "bundle")
    torch.manual_seed(0)
    kw = get_config(request.param).model_kwargs
    model = Semantic2LatentClassifier(bundle, 10, widths=tuple(kw["widths"]), image_widths=RUNS[request.param])  # the config's head
    with torch.no_grad():
        _randomise_bn(model.head)
    run = tmp_path / "runs" / request.param
    run.mkdir(parents=True)
    torch.save(model.state_dict(), run / "best.pt")
    (run / "summary.json").write_text(json.dumps({"name": request.param, "steps": 3, "minutes": 0.1, "select": "acc",
                                                  "best_val_acc": 0.5, "eval_snr_db": 10.0}))
    return tmp_path / "runs", bundle, model


def _export(runs, bundle):
    (name,) = [p.name for p in runs.iterdir()]
    args = argparse.Namespace(runs=str(runs), into=str(bundle), semantic2=None, semantic2_classifier=name,
                              semantic=None, deepjscc=[], checkpoint="best.pt", tol=1e-4)
    return export_cli.run(args)


def _head_inputs(b, r, uses_recon):
    inputs = {k: r[k] for k in ("latent", "levels", "snr_db")}
    if uses_recon:
        inputs["images"] = np.clip(b.run("semantic2_decoder", **inputs)["images"], 0, 1)
    return inputs


def test_export_parity_on_received_latents_and_sha256(run_and_bundle, capsys):
    runs, bundle, model = run_and_bundle
    assert _export(runs, bundle) == 0
    assert "semantic2_classifier" in capsys.readouterr().out
    m = json.loads((bundle / MANIFEST).read_text())
    entry = m["models"]["semantic2_classifier"]
    assert entry["sha256"] == sha256_file(bundle / entry["file"])
    assert set(entry["inputs"]) == {"latent", "levels", "snr_db"} | ({"images"} if model.uses_recon else set())
    assert entry["outputs"]["logits"]["shape"] == ["batch", 10]
    (name,) = [p.name for p in runs.iterdir()]
    assert m["meta"]["runs"][name]["training"]["best_val_acc"] == 0.5
    b = Bundle.load(bundle)  # sha256-verified
    x, _ = labelled_images(40, seed=2)
    x = (x.astype(np.float32) / 255).transpose(0, 3, 1, 2).copy()
    model.eval()
    for cbr in ("1/48", "1/12"):
        for _, r in received_latents(b, x, cbr, "awgn", 10.0, seed=1, batch=20):
            inputs = _head_inputs(b, r, model.uses_recon)
            onnx = b.run("semantic2_classifier", **inputs)["logits"]
            with torch.no_grad():
                ref = model.head(*(torch.from_numpy(v) for v in inputs.values())).numpy()
            np.testing.assert_allclose(onnx, ref, atol=1e-4)
    # a tampered file is refused on load
    (bundle / entry["file"]).write_bytes((bundle / entry["file"]).read_bytes()[:-1] + b"\0")
    with pytest.raises(Exception, match="sha256"):
        Bundle.load(bundle)


def test_export_refuses_a_head_trained_on_another_v2(run_and_bundle):
    runs, bundle, _ = run_and_bundle
    m = json.loads((bundle / MANIFEST).read_text())
    m["semantic2"]["level_amp"][1] += 0.1  # another v2 transmitter
    write_manifest(bundle, m)
    with pytest.raises(SystemExit, match="another semantic codec v2"):
        _export(runs, bundle)
    assert "semantic2_classifier" not in json.loads((bundle / MANIFEST).read_text())["models"]


def test_eval_rows_use_the_new_role(run_and_bundle, tmp_path):
    """With ``semantic2_classifier`` in the bundle, the eval's semantic2 accuracy is that role's on
    the received latent -- not the image classifier's on the reconstruction."""
    from gr_semcod.evaluation import cli as eval_cli

    runs, bundle, model = run_and_bundle
    b0 = Bundle.load(bundle)
    assert semantic2_receiver(b0) == "image_classifier"
    _export(runs, bundle)
    b = Bundle.load(bundle)
    assert semantic2_receiver(b) == "semantic2_classifier"
    x, y = labelled_images(30, seed=4)
    np.savez(tmp_path / "lab.npz", images=x, labels=y)
    np.savez(tmp_path / "imgs.npz", images=x[:6])
    out = tmp_path / "eval"
    p = argparse.ArgumentParser()
    eval_cli.add_arguments(p)
    args = p.parse_args(["--bundle", str(bundle), "--data", str(tmp_path / "imgs.npz"), "--cbr", "1/48", "1/12",
                         "--snr", "10", "--channel", "awgn", "--classify-data", str(tmp_path / "lab.npz"),
                         "--separation", "--digital", "--seed", "2", "--out", str(out), "--threads", "1",
                         "--card", str(tmp_path / "card.md")])
    assert eval_cli.run(args) == 0
    card = (tmp_path / "card.md").read_text()
    assert "semantic2: `semantic2_classifier` on the received latent" in card
    assert ("decoder's image of it" in card) == model.uses_recon
    rows = [r for r in json.loads((out / "results.json").read_text())["rows"] if r["scheme"] == "semantic2"]
    assert len(rows) == 2
    xs = (x.astype(np.float32) / 255).transpose(0, 3, 1, 2).copy()
    clf = Classification(xs)
    for row in rows:
        logits = np.concatenate([
            b.run("semantic2_classifier", **_head_inputs(b, r, model.uses_recon))["logits"]
            for _, r in received_latents(b, xs, row["cbr"], "awgn", 10.0, seed=2, batch=250)])
        assert row["acc"] == pytest.approx(float((logits.argmax(1) == y).mean()))
        np.testing.assert_array_equal(clf.semantic2_logits(b, None, row["cbr"], "awgn", 10.0, 2), logits)


def test_eval_refuses_a_stale_classifier_after_the_codec_changed(run_and_bundle, tmp_path, capsys):
    """Re-exporting v2 without retraining its machine receiver leaves a head trained on another
    transmitter in the bundle: the evaluation refuses it with the reason, no accuracy is made up."""
    runs, bundle, _ = run_and_bundle
    _export(runs, bundle)
    m = json.loads((bundle / MANIFEST).read_text())
    m["semantic2"]["level_amp"][2] *= 1.05
    write_manifest(bundle, m)
    x, _ = labelled_images(4, seed=5)
    clf = Classification((x.astype(np.float32) / 255).transpose(0, 3, 1, 2).copy())
    with pytest.raises(ValueError, match="trained on another semantic codec v2"):
        clf.semantic2_logits(Bundle.load(bundle), None, "1/48", "awgn", 10.0)
    # `semcod eval` says so and keeps the rows, without an accuracy for semantic2
    from gr_semcod.evaluation import cli as eval_cli

    np.savez(tmp_path / "lab.npz", images=x, labels=np.arange(4))
    p = argparse.ArgumentParser()
    eval_cli.add_arguments(p)
    args = p.parse_args(["--bundle", str(bundle), "--data", str(tmp_path / "lab.npz"), "--cbr", "1/48", "--snr", "10",
                         "--channel", "awgn", "--classify-data", str(tmp_path / "lab.npz"), "--separation", "--digital",
                         "--out", str(tmp_path / "eval"), "--threads", "1"])
    assert eval_cli.run(args) == 0
    assert "semantic2 accuracy skipped" in capsys.readouterr().out
    rows = json.loads((tmp_path / "eval" / "results.json").read_text())["rows"]
    assert [r["scheme"] for r in rows] == ["semantic2"] and "acc" not in rows[0] and rows[0]["psnr"] > 0


def test_a_new_head_replaces_the_old_ones_training_record(tmp_path):
    bundle = v2_bundle_copy(tmp_path / "bundle")
    for name, widths in RUNS.items():
        runs = tmp_path / f"runs_{name}"
        (runs / name).mkdir(parents=True)
        head_widths = tuple(get_config(name).model_kwargs["widths"])
        torch.save(Semantic2LatentClassifier(bundle, 10, widths=head_widths, image_widths=widths).state_dict(),
                   runs / name / "best.pt")
        (runs / name / "summary.json").write_text(json.dumps({"name": name, "steps": 1, "minutes": 0.1}))
        _export(runs, bundle)
        m = json.loads((bundle / MANIFEST).read_text())
        assert m["semantic2_classifier"]["run"] == name and set(m["meta"]["runs"]) == {name}


def test_a_head_per_cbr(tmp_path):
    """``--semantic2-classifier semcod2_32_cls semcod2_32_cls12@1/12``: the head trained at 1/12 alone
    becomes role ``semantic2_classifier@1/12`` (its own digest record); the evaluation classifies
    crops sent at 1/12 with it and crops at 1/48 with the shared head; a head is refused for a
    rate it was not trained at."""
    from gr_semcod.evaluation.semantic2_crops import check_classifier, classifier_role

    bundle = v2_bundle_copy(tmp_path / "bundle")
    runs = tmp_path / "runs"
    models = {}
    for seed, name in enumerate(("semcod2_32_cls", "semcod2_32_cls12")):
        torch.manual_seed(seed)
        kw = get_config(name).model_kwargs
        model = Semantic2LatentClassifier(bundle, 10, widths=tuple(kw["widths"]), cbrs=tuple(kw["cbrs"]))
        with torch.no_grad():
            _randomise_bn(model.head)
        (runs / name).mkdir(parents=True)
        torch.save(model.state_dict(), runs / name / "best.pt")
        models[name] = model.eval()

    def export(*specs):
        args = argparse.Namespace(runs=str(runs), into=str(bundle), semantic2=None, semantic2_classifier=list(specs),
                                  semantic=None, deepjscc=[], checkpoint="best.pt", tol=1e-4)
        return export_cli.run(args)

    with pytest.raises(SystemExit, match="trained at CBR 1/12, not 1/48"):
        export("semcod2_32_cls12@1/48")
    assert export("semcod2_32_cls", "semcod2_32_cls12@1/12") == 0
    m = json.loads((bundle / MANIFEST).read_text())
    assert {"semantic2_classifier", "semantic2_classifier@1/12"} <= set(m["models"])
    assert m["semantic2_classifier@1/12"]["run"] == "semcod2_32_cls12"
    assert {"semcod2_32_cls", "semcod2_32_cls12"} <= set(m["meta"]["runs"])
    b = Bundle.load(bundle)
    assert classifier_role(b, "1/12") == "semantic2_classifier@1/12"
    assert classifier_role(b, "1/48") == classifier_role(b) == "semantic2_classifier"
    check_classifier(b, "semantic2_classifier@1/12")
    x, _ = labelled_images(20, seed=3)
    xs = (x.astype(np.float32) / 255).transpose(0, 3, 1, 2).copy()
    clf = Classification(xs)
    for cbr, name in (("1/12", "semcod2_32_cls12"), ("1/48", "semcod2_32_cls")):
        (_, r), = list(received_latents(b, xs, cbr, "awgn", 10.0, seed=2, batch=250))
        inputs = _head_inputs(b, r, False)
        with torch.no_grad():
            ref = models[name].head(*(torch.from_numpy(v) for v in inputs.values())).numpy()
        got = clf.semantic2_logits(b, None, cbr, "awgn", 10.0, 2)
        np.testing.assert_allclose(got, ref, atol=1e-4)
    # re-exporting the shared head keeps the per-CBR head's run record
    assert export("semcod2_32_cls") == 0
    assert "semcod2_32_cls12" in json.loads((bundle / MANIFEST).read_text())["meta"]["runs"]
