"""ONNX export with a parity check against PyTorch.

Every exported graph has a dynamic batch axis (named ``batch``) and opset >= 17; the TorchScript
exporter is used (``dynamo=False``), which handles ToMe's gather / scatter_add / argsort graphs.
"""
from __future__ import annotations

import os
import warnings
from typing import Dict, Sequence

import numpy as np
import torch
from torch import nn

DEFAULT_OPSET = 17


def export_onnx(
    module: nn.Module,
    example_inputs: Sequence[torch.Tensor],
    path: str,
    input_names: Sequence[str],
    output_names: Sequence[str],
    opset: int = DEFAULT_OPSET,
) -> str:
    """Export ``module`` (in eval mode) to ``path`` with a dynamic batch axis on every tensor."""
    if opset < 17:
        raise ValueError(f"opset must be >= 17, got {opset}")
    module = module.eval()
    dynamic_axes = {name: {0: "batch"} for name in list(input_names) + list(output_names)}
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            tuple(example_inputs),
            path,
            input_names=list(input_names),
            output_names=list(output_names),
            dynamic_axes=dynamic_axes,
            opset_version=opset,
            dynamo=False,
            do_constant_folding=True,
        )
    return path


def onnx_outputs(path: str, inputs: Dict[str, np.ndarray], threads: int = 0) -> Dict[str, np.ndarray]:
    """Run an ONNX file on the CPU with ONNX Runtime."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = threads
    sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(None, inputs)))


def parity_error(module: nn.Module, path: str, example_inputs: Sequence[torch.Tensor], input_names: Sequence[str]) -> float:
    """Max abs difference between PyTorch and ONNX Runtime over all outputs."""
    module = module.eval()
    with torch.no_grad():
        ref = module(*example_inputs)
    ref = ref if isinstance(ref, (tuple, list)) else (ref,)
    got = onnx_outputs(path, {n: t.detach().cpu().numpy() for n, t in zip(input_names, example_inputs)})
    errs = [float(np.max(np.abs(r.detach().cpu().numpy() - g))) for r, g in zip(ref, got.values())]
    return max(errs)
