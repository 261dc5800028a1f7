"""``semcod serve``: run a model bundle in its own process (e.g. a GPU host), reached over ZMQ.

The radio flowgraph then uses a bundle *address* instead of a directory: every gr-semcod model
block (``semantic_encoder``, ``jscc_decoder``, ``semcod_tx`` / ``semcod_rx``, ``onnx_model``,
``zmq_model_client``) accepts ``bundle="tcp://host:port"`` and sends its model calls here.

Protocol (ZMQ ROUTER on the server, DEALER on the clients), multipart messages:

* request ``[request_id, header, array_0, array_1, ...]``, header = UTF-8 JSON
  ``{"op": "run", "role": "<role>", "inputs": [{"name", "dtype", "shape"}, ...]}`` followed by
  one raw C-order buffer per input; or ``{"op": "manifest"}`` (no arrays).
* reply ``[request_id, header, array_0, ...]`` with ``{"ok": true, "outputs": [{"name",
  "dtype", "shape"}]}``, ``{"ok": true, "manifest": {...}}``, or ``{"ok": false, "error":
  "<one line>"}``.  A REQ client works too (its empty delimiter frame is the request id).

The ROUTER replies to each request's sender: random bytes, a half-sent request or a client
that vanished cost nobody else a reply (under REQ/REP one malformed request made the next
legitimate one lose its reply).  A client matches replies to its request id and drops late
replies to requests it gave up on.

Inputs are checked before use (dtype from a numeric whitelist, buffer size == prod(shape) *
itemsize, batch <= ``max_batch``, then the bundle's own shape/dtype check), so a malformed
request gets an error reply, never a crash.  Limits (parameters with safe defaults):
``max_message_bytes`` (``ZMQ_MAXMSGSIZE`` of each frame: libzmq drops a client announcing a
bigger one before reading it), ``max_batch`` (items per request) and :data:`MAX_FRAMES`.

Security (:mod:`gr_semcod.runtime.zmq_security`): the server binds ``tcp://127.0.0.1:5557``
by default (loopback only).  Any other address turns CURVE on: the server admits only the
client public keys given as ``--peer-key`` (ZAP), and clients (``RemoteBundle``, every model
block with ``bundle="tcp://..."``) need their own secret key and the server's public key
(``SEMCOD_ZMQ_SECRET_KEY`` / ``SEMCOD_ZMQ_PEER_KEY`` or the parameters).
"""
from __future__ import annotations

import argparse
import itertools
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
#: frames per request at most (header + one per model input)
MAX_FRAMES = 17
#: largest frame a server or client accepts (ZMQ_MAXMSGSIZE): 64 MiB
DEFAULT_MAX_MESSAGE_BYTES = 64 << 20
#: items per request at most (the leading dimension of every input)
DEFAULT_MAX_BATCH = 256
REMOTE_PREFIXES = ("tcp://", "ipc://", "inproc://")


def is_remote(path) -> bool:
    return isinstance(path, str) and path.startswith(REMOTE_PREFIXES)


# --------------------------------------------------------------------------- wire helpers
def _pack(header: Dict[str, Any], arrays: Sequence[np.ndarray]) -> List[bytes]:
    return [json.dumps(header).encode()] + [np.ascontiguousarray(a).tobytes() for a in arrays]


def _unpack_arrays(specs, frames, max_batch: int = 0) -> List[np.ndarray]:
    if not isinstance(specs, list) or len(specs) != len(frames):
        raise ValueError(f"{len(frames)} array frames for {len(specs) if isinstance(specs, list) else '?'} specs")
    out = []
    for spec, buf in zip(specs, frames):
        if not isinstance(spec, dict):
            raise ValueError(f"input spec must be an object {{name, dtype, shape}}, got {type(spec).__name__}")
        dtype, shape = spec.get("dtype"), spec.get("shape")
        if dtype not in DTYPES:
            raise ValueError(f"dtype {dtype!r} not allowed")
        if not isinstance(shape, list) or not all(isinstance(d, int) and 0 <= d < 1 << 31 for d in shape):
            raise ValueError(f"bad shape {shape!r}")
        if max_batch and shape and shape[0] > max_batch:
            raise ValueError(f"array {spec.get('name')!r}: batch {shape[0]} exceeds max_batch {max_batch}")
        want = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
        if len(buf) != want:
            raise ValueError(f"array {spec.get('name')!r}: {len(buf)} bytes, shape {shape} {dtype} needs {want}")
        out.append(np.frombuffer(buf, dtype=dtype).reshape(shape))
    return out


# --------------------------------------------------------------------------- server
class Server:
    """Args: bundle, address (ROUTER endpoint to bind), security / secret_key / peer_key (see
    :mod:`gr_semcod.runtime.zmq_security`; ``peer_key`` lists the client public keys admitted),
    max_message_bytes, max_batch."""

    def __init__(self, bundle, address: str = DEFAULT_ADDRESS, security: str = "auto", secret_key: str = "",
                 peer_key: str = "", max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
                 max_batch: int = DEFAULT_MAX_BATCH):
        import zmq

        from .runtime.zmq_security import limit, resolve, secure

        self.bundle = bundle
        self.max_batch = int(max_batch)
        self.ctx = zmq.Context.instance()
        self.sock = self.ctx.socket(zmq.ROUTER)
        self.sock.setsockopt(zmq.LINGER, 0)
        limit(self.sock, max_message_bytes)
        self.curve = resolve(str(address), security, secret_key, peer_key,
                             log=lambda m: print(f"semcod serve: {m}", file=sys.stderr))
        secure(self.sock, self.curve, server=True)
        self.sock.bind(address)
        self.address = self.sock.getsockopt_string(zmq.LAST_ENDPOINT)
        self.n_requests = 0
        self.n_errors = 0
        self._stop = threading.Event()

    def handle(self, frames: List[bytes]) -> List[bytes]:
        """Reply frames (without routing envelope) to the request ``[header, arrays...]``."""
        try:
            if not frames or len(frames[0]) > MAX_HEADER:
                raise ValueError("missing or oversized header")
            if len(frames) > MAX_FRAMES:
                raise ValueError(f"{len(frames)} frames, at most {MAX_FRAMES} allowed")
            head = json.loads(frames[0].decode())
            if not isinstance(head, dict):
                raise ValueError("header must be a JSON object")
            op = head.get("op", "run")
            if op == "manifest":
                return _pack({"ok": True, "manifest": self.bundle.manifest}, [])
            if op != "run":
                raise ValueError(f"unknown op {op!r}")
            role = head.get("role")
            if not isinstance(role, str):
                raise ValueError("run needs a 'role' string")
            specs = head.get("inputs", [])
            arrays = _unpack_arrays(specs, frames[1:], self.max_batch)
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
            ident, rid, body = frames[0], frames[1:2], frames[2:]
            if not rid:  # an envelope without request id or body: an error reply to that sender only
                reply = _pack({"ok": False, "error": "ValueError: empty request"}, [])
                self.n_errors += 1
            else:
                reply = self.handle(body)
            try:
                self.sock.send_multipart([ident] + rid + reply, zmq.NOBLOCK)
            except zmq.ZMQError:  # the client is gone or not reading: its reply only is lost
                pass
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

    One DEALER socket per thread (ZMQ sockets are not thread-safe; every GNU Radio block has
    its own thread); each request carries an id and only the reply with that id is accepted.
    A request that gets no reply within ``timeout`` seconds raises
    :class:`~gr_semcod.runtime.BundleError` and the socket is recreated (lazy pirate), so a
    request queued for a dead server is not replayed later.  ``security`` / ``secret_key`` /
    ``peer_key`` (the server's public key): see :mod:`gr_semcod.runtime.zmq_security`.
    """

    def __init__(self, address: str, timeout: float = 10.0, security: str = "auto", secret_key: str = "",
                 peer_key: str = "", max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES):
        from .runtime import BundleError
        from .runtime.zmq_security import resolve

        self.address = str(address)
        self.timeout = float(timeout)
        self.max_message_bytes = int(max_message_bytes)
        self.curve = resolve(self.address, security, secret_key, peer_key)
        self._ids = itertools.count(1)
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

        from .runtime.zmq_security import limit, secure

        s = getattr(self._local, "sock", None)
        if s is None:
            s = zmq.Context.instance().socket(zmq.DEALER)
            s.setsockopt(zmq.LINGER, 0)
            s.setsockopt(zmq.SNDTIMEO, int(self.timeout * 1000))
            limit(s, self.max_message_bytes)
            secure(s, self.curve, server=False)
            s.connect(self.address)
            self._local.sock = s
            with self._lock:
                self._sockets.append(s)
        return s

    def _call(self, header, arrays):
        import zmq

        from .runtime import BundleError

        s = self._socket()
        rid = next(self._ids).to_bytes(8, "little")
        deadline = time.monotonic() + self.timeout
        try:
            s.send_multipart([rid] + _pack(header, arrays))
            while True:
                left = deadline - time.monotonic()
                if left <= 0 or not s.poll(int(left * 1000) + 1, zmq.POLLIN):
                    raise zmq.Again()
                frames = s.recv_multipart()
                if frames and frames[0] == rid and len(frames) >= 2:
                    break  # else: a late reply to a request given up on, dropped
        except zmq.Again:
            with self._lock:
                if s in self._sockets:
                    self._sockets.remove(s)
            s.close(0)
            self._local.sock = None
            raise BundleError(f"{self.address}: no reply from semcod serve within {self.timeout:g} s") from None
        try:
            head = json.loads(frames[1].decode())
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise BundleError(f"{self.address}: malformed reply header") from None
        return head, frames[2:]

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
    p.add_argument("--security", default="auto", choices=["auto", "curve", "none"],
                   help="CURVE: auto = on for non-loopback addresses (default %(default)s)")
    p.add_argument("--secret-key", default="", help="server secret key file or Z85 (default: $SEMCOD_ZMQ_SECRET_KEY)")
    p.add_argument("--peer-key", default="",
                   help="admitted client public keys, comma-separated files or Z85 (default: $SEMCOD_ZMQ_PEER_KEY)")
    p.add_argument("--max-message-bytes", type=int, default=DEFAULT_MAX_MESSAGE_BYTES,
                   help="largest frame accepted (ZMQ_MAXMSGSIZE, default %(default)s)")
    p.add_argument("--max-batch", type=int, default=DEFAULT_MAX_BATCH, help="items per request at most (default %(default)s)")


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
    from .runtime.zmq_security import SecurityError, is_loopback

    try:
        server = Server(bundle, args.address, args.security, args.secret_key, args.peer_key,
                        args.max_message_bytes, args.max_batch)
    except SecurityError as e:
        print(f"semcod serve: {e}", file=sys.stderr)
        return 2
    if not is_loopback(server.address):
        print(f"semcod serve: listening on {server.address}, reachable from other hosts "
              f"({'CURVE, ' + str(len(server.curve.peers)) + ' admitted key(s)' if server.curve else 'UNAUTHENTICATED'})",
              file=sys.stderr)
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
