"""Shape-coded tokens: each merged token carries a learned code of the patches it covers.

ToMe's merged tokens lose their grid positions (each is a size-weighted average of its patches,
position embeddings included). Sending the source map as side information costs bits outside
the CBR. Instead the tokenizer adds a learned linear code of the token's own source mask,

    t_i' = t_i + W m_i / |m_i|,      m_i in {0, 1}^P  (patches merged into token i),

with ``W`` (D x P) learned (zero-initialised, so a plain codec is the starting point). The code
travels inside the token, hence inside the k channel symbols of the JSCE: the rate stays honest
and the JSCE learns how many of its symbols the shape deserves. With P <= D the code is linearly
invertible in principle; the receiver's detokenizer learns to read it back (see
:class:`gr_semcod.receivers.Detokenizer` with ``unmerge=True`` and :func:`assignment_targets`).
"""
from __future__ import annotations

import torch
from torch import nn

from .tokenizer import SemanticEncoder


def assignment_targets(source: torch.Tensor) -> torch.Tensor:
    """Source map (B, N, 1 + P) with a class token -> (B, P) index of the token owning each patch."""
    return source[:, :, 1:].argmax(dim=1)


class ShapeCodedEncoder(SemanticEncoder):
    """A :class:`SemanticEncoder` whose output tokens carry ``W m_i / |m_i|``.

    ``forward(images) -> (tokens, sizes)`` like the plain encoder (the source map is traced
    internally); ``forward_with_source(images) -> (tokens, sizes, source)`` for training losses.
    """

    def __init__(self, vit: nn.Module, **kwargs):
        super().__init__(vit, **kwargs)
        self.shape_proj = nn.Linear(self.num_patches, self.embed_dim, bias=False)
        nn.init.zeros_(self.shape_proj.weight)

    def forward_with_source(self, images: torch.Tensor):
        x, size, source = super().forward_with_source(images)
        masks = source[:, :, 1:] / size  # class token: all zeros (it covers no patch)
        return x + self.shape_proj(masks), size, source

    def forward(self, images: torch.Tensor):
        x, size, _ = self.forward_with_source(images)
        return x, size
