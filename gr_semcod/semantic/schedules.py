"""Merge schedules: how many tokens each block removes.

A schedule is a list ``r[l]`` for the L blocks. ToMe caps every layer at half of the mergeable
tokens, ``r_l <= (n_l - p) // 2`` with n_l the tokens entering block l and p = 1 when the
class token is protected. Three ways to ask for one:

* constant ``r``   — r per layer (capped), as in the ToMe paper;
* a list          — one r per layer (capped);
* ``target``      — the fewest layers-front-loaded, as-even-as-possible schedule that ends at
  exactly ``target`` tokens, e.g. 197 -> 30 or 197 -> 10 over 12 layers.
"""
from __future__ import annotations

import math
from typing import List, Optional, Sequence


def cap(n_tokens: int, class_token: bool = True) -> int:
    """The most tokens one bipartite step can remove from ``n_tokens``."""
    return max((n_tokens - int(class_token)) // 2, 0)


def tokens_per_layer(n_tokens: int, schedule: Sequence[int], class_token: bool = True) -> List[int]:
    """Tokens entering each block and leaving the last one: len(schedule) + 1 numbers."""
    counts = [n_tokens]
    for r in schedule:
        counts.append(counts[-1] - min(int(r), cap(counts[-1], class_token)))
    return counts


def make_schedule(
    depth: int,
    n_tokens: int,
    r: Optional[int] = None,
    per_layer: Optional[Sequence[int]] = None,
    target: Optional[int] = None,
    class_token: bool = True,
) -> List[int]:
    """Build a capped schedule from exactly one of ``r``, ``per_layer`` or ``target``."""
    given = [v is not None for v in (r, per_layer, target)]
    if sum(given) != 1:
        raise ValueError("give exactly one of r, per_layer, target")
    if per_layer is not None:
        if len(per_layer) != depth:
            raise ValueError(f"per-layer schedule has {len(per_layer)} entries, the model has {depth} blocks")
        raw = [int(v) for v in per_layer]
    elif r is not None:
        if r < 0:
            raise ValueError(f"r must be >= 0, got {r}")
        raw = [int(r)] * depth
    else:
        return _schedule_for_target(depth, n_tokens, int(target), class_token)
    counts = tokens_per_layer(n_tokens, raw, class_token)
    return [a - b for a, b in zip(counts[:-1], counts[1:])]


def _schedule_for_target(depth: int, n_tokens: int, target: int, class_token: bool) -> List[int]:
    """Spread ``n_tokens - target`` removals as evenly as the per-layer cap allows.

    Walk the layers front to back; layer l takes ceil(remaining / layers_left), unless the
    layers after it could not finish the job even at their caps, in which case it takes more
    (up to its own cap). The minimum reachable count is what halving every layer gives.
    """
    floor = tokens_per_layer(n_tokens, [n_tokens] * depth, class_token)[-1]
    if not floor <= target <= n_tokens:
        raise ValueError(f"target {target} tokens is out of reach: {depth} layers take {n_tokens} tokens to {floor}..{n_tokens}")

    def reachable_min(n: int, layers: int) -> int:
        return tokens_per_layer(n, [n] * layers, class_token)[-1]

    schedule, n = [], n_tokens
    for layer in range(depth):
        left = depth - layer
        want = math.ceil((n - target) / left)
        r = min(want, cap(n, class_token))
        # take more now if the remaining layers cannot reach the target otherwise
        while r < cap(n, class_token) and reachable_min(n - r, left - 1) > target:
            r += 1
        schedule.append(r)
        n -= r
    assert n == target, (n, target)
    return schedule


def flop_ratio(n_tokens: int, schedule: Sequence[int], dim: int, mlp_ratio: float = 4.0, class_token: bool = True) -> float:
    """FLOP-count bound on the speed-up of a merged ViT over the unmerged one (blocks only).

    Per block with n tokens and width d: qkv + proj 4 n d^2, MLP 2 mlp_ratio n d^2, attention
    2 n^2 d (QK^T and AV). The merge sits between attention and MLP, so the block's MLP runs on
    the merged count. Patch embedding and head are the same for both and are left out.
    """
    counts = tokens_per_layer(n_tokens, schedule, class_token)

    def block(n_in: int, n_mid: int) -> float:
        return 4 * n_in * dim * dim + 2 * n_in * n_in * dim + 2 * mlp_ratio * n_mid * dim * dim

    base = sum(block(n_tokens, n_tokens) for _ in schedule)
    merged = sum(block(a, b) for a, b in zip(counts[:-1], counts[1:]))
    return base / merged
