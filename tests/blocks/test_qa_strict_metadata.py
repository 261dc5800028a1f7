"""PDUs that do not match their metadata are dropped with a reason naming the key and the expected
value -- never misread -- and the block goes on with the next PDU."""
import numpy as np
import pmt
import pytest

from gr_semcod.blocks import image_sink, jscc_decoder, jscc_encoder, semantic_encoder
from gr_semcod.blocks.common import make_pdu
from gr_semcod.contract import IMAGE_ID_MODULO
from gr_semcod.runtime.images import save_png

from .bundles import K_LINEAR, LINEAR_CBR, N_TOKENS, SIZE, TOKEN_DIM
from .harness import image_pdu, pdus, run_block
from .test_qa_image_sink import qa_image_sink


def drop_reasons(d):
    return [pmt.symbol_to_string(pmt.dict_ref(d["drop"].get_message(i), pmt.intern("reason"), pmt.PMT_NIL))
            for i in range(d["drop"].num_messages())]


def test_encoder_refuses_a_larger_image_string_ids_and_keeps_going(linear_bundle, test_images):
    blk = semantic_encoder(linear_bundle)
    big = np.repeat(np.repeat(test_images[0], 2, axis=0), 2, axis=1)  # 64x64: the bytes of four 32x32
    inputs = [
        make_pdu({"image_id": 1}, big),  # no height/width: must not become batch=4
        make_pdu({"image_id": "one", "height": SIZE, "width": SIZE, "channels": 3}, test_images[1]),
        make_pdu({"image_id": np.arange(3), "batch": 2}, np.stack(test_images[:2])),  # 3 ids, 2 images
        make_pdu({"image_id": 4}, test_images[2]),  # one 32x32 image without metadata: fine
        make_pdu({"image_id": np.array([5, 6]), "batch": 2}, np.stack(test_images[3:5])),  # a declared batch
    ]
    d = run_block(blk, inputs, expect=len(inputs))
    reasons = drop_reasons(d)
    assert blk.n_dropped() == 3 and len(reasons) == 3
    assert "12288 bytes without 'height'/'width' or 'batch' metadata; expected 3072 bytes" in reasons[0]
    assert "'image_id' must be an int or a vector of 1 ints, got 'one'" in reasons[1]
    assert "'image_id' has 3 ids, expected 2" in reasons[2]
    out = pdus(d["out"])
    assert [np.atleast_1d(m["image_id"]).tolist() for m, _ in out] == [[4], [5, 6]]
    assert out[1][1].size == 2 * N_TOKENS * TOKEN_DIM


def test_transmitter_refuses_absurd_symbols():
    from gr_semcod.phy.framer import ofdm_analog_framer
    from gr_semcod.phy.params import make_params
    from gr_semcod.pdu import symbols_pdu

    fr = ofdm_analog_framer(make_params(64, 16))
    fr.handle_pdu(symbols_pdu(1, np.full(96, 1e30, np.complex64)))
    fr.handle_pdu(symbols_pdu(2, np.array([1, np.inf], np.complex64)))
    assert (fr.n_dropped, fr.n_images) == (2, 0)
    frames = list(fr.frames_for(3, np.ones(96, np.complex64)))  # a sane image still frames
    assert len(frames) == 1 and frames[0][0].image_len == 96


def test_encoder_output_and_decoder_input_checks(linear_bundle):
    enc = jscc_encoder(linear_bundle, "0.5")  # "0.5" and "1/2" are the same rate: one rates module
    assert enc.role == f"jscc_encoder@{LINEAR_CBR}" and enc.cbr == LINEAR_CBR
    dec = jscc_decoder(linear_bundle, LINEAR_CBR, snr_db=10.0)
    z = np.ones(K_LINEAR, np.complex64)
    mask_short = np.zeros(10, np.uint8)
    mask_short[[1, 2]] = 1
    inputs = [
        make_pdu({"image_id": 0, "erasure_mask": mask_short}, z),  # was read as indices 0/1
        make_pdu({"image_id": 1}, np.full(K_LINEAR, 1e30, np.complex64)),
        make_pdu({"image_id": 2, "n_symbols": K_LINEAR + 1}, z),
        make_pdu({"image_id": 3, "cbr": "1/6"}, z),
        make_pdu({"image_id": 4, "cbr": "0.5", "erasure_mask": np.zeros(K_LINEAR, np.uint8), "n_symbols": K_LINEAR}, z),
    ]
    d = run_block(dec, inputs, expect=len(inputs))
    reasons = drop_reasons(d)
    assert dec.n_dropped() == 4
    assert f"'erasure_mask' has 10 entries, expected {K_LINEAR} (one per symbol)" in reasons[0]
    assert "magnitude 1e+30 exceeds 1e+06" in reasons[1]
    assert f"n_symbols={K_LINEAR + 1} but the PDU holds {K_LINEAR} symbols for 1 image(s); " \
           f"expected n_symbols={K_LINEAR}" in reasons[2]
    assert "metadata 'cbr'='1/6', expected '1/2'" in reasons[3]
    (meta, _), = pdus(d["out"])
    assert meta["image_id"] == 4 and meta["n_erased"] == 0 and meta["cbr"] == LINEAR_CBR


class qa_image_sink_strict(qa_image_sink):
    """The sink: a larger image is not a batch; the reference of an id is found after the 16-bit wrap."""

    def test_001_metrics_png_csv_via_ref_port(self):  # inherited tests run in their own class
        pass

    test_002_reference_from_path_and_csv_appends = test_003_no_reference_and_bad_pdus = \
        test_004_labels_accuracy = test_005_latency_from_ref_port = test_001_metrics_png_csv_via_ref_port

    def test_101_larger_image_without_metadata_dropped(self):
        sink = image_sink("")
        big = np.repeat(np.repeat(self.images[0], 2, axis=0), 2, axis=1)
        msgs = [("ref", image_pdu(self.images[0], 1)), ("in", make_pdu({"image_id": 1}, big)),
                ("in", make_pdu({"image_id": 1}, self.noisy[0]))]
        self.run_sink(sink, msgs, 2)
        self.assertEqual((sink.n_dropped(), sink.n_images()), (1, 1))
        self.assertIn("without 'height'/'width' or 'batch' metadata", sink.last_drop_reason())

    def test_103_label_pdus_with_text_labels_dropped(self):
        sink = image_sink("")
        msgs = [("label", make_pdu({"image_id": 0, "label_pred": "cat"}, np.zeros(10, np.float32))),
                ("label", make_pdu({"image_id": 1, "label_pred": 3, "label": "3"}, np.zeros(10, np.float32))),
                ("label", make_pdu({"image_id": 2, "label_pred": 3, "label": 3}, np.zeros(10, np.float32)))]
        self.run_sink(sink, msgs, 3)
        self.assertEqual((sink.n_dropped(), sink.accuracy()), (2, 1.0))
        self.assertIn("'label' must be an int or a vector of ints, got '3'", sink.last_drop_reason())

    def test_102_reference_path_after_the_id_wrap(self):
        """3 reference images, a looping source (ids sent mod 65536, seen as they go by):
        count 65536 (sent as 0) is image 65536 % 3 = 1, not image 0."""
        ref = self.tmp / "ref"
        for i in range(3):
            save_png(ref / f"a{i}.png", self.images[i])
        sink = image_sink("", reference=str(ref))
        ids = [0, 20000, 40000, 60000, IMAGE_ID_MODULO - 1, IMAGE_ID_MODULO, IMAGE_ID_MODULO + 1, 90001]
        msgs = [("in", image_pdu(self.images[u % 3], u % IMAGE_ID_MODULO)) for u in ids]
        self.run_sink(sink, msgs, len(msgs))
        self.assertEqual(sink.n_images(), len(ids))
        for r in sink.results:  # each received image equals its own reference: infinite PSNR
            self.assertTrue(np.isinf(r["psnr_db"]) or r["psnr_db"] > 99, r)


@pytest.mark.parametrize("bad", ["x", 2.5])
def test_string_or_fractional_image_ids_are_refused_by_every_model_block(linear_bundle, bad):
    from gr_semcod.blocks import detokenizer

    blk = detokenizer(linear_bundle)
    d = run_block(blk, [make_pdu({"image_id": bad}, np.zeros(N_TOKENS * TOKEN_DIM, np.float32))], expect=1)
    assert blk.n_dropped() == 1 and "'image_id' must be an int" in drop_reasons(d)[0]
