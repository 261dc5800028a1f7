"""``semcod bench floor``: how well mode ``auto``'s one simulated draw decides between the merged
photo and the Deep JSCC floor (:func:`gr_semcod.runtime.semantic2.encode_auto`), against other rules.

Per photo of ``--data`` and per ``--cbr`` x ``--snr`` (AWGN): both candidates are coded once; the
transmitter's view is ``--sim-draws`` draws of its own (:func:`~gr_semcod.runtime.semantic2._simulate`,
seeds ``FLOOR_SEED + j``; ``j = 0`` is what ``auto`` uses), the truth ``--draws`` independent
channel draws (the evaluation's seeding, ``seed + 1000 * photo + draw``).  ``G`` = PSNR of the
merged photo minus the floor's.  A rule "mean of ``K`` simulated ``G`` > ``margin``" sends the merged
photo, else the floor; its score is the mean over photos (and over the ``K``-subsets of the
simulated draws) of the true ``G`` when merged, 0 at the floor: the gain over always sending the floor.
Its loss is the same mean of ``min(G, 0)`` (what merging costs where the floor was the better), the
measure of "never below Deep JSCC".

Mode ``auto``'s own rule is the sequential one (:func:`~gr_semcod.runtime.semantic2.floor_decision`:
the draws in order, stopping when their mean is clear; with ``--sim-draws`` 5, ``FLOOR_DRAWS``, it is
``encode_auto``'s decision exactly): ``floor_rule_<cbr>_<snr>db_auto``, ``floor_loss_..._auto`` and
``floor_draws_..._auto`` (the mean number of draws it took); ``floor_seconds_candidates_...`` and
``floor_seconds_auto_...``: the encoder's time per photo for the two candidates alone and for mode
``auto`` as sent (the candidates and the decision's draws), with ``--threads``.

Last lines: ``floor_rule_<cbr>_<snr>db_k<K>_margin<m>=<dB>`` and ``floor_loss_<cbr>_<snr>db_k<K>_margin<m>=<dB>``
per rule, ``floor_always_merged_...`` (the mean true ``G``) and ``floor_oracle_...`` (merged where its true
mean ``G`` > 0).
"""
from __future__ import annotations


def add_arguments(p):
    from .common import add_photo_arguments

    add_photo_arguments(p, cbr=("1/12",))
    p.add_argument("--sim-draws", type=int, default=5, help="transmitter draws per photo (the rules use 1..this many)")
    p.add_argument("--draws", type=int, default=3, help="channel draws per photo that score a decision")
    p.add_argument("--margins", nargs="+", type=float, default=[0.0, 0.02, 0.05, 0.1],
                   help="dB the merged photo must win by on the transmitter's draws")


def _gain(bundle, img, cands, received, failed_is_inf=False):
    """``G`` (dB) of the merged photo over the floor for one received pair of vectors.  A photo whose
    side information fails counts as an error of 1, as bad as can be (the truth), or, with
    ``failed_is_inf`` (the transmitter's draws), gives ``-inf`` as :func:`floor_gain` does for ``auto``."""
    from ..runtime.semantic2 import candidate_error, floor_gain

    err = [candidate_error(bundle, img, tx, y, nv, snr) for (_, tx), (y, nv, snr) in zip(cands, received)]
    return floor_gain(*err) if failed_is_inf else floor_gain(*[min(e, 1.0) for e in err])


def run(args) -> int:
    import itertools
    import time

    import numpy as np

    from ..evaluation.pipeline import through_channel
    from ..runtime.bundle import Bundle
    from ..runtime.channels import complex_to_iq, iq_to_complex
    from ..runtime.semantic2 import (FLOOR_MIN_DRAWS, FLOOR_SEED, _simulate, encode_auto, encode_floor, encode_photo,
                                     floor_decision)
    from .common import read_photos

    if args.sim_draws < 1 or args.draws < 1:
        raise SystemExit("--sim-draws and --draws must be at least 1")
    bundle = Bundle.load(args.bundle, **({"intra_op_threads": args.threads} if args.threads else {}))
    photos = read_photos(args.data, args.limit)
    lines = []
    for cbr in args.cbr:
        for snr in args.snr:
            sims, truths, seconds = [], [], {"candidates": [], "auto": []}
            for i, (f, img) in enumerate(photos):
                t0 = time.perf_counter()
                cands = [encode_photo(bundle, img, cbr, snr, "photo"), encode_floor(bundle, img, cbr)]
                seconds["candidates"].append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                encode_auto(bundle, img, cbr, snr)
                seconds["auto"].append(time.perf_counter() - t0)
                sim = [_gain(bundle, img, cands, [(*_simulate(s, snr, False, FLOOR_SEED + j), snr) for s, _ in cands],
                             failed_is_inf=True) for j in range(args.sim_draws)]
                true = []
                for d in range(args.draws):
                    rx = []
                    for s, _ in cands:
                        y, nv = through_channel(complex_to_iq(s)[None], "awgn", snr, args.seed + 1000 * i + d,
                                                return_noise=True)
                        rx.append((iq_to_complex(y)[0], nv[0], snr))
                    true.append(_gain(bundle, img, cands, rx))
                sims.append(sim)
                truths.append(float(np.mean(true)))
                print(f"{f}: {cbr} {snr:g} dB, G simulated {' '.join(f'{g:+.3f}' for g in sim)}, "
                      f"true {' '.join(f'{g:+.3f}' for g in true)} dB", flush=True)
            tag = f"{cbr.replace('/', '-')}_{snr:g}db"
            truths = np.array(truths)
            for k in range(1, args.sim_draws + 1):
                for m in args.margins:
                    merged = np.array([[np.mean(np.maximum([s[j] for j in sub], -100.0)) > m
                                        for sub in itertools.combinations(range(args.sim_draws), k)] for s in sims])
                    score = np.mean(merged.mean(1) * truths)
                    loss = np.mean(merged.mean(1) * np.minimum(truths, 0.0))
                    lines.append(f"floor_rule_{tag}_k{k}_margin{m:g}={score:+.4f}")
                    lines.append(f"floor_loss_{tag}_k{k}_margin{m:g}={loss:+.4f}")
            auto = [floor_decision(s, args.sim_draws, min(FLOOR_MIN_DRAWS, args.sim_draws)) for s in sims]
            merged = np.array([m for m, _ in auto], float)
            lines.append(f"floor_rule_{tag}_auto={np.mean(merged * truths):+.4f}")
            lines.append(f"floor_loss_{tag}_auto={np.mean(merged * np.minimum(truths, 0.0)):+.4f}")
            lines.append(f"floor_draws_{tag}_auto={np.mean([len(d) for _, d in auto]):.2f}")
            lines.append(f"floor_always_merged_{tag}={truths.mean():+.4f}")
            for key, t in seconds.items():  # encoder time per photo: both candidates, then mode auto as sent
                lines.append(f"floor_seconds_{key}_{tag}={np.mean(t):.2f}")
            lines.append(f"floor_oracle_{tag}={np.maximum(truths, 0).mean():+.4f}")
    print("\n".join(lines))
    return 0
