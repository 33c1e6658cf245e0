"""FeatureCache: miss then hit, keys (content, parameters, seed), corruption is recomputed."""

import shutil
import warnings

import numpy as np
import pytest

from lava_nt.examples.eeg.features import FeatureCache, FeatureParams
from lava_nt.examples.eeg.synthetic import SyntheticConfig, generate_participant, write_participant


@pytest.fixture
def source(small_deap, tmp_path):
    src = tmp_path / "data" / "s02.dat"
    src.parent.mkdir()
    shutil.copy(small_deap / "s02.dat", src)
    return src


def _entries(cache):
    return sorted(cache.directory.glob("features-*.npz"))


def test_miss_then_hit(source, tmp_path):
    cache = FeatureCache(tmp_path / "cache")
    a = cache.features(source, seed=1)
    assert (cache.misses, cache.hits) == (1, 0) and len(_entries(cache)) == 1
    b = cache.features(source, seed=1)
    assert (cache.misses, cache.hits) == (1, 1)
    np.testing.assert_array_equal(a.powers, b.powers)
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.valence_high, b.valence_high)
    assert b.id == 2 and b.powers.shape == (8, 4, 160)
    fresh = FeatureCache(tmp_path / "cache")  # a new process would hit too
    fresh.features(source, seed=1)
    assert fresh.hits == 1
    assert not list((tmp_path / "cache").glob(".tmp-*"))


def test_key_depends_on_seed_params_and_content(source, tmp_path):
    cache = FeatureCache(tmp_path / "cache")
    cache.features(source, seed=1)
    cache.features(source, seed=2)
    cache.features(source, FeatureParams(noise_sd=0.2), seed=1)
    assert cache.misses == 3 and len(_entries(cache)) == 3
    obj = generate_participant(SyntheticConfig(n_participants=3, n_trials=8, n_samples=2048), 2)
    write_participant(source, obj)  # same name and size, other content
    cache.features(source, seed=1)
    assert cache.misses == 4 and cache.hits == 0


@pytest.mark.parametrize("damage", ["garbage", "truncate", "wrong_shape"])
def test_corrupt_entry_is_recomputed(source, tmp_path, damage):
    cache = FeatureCache(tmp_path / "cache")
    good = cache.features(source, seed=1)
    (entry,) = _entries(cache)
    if damage == "garbage":
        entry.write_bytes(b"not an npz")
    elif damage == "truncate":
        entry.write_bytes(entry.read_bytes()[:300])
    else:
        with np.load(entry) as z:
            meta = z["meta"]
        np.savez(entry, meta=meta, powers=np.zeros((8, 4, 7)), labels=good.labels)
    with pytest.warns(RuntimeWarning, match="unusable"):
        again = cache.features(source, seed=1)
    assert cache.misses == 2
    np.testing.assert_array_equal(again.powers, good.powers)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cache.features(source, seed=1)  # the rewritten entry is good
    assert cache.hits == 1


def test_entry_for_other_key_is_rejected(source, tmp_path):
    cache = FeatureCache(tmp_path / "cache")
    cache.features(source, seed=1)
    cache.features(source, seed=2)
    e1 = cache.path_for(cache.key(source, FeatureParams(), 1))
    e2 = cache.path_for(cache.key(source, FeatureParams(), 2))
    shutil.copy(e2, e1)  # seed-2 features under the seed-1 name
    with pytest.warns(RuntimeWarning, match="key mismatch"):
        assert cache.get(source, seed=1) is None
    assert not e1.exists()
