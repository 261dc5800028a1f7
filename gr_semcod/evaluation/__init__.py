"""Evaluation on the runtime side: exported ONNX models, numpy channels, the baselines."""
from .pipeline import deepjscc_roundtrip, semantic_roundtrip, through_channel

__all__ = ["deepjscc_roundtrip", "semantic_roundtrip", "through_channel"]
