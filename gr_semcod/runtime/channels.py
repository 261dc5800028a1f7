"""Numpy channel models on complex baseband symbols (the radio-side twin of the torch channels).

Conventions
-----------
* Symbols are complex64 arrays of shape ``(..., k)``: one row of ``k`` channel symbols per
  image (the radio's layout).  The ONNX models use float32 I/Q arrays ``(..., k, 2)``;
  convert with :func:`complex_to_iq` / :func:`iq_to_complex`.
* Transmitted symbols have unit average power per image, ``mean_k |z|^2 = 1``
  (:func:`power_normalize`), so the noise variance of circularly-symmetric complex Gaussian
  noise ``n ~ CN(0, sigma^2)`` at a given SNR is ``sigma^2 = 10^(-snr_db / 10)``
  (:func:`noise_variance`); each of I and Q carries ``sigma^2 / 2``.
* ``snr_db`` is a scalar or an array broadcastable to ``z.shape[:-1]`` (one SNR per image).
* ``rng`` is anything :func:`numpy.random.default_rng` accepts (None, a seed, a Generator).

Block Rayleigh fading (:func:`rayleigh`)::

    y_i = h_b z_i + n_i,   h_b ~ CN(0, 1) constant over block b of ``block_len`` symbols,

followed by equalisation with known CSI (:func:`equalize`):

* ZF:   ``z_hat = y / h``,                          effective noise ``sigma^2 / |h|^2``
* MMSE: ``z_hat = conj(h) y / (|h|^2 + sigma^2)``,  effective noise (MSE) ``sigma^2 / (|h|^2 + sigma^2)``
"""
from __future__ import annotations

from typing import Optional, Tuple, Union

import numpy as np

from ..rates import num_symbols, parse_cbr  # noqa: F401 - the rates live in gr_semcod.rates

ArrayLike = Union[float, np.ndarray]


def noise_variance(snr_db: ArrayLike) -> np.ndarray:
    """Complex noise variance for unit signal power: ``sigma^2 = 10^(-snr_db/10)``."""
    return np.power(10.0, -np.asarray(snr_db, np.float64) / 10.0)


def snr_db_from_noise_variance(noise_var: ArrayLike) -> np.ndarray:
    """Inverse of :func:`noise_variance`: ``snr_db = -10 log10(sigma^2)``."""
    return -10.0 * np.log10(np.asarray(noise_var, np.float64))


def average_power(z: np.ndarray) -> np.ndarray:
    """Mean symbol power per image, ``mean_k |z_k|^2`` over the last axis."""
    z = np.asarray(z)
    return np.mean(z.real.astype(np.float64) ** 2 + z.imag.astype(np.float64) ** 2, axis=-1)


def power_normalize(z: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Scale each image's symbols to unit average power: ``z / sqrt(mean_k |z_k|^2)``.

    An all-zero row stays zero (``eps`` guards the division).  Returns complex64.
    """
    z = np.asarray(z)
    p = average_power(z)[..., None]
    return (z / np.sqrt(np.maximum(p, eps))).astype(np.complex64)


def complex_to_iq(z: np.ndarray) -> np.ndarray:
    """complex ``(..., k)`` -> float32 I/Q ``(..., k, 2)`` with ``[..., 0] = Re``, ``[..., 1] = Im``."""
    z = np.asarray(z)
    return np.stack([z.real, z.imag], axis=-1).astype(np.float32)


def iq_to_complex(x: np.ndarray) -> np.ndarray:
    """float I/Q ``(..., k, 2)`` -> complex64 ``(..., k)``; inverse of :func:`complex_to_iq`."""
    x = np.asarray(x)
    if x.ndim < 1 or x.shape[-1] != 2:
        raise ValueError(f"I/Q array must have a last axis of size 2, got shape {x.shape}")
    return (x[..., 0].astype(np.float32) + 1j * x[..., 1].astype(np.float32)).astype(np.complex64)


def _per_image(value: ArrayLike, z: np.ndarray) -> np.ndarray:
    """Broadcast a scalar or per-image array against the symbol axis of ``z``."""
    v = np.asarray(value, np.float64)
    if v.ndim == 0:
        return v
    try:
        return np.broadcast_to(v, z.shape[:-1])[..., None]
    except ValueError:
        raise ValueError(
            f"per-image value of shape {v.shape} does not broadcast to {z.shape[:-1]}"
        ) from None


def complex_noise(shape, noise_var: ArrayLike, rng=None) -> np.ndarray:
    """``CN(0, noise_var)`` samples: I and Q independent ``N(0, noise_var / 2)``; complex64."""
    rng = np.random.default_rng(rng)
    std = np.sqrt(np.asarray(noise_var, np.float64) / 2.0)
    n = rng.standard_normal(tuple(shape) + (2,), dtype=np.float32)
    return (std * n[..., 0] + 1j * (std * n[..., 1])).astype(np.complex64)


def awgn(z: np.ndarray, snr_db: ArrayLike, rng=None) -> np.ndarray:
    """``y = z + n``, ``n ~ CN(0, 10^(-snr_db/10))`` (z assumed at unit power); complex64."""
    z = np.asarray(z)
    nv = _per_image(noise_variance(snr_db), z)
    return (z + complex_noise(z.shape, nv, rng)).astype(np.complex64)


def rayleigh_gains(shape, block_len: int, rng=None) -> np.ndarray:
    """Per-symbol block-fading gains ``h ~ CN(0, 1)`` of ``shape = (..., k)``.

    One independent gain per block of ``block_len`` consecutive symbols along the last axis
    (the last block may be shorter); ``E|h|^2 = 1``.  Returns complex64.
    """
    shape = tuple(int(s) for s in shape)
    block_len = int(block_len)
    if block_len < 1:
        raise ValueError(f"block_len must be >= 1, got {block_len}")
    k = shape[-1]
    n_blocks = -(-k // block_len)
    hb = complex_noise(shape[:-1] + (n_blocks,), 1.0, rng)
    return np.repeat(hb, block_len, axis=-1)[..., :k]


def fade(
    z: np.ndarray, snr_db: ArrayLike, block_len: int, rng=None
) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Block Rayleigh channel before equalisation: ``y = h z + n``.

    Returns ``(y, h, noise_var)``: complex64 received symbols, complex64 per-symbol gains, and
    the noise variance broadcastable to ``y`` (float64).  The average received SNR is the set
    SNR since ``E|h|^2 = 1``.
    """
    rng = np.random.default_rng(rng)
    z = np.asarray(z)
    h = rayleigh_gains(z.shape, block_len, rng)
    nv = _per_image(noise_variance(snr_db), z)
    y = h * z + complex_noise(z.shape, nv, rng)
    return y.astype(np.complex64), h, nv


def equalize(
    y: np.ndarray, h: np.ndarray, noise_var: ArrayLike, method: str = "mmse"
) -> Tuple[np.ndarray, np.ndarray]:
    """One-tap equalisation with known CSI; returns ``(z_hat complex64, effective noise var)``.

    * ``"zf"``:   ``z_hat = y / h``, effective noise ``sigma^2 / |h|^2``.
    * ``"mmse"``: ``z_hat = conj(h) y / (|h|^2 + sigma^2)``; its mean squared error for a
      unit-power signal, ``sigma^2 / (|h|^2 + sigma^2)``, is returned as effective noise.

    The effective noise variance has the shape of ``y`` (float32).
    """
    g = np.abs(h).astype(np.float64) ** 2
    nv = np.asarray(noise_var, np.float64)
    if method == "zf":
        g_safe = np.maximum(g, 1e-12)  # a deep fade stays finite (same guard as the torch twin)
        z_hat = y * np.conj(h) / g_safe
        eff = nv / g_safe
    elif method == "mmse":
        z_hat = np.conj(h) * y / (g + nv)
        eff = nv / (g + nv)
    else:
        raise ValueError(f"equalize must be 'mmse' or 'zf', got {method!r}")
    eff = np.broadcast_to(eff, np.shape(y)).astype(np.float32)
    return np.asarray(z_hat).astype(np.complex64), eff


def rayleigh(
    z: np.ndarray,
    snr_db: ArrayLike,
    block_len: int,
    rng=None,
    equalize: Optional[str] = "mmse",
    return_h: bool = False,
):
    """Block Rayleigh fading + equalisation with known CSI.

    Returns ``(z_hat, noise_var_eff)`` (see :func:`equalize`), or with ``return_h=True``
    ``(z_hat, noise_var_eff, h)``.  ``equalize=None`` returns the raw ``y = h z + n`` and the
    (unequalised) noise variance per symbol.
    """
    y, h, nv = fade(z, snr_db, block_len, rng)
    if equalize is None:
        out = (y, np.broadcast_to(nv, y.shape).astype(np.float32))
    else:
        out = _equalize(y, h, nv, equalize)
    return out + (h,) if return_h else out


_equalize = equalize  # `rayleigh` shadows the name with its argument


def measured_snr_db(clean: np.ndarray, received: np.ndarray) -> float:
    """Empirical SNR over all symbols: ``10 log10(sum |clean|^2 / sum |received - clean|^2)``."""
    clean = np.asarray(clean, np.complex128)
    err = np.asarray(received, np.complex128) - clean
    return float(10.0 * np.log10(np.sum(np.abs(clean) ** 2) / np.sum(np.abs(err) ** 2)))
