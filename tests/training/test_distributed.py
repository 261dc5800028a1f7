"""Data-parallel training: 2 CPU processes (gloo) launched by ``torch.distributed.run``.

Both ranks must end with the same weights, draw disjoint shards of every epoch, stop at the same
step under a wall-clock budget, and only rank 0 may write the run files and log.
"""
import csv
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from gr_semcod.training import TrainConfig
from gr_semcod.training.data import ArrayDataset
from gr_semcod.training.distributed import DistContext, param_digest, shard_batches


def smooth_images(n: int, seed: int) -> np.ndarray:
    """uint8 n x 32 x 32 x 3: a random colour plus a random ramp per image (all distinct)."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 1, 32)[None, None, :, None]
    imgs = rng.uniform(0, 160, (n, 1, 1, 3)) + rng.uniform(0, 90, (n, 1, 1, 3)) * ramp
    return np.broadcast_to(imgs, (n, 32, 32, 3)).round().astype(np.uint8)

ROOT = Path(__file__).resolve().parents[2]
RUN_FILES = {"ckpt.pt", "best.pt", "log.csv", "config.json", "stages.json", "summary.json"}


def _torchrun(args, cwd, timeout=300):
    env = dict(os.environ, PYTHONPATH=f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", *args]
    res = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return res


@pytest.fixture(scope="module")
def small_npz(tmp_path_factory):
    d = tmp_path_factory.mktemp("ddp_data")
    np.savez(d / "train.npz", images=smooth_images(64, seed=5))
    np.savez(d / "val.npz", images=smooth_images(16, seed=6))
    return str(d / "train.npz"), str(d / "val.npz")


def _weights_sha(state_dict) -> str:  # as tests/training/ddp_worker.py hashes
    h = hashlib.sha256()
    for name, t in sorted(state_dict.items()):
        h.update(name.encode())
        h.update(t.detach().cpu().double().numpy().tobytes())
    return h.hexdigest()


def test_two_ranks_same_weights_disjoint_shards_rank0_files(tmp_path, small_npz):
    steps = 10  # 64 images, 2 ranks x batch 8: 4 steps per epoch, so 2.5 epochs
    _torchrun([str(ROOT / "tests" / "training" / "ddp_worker.py"), str(tmp_path), *small_npz, str(steps)], tmp_path)
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["world"] for r in ranks] == [2, 2]
    assert all(r["process_group_left"] for r in ranks)
    # same weights on both replicas, and they are the weights rank 0 checkpointed
    assert ranks[0]["sha"] == ranks[1]["sha"]
    ckpt = torch.load(tmp_path / "runs" / "ddp_tiny" / "ckpt.pt", weights_only=True)
    assert ckpt["step"] == steps and _weights_sha(ckpt["model"]) == ranks[0]["sha"]
    # and training moved them away from the initialisation
    sys.path.insert(0, str(ROOT / "tests" / "training"))
    try:
        import ddp_worker
    finally:
        sys.path.pop(0)

    torch.manual_seed(3)
    init = ddp_worker.build(TrainConfig(name="x", build_model=ddp_worker.build))
    assert _weights_sha(init.state_dict()) != ranks[0]["sha"]
    # every epoch: the two ranks draw disjoint halves that cover the training set, reshuffled per epoch
    per_rank = [r["batches"] for r in ranks]
    assert [len(b) for b in per_rank] == [steps, steps]
    epochs = []
    for e in range(2):
        halves = [sorted(i for b in batches[4 * e:4 * e + 4] for i in b) for batches in per_rank]
        assert len(halves[0]) == len(halves[1]) == 32
        assert not set(halves[0]) & set(halves[1])
        assert sorted(halves[0] + halves[1]) == list(range(64))
        epochs.append([i for b in per_rank[0][4 * e:4 * e + 4] for i in b])
    assert epochs[0] != epochs[1]
    # rank 0 alone wrote the run: one header, each logged step once, one stage, world size in the summary
    run = tmp_path / "runs" / "ddp_tiny"
    assert {p.name for p in run.iterdir()} == RUN_FILES
    lines = (run / "log.csv").read_text().splitlines()
    assert sum(line.startswith("step,") for line in lines) == 1
    logged = [int(r["step"]) for r in csv.DictReader(lines)]
    assert logged == [2, 4, 6, 8, 10]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["replicas_identical"] and summary["steps"] == steps
    assert len(set(summary["replica_digests"])) == 1 and len(json.loads((run / "stages.json").read_text())) == 1
    assert ranks[1]["summary_steps"] == steps  # every rank returns rank 0's summary


def test_cli_under_torchrun_wall_clock_budget(tmp_path, small_npz):
    """``semcod train`` unchanged under torchrun, stopping on a wall-clock budget: rank 0's stop
    decision reaches both ranks (no hang), both stop at the same step with the same weights."""
    train_npz, val_npz = small_npz
    res = _torchrun(["-m", "gr_semcod.cli", "train", "--config", "deepjscc_32_cbr1-12", "--minutes", "0.04",
                     "--data-train", train_npz, "--data-val", val_npz, "--batch-size", "8", "--threads", "1",
                     "--no-progress", "--out", str(tmp_path / "runs")], tmp_path)
    run = tmp_path / "runs" / "deepjscc_32_cbr1-12"
    assert {p.name for p in run.iterdir()} == RUN_FILES
    summary = json.loads((run / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["replicas_identical"], summary
    assert summary["steps"] >= 1 and summary["minutes"] >= 0.04
    assert torch.load(run / "ckpt.pt", weights_only=True)["step"] == summary["steps"]
    out = res.stdout + res.stderr
    assert out.count("M parameters") == 1 and out.count("done:") == 1, out  # one logger
    assert "2 processes (DistributedDataParallel)" in out
    # --resume under torchrun: every rank loads rank 0's checkpoint and continues from its step
    first = summary["steps"]
    _torchrun(["-m", "gr_semcod.cli", "train", "--config", "deepjscc_32_cbr1-12", "--steps", str(first + 4),
               "--resume", "--data-train", train_npz, "--data-val", val_npz, "--batch-size", "8", "--threads", "1",
               "--no-progress", "--out", str(tmp_path / "runs")], tmp_path)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["steps"] == first + 4 and summary["replicas_identical"], summary
    assert [(s["start_step"], s["end_step"]) for s in summary["stages"]] == [(0, first), (first, first + 4)]
    steps = [int(r["step"]) for r in csv.DictReader((run / "log.csv").read_text().splitlines())]
    assert steps == sorted(set(steps)) and steps[-1] == first + 4


def test_batchnorm_statistics_end_as_rank0s(tmp_path, small_npz, monkeypatch):
    """A buffer each forward updates from its rank's own shard (BatchNorm's running statistics)
    differs by the last step's batch until DDP's next broadcast: the run ends with rank 0's on
    both, so the replicas' digests agree (and still catch parameters that diverged)."""
    monkeypatch.setenv("DDP_WORKER_BATCHNORM", "1")
    _torchrun([str(ROOT / "tests" / "training" / "ddp_worker.py"), str(tmp_path), *small_npz, "6"], tmp_path)
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["sha"] == ranks[1]["sha"] and ranks[0]["replicas_identical"] is True
    ckpt = torch.load(tmp_path / "runs" / "ddp_tiny" / "ckpt.pt", weights_only=True)
    assert "stats.running_mean" in ckpt["model"] and float(ckpt["model"]["stats.num_batches_tracked"]) == 6
    assert float(ckpt["model"]["stats.running_mean"].abs().sum()) > 0  # it saw the images


def test_shards_are_equal_disjoint_and_cover_the_epoch():
    """In-process check of the shard arithmetic with an odd set size (the last image is dropped)."""
    ds = ArrayDataset(smooth_images(23, seed=2), flip=False)
    seen = []
    for rank in range(3):
        ctx = DistContext(rank=rank, world=3)
        xs = [x for x, _ in shard_batches(ds, 2, ctx, seed=1, epoch=4)]
        assert len(xs) == 3  # 7 images per rank, batches of 2, last one dropped
        seen.append(torch.cat(xs))
    flat = torch.cat(seen).flatten(1)
    assert len({tuple(r.tolist()) for r in flat}) == 18  # 18 distinct images over the 3 ranks


def test_param_digest_sees_every_tensor():
    m = torch.nn.Linear(3, 2)
    d0 = param_digest(m)
    with torch.no_grad():
        m.bias[1] += 1e-7
    assert param_digest(m) != d0
    m2 = torch.nn.Linear(3, 2)
    m2.load_state_dict(m.state_dict())
    assert param_digest(m2) == param_digest(m)


def test_too_few_images_for_a_batch_is_an_error(tmp_path, small_npz):
    """A training set smaller than one batch fails with a clear error instead of looping forever."""
    from gr_semcod.jscc import DeepJSCC
    from gr_semcod.training.loop import train

    cfg = TrainConfig(name="empty", build_model=lambda c: DeepJSCC("1/12", 32, widths=(4, 8)),
                      train_data=small_npz[0], val_data=small_npz[1], batch_size=128, minutes=None, steps=3)
    with pytest.raises(ValueError, match="64 training images give no batch of 128"):
        train(cfg, out_dir=tmp_path, threads=1, progress=False, log=lambda s: None)


def test_single_process_stays_single(tmp_path, small_npz, monkeypatch):
    """Without torchrun's environment no process group is created and no DDP field is added."""
    from gr_semcod.jscc import DeepJSCC
    from gr_semcod.training.loop import train

    monkeypatch.delenv("WORLD_SIZE", raising=False)
    cfg = TrainConfig(name="single", build_model=lambda c: DeepJSCC("1/12", 32, widths=(4, 8)),
                      train_data=small_npz[0], val_data=small_npz[1], batch_size=16, minutes=None, steps=2,
                      report_snrs=(10.0,))
    summary = train(cfg, out_dir=tmp_path, threads=1, progress=False, log=lambda s: None)
    assert not torch.distributed.is_initialized()
    assert summary["steps"] == 2 and not {"world_size", "replica_digests"} & set(summary)
