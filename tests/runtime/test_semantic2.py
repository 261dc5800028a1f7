"""The semantic codec v2 as it goes over the air (gr_semcod.runtime.semantic2): the side
information is transmitted, decoded before any token is placed, and spends what it is charged."""
from pathlib import Path

import numpy as np
import pytest

from gr_semcod.runtime import load_bundle
from gr_semcod.runtime.channels import awgn, num_symbols, rayleigh
from gr_semcod.runtime.semantic2 import (FALLBACK_LEVEL, HEAD_BITS, SIDE_OVERHEAD_BITS, decode_photo, encode_photo,
                                         head_positions, read_side, side_cost, side_symbols_for,
                                         side_vector, spread)
from gr_semcod.runtime.side_info import SIDE_MCS, candidate, scheme_index, side_mcs

SHIPPED = Path(__file__).resolve().parents[2] / "models" / "semcod_32"


@pytest.fixture(scope="module")
def bundle():
    return load_bundle(SHIPPED)


def photo(h=96, w=160, seed=0):
    """Smooth sky above, noisy texture below."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / np.array([h, w])[:, None, None]
    img = np.stack([0.3 + 0.4 * yy, 0.5 + 0.2 * xx, 0.9 - 0.3 * yy], -1)
    low = np.arange(h) >= h // 2
    img[low] = 0.3 + 0.4 * rng.random((int(low.sum()), w, 3))
    return (img * 255).astype(np.uint8)


def psnr(a, b):
    return 10 * np.log10(1 / np.mean((a - b) ** 2))


@pytest.mark.parametrize("cbr,snr", [("1/48", 2.0), ("1/24", 3.0), ("1/12", 10.0)])  # 2 dB: K=7 BPSK on a short tree
def test_spends_exactly_what_it_sends_and_decodes_the_tree(bundle, cbr, snr):
    img = photo()
    sym, tx = encode_photo(bundle, img, cbr, snr)
    mcs = SIDE_MCS[tx["mcs"]]
    assert sym.dtype == np.complex64 and sym.size == tx["n_symbols"] <= num_symbols(cbr, 96, 160)
    assert mcs == side_mcs(snr, n_flags=tx["flag_bits"])  # the cheapest reliable scheme for this tree
    assert tx["side_symbols"] == side_cost(tx["flag_bits"], mcs)
    if mcs.code == "conv":  # a small photo's short tree: K=7, exactly beta per bit
        assert tx["side_symbols"] == mcs.beta * (tx["flag_bits"] + SIDE_OVERHEAD_BITS)
    assert sym.size == tx["side_symbols"] + 4 * tx["tokens"]
    assert abs(tx["flag_bits"] - tx["flag_bits_ideal"]) <= 2.5  # the real coder vs the charged length
    assert np.mean(np.abs(sym) ** 2) == pytest.approx(1.0, rel=1e-3)
    y = awgn(sym[None], snr, np.random.default_rng(1))[0]
    rec, rx = decode_photo(bundle, y, 96, 160, snr, mcs=tx["mcs"])  # the PDU's / PHY header's mode
    assert rx["ok"], rx["reason"]
    assert (rx["tokens"], rx["side_symbols"], rx["gain_index"]) == (tx["tokens"], tx["side_symbols"], tx["gain_index"])
    ref = img / 255.0
    floor = psnr(ref, np.broadcast_to(ref.reshape(-1, 3).mean(0), ref.shape))
    assert rec.shape == img.shape and psnr(ref, rec) > floor + 2


def test_noise_free_equals_decoding_with_the_true_tree(bundle):
    """With no noise the receiver's image is what the transmitter's own levels give: nothing lost
    between the tree that was allocated and the one that was decoded."""
    img = photo(64, 64, 3)
    sym, tx = encode_photo(bundle, img, "1/24", 20.0)
    rec, rx = decode_photo(bundle, sym, 64, 64, 20.0, mcs=tx["mcs"])
    assert rx["ok"]
    rec2, _ = decode_photo(bundle, sym * np.complex64(1.0), 64, 64, 20.0, noise_var=np.full(sym.size, 0.01),
                          mcs=tx["mcs"])
    np.testing.assert_array_equal(rec, rec2)  # weights scale the soft bits only, never the tokens
    assert psnr(img / 255.0, rec) > 20


@pytest.mark.parametrize("where", [0.0, 1 / 3, 0.9])
def test_side_info_survives_a_lost_frame_and_fades(bundle, where):
    """A lost PHY frame (here 10 % of the vector, contiguous) anywhere -- the first one too --
    takes only a scattered ~10 % of the head's and of the tree block's symbols."""
    img = photo()
    sym, tx = encode_photo(bundle, img, "1/48", 10.0)
    lost = np.zeros(sym.size, bool)
    a = int(where * sym.size)
    lost[a: a + sym.size // 10] = True  # one PHY frame's worth, contiguous
    mcs = SIDE_MCS[tx["mcs"]]
    at = head_positions(sym.size, mcs)
    assert lost[at].sum() <= 0.12 * at.size  # spread: the frame takes ~10 % of the head
    rest = np.setdiff1d(np.arange(sym.size), at)
    tree = rest[spread(rest.size, tx["side_symbols"] - at.size)]
    assert lost[tree].sum() <= 0.12 * tree.size  # ... and of the tree block
    y = awgn(sym[None], 10.0, np.random.default_rng(2))[0]
    _, rx = decode_photo(bundle, y, 96, 160, 10.0, erasures=lost, mcs=tx["mcs"])
    assert rx["ok"], rx["reason"]
    z, nv = rayleigh(sym[None], 10.0, 16, np.random.default_rng(3))
    _, rx = decode_photo(bundle, z[0], 96, 160, 10.0, noise_var=nv[0], mcs=tx["mcs"])
    assert rx["ok"], rx["reason"]


def test_side_info_failure_falls_back_cleanly(bundle):
    img = photo()
    sym, tx = encode_photo(bundle, img, "1/48", 10.0)
    mcs = SIDE_MCS[tx["mcs"]]
    at = head_positions(sym.size, mcs)
    rest = np.setdiff1d(np.arange(sym.size), at)
    n_tree = tx["side_symbols"] - at.size
    bad_tree = sym.copy()
    bad_tree[rest[spread(rest.size, n_tree)]] *= -1  # every tree code bit inverted: a valid code word of other bits
    bad_head = sym.copy()
    bad_head[at] = np.random.default_rng(0).choice([-1, 1], at.size) * np.sqrt(0.5) * (1 + 1j)
    flags, gain, tokens = read_side(sym, np.ones(sym.size), mcs, 10 ** 6)
    assert tokens.size == 4 * tx["tokens"]
    longer = side_vector(flags, gain, mcs, np.concatenate([tokens, np.zeros(4, np.complex64)]))  # 4 symbols too many
    cases = {"tree CRC": bad_tree, "head check": bad_head, "erased": np.zeros_like(sym),
             "fewer than": sym[:10], "tokens needs": longer}
    for reason, y in cases.items():
        rec, rx = decode_photo(bundle, y, 96, 160, 10.0, mcs=tx["mcs"])
        assert not rx["ok"] and reason in rx["reason"], (reason, rx)
        assert rec.shape == (96, 160, 3) and np.all(rec == FALLBACK_LEVEL)  # no token placed


def test_scheme_follows_the_snr_or_the_mode_given(bundle):
    img = photo(32, 32)
    s0, t0 = encode_photo(bundle, img, "1/12", -5.0)
    s1, t1 = encode_photo(bundle, img, "1/12", -5.0, mcs=scheme_index("qpsk_r1-2_ldpc"))
    assert (t0["mcs"], t1["mcs"]) == (scheme_index("bpsk_r1-2_k7_x4"), scheme_index("qpsk_r1-2_ldpc"))
    assert t0["side_symbols"] == 8 * (t0["flag_bits"] + SIDE_OVERHEAD_BITS)  # the K=7 floor: exactly beta per bit
    assert t1["side_symbols"] == side_cost(t1["flag_bits"], SIDE_MCS[t1["mcs"]])
    y = awgn(s0[None], -5.0, np.random.default_rng(4))[0]
    assert decode_photo(bundle, y, 32, 32, -5.0)[1]["ok"]  # 8 symbols per bit at -5 dB
    assert decode_photo(bundle, s1, 32, 32, -5.0, mcs=t1["mcs"])[1]["ok"]
    blind = decode_photo(bundle, s1, 32, 32, -5.0)[1]  # not told the mode: the schemes are tried, the CRCs pick it
    assert blind["ok"] and blind["mcs"] == t1["mcs"]
    s2, t2 = encode_photo(bundle, img, "1/12", 7.0, fading=True)  # 7 dB on a fading channel, a short tree: K=7 BPSK
    assert t2["mcs"] == scheme_index("bpsk_r1-2_k7") and decode_photo(bundle, s2, 32, 32, 7.0, mcs=t2["mcs"])[1]["ok"]
    assert encode_photo(bundle, img, "1/12", 7.0)[1]["mcs"] == scheme_index("qpsk_r1-2_k7")  # on AWGN: QPSK
    for m in SIDE_MCS:  # every scheme of the ladder round-trips a photo at 30 dB
        s3, t3 = encode_photo(bundle, img, "1/12", 30.0, mcs=scheme_index(m.name))
        rx = decode_photo(bundle, awgn(s3[None], 30.0, np.random.default_rng(5))[0], 32, 32, 30.0, mcs=t3["mcs"])[1]
        assert rx["ok"] and rx["side_symbols"] == t3["side_symbols"] == side_cost(t3["flag_bits"], m), m.name


def test_ldpc_tree_decodes_with_the_snr_s_noise_by_default(bundle):
    """A long tree goes with LDPC (16-QAM at 10 dB); its sum-product decoder needs calibrated LLRs:
    without a per-symbol noise variance the receiver takes the SNR's, and decodes."""
    img = photo(256, 384, 5)
    sym, tx = encode_photo(bundle, img, "1/48", 10.0)
    mcs = SIDE_MCS[tx["mcs"]]
    assert mcs.code == "ldpc" and tx["flag_bits"] > 720 and mcs == side_mcs(10.0, n_flags=tx["flag_bits"])
    assert tx["n_symbols"] >= 0.995 * tx["budget"]  # the bisection refilled what a codeword boundary left
    y = awgn(sym[None], 10.0, np.random.default_rng(6))[0]
    _, rx = decode_photo(bundle, y, 256, 384, 10.0, mcs=tx["mcs"])
    assert rx["ok"], rx["reason"]
    _, rx = decode_photo(bundle, y, 256, 384, 10.0, mcs=tx["mcs"], noise_var=1.0)  # LLRs 10x too weak
    assert not rx["ok"]


def test_bad_photo(bundle):
    with pytest.raises(ValueError, match="uint8 H x W x 3"):
        encode_photo(bundle, np.zeros((8, 8), np.uint8), "1/12", 10.0)


def test_side_frame_failure_rate_bench():
    from gr_semcod.bench.sideinfo import frame_failure_rate

    qpsk = candidate("qpsk_r1-2_k7")
    assert frame_failure_rate(qpsk, 8.0, "awgn", 300, 500, 5) == 0.0
    assert frame_failure_rate(qpsk, -4.0, "awgn", 300, 500, 5) == 1.0  # far below its threshold
    assert frame_failure_rate(SIDE_MCS[0], -4.0, "awgn", 300, 500, 5) == 0.0  # 8 symbols per bit hold there


@pytest.mark.parametrize("snr", [3.0, 10.0])
def test_decodes_without_the_mode_by_trying_the_schemes(bundle, snr):
    """A small photo's short tree goes with a K=7 scheme, not the typical photo's LDPC one: a
    receiver not told the mode finds it (head check + tree CRC) and says which it was."""
    img = photo(64, 96, 4)
    sym, tx = encode_photo(bundle, img, "1/12", snr)
    assert SIDE_MCS[tx["mcs"]] != side_mcs(snr)  # not the scheme a mode-less receiver would guess first
    y = awgn(sym[None], snr, np.random.default_rng(5))[0]
    rec, rx = decode_photo(bundle, y, 64, 96, snr)
    ref, _ = decode_photo(bundle, y, 64, 96, snr, mcs=tx["mcs"])
    assert rx["ok"], rx["reason"]
    assert rx["mcs"] == tx["mcs"]
    np.testing.assert_array_equal(rec, ref)


def test_scheme_loop_that_never_settles_sends_what_it_sized(bundle, monkeypatch):
    """If the per-flag-count scheme choice keeps changing for all its passes, the photo is sent
    with the scheme its last tree was sized for: within budget, and decodable with that mode."""
    import gr_semcod.runtime.semantic2 as s2

    names = iter(["bpsk_r1-2_ldpc", "qpsk_r1-2_ldpc", "bpsk_r1-2_k7_x2", "qpsk_r1-2_k7", "bpsk_r1-2_ldpc_x2"] * 4)
    monkeypatch.setattr(s2, "side_mcs", lambda *a, **k: SIDE_MCS[scheme_index(next(names))])
    img = photo(96, 160, 6)
    sym, tx = s2.encode_photo(bundle, img, "1/12", 10.0)
    assert sym.size <= num_symbols("1/12", 96, 160)
    assert tx["side_symbols"] == side_cost(tx["flag_bits"], SIDE_MCS[tx["mcs"]])
    _, rx = s2.decode_photo(bundle, sym, 96, 160, 10.0, mcs=tx["mcs"])
    assert rx["ok"], rx["reason"]
