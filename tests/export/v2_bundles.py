"""Test bundles for the v2 per-CBR exports: the shipped shared v2 alone."""
import json
import shutil
from pathlib import Path

from gr_semcod.runtime.bundle import MANIFEST, write_manifest

SHIPPED = Path(__file__).resolve().parents[2] / "models" / "semcod_32"
ROLES = ("semantic2_encoder", "semantic2_merger", "semantic2_decoder", "deepjscc_encoder@1/12",
         "deepjscc_decoder@1/12")


def shared_v2_bundle(out: Path) -> Path:
    """The shipped shared v2 and the Deep JSCC 1/12 alone in ``out``: no transmitter of its own, no
    per-CBR receiver, no machine receiver, no run records."""
    out.mkdir(parents=True)
    m = json.loads((SHIPPED / MANIFEST).read_text())
    m["models"] = {r: m["models"][r] for r in ROLES}
    for r in ROLES:
        shutil.copy(SHIPPED / m["models"][r]["file"], out / m["models"][r]["file"])
    m["meta"] = {}
    m["semantic2"] = {k: v for k, v in m["semantic2"].items() if k not in ("decoders", "transmitters")}
    for head in [k for k in m if k.startswith("semantic2_classifier")]:
        del m[head]
    write_manifest(out, m)
    return out
