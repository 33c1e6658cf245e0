"""Leave-one-subject-out (LOSO) personalisation of the EEG valence SNN (thesis chapter 4).

For every left-out participant ``p`` (a *fold*):

1. **pretrain** a network on all the other participants of the data directory (weights and
   per-neuron biases; thesis: 15 epochs, Adam lr 1e-4, batch 32, spike L1 1e-3). The pretrained
   model is cached in the run directory, one per fold (``fold_group_size = k > 1`` is an explicit
   speed option: one pretraining, on everybody outside a group of ``k`` left-out participants,
   is shared by the group's folds; no left-out participant is ever in its own pretraining data);
2. for every **method** (:data:`METHODS`) and **seed**, copy the pretrained model, apply the
   tuning method (:func:`lava_nt.tuning.apply_tuning`: everything else frozen) and tune it on the
   participant's training part (thesis: up to 500 epochs), choose the epoch as the protocol says
   and evaluate on the participant's balanced test part;
3. optionally **deploy** the tuned model on Lava (:mod:`lava_nt.examples.eeg.deploy`): float and
   Loihi fixed point, all test samples in one long run per model and precision.

Protocols (:mod:`lava_nt.examples.eeg.protocols`): ``honest`` (default: the participant's trials
are split into train/validation/test before augmenting, the epoch is chosen on validation, patience
stops early) and ``thesis`` (split after augmenting, the best test epoch is reported, no early
stopping unless asked). The seed of a unit seeds its split, the tuning method's initialisation and
the trainer's batch order. Every report names the protocol.

Run directory (everything needed to resume lives here)::

    RUN/run.json                      settings, data source, participant pool (validated on resume)
    RUN/data/                         synthetic DEAP files (when no --data was given)
    RUN/features/                     band-power cache (FeatureCache)
    RUN/pretrained/<key>/<arch>/      model.h5, metrics.jsonl (trainer checkpoint while training)
    RUN/units/pNN/<method>/seed-S/    model.h5, metrics.jsonl, deploy.npz (checkpoint while
                                      training); qat/ the same for the QAT model (--qat)
    RUN/results.jsonl                 one JSON line per finished pretraining / unit / deployment
    RUN/report/                       tables and plots (:mod:`lava_nt.examples.eeg.report`)

The trainer's ``checkpoint.pt`` and ``best.pt`` only resume an interrupted training: once a
pretraining's or unit's model file is written and its results line recorded they are removed
(``PipelineConfig.keep_checkpoints`` / ``--keep-checkpoints`` keeps them), and a rerun removes
those a kill left behind in finished directories. Everything a finished unit is read for (the
report, its plots, the deployment, :func:`load_unit_model`) reads its model file.

``results.jsonl`` lines are appended with one ``write`` on an ``O_APPEND`` descriptor and fsynced;
a torn last line (a kill during the write) is ignored with a warning and terminated before the
next append. A run that is killed continues where it stopped: finished units (a ``tune`` line) are
skipped, an interrupted training resumes from its checkpoint (the trainer's resume is exact), and
the results equal those of an uninterrupted run. Everything is deterministic given the seeds.
"""

from __future__ import annotations

from lava_nt.examples.eeg.pipeline.config import (
    ARCHS,
    BASELINE_METHODS,
    DEFAULT_METHODS,
    METHODS,
    N_FEATURES,
    PROTOCOL_TEXT,
    QUICK_METHODS,
    THRESHOLDS,
    Arch,
    Method,
    PipelineConfig,
    PipelineError,
    build_arch,
    check_methods,
)
from lava_nt.examples.eeg.pipeline.data import DataInfo, load_features, prepare_data
from lava_nt.examples.eeg.pipeline.journal import (
    LOCK,
    RESULTS,
    RUN_JSON,
    SCHEMA,
    append_result,
    config_from_info,
    load_results,
    load_run_info,
)
from lava_nt.examples.eeg.pipeline.run import RunSummary, run_pipeline
from lava_nt.examples.eeg.pipeline.units import (
    MODEL_FILE,
    fold_groups,
    load_unit_model,
    model_path,
    pretrain_key,
    unit_data,
    unit_dir,
)

__all__ = [
    "ARCHS",
    "Arch",
    "BASELINE_METHODS",
    "THRESHOLDS",
    "DataInfo",
    "LOCK",
    "MODEL_FILE",
    "model_path",
    "Method",
    "N_FEATURES",
    "PROTOCOL_TEXT",
    "RESULTS",
    "RUN_JSON",
    "SCHEMA",
    "append_result",
    "config_from_info",
    "fold_groups",
    "load_features",
    "prepare_data",
    "pretrain_key",
    "unit_dir",
    "DEFAULT_METHODS",
    "METHODS",
    "PipelineConfig",
    "PipelineError",
    "QUICK_METHODS",
    "RunSummary",
    "build_arch",
    "check_methods",
    "load_results",
    "load_run_info",
    "load_unit_model",
    "run_pipeline",
    "unit_data",
]
