import math

import torch

from gr_semcod.semantic import ScalarQuantizer, VectorQuantizer, empirical_rate_bits


def test_scalar_quantizer_levels_straight_through_and_error_bound():
    q = ScalarQuantizer(bits=3, init_range=2.0)
    x = (torch.rand(8, 10, 16) * 4 - 2).requires_grad_()
    y, idx, aux = q(x)
    assert idx.min() >= 0 and idx.max() <= 7
    assert len(torch.unique(y.detach())) <= 8
    step = 4.0 / 7
    assert (y - x).abs().max() <= step / 2 + 1e-5
    y.sum().backward()
    assert torch.allclose(x.grad, torch.ones_like(x))  # identity gradient inside the range


def test_vector_quantizer_kmeans_init_recovers_clusters():
    torch.manual_seed(0)
    centres = torch.randn(4, 8) * 5
    data = centres[torch.randint(4, (400,))] + 0.01 * torch.randn(400, 8)
    vq = VectorQuantizer(4, 8).train()
    y, idx, loss = vq(data[None])
    assert idx.shape == (1, 400)
    assert (y - data).abs().max() < 0.1
    assert loss.item() < 1e-3
    # 4 equiprobable-ish codes -> about 2 bits each
    rate = vq.rate_bits(idx)
    assert 1.8 * 400 < rate <= 2.0 * 400 + 1e-6


def test_empirical_rate_of_uniform_indices():
    idx = torch.arange(16).repeat(4).view(4, 16)
    assert math.isclose(empirical_rate_bits(idx, 16), 4 * 16)
    assert empirical_rate_bits(torch.zeros(2, 5, dtype=torch.long), 16) == 0.0
