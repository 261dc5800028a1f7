"""``semcod bench sideinfo``: bit error rate of the side-information schemes
(:mod:`gr_semcod.runtime.side_info`) over AWGN, to check or regenerate their SNR thresholds, and
(``--frames N``) the failure rate of the semantic codec v2's real side-information frame
(:func:`gr_semcod.runtime.semantic2.side_vector` / :func:`~gr_semcod.runtime.semantic2.read_side`:
head + tree block + CRCs, interleaved, head spread over the photo's vector) over AWGN and block
Rayleigh, for ``--flag-bits`` flags inside a vector of ``--payload`` token symbols.

Last lines: ``side_ber_<scheme>_<snr>db=<BER>`` (0 means no error in ``--bits`` bits, i.e.
BER below about ``3 / bits`` at 95 % confidence; ``--bits 0`` skips it), ``side_fer_<scheme>_<channel>_<snr>db=<rate>``
and ``side_decode_ms_<scheme>_<channel>_<snr>db=<ms>`` (mean time to decode one frame's side information).
``--schemes`` measures schemes that are not on the ladder (any of ``side_info.SIDE_CANDIDATES``, e.g. the
rate-matched ``qpsk_r1-2_ldpc_x4-3``: 4 code bits on air per 3).
"""
from __future__ import annotations


def add_arguments(p):
    p.add_argument("--bits", type=int, default=20000, help="information bits per point")
    p.add_argument("--snr", nargs="+", type=float, default=[-1, 0, 1, 3, 4, 5, 6])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--frames", type=int, default=0, help="side-information frames per point (0: BER only)")
    p.add_argument("--flag-bits", type=int, default=2000, help="flag bits per frame (a 768x480 photo at 1/48: ~2200)")
    p.add_argument("--payload", type=int, default=16000, help="token symbols after the side information")
    p.add_argument("--channel", nargs="+", default=["awgn", "rayleigh"], choices=["awgn", "rayleigh"])
    p.add_argument("--schemes", nargs="+", default=None,
                   help="schemes to measure, by name (side_info.SIDE_CANDIDATES; default: the ladder SIDE_MCS)")


def frame_failure_rate(mcs, snr_db: float, channel: str, n_flags: int, n_payload: int, frames: int,
                       seed: int = 0, times=None) -> float:
    """Fraction of side-information frames whose head check or tree CRC fails (random flags and
    Gaussian token symbols; block Rayleigh of 16 symbols with MMSE equalisation, the evaluation's).
    ``times`` (a list), when given, receives the wall-clock seconds of each frame's decoding."""
    import time

    import numpy as np

    from ..runtime.channels import awgn, rayleigh
    from ..runtime.semantic2 import SideInfoError, read_side, side_vector

    rng = np.random.default_rng(seed)
    fails = 0
    for _ in range(frames):
        flags = rng.integers(0, 2, n_flags).astype(np.uint8)
        payload = ((rng.standard_normal(n_payload) + 1j * rng.standard_normal(n_payload)) / np.sqrt(2))
        z = side_vector(flags, int(rng.integers(0, 64)), mcs, payload.astype(np.complex64))[None]
        if channel == "awgn":
            y, nv = awgn(z, snr_db, rng), np.full(z.shape, 10 ** (-snr_db / 10))
        else:
            y, nv = rayleigh(z, snr_db, 16, rng)
        t0 = time.perf_counter()
        try:
            got, _, _ = read_side(y[0], 1.0 / np.maximum(nv[0], 1e-12), mcs, n_flags)
            fails += int(not np.array_equal(got, flags))  # a CRC that passed on wrong bits (should be ~0)
        except SideInfoError:
            fails += 1
        if times is not None:
            times.append(time.perf_counter() - t0)
    return fails / max(frames, 1)


def run(args) -> int:
    import numpy as np

    from ..runtime.side_info import SIDE_MCS, bit_error_rate, candidate, side_mcs

    def used(mcs, snr, channel="awgn"):
        return side_mcs(snr, fading=channel == "rayleigh", n_flags=args.flag_bits).name == mcs.name

    schemes = SIDE_MCS if not args.schemes else [candidate(n) for n in args.schemes]
    lines = []
    for mcs in schemes if args.bits > 0 else ():
        for snr in args.snr:
            ber = bit_error_rate(mcs, snr, args.bits, args.seed)
            use = "  (used)" if used(mcs, snr) else ""
            print(f"{mcs.name}: beta {mcs.beta:g} symbols/bit, {snr:g} dB: BER {ber:.2e} ({args.bits} bits){use}", flush=True)
            lines.append(f"side_ber_{mcs.name}_{snr:g}db={ber:.3g}")
    if args.frames > 0:
        for mcs in schemes:
            for channel in args.channel:
                for snr in args.snr:
                    times = []
                    fer = frame_failure_rate(mcs, snr, channel, args.flag_bits, args.payload, args.frames, args.seed,
                                             times)
                    use = "  (used)" if used(mcs, snr, channel) else ""
                    print(f"{mcs.name}: {channel} {snr:g} dB: side-info frame failures {fer:.3f} "
                          f"({args.frames} frames of {args.flag_bits} flag bits, decoding {1e3 * np.mean(times):.1f} "
                          f"ms mean, {1e3 * np.max(times):.1f} ms max){use}", flush=True)
                    lines.append(f"side_fer_{mcs.name}_{channel}_{snr:g}db={fer:.3g}")
                    lines.append(f"side_decode_ms_{mcs.name}_{channel}_{snr:g}db={1e3 * np.mean(times):.3g}")
    print("\n".join(lines))
    return 0
