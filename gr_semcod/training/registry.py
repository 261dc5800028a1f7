"""Named training configurations.

A config is a :class:`TrainConfig`; a module in :mod:`gr_semcod.training.configs` registers
configs either as instances or through factory functions::

    from gr_semcod.training.registry import TrainConfig, register

    register(TrainConfig(name="my_cfg", build_model=my_builder, ...))

    @register("my_other_cfg")
    def _():
        return TrainConfig(name="my_other_cfg", ...)

Every module of the ``configs`` package is imported on the first lookup, so adding a file
there is enough.  :func:`get_config` returns a fresh copy with optional overrides.
"""
from __future__ import annotations

import dataclasses
import importlib
import os
import pkgutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

from torch import nn

#: where the shared data lives (``$SEMCOD_DATA`` or ``<repo>/../shared/data``)
DATA_DIR = Path(os.environ.get("SEMCOD_DATA", Path(__file__).resolve().parents[3] / "shared" / "data"))


@dataclass
class TrainConfig:
    """Everything a training run needs.

    ``build_model(cfg) -> nn.Module`` builds the model; the model must follow the loop's
    interface (see :mod:`gr_semcod.training.loop`) and own its channel, which it should
    build with :meth:`make_channel`.  The budget is ``minutes`` of wall-clock time and/or
    ``steps`` optimiser steps, whichever ends first (at least one must be set).  The LR
    schedule follows training progress ``p = max(elapsed / minutes, step / steps)``.
    """

    name: str
    build_model: Callable[["TrainConfig"], nn.Module]
    train_data: str = ""
    val_data: str = ""
    image_size: Union[int, Tuple[int, int]] = 32
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    schedule: str = "cosine"          # "cosine" (linear warmup + cosine) | "onecycle" | "constant"
    warmup: float = 0.02              # fraction of the budget
    final_lr_frac: float = 0.01       # cosine floor, as a fraction of lr
    grad_clip: Optional[float] = 1.0
    minutes: Optional[float] = 25.0
    steps: Optional[int] = None
    channel: str = "awgn"             # "awgn" | "rayleigh"
    snr_range: Tuple[float, float] = (0.0, 20.0)
    eval_snr_db: float = 10.0         # checkpoint selection
    select: str = "psnr"              # checkpoint selection metric on val: "psnr" | "acc" (needs labels, logits)
    report_snrs: Sequence[float] = (0.0, 10.0, 20.0)
    block_len: int = 16               # Rayleigh coherence block (symbols)
    equalizer: str = "mmse"
    loss: Dict[str, float] = field(default_factory=lambda: {"mse": 1.0, "ssim": 0.0, "ce": 0.0, "aux": 1.0})
    seed: int = 0
    val_limit: Optional[int] = None
    train_limit: Optional[int] = None
    flip: bool = True                 # random horizontal flips of the training images (array datasets)
    eval_every_minutes: float = 2.0
    eval_every_steps: Optional[int] = None
    ckpt_every_minutes: float = 5.0
    log_every_steps: int = 50
    workers: int = 0
    model_kwargs: Dict[str, Any] = field(default_factory=dict)
    description: str = ""

    def make_channel(self):
        """The differentiable channel this config trains on (SNR ~ U(snr_range) dB)."""
        from ..jscc.channels import Channel

        return Channel(self.channel, self.snr_range, self.eval_snr_db, self.block_len, self.equalizer)

    def replace(self, **overrides) -> "TrainConfig":
        return dataclasses.replace(self, **{k: v for k, v in overrides.items() if v is not None})

    def to_dict(self) -> Dict[str, Any]:
        """JSON-friendly view (the builder by qualified name)."""
        d = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if callable(v):
                v = f"{getattr(v, '__module__', '?')}.{getattr(v, '__qualname__', repr(v))}"
            elif isinstance(v, tuple):
                v = list(v)
            d[f.name] = v
        return d


_REGISTRY: Dict[str, Callable[[], TrainConfig]] = {}
_LOADED = False


def register(cfg_or_name: Union[TrainConfig, str]):
    """Register a :class:`TrainConfig`, or (given a name) decorate a factory returning one."""
    if isinstance(cfg_or_name, TrainConfig):
        cfg = cfg_or_name
        if cfg.name in _REGISTRY:
            raise KeyError(f"config {cfg.name!r} registered twice")
        _REGISTRY[cfg.name] = lambda: dataclasses.replace(cfg)
        return cfg

    name = str(cfg_or_name)

    def deco(factory: Callable[[], TrainConfig]):
        if name in _REGISTRY:
            raise KeyError(f"config {name!r} registered twice")
        _REGISTRY[name] = factory
        return factory

    return deco


def load_config_modules() -> None:
    """Import every module of :mod:`gr_semcod.training.configs` (once)."""
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    from . import configs

    for mod in sorted(pkgutil.iter_modules(configs.__path__), key=lambda m: m.name):
        if not mod.name.startswith("_"):
            importlib.import_module(f"{configs.__name__}.{mod.name}")


def list_configs() -> List[str]:
    load_config_modules()
    return sorted(_REGISTRY)


def get_config(name: str, **overrides) -> TrainConfig:
    """A fresh copy of config ``name`` with ``overrides`` (None values are ignored)."""
    load_config_modules()
    if name not in _REGISTRY:
        raise KeyError(f"unknown config {name!r}; known: {', '.join(sorted(_REGISTRY)) or '(none)'}")
    cfg = _REGISTRY[name]()
    if cfg.name != name:
        cfg = dataclasses.replace(cfg, name=name)
    return cfg.replace(**overrides)


def warm_start(model, path, name: str, required: tuple = ()) -> int:
    """Load into ``model`` every tensor of the checkpoint ``path`` (a ``best.pt`` / ``ckpt.pt``,
    ``weights_only``; or a state dict) whose name and shape match; new layers keep their init.  ValueError when
    nothing matches (a checkpoint of another model) or when a tensor of ``model`` whose name starts
    with one of ``required`` is not loaded (e.g. a frozen part that must come from the checkpoint).
    Returns the number of tensors loaded."""
    import torch

    if isinstance(path, dict):  # a state dict already (e.g. a model read from a bundle's ONNX files)
        sd, path = path, "(state dict)"
    else:
        sd = torch.load(path, map_location="cpu", weights_only=True)
        sd = sd["model"] if isinstance(sd.get("model"), dict) else sd
    own = model.state_dict()
    loadable = {k: v for k, v in sd.items() if k in own and own[k].shape == v.shape}
    if not loadable:
        raise ValueError(f"init_from {path}: no tensor matches the {name} model")
    missing = [k for k in own if k.startswith(tuple(required)) and k not in loadable]
    if missing:
        raise ValueError(f"init_from {path}: {len(missing)} tensors of the {name} model that must come from it "
                         f"do not match (e.g. {missing[0]})")
    model.load_state_dict(loadable, strict=False)
    return len(loadable)
