"""Transmissive coding of semantic tokens: the JSCE and the SNR-aware JSCD.

JSCE (transmitter): merged tokens (B, N, D) and their sizes (B, N, 1) ->
``symbols_per_token`` complex symbols per token, as float I/Q (B, N * s, 2) with unit average
power per image. One transformer block mixes the tokens first (each token's symbols may then
carry context, e.g. where on the grid the token sits), then a per-token linear map produces
``s_max`` symbols ordered coarse to fine; a lower CBR keeps the first ``s`` of each token
(rate-adaptive by truncation; the model is trained with s drawn from its CBR list), so
``k = N * s = round(CBR * H * W * 3)`` exactly.

JSCD (receiver): received symbols (B, N * s, 2) and the SNR in dB (B, 1) -> tokens (B, N, D).
Missing symbols of the truncated code are zero-filled; the SNR and the rate enter as learned
embeddings added to every token; two transformer blocks refine.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from .layers import TransformerBlock, snr_embedding
from .power import power_normalize


class JSCCEncoder(nn.Module):
    def __init__(self, dim: int, num_tokens: int, symbols_per_token: Sequence[int], heads: int = 4):
        super().__init__()
        self.num_tokens = num_tokens
        self.rates = sorted(int(s) for s in symbols_per_token)
        self.s_max = self.rates[-1]
        self.size_proj = nn.Linear(1, dim)
        self.block = TransformerBlock(dim, heads)
        self.norm = nn.LayerNorm(dim)
        self.to_symbols = nn.Linear(dim, 2 * self.s_max)

    def forward(self, tokens: torch.Tensor, sizes: torch.Tensor, s: int) -> torch.Tensor:
        """(B, N, D), (B, N, 1) -> (B, N * s, 2) power-normalised I/Q."""
        x = tokens + self.size_proj(sizes.log1p())
        x = self.to_symbols(self.norm(self.block(x)))  # (B, N, 2 s_max)
        x = x.view(x.shape[0], self.num_tokens, self.s_max, 2)[:, :, :s]
        return power_normalize(x.reshape(x.shape[0], self.num_tokens * s, 2))


class JSCCDecoder(nn.Module):
    def __init__(self, dim: int, num_tokens: int, symbols_per_token: Sequence[int], heads: int = 4, depth: int = 2):
        super().__init__()
        self.num_tokens = num_tokens
        self.rates = sorted(int(s) for s in symbols_per_token)
        self.s_max = self.rates[-1]
        self.from_symbols = nn.Linear(2 * self.s_max, dim)
        self.rate_embed = nn.Embedding(len(self.rates), dim)
        self.snr_mlp = nn.Sequential(nn.Linear(16, dim), nn.GELU(), nn.Linear(dim, dim))
        self.pos = nn.Parameter(torch.zeros(1, num_tokens, dim))
        nn.init.trunc_normal_(self.pos, std=0.02)
        self.blocks = nn.Sequential(*[TransformerBlock(dim, heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)

    def forward(self, symbols: torch.Tensor, snr_db: torch.Tensor) -> torch.Tensor:
        """(B, N * s, 2), (B, 1) -> (B, N, D); s is read from the symbol count."""
        bsz, k, _ = symbols.shape
        s = k // self.num_tokens
        if s * self.num_tokens != k or s not in self.rates:
            raise ValueError(f"{k} symbols do not match {self.num_tokens} tokens x {self.rates} symbols each")
        x = symbols.reshape(bsz, self.num_tokens, 2 * s)
        if s < self.s_max:
            x = torch.cat([x, x.new_zeros(bsz, self.num_tokens, 2 * (self.s_max - s))], dim=-1)
        cond = self.snr_mlp(snr_embedding(snr_db)) + self.rate_embed.weight[self.rates.index(s)]
        x = self.from_symbols(x) + self.pos + cond[:, None, :]
        return self.norm(self.blocks(x))
