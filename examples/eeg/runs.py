"""The run directories of a study, read back: a run and its nested pretraining-seed runs
(:data:`NESTED`), their results rows (:func:`study_rows`) and the commands recorded in them
(:func:`commands`, from :mod:`lava_nt.records`). :mod:`lava_nt.examples.eeg.study` makes them,
:mod:`lava_nt.examples.eeg.report` reads them."""

from __future__ import annotations

from pathlib import Path

from lava_nt.examples.eeg.pipeline import config_from_info, load_results, load_run_info
from lava_nt.records import COMMANDS, commands

__all__ = ["COMMANDS", "NESTED", "commands", "nested_runs", "study_rows"]

NESTED = "pretrain-seed-{}"


def nested_runs(run_dir) -> list[tuple[int, Path]]:
    """``(pretrain_seed, directory)`` of the run and of its nested pretraining-seed runs."""
    run_dir = Path(run_dir)
    out = [(config_from_info(load_run_info(run_dir)).pretrain_seed, run_dir)]
    for d in sorted(run_dir.glob(NESTED.format("*"))):
        if (d / "run.json").is_file():
            out.append((config_from_info(load_run_info(d)).pretrain_seed, d))
    return sorted(out, key=lambda t: t[0])


def study_rows(run_dir) -> list[dict]:
    """The results rows of the run and its nested runs, each with its ``pretrain_seed``."""
    rows = []
    for seed, d in nested_runs(run_dir):
        for r in load_results(d):
            rows.append({**r, "pretrain_seed": r.get("pretrain_seed", seed)})
    return rows
