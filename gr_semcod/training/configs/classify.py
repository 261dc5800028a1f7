"""Machine-receiver configs: classifiers trained over the channel on top of frozen codecs.

* ``semcod_32_cls``   :class:`~gr_semcod.receivers.TokenClassifier` (attention pooling + a residual
  MLP, ``mlp_ratio=2``: +1.5 points of val accuracy over the plain linear head in a 2-min trial) on the received tokens of the
  frozen ``semcod_32`` codec (weights from ``model_kwargs["weights"]``, default
  ``runs/semcod_32/best.pt``); a CBR from the codec's list per batch.
* ``deepjscc_32_cls`` :class:`~gr_semcod.receivers.ImageClassifier` (small CNN) on the
  reconstructions of the frozen Deep JSCC baselines ``deepjscc_32_cbr{1-48,1-24,1-12,1-6}``
  (``runs/<name>/best.pt``); one of them (a CBR) per batch.

Data: Debian's Fashion-MNIST (``dataset-fashion-mnist``, ``$SEMCOD_FASHION_MNIST`` or
``/usr/share/datasets/fashion-mnist``), 28x28 grey replicated to RGB and zero-padded (centred)
to 32x32, pixels exact; random horizontal flips in training.  Train on the first 55,000 images of
the train split; select checkpoints by accuracy on the held-out last 5,000 train images
(first 2,000 of them, CBR 1/12, 10 dB); the test split is never used here.
Channel: AWGN, SNR ~ U(0, 20) dB per image.  Only the classifier trains; CE loss.  Budget: 4.5 min
of training on one CPU thread, under 6 min with loading and the final evaluations (the first
final runs used 5.0 min: 6 min 09 s wall clock for semcod_32_cls on 2 cores shared with two
Deep JSCC trainings).

* ``semcod2_32_cls`` :class:`~gr_semcod.receivers.LatentClassifier` (small CNN on the 8x8 latent)
  on the *received latent* of the frozen semantic codec v2 of the bundle ``models/semcod_32`` (its
  ONNX files: the codec the bundle ships, no ``runs/`` needed), each image its own budget and
  side information charged as ``semcod eval`` does, CBR 1/48 or 1/12 per batch; checkpoints
  selected at CBR 1/48, 10 dB (the harder rate).  ``--model-arg bundle=DIR`` trains on another
  bundle's v2.
* ``semcod2_32_recon_cls`` the same, with a second branch: a small CNN on the frozen v2
  decoder's reconstruction of the received latent (:class:`~gr_semcod.receivers.LatentReconClassifier`).

Override the frozen weights with ``semcod train --config semcod_32_cls --model-arg weights=PATH``.
"""
from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from ..classify import CodecTokenClassifier, ReconImageClassifier, Semantic2LatentClassifier
from ..registry import TrainConfig, get_config, register, warm_start

FASHION_MNIST = os.environ.get("SEMCOD_FASHION_MNIST", "/usr/share/datasets/fashion-mnist")
TRAIN_SPLIT = f"{FASHION_MNIST}:train[:55000]"
VAL_SPLIT = f"{FASHION_MNIST}:train[55000:]"
REPO = Path(__file__).resolve().parents[3]
DEFAULT_BUNDLE = "models/semcod_32"
DEEPJSCC_RUNS = ("deepjscc_32_cbr1-48", "deepjscc_32_cbr1-24", "deepjscc_32_cbr1-12", "deepjscc_32_cbr1-6")


def _load_frozen(name: str, weights):
    """Model of config ``name`` with ``weights`` loaded; ``weights=None`` builds it untrained (for
    loading a classifier run's ``best.pt``, which holds the frozen copy too, as ``semcod export`` does)."""
    from ..loop import load_weights

    if weights is None:
        cfg = get_config(name)
        return cfg.build_model(cfg)
    if not Path(weights).is_file():
        raise FileNotFoundError(f"frozen weights {weights} not found (train {name} first, or pass "
                                f"--model-arg weights=PATH / runs_dir=DIR)")
    cfg = get_config(name)
    return load_weights(cfg.build_model(cfg), weights)


def build_semcod_cls(cfg: TrainConfig) -> CodecTokenClassifier:
    kw = cfg.model_kwargs
    codec = _load_frozen(kw.get("codec", "semcod_32"), kw.get("weights"))
    return CodecTokenClassifier(codec, int(kw.get("num_classes", 10)), channel=cfg.make_channel(),
                                train_recon=bool(kw.get("train_recon", False)),
                                mlp_ratio=float(kw.get("mlp_ratio", 0.0)))


def build_deepjscc_cls(cfg: TrainConfig) -> ReconImageClassifier:
    kw = cfg.model_kwargs
    runs = kw.get("runs_dir", "runs")
    models = {}
    for name in kw["deepjscc"]:
        m = _load_frozen(name, None if runs is None else str(Path(runs) / name / "best.pt"))
        models[str(m.cbr)] = m
    return ReconImageClassifier(models, int(kw.get("num_classes", 10)), channel=cfg.make_channel(),
                                widths=tuple(kw.get("widths", (16, 32, 64))))


def build_semantic2_cls(cfg: TrainConfig) -> Semantic2LatentClassifier:
    """``model_kwargs`` as :class:`Semantic2LatentClassifier`'s, plus ``init_from``: a head run's
    ``best.pt`` / ``ckpt.pt`` to continue from (every trainable tensor must come from it)."""
    kw = cfg.model_kwargs
    bundle = Path(kw.get("bundle", DEFAULT_BUNDLE))
    if not bundle.is_absolute() and not bundle.exists():
        bundle = REPO / bundle
    model = Semantic2LatentClassifier(bundle, int(kw.get("num_classes", 10)), channel=cfg.make_channel(),
                                      cbrs=tuple(kw.get("cbrs", ("1/48", "1/12"))), eval_cbr=kw.get("eval_cbr"),
                                      widths=tuple(kw.get("widths", (64, 128))), dropout=float(kw.get("dropout", 0.1)),
                                      threads=kw.get("threads", 1), image_widths=kw.get("image_widths"),
                                      cache=int(kw.get("cache", 0)), snr_range=cfg.snr_range)
    init_from = kw.get("init_from")
    if init_from:
        path = Path(init_from) if Path(init_from).exists() or Path(init_from).is_absolute() else REPO / init_from
        warm_start(model, str(path), cfg.name, tuple(n for n, _ in model.named_parameters()))
    return model


def _cls(name: str, build, model_kwargs, lr: float, description: str) -> TrainConfig:
    return TrainConfig(
        name=name,
        build_model=build,
        train_data=TRAIN_SPLIT,
        val_data=VAL_SPLIT,
        image_size=32,
        batch_size=64,
        lr=lr,
        weight_decay=1e-4,
        warmup=0.03,
        minutes=4.5,
        channel="awgn",
        snr_range=(0.0, 20.0),
        eval_snr_db=10.0,
        report_snrs=(0.0, 10.0, 20.0),
        loss={"mse": 0.0, "ssim": 0.0, "ce": 1.0, "aux": 0.0},
        select="acc",
        val_limit=2000,
        eval_every_minutes=1.5,
        ckpt_every_minutes=2.5,
        model_kwargs=model_kwargs,
        description=description,
    )


register(_cls(
    "semcod_32_cls", build_semcod_cls,
    {"codec": "semcod_32", "weights": "runs/semcod_32/best.pt", "num_classes": 10, "mlp_ratio": 2.0},
    lr=2e-3,
    description="machine receiver: TokenClassifier on the received tokens of frozen semcod_32 "
                "(Fashion-MNIST RGB 32x32, CBR 1/48..1/6 per batch, AWGN SNR U(0,20) dB, head only)",
))
register(_cls(
    "deepjscc_32_cls", build_deepjscc_cls,
    {"deepjscc": list(DEEPJSCC_RUNS), "runs_dir": "runs", "num_classes": 10, "widths": [16, 32, 64]},
    lr=3e-3,
    description="machine receiver for Deep JSCC: small CNN on the reconstructions of frozen "
                "deepjscc_32_cbr1-48..1-6 (Fashion-MNIST RGB 32x32, AWGN SNR U(0,20) dB, classifier only)",
))
register(replace(_cls(
    "semcod2_32_cls", build_semantic2_cls,
    {"bundle": DEFAULT_BUNDLE, "cbrs": ["1/48", "1/12"], "eval_cbr": "1/48", "num_classes": 10,
     "widths": [64, 128, 256], "dropout": 0.3, "cache": 60000},
    lr=2e-3,
    description="machine receiver for semantic v2: CNN on the received latent (after unmerge, before synthesis) "
                "of the frozen semcod2_32 in models/semcod_32 (Fashion-MNIST RGB 32x32, CBR 1/48 and 1/12, "
                "each image its own budget, side bits charged, AWGN SNR U(0,20) dB, classifier only; "
                "noiseless received latents cached, the noise drawn per step; no flips)",
), minutes=52.0, flip=False, eval_every_minutes=3.0))
# the head at CBR 1/12 alone (bundle role ``semantic2_classifier@1/12``), continuing a two-rate head
# (``--model-arg init_from=runs/semcod2_32_cls/best.pt``), checkpoints chosen at 1/12
register(replace(_cls(
    "semcod2_32_cls12", build_semantic2_cls,
    {"bundle": DEFAULT_BUNDLE, "cbrs": ["1/12"], "eval_cbr": "1/12", "num_classes": 10,
     "widths": [64, 128, 256], "dropout": 0.3, "cache": 60000},
    lr=5e-4,
    description="machine receiver for semantic v2 at CBR 1/12: the semcod2_32_cls head continued at 1/12 alone "
                "(Fashion-MNIST RGB 32x32, each image its own budget, side bits charged, AWGN SNR U(0,20) dB, "
                "classifier only; noiseless received latents cached, the noise drawn per step)",
), minutes=35.0, flip=False, eval_every_minutes=3.0))
# the head at CBR 1/48 alone (bundle role ``semantic2_classifier@1/48``), on the received latent of
# the bundle's transmitter of its own at 1/48 (``semantic2_encoder@1/48``, run semcod2_32_tx48lo),
# from scratch, checkpoints chosen at 1/48
register(replace(_cls(
    "semcod2_32_cls48", build_semantic2_cls,
    {"bundle": DEFAULT_BUNDLE, "cbrs": ["1/48"], "eval_cbr": "1/48", "num_classes": 10,
     "widths": [64, 128, 256], "dropout": 0.3, "cache": 60000},
    lr=2e-3,
    description="machine receiver for semantic v2 at CBR 1/48: CNN on the received latent of the bundle's 1/48 "
                "transmitter (Fashion-MNIST RGB 32x32, each image its own budget, side bits charged, AWGN SNR "
                "U(0,20) dB, classifier only; noiseless received latents cached, the noise drawn per step)",
), minutes=55.0, flip=False, eval_every_minutes=3.0))
register(_cls(
    "semcod2_32_recon_cls", build_semantic2_cls,
    {"bundle": DEFAULT_BUNDLE, "cbrs": ["1/48", "1/12"], "eval_cbr": "1/48", "num_classes": 10,
     "widths": [64, 128], "image_widths": [16, 32, 64], "dropout": 0.1},
    lr=2e-3,
    description="machine receiver for semantic v2: CNN on the received latent (after unmerge) + CNN on the frozen "
                "v2 decoder's reconstruction of it, semcod2_32 in models/semcod_32 (Fashion-MNIST RGB 32x32, "
                "CBR 1/48 and 1/12, each image its own budget, side bits charged, AWGN SNR U(0,20) dB, classifier only)",
))
