"""LatentClassifier (the v2 machine receiver's head): any batch, and it reads all three inputs
-- the received latent, the tree (levels) and the SNR."""
import torch

from gr_semcod.receivers import LatentClassifier


def _head():
    torch.manual_seed(0)
    head = LatentClassifier(8, 10, depth=3, widths=(16, 32)).eval()
    for m in head.modules():  # non-trivial BatchNorm statistics, as after training
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    return head


@torch.no_grad()
def test_any_batch_and_every_input_matters():
    head = _head()
    g = torch.Generator().manual_seed(1)
    latent = torch.randn(5, 8, 8, 8, generator=g)
    levels = torch.randint(0, 4, (5, 1, 8, 8), generator=g).float()
    snr = torch.full((5, 1), 10.0)
    out = head(latent, levels, snr)
    assert out.shape == (5, 10) and torch.isfinite(out).all()
    torch.testing.assert_close(head(latent[:1], levels[:1], snr[:1]), out[:1])  # per image, batch-independent
    assert (head(latent, torch.zeros_like(levels), snr) - out).abs().max() > 1e-3   # the tree
    assert (head(latent, levels, snr - 10) - out).abs().max() > 1e-3                 # the SNR
    assert (head(latent + 0.5, levels, snr) - out).abs().max() > 1e-3                # the tokens

