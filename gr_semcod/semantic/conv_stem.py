"""A convolutional patch embedding for small images (hybrid ViT tokenizer).

Replaces the single ``patch x patch`` convolution of timm's ``PatchEmbed.proj`` with
log2(patch) stride-2 5×5 convolutions with PReLU (the Deep JSCC encoder's front end), then a
3×3 convolution to the embedding width. Output shape is unchanged — (B, D, H/p, W/p) — so the
rest of timm's ViT (position embedding, class token, blocks) and token merging work as usual.
Small ViTs trained from scratch on a CPU budget learn much faster with this stem.
"""
from __future__ import annotations

import math

from torch import nn


def conv_stem(patch_size: int, embed_dim: int, width: int = 64, in_chans: int = 3) -> nn.Sequential:
    steps = int(round(math.log2(patch_size)))
    if 2 ** steps != patch_size:
        raise ValueError(f"conv stem needs a power-of-two patch size, got {patch_size}")
    layers, c = [], in_chans
    for i in range(steps):
        out = width if i < steps - 1 else max(width, embed_dim // 2)
        layers += [nn.Conv2d(c, out, 5, stride=2, padding=2), nn.PReLU(out)]
        c = out
    layers.append(nn.Conv2d(c, embed_dim, 3, padding=1))
    return nn.Sequential(*layers)


def use_conv_stem(vit: nn.Module, width: int = 64) -> nn.Module:
    """Swap ``vit.patch_embed.proj`` for :func:`conv_stem` in place; returns ``vit``."""
    pe = vit.patch_embed
    vit.patch_embed.proj = conv_stem(pe.patch_size[0], vit.embed_dim, width, pe.proj.in_channels)
    return vit
