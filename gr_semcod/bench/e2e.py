"""``semcod bench e2e``: images per second through the full loopback flowgraph, time per block.

Runs ``flowgraphs/semcod_loopback_nogui.grc`` (compiled with ``grcc``, as ``semcod demo``
does) on ``--images`` images: image source -> semcod_tx (tokenizer, JSCC encoder) -> OFDM TX
-> burst guard -> channel -> OFDM RX -> semcod_rx (JSCC decoder, detokenizer, classifier) ->
image sink.  The clock runs from ``start()`` to the arrival of the last image at the sink (the
sink's linger at the end is not counted).  A warm-up run first loads the ONNX sessions.

Time per block: the message blocks of gr-semcod account the wall time of their handlers
(:meth:`busy_seconds`); stream blocks report GNU Radio's performance counter
``pc_work_time_total`` (enabled here through ``GR_CONF_PERFCOUNTERS_ON``); blocks that are C++
hier blocks (``channel_model``, ``ofdm_sync_sc_cfb``) are not itemised.  Shares are of the sum
over the listed blocks, so they show where the CPU goes, not a critical path.

Photos (``--full-size``, or ``--data`` a folder / glob of photos): the first ``--images`` photos go
through at their own size (tiled by ``semcod_tx``, stitched by ``semcod_rx``).  Besides photos
per second it reports the channel samples the OFDM receiver took in per second against the air
time those samples need at ``--air-rate`` (1 Msps): ``realtime_x`` > 1 means the loopback runs
faster than the air; and coding + decoding (the handler time of ``semcod_tx`` and ``semcod_rx``)
per photo against the photo's own air time: ``codec_vs_air`` <= 1 means the codec alone keeps up
with the radio.

Last line: ``e2e_images_per_s=<value>`` (photos per second with ``--full-size``).
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def add_arguments(p) -> None:
    p.add_argument("--bundle", default="models/semcod_32", help="model bundle (default %(default)s)")
    p.add_argument("--data", default=None, help="images (default: the shipped demo images)")
    p.add_argument("--images", type=int, default=64, help="images per timed run (default %(default)s)")
    p.add_argument("--snr", type=float, default=10.0, help="channel SNR in dB")
    p.add_argument("--multipath", action="store_true", help="3-tap multipath channel")
    p.add_argument("--codec", default="semantic", choices=["semantic", "deepjscc"])
    p.add_argument("--cbr", default="", help="CBR (default: 1/12 if the bundle has it)")
    p.add_argument("--repeats", type=int, default=2, help="timed runs; the best is reported")
    p.add_argument("--full-size", action="store_true",
                   help="photos at their own size (default when --data is a folder or glob of photos)")
    p.add_argument("--threads", type=int, default=1, help="ONNX Runtime threads per model (default %(default)s)")
    p.add_argument("--air-rate", type=float, default=1e6, help="air sample rate for the real-time comparison (Sa/s)")


def _is_photo_folder(data) -> bool:
    from ..runtime.datasets import detect_format

    return bool(data) and detect_format(data) == "files"


def _photo_source(data: str, n: int, out: Path) -> Path:
    """The first ``n`` readable photos of ``data`` (cycled if fewer) as PNGs in ``out``."""
    from ..runtime.images import list_image_files, read_images, save_png

    photos = [img for _, img in read_images(list_image_files(data), None, n, on_bad=lambda e: print(f"skipping {e}"))]
    if not photos:
        raise SystemExit(f"semcod bench e2e: no readable photo in {data}")
    out.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        save_png(out / f"p{i:04d}.png", photos[i % len(photos)])
    return out


def _stream_blocks(tb):
    """(name, block) of every GNU Radio block reachable as an attribute (hier blocks expanded)."""
    from gnuradio import gr

    seen, out = set(), []

    def visit(prefix, obj, depth):
        for name, v in list(vars(obj).items()):
            if name.startswith("__") or id(v) in seen:
                continue
            if isinstance(v, gr.hier_block2) and depth < 3:
                seen.add(id(v))
                visit(f"{prefix}{name}.", v, depth + 1)
            elif hasattr(v, "pc_work_time_total") and not hasattr(v, "busy_seconds"):
                seen.add(id(v))
                out.append((f"{prefix}{name}", v))

    visit("", tb, 0)
    return out


def _message_blocks(tb):
    out = []
    for name, v in vars(tb).items():
        stages = getattr(v, "stages", []) or []
        if hasattr(v, "busy_seconds") and not stages:  # a hier block is listed by its stages
            out.append((name, v))
        for sub in stages:
            out.append((f"{name}.{sub.name()}", sub))
    return out


def run(args) -> int:
    os.environ.setdefault("GR_CONF_PERFCOUNTERS_ON", "True")
    from gnuradio import gr

    from ..demo import DEFAULT_DATA, FLOWGRAPH, compile_flowgraph, pick_cbr, run_loopback
    from ..runtime import Bundle, BundleError
    from ..runtime.datasets import load_images

    try:
        bundle = Bundle.load(args.bundle)
    except BundleError as e:
        print(f"semcod bench e2e: cannot load the bundle: {e}", file=sys.stderr)
        return 2
    cbr = pick_cbr(bundle, args.cbr, args.codec == "deepjscc")
    size = bundle.image_size[0] if bundle.image_size else 32
    tmp = Path(tempfile.mkdtemp(prefix="semcod_e2e_"))
    photos = args.full_size or _is_photo_folder(args.data)
    if photos:
        data = _photo_source(args.data or DEFAULT_DATA, args.images, tmp / "photos")
        n_images = args.images
    else:
        src = load_images(args.data or DEFAULT_DATA, size=size).images
        reps = -(-args.images // len(src))
        images = np.concatenate([src] * reps)[: args.images]
        data = tmp / "images.npz"
        np.savez(data, images=images)
        n_images = len(images)
    cls = compile_flowgraph(FLOWGRAPH, tmp / "build")
    params = dict(bundle=str(args.bundle), data=str(data), cbr=cbr, codec=args.codec, snr_db=float(args.snr),
                  multipath=int(args.multipath), cfo=0.0, seed=1, outdir="", csv_path="", tag="bench",
                  linger=30.0 if photos else 0.5, threads=int(args.threads))

    # warm-up: ONNX sessions, numpy/scipy imports, PHY tables
    run_loopback(cls, **dict(params, limit=min(1 if photos else 4, n_images)))

    best = None
    for _ in range(max(1, args.repeats)):
        tb = cls(**dict(params, limit=n_images))
        t0 = time.time()
        tb.start()
        tb.wait()
        sink = tb.semcod_image_sink_0
        acc = sink.summary(final=True)
        t_last = sink.last_time if np.isfinite(sink.last_time) else time.time()
        dt = max(t_last - t0, 1e-9)
        rate = acc["received"] / dt
        if best is None or rate > best[0]:
            best = (rate, acc, dt, tb)
        else:
            del tb
    rate, acc, dt, tb = best
    sink = tb.semcod_image_sink_0
    lat = sink.stats["latency_s"]

    tps = float(gr.high_res_timer_tps())
    rows = []
    for name, b in _message_blocks(tb):
        rows.append((name, float(b.busy_seconds()), "handler"))
    for name, b in _stream_blocks(tb):
        try:
            rows.append((name, float(b.pc_work_time_total()) / tps, "work"))
        except Exception:
            pass
    rows = [r for r in rows if r[1] > 0]
    total = sum(r[1] for r in rows) or 1.0
    print(f"semcod bench e2e: bundle {bundle.name}, codec {args.codec}, CBR {cbr}, SNR {args.snr:g} dB"
          f"{' multipath' if args.multipath else ''}, {n_images} {'photos' if photos else 'images'}, "
          f"{os.cpu_count()} CPUs, {args.threads} ORT thread(s) per model")
    print(f"{sink.summary_line()}; {acc['received']} images in {dt:.2f} s (start -> last image at the sink)")
    if lat.n:
        print(f"latency source -> sink: median {1e3 * lat.quantile(0.5):.1f} ms, 95% {1e3 * lat.quantile(0.95):.1f} ms "
              f"(all images are queued at once, so this includes queueing)")
    print(f"{'block':<48} {'seconds':>8} {'share':>7}  kind")
    for name, sec, kind in sorted(rows, key=lambda r: -r[1]):
        print(f"{name:<48} {sec:8.3f} {100 * sec / total:6.1f}%  {kind}")
    if photos:
        _report_photos(tb, sink, acc, dt, args.air_rate)
    if acc["lost"] or acc["sent"] != n_images:
        try:
            phy = tb.semcod_ofdm_analog_rx_0.counters()
        except Exception:  # noqa: BLE001 - informative only
            phy = {}
        print(f"warning: incomplete run, {acc['lost']} of {acc['sent']} image(s) lost: {acc['reasons']}; "
              f"OFDM RX counters {phy}; images/s counts the received images only")
    print(f"e2e_images_per_s={rate:.2f}")
    return 0


def _report_photos(tb, sink, acc, dt, air_rate) -> None:
    """Photos: sizes, channel samples/s against the air, coding + decoding against the air time."""
    rows = list(sink.results)
    n = max(acc["received"], 1)
    samples = int(tb.semcod_ofdm_analog_rx_0.deframer.nread)
    air = samples / float(air_rate)
    codec_s = tb.semcod_tx_0.busy_seconds() + tb.semcod_rx_0.busy_seconds()
    sizes = sorted({(r["width"], r["height"]) for r in rows})
    print(f"photos: {', '.join(f'{w}x{h}' for w, h in sizes[:6])}{' ...' if len(sizes) > 6 else ''}; "
          f"PSNR mean {np.nanmean([r['psnr_db'] for r in rows]):.2f} dB, lost tiles "
          f"{sum(r['n_lost_tiles'] for r in rows)}")
    print(f"channel: {samples} samples ({samples / n:.0f} per photo) in {dt:.2f} s = {samples / dt / 1e6:.3f} MSa/s; "
          f"air time at {air_rate / 1e6:g} MSa/s {air:.3f} s ({air / n:.3f} s per photo): "
          f"realtime_x={air / dt:.3f} (> 1: faster than the air)")
    print(f"coding + decoding: {codec_s:.3f} s ({codec_s / n:.3f} s per photo; semcod_tx "
          f"{tb.semcod_tx_0.busy_seconds():.3f} s, semcod_rx {tb.semcod_rx_0.busy_seconds():.3f} s): "
          f"codec_vs_air={codec_s / max(air, 1e-9):.2f} (<= 1: the codec keeps up with the air at "
          f"{air_rate / 1e6:g} MSa/s)")
