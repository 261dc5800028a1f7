"""Training losses on images in [0, 1].

* :func:`mse`            mean squared error
* :func:`ssim`           structural similarity (Wang et al. 2004) with an 11x11 Gaussian window,
                         sigma 1.5, ``C1 = (0.01)^2``, ``C2 = (0.03)^2`` (L = 1); per image
* :func:`psnr_per_image` ``10 log10(1 / MSE)`` per image
* :class:`ReconstructionLoss` ``w_mse * MSE + w_ssim * (1 - SSIM)`` (+ cross-entropy on logits)
"""
from __future__ import annotations

from typing import Dict, Optional

import torch
import torch.nn.functional as F
from torch import nn

C1, C2 = 0.01 ** 2, 0.03 ** 2


def mse(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(x, y)


def psnr_per_image(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``10 log10(1 / mean((x - y)^2))`` per image, ``(B,)``; images in [0, 1]."""
    m = (x.float() - y.float()).pow(2).flatten(1).mean(1)
    return 10.0 * torch.log10(1.0 / m.clamp_min(1e-10))


def _gaussian_window(size: int, sigma: float, channels: int, device, dtype) -> torch.Tensor:
    t = torch.arange(size, device=device, dtype=dtype) - (size - 1) / 2
    g = torch.exp(-(t ** 2) / (2 * sigma ** 2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).expand(channels, 1, size, size).contiguous()


def ssim(x: torch.Tensor, y: torch.Tensor, win: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Mean SSIM per image ``(B,)`` (valid convolution; the window shrinks for tiny images)::

        SSIM = (2 mu_x mu_y + C1)(2 s_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(s_x^2 + s_y^2 + C2))
    """
    c = x.shape[1]
    win = min(win, x.shape[-1], x.shape[-2])
    w = _gaussian_window(win, sigma, c, x.device, x.dtype)
    f = lambda t: F.conv2d(t, w, groups=c)  # noqa: E731
    mx, my = f(x), f(y)
    sxx = f(x * x) - mx * mx
    syy = f(y * y) - my * my
    sxy = f(x * y) - mx * my
    s = ((2 * mx * my + C1) * (2 * sxy + C2)) / ((mx * mx + my * my + C1) * (sxx + syy + C2))
    return s.flatten(1).mean(1)


class ReconstructionLoss(nn.Module):
    """``mse * MSE + ssim * (1 - SSIM) + ce * CE(logits, labels) + aux * aux_loss``.

    ``forward(out, images, labels=None) -> (total, parts)``: ``out`` is the model's dict
    (``recon``, optional ``logits`` and ``aux_loss``); labels ``< 0`` are ignored; ``parts``
    holds detached floats for logging.
    """

    def __init__(self, mse: float = 1.0, ssim: float = 0.0, ce: float = 0.0, aux: float = 1.0):
        super().__init__()
        self.w = {"mse": float(mse), "ssim": float(ssim), "ce": float(ce), "aux": float(aux)}

    def forward(self, out: Dict[str, torch.Tensor], images: torch.Tensor, labels: Optional[torch.Tensor] = None):
        parts: Dict[str, torch.Tensor] = {}
        recon = out["recon"]
        parts["mse"] = mse(recon, images)
        if self.w["ssim"]:
            parts["ssim"] = 1.0 - ssim(recon, images).mean()
        logits = out.get("logits")
        if logits is not None and self.w["ce"] and labels is not None and bool((labels >= 0).any()):
            parts["ce"] = F.cross_entropy(logits, labels, ignore_index=-1)
        if out.get("aux_loss") is not None and self.w["aux"]:
            parts["aux"] = out["aux_loss"]
        total = sum(self.w[k] * v for k, v in parts.items())
        return total, {k: float(v.detach()) for k, v in parts.items()}
