"""Data-parallel training under ``torchrun``: process group, data shards, rank-0 decisions.

``semcod train`` detects a launch by ``torchrun`` / ``python -m torch.distributed.run`` from the
environment it sets (``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``)
and then trains one :class:`~torch.nn.parallel.DistributedDataParallel` replica per process:

* backend ``gloo`` on CPU, ``nccl`` on GPU (rank ``r`` uses ``cuda:LOCAL_RANK``);
* ``cfg.batch_size`` is per process, so one optimiser step sees ``world * batch_size`` images;
  gradients are averaged over the ranks, so every replica takes the same step;
* every epoch is one permutation shared by all ranks (seeded by ``(seed, epoch)``), cut into
  ``world`` equal shards: rank ``r`` takes positions ``r, r + world, ...`` of the first
  ``world * floor(n / world)``. Equal shards give every rank the same number of steps per epoch;
* each rank's torch RNG (flips, SNR draws, channel noise, photo crops) is seeded by
  ``(seed, rank, step)``; Python's ``random`` (the per-batch CBR) stays identical on all ranks;
* rank 0 alone decides when to stop (wall-clock or step budget), evaluate and checkpoint, and
  :func:`broadcast_decisions` sends its decision and its clock to all ranks every step, so they
  all leave the loop at the same step and no rank waits for a collective that never comes;
* rank 0 alone logs, evaluates and writes ``ckpt.pt``, ``best.pt``, ``log.csv``, ``config.json``,
  ``stages.json`` and ``summary.json``.

Without those variables (or with ``WORLD_SIZE=1``) nothing here is used and training runs exactly
as in a single process.
"""
from __future__ import annotations

import datetime
import hashlib
import os
from dataclasses import dataclass
from typing import Iterable, List, Optional, Sequence

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler

#: minutes a collective may wait (rank 0 evaluating while the others wait); ``$SEMCOD_DIST_TIMEOUT_MIN``
DEFAULT_TIMEOUT_MIN = 60.0


@dataclass
class DistContext:
    """Where this process sits in the job. ``world == 1``: a single process, nothing distributed."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    owns_group: bool = False  # this context initialised the process group (and destroys it)
    comm_device: str = "cpu"  # where small control tensors live (the GPU for nccl)

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 or (dist.is_available() and dist.is_initialized())


def setup(device: torch.device) -> tuple:
    """Join (or create) the process group when launched by torchrun.

    Returns ``(ctx, device)``: on CUDA the device becomes ``cuda:LOCAL_RANK``.
    """
    if not launched_by_torchrun():
        return DistContext(), device
    if not dist.is_available():
        raise RuntimeError("WORLD_SIZE > 1 but this torch build has no torch.distributed")
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)  # one GPU per process, whatever index was given
        torch.cuda.set_device(device)
    owns = False
    if not dist.is_initialized():
        minutes = float(os.environ.get("SEMCOD_DIST_TIMEOUT_MIN", DEFAULT_TIMEOUT_MIN))
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend, timeout=datetime.timedelta(minutes=minutes))
        owns = True
    comm = str(device) if dist.get_backend() == "nccl" else "cpu"
    ctx = DistContext(dist.get_rank(), dist.get_world_size(), local_rank, owns, comm)
    return ctx, device


def teardown(ctx: DistContext, wait: bool = False) -> None:
    """Destroy the process group this run created.  ``wait``: first a barrier, so that no rank
    tears its connections down while another still uses them (gloo aborts the process then,
    "terminate called without an active exception"); only after a run that ended normally on
    every rank -- after an error a peer may never reach it."""
    if ctx.owns_group and dist.is_initialized():
        if wait and ctx.world > 1:
            dist.barrier()
        dist.destroy_process_group()


def wrap(model: nn.Module, ctx: DistContext, device: torch.device) -> nn.Module:
    """``DistributedDataParallel`` around ``model`` (parameters broadcast from rank 0).

    ``find_unused_parameters``: rate-adaptive models may leave a branch unused in a step.
    """
    if not ctx.enabled:
        return model
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids, find_unused_parameters=True)


def reseed(cfg_seed: int, ctx: DistContext, step: int) -> None:
    """Per-rank torch RNG (distributed runs only): seed ``hash(seed, rank, step)``."""
    torch.manual_seed((int(cfg_seed) * 1_000_003 + 7919 * ctx.rank + int(step)) % (2**63 - 1))


def shard_batches(ds: Dataset, batch_size: int, ctx: DistContext, seed: int, epoch: int,
                  workers: int = 0) -> Iterable:
    """Rank ``ctx.rank``'s batches of one epoch (shuffled, last partial batch dropped).

    In-memory datasets: permutation ``randperm(n, seed + epoch)``, the rank's shard
    ``perm[:world * (n // world)][rank::world]``. Others: :class:`DistributedSampler` with the
    same ``seed`` and ``epoch`` (equal shards of size ``n // world``).
    """
    if hasattr(ds, "get_batch") and workers == 0:
        g = torch.Generator().manual_seed(int(seed) + int(epoch))
        n = len(ds)
        order = torch.randperm(n, generator=g)[: ctx.world * (n // ctx.world)][ctx.rank::ctx.world]
        stop = len(order) - len(order) % batch_size
        for i in range(0, stop, batch_size):
            yield ds.get_batch(order[i:i + batch_size])
        return
    sampler = DistributedSampler(ds, num_replicas=ctx.world, rank=ctx.rank, shuffle=True, seed=int(seed),
                                 drop_last=True)
    sampler.set_epoch(int(epoch))
    yield from DataLoader(ds, batch_size=batch_size, sampler=sampler, drop_last=True, num_workers=workers)


def broadcast_decisions(ctx: DistContext, elapsed: float, *flags: bool) -> tuple:
    """Rank 0's clock and flags on every rank: ``(elapsed, flag, ...)``."""
    if not ctx.enabled:
        return (elapsed, *flags)
    t = torch.tensor([float(elapsed)] + [float(bool(f)) for f in flags], dtype=torch.float64,
                     device=ctx.comm_device)
    dist.broadcast(t, src=0)
    t = t.cpu()
    return (float(t[0]), *(bool(v) for v in t[1:].tolist()))


def all_reduce_sums(ctx: DistContext, values: Sequence[float]) -> List[float]:
    """Element-wise sums over the ranks (for the logged running loss)."""
    if not ctx.enabled:
        return list(values)
    t = torch.tensor([float(v) for v in values], dtype=torch.float64, device=ctx.comm_device)
    dist.all_reduce(t)
    return t.cpu().tolist()


def barrier(ctx: DistContext) -> None:
    if ctx.enabled:
        dist.barrier()


def broadcast_object(ctx: DistContext, obj=None):
    """Rank 0's ``obj`` (a picklable Python value) on every rank."""
    if not ctx.enabled:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def param_digest(model: nn.Module) -> str:
    """sha256 over the model's ``state_dict`` (names, shapes, dtypes and bytes, in order)."""
    h = hashlib.sha256()
    for name, t in model.state_dict().items():
        t = t.detach().cpu().contiguous()
        h.update(f"{name}:{tuple(t.shape)}:{t.dtype};".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def sync_buffers(ctx: DistContext, model: nn.Module) -> None:
    """Rank 0's buffers on every rank, as DDP's next forward would broadcast them: buffers a forward
    updates from its own batch (BatchNorm's running statistics) differ by the last step's shard
    until then, while the parameters never do."""
    if not ctx.enabled:
        return
    for b in model.buffers():
        dist.broadcast(b.data, src=0)


def gather_digests(ctx: DistContext, model: nn.Module) -> Optional[List[str]]:
    """Every rank's :func:`param_digest` (distributed runs; None otherwise)."""
    if not ctx.enabled:
        return None
    out: List[Optional[str]] = [None] * ctx.world
    dist.all_gather_object(out, param_digest(model))
    return out
