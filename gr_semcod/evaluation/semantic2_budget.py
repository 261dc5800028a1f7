"""Where a crop's symbols go in the semantic codec v2, and what its machine receiver makes of them.

    python -m gr_semcod.evaluation.semantic2_budget --bundle models/semcod_32 --limit 2000 \\
        --cbr 1/48 1/12 --snr 10

Per CBR, over labelled crops (default: the Fashion-MNIST test split, as ``semcod eval``'s
accuracy): the budget ``k``, the tokens per crop and their symbols, the side information charged
(flags + power gain at ``beta(SNR)``), the symbols left unspent, and the accuracy of the bundle's
``semantic2_classifier`` on

* ``channel``     the received latent over AWGN at ``--snr`` (``semcod eval``'s figure, same seed),
* ``noiseless``   the same tokens without channel noise (a genie channel: what merging alone costs),
* ``unmerged``    every position its own token, no noise, level map all zero (the SNR input
  ``--snr`` minus its power gain, as the genie's): the information of the whole base-rate latent,
  which no CBR below the base rate can send with its side information;

and what a human receiver gets from the same crops and channel draws: ``gain clipped`` (the crops
whose token power lay outside the power gain's grid, so that the receiver's scale is off by the
excess) and the PSNR of the v2 image (``semantic2_decoder`` of the rate) against Deep JSCC's at the
same CBR (same images, same AWGN seeds), when the bundle has it.

numpy + ONNX Runtime only.
"""
from __future__ import annotations

import argparse
from typing import Dict, List, Optional

import numpy as np

from ..runtime.bundle import Bundle
from ..runtime.channels import num_symbols
from .pipeline import _batches, deepjscc_roundtrip, load_labelled, through_channel
from .semantic2_crops import CLASSIFIER_ROLE, check_classifier, classifier_role, receive, transmit


def budget_rows(bundle: Bundle, images: np.ndarray, labels: Optional[np.ndarray], cbrs: List[str], snr_db: float,
                seed: int = 0, batch: int = 250, fill_rounds: Optional[int] = None) -> List[Dict]:
    """One dict per CBR: ``k``, ``tokens``, ``token_symbols``, ``side_symbols``, ``unused`` (means
    over the crops), and with labels and a ``semantic2_classifier`` the accuracies ``acc_channel``,
    ``acc_noiseless``, ``acc_unmerged`` of the head for that CBR (``classifier_role``: a head trained at
    that rate alone when the bundle has one).  ``fill_rounds``: the allocation's greedy fill passes
    (default the codec's; 1 = the allocation before the repeated fill)."""
    from ..runtime.metrics import psnr_per_image
    from ..runtime.semantic2 import check_bundle, codec_set, gain_index, has_floor, synthesize_tiles

    meta = check_bundle(bundle)
    c = meta["c"]
    n, _, h, w = images.shape
    classify = labels is not None and bundle.has(CLASSIFIER_ROLE)
    roles = {cbr: classifier_role(bundle, cbr) for cbr in cbrs}
    if classify:
        for cbr, role in roles.items():
            check_classifier(bundle, role, cbr)

    def logits(r, cbr):
        return bundle.run(roles[cbr], latent=r["latent"], levels=r["levels"], snr_db=r["snr_db"])["logits"]

    rows = []
    for cbr in cbrs:
        k = float(num_symbols(cbr, h, w))
        tok, spent, clipped, pred = [], [], [], {"channel": [], "noiseless": []}
        psnr = {"semantic2": [], "deepjscc": []}
        floor = has_floor(bundle, cbr)
        for j, sl in enumerate(_batches(n, batch)):  # batch j: channel seed seed + j, as received_latents
            sent = transmit(bundle, images[sl], cbr, snr_db, fill_rounds=fill_rounds)
            tok.append(sent.n_symbols)
            spent.append(sent.spent)
            clipped.append(sent.gain_clipped)
            rx = through_channel(sent.symbols, "awgn", snr_db, seed + j)
            r = receive(bundle, sent, rx)
            if classify:
                pred["channel"].append(logits(r, cbr).argmax(1))
                pred["noiseless"].append(logits(receive(bundle, sent, sent.symbols), cbr).argmax(1))
            rec = synthesize_tiles(bundle, meta, r["latent"], sent.levels, r["snr_db"], batch, rate=cbr)
            psnr["semantic2"].append(psnr_per_image(images[sl], np.clip(rec, 0, 1)))
        if floor:  # Deep JSCC at the CBR on the same images and channel seeds
            dj = deepjscc_roundtrip(bundle, images, cbr, "awgn", snr_db, seed, batch)["images"]
            psnr["deepjscc"].append(psnr_per_image(images, dj))
        tok, spent = np.concatenate(tok).astype(np.float64), np.concatenate(spent)
        row = {"cbr": cbr, "snr_db": snr_db, "k": k, "tokens": float(tok.mean() / (c / 2)),
               "token_symbols": float(tok.mean()), "side_symbols": float((spent - tok).mean()),
               "unused": float((k - spent).mean()), "gain_clipped": float(np.concatenate(clipped).mean())}
        row.update({f"psnr_{key}": float(np.concatenate(v).mean()) for key, v in psnr.items() if v})
        if classify:
            row.update({f"acc_{key}": float((np.concatenate(p) == labels).mean()) for key, p in pred.items()})
        rows.append(row)
    if classify:
        hits = {cbr: [] for cbr in cbrs}
        for sl in _batches(n, batch):
            for cbr in cbrs:  # each rate's transmitter, nothing merged
                codec = codec_set(bundle, cbr)
                feats = bundle.run(codec.encoder, images=images[sl])["features"]
                lev = np.zeros((len(feats),) + feats.shape[2:], np.uint8)
                latent = bundle.run(codec.merger, features=feats, levels=lev[:, None].astype(np.float32))["latent"]
                p_tok = (latent.astype(np.float64) ** 2).reshape(len(latent), -1).mean(1) * 2  # per complex symbol
                g = codec.meta  # the set's power gain grid
                q, _ = gain_index(g, p_tok)
                r = {"latent": latent, "levels": lev[:, None].astype(np.float32),  # told SNR - gain, as the genie row
                     "snr_db": (snr_db - g["gain_min_db"] - g["gain_step_db"] * q).astype(np.float32)[:, None]}
                hits[cbr].append(logits(r, cbr).argmax(1) == labels[sl])
        for row in rows:
            row["acc_unmerged"] = float(np.concatenate(hits[row["cbr"]]).mean())
    return rows


def format_rows(rows: List[Dict]) -> str:
    head = ("| CBR | k | tokens | token symbols | side symbols | unused | gain clipped | acc channel | "
            "acc noiseless | acc unmerged | PSNR semantic2 | PSNR Deep JSCC |")
    out = [head, "|" + "---|" * 12]
    for r in rows:
        accs = " | ".join(f"{r[key]:.3f}" if key in r else "—" for key in ("acc_channel", "acc_noiseless", "acc_unmerged"))
        psnr = " | ".join(f"{r[key]:.2f}" if key in r else "—" for key in ("psnr_semantic2", "psnr_deepjscc"))
        out.append(f"| {r['cbr']} | {r['k']:.0f} | {r['tokens']:.2f} | {r['token_symbols']:.1f} | "
                   f"{r['side_symbols']:.1f} | {r['unused']:.1f} | {r['gain_clipped']:.3f} | {accs} | {psnr} |")
    return "\n".join(out)


def main(argv=None) -> int:
    from .cli import default_classify_data

    p = argparse.ArgumentParser(prog="python -m gr_semcod.evaluation.semantic2_budget", description=__doc__.split("\n")[0])
    p.add_argument("--bundle", required=True)
    p.add_argument("--data", help="images, labelled for the accuracies (default: the Fashion-MNIST test split "
                   "when installed); unlabelled crops get the budget and the PSNR only")
    p.add_argument("--limit", type=int, default=2000, help="first N images")
    p.add_argument("--cbr", nargs="+", default=["1/48", "1/12"])
    p.add_argument("--snr", type=float, default=10.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="ONNX Runtime intra-op threads")
    p.add_argument("--fill-rounds", type=int, help="greedy fill passes of the allocation (default the codec's; "
                   "1: as before the repeated fill, an ablation: the classifier was trained on the default)")
    a = p.parse_args(argv)
    data = a.data or default_classify_data()
    if data is None:
        raise SystemExit("no labelled data: pass --data (Fashion-MNIST not installed)")
    bundle = Bundle.load(a.bundle, intra_op_threads=a.threads)
    size = int(bundle.manifest["semantic2"]["tile"])
    try:
        x, y = load_labelled(data, (size, size), a.limit)
    except ValueError as e:  # unlabelled crops (e.g. photo crops): the budget and the PSNR only
        if "no labels" not in str(e):
            raise
        from ..runtime.datasets import load_prepared

        x, y = (load_prepared(data, (size, size), a.limit).images.astype(np.float32) / 255.0).transpose(0, 3, 1, 2).copy(), None
    print(f"{len(x)} crops from {data}{'' if y is not None else ' (unlabelled: no accuracies)'}, AWGN {a.snr:g} dB")
    print(format_rows(budget_rows(bundle, x, y, a.cbr, a.snr, a.seed, fill_rounds=a.fill_rounds)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
