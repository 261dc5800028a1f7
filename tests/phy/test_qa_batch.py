"""The batched receive path: the same frames, symbols and counters whatever the work() chunk
size (one frame per call or dozens), and the batched numerics equal to their one-frame forms."""
import numpy as np
import pmt
import pytest

from gr_semcod.pdu import c32vector
from gr_semcod.phy.deframer import ofdm_analog_deframer
from gr_semcod.phy.detector import detection_metric
from gr_semcod.phy.equalizer import FrameEqualizer, inv_hpd
from gr_semcod.phy.header import Header, HeaderLayout, pack_header
from gr_semcod.phy.params import make_params

from .phyutil import pad, random_symbols, tx_waveform


def _deframe(y, lam, chunk, p, **kw):
    """Feed (samples, metric) to a deframer in chunks of ``chunk`` samples (no flowgraph)."""
    d = ofdm_analog_deframer(p, **kw)
    d.image_log = []
    for i in range(0, len(y), chunk):
        d.work([y[i:i + chunk], lam[i:i + chunk]], [])
    d.flush()
    return d


@pytest.fixture(scope="module")
def received():
    rng = np.random.default_rng(4)
    imgs = [(i, random_symbols(rng, 2000 + 37 * i)) for i in range(6)]  # 3 fragments each, uneven last
    y, frames = tx_waveform(imgs)
    y = pad(y)
    n = len(y)
    t = np.arange(n)
    # CFO 0.13 subcarriers, a 2-tap channel and AWGN at about 8 dB per carrier
    y = np.convolve(y, [1.0, 0.35j])[:n] * np.exp(2j * np.pi * 0.13 * t / 64)
    y = (y + (rng.standard_normal(n) + 1j * rng.standard_normal(n)) * np.sqrt(0.16 / 2)).astype(np.complex64)
    p = make_params()
    lam = detection_metric(y, p).astype(np.float32)
    return imgs, frames, y, lam, p


@pytest.mark.parametrize("tracking", ["phase", "pilots"])
def test_chunk_size_does_not_change_the_output(received, tracking):
    imgs, frames, y, lam, p = received
    small = _deframe(y, lam, 2640, p, tracking=tracking)  # about one frame per call: batches of 1
    big = _deframe(y, lam, 1 << 16, p, tracking=tracking)  # every frame of the run in a few calls
    assert small.n_frames == big.n_frames == len(frames)
    assert small.counters() == big.counters()
    a = {g.image_id: g for g in small.image_log}
    b = {g.image_id: g for g in big.image_log}
    assert sorted(a) == sorted(b) == [i for i, _ in imgs]
    for iid, x in imgs:
        assert not a[iid].lost and not b[iid].lost
        np.testing.assert_allclose(a[iid].symbols, b[iid].symbols, rtol=0, atol=1e-4)
        np.testing.assert_allclose(a[iid].noise_var, b[iid].noise_var, rtol=1e-4)
        mse = np.mean(np.abs(b[iid].symbols - x) ** 2)
        assert mse < 0.35, mse  # about -7 dB at ~8 dB SNR over the 2-tap channel


def test_batched_estimate_equals_per_frame(received):
    """estimate/equalize on F frames at once == the same calls frame by frame."""
    _, _, _, _, p = received
    rng = np.random.default_rng(9)
    layout = HeaderLayout(p.n_data, 2)
    eq = FrameEqualizer(p, layout.n_syms, p.cp_len // 2)
    F = 5
    taps = [np.array([1.0, 0.4j, 0.1]), np.array([1.0]), np.array([0.8, 0, 0.5])]
    Y2, Yh, known = [], [], []
    for f in range(F):
        h = np.fft.fft(taps[f % 3], p.fft_len)
        bits = layout.place(pack_header(Header(f, 7, f % 3, 3, 3000, 1000)))
        X = np.zeros((layout.n_syms, p.fft_len), complex)
        X[:, p.data_bins] = bits.reshape(layout.n_syms, p.n_data)
        X[:, p.pilot_bins] = p.pilots_for(np.arange(layout.n_syms))
        noise = lambda *s: (rng.standard_normal(s) + 1j * rng.standard_normal(s)) * 0.1  # noqa: E731
        Y2.append(h * p.sync_word2 + noise(p.fft_len))
        Yh.append(h[None] * X + noise(layout.n_syms, p.fft_len))
        known.append(bits)
    Y2, Yh, known = np.array(Y2), np.array(Yh), np.array(known)
    Yp = Yh[:, :4]  # any spectra will do for the equaliser's algebra
    est, ph = eq.estimate(Y2, Yh, known)
    X, nv = eq.equalize(Yp, est, ph)
    for f in range(F):
        eq1 = FrameEqualizer(p, layout.n_syms, p.cp_len // 2)  # fresh: no support carried over
        e1, ph1 = eq1.estimate(Y2[f:f + 1], Yh[f:f + 1], known[f:f + 1])
        X1, nv1 = eq1.equalize(Yp[f:f + 1], e1, ph1)
        np.testing.assert_allclose(ph[f], ph1[0], atol=1e-9)
        np.testing.assert_allclose(est.H[f], e1.H[0], atol=1e-3)  # support reuse may differ by noise-level taps
        np.testing.assert_allclose(X[f], X1[0], atol=1e-2)
        assert abs(est.snr_db[f] - e1.snr_db[0]) < 0.2
        assert 15 < est.snr_db[f] < 25  # noise 0.1 per real part: 17 dB on a ~unit channel


def test_pursuit_is_least_squares_on_its_support():
    """The Gram-Schmidt pursuit's fit is the least-squares fit of the chosen taps."""
    p = make_params()
    eq = FrameEqualizer(p, 9, 8)
    rng = np.random.default_rng(2)
    g = np.zeros(eq.F.shape[1], complex)
    g[[4, 5, 9]] = [1.0, 0.5j, -0.3]
    Hm = np.stack([eq.F @ g + 0.01 * (rng.standard_normal(eq._K) + 1j * rng.standard_normal(eq._K)) for _ in range(3)])
    c = np.einsum("fk,tk->ft", Hm, eq.FH)
    sup, fit = eq._omp(Hm, c, np.full(3, 1e-3))
    for f in range(3):
        S = sup[f][sup[f] >= 0]
        assert {4, 5, 9} <= set(S.tolist())
        ls = eq.F[:, S] @ np.linalg.lstsq(eq.F[:, S], Hm[f], rcond=None)[0]
        np.testing.assert_allclose(fit[f], ls, atol=1e-10)


def test_inv_hpd_and_decode_many():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((7, 7)) + 1j * rng.standard_normal((7, 7))
    A = A @ A.conj().T + 0.05 * np.eye(7)
    np.testing.assert_allclose(inv_hpd(A) @ A, np.eye(7), atol=1e-9)
    layout = HeaderLayout(48, 2)
    bits = [pack_header(Header(i, 100 + i, 0, 1, 50, 50)) for i in range(4)]
    soft = np.stack([layout.combine(np.real(layout.place(b)) + 0.6 * rng.standard_normal(layout.n_items)) for b in bits])
    many = layout.code.decode_many(soft)
    for i, b in enumerate(bits):
        np.testing.assert_array_equal(many[i], layout.code.decode(soft[i]))
        np.testing.assert_array_equal(many[i], b)
    with pytest.raises(ValueError, match="soft values"):
        layout.code.decode_many(soft[:, :-1])


@pytest.mark.parametrize("n", [0, 1, 7, 3840])
def test_c32vector_round_trip(n):
    rng = np.random.default_rng(n)
    x = (rng.standard_normal(n) + 1j * rng.standard_normal(n)).astype(np.complex64)
    v = c32vector(x)
    assert pmt.is_c32vector(v) and pmt.length(v) == n
    np.testing.assert_array_equal(np.asarray(pmt.c32vector_elements(v), np.complex64), x)


def test_a_frame_that_cannot_be_delivered_costs_only_that_frame(received):
    """One frame whose delivery raises (here: the reassembler, on image 2's fragment 1) is logged
    and counted in ``n_errors``; the other frames of the same batch still arrive."""
    imgs, frames, y, lam, p = received
    d = ofdm_analog_deframer(p)
    d.image_log = []
    add = d.reasm.add

    def failing_add(image_id, frag_idx, *a):
        if (image_id, frag_idx) == (2, 1):
            raise RuntimeError("injected")
        return add(image_id, frag_idx, *a)

    d.reasm.add = failing_add
    d.work([y, lam], [])  # every frame in one call: one batch
    d.flush()
    assert d.n_errors == 1 and d.n_frames == len(frames)
    got = {g.image_id: g for g in d.image_log}
    assert sorted(got) == [i for i, _ in imgs]  # image 2 arrives too, with its fragment 1 lost
    assert [g.image_id for g in d.image_log if g.lost] == [2]


def test_queued_batches_equal_decoding_on_every_call(received):
    """``min_chunk``: samples are queued and decoded a batch at a time; the frames, counters and
    symbols are those of decoding on every call, and ``flush`` decodes what is still queued."""
    imgs, frames, y, lam, p = received
    now = _deframe(y, lam, 2640, p)
    queued = ofdm_analog_deframer(p, min_chunk=5 * 2880)
    queued.image_log = []
    for i in range(0, len(y), 2640):
        queued.work([y[i:i + 2640], lam[i:i + 2640]], [])
    assert 0 < queued.n_batches < now.n_batches  # several frames per batch
    assert queued.n_samples_done < len(y)  # the tail is still queued ...
    queued.flush()  # ... until the end of the recording
    assert queued.n_samples_done == len(y)
    assert queued.counters() == now.counters() and queued.n_frames == len(frames)
    a = {g.image_id: g for g in now.image_log}
    b = {g.image_id: g for g in queued.image_log}
    assert sorted(a) == sorted(b) == [i for i, _ in imgs]
    for iid, _ in imgs:
        np.testing.assert_allclose(a[iid].symbols, b[iid].symbols, rtol=0, atol=1e-4)


def test_queued_samples_are_decoded_when_the_stream_pauses(received):
    """A stream that stops delivering (no end, no flush): the ticker decodes the queued frames
    within about ``max_latency``."""
    import time

    imgs, frames, y, lam, p = received
    d = ofdm_analog_deframer(p, min_chunk=1 << 30, max_latency=0.05)  # never a full batch
    d.image_log = []
    d.start()
    try:
        for i in range(0, len(y), 4096):
            d.work([y[i:i + 4096], lam[i:i + 4096]], [])
        t0 = time.monotonic()
        while d.n_samples_done < len(y) and time.monotonic() - t0 < 10:
            time.sleep(0.01)
        assert d.n_samples_done == len(y)
        assert d.n_frames == len(frames)
        assert sorted(g.image_id for g in d.image_log) == [i for i, _ in imgs]
    finally:
        d.stop()
    assert d._ticker is None


def test_batch_parameters_are_checked():
    p = make_params()
    with pytest.raises(ValueError, match="min_chunk"):
        ofdm_analog_deframer(p, min_chunk=-1)
    with pytest.raises(ValueError, match="max_latency"):
        ofdm_analog_deframer(p, max_latency=0)


@pytest.mark.parametrize("dtype", [np.uint8, np.float32, np.complex64])
@pytest.mark.parametrize("n", [0, 1, 1000])
def test_uvector_round_trip(dtype, n):
    """PMT vectors built through PMT's serialisation equal init_<type>vector's, both ways."""
    from gr_semcod.pdu import uvector, vector_to_numpy

    rng = np.random.default_rng(n)
    x = (rng.standard_normal(n) + 1j * rng.standard_normal(n)) * 50 + 60
    x = x.astype(dtype) if dtype == np.complex64 else x.real.astype(dtype)
    v = uvector(x)
    ref = {np.uint8: pmt.init_u8vector, np.float32: pmt.init_f32vector, np.complex64: pmt.init_c32vector}[dtype]
    assert pmt.equal(v, ref(n, x.tolist()))
    back = vector_to_numpy(v, dtype)
    assert back.dtype == dtype and back.flags.writeable
    np.testing.assert_array_equal(back, x)


def test_finite_run_delivers_every_image_downstream(received):
    """In a flowgraph the queued tail is decoded before the receiver ends (GNU Radio calls it
    once more when its upstream finishes), so every image of a finite run reaches the block
    downstream, and the frames were decoded in batches."""
    from gr_semcod.phy.deframer import pdu_to_image

    from .phyutil import run_rx

    imgs, frames, y, lam, p = received
    got, rx = run_rx(y, collect_pdus=True)
    delivered = sorted(pdu_to_image(m)["image_id"] for m in rx.collector.msgs)
    assert delivered == [i for i, _ in imgs]
    assert rx.deframer.n_frames == len(frames)
    assert rx.deframer.n_samples_done == len(y)
    assert rx.deframer.n_batches < len(frames)


@pytest.mark.parametrize("n", [8192, 1 << 17])
def test_buffer_samples_reaches_both_inputs_of_the_deframer(n):
    """``buffer_samples`` sizes the buffers in front of the deframer, the samples' one too
    (``blocks.copy`` has a variable number of outputs: only the per-port form sets it), and the
    deframer (no outputs) is asked ``forecast`` once per wake-up, not once per halving of 10^8."""
    from gr_semcod.phy.ofdm_analog_rx import ofdm_analog_rx

    rx = ofdm_analog_rx(buffer_samples=n)
    assert rx.copy.min_output_buffer(0) == n
    assert rx.detector.div.min_output_buffer(0) == n
    assert rx.deframer.max_noutput_items() == 1
