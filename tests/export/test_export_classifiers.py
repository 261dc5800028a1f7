"""Export of the machine receivers: ``classifier`` (token head of a frozen-codec run) and
``image_classifier`` (CNN on Deep JSCC reconstructions), ONNX parity <= 1e-4, and the
``semcod export --classifier/--image-classifier`` wiring with its frozen-weights check."""
import argparse
import json

import numpy as np
import pytest
import torch

from gr_semcod.export import cli as export_cli
from gr_semcod.export.bundle import export_bundle
from gr_semcod.jscc import DeepJSCC
from gr_semcod.runtime import Bundle
from gr_semcod.semcod import SemanticCodec, SemanticCodecConfig
from gr_semcod.training.classify import CodecTokenClassifier, ReconImageClassifier
from gr_semcod.training.registry import TrainConfig, _REGISTRY, register

CODEC_KW = dict(dim=32, depth=3, heads=2, cbrs=("1/48", "1/12"), jscd_depth=1, detok_depth=1)


def _codec():
    return SemanticCodec(SemanticCodecConfig(**CODEC_KW))


def _deep(cbr):
    return DeepJSCC(cbr, 32, widths=(8, 16))


def _randomise_bn(module):
    """Non-trivial BatchNorm statistics so the parity check covers them."""
    g = torch.Generator().manual_seed(1)
    for m in module.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(0.1 * torch.randn(m.num_features, generator=g))
            m.running_var.copy_(0.5 + torch.rand(m.num_features, generator=g))


def test_bundle_with_both_classifiers_parity(tmp_path):
    torch.manual_seed(0)
    sem = CodecTokenClassifier(_codec(), 10, mlp_ratio=2.0)
    rec = ReconImageClassifier({"1/12": _deep("1/12")}, 10, widths=(8, 16))
    _randomise_bn(rec.classifier)
    codec = sem.codec
    codec.classifier = sem.head
    _, parity = export_bundle(str(tmp_path / "b"), codec, {"1/12": rec.jscc["1-12"]}, name="t",
                              image_classifier=rec.classifier, classes=[str(i) for i in range(10)])
    assert parity["classifier"] <= 1e-4 and parity["image_classifier"] <= 1e-4
    m = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert {"classifier", "image_classifier"} <= set(m["models"])
    assert m["models"]["image_classifier"]["inputs"]["images"]["shape"] == ["batch", 3, 32, 32]
    assert m["models"]["image_classifier"]["outputs"]["logits"]["shape"] == ["batch", 10]
    assert m["classes"] == [str(i) for i in range(10)]
    b = Bundle.load(tmp_path / "b")
    x = np.random.default_rng(0).random((3, 3, 32, 32), dtype=np.float32)
    with torch.no_grad():
        ref = rec.classifier.eval()(torch.from_numpy(x)).numpy()
        tok = sem.codec.tokenizer(torch.from_numpy(x))[0]
        ref_tok = sem.head.eval()(tok).numpy()
    np.testing.assert_allclose(b.run("image_classifier", images=x)["logits"], ref, atol=1e-4)
    np.testing.assert_allclose(b.run("classifier", tokens=tok.numpy())["logits"], ref_tok, atol=1e-4)


@pytest.fixture
def tiny_runs(tmp_path):
    """Registered tiny configs + runs/<name>/best.pt as `semcod train` would leave them."""
    runs = tmp_path / "runs"
    names = ["t_exp_codec", "t_exp_deep", "t_exp_cls", "t_exp_img_cls"]
    for n in names:
        _REGISTRY.pop(n, None)
    register(TrainConfig(name="t_exp_codec", build_model=lambda c: _codec()))
    register(TrainConfig(name="t_exp_deep", build_model=lambda c: _deep("1/12")))
    register(TrainConfig(name="t_exp_cls", build_model=lambda c: CodecTokenClassifier(_codec(), 10)))
    register(TrainConfig(name="t_exp_img_cls",
                         build_model=lambda c: ReconImageClassifier({"1/12": _deep("1/12")}, 10, widths=(8, 16))))
    torch.manual_seed(0)
    codec, deep = _codec(), _deep("1/12")
    sem = CodecTokenClassifier(_codec(), 10)
    sem.codec.load_state_dict(codec.state_dict())
    rec = ReconImageClassifier({"1/12": _deep("1/12")}, 10, widths=(8, 16))
    rec.jscc["1-12"].load_state_dict(deep.state_dict())
    _randomise_bn(rec.classifier)
    for n, m in zip(names, (codec, deep, sem, rec)):
        (runs / n).mkdir(parents=True)
        torch.save(m.state_dict(), runs / n / "best.pt")
    yield runs, sem, rec
    for n in names:
        _REGISTRY.pop(n, None)


def _export_args(runs, out, **kw):
    p = argparse.ArgumentParser()
    export_cli.add_arguments(p)
    argv = ["--semantic", "t_exp_codec", "--deepjscc", "t_exp_deep", "--runs", str(runs), "--out", str(out)]
    for k, v in kw.items():
        argv += [f"--{k.replace('_', '-')}", v]
    return p.parse_args(argv)


def test_export_cli_takes_heads_from_runs(tiny_runs, tmp_path, capsys):
    runs, sem, rec = tiny_runs
    out = tmp_path / "bundle"
    assert export_cli.run(_export_args(runs, out, classifier="t_exp_cls", image_classifier="t_exp_img_cls")) == 0
    m = json.loads((out / "manifest.json").read_text())
    assert {"classifier", "image_classifier", "tokenizer", "deepjscc_decoder@1/12"} <= set(m["models"])
    assert len(m["classes"]) == 10 and m["classes"][0] == "T-shirt/top"
    assert {"t_exp_cls", "t_exp_img_cls"} <= set(m["meta"]["runs"])
    assert m["meta"]["onnx_parity_max_abs"]["image_classifier"] <= 1e-4
    b = Bundle.load(out)
    x = np.random.default_rng(1).random((2, 3, 32, 32), dtype=np.float32)
    with torch.no_grad():
        np.testing.assert_allclose(b.run("image_classifier", images=x)["logits"],
                                   rec.classifier.eval()(torch.from_numpy(x)).numpy(), atol=1e-4)
        tok = sem.codec.tokenizer(torch.from_numpy(x))[0]
        np.testing.assert_allclose(b.run("classifier", tokens=tok.numpy())["logits"],
                                   sem.head.eval()(tok).numpy(), atol=1e-4)


def test_export_refuses_head_trained_on_other_codec(tiny_runs, tmp_path):
    runs, _, _ = tiny_runs
    torch.manual_seed(99)
    torch.save(_codec().state_dict(), runs / "t_exp_codec" / "best.pt")  # codec retrained after the head
    with pytest.raises(SystemExit, match="different weights"):
        export_cli.run(_export_args(runs, tmp_path / "b2", classifier="t_exp_cls"))
