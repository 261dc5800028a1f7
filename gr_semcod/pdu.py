"""PMT <-> Python for the PDUs of :mod:`gr_semcod.contract` (``pmt.cons(metadata dict, vector)``).

Metadata goes through GNU Radio's own ``pmt.to_python`` / ``pmt.to_pmt``; the shim here only
covers what those leave out: s64/u64 vectors (ids and labels of a batch) and numpy scalars.
Payload vectors (u8/f32/c32) cross in one memory copy each way, through PMT's own
serialisation (:func:`uvector`, :func:`vector_to_numpy`), never item by item.
"""
from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Tuple

import numpy as np
import pmt

from .contract import KEY_IMAGE_ID, PDUError

#: payload dtypes: numpy dtype -> (is_<type>vector, init_<type>vector, pmt type name)
VECTOR_DTYPES = {
    np.dtype(np.uint8): (pmt.is_u8vector, pmt.init_u8vector, "u8"),
    np.dtype(np.float32): (pmt.is_f32vector, pmt.init_f32vector, "f32"),
    np.dtype(np.complex64): (pmt.is_c32vector, pmt.init_c32vector, "c32"),
}


def from_pmt(v) -> Any:
    """PMT -> Python (``pmt.to_python``; s64/u64 vectors -> int64/uint64 arrays; u8/f32/c32
    vectors -> the numpy array ``pmt.to_python`` gives, by :func:`vector_to_numpy`)."""
    if pmt.is_s64vector(v):
        return np.asarray(pmt.s64vector_elements(v), np.int64)
    if pmt.is_u64vector(v):
        return np.asarray(pmt.u64vector_elements(v), np.uint64)
    for dtype, (is_kind, _, _) in VECTOR_DTYPES.items():  # the payload types: one memory copy
        if is_kind(v):
            return vector_to_numpy(v, dtype)
    try:
        return pmt.to_python(v)
    except ValueError:  # an exotic PMT: keep its text form
        return pmt.write_string(v)


def to_pmt(v: Any):
    """Python -> PMT (``pmt.to_pmt``; integer arrays -> s64 vectors, bool arrays -> u8, numpy scalars)."""
    if isinstance(v, np.ndarray):
        if v.dtype == np.bool_:
            v = v.astype(np.uint8)
        elif v.dtype.kind in "iu" and v.dtype != np.uint8:
            a = v.astype(np.int64).ravel()
            return pmt.init_s64vector(a.size, a)
        return pmt.to_pmt(np.ascontiguousarray(v).ravel())
    if isinstance(v, np.generic):
        return pmt.to_pmt(v.item())
    return pmt.to_pmt(v)


def meta_to_python(meta) -> Dict[str, Any]:
    """A PDU metadata dict as ``{str: python value}`` (``{}`` for PMT_NIL or a non-dict)."""
    if pmt.is_null(meta) or not pmt.is_dict(meta):
        return {}
    out = {}
    items = pmt.dict_items(meta)
    while pmt.is_pair(items):
        kv = pmt.car(items)
        k = pmt.car(kv)
        out[pmt.symbol_to_string(k) if pmt.is_symbol(k) else pmt.write_string(k)] = from_pmt(pmt.cdr(kv))
        items = pmt.cdr(items)
    return out


def meta_to_pmt(meta: Mapping[str, Any]):
    """``{str: python value}`` -> PMT dict."""
    d = pmt.make_dict()
    for k, v in meta.items():
        d = pmt.dict_add(d, pmt.intern(str(k)), to_pmt(v))
    return d


def split_pdu(msg, dtype, max_items: Optional[int] = None) -> Tuple[Dict[str, Any], np.ndarray]:
    """``(metadata as a python dict, vector as a numpy array of dtype)`` or :class:`PDUError`.

    A vector longer than ``max_items`` (default :data:`~gr_semcod.runtime.limits.MAX_PDU_ITEMS`)
    is refused before it is converted, so an oversized PDU costs no memory."""
    from .runtime.limits import MAX_PDU_ITEMS

    dtype = np.dtype(dtype)
    if not pmt.is_pair(msg):
        raise PDUError("not a PDU (expected a pair of metadata dict and vector)")
    meta, vec = pmt.car(msg), pmt.cdr(msg)
    if not (pmt.is_dict(meta) or pmt.is_null(meta)):
        raise PDUError("PDU metadata is not a dict")
    is_kind, _, name = VECTOR_DTYPES[dtype]
    if not is_kind(vec):
        raise PDUError(f"PDU vector is not a {name}vector")
    limit = MAX_PDU_ITEMS if max_items is None else int(max_items)
    n = pmt.length(vec)
    if n > limit:
        raise PDUError(f"PDU vector has {n} items, more than the limit of {limit}")
    return meta_to_python(meta), vector_to_numpy(vec, dtype)


def vector_to_numpy(vec, dtype) -> np.ndarray:
    """A uniform PMT vector as a (writable) numpy array.  u8/f32/c32: the vector's items are the
    tail of GNU Radio's own serialisation (``pmt.serialize_str``, big-endian; a memory copy: a
    768x512 photo in about 1 ms instead of about 100 ms element by element); other types via
    ``pmt.to_python``."""
    dtype = np.dtype(dtype)
    n = pmt.length(vec)
    if dtype in _UVECTOR_CODES and n and VECTOR_DTYPES[dtype][0](vec):
        s = pmt.serialize_str(vec)
        return np.frombuffer(s, dtype.newbyteorder(">"), n, len(s) - n * dtype.itemsize).astype(dtype)
    return np.asarray(pmt.to_python(vec), dtype=dtype)


#: PMT's serialisation codes of the uniform vectors built by :func:`uvector`
_UVECTOR_CODES = {np.dtype(np.uint8): 0x00, np.dtype(np.float32): 0x08, np.dtype(np.complex64): 0x0A}


def uvector(x: np.ndarray):
    """A u8/f32/c32 numpy array -> the PMT uniform vector of that type, through PMT's own
    serialisation (uniform-vector tag, type, length, then the big-endian items): several times
    faster than ``init_<type>vector`` from a list, which pybind11 converts item by item."""
    a = np.asarray(x)
    code = _UVECTOR_CODES[a.dtype]
    a = np.ascontiguousarray(a, a.dtype.newbyteorder(">")).ravel()
    return pmt.deserialize_str(bytes((0x0A, code)) + a.size.to_bytes(4, "big") + b"\x01\x00" + a.tobytes())


def make_pdu(meta: Mapping[str, Any], arr: np.ndarray):
    """PDU from a python metadata dict and a u8/f32/c32 numpy array (flattened)."""
    arr = np.ascontiguousarray(arr).ravel()
    try:
        _, init, _ = VECTOR_DTYPES[arr.dtype]
    except KeyError:
        raise PDUError(f"PDU vector must be u8, f32 or c32, got {arr.dtype}") from None
    # through PMT's serialisation (a memory copy), not init_<type>vector, which converts item by item
    return pmt.cons(meta_to_pmt(meta), uvector(arr))


def symbols_pdu(image_id: int, symbols, **meta):
    """The symbols PDU of one image (the OFDM transmitter's input): ``image_id`` + c32 vector."""
    return make_pdu({KEY_IMAGE_ID: int(image_id), **meta}, np.asarray(symbols, np.complex64))


def safe_meta(msg) -> Dict[str, Any]:
    """The metadata of ``msg`` as a dict, ``{}`` if it has none (never raises; for drop reports)."""
    try:
        if pmt.is_pair(msg) and pmt.is_dict(pmt.car(msg)):
            return meta_to_python(pmt.car(msg))
    except Exception:  # noqa: BLE001
        pass
    return {}


def c32vector(x: np.ndarray):
    """A complex64 numpy array -> PMT c32vector (:func:`uvector`): about 3x faster than
    ``init_c32vector`` from a list (and 9x faster than from the array)."""
    return uvector(np.asarray(x, np.complex64))
