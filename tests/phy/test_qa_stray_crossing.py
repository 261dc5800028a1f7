"""A threshold crossing that is not a frame's own, a few hundred samples before a frame, must not
cost that frame.

Found in ``semcod demo`` (10 dB AWGN, channel seed 1): the end of one frame's payload, followed by
the guard's silence, crossed the CFAR threshold (fewer signal periods in the window: a wider
noise-like ``L``) about 400 samples before the next preamble.  The peak search over the next two
preamble lengths then ended on the rising edge of the next frame's metric, the coarse start was
163 samples early (fine timing searches +-48), and the real peak lay behind the candidate's skip
window: the frame was lost to two header CRC failures.  Here the stray crossing is a truncated
burst (the first ``n`` samples of a frame), the same geometry on demand.
"""
import numpy as np
import pytest

from gr_semcod.phy.deframer import ofdm_analog_deframer
from gr_semcod.phy.detector import detection_metric
from gr_semcod.phy.params import make_params

from .phyutil import random_symbols, tx_waveform

pytestmark = pytest.mark.gnuradio


@pytest.fixture(scope="module")
def burst():
    rng = np.random.default_rng(1)
    x = random_symbols(rng, 900)
    y, _ = tx_waveform([(3, x)])
    return x, y


@pytest.mark.parametrize("stray_len,chunk", [(48, 0), (96, 0), (128, 0), (96, 700)])
def test_stray_crossing_before_a_frame_does_not_lose_it(burst, stray_len, chunk):
    """chunk 700: the samples arrive in pieces, so the peak's climb often needs metric values not
    received yet (the candidate waits for them)."""
    x, y = burst
    p = make_params()
    rng = np.random.default_rng(stray_len)
    lost = []
    for gap in range(160, 420, 16):  # silence between the stray burst and the frame
        z = np.zeros
        s = np.concatenate([z(400, np.complex64), y[:stray_len], z(gap, np.complex64), y, z(2000, np.complex64)])
        s = (s + (rng.standard_normal(s.size) + 1j * rng.standard_normal(s.size)) * np.sqrt(0.1 / 2)).astype(np.complex64)
        d = ofdm_analog_deframer(p)  # 10 dB per carrier
        d.image_log = []
        lam = detection_metric(s, p).astype(np.float32)
        step = chunk or s.size
        for i in range(0, s.size, step):
            d.work([s[i:i + step], lam[i:i + step]], [])
        d.flush()
        # the stray burst may count as one bad header of its own (it has a preamble), never the frame
        ok = (d.n_frames == 1 and d.n_header_errors <= 1 and len(d.image_log) == 1 and not d.image_log[0].lost
              and np.mean(np.abs(d.image_log[0].symbols - x) ** 2) < 0.2)
        if not ok:
            lost.append((gap, d.counters()))
    assert not lost, lost
