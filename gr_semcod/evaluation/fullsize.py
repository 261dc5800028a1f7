"""Whole photos at their own size: tiles of the bundle's size, equal total symbols per photo.

A photo ``H x W`` is padded (edge replication) to whole tiles of ``S x S`` (the bundle size),
coded tile by tile, stitched and cropped back.  Its budget is ``k = round(CBR * H * W * 3)``
symbols (the *unpadded* size):

* **Deep JSCC** codes every tile at the CBR, ``k_tile = CBR * S^2 * 3``; with padding it spends a
  little more than ``k`` (the ``cbr_spent`` column says how much) — in the baseline's favour.
* **semantic v2** (:mod:`gr_semcod.semantic.hybrid`) spends at most ``k`` (mode ``auto`` at its
  floor: the baseline's symbols), side information
  included and *transmitted*: :mod:`gr_semcod.runtime.semantic2` puts the arithmetic-coded
  quadtree flags, the power gain and two CRCs at the head of the photo's symbol vector, coded
  (K=7 convolutional or 802.16e LDPC) on the BPSK/QPSK/16-QAM scheme
  :func:`gr_semcod.runtime.side_info.side_mcs` picks for the SNR; the receiver decodes them
  (soft Viterbi, sum-product) before it places a token, and a
  photo whose side information fails is counted (``side_fail``) and shown as mid-grey.  Modes:

  ``photo``    one budget for the whole photo, shared among its tiles by content (mode b)
  ``tile``     the same budget for every tile, adapted within the tile (mode a)
  ``uniform``  the same merge level everywhere (content-blind; its tree costs a few coded bits)
  ``none``     nothing merged: the Deep JSCC of the base rate (``cbr_spent`` = base + side info)
  ``auto``     ``photo``, or the Deep JSCC at the CBR when that decodes better on average over the
               transmitter's own channel draws (:func:`gr_semcod.runtime.semantic2.encode_auto`; such a photo
               spends what the baseline spends, ``floor`` = 1 in ``per_photo.csv``)

One channel realisation per photo, point and draw (``--draws``, default 1), seeded
``seed + 1000 * photo + draw`` and the same for every scheme, so schemes compare on equal noise.
With several draws each row averages photos x draws, and :func:`gain_per_draw` gives the gain of
one scheme over another with its standard error over the draws (the noise's share of the
uncertainty; the photos are the same in every draw).
"""
from __future__ import annotations

import math
from fractions import Fraction
from typing import Dict, Tuple

import numpy as np

from ..runtime.bundle import Bundle, role_key
from ..runtime.channels import complex_to_iq, iq_to_complex, num_symbols
from ..runtime.semantic2 import FLOOR_DRAWS, MODES, decode_photo, encode_photo, run_batched, synthesize_tiles  # noqa: F401
from ..runtime.side_info import describe_schemes
from ..runtime.tiles import stitch, tile_photo  # noqa: F401  (re-exported: the evaluation's names)
from .pipeline import through_channel




def deepjscc_photo(bundle: Bundle, img: np.ndarray, cbr: str, channel: str, snr_db: float, seed: int,
                   batch: int = 256) -> Dict:
    """Deep JSCC per tile; the photo's symbols cross the channel as one block."""
    s = bundle.image_size[0]
    tiles, grid = tile_photo(img, s)
    sym = run_batched(bundle, role_key("deepjscc_encoder", cbr), batch, images=tiles)
    t, k = sym.shape[:2]
    rx = through_channel(sym.reshape(1, t * k, 2), channel, snr_db, seed).reshape(t, k, 2)
    snr = np.full((t, 1), snr_db, np.float32)
    rec = run_batched(bundle, role_key("deepjscc_decoder", cbr), batch, symbols=rx, snr_db=snr)
    h, w = img.shape[:2]
    return {"image": np.clip(stitch(rec, grid, (h, w)), 0, 1), "symbols": t * k, "cbr_spent": t * k / (h * w * 3)}


def semantic2_photo(bundle: Bundle, img: np.ndarray, cbr: str, channel: str, snr_db: float, seed: int,
                    mode: str = "photo", batch: int = 256) -> Dict:
    """Semantic codec v2 on a whole photo, side information included, as the radio sends it
    (:mod:`gr_semcod.runtime.semantic2`): encode to one symbol vector, channel, decode.

    The receiver learns the tree and the gain only from the received side-information blocks
    (soft Viterbi, CRC); ``side_ok`` is False when they failed and the photo fell back to grey.
    The transmitter knows the SNR and whether the channel fades (it picks the side scheme by both).
    """
    h, w = img.shape[:2]
    sym, tx = encode_photo(bundle, img, cbr, snr_db, mode, batch, fading=channel == "rayleigh")
    rx, nv = through_channel(complex_to_iq(sym)[None], channel, snr_db, seed, return_noise=True)
    image, rxi = decode_photo(bundle, iq_to_complex(rx)[0], h, w, snr_db, noise_var=nv[0], mcs=tx["mcs"],
                              batch=batch)
    n = tx["n_symbols"]
    return {"image": image, "symbols": n, "cbr_spent": n / (h * w * 3), "tokens": tx["tokens"],
            "tokens_per_tile": tx["tokens"] / tx["tiles"], "side_ok": rxi["ok"], "levels": tx["levels"],
            "side_symbols": tx["side_symbols"], "flag_bits": tx["flag_bits"], "flag_bits_ideal": tx["flag_bits_ideal"],
            "mcs": tx["mcs"], "floor": bool(tx.get("floor", False)), "decoder": rxi.get("decoder", "")}


#: the v2 rows whose gain over Deep JSCC the card states: the transmitter with its floor (mode
#: ``auto``, what the GNU Radio encoder sends by default) and the merged photo alone (mode ``photo``)
GAIN_SCHEMES = ("semantic2_auto", "semantic2_photo")
#: draws per photo (their seeds must stay below the next photo's, ``+ 1000``)
MAX_DRAWS = 1000
#: tiles per channel seed of the first semantic codec's rows (``--v1``; ``semantic_roundtrip``'s batch)
V1_BATCH = 250


def gain_per_draw(per_photo, scheme: str, reference: str, channel: str, cbr: str, snr_db: float):
    """PSNR of ``scheme`` minus ``reference`` at one point: ``{"gain": mean, "stderr": ..., "draws": D}``
    or None when either is missing.  Per draw ``d`` the gain ``G_d`` is the mean over the photos of
    the per-photo difference (the same channel seed for both schemes); ``gain = mean_d G_d`` (the
    mean over all photo-draws) and ``stderr = std_d(G_d) / sqrt(D)`` (NaN for one draw)."""
    def psnr(s):  # keyed by the photo's index (two files of one name from a glob stay apart)
        return {(r.get("index", r["photo"]), r.get("draw", 0)): r["psnr"] for r in per_photo
                if (r["scheme"], r["channel"], r["cbr"], r["snr_db"]) == (s, channel, cbr, snr_db)}

    a, b = psnr(scheme), psnr(reference)
    keys = sorted(set(a) & set(b))
    if not keys:
        return None
    draws = sorted({k[1] for k in keys})
    g = np.array([np.mean([a[k] - b[k] for k in keys if k[1] == d]) for d in draws])
    se = float(g.std(ddof=1) / np.sqrt(len(g))) if len(g) > 1 else float("nan")
    return {"gain": float(g.mean()), "stderr": se, "draws": len(g)}


def has_semantic2(bundle: Bundle) -> bool:
    return all(bundle.has(r) for r in ("semantic2_encoder", "semantic2_merger", "semantic2_decoder")) \
        and "semantic2" in bundle.manifest


# --------------------------------------------------------------------------- semcod eval --full-size


def _score(ref: np.ndarray, rec: np.ndarray) -> Dict[str, float]:
    from ..runtime.metrics import ms_ssim_fits, ms_ssim_per_image, mse_per_image, ssim_per_image

    a, b = ref[None], rec[None]
    mse = float(mse_per_image(a, b)[0])
    return {"psnr": float(10 * np.log10(1.0 / max(mse, 1e-10))), "mse": mse,
            "ssim": float(ssim_per_image(a, b)[0]),
            "ms_ssim": float(ms_ssim_per_image(a, b)[0]) if ms_ssim_fits(a.shape) else float("nan")}


def run_full_size(args) -> int:
    """``semcod eval --full-size``: every photo at its own size, equal total symbols per photo."""
    import csv
    import json
    import shlex
    import sys
    import time
    from pathlib import Path

    from ..runtime.images import ImageLoadError, list_image_files, read_image
    from .pipeline import has_deepjscc, has_semantic, semantic_roundtrip

    draws = int(getattr(args, "draws", 1))
    if not 1 <= draws <= MAX_DRAWS:
        raise SystemExit(f"--draws must be in 1..{MAX_DRAWS} (seeds seed + 1000 * photo + draw), got {draws}")
    t0 = time.time()
    kw = {"intra_op_threads": args.threads} if args.threads else {}
    bundle = Bundle.load(args.bundle, **kw)
    base = Bundle.load(args.baseline_bundle, **kw) if args.baseline_bundle else bundle
    if not args.data:
        raise SystemExit("semcod eval --full-size needs --data (a folder, glob or file of photos)")
    photos, names, skipped = [], [], []
    for f in list_image_files(args.data)[:args.limit]:
        try:
            photos.append(read_image(f))
            names.append(Path(f).name)
        except ImageLoadError as e:
            skipped.append(str(e))
            print(f"skipped: {e}", file=sys.stderr)
    if not photos:
        raise SystemExit(f"{args.data}: no readable photos")
    cbrs = args.cbr or [str(c) for c in bundle.cbrs]
    modes = args.modes
    v2 = has_semantic2(bundle)
    print(f"bundle {bundle.name}: {len(photos)} photos from {args.data} "
          f"({', '.join(f'{p.shape[1]}x{p.shape[0]}' for p in photos)}); CBR {', '.join(cbrs)}; "
          f"SNR {', '.join(f'{s:g}' for s in args.snr)} dB; channels {', '.join(args.channel)}; "
          f"semantic v2 modes {', '.join(modes) if v2 else '(not in the bundle)'}")
    tile = bundle.image_size[0]
    if args.v1 and draws > 1:  # the first codec seeds each batch of V1_BATCH tiles: check the room up front
        for img, name in zip(photos, names):
            n_tiles = math.ceil(img.shape[0] / tile) * math.ceil(img.shape[1] / tile)
            nb = math.ceil(n_tiles / V1_BATCH)
            if draws * nb > 1000:
                raise SystemExit(f"--v1 with --draws {draws}: {name} takes {nb} seeds per draw, more than fit "
                                 "before the next photo's (1000); fewer draws")
    per_photo = []
    for channel in args.channel:
        for cbr in cbrs:
            for snr in args.snr:
                for i, (img, name), d in ((i, p, d) for i, p in enumerate(zip(photos, names)) for d in range(draws)):
                    seed = args.seed + 1000 * i + d
                    ref = img.astype(np.float32) / 255.0
                    runs = {}
                    if has_deepjscc(base, cbr):
                        runs["deepjscc"] = deepjscc_photo(base, img, cbr, channel, snr, seed)
                    if v2:
                        for mode in modes:
                            runs[f"semantic2_{mode}"] = semantic2_photo(bundle, img, cbr, channel, snr, seed, mode)
                    if args.v1 and has_semantic(bundle, cbr):
                        tiles, grid = tile_photo(img, tile)
                        nb = -(-len(tiles) // V1_BATCH)  # it seeds each batch of tiles seed + j: draws step by nb
                        rec = semantic_roundtrip(bundle, tiles, cbr, channel, snr, args.seed + 1000 * i + d * nb,
                                                 batch=V1_BATCH)["images"]
                        k = num_symbols(cbr, tile, tile) * len(tiles)
                        runs["semcod_v1"] = {"image": stitch(rec, grid, img.shape[:2]), "symbols": k,
                                             "cbr_spent": k / img.size}
                    if getattr(args, "digital", None):  # digital_<codec>: source codec + CRC-32 + LDPC + QAM
                        from .digital_rows import fullsize_runs, usable_codecs

                        runs.update(fullsize_runs(img, cbr, channel, snr, seed, usable_codecs(args.digital)))
                    for scheme, r in runs.items():
                        per_photo.append({"scheme": scheme, "channel": channel, "cbr": cbr, "snr_db": snr,
                                          "photo": name, "index": i, "draw": d, "height": img.shape[0], "width": img.shape[1],
                                          **_score(ref, r["image"]), "cbr_spent": r["cbr_spent"],
                                          "tokens_per_tile": r.get("tokens_per_tile", float("nan")),
                                          "side_fail": float(not r["side_ok"]) if "side_ok" in r else float("nan"),
                                          "side_share": r["side_symbols"] / r["symbols"] if "side_symbols" in r
                                          else float("nan"),
                                          "flag_bits": r.get("flag_bits", float("nan")),
                                          "flag_bits_ideal": r.get("flag_bits_ideal", float("nan")),
                                          "failure_rate": r.get("failed", float("nan")),
                                          "floor": float(r["floor"]) if "floor" in r else float("nan")})
                        if args.save_images and channel == args.channel[0] and d == 0:
                            from ..runtime.images import save_png

                            out = Path(args.out or Path("out") / "eval" / f"{bundle.name}_fullsize") / "images"
                            save_png(out / f"{Path(name).stem}_{scheme}_{cbr.replace('/', '-')}_{snr:g}db.png", r["image"])
    rows = []
    keys = sorted({(r["scheme"], r["channel"], r["cbr"], r["snr_db"]) for r in per_photo},
                  key=lambda k: (k[1], k[2], k[3], k[0]))
    for scheme, channel, cbr, snr in keys:
        sel = [r for r in per_photo if (r["scheme"], r["channel"], r["cbr"], r["snr_db"]) == (scheme, channel, cbr, snr)]
        row = {"scheme": scheme, "channel": channel, "cbr": cbr, "snr_db": snr, "n": len(sel), "draws": draws}
        for key in ("psnr", "ssim", "ms_ssim", "cbr_spent", "tokens_per_tile", "side_fail", "side_share", "flag_bits",
                    "flag_bits_ideal", "failure_rate", "floor"):
            row[key] = float(np.mean([r[key] for r in sel]))
        row["psnr_mse"] = float(10 * np.log10(1.0 / np.mean([r["mse"] for r in sel])))
        rows.append(row)
    out_dir = Path(args.out or Path("out") / "eval" / f"{bundle.name}_fullsize")
    out_dir.mkdir(parents=True, exist_ok=True)
    fields = ["scheme", "channel", "cbr", "snr_db", "n", "draws", "psnr", "psnr_mse", "ssim", "ms_ssim", "cbr_spent",
              "tokens_per_tile", "side_fail", "side_share", "flag_bits", "flag_bits_ideal", "failure_rate", "floor"]
    for path, data, cols in ((out_dir / "results.csv", rows, fields),
                             (out_dir / "per_photo.csv", per_photo,
                              ["photo", "index", "draw", "height", "width"] + [f for f in fields if f not in ("n", "draws")])):
        with open(path, "w", newline="") as fh:
            wr = csv.DictWriter(fh, cols, extrasaction="ignore")
            wr.writeheader()
            wr.writerows(data)
    command = "semcod eval " + " ".join(shlex.quote(a) for a in sys.argv[2:]) if sys.argv[1:2] == ["eval"] else "semcod eval --full-size"
    summary = {"bundle": bundle.name, "data": args.data, "photos": names, "skipped": skipped, "command": command,
               "rows": rows, "draws": draws,
               "gains": [{"scheme": sc, "channel": c, "cbr": b, "snr_db": s, **g} for sc in GAIN_SCHEMES for (c, b, s) in
                         sorted({(r["channel"], r["cbr"], r["snr_db"]) for r in rows},
                                key=lambda k: (k[0], float(Fraction(k[1])), k[2]))
                         if (g := gain_per_draw(per_photo, sc, "deepjscc", c, b, s)) is not None]}
    (out_dir / "results.json").write_text(json.dumps(summary, indent=2) + "\n")
    table = format_full_size(rows)
    print(table)
    if args.card:
        write_full_size_card(args.card, bundle, summary, table)
        print(f"model card: {args.card}")
    print(f"results: {out_dir} ({time.time() - t0:.0f} s)")
    for r in rows:
        print(f"fullsize_psnr_{r['scheme']}_{r['channel']}_{r['cbr'].replace('/', '-')}_{r['snr_db']:g}db={r['psnr']:.2f}")
    return 0


def format_full_size(rows) -> str:
    """Markdown table: one row per (channel, CBR, SNR), PSNR / SSIM / MS-SSIM / cbr_spent per scheme."""
    schemes = sorted({r["scheme"] for r in rows}, key=lambda s: (s != "deepjscc", s))
    head = "| channel | CBR | SNR | " + " | ".join(f"{s} PSNR / SSIM / MS-SSIM / CBR spent" for s in schemes) + " |"
    lines = [head, "|" + "---|" * (3 + len(schemes))]
    for key in sorted({(r["channel"], r["cbr"], r["snr_db"]) for r in rows},
                      key=lambda k: (k[0], float(Fraction(k[1])), k[2])):
        cells = []
        for s in schemes:
            r = next((r for r in rows if (r["channel"], r["cbr"], r["snr_db"], r["scheme"]) == (*key, s)), None)
            cells.append("—" if r is None else
                         f"{r['psnr']:.2f} / {r['ssim']:.3f} / {r['ms_ssim']:.3f} / 1/{1 / r['cbr_spent']:.1f}")
        lines.append(f"| {key[0]} | {key[1]} | {key[2]:g} dB | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def format_side_info(rows) -> str:
    """Markdown lines: per semantic v2 scheme and condition, the side information's share of the
    symbols sent and the fraction of photos whose side information failed."""
    sel = [r for r in rows if r["scheme"].startswith("semantic2_") and np.isfinite(r.get("side_share", np.nan))]
    lines = []
    for r in sorted(sel, key=lambda r: (r["scheme"], r["channel"], float(Fraction(r["cbr"])), r["snr_db"])):
        lines.append(f"- {r['scheme']}, {r['channel']}, CBR {r['cbr']}, {r['snr_db']:g} dB: side information "
                     f"{100 * r['side_share']:.1f} % of the symbols, flags coded in {r['flag_bits']:.1f} bits per photo "
                     f"(charged at the KT length {r['flag_bits_ideal']:.1f}), failed on {r['side_fail'] * r['n']:.0f} of "
                     f"{r['n']} photos" + (f" x draws ({r['draws']} per photo)" if r.get("draws", 1) > 1 else "")
                     + (f"; sent at the Deep JSCC floor (counted above as 0 side symbols and flags): "
                        f"{r['floor'] * r['n']:.0f} of {r['n']}"
                        if r["scheme"] == "semantic2_auto" and np.isfinite(r.get("floor", np.nan)) else ""))
    return "\n".join(lines)


def write_full_size_card(path, bundle, summary, table: str) -> None:
    from pathlib import Path

    s2 = bundle.manifest.get("semantic2", {})
    rows = summary["rows"]

    lines = [
        f"# Full-size photos: `{bundle.name}`",
        "",
        "Generated by `semcod eval --full-size` — every number below comes from this command:",
        "",
        f"    {summary['command']}",
        "",
        f"Photos: {len(summary['photos'])} from `{summary['data']}` ({', '.join(summary['photos'])}), each coded at "
        f"its own size as {bundle.image_size[0]}x{bundle.image_size[0]} tiles (edge-padded, cropped back). "
        "Equal total symbols per photo: `k = round(CBR * H * W * 3)`; Deep JSCC codes every tile at the CBR "
        "(with padding it spends a little more, see CBR spent); the semantic codec v2 spends at most `k` "
        "(a photo `semantic2_auto` sends at the floor: what Deep JSCC spends), "
        f"side information included and transmitted (arithmetic-coded quadtree flags, a {s2.get('gain_bits', '?')}-bit "
        "power gain, a 20-bit length (this head sent 4x, gr-fec's K=7 rate-1/2 convolutional code) and two CRCs, at "
        "the head of the photo's symbols, the flags coded by the scheme's code (K=7 convolutional, or the 802.16e "
        f"LDPC codes, shortened), interleaved, {describe_schemes()}, `gr_semcod.runtime.semantic2`; "
        "decoded (soft Viterbi, sum-product) at "
        "the receiver before any token is placed; a photo whose side information fails its CRC is counted and "
        "shown mid-grey). PSNR is per photo"
        + (f" and channel draw ({summary['draws']} draws per photo, seeded alike for every scheme)"
           if summary.get("draws", 1) > 1 else "") + ", then averaged; "
        "MS-SSIM where the photo is large enough.",
        "",
        "Schemes: `deepjscc` (the bundle's Deep JSCC at the CBR, per tile); `semantic2_auto` (the v2 "
        "transmitter as the GNU Radio encoder runs it: the photo merged as in `semantic2_photo`, or, when that "
        "decodes worse on average over the transmitter's own channel draws (up to "
        f"{FLOOR_DRAWS}, fewer when the mean is clear; seeded apart from the evaluation's), the Deep JSCC at "
        "the CBR, `mode` 255, no side information); `semantic2_photo` (one budget per "
        "photo shared among tiles by content, mode b); `semantic2_tile` (the same budget per tile, mode a); "
        "`semantic2_uniform` (the same merge level everywhere); `semantic2_photo_unpriced` (mode b with the "
        "tree solved once, no flag priced, not compared with one level per tile); `semantic2_none` (nothing merged: "
        f"the Deep JSCC {s2.get('base_cbr', '?')} limit, spending its own rate).",
        "",
        table,
        "",
        "Side information actually sent (semantic v2):",
        "",
        format_side_info(rows),
        "",
    ]
    for scheme in GAIN_SCHEMES:
        gains = [g for g in summary["gains"] if g.get("scheme", "semantic2_photo") == scheme]
        if not gains:
            continue
        lines += [f"Semantic v2 (`{scheme}`) minus Deep JSCC, PSNR:", ""]
        for g in gains:  # in channel, CBR, SNR order (run_full_size)
            se = (f" (± {g['stderr']:.2f}: standard error over {g['draws']} channel draws per photo)"
                  if np.isfinite(g["stderr"]) else "")
            lines.append(f"- {g['channel']}, CBR {g['cbr']}, {g['snr_db']:g} dB: {g['gain']:+.2f} dB{se}")
        lines.append("")
    from ..runtime.semantic2 import transmitter_cbrs

    own = {c: s2["transmitters"][c] for c in transmitter_cbrs(bundle.manifest)}
    if own:
        lines += ["Transmitters of their own: " + "; ".join(
            f"CBR {c}: `semantic2_encoder@{c}`, `semantic2_merger@{c}` and their receiver `semantic2_decoder@{c}` "
            f"(run `{t.get('run', '?')}`" + (f", receiver `{t['receiver_run']}`" if t.get("receiver_run") else "")
            + (f"; warm-started from {', '.join(f'`{w}`' for w in t['warm_start'])}, whose budgets count in its own"
               if t.get("warm_start") else "")
            + ")" for c, t in sorted(own.items(), key=lambda kv: Fraction(kv[0])))
            + "; other rates: the shared transmitter `semantic2_encoder`/`semantic2_merger`. Both ends pick the "
            "set by the rate (the receiver by the rate the received symbols give).", ""]
    decoders = {c: d for c, d in (s2.get("decoders") or {}).items() if bundle.has(role_key("semantic2_decoder", c))}
    if decoders:
        lines += ["Receivers of the shared transmitter: " + "; ".join(
            f"CBR {c}: `semantic2_decoder@{c}` (run `{d.get('run', '?')}`)"
            for c, d in sorted(decoders.items(), key=lambda kv: Fraction(kv[0])))
            + "; other rates: `semantic2_decoder`, picked by the rate the received symbols give.", ""]
    from .digital_rows import format_fullsize_failures

    failures = format_fullsize_failures(rows)
    if failures:
        lines += ["", "Digital schemes (source codec + CRC-32 + 802.16e LDPC + QAM, the MCS from the SNR; a photo "
                  "whose frame does not fit or fails its CRC is shown as its mean colour and scored so):", "", failures]
    from .card import _training_lines

    meta = dict(bundle.manifest.get("meta") or {})
    wanted = {s2.get("run")} | {d.get("run") for d in (s2.get("decoders") or {}).values()} | {
        t.get(k) for t in (s2.get("transmitters") or {}).values() for k in ("run", "receiver_run")} | {
        w for t in (s2.get("transmitters") or {}).values() for w in t.get("warm_start", [])} | {f"deepjscc_{bundle.image_size[0]}_cbr{c.replace('/', '-')}" for c in
                                {r["cbr"] for r in rows} | {s2.get("base_cbr", "")}}
    meta["runs"] = {k: v for k, v in (meta.get("runs") or {}).items() if k in wanted}
    if meta["runs"]:
        lines += ["", "## Training budgets (2-core CPU, seed 0 unless the command says otherwise)", "",
                  f"The semantic codec v2 is warm-started from the bundle's Deep JSCC {s2.get('base_cbr', '?')} "
                  "(its trunk and synthesis), so its budget is that model's plus its own:", ""]
        lines += _training_lines(meta)
    if summary.get("skipped"):
        lines += ["", "Skipped (unreadable): " + "; ".join(summary["skipped"])]
    Path(path).write_text("\n".join(lines) + "\n")


def semantic2_images(bundle: Bundle, images: np.ndarray, cbr: str, channel: str, snr_db: float, seed: int = 0,
                     batch: int = 250) -> Dict[str, np.ndarray]:
    """Crops of the bundle's size, each its own budget (mode a with one tile): ``{"images", "cbr_spent"}``.

    Every image pays its own side information (flags and power gain) out of ``k``; the symbols and
    the channel are :func:`.semantic2_crops.received_latents`', the images its latents decoded.
    """
    from .semantic2_crops import received_latents

    meta = bundle.manifest["semantic2"]
    n, _, h, w = images.shape
    recon, spent = [], []
    for _, rx in received_latents(bundle, images, cbr, channel, snr_db, seed, batch):
        lev = rx["levels"][:, 0].astype(np.uint8)
        recon.append(synthesize_tiles(bundle, meta, rx["latent"], lev, rx["snr_db"], batch, rate=cbr))
        spent.append(rx["spent"])
    return {"images": np.clip(np.concatenate(recon), 0, 1), "cbr_spent": float(np.concatenate(spent).mean() / (h * w * 3))}
