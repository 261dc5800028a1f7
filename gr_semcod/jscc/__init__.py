"""Joint source-channel coding on the torch side: power normalisation, differentiable channels
and the Deep JSCC baseline.

* :mod:`.power`     per-image power normalisation (rates: :mod:`gr_semcod.rates`)
* :mod:`.channels`  AWGN and block Rayleigh fading (MMSE / ZF, known CSI) on ``(B, k, 2)`` I/Q
* :mod:`.deepjscc`  Deep JSCC (Bourtsoulatze et al. 2019) with SNR-adaptive decoder

Symbols are float32 ``(B, k, 2)`` (I, Q) everywhere so every model exports to ONNX.
"""
from .channels import CHANNELS, Channel, awgn, equalize, fade, measured_snr_db, rayleigh, rayleigh_gains
from .deepjscc import GDN, AttentionFeature, DeepJSCC, DeepJSCCDecoder, DeepJSCCEncoder, deepjscc_channels
from ..rates import STANDARD_CBRS, cbr_tag, num_symbols, parse_cbr
from .power import PowerNormalize, average_power, power_normalize

__all__ = [
    "CHANNELS", "Channel", "awgn", "equalize", "fade", "measured_snr_db", "rayleigh", "rayleigh_gains",
    "GDN", "AttentionFeature", "DeepJSCC", "DeepJSCCDecoder", "DeepJSCCEncoder", "deepjscc_channels",
    "STANDARD_CBRS", "PowerNormalize", "average_power", "cbr_tag", "num_symbols", "parse_cbr",
    "power_normalize",
]
