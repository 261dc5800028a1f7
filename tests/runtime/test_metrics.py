"""PSNR, SSIM, MS-SSIM and accuracy against closed forms and an independent SSIM reference."""
import numpy as np
import pytest

from gr_semcod.runtime.metrics import (
    MetricError,
    accuracy,
    ms_ssim,
    ms_ssim_fits,
    ms_ssim_min_size,
    ms_ssim_per_image,
    psnr,
    psnr_per_image,
    ssim,
    ssim_per_image,
)


def rand_images(seed, shape=(2, 32, 32, 3)):
    rng = np.random.default_rng(seed)
    # smooth-ish images: random field blurred by block averaging, so SSIM is meaningful
    base = rng.integers(0, 256, shape, dtype=np.int64)
    k = 4
    n, h, w, c = shape
    blocks = base.reshape(n, h // k, k, w // k, k, c).mean(axis=(2, 4))
    img = np.repeat(np.repeat(blocks, k, 1), k, 2)
    return np.clip(img + rng.normal(0, 8, shape), 0, 255).astype(np.uint8)


def add_noise(img, sigma, seed=0):
    rng = np.random.default_rng(seed)
    return np.clip(img.astype(np.float64) + rng.normal(0, sigma, img.shape), 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------- PSNR


def test_psnr_of_known_mse():
    a = np.zeros((4, 8, 8, 3), np.uint8)
    b = np.full_like(a, 16)
    expected = 20 * np.log10(255 / 16)  # MSE = (16/255)^2 on the [0, 1] scale
    np.testing.assert_allclose(psnr_per_image(a, b), [expected] * 4)
    assert psnr(a, b) == pytest.approx(24.0484, abs=1e-4)
    # float images in [0, 1] give the same number, and mixing kinds works
    assert psnr(a / 255.0, b / 255.0) == pytest.approx(expected)
    assert psnr(a, b / 255.0) == pytest.approx(expected)
    # half the pixels off by 0.1: MSE = 0.005 -> 23.0103 dB
    x = np.zeros((16, 16))
    y = x.copy()
    y[:, :8] = 0.1
    assert psnr(x, y) == pytest.approx(10 * np.log10(1 / 0.005))


def test_psnr_per_image_and_mean():
    a = np.zeros((2, 4, 4, 3), np.uint8)
    b = a.copy()
    b[0] = 10
    b[1] = 40
    per = psnr_per_image(a, b)
    np.testing.assert_allclose(per, [20 * np.log10(25.5), 20 * np.log10(255 / 40)])
    assert psnr(a, b) == pytest.approx(per.mean())
    assert psnr_per_image(a, a)[0] == np.inf


def test_input_validation():
    a = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(MetricError, match="shapes differ"):
        psnr(a, np.zeros((8, 9, 3), np.uint8))
    with pytest.raises(MetricError, match=r"\[0, 1\]"):
        psnr(a.astype(np.float32), np.full((8, 8, 3), 200.0, np.float32))
    with pytest.raises(MetricError, match="uint8 or float"):
        psnr(a.astype(np.int32), a.astype(np.int32))
    with pytest.raises(MetricError, match="at least 11x11"):
        ssim(np.zeros((10, 10, 3), np.uint8), np.zeros((10, 10, 3), np.uint8))


# --------------------------------------------------------------------------- SSIM


def ssim_reference(x, y, win=11, sigma=1.5, k1=0.01, k2=0.03, L=1.0):
    """Direct loop over every valid 11x11 window of one grey float image (Wang et al. 2004)."""
    ax = np.arange(win) - win // 2
    g = np.exp(-(ax[:, None] ** 2 + ax[None, :] ** 2) / (2 * sigma**2))
    g /= g.sum()
    c1, c2 = (k1 * L) ** 2, (k2 * L) ** 2
    vals = []
    for i in range(x.shape[0] - win + 1):
        for j in range(x.shape[1] - win + 1):
            px, py = x[i : i + win, j : j + win], y[i : i + win, j : j + win]
            mx, my = (g * px).sum(), (g * py).sum()
            vx = (g * (px - mx) ** 2).sum()
            vy = (g * (py - my) ** 2).sum()
            cxy = (g * (px - mx) * (py - my)).sum()
            vals.append((2 * mx * my + c1) * (2 * cxy + c2) / ((mx**2 + my**2 + c1) * (vx + vy + c2)))
    return float(np.mean(vals))


def test_ssim_matches_direct_reference():
    a = rand_images(1, (1, 20, 24, 3))
    b = add_noise(a, 20, seed=2)
    x, y = a[0] / 255.0, b[0] / 255.0
    ref = np.mean([ssim_reference(x[..., c], y[..., c]) for c in range(3)])
    assert ssim(a, b) == pytest.approx(ref, abs=1e-10)
    assert 0.2 < ref < 0.95  # a non-trivial value


def test_ssim_identical_is_one_and_noise_lowers_it():
    a = rand_images(3)
    np.testing.assert_allclose(ssim_per_image(a, a), 1.0)
    s = [ssim(a, add_noise(a, sigma, seed=4)) for sigma in (2, 10, 40)]
    assert 1.0 > s[0] > s[1] > s[2] > 0.0
    # symmetric
    b = add_noise(a, 10)
    assert ssim(a, b) == pytest.approx(ssim(b, a))


def test_ssim_of_constant_images_closed_form():
    # zero variance: SSIM = (2 mu_x mu_y + C1) / (mu_x^2 + mu_y^2 + C1)
    mx, my = 0.2, 0.6
    c1 = 0.01**2
    expected = (2 * mx * my + c1) / (mx**2 + my**2 + c1)
    x = np.full((16, 16, 3), mx)
    y = np.full((16, 16, 3), my)
    assert ssim(x, y) == pytest.approx(expected, rel=1e-9)


def test_ssim_layouts():
    a = rand_images(5, (3, 16, 16, 3))
    b = add_noise(a, 15)
    per = ssim_per_image(a, b)
    assert per.shape == (3,)
    assert ssim_per_image(a[1], b[1])[0] == pytest.approx(per[1])
    grey = ssim_per_image(a[..., 0], b[..., 0])  # (N, H, W)
    assert grey.shape == (3,)
    assert ssim(a[0, ..., 0], b[0, ..., 0]) == pytest.approx(grey[0])


# --------------------------------------------------------------------------- MS-SSIM


def test_ms_ssim_size_rule():
    assert ms_ssim_min_size() == 176
    assert ms_ssim_fits((176, 176)) and ms_ssim_fits((4, 200, 180, 3)) and ms_ssim_fits((180, 190, 3))
    assert not ms_ssim_fits((175, 300)) and not ms_ssim_fits((8, 64, 64, 3))
    small = np.zeros((64, 64, 3), np.uint8)
    with pytest.raises(MetricError) as e:
        ms_ssim(small, small)
    assert "176x176" in str(e.value) and "64x64" in str(e.value)


def test_ms_ssim_values():
    a = rand_images(6, (1, 176, 192, 3))
    assert ms_ssim(a, a) == pytest.approx(1.0)
    m = [ms_ssim(a, add_noise(a, s, seed=7)) for s in (5, 30)]
    assert 1.0 > m[0] > m[1] > 0.0
    # MS-SSIM weighs coarse scales, where noise is averaged out: it exceeds single-scale SSIM
    b = add_noise(a, 30, seed=7)
    assert ms_ssim(a, b) > ssim(a, b)
    # a single scale with weight 1 is plain SSIM
    assert ms_ssim_per_image(a, b, weights=(1.0,))[0] == pytest.approx(ssim(a, b))


# --------------------------------------------------------------------------- accuracy


def test_accuracy():
    labels = np.array([0, 1, 2, 3])
    assert accuracy(np.array([0, 1, 0, 3]), labels) == 0.75
    logits = np.array([[5, 1, 0], [0, 2, 3], [1, 0, 9], [3, 2, 1]], float)
    assert accuracy(logits, np.array([0, 1, 2, 1])) == 0.5
    assert accuracy(logits, np.array([0, 1, 2, 1]), k=2) == 1.0
    with pytest.raises(MetricError, match="3 predictions but 4 labels"):
        accuracy(np.zeros(3), labels)
