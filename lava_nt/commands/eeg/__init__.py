"""``lava-nt eeg``: the EEG valence personalisation example (thesis chapter 4).

lava-nt eeg generate [--out DIR] [--participants N] [--trials N] [--samples N] [--seed S] [--yes]
    Write synthetic data in the DEAP ``data_preprocessed_python`` format (``sNN.dat``); 3.3 GB at
    the defaults, so above 1 GB it needs ``--yes``.
lava-nt eeg run [--data DIR] [--out RUN_DIR] [--participants ...] [--methods ...] [--seeds ...]
                [--protocol honest|thesis] [--pretrain-epochs N] [--tune-epochs N] [--quick]
                [--no-lava] [--workers N] [--ray-address ADDR] ...
    Leave-one-subject-out pretraining, per-person tuning with each method and seed, Lava
    deployment of every tuned model, then the report. Resumable: run it again with the same
    ``--out`` after an interruption.
lava-nt eeg report RUN_DIR [--docs FILE --docs-name NAME]
    (Re)write the tables, statistics and plots of a run directory (and its generated block in a
    documentation page).
lava-nt eeg sweep [--out DIR] [--variants ...] [--docs FILE --docs-name NAME]
    The generator's knobs against a logistic-regression proxy of the study.

The modules:

- :mod:`~lava_nt.commands.eeg.parser`: the argparse definitions (``register``).
- :mod:`~lava_nt.commands.eeg.config`: ``run``'s options -> ``PipelineConfig`` and
  ``SyntheticConfig`` (``--quick``'s settings, number lists and ranges, ``--synthetic-set``).
- :mod:`~lava_nt.commands.eeg.errors`: which failures are the user's (reported in one line) and
  how they are reported.
- :mod:`~lava_nt.commands.eeg.generate`, :mod:`~lava_nt.commands.eeg.run`,
  :mod:`~lava_nt.commands.eeg.report`, :mod:`~lava_nt.commands.eeg.sweep`: the subcommands.
- :mod:`~lava_nt.commands.eeg.summary`: the mean accuracies ``run`` prints when it finishes.
"""

from __future__ import annotations

from lava_nt.commands.arguments import reproducing_argv
from lava_nt.commands.eeg.config import QUICK, build_config
from lava_nt.commands.eeg.generate import GENERATE_CONFIRM_BYTES, cmd_generate
from lava_nt.commands.eeg.parser import register
from lava_nt.commands.eeg.report import cmd_report
from lava_nt.commands.eeg.run import cmd_run
from lava_nt.commands.eeg.sweep import cmd_sweep

__all__ = [
    "GENERATE_CONFIRM_BYTES",
    "QUICK",
    "build_config",
    "cmd_generate",
    "cmd_report",
    "cmd_run",
    "cmd_sweep",
    "register",
    "reproducing_argv",
]
