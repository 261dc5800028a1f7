"""The semantic codec end to end (training side): image -> tokens -> symbols -> channel -> tokens -> image.

:class:`SemanticCodec` composes the stages, each its own module and its own ONNX file:

============  ==============================================  =====================================
tokenizer     :class:`~gr_semcod.semantic.SemanticEncoder`    images (B,3,H,W) -> tokens, sizes
jscc_encoder  :class:`~gr_semcod.jscc.semantic_jscc.JSCCEncoder`  tokens, sizes -> symbols (B,k,2)
channel       :class:`~gr_semcod.jscc.Channel`                 differentiable AWGN / Rayleigh, owns the SNR policy
jscc_decoder  :class:`~gr_semcod.jscc.semantic_jscc.JSCCDecoder`  symbols, snr_db -> tokens
detokenizer   :class:`~gr_semcod.receivers.Detokenizer`        tokens -> images
classifier    :class:`~gr_semcod.receivers.TokenClassifier`    tokens -> logits (optional)
============  ==============================================  =====================================
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .jscc.channels import Channel
from .jscc.semantic_jscc import JSCCDecoder, JSCCEncoder
from .rates import num_symbols
from .receivers import Detokenizer, TokenClassifier
from .semantic import SemanticEncoder, ShapeCodedEncoder, assignment_targets, create_vit
from .semantic.conv_stem import use_conv_stem


@dataclass
class SemanticCodecConfig:
    img_size: int = 32
    patch_size: int = 4
    dim: int = 128
    depth: int = 4
    heads: int = 4
    num_tokens: int = 16  # tokens after merging (class token included)
    reorganizer: str = "bipartite"
    conv_stem: bool = True
    jscd_depth: int = 2
    detok_depth: int = 2
    cbrs: Sequence[str] = ("1/48", "1/24", "1/12", "1/6")
    eval_cbr: str = "1/12"  # the rate used in eval mode when none is given
    num_classes: int = 0
    shape_code: bool = True  # tokens carry a code of their source mask; the detokenizer unmerges
    assign_loss: float = 2e-3  # weight of the source-map cross-entropy (shape_code only)
    vit: str = ""  # a named ViT (VIT_CONFIGS / timm, e.g. "vit_base_patch16_224"); "" = the small ViT above
    checkpoint: Optional[str] = None  # local timm weights for ``vit`` (.safetensors, .pth or .npz)
    freeze_tokenizer: bool = False  # the ViT's weights stay as loaded (a shape code still trains)
    schedule: Optional[Sequence[int]] = None  # tokens merged in each block; None: even, down to num_tokens

    def symbols(self, cbr: str) -> int:
        return num_symbols(cbr, self.img_size, self.img_size)

    def symbols_per_token(self) -> list:
        out = []
        for cbr in self.cbrs:
            k = self.symbols(cbr)
            if k % self.num_tokens:
                raise ValueError(f"CBR {cbr}: {k} symbols are not a multiple of {self.num_tokens} tokens")
            out.append(k // self.num_tokens)
        return out


def build_vit(cfg: SemanticCodecConfig) -> nn.Module:
    """The tokenizer's ViT: ``cfg.vit`` at ``cfg.img_size`` with ``cfg.checkpoint`` loaded (its
    classifier head dropped), or, without ``cfg.vit``, a small ViT from ``patch_size``, ``dim``,
    ``depth``, ``heads`` (with the convolutional stem when ``conv_stem``)."""
    if not cfg.vit:
        if cfg.checkpoint:
            raise ValueError("checkpoint needs vit (the name of the ViT the weights belong to)")
        vit = create_vit(
            "vit_tiny_patch16_224", img_size=cfg.img_size, patch_size=cfg.patch_size,
            embed_dim=cfg.dim, depth=cfg.depth, num_heads=cfg.heads, num_classes=0,
        )
        if cfg.conv_stem:
            use_conv_stem(vit)
        return vit
    if cfg.conv_stem:
        raise ValueError(f"conv_stem would replace the patch embedding of {cfg.vit}; set conv_stem=False")
    vit = create_vit(cfg.vit, checkpoint=cfg.checkpoint, img_size=cfg.img_size)
    vit.reset_classifier(0)
    got = {"dim": vit.embed_dim, "depth": len(vit.blocks), "heads": vit.blocks[0].attn.num_heads,
           "patch_size": vit.patch_embed.patch_size[0]}
    wrong = {k: (getattr(cfg, k), v) for k, v in got.items() if getattr(cfg, k) != v}
    if wrong:
        raise ValueError(f"{cfg.vit} does not match the codec config: "
                         + ", ".join(f"{k}={a} but the ViT has {b}" for k, (a, b) in wrong.items()))
    return vit


class SemanticCodec(nn.Module):
    def __init__(self, cfg: SemanticCodecConfig, channel: Optional[Channel] = None):
        super().__init__()
        self.cfg = cfg
        vit = build_vit(cfg)
        encoder_cls = ShapeCodedEncoder if cfg.shape_code else SemanticEncoder
        self.tokenizer = encoder_cls(vit, reorganizer=cfg.reorganizer)
        if cfg.schedule is None:
            self.tokenizer.set_schedule(target=cfg.num_tokens)
        else:
            self.tokenizer.set_schedule(list(cfg.schedule))
            if self.tokenizer.num_tokens != cfg.num_tokens:
                raise ValueError(f"schedule {list(cfg.schedule)} leaves {self.tokenizer.num_tokens} tokens, "
                                 f"num_tokens is {cfg.num_tokens}")
        if cfg.freeze_tokenizer:
            vit.requires_grad_(False)
        rates = cfg.symbols_per_token()
        self.cbr_choices = list(cfg.cbrs)
        self.jscc_encoder = JSCCEncoder(cfg.dim, cfg.num_tokens, rates, cfg.heads)
        self.jscc_decoder = JSCCDecoder(cfg.dim, cfg.num_tokens, rates, cfg.heads, cfg.jscd_depth)
        grid = cfg.img_size // cfg.patch_size
        self.detokenizer = Detokenizer(cfg.dim, grid, cfg.patch_size, cfg.detok_depth, cfg.heads,
                                       unmerge=cfg.shape_code)
        self.classifier = TokenClassifier(cfg.dim, cfg.num_classes, cfg.heads) if cfg.num_classes else None
        self.channel = channel if channel is not None else Channel("awgn")

    def symbols_per_token(self, cbr: str) -> int:
        return self.cfg.symbols(cbr) // self.cfg.num_tokens

    def encode(self, images: torch.Tensor, cbr: str) -> torch.Tensor:
        tokens, sizes = self.tokenizer(images)
        return self.jscc_encoder(tokens, sizes, self.symbols_per_token(cbr))

    def decode(self, symbols: torch.Tensor, snr_db: torch.Tensor, assign_logits: bool = False) -> dict:
        tokens = self.jscc_decoder(symbols, snr_db.reshape(-1, 1))
        recon, logits = self.detokenizer(tokens, return_logits=True)
        out = {"recon": recon, "tokens": tokens}
        if assign_logits:
            out["assign_logits"] = logits
        if self.classifier is not None:
            out["logits"] = self.classifier(tokens)
        return out

    def forward(self, images: torch.Tensor, snr_db: Optional[torch.Tensor] = None, cbr: Optional[str] = None) -> dict:
        """Training/eval pass; ``snr_db`` None lets the channel draw it; ``cbr`` None draws a rate
        (training) or uses ``cfg.eval_cbr`` (eval). With ``shape_code`` in training, ``aux_loss`` is
        ``assign_loss`` times the cross-entropy of the detokenizer's patch-to-token assignment
        against ToMe's true source map."""
        cbr = cbr or (random.choice(self.cbr_choices) if self.training else self.cfg.eval_cbr)
        supervise = self.cfg.shape_code and self.training
        if supervise:
            tokens, sizes, source = self.tokenizer.forward_with_source(images)
        else:
            tokens, sizes = self.tokenizer(images)
        symbols = self.jscc_encoder(tokens, sizes, self.symbols_per_token(cbr))
        received, snr = self.channel(symbols, snr_db)
        out = self.decode(received, snr, assign_logits=supervise)
        out["cbr"] = cbr
        if supervise:
            out["aux_loss"] = self.cfg.assign_loss * F.cross_entropy(out.pop("assign_logits"), assignment_targets(source))
        return out
