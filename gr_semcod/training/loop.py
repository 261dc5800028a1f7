"""The generic training loop.

Model interface::

    model(images, snr_db, [cbr=...]) -> {"recon": (B,3,H,W), ["logits": (B,C)], ["aux_loss": scalar]}

``images`` float in [0, 1], ``snr_db`` float ``(B,)`` drawn per image from ``cfg.snr_range``
(uniform in dB).  The model owns its channel (``cfg.make_channel()``), so one loop trains AWGN
and Rayleigh models alike.  Variable-rate models expose ``model.cbr_choices``; when ``forward``
accepts a ``cbr`` keyword, one CBR per batch is drawn uniformly from it.

Optimisation: AdamW (no weight decay on biases, PReLU slopes and norms), gradient clipping,
an LR schedule driven by training progress ``p = max(elapsed / budget_time, step / budget_steps)``
so that wall-clock budgets anneal properly::

    cosine:   lr(p) = lr * p / w                                      p < w   (warmup)
              lr(p) = lr * (f + (1 - f) * (1 + cos(pi (p - w) / (1 - w))) / 2)   otherwise
    onecycle: cosine ramp lr/25 -> lr over p < 0.3, then cosine lr -> lr/1e4

Outputs in ``<out>/<name>/``:

* ``ckpt.pt``     ``{"model", "optimizer": state_dicts, "step", "elapsed", "best_psnr", "torch_rng"}``
  written every ``cfg.ckpt_every_minutes`` and at the end; ``--resume`` continues from it.
* ``best.pt``     the model ``state_dict`` with the best validation PSNR at ``cfg.eval_snr_db``
  (``cfg.select == "acc"``: the best validation accuracy; ``best_psnr`` in ``ckpt.pt`` then holds it).
* ``log.csv``     ``step, time_s, epoch, loss, mse, lr, val_psnr`` (val_psnr on evaluation rows;
  plus ``val_acc`` when selecting by accuracy).
* ``config.json`` and, at the end, ``summary.json`` (val PSNR of ``best.pt`` at ``cfg.report_snrs``).
* ``stages.json`` one entry per invocation (budget, ``--resume``, warm start, steps and minutes at
  start and end), so that a run trained in several stages can be reproduced; copied into the summary.

All files load with ``torch.load(path, weights_only=True)``.

Under ``torchrun`` the same loop trains one DistributedDataParallel replica per process; rank 0
alone logs, evaluates and writes these files, and its clock and stop/evaluate/checkpoint decisions
are broadcast every step (:mod:`gr_semcod.training.distributed`). ``summary.json`` then also holds
``world_size``, ``replica_digests`` and ``replicas_identical``.
"""
from __future__ import annotations

import csv
import inspect
import json
import math
import random
import time
from pathlib import Path
from typing import Callable, Dict, Iterable, Optional, Union

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from . import distributed
from .data import make_dataset
from .losses import ReconstructionLoss, psnr_per_image, ssim
from .registry import TrainConfig

LOG_FIELDS = ["step", "time_s", "epoch", "loss", "mse", "lr", "val_psnr"]


# --------------------------------------------------------------------------- schedule


def lr_at(p: float, cfg: TrainConfig) -> float:
    """Learning rate at training progress ``p`` in [0, 1] (see module docstring)."""
    p = min(max(p, 0.0), 1.0)
    lr = cfg.lr
    if cfg.schedule == "constant":
        return lr
    if cfg.schedule == "onecycle":
        if p < 0.3:
            return lr / 25 + (lr - lr / 25) * (1 - math.cos(math.pi * p / 0.3)) / 2
        return lr / 1e4 + (lr - lr / 1e4) * (1 + math.cos(math.pi * (p - 0.3) / 0.7)) / 2
    if cfg.schedule != "cosine":
        raise ValueError(f"unknown schedule {cfg.schedule!r}")
    w = cfg.warmup
    if p < w:
        return lr * max(p / w, 1e-3)
    f = cfg.final_lr_frac
    return lr * (f + (1 - f) * (1 + math.cos(math.pi * (p - w) / max(1 - w, 1e-9))) / 2)


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """AdamW; parameters with ``ndim <= 1`` (biases, PReLU slopes, norms) get no weight decay."""
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (decay if p.ndim > 1 else no_decay).append(p)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr)


# --------------------------------------------------------------------------- data


def batches(ds: Dataset, batch_size: int, shuffle: bool, drop_last: bool, workers: int = 0,
            generator: Optional[torch.Generator] = None) -> Iterable:
    """One epoch of ``(images, labels)`` batches; in-memory datasets use a vectorised path."""
    if hasattr(ds, "get_batch") and workers == 0:
        n = len(ds)
        order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
        stop = n - n % batch_size if drop_last else n
        for i in range(0, stop, batch_size):
            yield ds.get_batch(order[i:i + batch_size])
        return
    yield from DataLoader(ds, batch_size=batch_size, shuffle=shuffle, drop_last=drop_last,
                          num_workers=workers, generator=generator)


def _accepts(fn: Callable, name: str) -> bool:
    try:
        return name in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


# --------------------------------------------------------------------------- evaluation


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader: Union[Dataset, Iterable],
    snr_db: float,
    channel: Union[None, str, nn.Module] = None,
    cbr=None,
    seed: int = 1234,
    batch_size: int = 256,
    device: Union[None, str, torch.device] = None,
) -> Dict[str, float]:
    """PSNR (dB, L = 1) and SSIM of ``model`` at a fixed SNR.

    Two PSNR conventions are reported: ``psnr`` the mean of per-image PSNRs (as
    :func:`gr_semcod.runtime.metrics.psnr`), and ``psnr_mse = 10 log10(1 / mean MSE)`` the PSNR of
    the dataset-mean MSE (lower; robust to the rare constant image whose own PSNR is huge).

    ``loader`` is a dataset or an iterable of ``(images, labels)`` batches; ``channel``
    overrides the model's own (a name ``"awgn" | "rayleigh"`` or a module) for this call.
    The channel noise is seeded (``seed``) so repeated evaluations are comparable.
    Returns ``{"psnr", "psnr_mse", "ssim", "mse", "n"}`` plus ``"acc"`` when the model returns logits
    and the data is labelled, and ``"gain_clipped"`` (mean over batches) when the model reports it.
    """
    if device is None:
        device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    saved = getattr(model, "channel", None)
    if channel is not None:
        if isinstance(channel, str):
            from ..jscc.channels import Channel

            kw = {}
            if saved is not None and hasattr(saved, "block_len"):
                kw = {"block_len": saved.block_len, "equalizer": saved.equalizer}
            channel = Channel(channel, None, snr_db, **kw)
        model.channel = channel.to(device).eval()
    if isinstance(loader, Dataset):
        loader = batches(loader, batch_size, shuffle=False, drop_last=False)
    kw = {"cbr": cbr} if cbr is not None else {}
    psnrs, ssims, mses, correct, labelled, clipped = [], [], [], 0, 0, []
    devices = [device] if torch.device(device).type == "cuda" else []
    try:
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            for x, y in loader:
                x = x.to(device)
                out = model(x, torch.full((x.shape[0],), float(snr_db), device=device), **kw)
                r = out["recon"].clamp(0, 1)
                psnrs.append(psnr_per_image(r, x).cpu())
                ssims.append(ssim(r, x).cpu())
                mses.append((r - x).pow(2).flatten(1).mean(1).cpu())
                if out.get("gain_clipped") is not None:  # v2: share of groups whose power fell off the gain grid
                    clipped.append(float(out["gain_clipped"]))
                if out.get("logits") is not None and y is not None:
                    y = y.to(device)
                    m = y >= 0
                    correct += int((out["logits"].argmax(-1)[m] == y[m]).sum())
                    labelled += int(m.sum())
    finally:
        if channel is not None:
            model.channel = saved
        model.train(was_training)
    mse_all = float(torch.cat(mses).double().mean())
    res = {
        "psnr": float(torch.cat(psnrs).mean()),
        "psnr_mse": float(10.0 * math.log10(1.0 / max(mse_all, 1e-10))),
        "ssim": float(torch.cat(ssims).mean()),
        "mse": mse_all,
        "n": int(sum(len(p) for p in psnrs)),
    }
    if labelled:
        res["acc"] = correct / labelled
    if clipped:
        res["gain_clipped"] = float(np.mean(clipped))
    return res


# --------------------------------------------------------------------------- checkpoints


def save_checkpoint(path: Path, model: nn.Module, opt: torch.optim.Optimizer, state: Dict) -> None:
    """Atomic ``torch.save`` of plain state dicts + numbers (loadable with ``weights_only=True``)."""
    blob = {"model": model.state_dict(), "optimizer": opt.state_dict(), "torch_rng": torch.get_rng_state()}
    blob.update({k: (float(v) if isinstance(v, float) else v) for k, v in state.items()})
    tmp = Path(str(path) + ".tmp")
    torch.save(blob, tmp)
    tmp.replace(path)


def load_checkpoint(path: Union[str, Path], map_location="cpu") -> Dict:
    return torch.load(path, map_location=map_location, weights_only=True)


def load_weights(model: nn.Module, path: Union[str, Path], map_location="cpu") -> nn.Module:
    """Load ``best.pt`` (a state_dict) or ``ckpt.pt`` (its ``"model"`` entry) into ``model``."""
    sd = torch.load(path, map_location=map_location, weights_only=True)
    if "model" in sd and isinstance(sd["model"], dict):
        sd = sd["model"]
    model.load_state_dict(sd)
    return model


# --------------------------------------------------------------------------- training


def _seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def stage_args(cfg_dict: Dict, resume: bool) -> str:
    """The ``semcod train`` arguments of one stage (budget, resume, warm start, ``--model-arg``
    overrides of the registered config's ``model_kwargs``)."""
    args = f"--config {cfg_dict['name']}"
    if cfg_dict.get("minutes") is not None:
        args += f" --minutes {cfg_dict['minutes']:g}"
    if cfg_dict.get("steps") is not None:
        args += f" --steps {cfg_dict['steps']}"
    model_args = ""
    try:  # overrides of the registered config's hyper-parameters and model_kwargs
        from .registry import get_config

        ref = get_config(cfg_dict["name"]).to_dict()
        for key, flag in (("lr", "--lr"), ("batch_size", "--batch-size"), ("seed", "--seed"),
                          ("train_data", "--data-train"), ("val_data", "--data-val"), ("workers", "--workers")):
            if key in cfg_dict and cfg_dict[key] != ref.get(key):
                args += f" {flag} {cfg_dict[key]}"
        plain = lambda v: json.loads(json.dumps(v, default=str))  # noqa: E731  (tuples -> lists)
        ref_kw = plain(ref.get("model_kwargs") or {})
        for key, value in (cfg_dict.get("model_kwargs") or {}).items():
            if key != "init_from" and (key not in ref_kw or plain(value) != ref_kw[key]):
                model_args += f" --model-arg {key}={value if isinstance(value, str) else json.dumps(plain(value))}"
    except KeyError:  # not a registered config (tests)
        pass
    if resume:
        args += " --resume"
    init_from = (cfg_dict.get("model_kwargs") or {}).get("init_from")
    if init_from:
        args += f" --model-arg init_from={init_from}"
    return args + model_args


def _start_stages(run: Path, cfg: TrainConfig, resume: bool) -> list:
    """Stage list of ``run`` with this invocation appended (a resumed run without ``stages.json``
    gets its first stage reconstructed from the previous ``config.json``)."""
    path, stages = run / "stages.json", []
    if resume and path.is_file():
        stages = json.loads(path.read_text())
    elif resume and (run / "ckpt.pt").is_file() and (run / "config.json").is_file():
        prev = json.loads((run / "config.json").read_text())
        stages = [{"args": stage_args(prev, False), "reconstructed": True, "start_step": 0, "start_minutes": 0.0}]
    return stages + [{"args": stage_args(cfg.to_dict(), resume and bool(stages)), "start_step": 0,
                      "start_minutes": 0.0}]


def train(
    cfg: TrainConfig,
    out_dir: Union[str, Path] = "runs",
    resume: bool = False,
    device: Union[None, str, torch.device] = None,
    threads: Optional[int] = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> Dict:
    """Train ``cfg`` within its budget; returns the summary (also written to ``summary.json``).

    Under ``torchrun`` (``WORLD_SIZE > 1``) every process trains one DistributedDataParallel
    replica; see :mod:`gr_semcod.training.distributed`. Every rank returns rank 0's summary.
    """
    if cfg.minutes is None and cfg.steps is None:
        raise ValueError("a config needs a budget: minutes and/or steps")
    if threads:
        torch.set_num_threads(int(threads))
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    ctx, device = distributed.setup(device)
    try:
        result = _train(cfg, Path(out_dir), resume, device, progress, log, ctx)
    except BaseException:
        distributed.teardown(ctx)
        raise
    distributed.teardown(ctx, wait=True)
    return result


def _train(cfg: TrainConfig, out_dir: Path, resume: bool, device: torch.device, progress: bool,
           log: Callable[[str], None], ctx: distributed.DistContext) -> Dict:
    main = ctx.is_main
    if not main:
        log, progress = (lambda s: None), False
    _seed_all(cfg.seed)
    run = out_dir / cfg.name
    if main:
        run.mkdir(parents=True, exist_ok=True)
    stages = _start_stages(run, cfg, resume) if main else [{}]  # only rank 0 reads and writes the stages
    if main:
        (run / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2, default=str) + "\n")

    train_ds = make_dataset(cfg.train_data, cfg.image_size, train=True, limit=cfg.train_limit, flip=cfg.flip)
    val_ds = make_dataset(cfg.val_data, cfg.image_size, train=False, limit=cfg.val_limit)
    model = cfg.build_model(cfg).to(device)
    opt = make_optimizer(model, cfg)
    crit = ReconstructionLoss(**cfg.loss)
    n_params = sum(p.numel() for p in model.parameters())
    log(f"[{cfg.name}] {n_params / 1e6:.3f} M parameters, {len(train_ds)} train / {len(val_ds)} val images, "
        f"device {device}, threads {torch.get_num_threads()}"
        + (f", {ctx.world} processes (DistributedDataParallel), batch {cfg.batch_size} per process"
           if ctx.enabled else ""))

    step, elapsed, best, epoch = 0, 0.0, -math.inf, 0
    ckpt_path, best_path, log_path = run / "ckpt.pt", run / "best.pt", run / "log.csv"
    if resume and ckpt_path.exists():
        blob = load_checkpoint(ckpt_path, device)
        model.load_state_dict(blob["model"])
        opt.load_state_dict(blob["optimizer"])
        torch.set_rng_state(blob["torch_rng"].cpu())
        step, elapsed, best, epoch = int(blob["step"]), float(blob["elapsed"]), float(blob["best_psnr"]), int(blob["epoch"])
        log(f"[{cfg.name}] resumed at step {step}, {elapsed / 60:.1f} min, best val PSNR {best:.2f} dB")
        if len(stages) == 2 and stages[0].get("reconstructed"):
            stages[0].update(end_step=step, end_minutes=round(elapsed / 60.0, 2))
        stages[-1].update(start_step=step, start_minutes=round(elapsed / 60.0, 2))
    elif resume:
        log(f"[{cfg.name}] --resume: no {ckpt_path}, starting fresh")
    if cfg.select not in ("psnr", "acc"):
        raise ValueError(f"select must be 'psnr' or 'acc', got {cfg.select!r}")
    by_acc = cfg.select == "acc"
    net = distributed.wrap(model, ctx, device)  # the training forward; ``model`` for everything else
    if ctx.enabled:
        distributed.reseed(cfg.seed, ctx, step)
    log_file = writer = None
    if main:
        new_log = not (resume and log_path.exists())
        log_file = open(log_path, "w" if new_log else "a", newline="")
        writer = csv.DictWriter(log_file, LOG_FIELDS + (["val_acc"] if by_acc else []), lineterminator="\n")
        if new_log:
            writer.writeheader()

    budget_s = None if cfg.minutes is None else 60.0 * cfg.minutes
    progress_of = lambda s, t: max(  # noqa: E731
        (t / budget_s) if budget_s else 0.0, (s / cfg.steps) if cfg.steps else 0.0)
    cbrs = list(getattr(model, "cbr_choices", None) or [])
    pass_cbr = bool(cbrs) and _accepts(model.forward, "cbr")
    lo, hi = cfg.snr_range

    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=1000, initial=int(1000 * progress_of(step, elapsed)), unit="‰", mininterval=5.0,
                   desc=cfg.name, dynamic_ncols=True)

    def do_eval() -> Dict[str, float]:
        res = evaluate(model, val_ds, cfg.eval_snr_db, seed=cfg.seed + 1234, device=device)
        if cfg.select not in res:
            raise ValueError(f"select={cfg.select!r}: the evaluation has no {cfg.select!r} (labelled val data and logits needed)")
        return res

    def state() -> Dict:
        return {"step": step, "elapsed": elapsed, "best_psnr": best, "epoch": epoch, "config": cfg.name}

    def epoch_batches() -> Iterable:
        if ctx.enabled:
            return distributed.shard_batches(train_ds, cfg.batch_size, ctx, cfg.seed, epoch, cfg.workers)
        return batches(train_ds, cfg.batch_size, True, True, cfg.workers)

    t_start = time.perf_counter() - elapsed
    last_eval = last_ckpt = elapsed
    run_loss, run_mse, run_n = 0.0, 0.0, 0
    n_no_grad = 0  # batches with nothing trainable on their path (counted, reported in the summary)
    val_psnr = val_acc = float("nan")
    done = progress_of(step, elapsed) >= 1.0
    model.train()
    while not done:
        drawn = 0
        for x, y in epoch_batches():
            drawn += 1
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            lr = lr_at(progress_of(step, elapsed), cfg)
            for g in opt.param_groups:
                g["lr"] = lr
            snr = lo + (hi - lo) * torch.rand(x.shape[0], device=device)
            kw = {"cbr": random.choice(cbrs)} if pass_cbr else {}
            out = net(x, snr, **kw)
            loss, parts = crit(out, x, y)
            if not loss.requires_grad:  # nothing trainable on this batch's path (a receiver-only stage
                # whose tiles all stayed whole): a zero gradient keeps the step, and DDP ranks, in step
                loss = loss + 0.0 * sum((p.sum() for p in model.parameters() if p.requires_grad),
                                        torch.zeros((), device=loss.device))
                n_no_grad += 1
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip:
                nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            step += 1
            elapsed = time.perf_counter() - t_start
            run_loss += float(loss.detach())
            run_mse += parts["mse"]
            run_n += 1

            p = progress_of(step, elapsed)
            done = p >= 1.0
            evaluate_now = done or (elapsed - last_eval >= 60.0 * cfg.eval_every_minutes) or (
                cfg.eval_every_steps and step % cfg.eval_every_steps == 0)
            ckpt_now = done or elapsed - last_ckpt >= 60.0 * cfg.ckpt_every_minutes
            if ctx.enabled:  # rank 0's clock and decisions on every rank
                elapsed, done, evaluate_now, ckpt_now = distributed.broadcast_decisions(
                    ctx, elapsed, done, evaluate_now, ckpt_now)
                p = progress_of(step, elapsed)
            if evaluate_now:
                if main:
                    res = do_eval()
                    val_psnr, val_acc = res["psnr"], res.get("acc", float("nan"))
                    if res[cfg.select] > best:
                        best = res[cfg.select]
                        torch.save(model.state_dict(), best_path)
                last_eval = elapsed
            if evaluate_now or step % cfg.log_every_steps == 0:
                if ctx.enabled:  # the logged loss is the mean over every rank's batches
                    run_loss, run_mse, run_n = distributed.all_reduce_sums(ctx, [run_loss, run_mse, run_n])
                if main:
                    writer.writerow({
                        "step": step, "time_s": f"{elapsed:.1f}", "epoch": epoch,
                        "loss": f"{run_loss / max(run_n, 1):.6f}", "mse": f"{run_mse / max(run_n, 1):.6f}",
                        "lr": f"{lr:.3e}", "val_psnr": f"{val_psnr:.3f}" if evaluate_now else "",
                        **({"val_acc": f"{val_acc:.4f}" if evaluate_now else ""} if by_acc else {}),
                    })
                    log_file.flush()
                if bar is not None:
                    bar.set_postfix(step=step, loss=f"{run_loss / max(run_n, 1):.4f}", lr=f"{lr:.1e}",
                                    val=f"{best:.4f}" if by_acc else f"{best:.2f}dB", refresh=False)
                    bar.n = int(1000 * min(p, 1.0))
                    bar.refresh()
                run_loss, run_mse, run_n = 0.0, 0.0, 0
            if ckpt_now:
                if main:
                    save_checkpoint(ckpt_path, model, opt, state())
                last_ckpt = elapsed
            if done:
                break
        else:
            if not drawn:
                raise ValueError(f"{cfg.train_data}: {len(train_ds)} training images give no batch of "
                                 f"{cfg.batch_size}" + (f" per process on {ctx.world} processes" if ctx.enabled else ""))
            epoch += 1
    if bar is not None:
        bar.close()
    distributed.sync_buffers(ctx, model)  # the last step's BatchNorm statistics are rank 0's, as checkpointed
    digests = distributed.gather_digests(ctx, model)  # every replica's weights, before best.pt is loaded
    summary = None
    if main:
        log_file.close()
        extra = {"batches_without_gradient": n_no_grad}
        if ctx.enabled:
            extra.update({"world_size": ctx.world, "replica_digests": digests,
                          "replicas_identical": len(set(digests)) == 1})
            if not extra["replicas_identical"]:
                log(f"[{cfg.name}] WARNING: the {ctx.world} replicas ended with different weights: {digests}")
        summary = _finish(cfg, run, model, val_ds, device, stages, step, elapsed, epoch, best, n_params, log, extra)
    return distributed.broadcast_object(ctx, summary)


def _finish(cfg: TrainConfig, run: Path, model: nn.Module, val_ds, device, stages: list, step: int,
            elapsed: float, epoch: int, best: float, n_params: int, log: Callable[[str], None],
            extra: Optional[Dict] = None) -> Dict:
    """Write ``stages.json``, evaluate ``best.pt`` at ``cfg.report_snrs``, write ``summary.json``."""
    by_acc = cfg.select == "acc"
    best_path = run / "best.pt"
    stages[-1].update(end_step=step, end_minutes=round(elapsed / 60.0, 2))
    (run / "stages.json").write_text(json.dumps(stages, indent=2) + "\n")
    if not best_path.exists():  # resumed a finished run without evaluations
        torch.save(model.state_dict(), best_path)

    load_weights(model, best_path, device)
    evals = {f"{s:g}": evaluate(model, val_ds, s, seed=cfg.seed + 1234, device=device) for s in cfg.report_snrs}
    report = {s: r["psnr"] for s, r in evals.items()}
    report_mse = {s: r["psnr_mse"] for s, r in evals.items()}
    best_psnr = best
    if by_acc:  # PSNR of the selected checkpoint at the selection SNR (when reported)
        best_psnr = evals[f"{cfg.eval_snr_db:g}"]["psnr"] if f"{cfg.eval_snr_db:g}" in evals else float("nan")
    summary = {
        "name": cfg.name, "steps": step, "minutes": elapsed / 60.0, "epochs": epoch,
        "best_val_psnr": best_psnr, "eval_snr_db": cfg.eval_snr_db, "channel": cfg.channel,
        "val_psnr_by_snr": report, "val_psnr_of_mean_mse_by_snr": report_mse,
        "val_ssim_by_snr": {s: r["ssim"] for s, r in evals.items()}, "params": n_params, "device": str(device),
        "stages": stages,
    }
    if any("gain_clipped" in r for r in evals.values()):  # v2: share of groups off the power gain grid
        summary["val_gain_clipped_by_snr"] = {s: r.get("gain_clipped") for s, r in evals.items()}
    if by_acc:
        summary.update({"select": "acc", "best_val_acc": best,
                        "val_acc_by_snr": {s: r.get("acc") for s, r in evals.items()}})
    summary.update(extra or {})
    (run / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    log(f"[{cfg.name}] done: {step} steps in {elapsed / 60:.1f} min; best.pt val PSNR "
        + ", ".join(f"{v:.2f} dB @ {k} dB" for k, v in report.items())
        + "; PSNR of mean MSE " + ", ".join(f"{v:.2f} dB @ {k} dB" for k, v in report_mse.items())
        + ("; val accuracy " + ", ".join(f"{r.get('acc', float('nan')):.4f} @ {k} dB" for k, r in evals.items())
           if by_acc else "")
        + (f"; {summary['batches_without_gradient']} batches had nothing trainable on their path (zero gradient)"
           if summary.get("batches_without_gradient") else ""))
    return summary
