"""ONNX export of the semantic encoder: parity with PyTorch and a dynamic batch."""
import numpy as np
import onnx
import pytest
import torch

from gr_semcod.export import export_onnx, onnx_outputs, parity_error
from gr_semcod.semantic import SemanticEncoder, create_vit


@pytest.mark.parametrize("reorganizer", ["bipartite", "kmeans"])
def test_small_encoder_parity_and_dynamic_batch(tmp_path, reorganizer):
    torch.manual_seed(0)
    enc = SemanticEncoder(create_vit("vit_micro_p4_32"), reorganizer=reorganizer).eval()
    enc.set_schedule(target=16)
    path = export_onnx(enc, [torch.rand(2, 3, 32, 32)], str(tmp_path / "enc.onnx"), ["images"], ["tokens", "sizes"])
    model = onnx.load(path)
    assert model.opset_import[0].version >= 17
    for batch in (1, 5):
        x = torch.rand(batch, 3, 32, 32)
        assert parity_error(enc, path, [x], ["images"]) <= 1e-4
    out = onnx_outputs(path, {"images": np.random.rand(3, 3, 32, 32).astype(np.float32)})
    assert out["tokens"].shape == (3, 16, 128)
    np.testing.assert_allclose(out["sizes"].sum(axis=1), 65.0)


@pytest.mark.slow
@pytest.mark.parametrize("r", [0, 8])
def test_vit_b16_parity(tmp_path, r):
    torch.manual_seed(0)
    enc = SemanticEncoder(create_vit("vit_base_patch16_224")).eval()
    enc.set_schedule(r=r)
    path = export_onnx(enc, [torch.rand(1, 3, 224, 224)], str(tmp_path / f"vitb_r{r}.onnx"), ["images"], ["tokens", "sizes"])
    err = parity_error(enc, path, [torch.rand(2, 3, 224, 224)], ["images"])
    assert err <= 1e-4, err
    assert onnx_outputs(path, {"images": np.zeros((1, 3, 224, 224), np.float32)})["tokens"].shape == (1, 197 - 8 * 12 if r else 197, 768)
