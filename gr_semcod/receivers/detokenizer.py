"""Detokenizer: received semantic tokens -> image, with no side information.

Merged tokens have lost their grid positions and we do not send ToMe's source map (it would
cost bits outside the CBR). Instead a fixed set of learned *patch queries*, one per grid cell
with its position embedding, cross-attends to the received tokens (and self-attends among
themselves) for ``depth`` blocks; the resulting (gh × gw) feature map goes through a
transposed-convolution head (log2(patch) ×2 upsamplings with PReLU, as in the Deep JSCC
decoder) and a sigmoid to an image in [0, 1].

``unmerge=True`` (for shape-coded tokens, :mod:`gr_semcod.semantic.shape_code`) first undoes the
merge softly: an assignment head reads each token's shape code as logits over the P grid cells,
a softmax over the N tokens gives each cell a distribution ``A`` (B, N, P) over the tokens, and
the queries start from ``q_p + sum_i A_ip V t_i`` (ToMe's unmerge with a predicted, soft source
map) before the cross-attention blocks. ``forward(tokens, return_logits=True)`` also returns the
logits so that training can supervise them with the true source map (a cross-entropy).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from gr_semcod.jscc.layers import TransformerBlock


def conv_head(patch_size: int, dim: int, width: int = 64, out_chans: int = 3) -> nn.Sequential:
    steps = int(round(math.log2(patch_size)))
    layers = [nn.Conv2d(dim, 2 * width, 3, padding=1), nn.PReLU(2 * width)]
    c = 2 * width
    for i in range(steps):
        out = width if i < steps - 1 else width // 2
        layers += [nn.ConvTranspose2d(c, out, 4, stride=2, padding=1), nn.PReLU(out),
                   nn.Conv2d(out, out, 3, padding=1), nn.PReLU(out)]
        c = out
    layers += [nn.Conv2d(c, out_chans, 3, padding=1), nn.Sigmoid()]
    return nn.Sequential(*layers)


class Detokenizer(nn.Module):
    def __init__(self, dim: int, grid: int, patch_size: int, depth: int = 2, heads: int = 4, width: int = 64,
                 unmerge: bool = False):
        super().__init__()
        self.grid = grid
        self.unmerge = unmerge
        if unmerge:
            self.assign_norm = nn.LayerNorm(dim)
            self.assign = nn.Linear(dim, grid * grid)
            self.unmerge_value = nn.Linear(dim, dim)
            nn.init.zeros_(self.unmerge_value.weight)  # starts as the plain detokenizer
            nn.init.zeros_(self.unmerge_value.bias)
        self.queries = nn.Parameter(torch.zeros(1, grid * grid, dim))
        nn.init.trunc_normal_(self.queries, std=0.02)
        self.blocks = nn.ModuleList([TransformerBlock(dim, heads, cross=True) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.head = conv_head(patch_size, dim, width)

    def forward(self, tokens: torch.Tensor, return_logits: bool = False):
        """(B, N, D) -> (B, 3, grid * patch, grid * patch) in [0, 1] (and the (B, N, P) assignment
        logits when ``return_logits``; None without ``unmerge``)."""
        x = self.queries.expand(tokens.shape[0], -1, -1)
        logits = None
        if self.unmerge:
            logits = self.assign(self.assign_norm(tokens))  # (B, N, P)
            x = x + torch.softmax(logits, dim=1).transpose(1, 2) @ self.unmerge_value(tokens)
        for blk in self.blocks:
            x = blk(x, tokens)
        x = self.norm(x).transpose(1, 2).reshape(tokens.shape[0], -1, self.grid, self.grid)
        img = self.head(x)
        return (img, logits) if return_logits else img
