"""Semantic codec v2: a hybrid ViT on the Deep JSCC analysis transform, quadtree token merging.

Transmitter (images ``(B, 3, H, W)`` -> tokens)::

    y  = PN(trunk(x))                       Deep JSCC encoder trunk, (B, c, H/4, W/4), unit power
    t  = E y + attn(LN(E y))                window self-attention over each 2^L x 2^L window
    y' = y + A t                            the attended latent (A = 0 at init)
    -- quadtree merge of [y'; t] (size-weighted means; the leaves are chosen by
       :func:`gr_semcod.runtime.quadtree.allocate` from y': content-adaptive, rate-distortion) --
    t  = t + mlp(LN(t));   z = y' + B t     per token (B = 0 at init)
    s  = a_l z / sqrt(P)                    a_l: learned amplitude of a level-l token (a_0 = 1), P the
                                            mean power of the sent tokens (sqrt(P): ``gain_bits`` side bits)

Receiver (tokens + the tree + the gain -> image)::

    y^ = unmerge(s^) * g / a_l              every position copies its leaf's token
    t  = E' y^ + emb(level) + w snr;  t = t + attn(LN(t));  t = t + mlp(LN(t))
    u  = y^ + B' t                          (B' = 0 at init)
    x^ = DeepJSCC decoder(u, snr - 10 log10 P)      conv synthesis, SNR-adaptive

With nothing merged (every level 0) and at initialisation, the codec *is* the Deep JSCC it was
warm-started from (the test checks it bit for bit); merging trades symbols for distortion where
the content is smooth.  A merged token stands for ``4^l`` positions, so its noise is copied over
all of them: it gets more power (``a_l``, initialised at ``2^(0.75 l)``: power ``~ 4^(0.75 l)``,
trained end to end; the receiver knows the levels, so this costs no side information).
Rate per image: ``T c/2`` symbols for ``T`` tokens plus the side bits
(tree flags and gain) at ``beta`` symbols per bit, see :mod:`gr_semcod.runtime.quadtree`.
"""
from __future__ import annotations

import copy

import math
from typing import Dict, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..jscc.channels import Channel, snr_tensor
from ..jscc.deepjscc import DeepJSCC
from ..jscc.power import num_symbols, parse_cbr, power_normalize
from ..runtime import quadtree

GAIN_BITS = 6          # power gain sqrt(P) in dB, 0.25 dB steps over [-12, +3.75] dB
GAIN_STEP_DB = 0.25
GAIN_MIN_DB = -12.0


# --------------------------------------------------------------------------- pure functions


def quantize_gain_db(p_db: torch.Tensor, bits: int = GAIN_BITS, min_db: float = GAIN_MIN_DB) -> torch.Tensor:
    """Power ``10 log10 P`` -> the receiver's copy, on the ``GAIN_STEP_DB`` grid of ``2^bits`` values
    from ``min_db``: ``min_db + step * clip(round((p_db - min_db) / step), 0, 2^bits - 1)`` (a power
    off the grid sends its edge: :func:`gain_clipped`)."""
    q = torch.round((p_db - min_db) / GAIN_STEP_DB).clamp(0, (1 << bits) - 1)
    return min_db + GAIN_STEP_DB * q


def gain_clipped(p_db: torch.Tensor, bits: int = GAIN_BITS, min_db: float = GAIN_MIN_DB) -> torch.Tensor:
    """True where ``p_db`` lies off :func:`quantize_gain_db`'s grid (beyond half a step past an edge)."""
    q = torch.round((p_db - min_db) / GAIN_STEP_DB)
    return (q < 0) | (q > (1 << bits) - 1)


def merge_levels(f: torch.Tensor, lev: torch.Tensor, depth: int) -> torch.Tensor:
    """Each position of ``f (B, C, h, w)`` replaced by the mean of its quadtree leaf (``lev (B, 1, h, w)``)."""
    out = f
    for lv in range(1, depth + 1):
        s = 1 << lv
        m = F.interpolate(F.avg_pool2d(f, s), scale_factor=s, mode="nearest")
        out = torch.where(lev == lv, m, out)
    return out


def spread_from_anchor(x: torch.Tensor, anchor: torch.Tensor) -> torch.Tensor:
    """``x (B, C, h, w)``: every position takes the value at its leaf's anchor (``anchor (B, h*w)`` flat index)."""
    b, c, h, w = x.shape
    idx = anchor.reshape(b, 1, h * w).expand(b, c, h * w)
    return torch.gather(x.reshape(b, c, h * w), 2, idx).reshape(b, c, h, w)


def anchor_index(lev: np.ndarray) -> np.ndarray:
    """Flat index of each position's leaf anchor (top-left), ``(B, h*w)`` int64."""
    b, h, w = lev.shape
    s = np.left_shift(1, lev.astype(np.int64))
    ii = np.arange(h)[None, :, None]
    jj = np.arange(w)[None, None, :]
    return ((ii - ii % s) * w + (jj - jj % s)).reshape(b, h * w)


def token_weights(lev: torch.Tensor) -> torch.Tensor:
    """``4^-level`` per position: summing it over a leaf gives 1, over the map the token count."""
    return torch.pow(4.0, -lev.to(torch.float32))


# --------------------------------------------------------------------------- layers


class WindowBlock(nn.Module):
    """Pre-norm transformer block over aligned ``win x win`` windows of a ``(B, D, h, w)`` map.

    ``forward(x, part)`` runs ``"attn"``, ``"mlp"`` or ``"both"``, so a merge can sit between the
    two (ToMe's place).  Output projections start at zero: the block starts as the identity.
    """

    def __init__(self, dim: int, heads: int, win: int, mlp_ratio: float = 2.0):
        super().__init__()
        self.dim, self.heads, self.win = dim, heads, win
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))
        self.pos = nn.Parameter(torch.zeros(1, win * win, dim))
        for lin in (self.proj, self.mlp[2]):
            nn.init.zeros_(lin.weight)
            nn.init.zeros_(lin.bias)

    def attn(self, x: torch.Tensor) -> torch.Tensor:
        b, d, h, w = x.shape
        s = self.win
        t = x.reshape(b, d, h // s, s, w // s, s).permute(0, 2, 4, 3, 5, 1).reshape(-1, s * s, d)
        t = t + self.pos
        q, k, v = self.qkv(self.norm1(t)).reshape(t.shape[0], s * s, 3, self.heads, d // self.heads).permute(
            2, 0, 3, 1, 4)
        a = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(d // self.heads), dim=-1)
        o = self.proj((a @ v).transpose(1, 2).reshape(t.shape[0], s * s, d))
        o = o.reshape(b, h // s, w // s, s, s, d).permute(0, 5, 1, 3, 2, 4).reshape(b, d, h, w)
        return x + o

    def mlp_part(self, x: torch.Tensor) -> torch.Tensor:
        t = x.permute(0, 2, 3, 1)
        return x + self.mlp(self.norm2(t)).permute(0, 3, 1, 2)


class HybridEncoderA(nn.Module):
    """images -> ``features (B, c + d, h, w)`` = ``[y'; t]`` before the merge (ONNX part 1)."""

    def __init__(self, trunk, c: int, dim: int, heads: int, win: int):
        super().__init__()
        self.trunk, self.c = trunk, c
        self.embed = nn.Conv2d(c, dim, 1)
        self.block = WindowBlock(dim, heads, win)
        self.to_latent = nn.Conv2d(dim, c, 1)
        nn.init.zeros_(self.to_latent.weight)
        nn.init.zeros_(self.to_latent.bias)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        y = self.trunk.analysis(images)
        b, c, h, w = y.shape
        y = power_normalize(y.reshape(b, -1, 2)).reshape(b, c, h, w)
        t = self.block.attn(self.embed(y))
        return torch.cat([y + self.to_latent(t), t], dim=1)


class HybridEncoderB(nn.Module):
    """``(features, levels)`` -> merged latent map ``(B, c, h, w)``, constant over each leaf (ONNX part 2)."""

    def __init__(self, a: HybridEncoderA, depth: int):
        super().__init__()
        self.a, self.depth = a, depth
        c, d = a.c, a.embed.out_channels
        self.to_latent = nn.Conv2d(d, c, 1)
        nn.init.zeros_(self.to_latent.weight)
        nn.init.zeros_(self.to_latent.bias)

    def forward(self, features: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
        m = merge_levels(features, levels, self.depth)
        y, t = m[:, :self.a.c], m[:, self.a.c:]
        return y + self.to_latent(self.a.block.mlp_part(t))


class HybridDecoder(nn.Module):
    """``(latent map, levels, snr_db)`` -> images: refinement blocks + Deep JSCC synthesis."""

    def __init__(self, synthesis, c: int, dim: int, heads: int, win: int, depth: int, blocks: int = 1):
        super().__init__()
        self.synthesis, self.c = synthesis, c
        self.embed = nn.Conv2d(c, dim, 1)
        self.level_embed = nn.Embedding(depth + 1, dim)
        self.snr_embed = nn.Linear(1, dim)
        self.blocks = nn.ModuleList([WindowBlock(dim, heads, win) for _ in range(blocks)])
        self.out = nn.Conv2d(dim, c, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, latent: torch.Tensor, levels: torch.Tensor, snr_db: torch.Tensor) -> torch.Tensor:
        b = latent.shape[0]
        snr_db = snr_db.reshape(b, 1).to(latent.dtype)
        lev = levels[:, 0].long()
        t = self.embed(latent) + self.level_embed(lev).permute(0, 3, 1, 2) \
            + self.snr_embed(snr_db / 20.0)[:, :, None, None]
        for blk in self.blocks:
            t = blk.mlp_part(blk.attn(t))
        return self.synthesis.synthesis(latent + self.out(t), snr_db)


# --------------------------------------------------------------------------- the codec


class HybridSemanticCodec(nn.Module):
    """Training-time codec: encoder A -> allocate -> encoder B -> tokens -> channel -> decoder.

    Args:
        base_cbr: the Deep JSCC rate of the no-merge limit (its latent has ``c = 96 * base_cbr``).
        cbrs: target rates; training draws one per batch (plus a random content budget).
        depth: quadtree depth (window ``2^depth`` latent positions = ``4 * 2^depth`` pixels).
        beta: channel symbols per protected side bit.
        init_from_bundle: warm start trunk and synthesis from a bundle's Deep JSCC at ``base_cbr``.
        budget_jitter: training budgets are the target times ``exp(U(-j, j))`` per group.
        group_size: in training, consecutive images of a batch form a group sharing one budget
            and one power normalisation, as the tiles of a photo do.
        freeze_base: keep the warm-started Deep JSCC trunk and synthesis fixed and train only the
            new layers (attention, MLP, level amplitudes, refinement); the no-merge limit then stays
            the Deep JSCC (config ``semcod2_32``; ``semcod2_32_finetune`` trains them too).
        freeze_transmitter: keep everything that decides what is sent fixed (trunk, attention, merge
            MLP, level amplitudes) and train the receiver only (refinement and synthesis): config
            ``semcod2_32_rx``, a second stage on a trained run (``init_from``).
        gain_min_db: the lowest value of the power gain's grid (``GAIN_BITS`` bits, ``GAIN_STEP_DB``
            steps; default ``GAIN_MIN_DB``: [-12, +3.75] dB); a codec set whose token power lies
            above the default grid (large level amplitudes, e.g. at 1/48) needs its own, exported
            with it (``gain_min_db`` of its set in the manifest).  The forward's ``gain_clipped``
            is the share of groups whose power fell off the grid.
    """

    def __init__(self, base_cbr="1/12", cbrs=("1/48", "1/24"), image_size=32, dim: int = 64, heads: int = 4,
                 depth: int = 3, decoder_blocks: int = 1, beta: float = 1.5, widths=(32, 64),
                 channel: Optional[Channel] = None, init_from_bundle: Optional[str] = None,
                 budget_jitter: float = 1.0, group_size: int = 8, freeze_base: bool = False,
                 freeze_transmitter: bool = False, gain_min_db: float = GAIN_MIN_DB):
        super().__init__()
        self.gain_min_db = float(gain_min_db)
        self.base_cbr = parse_cbr(base_cbr)
        self.cbr_choices = [str(parse_cbr(c)) for c in cbrs]
        h = w = int(image_size)
        if init_from_bundle:
            from ..export.from_onnx import deepjscc_from_bundle

            base = deepjscc_from_bundle(init_from_bundle, base_cbr)
        else:
            base = DeepJSCC(cbr=base_cbr, image_size=(h, w), widths=widths)
        self.c = base.c
        self.depth, self.beta, self.win = depth, float(beta), 1 << depth
        self.budget_jitter, self.group_size = budget_jitter, int(group_size)
        self.encoder_a = HybridEncoderA(base.encoder, self.c, dim, heads, self.win)
        self.encoder_b = HybridEncoderB(self.encoder_a, depth)
        self.decoder = HybridDecoder(base.decoder, self.c, dim, heads, self.win, depth, decoder_blocks)
        # log2 amplitude of a token per level; level 0 stays 1 (the no-merge limit is Deep JSCC)
        self.level_log2_amp = nn.Parameter(0.75 * torch.arange(1, depth + 1, dtype=torch.float32))
        if freeze_base:
            for p in list(self.encoder_a.trunk.parameters()) + list(self.decoder.synthesis.parameters()):
                p.requires_grad_(False)
        # whole tiles stay the base Deep JSCC, as the runtime sends and decodes them: with the base
        # trainable, an untrained copy (not a submodule: not saved, not counted, not optimised)
        object.__setattr__(self, "_base", None if freeze_base else copy.deepcopy(base).requires_grad_(False))
        if freeze_transmitter:  # what is sent stays bit for bit (and a machine receiver trained on it valid)
            for p in list(self.encoder_a.parameters()) + list(self.encoder_b.parameters()) + [self.level_log2_amp]:
                p.requires_grad_(False)
        self.channel = channel if channel is not None else Channel("awgn")

    def _base_encoder(self):
        """The base Deep JSCC's analysis for whole tiles: the trunk while it is frozen, else the
        untrained copy (the runtime codes whole tiles with the bundle's Deep JSCC itself)."""
        return self._base.encoder if self._base is not None else self.encoder_a.trunk

    def _base_decoder(self):
        return self._base.decoder if self._base is not None else self.decoder.synthesis

    def _apply(self, fn, *args, **kwargs):  # .to(), .cuda(), .double(): the untrained copy follows
        super()._apply(fn, *args, **kwargs)
        if self._base is not None:
            self._base._apply(fn, *args, **kwargs)
        return self

    def level_amp(self) -> torch.Tensor:
        """Amplitude ``a_l`` of a token of level ``l = 0..depth`` (``a_0 = 1``)."""
        return torch.cat([torch.ones(1), torch.pow(2.0, self.level_log2_amp)])

    @property
    def symbols_per_token(self) -> float:
        return self.c / 2.0

    def allocate(self, features: torch.Tensor, budget, groups=None) -> Tuple[np.ndarray, dict]:
        """Level maps for symbol budgets per group (per image by default; numpy, no gradient)."""
        y = features[:, :self.c].detach().cpu().numpy()
        return quadtree.allocate(y, self.depth, self.symbols_per_token, budget, self.beta, GAIN_BITS, groups=groups)

    def forward(self, images: torch.Tensor, snr_db=None, cbr=None, levels: Optional[np.ndarray] = None,
                groups: Optional[np.ndarray] = None) -> Dict[str, torch.Tensor]:
        """``groups (B,)``: images (tiles) sharing one budget, one power normalisation and one SNR."""
        b, _, h, w = images.shape
        if groups is None:  # training: tiles of a "photo" share one budget (rate shared by content)
            groups = np.arange(b) // (self.group_size if self.training else 1)
        groups = np.asarray(groups)
        ng = int(groups.max()) + 1
        gidx = torch.from_numpy(groups).to(images.device)
        if snr_db is None:
            s = self.channel.sample_snr(ng, images.device)
        elif torch.as_tensor(snr_db).numel() == b != ng:  # one SNR per image: the group's first
            first = np.unique(groups, return_index=True)[1]
            s = snr_tensor(snr_db, b, images.device)[torch.from_numpy(first).to(images.device)]
        else:
            s = snr_tensor(snr_db, ng, images.device)
        f = self.encoder_a(images)
        if levels is None:
            k = num_symbols(cbr if cbr is not None else self.cbr_choices[0], h, w)
            budget = np.bincount(groups, minlength=ng).astype(np.float64) * k
            if self.training and self.budget_jitter:
                budget *= np.exp(np.random.uniform(-self.budget_jitter, self.budget_jitter, ng))
            levels, _ = self.allocate(f, budget, groups)
        lev = torch.from_numpy(np.asarray(levels)).to(images.device)[:, None].float()
        z = self.encoder_b(f, lev) * self.level_amp().to(images.device)[lev.long()]
        whole = torch.from_numpy(quadtree.whole_tiles(np.asarray(levels))).to(images.device)
        if whole.any():  # a tile left whole is the base-rate Deep JSCC itself (a_0 = 1)
            base = self._base_encoder().analysis(images[whole])
            z = z.clone()
            z[whole] = power_normalize(base.reshape(len(base), -1, 2)).reshape(base.shape)
        wts = token_weights(lev)
        n_tok = torch.zeros(ng, device=images.device).index_add(0, gidx, wts.sum(dim=(1, 2, 3)))
        energy = torch.zeros(ng, device=images.device).index_add(0, gidx, (z.pow(2) * wts).sum(dim=(1, 2, 3)))
        p = energy / (n_tok * self.c / 2.0)
        p_db = 10.0 * torch.log10(p.clamp_min(1e-10)).detach()
        g_db = quantize_gain_db(p_db, min_db=self.gain_min_db)
        tx = z / torch.sqrt(p)[gidx, None, None, None]          # unit power over the sent tokens
        anchor = torch.from_numpy(anchor_index(np.asarray(levels))).to(images.device)
        sigma = torch.sqrt(torch.pow(10.0, -s / 10.0) / 2.0)[gidx, None, None, None]
        rx = spread_from_anchor(tx + torch.randn_like(tx) * sigma, anchor)
        y_hat = rx * torch.pow(10.0, g_db / 20.0)[gidx, None, None, None] / self.level_amp().to(images.device)[lev.long()]
        snr_latent = (s - g_db)[gidx]
        if whole.any():
            recon = torch.empty_like(images)
            if (~whole).any():
                recon[~whole] = self.decoder(y_hat[~whole], lev[~whole], snr_latent[~whole])
            recon[whole] = self._base_decoder().synthesis(y_hat[whole], snr_latent[whole])
        else:
            recon = self.decoder(y_hat, lev, snr_latent)
        return {"recon": recon, "snr_db": s[gidx], "tokens": n_tok, "levels": lev,
                "gain_clipped": gain_clipped(p_db, min_db=self.gain_min_db).float().mean()}
