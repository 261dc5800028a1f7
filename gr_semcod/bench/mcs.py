"""``semcod bench mcs``: the SNR thresholds of the digital link's MCS table, measured.

For every MCS (commpy QAM x 802.16e LDPC, :mod:`gr_semcod.baselines.mcs`) and channel: the
lowest SNR (0.25 dB grid, bisection) at which ``--trials`` codewords decode with codeword error
rate <= ``--target``, plus ``--margin``; ``multipath`` (the demo's 3-tap channel over the OFDM
data carriers) gives it as the MIESM effective SNR (:mod:`gr_semcod.baselines.esm`), to compare
with AWGN.  ``--write`` regenerates ``gr_semcod/baselines/mcs_table.py`` (the table
:func:`~gr_semcod.baselines.mcs.select_mcs` uses) and ``gr_semcod/baselines/esm_table.py`` (the
BICM mutual-information curves of the effective SNR).  Last lines:
``mcs_threshold_<channel>_<name>_db=<value>``.

``--loopback``: instead, the digital codec through the headless loopback flowgraph (OFDM PHY,
``--snr``, ``--multipath``) on ``--images`` images, ``--mode`` fixed or -1 (the reports choose):
per image the MCS sent, whether it arrived, and the receiver's link report (mean SNR,
``noise_scale``, effective SNR of every MCS) -- the numbers behind docs/digital.md's account of
the 3-tap channel.  Last line: ``loopback_delivered=<n>/<sent>``.
"""
from __future__ import annotations

import time
from pathlib import Path


def add_arguments(p):
    p.add_argument("--channel", nargs="+", default=["awgn", "rayleigh"], choices=["awgn", "rayleigh", "multipath"])
    p.add_argument("--trials", type=int, default=200, help="codewords per SNR point")
    p.add_argument("--target", type=float, default=0.01, help="codeword error rate at the threshold")
    p.add_argument("--margin", type=float, default=0.5, help="dB added to the measured point")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--write", action="store_true", help="rewrite gr_semcod/baselines/mcs_table.py")
    p.add_argument("--loopback", action="store_true", help="run the loopback flowgraph and print the link reports")
    p.add_argument("--snr", type=float, default=20.0, help="--loopback: channel SNR (dB)")
    p.add_argument("--multipath", type=int, default=1, help="--loopback: 0 = AWGN, 1 = the 3-tap channel")
    p.add_argument("--images", type=int, default=8, help="--loopback: images (32x32 demo images, or --data)")
    p.add_argument("--data", default="flowgraphs/images", help="--loopback: images or photos")
    p.add_argument("--cbr", default="1/2", help="--loopback: CBR")
    p.add_argument("--mode", type=int, default=-1, help="--loopback: fixed MCS index (-1: from the reports)")
    p.add_argument("--rate", type=float, default=2.0, help="--loopback: images per second")


def render(thresholds, args) -> str:
    lines = ['"""MCS SNR thresholds (Es/N0, dB) per channel, written by', "",
             f"    semcod bench mcs --channel {' '.join(thresholds)} --trials {args.trials} --target {args.target:g} "
             f"--margin {args.margin:g} --seed {args.seed} --write", "",
             "(codeword error rate <= target on a 0.25 dB grid, plus the margin; Rayleigh: block fading of",
             "16 symbols, zero-forcing with known gains, exact LLRs; multipath: the 3-tap channel on the OFDM",
             'data carriers, the threshold as MIESM effective SNR).  Do not edit by hand."""',
             "THRESHOLDS_DB = {"]
    for ch, th in thresholds.items():
        lines.append(f"    {ch!r}: {{" + ", ".join(f"{n!r}: {v:.2f}" for n, v in th.items()) + "},")
    lines.append("}")
    return "\n".join(lines) + "\n"


def run_loopback(args) -> int:
    """The digital codec through the loopback flowgraph; every link report printed (see the module docstring)."""
    import numpy as np
    from gnuradio import blocks

    from .. import demo
    from ..baselines import mcs as M
    from ..pdu import meta_to_python

    cls = demo.compile_flowgraph(demo.FLOWGRAPH, Path("out") / "bench_mcs" / "build")
    tb = cls(bundle="models/semcod_32", data=args.data, cbr=args.cbr, codec="digital", snr_db=float(args.snr),
             multipath=int(args.multipath), seed=args.seed + 1, limit=int(args.images), outdir="", csv_path="",
             tag="", linger=30.0, source_codec="jpeg", rate=float(args.rate))
    if args.mode >= 0:
        tb.semcod_tx_0.stages[-1].set_mode(int(args.mode))
    reports = blocks.message_debug()
    tb.msg_connect(tb.semcod_rx_0, "snr", reports, "store")
    tb.start()
    tb.wait()
    sink = tb.semcod_image_sink_0
    names = [m.name for m in M.MCS_TABLE]
    print(f"loopback: {args.images} images, CBR {args.cbr}, {'3-tap' if args.multipath else 'AWGN'} {args.snr:g} dB, "
          f"mode {args.mode}")
    print("report | mean SNR (dB) | noise_scale | effective SNR (dB): " + " / ".join(names))
    for i in range(reports.num_messages()):
        r = meta_to_python(reports.get_message(i))
        eff = " / ".join(f"{v:.2f}" for v in np.ravel(r.get("eff_snr_db", [np.nan] * len(names))))
        print(f"{i} | {r.get('snr_db', float('nan')):.2f} | {r.get('noise_scale', float('nan')):.3f} | {eff}")
    s = sink.summary(final=True)
    print(sink.summary_line(final=True))
    print(f"loopback_delivered={s['received']}/{s['sent']}")
    return 0


def run(args) -> int:
    from ..baselines import mcs as M

    if args.loopback:
        return run_loopback(args)

    out = {}
    for ch in args.channel:
        out[ch] = {}
        for m in M.mcs_table("awgn"):
            t0 = time.time()
            out[ch][m.name] = M.threshold(m, ch, args.target, args.margin, args.trials, rng=args.seed)
            print(f"{ch} {m.name} ({m.code.name}): {out[ch][m.name]:.2f} dB ({time.time() - t0:.0f} s)", flush=True)
    if args.write:
        path = Path(M.__file__).with_name("mcs_table.py")
        from ..baselines.mcs_table import THRESHOLDS_DB

        merged = {ch: dict(THRESHOLDS_DB.get(ch, {})) for ch in M.CHANNELS}
        for ch, th in out.items():
            merged[ch] = th
        path.write_text(render(merged, args))
        print(f"wrote {path}")
        from ..baselines import esm

        path = Path(esm.__file__).with_name("esm_table.py")
        path.write_text(esm.render_table())
        print(f"wrote {path}")
    for ch, th in out.items():
        for n, v in th.items():
            print(f"mcs_threshold_{ch}_{n}_db={v:.2f}")
    return 0
