"""``semcod export``: trained runs -> an ONNX bundle in ``models/<name>/``.

    semcod export --semantic semcod_32 --deepjscc deepjscc_32_cbr1-48 deepjscc_32_cbr1-24 \\
                  deepjscc_32_cbr1-12 deepjscc_32_cbr1-6 --runs runs --out models/semcod_32

Each run is rebuilt from its registered config and loaded from ``<runs>/<name>/best.pt``
(``weights_only``); the training summary of every run goes into the manifest's ``meta``.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--semantic", help="run name of the semantic codec (a registered config)")
    p.add_argument("--deepjscc", nargs="*", default=[], help="run names of Deep JSCC baselines (one per CBR)")
    p.add_argument("--runs", default="runs", help="where the runs live (<runs>/<name>/best.pt)")
    p.add_argument("--out", required=True, help="bundle directory, e.g. models/semcod_32")
    p.add_argument("--name", help="bundle name (default: the out directory's name)")
    p.add_argument("--checkpoint", default="best.pt", help="checkpoint file inside each run")
    p.add_argument("--tol", type=float, default=1e-4, help="max ONNX-vs-torch abs error")


def load_run(runs: Path, name: str, checkpoint: str = "best.pt"):
    """Rebuild a run's model from its config and load its weights; returns (model, info)."""
    from gr_semcod.training.loop import load_weights
    from gr_semcod.training.registry import get_config

    run = runs / name
    ckpt = run / checkpoint
    if not ckpt.is_file():
        raise SystemExit(f"semcod export: {ckpt} not found (train it with: semcod train --config {name})")
    cfg = get_config(name)
    model = load_weights(cfg.build_model(cfg), ckpt).eval()
    info = {"config": name, "description": cfg.description}
    summary = run / "summary.json"
    if summary.is_file():
        info["training"] = json.loads(summary.read_text())
    return model, info


def run(args) -> int:
    from gr_semcod.export.bundle import export_bundle

    runs = Path(args.runs)
    codec, meta = None, {"runs": {}}
    if args.semantic:
        codec, meta["runs"][args.semantic] = load_run(runs, args.semantic, args.checkpoint)
    deepjscc = {}
    for name in args.deepjscc:
        model, meta["runs"][name] = load_run(runs, name, args.checkpoint)
        deepjscc[str(model.cbr)] = model
    out = Path(args.out)
    manifest, parity = export_bundle(str(out), codec, deepjscc, name=args.name or out.name, meta=meta, tol=args.tol)
    for role, err in parity.items():
        print(f"{role:28s} parity {err:.2e}")
    total = sum(f.stat().st_size for f in out.glob("*.onnx"))
    print(f"wrote {manifest} ({len(parity)} models, {total / 1e6:.1f} MB)")
    return 0
