"""Deep JSCC encoder/decoder export to ONNX separately; ONNX Runtime matches PyTorch."""
import numpy as np
import onnxruntime as ort
import pytest
import torch

from gr_semcod.jscc import DeepJSCC


def _export(module, args, path, inputs, outputs):
    dyn = {n: {0: "batch"} for n in inputs + outputs}
    torch.onnx.export(module, args, str(path), input_names=inputs, output_names=outputs,
                      dynamic_axes=dyn, opset_version=17, dynamo=False)
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("cbr,size,gdn", [("1/12", 32, False), ("1/48", 64, False), ("1/24", 32, True)])
def test_encoder_decoder_onnx_parity(tmp_path, cbr, size, gdn):
    torch.manual_seed(0)
    m = DeepJSCC(cbr, (size, size), gdn=gdn).eval()
    # perturb the PReLU slopes and AF MLPs away from their init so parity is non-trivial
    with torch.no_grad():
        for p in m.parameters():
            p.add_(0.05 * torch.randn_like(p))
    enc = _export(m.encoder, (torch.rand(2, 3, size, size),), tmp_path / "enc.onnx", ["images"], ["symbols"])
    dec = _export(m.decoder, (torch.randn(2, m.k, 2), torch.full((2, 1), 10.0)), tmp_path / "dec.onnx",
                  ["symbols", "snr_db"], ["images"])
    for batch in (1, 5):
        x = torch.rand(batch, 3, size, size)
        snr = torch.linspace(0, 20, batch).reshape(batch, 1)
        with torch.no_grad():
            z = m.encoder(x)
            r = m.decoder(z, snr)
        z_ort = enc.run(None, {"images": x.numpy()})[0]
        assert z_ort.shape == (batch, m.k, 2) and z_ort.dtype == np.float32
        assert np.abs(z_ort - z.numpy()).max() <= 1e-4
        r_ort = dec.run(None, {"symbols": z.numpy(), "snr_db": snr.numpy()})[0]
        assert r_ort.shape == (batch, 3, size, size)
        assert np.abs(r_ort - r.numpy()).max() <= 1e-4


def test_decoder_uses_snr():
    torch.manual_seed(0)
    m = DeepJSCC("1/12", (32, 32)).eval()
    z = torch.randn(2, 256, 2)
    with torch.no_grad():
        a = m.decoder(z, torch.full((2, 1), 0.0))
        b = m.decoder(z, torch.full((2, 1), 20.0))
        assert torch.equal(a, b)  # the AF blocks start as the identity: plain Deep JSCC at init
        for af in m.decoder.af:
            af.mlp[2].weight.normal_(0, 0.1)
        a = m.decoder(z, torch.full((2, 1), 0.0))
        b = m.decoder(z, torch.full((2, 1), 20.0))
    assert float((a - b).abs().max()) > 1e-4
