"""The machine receiver of the semantic codec v2 (Semantic2LatentClassifier): the shipped v2
codec frozen as ONNX, the head alone trains, over the channel, on a generated labelled fixture;
the registered config ``semcod2_32_cls``."""
import numpy as np
import pytest
import torch

from gr_semcod.training import TrainConfig, get_config
from gr_semcod.training.classify import Semantic2LatentClassifier, head_digest
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
    # the transmitters of both its rates (the shipped bundle codes 1/48 with one of its own)
    assert bytes(model.codec_digest.tolist()) == head_digest(model.bundle.manifest, ["1/48", "1/12"])
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
    assert not cfg.flip and cfg.model_kwargs["cache"] >= 55000  # every training image cached once
    model = cfg.build_model(cfg)  # the shipped bundle's v2, no runs/ needed
    assert model.cbr_choices == ["1/48", "1/12"] and model.eval_cbr == "1/48"
    assert model.cache is not None and model.cache.limit == cfg.model_kwargs["cache"]
    assert model.cache.betas == [4.0, 2.0, 1.0]  # the side charges SNR U(0, 20) dB reaches: BPSK x2, BPSK, QPSK (K=7)


def _fixture_images(npz, n, start=0):
    d = np.load(npz)
    return d["images"][start:start + n].transpose(0, 3, 1, 2).astype(np.float32) / 255


def test_cached_received_latent_is_the_receivers(labelled_npz):
    """The cache holds receive()'s noiseless latent of every image, CBR and side scheme; the
    noise it adds per step is the receiver's: constant over each leaf (the unmerge copies a
    token), of std sqrt(N0 / 2) 10^(g/20) / a_level, SNR input SNR - g."""
    from gr_semcod.evaluation.semantic2_crops import receive, transmit
    from gr_semcod.runtime.semantic2 import codec_set

    model = Semantic2LatentClassifier(SHIPPED, 4, widths=(8, 8), cache=64, snr_range=(0.0, 20.0))
    cache = model.cache
    assert [float(cache.beta_snr[b]) for b in cache.betas] == [0.0, 2.0, 6.0]  # BPSK x2, BPSK, QPSK (K=7)
    x = _fixture_images(labelled_npz, 16)
    xt = torch.from_numpy(x)
    for cbr in ("1/48", "1/12"):
        amp = np.asarray(codec_set(model.bundle, cbr).meta["level_amp"])  # the amplitudes of the rate's transmitter
        for snr in (0.5, 3.0, 12.0):
            sent = transmit(model.bundle, x, cbr, snr)
            ref = receive(model.bundle, sent, sent.symbols)
            quiet = model.cached_received(xt, torch.full((16,), 200.0), cbr)  # noiseless, same scheme as 200 dB
            if snr >= 5.0:
                np.testing.assert_allclose(quiet["latent"].numpy(), ref["latent"], atol=2e-3)
                np.testing.assert_array_equal(quiet["levels"].numpy(), ref["levels"])
            torch.manual_seed(0)
            draws = np.stack([model.cached_received(xt, torch.full((16,), snr), cbr)["latent"].numpy()
                              for _ in range(60)])
            r = model.cached_received(xt, torch.full((16,), snr), cbr)
            np.testing.assert_array_equal(r["levels"].numpy(), ref["levels"])
            np.testing.assert_allclose(r["snr_db"].numpy()[:, 0], snr - sent.gain_db, atol=1e-5)
            noise = draws - ref["latent"][None]
            lev = sent.levels
            for i in range(4):  # every leaf carries one noise value per channel
                for lv in range(1, 4):
                    s = 1 << lv
                    for a, b in zip(*np.nonzero(q_anchor(lev[i], lv))):
                        blk = noise[:, i, :, a:a + s, b:b + s]
                        assert np.ptp(blk, axis=(2, 3)).max() < 5e-3
            # one noise value per token: its std is the receiver's
            std = np.sqrt(10 ** (-snr / 10) / 2) * 10 ** (sent.gain_db / 20)[:, None, None] / amp[lev]
            ratio = noise.std(axis=(0, 2)) / std
            assert 0.85 < ratio.mean() < 1.15, ratio.mean()
            real = np.stack([model.received(xt, torch.full((16,), snr), cbr)["latent"].numpy() for _ in range(20)])
            ratio_real = (real - ref["latent"][None]).std(axis=(0, 2)) / std  # the formula is the receiver's
            assert 0.85 < ratio_real.mean() < 1.15, ratio_real.mean()
    assert cache.misses == 16 and len(cache) == 16  # one fill per image, all CBRs and schemes at once


def q_anchor(lev, lv):
    from gr_semcod.runtime.quadtree import anchor_mask

    return anchor_mask(lev[None])[0] & (lev == lv)


def test_full_cache_falls_back_to_the_onnx_path(labelled_npz):
    model = Semantic2LatentClassifier(SHIPPED, 4, widths=(8, 8), cache=8).train()
    x = torch.from_numpy(_fixture_images(labelled_npz, 12))
    assert model.cached_received(x, torch.full((12,), 10.0), "1/48") is None and len(model.cache) == 0
    assert model.cached_received(x[:8], torch.full((8,), 10.0), "1/48") is not None and len(model.cache) == 8
    out = model(x, torch.full((12,), 10.0), cbr="1/48")  # 4 images not cached: the whole batch goes the ONNX way
    assert out["logits"].shape == (12, 4) and len(model.cache) == 8
    with pytest.raises(ValueError, match="side charge"):
        model.cache.column_of(np.array([-3.0]))  # BPSK x4: below the range the cache coded


def test_the_head_per_cbr_continues_a_two_rate_head(tmp_path):
    """``semcod2_32_cls12``: the head at CBR 1/12 alone, chosen at 1/12, starting from a
    ``semcod2_32_cls`` run (``init_from``): every head tensor comes from that run."""
    cfg = get_config("semcod2_32_cls12")
    assert cfg.model_kwargs["cbrs"] == ["1/12"] and cfg.model_kwargs["eval_cbr"] == "1/12" and cfg.select == "acc"
    two = get_config("semcod2_32_cls")
    torch.manual_seed(3)
    src = two.build_model(two)
    torch.save(src.state_dict(), tmp_path / "best.pt")
    cfg.model_kwargs = {**cfg.model_kwargs, "init_from": str(tmp_path / "best.pt")}
    model = cfg.build_model(cfg)
    assert model.cbr_choices == ["1/12"] and model.eval_cbr == "1/12"
    for k, v in src.head.state_dict().items():
        torch.testing.assert_close(model.head.state_dict()[k], v, rtol=0, atol=0, msg=k)
    cfg.model_kwargs = {**cfg.model_kwargs, "widths": [16, 32]}  # another head: its tensors cannot all come from the run
    with pytest.raises(ValueError, match="must come from it"):
        cfg.build_model(cfg)
