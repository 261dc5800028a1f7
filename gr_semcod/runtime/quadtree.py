"""Quadtree token merging: content-adaptive reorganization whose source map is cheap to send.

The tokens are the positions of a latent map ``f`` of shape ``(B, C, h, w)`` (``h, w`` multiples
of the window ``2^L``, ``L = depth``).  Merges are constrained to the nodes of a quadtree over each
aligned ``2^L x 2^L`` window: a node of level ``l`` covers ``2^l x 2^l`` positions and, when it is a
leaf, becomes ONE token, the size-weighted mean (ToMe's ``merge_wavg`` with unit sizes) of the
positions it covers.  A partition is a *level map* ``lev (B, h, w)``: the level of the leaf that
covers each position.

Rate of a partition (what the receiver needs, all of it counted in channel symbols)::

    tokens  T = sum_p 4^-lev(p)                     (one token per leaf)
    bits    F = number of visited nodes of level >= 1   (one split flag each, root always visited)
    symbols S = T * r + (F + g) * beta

with ``r`` complex symbols per token, ``beta`` channel symbols per protected side bit and ``g``
extra side bits per image (the power gain).  Distortion of a leaf ``n``:
``D(n) = sum_{p in n} ||f_p - mean_n f||^2``.

:func:`allocate` minimises ``sum D + lambda * S`` exactly by bottom-up pruning (a node is merged
when ``D(n) + lambda r <= sum_children J*``), and bisects ``lambda`` per group (an image, or a whole
photo whose tiles share one budget) so that ``S <= budget``.  Everything is numpy and vectorised
over images and windows; the torch side calls the same functions on detached latents.
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple, Union

import numpy as np

__all__ = [
    "node_distortion", "prune", "level_map", "tree_cost", "flag_counts", "flag_code_bits", "stitch_levels", "allocate",
    "fill_budget", "level_flag_bits", "partition_distortion", "allocate_tile_levels",
    "merge_map", "whole_tiles", "anchor_mask", "extract_tokens", "insert_tokens", "tree_bits", "parse_tree_bits",
]


def _pool_sum(x: np.ndarray, s: int) -> np.ndarray:
    """Sum over aligned ``s x s`` blocks of the last two axes."""
    *lead, h, w = x.shape
    return x.reshape(*lead, h // s, s, w // s, s).sum(axis=(-3, -1))


def _up(x: np.ndarray, s: int) -> np.ndarray:
    """Nearest upsampling by ``s`` of the last two axes."""
    return np.repeat(np.repeat(x, s, axis=-2), s, axis=-1)


def _check(f: np.ndarray, depth: int) -> None:
    if f.ndim != 4:
        raise ValueError(f"latent must be (B, C, h, w), got shape {f.shape}")
    win = 1 << depth
    if f.shape[2] % win or f.shape[3] % win:
        raise ValueError(f"latent {f.shape[2]}x{f.shape[3]} is not a multiple of the {win}x{win} window")


def node_distortion(f: np.ndarray, depth: int) -> list:
    """``[D_1, ..., D_depth]``, ``D_l (B, h/2^l, w/2^l)``: squared error of merging each level-``l``
    node into its mean, ``sum ||f||^2 - n ||mean||^2`` (computed in float64)."""
    _check(f, depth)
    f = f.astype(np.float64)
    sq = (f * f).sum(1)
    out = []
    for lv in range(1, depth + 1):
        s = 1 << lv
        tot = _pool_sum(f, s)
        out.append(np.maximum(_pool_sum(sq, s) - (tot * tot).sum(1) / (s * s), 0.0))
    return out


def prune(dist: Sequence[np.ndarray], lam: np.ndarray, r: float, flag_cost: Optional[np.ndarray] = None) -> list:
    """Bottom-up pruning: ``split_l (B, h/2^l, w/2^l)`` booleans, True where the node is split.

    ``lam (B,)`` is the Lagrange multiplier of each image.  Without ``flag_cost`` the flags do
    not enter the choice (a visited node sends its flag whether it splits or not).  With
    ``flag_cost (depth, 2)`` (symbols of a flag 0 / 1 at each level: coded bits times the symbols
    per bit), a merged node pays its 0 and a split one its 1 plus its children's flags::

        J(n) = min( D(n) + lam r + lam c_l(0),  sum_children J + lam c_l(1) )

    which is what an entropy-coded tree costs: rare decisions (a lone merge among split nodes)
    cost many bits.
    """
    lam = np.asarray(lam, np.float64).reshape(-1, 1, 1)
    b, h, w = dist[0].shape[0], dist[0].shape[1] * 2, dist[0].shape[2] * 2
    fc = np.zeros((len(dist), 2)) if flag_cost is None else np.asarray(flag_cost, np.float64)
    j = np.broadcast_to(lam * r, (b, h, w))
    splits = []
    for lv, d in enumerate(dist, start=1):
        js = _pool_sum(j, 2) + lam * fc[lv - 1, 1]
        jm = d + lam * (r + fc[lv - 1, 0])
        split = js < jm
        splits.append(split)
        j = np.where(split, js, jm)
    return splits


def level_map(splits: Sequence[np.ndarray]) -> np.ndarray:
    """Split flags per level -> level map ``lev (B, h, w)`` (uint8)."""
    depth = len(splits)
    active = np.ones_like(splits[-1])
    lev = None
    for lv in range(depth, 0, -1):
        sp = splits[lv - 1]
        here = np.where(active & ~sp, lv, 0).astype(np.uint8)
        lev = here if lev is None else _up(lev, 2) + here
        active = _up(active & sp, 2)
    return _up(lev, 2)


def tree_cost(lev: np.ndarray, depth: int) -> Tuple[np.ndarray, np.ndarray]:
    """``(tokens (B,), flag bits (B,))`` of a level map."""
    lev = np.asarray(lev)
    tokens = np.power(4.0, -lev.astype(np.float64)).sum(axis=(1, 2))
    bits = np.zeros(lev.shape[0])
    for lv in range(1, depth + 1):  # a level-lv node is visited when its parent (lv+1) split
        s = 1 << lv
        if lv == depth:
            bits += (lev.shape[1] // s) * (lev.shape[2] // s)
        else:
            parent = lev.reshape(lev.shape[0], lev.shape[1] // (2 * s), 2 * s, lev.shape[2] // (2 * s), 2 * s)
            parent_split = parent.max(axis=(2, 4)) < lv + 1
            bits += parent_split.sum(axis=(1, 2)) * 4
    return tokens, bits


N_CONTEXTS = 3  # split neighbours (left, above) of a node at its level: 0, 1 or 2


def stitch_levels(lev: np.ndarray, layout: Tuple[int, int]) -> np.ndarray:
    """Level maps of the ``rows x cols`` tiles of one photo (raster order) -> one ``(1, H, W)`` map."""
    gh, gw = layout
    t, h, w = lev.shape
    if t != gh * gw:
        raise ValueError(f"{t} tiles for a {gh}x{gw} layout")
    return lev.reshape(gh, gw, h, w).transpose(0, 2, 1, 3).reshape(1, gh * h, gw * w)


def flag_counts(lev: np.ndarray, depth: int) -> np.ndarray:
    """``(B, depth, N_CONTEXTS, 2)``: visited nodes of each level ``1..depth`` that stay merged (0)
    or split (1), by context = how many of the node's left and upper neighbours (same level) split.

    Windows are coded in raster order and nodes depth first in Z order, so both neighbours are
    known to the decoder before the node (a neighbour that was not visited counts as not split).
    """
    lev = np.asarray(lev)
    b = lev.shape[0]
    out = np.zeros((b, depth, N_CONTEXTS, 2))
    for lv in range(1, depth + 1):
        s = 1 << lv
        node_max = lev.reshape(b, lev.shape[1] // s, s, lev.shape[2] // s, s).max(axis=(2, 4))
        split = node_max < lv              # every leaf below: the node split
        if lv == depth:
            visited = np.ones_like(split)
        else:
            parent = lev.reshape(b, lev.shape[1] // (2 * s), 2 * s, lev.shape[2] // (2 * s), 2 * s).max(axis=(2, 4))
            visited = _up(parent < lv + 1, 2)
        sv = (visited & split).astype(np.int64)
        ctx = np.zeros_like(sv)
        ctx[:, :, 1:] += sv[:, :, :-1]
        ctx[:, 1:, :] += sv[:, :-1, :]
        for c in range(N_CONTEXTS):
            m = visited & (ctx == c)
            out[:, lv - 1, c, 1] = (m & split).sum(axis=(1, 2))
            out[:, lv - 1, c, 0] = (m & ~split).sum(axis=(1, 2))
    return out


def flag_code_bits(counts: np.ndarray) -> np.ndarray:
    """Length in bits of the flags coded by an adaptive binary arithmetic coder, one
    Krichevsky–Trofimov estimator per context (level x neighbours), 2 bits of termination::

        L = sum_ctx -log2[ G(n0 + 1/2) G(n1 + 1/2) / (pi G(n0 + n1 + 1)) ] + 2

    (the KT probability of a sequence depends only on its counts, so the length is exact for any
    order; a range coder attains it within its termination bits). ``counts (..., depth, ctx, 2)``.
    """
    from scipy.special import gammaln

    n0, n1 = counts[..., 0], counts[..., 1]
    nats = np.log(np.pi) + gammaln(n0 + n1 + 1) - gammaln(n0 + 0.5) - gammaln(n1 + 0.5)
    return nats.sum(axis=(-1, -2)) / np.log(2) + 2.0


def level_flag_bits(lev: np.ndarray, depth: int, layout: Optional[Tuple[int, int]] = None) -> np.ndarray:
    """``(depth, 2)``: bits a flag 0 / 1 of each level costs, ``-log2`` of its KT-smoothed
    frequency among the visited nodes of ``lev`` (all images together, or the tiles of one photo
    stitched by ``layout``)."""
    cnt = flag_counts(stitch_levels(lev, layout) if layout is not None else lev, depth).sum(axis=(0, 2))
    p = (cnt + 0.5) / (cnt.sum(axis=1, keepdims=True) + 1.0)
    return -np.log2(p)


def partition_distortion(dist: Sequence[np.ndarray], lev: np.ndarray) -> float:
    """Total merge distortion ``sum D(leaf)`` of the level map ``lev`` (``dist``: :func:`node_distortion`)."""
    lev = np.asarray(lev)
    total = 0.0
    for lv, d in enumerate(dist, start=1):
        s = 1 << lv
        leaf = (lev[:, ::s, ::s] == lv) & anchor_mask(lev)[:, ::s, ::s]
        total += float(d[leaf].sum())
    return total


def allocate_tile_levels(f: np.ndarray, depth: int, r: float, budget: float, beta: float, extra_bits: float,
                         layout: Tuple[int, int], iters: int = 40) -> Tuple[np.ndarray, dict]:
    """The tiles of one photo each merged to ONE level (``0..depth``, the same all over the
    tile), the levels chosen to minimise the merge distortion within ``budget`` symbols (bisected
    ``lambda``), the flags arithmetic-coded as :func:`allocate` codes them.  Such a tree is nearly
    free to send (a tile's flags repeat one decision), which wins when the budget only just falls
    short of leaving every tile whole (CBR 1/12 at the base rate 1/12)."""
    t, _, h, w = f.shape
    dist = node_distortion(f, depth)
    d = np.zeros((t, depth + 1))
    for lv in range(1, depth + 1):
        d[:, lv] = dist[lv - 1].reshape(t, -1).sum(axis=1)
    tokens = h * w / np.power(4.0, np.arange(depth + 1))
    scale = max(float(d[:, 1].mean()), 1e-12) / max(r, 1e-12)

    def solve(log_lam):
        lv = np.argmin(d + scale * np.exp(log_lam) * r * tokens[None], axis=1)
        lev = np.broadcast_to(lv[:, None, None], (t, h, w)).astype(np.uint8)
        fl = float(flag_code_bits(flag_counts(stitch_levels(lev, layout), depth))[0])
        return lev, tokens[lv].sum() * r + (fl + extra_bits) * beta

    lo, hi = -30.0, 30.0
    for _ in range(iters):
        mid = (lo + hi) / 2
        if solve(mid)[1] <= budget:
            hi = mid
        else:
            lo = mid
    lev, sym = solve(hi)
    return lev, {"symbols": sym, "over": sym > budget, "distortion": float(d[np.arange(t), lev[:, 0, 0]].sum())}


def allocate(
    f: np.ndarray,
    depth: int,
    r: float,
    budget: Union[float, np.ndarray],
    beta: float,
    extra_bits: float = 0.0,
    groups: Optional[np.ndarray] = None,
    iters: int = 40,
    fill: bool = True,
    coded: bool = True,
    layout: Optional[Tuple[int, int]] = None,
    fill_rounds: int = 4,
    entropy_rounds: int = 0,
) -> Tuple[np.ndarray, dict]:
    """Level map minimising latent distortion with ``S <= budget`` symbols per group.

    Args:
        f: latent ``(B, C, h, w)``.
        depth: quadtree depth (window ``2^depth``).
        r: complex symbols per token.
        budget: symbols per group (scalar or ``(G,)``).
        beta: symbols per side bit.
        extra_bits: side bits per group besides the flags (e.g. the quantised power gain).
        groups: ``(B,)`` group index of each image (default: one group per image); the images of
            a group share one ``lambda`` and one budget (the tiles of a photo).

        fill: spend the budget the Lagrangian solution leaves with greedy splits (:func:`fill_budget`),
            up to ``fill_rounds`` passes (each charges the flags at the coded bits per flag of the
            tree the last pass left; a pass that keeps no split ends it).
        coded: the flags are arithmetic-coded (:func:`flag_code_bits`, per group) instead of one
            bit each.
        layout: ``(rows, cols)`` when the images are the tiles of ONE photo in raster order (one
            group): the flag contexts then see the neighbours across tile borders.
        entropy_rounds: solve again this many times with every flag priced at what it costs coded
            (:func:`prune`'s ``flag_cost``: ``-log2`` of its level's frequency in the previous
            solution, KT-smoothed, times ``beta``), so the tree trades its own length against
            distortion; the first solve prices no flag.

    Returns ``(lev (B, h, w) uint8, info)`` with per-group ``tokens``, ``bits``, ``symbols``
    and ``over`` (True where even the fully merged tree exceeds the budget).
    """
    b = f.shape[0]
    groups = np.arange(b) if groups is None else np.asarray(groups)
    ng = int(groups.max()) + 1
    if layout is not None and ng != 1:
        raise ValueError("layout= describes the tiles of one photo: give a single group")
    budget = np.broadcast_to(np.asarray(budget, np.float64), (ng,)).copy()
    dist = node_distortion(f, depth)
    scale = max(float(np.mean(dist[0])), 1e-12) / max(r, 1e-12)

    def rate(lev):
        t, fl = tree_cost(lev, depth)
        tg = np.bincount(groups, t, ng)
        if coded and layout is not None:
            fg = flag_code_bits(flag_counts(stitch_levels(lev, layout), depth))
        elif coded:
            cnt = np.zeros((ng, depth, N_CONTEXTS, 2))
            np.add.at(cnt, groups, flag_counts(lev, depth))
            fg = flag_code_bits(cnt)
        else:
            fg = np.bincount(groups, fl, ng)
        return tg, fg, tg * r + (fg + extra_bits) * beta

    flag_cost = None

    def cost(log_lam):
        lev = level_map(prune(dist, scale * np.exp(log_lam)[groups], r, flag_cost))
        return (lev, *rate(lev))

    for rnd in range(int(entropy_rounds) + 1):
        if rnd:
            flag_cost = beta * level_flag_bits(lev, depth, layout)
        lo = np.full(ng, -30.0)   # small lambda: everything split (most symbols)
        hi = np.full(ng, 30.0)    # large lambda: everything merged (fewest symbols)
        for _ in range(iters):
            mid = (lo + hi) / 2
            _, _, _, s = cost(mid)
            ok = s <= budget
            hi = np.where(ok, mid, hi)
            lo = np.where(ok, lo, mid)
        lev, t, fl, s = cost(hi)
    if fill:
        base_over = s > budget  # even the Lagrangian solution is over: nothing to undo to
        for _ in range(fill_rounds):
            lev, t, fl, s, made = _fill_round(dist, lev, groups, budget, s, fl, r, beta, depth, base_over, rate)
            if not made:
                break
    return lev, {"tokens": t, "bits": fl + extra_bits, "symbols": s, "over": s > budget, "budget": budget}


def _fill_round(dist, lev, groups, budget, s, fl, r, beta, depth, base_over, rate):
    """One :func:`fill_budget` pass, flags charged at the current solution's coded bits per flag,
    then undo the last splits of any group whose exact coded total exceeds its budget.

    The per-flag estimate of a nearly merged tree is poor (a single coded flag costs its 2
    termination bits too: 3 bits), so :func:`allocate` repeats the pass with the estimate of the
    tree it got until no split is kept: that is what spends the budget a 32x32 crop at CBR 1/48
    would otherwise strand (about a quarter of its 64 symbols)."""
    ng = len(budget)
    raw = np.bincount(groups, tree_cost(lev, depth)[1], ng)
    per_flag = beta * np.where(raw > 0, fl / np.maximum(raw, 1), 1.0)  # symbols per flag, as coded now
    lev, history = fill_budget(dist, lev, groups, np.maximum(budget - s, 0.0), r, per_flag)
    t, fl, s = rate(lev)
    for g in np.flatnonzero(s > budget + 1e-9):  # coded flags cost more than estimated: undo
        while s[g] > budget[g] and history[g] and not base_over[g]:
            b, lv, i, j = history[g].pop()
            sz = 1 << lv
            lev[b, i * sz:(i + 1) * sz, j * sz:(j + 1) * sz] = lv
            t, fl, s = rate(lev)
    return lev, t, fl, s, any(history[g] for g in history)


def fill_budget(dist: Sequence[np.ndarray], lev: np.ndarray, groups: np.ndarray, left: np.ndarray, r: float,
                beta) -> Tuple[np.ndarray, dict]:
    """Spend what the Lagrangian solution left of each group's budget: split leaves greedily,
    best distortion saved per symbol first, while the split fits (the rate points between two
    Lagrangian solutions are not on the convex hull, so bisection alone strands them).

    Splitting a level-``l`` leaf costs ``3 r`` symbols plus ``4 beta`` for its children's flags
    (``beta``: symbols per flag, a scalar or one per group)
    (none when they are single positions) and saves ``D_l - sum D_{l-1}`` (``D_0 = 0``).
    Returns the new level map and, per group, the splits made in order (to undo the last ones
    when the exact flag code turns out longer than estimated).
    """
    import heapq

    lev = lev.copy()
    anchors = anchor_mask(lev) & (lev >= 1)
    history = {int(g): [] for g in np.unique(groups)}

    beta = np.broadcast_to(np.asarray(beta, np.float64), (int(groups.max()) + 1,))

    def gain(b, lv, i, j):  # i, j: node indices at level lv
        child = 0.0 if lv == 1 else float(dist[lv - 2][b, 2 * i:2 * i + 2, 2 * j:2 * j + 2].sum())
        return float(dist[lv - 1][b, i, j]) - child, 3 * r + (4 * beta[groups[b]] if lv > 1 else 0.0)

    for g in np.unique(groups):
        budget = float(left[g])
        if budget < 3 * r:
            continue
        heap = []
        for b in np.flatnonzero(groups == g):
            for pi, pj in zip(*np.nonzero(anchors[b])):
                lv = int(lev[b, pi, pj])
                d, c = gain(b, lv, pi >> lv, pj >> lv)
                heapq.heappush(heap, (-d / c, int(b), lv, int(pi >> lv), int(pj >> lv), c))
        while heap and budget >= 3 * r:
            _, b, lv, i, j, c = heapq.heappop(heap)
            if c > budget:
                continue
            budget -= c
            s = 1 << lv
            lev[b, i * s:(i + 1) * s, j * s:(j + 1) * s] = lv - 1
            history[int(g)].append((b, lv, i, j))
            if lv - 1 >= 1:
                for di in (0, 1):
                    for dj in (0, 1):
                        d, cc = gain(b, lv - 1, 2 * i + di, 2 * j + dj)
                        heapq.heappush(heap, (-d / cc, b, lv - 1, 2 * i + di, 2 * j + dj, cc))
    return lev, history


def merge_map(f: np.ndarray, lev: np.ndarray, depth: int) -> np.ndarray:
    """Each position replaced by the mean of its leaf (the merged tokens, spread on the grid)."""
    out = f.copy()
    for lv in range(1, depth + 1):
        s = 1 << lv
        m = _up(_pool_sum(f, s) / (s * s), s)
        out = np.where((lev == lv)[:, None], m, out)
    return out


def whole_tiles(lev: np.ndarray) -> np.ndarray:
    """``(T,)`` True for the tiles the allocation left whole (every position a leaf of level 0).

    The semantic codec v2 codes such a tile with the Deep JSCC of its base rate itself (the trunk's
    latent sent as is, that decoder at the receiver), so nothing merged is the baseline exactly;
    both ends know the tree, so this costs no side information."""
    return np.asarray(lev).reshape(len(lev), -1).max(axis=1) == 0


def anchor_mask(lev: np.ndarray) -> np.ndarray:
    """True at the top-left position of every leaf: the tokens, in raster order."""
    lev = np.asarray(lev)
    s = np.left_shift(1, lev.astype(np.int64))
    ii = np.arange(lev.shape[1])[None, :, None]
    jj = np.arange(lev.shape[2])[None, None, :]
    return (ii % s == 0) & (jj % s == 0)


def extract_tokens(m: np.ndarray, lev: np.ndarray) -> list:
    """Merged map ``(B, C, h, w)`` -> per image ``(T_b, C)`` tokens in raster order of their anchors."""
    mask = anchor_mask(lev)
    return [m[i][:, mask[i]].T for i in range(m.shape[0])]


def leaf_ids(lev: np.ndarray) -> np.ndarray:
    """``(B, h, w)`` int64: for every position, an id of the leaf (token) it belongs to, unique
    over the batch (``b h w + anchor row * w + anchor column``)."""
    lev = np.asarray(lev)
    b, h, w = lev.shape
    s = np.left_shift(1, lev.astype(np.int64))
    ii = np.arange(h)[None, :, None]
    jj = np.arange(w)[None, None, :]
    return np.arange(b)[:, None, None] * (h * w) + (ii - ii % s) * w + (jj - jj % s)


def insert_tokens(tokens: Sequence[np.ndarray], lev: np.ndarray) -> np.ndarray:
    """Inverse of :func:`extract_tokens` (the receiver's unmerge): every position copies its leaf's token."""
    lev = np.asarray(lev)
    b, h, w = lev.shape
    c = tokens[0].shape[1]
    s = np.left_shift(1, lev.astype(np.int64))
    ii = np.arange(h)[None, :, None]
    jj = np.arange(w)[None, None, :]
    ai = np.broadcast_to(ii - ii % s, lev.shape)
    aj = np.broadcast_to(jj - jj % s, lev.shape)
    mask = anchor_mask(lev)
    out = np.zeros((b, c, h, w), np.float32)
    for i in range(b):
        if len(tokens[i]) != int(mask[i].sum()):
            raise ValueError(f"image {i}: {len(tokens[i])} tokens for a tree of {int(mask[i].sum())} leaves")
        grid = np.zeros((c, h, w), np.float32)
        grid[:, mask[i]] = np.asarray(tokens[i], np.float32).T
        out[i] = grid[:, ai[i], aj[i]]
    return out


def tree_bits(lev: np.ndarray, depth: int) -> list:
    """Per image, the split flags in depth-first order of the windows in raster order (the side info)."""
    lev = np.asarray(lev)
    win = 1 << depth
    out = []
    for img in lev:
        bits = []

        def visit(i, j, lv):
            if lv == 0:
                return
            split = int(img[i:i + (1 << lv), j:j + (1 << lv)].max() < lv)
            bits.append(split)
            if split:
                h = 1 << (lv - 1)
                for di, dj in ((0, 0), (0, h), (h, 0), (h, h)):
                    visit(i + di, j + dj, lv - 1)

        for i in range(0, img.shape[0], win):
            for j in range(0, img.shape[1], win):
                visit(i, j, depth)
        out.append(np.array(bits, np.uint8))
    return out


def parse_tree_bits(bits: np.ndarray, shape: Tuple[int, int], depth: int) -> np.ndarray:
    """Receiver side of :func:`tree_bits`: flags -> level map ``(h, w)``; raises on a short stream."""
    lev = np.zeros(shape, np.uint8)
    win = 1 << depth
    pos = [0]

    def visit(i, j, lv):
        if lv == 0:
            return
        if pos[0] >= len(bits):
            raise ValueError(f"tree stream ended after {len(bits)} flags")
        split = bits[pos[0]]
        pos[0] += 1
        if not split:
            lev[i:i + (1 << lv), j:j + (1 << lv)] = lv
            return
        h = 1 << (lv - 1)
        for di, dj in ((0, 0), (0, h), (h, 0), (h, h)):
            visit(i + di, j + dj, lv - 1)

    for i in range(0, shape[0], win):
        for j in range(0, shape[1], win):
            visit(i, j, depth)
    if pos[0] != len(bits):
        raise ValueError(f"tree stream has {len(bits) - pos[0]} flags left over")
    return lev
