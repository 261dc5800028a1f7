"""Token reorganization: merge functions (pure, export-friendly).

Bipartite soft matching after ToMe (Bolya et al., "Token Merging: Your ViT But Faster",
ICLR 2023). Given N tokens with a similarity metric (the attention keys averaged over heads),

1. split alternately into A = tokens[0::2] and B = tokens[1::2];
2. score every edge a -> b by cosine similarity  s(a, b) = <k_a, k_b> / (|k_a| |k_b|);
   the class token (index 0, in A) is protected by giving its edges s = -inf;
3. keep for every a its best edge  b*(a) = argmax_b s(a, b);
4. merge the r best-scoring A tokens into their b*(a); the other A tokens stay.

The result has N - r tokens: [unmerged A (in their original order, class token first), B].
Merging is a size-weighted average, so a token that already stands for s patches counts s times:

    x_b' = (s_b x_b + sum_{a -> b} s_a x_a) / (s_b + sum_{a -> b} s_a),   s_b' = s_b + sum s_a.

``scatter_reduce(mean)`` does not export to ONNX, so the average is computed as a
``scatter_add`` of ``x * s`` divided by the ``scatter_add`` of ``s``.

A second reorganizer with the same interface, :func:`kmeans_matching`, consolidates by
k-means on the same metric (see its docstring). Both return a ``merge(x) -> x'`` function
that sums features into the kept tokens; :func:`merge_wavg` and :func:`merge_source` use it.
"""
from __future__ import annotations

from typing import Callable, Tuple

import torch

Merge = Callable[[torch.Tensor], torch.Tensor]

NEG_INF = -1e4  # a finite "minus infinity": cosine scores live in [-1, 1], and ONNX prefers finite values


def _protect_first_row(scores: torch.Tensor) -> torch.Tensor:
    """Set row 0 of ``scores`` (B, Na, Nb) to NEG_INF (the class token never merges)."""
    return torch.cat([torch.full_like(scores[:, :1], NEG_INF), scores[:, 1:]], dim=1)


def bipartite_soft_matching(metric: torch.Tensor, r: int, class_token: bool = True) -> Merge:
    """ToMe's bipartite soft matching.

    Args:
        metric: (B, N, C) similarity features (attention keys averaged over heads).
        r: tokens to remove, clipped to at most half of the mergeable tokens.
        class_token: protect token 0.

    Returns:
        ``merge(x)``: (B, N, D) -> (B, N - r, D), summing each merged A token into its B partner.
    """
    n_tokens = metric.shape[1]
    r = min(r, (n_tokens - int(class_token)) // 2)
    if r <= 0:
        return lambda x: x

    with torch.no_grad():
        metric = metric / metric.norm(dim=-1, keepdim=True)
        a, b = metric[:, ::2], metric[:, 1::2]
        scores = a @ b.transpose(-1, -2)  # (B, Na, Nb)
        if class_token:
            scores = _protect_first_row(scores)
        node_max, node_idx = scores.max(dim=-1)  # best partner of each a
        edge_idx = node_max.argsort(dim=-1, descending=True)[..., None]  # (B, Na, 1)
        unm_idx = edge_idx[:, r:]  # A tokens that stay
        src_idx = edge_idx[:, :r]  # A tokens that merge
        dst_idx = node_idx[..., None].gather(dim=1, index=src_idx)  # their B partners
        if class_token:
            unm_idx = unm_idx.sort(dim=1)[0]  # keeps the class token at index 0

    def merge(x: torch.Tensor) -> torch.Tensor:
        src, dst = x[:, ::2], x[:, 1::2]
        n, t1, c = src.shape
        unm = src.gather(dim=1, index=unm_idx.expand(n, t1 - r, c))
        src = src.gather(dim=1, index=src_idx.expand(n, r, c))
        dst = dst.scatter_add(1, dst_idx.expand(n, r, c), src)
        return torch.cat([unm, dst], dim=1)

    return merge


def kmeans_matching(metric: torch.Tensor, r: int, class_token: bool = True, iters: int = 2) -> Merge:
    """k-means consolidation of N tokens into N - r clusters (same interface as ToMe's).

    Seeds: the N - r tokens that are *least* redundant, i.e. whose highest cosine similarity to
    any other token is smallest (the class token is always a seed). Every other token joins its
    most similar seed; then ``iters`` Lloyd steps re-assign every non-seed token to the nearest
    cluster centre (the size-unweighted mean of the normalised metric of its members). Seeds stay
    in their own cluster, so no cluster is ever empty and the output size is exactly N - r.
    Output order: clusters in the order of their seed tokens. Exact ties in redundancy (mutual
    nearest neighbours) go to the earlier token.

    Cost: one N x N similarity plus ``iters`` N x (N - r) ones, against ToMe's N/2 x N/2.
    """
    n_tokens = metric.shape[1]
    r = min(r, (n_tokens - int(class_token)) // 2)
    if r <= 0:
        return lambda x: x
    k = n_tokens - r

    with torch.no_grad():
        m = metric / metric.norm(dim=-1, keepdim=True)
        sim = m @ m.transpose(-1, -2)  # (B, N, N)
        eye = torch.eye(n_tokens, dtype=sim.dtype, device=sim.device)
        redundancy = (sim - 2.0 * eye).max(dim=-1).values  # best match to another token
        # mutual nearest neighbours tie exactly; break ties by position, above float noise,
        # so that PyTorch and ONNX Runtime pick the same seeds
        redundancy = redundancy + 1e-5 * torch.arange(n_tokens, dtype=sim.dtype, device=sim.device)
        if class_token:
            redundancy = torch.cat([torch.full_like(redundancy[:, :1], -2.0), redundancy[:, 1:]], 1)
        order = redundancy.argsort(dim=-1)  # least redundant first
        seeds = order[:, :k].sort(dim=-1)[0]  # (B, k) in token order, class token first
        # seed_of[token] = cluster index if the token is a seed else -1
        ar = torch.zeros_like(seeds) + torch.arange(k, device=m.device)
        seed_of = (torch.zeros_like(order) - 1).scatter(1, seeds, ar)
        is_seed = seed_of >= 0
        centres = m.gather(1, seeds[..., None].expand(-1, -1, m.shape[-1]))
        for _ in range(iters + 1):
            s = m @ centres.transpose(-1, -2)  # (B, N, k)
            if class_token:  # nobody joins the class token's cluster
                s = torch.cat([torch.full_like(s[..., :1], NEG_INF), s[..., 1:]], dim=-1)
            assign = torch.where(is_seed, seed_of, s.argmax(dim=-1))
            summed = torch.zeros_like(centres).scatter_add(1, assign[..., None].expand_as(m), m)
            centres = summed / summed.norm(dim=-1, keepdim=True)

    def merge(x: torch.Tensor) -> torch.Tensor:
        out = torch.zeros_like(x[:, :k])
        return out.scatter_add(1, assign[..., None].expand(-1, -1, x.shape[-1]), x)

    return merge


REORGANIZERS = {"bipartite": bipartite_soft_matching, "kmeans": kmeans_matching}


def merge_wavg(merge: Merge, x: torch.Tensor, size: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Size-weighted average merge: returns (sum s x / sum s, sum s) per kept token."""
    x = merge(x * size)
    size = merge(size)
    return x / size, size


def merge_source(merge: Merge, source: torch.Tensor) -> torch.Tensor:
    """Track which input tokens each output token covers: ``source`` is (B, N, N0) 0/1."""
    return merge(source)
