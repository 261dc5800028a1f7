"""Token merging: exactness at r=0, merge algebra, schedules, the k-means reorganizer."""
import pytest
import torch

from gr_semcod.semantic import (
    SemanticEncoder, bipartite_soft_matching, create_vit, flop_ratio, kmeans_matching,
    make_schedule, merge_source, merge_wavg, tokens_per_layer,
)


@pytest.fixture(scope="module")
def vit():
    torch.manual_seed(0)
    return create_vit("vit_micro_p4_32").eval()


def test_r0_reproduces_timm_features_exactly(vit):
    x = torch.rand(3, 3, 32, 32)
    enc = SemanticEncoder(vit, schedule=None).eval()
    with torch.no_grad():
        ref = vit.forward_features(x)
        tokens, sizes = enc(x)
    assert torch.equal(tokens, ref)
    assert torch.equal(sizes, torch.ones(3, 65, 1))


def test_r0_exact_for_reference_config_blocks():
    torch.manual_seed(1)
    vit = create_vit("vit_base_patch16_224", depth=2).eval()  # two ViT-B/16 blocks keep it fast
    x = torch.rand(1, 3, 224, 224)
    with torch.no_grad():
        assert torch.equal(SemanticEncoder(vit)(x)[0], vit.forward_features(x))


@pytest.mark.parametrize("reorganizer", ["bipartite", "kmeans"])
def test_merged_tokens_sizes_and_source(vit, reorganizer):
    enc = SemanticEncoder(vit, reorganizer=reorganizer).eval()
    enc.set_schedule(target=16)
    x = torch.rand(4, 3, 32, 32)
    with torch.no_grad():
        tokens, sizes, source = enc.forward_with_source(x)
    assert tokens.shape == (4, 16, 128) and sizes.shape == (4, 16, 1)
    # every patch (and the class token) is covered by exactly one output token
    assert torch.equal(source.sum(dim=1), torch.ones(4, 65))
    # sizes are the number of covered inputs; the class token stays alone in slot 0
    assert torch.equal(source.sum(dim=-1, keepdim=True), sizes)
    assert torch.equal(source[:, 0, 0], torch.ones(4)) and torch.equal(sizes[:, 0, 0], torch.ones(4))


def test_bipartite_merges_the_most_similar_pair():
    # tokens: cls, then a/b alternating. A-token 3 (x[3]) equals B-token 4 exactly -> it must merge into it.
    x = torch.randn(1, 7, 8)
    x[0, 3] = x[0, 4]
    merge = bipartite_soft_matching(x, r=1, class_token=True)
    size = torch.ones(1, 7, 1)
    out, s = merge_wavg(merge, x * 2, size)
    assert out.shape == (1, 6, 8)
    assert torch.allclose(out[0, 0], 2 * x[0, 0])  # class token untouched, first
    # the destination B token (index 4 -> B slot 1) now has size 2 and the average value
    b_slot = 3 + 1  # 3 unmerged A tokens (cls, x2, x6) + B index 1
    assert s[0, b_slot, 0] == 2 and torch.allclose(out[0, b_slot], 2 * x[0, 4], atol=1e-6)


def test_weighted_average_uses_sizes():
    metric = torch.tensor([[[1.0, 0], [0, 1.0], [0.0, 1.0]]])  # cls, a=(0,1), b=(0,1)
    merge = bipartite_soft_matching(metric, r=1, class_token=True)
    x = torch.tensor([[[0.0], [3.0], [0.0]]])
    size = torch.tensor([[[1.0], [3.0], [1.0]]])
    out, s = merge_wavg(merge, x, size)
    assert torch.allclose(out[0, :, 0], torch.tensor([0.0, 9.0 / 4]))
    assert torch.equal(s[0, :, 0], torch.tensor([1.0, 4.0]))


def test_kmeans_never_merges_class_token_and_keeps_count():
    torch.manual_seed(3)
    metric = torch.randn(2, 33, 16)
    merge = kmeans_matching(metric, r=12)
    src = merge_source(merge, torch.eye(33).expand(2, 33, 33))
    assert src.shape == (2, 21, 33)
    assert torch.equal(src[:, 0], torch.eye(33)[0].expand(2, 33))
    assert (src.sum(-1) >= 1).all()  # no empty cluster


def test_schedules_constant_list_target_and_cap():
    assert make_schedule(12, 197, r=8) == [8] * 12
    assert tokens_per_layer(197, make_schedule(12, 197, r=16))[-1] == 11  # last layer capped at 10
    for target in (30, 10):
        sched = make_schedule(12, 197, target=target)
        counts = tokens_per_layer(197, sched)
        assert counts[-1] == target
        assert all(r <= (n - 1) // 2 for r, n in zip(sched, counts))
    assert make_schedule(3, 65, per_layer=[40, 40, 0]) == [32, 16, 0]
    with pytest.raises(ValueError, match="out of reach"):
        make_schedule(2, 65, target=3)
    with pytest.raises(ValueError, match="exactly one"):
        make_schedule(12, 197, r=8, target=30)


def test_flop_ratio_reference_numbers():
    # ViT-B/16, r=8: tokens 197 -> 101; the bound must sit between the token-count ratios
    bound = flop_ratio(197, [8] * 12, 768)
    assert 1.3 < bound < 197 / 101 + 0.3
    assert flop_ratio(197, [0] * 12, 768) == pytest.approx(1.0)
    assert flop_ratio(197, [16] * 12, 768) > bound


def test_local_checkpoints_safetensors_and_pth(tmp_path, vit):
    from safetensors.torch import save_file

    from gr_semcod.semantic import load_checkpoint

    state = {k: v.contiguous() for k, v in vit.state_dict().items()}
    save_file(state, str(tmp_path / "w.safetensors"))
    torch.save({"state_dict": state}, tmp_path / "w.pth")
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        ref = vit.forward_features(x)
        for name in ("w.safetensors", "w.pth"):
            fresh = create_vit("vit_micro_p4_32", checkpoint=str(tmp_path / name)).eval()
            assert torch.equal(fresh.forward_features(x), ref)
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        load_checkpoint(vit, str(tmp_path / "nope.pth"))
    (tmp_path / "w.ckpt").write_bytes(b"x")
    with pytest.raises(ValueError, match="unsupported checkpoint format"):
        load_checkpoint(vit, str(tmp_path / "w.ckpt"))
    other = create_vit("vit_nano_p4_32")
    with pytest.raises(ValueError, match="does not match"):
        load_checkpoint(other, str(tmp_path / "w.safetensors"))
