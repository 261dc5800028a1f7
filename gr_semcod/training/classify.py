"""Machine receivers trained on top of *frozen* codecs (the training side of classification).

* :class:`CodecTokenClassifier`  semantic coding: image -> tokenizer -> JSCE -> channel -> JSCD
  -> :class:`~gr_semcod.receivers.TokenClassifier` on the *received* tokens.
* :class:`ReconImageClassifier`  Deep JSCC: image -> encoder -> channel -> decoder -> reconstruction
  -> :class:`~gr_semcod.receivers.ImageClassifier`.

Both follow the loop's model interface (``model(images, snr_db, cbr=...) -> {"recon", "logits"}``)
and expose ``cbr_choices`` so the loop draws one CBR per batch.  Everything but the classifier
is frozen (``requires_grad=False``, kept in eval mode even while the wrapper trains), so the
loop's optimiser, which only takes trainable parameters, updates the classifier alone.

``recon``: the frozen codec's reconstruction in eval mode (so :func:`~gr_semcod.training.loop.evaluate`
reports the codec's PSNR on the labelled data); in training mode the semantic wrapper skips the
detokenizer (its MSE has weight 0 and it would double the step time) and returns the input
images as ``recon`` (the logged ``mse`` column is then 0), unless ``train_recon=True``.
"""
from __future__ import annotations

import random
from typing import Dict, Optional, Sequence

import torch
from torch import nn

from ..receivers import ImageClassifier, TokenClassifier


def freeze(module: nn.Module) -> nn.Module:
    """``requires_grad=False`` on every parameter, eval mode; returns ``module``."""
    for p in module.parameters():
        p.requires_grad_(False)
    return module.eval()


class _FrozenBase(nn.Module):
    frozen: Sequence[str] = ()

    def train(self, mode: bool = True):
        super().train(mode)
        for name in self.frozen:
            getattr(self, name).eval()
        return self


class CodecTokenClassifier(_FrozenBase):
    """Frozen :class:`~gr_semcod.semcod.SemanticCodec` + a trainable token classifier head."""

    frozen = ("codec",)

    def __init__(self, codec: nn.Module, num_classes: int, channel: Optional[nn.Module] = None,
                 train_recon: bool = False, mlp_ratio: float = 0.0):
        super().__init__()
        self.codec = freeze(codec)
        cfg = codec.cfg
        self.head = TokenClassifier(cfg.dim, num_classes, cfg.heads, mlp_ratio)
        self.channel = channel if channel is not None else codec.channel
        self.cbr_choices = list(codec.cbr_choices)
        self.train_recon = bool(train_recon)

    def forward(self, images: torch.Tensor, snr_db: Optional[torch.Tensor] = None,
                cbr: Optional[str] = None) -> Dict:
        cbr = cbr or (random.choice(self.cbr_choices) if self.training else self.codec.cfg.eval_cbr)
        with torch.no_grad():
            symbols = self.codec.encode(images, cbr)
            received, snr = self.channel(symbols, snr_db)
            tokens = self.codec.jscc_decoder(received, snr.reshape(-1, 1))
            recon = self.codec.detokenizer(tokens) if (self.train_recon or not self.training) else images
        return {"recon": recon, "logits": self.head(tokens), "tokens": tokens, "cbr": cbr}


class ReconImageClassifier(_FrozenBase):
    """Frozen Deep JSCC models (one per CBR) + a trainable image classifier on their reconstructions."""

    frozen = ("jscc",)

    def __init__(self, models: Dict[str, nn.Module], num_classes: int, channel: Optional[nn.Module] = None,
                 widths: Sequence[int] = (16, 32, 64), eval_cbr: str = "1/12"):
        super().__init__()
        if not models:
            raise ValueError("need at least one Deep JSCC model")
        self.cbr_choices = [str(c) for c in models]
        self.jscc = freeze(nn.ModuleDict({c.replace("/", "-"): m for c, m in models.items()}))
        self.classifier = ImageClassifier(num_classes, tuple(widths))
        self.channel = channel if channel is not None else next(iter(models.values())).channel
        self.eval_cbr = eval_cbr if eval_cbr in self.cbr_choices else self.cbr_choices[0]

    def forward(self, images: torch.Tensor, snr_db: Optional[torch.Tensor] = None,
                cbr: Optional[str] = None) -> Dict:
        cbr = cbr or (random.choice(self.cbr_choices) if self.training else self.eval_cbr)
        m = self.jscc[str(cbr).replace("/", "-")]
        with torch.no_grad():
            z = m.encoder(images)
            received, snr = self.channel(z, snr_db)
            recon = m.decoder(received, snr.reshape(-1, 1))
        return {"recon": recon, "logits": self.classifier(recon), "cbr": cbr}
