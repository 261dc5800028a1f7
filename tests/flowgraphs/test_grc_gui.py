"""GNU Radio Companion opens every flowgraph (under Xvfb): no missing block, no error, a left-to-right
layout without overlapping blocks -- what a user sees after `make setup`."""
import os
import shutil
import subprocess
import warnings
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
FLOWGRAPHS = sorted((REPO / "flowgraphs").glob("*.grc"))
HAS_GTK = any(Path("/usr/lib").glob("*/girepository-1.0/Gtk-3.0.typelib"))

pytestmark = [
    pytest.mark.skipif(shutil.which("xvfb-run") is None, reason="xvfb-run not installed (make setup installs xvfb)"),
    pytest.mark.skipif(not HAS_GTK, reason="gir1.2-gtk-3.0 not installed (make setup installs it)"),
]


def open_in_grc(fg: Path):
    env = dict(os.environ, GRC_BLOCKS_PATH=str(REPO / "grc"), PYTHONPATH=str(REPO))
    res = subprocess.run(["xvfb-run", "-a", sys.executable, str(Path(__file__).with_name("grc_open.py")), str(fg)],
                         capture_output=True, text=True, timeout=180, env=env, cwd=REPO)
    return res.returncode, res.stdout + res.stderr


@pytest.mark.parametrize("fg", FLOWGRAPHS, ids=[f.name for f in FLOWGRAPHS])
def test_grc_opens_the_flowgraph_cleanly(fg):
    rc, log = open_in_grc(fg)
    if rc in (139, -11) and f"CHECKED {fg}" not in log.splitlines():
        # GTK under Xvfb segfaulted (seen once in CI, after ">>> Done"): one more try; a flowgraph
        # that really crashes GRC crashes it again and fails below
        warnings.warn(f"GRC segfaulted (rc={rc}) on {fg.name} after loading; trying once more")
        rc, log = open_in_grc(fg)
    lines = log.splitlines()
    assert f'Loading: "{fg}"' in log and ">>> Done" in log, log[-3000:]
    assert f"CHECKED {fg}" in lines, f"GRC did not finish loading {fg.name} (rc={rc}):\n{log[-3000:]}"
    bad = [ln for ln in lines if ln.startswith(("MISSING", "ERROR", "OVERLAP", "UNDRAWN"))
           or "Traceback" in ln or ">>> Error" in ln or "[ERROR]" in ln]
    assert not bad, "\n".join(bad)
    assert rc == 0, log[-3000:]

    # left to right: every connection goes from a block to one further right -- except the feedback
    # of the digital link reports (into a transmitter's ``snr`` port), which by nature goes back
    boxes = {}
    for ln in lines:
        if ln.startswith("BLOCK "):
            _, _, name, x0, y0, x1, y1 = ln.split()
            boxes[name] = (int(x0), int(y0), int(x1), int(y1))
    conns = yaml.safe_load(fg.read_text()).get("connections", [])
    assert conns
    for src, _, dst, port in conns:
        if port == "snr":
            assert boxes[dst][2] <= boxes[src][0], f"{fg.name}: feedback {src} -> {dst} does not go back"
            continue
        assert boxes[src][2] <= boxes[dst][0], f"{fg.name}: {src} {boxes[src]} is not left of {dst} {boxes[dst]}"


def test_gnuradio_companion_itself_loads_every_flowgraph():
    """The installed `gnuradio-companion` command, all flowgraphs at once: each is loaded, nothing
    in its log is an error (stopped once the last one is loaded)."""
    import time

    exe = shutil.which("gnuradio-companion")
    if exe is None:
        pytest.skip("gnuradio-companion not installed")
    env = dict(os.environ, GRC_BLOCKS_PATH=str(REPO / "grc"), PYTHONPATH=str(REPO))
    log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"grc_{os.getpid()}.log"
    with open(log_path, "w") as log:
        p = subprocess.Popen(["xvfb-run", "-a", sys.executable, exe, *map(str, FLOWGRAPHS)], stdout=log,
                             stderr=subprocess.STDOUT, env=env, cwd=REPO, start_new_session=True)
        try:
            t0 = time.monotonic()
            while time.monotonic() - t0 < 120 and log_path.read_text().count(">>> Done") < len(FLOWGRAPHS):
                if p.poll() is not None:
                    break
                time.sleep(0.5)
            time.sleep(1.0)  # anything GRC prints right after loading
        finally:
            if p.poll() is None:
                os.killpg(p.pid, 15)
            p.wait(timeout=30)
    text = log_path.read_text()
    log_path.unlink()
    for fg in FLOWGRAPHS:
        assert f'Loading: "{fg}"' in text, text[-3000:]
    assert text.count(">>> Done") == len(FLOWGRAPHS), text[-3000:]
    bad = [ln for ln in text.splitlines() if any(w in ln for w in ("Error", "Traceback", "not found", "Warning"))]
    assert not bad, "\n".join(bad)
