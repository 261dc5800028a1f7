"""``channel``: simulated radio channel from GNU Radio's gr-channels blocks, SNR in dB.

Chain: [``fading_model`` (flat Rayleigh/Rician) | ``selective_fading_model`` (frequency
selective Rayleigh, one path per (delay, mag))] -> ``channel_model`` (multipath FIR taps,
carrier frequency offset, sample-rate offset ``epsilon``, AWGN) -> the receiver front end of an
SDR, each stage only when set: [``channels.phase_noise_gen`` (LO phase noise)] ->
[``channels.iqbal_gen`` (RX IQ amplitude/phase imbalance)] -> [``add_const_cc`` (DC offset)] ->
[``complex_to_interleaved_short`` -> ``interleaved_short_to_complex`` (sc16 quantisation and
clipping, the USRP wire format)].

SNR convention: the noise variance per complex sample is ``ref_power * 10^(-snr_db/10)``.
:class:`ofdm_analog_tx` uses a unitary IFFT, so with ``ref_power = 1`` the SNR is exactly the
per-carrier Es/N0 of unit-power symbols, which is what the receiver estimates (``snr_db``
metadata) and what JSCC models are trained on.  Multipath taps are normalised to unit energy
(``normalize_taps``) so the *average* SNR is unchanged by the channel.

Args:
    snr_db: SNR in dB (``None`` or >= 200: no noise).
    taps: complex FIR taps (multipath), applied by ``channel_model``.
    cfo: carrier frequency offset in subcarrier spacings (needs ``fft_len``), i.e.
        ``cfo / fft_len`` cycles per sample.
    fft_len: to convert ``cfo``.
    epsilon: sample-rate ratio (1.0 = none; 1 + 10e-6 is a 10 ppm clock offset).
    fading: "none", "flat" (fading_model) or "selective" (selective_fading_model).
    doppler: normalised maximum Doppler ``fD * Ts``.
    los, k_factor: Rician line-of-sight component and K factor (``los=False`` is Rayleigh).
    delays, mags: selective fading power-delay profile (sample delays, amplitudes).
    seed: noise / fading seed.
    phase_noise: rms of the white Gaussian phase increments (rad) fed to ``phase_noise_gen``'s
        single-pole IIR (``phase_noise_alpha``); the phase noise rms is about
        ``phase_noise * sqrt(alpha / (2 - alpha))`` (0.23 x for alpha 0.1).
    iq_mag_db, iq_phase_deg: RX IQ imbalance (``iqbal_gen`` mode 1: amplitude of I in dB,
        phase skew in degrees).
    dc_offset: complex DC added to every sample (an LO leak / uncorrected ADC offset).
    sc16_full_scale: if > 0, quantise to sc16 with this amplitude mapped to 32767 (values beyond
        clip), as a USRP's 16-bit samples.
"""
from __future__ import annotations

import numpy as np
from gnuradio import blocks, channels, gr


def noise_voltage(snr_db, ref_power: float = 1.0) -> float:
    if snr_db is None or snr_db >= 200:
        return 0.0
    return float(np.sqrt(ref_power * 10.0 ** (-float(snr_db) / 10.0)))


def front_end_blocks(phase_noise=0.0, alpha=0.1, iq_mag_db=0.0, iq_phase_deg=0.0, dc_offset=0j, sc16_full_scale=0.0):
    """The receiver front-end impairments as a list of blocks to chain (empty when all are off)."""
    out = []
    if phase_noise:
        out.append(channels.phase_noise_gen(float(phase_noise), float(alpha)))
    if iq_mag_db or iq_phase_deg:
        out.append(channels.iqbal_gen(float(iq_mag_db), float(iq_phase_deg), 1))
    if dc_offset:
        out.append(blocks.add_const_cc(complex(dc_offset)))
    if sc16_full_scale and sc16_full_scale > 0:
        k = 32767.0 / float(sc16_full_scale)
        out += [blocks.complex_to_interleaved_short(False, k), blocks.interleaved_short_to_complex(False, False, k)]
    return out


class channel(gr.hier_block2):
    def __init__(self, snr_db=20.0, taps=(1.0,), cfo=0.0, fft_len=64, epsilon=1.0, fading="none", doppler=0.0,
                 los=False, k_factor=4.0, delays=(0.0, 1.0, 2.0), mags=(1.0, 0.5, 0.25), seed=0, ref_power=1.0,
                 normalize_taps=True, phase_noise=0.0, phase_noise_alpha=0.1, iq_mag_db=0.0, iq_phase_deg=0.0,
                 dc_offset=0j, sc16_full_scale=0.0):
        gr.hier_block2.__init__(self, "semcod_channel", gr.io_signature(1, 1, gr.sizeof_gr_complex),
                                gr.io_signature(1, 1, gr.sizeof_gr_complex))
        taps = np.atleast_1d(np.asarray(taps, np.complex128))
        if taps.size == 0 or not np.any(taps):
            raise ValueError("taps must contain a non-zero value")
        if normalize_taps:
            taps = taps / np.sqrt(np.sum(np.abs(taps) ** 2))
        self.ref_power = float(ref_power)
        self.fft_len = int(fft_len)
        self.model = channels.channel_model(noise_voltage(snr_db, ref_power), float(cfo) / self.fft_len,
                                            float(epsilon), [complex(t) for t in taps], float(seed or 0), False)
        if fading == "none":
            self.fader = None
        elif fading == "flat":
            self.fader = channels.fading_model(8, float(doppler), bool(los), float(k_factor), int(seed))
        elif fading == "selective":
            m = np.asarray(mags, float)
            m = m / np.sqrt(np.sum(m ** 2)) if normalize_taps else m
            ntaps = int(np.ceil(max(delays))) + 8
            self.fader = channels.selective_fading_model(8, float(doppler), bool(los), float(k_factor), int(seed),
                                                         [float(d) for d in delays], [float(v) for v in m], ntaps)
        else:
            raise ValueError("fading must be 'none', 'flat' or 'selective'")
        self.front_end = front_end_blocks(phase_noise, phase_noise_alpha, iq_mag_db, iq_phase_deg, dc_offset,
                                          sc16_full_scale)
        chain = ([self.fader] if self.fader is not None else []) + [self.model] + self.front_end
        self.connect(self, *chain, self)

    def set_snr_db(self, snr_db):
        self.model.set_noise_voltage(noise_voltage(snr_db, self.ref_power))

    def set_cfo(self, cfo):
        self.model.set_frequency_offset(float(cfo) / self.fft_len)
