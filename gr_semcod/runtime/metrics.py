"""Image-quality and task metrics in numpy/scipy: PSNR, SSIM, MS-SSIM, accuracy.

Images may be uint8 (0..255) or float in [0, 1]; both are mapped to float64 in [0, 1] so the
data range ``L`` is 1 (a uint8 image and its ``/255`` float give the same numbers, and the two
kinds can be compared with each other).  Accepted layouts:

* ``(H, W)``             one grey image
* ``(H, W, C)``          one image, ``C`` in {1, 3, 4}
* ``(N, H, W)``          grey batch (when the last axis is not 1, 3 or 4)
* ``(N, H, W, C)``       batch (NHWC)

``*_per_image`` functions return an ``(N,)`` array; ``psnr``/``ssim``/``ms_ssim`` return the
mean over images of the per-image value (the convention of the Deep JSCC papers).

SSIM (Wang, Bovik, Sheikh, Simoncelli 2004), per channel then averaged over channels, with an
11x11 Gaussian window (sigma 1.5), ``K1 = 0.01``, ``K2 = 0.03``, ``C1 = (K1 L)^2``,
``C2 = (K2 L)^2``, biased (Gaussian-weighted) moments and only "valid" window positions::

    mu_x = G * x,   s_x^2 = G * x^2 - mu_x^2,   s_xy = G * (x y) - mu_x mu_y
    SSIM = mean[ (2 mu_x mu_y + C1)(2 s_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(s_x^2 + s_y^2 + C2)) ]

MS-SSIM (Wang, Simoncelli, Bovik 2003): 5 scales, weights ``(0.0448, 0.2856, 0.3001, 0.2363,
0.1333)``, 2x2 average-pool between scales; ``prod_{j<5} cs_j^{w_j} * ssim_5^{w_5}`` with
``cs = mean[(2 s_xy + C2)/(s_x^2 + s_y^2 + C2)]`` clipped at 0.  Needs ``min(H, W) >= 176``
so that the coarsest scale still holds an 11x11 window (:func:`ms_ssim_fits`).
"""
from __future__ import annotations

from typing import Sequence, Tuple

import numpy as np
from scipy import ndimage

SSIM_WIN = 11
SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


class MetricError(ValueError):
    """Invalid metric input (shape mismatch, wrong range, image too small)."""


# --------------------------------------------------------------------------- inputs


def to_unit_float(x: np.ndarray) -> np.ndarray:
    """uint8 -> ``x / 255``; float -> as is (must be roughly within [0, 1]); float64 result."""
    x = np.asarray(x)
    if x.dtype == np.uint8:
        return x.astype(np.float64) / 255.0
    if x.dtype.kind == "b":
        return x.astype(np.float64)
    if x.dtype.kind != "f":
        raise MetricError(f"images must be uint8 or float in [0, 1], got dtype {x.dtype}")
    if x.size and (np.nanmax(x) > 2.0 or np.nanmin(x) < -1.0):
        raise MetricError(
            f"float images must be in [0, 1], got range [{np.nanmin(x):.3g}, {np.nanmax(x):.3g}] "
            "(pass uint8 or divide by 255)"
        )
    return x.astype(np.float64)


def as_nhwc(x: np.ndarray) -> np.ndarray:
    """Reshape an image or batch to NHWC following the layout rules of the module docstring."""
    x = np.asarray(x)
    if x.ndim == 2:
        return x[None, :, :, None]
    if x.ndim == 3:
        return x[None] if x.shape[-1] in (1, 3, 4) else x[..., None]
    if x.ndim == 4:
        return x
    raise MetricError(f"expected an image (H,W[,C]) or a batch (N,H,W[,C]), got shape {x.shape}")


def _pair(a: np.ndarray, b: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise MetricError(f"image shapes differ: {a.shape} vs {b.shape}")
    return as_nhwc(to_unit_float(a)), as_nhwc(to_unit_float(b))


# --------------------------------------------------------------------------- PSNR


def mse_per_image(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Mean squared error per image on the [0, 1] scale, shape ``(N,)``.

    Two uint8 images: ``mean((a - b)^2) / 255^2`` on integers (no float copies of the images).
    """
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype == np.uint8 and b.dtype == np.uint8:
        if a.shape != b.shape:
            raise MetricError(f"image shapes differ: {a.shape} vs {b.shape}")
        d = as_nhwc(a).astype(np.int32) - as_nhwc(b)
        return np.mean(d * d, axis=(1, 2, 3)) / 65025.0
    x, y = _pair(a, b)
    return np.mean((x - y) ** 2, axis=(1, 2, 3))


def psnr_per_image(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``PSNR = 10 log10(1 / MSE)`` dB per image (L = 1 on the [0, 1] scale); inf when equal."""
    mse = mse_per_image(a, b)
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(1.0 / mse)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Mean over images of :func:`psnr_per_image`."""
    return float(np.mean(psnr_per_image(a, b)))


# --------------------------------------------------------------------------- SSIM


def _gauss(x: np.ndarray) -> np.ndarray:
    """11x11 Gaussian (sigma 1.5) filter over the H, W axes of an NHWC array, valid part only."""
    r = SSIM_WIN // 2
    f = ndimage.gaussian_filter(
        x, sigma=(0, SSIM_SIGMA, SSIM_SIGMA, 0), truncate=r / SSIM_SIGMA, mode="reflect"
    )
    return f[:, r:-r, r:-r, :]


def _ssim_maps(x: np.ndarray, y: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """(SSIM map, contrast-structure map) over valid window positions, NHWC float64 in [0, 1]."""
    c1 = (SSIM_K1 * 1.0) ** 2
    c2 = (SSIM_K2 * 1.0) ** 2
    mx, my = _gauss(x), _gauss(y)
    sxx = _gauss(x * x) - mx * mx
    syy = _gauss(y * y) - my * my
    sxy = _gauss(x * y) - mx * my
    cs = (2.0 * sxy + c2) / (sxx + syy + c2)
    lum = (2.0 * mx * my + c1) / (mx * mx + my * my + c1)
    return lum * cs, cs


def _check_size(x: np.ndarray, minimum: int, what: str) -> None:
    h, w = x.shape[1:3]
    if min(h, w) < minimum:
        raise MetricError(f"{what} needs images of at least {minimum}x{minimum}, got {h}x{w}")


def ssim_per_image(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """SSIM per image (mean over channels of the per-channel SSIM), shape ``(N,)``."""
    x, y = _pair(a, b)
    _check_size(x, SSIM_WIN, "SSIM")
    s, _ = _ssim_maps(x, y)
    return s.mean(axis=(1, 2)).mean(axis=-1)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean over images of :func:`ssim_per_image`."""
    return float(np.mean(ssim_per_image(a, b)))


# --------------------------------------------------------------------------- MS-SSIM


def ms_ssim_min_size(scales: int = len(MS_SSIM_WEIGHTS), win: int = SSIM_WIN) -> int:
    """Smallest side for MS-SSIM: ``win * 2^(scales-1)`` (the coarsest scale holds a window)."""
    return win * 2 ** (scales - 1)


def ms_ssim_fits(shape: Sequence[int]) -> bool:
    """Whether images of ``shape`` (``(H, W)``, ``(H, W, C)`` or ``(N, H, W, C)``) allow MS-SSIM."""
    shape = tuple(shape)
    if len(shape) == 2:
        h, w = shape
    elif len(shape) == 3:
        h, w = shape[:2] if shape[-1] in (1, 3, 4) else shape[1:]
    elif len(shape) == 4:
        h, w = shape[1:3]
    else:
        raise MetricError(f"not an image shape: {shape}")
    return min(h, w) >= ms_ssim_min_size()


def _downsample2(x: np.ndarray) -> np.ndarray:
    """2x2 average pooling over H, W of an NHWC array (odd trailing row/column dropped)."""
    n, h, w, c = x.shape
    x = x[:, : h // 2 * 2, : w // 2 * 2, :]
    return x.reshape(n, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))


def ms_ssim_per_image(a: np.ndarray, b: np.ndarray, weights: Sequence[float] = MS_SSIM_WEIGHTS) -> np.ndarray:
    """MS-SSIM per image, shape ``(N,)``; :class:`MetricError` when the images are too small."""
    x, y = _pair(a, b)
    _check_size(x, ms_ssim_min_size(len(weights)), f"MS-SSIM ({len(weights)} scales)")
    w = np.asarray(weights, np.float64)
    val = np.ones(x.shape[:1] + x.shape[3:])  # (N, C)
    for j, wj in enumerate(w):
        s, cs = _ssim_maps(x, y)
        last = j == len(w) - 1
        m = (s if last else cs).mean(axis=(1, 2))
        val = val * np.maximum(m, 0.0) ** wj
        if not last:
            x, y = _downsample2(x), _downsample2(y)
    return val.mean(axis=-1)


def ms_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean over images of :func:`ms_ssim_per_image`."""
    return float(np.mean(ms_ssim_per_image(a, b)))


# --------------------------------------------------------------------------- accuracy


def accuracy(pred: np.ndarray, labels: np.ndarray, k: int = 1) -> float:
    """Fraction of correct predictions.

    ``pred`` is either predicted labels ``(N,)`` or scores/logits ``(N, K)``; with scores a
    prediction is correct when the label is among the ``k`` highest (top-k accuracy).
    """
    pred = np.asarray(pred)
    labels = np.asarray(labels).reshape(-1)
    if pred.shape[0] != labels.shape[0]:
        raise MetricError(f"{pred.shape[0]} predictions but {labels.shape[0]} labels")
    if labels.size == 0:
        raise MetricError("accuracy of an empty set")
    if pred.ndim == 1:
        if k != 1:
            raise MetricError("top-k accuracy needs scores of shape (N, K), got labels")
        return float(np.mean(pred == labels))
    if pred.ndim != 2:
        raise MetricError(f"pred must be (N,) labels or (N, K) scores, got shape {pred.shape}")
    topk = np.argsort(-pred, axis=1, kind="stable")[:, :k]
    return float(np.mean(np.any(topk == labels[:, None], axis=1)))
