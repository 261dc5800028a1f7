"""Deep JSCC baseline configs: ``deepjscc_<size>_cbr<p>-<q>[_rayleigh]``.

* 32x32: train on ``crops32_train.npz`` (random flips), select on ``crops32_val.npz``.
* 64x64: random photo crops from ``photos/train`` on the fly, select on ``crops64_val.npz``.

SNR ~ U(0, 20) dB per image; one SNR-adaptive model per CBR (see :mod:`gr_semcod.jscc.deepjscc`).
"""
from __future__ import annotations

from ...jscc.deepjscc import DeepJSCC
from ...rates import STANDARD_CBRS, cbr_tag
from ..registry import DATA_DIR, TrainConfig, register

#: encoder/decoder widths (M, N); the 2019 paper used (16, 32)
WIDTHS = (32, 64)


def build_deepjscc(cfg: TrainConfig) -> DeepJSCC:
    kw = dict(cfg.model_kwargs)
    return DeepJSCC(
        cbr=kw.pop("cbr"),
        image_size=cfg.image_size,
        widths=tuple(kw.pop("widths", WIDTHS)),
        channel=cfg.make_channel(),
        **kw,
    )


def _register_all() -> None:
    data = {
        32: (str(DATA_DIR / "crops32_train.npz"), str(DATA_DIR / "crops32_val.npz")),
        64: (str(DATA_DIR / "photos" / "train"), str(DATA_DIR / "crops64_val.npz")),
    }
    for size, (train, val) in data.items():
        for cbr in STANDARD_CBRS:
            for channel in ("awgn", "rayleigh"):
                name = f"deepjscc_{size}_cbr{cbr_tag(cbr)}" + ("" if channel == "awgn" else f"_{channel}")
                register(TrainConfig(
                    name=name,
                    build_model=build_deepjscc,
                    train_data=train,
                    val_data=val,
                    image_size=size,
                    batch_size=64,
                    lr=2e-3,
                    weight_decay=1e-4,
                    minutes=25.0 if cbr == "1/12" else 20.0,
                    channel=channel,
                    snr_range=(0.0, 20.0),
                    model_kwargs={"cbr": cbr, "widths": WIDTHS},
                    description=f"Deep JSCC baseline, {size}x{size}, CBR {cbr}, {channel}, SNR U(0,20) dB",
                ))


_register_all()
