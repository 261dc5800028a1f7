"""CurveZMQ for the sample bridge and ``semcod serve``: keys, modes, ZAP allow-lists, limits.

Modes (``security`` parameter of the ZMQ blocks and of ``semcod serve`` / ``RemoteBundle``):

* ``"auto"`` (default): CURVE whenever the address is not loopback (anything but
  ``tcp://127.*``, ``tcp://localhost``, ``tcp://[::1]``, ``ipc://``, ``inproc://``) or keys
  are configured; plain ZMQ on loopback without keys.
* ``"curve"``: always CURVE (authentication and encryption).
* ``"none"``: never (a warning is logged for a non-loopback address).

Keys: every end has its own key pair and knows its peer's public key.

* ``secret_key``: this end's secret certificate file (written by ``semcod keys``, the
  ``zmq.auth`` format), or the 40-character Z85 secret key itself; empty = the environment
  variable ``SEMCOD_ZMQ_SECRET_KEY`` (a path or a Z85 key).
* ``peer_key``: the peer's public key -- a ``.key`` file, a Z85 key, or several separated by
  commas; empty = ``SEMCOD_ZMQ_PEER_KEY``.  The binding side (PUSH of the bridge, the
  ``semcod serve`` ROUTER) is the CURVE server and admits *only* these public keys through a
  ZAP handler (one ZAP domain per socket); the connecting side (PULL, the client) is the CURVE
  client and accepts only a server holding the first of them.  A connection with another key,
  or none, fails its handshake and never receives a message.

Limits: :data:`DEFAULT_MAX_MESSAGE_BYTES` is set as ``ZMQ_MAXMSGSIZE`` on every receiving
socket -- libzmq drops a peer that announces a bigger message before reading it.

``semcod keys --out DIR NAME...`` writes ``DIR/NAME.key`` (public) and
``DIR/NAME.key_secret`` (secret, mode 0600) for each NAME.
"""
from __future__ import annotations

import argparse
import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Set

SECURITY_MODES = ("auto", "curve", "none")
ENV_SECRET = "SEMCOD_ZMQ_SECRET_KEY"
ENV_PEER = "SEMCOD_ZMQ_PEER_KEY"
#: ``ZMQ_MAXMSGSIZE`` of receiving sockets (16 MiB: two million fc32 samples per message)
DEFAULT_MAX_MESSAGE_BYTES = 16 << 20
_Z85_KEY = re.compile(r"^[0-9a-zA-Z.\-:+=^!/*?&<>()\[\]{}@%$#]{40}$")
_LOOPBACK = re.compile(r"^tcp://(127\.\d+\.\d+\.\d+|localhost|\[::1\]|::1)(:|$)")


class SecurityError(ValueError):
    """Missing or malformed key material, or a mode the address does not allow."""


def is_loopback(address: str) -> bool:
    a = str(address)
    return a.startswith(("ipc://", "inproc://")) or bool(_LOOPBACK.match(a))


def has_curve() -> bool:
    import zmq

    return bool(zmq.has("curve"))


def _read_key_file(path: Path, secret: bool) -> bytes:
    import zmq.auth

    try:
        public, sec = zmq.auth.load_certificate(str(path))
    except (OSError, ValueError) as e:
        raise SecurityError(f"{path}: not a CurveZMQ certificate ({e})") from None
    if secret and not sec:
        raise SecurityError(f"{path}: has no secret key (use the .key_secret file of `semcod keys`)")
    return sec if secret else public


def _one_key(spec: str, secret: bool, what: str) -> bytes:
    spec = spec.strip()
    if _Z85_KEY.match(spec) and not Path(spec).is_file():
        return spec.encode()
    p = Path(spec).expanduser()
    if not p.is_file():
        raise SecurityError(f"{what}: {spec!r} is neither a key file nor a 40-character Z85 key")
    return _read_key_file(p, secret)


@dataclass
class CurveConfig:
    """This end's key pair and the peer public keys it trusts (Z85 bytes)."""
    public: bytes
    secret: bytes
    peers: List[bytes] = field(default_factory=list)


def load_keys(secret_key: str = "", peer_key: str = "") -> CurveConfig:
    """Key material from the parameters, else from ``SEMCOD_ZMQ_SECRET_KEY`` / ``SEMCOD_ZMQ_PEER_KEY``."""
    import zmq

    s = secret_key or os.environ.get(ENV_SECRET, "")
    p = peer_key or os.environ.get(ENV_PEER, "")
    if not s:
        raise SecurityError(f"CURVE needs this end's secret key: pass secret_key or set {ENV_SECRET} "
                            f"(make key pairs with `semcod keys --out DIR tx rx`)")
    if not p:
        raise SecurityError(f"CURVE needs the peer's public key: pass peer_key or set {ENV_PEER}")
    secret = _one_key(s, True, "secret_key")
    public = zmq.curve_public(secret)
    peers = [_one_key(x, False, "peer_key") for x in p.split(",") if x.strip()]
    return CurveConfig(public, secret, peers)


def keys_configured(secret_key: str = "", peer_key: str = "") -> bool:
    return bool((secret_key or os.environ.get(ENV_SECRET)) and (peer_key or os.environ.get(ENV_PEER)))


def resolve(address: str, security: str = "auto", secret_key: str = "", peer_key: str = "",
            log=None) -> Optional[CurveConfig]:
    """The CURVE configuration a socket on ``address`` must use, or None for plain ZMQ."""
    if security not in SECURITY_MODES:
        raise SecurityError(f"security must be one of {SECURITY_MODES}, got {security!r}")
    if security == "none":
        if not is_loopback(address) and log is not None:
            log(f"warning: {address} is not loopback and security is 'none': unauthenticated and unencrypted")
        return None
    if security == "auto" and is_loopback(address) and not keys_configured(secret_key, peer_key):
        return None
    if not has_curve():
        raise SecurityError(f"{address}: CURVE security requested but libzmq has no CURVE support")
    try:
        return load_keys(secret_key, peer_key)
    except SecurityError as e:
        if security == "auto":
            raise SecurityError(f"{address} is not a loopback address, so CURVE is on by default: {e} "
                                f"(or pass security='none' deliberately)") from None
        raise


# --------------------------------------------------------------------------- ZAP
class _Zap:
    """One ZAP handler per ZMQ context; each secured server socket has its own domain and allow-list."""

    _lock = threading.Lock()
    _by_ctx: Dict[int, "_Zap"] = {}

    def __init__(self, ctx):
        from zmq.auth.thread import ThreadAuthenticator

        self.allowed: Dict[str, Set[bytes]] = {}
        self.refused = 0
        self.auth = ThreadAuthenticator(ctx)
        # started from a daemon thread, the authenticator's thread is a daemon too (it inherits
        # the flag) and never keeps a finished flowgraph's process alive
        t = threading.Thread(target=self.auth.start, name="semcod-zap-start", daemon=True)
        t.start()
        t.join()
        if not self.auth.is_alive():
            raise SecurityError("the ZAP authenticator did not start")
        self._n = 0

    @classmethod
    def of(cls, ctx) -> "_Zap":
        with cls._lock:
            z = cls._by_ctx.get(id(ctx))
            if z is None:
                z = cls._by_ctx[id(ctx)] = cls(ctx)
            return z

    def new_domain(self, peers: Sequence[bytes]) -> str:
        with self._lock:
            self._n += 1
            domain = f"semcod-{os.getpid()}-{self._n}"
        self.allowed[domain] = set(peers)
        self.auth.configure_curve_callback(domain, credentials_provider=self)
        return domain

    def callback(self, domain: str, key: bytes) -> bool:  # called by pyzmq's authenticator
        ok = key in self.allowed.get(domain, ())
        if not ok:
            self.refused += 1
        return ok


def secure(sock, cfg: Optional[CurveConfig], server: bool) -> Optional[str]:
    """Apply ``cfg`` to ``sock`` before bind/connect; returns the ZAP domain of a server socket."""
    if cfg is None:
        return None
    import zmq

    sock.setsockopt(zmq.CURVE_PUBLICKEY, cfg.public)
    sock.setsockopt(zmq.CURVE_SECRETKEY, cfg.secret)
    if server:
        domain = _Zap.of(sock.context).new_domain(cfg.peers)
        sock.setsockopt(zmq.CURVE_SERVER, 1)
        sock.setsockopt_string(zmq.ZAP_DOMAIN, domain)
        return domain
    if not cfg.peers:
        raise SecurityError("a CURVE client needs the server's public key (peer_key)")
    sock.setsockopt(zmq.CURVE_SERVERKEY, cfg.peers[0])
    return None


def zap_refused(ctx=None) -> int:
    """Connections refused by the ZAP handler of ``ctx`` (default: the global context)."""
    import zmq

    ctx = ctx or zmq.Context.instance()
    z = _Zap._by_ctx.get(id(ctx))
    return z.refused if z is not None else 0


def limit(sock, max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> None:
    """``ZMQ_MAXMSGSIZE`` on a receiving socket (``<= 0`` = libzmq's unlimited)."""
    import zmq

    sock.setsockopt(zmq.MAXMSGSIZE, int(max_message_bytes) if int(max_message_bytes) > 0 else -1)


# --------------------------------------------------------------------------- semcod keys
def make_keys(out: Path, names: Sequence[str]) -> List[Path]:
    """``out/<name>.key`` + ``out/<name>.key_secret`` (0600) per name; returns the public files."""
    import zmq.auth

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    os.chmod(out, 0o700)
    files = []
    for name in names:
        pub, sec = zmq.auth.create_certificates(str(out), name)
        os.chmod(sec, 0o600)
        files.append(Path(pub))
    return files


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("names", nargs="+", help="one key pair per name (e.g. tx channel rx serve client)")
    p.add_argument("--out", default="keys", help="folder for the key files (default %(default)s, mode 0700)")


def run(args) -> int:
    for f in make_keys(Path(args.out), args.names):
        print(f"{f} (public; give it to the peer) and {f}_secret (secret; keep it here)")
    return 0
