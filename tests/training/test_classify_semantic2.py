"""The machine receiver of the semantic codec v2 (Semantic2LatentClassifier): the shipped v2
codec frozen as ONNX, the head alone trains, over the channel, on a generated labelled fixture;
the registered config ``semcod2_32_cls``."""
import numpy as np
import pytest
import torch

from gr_semcod.training import TrainConfig, get_config
from gr_semcod.training.classify import Semantic2LatentClassifier, semantic2_digest
from gr_semcod.training.loop import make_optimizer, train
from tests.receivers.fixtures import SHIPPED, labelled_images


@pytest.fixture(scope="module")
def labelled_npz(tmp_path_factory):
    d = tmp_path_factory.mktemp("cls2")
    x, y = labelled_images(448, seed=1)
    np.savez(d / "shapes.npz", images=x, labels=y)
    return str(d / "shapes.npz")


def _cfg(npz, **kw):
    base = dict(name="tiny_cls2", train_data=f"{npz}:train[:384]", val_data=f"{npz}:train[384:]",
                build_model=lambda c: Semantic2LatentClassifier(SHIPPED, 4, channel=c.make_channel(), widths=(16, 32)),
                image_size=32, batch_size=32, lr=3e-3, minutes=None, steps=60, eval_every_steps=30, snr_range=(0.0, 20.0),
                log_every_steps=10, loss={"mse": 0.0, "ssim": 0.0, "ce": 1.0, "aux": 0.0}, select="acc", seed=0,
                report_snrs=(10.0,))
    base.update(kw)
    return TrainConfig(**base)


def test_head_trains_on_the_received_latent_and_beats_chance(tmp_path, labelled_npz):
    cfg = _cfg(labelled_npz)
    model = cfg.build_model(cfg)
    assert {n for n, _ in model.named_parameters()} == {n for n, _ in model.head.named_parameters(prefix="head")}
    opt_params = {id(p) for g in make_optimizer(model, cfg).param_groups for p in g["params"]}
    assert opt_params == {id(p) for p in model.head.parameters()}
    assert bytes(model.codec_digest.tolist()) == semantic2_digest(model.bundle.manifest)
    summary = train(cfg, out_dir=tmp_path, threads=1, progress=False, log=lambda s: None)
    # 4 classes (chance 0.25), selected at CBR 1/48, 10 dB, after 60 steps of 32 images
    assert summary["best_val_acc"] >= 0.6, summary
    acc_1_12 = _accuracy(model, tmp_path / "tiny_cls2" / "best.pt", labelled_npz, "1/12")
    assert acc_1_12 >= 0.6


def _accuracy(model, best, npz, cbr):
    from gr_semcod.training.loop import load_weights

    load_weights(model, best).eval()
    d = np.load(npz)
    x = torch.from_numpy(d["images"][384:].transpose(0, 3, 1, 2).astype(np.float32) / 255)
    torch.manual_seed(0)
    with torch.no_grad():
        logits = model(x, torch.full((len(x),), 10.0), cbr=cbr)["logits"]
    return float((logits.argmax(1).numpy() == d["labels"][384:]).mean())


def test_received_latent_is_the_evaluations(labelled_npz):
    """The training forward codes each image as the evaluation does: same allocation, same
    symbols; without noise the head reads exactly evaluation.semantic2_crops.receive's latent."""
    from gr_semcod.evaluation.semantic2_crops import receive, transmit

    model = Semantic2LatentClassifier(SHIPPED, 4, widths=(8, 8))
    d = np.load(labelled_npz)
    x = d["images"][:16].transpose(0, 3, 1, 2).astype(np.float32) / 255
    r = model.received(torch.from_numpy(x), torch.full((16,), 200.0), "1/48")  # 200 dB: noise ~1e-10
    sent = transmit(model.bundle, x, "1/48", 200.0)
    ref = receive(model.bundle, sent, sent.symbols)
    for k in ("latent", "levels", "snr_db"):
        np.testing.assert_allclose(r[k].numpy(), ref[k], atol=1e-4)
    with pytest.raises(ValueError, match="AWGN only"):
        from gr_semcod.jscc.channels import Channel

        Semantic2LatentClassifier(SHIPPED, 4, channel=Channel("rayleigh"), widths=(8, 8)).received(
            torch.from_numpy(x), torch.full((16,), 10.0), "1/48")


def test_registered_config():
    cfg = get_config("semcod2_32_cls")
    assert cfg.select == "acc" and cfg.channel == "awgn" and cfg.snr_range == (0.0, 20.0)
    assert cfg.model_kwargs["cbrs"] == ["1/48", "1/12"] and cfg.model_kwargs["eval_cbr"] == "1/48"
    assert cfg.train_data.endswith(":train[:55000]") and cfg.val_data.endswith(":train[55000:]")
    model = cfg.build_model(cfg)  # the shipped bundle's v2, no runs/ needed
    assert model.cbr_choices == ["1/48", "1/12"] and model.eval_cbr == "1/48"
