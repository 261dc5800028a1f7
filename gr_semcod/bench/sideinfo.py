"""``semcod bench sideinfo``: bit error rate of the side-information schemes
(:mod:`gr_semcod.runtime.side_info`) over AWGN, to check or regenerate their SNR thresholds.

Last lines: ``side_ber_<scheme>_<snr>db=<BER>`` (0 means no error in ``--bits`` bits, i.e.
BER below about ``3 / bits`` at 95 % confidence).
"""
from __future__ import annotations


def add_arguments(p):
    p.add_argument("--bits", type=int, default=20000, help="information bits per point")
    p.add_argument("--snr", nargs="+", type=float, default=[-1, 0, 1, 3, 4, 5, 6])
    p.add_argument("--seed", type=int, default=0)


def run(args) -> int:
    from ..runtime.side_info import SIDE_MCS, bit_error_rate

    lines = []
    for mcs in SIDE_MCS:
        for snr in args.snr:
            ber = bit_error_rate(mcs, snr, args.bits, args.seed)
            use = "  (used)" if snr >= mcs.min_snr_db and all(snr < m.min_snr_db for m in SIDE_MCS if m.min_snr_db > mcs.min_snr_db) else ""
            print(f"{mcs.name}: beta {mcs.beta:g} symbols/bit, {snr:g} dB: BER {ber:.2e} ({args.bits} bits){use}", flush=True)
            lines.append(f"side_ber_{mcs.name}_{snr:g}db={ber:.3g}")
    print("\n".join(lines))
    return 0
