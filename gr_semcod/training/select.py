"""Which checkpoint of a run to ship, chosen on the run's own validation split at several CBRs.

A training run keeps ``best.pt`` (the best validation score at the config's one evaluation CBR and
SNR) and ``ckpt.pt`` (where its schedule ended).  A receiver that serves several rates, e.g. the
semantic v2 machine receiver at CBR 1/48 and 1/12, is better chosen on all of them::

    python -m gr_semcod.training.select --config semcod2_32_cls --runs runs \\
        --checkpoints best.pt ckpt.pt --cbr 1/48 1/12 --snr 10

For each checkpoint: the score on the config's validation data (``val_data``, ``val_limit``; the
noise seeded as in training) at every CBR, and their mean; the checkpoint with the best mean is
printed last (``chosen=...``).  The score is the accuracy for a classifier (``select == "acc"``),
the PSNR otherwise.  Only validation data is read: the test split stays for the evaluation.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Dict, Sequence

import numpy as np


def score_checkpoints(name: str, runs: Path, checkpoints: Sequence[str], cbrs: Sequence[str], snr_db: float,
                      val_data=None, limit=None) -> Dict[str, Dict[str, float]]:
    """``{checkpoint: {cbr: score, ..., "mean": mean score}}`` on the validation split of ``name``."""
    from ..export.cli import load_run
    from .data import make_dataset
    from .loop import evaluate
    from .registry import get_config

    cfg = get_config(name)
    key = "acc" if cfg.select == "acc" else "psnr"
    val = make_dataset(val_data or cfg.val_data, cfg.image_size, train=False,
                       limit=cfg.val_limit if limit is None else limit)
    out: Dict[str, Dict[str, float]] = {}
    for ckpt in checkpoints:
        model, _ = load_run(Path(runs), name, ckpt)
        row = {}
        for cbr in cbrs:
            res = evaluate(model, val, snr_db, cbr=cbr, seed=cfg.seed + 1234)
            if key not in res:
                raise SystemExit(f"select: {name} gives no {key!r} (its validation data is not labelled?)")
            row[str(cbr)] = float(res[key])
        row["mean"] = float(np.mean([row[str(c)] for c in cbrs]))
        out[ckpt] = row
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m gr_semcod.training.select", description=__doc__.split("\n\n")[0])
    p.add_argument("--config", required=True, help="the run's registered config (its name)")
    p.add_argument("--runs", default="runs", help="where the runs live (<runs>/<config>/<checkpoint>)")
    p.add_argument("--checkpoints", nargs="+", default=["best.pt", "ckpt.pt"])
    p.add_argument("--cbr", nargs="+", required=True)
    p.add_argument("--snr", type=float, default=10.0)
    p.add_argument("--data-val", default=None, help="validation data (default: the config's)")
    p.add_argument("--limit", type=int, default=None, help="validation images (default: the config's val_limit)")
    p.add_argument("--threads", type=int, default=None)
    a = p.parse_args(argv)
    if a.threads:
        import torch

        torch.set_num_threads(a.threads)
    scores = score_checkpoints(a.config, Path(a.runs), a.checkpoints, a.cbr, a.snr, a.data_val, a.limit)
    for ckpt, row in scores.items():
        cells = " ".join(f"{k}={v:.4f}" for k, v in row.items())
        print(f"{a.config}/{ckpt} @ {a.snr:g} dB: {cells}")
    print(f"chosen={max(scores, key=lambda c: scores[c]['mean'])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
