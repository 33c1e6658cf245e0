"""What a unit's float tuning (:mod:`.units`) and its quantisation-aware tuning (:mod:`.qat`) share:
the run-directory layout (pretraining key, unit directory, model file, the trainer checkpoints a
finished directory drops), the trainer settings of a run and the data as tensors."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from lava_nt.examples.eeg.pipeline.config import PipelineConfig
from lava_nt.training import TrainConfig

#: The lava-nt model file of a pretraining or unit directory.
MODEL_FILE = "model.h5"
#: The QAT model's directory inside a unit directory (:mod:`.qat`).
QAT_DIR = "qat"
#: The trainer's files (:func:`lava_nt.training.train` with a ``run_dir``) that only resume an
#: interrupted training; a damaged checkpoint is moved aside as ``checkpoint.pt.corrupt-<n>``.
CHECKPOINT_FILES = ("checkpoint.pt", "best.pt")


def pretrain_key(group: Sequence[int]) -> str:
    return "without-" + "-".join(f"p{p:02d}" for p in group)


def unit_dir(run_dir: Path, participant: int, method: str, seed: int) -> Path:
    return Path(run_dir) / "units" / f"p{participant:02d}" / method / f"seed-{seed}"


def model_path(d: Path) -> Path:
    """The lava-nt model file of a pretraining or unit directory."""
    return Path(d) / MODEL_FILE


def remove_checkpoints(d: Path) -> list[Path]:
    """Remove the trainer checkpoints of the finished pretraining or unit directory ``d`` and of
    its QAT directory: in each directory that holds its model file (the trainer's result), its
    :data:`CHECKPOINT_FILES` and moved-aside corrupt checkpoints. ``metrics.jsonl`` (the
    per-epoch history, small) stays. Returns the removed files."""
    removed = []
    for where in (Path(d), Path(d) / QAT_DIR):
        if not model_path(where).is_file():
            continue  # not finished (or no trainer here): a checkpoint may still be needed
        names = [*CHECKPOINT_FILES, *(p.name for p in where.glob("checkpoint.pt.corrupt-*"))]
        for name in names:
            path = where / name
            if path.is_file():
                path.unlink()
                removed.append(path)
    return removed


def _train_config(config: PipelineConfig, *, tune: bool, seed: int) -> TrainConfig:
    if tune:
        return TrainConfig(
            epochs=config.tune_epochs,
            lr=config.tune_lr,
            batch_size=config.batch_size,
            T=config.T,
            spike_l1=config.spike_l1,
            select=config.select,
            patience=config.patience,
            seed=seed,
            progress=config.progress,
            device=config.device,
        )
    return TrainConfig(
        epochs=config.pretrain_epochs,
        lr=config.lr,
        batch_size=config.batch_size,
        T=config.T,
        spike_l1=config.spike_l1,
        select="last",
        seed=seed,
        progress=config.progress,
        device=config.device,
    )


def _tensors(x: np.ndarray, y: np.ndarray):
    return torch.as_tensor(np.asarray(x), dtype=torch.float32), torch.as_tensor(
        np.asarray(y), dtype=torch.int64
    )
