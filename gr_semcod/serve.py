"""``semcod serve``: run a model bundle in its own process (e.g. a GPU host), reached over ZMQ.

The radio flowgraph then uses a bundle *address* instead of a directory: every gr-semcod model
block (``semantic_encoder``, ``jscc_decoder``, ``semcod_tx`` / ``semcod_rx``, ``onnx_model``,
``zmq_model_client``) accepts ``bundle="tcp://host:port"`` and sends its model calls here.

Protocol (ZMQ REQ/REP, one request in flight per client socket), multipart messages:

* request ``[header, array_0, array_1, ...]``, header = UTF-8 JSON
  ``{"op": "run", "role": "<role>", "inputs": [{"name", "dtype", "shape"}, ...]}`` followed by
  one raw C-order buffer per input; or ``{"op": "manifest"}`` (no arrays).
* reply ``[header, array_0, ...]`` with ``{"ok": true, "outputs": [{"name", "dtype", "shape"}]}``,
  ``{"ok": true, "manifest": {...}}``, or ``{"ok": false, "error": "<one line>"}``.

Inputs are checked before use (dtype from a numeric whitelist, buffer size == prod(shape) *
itemsize, then the bundle's own shape/dtype check), so a malformed request gets an error reply,
never a crash.  The server binds ``tcp://127.0.0.1:5557`` by default (loopback only); bind
another interface deliberately with ``--address``.
"""
from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from .runtime.bundle import ManifestBundle

DEFAULT_ADDRESS = "tcp://127.0.0.1:5557"
DTYPES = {"float32", "float64", "float16", "int64", "int32", "int16", "int8", "uint8", "bool"}
MAX_HEADER = 1 << 16
REMOTE_PREFIXES = ("tcp://", "ipc://", "inproc://")


def is_remote(path) -> bool:
    return isinstance(path, str) and path.startswith(REMOTE_PREFIXES)


# --------------------------------------------------------------------------- wire helpers
def _pack(header: Dict[str, Any], arrays: Sequence[np.ndarray]) -> List[bytes]:
    return [json.dumps(header).encode()] + [np.ascontiguousarray(a).tobytes() for a in arrays]


def _unpack_arrays(specs, frames) -> List[np.ndarray]:
    if not isinstance(specs, list) or len(specs) != len(frames):
        raise ValueError(f"{len(frames)} array frames for {len(specs) if isinstance(specs, list) else '?'} specs")
    out = []
    for spec, buf in zip(specs, frames):
        dtype, shape = spec.get("dtype"), spec.get("shape")
        if dtype not in DTYPES:
            raise ValueError(f"dtype {dtype!r} not allowed")
        if not isinstance(shape, list) or not all(isinstance(d, int) and 0 <= d < 1 << 31 for d in shape):
            raise ValueError(f"bad shape {shape!r}")
        want = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
        if len(buf) != want:
            raise ValueError(f"array {spec.get('name')!r}: {len(buf)} bytes, shape {shape} {dtype} needs {want}")
        out.append(np.frombuffer(buf, dtype=dtype).reshape(shape))
    return out


# --------------------------------------------------------------------------- server
class Server:
    def __init__(self, bundle, address: str = DEFAULT_ADDRESS):
        import zmq

        self.bundle = bundle
        self.ctx = zmq.Context.instance()
        self.sock = self.ctx.socket(zmq.REP)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.bind(address)
        self.address = self.sock.getsockopt_string(zmq.LAST_ENDPOINT)
        self.n_requests = 0
        self.n_errors = 0
        self._stop = threading.Event()

    def handle(self, frames: List[bytes]) -> List[bytes]:
        try:
            if not frames or len(frames[0]) > MAX_HEADER:
                raise ValueError("missing or oversized header")
            head = json.loads(frames[0].decode())
            op = head.get("op", "run")
            if op == "manifest":
                return _pack({"ok": True, "manifest": self.bundle.manifest}, [])
            if op != "run":
                raise ValueError(f"unknown op {op!r}")
            role = head.get("role")
            if not isinstance(role, str):
                raise ValueError("run needs a 'role' string")
            specs = head.get("inputs", [])
            arrays = _unpack_arrays(specs, frames[1:])
            names = [s.get("name") for s in specs]
            outputs = self.bundle.run(role, **dict(zip(names, arrays)))
            out_specs = [{"name": k, "dtype": str(v.dtype), "shape": list(v.shape)} for k, v in outputs.items()]
            return _pack({"ok": True, "outputs": out_specs}, list(outputs.values()))
        except Exception as e:  # noqa: BLE001 - every failure becomes an error reply
            self.n_errors += 1
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            return _pack({"ok": False, "error": f"{type(e).__name__}: {first}"}, [])

    def serve(self, max_requests: int = 0) -> None:
        import zmq

        poller = zmq.Poller()
        poller.register(self.sock, zmq.POLLIN)
        while not self._stop.is_set():
            if not dict(poller.poll(200)):
                continue
            frames = self.sock.recv_multipart()
            self.sock.send_multipart(self.handle(frames))
            self.n_requests += 1
            if max_requests and self.n_requests >= max_requests:
                break

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        self.sock.close(0)


# --------------------------------------------------------------------------- client
class RemoteBundle(ManifestBundle):
    """The part of :class:`~gr_semcod.runtime.Bundle` the blocks use, served by ``semcod serve``.

    One REQ socket per thread (ZMQ sockets are not thread-safe; every GNU Radio block has its
    own thread).  A request that gets no reply within ``timeout`` seconds raises
    :class:`~gr_semcod.runtime.BundleError` and the socket is recreated (lazy pirate).
    """

    def __init__(self, address: str, timeout: float = 10.0):
        from .runtime import BundleError

        self.address = str(address)
        self.timeout = float(timeout)
        self._local = threading.local()
        self._sockets = []
        self._lock = threading.Lock()
        head, _ = self._call({"op": "manifest"}, [])
        if not head.get("ok"):
            raise BundleError(f"{self.address}: {head.get('error')}")
        self.manifest = head["manifest"]
        self.root = self.address

    # ------------------------------------------------------------------ transport
    def _socket(self):
        import zmq

        s = getattr(self._local, "sock", None)
        if s is None:
            s = zmq.Context.instance().socket(zmq.REQ)
            s.setsockopt(zmq.LINGER, 0)
            s.setsockopt(zmq.RCVTIMEO, int(self.timeout * 1000))
            s.setsockopt(zmq.SNDTIMEO, int(self.timeout * 1000))
            s.connect(self.address)
            self._local.sock = s
            with self._lock:
                self._sockets.append(s)
        return s

    def _call(self, header, arrays):
        import zmq

        from .runtime import BundleError

        s = self._socket()
        try:
            s.send_multipart(_pack(header, arrays))
            frames = s.recv_multipart()
        except zmq.Again:
            s.close(0)
            self._local.sock = None
            raise BundleError(f"{self.address}: no reply from semcod serve within {self.timeout:g} s") from None
        return json.loads(frames[0].decode()), frames[1:]

    def close(self):
        with self._lock:
            for s in self._sockets:
                s.close(0)
            self._sockets = []

    # ------------------------------------------------------------------ Bundle interface
    @property
    def where(self) -> str:
        return self.address

    def session(self, role: str):
        return self.model(role)  # nothing to load locally

    def run(self, role: str, outputs: Optional[Sequence[str]] = None, **inputs) -> Dict[str, np.ndarray]:
        from .runtime import BundleError

        names = list(inputs)
        arrays = [np.ascontiguousarray(inputs[n]) for n in names]
        specs = [{"name": n, "dtype": str(a.dtype), "shape": list(a.shape)} for n, a in zip(names, arrays)]
        head, frames = self._call({"op": "run", "role": role, "inputs": specs}, arrays)
        if not head.get("ok"):
            raise BundleError(f"{self.address} ({role}): {head.get('error')}")
        try:
            arrs = _unpack_arrays(head["outputs"], frames)
        except (KeyError, ValueError) as e:
            raise BundleError(f"{self.address} ({role}): malformed reply: {e}") from None
        out = {s["name"]: a for s, a in zip(head["outputs"], arrs)}
        return {k: out[k] for k in outputs} if outputs is not None else out

    def __repr__(self) -> str:
        return f"RemoteBundle({self.address!r}, roles={self.roles})"


# --------------------------------------------------------------------------- CLI
def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bundle", default="models/semcod_32", help="bundle directory (default %(default)s)")
    p.add_argument("--address", default=DEFAULT_ADDRESS, help="ZMQ REP endpoint to bind (default %(default)s)")
    p.add_argument("--threads", type=int, default=0, help="ONNX Runtime intra-op threads (0 = all cores)")
    p.add_argument("--providers", default="", help="comma-separated ORT providers (default: CUDA if available)")
    p.add_argument("--max-requests", type=int, default=0, help="exit after this many requests (0 = run until stopped)")


def run(args) -> int:
    from .runtime import Bundle, BundleError

    try:
        bundle = Bundle.load(args.bundle, providers=[p for p in args.providers.split(",") if p] or None,
                             intra_op_threads=args.threads or None)
        for role in bundle.roles:
            bundle.session(role)
    except BundleError as e:
        print(f"semcod serve: {e}", file=sys.stderr)
        return 2
    server = Server(bundle, args.address)
    if "127.0.0.1" not in server.address and "localhost" not in server.address and not server.address.startswith("ipc"):
        print(f"semcod serve: warning: listening on {server.address}, reachable from other hosts", file=sys.stderr)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: server.stop())
    print(f"semcod serve: {bundle.name} ({len(bundle.roles)} roles, {bundle.providers}) on {server.address}", flush=True)
    t0 = time.monotonic()
    try:
        server.serve(args.max_requests)
    finally:
        server.close()
    print(f"semcod serve: {server.n_requests} requests ({server.n_errors} errors) in {time.monotonic() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    p = argparse.ArgumentParser(prog="semcod serve")
    add_arguments(p)
    sys.exit(run(p.parse_args()))
