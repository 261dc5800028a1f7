"""``semcod train --config NAME [--minutes M] [--steps N] [--resume] [--data-train PATH]
[--data-val PATH] [--threads N] [--workers N] [--out runs/] [--device cpu|cuda] [--list]``.

Under ``torchrun --nproc_per_node N -m gr_semcod.cli train ...`` the same command trains with
DistributedDataParallel (see :mod:`gr_semcod.training.distributed`)."""
from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="registered config name (see --list)")
    parser.add_argument("--list", action="store_true", help="list the registered configs and exit")
    parser.add_argument("--minutes", type=float, help="wall-clock budget (overrides the config)")
    parser.add_argument("--steps", type=int, help="optimiser-step budget (overrides the config)")
    parser.add_argument("--resume", action="store_true", help="continue from <out>/<name>/ckpt.pt")
    parser.add_argument("--data-train", help="training data (npz, photo folder, CIFAR-10 binary or Fashion-MNIST dir)")
    parser.add_argument("--data-val", help="validation data for checkpoint selection")
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--lr", type=float)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--threads", type=int, help="torch.set_num_threads")
    parser.add_argument("--workers", type=int, help="data loader processes per training process (overrides the config)")
    parser.add_argument("--device", help="cpu | cuda (default: cuda when available)")
    parser.add_argument("--out", default="runs", help="output root; the run goes to <out>/<name>/")
    parser.add_argument("--no-progress", action="store_true", help="no tqdm bar")
    parser.add_argument("--model-arg", action="append", default=[], metavar="KEY=VALUE",
                        help="override an entry of the config's model_kwargs (VALUE parsed as JSON, "
                             "else a string), e.g. --model-arg weights=runs/semcod_32/best.pt; repeatable")


def run(args: argparse.Namespace) -> int:
    from .registry import get_config, list_configs

    if args.list:
        from .registry import get_config as _get

        for name in list_configs():
            print(f"{name:36s} {_get(name).description}")
        return 0
    if not args.config:
        print("semcod train: --config NAME is required (see --list)")
        return 2
    cfg = get_config(
        args.config, minutes=args.minutes, steps=args.steps, train_data=args.data_train,
        val_data=args.data_val, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
        workers=getattr(args, "workers", None),
    )
    for item in getattr(args, "model_arg", None) or []:
        import json

        key, sep, value = item.partition("=")
        if not sep or not key:
            print(f"semcod train: --model-arg needs KEY=VALUE, got {item!r}")
            return 2
        try:
            value = json.loads(value)
        except ValueError:
            pass
        cfg.model_kwargs = {**cfg.model_kwargs, key: value}
    if args.steps is not None and args.minutes is None:
        cfg.minutes = None  # an explicit step budget alone replaces the config's time budget
    from .loop import train

    train(cfg, out_dir=args.out, resume=args.resume, device=args.device, threads=args.threads,
          progress=not args.no_progress)
    return 0
