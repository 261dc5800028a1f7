"""``semcod demo`` (``make demo``): the loopback flowgraph on a few images at several SNRs.

Compiles ``flowgraphs/semcod_loopback_nogui.grc`` with ``grcc`` (so the demo runs exactly the
GRC flowgraph a user opens) and runs it headless, once per codec (semantic coding and, when
the bundle has it, the Deep JSCC baseline) x channel (AWGN, 3-tap multipath) x SNR
(-3, 0, 5, 10, 20 dB).  Every run is image source -> semcod_tx -> OFDM TX -> channel -> OFDM RX
(synchronisation, channel estimation, SNR estimate) -> semcod_rx -> image sink.

Writes ``<out>/``:

* ``rx/<codec>_<channel>_<snr>dB/rx_<id>.png``  received images
* ``grid.png``           original | semantic | Deep JSCC, one row per image (AWGN, 10 dB)
* ``grid_snr.png``       original, then semantic at every SNR (AWGN)
* ``metrics.csv``        one row per received image (the image sink's CSV)
* ``results.csv`` / ``results.md``  mean PSNR / SSIM per codec, channel and SNR over the delivered
  images, with the count lost (a lost digital photo's stand-in is not scored there; the column
  ``psnr_with_stand_ins_db`` scores it) (also printed),
  and, when the bundle has machine receivers (``classifier`` / ``image_classifier``) and
  Fashion-MNIST is installed, their accuracy through the same loopback at 10 dB
* ``psnr_vs_snr.png``    PSNR against SNR (matplotlib, Agg)

Photos of any size (``--data`` a folder / glob of photos; default: the first ``--limit`` = 2
validation photos of ``../shared/data/photos/val`` when that folder exists, else the shipped
demo images) go through at their own size: the received PNGs have the photo's size, ``grid.png``
shows original | every codec side by side with zoomed insets (:mod:`gr_semcod.demo_photos`),
``results.md`` adds a per-photo table (PSNR, SSIM, MS-SSIM, lost tiles) and ``psnr_vs_snr.png``
has one line per photo and codec.  The demo runs whichever codecs the bundle holds (semantic,
the semantic codec v2 and/or Deep JSCC) and the digital baseline.

The last line printed is ``demo_psnr_10db=<mean PSNR of the first codec at 10 dB AWGN>``.
"""
from __future__ import annotations

import argparse
import csv
import importlib.util
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

REPO = Path(__file__).resolve().parent.parent
FLOWGRAPH = REPO / "flowgraphs" / "semcod_loopback_nogui.grc"
GRC_DIR = REPO / "grc"
DEFAULT_BUNDLE = "models/semcod_32"
DEFAULT_DATA = str(REPO / "flowgraphs" / "images")
#: full-size validation photos, the demo's default input when present (not part of the repository)
VALIDATION_PHOTOS = REPO.parent / "shared" / "data" / "photos" / "val"
PHOTO_LIMIT = 2
CHANNELS = {"awgn": 0, "multipath": 1}
CODECS = ("semantic", "semantic2", "deepjscc")
#: images per second of the digital runs (photos / small images): the receiver's link report of
#: one image reaches the transmitter before the next is coded, so the MCS follows the channel
#: from the second image on (the first goes at the transmitter's own SNR estimate)
DIGITAL_RATE = {True: 0.1, False: 4.0}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bundle", default=DEFAULT_BUNDLE, help="model bundle directory (default %(default)s)")
    p.add_argument("--data", default=None,
                   help="images or photos of any size: folder, glob or .npz (default: the validation photos "
                        "../shared/data/photos/val if present, else the shipped demo images)")
    p.add_argument("--out", default="out/demo", help="output folder (default %(default)s)")
    p.add_argument("--snrs", type=float, nargs="+", default=[-3.0, 0.0, 5.0, 10.0, 20.0], help="SNRs in dB")
    p.add_argument("--channels", nargs="+", default=list(CHANNELS), choices=list(CHANNELS))
    p.add_argument("--cbr", default="", help="channel bandwidth ratio (default: 1/12 if the bundle has it)")
    p.add_argument("--limit", type=int, default=0, help="number of images (default 8; 2 validation photos)")
    p.add_argument("--no-deepjscc", action="store_true", help="skip the Deep JSCC baseline")
    p.add_argument("--digital", default="jpeg", choices=["jpeg", "webp", "avif", "heif", "none"],
                   help="source codec of the digital baseline (codec + CRC-32 + 802.16e LDPC + QAM; none = skip)")
    p.add_argument("--seed", type=int, default=1, help="channel noise seed")
    p.add_argument("--header-reps", type=int, default=2, help="PHY header repetitions (default %(default)s)")
    p.add_argument("--sync-threshold", type=float, default=0.0,
                   help="detection threshold of the OFDM receiver (0 = its default for the preamble length)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--classify-data", default=None,
                   help="labelled images for the machine receivers (default: Fashion-MNIST test split if installed)")
    p.add_argument("--classify-images", type=int, default=64,
                   help="images for the machine-receiver accuracy at 10 dB (0 = skip; default %(default)s)")


# --------------------------------------------------------------------------- flowgraph
def compile_flowgraph(grc: Path, build: Path):
    """``grcc`` the flowgraph into ``build`` and import its top block class."""
    build.mkdir(parents=True, exist_ok=True)
    grcc = shutil.which("grcc") or "/usr/bin/grcc"
    env = dict(os.environ)
    env["GRC_BLOCKS_PATH"] = os.pathsep.join(p for p in (str(GRC_DIR), env.get("GRC_BLOCKS_PATH", "")) if p)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    r = subprocess.run([grcc, "-o", str(build), str(grc)], env=env, capture_output=True, text=True)
    out = build / f"{grc.stem}.py"
    if r.returncode != 0 or not out.is_file():
        raise RuntimeError(f"grcc failed on {grc}:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    spec = importlib.util.spec_from_file_location(f"_semcod_fg_{grc.stem}", out)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return getattr(mod, grc.stem)


def run_loopback(cls, timeout: float = 120.0, **params):
    """One finite run of the loopback top block; returns its image sink.

    The run drains before it ends (the transmitter's framer waits for ``pdu_to_tagged_stream``,
    every message block for its queue, the sink for every announced image or ``linger``), so
    the sink's :meth:`~gr_semcod.blocks.image_sink.image_sink.summary` accounts every image.
    """
    tb = cls(**params)
    tb.start()
    sink = tb.semcod_image_sink_0
    t0 = time.monotonic()
    # the flowgraph ends by itself (finite source); the timeout only guards a stuck run
    done = _wait(tb, timeout)
    if not done:
        tb.stop()
        tb.wait()
    tb.elapsed = time.monotonic() - t0
    return tb, sink


def _wait(tb, timeout: float) -> bool:
    import threading

    t = threading.Thread(target=tb.wait, daemon=True)
    t.start()
    t.join(timeout)
    return not t.is_alive()


# --------------------------------------------------------------------------- helpers
#: roles a codec needs at a rate
CODEC_ROLES = {"semantic": ("tokenizer", "jscc_encoder@{}", "jscc_decoder@{}", "detokenizer"),
               "semantic2": ("semantic2_encoder", "semantic2_merger", "semantic2_decoder"),  # any rate: one budget per photo
               "deepjscc": ("deepjscc_encoder@{}", "deepjscc_decoder@{}")}


def available_codecs(bundle, cbr: str) -> List[str]:
    """The codecs of :data:`CODECS` whose every role the bundle holds at ``cbr``."""
    return [c for c in CODECS if all(bundle.has(r.format(cbr)) for r in CODEC_ROLES[c])]


def pick_cbr(bundle, want: str, deepjscc: bool) -> str:
    """The rate to run: ``want`` if given, else 1/12 (or the first rate) among the rates where the
    bundle holds a codec -- both codecs when ``deepjscc`` and some rate has both."""
    cbrs = [str(c) for c in bundle.cbrs] or sorted({r.split("@", 1)[1] for r in bundle.roles if "@" in r})
    ok = [c for c in cbrs if available_codecs(bundle, c)]
    if want:
        if want not in ok:
            raise SystemExit(f"semcod demo: CBR {want} is not in the bundle (has {ok})")
        return want
    if not ok:
        raise SystemExit(f"semcod demo: {bundle.root} has no codec: neither a jscc_encoder/jscc_decoder pair "
                         f"(semantic) nor a deepjscc_encoder/deepjscc_decoder pair (Deep JSCC)")
    both = [c for c in ok if "deepjscc" in available_codecs(bundle, c) and len(available_codecs(bundle, c)) > 1]
    pool = both if deepjscc and both else ok
    return "1/12" if "1/12" in pool else pool[0]


def default_data(args) -> Tuple[str, int]:
    """``(data, limit)``: the arguments, or the validation photos / the shipped images."""
    if args.data:
        return str(args.data), int(args.limit) or 8
    if VALIDATION_PHOTOS.is_dir() and any(VALIDATION_PHOTOS.iterdir()):
        return str(VALIDATION_PHOTOS), int(args.limit) or PHOTO_LIMIT
    return DEFAULT_DATA, int(args.limit) or 8


def upscale(img: np.ndarray, k: int) -> np.ndarray:
    return np.repeat(np.repeat(img, k, axis=0), k, axis=1)


def grid_rows(rows: List[List[Optional[np.ndarray]]], shape, k: int = 4, labels: Sequence[str] = ()) -> np.ndarray:
    """Rows of images (None = lost: dark grey) -> one uint8 grid image, column labels on top."""
    from PIL import Image, ImageDraw

    from .runtime.images import image_grid

    cells = []
    for row in rows:
        for im in row:
            cells.append(upscale(im if im is not None else np.full(shape, 40, np.uint8), k))
    grid = image_grid(cells, ncols=len(rows[0]), pad=2)
    if not labels:
        return grid
    band = Image.new("RGB", (grid.shape[1], 16), (255, 255, 255))
    draw = ImageDraw.Draw(band)
    w = shape[1] * k + 2
    for j, text in enumerate(labels):
        draw.text((2 + j * w + 2, 2), str(text), fill=(0, 0, 0))
    return np.concatenate([np.asarray(band), grid], axis=0)


def write_plot(path: Path, table: List[Dict], snrs: List[float]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    styles = {"semantic": "-o", "semantic2": "-^", "deepjscc": "--s", "digital": "-.x"}
    for codec in CODECS + ("digital",):
        for ch in CHANNELS:
            pts = [(r["snr_db"], r["psnr_db"]) for r in table if r["codec"] == codec and r["channel"] == ch]
            if pts:
                x, y = zip(*sorted(pts))
                label = {"semantic": "semantic coding", "semantic2": "semantic v2", "deepjscc": "Deep JSCC",
                         "digital": "digital"}[codec] + f", {ch}"
                ax.plot(x, y, styles[codec], label=label, alpha=1.0 if ch == "awgn" else 0.6)
    ax.set_xlabel("channel SNR (dB)")
    ax.set_ylabel("PSNR (dB)")
    ax.set_title("gr-semcod loopback over OFDM")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def ref_snr_default(args) -> float:
    snrs = [float(s) for s in args.snrs]
    return 10.0 if 10.0 in snrs else snrs[len(snrs) // 2]


def format_table(table: List[Dict]) -> str:
    """PSNR / SSIM over the *delivered* images (``received`` of ``sent``; ``lost`` are not scored);
    the last PSNR column also scores the stand-ins a viewer is shown for lost ones (digital)."""
    lines = ["| codec | channel | SNR (dB) | received | lost | PSNR delivered (dB) | SSIM | PSNR with stand-ins (dB) | "
             "est. SNR (dB) | PHY sync / frames / header err |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in table:
        lines.append(f"| {r['codec']} | {r['channel']} | {r['snr_db']:g} | {r['received']}/{r['sent']} | {r['lost']} | "
                     f"{r['psnr_db']:.2f} | {r['ssim']:.3f} | {r['psnr_with_stand_ins_db']:.2f} | {r['snr_est_db']:.1f} | "
                     f"{r['phy_triggers']} / {r['phy_frames']} / {r['phy_header_errors']} |")
    return "\n".join(lines)


# --------------------------------------------------------------------------- main
def run(args) -> int:
    from .runtime import Bundle, BundleError
    from .runtime.datasets import FASHION_MNIST_DIR, load_images
    from .runtime.images import save_png

    out = Path(args.out)
    try:
        bundle = Bundle.load(args.bundle)
    except BundleError as e:
        print(f"semcod demo: cannot load the bundle: {e}\n"
              f"  train and export it first (semcod train semcod_32 && semcod export ...), or pass --bundle DIR",
              file=sys.stderr)
        return 2
    from .blocks.image_source import load_source

    cbr = pick_cbr(bundle, args.cbr, not args.no_deepjscc)
    codecs = [c for c in available_codecs(bundle, cbr) if not (args.no_deepjscc and c == "deepjscc")]
    codecs += ["digital"] if args.digital != "none" else []  # needs no model: JPEG/.. + LDPC + QAM
    if not codecs:
        print(f"semcod demo: only Deep JSCC is in the bundle at CBR {cbr} and --no-deepjscc was given", file=sys.stderr)
        return 2
    size = bundle.image_size[0] if bundle.image_size else 32
    data, limit = default_data(args)
    photos, _, photo_names = load_source(data, 0, limit, max_side=4096)
    photo_mode = any(p.shape != (size, size, 3) for p in photos)
    originals = photos if photo_mode else load_images(data, size=size, limit=limit).images
    if out.exists():
        for sub in ("rx",):
            shutil.rmtree(out / sub, ignore_errors=True)
        (out / "metrics.csv").unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)

    t_start = time.monotonic()
    cls = compile_flowgraph(FLOWGRAPH, out / "build")
    runs = [(c, ch, snr) for c in codecs for ch in args.channels for snr in args.snrs]
    try:
        from tqdm import tqdm
        bar = tqdm(runs, desc="semcod demo", unit="run", disable=args.quiet, file=sys.stderr)
    except ImportError:  # pragma: no cover
        bar = runs
    table, received, lost_lines = [], {}, []
    for codec, ch, snr in bar:
        tag = f"{codec} {ch} {snr:g}dB"
        if hasattr(bar, "set_postfix_str"):
            bar.set_postfix_str(tag)
        rx_dir = out / "rx" / f"{codec}_{ch}_{snr:g}dB"
        tb, sink = run_loopback(
            cls, timeout=600.0 if photo_mode else 120.0, bundle=str(args.bundle), data=data, cbr=cbr, codec=codec,
            snr_db=float(snr), multipath=CHANNELS[ch], cfo=0.0, seed=int(args.seed), limit=limit,
            outdir=str(rx_dir), csv_path=str(out / "metrics.csv"), tag=tag,
            linger=30.0 if photo_mode else 1.0,  # a photo may take seconds to decode: wait that long when one is missing
            header_reps=int(args.header_reps), sync_threshold=float(args.sync_threshold),
            source_codec=args.digital if codec == "digital" else "avif",
            rate=DIGITAL_RATE[photo_mode] if codec == "digital" else 0.0)
        acc = sink.summary(final=True)
        try:
            phy = tb.semcod_ofdm_analog_rx_0.counters()
        except Exception:  # noqa: BLE001 - counters are informative only
            phy = {}
        table.append({"codec": codec, "channel": ch, "snr_db": float(snr), "sent": acc["sent"],
                      "received": acc["received"], "lost": acc["lost"],
                      "psnr_db": sink.mean_psnr(), "ssim": sink.mean_ssim(),  # delivered images only
                      "psnr_with_stand_ins_db": sink.mean_psnr_with_stand_ins(),
                      "snr_est_db": sink.stats_with_stand_ins["snr_db"].value_mean(),
                      "phy_triggers": int(phy.get("triggers", -1)), "phy_frames": int(phy.get("frames", -1)),
                      "phy_header_errors": int(phy.get("header_errors", -1)),
                      "seconds": round(tb.elapsed, 2)})
        if acc["lost"]:
            lost_lines.append(f"{tag}: {sink.summary_line()}")
        received[(codec, ch, float(snr))] = dict(sink.received)
        del tb

    # ---------------------------------------------------------------- machine receivers
    acc_rows = []
    cls_codecs = [c for c, role in (("semantic", "classifier"), ("deepjscc", "image_classifier"))
                  if c in codecs and bundle.has(role)]
    cls_data = args.classify_data or (FASHION_MNIST_DIR if Path(FASHION_MNIST_DIR).is_dir() else None)
    if cls_codecs and cls_data and args.classify_images > 0:
        for codec in cls_codecs:
            tb, sink = run_loopback(
                cls, bundle=str(args.bundle), data=str(cls_data), cbr=cbr, codec=codec, snr_db=ref_snr_default(args),
                multipath=0, cfo=0.0, seed=int(args.seed), limit=int(args.classify_images), outdir="", csv_path="",
                tag=f"{codec} classify", linger=1.0, header_reps=int(args.header_reps),
                sync_threshold=float(args.sync_threshold))
            acc_rows.append({"codec": codec, "snr_db": ref_snr_default(args), "images": int(args.classify_images),
                             "classified": sink.n_classified(), "accuracy": sink.accuracy()})
            del tb

    # ---------------------------------------------------------------- outputs
    with open(out / "results.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(table[0]))
        w.writeheader()
        w.writerows(table)
    text = format_table(table)
    if acc_rows:
        text += (f"\n\nMachine receivers on {cls_data} (AWGN {acc_rows[0]['snr_db']:g} dB):\n\n"
                 "| codec | receiver | classified | accuracy |\n|---|---|---:|---:|\n")
        text += "\n".join(f"| {r['codec']} | {'token classifier' if r['codec'] == 'semantic' else 'image classifier'} | "
                          f"{r['classified']}/{r['images']} | {r['accuracy']:.3f} |" for r in acc_rows)
    per_photo = []
    if photo_mode:
        from . import demo_photos

        names = {i: Path(n).stem for i, n in enumerate(photo_names)}
        with open(out / "metrics.csv") as f:
            per_photo = demo_photos.per_photo_rows(list(csv.DictReader(f)), names)
        text += "\n\nPer photo (whole photo at its own size):\n\n" + demo_photos.format_per_photo(per_photo)
    what = f"{len(originals)} {'photos at their own size' if photo_mode else 'images'}"
    (out / "results.md").write_text(f"# semcod demo ({bundle.name}, CBR {cbr}, {what})\n\n{text}\n")
    if photo_mode:
        demo_photos.write_per_photo_plot(out / "psnr_vs_snr.png", per_photo,
                                         "awgn" if "awgn" in args.channels else args.channels[0])
    else:
        write_plot(out / "psnr_vs_snr.png", table, args.snrs)
    shape = originals[0].shape
    ref_snr = 10.0 if 10.0 in [float(s) for s in args.snrs] else float(args.snrs[len(args.snrs) // 2])
    ch0 = "awgn" if "awgn" in args.channels else args.channels[0]
    rows = []
    for i, im in enumerate(originals):
        row = [im] + [received.get((c, ch0, ref_snr), {}).get(i) for c in codecs]
        rows.append(row)
    names = {"semantic": "semantic", "semantic2": "semantic v2", "deepjscc": "Deep JSCC", "digital": f"digital {args.digital}"}
    first = codecs[0]
    snr_rows = [[im] + [received.get((first, ch0, float(s)), {}).get(i) for s in args.snrs]
                for i, im in enumerate(originals)]
    labels = ["original"] + [names[c] for c in codecs]
    snr_labels = ["original"] + [f"{names[first]} {s:g} dB" for s in args.snrs]
    if photo_mode:
        save_png(out / "grid.png", demo_photos.photo_grid(rows, labels))
        save_png(out / "grid_snr.png", demo_photos.photo_grid(snr_rows, snr_labels, width=240))
    else:
        save_png(out / "grid.png", grid_rows(rows, shape, labels=labels))
        save_png(out / "grid_snr.png", grid_rows(snr_rows, shape, labels=snr_labels))

    print(f"semcod demo: bundle {bundle.name} ({args.bundle}), CBR {cbr}, {what} from {data}")
    print(text)
    for line in lost_lines:
        print(f"lost images: {line}")
    print(f"grid: {out / 'grid.png'} (original | " + " | ".join(codecs) + f", {ch0} {ref_snr:g} dB)")
    print(f"plot: {out / 'psnr_vs_snr.png'}; table: {out / 'results.md'}; per image: {out / 'metrics.csv'}")
    print(f"total {time.monotonic() - t_start:.1f} s")
    ref = [r["psnr_db"] for r in table if r["codec"] == first and r["channel"] == ch0 and r["snr_db"] == ref_snr]
    print(f"demo_psnr_10db={ref[0]:.2f}" if ref and np.isfinite(ref[0]) else "demo_psnr_10db=nan")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="semcod demo", description=__doc__.splitlines()[0])
    add_arguments(p)
    return run(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
