"""Semantic codec v2 configs: ``semcod2_<size>[_...]`` (:mod:`gr_semcod.semantic.hybrid`).

The hybrid ViT sits on the Deep JSCC analysis/synthesis transforms of the shipped bundle
(``models/semcod_32``, warm start: ``init_from_bundle``), kept frozen (``freeze_base``); quadtree
merges bring its base rate down to the target CBR.  One model serves the CBRs in ``cbrs`` (a batch draws one; budgets are
jittered around it and shared by groups of 8 crops, as the tiles of a photo share theirs) and
SNR 0–20 dB.  Checkpoints are chosen on the validation crops at the first CBR, 10 dB.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from ...semantic.hybrid import GAIN_BITS, GAIN_STEP_DB, HybridSemanticCodec
from ..registry import TrainConfig, register, warm_start
from .semantic import _semcod32

REPO = Path(__file__).resolve().parents[3]
DEFAULT_BUNDLE = "models/semcod_32"


def build_hybrid(cfg: TrainConfig) -> HybridSemanticCodec:
    """``model_kwargs``: :class:`HybridSemanticCodec` arguments, plus ``init_from``: a v2 run's
    ``best.pt`` to continue from (e.g. a fine-tuning stage of the trunk and synthesis on top of the
    frozen-base run), or a bundle directory whose shipped v2 is read back from its ONNX files
    (:func:`gr_semcod.export.from_onnx.semantic2_from_bundle`), loaded after the warm start from
    the bundle; ``init_decoder``: which of that bundle's receivers to start from
    (``semantic2_decoder``, the default, or a receiver per CBR, ``semantic2_decoder@<cbr>``);
    ``init_transmitter``: a CBR whose transmitter of its own (and matched receiver) to start from
    instead of the bundle's shared v2."""
    kw = dict(cfg.model_kwargs)
    init = kw.pop("init_from_bundle", None)
    init_from = kw.pop("init_from", None)
    init_decoder = kw.pop("init_decoder", "semantic2_decoder")
    init_tx = kw.pop("init_transmitter", None)
    if init_from and not Path(init_from).exists() and (REPO / init_from).exists():
        init_from = str(REPO / init_from)  # a repository path, from anywhere
    if init_from and Path(init_from).is_dir() and init in (None, DEFAULT_BUNDLE):
        init = init_from  # a bundle's v2: whole tiles go through that bundle's Deep JSCC too
    if init and not Path(init).is_absolute():
        init = str(REPO / init)
    frozen_tx = bool(kw.get("freeze_transmitter"))
    if frozen_tx and not init_from:
        raise ValueError(f"{cfg.name}: a receiver-only stage (freeze_transmitter) needs init_from=<a v2 run's "
                         "best.pt or a bundle directory>: its transmitter is fixed, so it must be a trained one")
    codec = HybridSemanticCodec(image_size=cfg.image_size, channel=cfg.make_channel(), init_from_bundle=init, **kw)
    if init_from:  # a fixed transmitter must come whole from the run (or the bundle)
        src = init_from
        if Path(init_from).is_dir():  # a bundle: its shipped v2, read back from its ONNX files (parity-checked)
            from ...export.from_onnx import semantic2_from_bundle

            arch = {k: kw[k] for k in ("dim", "heads", "decoder_blocks") if k in kw}
            try:
                src = semantic2_from_bundle(init_from, decoder=init_decoder, transmitter=init_tx, **arch).state_dict()
            except ValueError as e:  # e.g. more refinement blocks than the bundle's receiver: read it as it is,
                if "no v2 receiver" in str(e) or "decoder_blocks" not in arch:
                    raise
                arch.pop("decoder_blocks", None)  # the new blocks keep their init (the identity)
                src = semantic2_from_bundle(init_from, decoder=init_decoder, transmitter=init_tx, **arch).state_dict()
        elif init_decoder != "semantic2_decoder" or init_tx:
            raise ValueError(f"{cfg.name}: init_decoder / init_transmitter need init_from=<a bundle directory>, "
                             f"not {init_from}")
        warm_start(codec, src, cfg.name, ("encoder_a.", "encoder_b.", "level_") if frozen_tx else ())
    return codec


def _semcod2_32(name: str, base_cbr: str = "1/12", cbrs=("1/48", "1/24", "1/12"), minutes: float = 90.0,
                snr_range=(0.0, 20.0), **kw) -> TrainConfig:
    """The 32x32 semantic recipe (data, validation; :func:`.semantic._semcod32`) with the v2 model,
    a fine-tuning learning rate and the training SNR range ``snr_range`` (the description says it)."""
    lo, hi = (float(v) for v in snr_range)
    return dataclasses.replace(
        _semcod32(name, minutes=minutes),
        build_model=build_hybrid,
        lr=5e-4,
        weight_decay=1e-4,
        snr_range=(lo, hi),
        model_kwargs={"base_cbr": base_cbr, "cbrs": list(cbrs), "init_from_bundle": DEFAULT_BUNDLE, **kw},
        description=f"semantic codec v2, 32x32 tiles: Deep JSCC {base_cbr} trunk + window attention + "
                    f"quadtree ToMe merging to CBR {'/'.join(cbrs)}, AWGN, SNR U({lo:g},{hi:g}) dB"
                    + (f", power gain grid [{kw['gain_min_db']:g}, "
                       f"{kw['gain_min_db'] + GAIN_STEP_DB * ((1 << GAIN_BITS) - 1):g}] dB"
                       if "gain_min_db" in kw else ""),
    )


register(_semcod2_32("semcod2_32", freeze_base=True))
register(_semcod2_32("semcod2_32_finetune"))  # ablation: the Deep JSCC trunk and synthesis trained too
# second stage: the receiver (refinement + synthesis) of a trained semcod2_32 run, its transmitter fixed
register(dataclasses.replace(_semcod2_32("semcod2_32_rx", freeze_transmitter=True), lr=2e-4))
# a receiver per CBR (bundle role ``semantic2_decoder@<cbr>``): the same fixed transmitter, the
# receiver trained at that rate only (``init_from`` a bundle, or a receiver stage's ``best.pt``)
# (at 1/48 a second refinement block, starting as the identity: the receiver it continues is kept exactly)
register(dataclasses.replace(_semcod2_32("semcod2_32_rx48", cbrs=("1/48",), freeze_transmitter=True,
                                         decoder_blocks=2), lr=2e-4))
# a receiver of the shared transmitter at 1/48 for low SNR (the paper's operating point, AWGN 1 dB): SNR U(0,10) dB,
# checkpoints chosen at 1 dB, from the bundle's receiver at 1/48
register(dataclasses.replace(_semcod2_32("semcod2_32_rx48lo", cbrs=("1/48",), freeze_transmitter=True,
                                         snr_range=(0.0, 10.0)),
                             lr=1e-4, eval_snr_db=1.0, report_snrs=(0.0, 1.0, 10.0)))
register(dataclasses.replace(_semcod2_32("semcod2_32_rx12", cbrs=("1/12",), freeze_transmitter=True), lr=2e-4))
register(_semcod2_32("semcod2_32_b24", base_cbr="1/24", cbrs=("1/48",), freeze_base=True))  # ablation: base 1/24
# continuation of the whole v2 (transmitter and shared receiver, the Deep JSCC base still frozen)
# from a trained one (``init_from`` a bundle or a run's ``best.pt``), at a fine-tuning rate
register(dataclasses.replace(_semcod2_32("semcod2_32_tx", freeze_base=True), lr=2e-4))
# the same at 1/48 alone, for low SNR (SNR U(0,10) dB, checkpoints at 1 dB), from the bundle's receiver at 1/48
# (run on the bundle before it had this transmitter, with init_decoder=semantic2_decoder@1/48, the receiver
# at 1/48 of the time; on the shipped bundle it continues the set itself: init_transmitter=1/48)
register(dataclasses.replace(_semcod2_32("semcod2_32_tx48lo", cbrs=("1/48",), freeze_base=True,
                                         init_transmitter="1/48", snr_range=(0.0, 10.0)),
                             lr=2e-4, eval_snr_db=1.0, report_snrs=(0.0, 1.0, 10.0)))
# the receiver of the 1/48 set on a power gain grid of its own: that set's token power (3.6-6.1 dB,
# level amplitudes up to 4.9) lies above the default grid ([-12, +3.75] dB), which therefore sends its
# edge for almost every crop; with [-6, +9.75] dB the receiver gets the power within 0.125 dB.  The
# transmitter stays the set's bit for bit (freeze_transmitter); from the bundle's set
# (``--model-arg init_from=models/semcod_32``), SNR U(0,10) dB, checkpoints chosen at 1 dB
register(dataclasses.replace(_semcod2_32("semcod2_32_rx48g", cbrs=("1/48",), freeze_transmitter=True,
                                         init_transmitter="1/48", snr_range=(0.0, 10.0), gain_min_db=-6.0),
                             lr=1e-4, eval_snr_db=1.0, report_snrs=(0.0, 1.0, 10.0)))
