"""The paper's configuration: ``semcod_224_vitb16``, semantic coding around a pretrained ViT-B/16.

Tokenizer: timm's ``vit_base_patch16_224`` (dim 768, 12 blocks, 12 heads, 196 patches + class token)
at 224 x 224, with ToMe merging r = 8 tokens per block (``merge_r``) and, in the last blocks, what
is needed to end at ``num_tokens`` (28 by default; any count in 10..30 that divides the symbol
budgets, e.g. 14 or 16, via ``--model-arg num_tokens=14``): see :func:`r_then_target`.
Shape-coded tokens, the rate-adaptive JSCC (CBR 1/48..1/6, 112..896 symbols per token at 28
tokens) and the unmerging detokenizer of :mod:`gr_semcod.semcod` at width 768.

Weights come from a local timm checkpoint given on the command line (never from a hub)::

    semcod train --config semcod_224_vitb16 --device cuda \\
        --model-arg checkpoint=/path/vit_base_patch16_224.safetensors --model-arg freeze_tokenizer=true

``freeze_tokenizer=true`` keeps the ViT as loaded (as the paper does) and trains the JSCC, the
shape code and the receiver. Without a checkpoint the ViT starts from random weights.

Data: random 224 x 224 crops of ``photos/train`` drawn on the fly (random scale, window and flip;
:class:`~gr_semcod.training.data.PhotoCropDataset`), 4 loader processes; checkpoints are selected
on ``photos/val``, each photo resized and centre-cropped to 224 x 224, at CBR 1/12 and 10 dB.
Budget: 120 minutes, sized for one GPU (``--minutes`` / ``--steps`` override it); batch 32 per process.
"""
from __future__ import annotations

from typing import List

from ...semantic.schedules import cap, tokens_per_layer
from ..registry import DATA_DIR, TrainConfig, register
from .semantic import build_semcod

VIT = "vit_base_patch16_224"
VIT_SHAPE = {"patch_size": 16, "dim": 768, "depth": 12, "heads": 12}


def r_then_target(depth: int, n_tokens: int, r: int, target: int, class_token: bool = True) -> List[int]:
    """Merge ``r`` tokens per block while the later blocks can still reach ``target``; then merge more.

    Block l removes ``r_l = min(r, n_l - target)``, raised (up to ToMe's cap ``(n_l - 1) // 2``) only
    as far as needed for the remaining blocks, each halving at most, to end at ``target``.
    ViT-B/16 (197 tokens, 12 blocks), r = 8 -> 28 tokens: ``[8] * 9 + [16, 54, 27]``.
    """
    if r < 0:
        raise ValueError(f"r must be >= 0, got {r}")
    floor = tokens_per_layer(n_tokens, [n_tokens] * depth, class_token)[-1]
    if not floor <= target <= n_tokens:
        raise ValueError(f"target {target} tokens is out of reach: {depth} blocks take {n_tokens} tokens to "
                         f"{floor}..{n_tokens}")
    schedule, n = [], n_tokens
    for layer in range(depth):
        left = depth - layer - 1
        step = min(r, n - target, cap(n, class_token))
        while step < cap(n, class_token) and tokens_per_layer(n - step, [n] * left, class_token)[-1] > target:
            step += 1
        if left == 0:
            step = n - target
        schedule.append(step)
        n -= step
    return schedule


def build_semcod_vitb16(cfg: TrainConfig):
    """``model_kwargs``: :class:`~gr_semcod.semcod.SemanticCodecConfig` fields (``checkpoint``,
    ``freeze_tokenizer``, ``num_tokens``, ...) plus ``merge_r`` (ToMe's r per block, default 8)."""
    kw = dict(cfg.model_kwargs)
    r = int(kw.pop("merge_r", 8))
    if "schedule" not in kw:
        n = (cfg.image_size // int(kw.get("patch_size", 16))) ** 2 + 1
        kw["schedule"] = r_then_target(int(kw.get("depth", 12)), n, r, int(kw.get("num_tokens", 28)))
    return build_semcod(cfg.replace(model_kwargs=kw))


register(TrainConfig(
    name="semcod_224_vitb16",
    build_model=build_semcod_vitb16,
    train_data=str(DATA_DIR / "photos" / "train"),
    val_data=str(DATA_DIR / "photos" / "val"),
    image_size=224,
    batch_size=32,
    lr=3e-4,
    weight_decay=0.02,
    warmup=0.03,
    minutes=120.0,
    channel="awgn",
    snr_range=(0.0, 20.0),
    eval_every_minutes=5.0,
    ckpt_every_minutes=10.0,
    workers=4,
    model_kwargs={"vit": VIT, **VIT_SHAPE, "conv_stem": False, "num_tokens": 28, "merge_r": 8,
                  "checkpoint": None, "freeze_tokenizer": False},
    description="semantic coding as in the paper: ViT-B/16 at 224x224 (local timm checkpoint via "
                "--model-arg checkpoint=PATH, freeze_tokenizer=true to freeze it), ToMe r=8 per block "
                "down to 28 shape-coded tokens, rate-adaptive JSCC (CBR 1/48..1/6), AWGN SNR U(0,20) dB, "
                "random 224x224 photo crops",
))
