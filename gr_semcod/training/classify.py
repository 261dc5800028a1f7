"""Machine receivers trained on top of *frozen* codecs (the training side of classification).

* :class:`CodecTokenClassifier`  semantic coding: image -> tokenizer -> JSCE -> channel -> JSCD
  -> :class:`~gr_semcod.receivers.TokenClassifier` on the *received* tokens.
* :class:`ReconImageClassifier`  Deep JSCC: image -> encoder -> channel -> decoder -> reconstruction
  -> :class:`~gr_semcod.receivers.ImageClassifier`.
* :class:`Semantic2LatentClassifier`  semantic codec v2: image -> the bundle's ``semantic2_*`` ONNX
  files + numpy (each image its own budget, side bits charged: exactly the evaluation's path,
  :mod:`gr_semcod.evaluation.semantic2_crops`) -> AWGN -> unmerge -> the *received latent*
  -> :class:`~gr_semcod.receivers.LatentClassifier` (no synthesis).

Both follow the loop's model interface (``model(images, snr_db, cbr=...) -> {"recon", "logits"}``)
and expose ``cbr_choices`` so the loop draws one CBR per batch.  Everything but the classifier
is frozen (``requires_grad=False``, kept in eval mode even while the wrapper trains), so the
loop's optimiser, which only takes trainable parameters, updates the classifier alone.

``recon``: the frozen codec's reconstruction in eval mode (so :func:`~gr_semcod.training.loop.evaluate`
reports the codec's PSNR on the labelled data); in training mode the semantic wrapper skips the
detokenizer (its MSE has weight 0 and it would double the step time) and returns the input
images as ``recon`` (the logged ``mse`` column is then 0), unless ``train_recon=True``.
"""
from __future__ import annotations

import hashlib
import random
from typing import Dict, Optional, Sequence

import numpy as np
import torch
from torch import nn

from ..evaluation.semantic2_crops import head_digest, recon_decoder, semantic2_digest  # noqa: F401  (re-exported)
from ..receivers import ImageClassifier, LatentClassifier, LatentReconClassifier, TokenClassifier


def freeze(module: nn.Module) -> nn.Module:
    """``requires_grad=False`` on every parameter, eval mode; returns ``module``."""
    for p in module.parameters():
        p.requires_grad_(False)
    return module.eval()


class _FrozenBase(nn.Module):
    frozen: Sequence[str] = ()

    def train(self, mode: bool = True):
        super().train(mode)
        for name in self.frozen:
            getattr(self, name).eval()
        return self


class CodecTokenClassifier(_FrozenBase):
    """Frozen :class:`~gr_semcod.semcod.SemanticCodec` + a trainable token classifier head."""

    frozen = ("codec",)

    def __init__(self, codec: nn.Module, num_classes: int, channel: Optional[nn.Module] = None,
                 train_recon: bool = False, mlp_ratio: float = 0.0):
        super().__init__()
        self.codec = freeze(codec)
        cfg = codec.cfg
        self.head = TokenClassifier(cfg.dim, num_classes, cfg.heads, mlp_ratio)
        self.channel = channel if channel is not None else codec.channel
        self.cbr_choices = list(codec.cbr_choices)
        self.train_recon = bool(train_recon)

    def forward(self, images: torch.Tensor, snr_db: Optional[torch.Tensor] = None,
                cbr: Optional[str] = None) -> Dict:
        cbr = cbr or (random.choice(self.cbr_choices) if self.training else self.codec.cfg.eval_cbr)
        with torch.no_grad():
            symbols = self.codec.encode(images, cbr)
            received, snr = self.channel(symbols, snr_db)
            tokens = self.codec.jscc_decoder(received, snr.reshape(-1, 1))
            recon = self.codec.detokenizer(tokens) if (self.train_recon or not self.training) else images
        return {"recon": recon, "logits": self.head(tokens), "tokens": tokens, "cbr": cbr}


class ReconImageClassifier(_FrozenBase):
    """Frozen Deep JSCC models (one per CBR) + a trainable image classifier on their reconstructions."""

    frozen = ("jscc",)

    def __init__(self, models: Dict[str, nn.Module], num_classes: int, channel: Optional[nn.Module] = None,
                 widths: Sequence[int] = (16, 32, 64), eval_cbr: str = "1/12"):
        super().__init__()
        if not models:
            raise ValueError("need at least one Deep JSCC model")
        self.cbr_choices = [str(c) for c in models]
        self.jscc = freeze(nn.ModuleDict({c.replace("/", "-"): m for c, m in models.items()}))
        self.classifier = ImageClassifier(num_classes, tuple(widths))
        self.channel = channel if channel is not None else next(iter(models.values())).channel
        self.eval_cbr = eval_cbr if eval_cbr in self.cbr_choices else self.cbr_choices[0]

    def forward(self, images: torch.Tensor, snr_db: Optional[torch.Tensor] = None,
                cbr: Optional[str] = None) -> Dict:
        cbr = cbr or (random.choice(self.cbr_choices) if self.training else self.eval_cbr)
        m = self.jscc[str(cbr).replace("/", "-")]
        with torch.no_grad():
            z = m.encoder(images)
            received, snr = self.channel(z, snr_db)
            recon = m.decoder(received, snr.reshape(-1, 1))
        return {"recon": recon, "logits": self.classifier(recon), "cbr": cbr}


class ReceivedLatentCache:
    """The noiseless received latent of every training image of a :class:`Semantic2LatentClassifier`,
    per CBR and side charge (symbols per flag), computed once (the transmitter's ONNX + numpy path, the
    expensive part of a step) and kept in memory; the channel noise is added per step in torch.

    Why it is exact: the transmitter is deterministic given the image, the CBR and the side
    charge (the SNR enters the allocation only through ``beta``), and the receiver is linear in
    the received symbols.  With unit-power token symbols ``s``, AWGN ``n ~ CN(0, N0)`` and the
    quantised gain ``g``, :func:`~gr_semcod.evaluation.semantic2_crops.receive` returns::

        latent(p) = unmerge(s + n)(p) * 10^(g/20) / a_lev(p)  =  latent_0(p) + n_leaf(p)(p) * 10^(g/20) / a_lev(p)

    (every position copies its leaf's token, noise included), ``snr_in = SNR - g``.  Images are
    keyed by the sha1 of their float32 bytes, so flipped copies are entries of their own; at most
    ``limit`` images are kept (later ones go through the ONNX path every time).  Latents are
    stored as float16 (relative error 5e-4, far below the channel noise of the training SNRs).
    """

    def __init__(self, bundle, cbrs: Sequence[str], snr_range, limit: int = 200_000):
        from ..evaluation.semantic2_crops import crop_beta
        from ..runtime.semantic2 import check_bundle
        from ..runtime.side_info import SIDE_MCS

        meta = check_bundle(bundle)
        self.bundle, self.cbrs, self.limit = bundle, [str(c) for c in cbrs], int(limit)
        lo, hi = (float(v) for v in snr_range)
        # the side charges (symbols per flag, semantic2_crops.crop_beta) the SNR range reaches, each
        # with the lowest SNR of the range that selects it (the transmitter depends on the SNR only so)
        self.n_flags = 4 ** int(meta["depth"])
        edges = sorted({lo} | {float(m.min_snr_db) for m in SIDE_MCS if lo < m.min_snr_db <= hi})
        self.beta_snr: Dict[float, float] = {}
        for s in edges:
            self.beta_snr.setdefault(crop_beta(s, False, self.n_flags), s)
        self.betas = list(self.beta_snr)
        self.c, self.hw = int(meta["c"]), int(meta["tile"]) // 4
        from ..runtime.semantic2 import codec_set

        self.codecs = {c: codec_set(bundle, c) for c in self.cbrs}  # each rate's transmitter (its own or the shared)
        self.level_amp = {c: np.asarray(k.meta["level_amp"], np.float32) for c, k in self.codecs.items()}
        self.index: Dict[bytes, int] = {}
        shape = (len(self.cbrs), len(self.betas))
        self.latent = np.empty((self.limit,) + shape + (self.c, self.hw, self.hw), np.float16)
        self.levels = np.empty((self.limit,) + shape + (self.hw, self.hw), np.uint8)
        self.gain = np.empty((self.limit,) + shape, np.float32)
        self.misses = 0

    def __len__(self) -> int:
        return len(self.index)

    def column_of(self, snr_db: np.ndarray) -> np.ndarray:
        """Column (into ``self.betas``) of the side charge each SNR selects."""
        from ..evaluation.semantic2_crops import crop_beta

        b = [crop_beta(float(s), False, self.n_flags) for s in np.asarray(snr_db).reshape(-1)]
        col = {v: j for j, v in enumerate(self.betas)}
        if any(v not in col for v in b):
            raise ValueError("an SNR outside the cache's range selects a side charge it did not code")
        return np.array([col[v] for v in b])

    def _fill(self, x: np.ndarray, rows: np.ndarray) -> None:
        from ..evaluation.semantic2_crops import receive, transmit

        feats = {}
        for a, cbr in enumerate(self.cbrs):
            enc = self.codecs[cbr].encoder
            if enc not in feats:
                feats[enc] = self.bundle.run(enc, images=x)["features"]
            for b, beta in enumerate(self.betas):
                sent = transmit(self.bundle, x, cbr, self.beta_snr[beta], features=feats[enc])
                r = receive(self.bundle, sent, sent.symbols)
                self.latent[rows, a, b] = r["latent"]
                self.levels[rows, a, b] = sent.levels
                self.gain[rows, a, b] = sent.gain_db

    def lookup(self, x: np.ndarray, cbr: str, cols: np.ndarray):
        """``(latent_0 float32 (B, c, h, w), levels uint8 (B, h, w), gain_db (B,))`` of images ``x``
        ``(B, 3, S, S)`` at ``cbr`` under the side-scheme columns ``cols``; None when some image
        cannot be cached (the cache is full)."""
        keys = [hashlib.sha1(np.ascontiguousarray(im, np.float32).tobytes()).digest() for im in x]
        new = [i for i, k in enumerate(keys) if k not in self.index]
        new = list({keys[i]: i for i in new}.values())  # a batch may hold one image twice
        if len(self.index) + len(new) > self.limit:
            return None
        if new:
            rows = np.arange(len(self.index), len(self.index) + len(new))
            self._fill(x[new], rows)
            for i, r in zip(new, rows):
                self.index[keys[i]] = int(r)
            self.misses += len(new)
        rows = np.array([self.index[k] for k in keys])
        a = self.cbrs.index(str(cbr))
        return (self.latent[rows, a, cols].astype(np.float32), self.levels[rows, a, cols], self.gain[rows, a, cols])

    def noisy(self, latent0: torch.Tensor, levels: np.ndarray, gain_db: torch.Tensor, snr_db: torch.Tensor,
              cbr: str) -> torch.Tensor:
        """``latent_0`` + the unmerged channel noise of SNR ``snr_db`` (per image), drawn from torch's
        generator, for crops sent at ``cbr`` (its transmitter's level amplitudes)."""
        b, c, h, w = latent0.shape
        s = np.left_shift(1, levels.astype(np.int64))
        ii = np.arange(h)[None, :, None]
        jj = np.arange(w)[None, None, :]
        anchor = torch.from_numpy(((ii - ii % s) * w + (jj - jj % s)).reshape(b, 1, h * w)).expand(b, c, h * w)
        noise = torch.randn(b, c, h * w, dtype=latent0.dtype).gather(2, anchor).reshape(b, c, h, w)
        sigma = torch.sqrt(10.0 ** (-snr_db.double() / 10.0) / 2.0) * 10.0 ** (gain_db.double() / 20.0)
        amp = torch.from_numpy(self.level_amp[str(cbr)][levels])[:, None]
        return latent0 + noise * (sigma.reshape(b, 1, 1, 1).to(latent0.dtype) / amp)


class Semantic2LatentClassifier(nn.Module):
    """The semantic codec v2 of a bundle, frozen (its ONNX files, run by ONNX Runtime: nothing of
    it trains), + a trainable :class:`~gr_semcod.receivers.LatentClassifier` on its received latent
    (with ``image_widths``: a :class:`~gr_semcod.receivers.LatentReconClassifier` that also reads
    the frozen ``semantic2_decoder``'s reconstruction of that latent).

    Every image is coded with its own budget ``k = CBR * H * W * 3``, the side information
    (tree flags, power gain) charged at ``beta(SNR)`` of the image's own SNR, exactly as
    ``semcod eval`` codes a crop; the channel is AWGN with that SNR.  The buffer ``codec_digest``
    (:func:`semantic2_digest`) records which codec the head was trained on; the export refuses a
    bundle whose v2 differs.  ``recon``: the v2 reconstruction in eval mode (the validation PSNR
    is the codec's) and, with the image branch, in training; else the input images in training
    (the loop's ``mse`` column is then 0).
    """

    def __init__(self, bundle_dir, num_classes: int, channel: Optional[nn.Module] = None,
                 cbrs: Sequence[str] = ("1/48", "1/12"), eval_cbr: Optional[str] = None,
                 widths: Sequence[int] = (64, 128), dropout: float = 0.1, threads: Optional[int] = 1,
                 image_widths: Optional[Sequence[int]] = None, cache: int = 0, snr_range=(0.0, 20.0)):
        super().__init__()
        from ..runtime.bundle import Bundle
        from ..runtime.semantic2 import check_bundle

        self.bundle = Bundle.load(bundle_dir, intra_op_threads=threads)
        meta = check_bundle(self.bundle)
        self.uses_recon = bool(image_widths)
        self.head = (LatentReconClassifier(meta["c"], num_classes, meta["depth"], tuple(widths), tuple(image_widths),
                                           dropout) if self.uses_recon
                     else LatentClassifier(meta["c"], num_classes, meta["depth"], tuple(widths), dropout))
        self.cbr_choices = [str(c) for c in cbrs]
        self.eval_cbr = str(eval_cbr or self.cbr_choices[0])
        if channel is None:
            from ..jscc.channels import Channel

            channel = Channel("awgn")
        self.channel = channel
        digest = head_digest(self.bundle.manifest, [*self.cbr_choices, self.eval_cbr])  # every transmitter it reads
        self.register_buffer("codec_digest", torch.tensor(list(digest), dtype=torch.uint8))
        self.cache = ReceivedLatentCache(self.bundle, self.cbr_choices, snr_range, cache) if cache else None
        # the reconstruction per rate: the matched receiver of a transmitter of its own, else the shared one
        self.recon_decoders = {c: recon_decoder(self.bundle, c) for c in {*self.cbr_choices, self.eval_cbr}}

    def cached_received(self, images: torch.Tensor, snr_db: torch.Tensor, cbr: str) -> Optional[Dict[str, torch.Tensor]]:
        """:meth:`received` through :class:`ReceivedLatentCache` (same distribution; None when the
        cache is full or off)."""
        if self.cache is None or getattr(self.channel, "name", "awgn") != "awgn":
            return None
        snr = snr_db.detach().cpu().reshape(-1)
        hit = self.cache.lookup(images.detach().cpu().numpy(), cbr, self.cache.column_of(snr.numpy()))
        if hit is None:
            return None
        lat0, lev, gain = hit
        gain_t = torch.from_numpy(gain)
        latent = self.cache.noisy(torch.from_numpy(lat0), lev, gain_t, snr, cbr)
        return {"latent": latent.to(images.device), "levels": torch.from_numpy(lev[:, None].astype(np.float32)).to(images.device),
                "snr_db": (snr - gain_t).reshape(-1, 1).to(images.device)}

    def received(self, images: torch.Tensor, snr_db: torch.Tensor, cbr: str) -> Dict[str, torch.Tensor]:
        """The received latent, levels and latent SNR of ``images`` (one SNR each) as tensors;
        the noise is drawn from torch's generator (seeded runs are reproducible)."""
        from ..evaluation.semantic2_crops import receive, transmit
        from ..runtime.channels import awgn, complex_to_iq, iq_to_complex

        if getattr(self.channel, "name", "awgn") != "awgn":
            raise ValueError(f"Semantic2LatentClassifier trains on AWGN only, got channel {self.channel.name!r}")
        x = images.detach().cpu().numpy().astype(np.float32)
        snr = snr_db.detach().cpu().numpy().astype(np.float64)
        sent = transmit(self.bundle, x, cbr, snr)
        rng = np.random.default_rng(int(torch.randint(0, 2 ** 31 - 1, (1,))))
        rx = complex_to_iq(awgn(iq_to_complex(sent.symbols), snr, rng))
        return {k: torch.from_numpy(v).to(images.device) for k, v in receive(self.bundle, sent, rx).items()}

    def forward(self, images: torch.Tensor, snr_db: Optional[torch.Tensor] = None,
                cbr: Optional[str] = None) -> Dict:
        from ..jscc.channels import snr_tensor

        cbr = cbr or (random.choice(self.cbr_choices) if self.training else self.eval_cbr)
        b = images.shape[0]
        snr = self.channel.sample_snr(b, images.device) if snr_db is None else snr_tensor(snr_db, b, images.device)
        r = self.cached_received(images, snr, cbr) if (self.training and not self.uses_recon) else None
        if r is None:
            r = self.received(images, snr, cbr)
        recon = images
        if self.uses_recon or not self.training:
            decoder = self.recon_decoders.get(str(cbr)) or recon_decoder(self.bundle, cbr)
            out = self.bundle.run(decoder, **{k: v.cpu().numpy() for k, v in r.items()})["images"]
            recon = torch.from_numpy(np.clip(out, 0, 1)).to(images.device)
        extra = (recon,) if self.uses_recon else ()
        logits = self.head(r["latent"], r["levels"], r["snr_db"], *extra)
        return {"recon": recon, "logits": logits, "cbr": cbr}
