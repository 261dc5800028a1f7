"""Small deterministic test images (no shared data): smooth gradients, edges and some texture."""
import numpy as np


def photo_like(h: int = 48, w: int = 64, seed: int = 0) -> np.ndarray:
    """uint8 ``h x w x 3``: a colour gradient, a disc, a stripe pattern and mild noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.stack([40 + 150 * x / w, 60 + 120 * y / h, 200 - 100 * (x + y) / (h + w)], -1)
    disc = (y - h * 0.55) ** 2 + (x - w * 0.4) ** 2 < (min(h, w) * 0.25) ** 2
    img[disc] = [220, 60, 50]
    img[: h // 4, w // 2:] += 40 * np.sin(x[: h // 4, w // 2:] * 1.3)[..., None]
    img += rng.normal(0, 4, img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def batch(n: int = 4, h: int = 32, w: int = 32) -> np.ndarray:
    return np.stack([photo_like(h, w, seed=i) for i in range(n)])
