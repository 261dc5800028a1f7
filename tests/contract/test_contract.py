"""The wire contract's metadata checks (pure Python + numpy): what is refused, and the reason given."""
import numpy as np
import pytest

from gr_semcod import contract as c
from gr_semcod.contract import PDUError


def test_names_are_defined_once_and_reused():
    import importlib
    from pathlib import Path

    pytest.importorskip("gnuradio.gr")
    from gr_semcod.blocks import common
    from gr_semcod.blocks.burst_guard import DEFAULT_LEN_TAG
    from gr_semcod.phy import deframer, framer

    ofdm_analog_tx = importlib.import_module("gr_semcod.phy.ofdm_analog_tx")  # the package exports the class

    assert framer.KEY_IMAGE_ID is deframer.KEY_IMAGE_ID is common.KEY_IMAGE_ID is c.KEY_IMAGE_ID
    assert ofdm_analog_tx.TX_LEN_TAG is DEFAULT_LEN_TAG is c.TX_LEN_TAG
    assert common.make_pdu is __import__("gr_semcod.pdu", fromlist=["make_pdu"]).make_pdu
    assert common.IMAGE_ID_MODULO == 1 << 16
    image_sink = importlib.import_module("gr_semcod.blocks.image_sink")  # the package exports the class

    assert image_sink.PORT_DROPS == c.PORT_DROPS == "drops"
    assert "PORT_DROPS =" not in Path(image_sink.__file__).read_text()  # imported, not redefined


def test_image_ids():
    assert c.image_ids({}, 2) == [None, None]
    assert c.image_ids({"image_id": 7}, 3) == [7, 8, 9]
    assert c.image_ids({"image_id": np.array([4, 9])}, 2) == [4, 9]
    with pytest.raises(PDUError, match=r"'image_id' must be an int .*got 'seven'"):
        c.image_ids({"image_id": "seven"}, 1)
    with pytest.raises(PDUError, match=r"'image_id' must be an int"):
        c.image_ids({"image_id": 1.5}, 1)
    with pytest.raises(PDUError, match=r"'image_id' has 3 ids, expected 2"):
        c.image_ids({"image_id": np.array([1, 2, 3])}, 2)


def test_a_larger_image_without_metadata_is_not_a_batch():
    one = 32 * 32 * 3
    assert c.check_image({}, one, (32, 32, 3)) == 1
    assert c.check_image({"batch": 4}, 4 * one, (32, 32, 3)) == 4
    assert c.check_image({"height": 32, "width": 32}, 4 * one, (32, 32, 3)) == 4
    with pytest.raises(PDUError, match=r"12288 bytes without 'height'/'width' or 'batch' metadata; expected 3072"):
        c.check_image({}, 64 * 64 * 3, (32, 32, 3))  # a 64x64 image is not batch=4
    with pytest.raises(PDUError, match=r"metadata height=64, expected height=32"):
        c.check_image({"height": 64, "width": 64}, 64 * 64 * 3, (32, 32, 3))
    with pytest.raises(PDUError, match=r"metadata batch=2 but the PDU holds 1 items"):
        c.check_image({"batch": 2}, one, (32, 32, 3))
    with pytest.raises(PDUError, match="positive multiple of 3072"):
        c.check_image({}, one + 1, (32, 32, 3))


def test_symbols_must_be_finite_and_sane():
    z = np.ones(8, np.complex64)
    c.check_symbols(z)
    with pytest.raises(PDUError, match=r"magnitude 1e\+30 exceeds 1000"):
        c.check_symbols(np.full(8, 1e30, np.complex64))
    with pytest.raises(PDUError, match="not finite"):
        c.check_symbols(np.array([1, np.nan], np.complex64))
    c.check_n_symbols({"n_symbols": 4}, 8, 2)
    with pytest.raises(PDUError, match=r"n_symbols=5 but the PDU holds 8 symbols for 2 image\(s\); expected n_symbols=4"):
        c.check_n_symbols({"n_symbols": 5}, 8, 2)


def test_erasure_mask_must_have_one_entry_per_symbol():
    n = 10
    mask = np.zeros(n, np.uint8)
    mask[[1, 4]] = 1
    got = c.erasure_mask({"erasure_mask": mask}, n)
    assert got.tolist() == [bool(v) for v in mask]
    # a wrong-length mask is refused, never read as a list of indices
    with pytest.raises(PDUError, match=r"'erasure_mask' has 3 entries, expected 10 \(one per symbol\)"):
        c.erasure_mask({"erasure_mask": np.array([1, 4, 5], np.uint8)}, n)
    # `erasures` may be indices
    assert np.flatnonzero(c.erasure_mask({"erasures": np.array([2, 7])}, n)).tolist() == [2, 7]
    with pytest.raises(PDUError, match="index out of range 0..9"):
        c.erasure_mask({"erasures": np.array([10])}, n)
    with pytest.raises(PDUError, match="must be a mask or an index vector"):
        c.erasure_mask({"erasure_mask": "all"}, n)
    z, k = c.apply_erasures({"erasure_mask": mask}, np.ones(n, np.complex64))
    assert k == 2 and z[1] == 0 and z[4] == 0 and z[0] == 1


def test_numbers_in_metadata():
    assert c.meta_int({"batch": 3.0}, "batch") == 3
    with pytest.raises(PDUError, match="'batch' must be an integer, got 'x'"):
        c.meta_int({"batch": "x"}, "batch")
    with pytest.raises(PDUError, match="'snr_db' must be finite"):
        c.meta_float({"snr_db": float("inf")}, "snr_db")
    with pytest.raises(PDUError, match="'snr_db' must be a number"):
        c.meta_float({"snr_db": "10"}, "snr_db")
    snr, where = c.snr_from_meta({"snr_db": 1e30}, 1, 10.0)
    assert where == "snr_db" and float(snr[0, 0]) == c.SNR_CLIP_DB[1]  # absurd values are clipped


def test_unwrap_id_keeps_counting_across_the_16_bit_wrap():
    m = c.IMAGE_ID_MODULO
    assert c.unwrap_id(5, 0) == 5
    assert c.unwrap_id(0, m - 1) == m  # the id after 65535 is 65536, not 0
    assert c.unwrap_id(3, 2 * m + 65530) == 3 * m + 3
    assert c.unwrap_id(m - 2, m + 1) == m - 2  # a late, older id stays older


def test_contract_and_rates_need_neither_torch_nor_gnuradio():
    import subprocess
    import sys

    code = ("import sys, gr_semcod.contract, gr_semcod.rates; "
            "bad = [m for m in ('torch', 'gnuradio', 'pmt') if m in sys.modules]; assert not bad, bad")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]


def test_label_entries():
    assert c.meta_ints({}, "label") is None
    assert c.meta_ints({"label": 3}, "label", 2) == [3, 3]
    assert c.meta_ints({"label_pred": np.array([1, 2])}, "label_pred") == [1, 2]
    with pytest.raises(PDUError, match="'label_pred' must be an int or a vector of ints, got 'cat'"):
        c.meta_ints({"label_pred": "cat"}, "label_pred")
    with pytest.raises(PDUError, match="'label' has 3 values, expected 1 or 2"):
        c.meta_ints({"label": np.arange(3)}, "label", 2)


def test_photo_contract():
    assert c.CODECS == ("semantic", "deepjscc", "semantic2", "digital")
    assert set(c.TILED_CODECS) <= set(c.CODECS)
    assert (c.KEY_PHOTO_HEIGHT, c.KEY_PHOTO_WIDTH, c.KEY_MODE) == ("photo_height", "photo_width", "mode")
    assert c.photo_size({}) is None
    assert c.photo_size({"photo_height": 512, "photo_width": 768}) == (512, 768)
    assert c.photo_size({"photo_height": 4096.0, "photo_width": 1}) == (4096, 1)
    with pytest.raises(PDUError, match="only one of"):
        c.photo_size({"photo_height": 512})
    with pytest.raises(PDUError, match="photo_width=4097 outside 1..4096"):
        c.photo_size({"photo_height": 512, "photo_width": 4097})
    with pytest.raises(PDUError, match="'photo_height' must be an integer"):
        c.photo_size({"photo_height": "512", "photo_width": 5})
    # the PHY header's 12-bit fields hold exactly the contract's photo limit
    from gr_semcod.phy.header import HEADER_FIELDS, MAX_MODE

    widths = dict(HEADER_FIELDS)
    assert 1 << widths["photo_height"] == 1 << widths["photo_width"] == c.MAX_PHOTO_SIDE
    assert (1 << widths["mode"]) - 1 == MAX_MODE == c.MODE_MAX
