"""Semantic coding at the transmitter: tokenization, reorganization (token merging), quantization."""
from .merge import bipartite_soft_matching, kmeans_matching, merge_source, merge_wavg
from .quantize import ScalarQuantizer, VectorQuantizer, empirical_rate_bits
from .schedules import flop_ratio, make_schedule, tokens_per_layer
from .tokenizer import VIT_CONFIGS, SemanticEncoder, create_vit, load_checkpoint
from .shape_code import ShapeCodedEncoder, assignment_targets

__all__ = [
    "bipartite_soft_matching", "kmeans_matching", "merge_source", "merge_wavg",
    "flop_ratio", "make_schedule", "tokens_per_layer",
    "ScalarQuantizer", "VectorQuantizer", "empirical_rate_bits",
    "VIT_CONFIGS", "SemanticEncoder", "create_vit", "load_checkpoint",
    "ShapeCodedEncoder", "assignment_targets",
]
