"""``semcod demo``'s tables: a lost digital photo (its stand-in, ``stand_in`` = 1 in the sink's CSV)
is shown as lost, not scored as a reconstruction; the run table has the PSNR of the delivered
images, the count lost and, named as such, the PSNR with the stand-ins."""
import math

from gr_semcod import demo, demo_photos


def _csv_row(iid, psnr, stand_in, tag="digital multipath 20dB"):
    return {"tag": tag, "image_id": str(iid), "width": "768", "height": "512", "psnr_db": str(psnr), "ssim": "0.9",
            "ms_ssim": "0.95", "n_lost_tiles": "0", "stand_in": stand_in}


def test_per_photo_table_says_lost_for_a_stand_in():
    rows = demo_photos.per_photo_rows([_csv_row(0, 31.5, "0"), _csv_row(1, 12.25, "1")], {0: "a", 1: "b"})
    assert [r["lost"] for r in rows] == [False, True]
    text = demo_photos.format_per_photo(rows)
    a, b = [line for line in text.splitlines() if line.startswith(("| a ", "| b "))]
    assert "| 31.50 | 0.900 |" in a
    assert "lost (stand-in 12.25)" in b and "0.900" not in b
    # a CSV from before the stand_in column reads as delivered
    old = {k: v for k, v in _csv_row(2, 20.0, "0").items() if k != "stand_in"}
    assert demo_photos.per_photo_rows([old], {})[0]["lost"] is False


def test_run_table_has_delivered_psnr_lost_and_with_stand_ins():
    row = {"codec": "digital", "channel": "multipath", "snr_db": 20.0, "sent": 2, "received": 1, "lost": 1,
           "psnr_db": 31.5, "ssim": 0.9, "psnr_with_stand_ins_db": 21.875, "snr_est_db": 19.8, "phy_triggers": 2,
           "phy_frames": 2, "phy_header_errors": 0}
    text = demo.format_table([row])
    head, _, line = text.splitlines()
    assert "PSNR delivered (dB)" in head and "PSNR with stand-ins (dB)" in head and "| lost |" in head
    cells = [c.strip() for c in line.split("|")[1:-1]]
    cols = [c.strip() for c in head.split("|")[1:-1]]
    got = dict(zip(cols, cells))
    assert (got["received"], got["lost"], got["PSNR delivered (dB)"], got["PSNR with stand-ins (dB)"]) == \
        ("1/2", "1", "31.50", "21.88")
    assert not math.isnan(float(got["PSNR delivered (dB)"]))
