"""Train/validation/test splits of one (tuning) participant: the thesis protocol and the honest one.

Both work on trial labels and index arithmetic; instance ``i`` of a participant's flattened
``powers.reshape(-1, 160)`` is trial ``i // n_augment``, augmentation ``i % n_augment``
(:data:`lava_nt.examples.eeg.features.AUGMENTATIONS` order).

**Balanced** (both protocols): a test part of ``n`` items with ``h`` high-valence items is balanced
iff ``|h - (n - h)| <= balance_tol * n``; the default ``balance_tol = 0.10`` means the class counts
differ by at most 10% of the test size (equivalently ``|h/n - 0.5| <= 0.05``). With 8 test
trials this forces 4/4; with 32 test instances at most 17/15. Test parts are drawn uniformly at
random and redrawn until balanced (as the thesis does); an impossible request raises
:class:`SplitError` at once.

* ``thesis`` (:func:`thesis_split`, reproduces chapter 4): augment first, then split *instances*
  80/20 at random with the test part balanced; copies of one trial can land on both sides; no
  validation part; the trainer reports the best test accuracy over epochs
  (``selection == 'best_test_accuracy'``). Thresholds: mean over all the participant's instances.
* ``honest`` (:func:`honest_split`, the default): split *trials* before augmenting: a balanced test
  part of 20% of the trials, a validation part (``val_fraction`` of the remaining trials,
  stratified) for choosing the epoch (``selection == 'best_val_accuracy'``), the rest for
  training; each part then gets its own trials' augmentations. No trial is in two parts.
  Thresholds: mean over the training instances only (the data available at tuning time),
  applied to validation and test.

:func:`tuning_data` turns a participant's band powers and a split into binary inputs per part;
:func:`pretrain_data` does the same for the pretraining participants (all their data is training
data, thresholded at each one's own mean).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lava_nt.examples.eeg.features import (
    N_AUGMENT,
    ParticipantFeatures,
    binarize,
    fit_thresholds,
)

__all__ = [
    "PROTOCOLS",
    "Split",
    "SplitError",
    "TuningData",
    "honest_split",
    "is_balanced",
    "make_split",
    "population_thresholds",
    "pretrain_data",
    "thesis_split",
    "tuning_data",
]

PROTOCOLS = ("honest", "thesis")
DEFAULT_PROTOCOL = "honest"


class SplitError(ValueError):
    """A split cannot be made (e.g. no balanced test part exists)."""


def is_balanced(y: np.ndarray, balance_tol: float = 0.10) -> bool:
    """``|#high - #low| <= balance_tol * n`` for boolean labels ``y`` (empty: False)."""
    y = np.asarray(y, dtype=bool)
    n = y.size
    if n == 0:
        return False
    h = int(y.sum())
    return abs(2 * h - n) <= balance_tol * n + 1e-9


@dataclass(frozen=True, eq=False)
class Split:
    """Indices of one participant's split.

    ``*_trials``: sorted trial indices whose instances appear in each part (for ``thesis`` the same
    trial can appear in several parts). ``*_instances``: sorted flat instance indices
    (``trial * n_augment + augmentation``). ``selection`` tells the trainer how to pick the epoch.
    ``attempts``: how many random test parts were drawn until one was balanced.
    """

    protocol: str
    seed: int
    participant: int | None
    n_trials: int
    n_augment: int
    train_trials: np.ndarray
    val_trials: np.ndarray
    test_trials: np.ndarray
    train_instances: np.ndarray
    val_instances: np.ndarray
    test_instances: np.ndarray
    selection: str
    balance_tol: float
    test_fraction: float
    val_fraction: float
    attempts: int

    def part(self, name: str) -> np.ndarray:
        """Instance indices of ``'train'``, ``'val'`` or ``'test'``."""
        if name not in ("train", "val", "test"):
            raise ValueError(f"part must be train, val or test, got {name!r}")
        return getattr(self, f"{name}_instances")

    def describe(self) -> str:
        return (
            f"protocol={self.protocol} seed={self.seed} participant={self.participant}"
            f" trials train/val/test={len(self.train_trials)}/{len(self.val_trials)}/"
            f"{len(self.test_trials)} instances={len(self.train_instances)}/"
            f"{len(self.val_instances)}/{len(self.test_instances)} selection={self.selection}"
        )


def _check_labels(valence_high) -> np.ndarray:
    y = np.asarray(valence_high)
    if y.ndim != 1 or y.size == 0:
        raise ValueError(f"valence_high must be a non-empty 1-D array, got shape {y.shape}")
    if y.dtype != bool:
        if not np.isin(y, (0, 1)).all():
            raise ValueError("valence_high must be boolean (or 0/1)")
        y = y.astype(bool)
    return y


def _check_fraction(name: str, x: float, lo_open: bool = True) -> float:
    x = float(x)
    ok = (0.0 < x < 1.0) if lo_open else (0.0 <= x < 1.0)
    if not ok:
        raise ValueError(f"{name} must be in {'(0, 1)' if lo_open else '[0, 1)'}, got {x}")
    return x


def _balanced_draw(
    y: np.ndarray,
    n_test: int,
    rng: np.random.Generator,
    balance_tol: float,
    max_attempts: int,
    what: str,
) -> tuple[np.ndarray, int]:
    """Draw ``n_test`` of ``len(y)`` items uniformly until the draw is balanced."""
    n = y.size
    n_high = int(y.sum())
    n_low = n - n_high
    feasible = [
        h
        for h in range(n_test + 1)
        if abs(2 * h - n_test) <= balance_tol * n_test + 1e-9
        and h <= n_high
        and n_test - h <= n_low
    ]
    if n_test < 1 or n_test >= n or not feasible:
        hint = ""
        if n_test % 2 and balance_tol * n_test < 1:
            hint = f"; an odd test size below {1 / balance_tol:g} can never be balanced"
        raise SplitError(
            f"{what}: cannot draw a test part of {n_test} of {n} items ({n_high} high, {n_low} low"
            f" valence) with class counts differing by at most {balance_tol:.0%} of the test size"
            f"{hint}"
        )
    for attempt in range(1, max_attempts + 1):
        idx = rng.choice(n, size=n_test, replace=False)
        if is_balanced(y[idx], balance_tol):
            return np.sort(idx), attempt
    raise SplitError(
        f"{what}: no balanced test part in {max_attempts} random draws ({n_high} high, {n_low} low)"
    )


def _n_test(n: int, test_fraction: float) -> int:
    return max(1, int(math.floor(test_fraction * n + 0.5)))


def _instances(trials: np.ndarray, n_augment: int) -> np.ndarray:
    t = np.asarray(trials, dtype=np.int64)
    return np.sort((t[:, None] * n_augment + np.arange(n_augment)[None, :]).ravel())


def _empty() -> np.ndarray:
    return np.zeros(0, dtype=np.int64)


def thesis_split(
    valence_high,
    *,
    seed: int = 0,
    test_fraction: float = 0.2,
    balance_tol: float = 0.10,
    n_augment: int = N_AUGMENT,
    participant: int | None = None,
    max_attempts: int = 100_000,
) -> Split:
    """The thesis protocol: split augmented *instances* 80/20, test part balanced (module doc)."""
    y = _check_labels(valence_high)
    test_fraction = _check_fraction("test_fraction", test_fraction)
    if n_augment < 1:
        raise ValueError(f"n_augment must be >= 1, got {n_augment}")
    y_inst = np.repeat(y, n_augment)
    n = y_inst.size
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x7E515]))
    test, attempts = _balanced_draw(
        y_inst, _n_test(n, test_fraction), rng, balance_tol, max_attempts, _who(participant)
    )
    train = np.setdiff1d(np.arange(n), test)
    return Split(
        protocol="thesis",
        seed=int(seed),
        participant=participant,
        n_trials=y.size,
        n_augment=int(n_augment),
        train_trials=np.unique(train // n_augment),
        val_trials=_empty(),
        test_trials=np.unique(test // n_augment),
        train_instances=train,
        val_instances=_empty(),
        test_instances=test,
        selection="best_test_accuracy",
        balance_tol=float(balance_tol),
        test_fraction=test_fraction,
        val_fraction=0.0,
        attempts=attempts,
    )


def _who(participant) -> str:
    return "participant" if participant is None else f"participant {participant}"


def honest_split(
    valence_high,
    *,
    seed: int = 0,
    test_fraction: float = 0.2,
    val_fraction: float = 0.2,
    balance_tol: float = 0.10,
    n_augment: int = N_AUGMENT,
    participant: int | None = None,
    max_attempts: int = 100_000,
) -> Split:
    """The honest protocol (default): split *trials* before augmenting (see module doc).

    Test: ``round(test_fraction * trials)`` trials, balanced. Validation: ``round(val_fraction *
    remaining)`` of the remaining trials, stratified by class (at least one trial per class when
    that class has two or more remaining trials); ``val_fraction = 0`` gives no validation part.
    """
    y = _check_labels(valence_high)
    test_fraction = _check_fraction("test_fraction", test_fraction)
    val_fraction = _check_fraction("val_fraction", val_fraction, lo_open=False)
    if n_augment < 1:
        raise ValueError(f"n_augment must be >= 1, got {n_augment}")
    n = y.size
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x404E57]))
    test, attempts = _balanced_draw(
        y, _n_test(n, test_fraction), rng, balance_tol, max_attempts, _who(participant)
    )
    rest = np.setdiff1d(np.arange(n), test)
    n_val = int(math.floor(val_fraction * rest.size + 0.5)) if val_fraction > 0 else 0
    val = _empty()
    if n_val > 0:
        if n_val >= rest.size:
            raise SplitError(f"{_who(participant)}: no training trials left after validation")
        groups = [rest[y[rest]], rest[~y[rest]]]
        want = [n_val * g.size / rest.size for g in groups]
        k = [int(math.floor(w)) for w in want]
        # hand out the remainder by largest fraction, then make sure each class with >= 2 trials
        # left gets one validation trial if there is room
        for i in np.argsort([-(w - f) for w, f in zip(want, k, strict=True)]):
            if sum(k) < n_val:
                k[i] += 1
        for i in (0, 1):
            j = 1 - i
            if k[i] == 0 and groups[i].size >= 2 and k[j] > 1:
                k[i] += 1
                k[j] -= 1
        val = np.sort(
            np.concatenate(
                [rng.choice(g, size=m, replace=False) for g, m in zip(groups, k, strict=True)]
            )
        ).astype(np.int64)
    train = np.setdiff1d(rest, val)
    if train.size == 0:
        raise SplitError(f"{_who(participant)}: no training trials left")
    return Split(
        protocol="honest",
        seed=int(seed),
        participant=participant,
        n_trials=n,
        n_augment=int(n_augment),
        train_trials=train.astype(np.int64),
        val_trials=val,
        test_trials=test.astype(np.int64),
        train_instances=_instances(train, n_augment),
        val_instances=_instances(val, n_augment),
        test_instances=_instances(test, n_augment),
        selection="best_val_accuracy",
        balance_tol=float(balance_tol),
        test_fraction=test_fraction,
        val_fraction=val_fraction,
        attempts=attempts,
    )


def make_split(protocol: str, valence_high, **kwargs) -> Split:
    """``honest_split`` or ``thesis_split`` by name (``val_fraction`` is ignored for thesis)."""
    if protocol == "honest":
        return honest_split(valence_high, **kwargs)
    if protocol == "thesis":
        kwargs.pop("val_fraction", None)
        return thesis_split(valence_high, **kwargs)
    raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")


@dataclass(frozen=True, eq=False)
class TuningData:
    """Binary inputs (uint8 ``[N, 160]``) and labels (int64 0/1) per part of one participant."""

    protocol: str
    split: Split
    thresholds: np.ndarray
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def tuning_data(
    features: ParticipantFeatures, split: Split, thresholds: np.ndarray | None = None
) -> TuningData:
    """Threshold and slice one participant's powers according to ``split``.

    Thresholds: thesis, mean over all the participant's instances (as published); honest, mean over
    the training instances only; ``thresholds`` given (e.g. :func:`population_thresholds` of the
    pretraining participants): those, for every part.
    """
    powers = features.powers
    if powers.shape[:2] != (split.n_trials, split.n_augment):
        raise ValueError(
            f"powers {powers.shape[:2]} do not match the split ({split.n_trials} trials x"
            f" {split.n_augment} instances)"
        )
    flat = powers.reshape(-1, powers.shape[-1])
    y = np.repeat(np.asarray(features.valence_high, dtype=np.int64), split.n_augment)
    if split.protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {split.protocol!r}")
    if thresholds is not None:
        th = np.asarray(thresholds, dtype=np.float64)
    elif split.protocol == "thesis":
        th = fit_thresholds(flat)
    else:
        th = fit_thresholds(flat[split.train_instances])
    bits = binarize(flat, th)
    return TuningData(
        protocol=split.protocol,
        split=split,
        thresholds=th,
        x_train=bits[split.train_instances],
        y_train=y[split.train_instances],
        x_val=bits[split.val_instances],
        y_val=y[split.val_instances],
        x_test=bits[split.test_instances],
        y_test=y[split.test_instances],
    )


def population_thresholds(features: Sequence[ParticipantFeatures]) -> np.ndarray:
    """Per-feature mean power over every instance of the given participants, pooled (the
    thresholds of a frozen front end fitted on the pretraining population)."""
    if not features:
        raise ValueError("no participants to fit thresholds on")
    return fit_thresholds(
        np.concatenate([f.powers.reshape(-1, f.powers.shape[-1]) for f in features])
    )


def pretrain_data(
    features: Sequence[ParticipantFeatures], thresholds: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """All instances of the pretraining participants, each thresholded at its own mean (or at
    ``thresholds`` for everyone, e.g. :func:`population_thresholds`).

    Returns ``x`` uint8 ``[N, 160]`` and ``y`` int64 ``[N]`` (participants in the given order).
    """
    xs, ys = [], []
    for f in features:
        flat = f.powers.reshape(-1, f.powers.shape[-1])
        xs.append(binarize(flat, fit_thresholds(flat) if thresholds is None else thresholds))
        ys.append(np.repeat(np.asarray(f.valence_high, dtype=np.int64), f.powers.shape[1]))
    if not xs:
        raise ValueError("no pretraining participants")
    return np.concatenate(xs), np.concatenate(ys)
