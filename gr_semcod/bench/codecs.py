"""``semcod bench codecs``: the source codecs of the digital baseline at equal payload budgets.

For every image of ``--data`` (photos at their own size by default) and every budget in bits per
pixel: the highest quality whose payload (:mod:`gr_semcod.baselines.source_codecs`: what the
digital link sends) fits, and its PSNR; mean over the images.  ``nan`` = for at least one image
the codec's smallest payload does not fit (nothing would be sent).  Last lines: ``codec_psnr_<codec>_<bpp>bpp=<dB>``.
"""
from __future__ import annotations

import math
import time


def add_arguments(p):
    p.add_argument("--data", default="../shared/data/photos/val", help="images: folder, glob or .npz")
    p.add_argument("--size", type=int, default=0, help="resize to this side (0 = each photo's own size)")
    p.add_argument("--limit", type=int, default=0, help="first N images (0 = all)")
    p.add_argument("--bpp", nargs="+", type=float, default=[0.05, 0.1, 0.25, 0.5], help="budgets, bits per pixel")
    p.add_argument("--codecs", nargs="+", default=["jpeg", "webp", "avif", "heif"],
                   choices=["jpeg", "webp", "avif", "heif"])


def run(args) -> int:
    import numpy as np

    from ..baselines.link import PayloadSearch
    from ..baselines.source_codecs import available
    from ..runtime.images import list_image_files, read_images
    from ..runtime.metrics import psnr

    if str(args.data).endswith(".npz"):
        images = list(np.load(args.data)["images"][: args.limit or None])
    else:
        files = list_image_files(args.data)
        images = [im for _, im in read_images(files, args.size or None, args.limit or None)]
    print(f"{len(images)} images ({', '.join(f'{im.shape[0]}x{im.shape[1]}' for im in images[:8])}"
          f"{' ...' if len(images) > 8 else ''}); budgets {args.bpp} bit/pixel", flush=True)
    lines = []
    for codec in args.codecs:
        if not available(codec):
            print(f"{codec}: not installed, skipped")
            continue
        t0 = time.time()
        searches = [PayloadSearch(im, codec) for im in images]
        cells = []
        for bpp in args.bpp:
            vals = []
            for im, s in zip(images, searches):
                hit = s.best_payload(int(bpp * im.shape[0] * im.shape[1] / 8))
                vals.append(psnr(im, hit[2]) if hit is not None else math.nan)
            v = float(np.mean(vals))
            cells.append(f"{bpp:g} bpp {v:.2f} dB")
            lines.append(f"codec_psnr_{codec}_{bpp:g}bpp={v:.2f}")
        print(f"{codec}: " + ", ".join(cells) + f" ({time.time() - t0:.0f} s)", flush=True)
    print("\n".join(lines))
    return 0
