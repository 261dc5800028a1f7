"""Separation bound (the digital chain: tests/baselines/test_digital.py)."""
import math

import numpy as np
import pytest

from gr_semcod.baselines import separation
from gr_semcod.runtime.metrics import psnr_per_image


def _images(n=6, size=32, seed=0):
    """Smooth gradients + a blob + mild texture: compressible but not trivial."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, size)
    yy, xx = np.meshgrid(t, t, indexing="ij")
    out = np.empty((n, size, size, 3))
    for i in range(n):
        a, b, c = rng.uniform(-1, 1, (3, 3))
        cx, cy = rng.uniform(0.2, 0.8, 2)
        blob = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / 0.02)
        for ch in range(3):
            out[i, ..., ch] = 0.5 + 0.4 * (a[ch] * (xx - .5) + b[ch] * (yy - .5)) + 0.3 * c[ch] * blob
        out[i] += 0.03 * rng.standard_normal((size, size, 1))
    return np.clip(np.rint(out * 255), 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------- separation


def test_capacity_budget():
    assert separation.capacity_bits(256, 10.0) == pytest.approx(256 * math.log2(11))
    assert separation.capacity_bits(64, 0.0) == pytest.approx(64.0)


@pytest.mark.parametrize("codec", ["jpeg", "webp"])
def test_tiny_budget_gives_mean_image(codec):
    x = _images()
    r = separation.separation_bound(x, "1/48", 0.0, codec)  # k = 64 -> 64 bits, no file fits
    assert r.budget_bits == pytest.approx(64.0)
    assert np.all(r.quality == -1) and r.fallback_rate == 1.0
    np.testing.assert_array_equal(r.images, separation.mean_colour_images(x))
    np.testing.assert_allclose(r.psnr, psnr_per_image(x, separation.mean_colour_images(x)))
    # below 24 bits not even the mean colour fits: mid grey
    g = separation.separation_bound(x, "1/3072", 0.0, codec)  # k = 1 symbol, 1 bit
    assert np.all(g.quality == -2) and np.all(g.images == 128)


@pytest.mark.parametrize("codec", ["jpeg", "webp"])
def test_large_budget_beats_mean_and_fits(codec):
    x = _images()
    floor = float(np.mean(psnr_per_image(x, separation.mean_colour_images(x))))
    r = separation.separation_bound(x, "1/6", 30.0, codec)
    assert r.fallback_rate == 0.0
    assert np.all(r.bits <= r.budget_bits)
    assert r.mean_psnr > floor + 8.0, (r.mean_psnr, floor)
    # the quality found is the highest that fits: one step up does not fit (or is the maximum)
    s = separation.QualitySearch(x[0], codec)
    q = int(r.quality[0])
    assert q == separation.QUALITY_RANGE[codec][1] or s.at(q + 1)[0] > r.budget_bits


def test_headerless_accounting_is_smaller_and_better():
    x = _images()
    full = separation.encode(x[0], "jpeg", 50, header=True)[0]
    bare = separation.encode(x[0], "jpeg", 50, header=False)[0]
    assert bare < full - 8 * 150  # JPEG headers+tables are hundreds of bytes
    w_full = separation.encode(x[0], "webp", 50, header=True)[0]
    w_bare = separation.encode(x[0], "webp", 50, header=False)[0]
    assert w_full - w_bare == 8 * 20  # RIFF + WEBP + VP8 chunk header
    a = separation.separation_bound(x, "1/12", 5.0, "jpeg", header=True)
    b = separation.separation_bound(x, "1/12", 5.0, "jpeg", header=False)
    assert b.mean_psnr > a.mean_psnr
