"""The report's statistics: per-method intervals, paired differences, each pretraining seed alone
(when a study has several) and the verdict on each of the thesis' claims
(:mod:`lava_nt.examples.eeg.stats`), as markdown and CSV."""

from __future__ import annotations

import numpy as np

from lava_nt.examples.eeg.pipeline.journal import _ranges
from lava_nt.examples.eeg.stats import (
    N_RESAMPLES,
    PretrainSeedStats,
    StudyStats,
    pretrain_seed_stats,
    summarise,
)

__all__ = [
    "claims_markdown",
    "pretrain_seed_markdown",
    "statistics_csv",
    "statistics_markdown",
    "study_statistics",
]


def study_statistics(rows, methods, n_resamples: int = N_RESAMPLES) -> StudyStats:
    """:func:`lava_nt.examples.eeg.stats.summarise` of the rows' tuning units."""
    return summarise([r for r in rows if r.get("kind") == "tune"], methods, n_resamples=n_resamples)


def _p(v) -> str:
    if v is None:
        return "-"
    return f"{v:.2g}" if v < 0.001 else f"{v:.3f}"


def _iv(iv, signed=False) -> str:
    return "-" if iv is None else iv.text(signed=signed)


def _ci(iv, signed=False) -> str:
    if iv is None or iv.lo is None:
        return "-"
    f = "{:+.3f}" if signed else "{:.3f}"
    return f"[{f.format(iv.lo)}, {f.format(iv.hi)}]"


def test_part_note(rows) -> str:
    """How many trials, instances and distinct binary inputs a unit's test part holds."""
    tune = [r for r in rows if r.get("kind") == "tune" and r.get("test_trials")]
    if not tune:
        return (
            "The units of this run did not record their test predictions (an older run): no "
            "trial-level bootstrap."
        )
    trials = np.mean([len(set(r["test_trials"])) for r in tune])
    inst = np.mean([len(r["test_trials"]) for r in tune])
    distinct = np.mean([r.get("test_distinct", 0) for r in tune])
    return (
        f"A unit's test part holds {trials:.1f} trials as {inst:.1f} instances but only "
        f"{distinct:.1f} distinct binary inputs on average: the band powers of the `shift` and "
        "`flip` augmentations equal the original's (the FFT power spectrum ignores circular shifts "
        "and time reversal), so the copies of a trial are not independent samples."
    )


def statistics_markdown(st: StudyStats, rows, level: int = 2) -> list[str]:
    """Markdown lines: method intervals, paired differences, verdicts."""
    h = "#" * level
    methods = [m for m, s in st.methods.items() if s.interval.n]
    if not methods:
        return []
    units = {m: st.methods[m].units for m in methods}
    lines = [
        f"{h} Statistics over participants",
        "",
        "The participant is the unit of analysis: its value is the mean test accuracy over its "
        "units (tuning seeds x pretraining seeds). 95% intervals: t interval over participants "
        "(`scipy.stats.t`); trial bootstrap: percentile bootstrap "
        f"(`scipy.stats.bootstrap`, {N_RESAMPLES:,} resamples) that resamples each unit's "
        "distinct test trials with all their augmentation copies, participants held fixed (the "
        "uncertainty of the finite test parts only; the interval over participants is the one "
        "that speaks for new people); the instance bootstrap treats the copies as independent "
        "(too narrow; shown for comparison). " + test_part_note(rows),
        "",
        "| method | participants | units | mean [95% CI over participants] | trial bootstrap "
        "95% | instance bootstrap 95% |",
        "|---|---|---|---|---|---|",
    ]
    for m in methods:
        s = st.methods[m]
        lines.append(
            f"| {m} | {s.interval.n} | {units[m]} | {_iv(s.interval)} | {_ci(s.bootstrap)} | "
            f"{_ci(s.naive)} |"
        )
    if st.tests:
        lines += [
            "",
            f"{h}# Paired differences",
            "",
            "Per participant, method a minus method b (participants that have both); Wilcoxon "
            "signed-rank p (`scipy.stats.wilcoxon`) and sign-flip permutation p "
            "(`scipy.stats.permutation_test`, exact up to 13 participants).",
            "",
            "| a - b | participants | mean difference [95% CI] | trial bootstrap 95% | "
            "Wilcoxon p | permutation p |",
            "|---|---|---|---|---|---|",
        ]
        for (a, b), t in st.tests.items():
            lines.append(
                f"| {a} - {b} | {t.interval.n} | {_iv(t.interval, True)} | "
                f"{_ci(t.bootstrap, True)} | {_p(t.wilcoxon_p)} | {_p(t.permutation_p)} |"
            )
    claim_pairs = [(v.claim.a, v.claim.b) for v in st.verdicts]  # the claims whose methods ran
    seeds = pretrain_seed_stats(rows, methods, claim_pairs)
    if seeds is not None:
        lines += ["", *pretrain_seed_markdown(seeds, level + 1)]
    if st.verdicts:
        lines += ["", *claims_markdown(st, level + 1)]
    return lines + [""]


def _sd(v) -> str:
    return "-" if v is None else f"{v:.3f}"


def pretrain_seed_markdown(ps: PretrainSeedStats, level: int = 3) -> list[str]:
    """Markdown lines: each pretraining seed alone, and the spread over pretraining seeds against
    the spread over tuning seeds; when the seeds cover different participants, the same again on
    the participants that have every seed (like for like)."""
    lines = [
        f"{'#' * level} Pretraining seeds",
        "",
        "Each pretraining seed alone: mean test accuracy [95% t interval over the participants "
        "that have the seed] (n participants). Spread: the sd of a participant's "
        "per-pretraining-seed means, averaged over participants, against the sd over tuning "
        "seeds within one pretraining seed, averaged over (participant, pretraining seed); "
        "ddof=0.",
        "",
        *_seed_methods_table(ps.seeds, ps.methods, ps.spread),
    ]
    claims = bool(ps.tests[ps.seeds[0]])
    if claims:
        lines += [
            "",
            "The thesis' claims on each pretraining seed alone (a - b on the units both methods "
            "have; 95% t interval over participants):",
            "",
            *_seed_claims_table(ps.seeds, ps.tests),
        ]
    if ps.common_methods is not None:
        lines += [
            "",
            f"Like for like: the same on the {len(ps.common)} participants that have every "
            f"pretraining seed ({_ranges(ps.common)}), so the columns differ only by the seed:",
            "",
            *_seed_methods_table(ps.seeds, ps.common_methods),
        ]
        if claims:
            lines += ["", *_seed_claims_table(ps.seeds, ps.common_tests)]
    return lines


def _seed_methods_table(seeds, methods, spread=None) -> list[str]:
    cols = " | ".join(f"pretraining seed {s}" for s in seeds)
    extra = " sd over pretraining seeds | sd over tuning seeds |" if spread else ""
    lines = [f"| method | {cols} |{extra}", "|---" * (len(seeds) + 1 + 2 * bool(spread)) + "|"]
    for m in methods[seeds[0]]:
        cells = " | ".join(f"{_iv(methods[s][m])} ({methods[s][m].n})" for s in seeds)
        tail = f" {_sd(spread[m].pretraining)} | {_sd(spread[m].tuning)} |" if spread else ""
        lines.append(f"| {m} | {cells} |{tail}")
    return lines


def _seed_claims_table(seeds, tests) -> list[str]:
    cols = " | ".join(f"pretraining seed {s}" for s in seeds)
    lines = [f"| a - b | {cols} |", "|---" * (len(seeds) + 1) + "|"]
    for a, b in tests[seeds[0]]:
        cells = " | ".join(f"{_iv(tests[s][(a, b)], True)} ({tests[s][(a, b)].n})" for s in seeds)
        lines.append(f"| {a} - {b} | {cells} |")
    return lines


def claims_markdown(st: StudyStats, level: int = 3) -> list[str]:
    """Markdown lines: the verdict on each of the thesis' claims (empty without verdicts)."""
    if not st.verdicts:
        return []
    lines = [
        f"{'#' * level} The thesis' claims",
        "",
        "Reproduced: the 95% interval of the paired difference lies above 0. Refuted: it lies "
        "below the thesis' difference and not above 0. Unresolved: otherwise.",
        "",
        "| claim | thesis | a - b | here [95% CI] | verdict |",
        "|---|---|---|---|---|",
    ]
    for v in st.verdicts:
        c = v.claim
        here = "-" if v.test is None else _iv(v.test.interval, True)
        lines.append(
            f"| {c.text} | {c.claimed:+.3f} ({c.source}) | {c.a} - {c.b} | {here} | "
            f"**{v.verdict}** ({v.reason}) |"
        )
    return lines


def _n(v) -> str:
    return "" if v is None else f"{v:.6f}"


def statistics_csv(st: StudyStats) -> list[list]:
    """CSV rows (header first): one per method, paired difference and claim."""
    head = ["kind", "a", "b", "participants", "mean", "ci_low", "ci_high", "trial_boot_low",
            "trial_boot_high", "instance_boot_low", "instance_boot_high", "wilcoxon_p",
            "permutation_p", "claimed", "verdict"]  # fmt: skip
    out = [head]
    for m, s in st.methods.items():
        iv, b, nv = s.interval, s.bootstrap, s.naive
        out.append([
            "method", m, "", iv.n, _n(iv.mean), _n(iv.lo), _n(iv.hi),
            _n(b.lo if b else None), _n(b.hi if b else None),
            _n(nv.lo if nv else None), _n(nv.hi if nv else None), "", "", "", "",
        ])  # fmt: skip
    for (a, b), t in st.tests.items():
        iv, bt = t.interval, t.bootstrap
        out.append([
            "difference", a, b, iv.n, _n(iv.mean), _n(iv.lo), _n(iv.hi),
            _n(bt.lo if bt else None), _n(bt.hi if bt else None), "", "",
            _n(t.wilcoxon_p), _n(t.permutation_p), "", "",
        ])  # fmt: skip
    for v in st.verdicts:
        iv = v.test.interval if v.test else None
        out.append([
            "claim", v.claim.a, v.claim.b, iv.n if iv else 0, _n(iv.mean if iv else None),
            _n(iv.lo if iv else None), _n(iv.hi if iv else None), "", "", "", "", "", "",
            _n(v.claim.claimed), v.verdict,
        ])  # fmt: skip
    return out
