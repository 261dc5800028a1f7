"""The paper's recipe ``semcod_224_vitb16``: ViT-B/16 at 224 px, ToMe r = 8 per block down to 10..30
tokens, weights from a local timm checkpoint, optionally frozen."""
import random

import numpy as np
import pytest
import torch
from PIL import Image

from gr_semcod.semantic import create_vit
from gr_semcod.semantic.schedules import tokens_per_layer
from gr_semcod.semcod import SemanticCodec, SemanticCodecConfig
from gr_semcod.training import get_config
from gr_semcod.training.configs.vit_b16 import r_then_target
from gr_semcod.training.data import PhotoCropDataset
from gr_semcod.training.loop import train


@pytest.fixture(scope="module")
def photo_dirs(tmp_path_factory):
    """Two folders of small generated 'photos' (larger than 224 px, so crops are random)."""
    root = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    for split, n in (("train", 3), ("val", 2)):
        (root / split).mkdir()
        for i in range(n):
            h, w = 240 + 16 * i, 300
            yy, xx = np.mgrid[0:h, 0:w]
            img = np.stack([(xx * rng.uniform(0.3, 0.8) + yy * rng.uniform(0, 0.5) + 60 * c) % 256
                            for c in range(3)], -1)
            Image.fromarray(img.astype(np.uint8)).save(root / split / f"p{i}.png")
    return str(root / "train"), str(root / "val")


@pytest.mark.parametrize("target", range(10, 31))
def test_r8_schedule_reaches_every_token_count(target):
    s = r_then_target(12, 197, 8, target)
    counts = tokens_per_layer(197, s)
    assert len(s) == 12 and counts[-1] == target
    assert s[:8] == [8] * 8 and min(s) >= 8  # ToMe's r = 8 in every block, more only at the end
    assert all(r <= (n - 1) // 2 for r, n in zip(s, counts))  # never beyond ToMe's cap


def test_r8_schedule_limits():
    assert r_then_target(12, 197, 8, 101) == [8] * 12  # plain ToMe r = 8: 197 -> 101
    with pytest.raises(ValueError, match="out of reach"):
        r_then_target(12, 197, 8, 0)
    with pytest.raises(ValueError, match="out of reach"):
        r_then_target(12, 197, 8, 198)


def test_frozen_tokenizer_one_step(tmp_path, photo_dirs):
    """The recipe is ViT-B/16 at 224 px, r = 8 per block down to 28 tokens. One optimiser step at
    batch 2 on random 224 px photo crops, random init: the frozen ViT keeps its weights exactly,
    the JSCC, the shape code and the receiver move."""
    train_dir, val_dir = photo_dirs
    cfg = get_config("semcod_224_vitb16", train_data=train_dir, val_data=val_dir, steps=1, batch_size=2)
    cfg = cfg.replace(workers=0, report_snrs=(10.0,), train_limit=4)
    cfg.minutes = None
    cfg.model_kwargs = {**cfg.model_kwargs, "freeze_tokenizer": True}
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)  # as train() seeds before it builds the model
    model = cfg.build_model(cfg)
    vit = model.tokenizer.vit
    assert cfg.image_size == 224 and (vit.embed_dim, len(vit.blocks), vit.patch_embed.num_patches) == (768, 12, 196)
    assert model.tokenizer.schedule == [8] * 9 + [16, 54, 27] and model.tokenizer.num_tokens == 28
    assert [model.symbols_per_token(c) for c in model.cbr_choices] == [112, 224, 448, 896]
    assert not any(p.requires_grad for p in vit.parameters()) and model.tokenizer.shape_proj.weight.requires_grad
    init = model.state_dict()
    del model, vit
    summary = train(cfg, out_dir=tmp_path, threads=1, progress=False, log=lambda s: None)
    assert summary["steps"] == 1
    trained = torch.load(tmp_path / cfg.name / "ckpt.pt", weights_only=True)["model"]
    vit_keys = [k for k in init if k.startswith("tokenizer.vit.")]
    assert len(vit_keys) == 150  # cls, pos, patch proj (2), 12 blocks x 12, final norm (2)
    assert all(torch.equal(init[k], trained[k]) for k in vit_keys)
    for part in ("jscc_encoder.", "jscc_decoder.", "detokenizer.", "tokenizer.shape_proj."):
        keys = [k for k in init if k.startswith(part)]
        assert keys and any(not torch.equal(init[k], trained[k]) for k in keys), part


def test_photo_crops_at_224(photo_dirs):
    ds = PhotoCropDataset(photo_dirs[0], 224, length=4)
    torch.manual_seed(0)
    a, b = ds[0][0], ds[1][0]
    assert a.shape == (3, 224, 224) and not torch.equal(a, b)


def test_local_checkpoint_loads_and_mismatches_are_named(tmp_path):
    """The recipe's builder loads a local timm .safetensors (a ViT-Ti/16 here, same code path as
    ViT-B/16, 20x smaller); a checkpoint of another ViT or a wrong width is a clear error."""
    from safetensors.torch import save_file

    torch.manual_seed(1)
    ref = create_vit("vit_tiny_patch16_224")  # with its 1000-class head, as timm saves it
    path = tmp_path / "vit_tiny_patch16_224.safetensors"
    save_file({k: v.contiguous() for k, v in ref.state_dict().items()}, str(path))
    cfg = get_config("semcod_224_vitb16")
    assert cfg.train_data.endswith("photos/train") and cfg.val_data.endswith("photos/val")  # random crops / folder
    tiny = {"vit": "vit_tiny_patch16_224", "dim": 192, "heads": 3, "checkpoint": str(path), "num_tokens": 14}
    cfg.model_kwargs = {**cfg.model_kwargs, **tiny}
    codec = cfg.build_model(cfg)
    got = codec.tokenizer.vit.state_dict()
    assert all(torch.equal(got[k], v) for k, v in ref.state_dict().items() if not k.startswith("head."))
    assert codec.tokenizer.num_tokens == 14
    with pytest.raises(ValueError, match="does not match"):  # ViT-Ti weights into a ViT-S
        SemanticCodec(SemanticCodecConfig(img_size=224, vit="vit_small_patch16_224", patch_size=16, dim=384,
                                          depth=12, heads=6, conv_stem=False, num_tokens=14, checkpoint=str(path)))
    with pytest.raises(ValueError, match="dim=256 but the ViT has 192"):
        SemanticCodec(SemanticCodecConfig(img_size=224, vit="vit_tiny_patch16_224", patch_size=16, dim=256,
                                          depth=12, heads=3, conv_stem=False, num_tokens=14))
    with pytest.raises(FileNotFoundError):
        SemanticCodec(SemanticCodecConfig(img_size=224, vit="vit_tiny_patch16_224", patch_size=16, dim=192,
                                          depth=12, heads=3, conv_stem=False, num_tokens=14,
                                          checkpoint=str(tmp_path / "missing.safetensors")))


def test_stage_args_record_the_model_args():
    """stages.json must say which checkpoint and freezing a run used (the command to rerun it)."""
    from gr_semcod.training.loop import stage_args

    cfg = get_config("semcod_224_vitb16", steps=5)
    assert "--model-arg" not in stage_args(cfg.to_dict(), False)
    cfg.model_kwargs = {**cfg.model_kwargs, "checkpoint": "/w/vit_base_patch16_224.safetensors",
                        "freeze_tokenizer": True}
    args = stage_args(cfg.replace(workers=0).to_dict(), False)
    assert "--steps 5 --workers 0 --model-arg" in args, args  # loader processes change the crops drawn
    assert args.endswith("--model-arg checkpoint=/w/vit_base_patch16_224.safetensors "
                         "--model-arg freeze_tokenizer=true"), args


def test_cli_passes_checkpoint_freeze_and_workers(monkeypatch):
    """``semcod train --config semcod_224_vitb16 --model-arg checkpoint=... --model-arg
    freeze_tokenizer=true --workers 0`` reaches the config as a path, a bool and an int."""
    from argparse import ArgumentParser

    from gr_semcod.training import cli

    seen = {}
    monkeypatch.setattr("gr_semcod.training.loop.train", lambda cfg, **kw: seen.setdefault("cfg", cfg))
    p = ArgumentParser()
    cli.add_arguments(p)
    args = p.parse_args(["--config", "semcod_224_vitb16", "--model-arg", "checkpoint=/w/vit_base_patch16_224.safetensors",
                         "--model-arg", "freeze_tokenizer=true", "--workers", "0"])
    assert cli.run(args) == 0
    kw = seen["cfg"].model_kwargs
    assert kw["checkpoint"] == "/w/vit_base_patch16_224.safetensors" and kw["freeze_tokenizer"] is True
    assert seen["cfg"].workers == 0 and get_config("semcod_224_vitb16").workers == 4
