"""Token merging inside a timm ViT, between the attention and the MLP of every block.

Rather than forking timm, :func:`tome_block` runs an unmodified ``timm.models.vision_transformer.Block``
from its own sub-modules, with two additions (ToMe, Bolya et al. 2023):

* the attention also returns its keys averaged over heads, the similarity metric for matching;
* with proportional attention the logits get ``+ log s_j`` for key token j of size s_j, so a
  token that stands for s patches gets the attention mass of s copies:
  ``softmax(q k^T / sqrt(d) + log s)``.

With r = 0 and no proportional attention the computation is the block's own, op for op.
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .merge import REORGANIZERS, merge_source, merge_wavg


def attention_with_metric(attn: nn.Module, x: torch.Tensor, size: Optional[torch.Tensor]) -> Tuple[torch.Tensor, torch.Tensor]:
    """timm ``Attention.forward`` that also returns the keys averaged over heads, (B, N, head_dim).

    ``size`` (B, N, 1) switches on proportional attention; None leaves the logits untouched.
    """
    bsz, n, _ = x.shape
    gate = attn.gate(x).sigmoid() if getattr(attn, "gate", None) is not None else None
    qkv = attn.qkv(x).reshape(bsz, n, 3, attn.num_heads, attn.head_dim).permute(2, 0, 3, 1, 4)
    q, k, v = qkv.unbind(0)
    q, k = attn.q_norm(q), attn.k_norm(k)
    bias = None if size is None else size.log()[:, None, None, :, 0]  # (B, 1, 1, N)
    x = F.scaled_dot_product_attention(
        q, k, v, attn_mask=bias, dropout_p=attn.attn_drop.p if attn.training else 0.0
    )
    x = x.transpose(1, 2).reshape(bsz, n, attn.attn_dim)
    x = attn.norm(x)
    if gate is not None:
        x = x * gate
    x = attn.proj_drop(attn.proj(x))
    return x, k.mean(dim=1)


def tome_block(
    block: nn.Module,
    x: torch.Tensor,
    size: torch.Tensor,
    source: Optional[torch.Tensor],
    r: int,
    reorganizer: str = "bipartite",
    prop_attn: bool = True,
    class_token: bool = True,
):
    """One timm ``Block`` with a merge of ``r`` tokens between attention and MLP.

    Returns ``(x, size, source)`` with N - r tokens (``source`` stays None if not traced).
    """
    x_attn, metric = attention_with_metric(block.attn, block.norm1(x), size if prop_attn else None)
    x = x + block.drop_path1(block.ls1(x_attn))
    if r > 0:
        merge = REORGANIZERS[reorganizer](metric, r, class_token)
        if source is not None:
            source = merge_source(merge, source)
        x, size = merge_wavg(merge, x, size)
    x = x + block.drop_path2(block.ls2(block.mlp(block.norm2(x))))
    return x, size, source
