"""Export trained models to ONNX bundles for the radio runtime."""
from .onnx_export import DEFAULT_OPSET, export_onnx, onnx_outputs, parity_error

__all__ = ["DEFAULT_OPSET", "export_onnx", "onnx_outputs", "parity_error"]
