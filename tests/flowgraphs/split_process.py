"""One part of the ZMQ split as its own OS process (for the process fault tests).

    python split_process.py tx|channel|rx --a1 ADDR --a2 ADDR --state FILE [--bundle DIR]
        [--images DIR] [--start-id N]

The same blocks as the in-process parts of ``test_faults.py``.  Every 0.1 s the process writes
its state atomically to ``--state`` (JSON; tx: images sent; rx: the sink's ledger and the ids
received), so a test can read what a process had done when it was killed with SIGKILL.  A file
``<state>.stop`` makes the transmitter's source stop emitting (end of traffic; the rest
drains).  SIGTERM ends the process cleanly.
"""
import argparse
import json
import os
import signal
import sys
import time

RATE = 10.0
REPS = 2


def _write(path, state):
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(state, f)
    os.replace(tmp, path)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("role", choices=["tx", "channel", "rx"])
    ap.add_argument("--a1", required=True)
    ap.add_argument("--a2", required=True)
    ap.add_argument("--state", required=True)
    ap.add_argument("--bundle")
    ap.add_argument("--images")
    ap.add_argument("--start-id", type=int, default=0)
    a = ap.parse_args(argv)

    from gnuradio import gr

    from gr_semcod.blocks import burst_guard, image_sink, image_source, semcod_rx, semcod_tx, zmq_sample_sink, \
        zmq_sample_source
    from gr_semcod.phy.channel import channel
    from gr_semcod.phy.ofdm_analog_rx import ofdm_analog_rx
    from gr_semcod.phy.ofdm_analog_tx import ofdm_analog_tx

    tb = gr.top_block(a.role)
    if a.role == "tx":
        tb.src = image_source(a.images, 32, repeat=True, rate=RATE, start_id=a.start_id)
        tb.enc = semcod_tx(a.bundle, "1/2")
        tb.ofdm = ofdm_analog_tx(header_reps=REPS)
        tb.guard = burst_guard(160, 160)
        tb.out = zmq_sample_sink(a.a1)
        tb.msg_connect(tb.src, "out", tb.enc, "in")
        tb.msg_connect(tb.enc, "out", tb.ofdm, "in")
        tb.connect(tb.ofdm, tb.guard, tb.out)
    elif a.role == "channel":
        tb.inp = zmq_sample_source(a.a1)
        tb.ch = channel(snr_db=20.0, seed=2)
        tb.out = zmq_sample_sink(a.a2)
        tb.connect(tb.inp, tb.ch, tb.out)
    else:
        tb.inp = zmq_sample_source(a.a2)
        tb.ofdm = ofdm_analog_rx(tracking="pilots", header_reps=REPS)
        tb.dec = semcod_rx(a.bundle, "1/2", classify=False)
        tb.sink = image_sink("", keep=512)
        tb.connect(tb.inp, tb.ofdm)
        tb.msg_connect(tb.ofdm, "images", tb.dec, "in")
        tb.msg_connect(tb.dec, "image", tb.sink, "in")

    running = [True]
    signal.signal(signal.SIGTERM, lambda *_: running.__setitem__(0, False))
    tb.start()
    stopped = False
    while running[0]:
        if a.role == "tx":
            if not stopped and os.path.exists(a.state + ".stop"):
                tb.src.stop()
                stopped = True
            _write(a.state, {"sent": tb.src.n_sent(), "stopped": stopped})
        elif a.role == "rx":
            _write(a.state, {"ids": [r["image_id"] for r in list(tb.sink.results)],
                             "n_images": tb.sink.n_images(), "restarts": tb.sink.n_restarts(),
                             "summary": tb.sink.summary(final=False)})
        else:
            _write(a.state, {"alive": True})
        time.sleep(0.1)
    tb.stop()
    tb.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
