"""Binary LDPC codes: IEEE 802.16e (WiMAX) designs shipped by scikit-commpy, Gallager's regular
codes, a systematic GF(2) encoder, shortening, and a vectorised sum-product decoder.

* :func:`wimax_code` -- ``"1/2"``: the (1440, 720) and ``"3/4"``: the (960, 720) 802.16e
  quasi-cyclic codes from ``commpy/channelcoding/designs/ldpc/wimax`` (read with
  commpy's own ``get_ldpc_code_params``).
* :func:`regular_ldpc` -- Gallager's regular ``(d_v, d_c)`` codes of any length (short blocks).
* :class:`LDPCCode` -- ``K = n - rank(H)`` information bits on the non-pivot columns of
  ``rref(H)``, parity ``x_P = R[:, F] x_F (mod 2)``; **shortening** by ``s``: the first ``s``
  information bits are known zeros, not sent, and enter the decoder as certain (``+LLR_MAX``).
* :func:`bp_decode` -- flooding sum-product over all codewords at once; the tests cross-check
  it against ``commpy.channelcoding.ldpc.ldpc_bp_decode``.
"""
from __future__ import annotations

import os
import tempfile
from functools import lru_cache
from typing import Dict, List, Tuple

import numpy as np
import scipy.sparse as sp

from .modem import LLR_MAX

#: the 802.16e designs scikit-commpy ships, by code rate
WIMAX_DESIGNS = {"1/2": "1440.720.txt", "3/4": "960.720.a.txt"}



def regular_ldpc(n: int, dv: int, dc: int, seed: int = 0) -> np.ndarray:
    """Gallager's regular ``(d_v, d_c)`` parity-check matrix, ``(n d_v / d_c) x n`` uint8.

    ``H = [H_1; pi_2(H_1); ...; pi_dv(H_1)]``, ``H_1`` the block diagonal of ``n/d_c`` rows of
    ``d_c`` consecutive ones, ``pi_i`` random column permutations.  Columns are re-drawn a few
    times to avoid 4-cycles (two checks sharing two variables) when possible.
    """
    if n % dc:
        raise ValueError(f"n={n} must be a multiple of d_c={dc}")
    rng = np.random.default_rng(seed)
    rows = n // dc
    h1 = np.zeros((rows, n), np.uint8)
    for r in range(rows):
        h1[r, r * dc:(r + 1) * dc] = 1
    best, best_cycles = None, None
    for _ in range(20):
        h = np.vstack([h1] + [h1[:, rng.permutation(n)] for _ in range(dv - 1)])
        overlap = h.astype(np.int32) @ h.T.astype(np.int32)
        np.fill_diagonal(overlap, 0)
        cycles = int((overlap > 1).sum())
        if best is None or cycles < best_cycles:
            best, best_cycles = h, cycles
        if cycles == 0:
            break
    return best


def gf2_rref(h: np.ndarray) -> Tuple[np.ndarray, List[int]]:
    """Reduced row echelon form over GF(2) and the pivot columns."""
    a = (np.asarray(h) & 1).astype(np.uint8).copy()
    rows, cols = a.shape
    pivots, r = [], 0
    for c in range(cols):
        if r == rows:
            break
        nz = np.nonzero(a[r:, c])[0]
        if len(nz) == 0:
            continue
        p = r + nz[0]
        if p != r:
            a[[r, p]] = a[[p, r]]
        hit = np.nonzero(a[:, c])[0]
        hit = hit[hit != r]
        a[hit] ^= a[r]
        pivots.append(c)
        r += 1
    return a[:r], pivots


class LDPCCode:
    """A binary LDPC code from its parity-check matrix: systematic encoder + BP decoder.

    ``K = n - rank(H)`` information bits sit on the non-pivot columns of ``rref(H)``;
    the parity bits on the pivot columns are ``x_P = R[:, F] x_F (mod 2)``.
    """

    def __init__(self, h: np.ndarray, name: str = ""):
        self.h = (np.asarray(h) & 1).astype(np.uint8)
        self.name = name or f"ldpc({self.h.shape[1]})"
        self.m, self.n = self.h.shape
        r, piv = gf2_rref(self.h)
        self.pivots = np.asarray(piv, np.int64)
        self.free = np.setdiff1d(np.arange(self.n), self.pivots)
        self.k = len(self.free)
        self._parity = r[:, self.free].T.astype(np.int64)  # (K, rank)
        # edges sorted by check node; degrees may vary (general H)
        self.chk, self.var = np.nonzero(self.h)
        self.rows_deg = np.bincount(self.chk, minlength=self.m)
        self.row_start = np.concatenate([[0], np.cumsum(self.rows_deg)[:-1]])
        e = len(self.var)
        #: edges -> variables (E x n): sums the check messages of every variable in one product
        self._e2v = sp.csr_matrix((np.ones(e), (np.arange(e), self.var)), shape=(e, self.n))

    def sent(self, shorten: int = 0) -> np.ndarray:
        """Positions of the transmitted bits when shortened by ``shorten`` (the first info bits)."""
        if not 0 <= shorten < self.k:
            raise ValueError(f"shorten must be in 0..{self.k - 1}, got {shorten}")
        keep = np.ones(self.n, bool)
        keep[self.free[:shorten]] = False
        return np.nonzero(keep)[0]

    @property
    def rate(self) -> float:
        return self.k / self.n

    def encode(self, u: np.ndarray) -> np.ndarray:
        """``(B, K)`` bits -> ``(B, n)`` codewords (uint8)."""
        u = np.asarray(u, np.int64).reshape(-1, self.k)
        x = np.zeros((u.shape[0], self.n), np.uint8)
        x[:, self.free] = u
        x[:, self.pivots] = (u @ self._parity) & 1
        return x

    def info(self, x: np.ndarray) -> np.ndarray:
        return x[..., self.free]

    def syndrome_ok(self, x: np.ndarray) -> np.ndarray:
        """``(B, n)`` -> ``(B,)`` bool: all parity checks satisfied."""
        s = np.add.reduceat(x[:, self.var].astype(np.int64), self.row_start, axis=1)
        return ~np.any(s & 1, axis=1)

    def encode_shortened(self, u: np.ndarray, shorten: int = 0) -> np.ndarray:
        """``(B, K - shorten)`` bits -> the ``(B, n - shorten)`` transmitted bits."""
        u = np.asarray(u).reshape(-1, self.k - shorten)
        full = np.zeros((u.shape[0], self.k), np.uint8)
        full[:, shorten:] = u
        return self.encode(full)[:, self.sent(shorten)]

    def decode_shortened(self, llr: np.ndarray, shorten: int = 0, iters: int = 50) -> Tuple[np.ndarray, np.ndarray]:
        """LLRs of the transmitted bits ``(B, n - shorten)`` -> ``(info bits (B, K - shorten), converged)``."""
        llr = np.asarray(llr, np.float64).reshape(-1, self.n - shorten)
        full = np.full((llr.shape[0], self.n), LLR_MAX)
        full[:, self.sent(shorten)] = llr
        hard, ok = self.decode(full, iters)
        return self.info(hard)[:, shorten:], ok

    def decode(self, llr: np.ndarray, iters: int = 50) -> Tuple[np.ndarray, np.ndarray]:
        """Sum-product decoding of ``(B, n)`` channel LLRs (``log P(0)/P(1)``).

        Returns ``(hard codewords (B, n) uint8, converged (B,) bool)``.
        """
        return bp_decode(self, llr, iters)


def _phi(x: np.ndarray) -> np.ndarray:
    """``phi(x) = -log(tanh(x / 2)) = log((e^x + 1) / (e^x - 1))``, self-inverse on x > 0."""
    x = np.clip(x, 1e-8, LLR_MAX)
    return np.log1p(2.0 / np.expm1(x))


def bp_decode(code: LDPCCode, llr: np.ndarray, iters: int = 50) -> Tuple[np.ndarray, np.ndarray]:
    """Flooding sum-product decoder, vectorised over codewords and edges.

    Check update (for edge e of check c)::

        m_{c->v} = prod_{e' != e} sign(m_{v'->c}) * phi( sum_{e' != e} phi(|m_{v'->c}|) )

    Variable update: ``L_v = llr_v + sum_c m_{c->v}``, ``m_{v->c} = L_v - m_{c->v}``.
    Codewords whose syndrome is zero stop updating (early termination).
    """
    llr = np.asarray(llr, np.float64).reshape(-1, code.n)
    b = llr.shape[0]
    chk, var = code.chk, code.var
    v2c = llr[:, var].copy()  # (B, E)
    hard = (llr < 0).astype(np.uint8)
    done = code.syndrome_ok(hard)
    starts = code.row_start
    for _ in range(iters):
        act = np.nonzero(~done)[0]
        if len(act) == 0:
            break
        m = v2c[act]
        mag = _phi(np.abs(m))
        neg = (m < 0).astype(np.int64)
        tot = np.add.reduceat(mag, starts, axis=1)[:, chk]  # per-check sums, spread to edges
        par = np.add.reduceat(neg, starts, axis=1)[:, chk]
        sign = 1.0 - 2.0 * ((par - neg) & 1)
        c2v = sign * _phi(tot - mag)
        total = llr[act] + np.asarray(c2v @ code._e2v)
        v2c[act] = total[:, var] - c2v
        hard[act] = (total < 0).astype(np.uint8)
        done[act] = code.syndrome_ok(hard[act])
    return hard, done


@lru_cache(maxsize=64)
def get_code(n: int, dv: int, dc: int, seed: int = 0) -> LDPCCode:
    """The (cached) regular code of length ``n``; see :func:`regular_ldpc`."""
    return LDPCCode(regular_ldpc(n, dv, dc, seed), name=f"gallager({n},{dv},{dc})")


def wimax_path(rate: str) -> str:
    """The scikit-commpy design file of the 802.16e code of ``rate``."""
    import commpy

    if rate not in WIMAX_DESIGNS:
        raise ValueError(f"802.16e designs shipped by commpy: rates {sorted(WIMAX_DESIGNS)}, got {rate!r}")
    return os.path.join(os.path.dirname(commpy.__file__), "channelcoding", "designs", "ldpc", "wimax",
                        WIMAX_DESIGNS[rate])


@lru_cache(maxsize=None)
def wimax_code(rate: str) -> LDPCCode:
    """The (cached) IEEE 802.16e code of ``rate`` ("1/2": n = 1440, "3/4": n = 960)."""
    h = load_code(wimax_path(rate))
    return LDPCCode(h, name=f"802.16e({h.shape[1]},{rate})")


def save_code(h: np.ndarray, path: str) -> str:
    """Write ``H`` in commpy's LDPC design-file format (``commpy...ldpc.write_ldpc_params``)."""
    from commpy.channelcoding.ldpc import write_ldpc_params

    if os.path.exists(path):
        os.remove(path)
    write_ldpc_params(np.asarray(h, np.int64), path)
    return path


def load_code(path: str) -> np.ndarray:
    """Read a commpy LDPC design file back to a dense ``H`` (uint8)."""
    from commpy.channelcoding.ldpc import get_ldpc_code_params

    p = get_ldpc_code_params(path, compute_matrix=False)
    h = np.zeros((p["n_cnodes"], p["n_vnodes"]), np.uint8)
    adj = p["cnode_adj_list"].reshape(p["n_cnodes"], p["max_cnode_deg"])
    for c in range(p["n_cnodes"]):
        h[c, adj[c, :p["cnode_deg_list"][c]]] = 1
    return h


def commpy_params(h: np.ndarray) -> Dict:
    """commpy's parameter dict for ``H`` (via a temporary design file), ready for
    ``commpy.channelcoding.ldpc.ldpc_bp_decode`` (commpy's own generator-matrix builder assumes a
    triangular systematic part, which Gallager codes lack, so only ``H`` is attached)."""
    import scipy.sparse as sp
    from commpy.channelcoding.ldpc import get_ldpc_code_params

    with tempfile.TemporaryDirectory() as d:
        path = save_code(h, os.path.join(d, "code.txt"))
        params = get_ldpc_code_params(path, compute_matrix=False)
    params["parity_check_matrix"] = sp.csc_matrix(np.asarray(h, np.int8))
    return params


