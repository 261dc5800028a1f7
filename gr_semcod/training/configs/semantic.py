"""Semantic coding configs: ``semcod_<size>[_...]``.

One rate-adaptive model per config serves every CBR in its list (a batch draws one CBR) and
every SNR in 0–20 dB; checkpoints are chosen on the validation split at CBR 1/12, 10 dB.
``semcod_32`` uses shape-coded tokens and an unmerging detokenizer
(:mod:`gr_semcod.semantic.shape_code`); ``semcod_32_plain`` is the same codec without them.
The default budget is 45 wall-clock minutes; the shipped ``models/semcod_32`` bundle was
trained longer (its model card gives the exact command, minutes and steps).
"""
from __future__ import annotations

from ...semcod import SemanticCodec, SemanticCodecConfig
from ..registry import DATA_DIR, TrainConfig, register, warm_start


def build_semcod(cfg: TrainConfig) -> SemanticCodec:
    """``model_kwargs`` are :class:`SemanticCodecConfig` fields plus ``init_from``: a ``best.pt`` /
    ``ckpt.pt`` to warm-start from (matching tensors are loaded, new layers keep their init; e.g.
    a ``shape_code`` codec from a plain one, whose new layers start as identities)."""
    kw = dict(cfg.model_kwargs)
    init_from = kw.pop("init_from", None)
    codec = SemanticCodec(SemanticCodecConfig(img_size=cfg.image_size, **kw), channel=cfg.make_channel())
    if init_from:
        warm_start(codec, init_from, cfg.name)
    return codec


def _semcod32(name: str, channel: str = "awgn", minutes: float = 45.0, **model_kwargs) -> TrainConfig:
    return TrainConfig(
        name=name,
        build_model=build_semcod,
        train_data=str(DATA_DIR / "crops32_train.npz"),
        val_data=str(DATA_DIR / "crops32_val.npz"),
        image_size=32,
        batch_size=64,
        lr=8e-4,
        weight_decay=0.02,
        warmup=0.03,
        minutes=minutes,
        channel=channel,
        snr_range=(0.0, 20.0),
        val_limit=1000,
        model_kwargs=model_kwargs,
        description=f"semantic coding, 32x32, conv-stem ViT (dim 128, depth 4) + "
                    f"{'k-means consolidation' if model_kwargs.get('reorganizer') == 'kmeans' else 'ToMe bipartite merging'} to {model_kwargs.get('num_tokens', 16)} "
                    f"{'plain' if model_kwargs.get('shape_code') is False else 'shape-coded'} tokens, "
                    f"rate-adaptive JSCC (CBR 1/48..1/6), {channel}, SNR U(0,20) dB",
    )


def _semcod64(name: str, channel: str = "awgn", minutes: float = 45.0, **model_kwargs) -> TrainConfig:
    """64x64, patch 8 (64 patch tokens -> 16), random crops of the training photos on the fly
    (not trained for the shipped bundle; give it ``--minutes`` on a GPU or a long CPU run)."""
    cfg = _semcod32(name, channel, minutes, patch_size=8, depth=6, **model_kwargs)
    cfg.image_size = 64
    cfg.train_data = str(DATA_DIR / "photos" / "train")
    cfg.val_data = str(DATA_DIR / "crops64_val.npz")
    cfg.description = cfg.description.replace("32x32", "64x64").replace("depth 4", "depth 6")
    return cfg


register(_semcod32("semcod_32"))
register(_semcod32("semcod_32_plain", shape_code=False))  # ablation: no shape code, no unmerge
register(_semcod32("semcod_32_t32", num_tokens=32))  # ablation: 32 tokens (half the merging), 2..16 symbols each
register(_semcod64("semcod_64"))
register(_semcod32("semcod_32_kmeans", reorganizer="kmeans"))
register(_semcod32("semcod_32_rayleigh", channel="rayleigh"))
