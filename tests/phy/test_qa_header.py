"""Header format, CRC, layout; BPSK header path cross-checked against commpy's modem."""
import numpy as np
import pytest
from gnuradio import gr_unittest

from gr_semcod.phy.header import (HEADER_BITS, Header, HeaderLayout, bpsk_map, crc16, fragment_bounds, pack_header,
                                  plan_fragments, unpack_header)


class qa_header(gr_unittest.TestCase):
    def test_001_crc_reference(self):
        self.assertEqual(crc16(b"123456789"), 0x29B1)  # CRC-16/CCITT-FALSE check value

    def test_002_roundtrip_and_every_single_bit_error_detected(self):
        h = Header(200, 65535, 3, 7, 6000, 858)
        bits = pack_header(h)
        self.assertEqual(bits.size, HEADER_BITS)
        self.assertEqual(unpack_header(bits), (h, ""))
        for i in range(HEADER_BITS):
            b = bits.copy()
            b[i] ^= 1
            got, why = unpack_header(b)
            self.assertIsNone(got)
            self.assertEqual(why, "crc")

    def test_003_inconsistent_fields_rejected(self):
        # a correct CRC over impossible fields must not pass
        for h in (Header(0, 1, 5, 5, 100, 20), Header(0, 1, 0, 2, 100, 49), Header(0, 1, 0, 0, 100, 100)):
            self.assertIsNone(unpack_header(pack_header(h))[0])
        with self.assertRaises(ValueError):
            pack_header(Header(0, 1, 0, 1, 1 << 22, 1))

    def test_004_fragment_bounds_cover_the_image(self):
        for L, m in ((1, 960), (960, 960), (961, 960), (3840, 960), (10001, 480)):
            n = plan_fragments(L, m)
            spans = [fragment_bounds(L, n, i) for i in range(n)]
            self.assertEqual(spans[0][0], 0)
            self.assertEqual(spans[-1][1], L)
            for (a, b), (c, d) in zip(spans, spans[1:]):
                self.assertEqual(b, c)
            self.assertTrue(all(0 < b - a <= m for a, b in spans))

    def test_005_layout_copies_on_distant_carriers(self):
        lay = HeaderLayout(48, 2)
        self.assertEqual(lay.n_syms, 4)
        carrier = lay.pos % 48
        self.assertTrue(np.all(np.abs(carrier[0] - carrier[1]) == 24))
        bits = pack_header(Header(1, 2, 0, 1, 10, 10))
        z = lay.place(bits)
        self.assertEqual(z.size, 4 * 48)
        np.testing.assert_array_equal((lay.combine(z) < 0).astype(np.uint8), bits)


class qa_header_commpy(gr_unittest.TestCase):
    def test_001_bpsk_matches_commpy_and_ber_matches_theory(self):
        commpy = pytest.importorskip("commpy")
        from commpy.modulation import PSKModem
        from scipy.special import erfc

        modem = PSKModem(2)
        rng = np.random.default_rng(0)
        bits = rng.integers(0, 2, 96 * 2000).astype(np.uint8)
        ours = bpsk_map(bits)
        ref = modem.modulate(bits)
        np.testing.assert_allclose(ours, ref, atol=1e-6)  # same mapping (0 -> +1, 1 -> -1)
        lay = HeaderLayout(48, 1)  # one copy: the plain BPSK header path
        for ebn0_db in (0.0, 4.0, 7.0):
            n0 = 10 ** (-ebn0_db / 10)
            noise = np.sqrt(n0 / 2) * (rng.standard_normal(ref.size) + 1j * rng.standard_normal(ref.size))
            y = ref + noise
            ref_bits = modem.demodulate(y, "hard")
            # our receiver's decision: matched filter output through the header layout, per header
            our_bits = np.concatenate([(lay.combine(blk) < 0).astype(np.uint8)
                                       for blk in y.reshape(-1, 96)])
            np.testing.assert_array_equal(our_bits, ref_bits)
            ber = np.mean(our_bits != bits)
            theory = 0.5 * erfc(np.sqrt(10 ** (ebn0_db / 10)))
            self.assertLess(abs(ber - theory), 4 * np.sqrt(theory / bits.size) + 1e-4, (ebn0_db, ber, theory))

    def test_002_repetition_gain(self):
        """Two combined copies need 3 dB less SNR per copy for the same BER (MRC)."""
        from scipy.special import erfc

        rng = np.random.default_rng(1)
        lay = HeaderLayout(48, 2)
        errs, n = 0, 0
        n0 = 10 ** (-3.0 / 10)  # 3 dB per copy
        for _ in range(400):
            bits = rng.integers(0, 2, 96).astype(np.uint8)
            z = lay.place(bits)
            z = z + np.sqrt(n0 / 2) * (rng.standard_normal(z.size) + 1j * rng.standard_normal(z.size))
            errs += int(np.sum((lay.combine(z) < 0) != bits))
            n += 96
        theory = 0.5 * erfc(np.sqrt(2 * 10 ** (3.0 / 10)))  # combined: 6 dB
        self.assertLess(abs(errs / n - theory), 4 * np.sqrt(theory / n) + 1e-4)


class qa_no_torch(gr_unittest.TestCase):
    def test_001_radio_side_never_imports_torch(self):
        import subprocess
        import sys

        code = ("import sys, gr_semcod.phy.ofdm_analog_tx, gr_semcod.phy.ofdm_analog_rx, gr_semcod.phy.channel, "
                "gr_semcod.bench.phy; print('torch' in sys.modules)")
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), "False")


if __name__ == "__main__":
    gr_unittest.run(qa_header)
