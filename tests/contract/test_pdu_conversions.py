"""PDU payloads cross PMT in one memory copy each way (pdu.uvector / pdu.vector_to_numpy), with
exactly the PMTs and arrays of the item-by-item converters (``init_<type>vector`` from a list,
``pmt.to_python``), on photo-size payloads and on the awkward values (NaN, inf, -0, subnormals)."""
import numpy as np
import pmt
import pytest

pytest.importorskip("gnuradio.gr")

from gr_semcod import pdu  # noqa: E402
from gr_semcod.phy import deframer  # noqa: E402

N_PHOTO = 768 * 512 * 3  # the largest photo of the demos, one u8 PDU


def payload(dtype, n, seed=0):
    rng = np.random.default_rng(seed)
    if dtype == np.uint8:
        return rng.integers(0, 256, n).astype(np.uint8)
    x = rng.standard_normal(n).astype(np.float32) * 1e3
    special = np.array([np.nan, np.inf, -np.inf, -0.0, 1e-45, np.finfo(np.float32).max], np.float32)
    x[:6] = special[:n]
    if dtype == np.complex64:
        y = rng.standard_normal(n).astype(np.float32)
        y[::-1][:6] = special[:n]
        z = np.empty(n, np.complex64)
        z.real, z.imag = x, y  # not x + 1j * y: that arithmetic would turn inf / -0 into NaN / +0
        return z
    return x


def item_by_item(arr):
    """The reference: what ``make_pdu`` built before, ``init_<type>vector`` from a list."""
    _, init, _ = pdu.VECTOR_DTYPES[arr.dtype]
    return init(arr.size, arr.tolist())


@pytest.mark.parametrize("dtype,n", [(np.uint8, N_PHOTO), (np.float32, 300_000), (np.complex64, 300_000),
                                     (np.uint8, 0), (np.float32, 6), (np.complex64, 0)])
def test_make_pdu_and_split_pdu_match_the_item_by_item_conversions(dtype, n):
    x = payload(dtype, n)
    meta = {"image_id": 7, "height": 512, "snr_db": 9.5, "tag": "a"}
    msg = pdu.make_pdu(meta, x)
    want = pmt.cons(pdu.meta_to_pmt(meta), item_by_item(x))
    assert pmt.serialize_str(msg) == pmt.serialize_str(want)  # the very same PMT, bit for bit
    m, back = pdu.split_pdu(msg, dtype, max_items=max(n, 1))
    assert m == meta
    ref = np.asarray(pmt.to_python(pmt.cdr(want)), dtype)
    assert back.dtype == ref.dtype == np.dtype(dtype) and back.shape == ref.shape == (n,)
    np.testing.assert_array_equal(back.view(np.uint8), x.view(np.uint8))  # bits, NaN payloads included
    np.testing.assert_array_equal(back, ref)
    back[:1] = 0  # writable, and not a view into the PMT
    assert np.array_equal(pdu.split_pdu(msg, dtype, max_items=max(n, 1))[1], x, equal_nan=dtype != np.uint8)


def test_metadata_vectors_match_pmt_to_python():
    """Uniform vectors in the metadata (noise variances, erasure masks) come back as the arrays
    ``pmt.to_python`` gives -- same dtype, same values -- and the other types are unchanged."""
    nv = payload(np.float32, 50_000, 1)
    mask = payload(np.uint8, 50_000, 2) & 1
    d = pmt.make_dict()
    for k, v in (("nv", pdu.uvector(nv)), ("mask", pdu.uvector(mask)), ("c", pdu.uvector(payload(np.complex64, 9))),
                 ("lost", pmt.init_s32vector(3, [1, 5, 9])), ("n", pmt.from_long(3)), ("x", pmt.from_double(0.5)),
                 ("s", pmt.intern("abc"))):
        d = pmt.dict_add(d, pmt.intern(k), v)
    got, want = pdu.meta_to_python(d), pmt.to_python(d)
    assert got.keys() == want.keys()
    for k in want:
        if isinstance(want[k], np.ndarray):
            assert got[k].dtype == want[k].dtype, k
            np.testing.assert_array_equal(got[k], want[k])
        else:
            assert got[k] == want[k] and type(got[k]) is type(want[k]), k


def test_pdu_to_image_matches_pmt_to_python_on_a_photo_size_frame():
    rng = np.random.default_rng(3)
    n = 200_000
    meta = {"image_id": 12, "snr_db": 11.25, "noise_var": 0.07, "n_fragments": 40, "mode": 2,
            "symbol_noise_var": rng.random(n).astype(np.float32), "erasure_mask": (rng.random(n) < 0.1).astype(np.uint8)}
    d = pdu.meta_to_pmt(meta)
    d = pmt.dict_add(d, pmt.intern("lost_fragments"), pmt.init_s32vector(2, [3, 17]))
    sym = payload(np.complex64, n, 4)
    msg = pmt.cons(d, pdu.c32vector(sym))
    got = deframer.pdu_to_image(msg)
    want = pmt.to_python(pmt.car(msg))  # the element-by-element reading it replaces
    want["symbols"] = np.asarray(pmt.to_python(pmt.cdr(msg)), np.complex64)
    assert got.keys() == want.keys()
    for k, v in want.items():
        if isinstance(v, np.ndarray) or k in ("lost_fragments",):
            v = np.asarray(v)
            assert np.asarray(got[k]).dtype == v.dtype, k
            np.testing.assert_array_equal(got[k], v)
        else:
            assert got[k] == v, k


def test_payloads_never_go_through_the_item_by_item_converters(monkeypatch):
    """make_pdu / split_pdu / pdu_to_image use neither ``init_<type>vector`` nor ``pmt.to_python``
    for a payload (each costs ~100 ms on a photo; ``semcod bench`` measures the pipeline)."""
    x = payload(np.uint8, N_PHOTO)
    d = pdu.meta_to_pmt({"image_id": 1, "symbol_noise_var": np.ones(8, np.float32)})
    d = pmt.dict_add(d, pmt.intern("erasure_mask"), pdu.uvector(np.zeros(8, np.uint8)))
    d = pmt.dict_add(d, pmt.intern("lost_fragments"), pmt.init_s32vector(0, []))
    frame = pmt.cons(d, pdu.c32vector(payload(np.complex64, 8)))

    def refuse(*a, **k):
        raise AssertionError("an item-by-item PMT conversion was used")

    to_python = pmt.to_python

    def scalars_only(v):
        if pmt.is_u8vector(v) or pmt.is_f32vector(v) or pmt.is_c32vector(v) or pmt.is_dict(v):
            refuse()  # (a dict's vectors would go item by item; the s32 list of lost fragments is short)
        return to_python(v)

    for name in ("init_u8vector", "init_f32vector", "init_c32vector", "u8vector_elements", "f32vector_elements",
                 "c32vector_elements"):
        monkeypatch.setattr(pmt, name, refuse)
    monkeypatch.setattr(pmt, "to_python", scalars_only)
    msg = pdu.make_pdu({"image_id": 1}, x)
    np.testing.assert_array_equal(pdu.split_pdu(msg, np.uint8, max_items=N_PHOTO)[1], x)
    monkeypatch.setattr(pdu, "VECTOR_DTYPES", {k: (v[0], refuse, v[2]) for k, v in pdu.VECTOR_DTYPES.items()})
    pdu.make_pdu({"image_id": 1}, x)
    assert deframer.pdu_to_image(frame)["symbols"].shape == (8,)


def test_make_pdu_refuses_other_dtypes_as_before():
    for bad in (np.zeros(4, np.float64), np.zeros(4, np.int16), np.zeros(4, ">f4")):
        with pytest.raises(pdu.PDUError, match="u8, f32 or c32"):
            pdu.make_pdu({}, bad)
