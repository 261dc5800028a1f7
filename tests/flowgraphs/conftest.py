import importlib.util
import os
import socket
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FLOWGRAPHS = REPO / "flowgraphs"
GRC_DIR = REPO / "grc"

_spec = importlib.util.spec_from_file_location("_semcod_test_bundles", REPO / "tests" / "blocks" / "bundles.py")
bundles = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bundles)


def grc_env(**extra):
    env = dict(os.environ)
    env["GRC_BLOCKS_PATH"] = str(GRC_DIR)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    env.update(extra)
    return env


def grcc(grc: Path, out: Path) -> Path:
    """Compile a flowgraph; returns the generated Python file (fails the test on errors)."""
    out.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["grcc", "-o", str(out), str(grc)], env=grc_env(), capture_output=True, text=True, timeout=180)
    py = out / f"{grc.stem}.py"
    assert r.returncode == 0 and py.is_file(), f"grcc {grc.name} failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return py


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def compiled(tmp_path_factory):
    """All flowgraphs compiled once: {stem: path of the generated .py}."""
    pytest.importorskip("gnuradio.gr")
    out = tmp_path_factory.mktemp("grcc")
    return {g.stem: grcc(g, out) for g in sorted(FLOWGRAPHS.glob("*.grc"))}


@pytest.fixture(scope="session")
def linear_bundle(tmp_path_factory):
    pytest.importorskip("onnx")
    return str(bundles.build_linear_bundle(tmp_path_factory.mktemp("linear_bundle")))


@pytest.fixture(scope="session")
def image_dir(tmp_path_factory):
    """Four 32x32 two-level block patterns.  Pixels 37 or 218 give the linear test code I and Q
    of +-0.71, i.e. symbols of power 1.008: the transmitter's power normalisation is (almost) the
    identity and the received PSNR is set by the channel (~29 dB at 20 dB SNR)."""
    import numpy as np

    from gr_semcod.runtime.images import save_png

    d = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(7)
    for i in range(4):
        blocks = np.where(rng.integers(0, 2, (8, 8, 3)) > 0, 218, 37).astype(np.uint8)
        save_png(d / f"im{i}.png", np.repeat(np.repeat(blocks, 4, axis=0), 4, axis=1))
    return str(d)
