"""Model selection of the image study, defined once: the epoch and the learning rate are chosen
on a validation part, never on the test part, and a tie keeps the first candidate (the earlier
epoch; the earlier learning rate in the grid's order)."""

from __future__ import annotations

import copy
from collections.abc import Callable, Hashable, Iterable

import numpy as np

__all__ = ["best_by_val", "first_max", "train_keeping_best"]


def first_max(keys: Iterable[Hashable], score: Callable[[Hashable], float]):
    """The first of ``keys`` with the highest ``score`` (None for no keys)."""
    best, best_score = None, None
    for k in keys:
        s = score(k)
        if best_score is None or s > best_score:
            best, best_score = k, s
    return best


def best_by_val(rows: list[dict]) -> tuple[float, float, float]:
    """``(lr, mean validation accuracy, mean test accuracy)`` of the learning rate with the best
    mean validation accuracy over seeds (rows with ``lr``, ``val_acc``, ``acc``)."""
    by_lr: dict = {}
    for r in rows:
        by_lr.setdefault(r["lr"], []).append(r)
    val = {lr: float(np.mean([r["val_acc"] for r in rs])) for lr, rs in by_lr.items()}
    lr = first_max(val, val.__getitem__)
    return lr, val[lr], float(np.mean([r["acc"] for r in by_lr[lr]]))


def train_keeping_best(
    model, epochs: int, run_epoch: Callable[[], None], validate: Callable[[], float] | None
) -> tuple[int, float | None]:
    """Run ``epochs`` epochs (``run_epoch`` trains one). With ``validate`` (the model's
    validation accuracy) the epoch with the best value is kept: its parameters are restored (a
    tie keeps the earlier epoch). Returns ``(epochs kept, validation accuracy there or None)``."""
    best = (-1.0, 0, None)  # (val acc, epochs, state)
    for epoch in range(1, epochs + 1):
        run_epoch()
        if validate is not None:
            acc = validate()
            if acc > best[0]:
                best = (acc, epoch, copy.deepcopy(model.state_dict()))
    if validate is None:
        return epochs, None
    model.load_state_dict(best[2])
    return best[1], best[0]
