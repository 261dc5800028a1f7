"""Deep JSCC baseline (Bourtsoulatze, Kurka & Gündüz, "Deep joint source-channel coding for
wireless image transmission", IEEE TCCN 2019), made SNR-adaptive.

Encoder (images ``x`` in [0, 1], ``(B, 3, H, W)``)::

    conv5x5/2 (M) - PReLU - conv5x5/2 (N) - PReLU - conv5x5 (N) - PReLU - conv5x5 (N) - PReLU
    - conv5x5 (c) - PReLU  ->  (B, c, H/4, W/4)  ->  I/Q pairs (B, k, 2)  ->  power normalisation

with ``k = c * (H/4) * (W/4) / 2``.  For a target rate ``CBR`` the number of channel symbols
must be ``k = round(CBR * H * W * 3)`` exactly, hence ``c = 2k / (H W / 16) = 96 * CBR``:
1/48 -> 2, 1/24 -> 4, 1/12 -> 8, 1/6 -> 16 (any H, W divisible by 4).

Decoder: the mirror with transposed convolutions, PReLU, and a sigmoid output.

SNR adaptation (our addition; the 2019 model is trained per SNR): after every decoder
(and optionally encoder) activation an *attention feature* block in the style of ADJSCC
(Xu et al., IEEE TCSVT 2021) rescales the channels from the feature context and the SNR::

    s = 2 sigmoid(W2 relu(W1 [mean_hw(f), snr_db / 20] + b1) + b2)    (per image, per channel)
    f <- f * s

(``W2 = 0, b2 = 0`` at initialisation, so each block starts as the identity, ``s = 1``, and
the network starts as the plain Deep JSCC; the factor 2 lets the scale range over (0, 2).)

so one model trained on SNR ~ U(0, 20) dB serves the whole range.  Optionally (``gdn=True``,
off by default and in the shipped configs) GDN/IGDN layers (Ballé et al. 2016) precede each
PReLU, as in the later Deep JSCC papers.  The encoder stays
SNR-agnostic by default (``encoder_snr=False``): the transmitter then needs no channel state,
and :class:`DeepJSCCEncoder` exports to ONNX with the single input ``images``.  The decoder
takes ``(symbols (B, k, 2), snr_db (B, 1))``.
"""
from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple

import torch
from torch import nn

from ..rates import CBRLike, cbr_tag, num_symbols, parse_cbr
from .channels import Channel, snr_tensor
from .power import power_normalize

SNR_SCALE = 20.0  # snr_db / SNR_SCALE is the conditioning input (roughly in [0, 1])


def deepjscc_channels(cbr: CBRLike, h: int, w: int) -> int:
    """Encoder output channels ``c`` such that ``c * (H/4) * (W/4) / 2 == round(CBR * H * W * 3)``.

    Raises ``ValueError`` when no integer ``c`` matches the symbol count exactly.
    """
    if h % 4 or w % 4:
        raise ValueError(f"image size must be divisible by 4, got {h}x{w}")
    k = num_symbols(cbr, h, w)
    cells = (h // 4) * (w // 4)
    if (2 * k) % cells:
        raise ValueError(f"CBR {cbr} at {h}x{w}: k={k} symbols is not c*{cells}/2 for an integer c")
    return 2 * k // cells


class AttentionFeature(nn.Module):
    """SNR-conditioned channel attention (ADJSCC's AF module): ``f * 2 sigmoid(MLP([pool(f), snr]))``.

    Identity at initialisation (the last linear layer starts at zero).
    """

    def __init__(self, channels: int, hidden: Optional[int] = None):
        super().__init__()
        hidden = hidden or max(8, channels // 2)
        self.mlp = nn.Sequential(nn.Linear(channels + 1, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, channels))
        nn.init.zeros_(self.mlp[2].weight)
        nn.init.zeros_(self.mlp[2].bias)

    def forward(self, f: torch.Tensor, snr_db: torch.Tensor) -> torch.Tensor:
        ctx = torch.cat([f.mean(dim=(2, 3)), snr_db.reshape(-1, 1) / SNR_SCALE], dim=1)
        return f * (2.0 * torch.sigmoid(self.mlp(ctx)))[:, :, None, None]


class GDN(nn.Module):
    """Generalised divisive normalisation (Ballé et al. 2016), and its inverse (``inverse=True``)::

        GDN:  y_i = x_i / sqrt(beta_i + sum_j gamma_ij x_j^2)
        IGDN: y_i = x_i * sqrt(beta_i + sum_j gamma_ij x_j^2)

    ``beta > 0`` and ``gamma >= 0`` are kept by squaring stored square roots (plus a floor);
    the sum is a 1x1 convolution of ``x^2``, so the module exports to ONNX as Mul/Conv/Sqrt/Div.
    Initialised at ``beta = 1, gamma = 0.1 I``.
    """

    def __init__(self, channels: int, inverse: bool = False, beta_min: float = 1e-6, gamma_init: float = 0.1):
        super().__init__()
        self.inverse = inverse
        self.beta_min = beta_min
        self.beta_sqrt = nn.Parameter(torch.ones(channels))
        self.gamma_sqrt = nn.Parameter(torch.eye(channels) * gamma_init ** 0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        beta = self.beta_sqrt.pow(2) + self.beta_min
        gamma = self.gamma_sqrt.pow(2).reshape(c, c, 1, 1)
        norm = torch.sqrt(nn.functional.conv2d(x * x, gamma, beta))
        return x * norm if self.inverse else x / norm


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 5, stride=stride, padding=2)


def _deconv(cin: int, cout: int, stride: int = 1) -> nn.ConvTranspose2d:
    return nn.ConvTranspose2d(cin, cout, 5, stride=stride, padding=2, output_padding=stride - 1)


class DeepJSCCEncoder(nn.Module):
    """images ``(B, 3, H, W)`` in [0, 1] -> unit-power symbols ``(B, k, 2)``.

    Args:
        c: output channels (see :func:`deepjscc_channels`).
        widths: ``(M, N)`` filters of the first and of the following conv layers
            (the paper uses ``(16, 32)``).
        snr_aware: add :class:`AttentionFeature` blocks; ``forward`` then needs ``snr_db``.
    """

    def __init__(self, c: int, widths: Sequence[int] = (16, 32), snr_aware: bool = False, gdn: bool = False):
        super().__init__()
        m, n = widths
        self.c = int(c)
        self.snr_aware = snr_aware
        self.convs = nn.ModuleList([_conv(3, m, 2), _conv(m, n, 2), _conv(n, n), _conv(n, n), _conv(n, c)])
        self.norms = nn.ModuleList([GDN(ch) if gdn else nn.Identity() for ch in (m, n, n, n, c)])
        self.acts = nn.ModuleList([nn.PReLU(ch) for ch in (m, n, n, n, c)])
        self.af = nn.ModuleList([AttentionFeature(ch) for ch in (m, n, n, n)]) if snr_aware else None

    def forward(self, images: torch.Tensor, snr_db: Optional[torch.Tensor] = None) -> torch.Tensor:
        x = self.analysis(images, snr_db)
        return power_normalize(x.reshape(x.shape[0], -1, 2))

    def analysis(self, images: torch.Tensor, snr_db: Optional[torch.Tensor] = None) -> torch.Tensor:
        """The latent map before power normalisation, ``(B, c, H/4, W/4)`` (any H, W divisible by 4)."""
        x = images * 2.0 - 1.0  # centre the input
        for i, (conv, norm, act) in enumerate(zip(self.convs, self.norms, self.acts)):
            x = act(norm(conv(x)))
            if self.af is not None and i < len(self.af):
                if snr_db is None:
                    raise ValueError("an SNR-aware encoder needs snr_db")
                x = self.af[i](x, snr_db)
        return x


class DeepJSCCDecoder(nn.Module):
    """symbols ``(B, k, 2)`` + ``snr_db (B, 1)`` -> images ``(B, 3, H, W)`` in [0, 1]."""

    def __init__(self, c: int, h: int, w: int, widths: Sequence[int] = (16, 32), snr_aware: bool = True,
                 gdn: bool = False):
        super().__init__()
        m, n = widths
        self.c, self.h4, self.w4 = int(c), h // 4, w // 4
        self.snr_aware = snr_aware
        self.convs = nn.ModuleList(
            [_deconv(c, n), _deconv(n, n), _deconv(n, n), _deconv(n, m, 2), _deconv(m, 3, 2)]
        )
        self.norms = nn.ModuleList([GDN(ch, inverse=True) if gdn else nn.Identity() for ch in (n, n, n, m)])
        self.acts = nn.ModuleList([nn.PReLU(ch) for ch in (n, n, n, m)])
        self.af = nn.ModuleList([AttentionFeature(ch) for ch in (n, n, n, m)]) if snr_aware else None

    def forward(self, symbols: torch.Tensor, snr_db: Optional[torch.Tensor] = None) -> torch.Tensor:
        return self.synthesis(symbols.reshape(symbols.shape[0], self.c, self.h4, self.w4), snr_db)

    def synthesis(self, x: torch.Tensor, snr_db: Optional[torch.Tensor] = None) -> torch.Tensor:
        """A latent map ``(B, c, h, w)`` of any size -> images ``(B, 3, 4h, 4w)``."""
        b = x.shape[0]
        if self.af is not None:
            if snr_db is None:
                raise ValueError("an SNR-aware decoder needs snr_db")
            snr_db = snr_db.reshape(b, 1).to(x.dtype)
        for i, conv in enumerate(self.convs):
            x = conv(x)
            if i < len(self.acts):
                x = self.acts[i](self.norms[i](x))
                if self.af is not None:
                    x = self.af[i](x, snr_db)
        return torch.sigmoid(x)


class DeepJSCC(nn.Module):
    """Encoder -> channel -> decoder, the training-time wrapper.

    ``forward(images, snr_db=None) -> {"recon", "symbols", "snr_db"}``; when ``snr_db`` is None
    the channel's policy draws it (uniform over its range in training, fixed in eval).
    """

    def __init__(
        self,
        cbr: CBRLike = "1/12",
        image_size: Tuple[int, int] = (32, 32),
        widths: Sequence[int] = (16, 32),
        channel: Optional[Channel] = None,
        encoder_snr: bool = False,
        decoder_snr: bool = True,
        gdn: bool = False,
    ):
        super().__init__()
        h, w = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
        self.cbr = parse_cbr(cbr)
        self.image_size = (h, w)
        self.c = deepjscc_channels(self.cbr, h, w)
        self.k = num_symbols(self.cbr, h, w)
        self.encoder = DeepJSCCEncoder(self.c, widths, snr_aware=encoder_snr, gdn=gdn)
        self.decoder = DeepJSCCDecoder(self.c, h, w, widths, snr_aware=decoder_snr, gdn=gdn)
        self.channel = channel if channel is not None else Channel("awgn")

    @property
    def name(self) -> str:
        return f"deepjscc_cbr{cbr_tag(self.cbr)}"

    def forward(self, images: torch.Tensor, snr_db=None) -> Dict[str, torch.Tensor]:
        b = images.shape[0]
        s = None if snr_db is None else snr_tensor(snr_db, b, images.device)
        if s is None:
            s = self.channel.sample_snr(b, images.device)
        z = self.encoder(images, s[:, None]) if self.encoder.snr_aware else self.encoder(images)
        y, s = self.channel(z, s)
        return {"recon": self.decoder(y, s[:, None]), "symbols": z, "snr_db": s}
