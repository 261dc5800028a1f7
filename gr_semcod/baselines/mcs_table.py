"""MCS SNR thresholds (Es/N0, dB) per channel, written by

    semcod bench mcs --channel awgn rayleigh multipath --trials 200 --target 0.01 --margin 0.5 --seed 0 --write

(codeword error rate <= target on a 0.25 dB grid, plus the margin; Rayleigh: block fading of
16 symbols, zero-forcing with known gains, exact LLRs; multipath: the 3-tap channel on the OFDM
data carriers, the threshold as MIESM effective SNR).  Do not edit by hand."""
THRESHOLDS_DB = {
    'awgn': {'bpsk-1/2': -0.75, 'qpsk-1/2': 2.25, 'qpsk-3/4': 5.50, '16qam-1/2': 7.50, '16qam-3/4': 11.75, '64qam-3/4': 17.00},
    'rayleigh': {'bpsk-1/2': 2.25, 'qpsk-1/2': 5.75, 'qpsk-3/4': 12.75, '16qam-1/2': 11.75, '16qam-3/4': 20.00, '64qam-3/4': 24.75},
    'multipath': {'bpsk-1/2': -0.81, 'qpsk-1/2': 2.19, 'qpsk-3/4': 5.05, '16qam-1/2': 7.74, '16qam-3/4': 11.14, '64qam-3/4': 17.23},
}
