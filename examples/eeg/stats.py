"""Statistics of an EEG leave-one-subject-out study, computed with :mod:`scipy.stats`.

The unit of analysis is the **participant**: every (method, participant) cell is the mean test
accuracy over that participant's units (tuning seeds x pretraining seeds), and intervals and tests
run over participants.

* :func:`mean_interval`: mean with a two-sided t interval over participants
  (``scipy.stats.t.interval``).
* :func:`paired_test`: the paired difference of two methods over the participants both have (each
  participant's value over the units both methods have, :func:`paired_means`): mean, t interval,
  Wilcoxon signed-rank p (``scipy.stats.wilcoxon``, zero differences dropped as its default
  ``zero_method="wilcox"`` does; p = 1 when every difference is 0) and a sign-flip permutation p
  (``scipy.stats.permutation_test`` with ``permutation_type="samples"``: exact when ``2**n`` is
  at most ``n_resamples``).
* :func:`trial_bootstrap`: a percentile bootstrap (``scipy.stats.bootstrap``) that resamples the
  **distinct trials** of every unit's test part, all instances of a trial together. The test part
  of a person holds ``n_augment`` instances of each test trial
  (:mod:`lava_nt.examples.eeg.protocols`), and after thresholding the ``shift`` and ``flip``
  instances are the same binary input as ``original`` (:mod:`lava_nt.examples.eeg.features`), so
  the instances are not independent samples; resampling trials keeps them together. Units are
  resampled independently (each is its own stratum); the statistic is the mean over participants
  of the mean over that participant's units. For a difference of two methods the same trials are
  resampled for both (their units share the split, which depends only on the participant and the
  seed). ``by="instance"`` resamples instances instead: the too-narrow interval that treats the
  copies as independent, kept for comparison.
* :func:`verdicts`: the thesis' claims (:data:`CLAIMS`) against the paired intervals.
* :func:`pretrain_seed_stats`: with several pretraining seeds, each seed alone (intervals and paired
  differences on its units) and how far accuracy moves with the pretraining seed against the
  tuning seed (:class:`SeedSpread`).

Every function takes plain numbers and arrays, so the tests compare them with scipy on known
inputs.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

__all__ = [
    "CLAIMS",
    "CONFIDENCE",
    "Claim",
    "Interval",
    "PairedTest",
    "PretrainSeedStats",
    "SeedSpread",
    "TestPart",
    "Verdict",
    "difference_parts",
    "mean_interval",
    "paired_means",
    "paired_test",
    "participant_means",
    "pretrain_seed_stats",
    "summarise",
    "test_parts",
    "trial_bootstrap",
    "unit_key",
    "verdict",
    "verdicts",
]

CONFIDENCE = 0.95
N_RESAMPLES = 9999


@dataclass(frozen=True)
class Interval:
    """A mean and its two-sided interval (``lo``/``hi`` None when it cannot be computed)."""

    mean: float | None
    lo: float | None
    hi: float | None
    n: int

    def text(self, digits: int = 3, signed: bool = False) -> str:
        f = f"{{:+.{digits}f}}" if signed else f"{{:.{digits}f}}"
        if self.mean is None:
            return "-"
        if self.lo is None or self.hi is None:
            return f.format(self.mean)
        return f"{f.format(self.mean)} [{f.format(self.lo)}, {f.format(self.hi)}]"


def _finite(values) -> np.ndarray:
    a = np.asarray([v for v in values if v is not None], dtype=np.float64)
    return a[np.isfinite(a)]


def mean_interval(values: Iterable[float], confidence: float = CONFIDENCE) -> Interval:
    """Mean and t interval of ``values`` (one per participant); no interval below 2 values.

    A set of equal values has the degenerate interval ``[mean, mean]``.
    """
    a = _finite(values)
    n = int(a.size)
    if n == 0:
        return Interval(None, None, None, 0)
    m = float(a.mean())
    if n < 2:
        return Interval(m, None, None, n)
    sem = float(stats.sem(a))
    if sem == 0.0:
        return Interval(m, m, m, n)
    lo, hi = stats.t.interval(confidence, n - 1, loc=m, scale=sem)
    return Interval(m, float(lo), float(hi), n)


@dataclass(frozen=True)
class PairedTest:
    """``a - b`` over the participants both methods have (``participants``, ``differences``)."""

    a: str
    b: str
    participants: tuple
    differences: tuple[float, ...]
    interval: Interval
    wilcoxon_p: float | None
    permutation_p: float | None
    bootstrap: Interval | None = None  # trial-level bootstrap of the mean difference


def paired_test(
    a: Sequence[float],
    b: Sequence[float],
    *,
    names: tuple[str, str] = ("a", "b"),
    participants: Sequence | None = None,
    confidence: float = CONFIDENCE,
    n_resamples: int = N_RESAMPLES,
    seed: int = 0,
) -> PairedTest:
    """Paired comparison of two equally long sequences (one value per participant)."""
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(
            f"paired_test needs two equally long 1-D sequences, got {x.shape} and {y.shape}"
        )
    d = np.round(x - y, 12)  # equal differences of averaged accuracies tie exactly
    n = int(d.size)
    w_p = perm_p = None
    if n >= 1 and np.all(d == 0):
        w_p = perm_p = 1.0
    elif n >= 2:
        w_p = float(stats.wilcoxon(d).pvalue)
        perm = stats.permutation_test(
            (x, y),
            lambda u, v, axis: np.mean(u - v, axis=axis),
            permutation_type="samples",
            vectorized=True,
            n_resamples=n_resamples,
            alternative="two-sided",
            rng=np.random.default_rng(seed),
        )
        perm_p = float(perm.pvalue)
    parts = tuple(participants) if participants is not None else tuple(range(n))
    return PairedTest(
        a=names[0], b=names[1], participants=parts, differences=tuple(float(v) for v in d),
        interval=mean_interval(d, confidence), wilcoxon_p=w_p, permutation_p=perm_p,
    )  # fmt: skip


# ---------------------------------------------------------------------------------- units


@dataclass(frozen=True)
class TestPart:
    """One unit's test part: the trial of every test instance and whether it was classified
    correctly (``correct`` 0/1; for a difference of two methods, -1/0/1)."""

    participant: int
    method: str
    seed: int
    pretrain_seed: int
    trials: np.ndarray
    correct: np.ndarray

    @property
    def key(self) -> tuple:
        return (self.participant, self.seed, self.pretrain_seed)


def test_parts(rows: Iterable[dict]) -> list[TestPart]:
    """The :class:`TestPart` of every ``tune`` row that recorded its test predictions."""
    out = []
    for r in rows:
        if r.get("kind") != "tune" or r.get("test_correct") is None or not r.get("test_trials"):
            continue
        out.append(
            TestPart(
                participant=int(r["participant"]), method=str(r["method"]), seed=int(r["seed"]),
                pretrain_seed=int(r.get("pretrain_seed", 0)),
                trials=np.asarray(r["test_trials"], dtype=np.int64),
                correct=np.asarray(r["test_correct"], dtype=np.float64),
            )
        )  # fmt: skip
    return out


def participant_means(rows: Iterable[dict], key: str = "test_acc") -> dict[str, dict[int, float]]:
    """``{method: {participant: mean of key over the participant's units}}`` from ``tune`` rows."""
    acc: dict[tuple[str, int], list[float]] = defaultdict(list)
    for r in rows:
        if r.get("kind") == "tune" and r.get(key) is not None:
            acc[(r["method"], r["participant"])].append(float(r[key]))
    out: dict[str, dict[int, float]] = defaultdict(dict)
    for (m, p), v in acc.items():
        out[m][p] = float(np.mean(v))
    return dict(out)


def unit_key(row: dict) -> tuple:
    """What pairs two methods' units: participant, tuning seed and pretraining seed (the same
    split and the same pretrained network)."""
    return (int(row["participant"]), int(row["seed"]), int(row.get("pretrain_seed", 0)))


def paired_means(
    rows: Iterable[dict], a: str, b: str, key: str = "test_acc"
) -> dict[int, tuple[float, float]]:
    """``{participant: (mean of a, mean of b)}`` over the units both methods have
    (:func:`unit_key`), so a method run with more seeds than the other (a subset design, e.g.
    further pretraining seeds for some methods only) is compared on the same units."""
    units: dict[str, dict[tuple, float]] = {a: {}, b: {}}
    for r in rows:
        if r.get("kind") == "tune" and r.get("method") in units and r.get(key) is not None:
            units[r["method"]].setdefault(unit_key(r), float(r[key]))
    common = [k for k in units[a] if k in units[b]]
    by: dict[int, tuple[list, list]] = defaultdict(lambda: ([], []))
    for k in common:
        by[k[0]][0].append(units[a][k])
        by[k[0]][1].append(units[b][k])
    return {p: (float(np.mean(x)), float(np.mean(y))) for p, (x, y) in by.items()}


def _grouped(part: TestPart, by: str) -> tuple[np.ndarray, np.ndarray]:
    """Per resampling unit (trial or instance): summed values and instance counts."""
    if by == "instance":
        return part.correct.astype(np.float64), np.ones(part.correct.size)
    if by != "trial":
        raise ValueError(f"by must be 'trial' or 'instance', got {by!r}")
    ids, inv = np.unique(part.trials, return_inverse=True)
    sums = np.bincount(inv, weights=part.correct, minlength=ids.size)
    counts = np.bincount(inv, minlength=ids.size).astype(np.float64)
    return sums, counts


def trial_bootstrap(
    parts: Sequence[TestPart],
    *,
    by: str = "trial",
    confidence: float = CONFIDENCE,
    n_resamples: int = N_RESAMPLES,
    seed: int = 0,
) -> Interval:
    """Percentile bootstrap interval of the mean over participants of the mean over their units
    of the test accuracy (or difference), resampling each unit's distinct trials (module doc).

    ``parts`` may hold units of several participants; each unit is one stratum. A unit whose test
    part has a single resampling unit contributes its fixed value.
    """
    parts = [p for p in parts if p.correct.size]
    if not parts:
        return Interval(None, None, None, 0)
    grouped = [_grouped(p, by) for p in parts]
    by_person: dict[int, list[int]] = defaultdict(list)
    for i, p in enumerate(parts):
        by_person[p.participant].append(i)
    weights = np.zeros(len(parts))
    for idx in by_person.values():
        weights[idx] = 1.0 / (len(idx) * len(by_person))
    point = float(sum(w * s.sum() / c.sum() for w, (s, c) in zip(weights, grouped, strict=True)))
    varying = [i for i, (s, _) in enumerate(grouped) if s.size > 1]
    fixed = point - sum(weights[i] * grouped[i][0].sum() / grouped[i][1].sum() for i in varying)
    if not varying:
        return Interval(point, point, point, len(by_person))

    def statistic(*idx, axis=-1):
        total = fixed
        for k, i in enumerate(varying):
            sums, counts = grouped[i]
            j = np.asarray(idx[k]).astype(np.int64)
            total = total + weights[i] * sums[j].sum(axis=-1) / counts[j].sum(axis=-1)
        return total

    data = tuple(np.arange(grouped[i][0].size) for i in varying)
    res = stats.bootstrap(
        data, statistic, n_resamples=n_resamples, vectorized=True, paired=False,
        confidence_level=confidence, method="percentile", rng=np.random.default_rng(seed),
    )  # fmt: skip
    ci = res.confidence_interval
    return Interval(point, float(ci.low), float(ci.high), len(by_person))


def difference_parts(parts: Sequence[TestPart], a: str, b: str) -> list[TestPart]:
    """Units of ``a`` minus the unit of ``b`` with the same participant, seed and pretraining
    seed (same split: the same test trials in the same order); unmatched units are dropped."""
    other = {p.key: p for p in parts if p.method == b}
    out = []
    for p in parts:
        q = other.get(p.key) if p.method == a else None
        if q is None or not np.array_equal(p.trials, q.trials):
            continue
        out.append(
            TestPart(
                p.participant, f"{a}-{b}", p.seed, p.pretrain_seed, p.trials, p.correct - q.correct
            )  # fmt: skip
        )
    return out


# ---------------------------------------------------------------------------------- claims


@dataclass(frozen=True)
class Claim:
    """A comparative claim of the thesis: method ``a`` beats ``b`` by ``claimed`` (accuracy)."""

    a: str
    b: str
    claimed: float
    text: str
    source: str


def _mean(xs) -> float:
    return float(np.mean(xs))


# Thesis chapter 4, per-participant means (test IDs 0-31 are participants 1-32 here).
_T2_SPIKING = (0.86250, 0.71875, 0.75625, 0.86875, 0.89375, 0.85625, 0.81250, 0.91875, 0.88750,
               0.92500, 0.86250, 0.78750, 0.92500, 0.91875, 0.77500, 0.86250, 0.86250, 0.90625,
               0.68750, 0.93125, 0.85625, 0.87500, 0.83750, 0.83750, 0.76250, 0.85625, 0.80625,
               0.88125, 0.79375, 0.81250, 0.83750, 0.97500)  # fmt: skip
_T2_BIAS = (0.80625, 0.75000, 0.83125, 0.88125, 0.78125, 0.76875, 0.64375, 0.84375, 0.85000,
            0.85000, 0.70625, 0.62500, 0.95000, 0.81875, 0.85000, 0.75625, 0.82500, 0.86250,
            0.62500, 0.93125, 0.78750, 0.84375, 0.76875, 0.82500, 0.68125, 0.86250, 0.73750,
            0.71875, 0.78750, 0.73750, 0.76875, 0.86875)  # fmt: skip
_T4_SPARSE = (0.993, 1.000, 0.825, 0.938, 1.000, 0.988, 1.000, 1.000, 1.000, 1.000, 1.000, 1.000)
_T5_VOLUMETRIC = (0.994, 0.819, 0.894, 0.956, 1.000, 0.975, 0.931, 0.981, 0.938, 0.994, 0.988,
                  0.831)  # fmt: skip
_T6_ABLATION = (0.806, 0.850, 0.888, 0.900, 0.788, 0.763, 0.788, 0.950, 0.938, 0.831, 0.875, 0.800)

CLAIMS: tuple[Claim, ...] = (
    Claim("spiking_bias", "nt2", _mean(_T2_SPIKING) - _mean(_T2_BIAS),
          "spiking bias beats traditional bias tuning at equal parameter count",
          "thesis Table 2 / Figure 7 (32 participants): 0.848 vs 0.792"),
    Claim("volumetric", "ablation", _mean(_T5_VOLUMETRIC) - _mean(_T6_ABLATION),
          "volumetric tuning beats layer-1 bias tuning of the ablated network (1,000 each)",
          "thesis Tables 5 and 6 (participants 1-12): 0.942 vs 0.848"),
    Claim("volumetric", "nt2", _mean(_T5_VOLUMETRIC) - _mean(_T2_BIAS[:12]),
          "volumetric tuning beats traditional bias tuning with fewer parameters",
          "thesis Tables 5 and 2 (participants 1-12): 0.942 vs 0.796"),
    Claim("spiking_bias_sparse", "spiking_bias", _mean(_T4_SPARSE) - _mean(_T2_SPIKING[:12]),
          "tuning 10% of the spiking-bias input matrices beats spiking bias alone",
          "thesis Tables 4 and 2 (participants 1-12): 0.979 vs 0.845"),
    Claim("nt2", "none", _mean(_T2_BIAS) - 0.5,
          "bias tuning beats the untuned pretrained network",
          "thesis 4.4: untuned 'only predicts randomly' (taken as 0.5), tuned 0.792"),
)  # fmt: skip


@dataclass(frozen=True)
class Verdict:
    claim: Claim
    test: PairedTest | None
    verdict: str  # "reproduced", "refuted" or "unresolved"
    reason: str = field(default="")


def verdict(claim: Claim, test: PairedTest | None) -> Verdict:
    """The verdict on ``claim`` from the paired interval over participants.

    ``reproduced``: the interval lies above 0 (the claimed direction holds); ``refuted``: the
    interval lies below the claimed difference and does not lie above 0 (the claimed gain is
    excluded and no gain is shown); ``unresolved``: otherwise, or fewer than 2 participants.
    """
    iv = None if test is None else test.interval
    if iv is None or iv.lo is None or iv.hi is None:
        n = 0 if iv is None else iv.n
        return Verdict(claim, test, "unresolved", f"{n} participant(s) with both methods")
    if iv.lo > 0:
        size = "" if iv.hi >= claim.claimed else f"; smaller than claimed ({claim.claimed:+.3f})"
        return Verdict(claim, test, "reproduced", "interval above 0" + size)
    if iv.hi < claim.claimed:
        return Verdict(claim, test, "refuted",
                       f"the claimed {claim.claimed:+.3f} is above the interval")  # fmt: skip
    return Verdict(claim, test, "unresolved", "the interval contains 0 and the claimed gain")


def verdicts(tests: dict[tuple[str, str], PairedTest]) -> list[Verdict]:
    """A :class:`Verdict` for every claim whose two methods were run."""
    return [verdict(c, tests.get((c.a, c.b))) for c in CLAIMS if (c.a, c.b) in tests]


# ---------------------------------------------------------------------------------- a study

BASELINES = ("readout", "lora", "logreg")
NT_METHODS = ("nt2", "nt1", "spiking_bias", "volumetric")
#: a method learning by a local rule against BPTT tuning of the same parameters
LEARNER_PAIRS = (("ondevice", "nt2"),)


@dataclass(frozen=True)
class MethodStats:
    """One method: participant means, their t interval, and the trial-level bootstrap interval
    (``naive``: the instance-level bootstrap, for comparison)."""

    method: str
    values: dict
    interval: Interval
    bootstrap: Interval | None
    naive: Interval | None
    units: int


@dataclass(frozen=True)
class StudyStats:
    methods: dict[str, MethodStats]
    tests: dict[tuple[str, str], PairedTest]
    verdicts: list[Verdict]


def default_pairs(methods: Sequence[str]) -> list[tuple[str, str]]:
    """Every method against ``none``, the thesis' claims, each NT method against each baseline,
    on-device tuning against BPTT tuning of the same parameters (:data:`LEARNER_PAIRS`)."""
    have = set(methods)
    pairs = [(m, "none") for m in methods if m != "none" and "none" in have]
    pairs += [(c.a, c.b) for c in CLAIMS if c.a in have and c.b in have]
    pairs += [(a, b) for a in NT_METHODS for b in BASELINES if a in have and b in have]
    pairs += [(a, b) for a, b in LEARNER_PAIRS if a in have and b in have]
    out: list[tuple[str, str]] = []
    for p in pairs:
        if p not in out:
            out.append(p)
    return out


def summarise(
    rows: Sequence[dict],
    methods: Sequence[str],
    pairs: Sequence[tuple[str, str]] | None = None,
    *,
    confidence: float = CONFIDENCE,
    n_resamples: int = N_RESAMPLES,
    seed: int = 0,
) -> StudyStats:
    """Per-method intervals, paired tests (:func:`default_pairs` unless given) and verdicts."""
    means = participant_means(rows)
    parts = test_parts(rows)
    kw = dict(confidence=confidence, n_resamples=n_resamples, seed=seed)
    out: dict[str, MethodStats] = {}
    for m in methods:
        vals = means.get(m, {})
        mine = [p for p in parts if p.method == m]
        units = sum(1 for r in rows if r.get("kind") == "tune" and r.get("method") == m)
        out[m] = MethodStats(
            m, dict(sorted(vals.items())), mean_interval(vals.values(), confidence),
            trial_bootstrap(mine, **kw) if mine else None,
            trial_bootstrap(mine, by="instance", **kw) if mine else None, units,
        )  # fmt: skip
    tests = {}
    for a, b in default_pairs(methods) if pairs is None else pairs:
        pm = paired_means(rows, a, b)
        both = sorted(pm)
        t = paired_test([pm[p][0] for p in both], [pm[p][1] for p in both], names=(a, b),
                        participants=both, confidence=confidence, n_resamples=n_resamples,
                        seed=seed)  # fmt: skip
        diff = difference_parts([p for p in parts if p.participant in both], a, b)
        if diff:
            t = PairedTest(t.a, t.b, t.participants, t.differences, t.interval, t.wilcoxon_p,
                           t.permutation_p, trial_bootstrap(diff, **kw))  # fmt: skip
        tests[(a, b)] = t
    return StudyStats(out, tests, verdicts(tests))


# ------------------------------------------------------------------------------ pretraining seeds


@dataclass(frozen=True)
class SeedSpread:
    """How much a method's accuracy moves with the pretraining seed against the tuning seed: the
    mean over participants of the sd (ddof=0) of the participant's per-pretraining-seed means
    (``pretraining``), and the mean over (participant, pretraining seed) of the sd over its
    tuning seeds (``tuning``); None where fewer than two seeds vary."""

    method: str
    pretraining: float | None
    tuning: float | None


@dataclass(frozen=True)
class PretrainSeedStats:
    """A study with several pretraining seeds, each seed alone: per-method intervals over the
    participants that have the seed (``methods[seed][method]``), the paired differences of
    ``pairs`` on those units (``tests[seed][(a, b)]``, t interval only) and each method's
    :class:`SeedSpread`. When the seeds cover different participants (further seeds on a subset),
    ``common`` lists the participants that have every seed and ``common_methods`` /
    ``common_tests`` repeat the per-seed numbers on them alone, so the seeds are compared like for
    like; both are None when every seed has the same participants."""

    seeds: tuple[int, ...]
    methods: dict[int, dict[str, Interval]]
    tests: dict[int, dict[tuple[str, str], Interval]]
    spread: dict[str, SeedSpread]
    common: tuple[int, ...] = ()
    common_methods: dict[int, dict[str, Interval]] | None = None
    common_tests: dict[int, dict[tuple[str, str], Interval]] | None = None


def _spread(rows: Sequence[dict], method: str) -> SeedSpread:
    cells: dict[tuple[int, int], list[float]] = defaultdict(list)
    for r in rows:
        if r.get("kind") == "tune" and r.get("method") == method and r.get("test_acc") is not None:
            cells[(int(r["participant"]), int(r.get("pretrain_seed", 0)))].append(
                float(r["test_acc"])
            )
    per_person: dict[int, list[float]] = defaultdict(list)
    for (p, _), v in cells.items():
        per_person[p].append(float(np.mean(v)))
    pre = [float(np.std(v)) for v in per_person.values() if len(v) > 1]
    tune = [float(np.std(v)) for v in cells.values() if len(v) > 1]
    return SeedSpread(
        method, float(np.mean(pre)) if pre else None, float(np.mean(tune)) if tune else None
    )


def pretrain_seed_stats(
    rows: Sequence[dict],
    methods: Sequence[str],
    pairs: Sequence[tuple[str, str]],
    confidence: float = CONFIDENCE,
) -> PretrainSeedStats | None:
    """Each pretraining seed of ``rows`` alone (:class:`PretrainSeedStats`); None when the rows
    hold a single pretraining seed."""
    tune = [r for r in rows if r.get("kind") == "tune"]
    seeds = tuple(sorted({int(r.get("pretrain_seed", 0)) for r in tune}))
    if len(seeds) < 2:
        return None
    by_seed, tests = _each_seed(tune, seeds, methods, pairs, confidence)
    spread = {m: _spread(tune, m) for m in methods}
    has = defaultdict(set)
    for r in tune:
        has[int(r.get("pretrain_seed", 0))].add(int(r["participant"]))
    common = set.intersection(*(has[s] for s in seeds))
    c_methods = c_tests = None
    if any(has[s] != common for s in seeds):
        mine = [r for r in tune if int(r["participant"]) in common]
        c_methods, c_tests = _each_seed(mine, seeds, methods, pairs, confidence)
    return PretrainSeedStats(seeds, by_seed, tests, spread, tuple(sorted(common)), c_methods,
                             c_tests)  # fmt: skip


def _each_seed(tune, seeds, methods, pairs, confidence):
    """Per pretraining seed: each method's interval over participants and the paired
    differences of ``pairs`` (t intervals)."""
    by_seed, tests = {}, {}
    for s in seeds:
        mine = [r for r in tune if int(r.get("pretrain_seed", 0)) == s]
        means = participant_means(mine)
        by_seed[s] = {m: mean_interval(means.get(m, {}).values(), confidence) for m in methods}
        tests[s] = {}
        for a, b in pairs:
            pm = paired_means(mine, a, b)
            tests[s][(a, b)] = mean_interval([x - y for x, y in pm.values()], confidence)
    return by_seed, tests
