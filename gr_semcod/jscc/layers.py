"""Small transformer layers shared by the JSCC and the receivers (plain PyTorch, ONNX-friendly)."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def snr_embedding(snr_db: torch.Tensor, dim: int = 16, max_db: float = 30.0) -> torch.Tensor:
    """Sinusoidal features of the SNR in dB: (B, 1) -> (B, dim).

    ``[sin(w_i t), cos(w_i t)]`` with ``t = snr_db / max_db`` and geometric frequencies
    ``w_i = pi * 2^i``; smooth in the SNR so that one model serves a range of SNRs.
    """
    t = snr_db.reshape(-1, 1) / max_db
    freqs = math.pi * (2.0 ** torch.arange(dim // 2, dtype=t.dtype, device=t.device))
    return torch.cat([torch.sin(t * freqs), torch.cos(t * freqs)], dim=-1)


class Attention(nn.Module):
    """Multi-head attention; ``context`` None means self-attention."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, context: torch.Tensor = None) -> torch.Tensor:
        context = x if context is None else context
        b, n, d = x.shape
        m = context.shape[1]
        h = self.heads
        q = self.q(x).view(b, n, h, d // h).transpose(1, 2)
        k, v = self.kv(context).view(b, m, 2, h, d // h).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(b, n, d))


class TransformerBlock(nn.Module):
    """Pre-norm block: self-attention, optional cross-attention to ``context``, MLP."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4.0, cross: bool = False):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.cross = cross
        if cross:
            self.norm_x = nn.LayerNorm(dim)
            self.norm_c = nn.LayerNorm(dim)
            self.cross_attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor, context: torch.Tensor = None) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        if self.cross:
            x = x + self.cross_attn(self.norm_x(x), self.norm_c(context))
        return x + self.mlp(self.norm2(x))
