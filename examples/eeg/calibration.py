"""How hard the synthetic data are, measured cheaply: a logistic-regression proxy and a sweep of
the generator's knobs (:mod:`lava_nt.examples.eeg.synthetic`).

The proxy (:func:`calibration_report`, :func:`calibration_from_features`) stands in for the SNN
study with linear models on the same binary inputs, split by the same protocol:

* **cross-person** (no tuning): L2 logistic regression on all instances of the other
  participants, tested on the person's test part;
* **cross-person, intercept refit** (the proxy of bias tuning): the cross-person weights kept,
  only the intercept refitted on the person's training part (one parameter: it can correct a
  shift of the person's inputs along the learnt direction, nothing else);
* **within-person**: logistic regression on the person's training part only, the L2 strength
  chosen on the validation part (honest) or by test accuracy (thesis, mirroring its epoch choice).

``thresholds="person"`` binarises every person at its own mean power (the thesis);
``"population"`` at the mean power of the other participants pooled (a front end frozen at
pretraining), see :mod:`lava_nt.examples.eeg.protocols`.

:func:`sensitivity_sweep` varies one knob at a time around a variant's settings, generates the
data for each point (:class:`~lava_nt.examples.eeg.synthetic.SyntheticConfig`), runs the proxy
for both threshold rules and returns the table ``lava-nt eeg sweep`` prints and writes into the
documentation. The proxy is a linear model, not the SNN: it tells which knobs make the data hard
and whether the differences between people are of the kind one intercept can correct.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import optimize

from lava_nt.examples.eeg.deap import (
    BASELINE_SAMPLES,
    N_EEG,
    Participant,
    list_participants,
    load_participant,
    participant_path,
)
from lava_nt.examples.eeg.features import FeatureCache, FeatureParams, participant_features
from lava_nt.examples.eeg.protocols import (
    make_split,
    population_thresholds,
    pretrain_data,
    tuning_data,
)
from lava_nt.examples.eeg.synthetic import SyntheticConfig, generate_participant

__all__ = [
    "SWEEP_KNOBS",
    "SweepPoint",
    "calibration_from_features",
    "calibration_report",
    "sensitivity_sweep",
    "sweep_markdown",
]


def _fit_logreg(x: np.ndarray, y: np.ndarray, lam: float) -> np.ndarray:
    """L2 logistic regression on +-1 features; returns ``[w..., b]``."""
    xs = 2.0 * x.astype(np.float64) - 1.0
    yy = y.astype(np.float64)
    n, d = xs.shape

    def f(wb):
        w, b = wb[:d], wb[d]
        z = xs @ w + b
        loss = np.mean(np.logaddexp(0.0, z) - yy * z) + 0.5 * lam * w @ w
        g = (1.0 / (1.0 + np.exp(-z)) - yy) / n
        return loss, np.concatenate([xs.T @ g + lam * w, [g.sum()]])

    res = optimize.minimize(f, np.zeros(d + 1), jac=True, method="L-BFGS-B")
    return res.x


def _refit_intercept(wb: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``wb`` with the intercept refitted by maximum likelihood on ``(x, y)``."""
    z0 = (2.0 * x.astype(np.float64) - 1.0) @ wb[:-1]
    yy = y.astype(np.float64)

    def f(b):
        z = z0 + b[0]
        return np.mean(np.logaddexp(0.0, z) - yy * z), np.array(
            [np.mean(1.0 / (1.0 + np.exp(-z)) - yy)]
        )

    b = optimize.minimize(f, [wb[-1]], jac=True, method="L-BFGS-B").x[0]
    return np.concatenate([wb[:-1], [b]])


def _accuracy(wb: np.ndarray, x: np.ndarray, y: np.ndarray) -> float:
    xs = 2.0 * x.astype(np.float64) - 1.0
    return float(np.mean(((xs @ wb[:-1] + wb[-1]) > 0) == (y == 1)))


def calibration_report(
    directory: os.PathLike | str,
    *,
    protocol: str = "honest",
    split_seeds: Iterable[int] = (0, 1, 2),
    participants: Iterable[int] | None = None,
    feature_seed: int = 0,
    cache_dir: os.PathLike | str | None = None,
    lambdas: Iterable[float] = (1e-3, 1e-2, 1e-1, 1.0),
    cross_lambda: float = 1e-2,
    thresholds: str = "person",
    verbose: bool = True,
) -> dict:
    """The proxy (module doc) on the DEAP-format files of ``directory``.

    For every participant ``p`` and split seed: the split of ``p`` by ``protocol``, then the
    cross-person, intercept-refit and within-person accuracies on ``p``'s test part. Prints and
    returns the means and per-person values. ``cache_dir``: keep the band powers in a
    :class:`~lava_nt.examples.eeg.features.FeatureCache` there; ``None`` computes them in memory.
    """
    d = Path(directory)
    ids = list_participants(d) if participants is None else [int(p) for p in participants]
    params = FeatureParams()
    if cache_dir is not None:
        cache = FeatureCache(cache_dir)
        feats = {p: cache.features(participant_path(d, p), params, feature_seed) for p in ids}
    else:
        feats = {
            p: participant_features(
                load_participant(participant_path(d, p)), seed=feature_seed, params=params
            )
            for p in ids
        }
    return calibration_from_features(
        feats, protocol=protocol, split_seeds=split_seeds, lambdas=lambdas,
        cross_lambda=cross_lambda, thresholds=thresholds, verbose=verbose,
    )  # fmt: skip


def calibration_from_features(
    feats: dict,
    *,
    protocol: str = "honest",
    split_seeds: Iterable[int] = (0, 1, 2),
    lambdas: Iterable[float] = (1e-3, 1e-2, 1e-1, 1.0),
    cross_lambda: float = 1e-2,
    thresholds: str = "person",
    verbose: bool = True,
) -> dict:
    """:func:`calibration_report` on already computed ``{participant: ParticipantFeatures}``."""
    if thresholds not in ("person", "population"):
        raise ValueError(f"thresholds must be 'person' or 'population', got {thresholds!r}")
    ids = sorted(feats)
    if len(ids) < 2:
        raise ValueError("calibration needs at least two participants")
    seeds = list(split_seeds)
    lambdas = list(lambdas)
    cross_w, th = {}, {}
    for p in ids:
        others = [feats[q] for q in ids if q != p]
        th[p] = population_thresholds(others) if thresholds == "population" else None
        x, y = pretrain_data(others, th[p])
        cross_w[p] = _fit_logreg(x, y, cross_lambda)
    cross = np.zeros((len(ids), len(seeds)))
    refit = np.zeros_like(cross)
    within = np.zeros_like(cross)
    for i, p in enumerate(ids):
        for j, s in enumerate(seeds):
            split = make_split(protocol, feats[p].valence_high, seed=s, participant=p)
            td = tuning_data(feats[p], split, th[p])
            cross[i, j] = _accuracy(cross_w[p], td.x_test, td.y_test)
            refit[i, j] = _accuracy(
                _refit_intercept(cross_w[p], td.x_train, td.y_train), td.x_test, td.y_test
            )
            best = (-1.0, None)
            for lam in lambdas:
                wb = _fit_logreg(td.x_train, td.y_train, lam)
                if protocol == "honest":
                    score = _accuracy(wb, td.x_val, td.y_val)
                else:
                    score = _accuracy(wb, td.x_test, td.y_test)
                if score > best[0]:
                    best = (score, wb)
            within[i, j] = _accuracy(best[1], td.x_test, td.y_test)
    report = {
        "protocol": protocol,
        "thresholds": thresholds,
        "participants": ids,
        "split_seeds": seeds,
        "cross_person_mean": float(cross.mean()),
        "intercept_refit_mean": float(refit.mean()),
        "within_person_mean": float(within.mean()),
        "cross_person": cross.mean(axis=1).tolist(),
        "intercept_refit": refit.mean(axis=1).tolist(),
        "within_person": within.mean(axis=1).tolist(),
    }
    if verbose:
        print(
            f"calibration proxy ({protocol} protocol, {thresholds} thresholds, {len(ids)} "
            f"participants, split seeds {seeds}):"
        )
        for name, a, key in (
            ("cross-person  (trained on others, no tuning)", cross, "cross_person_mean"),
            ("intercept refit (others' weights, own bias)  ", refit, "intercept_refit_mean"),
            ("within-person (own training trials only)    ", within, "within_person_mean"),
        ):
            print(
                f"  {name}: {report[key]:.3f}  [min {a.mean(1).min():.3f}, max "
                f"{a.mean(1).max():.3f}]"
            )
    return report


# ---------------------------------------------------------------------------------- sweep

#: Knob values swept by default, per variant (one knob at a time, the others at the variant's
#: settings; :meth:`SyntheticConfig.for_variant`).
SWEEP_KNOBS: dict[str, dict[str, tuple[float, ...]]] = {
    "direction": {
        "shared_strength": (0.05, 0.15, 0.3, 0.6),
        "person_strength": (0.2, 0.4, 0.6, 0.9),
        "noise": (0.3, 0.6, 0.9),
        "sign_flip": (0.0, 0.1, 0.3),
    },
    "shift_gain": {
        "tonic_shift": (0.0, 0.5, 1.0, 2.0),
        "gain_spread": (0.0, 0.3, 0.6),
        "shared_strength": (0.2, 0.4, 0.8),
        "noise": (0.3, 0.6, 0.9),
    },
}


@dataclass(frozen=True)
class SweepPoint:
    """One point of a sweep: the variant, the knob and its value, the threshold rule and the
    proxy's mean accuracies."""

    variant: str
    knob: str
    value: float
    default: bool
    thresholds: str
    cross: float
    refit: float
    within: float


def sensitivity_sweep(
    variants: Sequence[str] = ("direction", "shift_gain"),
    knobs: dict[str, dict[str, Sequence[float]]] | None = None,
    *,
    n_participants: int = 10,
    n_trials: int = 40,
    n_samples: int = 2048,
    seed: int = 0,
    split_seeds: Sequence[int] = (0, 1),
    thresholds: Sequence[str] = ("person", "population"),
    log: Callable[[str], None] = print,
) -> list[SweepPoint]:
    """One proxy evaluation per (variant, knob value, threshold rule); data generated in memory.

    ``knobs``: ``{variant: {knob: values}}`` (default :data:`SWEEP_KNOBS`); the variant's own
    setting of a knob is marked ``default`` (and evaluated once).
    """
    knobs = knobs or SWEEP_KNOBS
    out: list[SweepPoint] = []
    for variant in variants:
        base = SyntheticConfig.for_variant(
            variant, n_participants=n_participants, n_trials=n_trials, n_samples=n_samples,
            seed=seed,
        )  # fmt: skip
        for knob, values in knobs.get(variant, {}).items():
            if not hasattr(base, knob):
                raise ValueError(f"SyntheticConfig has no knob {knob!r}")
            for value in values:
                cfg = base.replace(**{knob: value})
                feats = {}
                for p in range(1, n_participants + 1):
                    obj = generate_participant(cfg, p)
                    lab = obj["labels"]
                    part = Participant(
                        id=p, eeg=obj["data"][:, :N_EEG, BASELINE_SAMPLES:], labels=lab,
                        valence_high=lab[:, 0] >= 5,
                    )  # fmt: skip
                    feats[p] = participant_features(part, seed=0)
                for th in thresholds:
                    r = calibration_from_features(
                        feats, split_seeds=split_seeds, thresholds=th, verbose=False
                    )
                    pt = SweepPoint(
                        variant, knob, float(value), float(value) == float(getattr(base, knob)),
                        th, r["cross_person_mean"], r["intercept_refit_mean"],
                        r["within_person_mean"],
                    )  # fmt: skip
                    out.append(pt)
                    log(
                        f"{variant:10s} {knob}={value:<5g} {th:10s} cross {pt.cross:.3f}  "
                        f"refit {pt.refit:.3f}  within {pt.within:.3f}"
                    )
    return out


def sweep_markdown(points: Sequence[SweepPoint]) -> list[str]:
    """The sweep as a markdown table: one line per knob value, the threshold rules side by side."""
    rules = sorted({p.thresholds for p in points}, key=["person", "population"].index)
    head = ["variant", "knob", "value"]
    for th in rules:
        head += [f"{th}: cross", f"{th}: +intercept", f"{th}: within"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    keys = []
    for p in points:
        k = (p.variant, p.knob, p.value)
        if k not in keys:
            keys.append(k)
    for k in keys:
        cells = [k[0], k[1], f"{k[2]:g}"]
        default = False
        for th in rules:
            pt = next((p for p in points if (p.variant, p.knob, p.value) == k and
                       p.thresholds == th), None)  # fmt: skip
            if pt is None:
                cells += ["-", "-", "-"]
                continue
            default = default or pt.default
            cells += [f"{pt.cross:.3f}", f"{pt.refit:.3f}", f"{pt.within:.3f}"]
        if default:
            cells[2] = f"**{cells[2]}**"
        lines.append("| " + " | ".join(cells) + " |")
    return lines
