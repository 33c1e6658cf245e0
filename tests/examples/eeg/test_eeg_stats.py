"""Statistics of the EEG study on known inputs: intervals, paired tests, the trial-level
bootstrap and the verdict rules (lava_nt.examples.eeg.stats)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats as sps

from lava_nt.examples.eeg import stats as S


def test_mean_interval_is_the_t_interval():
    x = [0.55, 0.6, 0.72, 0.81, 0.5]
    iv = S.mean_interval(x)
    lo, hi = sps.t.interval(0.95, 4, loc=np.mean(x), scale=sps.sem(x))
    assert iv.n == 5 and iv.mean == pytest.approx(np.mean(x))
    assert (iv.lo, iv.hi) == pytest.approx((lo, hi))
    assert S.mean_interval([0.7]).lo is None  # one participant: no interval
    assert S.mean_interval([0.6, 0.6, 0.6]).lo == pytest.approx(0.6)
    assert S.mean_interval([]).mean is None


def test_paired_test_equals_scipy_and_the_exact_sign_flip_enumeration():
    a = np.array([0.81, 0.75, 0.62, 0.9, 0.7, 0.66, 0.85])
    b = np.array([0.72, 0.77, 0.55, 0.8, 0.61, 0.6, 0.8])
    t = S.paired_test(a, b, names=("x", "y"), participants=range(1, 8))
    assert t.wilcoxon_p == pytest.approx(sps.wilcoxon(a - b).pvalue, rel=1e-12)
    # permutation: 2^7 = 128 sign flips <= n_resamples, so scipy enumerates them all
    d = a - b
    flips = np.array(list(itertools.product((1, -1), repeat=d.size)))
    null = np.abs((flips * d).mean(axis=1))
    exact = np.mean(null >= abs(d.mean()) - 1e-12)
    assert t.permutation_p == pytest.approx(exact)
    lo, hi = sps.t.interval(0.95, 6, loc=d.mean(), scale=sps.sem(d))
    assert (t.interval.lo, t.interval.hi) == pytest.approx((lo, hi))
    assert t.participants == tuple(range(1, 8))
    same = S.paired_test([0.5, 0.6], [0.5, 0.6])
    assert same.wilcoxon_p == 1.0 and same.permutation_p == 1.0
    with pytest.raises(ValueError, match="equally long"):
        S.paired_test([0.5, 0.6], [0.5])


def _part(correct_per_trial, copies=4, participant=1, seed=0, method="m"):
    c = np.repeat(np.asarray(correct_per_trial, dtype=float), copies)
    trials = np.repeat(np.arange(len(correct_per_trial)), copies)
    return S.TestPart(participant, method, seed, 0, trials, c)


def test_trial_bootstrap_is_wider_than_treating_copies_as_independent():
    """8 test trials x 4 identical copies: the distinct trials are 8 samples, not 32."""
    part = _part([1, 1, 1, 0, 1, 0, 1, 1])
    trial = S.trial_bootstrap([part])
    inst = S.trial_bootstrap([part], by="instance")
    assert trial.mean == inst.mean == pytest.approx(0.75)
    assert (trial.hi - trial.lo) > 1.5 * (inst.hi - inst.lo)
    # with one instance per trial the two are the same bootstrap
    single = _part([1, 1, 1, 0, 1, 0, 1, 1], copies=1)
    assert S.trial_bootstrap([single]) == S.trial_bootstrap([single], by="instance")


def test_trial_bootstrap_strata_and_weights():
    # participant 1 has two units (seeds), participant 2 one: the mean is over participants
    parts = [_part([1, 1, 0, 0], seed=0), _part([1, 1, 1, 1], seed=1),
             _part([0, 0, 0, 1], participant=2)]  # fmt: skip
    iv = S.trial_bootstrap(parts, n_resamples=999)
    assert iv.mean == pytest.approx(((0.5 + 1.0) / 2 + 0.25) / 2)
    assert iv.n == 2 and iv.lo <= iv.mean <= iv.hi
    # a unit that is always right has no variance: it only shifts the interval
    assert S.trial_bootstrap([_part([1, 1, 1])]) == S.Interval(1.0, 1.0, 1.0, 1)


def test_difference_parts_pair_units_with_the_same_split():
    a = _part([1, 1, 0, 1], method="a")
    b = _part([1, 0, 0, 0], method="b")
    other = _part([1, 1, 1, 1], seed=5, method="b")
    (d,) = S.difference_parts([a, b, other], "a", "b")
    assert d.method == "a-b" and d.correct.tolist() == np.repeat([0, 1, 0, 1], 4).tolist()
    assert S.trial_bootstrap([d]).mean == pytest.approx(0.5)


def _test(lo, hi, mean=None):
    mean = (lo + hi) / 2 if mean is None else mean
    return S.PairedTest("a", "b", (1, 2, 3), (0.0,), S.Interval(mean, lo, hi, 3), 0.5, 0.5)


def test_verdict_rules():
    c = S.Claim("a", "b", 0.10, "a beats b", "here")
    assert S.verdict(c, _test(0.02, 0.2)).verdict == "reproduced"
    smaller = S.verdict(c, _test(0.01, 0.05))
    assert smaller.verdict == "reproduced" and "smaller than claimed" in smaller.reason
    assert S.verdict(c, _test(-0.03, 0.04)).verdict == "refuted"
    assert S.verdict(c, _test(-0.2, -0.05)).verdict == "refuted"
    assert S.verdict(c, _test(-0.05, 0.3)).verdict == "unresolved"
    assert S.verdict(c, None).verdict == "unresolved"


def test_claims_come_from_the_thesis_tables():
    by = {(c.a, c.b): c.claimed for c in S.CLAIMS}
    assert by[("spiking_bias", "nt2")] == pytest.approx(0.848437 - 0.791992, abs=1e-5)
    assert by[("volumetric", "ablation")] == pytest.approx(0.942 - 0.848, abs=2e-3)


def test_summarise_rows():
    rows = []
    for p in (1, 2, 3, 4):
        for m, acc in (("none", 0.5 + 0.01 * p), ("nt2", 0.6 + 0.02 * p)):
            correct = [1] * int(acc * 8) + [0] * (8 - int(acc * 8))
            rows.append({
                "kind": "tune", "participant": p, "method": m, "seed": 0, "pretrain_seed": 0,
                "test_acc": float(np.mean(correct)),
                "test_trials": list(range(8)), "test_correct": correct,
            })  # fmt: skip
    st = S.summarise(rows, ["none", "nt2"], n_resamples=999)
    assert set(st.methods) == {"none", "nt2"} and st.methods["nt2"].interval.n == 4
    t = st.tests[("nt2", "none")]
    assert t.interval.n == 4 and t.bootstrap is not None
    assert [v.claim.a for v in st.verdicts] == ["nt2"]


def _unit(p, m, seed, pseed, acc):
    return {"kind": "tune", "participant": p, "method": m, "seed": seed,
            "pretrain_seed": pseed, "test_acc": acc}  # fmt: skip


def _subset_design():
    """nt2 on pretraining seeds 0-2, readout on seed 0 only; nt2's seed-1/2 units are worse."""
    rng = np.random.default_rng(3)
    rows = []
    for p in range(1, 7):
        for seed in range(3):
            rows.append(_unit(p, "readout", seed, 0, 0.6 + 0.01 * p + 0.01 * rng.random()))
            for ps in range(3):
                rows.append(_unit(p, "nt2", seed, ps, 0.7 - 0.1 * ps + 0.01 * rng.random()))
    return rows


def test_paired_means_compare_the_units_both_methods_have():
    rows = _subset_design()
    pm = S.paired_means(rows, "nt2", "readout")
    assert sorted(pm) == list(range(1, 7))
    for p, (a, b) in pm.items():
        mine = [r for r in rows if r["participant"] == p and r["pretrain_seed"] == 0]
        assert a == pytest.approx(np.mean([r["test_acc"] for r in mine if r["method"] == "nt2"]))
        assert b == pytest.approx(
            np.mean([r["test_acc"] for r in mine if r["method"] == "readout"])
        )
    st = S.summarise(rows, ["nt2", "readout"], pairs=[("nt2", "readout")], n_resamples=99)
    t = st.tests[("nt2", "readout")]
    assert t.differences == pytest.approx([pm[p][0] - pm[p][1] for p in sorted(pm)], abs=1e-12)
    # pooling nt2 over all pretraining seeds would have turned its +0.07 lead into a deficit
    assert t.interval.mean > 0.05
    assert st.methods["nt2"].interval.mean < st.methods["readout"].interval.mean
    # a unit of one method without a partner is left out, not paired with another seed's
    alone = S.paired_means([_unit(1, "nt2", 0, 1, 0.9), _unit(1, "readout", 0, 0, 0.5)],
                           "nt2", "readout")  # fmt: skip
    assert alone == {}


def test_pretrain_seed_stats_take_each_seed_alone():
    rows = _subset_design()
    assert S.pretrain_seed_stats([r for r in rows if r["pretrain_seed"] == 0], ["nt2"], []) is None
    ps = S.pretrain_seed_stats(rows, ["nt2", "readout"], [("nt2", "readout")])
    assert ps.seeds == (0, 1, 2)
    for s in ps.seeds:
        vals = [np.mean([r["test_acc"] for r in rows if r["method"] == "nt2"
                         and r["participant"] == p and r["pretrain_seed"] == s])
                for p in range(1, 7)]  # fmt: skip
        assert ps.methods[s]["nt2"].mean == pytest.approx(np.mean(vals))
        assert ps.methods[s]["nt2"].n == 6
    assert ps.methods[0]["readout"].n == 6 and ps.methods[1]["readout"].n == 0
    assert ps.tests[0][("nt2", "readout")].n == 6 and ps.tests[1][("nt2", "readout")].n == 0
    sp = ps.spread["nt2"]
    # per-seed means 0.7, 0.6, 0.5 (+ noise < 0.01): sd ~ 0.0816; tuning-seed sd < 0.01
    assert sp.pretraining == pytest.approx(np.std([0.7, 0.6, 0.5]), abs=0.01)
    assert 0 < sp.tuning < 0.01
    assert ps.spread["readout"].pretraining is None  # one pretraining seed: nothing to spread
    # every seed has participants 1-6: nothing to compare like for like
    assert ps.common == tuple(range(1, 7)) and ps.common_methods is None


def test_pretrain_seeds_on_a_subset_are_also_compared_like_for_like():
    """Further pretraining seeds on a subset of the participants (as in the thesis-size run): the
    per-seed columns also come restricted to the participants that have every seed, so a seed's
    column is not another seed's column on other people."""
    from lava_nt.examples.eeg.report.statistics import pretrain_seed_markdown

    rows = []
    for p in range(1, 7):  # participants 1-2 are hard: seed 0 over 1-6 flatters seed 0
        base = 0.5 if p <= 2 else 0.9
        for seed in range(2):
            for ps in (0, 1, 2) if p <= 2 else (0,):
                rows.append(_unit(p, "none", seed, ps, base - 0.1))
                rows.append(_unit(p, "nt2", seed, ps, base + 0.01 * ps + 0.002 * seed))
    ps = S.pretrain_seed_stats(rows, ["none", "nt2"], [("nt2", "none")])
    assert ps.methods[0]["nt2"].n == 6 and ps.methods[1]["nt2"].n == 2
    assert ps.common == (1, 2)
    assert ps.methods[0]["nt2"].mean == pytest.approx((2 * 0.501 + 4 * 0.901) / 6)
    for s in (0, 1, 2):  # like for like: the two hard participants on every seed
        assert ps.common_methods[s]["nt2"].n == 2
        assert ps.common_methods[s]["nt2"].mean == pytest.approx(0.501 + 0.01 * s)
        assert ps.common_tests[s][("nt2", "none")].mean == pytest.approx(0.101 + 0.01 * s)
    text = "\n".join(pretrain_seed_markdown(ps))
    assert "the same on the 2 participants that have every pretraining seed (1-2)" in text
    assert "| nt2 | 0.501 [" in text and "| nt2 - none | +0.101 [" in text


def test_report_shows_the_pretraining_seed_section_only_with_several_seeds():
    from lava_nt.examples.eeg.report.statistics import statistics_markdown

    rows = []
    for p in range(1, 5):
        for ps in (0, 1):
            for m, acc in (("none", 0.5), ("nt2", 0.6 + 0.05 * ps + 0.01 * p)):
                rows.append(_unit(p, m, 0, ps, acc))
    st = S.summarise(rows, ["none", "nt2"], n_resamples=99)
    text = "\n".join(statistics_markdown(st, rows))
    assert "Pretraining seeds" in text and "| pretraining seed 0 | pretraining seed 1 |" in text
    assert "| nt2 - none | +0.125 [" in text  # claim on seed 0 alone: 0.6 + 0.025 - 0.5
    one = [r for r in rows if r["pretrain_seed"] == 0]
    st1 = S.summarise(one, ["none", "nt2"], n_resamples=99)
    assert "Pretraining seeds" not in "\n".join(statistics_markdown(st1, one))
