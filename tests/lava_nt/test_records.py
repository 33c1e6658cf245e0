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


def test_recorded_run_checks_records_and_replaces_its_own_command(tmp_path, capsys):
    from lava_nt.cli import build_parser
    from lava_nt.commands.recorded import recorded_run

    out = tmp_path / "run"
    parser = build_parser()
    args = parser.parse_args(["images", "run", "--quick", "--out", str(out)])
    ran = []
    work = lambda: ran.append(1)  # noqa: E731
    assert recorded_run("lava-nt images", out, args, ["images", "run"], work) == 0
    record_command(out, ["images", "ondevice", "--out", str(out)], code=CODE)
    assert recorded_run("lava-nt images", out, args, ["images", "run"], work) == 0
    # twice: one line of `images run` (the rerun's), the other command's line kept
    made = [c["command"] for c in commands(out)]
    assert made == [
        f"lava-nt images ondevice --out {out}",
        f"lava-nt images run --quick --out {out}",
    ]
    assert ran == [1, 1]

    class Missing(Exception):
        pass

    def fails():
        raise Missing("no data here")

    assert recorded_run("lava-nt images", out, args, ["images", "run"], fails,
                        user_errors=(Missing,)) == 2  # fmt: skip
    assert "lava-nt images: no data here" in capsys.readouterr().err
    assert [c["command"] for c in commands(out)] == made  # a failed command records nothing
    blocked = tmp_path / "file"
    blocked.write_text("x")
    assert recorded_run("lava-nt images", blocked, args, ["images", "run"], work) == 1
    assert "is not a directory" in capsys.readouterr().err and ran == [1, 1]
