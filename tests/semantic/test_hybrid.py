"""Semantic codec v2 (gr_semcod.semantic.hybrid): warm start from the shipped bundle, the
no-merge floor, rate accounting and gradients."""
from pathlib import Path

import numpy as np
import pytest
import torch

from gr_semcod.export.from_onnx import deepjscc_from_bundle
from gr_semcod.jscc.power import num_symbols
from gr_semcod.runtime import load_bundle
from gr_semcod.runtime.images import load_images
from gr_semcod.semantic.hybrid import HybridSemanticCodec, gain_clipped, quantize_gain_db

BUNDLE = Path(__file__).resolve().parents[2] / "models" / "semcod_32"
IMAGES = Path(__file__).resolve().parents[2] / "flowgraphs" / "images"


@pytest.fixture(scope="module")
def crops():
    x = load_images(str(IMAGES)).images.astype(np.float32) / 255.0
    return torch.from_numpy(x.transpose(0, 3, 1, 2).copy())


@pytest.mark.parametrize("cbr", ["1/48", "1/12"])
def test_bundle_to_torch_loader_matches_onnx(cbr, crops):
    model = deepjscc_from_bundle(BUNDLE, cbr)
    b = load_bundle(BUNDLE)
    x = crops.numpy()
    sym = b.run(f"deepjscc_encoder@{cbr}", images=x)["symbols"]
    with torch.no_grad():
        assert np.abs(model.encoder(crops).numpy() - sym).max() < 1e-4
        snr = np.full((len(x), 1), 7.0, np.float32)
        ref = b.run(f"deepjscc_decoder@{cbr}", symbols=sym, snr_db=snr)["images"]
        got = model.decoder(torch.from_numpy(sym), torch.from_numpy(snr)).numpy()
    assert np.abs(got - ref).max() < 1e-4


def _psnr(a, b):
    return float(10 * torch.log10(1.0 / (a - b).pow(2).flatten(1).mean(1)).mean())


@pytest.mark.parametrize("trained", [False, True])
def test_nothing_merged_is_the_deep_jscc_of_the_base_rate(crops, trained):
    """Warm started, with every level 0 the codec is Deep JSCC 1/12: the same function without
    noise, and within 0.2 dB of it through the channel -- also once the new layers have moved
    (``trained``: a whole tile takes the base-rate Deep JSCC path, not the refinement, nor the trunk
    and synthesis a fine-tuning stage trains: the runtime codes whole tiles with the bundle's Deep JSCC)."""
    codec = HybridSemanticCodec(base_cbr="1/12", init_from_bundle=str(BUNDLE)).eval()
    if trained:
        g = torch.Generator().manual_seed(0)
        with torch.no_grad():
            for w in (codec.decoder.out.weight, codec.encoder_b.to_latent.weight, codec.encoder_a.to_latent.weight,
                      codec.encoder_a.trunk.convs[0].weight, codec.decoder.synthesis.convs[0].weight):
                w.add_(0.05 * torch.randn(w.shape, generator=g))  # also the trunk and synthesis (not frozen)
    dj = deepjscc_from_bundle(BUNDLE, "1/12")
    lev = np.zeros((len(crops), 8, 8), np.uint8)
    with torch.no_grad():
        clean = codec(crops, 200.0, levels=lev)["recon"]
        ref = dj.decoder(dj.encoder(crops), torch.full((len(crops), 1), 200.0))
    assert (clean - ref).abs().max() < 1e-4
    x8 = crops.repeat(8, 1, 1, 1)
    for snr in (10.0, 1.0):
        torch.manual_seed(0)
        with torch.no_grad():
            got = codec(x8, snr, levels=np.zeros((len(x8), 8, 8), np.uint8))["recon"]
            want = dj(x8, snr)["recon"]
        assert abs(_psnr(got, x8) - _psnr(want, x8)) < 0.2


def test_budget_is_respected_and_merged_tokens_cost_less(crops):
    codec = HybridSemanticCodec(base_cbr="1/12", init_from_bundle=str(BUNDLE)).eval()
    with torch.no_grad():
        f = codec.encoder_a(crops)
    for cbr in ("1/48", "1/24", "1/12"):
        k = num_symbols(cbr, 32, 32)
        lev, info = codec.allocate(f, np.full(len(crops), float(k)))
        assert np.all(info["symbols"] <= k)
        assert np.all(info["tokens"] < 64)  # something was merged in every crop
    # groups: 8 crops with one shared budget spend it unevenly, by content
    lev, info = codec.allocate(f, np.array([8.0 * num_symbols("1/48", 32, 32)]), groups=np.zeros(len(crops), int))
    per_crop = (4.0 ** -lev.astype(float)).sum(axis=(1, 2))
    assert info["symbols"][0] <= 8 * 64 and per_crop.max() >= 2 * per_crop.min()


def test_gain_quantiser_grid():
    p = torch.tensor([0.0, -3.1, -20.0, 9.0])
    q = quantize_gain_db(p)
    assert torch.allclose(q, torch.tensor([0.0, -3.0, -12.0, 3.75]))
    assert gain_clipped(p).tolist() == [False, False, True, True]
    # a grid of its own: the same 64 steps from another edge
    assert torch.allclose(quantize_gain_db(p, min_db=-4.0), torch.tensor([0.0, -3.0, -4.0, 9.0]))
    assert gain_clipped(p, min_db=-4.0).tolist() == [False, False, True, False]


def test_the_forward_reports_a_power_off_the_grid(crops):
    """Large level amplitudes put the token power above the default grid: the forward says so
    (``gain_clipped``, the share of groups), and a grid of its own (``gain_min_db``) holds it; the
    receiver's scale then is the power's within half a step, so the output changes."""
    outs = {}
    for grid in (-12.0, 0.0):
        torch.manual_seed(0)
        codec = HybridSemanticCodec(base_cbr="1/12", init_from_bundle=str(BUNDLE), gain_min_db=grid).eval()
        with torch.no_grad():
            codec.level_log2_amp.add_(1.0)
            np.random.seed(0)
            outs[grid] = codec(crops, torch.full((len(crops),), 30.0), cbr="1/48")
    assert float(outs[-12.0]["gain_clipped"]) == 1.0 and float(outs[0.0]["gain_clipped"]) == 0.0
    from gr_semcod.training.loop import evaluate  # the validation (and a run's summary.json) reports it

    assert evaluate(codec, [(crops, None)], 30.0, cbr="1/48")["gain_clipped"] == 0.0
    assert not torch.allclose(outs[-12.0]["recon"], outs[0.0]["recon"])


def test_training_step_reaches_every_new_layer(crops):
    codec = HybridSemanticCodec(base_cbr="1/12", init_from_bundle=str(BUNDLE)).train()
    out = codec(crops, torch.full((len(crops),), 5.0), cbr="1/48")
    assert out["recon"].shape == crops.shape
    (out["recon"] - crops).pow(2).mean().backward()
    for name in ("level_log2_amp", "decoder.out.weight", "encoder_b.to_latent.weight", "encoder_a.to_latent.weight",
                 "encoder_a.trunk.convs.0.weight", "decoder.synthesis.convs.0.weight"):
        p = dict(codec.named_parameters())[name]
        assert p.grad is not None and float(p.grad.abs().sum()) > 0, name


def test_receiver_stage_trains_the_receiver_only(crops, tmp_path):
    """``semcod2_32_rx``: a second stage on a trained run (``init_from``) whose transmitter (what is
    sent, and what a machine receiver was trained on) stays fixed while refinement and synthesis learn."""
    import dataclasses

    from gr_semcod.training.configs.hybrid import build_hybrid
    from gr_semcod.training.registry import get_config

    first = HybridSemanticCodec(base_cbr="1/12", init_from_bundle=str(BUNDLE))
    with torch.no_grad():
        first.decoder.out.weight.normal_(0, 0.01)  # a "trained" run: a non-identity refinement
    torch.save({"model": first.state_dict()}, tmp_path / "best.pt")
    cfg = get_config("semcod2_32_rx")
    cfg = dataclasses.replace(cfg, model_kwargs={**cfg.model_kwargs, "init_from": str(tmp_path / "best.pt")})
    codec = build_hybrid(cfg).train()
    assert torch.equal(codec.decoder.out.weight, first.decoder.out.weight)  # continued from the run
    tx = {k: v.clone() for k, v in codec.state_dict().items() if k.startswith(("encoder_a.", "encoder_b.", "level_"))}
    rx = {k: v.clone() for k, v in codec.state_dict().items() if k.startswith("decoder.")}
    opt = torch.optim.SGD([p for p in codec.parameters() if p.requires_grad], lr=0.1)
    out = codec(crops, torch.full((len(crops),), 5.0), cbr="1/48")
    (out["recon"] - crops).pow(2).mean().backward()
    opt.step()
    now = codec.state_dict()
    assert all(torch.equal(now[k], v) for k, v in tx.items())
    assert any(not torch.equal(now[k], v) for k, v in rx.items() if "synthesis" in k)
    assert any(not torch.equal(now[k], v) for k, v in rx.items() if "synthesis" not in k)


def test_the_base_copy_is_neither_saved_nor_counted_and_the_rx_stage_needs_its_run(crops, tmp_path):
    """With the base trainable, whole tiles go through an untrained copy of the base Deep JSCC:
    it is not part of the saved state (checkpoints of such runs made before it still load) nor of
    the parameters; a receiver-only stage refuses to start on a transmitter it was not given."""
    import dataclasses

    from gr_semcod.training.configs.hybrid import build_hybrid
    from gr_semcod.training.registry import get_config

    frozen = HybridSemanticCodec(base_cbr="1/12", init_from_bundle=str(BUNDLE), freeze_base=True)
    free = HybridSemanticCodec(base_cbr="1/12", init_from_bundle=str(BUNDLE))
    assert free._base is not None and frozen._base is None
    assert set(free.state_dict()) == set(frozen.state_dict())
    assert sum(p.numel() for p in free.parameters()) == sum(p.numel() for p in frozen.parameters())
    free.load_state_dict(frozen.state_dict())  # strict
    assert free.double()._base.decoder.convs[0].weight.dtype == torch.float64  # it follows .to()/.double()
    cfg = get_config("semcod2_32_rx")
    with pytest.raises(ValueError, match="needs init_from"):
        build_hybrid(cfg)
    other = HybridSemanticCodec(base_cbr="1/12", init_from_bundle=str(BUNDLE), dim=32)  # another transmitter
    torch.save({"model": other.state_dict()}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="must come from it"):
        build_hybrid(dataclasses.replace(cfg, model_kwargs={**cfg.model_kwargs, "init_from": str(tmp_path / "other.pt")}))

