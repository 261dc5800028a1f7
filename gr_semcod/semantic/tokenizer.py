"""Tokenization: a timm Vision Transformer, loaded from a local checkpoint, with token merging.

:class:`SemanticEncoder` = patch embedding + position embedding + blocks with ToMe merges +
final norm. It returns the merged tokens, their sizes (patches per token) and optionally the
source map (which patches each token covers, (B, N, 1 + P) 0/1 incl. the class token).

Named ViT configs (``VIT_CONFIGS``) include timm's reference ``vit_base_patch16_224`` and small
CPU-friendly ones for 32×32 / 64×64 images. Weights only ever come from local files.
"""
from __future__ import annotations

import os
from typing import Dict, List, Optional, Sequence

import torch
from torch import nn

from .schedules import make_schedule, tokens_per_layer
from .tome import tome_block

#: name -> (timm model name, keyword arguments for timm.create_model)
VIT_CONFIGS: Dict[str, tuple] = {
    "vit_base_patch16_224": ("vit_base_patch16_224", {}),
    "vit_small_patch16_224": ("vit_small_patch16_224", {}),
    "vit_tiny_patch16_224": ("vit_tiny_patch16_224", {}),
    # CPU-sized tokenizers (trained from scratch here)
    "vit_micro_p4_32": ("vit_tiny_patch16_224", dict(img_size=32, patch_size=4, embed_dim=128, depth=6, num_heads=4)),
    "vit_micro_p8_64": ("vit_tiny_patch16_224", dict(img_size=64, patch_size=8, embed_dim=128, depth=6, num_heads=4)),
    "vit_nano_p4_32": ("vit_tiny_patch16_224", dict(img_size=32, patch_size=4, embed_dim=96, depth=4, num_heads=3)),
}


def create_vit(name: str, checkpoint: Optional[str] = None, **overrides) -> nn.Module:
    """Create a timm ViT by config name (``VIT_CONFIGS`` or any timm name) — never from a hub.

    ``checkpoint``: ``.safetensors``, ``.pth``/``.pt`` (loaded with ``weights_only=True``) or
    Google's ``.npz``.
    """
    import timm

    timm_name, kwargs = VIT_CONFIGS.get(name, (name, {}))
    kwargs = {**kwargs, **overrides}
    model = timm.create_model(timm_name, pretrained=False, **kwargs)
    if checkpoint is not None:
        load_checkpoint(model, checkpoint)
    return model


def load_checkpoint(model: nn.Module, path: str, strict: bool = True) -> None:
    """Load weights from a local file into ``model`` (no arbitrary pickles)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint not found: {path}")
    ext = os.path.splitext(path)[1].lower()
    if ext == ".npz":
        model.load_pretrained(path)  # timm's loader for Google's big_vision/AugReg npz files
        return
    if ext == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(path)
    elif ext in (".pth", ".pt", ".bin"):
        state = torch.load(path, map_location="cpu", weights_only=True)
        for key in ("state_dict", "model"):
            if isinstance(state, dict) and key in state and isinstance(state[key], dict):
                state = state[key]
    else:
        raise ValueError(f"unsupported checkpoint format {ext!r} for {path} (use .safetensors, .pth or .npz)")
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as e:  # shape mismatches
        first = str(e).strip().splitlines()[-1].strip()
        raise ValueError(f"checkpoint {path} does not match the model: {first}") from None
    if strict and (missing or unexpected):
        raise ValueError(f"checkpoint {path} does not match the model: missing {missing[:5]}, unexpected {unexpected[:5]}")


class SemanticEncoder(nn.Module):
    """ViT tokenizer with token merging (reorganization) in every block.

    Args:
        vit: a timm ``VisionTransformer`` (class token, absolute position embedding).
        schedule: tokens removed per block (see :mod:`.schedules`); ``None`` or zeros = no merging.
        reorganizer: ``"bipartite"`` (ToMe) or ``"kmeans"``.
        prop_attn: proportional attention (add log size to the logits).

    ``forward(images)`` returns ``(tokens (B, N, D), sizes (B, N, 1))`` after the final norm;
    ``forward_with_source(images)`` also returns the ``(B, N, 1 + P)`` source map (which input
    tokens each output token merged).
    """

    def __init__(
        self,
        vit: nn.Module,
        schedule: Optional[Sequence[int]] = None,
        reorganizer: str = "bipartite",
        prop_attn: bool = True,
    ):
        super().__init__()
        if getattr(vit, "cls_token", None) is None:
            raise ValueError("SemanticEncoder needs a ViT with a class token")
        self.vit = vit
        self.depth = len(vit.blocks)
        self.num_patches = vit.patch_embed.num_patches
        self.set_schedule(schedule)
        self.reorganizer = reorganizer
        self.prop_attn = prop_attn

    @property
    def embed_dim(self) -> int:
        return self.vit.embed_dim

    def set_schedule(self, schedule: Optional[Sequence[int]] = None, *, r=None, target=None) -> List[int]:
        """Set the merge schedule (a list, a constant ``r`` or a ``target`` token count)."""
        n = self.num_patches + 1
        if r is not None or target is not None:
            schedule = make_schedule(self.depth, n, r=r, target=target)
        elif schedule is None:
            schedule = [0] * self.depth
        else:
            schedule = make_schedule(self.depth, n, per_layer=list(schedule))
        self.schedule = list(schedule)
        return self.schedule

    def token_counts(self) -> List[int]:
        """Tokens entering each block and leaving the encoder."""
        return tokens_per_layer(self.num_patches + 1, self.schedule)

    @property
    def num_tokens(self) -> int:
        return self.token_counts()[-1]

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        v = self.vit
        x = v.patch_embed(images)
        x = v._pos_embed(x)
        x = v.patch_drop(x)
        return v.norm_pre(x)

    def forward(self, images: torch.Tensor):
        x, size, _ = self._encode(images, trace_source=False)
        return x, size

    def forward_with_source(self, images: torch.Tensor):
        """``(tokens, sizes, source)``: :meth:`forward` plus the source map."""
        return self._encode(images, trace_source=True)

    def _encode(self, images: torch.Tensor, trace_source: bool):
        x = self.embed(images)
        bsz, n, _ = x.shape
        size = x.new_ones(bsz, n, 1)
        source = torch.eye(n, dtype=x.dtype, device=x.device).expand(bsz, n, n) if trace_source else None
        for block, r in zip(self.vit.blocks, self.schedule):
            x, size, source = tome_block(
                block, x, size, source, r, self.reorganizer, self.prop_attn, class_token=True
            )
        return self.vit.norm(x), size, source
