"""``semcod bench mcs``: the SNR thresholds of the digital link's MCS table, measured.

For every MCS (commpy QAM x 802.16e LDPC, :mod:`gr_semcod.baselines.mcs`) and channel: the
lowest SNR (0.25 dB grid, bisection) at which ``--trials`` codewords decode with codeword error
rate <= ``--target``, plus ``--margin``; ``multipath`` (the demo's 3-tap channel over the OFDM
data carriers) gives it as the MIESM effective SNR (:mod:`gr_semcod.baselines.esm`), to compare
with AWGN.  ``--write`` regenerates ``gr_semcod/baselines/mcs_table.py`` (the table
:func:`~gr_semcod.baselines.mcs.select_mcs` uses) and ``gr_semcod/baselines/esm_table.py`` (the
BICM mutual-information curves of the effective SNR).  Last lines: ``mcs_threshold_<channel>_<name>_db=<value>``.
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


def run(args) -> int:
    from ..baselines import mcs as M

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
