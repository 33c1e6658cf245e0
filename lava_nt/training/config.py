"""The trainer's settings (:class:`TrainConfig`), its result and the model-selection rule."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from lava_nt.device import resolve_device
from lava_nt.spec.validation import ParameterError, check_choice

LOSSES = ("ce", "mse")
SELECTIONS = ("val", "test", "last")


@dataclass
class TrainConfig:
    """Training settings (thesis defaults: Adam lr 1e-4, batch 32, L1 spike penalty 1e-3).

    ``select``: ``"val"`` keeps the epoch with the best validation accuracy (honest protocol),
    ``"test"`` the best test accuracy (the thesis protocol; reports must say so), ``"last"`` the
    final epoch. Ties of accuracy go to the epoch with the lower loss on the same set (the
    training objective incl. the spike-rate penalty, the history's ``val_loss``/``test_loss``):
    an epoch becomes the new best when its accuracy is strictly greater, or equal with a strictly
    lower loss (:func:`is_better`); otherwise the earlier epoch stays. ``patience``: stop after that
    many consecutive epochs without such an improvement (None = never).

    ``checkpoint_every_s``: ``train`` writes ``checkpoint.pt`` after the first epoch, then after
    an epoch when at least this many seconds passed since the last checkpoint, and always after
    the final epoch (or the early stop); 0 = after every epoch. A killed run loses at most about
    this much work; the resume stays exact. It and ``progress`` do not change the result, so a
    run may be resumed with other values of them.
    """

    epochs: int = 15
    lr: float = 1e-4
    batch_size: int = 32
    T: int = 25
    n_classes: int = 2
    loss: str = "ce"
    spike_l1: float = 1e-3
    target_rates: tuple[float, float] = (0.5, 0.0)
    weight_decay: float = 0.0
    select: str = "val"
    patience: int | None = None
    seed: int = 0
    progress: bool = False
    max_grad_norm: float | None = None
    compile: bool = False  # torch.compile the forward (one-time cost printed; eager fallback)
    compile_backend: str = "inductor"
    checkpoint_every_s: float = 30.0
    device: str = "cpu"  # "cpu", "cuda", "cuda:N" or "auto" (lava_nt.device)

    def __post_init__(self):
        resolve_device(self.device, "TrainConfig: 'device'")
        check_choice(self.loss, LOSSES, "TrainConfig", "loss")
        check_choice(self.select, SELECTIONS, "TrainConfig", "select")
        for name in ("epochs", "batch_size", "T", "n_classes"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                raise ParameterError(f"TrainConfig: '{name}' must be a positive integer, got {v!r}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ParameterError(f"TrainConfig: 'lr' must be positive, got {self.lr!r}")
        if not (self.spike_l1 >= 0 and math.isfinite(self.spike_l1)):
            raise ParameterError(
                f"TrainConfig: 'spike_l1' must be a finite number >= 0, got {self.spike_l1!r}"
            )
        p = self.patience
        if p is not None and (isinstance(p, bool) or not isinstance(p, int) or p <= 0):
            raise ParameterError(
                f"TrainConfig: 'patience' must be a positive integer or None, got {p!r}"
            )
        c = self.checkpoint_every_s
        if isinstance(c, bool) or not isinstance(c, int | float) or not math.isfinite(c) or c < 0:
            raise ParameterError(
                "TrainConfig: 'checkpoint_every_s' must be a finite number of seconds >= 0 "
                f"(0 = a checkpoint after every epoch), got {c!r}"
            )


# Fields that do not change a run's result: a checkpoint may be resumed with other values.
_RUN_ONLY_FIELDS = ("checkpoint_every_s", "progress", "device")


@dataclass
class TrainResult:
    """``best_epoch``/``best_metric``: the selected epoch and its selection metric (accuracy, or
    the epoch number for ``select="last"``); ``best_loss``: its loss on the selection set (None
    for ``"last"``); ``history``: one row per epoch run; ``stopped_early``: patience ran out."""

    best_epoch: int
    best_metric: float
    history: list[dict] = field(default_factory=list)
    stopped_early: bool = False
    best_loss: float | None = None


def is_better(
    metric: float, loss: float | None, best_metric: float, best_loss: float | None
) -> bool:
    """The model-selection rule: does an epoch with ``(metric, loss)`` replace the best so far?

    True when ``metric`` is strictly greater than ``best_metric``, or equal to it with a strictly
    lower ``loss`` than ``best_loss`` (the loss on the same set the metric was measured on). A NaN
    never wins, and without a loss (None on either side) ties keep the earlier epoch. Start a
    search with ``best_metric=-inf, best_loss=inf``.
    """
    if metric > best_metric:
        return True
    return metric == best_metric and loss is not None and best_loss is not None and loss < best_loss


def _selection(row: dict, select: str) -> tuple[float, float | None]:
    """The selection metric and loss of one history row."""
    if select == "last":
        return row["epoch"], None
    return row[f"{select}_acc"], row[f"{select}_loss"]


def _replay_selection(history: list[dict], select: str):
    """``(best_epoch, best_metric, best_loss, bad_epochs)`` the rule gives over ``history``."""
    best_epoch, best_metric, best_loss, bad = -1, -math.inf, math.inf, 0
    for row in history:
        metric, loss = _selection(row, select)
        if is_better(metric, loss, best_metric, best_loss):
            best_epoch, best_metric, best_loss, bad = row["epoch"], metric, loss, 0
        else:
            bad += 1
    return best_epoch, best_metric, best_loss, bad
