"""``semcod eval``: semantic coding vs Deep JSCC vs the separation bound, on any images.

    semcod eval --bundle models/semcod_32 --data ../shared/data/crops32_val.npz \\
                --channel awgn rayleigh --snr 0 5 10 15 20

For every channel x CBR x SNR: PSNR and SSIM (MS-SSIM when the images are large enough) of
the semantic codec and the Deep JSCC baseline (run from the bundle's ONNX files, channel in
numpy, same noise for both), plus the separation bound (JPEG / WebP at k log2(1 + SNR) bits,
AWGN only) and classification accuracy when the bundle has a classifier and the data labels.
Writes ``results.csv``, ``results.json`` and ``psnr_vs_snr.png`` to ``--out``; ``--card``
also writes a model card. Last line: ``psnr_gain_db=<semcod - deepjscc at CBR 1/12, 10 dB>``
(first channel given). PSNR is the mean of per-image PSNRs (each capped at 100 dB); the PSNR
of the mean MSE is in the CSV/JSON too.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Dict, List


def default_classify_data():
    path = Path(os.environ.get("SEMCOD_FASHION_MNIST", "/usr/share/datasets/fashion-mnist"))
    return str(path) if path.exists() else None


def default_data(size: int) -> str:
    root = Path(os.environ.get("SEMCOD_DATA", Path(__file__).resolve().parents[3] / "shared" / "data"))
    return str(root / f"crops{size}_val.npz")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bundle", required=True, help="bundle directory (models/<name>)")
    p.add_argument("--baseline-bundle", help="bundle with the Deep JSCC models (default: --bundle)")
    p.add_argument("--data", help="images: .npz or a folder/glob (default: crops<size>_val.npz in $SEMCOD_DATA or ../shared/data)")
    p.add_argument("--channel", nargs="+", default=["awgn"], choices=["awgn", "rayleigh"])
    p.add_argument("--snr", nargs="+", type=float, default=[0, 5, 10, 15, 20])
    p.add_argument("--cbr", nargs="+", help="CBRs (default: every CBR in the bundle)")
    p.add_argument("--limit", type=int, help="use the first N images")
    p.add_argument("--separation", nargs="*", default=["jpeg", "webp"], choices=["jpeg", "webp"],
                   help="separation-bound codecs (payload-only accounting); none to skip")
    p.add_argument("--digital", nargs="*", default=None, choices=["jpeg", "webp", "avif", "heif"],
                   help="source codecs of the digital rows (codec + CRC-32 + 802.16e LDPC + QAM over the same "
                        "channel; rows digital_<codec>; default: all four on crops, none with --full-size); "
                        "the option alone skips them")
    p.add_argument("--digital-limit", type=int,
                   help="digital rows on the first N images only (the sum-product decoder is the slow part)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="ONNX Runtime intra-op threads (0 = all)")
    p.add_argument("--out", help="output directory (default out/eval/<bundle name>)")
    p.add_argument("--card", help="also write a model card (markdown) here")
    p.add_argument("--classify-data",
                   help="labelled images for the machine receivers (bundle roles classifier / image_classifier): "
                        "a Fashion-MNIST directory or idx file (test split, grey -> RGB, zero-padded to the "
                        "bundle size), or an .npz with labels; default: the Fashion-MNIST test set "
                        "($SEMCOD_FASHION_MNIST or /usr/share/datasets/fashion-mnist) when installed; 'none' skips")
    p.add_argument("--classify-limit", type=int, help="use the first N labelled images")
    p.add_argument("--full-size", action="store_true",
                   help="code each photo of --data at its own size (tiles of the bundle size, equal total "
                        "symbols per photo; see gr_semcod.evaluation.fullsize)")
    p.add_argument("--modes", nargs="+", default=["photo"],
                   choices=["photo", "tile", "uniform", "none", "photo_unpriced", "auto"],
                   help="--full-size: semantic v2 rate modes (photo = budget shared by the tiles of a photo; "
                        "auto = photo, or the Deep JSCC at the CBR when that decodes better on the transmitter's own channel draws)")
    p.add_argument("--draws", type=int, default=1,
                   help="--full-size: channel realisations per photo and point (seeds seed + 1000 * photo + draw, "
                        "the same for every scheme); with 2 or more the card gives each gain's standard error "
                        "over the draws")
    p.add_argument("--v1", action="store_true", help="--full-size: also run the first semantic codec per tile")
    p.add_argument("--save-images", action="store_true", help="--full-size: write every reconstruction as PNG")


#: per-image PSNR cap (dB): a perfectly reconstructed image (e.g. a constant crop sent as its
#: mean colour) would otherwise make the mean infinite
PSNR_CAP = 100.0


def _fmt(v, nd=2):
    return "—" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{nd}f}"


def run(args) -> int:
    if args.full_size:
        from .fullsize import run_full_size

        return run_full_size(args)
    import numpy as np

    from ..runtime import Bundle
    from ..runtime.datasets import load_images
    from ..runtime.metrics import accuracy, ms_ssim_fits, ms_ssim_per_image, mse_per_image, ssim_per_image
    from .fullsize import has_semantic2, semantic2_images
    from .pipeline import (Classification, deepjscc_roundtrip, has_deepjscc, has_image_classifier, has_semantic,
                           load_labelled, semantic_roundtrip)

    t0 = time.time()
    kw = {"intra_op_threads": args.threads} if args.threads else {}
    bundle = Bundle.load(args.bundle, **kw)
    base = Bundle.load(args.baseline_bundle, **kw) if args.baseline_bundle else bundle
    h, w = bundle.image_size
    data = args.data or default_data(h)
    ds = load_images(data, size=(h, w), limit=args.limit)
    ref_u8 = ds.images  # N, H, W, 3 uint8
    x = (ref_u8.astype(np.float32) / 255.0).transpose(0, 3, 1, 2).copy()
    labels = ds.labels
    cbrs = args.cbr or [str(c) for c in bundle.cbrs]
    print(f"bundle {bundle.name}: {len(ref_u8)} images {h}x{w} from {data}; CBR {', '.join(cbrs)}; "
          f"SNR {', '.join(f'{s:g}' for s in args.snr)} dB; channels {', '.join(args.channel)}")

    def psnr_pair(ref, r):
        """(mean per-image PSNR with each image capped at PSNR_CAP, PSNR of the mean MSE)."""
        mse = mse_per_image(ref, r)
        per_image = np.minimum(10 * np.log10(1.0 / np.maximum(mse, 1e-30)), PSNR_CAP)
        return float(per_image.mean()), float(10 * np.log10(1.0 / max(mse.mean(), 1e-30)))

    def score(recon: np.ndarray) -> Dict[str, float]:
        r = recon.transpose(0, 2, 3, 1)
        p, p_mse = psnr_pair(ref_u8, r)
        out = {"psnr": p, "psnr_mse": p_mse, "ssim": float(ssim_per_image(ref_u8, r).mean())}
        out["ms_ssim"] = float(ms_ssim_per_image(ref_u8, r).mean()) if ms_ssim_fits(r.shape) else float("nan")
        return out

    # machine receivers: accuracy on labelled data (Fashion-MNIST test by default)
    cls_data = args.classify_data if args.classify_data is not None else default_classify_data()
    if cls_data is not None and str(cls_data).lower() == "none":
        cls_data = None
    img_cls = base if has_image_classifier(base) else (bundle if has_image_classifier(bundle) else None)
    clf = None
    s2_cls = has_semantic2(bundle) and (bundle.has("semantic2_classifier") or img_cls is not None)
    if cls_data and (bundle.has("classifier") or img_cls is not None or s2_cls):
        cx, cy = load_labelled(cls_data, (h, w), args.classify_limit)
        clf = Classification(cx)
        roles = [r for r, ok in (("classifier", bundle.has("classifier")), ("image_classifier", img_cls is not None),
                                 ("semantic2_classifier", bundle.has("semantic2_classifier"))) if ok]
        print(f"classification: {len(cy)} labelled images from {cls_data} ({', '.join(roles)})")
    elif bundle.has("classifier") or img_cls is not None:
        print("classification: no labelled data (--classify-data; Fashion-MNIST not installed): accuracy from --data labels only")

    rows: List[Dict] = []
    searches = {}
    from .digital_rows import DigitalRows, best_codec, usable_codecs

    dig_ref = ref_u8[:args.digital_limit] if args.digital_limit else ref_u8
    dig_codecs = ["jpeg", "webp", "avif", "heif"] if args.digital is None else args.digital
    digital = DigitalRows(dig_ref, usable_codecs(dig_codecs), args.seed) if dig_codecs else None

    def dig_score(recon):  # scored against the images the digital rows use
        r = recon.transpose(0, 2, 3, 1)
        p, p_mse = psnr_pair(dig_ref, r)
        out = {"psnr": p, "psnr_mse": p_mse, "ssim": float(ssim_per_image(dig_ref, r).mean())}
        out["ms_ssim"] = float(ms_ssim_per_image(dig_ref, r).mean()) if ms_ssim_fits(r.shape) else float("nan")
        return out

    for channel in args.channel:
        for cbr in cbrs:
            for snr in args.snr:
                if has_semantic(bundle, cbr):
                    res = semantic_roundtrip(bundle, x, cbr, channel, snr, args.seed)
                    row = {"scheme": "semcod", "channel": channel, "cbr": cbr, "snr_db": snr, **score(res["images"])}
                    if "logits" in res and labels is not None:
                        row["acc"] = accuracy(res["logits"], labels)
                    if clf is not None and bundle.has("classifier"):
                        row["acc"] = accuracy(clf.semantic_logits(bundle, cbr, channel, snr, args.seed), cy)
                    rows.append(row)
                if has_semantic2(bundle):
                    res = semantic2_images(bundle, x, cbr, channel, snr, args.seed)
                    row = {"scheme": "semantic2", "channel": channel, "cbr": cbr, "snr_db": snr,
                           **score(res["images"]), "cbr_spent": res["cbr_spent"]}
                    if clf is not None and s2_cls:
                        try:
                            row["acc"] = accuracy(clf.semantic2_logits(bundle, img_cls, cbr, channel, snr, args.seed), cy)
                        except ValueError as e:  # e.g. a stale semantic2_classifier: no accuracy, the rest stands
                            print(f"semantic2 accuracy skipped ({channel}, CBR {cbr}, {snr:g} dB): {e}")
                    rows.append(row)
                if has_deepjscc(base, cbr):
                    res = deepjscc_roundtrip(base, x, cbr, channel, snr, args.seed)
                    row = {"scheme": "deepjscc", "channel": channel, "cbr": cbr, "snr_db": snr, **score(res["images"])}
                    if clf is not None and img_cls is not None:
                        row["acc"] = accuracy(clf.deepjscc_logits(base, img_cls, cbr, channel, snr, args.seed), cy)
                    rows.append(row)
                if digital is not None:
                    rows += digital.rows(channel, cbr, snr, dig_score)
                if channel == "awgn":
                    from ..baselines.separation import make_searches, separation_bound

                    for codec in args.separation:
                        if codec not in searches:
                            searches[codec] = make_searches(ref_u8, codec, header=False)
                        sep = separation_bound(ref_u8, cbr, snr, codec, header=False, searches=searches[codec])
                        rows.append({"scheme": f"{codec}_bound", "channel": channel, "cbr": cbr, "snr_db": snr,
                                     **score(sep.images.transpose(0, 3, 1, 2)),
                                     "fallback_rate": float((sep.quality < 0).mean())})
    mean_colour = ref_u8.reshape(len(ref_u8), -1, 3).mean(1) / 255.0
    mean_floor, mean_floor_mse = psnr_pair(ref_u8, np.broadcast_to(mean_colour[:, None, None, :], ref_u8.shape))

    out_dir = Path(args.out or Path("out") / "eval" / bundle.name)
    out_dir.mkdir(parents=True, exist_ok=True)
    fields = ["scheme", "channel", "cbr", "snr_db", "psnr", "psnr_mse", "ssim", "ms_ssim", "acc", "fallback_rate",
              "cbr_spent", "failure_rate", "mcs", "misdecoded"]
    with open(out_dir / "results.csv", "w", newline="") as f:
        wr = csv.DictWriter(f, fields, extrasaction="ignore")
        wr.writeheader()
        wr.writerows(rows)
    command = "semcod eval " + " ".join(shlex.quote(a) for a in sys.argv[2:]) if sys.argv[1:2] == ["eval"] else "semcod eval"
    summary = {"bundle": bundle.name, "data": data, "images": int(len(ref_u8)), "mean_colour_psnr": mean_floor, "mean_colour_psnr_mse": mean_floor_mse, "psnr_cap_db": PSNR_CAP,
               "command": command, "rows": rows}
    if digital is not None:
        summary.update({"digital_images": int(len(dig_ref)), "digital_codecs": digital.codecs,
                        "digital_min_payload_bytes": digital.min_payload_bytes()})
    if clf is not None:
        summary.update({"classify_data": cls_data, "classify_images": int(len(cy))})
    (out_dir / "results.json").write_text(json.dumps(summary, indent=2) + "\n")

    table = format_table(rows, args.channel, cbrs, args.snr)
    print(table)
    print(f"mean-colour floor: {mean_floor:.2f} dB (PSNR of the mean MSE: {mean_floor_mse:.2f} dB)")
    plot(rows, args.channel, cbrs, out_dir / "psnr_vs_snr.png", mean_floor)
    gain = psnr_gain(rows, args.channel[0])
    if args.card:
        from .card import write_card

        table_mse = format_table(rows, args.channel, cbrs, args.snr, key="psnr_mse")
        gain_mse = psnr_gain(rows, args.channel[0], key="psnr_mse")
        write_card(args.card, bundle, summary, table, gain, args.channel[0], table_mse, gain_mse)
        print(f"model card: {args.card}")
    print(f"results: {out_dir} ({time.time() - t0:.0f} s)")
    best = best_codec(rows, args.channel[0])
    if best is not None:
        print(f"digital_best_codec={best[len('digital_'):]}")
        print(f"digital_psnr_1-12_10db={lookup(rows, best, args.channel[0], '1/12', 10.0):.2f}")
    print(f"psnr_gain_db={gain:.2f}" if not math.isnan(gain) else "psnr_gain_db=nan")
    return 0


def lookup(rows, scheme, channel, cbr, snr, key="psnr"):
    for r in rows:
        if (r["scheme"], r["channel"], r["cbr"], r["snr_db"]) == (scheme, channel, cbr, snr):
            return r.get(key)
    return None


def psnr_gain(rows, channel: str, cbr: str = "1/12", snr: float = 10.0, key: str = "psnr") -> float:
    a, b = lookup(rows, "semcod", channel, cbr, snr, key), lookup(rows, "deepjscc", channel, cbr, snr, key)
    return float("nan") if a is None or b is None else a - b


def format_table(rows, channels, cbrs, snrs, key: str = "psnr") -> str:
    """Markdown table: one row per channel/CBR/scheme, ``key`` (SSIM) per SNR."""
    from .digital_rows import schemes as digital_schemes

    schemes = [s for s in ("semcod", "semantic2", "deepjscc") if any(r["scheme"] == s for r in rows)]
    schemes += digital_schemes(rows)
    schemes += [s for s in ("jpeg_bound", "webp_bound") if any(r["scheme"] == s for r in rows)]
    head = "| channel | CBR | scheme | " + " | ".join(f"{s:g} dB" for s in snrs) + " |"
    lines = [head, "|" + "---|" * (3 + len(snrs))]
    for ch in channels:
        for cbr in cbrs:
            for sc in schemes:
                cells = []
                for s in snrs:
                    p, q = lookup(rows, sc, ch, cbr, s, key), lookup(rows, sc, ch, cbr, s, "ssim")
                    if p is None:
                        cells.append("")
                        continue
                    acc = lookup(rows, sc, ch, cbr, s, "acc")
                    fail = lookup(rows, sc, ch, cbr, s, "failure_rate")
                    cells.append(f"{_fmt(p)} ({_fmt(q, 3)})" + (f" acc {acc:.3f}" if acc is not None else "")
                                 + (f" fail {fail:.2f}" if fail else ""))
                if any(cells):
                    lines.append(f"| {ch} | {cbr} | {sc} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(rows, channels, cbrs, path, floor) -> None:
    import warnings

    import matplotlib

    matplotlib.use("Agg")
    warnings.filterwarnings("ignore", message="Unable to import Axes3D")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(channels), len(cbrs), figsize=(3.2 * len(cbrs), 2.8 * len(channels)), squeeze=False, sharey=True)
    styles = {"semcod": ("C0", "-o"), "semantic2": ("C4", "-^"), "deepjscc": ("C1", "--s"), "jpeg_bound": ("C2", ":"), "webp_bound": ("C3", ":"),
              "digital_jpeg": ("C2", "-.x"), "digital_webp": ("C3", "-.x"), "digital_avif": ("C5", "-.d"),
              "digital_heif": ("C6", "-.d")}
    for i, ch in enumerate(channels):
        for j, cbr in enumerate(cbrs):
            ax = axes[i][j]
            for sc, (col, st) in styles.items():
                pts = sorted((r["snr_db"], r["psnr"]) for r in rows if (r["scheme"], r["channel"], r["cbr"]) == (sc, ch, cbr))
                if pts:
                    ax.plot(*zip(*pts), st, color=col, label=sc, ms=3)
            ax.axhline(floor, color="grey", lw=0.8, ls="-.", label="mean colour")
            ax.set_title(f"{ch}, CBR {cbr}", fontsize=9)
            ax.set_xlabel("SNR (dB)")
            ax.grid(alpha=0.3)
        axes[i][0].set_ylabel("PSNR (dB)")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
