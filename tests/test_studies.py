"""The recorded studies (``studies/``): their records regenerate the documentation's blocks on
the current code, and the helper that keeps whole folds for a continuation."""

from __future__ import annotations

import json
import os
import re
import runpy
import shutil
import subprocess
from pathlib import Path

import pytest

from lava_nt.docs_blocks import blocks
from lava_nt.examples.abstracted.report import docs_block as abstracted_block
from lava_nt.examples.eeg.report.compare import comparison_block
from lava_nt.examples.eeg.report.docs import run_block
from lava_nt.examples.eeg.sweep import recorded_sweep_block
from lava_nt.examples.images.report import docs_block as images_block
from lava_nt.ondevice.compare import docs_block as compare_block
from lava_nt.ondevice.compare import load_run as load_compare_run

ROOT = Path(__file__).resolve().parents[1]
STUDIES = ROOT / "studies"
# study run directory (under studies/) -> the documentation blocks its records make: (page, block
# name, part); part "against:RUN" is the paired comparison with another study run (--against),
# "images" the block of an image study (`lava-nt images report`), "ondevice-compare" of the
# digits comparison (`python -m lava_nt.ondevice.compare --report`), "sweep" of `lava-nt eeg sweep`,
# "abstracted" of `lava-nt abstracted run`
DOCS_BLOCKS = {
    "abstracted-eeg4": (("docs/abstracted_gradients.md", "eeg", "abstracted"),),
    "abstracted-long": (("docs/abstracted_gradients.md", "steps", "abstracted"),),
    "abstracted-t1": (("docs/abstracted_gradients.md", "table1", "abstracted"),),
    "eeg-ondevice": (("docs/on_device.md", "eeg-ondevice", "all"),),
    "eeg-ondevice-gate": (("docs/eeg.md", "ondevice-gate", "all"),),
    "eeg-quick": (("docs/eeg.md", "quick", "all"),),
    "eeg-sparse-grad/0.1": (("docs/eeg.md", "sparse-grad-0.1", "against:eeg-sparse-grad/dense"),),
    "eeg-sparse-grad/0.5": (("docs/eeg.md", "sparse-grad-0.5", "against:eeg-sparse-grad/dense"),),
    "eeg-sparse-grad/dense": (),  # the base of the two comparisons
    "eeg-sweep": (("docs/eeg.md", "sweep", "sweep"),),
    "eeg-shift-gain": (("docs/eeg.md", "positive-control", "all"),),
    "eeg-shift-gain-person": (("docs/eeg.md", "positive-control-person", "all"),),
    "images-ondevice": (("docs/images.md", "ondevice", "images"),),
    "ondevice-compare": (("docs/on_device.md", "compare", "ondevice-compare"),),
    "ondevice-compare-gate": (("docs/on_device.md", "compare-gate", "ondevice-compare"),),
    "ondevice-compare-kinds": (("docs/on_device.md", "compare-kinds", "ondevice-compare"),),
    "images-val": (("docs/images.md", "full", "images"),),
    "eeg-thesis": (
        ("docs/eeg.md", "thesis", "all"),
        ("docs/qat.md", "thesis-deployment", "deployment"),
        ("docs/fixed_point.md", "thesis-deployment", "deployment"),
        ("README.md", "thesis-claims", "claims"),
    ),
}
CASES = [(study, *block) for study, bs in sorted(DOCS_BLOCKS.items()) for block in bs]


@pytest.mark.parametrize("study,page,name,part", CASES)
def test_docs_block_regenerates_from_the_committed_records(
    study, page, name, part, monkeypatch, tmp_path
):
    monkeypatch.chdir(ROOT)  # the block names the study by its path in the repository
    body = blocks((ROOT / page).read_text())[name]
    if part == "images":
        regen = f"lava-nt images report studies/{study} --docs {page} --docs-name {name}"
        copy = shutil.copytree(STUDIES / study, tmp_path / study)  # the report writes its CSVs
        made = images_block(copy, regen)
    elif part == "ondevice-compare":
        kinds = load_compare_run(STUDIES / study)[0] == "kinds"
        regen = f"python -m lava_nt.ondevice.compare --report studies/{study} --docs {page}"
        if name != ("compare-kinds" if kinds else "compare"):
            regen += f" --docs-name {name}"
        made = compare_block(f"studies/{study}", regen)
    elif part == "abstracted":
        regen = f"lava-nt abstracted report studies/{study} --docs {page}"
        if name != "table1":
            regen += f" --docs-name {name}"
        made = abstracted_block(f"studies/{study}", regen)
    elif part == "sweep":
        regen = f"lava-nt eeg sweep --report studies/{study} --docs {page} --docs-name {name}"
        made = recorded_sweep_block(f"studies/{study}", regen)
    elif part.startswith("against:"):
        base = part.split(":", 1)[1]
        made = comparison_block(f"studies/{study}", f"studies/{base}", name, page)
    else:
        made = run_block(f"studies/{study}", name, page, part=part)
    assert body.strip() == made.strip()


def test_every_study_with_records_is_listed_and_documented():
    listed = (STUDIES / "README.md").read_text()
    for d in sorted(p for p in STUDIES.iterdir() if p.is_dir()):
        assert f"]({d.name}/README.md)" in listed, d.name
        runs = [d] if (d / "commands.jsonl").is_file() else sorted(d.glob("*/commands.jsonl"))
        assert runs, f"{d}: a study holds a run's records or directories of runs"
        for run in (r if r.is_dir() else r.parent for r in runs):
            eeg = (run / "run.json", run / "results.jsonl")
            images = (run / "ann.csv", run / "ondevice.csv")  # images run / images ondevice
            # python -m lava_nt.ondevice.compare, lava-nt eeg sweep, lava-nt abstracted run
            other = (run / "results.json", run / "sweep.csv", run / "results.csv", run / "eeg.csv")
            assert all(f.is_file() for f in eeg) or any(f.is_file() for f in images + other), run
            key = str(run.relative_to(STUDIES))
            assert key in DOCS_BLOCKS, f"{key}: which docs block do its records make?"


def _row(kind, p, m, s):
    return {"schema": 1, "kind": kind, "participant": p, "method": m, "seed": s}


def test_complete_folds_keeps_only_whole_folds(tmp_path, capsys):
    src, dst = tmp_path / "records", tmp_path / "run"
    src.mkdir()
    info = {"schema": 1, "config": {}, "requested": {"methods": ["none", "nt2"], "seeds": [0, 1]}}
    (src / "run.json").write_text(json.dumps(info))
    (src / "commands.jsonl").write_text('{"command": "lava-nt eeg run"}\n')
    rows = [{"schema": 1, "kind": "pretrain", "key": f"without-p0{p}", "arch": "main",
             "left_out": [p]} for p in (1, 2)]  # fmt: skip
    rows += [_row(k, p, m, s) for p in (1, 2) for m in ("none", "nt2") for s in (0, 1)
             for k in ("tune", "deploy") if (p, m, s, k) != (2, "nt2", 1, "deploy")]  # fmt: skip
    text = "".join(json.dumps(r) + "\n" for r in rows) + '{"schema": 1, "kind": "tu'
    (src / "results.jsonl").write_text(text)
    nested = src / "pretrain-seed-1"  # a pretraining-seed run: fold 2 complete there
    nested.mkdir()
    (nested / "run.json").write_text(json.dumps(info))
    full = rows + [_row("deploy", 2, "nt2", 1)]
    (nested / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in full))
    script = runpy.run_path(str(STUDIES / "eeg-thesis" / "complete_folds.py"))
    with pytest.warns(RuntimeWarning, match="unreadable line"):  # the torn last line
        script["main"](str(src), str(dst))
    assert "continue with: FIRST=1 " in capsys.readouterr().out  # the pair 1 2 is not finished
    kept = [json.loads(ln) for ln in (dst / "results.jsonl").read_text().splitlines()]
    assert [r for r in kept if r["kind"] == "pretrain"] == rows[:1]
    assert {r["participant"] for r in kept if r["kind"] != "pretrain"} == {1}
    assert len(kept) == 1 + 8
    assert (dst / "commands.jsonl").read_text() == (src / "commands.jsonl").read_text()
    kept = (dst / "pretrain-seed-1" / "results.jsonl").read_text().splitlines()
    assert [json.loads(ln) for ln in kept] == full
    with pytest.raises(SystemExit, match="already holds"):
        script["main"](str(src), str(dst))


def test_every_generated_block_is_from_committed_records():
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    found = {
        (str(page.relative_to(ROOT)), name) for page in pages for name in blocks(page.read_text())
    }
    recorded = {(page, name) for _, page, name, _ in CASES}
    assert found - recorded == set(), "a generated block needs committed records in studies/"
    assert recorded <= found


# prose that interprets a generated block, and the block whose numbers it quotes: (page, the
# heading or bold lead that opens the prose, the block). When the records change (more seeds,
# more participants), the block is regenerated and this test fails until the prose follows.
INTERPRETATIONS = (
    ("docs/eeg.md", "### Verdict on the thesis' claims", "thesis"),
    ("docs/qat.md", "**What the 32 participants show.**", "thesis-deployment"),
    ("docs/fixed_point.md", "In short, over the spiking units", "thesis-deployment"),
)
INTERVAL = re.compile(r"[+-]\d+\.\d+ \[[+-]\d+\.\d+, [+-]\d+\.\d+\]")


@pytest.mark.parametrize(("page", "lead", "name"), INTERPRETATIONS)
def test_prose_quotes_the_numbers_of_its_generated_block(page, lead, name):
    text = (ROOT / page).read_text()
    block = blocks(text)[name]
    start = text.index(lead)
    end = text.find("\n#", start + len(lead))
    prose = " ".join(text[start : end if end > 0 else len(text)].split())  # one line
    quoted = INTERVAL.findall(prose)
    assert len(quoted) >= 3, (page, quoted)  # the prose states its numbers as intervals
    for interval in quoted:
        assert interval in block, f"{page}: '{interval}' is not in the block '{name}'"


def test_thesis_run_script_gives_one_command_per_pair_and_further_seed(tmp_path):
    """run.sh: one `eeg run` per pair of participants, and with several pretraining seeds one per
    further seed (0 1, then 0 1 2), so each nested pair is recorded when it finishes."""
    fake = tmp_path / "lava-nt"
    fake.write_text(f'#!/bin/sh\necho "$@" >> {tmp_path}/calls\n')
    fake.chmod(0o755)
    script = STUDIES / "eeg-thesis" / "run.sh"

    def calls(**env):
        (tmp_path / "calls").unlink(missing_ok=True)
        subprocess.run([str(script), "runs/x", str(fake)], check=True, cwd=tmp_path, timeout=60,
                       env={**os.environ, **env})  # fmt: skip
        out = []
        for line in (tmp_path / "calls").read_text().splitlines():
            a, b = line.split("--participants ")[1].split()[:2]
            seeds = (
                line.split("--pretrain-seeds ")[1].split(" --")[0]
                if "--pretrain-seeds" in line
                else ""
            )
            out.append((a, b, seeds))
        return out

    assert calls(FIRST="29") == [("29", "30", ""), ("31", "32", "")]
    assert calls(PRETRAIN_SEEDS="0 1 2", LAST="3", METHODS="none nt2") == [
        ("1", "2", "0 1"), ("1", "2", "0 1 2"), ("3", "4", "0 1"), ("3", "4", "0 1 2")
    ]  # fmt: skip
