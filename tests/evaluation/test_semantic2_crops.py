"""Semantic v2 crops down to the received latent (gr_semcod.evaluation.semantic2_crops), on the
shipped codec: the crop table's images are its latents decoded, bit for bit; each crop is
allocated for its own SNR; without noise the receiver gets the merged latent back."""
import numpy as np
import pytest

from gr_semcod.evaluation.fullsize import semantic2_images
from gr_semcod.evaluation.semantic2_crops import receive, received_latents, transmit
from gr_semcod.runtime import Bundle, quadtree
from gr_semcod.runtime.channels import num_symbols
from gr_semcod.runtime.semantic2 import decoder_role
from gr_semcod.runtime.side_info import side_beta
from tests.receivers.fixtures import SHIPPED, labelled_images


@pytest.fixture(scope="module")
def bundle():
    return Bundle.load(SHIPPED, intra_op_threads=1)


@pytest.fixture(scope="module")
def crops():
    x, _ = labelled_images(24, seed=3)
    return (x.astype(np.float32) / 255).transpose(0, 3, 1, 2).copy()


@pytest.mark.parametrize("cbr,snr", [("1/48", 10.0), ("1/12", 3.0)])
def test_decoded_latents_are_the_crop_tables_images(bundle, crops, cbr, snr):
    ref = semantic2_images(bundle, crops, cbr, "awgn", snr, seed=4, batch=10)
    role = decoder_role(bundle, cbr)  # the shipped bundle has its own receiver at 1/48
    assert role == ("semantic2_decoder@1/48" if cbr == "1/48" else "semantic2_decoder")
    rec = [bundle.run(role, latent=r["latent"], levels=r["levels"], snr_db=r["snr_db"])["images"]
           for _, r in received_latents(bundle, crops, cbr, "awgn", snr, seed=4, batch=10)]
    np.testing.assert_array_equal(np.clip(np.concatenate(rec), 0, 1), ref["images"])


def test_each_crop_is_allocated_for_its_own_snr(bundle, crops):
    snr = np.array([0.0, 3.0, 10.0] * 8)  # three side-information schemes, beta 8 / 2 / 1
    mixed = transmit(bundle, crops, "1/48", snr)
    k = num_symbols("1/48", 32, 32)
    for s in (0.0, 3.0, 10.0):
        idx = np.flatnonzero(snr == s)
        alone = transmit(bundle, crops[idx], "1/48", s)
        np.testing.assert_array_equal(mixed.levels[idx], alone.levels)
        np.testing.assert_array_equal(mixed.spent[idx], alone.spent)
    tokens = quadtree.anchor_mask(mixed.levels).sum(axis=(1, 2))
    np.testing.assert_array_equal(mixed.n_symbols, tokens * 4)
    side = mixed.spent - mixed.n_symbols  # what the side bits are charged: > 0 and beta-proportional
    assert np.all(side[snr == 10.0] > 6 * side_beta(10.0))
    fits = side[snr >= 3.0] + mixed.n_symbols[snr >= 3.0]
    assert np.all(fits <= k)
    assert tokens[snr == 10.0].mean() > tokens[snr == 3.0].mean() > tokens[snr == 0.0].mean()


def test_noiseless_receiver_gets_the_merged_latent(bundle, crops):
    sent = transmit(bundle, crops, "1/12", 10.0)
    r = receive(bundle, sent, sent.symbols)
    feats = bundle.run("semantic2_encoder", images=crops)["features"]
    merged = bundle.run("semantic2_merger", features=feats, levels=sent.levels[:, None].astype(np.float32))["latent"]
    # equal up to the power gain's 0.25 dB quantisation (<= 0.125 dB of amplitude: 1.5 %)
    ratio = np.abs(r["latent"]).sum(axis=(1, 2, 3)) / np.abs(merged).sum(axis=(1, 2, 3))
    assert np.all(np.abs(ratio - 1) < 0.015)
    np.testing.assert_allclose(r["latent"] / ratio[:, None, None, None], merged, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(r["levels"][:, 0], sent.levels)
    np.testing.assert_allclose(r["snr_db"][:, 0], 10.0 - sent.gain_db, rtol=1e-6)
