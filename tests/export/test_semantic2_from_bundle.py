"""The semantic codec v2 read back from a bundle's ONNX files (``semantic2_from_bundle``): every
tensor as exported, ONNX parity, a wrong architecture refused, and a training stage that starts
from a bundle instead of a run."""
from pathlib import Path

import numpy as np
import pytest
import torch

from gr_semcod.export.bundle import export_bundle
from gr_semcod.export.from_onnx import deepjscc_from_bundle, semantic2_from_bundle
from gr_semcod.export.hybrid import export_semantic2
from gr_semcod.semantic.hybrid import HybridSemanticCodec
from gr_semcod.training.configs.hybrid import build_hybrid
from gr_semcod.training.registry import get_config

SHIPPED = Path(__file__).resolve().parents[2] / "models" / "semcod_32"


@pytest.fixture(scope="module")
def random_v2(tmp_path_factory):
    """A v2 whose every parameter is random (so that two tensors swapped by the loader, e.g. the
    anonymous MatMul weights of qkv and proj, cannot agree by chance), exported to a bundle."""
    out = tmp_path_factory.mktemp("v2_random")
    export_bundle(str(out), deepjscc={"1/12": deepjscc_from_bundle(SHIPPED, "1/12")}, name="v2_random")
    codec = HybridSemanticCodec(base_cbr="1/12", cbrs=("1/48", "1/12"), decoder_blocks=2)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in codec.parameters():  # every value its own (zero inits too), magnitudes as initialised
            p.mul_(1 + 0.1 * torch.randn(p.shape, generator=g)).add_(0.01 * torch.randn(p.shape, generator=g))
    export_semantic2(str(out), codec.eval())
    return out, codec


def test_every_tensor_comes_back_as_exported(random_v2):
    out, codec = random_v2
    back = semantic2_from_bundle(out, decoder_blocks=2)
    want, got = codec.state_dict(), back.state_dict()
    assert set(want) == set(got)
    for k in want:  # bit for bit, but the level amplitudes (the manifest keeps 2^x, read back as log2)
        tol = 1e-6 if k == "level_log2_amp" else 0.0
        torch.testing.assert_close(got[k], want[k], rtol=0, atol=tol, msg=k)
    assert not back.training


def test_a_wrong_architecture_is_refused(random_v2):
    out, _ = random_v2
    with pytest.raises(ValueError, match="in none of its ONNX files"):
        semantic2_from_bundle(out, decoder_blocks=3)  # a block the files do not hold
    with pytest.raises(ValueError, match="weights the model does not have"):
        semantic2_from_bundle(out, decoder_blocks=1)  # a block the model does not hold
    with pytest.raises(ValueError, match="differs from its ONNX file"):
        semantic2_from_bundle(out, decoder_blocks=2, heads=2)  # no weight shows the head count


def test_the_shipped_v2_loads_with_parity():
    codec = semantic2_from_bundle(SHIPPED)
    assert codec.c == 8 and str(codec.base_cbr) == "1/12"
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 32), torch.linspace(0, 1, 32), indexing="ij")
    x = torch.stack([torch.stack([0.2 + 0.6 * yy, 0.8 - 0.5 * xx, 0.5 + 0.3 * yy * xx])] * 3)  # smooth crops
    with torch.no_grad():
        rec = codec(x, snr_db=torch.full((3,), 20.0), cbr="1/12")["recon"]
    psnr = -10 * torch.log10(((rec.clamp(0, 1) - x) ** 2).mean())
    assert rec.shape == x.shape and psnr > 25.0, float(psnr)  # ~28 dB: trained (untrained: 16.5, the crops' mean colour 17.1)


def test_a_receiver_stage_starts_from_a_bundle(random_v2):
    out, codec = random_v2
    cfg = get_config("semcod2_32_rx")
    cfg.model_kwargs = {**cfg.model_kwargs, "init_from": str(out), "decoder_blocks": 2, "init_from_bundle": None}
    model = build_hybrid(cfg)
    sd = model.state_dict()
    for k, v in codec.state_dict().items():
        torch.testing.assert_close(sd[k], v, rtol=0, atol=1e-6 if k == "level_log2_amp" else 0.0, msg=k)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith("decoder.") for n in trainable)  # the transmitter stays as shipped
    assert np.isfinite(float(model.level_amp()[-1]))


def test_export_rebuilds_a_run_with_its_own_model_args(tmp_path):
    """A run trained with --model-arg overrides (here decoder_blocks=2, and a receiver stage's
    init_from / freeze_transmitter) is rebuilt for export with them: the registry's default
    architecture could not hold its weights; where the weights started is left out."""
    import json

    from gr_semcod.export.cli import load_run

    run = tmp_path / "semcod2_32_rx"
    run.mkdir()
    codec = HybridSemanticCodec(base_cbr="1/12", cbrs=("1/48", "1/24", "1/12"), decoder_blocks=2)
    torch.save(codec.state_dict(), run / "best.pt")
    (run / "config.json").write_text(json.dumps({"model_kwargs": {
        "base_cbr": "1/12", "cbrs": ["1/48", "1/24", "1/12"], "init_from_bundle": None, "decoder_blocks": 2,
        "freeze_transmitter": True, "init_from": str(tmp_path / "gone" / "best.pt")}}))
    model, info = load_run(tmp_path, "semcod2_32_rx")
    assert len(model.decoder.blocks) == 2 and info["config"] == "semcod2_32_rx"
    for k, v in codec.state_dict().items():
        torch.testing.assert_close(model.state_dict()[k], v, rtol=0, atol=0, msg=k)


def _decoder_inputs():
    """A received latent, level maps and SNRs for a v2 receiver (3 tiles, seeded)."""
    g = torch.Generator().manual_seed(0)
    latent = torch.randn(3, 8, 8, 8, generator=g)
    levels = torch.randint(0, 4, (3, 1, 8, 8), generator=g).float()
    return latent, levels, torch.tensor([[1.0], [5.0], [10.0]])


def test_a_two_block_receiver_stage_starts_as_the_bundles_receiver():
    """``semcod2_32_rx48`` (2 refinement blocks) from the shipped bundle (1 block): the bundle's
    weights where they exist, the second block at its identity init, so the stage starts as the
    shipped receiver exactly; only the receiver trains."""
    cfg = get_config("semcod2_32_rx48")
    cfg.model_kwargs = {**cfg.model_kwargs, "init_from": str(SHIPPED)}
    model = build_hybrid(cfg).eval()
    assert len(model.decoder.blocks) == 2 and model.cbr_choices == ["1/48"]
    ref = semantic2_from_bundle(SHIPPED).eval()
    latent, levels, snr = _decoder_inputs()
    with torch.no_grad():
        torch.testing.assert_close(model.decoder(latent, levels, snr), ref.decoder(latent, levels, snr), rtol=0, atol=1e-6)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert any(n.startswith("decoder.blocks.1.") for n in trainable) and all(n.startswith("decoder.") for n in trainable)


def test_a_stage_starts_from_the_bundles_transmitter_per_cbr():
    """``semcod2_32_tx48lo`` continued from the shipped bundle (``init_transmitter=1/48``): its encoder,
    merger and receiver are the bundle's set at 1/48 (ONNX Runtime within 1e-4), not the shared
    ones; the set's receiver is refused as a receiver of the shared transmitter, and a receiver
    the bundle does not hold is refused by name."""
    from gr_semcod.runtime.bundle import load_bundle

    cfg = get_config("semcod2_32_tx48lo")
    assert cfg.eval_snr_db == 1.0 and cfg.snr_range == (0.0, 10.0)
    cfg.model_kwargs = {**cfg.model_kwargs, "init_from": str(SHIPPED), "init_transmitter": "1/48"}
    model = build_hybrid(cfg).eval()
    latent, levels, snr = _decoder_inputs()
    bundle = load_bundle(SHIPPED)
    images = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        got = model.decoder(latent, levels, snr).numpy()
        feats = model.encoder_a(images).numpy()
    inputs = {"latent": latent.numpy(), "levels": levels.numpy(), "snr_db": snr.numpy()}
    per_cbr = next(iter(bundle.run("semantic2_decoder@1/48", **inputs).values()))
    shared = next(iter(bundle.run("semantic2_decoder", **inputs).values()))
    assert np.abs(got - per_cbr).max() < 1e-4
    assert np.abs(got - shared).max() > 1e-2  # the two receivers are different networks
    own = bundle.run("semantic2_encoder@1/48", images=images.numpy())["features"]
    assert np.abs(feats - own).max() < 1e-4
    assert np.abs(feats - bundle.run("semantic2_encoder", images=images.numpy())["features"]).max() > 1e-3
    amp = bundle.manifest["semantic2"]["transmitters"]["1/48"]["level_amp"]
    np.testing.assert_allclose(model.level_amp().detach().numpy(), amp, rtol=1e-5)
    with pytest.raises(ValueError, match="receiver of the transmitter of its own at CBR 1/48"):
        semantic2_from_bundle(SHIPPED, decoder="semantic2_decoder@1/48")
    with pytest.raises(ValueError, match="no v2 receiver 'semantic2_decoder@1/6'"):
        semantic2_from_bundle(SHIPPED, decoder="semantic2_decoder@1/6")
    cfg.model_kwargs = {**cfg.model_kwargs, "init_from": str(SHIPPED / "missing.pt")}
    with pytest.raises(ValueError, match="init_transmitter need init_from=<a bundle directory>"):
        build_hybrid(cfg)
