"""Image -> symbols -> channel -> image with a bundle's ONNX models (numpy + ONNX Runtime only).

Both schemes see the same channel realisation for the same ``seed``, so their difference is
the codec's alone.
"""
from __future__ import annotations

from typing import Dict, Optional

import numpy as np

from ..rates import role_key
from ..runtime.bundle import Bundle
from ..runtime.channels import awgn, complex_to_iq, iq_to_complex, rayleigh


def through_channel(symbols: np.ndarray, channel: str, snr_db: float, seed: int, block_len: int = 16,
                    return_noise: bool = False):
    """(B, k, 2) I/Q -> received, equalised (B, k, 2) I/Q; unit power in, noise 10^(-SNR/10).

    ``return_noise``: also the effective noise variance of every received symbol ``(B, k)``
    (the MMSE error after the Rayleigh equaliser; the constant noise on AWGN), as a PHY
    receiver reports it."""
    rng = np.random.default_rng(seed)
    z = iq_to_complex(symbols)
    if channel == "awgn":
        y = awgn(z, snr_db, rng)
        nv = np.broadcast_to(np.float32(10 ** (-snr_db / 10)), z.shape)
    elif channel == "rayleigh":
        y, nv = rayleigh(z, snr_db, block_len, rng, equalize="mmse")
    else:
        raise ValueError(f"channel must be awgn or rayleigh, got {channel!r}")
    out = complex_to_iq(y).astype(np.float32)
    return (out, np.asarray(nv, np.float32)) if return_noise else out


def _batches(n: int, batch: int):
    for i in range(0, n, batch):
        yield slice(i, min(i + batch, n))


def semantic_roundtrip(bundle: Bundle, images: np.ndarray, cbr: str, channel: str, snr_db: float,
                       seed: int = 0, batch: int = 250) -> Dict[str, np.ndarray]:
    """images (N,3,H,W) float32 in [0,1] -> {"images": recon, ["logits"]}."""
    recon, logits = [], []
    for j, sl in enumerate(_batches(len(images), batch)):
        tok = bundle.run("tokenizer", images=images[sl])
        sym = bundle.run(role_key("jscc_encoder", cbr), **tok)["symbols"]
        rx = through_channel(sym, channel, snr_db, seed + j)
        snr = np.full((len(sym), 1), snr_db, np.float32)
        tokens = bundle.run(role_key("jscc_decoder", cbr), symbols=rx, snr_db=snr)["tokens"]
        recon.append(bundle.run("detokenizer", tokens=tokens)["images"])
        if bundle.has("classifier"):
            logits.append(bundle.run("classifier", tokens=tokens)["logits"])
    out = {"images": np.clip(np.concatenate(recon), 0, 1)}
    if logits:
        out["logits"] = np.concatenate(logits)
    return out


def deepjscc_roundtrip(bundle: Bundle, images: np.ndarray, cbr: str, channel: str, snr_db: float,
                       seed: int = 0, batch: int = 250) -> Dict[str, np.ndarray]:
    recon = []
    for j, sl in enumerate(_batches(len(images), batch)):
        sym = bundle.run(role_key("deepjscc_encoder", cbr), images=images[sl])["symbols"]
        rx = through_channel(sym, channel, snr_db, seed + j)
        snr = np.full((len(sym), 1), snr_db, np.float32)
        recon.append(bundle.run(role_key("deepjscc_decoder", cbr), symbols=rx, snr_db=snr)["images"])
    return {"images": np.clip(np.concatenate(recon), 0, 1)}


def has_semantic(bundle: Bundle, cbr: str) -> bool:
    return bundle.has("tokenizer") and bundle.has(role_key("jscc_encoder", cbr))


def has_deepjscc(bundle: Bundle, cbr: Optional[str]) -> bool:
    return bundle.has(role_key("deepjscc_encoder", cbr))


# --------------------------------------------------------------------------- machine receivers


def load_labelled(path: str, size, limit: Optional[int] = None, split: str = "test"):
    """Labelled images for classification, prepared exactly as the classifiers were trained
    (:meth:`gr_semcod.training.data.ArrayDataset.from_path`): Fashion-MNIST idx (a directory or an
    ``*-images-idx3*`` file) grey -> RGB and zero-padded, centred, to ``size`` (28 -> 32, pixels
    exact); other sources (``.npz`` with ``labels``, CIFAR-10) resized/centre-cropped to ``size``.
    Returns ``(images float32 (N,3,H,W) in [0,1], labels int64 (N,))``."""
    from ..runtime.datasets import load_prepared

    s = load_prepared(path, size, limit, split=split)
    x = s.images
    if s.labels is None:
        raise ValueError(f"{path}: no labels (need Fashion-MNIST idx files or an .npz with 'labels')")
    return (x.astype(np.float32) / 255.0).transpose(0, 3, 1, 2).copy(), np.asarray(s.labels, np.int64).reshape(-1)


def has_image_classifier(bundle: Bundle) -> bool:
    return bundle.has("image_classifier")


class Classification:
    """Logits of the machine receivers over the channel, with the channel-independent stages
    (tokenizer, JSCE, Deep JSCC encoder) computed once per dataset / CBR.

    * semantic:  tokens -> JSCE@cbr -> channel -> JSCD@cbr -> ``classifier`` on the received tokens
    * deepjscc:  encoder@cbr -> channel -> decoder@cbr -> ``image_classifier`` on the reconstruction
    * semantic2: v2 encoder -> channel -> unmerge -> ``semantic2_classifier`` on the received latent
      (bundles without it: v2 decoder -> the same ``image_classifier`` on its reconstruction)
    """

    def __init__(self, images: np.ndarray, batch: int = 250):
        self.images, self.batch = images, batch
        self._tokens = None
        self._symbols: Dict = {}

    def _tok(self, bundle: Bundle):
        if self._tokens is None:
            parts = [bundle.run("tokenizer", images=self.images[sl]) for sl in _batches(len(self.images), self.batch)]
            self._tokens = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        return self._tokens

    def semantic_logits(self, bundle: Bundle, cbr: str, channel: str, snr_db: float, seed: int = 0) -> np.ndarray:
        key = ("semantic", cbr)
        if key not in self._symbols:
            tok = self._tok(bundle)
            self._symbols[key] = np.concatenate([
                bundle.run(role_key("jscc_encoder", cbr), **{k: v[sl] for k, v in tok.items()})["symbols"]
                for sl in _batches(len(self.images), self.batch)])
        out = []
        for rx, snr in self._received(key, channel, snr_db, seed):
            tokens = bundle.run(role_key("jscc_decoder", cbr), symbols=rx, snr_db=snr)["tokens"]
            out.append(bundle.run("classifier", tokens=tokens)["logits"])
        return np.concatenate(out)

    def _received(self, key, channel: str, snr_db: float, seed: int):
        """``(received symbols, SNR column)`` per batch of the cached symbols ``key`` (batch j: seed + j)."""
        for j, sl in enumerate(_batches(len(self.images), self.batch)):
            sym = self._symbols[key][sl]
            yield through_channel(sym, channel, snr_db, seed + j), np.full((len(sym), 1), snr_db, np.float32)

    def deepjscc_logits(self, base: Bundle, classifier: Bundle, cbr: str, channel: str, snr_db: float,
                        seed: int = 0) -> np.ndarray:
        key = ("deepjscc", cbr)
        if key not in self._symbols:
            self._symbols[key] = np.concatenate([
                base.run(role_key("deepjscc_encoder", cbr), images=self.images[sl])["symbols"]
                for sl in _batches(len(self.images), self.batch)])
        out = []
        for rx, snr in self._received(key, channel, snr_db, seed):
            recon = np.clip(base.run(role_key("deepjscc_decoder", cbr), symbols=rx, snr_db=snr)["images"], 0, 1)
            out.append(classifier.run("image_classifier", images=recon)["logits"])
        return np.concatenate(out)

    def semantic2_logits(self, bundle: Bundle, classifier: Optional[Bundle], cbr: str, channel: str, snr_db: float,
                         seed: int = 0) -> np.ndarray:
        """semantic v2, each image its own budget and side bits (the crop table's coding), and its
        machine receiver: ``semantic2_classifier`` on the received latent (after unmerge, before
        synthesis; plus the v2 decoder's image of it when the role takes ``images``) when ``bundle``
        has it, else ``classifier``'s ``image_classifier`` on the v2
        reconstruction (the receiver Deep JSCC gets)."""
        from .semantic2_crops import check_classifier, classifier_role, received_latents

        from ..runtime.semantic2 import decoder_role
        from .semantic2_crops import recon_decoder

        role = classifier_role(bundle, cbr)  # a head trained at this rate alone when the bundle has one
        own = bundle.has(role)
        if own:
            check_classifier(bundle, role, cbr)  # trained on the transmitter that codes this rate
        reads_image = own and "images" in bundle.manifest["models"][role].get("inputs", {})
        decoder = decoder_role(bundle, cbr)  # the human receiver for this rate (a per-CBR one when the bundle has it)
        head_decoder = recon_decoder(bundle, cbr)  # the image a LatentReconClassifier was trained on
        out = []
        for _, r in received_latents(bundle, self.images, cbr, channel, snr_db, seed, self.batch):
            inputs = {k: r[k] for k in ("latent", "levels", "snr_db")}
            if own:
                if reads_image:  # a LatentReconClassifier: also the v2 decoder's image of this latent
                    inputs["images"] = np.clip(bundle.run(head_decoder, **inputs)["images"], 0, 1)
                out.append(bundle.run(role, **inputs)["logits"])
            elif classifier is not None:
                recon = np.clip(bundle.run(decoder, **inputs)["images"], 0, 1)
                out.append(classifier.run("image_classifier", images=recon)["logits"])
            else:
                raise ValueError(f"bundle {bundle.name!r} has no semantic2_classifier and no image_classifier was given")
        return np.concatenate(out)


def semantic2_receiver(bundle: Bundle) -> str:
    """The role that classifies for the semantic v2 rows of ``bundle``."""
    return "semantic2_classifier" if bundle.has("semantic2_classifier") else "image_classifier"
