"""Split rules: honest (by trial, no overlap, balanced test, validation) and thesis (instances)."""

import numpy as np
import pytest

from lava_nt.examples.eeg.deap import load_participant
from lava_nt.examples.eeg.features import fit_thresholds, participant_features
from lava_nt.examples.eeg.protocols import (
    SplitError,
    honest_split,
    is_balanced,
    make_split,
    thesis_split,
    tuning_data,
)


def _labels(n_high, n=40, seed=0):
    y = np.zeros(n, dtype=bool)
    y[np.random.default_rng(seed).permutation(n)[:n_high]] = True
    return y


def test_is_balanced_definition():
    assert is_balanced([1] * 4 + [0] * 4)
    assert not is_balanced([1] * 5 + [0] * 3)  # |5 - 3| = 2 > 0.8
    assert is_balanced([1] * 17 + [0] * 15)  # |17 - 15| = 2 <= 3.2
    assert not is_balanced([1] * 18 + [0] * 14)  # 4 > 3.2
    assert is_balanced([1] * 18 + [0] * 14, balance_tol=0.125)
    assert not is_balanced([])


@pytest.mark.parametrize("n_high", [10, 20, 30])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_honest_split_rules(n_high, seed):
    y = _labels(n_high, seed=seed)
    s = honest_split(y, seed=seed, participant=5)
    assert s.protocol == "honest" and s.selection == "best_val_accuracy" and s.participant == 5
    assert (len(s.test_trials), len(s.val_trials), len(s.train_trials)) == (8, 6, 26)
    parts = [set(s.train_trials), set(s.val_trials), set(s.test_trials)]
    assert set().union(*parts) == set(range(40)) and sum(map(len, parts)) == 40
    assert is_balanced(y[s.test_trials]) and y[s.test_trials].sum() == 4
    assert 0 < y[s.val_trials].sum() < len(s.val_trials)  # stratified: both classes
    for part in ("train", "val", "test"):
        inst = s.part(part)
        trials = getattr(s, f"{part}_trials")
        assert inst.size == 4 * trials.size
        np.testing.assert_array_equal(np.unique(inst // 4), trials)
    t = honest_split(y, seed=seed, participant=5)
    np.testing.assert_array_equal(s.test_trials, t.test_trials)
    np.testing.assert_array_equal(s.val_trials, t.val_trials)
    assert "protocol=honest" in s.describe()


def test_honest_split_seeds_differ():
    y = _labels(20)
    tests = {tuple(honest_split(y, seed=k).test_trials) for k in range(10)}
    assert len(tests) > 5


def test_honest_split_impossible():
    with pytest.raises(SplitError, match="participant 3.*40 high, 0 low"):
        honest_split(np.ones(40, dtype=bool), participant=3)
    with pytest.raises(SplitError, match="1 low"):
        honest_split(_labels(39))  # needs 4 low trials in a test part of 8
    s = honest_split(_labels(36))  # 4 low: possible, all of them go to test
    assert (~_labels(36)[s.test_trials]).sum() == 4
    with pytest.raises(SplitError, match="odd test size"):
        honest_split(_labels(8, n=15))  # 3 test trials can never be balanced within 10%
    s = honest_split(_labels(4, n=8), val_fraction=0.0)
    assert len(s.val_trials) == 0 and len(s.test_trials) == 2


def test_thesis_split_rules():
    y = _labels(14)
    s = thesis_split(y, seed=3, participant=1)
    assert s.protocol == "thesis" and s.selection == "best_test_accuracy"
    assert len(s.test_instances) == 32 and len(s.train_instances) == 128
    assert len(s.val_instances) == 0 and len(s.val_trials) == 0
    assert set(s.train_instances).isdisjoint(s.test_instances)
    assert set(s.train_instances) | set(s.test_instances) == set(range(160))
    y_inst = np.repeat(y, 4)
    assert is_balanced(y_inst[s.test_instances])
    np.testing.assert_array_equal(s.test_trials, np.unique(s.test_instances // 4))
    # copies of one trial land on both sides (that is the thesis protocol)
    assert set(s.train_trials) & set(s.test_trials)
    s2 = thesis_split(y, seed=3, participant=1)
    np.testing.assert_array_equal(s.test_instances, s2.test_instances)


def test_make_split():
    y = _labels(20)
    assert make_split("thesis", y, val_fraction=0.3).protocol == "thesis"
    assert make_split("honest", y).protocol == "honest"
    with pytest.raises(ValueError, match="protocol"):
        make_split("cheat", y)
    with pytest.raises(ValueError):
        honest_split(y, test_fraction=1.0)
    with pytest.raises(ValueError):
        honest_split(np.array([0, 1, 2]))


def test_tuning_data_thresholds(small_deap):
    f = participant_features(load_participant(small_deap / "s03.dat"), seed=0)
    flat = f.powers.reshape(-1, 160)
    hs = honest_split(f.valence_high, seed=0, participant=3)
    td = tuning_data(f, hs)
    assert td.protocol == "honest"
    np.testing.assert_allclose(td.thresholds, fit_thresholds(flat[hs.train_instances]))
    assert td.x_train.shape == (4 * len(hs.train_trials), 160) and td.x_train.dtype == np.uint8
    np.testing.assert_array_equal(td.y_test, np.repeat(f.valence_high[hs.test_trials], 4))
    assert is_balanced(td.y_test)
    ts = thesis_split(f.valence_high, seed=0, participant=3)
    td = tuning_data(f, ts)
    np.testing.assert_allclose(td.thresholds, flat.mean(0))
    assert td.x_test.shape == (len(ts.test_instances), 160) and td.x_val.shape == (0, 160)
    with pytest.raises(ValueError, match="do not match"):
        tuning_data(f, honest_split(np.r_[f.valence_high, f.valence_high, [True, False]]))
