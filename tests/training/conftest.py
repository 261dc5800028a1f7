"""Small generated image fixtures (tests never read /work/shared)."""
import numpy as np
import pytest


def smooth_images(n: int, size: int = 32, seed: int = 0) -> np.ndarray:
    """uint8 ``n x size x size x 3``: random colour gradients plus a soft blob -- compressible,
    but not constant, so a short training run has something to learn."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0.0, 1.0, size)
    yy, xx = np.meshgrid(t, t, indexing="ij")
    imgs = np.empty((n, size, size, 3), np.float64)
    for i in range(n):
        a, b, c = rng.uniform(-1, 1, (3, 3))
        cx, cy, r = rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8), rng.uniform(0.1, 0.3)
        blob = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r * r))
        for ch in range(3):
            imgs[i, :, :, ch] = 0.5 + 0.6 * (a[ch] * (xx - 0.5) + b[ch] * (yy - 0.5)) + 0.4 * c[ch] * blob
    return np.clip(np.rint(imgs * 255), 0, 255).astype(np.uint8)


@pytest.fixture(scope="session")
def npz_pair(tmp_path_factory):
    d = tmp_path_factory.mktemp("data")
    train, val = d / "train.npz", d / "val.npz"
    np.savez(train, images=smooth_images(512, seed=0), labels=np.arange(512) % 10)
    np.savez(val, images=smooth_images(64, seed=1))
    return str(train), str(val)
