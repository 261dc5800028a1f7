"""qa_digital_encoder / qa_digital_decoder: the digital baseline's blocks (no bundle, no torch)."""
import numpy as np
import pmt
import pytest
from gnuradio import gr_unittest

from gr_semcod.baselines import link, mcs as M, source_codecs
from gr_semcod.blocks.common import make_pdu
from gr_semcod.blocks.digital_decoder import digital_decoder
from gr_semcod.blocks.digital_encoder import digital_encoder
from gr_semcod.pdu import meta_to_python

from tests.baselines.fixtures import photo_like
from .harness import image_pdu, messages, pdus, run_block


def _noisy(z, snr_db, seed=0):
    nv = 10 ** (-snr_db / 10)
    rng = np.random.default_rng(seed)
    return (z + np.sqrt(nv / 2) * (rng.standard_normal(z.size) + 1j * rng.standard_normal(z.size))).astype(np.complex64)


class qa_digital(gr_unittest.TestCase):
    def test_001_encoder_metadata_and_budget(self):
        img = photo_like(48, 64)
        enc = digital_encoder("1/12", "jpeg", snr_db=12.0)
        (meta, z), = pdus(run_block(enc, [image_pdu(img, 7, label=3)])["out"])
        k = round(48 * 64 * 3 / 12)
        m = M.select_mcs(12.0)
        self.assertEqual((z.size, meta["n_symbols"], meta["codec"], meta["mode"]), (k, k, "digital", m.mode))
        self.assertEqual((meta["photo_height"], meta["photo_width"], meta["image_id"], meta["label"]), (48, 64, 7, 3))
        lay = link.layout(k, m)
        self.assertAlmostEqual(float(np.mean(np.abs(z[:lay.used_symbols]) ** 2)), 1.0, delta=0.1)
        self.assertTrue(np.all(z[lay.used_symbols:] == 0))
        self.assertEqual(source_codecs.encode(img, "jpeg", meta["quality"]),
                         link.unframe(link.decode_bits(z[None], 1e-6, lay)[0])[1])

    def test_002_round_trip_bit_exact_per_symbol_noise(self):
        img = photo_like(40, 56, seed=2)
        enc = digital_encoder("1/6", "avif", snr_db=20.0)
        (meta, z), = pdus(run_block(enc, [image_pdu(img, 3)])["out"])
        y = _noisy(z, 22.0)
        rx_meta = {"image_id": 3, "photo_height": 40, "photo_width": 56, "mode": meta["mode"], "snr_db": 22.0,
                   "symbol_noise_var": np.full(z.size, 10 ** -2.2, np.float32)}
        dec = digital_decoder("1/6", "avif")
        d = run_block(dec, [make_pdu(rx_meta, y)], outputs=("out", "drop", "snr"))
        (m2, out), = pdus(d["out"])
        want = source_codecs.decode(source_codecs.encode(img, "avif", meta["quality"]), "avif", 40, 56, meta["quality"])
        np.testing.assert_array_equal(out.reshape(40, 56, 3), want)
        self.assertEqual((m2["height"], m2["width"], m2["codec"], m2["quality"], m2["image_id"]),
                         (40, 56, "digital", meta["quality"], 3))
        self.assertNotIn("symbol_noise_var", m2)
        self.assertEqual((dec.n_failed(), dec.n_dropped()), (0, 0))
        fb = meta_to_python(messages(d["snr"])[0])
        self.assertEqual(fb["snr_db"], 22.0)

    def test_003_failure_is_a_drop_with_a_stand_in(self):
        img = photo_like(32, 32)
        enc = digital_encoder("1/6", "jpeg", mode=len(M.MCS_TABLE) - 1)  # 64-QAM 3/4 forced
        (meta, z), = pdus(run_block(enc, [image_pdu(img, 5)])["out"])
        good = {"image_id": 4, "height": 32, "width": 32, "mode": meta["mode"], "snr_db": 30.0}
        bad = dict(good, image_id=5, snr_db=3.0)
        for fallback, n_out in (("mean", 2), ("last", 2), ("none", 1)):
            dec = digital_decoder("1/6", "jpeg", fallback=fallback)
            d = run_block(dec, [make_pdu(good, _noisy(z, 30.0)), make_pdu(bad, _noisy(z, 3.0, seed=1))],
                          expect=2 if fallback == "none" else 3)
            out = pdus(d["out"])
            self.assertEqual(len(out), n_out)
            self.assertEqual((dec.n_failed(), dec.n_dropped()), (1, 1))
            drop = meta_to_python(messages(d["drop"])[0])
            self.assertEqual(drop["image_id"], 5)
            self.assertIn("CRC-32 mismatch", drop["reason"])
            if fallback == "none":
                continue
            m_bad, stand_in = out[1]
            self.assertEqual((m_bad["image_id"], m_bad["fallback"]), (5, fallback))
            first = out[0][1].reshape(32, 32, 3)
            if fallback == "last":
                np.testing.assert_array_equal(stand_in.reshape(32, 32, 3), first)
            else:
                np.testing.assert_array_equal(stand_in.reshape(-1, 3),
                                              np.broadcast_to(np.rint(first.reshape(-1, 3).mean(0)), (1024, 3)))

    def test_004_erased_symbols_carry_no_information(self):
        img = photo_like(32, 32)
        enc = digital_encoder("1/6", "jpeg", mode=1)  # QPSK 1/2: robust enough to survive a few erasures
        (meta, z), = pdus(run_block(enc, [image_pdu(img, 1)])["out"])
        y = _noisy(z, 15.0)
        mask = np.zeros(z.size, np.uint8)
        mask[::25] = 1
        y[mask.astype(bool)] = 50.0  # garbage where the PHY says "erased"
        dec = digital_decoder("1/6", "jpeg")
        d = run_block(dec, [make_pdu({"image_id": 1, "height": 32, "width": 32, "mode": 1, "snr_db": 15.0,
                                      "erasure_mask": mask}, y)])
        self.assertEqual((len(pdus(d["out"])), dec.n_failed()), (1, 0))

    def test_005_bad_pdus_are_dropped_with_reasons(self):
        dec = digital_decoder("1/12", "jpeg")
        z = np.zeros(256, np.complex64)
        cases = [
            (make_pdu({"image_id": 1, "height": 32, "width": 32}, z), "'mode'"),
            (make_pdu({"image_id": 2, "height": 32, "width": 32, "mode": 99}, z), "mode"),
            (make_pdu({"image_id": 3, "height": 32, "width": 32, "mode": 0}, z[:100]), "expected 256"),
            (make_pdu({"image_id": 4, "height": 32, "width": 32, "mode": 0, "symbol_noise_var": np.ones(3, np.float32)}, z),
             "one per symbol"),
            (make_pdu({"image_id": 5}, np.zeros(10, np.uint8)), "c32"),
        ]
        d = run_block(dec, [c for c, _ in cases])
        reasons = [meta_to_python(m)["reason"] for m in messages(d["drop"])]
        self.assertEqual(len(reasons), len(cases))
        for (_, want), got in zip(cases, reasons):
            self.assertIn(want, got)
        enc = digital_encoder("1/48", "heif", snr_db=-10.0)  # 64 BPSK symbols: no frame fits
        d = run_block(enc, [image_pdu(photo_like(32, 32), 9), make_pdu({"image_id": 1, "batch": 2, "height": 32,
                                                                         "width": 32}, np.zeros(6144, np.uint8))])
        reasons = [meta_to_python(m)["reason"] for m in messages(d["drop"])]
        self.assertIn("no heif payload", reasons[0])
        self.assertIn("one image or photo per PDU", reasons[1])

    def test_006_snr_feedback_changes_the_mcs(self):
        enc = digital_encoder("1/6", "jpeg", snr_db=0.0)
        img = photo_like(32, 32)
        tb_in = [pmt.from_double(25.0)]
        run_block(enc, tb_in, in_port="snr", expect=0, timeout=0.2)
        self.assertEqual(enc.current_mcs().name, M.select_mcs(25.0).name)
        (meta, _), = pdus(run_block(enc, [image_pdu(img, 0)])["out"])
        self.assertEqual(meta["mode"], M.select_mcs(25.0).mode)
        # a malformed report is ignored and counted, and it is not a dropped image
        d = run_block(enc, [pmt.intern("junk")], in_port="snr", expect=0, timeout=0.2)
        self.assertEqual((enc.n_bad_snr(), enc.n_dropped(), d["drop"].num_messages()), (1, 0, 0))
        self.assertEqual(enc.current_mcs().name, M.select_mcs(25.0).name)

    def test_008_report_sees_the_fade_and_the_excess_noise(self):
        """The decoder's report: on the 3-tap fade at a 20 dB noise level (mean SNR 19.7 dB) the 64-QAM
        effective SNR is ~17.2 dB, 2.5 dB below the mean SNR, at the 64-QAM 3/4 threshold; noise twice
        the reported one gives noise_scale ~2 and the effective SNRs of the doubled noise profile."""
        img = photo_like(64, 64, seed=3)
        enc = digital_encoder("1/6", "jpeg", mode=3)  # 16-QAM 1/2: decodes on the fade
        (meta, z), = pdus(run_block(enc, [image_pdu(img, 2)])["out"])
        nv = 0.01 / np.abs(M.multipath_gains(z.size)) ** 2  # the 3-tap channel on the data carriers
        rng = np.random.default_rng(5)
        w = (rng.standard_normal(z.size) + 1j * rng.standard_normal(z.size)) / np.sqrt(2)
        reports = []
        for scale in (1.0, 2.0):
            y = (z + np.sqrt(nv * scale) * w).astype(np.complex64)
            rx = {"image_id": 2, "height": 64, "width": 64, "mode": 3, "snr_db": 20.0,
                  "symbol_noise_var": nv.astype(np.float32)}
            dec = digital_decoder("1/6", "jpeg")
            d = run_block(dec, [make_pdu(rx, y)], outputs=("out", "drop", "snr"))
            self.assertEqual((len(pdus(d["out"])), dec.n_failed(), dec.n_reports()), (1, 0, 1))
            reports.append(meta_to_python(messages(d["snr"])[0]))
        exact, doubled = reports
        top = M.MCS_TABLE[-1]
        self.assertEqual(exact["snr_db"], 20.0)
        self.assertAlmostEqual(exact["noise_scale"], 1.0, delta=0.08)
        self.assertAlmostEqual(doubled["noise_scale"], 2.0, delta=0.16)
        eff = np.asarray(exact["eff_snr_db"])
        self.assertEqual(eff.shape, (len(M.MCS_TABLE),))
        self.assertTrue(16.5 < eff[top.mode] < top.min_snr_db + 0.5, eff)  # the fade costs ~2.5 dB
        self.assertNotEqual(M.select_mcs(eff, M.MCS_TABLE, 0.5).name, top.name)  # a margin of 0.5 dB: not 64-QAM
        # the doubled error is seen: the report is the effective SNR of the scaled noise profile
        np.testing.assert_allclose(np.asarray(doubled["eff_snr_db"]),
                                   M.effective_snrs_by_mode(nv * doubled["noise_scale"]), atol=1e-6)
        self.assertTrue(np.all((eff - np.asarray(doubled["eff_snr_db"]) > 0.5)), (eff, doubled["eff_snr_db"]))

    def test_009_a_report_changes_the_mcs_used(self):
        """snr_db=20 alone picks 64-QAM 3/4; a report whose effective SNRs say the channel is
        frequency selective moves the next image to a lower MCS; a plain number falls back to it."""
        img = photo_like(32, 32)
        enc = digital_encoder("1/6", "jpeg", snr_db=20.0)
        (m0, _), = pdus(run_block(enc, [image_pdu(img, 0)])["out"])
        self.assertEqual(m0["mode"], M.select_mcs(20.0).mode)
        self.assertEqual(M.MCS_TABLE[m0["mode"]].name, "64qam-3/4")
        th = np.array([m.min_snr_db for m in M.MCS_TABLE])
        eff = np.minimum(th + 1.0, 20.0)
        eff[-1] = th[-1] - 1.0  # 64-QAM does not make it, 16-QAM 3/4 does
        rep = {"snr_db": 20.0, "eff_snr_db": eff, "noise_scale": 1.3}
        from gr_semcod.pdu import meta_to_pmt

        run_block(enc, [meta_to_pmt(rep)], in_port="snr", expect=0, timeout=0.2)
        (m1, z1), = pdus(run_block(enc, [image_pdu(img, 1)])["out"])
        self.assertEqual((M.MCS_TABLE[m1["mode"]].name, enc.n_reports()), ("16qam-3/4", 1))
        self.assertEqual(z1.size, m0["n_symbols"])  # the budget does not change with the MCS
        # the margin is added to the thresholds: 1 dB above each threshold is not enough for a 1.5 dB margin
        enc.set_margin_db(1.5)
        self.assertEqual(enc.current_mcs().name, "bpsk-1/2")  # none meets threshold + margin: the most robust
        enc.set_margin_db(0.0)
        # a wrong-length report is counted bad and changes nothing
        run_block(enc, [meta_to_pmt({"eff_snr_db": np.ones(3)})], in_port="snr", expect=0, timeout=0.2)
        self.assertEqual((enc.n_bad_snr(), enc.current_mcs().name), (1, "16qam-3/4"))
        run_block(enc, [pmt.from_double(20.0)], in_port="snr", expect=0, timeout=0.2)
        self.assertEqual(enc.current_mcs().name, "64qam-3/4")

    def test_007_photo_through_the_ofdm_phy(self):
        """A 96x128 photo: encoder -> OFDM TX (mode and photo size in every frame header) -> AWGN 18 dB
        -> OFDM RX -> decoder, which takes the MCS and the size from the PHY: bit-exact."""
        import sys
        from pathlib import Path

        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "phy"))
        from phyutil import pad, run_rx, tx_waveform

        img = photo_like(96, 128, seed=4)
        enc = digital_encoder("1/12", "avif", snr_db=18.0)
        (meta, z), = pdus(run_block(enc, [image_pdu(img, 21)])["out"])
        keep = {k: meta[k] for k in ("mode", "photo_height", "photo_width")}
        y, frames = tx_waveform([(21, z, keep)])
        self.assertGreater(len(frames), 1)  # fragmented over several OFDM frames
        _, rx = run_rx(pad(y), chan={"snr_db": 18.0}, collect_pdus=True)
        got = rx.collector.msgs
        self.assertEqual(len(got), 1)
        dec = digital_decoder("1/12", "avif", size=32)  # the size parameter is not what is used
        (m2, out), = pdus(run_block(dec, got)["out"])
        q = meta["quality"]
        want = source_codecs.decode(source_codecs.encode(img, "avif", q), "avif", 96, 128, q)
        np.testing.assert_array_equal(out.reshape(96, 128, 3), want)
        self.assertEqual((m2["image_id"], m2["mode"], m2["photo_height"], m2["photo_width"]), (21, meta["mode"], 96, 128))


if __name__ == "__main__":
    gr_unittest.run(qa_digital)
