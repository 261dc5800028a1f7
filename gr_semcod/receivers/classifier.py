"""Classifier (machine receiver): received tokens -> class logits.

Attention pooling: one learned query cross-attends to the tokens, then LayerNorm + Linear.
Works on any number of tokens, so it serves merged and unmerged token sets alike.
"""
from __future__ import annotations

import torch
from torch import nn

from gr_semcod.jscc.layers import Attention


class TokenClassifier(nn.Module):
    def __init__(self, dim: int, num_classes: int, heads: int = 4):
        super().__init__()
        self.query = nn.Parameter(torch.zeros(1, 1, dim))
        nn.init.trunc_normal_(self.query, std=0.02)
        self.norm_in = nn.LayerNorm(dim)
        self.pool = Attention(dim, heads)
        self.norm = nn.LayerNorm(dim)
        self.fc = nn.Linear(dim, num_classes)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        q = self.query.expand(tokens.shape[0], -1, -1)
        pooled = self.pool(q, self.norm_in(tokens))[:, 0]
        return self.fc(self.norm(pooled))
