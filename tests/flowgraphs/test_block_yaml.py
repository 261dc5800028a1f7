"""Every gr-semcod block YAML loads in GRC and generates code: one flowgraph holding them all."""
from pathlib import Path

import pytest
import yaml

from .conftest import GRC_DIR, grcc

MINE = sorted(p for p in GRC_DIR.glob("semcod_*.block.yml")
              if not p.name.startswith(("semcod_ofdm_analog", "semcod_channel")))


def test_every_block_generates(tmp_path):
    pytest.importorskip("gnuradio.gr")
    blocks, conns = [], []
    for i, path in enumerate(MINE):
        spec = yaml.safe_load(path.read_text())
        assert spec["category"] == "[Semantic Coding]"
        assert spec["documentation"].strip()
        for p in spec["parameters"]:
            assert "label" in p and "dtype" in p
        blocks.append({"name": f"{spec['id']}_0", "id": spec["id"], "parameters": {},
                       "states": {"coordinate": [20 + 200 * (i % 5), 100 + 120 * (i // 5)], "rotation": 0,
                                  "state": True}})
    # the stream ports: ZMQ source -> burst guard -> ZMQ sink
    conns.append(["semcod_zmq_sample_source_0", "0", "semcod_burst_guard_0", "0"])
    conns.append(["semcod_burst_guard_0", "0", "semcod_zmq_sample_sink_0", "0"])
    fg = {"options": {"parameters": {"id": "all_blocks", "generate_options": "qt_gui", "output_language": "python",
                                     "title": "all blocks"}, "states": {"coordinate": [8, 8], "rotation": 0,
                                                                        "state": "enabled"}},
          "blocks": blocks, "connections": conns, "metadata": {"file_format": 1}}
    grc = tmp_path / "all_blocks.grc"
    grc.write_text(yaml.safe_dump(fg))
    py = grcc(grc, tmp_path / "out")
    src = py.read_text()
    for path in MINE:
        bid = yaml.safe_load(path.read_text())["id"]
        assert f"self.{bid}_0 = " in src, bid


PICKERS = {"bundle": "dir_select", "path": "file_open", "reference": "file_open", "outdir": "dir_select",
           "csv_path": "file_save"}


def test_yaml_conventions():
    """GNU Radio's style: file pickers for paths, asserts on numeric ranges, the PDU text in docs/pdu.md."""
    for path in MINE:
        spec = yaml.safe_load(path.read_text())
        params = {p["id"]: p for p in spec["parameters"]}
        for pid, dtype in PICKERS.items():
            if pid in params:
                assert params[pid]["dtype"] == dtype, (path.name, pid)
        if "threads" in params:
            assert "${ threads >= 0 }" in spec.get("asserts", []), path.name
        assert "PDU formats (gr_semcod.blocks.common)" not in spec["documentation"], path.name
    assert (GRC_DIR.parent / "docs" / "pdu.md").is_file()
