"""Pilot/preamble channel estimation and non-decision-directed equalisation (pure numpy).

Per batch of frames (every array vectorised over frames, carriers and symbols: one numpy call
per step for all the frames a work() call found, no per-sample or per-frame Python except the
tap pursuit of a frame whose channel changed):

1. **Preamble LS estimate.**  Sync word 2 gives ``H_k = Y_k / X_k`` on every active carrier.
2. **Header.**  Equalise the header symbols with the (delay-domain smoothed) sync-2 estimate,
   remove each symbol's common phase from its pilots, hard BPSK decisions, CRC.  Only the
   header is ever decided; a header that fails its CRC ends the frame.
3. **Refinement with the CRC-verified header as extra training.**  Sync 2 and the header
   symbols (data + pilots, all known now) are phase-aligned and averaged (``J = 1 + n_hdr``
   observations per carrier).  The average is projected onto a delay-domain channel of
   ``n_taps`` taps (``-pre .. n_taps-pre-1`` samples; a least-squares fit through the active
   carriers' DFT sub-matrix, i.e. interpolation across all carriers), keeping only taps
   significantly above the estimation noise.
4. **Noise variance** ``sigma^2`` per carrier from the residuals: the spread of the ``J``
   observations around their mean plus the misfit of the mean to the tap model, divided by
   their degrees of freedom.  ``snr = mean_k |H_k|^2 / sigma^2``.
5. **Payload tracking from pilots** (never from payload decisions):
   ``tracking="phase"``: the common phase error of every symbol (pilots, plus the header's
   measured phases) is unwrapped and fitted with a straight line in time (residual CFO);
   ``tracking="pilots"``: every symbol's pilot gains ``Y_p / (H_p P_p)`` are interpolated
   linearly across frequency and smoothed over 3 symbols (time-varying channels/fading).
6. **Equaliser** ``zf``: ``x = y / H`` (unbiased, noise ``sigma^2 / |H_k|^2``) or ``mmse``:
   ``x = conj(H) y / (|H|^2 + sigma^2)`` (MSE ``sigma^2 / (|H|^2 + sigma^2)``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

from .params import OfdmParams

try:  # numpy's einsum kernel without its Python wrapper (a few us per call, called ~20 times a frame)
    from numpy.core._multiarray_umath import c_einsum as einsum
except ImportError:  # pragma: no cover - other numpy layouts
    einsum = np.einsum


def inv_hpd(A: np.ndarray) -> np.ndarray:
    """Inverse of a small Hermitian positive-definite matrix by Gauss-Jordan elimination (no
    pivoting needed for HPD), in numpy's own loops: LAPACK here would wake OpenBLAS's threads."""
    n = A.shape[0]
    M = np.concatenate([np.asarray(A, complex), np.eye(n)], axis=1)
    for j in range(n):
        M[j] /= M[j, j]
        col = M[:, j].copy()
        col[j] = 0.0
        M -= np.multiply.outer(col, M[j])
    return M[:, n:]


@dataclass
class ChannelEstimate:
    """Estimates of F frames."""
    H: np.ndarray          # (F, fft_len) complex, zero off the active bins
    noise_var: np.ndarray  # (F,) per-carrier complex noise variance (unitary FFT units)
    snr_db: np.ndarray     # (F,)
    taps_kept: np.ndarray  # (F,) int


class FrameEqualizer:
    """Hot-path products are ``np.einsum`` (numpy's own loops), not ``@``: OpenBLAS hands even
    these small complex matrix products to its worker threads, which then spin against the
    flowgraph's threads on a small machine."""

    def __init__(self, params: OfdmParams, n_hdr_syms: int, backoff: int, pre: int = 4, n_taps: Optional[int] = None,
                 tracking: str = "phase", equalizer: str = "zf", tap_threshold: float = 4.0):
        if tracking not in ("phase", "pilots"):
            raise ValueError("tracking must be 'phase' or 'pilots'")
        if equalizer not in ("zf", "mmse"):
            raise ValueError("equalizer must be 'zf' or 'mmse'")
        self.p = p = params
        self.n_hdr = int(n_hdr_syms)
        self.backoff = int(backoff)
        self.tracking, self.equalizer = tracking, equalizer
        self.tap_threshold = float(tap_threshold)
        N = p.fft_len
        n_taps = int(n_taps or min(p.cp_len + 2 * pre + 1, max(2, len(p.active_bins) // 2)))
        self.delays = (np.arange(n_taps) - pre) % N
        self.act = p.active_bins
        self.data, self.pil = p.data_bins, p.pilot_bins
        self.F = np.exp(-2j * np.pi * np.outer(self.act, self.delays) / N)  # (K, L)
        # projection onto the well-conditioned part of the tap space (guard bands make the
        # active-carrier DFT sub-matrix ill-conditioned), used to smooth the sync-2 estimate
        U, sv, _ = np.linalg.svd(self.F, full_matrices=False)
        r = int(np.sum(sv > 0.3 * sv[0]))
        self.P_full = U[:, :r] @ U[:, :r].conj().T
        self.max_taps = n_taps
        # header-stage estimate (header_channel): sync 2 on the active carriers + the averaged short
        # training symbols on theirs, jointly fitted to the taps with a small ridge
        self.pre_bins = np.flatnonzero(p.sync_word1)
        self.w1 = p.sync_word1[self.pre_bins].astype(complex)
        self._w1inv = 1.0 / (p.preamble_len * self.w1)
        Fp = np.exp(-2j * np.pi * np.outer(self.pre_bins, self.delays) / N)
        A = np.vstack([self.F, Fp])
        wts = np.concatenate([np.ones(len(self.act)), np.full(len(self.pre_bins), p.preamble_len * float(np.mean(np.abs(self.w1) ** 2)))])
        AhW = A.conj().T * wts[None, :]
        lam = 0.05 * float(wts.sum())
        self.M_hdr = self.F @ np.linalg.solve(AhW @ A + lam * np.eye(n_taps), AhW)
        self._pil_hdr = p.pilots_for(np.arange(self.n_hdr))
        self._last_support, self._support_cache = (), {}
        self._fits = {}
        self._w = np.linspace(-0.5, 0.5, 201)  # residual phase per symbol (rad), header phase fit
        self._w_grid = np.exp(-1j * np.outer(self._w, np.arange(self.n_hdr + 1)))
        # known-symbol template for the refinement (sync 2 row, header pilots); data filled per frame
        if not (np.all(np.isin(p.sync_word2[self.act], (-1, 1))) and np.all(np.isin(p.pilot_symbols, (-1, 1)))):
            raise ValueError("sync word 2 and pilots must be +-1 (BPSK)")
        self._Xtmpl = np.zeros((1 + self.n_hdr, len(self.act)))
        self._Xtmpl[0] = p.sync_word2[self.act].real
        self._Xtmpl[1:, p.n_data:] = p.pilots_for(np.arange(self.n_hdr)).real
        self._pil_payload = p.pilots_for(np.arange(self.n_hdr, self.n_hdr + 512))
        self._t_hdr = 1.0 + np.arange(self.n_hdr)
        self.FH = self.F.conj().T.copy()
        self.G = self.FH @ self.F  # Gram matrix of the candidate taps
        self.FT = self.F.T.copy()  # (taps, K): DFT column of every candidate tap
        self._row_idx = np.arange(0)[:, None]
        self.x2 = p.sync_word2[self.act]
        self.scale = 1.0 / np.sqrt(N)
        K = len(self.act)
        # carrier order for the pilots interpolation
        self.pil_sorted = np.argsort(p.pilot_carriers)
        self.pil_freq = np.asarray(p.pilot_carriers, float)[self.pil_sorted]
        self.data_freq = np.asarray(p.occupied_carriers, float)
        self._K = K
        eye = np.eye(len(self.pil_freq))
        self.W_interp = np.stack([np.interp(self.data_freq, self.pil_freq, e) for e in eye], axis=1)

    # ---------------------------------------------------------------------------------------
    # Every method works on a batch of F frames at once: arrays carry a leading frame axis.
    def fft_symbols(self, x: np.ndarray, start: int, n: int) -> np.ndarray:
        """(..., n, fft_len) unitary FFTs of ``n`` symbols whose first CP starts at ``x[..., start]``
        (``x``: (..., samples), e.g. (F, samples) for F frames)."""
        p = self.p
        if start < 0 or start + n * p.sym_len > x.shape[-1]:
            raise IndexError(f"symbols [{start}, {start + n * p.sym_len}) outside the buffer (0..{x.shape[-1]})")
        seg = x[..., start:start + n * p.sym_len].reshape(x.shape[:-1] + (n, p.sym_len))
        off = p.cp_len - self.backoff
        return np.fft.fft(seg[..., off:off + p.fft_len], axis=-1) * self.scale

    def header_channel(self, Y2: np.ndarray, Ys: np.ndarray) -> np.ndarray:
        """Channel for the header decision from everything known before it: sync 2 ``Y2`` (F,
        fft_len; every active carrier) and the short training symbols ``Ys`` (F, preamble_len,
        fft_len; every 4th carrier, averaged), fitted jointly to ``n_taps`` delay-domain taps by
        weighted ridge least squares ``g = (A^H W A + lam I)^-1 A^H W h`` (one precomputed matrix;
        W = the observations' energies).  Returns H (F, fft_len), zero off the active bins."""
        h = np.concatenate([Y2[:, self.act] / self.x2, Ys[:, :, self.pre_bins].sum(axis=1) * self._w1inv], axis=1)
        H = np.zeros((Y2.shape[0], self.p.fft_len), complex)
        H[:, self.act] = einsum("fj,kj->fk", h, self.M_hdr)
        return H

    def header_matched(self, H: np.ndarray, Yh: np.ndarray) -> np.ndarray:
        """Header spectra (F, n_hdr, fft_len) -> matched-filter outputs ``conj(H) Y e^{-j phi_t}`` of
        the header data carriers (F, n_hdr * n_data; for soft combining).  The common phase
        ``phi_t = phi_0 + w t`` of header symbol ``t`` (sync 2 is ``t = 0``, phase 0 with the weight
        of all its carriers) is the maximum-likelihood line through the pilots' sums ``c_t``: ``w``
        maximises ``|sum_t c_t e^{-j w t}|`` over a grid (residual CFO; no phase unwrapping, robust
        at low SNR), ``phi_0`` is the phase of that sum."""
        F = H.shape[0]
        c = np.empty((F, self.n_hdr + 1), complex)
        c[:, 0] = np.sum(np.abs(H[:, self.act]) ** 2, axis=1)
        c[:, 1:] = np.sum(Yh[:, :, self.pil] * np.conj(H[:, None, self.pil] * self._pil_hdr[None]), axis=2)
        m = einsum("ft,gt->fg", c, self._w_grid)  # (F, grid)
        i = np.argmax(np.abs(m), axis=1)
        w, phi0 = self._w[i], np.angle(m[np.arange(F), i])
        phase = phi0[:, None] + w[:, None] * self._t_hdr[None, :]
        return self.header_matched_known(H, Yh, phase)

    def header_matched_known(self, H: np.ndarray, Yh: np.ndarray, phase: np.ndarray) -> np.ndarray:
        """As :meth:`header_matched` with given channel and per-symbol phases (F, n_hdr) (from
        :meth:`estimate` on a tentative header: decision-directed re-decoding)."""
        Z = Yh[:, :, self.data] * np.conj(H[:, None, self.data]) * np.exp(-1j * np.asarray(phase))[:, :, None]
        return Z.reshape(H.shape[0], -1)

    def estimate(self, Y2: np.ndarray, Yh: np.ndarray, hdr_data: np.ndarray) -> Tuple[ChannelEstimate, np.ndarray]:
        """Refined channel from sync 2 (F, fft_len) + the known header (spectra (F, n_hdr, fft_len),
        data-carrier values (F, n_hdr * n_data)).  Returns the estimates and the header's common
        phases relative to sync 2 (F, n_hdr; radians)."""
        p = self.p
        n, F, K = self.n_hdr, Y2.shape[0], self._K
        X = np.repeat(self._Xtmpl[None], F, axis=0)
        X[:, 1:, :p.n_data] = hdr_data.real.reshape(F, n, p.n_data)
        Hj = np.empty((F, 1 + n, K), complex)
        Hj[:, 0] = Y2[:, self.act]
        Hj[:, 1:] = Yh[:, :, self.act]
        Hj *= X  # known values are +-1 (BPSK, pilots, sync 2): multiplying divides
        # align the phases of the later observations to sync 2
        ph = np.angle(np.sum(Hj[:, 1:] * np.conj(Hj[:, :1]), axis=2))
        Hj[:, 1:] *= np.exp(-1j * ph)[:, :, None]
        J = 1 + n
        Hm = Hj.sum(axis=1) * (1.0 / J)
        within = np.sum(np.abs(Hj - Hm[:, None]) ** 2, axis=(1, 2))
        dof_w = K * (J - 1)
        s2 = within / dof_w if dof_w else np.mean(np.abs(Hm - einsum("fj,kj->fk", Hm, self.P_full)) ** 2, axis=1) * 2
        # sparse delay-domain fit (orthogonal matching pursuit): add the tap that explains most of
        # the residual while its energy is significant against the noise of the mean (s2 / J)
        floor = self.tap_threshold * s2 / J
        c = einsum("fk,tk->ft", Hm, self.FH)  # (F, taps): correlation with every candidate tap
        Hs, kept = self._sparse_fit(Hm, c, floor)
        misfit = np.sum(np.abs(Hm - Hs) ** 2, axis=1) * J
        dof = np.maximum(dof_w + K - kept, 1)
        s2 = np.maximum((within + misfit) / dof, 1e-12)
        H = np.zeros((F, p.fft_len), complex)
        H[:, self.act] = Hs
        snr = np.sum(np.abs(Hs) ** 2, axis=1) / (K * s2)
        return ChannelEstimate(H, s2, 10 * np.log10(np.maximum(snr, 1e-12)), kept), ph

    def _sparse_fit(self, Hm: np.ndarray, c: np.ndarray, floor: np.ndarray):
        """Tap-domain fit of every frame's mean channel ``Hm`` (F, K): the previous support where
        it still satisfies the pursuit's stopping rule (one cached solve for all those frames),
        the pursuit (:meth:`_omp`, batched) for the others.  Returns (H on the active carriers
        (F, K), taps kept (F,))."""
        F = c.shape[0]
        Hs = np.empty((F, self._K), complex)
        kept = np.empty(F, np.int64)
        todo = np.arange(F)
        if self._last_support:
            idx, Fs, ok, gk = self._reuse_support(c, floor)
            Hs[ok] = einsum("fs,ks->fk", gk[ok], Fs)
            kept[ok] = len(idx)
            todo = np.flatnonzero(~ok)
        if todo.size:
            sup, Hs[todo] = self._omp(Hm[todo], c[todo], floor[todo])
            kept[todo] = np.count_nonzero(sup >= 0, axis=1)
            self._last_support = tuple(int(i) for i in sup[-1] if i >= 0)
        return Hs, kept

    def _rows(self, n: int) -> np.ndarray:
        """(n, 1) row indices 0..n-1 (cached)."""
        if self._row_idx.shape[0] < n:
            self._row_idx = np.arange(n)[:, None]
        return self._row_idx[:n]

    def _omp(self, Hm: np.ndarray, c: np.ndarray, floor: np.ndarray):
        """Orthogonal matching pursuit of F frames at once (``Hm`` (F, K) mean channels, ``c =
        F^H Hm`` (F, taps)): each frame adds the tap that explains most of its residual while that
        tap's energy is above its ``floor``.  The least-squares fit on the support is kept as an
        orthonormal basis (Gram-Schmidt, twice for accuracy), one new vector per step for all
        running frames: no linear solve (LAPACK would wake OpenBLAS's threads).  Returns (support
        (F, max_taps), -1 past a frame's last tap; fit on the active carriers (F, K))."""
        F, T, K = c.shape[0], self.max_taps, self._K
        sup = np.full((F, T), -1, np.int64)
        Q = np.zeros((F, T, K), complex)  # orthonormal basis of the chosen taps' DFT columns
        fit = np.zeros((F, K), complex)
        r = c
        run = np.arange(F)  # frames still adding taps
        for k in range(T):
            e = np.abs(r) ** 2 / K
            if k:
                e[self._rows(run.size), sup[run, :k]] = 0.0
            i = np.argmax(e, axis=1)
            if k:
                go = e[self._rows(run.size)[:, 0], i] >= floor[run]
                run, i = run[go], i[go]
                if run.size == 0:
                    break
            sup[run, k] = i
            u = self.FT[i]  # (R, K): the new taps' DFT columns
            Qk = Q[run, :k]
            for _ in range(2):
                u = u - einsum("rj,rjk->rk", einsum("rjk,rk->rj", Qk.conj(), u), Qk)
            q = u / np.sqrt(einsum("rk,rk->r", u.conj(), u).real)[:, None]
            Q[run, k] = q
            fit[run] += einsum("rk,rk->r", q.conj(), Hm[run])[:, None] * q
            r = einsum("tk,rk->rt", self.FH, Hm[run] - fit[run])  # F^H (Hm - F_S g_S)
        return sup, fit

    def _reuse_support(self, c: np.ndarray, floor: np.ndarray):
        """The previous pursuit's tap support for every frame (F, taps correlations): returns
        (support, its DFT columns, ok (F,), tap gains (F, |support|)); ``ok`` where the support
        still satisfies the pursuit's stopping rule (no other tap's residual energy above
        ``floor``, every kept tap's above it).  Static channels then cost one cached solve per
        batch instead of a pursuit per frame."""
        S = self._last_support
        cached = self._support_cache.get(S)
        if cached is None:
            idx = list(S)
            Ginv = inv_hpd(self.G[np.ix_(idx, idx)])
            cached = (idx, Ginv, self.G[:, idx].copy(), self.F[:, idx].copy(), np.real(np.diag(Ginv)))
            if len(self._support_cache) > 64:
                self._support_cache.clear()
            self._support_cache[S] = cached
        idx, Ginv, GS, Fs, dg = cached
        gk = einsum("fs,us->fu", c[:, idx], Ginv)
        e = np.abs(c - einsum("fs,ts->ft", gk, GS)) ** 2 / self._K
        e[:, idx] = 0.0
        ok = e.max(axis=1) < floor
        if len(idx) > 1:
            ok &= np.min(np.abs(gk) ** 2 / dg[None, :], axis=1) / self._K >= floor
        return idx, Fs, ok, gk

    def _phase_fit(self, P: int):
        """Cached weighted least-squares line fit over [sync 2, header, P payload symbols]:
        returns (a, b, t_payload - t_mean) with phase mean = a @ phi and slope = b @ phi."""
        fit = self._fits.get(P)
        if fit is None:
            t = np.concatenate([[0.0], self._t_hdr, 1 + self.n_hdr + np.arange(P)])
            w = np.concatenate([np.full(1 + self.n_hdr, float(self._K)), np.full(P, float(len(self.pil)))])
            w = w / w.sum()
            tm = float(w @ t)
            a = w
            b = w * (t - tm) / max(float(w @ (t - tm) ** 2), 1e-12)
            fit = (a, b, t[-P:] - tm)
            if len(self._fits) > 512:
                self._fits.clear()
            self._fits[P] = fit
        return fit

    def equalize(self, Yp: np.ndarray, est: ChannelEstimate, hdr_phase: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Payload spectra (F, P, fft_len) -> (equalised data symbols (F, P, n_data), noise
        variance per symbol (F, P, n_data))."""
        p = self.p
        F, P = Yp.shape[:2]
        H = est.H
        pil = self._pil_payload[:P] if P <= len(self._pil_payload) else p.pilots_for(np.arange(self.n_hdr, self.n_hdr + P))
        ref = H[:, None, self.pil] * pil[None]  # (F, P, n_pil)
        Y = Yp[:, :, self.data]
        s2 = np.asarray(est.noise_var, float)[:, None]  # (F, 1)
        Hd = H[:, self.data]  # (F, n_data)
        if self.tracking == "phase":
            c = np.sum(Yp[:, :, self.pil] * np.conj(ref), axis=2)
            # header phases (exact, measured on all carriers) + payload pilot phases, unwrapped in time
            phi = np.concatenate([np.zeros((F, 1)), hdr_phase, np.angle(c)], axis=1)
            d = np.diff(phi, axis=1)
            d -= 2 * np.pi * np.round(d / (2 * np.pi))
            phi[:, 1:] = np.cumsum(d, axis=1)  # unwrapped (phi[:, 0] = 0)
            a, b, tt = self._phase_fit(P)
            rot = np.exp(-1j * (einsum("ft,t->f", phi, a)[:, None] + einsum("ft,t->f", phi, b)[:, None] * tt[None, :]))
            a2 = np.abs(Hd) ** 2  # |H e^{j phi}|^2 = |H|^2
            if self.equalizer == "zf":
                with np.errstate(invalid="ignore", divide="ignore"):
                    X = Y * (rot[:, :, None] / Hd[:, None, :])
                nv = s2 / np.maximum(a2, 1e-12)
            else:
                X = Y * (rot[:, :, None] * (np.conj(Hd) / (a2 + s2))[:, None, :])
                nv = s2 / (a2 + s2)
            return X, np.broadcast_to(nv[:, None, :], X.shape)
        g = Yp[:, :, self.pil] / ref  # (F, P, n_pil) complex gains
        g = g[:, :, self.pil_sorted]
        if P >= 3:
            gp = np.pad(g, ((0, 0), (1, 1), (0, 0)), mode="edge")
            g = (gp[:, :-2] + gp[:, 1:-1] + gp[:, 2:]) / 3.0
        gi = einsum("fpq,dq->fpd", g, self.W_interp)  # linear interpolation across frequency (edges held)
        Heff = Hd[:, None, :] * gi
        a2 = np.abs(Heff) ** 2
        s2 = s2[:, :, None]
        if self.equalizer == "zf":
            with np.errstate(invalid="ignore", divide="ignore"):
                X = Y / Heff
            nv = s2 / np.maximum(a2, 1e-12)
        else:
            X = np.conj(Heff) * Y / (a2 + s2)
            nv = s2 / (a2 + s2)
        return X, nv
