"""lava_nt.records: the command lines a results directory keeps, and how a rerun replaces them."""

from __future__ import annotations

import json

from lava_nt.commands.abstracted import recorded_parts
from lava_nt.records import COMMANDS, commands, record_command

CODE = {"commit": "0123456789", "dirty": False}


def test_lines_append_replace_and_supersede(tmp_path):
    record_command(tmp_path, ["a", "1"], code=CODE)
    record_command(tmp_path, ["b", "2"], code=CODE, fields={"parts": ["x"]})
    assert [c["command"] for c in commands(tmp_path)] == ["lava-nt a 1", "lava-nt b 2"]
    first, second = commands(tmp_path)
    assert second["parts"] == ["x"] and first["commit"] == "0123456789"
    # a callable drops the earlier lines it names and keeps the rest, in order
    record_command(tmp_path, ["c", "3"], code=CODE, replace=lambda line: "a 1" in line["command"])
    assert [c["command"] for c in commands(tmp_path)] == ["lava-nt b 2", "lava-nt c 3"]
    # an unreadable line is not a command: it is skipped by the reader and dropped by a rewrite
    with open(tmp_path / COMMANDS, "a") as f:
        f.write("{broken\n")
    record_command(tmp_path, ["d"], code=CODE, replace=lambda line: False)
    lines = (tmp_path / COMMANDS).read_text().splitlines()
    assert [json.loads(x)["command"] for x in lines] == ["lava-nt b 2", "lava-nt c 3", "lava-nt d"]
    record_command(tmp_path, ["e"], program="python", code=CODE, replace=True)
    assert [c["command"] for c in commands(tmp_path)] == ["python e"]


def test_abstracted_lines_name_their_parts():
    line = {"command": "lava-nt abstracted run --out d", "parts": ["eeg"]}
    assert recorded_parts(line) == ["eeg"]
    assert recorded_parts({"command": "lava-nt abstracted run --out d"}) == ["table1"]
    line = {"command": "lava-nt abstracted run --parts eeg table1 --seeds 2 --out d"}
    assert recorded_parts(line) == ["eeg", "table1"]
