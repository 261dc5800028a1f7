"""Shared helpers for the benchmarks."""
from __future__ import annotations

import time
from typing import Callable, Dict

import numpy as np


def throughput(fn: Callable[[], object], items_per_call: int, min_seconds: float = 3.0, warmup: int = 2) -> float:
    """Items per second of ``fn`` (best of three timing windows, each at least ``min_seconds / 3``)."""
    for _ in range(warmup):
        fn()
    best = 0.0
    for _ in range(3):
        calls, t0 = 0, time.perf_counter()
        while True:
            fn()
            calls += 1
            dt = time.perf_counter() - t0
            if dt >= min_seconds / 3:
                break
        best = max(best, calls * items_per_call / dt)
    return best


def ort_session(path: str, threads: int = 0):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = threads
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])


def ort_images_per_s(path: str, batch: np.ndarray, threads: int = 0, min_seconds: float = 3.0) -> float:
    sess = ort_session(path, threads)
    name = sess.get_inputs()[0].name
    feed: Dict[str, np.ndarray] = {name: batch}
    return throughput(lambda: sess.run(None, feed), batch.shape[0], min_seconds)


def add_photo_arguments(p, cbr=("1/48", "1/12"), snr=(1.0, 10.0)) -> None:
    """The arguments of a bench over whole photos: ``--bundle --data --limit --cbr --snr --seed --threads``."""
    p.add_argument("--bundle", default="models/semcod_32")
    p.add_argument("--data", required=True, help="folder, glob or file of photos")
    p.add_argument("--limit", type=int, default=None, help="at most this many photos")
    p.add_argument("--cbr", nargs="+", default=list(cbr))
    p.add_argument("--snr", nargs="+", type=float, default=list(snr))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="ONNX Runtime (and torch) threads (0: all cores)")


def read_photos(data, limit=None) -> list:
    """``[(path, uint8 H x W x 3)]`` of the photos in ``data`` (at most ``limit``); an unreadable
    file is reported (``skipped: ...``) and left out; SystemExit when none is readable."""
    from ..runtime.images import ImageLoadError, list_image_files, read_image

    photos = []
    for f in list_image_files(data)[:limit]:
        try:
            photos.append((f, read_image(f)))
        except ImageLoadError as e:
            print(f"skipped: {e}")
    if not photos:
        raise SystemExit(f"{data}: no readable photos")
    return photos

