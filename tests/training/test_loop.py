"""The generic training loop: a short run lowers the loss; checkpoints save, load and resume."""
import csv
import json
from pathlib import Path

import pytest
import torch

from gr_semcod.jscc import DeepJSCC
from gr_semcod.training import TrainConfig, get_config, list_configs
from gr_semcod.training.data import make_dataset
from gr_semcod.training.loop import evaluate, load_weights, lr_at, train


def _build(cfg):
    return DeepJSCC(cfg.model_kwargs["cbr"], cfg.image_size, widths=(16, 32), channel=cfg.make_channel())


def _cfg(npz_pair, **kw):
    train_npz, val_npz = npz_pair
    base = dict(name="tiny", build_model=_build, train_data=train_npz, val_data=val_npz, image_size=32,
                batch_size=32, lr=3e-3, minutes=None, steps=80, eval_every_steps=20, log_every_steps=10,
                model_kwargs={"cbr": "1/12"}, seed=0)
    base.update(kw)
    return TrainConfig(**base)


def _rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_short_run_lowers_loss(tmp_path, npz_pair):
    torch.manual_seed(0)
    cfg = _cfg(npz_pair)
    val = make_dataset(cfg.val_data, 32, train=False)
    untrained = cfg.build_model(cfg)
    before = evaluate(untrained, val, 10.0)["psnr"]
    mse0 = evaluate(untrained, make_dataset(cfg.train_data, 32, train=False), 10.0)["mse"]
    summary = train(cfg, out_dir=tmp_path, threads=1, progress=False, log=lambda s: None)
    rows = _rows(tmp_path / "tiny" / "log.csv")
    losses = [float(r["loss"]) for r in rows]
    assert summary["steps"] == 80
    assert losses[-1] < 0.85 * losses[0], losses
    assert losses[-1] < 0.8 * mse0, (mse0, losses)
    assert summary["best_val_psnr"] > before + 1.0, (before, summary)
    assert set(summary["val_psnr_by_snr"]) == {"0", "10", "20"}
    assert json.loads((tmp_path / "tiny" / "summary.json").read_text())["steps"] == 80
    # best.pt is a plain state_dict that loads with weights_only=True and reproduces best_val_psnr
    m = load_weights(cfg.build_model(cfg), tmp_path / "tiny" / "best.pt")
    assert abs(evaluate(m, val, 10.0, seed=cfg.seed + 1234)["psnr"] - summary["best_val_psnr"]) < 1e-3


def test_checkpoint_resume_round_trip(tmp_path, npz_pair):
    cfg = _cfg(npz_pair, steps=20, eval_every_steps=10)
    train(cfg, out_dir=tmp_path, threads=1, progress=False, log=lambda s: None)
    blob = torch.load(tmp_path / "tiny" / "ckpt.pt", weights_only=True)
    assert blob["step"] == 20 and set(blob) >= {"model", "optimizer", "elapsed", "best_psnr"}
    first = {k: v.clone() for k, v in blob["model"].items()}

    # resume with a larger budget: continues from step 20, log appended, weights change
    summary = train(cfg.replace(steps=30), out_dir=tmp_path, resume=True, threads=1, progress=False,
                    log=lambda s: None)
    assert summary["steps"] == 30
    blob2 = torch.load(tmp_path / "tiny" / "ckpt.pt", weights_only=True)
    assert blob2["step"] == 30
    assert any(not torch.equal(first[k], blob2["model"][k]) for k in first)
    steps = [int(r["step"]) for r in _rows(tmp_path / "tiny" / "log.csv")]
    assert steps == sorted(steps) and steps[-1] == 30 and 20 in steps
    # both stages are recorded with their arguments and step ranges
    st = summary["stages"]
    assert [(s["start_step"], s["end_step"]) for s in st] == [(0, 20), (20, 30)]
    assert "--steps 20" in st[0]["args"] and "--resume" not in st[0]["args"]
    assert "--steps 30 --resume" in st[1]["args"]

    # resuming a finished run trains no further; a run without stages.json (older code) gets its
    # first stage reconstructed from the previous config.json
    (tmp_path / "tiny" / "stages.json").unlink()
    summary = train(cfg.replace(steps=30), out_dir=tmp_path, resume=True, threads=1, progress=False,
                    log=lambda s: None)
    assert summary["steps"] == 30
    st = summary["stages"]
    assert st[0]["reconstructed"] and (st[0]["end_step"], st[1]["start_step"], st[1]["end_step"]) == (30, 30, 30)
    m = cfg.build_model(cfg)
    m.load_state_dict(blob2["model"])
    torch.testing.assert_close(m.state_dict(), blob2["model"])


def test_lr_schedule_shapes(npz_pair):
    cfg = _cfg(npz_pair, lr=1e-3, warmup=0.1, final_lr_frac=0.01)
    assert lr_at(0.0, cfg) < 1e-5
    assert lr_at(0.1, cfg) == pytest.approx(1e-3)
    assert lr_at(1.0, cfg) == pytest.approx(1e-5)
    assert lr_at(0.3, cfg) > lr_at(0.6, cfg) > lr_at(0.9, cfg)
    oc = cfg.replace(schedule="onecycle")
    assert lr_at(0.3, oc) == pytest.approx(1e-3) and lr_at(1.0, oc) == pytest.approx(1e-7)


def test_registry_has_deepjscc_configs():
    names = list_configs()
    for tag in ["1-48", "1-24", "1-12", "1-6"]:
        assert f"deepjscc_32_cbr{tag}" in names and f"deepjscc_64_cbr{tag}_rayleigh" in names
    cfg = get_config("deepjscc_32_cbr1-12", minutes=3.0, batch_size=None)
    assert cfg.minutes == 3.0 and cfg.batch_size == 64 and cfg.name == "deepjscc_32_cbr1-12"
    m = cfg.build_model(cfg)
    assert m.k == 256 and m.channel.name == "awgn"
    with pytest.raises(KeyError):
        get_config("no_such_config")


def test_variable_rate_model_gets_cbr(tmp_path, npz_pair):
    """The loop passes ``cbr=`` drawn from ``model.cbr_choices`` when forward accepts it."""
    seen = []

    class TwoRate(torch.nn.Module):
        cbr_choices = ["1/24", "1/12"]

        def __init__(self, cfg):
            super().__init__()
            self.models = torch.nn.ModuleDict({c.replace("/", "_"): DeepJSCC(c, 32, widths=(4, 8)) for c in self.cbr_choices})

        def forward(self, images, snr_db, cbr="1/12"):
            seen.append(cbr)
            out = self.models[cbr.replace("/", "_")](images, snr_db)
            return {"recon": out["recon"], "aux_loss": out["recon"].new_zeros(())}

    cfg = _cfg(npz_pair, build_model=TwoRate, steps=12, eval_every_steps=None)
    train(cfg, out_dir=tmp_path, threads=1, progress=False, log=lambda s: None)
    assert set(seen) == {"1/24", "1/12"}


def test_a_batch_with_nothing_trainable_on_its_path_is_counted_not_fatal(tmp_path, npz_pair):
    """A receiver-only stage can meet a batch whose tiles all stay whole (only frozen layers on its
    path): the step takes a zero gradient, the run goes on and the summary counts such batches."""

    class SometimesFrozen(torch.nn.Module):
        def __init__(self, cfg):
            super().__init__()
            self.frozen = DeepJSCC("1/12", 32, widths=(4, 8)).requires_grad_(False)
            self.gain = torch.nn.Parameter(torch.ones(()))
            self.calls = 0

        def forward(self, images, snr_db):
            self.calls += 1
            recon = self.frozen(images, snr_db)["recon"]
            return {"recon": recon if self.calls % 2 else recon * self.gain}

    cfg = _cfg(npz_pair, build_model=SometimesFrozen, steps=6, eval_every_steps=None)
    summary = train(cfg, out_dir=tmp_path, threads=1, progress=False, log=lambda s: None)
    assert summary["steps"] == 6 and summary["batches_without_gradient"] == 3


@pytest.mark.parametrize("name", [n for n in list_configs() if n.startswith(("semcod_", "semcod2_", "deepjscc_")) and get_config(n).select != "acc"])  # classifiers: tests/training/test_classify*.py
def test_every_codec_config_builds_and_trains_one_step(name, tmp_path):
    """Each registered codec config (32x32 and 64x64, AWGN and Rayleigh) builds, runs forward at
    its image size and back-propagates; ``semcod_*`` configs pass a CBR from their list; a
    second stage (``init_from`` required) starts from a checkpoint of its first.  Every trainable
    parameter gets a gradient within four seeded batches: a v2 stage at its base rate (``rx12``)
    merges only when the budget jitter (numpy's generator) draws below the base, so one batch may
    reach only the frozen Deep JSCC, as in training (``batches_without_gradient``)."""
    import dataclasses
    import random

    import numpy as np

    torch.manual_seed(0)
    random.seed(0)
    cfg = get_config(name)
    if cfg.model_kwargs.get("init_decoder") or cfg.model_kwargs.get("init_transmitter"):
        # a stage from one of the bundle's receivers or codec sets: from the bundle
        bundle = Path(__file__).resolve().parents[2] / "models" / "semcod_32"
        cfg = dataclasses.replace(cfg, model_kwargs={**cfg.model_kwargs, "init_from": str(bundle)})
    elif cfg.model_kwargs.get("freeze_transmitter"):
        first = get_config("semcod2_32")
        torch.save({"model": first.build_model(first).state_dict()}, tmp_path / "best.pt")
        cfg = dataclasses.replace(cfg, model_kwargs={**cfg.model_kwargs, "init_from": str(tmp_path / "best.pt")})
    model = cfg.build_model(cfg).train()
    size = cfg.image_size if isinstance(cfg.image_size, int) else cfg.image_size[0]
    kw = {"cbr": model.cbr_choices[0]} if getattr(model, "cbr_choices", None) else {}
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert trainable
    for attempt in range(4):
        np.random.seed(attempt)  # seed 0 draws budgets above the base rate, seed 1 below it
        x = torch.rand(2, 3, size, size)
        out = model(x, torch.tensor([0.0, 20.0]), **kw)
        assert out["recon"].shape == x.shape
        assert torch.isfinite(out["recon"]).all()
        loss = (out["recon"] - x).pow(2).mean() + out.get("aux_loss", 0.0)
        if loss.requires_grad:
            loss.backward()
        if all(p.grad is not None for p in trainable):
            break
    assert all(p.grad is not None for p in trainable)
