"""Shape-coded tokens and the unmerging detokenizer (gr_semcod.semantic.shape_code)."""
import torch

from gr_semcod.receivers import Detokenizer
from gr_semcod.semantic import SemanticEncoder, ShapeCodedEncoder, assignment_targets, create_vit
from gr_semcod.semcod import SemanticCodec, SemanticCodecConfig


def _vit():
    return create_vit("vit_tiny_patch16_224", img_size=32, patch_size=8, embed_dim=32, depth=3, num_heads=2,
                      num_classes=0)


def test_zero_init_code_equals_the_plain_encoder_and_targets_follow_the_source_map():
    torch.manual_seed(0)
    vit = _vit().eval()
    plain = SemanticEncoder(vit)
    coded = ShapeCodedEncoder(vit)
    for enc in (plain, coded):
        enc.set_schedule(target=6)
    x = torch.rand(2, 3, 32, 32)
    t0, s0, src = plain.forward_with_source(x)
    t1, s1 = coded(x)
    assert torch.equal(t0, t1) and torch.equal(s0, s1)
    target = assignment_targets(src)
    assert target.shape == (2, 16)
    # every patch belongs to exactly one token, never the class token, and sizes count them
    assert (target >= 1).all()
    for b in range(2):
        counts = torch.bincount(target[b], minlength=6).float()
        assert torch.equal(counts[1:], s0[b, 1:, 0])


def test_shape_code_changes_tokens_by_the_mask_mean():
    torch.manual_seed(0)
    coded = ShapeCodedEncoder(_vit().eval())
    coded.set_schedule(target=6)
    with torch.no_grad():
        coded.shape_proj.weight.copy_(torch.randn_like(coded.shape_proj.weight))
    x = torch.rand(1, 3, 32, 32)
    tok, size, src = coded.forward_with_source(x)
    plain_tok = SemanticEncoder.forward(coded, x)[0]
    expected = plain_tok + (src[:, :, 1:] / size) @ coded.shape_proj.weight.T
    assert torch.allclose(tok, expected, atol=1e-6)
    assert torch.allclose(tok[:, 0], plain_tok[:, 0])  # the class token covers no patch


def test_unmerge_detokenizer_learns_the_source_map_through_the_channel():
    """A few dozen steps at 20 dB: the assignment cross-entropy falls well below log(N) (chance)."""
    torch.manual_seed(0)
    codec = SemanticCodec(SemanticCodecConfig(dim=32, depth=2, heads=2, patch_size=8, cbrs=("1/6",),
                                              num_tokens=8, assign_loss=1.0))
    opt = torch.optim.AdamW(codec.parameters(), 3e-3)
    ces = []
    for _ in range(80):
        x = torch.rand(16, 3, 32, 32)
        out = codec(x, torch.full((16,), 20.0))
        opt.zero_grad()
        out["aux_loss"].backward()
        opt.step()
        ces.append(out["aux_loss"].item())
    chance = torch.log(torch.tensor(8.0)).item()
    assert abs(ces[0] - chance) < 0.3
    assert sum(ces[-10:]) / 10 < 0.6 * chance


def test_detokenizer_logits_shape_and_plain_mode():
    det = Detokenizer(32, grid=4, patch_size=8, depth=1, heads=2, unmerge=True)
    img, logits = det(torch.rand(2, 5, 32), return_logits=True)
    assert img.shape == (2, 3, 32, 32) and logits.shape == (2, 5, 16)
    plain = Detokenizer(32, grid=4, patch_size=8, depth=1, heads=2)
    assert plain(torch.rand(2, 5, 32), return_logits=True)[1] is None
