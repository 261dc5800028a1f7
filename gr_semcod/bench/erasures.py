"""``semcod bench erasures``: what a lost PHY fragment costs the semantic codec v2 on whole
photos, with erased token symbols decoded as zeros against filled from their received neighbours
(:mod:`gr_semcod.runtime.latent_fill`).

Per photo of ``--data``, per ``--cbr`` x ``--snr`` (AWGN), the photo is coded once, a contiguous
``--lost`` fraction of its symbol vector (one PHY fragment's worth) is erased at ``--positions``
random places (``--seed``), and each is decoded without and with the fill.

Last lines: ``erasure_psnr_<mode>_<cbr>_<snr>db=<dB>`` for ``mode`` in ``clean`` (nothing lost),
``zeros`` and ``fill`` (means over photos and positions), ``erasure_fill_gain_<cbr>_<snr>db`` and
``erasure_fill_worst_<cbr>_<snr>db`` (mean and smallest fill - zeros, dB).
"""
from __future__ import annotations


def add_arguments(p):
    from .common import add_photo_arguments

    add_photo_arguments(p)
    p.add_argument("--lost", type=float, default=1 / 90, help="fraction of the vector lost, contiguous")
    p.add_argument("--positions", type=int, default=2, help="lost-fragment positions per photo and point")


def run(args) -> int:
    import numpy as np

    from ..evaluation.fullsize import _score
    from ..runtime.bundle import Bundle
    from ..runtime.channels import awgn
    from ..runtime.semantic2 import decode_photo, encode_photo
    from .common import read_photos

    if not 0 < args.lost < 1:
        raise SystemExit(f"--lost must be in (0, 1), got {args.lost}")
    if args.positions < 1:
        raise SystemExit(f"--positions must be at least 1, got {args.positions}")
    bundle = Bundle.load(args.bundle, **({"intra_op_threads": args.threads} if args.threads else {}))
    photos = read_photos(args.data, args.limit)
    rng = np.random.default_rng(args.seed)
    lines = []
    for cbr in args.cbr:
        for snr in args.snr:
            rows = []
            for f, img in photos:
                ref = img.astype(np.float32) / 255
                sym, tx = encode_photo(bundle, img, cbr, snr)
                y = awgn(sym[None], snr, rng)[0]
                clean = _score(ref, decode_photo(bundle, y, *img.shape[:2], snr, mcs=tx["mcs"])[0])["psnr"]
                n_lost = max(1, int(round(args.lost * sym.size)))
                for a in rng.integers(0, sym.size - n_lost, args.positions):
                    lost = np.zeros(sym.size, bool)
                    lost[a:a + n_lost] = True
                    out = []
                    for fill in (False, True):
                        rec, info = decode_photo(bundle, y, *img.shape[:2], snr, erasures=lost, mcs=tx["mcs"], fill=fill)
                        out.append(_score(ref, rec)["psnr"] if info["ok"] else np.nan)
                    rows.append([clean] + out)
                    print(f"{f}: {cbr} {snr:g} dB, symbols {a}..{a + n_lost} of {sym.size} lost: clean {clean:.2f}, "
                          f"zeros {out[0]:.2f}, fill {out[1]:.2f} dB", flush=True)
            v = np.array(rows)
            failed = int(np.isnan(v[:, 1:]).any(1).sum())
            if failed:
                print(f"{cbr} {snr:g} dB: side information failed on {failed} of {len(v)} (left out of the means)")
            v = v[~np.isnan(v).any(1)]
            tag = f"{cbr.replace('/', '-')}_{snr:g}db"
            for i, mode in enumerate(("clean", "zeros", "fill")):
                lines.append(f"erasure_psnr_{mode}_{tag}={v[:, i].mean():.2f}")
            lines.append(f"erasure_fill_gain_{tag}={(v[:, 2] - v[:, 1]).mean():.2f}")
            lines.append(f"erasure_fill_worst_{tag}={(v[:, 2] - v[:, 1]).min():.2f}")
    print("\n".join(lines))
    return 0
