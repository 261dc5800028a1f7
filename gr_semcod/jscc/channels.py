"""Differentiable channels on float32 I/Q symbols ``(B, k, 2)`` (the torch twin of
:mod:`gr_semcod.runtime.channels`).

Transmitted symbols have unit average power per image (see :mod:`.power`), so an SNR of
``s`` dB means complex noise ``n ~ CN(0, sigma^2)``, ``sigma^2 = 10^(-s/10)``, i.e. I and Q each
``N(0, sigma^2 / 2)``.  ``snr_db`` is a float or a tensor ``(B,)`` / ``(B, 1)`` (one SNR per image).

AWGN::

    y = z + n

Block Rayleigh fading with known CSI at the receiver::

    y_i = h_b z_i + n_i,       h_b ~ CN(0, 1) constant over block b of L consecutive symbols

    ZF:   z_hat = y / h                         = z + n / h
    MMSE: z_hat = conj(h) y / (|h|^2 + sigma^2)  (minimises E|z_hat - z|^2 for unit-power z)

``E|h|^2 = 1`` so the average received SNR equals the set SNR.  Gradients flow through ``z``
(noise and gains are sampled without gradient), which is all end-to-end training needs.
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple, Union

import torch
from torch import nn

SNRLike = Union[float, int, torch.Tensor]

CHANNELS = ("awgn", "rayleigh")
EQUALIZERS = ("mmse", "zf")


# --------------------------------------------------------------------------- helpers


def cmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Complex product of I/Q tensors ``(..., 2)``: ``(a0 b0 - a1 b1, a0 b1 + a1 b0)``."""
    re = a[..., 0] * b[..., 0] - a[..., 1] * b[..., 1]
    im = a[..., 0] * b[..., 1] + a[..., 1] * b[..., 0]
    return torch.stack([re, im], dim=-1)


def conj(a: torch.Tensor) -> torch.Tensor:
    """Complex conjugate of an I/Q tensor ``(..., 2)``."""
    return torch.stack([a[..., 0], -a[..., 1]], dim=-1)


def abs2(a: torch.Tensor) -> torch.Tensor:
    """``|a|^2`` of an I/Q tensor, keeping a trailing axis of size 1: ``(..., 2) -> (..., 1)``."""
    return a.pow(2).sum(-1, keepdim=True)


def snr_tensor(snr_db: SNRLike, batch: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """Any scalar / ``(B,)`` / ``(B, 1)`` SNR -> a tensor of shape ``(B,)``."""
    s = torch.as_tensor(snr_db, dtype=dtype, device=device)
    if s.dim() == 0:
        return s.expand(batch).clone()
    s = s.reshape(-1)
    if s.numel() == 1:
        return s.expand(batch).clone()
    if s.numel() != batch:
        raise ValueError(f"snr_db has {s.numel()} values for a batch of {batch}")
    return s


def noise_variance(snr_db: torch.Tensor) -> torch.Tensor:
    """Complex noise variance for unit signal power, ``sigma^2 = 10^(-snr_db/10)``."""
    return torch.pow(10.0, -snr_db / 10.0)


def _per_image(v: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """``(B,)`` -> ``(B, 1, ..., 1)`` broadcastable against ``z``."""
    return v.reshape((-1,) + (1,) * (z.dim() - 1))


def complex_noise(z: torch.Tensor, snr_db: torch.Tensor, generator: Optional[torch.Generator] = None):
    """``CN(0, sigma^2)`` noise shaped like ``z`` (I and Q each with variance ``sigma^2 / 2``)."""
    std = torch.sqrt(noise_variance(snr_db) / 2.0)
    n = torch.randn(z.shape, generator=generator, device=z.device, dtype=z.dtype)
    return n * _per_image(std, z).to(z.dtype)


# --------------------------------------------------------------------------- channels


def awgn(z: torch.Tensor, snr_db: SNRLike, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """``y = z + n``, ``n ~ CN(0, 10^(-snr_db/10))``; ``z`` is ``(B, k, 2)`` at unit power."""
    s = snr_tensor(snr_db, z.shape[0], z.device)
    return z + complex_noise(z, s, generator)


def rayleigh_gains(
    batch: int, k: int, block_len: int, device=None, generator: Optional[torch.Generator] = None
) -> torch.Tensor:
    """Block-fading gains ``h ~ CN(0, 1)`` as I/Q ``(B, k, 2)``, constant over ``block_len`` symbols.

    The last block may be shorter when ``block_len`` does not divide ``k``.
    """
    if block_len < 1:
        raise ValueError(f"block_len must be >= 1, got {block_len}")
    n_blocks = -(-k // block_len)
    hb = torch.randn((batch, n_blocks, 2), generator=generator, device=device) * (0.5 ** 0.5)
    return hb.repeat_interleave(block_len, dim=1)[:, :k]


def equalize(y: torch.Tensor, h: torch.Tensor, snr_db: torch.Tensor, method: str = "mmse"):
    """One-tap equalisation with known CSI.

    Returns ``(z_hat, noise_var_eff)`` with the effective noise variance per symbol ``(B, k)``:
    ZF ``sigma^2 / |h|^2``, MMSE ``sigma^2 / (|h|^2 + sigma^2)`` (its MSE for unit-power input).
    """
    g = abs2(h)  # (B, k, 1)
    nv = _per_image(noise_variance(snr_db), g)
    if method == "zf":
        z_hat = cmul(y, conj(h)) / g.clamp_min(1e-12)
        eff = nv / g.clamp_min(1e-12)
    elif method == "mmse":
        z_hat = cmul(y, conj(h)) / (g + nv)
        eff = nv / (g + nv)
    else:
        raise ValueError(f"equalizer must be one of {EQUALIZERS}, got {method!r}")
    return z_hat, eff.squeeze(-1).expand(y.shape[:-1])


def fade(
    z: torch.Tensor, snr_db: SNRLike, block_len: int, generator: Optional[torch.Generator] = None
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Block Rayleigh channel before equalisation: returns ``(y = h z + n, h)``."""
    s = snr_tensor(snr_db, z.shape[0], z.device)
    h = rayleigh_gains(z.shape[0], z.shape[1], block_len, z.device, generator).to(z.dtype)
    return cmul(h, z) + complex_noise(z, s, generator), h


def rayleigh(
    z: torch.Tensor,
    snr_db: SNRLike,
    block_len: int = 16,
    equalizer: str = "mmse",
    generator: Optional[torch.Generator] = None,
) -> torch.Tensor:
    """Block Rayleigh fading + ``equalizer`` (``"mmse"`` or ``"zf"``) with known CSI -> ``z_hat``."""
    s = snr_tensor(snr_db, z.shape[0], z.device)
    y, h = fade(z, s, block_len, generator)
    return equalize(y, h, s, equalizer)[0]


class Channel(nn.Module):
    """A differentiable channel that owns its SNR policy.

    Args:
        name: ``"awgn"`` or ``"rayleigh"``.
        snr_range: ``(lo, hi)`` dB; in training mode an SNR per image is drawn uniformly in dB.
        snr_db: a fixed SNR used in eval mode (and in training too when ``snr_range`` is None).
        block_len: coherence block ``L`` of the Rayleigh channel (symbols per gain).
        equalizer: ``"mmse"`` (default) or ``"zf"``.

    ``forward(z, snr_db=None) -> (y, snr_db)``: an explicit ``snr_db`` (scalar or ``(B,)``)
    overrides the policy; the SNR actually used is returned as a ``(B,)`` tensor so the
    decoder can be conditioned on it.
    """

    def __init__(
        self,
        name: str = "awgn",
        snr_range: Optional[Sequence[float]] = (0.0, 20.0),
        snr_db: float = 10.0,
        block_len: int = 16,
        equalizer: str = "mmse",
    ):
        super().__init__()
        if name not in CHANNELS:
            raise ValueError(f"channel must be one of {CHANNELS}, got {name!r}")
        if equalizer not in EQUALIZERS:
            raise ValueError(f"equalizer must be one of {EQUALIZERS}, got {equalizer!r}")
        self.name = name
        self.snr_range = None if snr_range is None else (float(snr_range[0]), float(snr_range[1]))
        self.snr_db = float(snr_db)
        self.block_len = int(block_len)
        self.equalizer = equalizer
        self.generator: Optional[torch.Generator] = None

    def sample_snr(self, batch: int, device=None) -> torch.Tensor:
        """The SNR policy: uniform in ``snr_range`` (training) or the fixed ``snr_db``."""
        if self.training and self.snr_range is not None:
            lo, hi = self.snr_range
            u = torch.rand(batch, generator=self.generator, device=device)
            return lo + (hi - lo) * u
        return torch.full((batch,), self.snr_db, device=device)

    def forward(self, z: torch.Tensor, snr_db: Optional[SNRLike] = None):
        if z.dim() != 3 or z.shape[-1] != 2:
            raise ValueError(f"symbols must be (B, k, 2), got {tuple(z.shape)}")
        b = z.shape[0]
        s = self.sample_snr(b, z.device) if snr_db is None else snr_tensor(snr_db, b, z.device)
        if self.name == "awgn":
            y = awgn(z, s, self.generator)
        else:
            y = rayleigh(z, s, self.block_len, self.equalizer, self.generator)
        return y, s

    def extra_repr(self) -> str:
        extra = f", block_len={self.block_len}, equalizer={self.equalizer}" if self.name == "rayleigh" else ""
        return f"{self.name}, snr_range={self.snr_range}, snr_db={self.snr_db}{extra}"


def measured_snr_db(clean: torch.Tensor, received: torch.Tensor) -> float:
    """Empirical SNR over all symbols, ``10 log10(sum |z|^2 / sum |y - z|^2)``."""
    clean = clean.double()
    err = received.double() - clean
    return float(10.0 * torch.log10(clean.pow(2).sum() / err.pow(2).sum()))
