"""Header format, CRC, coded layout; BPSK and the convolutional encoder cross-checked against commpy;
soft combining against theory; header error rate against SNR."""
import numpy as np
import pytest
from gnuradio import gr_unittest

from gr_semcod.phy.code import ConvCode
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

    def test_002b_photo_fields_round_trip_at_their_limits(self):
        # photo size sent as value - 1 in 12 bits: 1 .. 4096 both ways; mode 0 .. 255
        for ph, pw, mode in ((1, 1, 0), (512, 768, 7), (4096, 4096, 255), (4096, 1, 0), (33, 4095, 128)):
            h = Header(5, 9, 0, 1, 100, 100, ph, pw, mode)
            got, why = unpack_header(pack_header(h))
            self.assertEqual((got, why), (h, ""))
        self.assertIsNone(Header(0, 1, 0, 1, 10, 10).photo)  # 1 x 1: "no size given"
        self.assertEqual(Header(0, 1, 0, 1, 10, 10, 512, 768).photo, (512, 768))
        for bad in (dict(photo_height=0), dict(photo_width=4097), dict(mode=256), dict(mode=-1)):
            with self.assertRaises(ValueError):
                pack_header(Header(0, 1, 0, 1, 10, 10, **{**dict(photo_height=2, photo_width=2, mode=0), **bad}))

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

    def test_005_layout_every_code_bit_twice_on_distant_carriers(self):
        lay = HeaderLayout(48, 2)
        self.assertEqual(lay.code.n_coded, 2 * (HEADER_BITS + 6))  # terminated rate 1/2, K=7
        self.assertEqual(lay.n_syms, 12)  # ceil(268 * 2 / 48)
        counts = np.bincount(lay.perm, minlength=lay.code.n_coded)
        self.assertGreaterEqual(counts.min(), 2)
        self.assertLessEqual(counts.max(), 3)
        # copies of a code bit: different OFDM symbols and carriers far apart
        for b in range(lay.code.n_coded):
            pos = np.flatnonzero(lay.perm == b)
            self.assertGreaterEqual(np.diff(pos).min(), 48)
        # neighbouring code bits (the trellis' memory) never on neighbouring carriers
        where = np.array([np.flatnonzero(lay.perm == b)[0] for b in range(lay.code.n_coded)])
        self.assertGreater(np.abs(np.diff(where)).min(), 4)
        bits = pack_header(Header(1, 2, 0, 1, 10, 10))
        z = lay.place(bits)
        self.assertEqual(z.size, 12 * 48)
        np.testing.assert_array_equal(lay.decode(z), bits)
        np.testing.assert_array_equal(lay.decode(-0.01 * z), 1 - bits)  # sign convention, any scale


class qa_header_code(gr_unittest.TestCase):
    def test_001_bpsk_and_encoder_match_commpy(self):
        commpy = pytest.importorskip("commpy")
        from commpy.channelcoding import Trellis, conv_encode
        from commpy.modulation import PSKModem

        rng = np.random.default_rng(0)
        bits = rng.integers(0, 2, 96 * 20).astype(np.uint8)
        np.testing.assert_allclose(bpsk_map(bits), PSKModem(2).modulate(bits), atol=1e-6)  # 0 -> +1, 1 -> -1
        # the impulse response is the (133, 171) octal K=7 code of 802.11 / CCSDS ...
        code = ConvCode(96)
        imp = code.encode(np.eye(96, dtype=np.uint8)[0])
        self.assertEqual(int("".join(map(str, imp[0:14:2])), 2), 0o133)
        self.assertEqual(int("".join(map(str, imp[1:14:2])), 2), 0o171)
        # ... which gr-fec and commpy both spell [109, 79]; terminated (6 zero tail bits)
        trellis = Trellis(np.array([6]), np.array([[109, 79]]))
        for blk in bits.reshape(-1, 96):
            np.testing.assert_array_equal(code.encode(blk), conv_encode(blk, trellis, "term"))

    def test_002_soft_combining_is_mrc(self):
        """Combined soft values of the code bits: BER of their sign = BPSK theory at the summed SNR
        of each code bit's copies (2 or 3 copies)."""
        from scipy.special import erfc

        rng = np.random.default_rng(1)
        lay = HeaderLayout(48, 2)
        copies = np.bincount(lay.perm, minlength=lay.code.n_coded)
        es_n0 = 10 ** (-3.0 / 10)  # -3 dB per carrier
        errs, theory, n = 0, 0.0, 600
        for _ in range(n):
            bits = rng.integers(0, 2, HEADER_BITS).astype(np.uint8)
            z = lay.place(bits)
            z = z + np.sqrt(0.5 / es_n0) * (rng.standard_normal(z.size) + 1j * rng.standard_normal(z.size))
            errs += int(np.sum((lay.combine(z) < 0) != lay.code.encode(bits)))
        p = np.mean(0.5 * erfc(np.sqrt(copies * es_n0)))
        m = n * lay.code.n_coded
        self.assertLess(abs(errs / m - p), 4 * np.sqrt(p / m), (errs / m, p))

    def test_003_header_error_rate_vs_snr(self):
        """Perfect CSI, AWGN per carrier: the coded header (2 copies, 12 symbols) decodes at -3 dB;
        the error rate falls with SNR and a 1-copy header at the same SNR is far worse."""
        rng = np.random.default_rng(2)
        her = {}
        for reps, snr in ((2, -5.0), (2, -3.0), (2, 0.0), (1, -3.0)):
            lay = HeaderLayout(48, reps)
            bad, n = 0, 300
            for i in range(n):
                h = Header(i & 255, int(rng.integers(0, 65536)), 0, 1, 1000, 1000)
                z = lay.place(pack_header(h))
                z = z + np.sqrt(0.5 * 10 ** (-snr / 10)) * (rng.standard_normal(z.size) + 1j * rng.standard_normal(z.size))
                got, _ = unpack_header(lay.decode(z))
                bad += got != h
            her[(reps, snr)] = bad / n
        self.assertLess(her[(2, -3.0)], 0.04, her)
        self.assertEqual(her[(2, 0.0)], 0.0, her)
        self.assertGreater(her[(2, -5.0)], her[(2, -3.0)], her)
        self.assertGreater(her[(1, -3.0)], 3 * her[(2, -3.0)] + 0.05, her)


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
