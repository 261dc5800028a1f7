"""Process fault tests of the ZMQ split (loopback only, bounded): the transmitter, channel and
receiver run as three OS processes (``split_process.py``); one of them is killed with SIGKILL,
as a crash, and started again.  Traffic resumes, and every image the transmitter sent is
received, counted lost by the receiver's id ledger, or was inside the killed process: the loss
is what was in flight.  (``test_faults.py`` does the same with three flowgraphs in one process,
plus junk and rogue peers.)"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import REPO, free_port

pytestmark = pytest.mark.gnuradio
SCRIPT = Path(__file__).with_name("split_process.py")
NEW_RUN_ID = 30000


def _read(path):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def wait_until(cond, timeout=60.0):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if cond():
            return True
        time.sleep(0.1)
    return cond()


class Part:
    """One OS process of the split; ``state()`` is what it last wrote (JSON, every 0.1 s)."""

    def __init__(self, tmp, role, a1, a2, bundle, images, start_id=0, tag=""):
        self.role, self.state_file = role, str(tmp / f"{role}{tag}.json")
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
        self.log = open(tmp / f"{role}{tag}.log", "w")
        self.proc = subprocess.Popen([sys.executable, str(SCRIPT), role, "--a1", a1, "--a2", a2, "--state",
                                      self.state_file, "--bundle", bundle, "--images", images,
                                      "--start-id", str(start_id)], env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def state(self):
        return _read(self.state_file)

    def kill(self, sig=signal.SIGKILL):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()


def n_images(part):
    s = part.state()
    return s["n_images"] if s else 0


@pytest.fixture
def procs(tmp_path, linear_bundle, image_dir):
    a1, a2 = f"tcp://127.0.0.1:{free_port()}", f"tcp://127.0.0.1:{free_port()}"
    mk = lambda role, **kw: Part(tmp_path, role, a1, a2, linear_bundle, image_dir, **kw)  # noqa: E731
    parts = {"rx": mk("rx"), "channel": mk("channel"), "tx": mk("tx"), "mk": mk}
    yield parts
    for k in ("tx", "channel", "rx", "old_rx"):
        if k in parts:
            parts[k].kill(signal.SIGTERM)


def drained(rx, tx, quiet=3.0):
    """Stop the (live) transmitter's source; wait until the receiver got everything on its way;
    returns (images the transmitter sent, the receiver's last state)."""
    Path(tx.state_file + ".stop").touch()
    assert wait_until(lambda: (tx.state() or {}).get("stopped"), 30)
    last = [n_images(rx), time.monotonic()]

    def quiet_now():
        n = n_images(rx)
        if n != last[0]:
            last[:] = [n, time.monotonic()]
        return time.monotonic() - last[1] > quiet

    assert wait_until(quiet_now, 60)
    return tx.state()["sent"], rx.state()


def final(state):
    """The ledger at the end of the run: ids still missing are lost (``summary(final=True)``)."""
    s = state["summary"]
    return s["received"], s["lost"] + s["in_flight"]


@pytest.mark.parametrize("victim", ["channel", "rx", "tx"])
def test_kill_process_and_restart(procs, victim):
    rx = procs["rx"]
    assert wait_until(lambda: n_images(rx) >= 8, 90), "no traffic before the fault"
    procs[victim].kill()  # SIGKILL: no clean shutdown, sockets die with the process
    time.sleep(1.0)
    if victim == "tx":
        old = rx.state()
        old_tx = procs["tx"].state()
        procs["tx"] = procs["mk"]("tx", start_id=NEW_RUN_ID, tag="2")
    elif victim == "rx":
        procs["old_rx"] = procs["rx"]
        procs["rx"] = rx = procs["mk"]("rx", tag="2")
    else:
        procs["channel"] = procs["mk"]("channel", tag="2")
    n0 = n_images(rx)
    assert wait_until(lambda: n_images(rx) >= n0 + 8, 90), f"traffic did not resume after killing the {victim}"
    sent, s = drained(rx, procs["tx"])
    received, lost = final(s)
    print(victim, "sent", sent, "rx", s["summary"])
    if victim == "channel":
        # one transmitter run, one receiver ledger from id 0: received or counted lost
        assert received + lost == sent, (s["summary"], sent)
        assert lost <= 8, s["summary"]  # at most what was inside the channel process (ZMQ queues the rest)
    elif victim == "rx":
        o = procs["old_rx"].state()  # the killed receiver's last state (<= 0.1 s before the kill)
        o_received, o_lost = final(o)
        in_flight = min(s["ids"]) - max(o["ids"]) - 1  # between the two ledgers: never delivered
        print("old rx", o["summary"], "in flight", in_flight)
        assert 0 <= in_flight <= 25
        assert o_received + o_lost + in_flight + received + lost == sent, (o["summary"], s["summary"], in_flight, sent)
    else:
        # the new transmitter run is complete: received or counted lost by the receiver's ledger
        assert s["restarts"] == 1
        new = [i for i in s["ids"] if i >= NEW_RUN_ID]
        old_received, old_lost = final(old)
        assert received - old_received == len(new)
        assert len(new) + (lost - old_lost) == sent, (s["summary"], sent)
        # the old run: everything up to its last received id received or counted lost; the rest
        # (at most what the killed process had queued) died with it
        last_old = max(i for i in s["ids"] if i < NEW_RUN_ID)
        in_tx = old_tx["sent"] - (last_old + 1)
        print("old tx sent >=", old_tx["sent"], "(state <= 0.1 s before the kill), last id", last_old, "in the transmitter", in_tx)
        assert old_received + old_lost == last_old + 1
        assert -3 <= in_tx <= 25  # its state file is <= 0.1 s older than the kill (1 image at 10/s)
