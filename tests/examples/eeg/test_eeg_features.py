"""Thesis preprocessing: bins, band power vs an explicit FFT, augmentation, thresholds, spikes."""

import numpy as np
import pytest

from lava_nt.examples.eeg.deap import load_participant
from lava_nt.examples.eeg.features import (
    AUGMENTATIONS,
    BANDS,
    FEATURE_NAMES,
    N_FEATURES,
    FeatureParams,
    augment,
    band_bins,
    band_powers,
    binarize,
    fit_thresholds,
    normalise,
    participant_features,
    to_spike_train,
    trial_powers,
)
from lava_nt.examples.eeg.protocols import pretrain_data

FS = 128


def _sine(freq, n, channels=32):
    t = np.arange(n) / FS
    return np.broadcast_to(np.sin(2 * np.pi * freq * t), (channels, n)).copy()


def test_band_bins_exact():
    bins = band_bins(7680)  # a real DEAP trial: 1/60 Hz resolution
    assert [(b[0], b[-1]) for b in bins] == [
        (240, 420),
        (480, 780),
        (840, 1200),
        (1260, 1740),
        (1800, 2820),
    ]
    bins = band_bins(1280)  # 0.1 Hz resolution
    assert [(b[0], b[-1], b.size) for b in bins][0] == (40, 70, 31)
    for b, (_, lo, hi) in zip(bins, BANDS, strict=True):
        f = b * FS / 1280
        assert f[0] == lo and f[-1] == hi and np.all(np.diff(b) == 1)
    with pytest.raises(ValueError, match="no FFT bin"):
        band_bins(10)


def test_sinusoid_10hz_only_alpha_and_matches_explicit_fft():
    n = 1280
    x = _sine(10.0, n)
    p = band_powers(x).reshape(32, 5)
    X = np.fft.rfft(x[0])
    f = np.arange(X.size) * FS / n
    sel = (f >= 8) & (f <= 13)
    expected = np.mean(np.abs(X[sel]) ** 2) / n
    np.testing.assert_allclose(p[:, 1], expected, rtol=1e-12)
    assert expected > 1
    others = np.delete(p, 1, axis=1)
    assert others.max() < 1e-20 * expected


@pytest.mark.parametrize(
    "freq,band", [(4.0, 0), (7.0, 0), (8.0, 1), (13.0, 1), (21.0, 3), (47.0, 4)]
)
def test_band_edges_inclusive(freq, band):
    p = band_powers(_sine(freq, 1280, channels=1))
    assert np.argmax(p) == band and p[band] > 1e12 * np.delete(p, band).max()


def test_gap_frequency_in_no_band():
    p = band_powers(_sine(7.5, 1280, channels=1))
    assert p.max() < 1e-20


def test_feature_order_channel_major():
    x = np.zeros((32, 1280))
    x[3] = _sine(20.0, 1280, channels=1)[0]  # low beta on channel 3
    p = band_powers(x)
    assert p.shape == (N_FEATURES,) and np.argmax(p) == 3 * 5 + 2
    assert FEATURE_NAMES[17] == "ch03_low_beta" and len(FEATURE_NAMES) == 160


def test_normalise():
    rng = np.random.default_rng(0)
    x = rng.normal(3, 5, (2, 4, 500))
    x[1, 2] = 7.0
    z = normalise(x)
    np.testing.assert_allclose(z[0].mean(-1), 0, atol=1e-12)
    np.testing.assert_allclose(z[0].std(-1), 1, rtol=1e-12)
    np.testing.assert_array_equal(z[1, 2], 0)


def test_augment_shapes_and_determinism():
    rng = np.random.default_rng(1)
    x = normalise(rng.normal(size=(5, 3, 400)))
    a = augment(x, seed=3, participant=2)
    assert a.shape == (5, 4, 3, 400) and AUGMENTATIONS == ("original", "shift", "flip", "noise")
    np.testing.assert_array_equal(a[:, 0], x)
    np.testing.assert_array_equal(a[:, 2], x[:, :, ::-1])
    for t in range(5):
        shifts = [k for k in range(1, 400) if np.array_equal(np.roll(x[t], k, axis=-1), a[t, 1])]
        assert len(shifts) == 1
    resid = a[:, 3] - x
    assert abs(resid.std() - 0.1) < 0.01
    np.testing.assert_array_equal(a, augment(x, seed=3, participant=2))
    assert not np.array_equal(a[:, 3], augment(x, seed=4, participant=2)[:, 3])
    assert not np.array_equal(a[:, 3], augment(x, seed=3, participant=1)[:, 3])
    # a trial's augmentation depends on its trial number only, not on the batch it is in
    sub = augment(x[[1, 4]], seed=3, participant=2, trial_ids=[1, 4])
    np.testing.assert_array_equal(sub, a[[1, 4]])


def test_shift_and_flip_keep_band_powers(small_deap):
    part = load_participant(small_deap / "s01.dat")
    p = trial_powers(part.eeg, seed=0, participant=1)
    assert p.shape == (8, 4, 160)
    np.testing.assert_allclose(p[:, 1], p[:, 0], rtol=1e-9)
    np.testing.assert_allclose(p[:, 2], p[:, 0], rtol=1e-9)
    assert not np.allclose(p[:, 3], p[:, 0], rtol=1e-6)
    np.testing.assert_array_equal(p, trial_powers(part.eeg, seed=0, participant=1, chunk=3))
    np.testing.assert_array_equal(
        trial_powers(part.eeg, seed=0, participant=1, params=FeatureParams(augment=False))[:, 0],
        p[:, 0],
    )
    f = participant_features(part, seed=0)
    np.testing.assert_array_equal(f.powers, p)
    with pytest.raises(ValueError, match="keep_baseline"):
        participant_features(part, params=FeatureParams(keep_baseline=True))


def test_thresholds_per_participant(small_deap):
    feats = [
        participant_features(load_participant(small_deap / f"s0{i}.dat"), seed=0) for i in (1, 2)
    ]
    flat = feats[0].powers.reshape(-1, 160)
    th = fit_thresholds(feats[0].powers)
    np.testing.assert_allclose(th, flat.mean(0))
    bits = binarize(flat, th)
    assert bits.dtype == np.uint8 and set(np.unique(bits)) <= {0, 1}
    np.testing.assert_array_equal(bits, (flat > flat.mean(0)).astype(np.uint8))
    assert not np.allclose(th, fit_thresholds(feats[1].powers))
    # pretraining data: each participant is thresholded at its own mean, so scaling one
    # participant's powers (a person-specific gain) changes nothing
    x, y = pretrain_data(feats)
    assert x.shape == (64, 160) and y.shape == (64,)
    np.testing.assert_array_equal(x[:32], bits)
    scaled = type(feats[1])(
        id=2,
        powers=feats[1].powers * 37.0,
        labels=feats[1].labels,
        valence_high=feats[1].valence_high,
        seed=0,
    )
    np.testing.assert_array_equal(pretrain_data([feats[0], scaled])[0], x)
    np.testing.assert_array_equal(y[:32], np.repeat(feats[0].valence_high, 4))
    with pytest.raises(ValueError):
        binarize(flat, th[:5])
    with pytest.raises(ValueError):
        fit_thresholds(np.zeros((0, 160)))


def test_binarize_is_strict():
    np.testing.assert_array_equal(
        binarize(np.array([[1.0, 2.0, 3.0]]), np.full(3, 2.0)), [[0, 0, 1]]
    )


def test_to_spike_train():
    bits = np.random.default_rng(0).integers(0, 2, (6, 160)).astype(np.uint8)
    s = to_spike_train(bits)
    assert s.shape == (25, 6, 160) and s.dtype == np.float32 and s.flags.writeable
    for t in range(25):
        np.testing.assert_array_equal(s[t], bits)
    assert to_spike_train(bits, T=3).shape == (3, 6, 160)
    with pytest.raises(ValueError):
        to_spike_train(bits * 2)
    with pytest.raises(ValueError):
        to_spike_train(bits[0])
    with pytest.raises(ValueError):
        to_spike_train(bits, T=0)


def test_feature_params_validation():
    with pytest.raises(ValueError):
        FeatureParams(noise_sd=-1)
    with pytest.raises(ValueError):
        FeatureParams(bands=(("x", 10, 80),))
    assert FeatureParams().n_augment == 4 and FeatureParams(augment=False).n_augment == 1
