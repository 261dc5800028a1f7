"""External-data references of an ONNX file, read without the ``onnx`` package.

An ONNX tensor stored outside the model (``data_location = EXTERNAL``) names its file in the
``location`` entry of ``external_data``, relative to the model's folder; ONNX Runtime opens
that file when it creates the session.  A bundle must hash those files too, so the runtime
lists them here by walking the protobuf wire format of the few messages that can hold tensors
(field numbers from ``onnx.proto3``)::

    ModelProto     7 graph (GraphProto), 25 functions (FunctionProto)
    GraphProto     1 node (NodeProto), 5 initializer (TensorProto), 15 sparse_initializer
    FunctionProto  7 node
    NodeProto      5 attribute (AttributeProto)
    AttributeProto 5 t, 10 tensors (TensorProto); 6 g, 11 graphs (GraphProto); 22 sparse_tensor
    SparseTensor   1 values, 2 indices (TensorProto)
    TensorProto    13 external_data (StringStringEntryProto: 1 key, 2 value), 14 data_location

Wire format: each field is a varint key ``(number << 3) | type``; type 0 varint, 1 fixed64,
2 length-delimited, 5 fixed32.  Other fields (weights in ``raw_data`` included) are skipped
without copying.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator, List, Set, Tuple, Union

EXTERNAL = 1  # TensorProto.DataLocation.EXTERNAL


class OnnxParseError(ValueError):
    """The file is not a well-formed ONNX protobuf."""


def _varint(buf: memoryview, i: int) -> Tuple[int, int]:
    v = shift = 0
    while True:
        if i >= len(buf):
            raise OnnxParseError("truncated varint")
        b = buf[i]
        i += 1
        v |= (b & 0x7F) << shift
        if not b & 0x80:
            return v, i
        shift += 7
        if shift > 63:
            raise OnnxParseError("varint too long")


def _fields(buf: memoryview) -> Iterator[Tuple[int, int, object]]:
    """``(field number, wire type, value)``; value is an int or a memoryview (type 2)."""
    i, n = 0, len(buf)
    while i < n:
        key, i = _varint(buf, i)
        num, typ = key >> 3, key & 7
        if typ == 0:
            v, i = _varint(buf, i)
        elif typ == 1:
            v, i = None, i + 8
        elif typ == 5:
            v, i = None, i + 4
        elif typ == 2:
            ln, i = _varint(buf, i)
            if i + ln > n:
                raise OnnxParseError("length-delimited field runs past the end")
            v, i = buf[i:i + ln], i + ln
        else:
            raise OnnxParseError(f"unsupported wire type {typ}")
        if i > n:
            raise OnnxParseError("truncated field")
        yield num, typ, v


def _tensor(buf, out: Set[str]) -> None:
    location, where = None, None
    for num, typ, v in _fields(buf):
        if num == 13 and typ == 2:
            key = val = None
            for n2, t2, v2 in _fields(v):
                if t2 == 2 and n2 == 1:
                    key = bytes(v2).decode("utf-8", "replace")
                elif t2 == 2 and n2 == 2:
                    val = bytes(v2).decode("utf-8", "replace")
            if key == "location":
                location = val
        elif num == 14 and typ == 0:
            where = v
    if where == EXTERNAL or location is not None:
        out.add(location if location is not None else "")


def _sparse(buf, out) -> None:
    for num, typ, v in _fields(buf):
        if typ == 2 and num in (1, 2):
            _tensor(v, out)


def _node(buf, out) -> None:
    for num, typ, v in _fields(buf):
        if num == 5 and typ == 2:
            for n2, t2, v2 in _fields(v):
                if t2 != 2:
                    continue
                if n2 in (5, 10):
                    _tensor(v2, out)
                elif n2 in (6, 11):
                    _graph(v2, out)
                elif n2 == 22:
                    _sparse(v2, out)


def _graph(buf, out) -> None:
    for num, typ, v in _fields(buf):
        if typ != 2:
            continue
        if num == 1:
            _node(v, out)
        elif num == 5:
            _tensor(v, out)
        elif num == 15:
            _sparse(v, out)


def external_data_files(model: Union[str, Path, bytes]) -> List[str]:
    """The ``location`` of every external tensor of an ONNX model (file path or bytes), sorted.

    An external tensor without a location is reported as ``""`` (an invalid reference)."""
    data = Path(model).read_bytes() if isinstance(model, (str, Path)) else bytes(model)
    buf = memoryview(data)
    out: Set[str] = set()
    for num, typ, v in _fields(buf):
        if typ != 2:
            continue
        if num == 7:
            _graph(v, out)
        elif num == 25:
            for n2, t2, v2 in _fields(v):
                if n2 == 7 and t2 == 2:
                    _node(v2, out)
    return sorted(out)
