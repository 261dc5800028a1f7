"""``semcod bench phy``: OFDM loopback throughput, GNU Radio's stock OFDM vs ours.

Both run in this process on the same number of channel samples, one after the other:

* stock: random packets -> ``digital.ofdm_tx`` -> x 1/sqrt(fft_len) -> ``channel`` -> head ->
  ``digital.ofdm_rx`` (its own length tag key ``rx_len``) -> count of received packets;
* ours: image PDUs -> :class:`~gr_semcod.phy.ofdm_analog_tx.ofdm_analog_tx` -> ``channel``
  -> head -> :class:`~gr_semcod.phy.ofdm_analog_rx.ofdm_analog_rx`.

The timer runs from ``start()`` until the head block has passed all samples (that is, until
the receiver has been offered them; the stock receiver's backlog at that point is at most a few
buffers); for ours also until the deframer has decoded every sample it was given (its queued
batch included).  Prints Msps and frame recovery (frames decoded / frames that fit in the samples)
for each, their ratio, the ratio of CPU time per sample (stock/ours, all threads) and last
``phy_ratio=<ours/stock>``.

``--quality`` instead sweeps ``--snr`` (default -3 0 1 3 10 dB) through our receiver (frames,
SNR estimate, MSE against the AWGN and genie-CSI references), then counts the frames decoded
from ``--noise-samples`` (10^7) of pure noise; its last lines are ``phy_frames_<snr>db=<fraction>``
per SNR and ``phy_false_frames=<count>``.
"""
from __future__ import annotations

import os
import resource
import threading
import time


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _thread_cpu() -> dict:
    """{thread id: (name, CPU seconds)} of this process's threads (Linux /proc; {} elsewhere)."""
    out = {}
    try:
        tids = os.listdir("/proc/self/task")
    except OSError:
        return out
    tick = os.sysconf("SC_CLK_TCK")
    for t in tids:
        try:
            with open(f"/proc/self/task/{t}/comm") as f:
                name = f.read().strip()
            with open(f"/proc/self/task/{t}/stat") as f:
                st = f.read().rsplit(")", 1)[1].split()
            out[int(t)] = (name, (int(st[11]) + int(st[12])) / tick)
        except (OSError, IndexError, ValueError):
            pass
    return out


class _ThreadMonitor:
    """CPU seconds per thread over a run, threads that end during it included (polled every
    ``period`` s; Python threads named as in :mod:`threading`, GNU Radio's by their block)."""

    def __init__(self, period=0.05):
        self.period, self.start, self.last = period, _thread_cpu(), {}
        self._stop = threading.Event()
        self._th = threading.Thread(target=self._run, daemon=True)
        self._th.start()

    def _run(self):
        while not self._stop.wait(self.period):
            self.last.update(_thread_cpu())

    def stop(self) -> dict:
        """{name: CPU seconds during the run}, largest first (this monitor's own thread left out)."""
        self._stop.set()
        self._th.join()
        self.last.update(_thread_cpu())
        py = {t.native_id: t.name for t in threading.enumerate()}
        agg = {}
        for tid, (name, cpu) in self.last.items():
            if tid == self._th.native_id:
                continue
            name = py.get(tid, name)
            agg[name] = agg.get(name, 0.0) + cpu - self.start.get(tid, (name, 0.0))[1]
        return dict(sorted(agg.items(), key=lambda kv: -kv[1]))


def add_arguments(p):
    p.add_argument("--samples", type=float, default=3e6, help="channel samples per run")
    p.add_argument("--snr", type=float, nargs="+", default=None,
                   help="channel SNR(s) in dB (speed: the first, default 20; --quality: a sweep, default -3 0 1 3 10)")
    p.add_argument("--cfo", type=float, default=0.0, help="CFO in subcarrier spacings")
    p.add_argument("--taps", default="1", help="comma-separated complex multipath taps, e.g. '1,0.3j,0.1'")
    p.add_argument("--packet-bytes", type=int, default=96, help="stock: bytes per packet")
    p.add_argument("--image-symbols", type=int, default=3840, help="ours: complex symbols per image")
    p.add_argument("--max-payload-symbols", type=int, default=20, help="ours: OFDM payload symbols per frame")
    p.add_argument("--repeat", type=int, default=3, help="interleaved runs of each (best Msps reported)")
    p.add_argument("--only", choices=["stock", "ours"], default=None)
    p.add_argument("--quality", action="store_true",
                   help="instead of speed: frame recovery, SNR estimate and symbol MSE of our receiver "
                        "(vs the AWGN MSE 10^(-SNR/10) and a genie-CSI equaliser) at --snr/--cfo/--taps")
    p.add_argument("--fading", choices=["none", "flat", "selective"], default="none",
                   help="--quality: Rayleigh fading (selective: paths at 0, 1, 3 samples, mags 1, 0.6, 0.3)")
    p.add_argument("--doppler", type=float, default=1e-5, help="--quality: normalised max Doppler fD*Ts")
    p.add_argument("--images", type=int, default=45, help="--quality: images of --image-symbols symbols")
    p.add_argument("--all-modes", action="store_true", help="--quality: every tracking x equaliser (default phase/zf)")
    p.add_argument("--noise-samples", type=float, default=1e7, help="--quality: pure-noise samples for the false-frame count")
    p.add_argument("--preamble-len", type=int, default=3, help="short training symbols (TX and RX)")
    p.add_argument("--threads", action="store_true",
                   help="speed: also print each run's CPU seconds per thread (GNU Radio names its threads by block; "
                        "the Python deframer's is the gateway thread 'Dummy-N')")
    p.add_argument("--deframer", type=int, nargs="*", default=None, metavar="CHUNK",
                   help="instead: CPU time of the deframer alone (this thread) per frame, fed recorded samples "
                        "and detector output in chunks of CHUNK samples (default 2640 32768: one frame per "
                        "call, or a dozen batched); --images images at the first --snr")


def _items_written(block):
    """A cheap ``block.nitems_written(0)`` for polling a running flowgraph (call after start()).

    ``block.nitems_written`` waits for the block's lock, holding the GIL, about 0.4 ms while the
    block runs; polled every 5 ms from two threads it stalled every Python block of the flowgraph
    under test (ours has two, the stock one none).  The ``block_detail``'s counter reads in
    about 0.5 us."""
    d = block.detail()
    return lambda: d.nitems_written(0)


def _stock(args, n, taps):
    import numpy as np
    from gnuradio import blocks, digital, gr, pdu

    from gr_semcod.phy.channel import channel

    rng = np.random.default_rng(1)
    B = args.packet_bytes
    n_pk = 256
    data = rng.integers(0, 256, B * n_pk, dtype=np.uint8)
    tb = gr.top_block()
    src = blocks.vector_source_b(data.tolist(), True)
    s2ts = blocks.stream_to_tagged_stream(gr.sizeof_char, 1, B, "packet_len")
    tx = digital.ofdm_tx(packet_length_tag_key="packet_len")
    scale = blocks.multiply_const_cc(1.0 / 8.0)
    ch = channel(args.snr, taps, args.cfo, seed=5)
    head = blocks.head(gr.sizeof_gr_complex, n)
    rx = digital.ofdm_rx(packet_length_tag_key="rx_len")
    to_pdu = pdu.tagged_stream_to_pdu(gr.types.byte_t, "rx_len")
    dbg = blocks.message_debug()
    tb.connect(src, s2ts, tx, scale, ch, head, rx, to_pdu)
    tb.msg_connect(to_pdu, "pdus", dbg, "store")
    n_syms = 3 + -(-(B + 4) * 8 // 48)
    frame = n_syms * 80
    mon = _ThreadMonitor() if args.threads else None
    c0, t0 = _cpu(), time.perf_counter()
    tb.start()
    written = _items_written(head)
    while written() < n:
        time.sleep(0.005)
    dt, cpu = time.perf_counter() - t0, _cpu() - c0
    threads = mon.stop() if mon else None
    time.sleep(0.2)
    tb.stop()
    tb.wait()
    return n / dt / 1e6, dbg.num_messages(), n // frame, frame, cpu / n * 1e6, None, threads


def _ours(args, n, taps):
    import numpy as np
    from gnuradio import blocks, gr

    from gr_semcod.phy.channel import channel
    from gr_semcod.phy.ofdm_analog_rx import ofdm_analog_rx
    from gr_semcod.phy.ofdm_analog_tx import make_pdu, ofdm_analog_tx

    rng = np.random.default_rng(2)
    L = args.image_symbols
    tb = gr.top_block()
    tx = ofdm_analog_tx(max_payload_symbols=args.max_payload_symbols, preamble_len=args.preamble_len)
    ch = channel(args.snr, taps, args.cfo, seed=5)
    head = blocks.head(gr.sizeof_gr_complex, n)
    rx = ofdm_analog_rx(timeout_samples=20000, preamble_len=args.preamble_len)
    tb.connect(tx, ch, head, rx)
    imgs = [make_pdu(i, ((rng.standard_normal(L) + 1j * rng.standard_normal(L)) / np.sqrt(2)).astype(np.complex64))
            for i in range(16)]
    from gr_semcod.phy.header import fragment_bounds, plan_fragments
    nf = plan_fragments(L, args.max_payload_symbols * tx.params.n_data)
    per_image = sum(tx.frame_samples(np.subtract(*fragment_bounds(L, nf, f)[::-1])) for f in range(nf))
    done = threading.Event()

    def feed():  # keep ~32 images queued ahead of the head block; never unbounded
        k = 0
        written = _items_written(head)
        while not done.is_set():
            if k * per_image - written() < 32 * per_image:
                for _ in range(8):
                    tx.post(imgs[k % len(imgs)])
                    k += 1
            else:
                time.sleep(0.005)

    th = threading.Thread(target=feed, daemon=True)
    mon = _ThreadMonitor() if args.threads else None
    c0, t0 = _cpu(), time.perf_counter()
    tb.start()
    th.start()
    # until the head has passed n samples and the receiver has decoded them all (its batches
    # included: stricter than the stock side's timer, whose receiver may still hold a backlog)
    d = rx.deframer
    written = _items_written(head)
    while (written() < n or d.n_samples_done < n) and time.perf_counter() - t0 < 600:
        time.sleep(0.005)
    dt, cpu = time.perf_counter() - t0, _cpu() - c0
    threads = mon.stop() if mon else None
    time.sleep(0.3)
    done.set()
    tb.stop()
    tb.wait()
    th.join()
    c = rx.counters()
    # frames that fit completely in n samples
    sent, pos, f = 0, 0, 0
    lens = [tx.frame_samples(np.subtract(*fragment_bounds(L, nf, i)[::-1])) for i in range(nf)]
    while pos + lens[f % nf] <= n:
        pos += lens[f % nf]
        sent += 1
        f += 1
    d = rx.deframer
    c = dict(c, work_calls=d.n_work_calls, samples_per_call=round(d.nread / max(d.n_work_calls, 1)),
             frames_per_batch=round(d.n_triggers / max(d.n_batches, 1), 2))
    return n / dt / 1e6, c["frames"], sent, per_image / nf, cpu / n * 1e6, c, threads


def _waveform(args, n_images, seed=3):
    """Our transmitter's samples for ``n_images`` random images (and the images)."""
    import numpy as np
    from gnuradio import blocks, gr

    from gr_semcod.phy.header import fragment_bounds, plan_fragments
    from gr_semcod.phy.ofdm_analog_tx import make_pdu, ofdm_analog_tx

    rng = np.random.default_rng(seed)
    L = args.image_symbols
    imgs = [((rng.standard_normal(L) + 1j * rng.standard_normal(L)) / np.sqrt(2)).astype(np.complex64)
            for _ in range(n_images)]
    tb = gr.top_block()
    tx = ofdm_analog_tx(max_payload_symbols=args.max_payload_symbols, preamble_len=args.preamble_len)
    snk = blocks.vector_sink_c()
    tb.connect(tx, snk)
    tb.start()
    for i, x in enumerate(imgs):
        tx.post(make_pdu(i, x))
    nf = plan_fragments(L, tx.framer.max_payload)
    total = n_images * sum(tx.frame_samples(np.subtract(*fragment_bounds(L, nf, f)[::-1])) for f in range(nf))
    t0 = time.time()
    while len(snk.data()) < total and time.time() - t0 < 120:
        time.sleep(0.02)
    tb.stop()
    tb.wait()
    y = np.concatenate([np.zeros(400, np.complex64), np.asarray(snk.data(), np.complex64),
                        np.zeros(4000, np.complex64)])
    return y, imgs, nf, tx.params


def _receive(y, args, taps, snr, tracking="phase", eq="zf", seed=7):
    from gnuradio import blocks, gr

    from gr_semcod.phy.channel import channel
    from gr_semcod.phy.ofdm_analog_rx import ofdm_analog_rx

    tb = gr.top_block()
    rx = ofdm_analog_rx(equalizer=eq, tracking=tracking, preamble_len=args.preamble_len)
    rx.deframer.image_log = []
    ch = channel(snr, taps, args.cfo, seed=seed, fading=args.fading, doppler=args.doppler,
                 delays=(0.0, 1.0, 3.0), mags=(1.0, 0.6, 0.3))
    tb.connect(blocks.vector_source_c(y), ch, rx)
    tb.run()
    rx.flush()
    return rx


def _quality(args, taps) -> int:
    """Per SNR: frames received, SNR estimate, symbol MSE (vs the AWGN MSE and a genie-CSI
    equaliser); then a pure-noise run.  Last lines: ``phy_frames_<snr>db=`` per SNR and
    ``phy_false_frames=``."""
    import numpy as np
    from gnuradio import analog, blocks, gr

    from gr_semcod.phy.ofdm_analog_rx import ofdm_analog_rx

    y, imgs, nf, p = _waveform(args, args.images)
    L = args.image_symbols
    n_frames = args.images * nf
    t = np.asarray(taps, complex) / np.linalg.norm(taps)
    H2 = np.abs(np.fft.fft(t, p.fft_len)[p.data_bins]) ** 2
    print(f"quality          {args.images} images x {L} symbols ({n_frames} frames), CFO {args.cfo}, taps {args.taps}, "
          f"fading {args.fading} (fD*Ts {args.doppler}), preamble_len {args.preamble_len}")
    modes = [(tr, eq) for tr in ("phase", "pilots") for eq in ("zf", "mmse")] if args.all_modes else [("phase", "zf")]
    fractions = {}
    for snr in args.snr:
        s2 = 10 ** (-snr / 10)
        for tracking, eq in modes:
            rx = _receive(y, args, taps, snr, tracking, eq)
            got = {g.image_id: g for g in rx.deframer.image_log}
            c = rx.counters()
            her = c["header_errors"] / max(c["triggers"], 1)  # headers that failed their CRC / detections
            line = (f"  {snr:5.1f} dB {tracking:6s} {eq:4s} frames {c['frames']}/{n_frames}  detected {c['triggers']}  "
                    f"header error rate {her:.3f}")
            errs = [np.abs(g.symbols - imgs[i])[g.erasure == 0] ** 2 for i, g in got.items() if (g.erasure == 0).any()]
            if errs:  # never crash when nothing arrived
                err = np.concatenate(errs)
                est = np.array([g.snr_db for g in got.values() if np.isfinite(g.snr_db)])
                genie = np.mean(s2 / H2) if eq == "zf" else np.mean(s2 / (H2 + s2))
                if args.fading != "none":
                    genie = float("nan")  # the channel is random: no closed-form reference
                line += (f"  snr_est mean {est.mean():.2f} [{est.min():.2f}, {est.max():.2f}] dB  "
                         f"MSE {10 * np.log10(err.mean()):.2f} dB (AWGN {10 * np.log10(s2):.2f}, "
                         f"genie-CSI {10 * np.log10(genie):.2f})")
            else:
                line += "  (no image received)"
            print(line)
            fractions.setdefault(snr, c["frames"] / max(n_frames, 1))
    # pure noise: frames decoded where there are none
    n = int(args.noise_samples)
    tb = gr.top_block()
    rx = ofdm_analog_rx(preamble_len=args.preamble_len)
    src = analog.noise_source_c(analog.GR_GAUSSIAN, 1.0, 11)  # unit power complex Gaussian noise
    tb.connect(src, blocks.head(gr.sizeof_gr_complex, n), rx)
    tb.run()
    rx.flush()
    c = rx.counters()
    print(f"  noise  {n} samples (unit power): {c['triggers']} detections, {c['header_errors']} header errors, "
          f"{c['frames']} frames")
    for snr, f in fractions.items():
        print(f"phy_frames_{snr:g}db={f:.4f}")
    print(f"phy_false_frames={c['frames']}")
    return 0


def _deframer_cost(args, taps) -> int:
    """Deframer CPU per frame for each chunk size, on the same recorded channel output (the
    detector's C++ chain run beforehand): what the receiver's Python thread costs, without the
    rest of the flowgraph or other jobs' share of the machine in the number."""
    import numpy as np
    from gnuradio import blocks, gr

    from gr_semcod.phy.channel import channel
    from gr_semcod.phy.deframer import ofdm_analog_deframer
    from gr_semcod.phy.detector import preamble_detector

    y, _, nf, p = _waveform(args, args.images)
    tb = gr.top_block()
    ch = channel(args.snr[0] if args.snr else 20.0, taps, args.cfo, seed=5)
    det = preamble_detector(p)
    sx, sl = blocks.vector_sink_c(), blocks.vector_sink_f()
    tb.connect(blocks.vector_source_c(y), ch, sx)
    tb.connect(ch, det, sl)
    tb.run()
    x, lam = np.asarray(sx.data(), np.complex64), np.asarray(sl.data(), np.float32)
    print(f"deframer         {args.images * nf} frames, {x.size} samples, SNR {args.snr[0] if args.snr else 20.0} dB, "
          f"CFO {args.cfo}, taps {args.taps}; load average {os.getloadavg()[0]:.2f}")
    for chunk in args.deframer or [2640, 32768]:
        best = None
        for _ in range(max(1, args.repeat)):
            d = ofdm_analog_deframer(p, timeout_samples=20000)
            t0 = time.thread_time()
            for i in range(0, x.size, chunk):
                d.work([x[i:i + chunk], lam[i:i + chunk]], [])
            dt = time.thread_time() - t0
            best = dt if best is None else min(best, dt)
        print(f"  chunk {chunk:6d} samples: {1e3 * best / max(d.n_frames, 1):.3f} ms CPU per frame "
              f"({d.n_frames} frames, {x.size / best / 1e6:.2f} Msps of this thread alone, best of {max(1, args.repeat)})")
    return 0


def run(args) -> int:
    n = int(args.samples)
    taps = [complex(t) for t in args.taps.split(",")]
    if args.deframer is not None:
        return _deframer_cost(args, taps)
    if args.quality:
        args.snr = args.snr or [-3.0, 0.0, 1.0, 3.0, 10.0]
        return _quality(args, taps)
    args.snr = (args.snr or [20.0])[0]
    print(f"load average     {os.getloadavg()[0]:.2f} before the runs")
    print(f"loopback         {n} samples per run, SNR {args.snr} dB, CFO {args.cfo}, taps {args.taps}, "
          f"{os.cpu_count()} cores")
    res = {}
    runs = [(name, fn) for name, fn in (("stock", _stock), ("ours", _ours)) if not args.only or args.only == name]
    for _ in range(max(1, args.repeat)):  # interleaved, best of each: the machine's load varies
        for name, fn in runs:
            r = fn(args, n, taps)
            if name not in res or r[0] > res[name][0]:
                res[name] = r
    for name, _ in runs:
        best = res[name]
        msps, got, sent, frame, us = best[:5]
        extra = f"\n       rx counters {best[5]}" if name == "ours" else ""
        print(f"{name:6s} {msps:7.3f} Msps   frames {got}/{sent} ({100.0 * got / max(sent, 1):.1f}%), "
              f"{frame:.0f} samples/frame, CPU {us:.3f} us/sample (all threads){extra}")
        if best[6]:
            top = [f"{k} {v:.2f}" for k, v in best[6].items() if v >= 0.005]
            print(f"       CPU s per thread ({n} samples): " + ", ".join(top))
    if len(res) == 2:
        ratio = res["ours"][0] / res["stock"][0]
        # CPU seconds per sample (all threads) of the same best runs: less sensitive to other jobs
        # on the machine than Msps, which also measures how much of the CPU the run was given
        print(f"cpu ratio        {res['stock'][4] / res['ours'][4]:.3f} (stock/ours CPU per sample)")
        print(f"ratio            {ratio:.3f} (ours/stock Msps)")
        print(f"phy_ratio={ratio:.3f}")
    return 0
