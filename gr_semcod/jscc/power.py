"""Per-image power normalisation of channel symbols (torch); the rates are :mod:`gr_semcod.rates`.

Symbols in the torch/ONNX world are float32 I/Q tensors of shape ``(B, k, 2)``: image ``b``
sends ``k`` complex symbols ``z_{b,i} = x[b, i, 0] + j x[b, i, 1]``.  No complex dtypes are
used, so every model exports to ONNX.

The channel bandwidth ratio (CBR) is complex channel uses per real source sample::

    k = round(CBR * H * W * C)          (half rounds up; :mod:`gr_semcod.rates`, shared with the radio)

Power normalisation enforces the average power constraint per image::

    P_b = (1 / k) * sum_i |z_{b,i}|^2,     z_b <- z_b / sqrt(P_b)   =>   mean_i |z_{b,i}|^2 = 1

so that with unit-power symbols an SNR of ``s`` dB means complex noise variance
``sigma^2 = 10^(-s/10)``.
"""
from __future__ import annotations

import torch
from torch import nn

from ..rates import STANDARD_CBRS, CBRLike, cbr_tag, num_symbols, parse_cbr  # noqa: F401 - one rates module


def average_power(z: torch.Tensor) -> torch.Tensor:
    """Mean complex symbol power per image ``P_b = mean_i (I^2 + Q^2)``; ``(B, k, 2) -> (B,)``."""
    return z.pow(2).sum(-1).mean(-1)


def power_normalize(z: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Scale each image's symbols to unit average power, ``z / sqrt(max(P_b, eps))``.

    Works on any ``(B, ..., k, 2)``-shaped tensor: the power is taken over all but the batch
    axis.  Differentiable and ONNX-exportable (``ReduceMean`` + ``Sqrt`` + ``Div``).
    """
    if z.shape[-1] != 2:
        raise ValueError(f"symbols must be (..., k, 2) I/Q, got shape {tuple(z.shape)}")
    dims = tuple(range(1, z.dim()))
    p = z.pow(2).mean(dim=dims, keepdim=True) * 2.0  # mean over I and Q of x^2, x2 = mean |z|^2
    return z / torch.sqrt(p.clamp_min(eps))


class PowerNormalize(nn.Module):
    """Module form of :func:`power_normalize` (the last layer of every JSCC encoder)."""

    def __init__(self, eps: float = 1e-8):
        super().__init__()
        self.eps = eps

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return power_normalize(z, self.eps)
