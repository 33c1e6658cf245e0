"""Reading the trainer's checkpoint (validated, with its selection state replayed)."""

from __future__ import annotations

import warnings
from dataclasses import asdict
from pathlib import Path

import torch

from lava_nt.io import CorruptFileError, load_torch, move_aside
from lava_nt.spec.validation import ParameterError
from lava_nt.training.config import TrainConfig, _replay_selection, comparable

_CHECKPOINT_KEYS = {
    "model": dict,
    "optimizer": dict,
    "generator": torch.Tensor,
    "torch_rng": torch.Tensor,
    "history": list,
    "best": dict,
    "epoch": int,
    "bad_epochs": int,
    "config": dict,
}


def _load_checkpoint(ckpt: Path, cfg: TrainConfig) -> dict | None:
    """Read a checkpoint of this configuration; fill in and verify its selection state.

    Returns None when the file is truncated or corrupt: it is then moved aside to
    ``checkpoint.pt.corrupt-<n>`` (with a warning) and the run starts from scratch. A file that
    would build Python objects when loaded raises :class:`~lava_nt.io.UnsafeFileError` (nothing
    in it runs); a readable file that is not a checkpoint of this trainer raises
    :class:`ParameterError` naming it."""
    try:
        state = load_torch(ckpt, what="trainer checkpoint")
    except CorruptFileError as exc:
        aside = move_aside(ckpt)
        warnings.warn(
            f"train: {exc}. It was moved to '{aside}' and this training starts from scratch.",
            RuntimeWarning,
            stacklevel=3,
        )
        return None
    bad = (
        [f"it holds a {type(state).__name__}, not a dict"]
        if not isinstance(state, dict)
        else [
            f"'{k}' is missing or not a {t.__name__}"
            for k, t in _CHECKPOINT_KEYS.items()
            if not isinstance(state.get(k), t)
        ]
    )
    if bad:
        raise ParameterError(
            f"train: '{ckpt}' is not a checkpoint of this trainer ({'; '.join(bad)}); delete "
            "it, use another run directory or resume=False"
        )
    saved, ours = comparable(state["config"]), comparable(asdict(cfg))
    if saved != ours:
        diff = sorted(k for k in saved.keys() | ours.keys() if saved.get(k) != ours.get(k))
        raise ParameterError(
            f"train: {ckpt} was written with a different configuration (differs in "
            f"{', '.join(diff)}); use another run directory or resume=False"
        )
    best = state["best"]
    b_epoch, b_metric, b_loss, bad = _replay_selection(state["history"], cfg.select)
    if (b_epoch, bad) != (best["epoch"], state["bad_epochs"]):
        if "loss" in best:
            raise ParameterError(
                f"train: {ckpt} is inconsistent: its best epoch {best['epoch']} and "
                f"{state['bad_epochs']} epochs without improvement do not follow from its "
                f"history (epoch {b_epoch}, {bad}); use another run directory or resume=False"
            )
        # a checkpoint of an older trainer (ties kept the first epoch) that the current rule
        # would have continued differently: resuming it could not give an uninterrupted result
        raise ParameterError(
            f"train: {ckpt} was written by an older trainer whose model selection chose epoch "
            f"{best['epoch']} where the current rule (ties of accuracy broken by the lower "
            f"loss) chooses epoch {b_epoch}; it cannot be resumed exactly. Use another run "
            "directory or resume=False"
        )
    if "loss" not in best:  # older trainer; same choice, so its loss is in the history
        best = {**best, "loss": b_loss}
    state["best"] = best
    return state
