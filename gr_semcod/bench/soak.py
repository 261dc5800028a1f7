"""``semcod bench soak``: a long loopback run with a repeating source -- throughput, losses, RSS.

Flowgraph (the loopback of ``semcod_loopback_nogui.grc`` with a looping source): image source
(``repeat``, ``--rate`` images/s) -> semcod_tx -> OFDM TX -> burst guard -> channel (AWGN,
``--snr``) -> OFDM RX -> semcod_rx -> image sink (reference and drop accounting from the
source and the codec blocks).  Every ``--report-seconds`` (default 60) one line::

    minute 3: 600 images in 60.0 s (10.00 images/s), sent 1800, received 1800, lost 0, in flight 2, rss 412.3 MB

An image counts as lost when the sink has seen ``--window`` newer images announced before
it arrived (or a block dropped it, with its reason).  At the end: the RSS change from the
first report to the last, and the total loss.  Last lines ``soak_lost=<n>`` and
``soak_rss_change_pct=<value>``.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path


def add_arguments(p) -> None:
    p.add_argument("--bundle", default="models/semcod_32", help="model bundle (default %(default)s)")
    p.add_argument("--data", default=None, help="images (default: the shipped demo images)")
    p.add_argument("--minutes", type=float, default=30.0, help="duration (default %(default)s)")
    p.add_argument("--rate", type=float, default=10.0, help="images per second (default %(default)s)")
    p.add_argument("--snr", type=float, default=10.0, help="channel SNR in dB (default %(default)s)")
    p.add_argument("--codec", default="semantic", choices=["semantic", "deepjscc"])
    p.add_argument("--cbr", default="", help="CBR (default: 1/12 if the bundle has it)")
    p.add_argument("--header-reps", type=int, default=2, help="PHY header repetitions (default %(default)s)")
    p.add_argument("--window", type=int, default=512,
                   help="an image not back after this many newer ones counts as lost (default %(default)s)")
    p.add_argument("--report-seconds", type=float, default=60.0, help="seconds between reports (default %(default)s)")
    p.add_argument("--csv", default="", help="append the per-report rows to this CSV")


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def build(args, cbr: str):
    """The soak top block; returns (tb, source, sink)."""
    from gnuradio import gr

    from ..blocks import burst_guard, image_sink, image_source, semcod_rx, semcod_tx
    from ..demo import DEFAULT_DATA
    from ..phy.channel import channel
    from ..phy.ofdm_analog_rx import ofdm_analog_rx
    from ..phy.ofdm_analog_tx import ofdm_analog_tx

    tb = gr.top_block("semcod_soak")
    tb.src = image_source(args.data or DEFAULT_DATA, 32, repeat=True, rate=float(args.rate))
    tb.tx = semcod_tx(args.bundle, cbr, args.codec)
    tb.ofdm_tx = ofdm_analog_tx(header_reps=int(args.header_reps))
    tb.guard = burst_guard(160, 160)
    tb.channel = channel(snr_db=float(args.snr), seed=1)
    tb.ofdm_rx = ofdm_analog_rx(tracking="pilots", header_reps=int(args.header_reps))
    tb.rx = semcod_rx(args.bundle, cbr, args.codec, classify=False)
    tb.sink = image_sink("", keep=int(args.window))
    tb.msg_connect(tb.src, "out", tb.tx, "in")
    tb.msg_connect(tb.tx, "out", tb.ofdm_tx, "in")
    tb.connect(tb.ofdm_tx, tb.guard, tb.channel, tb.ofdm_rx)
    tb.msg_connect(tb.ofdm_rx, "images", tb.rx, "in")
    tb.msg_connect(tb.rx, "image", tb.sink, "in")
    tb.msg_connect(tb.src, "out", tb.sink, "ref")
    tb.msg_connect(tb.tx, "drop", tb.sink, "drops")
    tb.msg_connect(tb.rx, "drop", tb.sink, "drops")
    return tb, tb.src, tb.sink


def run(args) -> int:
    from ..demo import pick_cbr
    from ..runtime import BundleError
    from ..blocks.common import get_bundle

    try:
        bundle = get_bundle(args.bundle)
    except BundleError as e:
        print(f"semcod bench soak: cannot load the bundle: {e}", file=sys.stderr)
        return 2
    cbr = pick_cbr(bundle, args.cbr, args.codec == "deepjscc")
    tb, src, sink = build(args, cbr)
    print(f"semcod bench soak: bundle {bundle.name}, codec {args.codec}, CBR {cbr}, SNR {args.snr:g} dB, "
          f"{args.rate:g} images/s for {args.minutes:g} min, report every {args.report_seconds:g} s", flush=True)
    rows = []
    tb.start()
    t0 = time.monotonic()
    end = t0 + 60.0 * float(args.minutes)
    last_t, last_rx = t0, 0
    k = 0
    try:
        while time.monotonic() < end - 1e-6:
            time.sleep(max(0.0, min(float(args.report_seconds), end - time.monotonic())))
            k += 1
            now = time.monotonic()
            s = sink.summary()
            rx = s["received"]
            row = {"report": k, "seconds": round(now - t0, 1), "images": rx - last_rx,
                   "images_per_s": (rx - last_rx) / max(now - last_t, 1e-9), "sent": s["sent"], "received": rx,
                   "lost": s["lost"], "in_flight": s["in_flight"], "rss_mb": rss_mb(),
                   "psnr_db": sink.stats["psnr_db"].value_mean()}
            rows.append(row)
            print(f"minute {row['seconds'] / 60:.1f}: {row['images']} images in {now - last_t:.1f} s "
                  f"({row['images_per_s']:.2f} images/s), sent {row['sent']}, received {rx}, lost {row['lost']}, "
                  f"in flight {row['in_flight']}, rss {row['rss_mb']:.1f} MB, mean PSNR {row['psnr_db']:.2f} dB",
                  flush=True)
            if s["lost"]:
                print(f"  lost: {s['reasons']}", flush=True)
            last_t, last_rx = now, rx
    finally:
        tb.stop()
        tb.wait()
    if args.csv:
        import csv

        path = Path(args.csv)
        path.parent.mkdir(parents=True, exist_ok=True)
        new = not path.exists()
        with open(path, "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            if new:
                w.writeheader()
            w.writerows(rows)
    first, last = rows[0]["rss_mb"], rows[-1]["rss_mb"]
    change = 100.0 * (last - first) / first
    lost = rows[-1]["lost"]
    print(f"RSS {first:.1f} MB after the first report, {last:.1f} MB at the end ({change:+.1f} %); "
          f"sent {rows[-1]['sent']}, received {rows[-1]['received']}, lost {lost} "
          f"(in flight at the end: {rows[-1]['in_flight']})")
    print(f"soak_lost={lost}")
    print(f"soak_rss_change_pct={change:.2f}")
    return 0
