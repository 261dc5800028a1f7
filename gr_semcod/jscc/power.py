"""Channel-symbol bookkeeping: CBR parsing, symbol counts and per-image power normalisation.

Symbols in the torch/ONNX world are float32 I/Q tensors of shape ``(B, k, 2)``: image ``b``
sends ``k`` complex symbols ``z_{b,i} = x[b, i, 0] + j x[b, i, 1]``.  No complex dtypes are
used, so every model exports to ONNX.

The channel bandwidth ratio (CBR) is complex channel uses per real source sample::

    k = round(CBR * H * W * C)          (half rounds up; identical to gr_semcod.runtime)

Power normalisation enforces the average power constraint per image::

    P_b = (1 / k) * sum_i |z_{b,i}|^2,     z_b <- z_b / sqrt(P_b)   =>   mean_i |z_{b,i}|^2 = 1

so that with unit-power symbols an SNR of ``s`` dB means complex noise variance
``sigma^2 = 10^(-s/10)``.
"""
from __future__ import annotations

from fractions import Fraction
from typing import Union

import torch
from torch import nn

CBRLike = Union[str, float, int, Fraction]

#: the rates of the issue (the Deep JSCC paper's 0.0208 ... 0.125)
STANDARD_CBRS = ("1/48", "1/24", "1/12", "1/6")


def parse_cbr(cbr: CBRLike) -> Fraction:
    """``"1/12"``, ``"0.0833"``, ``1/12`` or ``Fraction(1, 12)`` -> ``Fraction(1, 12)``.

    Floats are snapped to the nearest fraction with denominator <= 1000.
    Raises ``ValueError`` for non-positive rates.
    """
    if isinstance(cbr, str):
        s = cbr.strip()
        if s.count("-") == 1 and "/" not in s and not s.startswith("-"):  # "1-12" (file-name form)
            s = s.replace("-", "/")
        f = Fraction(s).limit_denominator(1000) if "." in s else Fraction(s)
    else:
        f = Fraction(cbr).limit_denominator(1000)
    if f <= 0:
        raise ValueError(f"CBR must be positive, got {cbr!r}")
    return f


def cbr_tag(cbr: CBRLike) -> str:
    """File-name friendly form: ``Fraction(1, 12)`` -> ``"1-12"``."""
    f = parse_cbr(cbr)
    return f"{f.numerator}-{f.denominator}"


def num_symbols(cbr: CBRLike, h: int, w: int, c: int = 3) -> int:
    """Complex channel symbols per image, ``k = round(CBR * H * W * C)`` (half rounds up)."""
    n = parse_cbr(cbr) * int(h) * int(w) * int(c)
    k = int(n + Fraction(1, 2)) if n >= 0 else 0  # floor(n + 1/2) for n >= 0
    if k < 1:
        raise ValueError(f"CBR {cbr} gives no channel symbols for a {h}x{w}x{c} image")
    return k


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


def to_symbols(x: torch.Tensor) -> torch.Tensor:
    """Flatten a feature tensor ``(B, ...)`` with an even number of elements to ``(B, k, 2)``.

    Consecutive real values pair into one complex symbol (I, Q).
    """
    b = x.shape[0]
    n = x[0].numel()
    if n % 2:
        raise ValueError(f"need an even number of values per image to form I/Q pairs, got {n}")
    return x.reshape(b, n // 2, 2)


def from_symbols(z: torch.Tensor, shape) -> torch.Tensor:
    """Inverse of :func:`to_symbols`: ``(B, k, 2)`` -> ``(B, *shape)``."""
    return z.reshape((z.shape[0],) + tuple(shape))
