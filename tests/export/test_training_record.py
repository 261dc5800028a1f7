"""Training provenance in the manifest and the model card: stages, warm starts, commands."""
import json
from pathlib import Path

from gr_semcod.evaluation.card import _training_lines
from gr_semcod.export.cli import training_record


def _write(d, **files):
    d.mkdir(parents=True)
    for name, obj in files.items():
        (d / f"{name}.json").write_text(json.dumps(obj))


def test_stages_and_warm_start_reach_the_card(tmp_path):
    runs = tmp_path / "runs"
    _write(runs / "semcod_32_plain", summary={"name": "semcod_32", "minutes": 100.0, "steps": 7745},
           config={"name": "semcod_32", "minutes": 100.0, "steps": None, "lr": 8e-4, "model_kwargs": {}})
    child = {"name": "semcod_32", "minutes": 90.0, "steps": 9694, "best_val_psnr": 26.66, "eval_snr_db": 10.0,
             "stages": [{"args": "--config semcod_32 --minutes 90 --lr 0.0003 "
                                 f"--model-arg init_from={runs}/semcod_32_plain/best.pt",
                         "start_step": 0, "end_step": 9694}]}
    _write(runs / "semcod_32", summary=child)
    rec = training_record(runs / "semcod_32", child)
    parent = rec["init_from_run"]
    assert (parent["name"], parent["steps"], parent["args"]) == ("semcod_32_plain", 7745,
                                                                 "--config semcod_32_plain --minutes 100")
    line, = _training_lines({"runs": {"semcod_32": {"description": "codec", "training": rec}}})
    assert "90 min CPU wall clock, 9694 steps, best val PSNR 26.66 dB" in line
    assert "warm-started from `semcod_32_plain` (100 min, 7745 steps" in line
    assert "`semcod train --config semcod_32_plain --minutes 100`" in line
    assert "`semcod train --config semcod_32 --minutes 90 --lr 0.0003 --model-arg init_from=" in line


def test_runs_without_stages_get_one_from_config_json(tmp_path):
    runs = tmp_path / "runs"
    summary = {"name": "deepjscc_32_cbr1-48", "minutes": 20.0, "steps": 7812, "best_val_psnr": 27.3}
    _write(runs / "deepjscc_32_cbr1-48", summary=summary,
           config={"name": "deepjscc_32_cbr1-48", "minutes": 20.0, "steps": None, "model_kwargs": {}})
    rec = training_record(runs / "deepjscc_32_cbr1-48", summary)
    assert rec["stages"] == [{"args": "--config deepjscc_32_cbr1-48 --minutes 20", "start_step": 0,
                              "start_minutes": 0.0, "end_step": 7812, "end_minutes": 20.0}]
    line, = _training_lines({"runs": {"d": {"description": "dj", "training": rec}}})
    assert line.endswith("(`semcod train --config deepjscc_32_cbr1-48 --minutes 20`)")


def test_a_ddp_run_reaches_the_card_with_its_processes_and_torchrun():
    rec = {"minutes": 80.0, "steps": 11474, "world_size": 2, "best_val_psnr": 21.9, "eval_snr_db": 1.0,
           "stages": [{"args": "--config semcod2_32_tx48lo --minutes 80", "start_step": 0, "end_step": 11474}]}
    line, = _training_lines({"runs": {"tx": {"description": "v2 at 1/48", "training": rec}}})
    assert "80 min wall clock on 2 CPU processes (DDP), 11474 steps per process, best val PSNR 21.90 dB at 1 dB" in line
    assert line.endswith("(`torchrun --standalone --nproc_per_node 2 -m gr_semcod.cli train "
                         "--config semcod2_32_tx48lo --minutes 80`)")
    single, = _training_lines({"runs": {"tx": {"description": "v2", "training": {**rec, "world_size": 1}}}})
    assert "80 min CPU wall clock, 11474 steps, " in single and "`semcod train --config" in single


def test_refresh_descriptions_rewrites_only_the_descriptions(tmp_path):
    """``semcod export --refresh-descriptions --into B``: each run's description from its registered
    config; model files, digests and training records stay byte for byte."""
    import shutil

    from gr_semcod.export.cli import refresh_descriptions
    from gr_semcod.runtime.bundle import Bundle
    from gr_semcod.training.registry import get_config


    src = Path(__file__).resolve().parents[2] / "models" / "semcod_32"
    dst = tmp_path / "b"
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("*.md"))
    before = json.loads((dst / "manifest.json").read_text())
    runs = before["meta"]["runs"]
    name = next(iter(runs))
    wrong = dict(before)
    wrong["meta"] = {**before["meta"], "runs": {**runs, name: {**runs[name], "description": "stale wording"},
                                                 "unregistered_run": {"description": "kept"}}}
    (dst / "manifest.json").write_text(json.dumps(wrong))
    changed = refresh_descriptions(dst)
    assert set(changed) >= {name} and "unregistered_run" not in changed
    after = json.loads((dst / "manifest.json").read_text())
    assert after["meta"]["runs"][name]["description"] == get_config(runs[name].get("config", name)).description
    assert after["meta"]["runs"]["unregistered_run"]["description"] == "kept"
    assert after["models"] == before["models"]
    assert {k: v for k, v in after["meta"]["runs"][name].items() if k != "description"} == \
        {k: v for k, v in runs[name].items() if k != "description"}
    Bundle.load(dst)  # still verifies (sha256 of every file)
    assert refresh_descriptions(dst) == {}  # idempotent
