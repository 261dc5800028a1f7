"""Classifiers (machine receivers): received tokens -> class logits (:class:`TokenClassifier`),
the received latent of the semantic codec v2 -> class logits (:class:`LatentClassifier`), and, for
the Deep JSCC baseline, reconstructed images -> class logits (:class:`ImageClassifier`).

Token classifier: attention pooling, one learned query cross-attends to the tokens, then LayerNorm + Linear.
Works on any number of tokens, so it serves merged and unmerged token sets alike.
"""
from __future__ import annotations

import torch
from torch import nn

from gr_semcod.jscc.layers import Attention


class TokenClassifier(nn.Module):
    """``mlp_ratio > 0`` adds a residual MLP (LayerNorm, Linear dim -> mlp_ratio*dim, GELU, Linear)
    on the pooled vector before the final LayerNorm + Linear (default 0: attention pooling + linear)."""

    def __init__(self, dim: int, num_classes: int, heads: int = 4, mlp_ratio: float = 0.0):
        super().__init__()
        self.query = nn.Parameter(torch.zeros(1, 1, dim))
        nn.init.trunc_normal_(self.query, std=0.02)
        self.norm_in = nn.LayerNorm(dim)
        self.pool = Attention(dim, heads)
        hidden = int(round(dim * mlp_ratio))
        self.mlp = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim)) if hidden else None
        self.norm = nn.LayerNorm(dim)
        self.fc = nn.Linear(dim, num_classes)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        q = self.query.expand(tokens.shape[0], -1, -1)
        pooled = self.pool(q, self.norm_in(tokens))[:, 0]
        if self.mlp is not None:
            pooled = pooled + self.mlp(pooled)
        return self.fc(self.norm(pooled))


class ImageClassifier(nn.Module):
    """Image classifier (machine receiver of an image codec such as Deep JSCC): images -> logits.

    ``images`` (B, 3, H, W) in [0, 1] (centred to [-1, 1] inside).  A small VGG-style CNN: per
    width ``w`` in ``widths`` two 3x3 conv + BatchNorm + ReLU and a 2x2 max-pool, then global
    average pooling and a linear layer.  Exports to ONNX as plain Conv/Relu/MaxPool/GlobalAvg/Gemm
    (BatchNorm folded in eval mode).
    """

    def __init__(self, num_classes: int, widths=(16, 32, 64), in_chans: int = 3):
        super().__init__()
        layers, c = [], in_chans
        for w in widths:
            layers += [nn.Conv2d(c, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True),
                       nn.Conv2d(w, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True),
                       nn.MaxPool2d(2)]
            c = w
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(c, num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.features(images * 2.0 - 1.0)
        return self.fc(x.mean(dim=(2, 3)))


class LatentClassifier(nn.Module):
    """Machine receiver of the semantic codec v2: its *received* latent -> logits, no synthesis.

    Inputs are those of ``semantic2_decoder``: ``latent (B, c, h, w)`` (the tokens after the
    channel, unmerged: every position holds its leaf's token), ``levels (B, 1, h, w)`` (the
    quadtree, known from the side information) and ``snr_db (B, 1)`` (the SNR of the latent's
    scale, ``SNR - gain``).  The map fed to the CNN is ``[latent; onehot(level); snr / 20]``:
    the level says how much of the map one token covers, the SNR how much to trust it.  Then per
    width ``w`` in ``widths`` two 3x3 conv + BatchNorm + ReLU (a 2x2 max-pool between stages),
    global average pooling, dropout and a linear layer.  Exports to plain ONNX (Equal/Cast for the
    one-hot, BatchNorm folded).
    """

    def __init__(self, c: int, num_classes: int, depth: int = 3, widths=(64, 128), dropout: float = 0.1):
        super().__init__()
        self.c, self.depth = int(c), int(depth)
        layers, ch = [], self.c + self.depth + 2
        for i, w in enumerate(widths):
            if i:
                layers.append(nn.MaxPool2d(2))
            layers += [nn.Conv2d(ch, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True),
                       nn.Conv2d(w, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True)]
            ch = w
        self.features = nn.Sequential(*layers)
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(ch, num_classes)

    def embed(self, latent: torch.Tensor, levels: torch.Tensor, snr_db: torch.Tensor) -> torch.Tensor:
        """The pooled feature vector ``(B, widths[-1])`` before the linear layer."""
        onehot = torch.cat([(levels == float(lv)).to(latent.dtype) for lv in range(self.depth + 1)], dim=1)
        snr = (snr_db.reshape(-1, 1, 1, 1).to(latent.dtype) / 20.0).expand(-1, 1, *latent.shape[2:])
        return self.features(torch.cat([latent, onehot, snr], dim=1)).mean(dim=(2, 3))

    def forward(self, latent: torch.Tensor, levels: torch.Tensor, snr_db: torch.Tensor) -> torch.Tensor:
        return self.fc(self.drop(self.embed(latent, levels, snr_db)))


class LatentReconClassifier(nn.Module):
    """:class:`LatentClassifier` + :class:`ImageClassifier` features of the codec's own
    reconstruction of that latent, concatenated before one linear layer: the received latent
    for what the merge kept, the synthesis' image for the shapes it knows how to draw.
    ``forward(latent, levels, snr_db, images)``."""

    def __init__(self, c: int, num_classes: int, depth: int = 3, widths=(64, 128), image_widths=(16, 32, 64),
                 dropout: float = 0.1):
        super().__init__()
        self.latent = LatentClassifier(c, num_classes, depth, widths, dropout)
        self.latent.fc = nn.Identity()
        self.image = ImageClassifier(num_classes, tuple(image_widths))
        self.image.fc = nn.Identity()
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(int(widths[-1]) + int(image_widths[-1]), num_classes)

    def forward(self, latent: torch.Tensor, levels: torch.Tensor, snr_db: torch.Tensor,
                images: torch.Tensor) -> torch.Tensor:
        z = torch.cat([self.latent.embed(latent, levels, snr_db), self.image(images)], dim=1)
        return self.fc(self.drop(z))
