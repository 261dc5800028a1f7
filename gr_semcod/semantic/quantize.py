"""Optional quantization of semantic tokens (for a digital link or a rate measurement).

* :class:`ScalarQuantizer`: uniform, ``2**bits`` levels on [-a, a] per feature; the forward pass
  rounds, the backward pass is the identity (straight-through estimator):
  ``q(x) = x + stopgrad(a * round(clip(x/a) * L) / L - x)``, L = (2**bits - 1) / 2.
* :class:`VectorQuantizer`: a codebook of K vectors, nearest-neighbour assignment, codebook
  initialised by k-means on the first batch it sees (or :meth:`init_kmeans`), straight-through
  gradients and the VQ-VAE codebook/commitment loss ``|sg(x) - e|^2 + beta |x - sg(e)|^2``.

Both return ``(dequantized, indices, aux_loss)``. :func:`empirical_rate_bits` turns indices into
the empirical entropy rate (bits per image), what an ideal entropy coder would spend.
"""
from __future__ import annotations

import math
from typing import Tuple

import torch
from torch import nn


def empirical_rate_bits(indices: torch.Tensor, num_symbols: int) -> float:
    """Empirical entropy of ``indices`` times their count per image: bits per image.

    ``H = -sum p_i log2 p_i`` with p the histogram over all indices; rate = H * indices per image.
    """
    flat = indices.reshape(-1).long()
    counts = torch.bincount(flat, minlength=num_symbols).double()
    p = counts[counts > 0] / counts.sum()
    entropy = float(-(p * p.log2()).sum())
    per_image = flat.numel() / max(indices.shape[0], 1)
    return entropy * per_image


class ScalarQuantizer(nn.Module):
    """Uniform scalar quantizer with a learnable clipping range ``a`` (init ``init_range``)."""

    def __init__(self, bits: int = 4, init_range: float = 3.0):
        super().__init__()
        if not 1 <= bits <= 16:
            raise ValueError(f"bits must be in 1..16, got {bits}")
        self.bits = bits
        self.levels = 2 ** bits
        self.log_range = nn.Parameter(torch.tensor(math.log(init_range)))

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        a = self.log_range.exp()
        half = (self.levels - 1) / 2
        u = (x / a).clamp(-1, 1)
        idx = torch.round((u + 1) * half)  # 0 .. levels-1
        u_st = u + (idx / half - 1 - u).detach()  # straight through the rounding, not the clip
        return u_st * a, idx.long(), x.new_zeros(())  # forward value equals xq

    def rate_bits(self, indices: torch.Tensor) -> float:
        return empirical_rate_bits(indices, self.levels)


class VectorQuantizer(nn.Module):
    """Codebook quantizer over the last dimension (``dim``) with ``codebook_size`` entries."""

    def __init__(self, codebook_size: int, dim: int, beta: float = 0.25):
        super().__init__()
        self.codebook_size = codebook_size
        self.beta = beta
        self.codebook = nn.Parameter(torch.randn(codebook_size, dim) * 0.1)
        self.register_buffer("initialised", torch.tensor(False))

    @torch.no_grad()
    def init_kmeans(self, x: torch.Tensor, iters: int = 10, seed: int = 0) -> None:
        """k-means (Lloyd) on the rows of ``x`` (..., dim), seeded by k-means++."""
        data = x.reshape(-1, x.shape[-1]).float().cpu()
        g = torch.Generator(device="cpu").manual_seed(seed)
        centres = data[torch.randint(data.shape[0], (1,), generator=g)]
        for _ in range(1, self.codebook_size):  # k-means++: next seed with prob ~ squared distance
            d2 = torch.cdist(data, centres).min(dim=1).values.pow(2)
            p = d2 / d2.sum() if d2.sum() > 0 else torch.full_like(d2, 1.0 / len(d2))
            centres = torch.cat([centres, data[torch.multinomial(p, 1, generator=g)]])
        for _ in range(iters):
            assign = torch.cdist(data, centres).argmin(dim=1)
            sums = torch.zeros_like(centres).index_add_(0, assign, data)
            counts = torch.bincount(assign, minlength=self.codebook_size).float()[:, None]
            centres = torch.where(counts > 0, sums / counts.clamp(min=1), centres)
        self.codebook.data.copy_(centres.to(self.codebook.device))
        self.initialised.fill_(True)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if self.training and not bool(self.initialised):
            self.init_kmeans(x.detach())
        flat = x.reshape(-1, x.shape[-1])
        d = (flat.pow(2).sum(1, keepdim=True) - 2 * flat @ self.codebook.t() + self.codebook.pow(2).sum(1)[None])
        idx = d.argmin(dim=1)
        e = self.codebook[idx].view_as(x)
        loss = (x.detach() - e).pow(2).mean() + self.beta * (x - e.detach()).pow(2).mean()
        xq = x + (e - x).detach()
        return xq, idx.view(x.shape[:-1]), loss

    def rate_bits(self, indices: torch.Tensor) -> float:
        return empirical_rate_bits(indices, self.codebook_size)
