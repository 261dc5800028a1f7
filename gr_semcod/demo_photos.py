"""Full-size photos in ``semcod demo``: the side-by-side grid with zoomed insets, the per-photo
table and the per-photo PSNR-vs-SNR plot (numpy + Pillow + matplotlib; no torch).

Grid: one row per photo, one panel per column (original, then every codec), each panel the whole
photo reduced to ``panel`` pixels wide with, below it, a zoomed inset: the ``inset`` x ``inset``
crop around the photo's centre enlarged ``zoom`` times (nearest neighbour), framed in red on the
reduced photo so that one sees where it comes from.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

LOST_GREY = 40


def inset_box(h: int, w: int, inset: int) -> Tuple[int, int, int, int]:
    """``(top, left, height, width)`` of the centre crop (at most the photo)."""
    ch, cw = min(inset, h), min(inset, w)
    return (h - ch) // 2, (w - cw) // 2, ch, cw


def panel(img: Optional[np.ndarray], shape, width: int = 320, inset: int = 64, zoom: int = 4) -> np.ndarray:
    """One grid cell: the photo reduced to ``width`` (aspect kept), a red frame where the inset is,
    and the inset enlarged ``zoom`` times below (a lost photo: dark grey)."""
    from PIL import Image

    h, w = shape[:2]
    if img is None or img.shape[:2] != (h, w):
        img = np.full((h, w, 3), LOST_GREY, np.uint8)
    s = width / w
    small = np.asarray(Image.fromarray(img).resize((width, max(1, round(h * s))), Image.BILINEAR)).copy()
    t, l, ch, cw = inset_box(h, w, inset)
    y0, x0, y1, x1 = int(t * s), int(l * s), min(int((t + ch) * s), small.shape[0] - 1), min(int((l + cw) * s), width - 1)
    small[[y0, y1], x0:x1 + 1] = (255, 0, 0)
    small[y0:y1 + 1, [x0, x1]] = (255, 0, 0)
    crop = img[t:t + ch, l:l + cw]
    big = np.repeat(np.repeat(crop, zoom, 0), zoom, 1)
    band = np.full((big.shape[0], width, 3), 255, np.uint8)
    band[:, :min(width, big.shape[1])] = big[:, :width]
    return np.concatenate([small, np.full((2, width, 3), 255, np.uint8), band], 0)


def photo_grid(rows: List[List[Optional[np.ndarray]]], labels: Sequence[str], width: int = 320, inset: int = 64,
               zoom: int = 4) -> np.ndarray:
    """Rows of ``[original, reconstruction, ...]`` -> one uint8 image, column labels on top."""
    from PIL import Image, ImageDraw

    pad = 4
    cells = [[panel(im, row[0].shape, width, inset, zoom) for im in row] for row in rows]
    heights = [max(c.shape[0] for c in r) for r in cells]
    ncol = len(rows[0])
    out = np.full((18 + sum(h + pad for h in heights) + pad, pad + ncol * (width + pad), 3), 255, np.uint8)
    y = 18 + pad
    for r, h in zip(cells, heights):
        for j, c in enumerate(r):
            x = pad + j * (width + pad)
            out[y:y + c.shape[0], x:x + width] = c
        y += h + pad
    im = Image.fromarray(out)
    draw = ImageDraw.Draw(im)
    for j, text in enumerate(labels):
        draw.text((pad + j * (width + pad) + 2, 3), str(text), fill=(0, 0, 0))
    return np.asarray(im)


def per_photo_rows(metrics: List[Dict], names: Dict[int, str]) -> List[Dict]:
    """The sink's CSV rows -> one row per (photo, codec, channel, SNR) with its metrics."""
    out = []
    for r in metrics:
        tag = r["tag"].split()
        if len(tag) != 3:
            continue
        iid = int(r["image_id"])
        out.append({"photo": names.get(iid, str(iid)), "size": f"{r['width']}x{r['height']}", "codec": tag[0],
                    "channel": tag[1], "snr_db": float(tag[2].rstrip("dB")), "psnr_db": float(r["psnr_db"]),
                    "ssim": float(r["ssim"]), "ms_ssim": float(r["ms_ssim"]),
                    "n_lost_tiles": int(r["n_lost_tiles"] or 0), "lost": r.get("stand_in", "0") == "1"})
    return sorted(out, key=lambda d: (d["photo"], d["channel"], d["codec"], d["snr_db"]))


def format_per_photo(rows: List[Dict]) -> str:
    """One line per photo and run; a lost photo (the stand-in of a failed digital frame) says
    ``lost`` and its stand-in's PSNR in brackets, not a score."""
    lines = ["| photo | size | codec | channel | SNR (dB) | PSNR (dB) | SSIM | MS-SSIM | lost tiles |",
             "|---|---|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        if r.get("lost"):
            lines.append(f"| {r['photo']} | {r['size']} | {r['codec']} | {r['channel']} | {r['snr_db']:g} | "
                         f"lost (stand-in {r['psnr_db']:.2f}) | – | – | – |")
            continue
        lines.append(f"| {r['photo']} | {r['size']} | {r['codec']} | {r['channel']} | {r['snr_db']:g} | "
                     f"{r['psnr_db']:.2f} | {r['ssim']:.3f} | {r['ms_ssim']:.3f} | {r['n_lost_tiles']} |")
    return "\n".join(lines)


def write_per_photo_plot(path: Path, rows: List[Dict], channel: str = "awgn") -> None:
    """PSNR against SNR, one line per photo and codec (``channel`` only)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    styles = {"semantic": "-o", "semantic2": "-^", "deepjscc": "--s"}
    photos = sorted({r["photo"] for r in rows})
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, ph in enumerate(photos):
        for codec in sorted({r["codec"] for r in rows}):
            pts = sorted((r["snr_db"], float("nan") if r.get("lost") else r["psnr_db"]) for r in rows
                         if r["photo"] == ph and r["codec"] == codec and r["channel"] == channel)  # lost: a gap
            if pts:
                x, y = zip(*pts)
                ax.plot(x, y, styles.get(codec, "-x"), color=colours[i % len(colours)], label=f"{ph}, {codec}")
    ax.set_xlabel("channel SNR (dB)")
    ax.set_ylabel("PSNR (dB), whole photo")
    ax.set_title(f"gr-semcod loopback over OFDM, full-size photos ({channel})")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
