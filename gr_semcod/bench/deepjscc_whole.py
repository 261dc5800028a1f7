"""``semcod bench deepjscc-whole``: the Deep JSCC baseline per 32x32 tile (what ``semcod eval
--full-size`` sends) against the same trained networks run fully convolutionally on the whole photo.

Issue #15 gives the baseline whichever of the two is stronger.  Both spend the photo's budget:
per tile ``CBR * S^2 * 3`` symbols per (edge-padded) tile; whole photo, the analysis transform on
the photo padded to a multiple of its stride 4, ``c * H/4 * W/4 / 2`` complex symbols, power
normalised over the photo (unit mean power), the same AWGN, the synthesis on the whole received
latent.  The whole-photo path runs the bundle's ONNX initialisers as torch modules
(:func:`gr_semcod.export.from_onnx.deepjscc_from_bundle`), so it needs torch (the radio never does).

Last lines: ``deepjscc_psnr_<tile|whole>_<cbr>_<snr>db=<dB>`` (means over photos).
"""
from __future__ import annotations


def add_arguments(p):
    from .common import add_photo_arguments

    add_photo_arguments(p)


def whole_photo(model, img, snr_db: float, rng):
    """uint8 ``H x W x 3`` photo -> ``(reconstruction float32 H x W x 3, symbols sent)``: ``model``
    (a :class:`~gr_semcod.jscc.deepjscc.DeepJSCC`) on the edge-padded photo as one image."""
    import numpy as np
    import torch

    h, w = img.shape[:2]
    ph, pw = -h % 4, -w % 4
    x = np.pad(img, ((0, ph), (0, pw), (0, 0)), mode="edge").astype(np.float32) / 255
    with torch.no_grad():
        lat = model.encoder.analysis(torch.from_numpy(x).permute(2, 0, 1)[None]).double().numpy()
        z = lat.reshape(-1, 2)
        z = z / np.sqrt(np.mean(np.sum(z * z, axis=1)))
        nv = 10 ** (-snr_db / 10)
        y = z + rng.normal(scale=np.sqrt(nv / 2), size=z.shape)
        rec = model.decoder.synthesis(torch.from_numpy(y.reshape(lat.shape).astype(np.float32)),
                                      torch.full((1, 1), float(snr_db)))
    return rec[0].permute(1, 2, 0).numpy()[:h, :w], int(z.shape[0])


def run(args) -> int:
    import numpy as np
    import torch

    from ..evaluation.fullsize import _score, deepjscc_photo
    from ..export.from_onnx import deepjscc_from_bundle
    from ..runtime.bundle import Bundle
    from ..runtime.channels import num_symbols
    from .common import read_photos

    if args.threads:
        torch.set_num_threads(args.threads)
    bundle = Bundle.load(args.bundle, **({"intra_op_threads": args.threads} if args.threads else {}))
    photos = [img for _, img in read_photos(args.data, args.limit)]
    lines = []
    for cbr in args.cbr:
        model = deepjscc_from_bundle(args.bundle, cbr)
        for snr in args.snr:
            tile, whole = [], []
            for i, img in enumerate(photos):
                ref = img.astype(np.float32) / 255
                k = num_symbols(cbr, *img.shape[:2])
                t = deepjscc_photo(bundle, img, cbr, "awgn", snr, args.seed + i)
                rec, n = whole_photo(model, img, snr, np.random.default_rng(args.seed + i))
                tile.append(_score(ref, t["image"])["psnr"])
                whole.append(_score(ref, np.clip(rec, 0, 1))["psnr"])
                print(f"{cbr} {snr:g} dB photo {i}: per tile {tile[-1]:.2f} dB ({t['symbols']} symbols), "
                      f"whole photo {whole[-1]:.2f} dB ({n} symbols; budget {k})")
            tag = f"{cbr.replace('/', '-')}_{snr:g}db"
            lines += [f"deepjscc_psnr_tile_{tag}={np.mean(tile):.3f}", f"deepjscc_psnr_whole_{tag}={np.mean(whole):.3f}"]
    print("\n".join(lines))
    return 0

