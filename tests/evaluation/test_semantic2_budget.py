"""Symbol accounting of the semantic codec v2 on crops and its machine receiver's accuracies
(gr_semcod.evaluation.semantic2_budget): the parts add up to k, the channel accuracy is the one
``semcod eval`` reports, the genie and unmerged rows run the same classifier."""
import numpy as np

from gr_semcod.evaluation.pipeline import Classification
from gr_semcod.evaluation.semantic2_budget import budget_rows, format_rows, main
from gr_semcod.evaluation.semantic2_crops import classifier_role
from gr_semcod.runtime import Bundle
from tests.receivers.fixtures import SHIPPED, labelled_images


def test_budget_rows_add_up_and_match_the_evaluation(tmp_path, capsys):
    b = Bundle.load(SHIPPED, intra_op_threads=1)
    x, y = labelled_images(24, classes=10, seed=4)
    x = (x.astype(np.float32) / 255).transpose(0, 3, 1, 2).copy()
    rows = budget_rows(b, x, y, ["1/48", "1/12"], 10.0, seed=3, batch=10)
    for r in rows:
        assert r["k"] == {"1/48": 64, "1/12": 256}[r["cbr"]]
        assert abs(r["token_symbols"] + r["side_symbols"] + r["unused"] - r["k"]) < 1e-9
        assert r["unused"] >= 0 and r["side_symbols"] > 0
        assert abs(r["tokens"] * 4 - r["token_symbols"]) < 1e-9  # c/2 = 4 complex symbols per token
        acc = float((Classification(x, batch=10).semantic2_logits(b, None, r["cbr"], "awgn", 10.0, seed=3).argmax(1)
                     == y).mean())
        assert r["acc_channel"] == acc
        for key in ("acc_noiseless", "acc_unmerged"):
            assert 0.0 <= r[key] <= 1.0
    assert rows[0]["tokens"] < rows[1]["tokens"]
    # the human receiver's PSNR is the crop table's (same coding, channel seeds and decoder)
    from gr_semcod.evaluation.fullsize import semantic2_images
    from gr_semcod.runtime.metrics import psnr_per_image
    from gr_semcod.evaluation.semantic2_crops import transmit

    for r in rows:
        ref = semantic2_images(b, x, r["cbr"], "awgn", 10.0, seed=3, batch=10)["images"]
        assert abs(r["psnr_semantic2"] - float(psnr_per_image(x, ref).mean())) < 1e-6
        assert 5.0 < r["psnr_deepjscc"] < 60.0
        sent = transmit(b, x, r["cbr"], 10.0)
        assert r["gain_clipped"] == float(sent.gain_clipped.mean())
        meta = b.manifest["semantic2"]
        edges = (meta["gain_min_db"], meta["gain_min_db"] + meta["gain_step_db"] * ((1 << meta["gain_bits"]) - 1))
        assert all(g in edges for g in sent.gain_db[sent.gain_clipped])  # a clipped gain sends the grid's edge
    # nothing merged, the latent does not depend on the CBR: only the head read does (one per CBR when the bundle has it)
    # (1/48 has a transmitter and a head of its own; 1/24 and 1/6 share the transmitter and the head)
    same, other = budget_rows(b, x, y, ["1/24", "1/6"], 10.0, seed=3, batch=10)
    assert classifier_role(b, "1/24") == classifier_role(b, "1/6") == "semantic2_classifier"
    assert classifier_role(b, "1/48") == "semantic2_classifier@1/48"
    assert same["acc_unmerged"] == other["acc_unmerged"]
    (before,) = budget_rows(b, x, y, ["1/48"], 10.0, seed=3, batch=10, fill_rounds=1)  # one greedy fill pass
    assert before["tokens"] <= rows[0]["tokens"] and before["unused"] >= rows[0]["unused"]
    assert abs(before["token_symbols"] + before["side_symbols"] + before["unused"] - 64) < 1e-9
    table = format_rows(rows)
    assert table.count("\n") == 3 and "| 1/48 | 64 |" in table
    npz = tmp_path / "l.npz"
    xi, yi = labelled_images(12, classes=10, seed=5)
    np.savez(npz, images=xi, labels=yi)
    assert main(["--bundle", str(SHIPPED), "--data", str(npz), "--limit", "12", "--cbr", "1/48"]) == 0
    out = capsys.readouterr().out
    assert "12 crops" in out and "| 1/48 | 64 |" in out
