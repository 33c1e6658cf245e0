"""Synthetic DEAP generator: exact format, determinism, labels, plausible spectra, proxy report."""

import json
import pickle

import numpy as np
import pytest

from lava_nt.examples.eeg.calibration import calibration_report
from lava_nt.examples.eeg.deap import BASELINE_SAMPLES, load_deap
from lava_nt.examples.eeg.features import BANDS
from lava_nt.examples.eeg.synthetic import SyntheticConfig, generate_deap, generate_participant


def _raw(path):
    with open(path, "rb") as f:
        return pickle.load(f, encoding="latin1")


def test_format(small_deap):
    files = sorted(p.name for p in small_deap.glob("s*.dat"))
    assert files == ["s01.dat", "s02.dat", "s03.dat"]
    for name in files:
        raw = _raw(small_deap / name)
        assert type(raw) is dict and set(raw) == {"data", "labels"}
        assert raw["data"].dtype == np.float64 and raw["data"].shape == (8, 40, 2048)
        assert raw["labels"].dtype == np.float64 and raw["labels"].shape == (8, 4)
        assert raw["labels"].min() >= 1 and raw["labels"].max() <= 9
        assert np.isfinite(raw["data"]).all()
        assert 0.25 <= (raw["labels"][:, 0] >= 5).mean() <= 0.75
    manifest = json.loads((small_deap / "SYNTHETIC.json").read_text())
    assert manifest["config"]["n_trials"] == 8 and manifest["participants"] == [1, 2, 3]
    assert not list(small_deap.glob(".*tmp"))


def test_full_size_default_shape():
    obj = generate_participant(SyntheticConfig(), 32)
    assert obj["data"].shape == (40, 40, 8064) and obj["labels"].shape == (40, 4)
    assert obj["data"].dtype == np.float64


def test_same_seed_same_bytes_other_seed_differs(small_deap, tmp_path):
    cfg = SyntheticConfig(n_participants=3, n_trials=8, n_samples=2048, seed=7)
    generate_deap(tmp_path / "a", cfg)
    for p in (1, 2, 3):
        name = f"s0{p}.dat"
        assert (tmp_path / "a" / name).read_bytes() == (small_deap / name).read_bytes()
    # one participant alone is the same file as in the full run
    generate_deap(tmp_path / "b", cfg, participants=[2])
    assert (tmp_path / "b" / "s02.dat").read_bytes() == (small_deap / "s02.dat").read_bytes()
    other = SyntheticConfig(n_participants=3, n_trials=8, n_samples=2048, seed=8)
    generate_deap(tmp_path / "c", other, participants=[1])
    assert (tmp_path / "c" / "s01.dat").read_bytes() != (small_deap / "s01.dat").read_bytes()


def test_labels_and_class_balance():
    cfg = SyntheticConfig(n_participants=20, n_trials=40, n_samples=1024)
    fractions = []
    for p in range(1, 21):
        lab = generate_participant(cfg, p)["labels"]
        v = lab[:, 0]
        assert np.all((lab >= 1) & (lab <= 9))
        np.testing.assert_array_equal(np.round(lab, 2), lab)
        high = v >= 5
        assert np.all(v[~high] <= 4.99)
        fractions.append(high.mean())
        liking = lab[:, 3]
        assert np.corrcoef(v, liking)[0, 1] > 0
    fractions = np.array(fractions)
    assert fractions.min() >= 0.25 and fractions.max() <= 0.75
    assert len(np.unique(fractions)) > 5  # drawn per person, not constant


def test_eeg_spectrum_plausible(small_deap):
    (p,) = load_deap(small_deap, participants=[1])
    x = p.eeg - p.eeg.mean(-1, keepdims=True)
    spec = (np.abs(np.fft.rfft(x, axis=-1)) ** 2).mean(axis=(0, 1))
    f = np.fft.rfftfreq(x.shape[-1], 1 / 128)
    inside = spec[(f >= 4) & (f <= 45)].sum()
    assert spec[(f < 2) | (f > 50)].sum() < 0.01 * inside  # DEAP's 4-45 Hz band-pass
    # 1/f: theta and alpha carry more power than beta and gamma; an alpha peak stands out
    smooth = np.convolve(spec, np.ones(8) / 8, mode="same")
    band = {name: smooth[(f >= lo) & (f <= hi)].mean() for name, lo, hi in BANDS}
    assert min(band["theta"], band["alpha"]) > band["high_beta"] > band["gamma"]
    w = (f >= 7) & (f <= 20)
    assert 8 <= f[w][np.argmax(smooth[w])] <= 13
    assert 3 < p.eeg.std() < 100  # tens of microvolts
    raw = _raw(small_deap / "s01.dat")["data"]
    assert raw[:, :32, :BASELINE_SAMPLES].std() > 1  # baseline is EEG too
    assert 25 < raw[:, 39].mean() < 40  # temperature channel in degrees C


def test_valence_is_in_the_band_powers():
    """Per person, high and low valence trials differ in band power (what the model must find)."""
    from lava_nt.examples.eeg.deap import Participant
    from lava_nt.examples.eeg.features import participant_features

    cfg = SyntheticConfig(n_participants=1, n_trials=40, n_samples=1024 + BASELINE_SAMPLES)
    obj = generate_participant(cfg, 1)
    lab = obj["labels"]
    part = Participant(
        id=1,
        eeg=obj["data"][:, :32, BASELINE_SAMPLES:],
        labels=lab,
        valence_high=lab[:, 0] >= 5,
    )
    logp = np.log(participant_features(part, params=None).powers[:, 0])
    e = (lab[:, 0] - 5) / 4
    r = np.array([np.corrcoef(e, logp[:, k])[0, 1] for k in range(160)])
    assert np.abs(r).max() > 0.5 and np.mean(np.abs(r) > 0.4) > 0.1


def test_config_validation():
    with pytest.raises(ValueError):
        SyntheticConfig(n_samples=BASELINE_SAMPLES)
    with pytest.raises(ValueError):
        SyntheticConfig(noise=-1)
    with pytest.raises(ValueError):
        SyntheticConfig(class_balance=(0.8, 0.2))
    with pytest.raises(ValueError):
        SyntheticConfig(n_participants=0)
    with pytest.raises(TypeError):
        SyntheticConfig(n_trials=4.0)
    with pytest.raises(ValueError):
        SyntheticConfig(sign_flip=2)


def test_calibration_report_runs(small_deap, tmp_path, capsys):
    r = calibration_report(small_deap, split_seeds=(0,), cache_dir=tmp_path / "c")
    assert r["protocol"] == "honest" and r["participants"] == [1, 2, 3]
    assert 0 <= r["cross_person_mean"] <= 1 and 0 <= r["within_person_mean"] <= 1
    assert len(r["within_person"]) == 3
    assert "cross-person" in capsys.readouterr().out
    r = calibration_report(
        small_deap, protocol="thesis", split_seeds=(0,), cache_dir=tmp_path / "c", verbose=False
    )
    assert r["protocol"] == "thesis"
