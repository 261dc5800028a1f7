"""``semcod bench metrics``: our numpy PSNR/SSIM against scikit-image, on the same images.

The same numbers (max absolute difference printed) and the time per call, for the workloads of
the project: one 32x32 image (``image_sink``, per received image), a batch of 32x32 images
(``semcod eval``) and a batch of larger images.  scikit-image is optional: install it beside
the venv (``pip install --target build/skimage scikit-image``, NumPy 1.x) and put that on
``PYTHONPATH``.  Last line: ``ssim_ours_vs_skimage=<time ratio, batch 32x32>``.
"""
from __future__ import annotations

import time

import numpy as np


def add_arguments(p):
    p.add_argument("--repeats", type=int, default=5, help="timing: best of this many calls")


def _best(fn, n):
    best = float("inf")
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def run(args) -> int:
    from ..runtime.metrics import psnr_per_image, ssim_per_image

    try:
        from skimage.metrics import peak_signal_noise_ratio, structural_similarity
    except ImportError:
        print("semcod bench metrics: scikit-image is not importable (see the module docstring)")
        return 2

    def sk_psnr(a, b):
        return np.array([peak_signal_noise_ratio(x, y, data_range=255) for x, y in zip(a, b)])

    def sk_ssim(a, b):  # the same SSIM: 11x11 Gaussian window, sigma 1.5, biased moments, per channel
        return np.array([structural_similarity(x, y, data_range=255, channel_axis=-1, gaussian_weights=True,
                                               sigma=1.5, use_sample_covariance=False) for x, y in zip(a, b)])

    rng = np.random.default_rng(0)
    print(f"{'images':>14s} {'max|dPSNR| dB':>14s} {'max|dSSIM|':>11s} {'PSNR ours/sk ms':>16s} {'SSIM ours/sk ms':>16s}")
    ratio = float("nan")
    for n, s in ((1, 32), (256, 32), (16, 256)):
        a = rng.integers(0, 256, (n, s, s, 3), dtype=np.uint8)
        b = np.clip(a.astype(int) + rng.integers(-20, 21, a.shape), 0, 255).astype(np.uint8)
        dp = np.max(np.abs(psnr_per_image(a, b) - sk_psnr(a, b)))
        ds = np.max(np.abs(ssim_per_image(a, b) - sk_ssim(a, b)))
        t = [_best(lambda f=f: f(a, b), args.repeats) * 1e3 for f in (psnr_per_image, sk_psnr, ssim_per_image, sk_ssim)]
        print(f"{n:4d} x {s}x{s}  {dp:14.1e} {ds:11.1e} {t[0]:7.2f} / {t[1]:<7.2f} {t[2]:7.2f} / {t[3]:<7.2f}")
        if (n, s) == (256, 32):
            ratio = t[2] / t[3]
    print(f"ssim_ours_vs_skimage={ratio:.3f}")
    return 0
