"""A bundle holding only the shipped semantic codec v2 (``models/semcod_32``'s ``semantic2_*``
roles, copied, sha256-checked on load), and labelled images its machine receiver can learn."""
import json
import shutil
from pathlib import Path

import numpy as np

from gr_semcod.runtime.bundle import MANIFEST, write_manifest

SHIPPED = Path(__file__).resolve().parents[2] / "models" / "semcod_32"
V2_ROLES = ("semantic2_encoder", "semantic2_merger", "semantic2_decoder")


def v2_bundle_copy(out: Path) -> Path:
    """``out`` = a writable bundle with the shipped v2 roles only (no classifier)."""
    out.mkdir(parents=True, exist_ok=True)
    m = json.loads((SHIPPED / MANIFEST).read_text())
    m["models"] = {r: m["models"][r] for r in V2_ROLES}
    for r in V2_ROLES:
        shutil.copy(SHIPPED / m["models"][r]["file"], out / m["models"][r]["file"])
    m["meta"] = {k: v for k, v in m.get("meta", {}).items() if k != "runs"}
    m.pop("semantic2_classifier", None)
    write_manifest(out, m)
    return out


def labelled_images(n: int, classes: int = 4, size: int = 32, seed: int = 0):
    """uint8 ``n x size x size x 3`` and labels: a bright shape on black (as Fashion-MNIST is),
    the class = its shape (0 a horizontal bar, 1 a vertical bar, 2 a square, 3 a frame), placed
    and sized at random -- a task for the layout of the latent, not for colour alone."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    x = np.zeros((n, size, size, 3), np.float64)
    for i, c in enumerate(labels):
        s = int(rng.integers(size // 2, size - 4))
        r, q = rng.integers(0, size - s, 2)
        v = rng.uniform(0.6, 1.0)
        box = np.zeros((s, s))
        if c == 0:
            box[s // 3:2 * s // 3] = 1
        elif c == 1:
            box[:, s // 3:2 * s // 3] = 1
        elif c == 2:
            box[:] = 1
        else:
            box[:] = 1
            box[s // 4:s - s // 4, s // 4:s - s // 4] = 0
        x[i, r:r + s, q:q + s] = (v * box)[..., None]
    x += rng.normal(0, 0.02, x.shape)
    return (np.clip(x, 0, 1) * 255).astype(np.uint8), labels.astype(np.int64)
