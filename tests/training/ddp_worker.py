"""One rank of the 2-process training test (run by ``python -m torch.distributed.run``).

``ddp_worker.py OUT TRAIN_NPZ VAL_NPZ STEPS``: trains a tiny Deep JSCC with :func:`train`, recording
the indices of every batch this rank drew, then writes ``OUT/rank<r>.json`` with those indices and
a sha256 of the final weights (hashed here, independently of the training code).
"""
import hashlib
import json
import os
import sys
from pathlib import Path

import torch

from gr_semcod.jscc import DeepJSCC
from gr_semcod.training import TrainConfig
from gr_semcod.training.data import ArrayDataset
from gr_semcod.training.loop import train

MODELS = []
DRAWN = []


def build(cfg):
    model = DeepJSCC("1/12", cfg.image_size, widths=(4, 8), channel=cfg.make_channel())
    if os.environ.get("DDP_WORKER_BATCHNORM"):  # a buffer each forward updates from its own shard
        model.add_module("stats", torch.nn.BatchNorm2d(3))
        forward = model.forward

        def with_stats(images, *args, **kw):
            model.stats(images)  # running mean / var of this rank's batch; the output is unchanged
            return forward(images, *args, **kw)

        model.forward = with_stats
    MODELS.append(model)
    return model


def weights_sha(model) -> str:
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().double().numpy().tobytes())
    return h.hexdigest()


def main() -> None:
    out, train_npz, val_npz, steps = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    get_batch = ArrayDataset.get_batch

    def recording(self, idx):
        if self.flip:  # the training set (validation is not flipped)
            DRAWN.append(idx.tolist())
        return get_batch(self, idx)

    ArrayDataset.get_batch = recording
    cfg = TrainConfig(name="ddp_tiny", build_model=build, train_data=train_npz, val_data=val_npz, image_size=32,
                      batch_size=8, lr=3e-3, minutes=None, steps=steps, eval_every_minutes=1e9,
                      log_every_steps=2, report_snrs=(10.0,), seed=3)
    summary = train(cfg, out_dir=Path(out) / "runs", threads=1, progress=False)
    rank = int(os.environ["RANK"])
    (Path(out) / f"rank{rank}.json").write_text(json.dumps({
        "replicas_identical": summary.get("replicas_identical"),
        "rank": rank, "world": int(os.environ["WORLD_SIZE"]), "batches": DRAWN,
        "sha": weights_sha(MODELS[0]), "summary_steps": summary["steps"],
        "process_group_left": not torch.distributed.is_initialized(),
    }))


if __name__ == "__main__":
    main()
