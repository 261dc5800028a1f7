"""Machine receivers on frozen codecs: only the classifier trains, the CE loss falls, selection by
accuracy; held-out split slices; the registered configs (no ../shared, no /usr/share/datasets)."""
import csv
import json

import numpy as np
import pytest
import torch

from gr_semcod.jscc import DeepJSCC
from gr_semcod.semcod import SemanticCodec, SemanticCodecConfig
from gr_semcod.training import TrainConfig, get_config
from gr_semcod.training.classify import CodecTokenClassifier, ReconImageClassifier
from gr_semcod.training.data import make_dataset
from gr_semcod.training.loop import make_optimizer, train


def labelled_images(n: int, classes: int = 4, size: int = 32, seed: int = 0):
    """uint8 n x size x size x 3 and labels: a square at a random place on a dark, noisy
    background, coloured red / green / blue / white by the label -- learnable from pooled tokens."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    x = rng.integers(0, 60, (n, size, size, 3)).astype(np.int64)
    colours = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1]])
    for i, c in enumerate(labels):
        s = int(rng.integers(size // 3, size // 2))
        r, q = rng.integers(0, size - s, 2)
        x[i, r:r + s, q:q + s] += 190 * colours[int(c) % 4]
    return np.clip(x, 0, 255).astype(np.uint8), labels.astype(np.int64)


@pytest.fixture(scope="module")
def labelled_npz(tmp_path_factory):
    d = tmp_path_factory.mktemp("cls")
    x, y = labelled_images(384, seed=0)
    np.savez(d / "train.npz", images=x, labels=y)
    return str(d / "train.npz")


def tiny_codec():
    torch.manual_seed(0)
    return SemanticCodec(SemanticCodecConfig(dim=32, depth=3, heads=2, cbrs=("1/48", "1/12"), jscd_depth=1,
                                             detok_depth=1))


def pretrained_deepjscc(steps: int = 200):
    """Tiny Deep JSCC models briefly trained (MSE) on the fixture: an untrained decoder outputs a
    near-constant image, which no classifier can use."""
    x, _ = labelled_images(256, seed=5)
    xt = torch.from_numpy(x.transpose(0, 3, 1, 2)).float() / 255
    states = {}
    for cbr in ("1/48", "1/12"):
        torch.manual_seed(0)
        m = DeepJSCC(cbr, 32, widths=(8, 16))
        opt = torch.optim.Adam(m.parameters(), 3e-3)
        for _ in range(steps):
            idx = torch.randint(0, len(xt), (32,))
            loss = torch.nn.functional.mse_loss(m(xt[idx], 10 + 10 * torch.rand(32))["recon"], xt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        states[cbr] = m.state_dict()
    return states


def _cfg(npz, build, **kw):
    base = dict(name="tiny_cls", build_model=build, train_data=f"{npz}:train[:320]", val_data=f"{npz}:train[320:]",
                image_size=32, batch_size=32, lr=1e-2, minutes=None, steps=200, eval_every_steps=50, snr_range=(10.0, 20.0),
                log_every_steps=10, loss={"mse": 0.0, "ssim": 0.0, "ce": 1.0, "aux": 0.0}, select="acc", seed=0)
    base.update(kw)
    return TrainConfig(**base)


def _frozen_unchanged_head_changed(model, state0, sd, head_prefix):
    frozen = [k for k in state0 if not k.startswith(head_prefix)]
    head = [k for k in state0 if k.startswith(head_prefix) and state0[k].is_floating_point()]
    assert frozen and head
    for k in frozen:
        assert torch.equal(state0[k], sd[k]), f"frozen tensor {k} changed"
    assert any(not torch.equal(state0[k], sd[k]) for k in head)


def _losses(run):
    with open(run / "log.csv") as f:
        rows = list(csv.DictReader(f))
    return rows, [float(r["loss"]) for r in rows]


def test_head_only_training_semantic(tmp_path, labelled_npz):
    cfg = _cfg(labelled_npz, lambda c: CodecTokenClassifier(tiny_codec(), 4, channel=c.make_channel()))
    model = cfg.build_model(cfg)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith("head.") for n in trainable)
    opt_params = {id(p) for g in make_optimizer(model, cfg).param_groups for p in g["params"]}
    assert opt_params == {id(p) for p in model.head.parameters()}
    model.train()
    assert model.head.training and not model.codec.training  # the codec stays in eval mode
    state0 = {k: v.clone() for k, v in model.state_dict().items()}

    summary = train(cfg, out_dir=tmp_path, threads=1, progress=False, log=lambda s: None)
    run = tmp_path / "tiny_cls"
    rows, losses = _losses(run)
    assert losses[-1] < 0.75 * losses[0], losses
    assert "val_acc" in rows[0] and rows[-1]["val_acc"]
    assert summary["select"] == "acc" and summary["best_val_acc"] > 0.5, summary
    assert set(summary["val_acc_by_snr"]) == {"0", "10", "20"}
    sd = torch.load(run / "ckpt.pt", weights_only=True)["model"]
    _frozen_unchanged_head_changed(model, state0, sd, "head.")
    # best.pt reloads into a fresh model and is the selected (most accurate) checkpoint
    best = torch.load(run / "best.pt", weights_only=True)
    val_accs = [float(r["val_acc"]) for r in rows if r["val_acc"]]
    assert summary["best_val_acc"] == pytest.approx(max(val_accs), abs=1e-4)
    _frozen_unchanged_head_changed(model, state0, best, "head.")


def test_head_only_training_deepjscc(tmp_path, labelled_npz):
    states = pretrained_deepjscc()

    def build(c):
        models = {}
        for cbr, sd in states.items():
            models[cbr] = DeepJSCC(cbr, 32, widths=(8, 16))
            models[cbr].load_state_dict(sd)
        return ReconImageClassifier(models, 4, channel=c.make_channel(), widths=(8, 16))

    cfg = _cfg(labelled_npz, build)
    model = cfg.build_model(cfg)
    assert all(n.startswith("classifier.") for n, p in model.named_parameters() if p.requires_grad)
    assert sorted(model.cbr_choices) == ["1/12", "1/48"]
    state0 = {k: v.clone() for k, v in model.state_dict().items()}
    summary = train(cfg, out_dir=tmp_path, threads=1, progress=False, log=lambda s: None)
    _, losses = _losses(tmp_path / "tiny_cls")
    assert losses[-1] < 0.85 * losses[0], losses
    assert summary["best_val_acc"] > 0.5
    sd = torch.load(tmp_path / "tiny_cls" / "ckpt.pt", weights_only=True)["model"]
    _frozen_unchanged_head_changed(model, state0, sd, "classifier.")


def test_held_out_slices(labelled_npz):
    x, y = labelled_images(384, seed=0)
    tr = make_dataset(f"{labelled_npz}:train[:320]", 32, train=True)
    va = make_dataset(f"{labelled_npz}:train[320:]", 32, train=False, limit=50)
    assert len(tr) == 320 and len(va) == 50
    assert torch.equal(va.labels, torch.from_numpy(y[320:370]))
    assert torch.equal(va.images, torch.from_numpy(x[320:370].transpose(0, 3, 1, 2)))


def test_registered_configs():
    for name in ("semcod_32_cls", "deepjscc_32_cls"):
        cfg = get_config(name)
        assert cfg.select == "acc" and cfg.loss["ce"] == 1.0 and cfg.loss["mse"] == 0.0
        assert cfg.train_data.endswith(":train[:55000]") and cfg.val_data.endswith(":train[55000:]")
        assert cfg.snr_range == (0.0, 20.0) and cfg.minutes <= 6
        json.dumps(cfg.to_dict())
    assert get_config("semcod_32_cls").model_kwargs["weights"] == "runs/semcod_32/best.pt"
    assert get_config("semcod_32_cls").model_kwargs["mlp_ratio"] == 2.0


def test_model_arg_override(monkeypatch):
    from argparse import ArgumentParser

    from gr_semcod.training import cli

    seen = {}
    monkeypatch.setattr("gr_semcod.training.loop.train", lambda cfg, **kw: seen.setdefault("cfg", cfg))
    p = ArgumentParser()
    cli.add_arguments(p)
    args = p.parse_args(["--config", "semcod_32_cls", "--model-arg", "weights=/x/best.pt", "--model-arg", "num_classes=7"])
    assert cli.run(args) == 0
    assert seen["cfg"].model_kwargs["weights"] == "/x/best.pt" and seen["cfg"].model_kwargs["num_classes"] == 7
    assert get_config("semcod_32_cls").model_kwargs["weights"] == "runs/semcod_32/best.pt"  # registry untouched


def test_builders_without_frozen_weights_and_missing_weights(tmp_path):
    from gr_semcod.training.configs.classify import build_deepjscc_cls, build_semcod_cls

    cfg = get_config("deepjscc_32_cls")
    cfg.model_kwargs = {**cfg.model_kwargs, "runs_dir": None}  # untrained frozen parts (export loads best.pt next)
    m = build_deepjscc_cls(cfg)
    assert sorted(m.cbr_choices) == ["1/12", "1/24", "1/48", "1/6"]
    cfg = get_config("semcod_32_cls")
    cfg.model_kwargs = {**cfg.model_kwargs, "weights": str(tmp_path / "absent.pt")}
    with pytest.raises(FileNotFoundError, match="absent.pt"):
        build_semcod_cls(cfg)
