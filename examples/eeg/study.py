"""A study: one LOSO run per pretraining seed, the commands that made it, the code it ran.

**Pretraining seeds.** A run directory pretrains every fold with one seed (``pretrain_seed`` of
its :class:`~lava_nt.examples.eeg.pipeline.PipelineConfig`). :func:`run_study` with several
``pretrain_seeds`` runs the first seed in ``RUN`` itself (exactly the run a single seed makes) and
every further seed ``s`` in the nested run directory ``RUN/pretrain-seed-S`` (same settings and
data, ``pretrain_seed = s``). Each is an ordinary run directory: resumable, settings checked on
resume, its own results. :func:`study_rows` (:mod:`lava_nt.examples.eeg.runs`, re-exported
here) reads them all (every row tagged with its ``pretrain_seed``) and the report
(:mod:`lava_nt.examples.eeg.report`) treats a participant's units over tuning seeds x pretraining
seeds as its replicates. Pretraining seeds can be added
later by running again with a longer list.

**Provenance.** :func:`~lava_nt.records.record_command` (re-exported here) appends one line per
completed ``lava-nt eeg run`` to ``RUN/commands.jsonl``: the command, the git commit of the code
(:func:`~lava_nt.records.git_commit`, with a flag when the working tree had uncommitted changes),
the lava-nt version and the time. Tables written into the documentation name these (``lava-nt eeg
report RUN --docs FILE``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path

from lava_nt.examples.eeg.pipeline import PipelineConfig, PipelineError, load_run_info, run_pipeline
from lava_nt.examples.eeg.report import write_report
from lava_nt.examples.eeg.runs import NESTED, nested_runs, study_rows
from lava_nt.records import COMMANDS, commands, git_commit, record_command

__all__ = [
    "COMMANDS",
    "NESTED",
    "commands",
    "git_commit",
    "nested_runs",
    "record_command",
    "run_study",
    "study_rows",
]


def run_study(
    run_dir,
    config: PipelineConfig,
    pretrain_seeds: Sequence[int],
    *,
    data_dir=None,
    synthetic=None,
    log: Callable[[str], None] = print,
    workers: int | None = None,
    ray_address: str | None = None,
    report: bool = True,
):
    """Run (or continue) one LOSO run per pretraining seed (module doc); returns the summaries.

    The first seed runs in ``run_dir``; the data of every nested run is the first run's data
    directory (generated there when ``data_dir`` is None).
    """
    seeds = list(pretrain_seeds)
    if not seeds or len(set(seeds)) != len(seeds):
        raise PipelineError(f"pretraining seeds must be distinct and at least one, got {seeds}")
    run_dir = Path(run_dir)
    summaries = []
    for k, s in enumerate(seeds):
        cfg = dataclasses.replace(config, pretrain_seed=int(s))
        d = run_dir if k == 0 else run_dir / NESTED.format(s)
        if k > 0:
            log(f"pretraining seed {s}: nested run {d}")
            info = load_run_info(run_dir)["data"]
            data_dir = Path(info["directory"])
            if not data_dir.is_absolute():
                data_dir = run_dir / data_dir
            synthetic = None
        summaries.append(
            run_pipeline(
                d,
                cfg,
                data_dir=data_dir,
                synthetic=synthetic,
                log=log,
                report=False,
                workers=workers,
                ray_address=ray_address,
            )  # fmt: skip
        )
    if report:
        summaries[0].report = write_report(run_dir, log=log)
    return summaries
