"""DEAP loader: good files, every kind of bad file (each error names the file), unsafe pickles."""

import os
import pickle
import shutil
import struct

import numpy as np
import pytest

from lava_nt.examples.eeg.deap import (
    BASELINE_SAMPLES,
    DEAPFormatError,
    list_participants,
    load_deap,
    load_participant,
    participant_path,
)


def _raw(path):
    with open(path, "rb") as f:
        return pickle.load(f, encoding="latin1")


def _write(path, obj, protocol=4):
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=protocol)
    return path


def _good(n_trials=3, n_samples=BASELINE_SAMPLES + 300, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "data": rng.normal(0, 10, (n_trials, 40, n_samples)),
        "labels": rng.uniform(1, 9, (n_trials, 4)),
    }


def _py2_pickle(d):
    """Bytes as Python 2's cPickle (protocol 2) writes a dict of float64 arrays, like real DEAP."""
    out = bytearray(b"\x80\x02}(")  # PROTO 2, EMPTY_DICT, MARK
    for key, a in d.items():
        k = key.encode()
        out += b"U" + bytes([len(k)]) + k  # SHORT_BINSTRING key
        out += b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n"
        out += b"K\x00\x85U\x01b\x87R"  # (0,), 'b' -> _reconstruct(ndarray, (0,), 'b')
        out += b"(K\x01("  # state: (1, shape, dtype, is_fortran, rawdata)
        out += b"".join(b"M" + struct.pack("<H", s) for s in a.shape) + b"t"
        out += b"cnumpy\ndtype\nU\x02f8K\x00K\x01\x87R"  # dtype('f8', 0, 1)
        out += b"(K\x03U\x01<NNNJ" + struct.pack("<i", -1) + b"J" + struct.pack("<i", -1)
        out += b"K\x00tb"  # dtype state (3, '<', None, None, None, -1, -1, 0), BUILD
        out += b"\x89"  # False (C order)
        raw = np.ascontiguousarray(a, dtype="<f8").tobytes()
        out += b"T" + struct.pack("<I", len(raw)) + raw  # BINSTRING: a py2 str
        out += b"tb"  # TUPLE, BUILD
    out += b"u."  # SETITEMS, STOP
    return bytes(out)


def test_load_good_files(small_deap):
    parts = load_deap(small_deap)
    assert [p.id for p in parts] == [1, 2, 3]
    for p in parts:
        raw = _raw(participant_path(small_deap, p.id))
        assert p.eeg.shape == (8, 32, 2048 - BASELINE_SAMPLES)
        assert p.eeg.dtype == np.float64 and p.labels.dtype == np.float64
        np.testing.assert_array_equal(p.eeg, raw["data"][:, :32, BASELINE_SAMPLES:])
        np.testing.assert_array_equal(p.labels, raw["labels"])
        np.testing.assert_array_equal(p.valence_high, raw["labels"][:, 0] >= 5)
        assert p.baseline_removed and p.n_trials == 8
        assert not p.eeg.flags.writeable


def test_keep_baseline_and_subset(small_deap):
    (p,) = load_deap(small_deap, participants=[2], keep_baseline=True)
    raw = _raw(small_deap / "s02.dat")
    assert p.id == 2 and p.eeg.shape == (8, 32, 2048) and not p.baseline_removed
    np.testing.assert_array_equal(p.eeg, raw["data"][:, :32])
    assert list_participants(small_deap) == [1, 2, 3]


def test_python2_style_pickle_loads(tmp_path):
    d = _good()
    path = tmp_path / "s01.dat"
    path.write_bytes(_py2_pickle(d))
    ref = pickle.loads(path.read_bytes(), encoding="latin1")  # what DEAP's readme does
    np.testing.assert_array_equal(ref["data"], d["data"])
    p = load_participant(path)
    np.testing.assert_array_equal(p.eeg, d["data"][:, :32, BASELINE_SAMPLES:])
    np.testing.assert_array_equal(p.labels, d["labels"])


@pytest.mark.parametrize("protocol", [0, 2, 5])
def test_other_pickle_protocols_load(tmp_path, protocol):
    d = _good()
    p = load_participant(_write(tmp_path / "s04.dat", d, protocol))
    assert p.id == 4
    np.testing.assert_array_equal(p.labels, d["labels"])


def test_missing_file_named(small_deap, tmp_path):
    with pytest.raises(DEAPFormatError, match=r"s05\.dat: missing participant file") as e:
        load_deap(small_deap, participants=[1, 5])
    assert e.value.path == small_deap / "s05.dat"
    with pytest.raises(DEAPFormatError, match="no sNN.dat"):
        load_deap(tmp_path)
    with pytest.raises(DEAPFormatError, match="not a directory"):
        load_deap(tmp_path / "nope")


def test_truncated_and_empty(small_deap, tmp_path):
    raw = (small_deap / "s01.dat").read_bytes()
    bad = tmp_path / "s01.dat"
    bad.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DEAPFormatError, match="unreadable or truncated") as e:
        load_participant(bad)
    assert str(bad) in str(e.value)
    bad.write_bytes(b"")
    with pytest.raises(DEAPFormatError, match="empty file"):
        load_participant(bad)
    bad.write_bytes(b"this is not a pickle at all")
    with pytest.raises(DEAPFormatError, match=r"s01\.dat: unreadable"):
        load_participant(bad)


def _mutate(**kw):
    d = _good()
    for k, v in kw.items():
        if v is None:
            d.pop(k)
        else:
            d[k] = v
    return d


BAD = {
    "not a dict": ([1, 2, 3], "expected a dict"),
    "missing data": (_mutate(data=None), "missing key 'data'"),
    "missing labels": (_mutate(labels=None), "missing key 'labels'"),
    "data not array": (_mutate(data=[[1.0]]), "expected a numpy array"),
    "39 channels": (_mutate(data=np.zeros((3, 39, 700))), r"shape \(3, 39, 700\)"),
    "2-d data": (_mutate(data=np.zeros((40, 700))), "expected .trials, 40 channels"),
    "short trials": (_mutate(data=np.zeros((3, 40, 384))), "baseline"),
    "int data": (_mutate(data=np.zeros((3, 40, 700), dtype=np.int16)), "dtype int16"),
    "string labels": (_mutate(labels=np.full((3, 4), "5")), "dtype <U1"),
    "labels shape": (_mutate(labels=np.full((4, 4), 5.0)), r"'labels' has shape \(4, 4\)"),
    "labels 1-d": (_mutate(labels=np.full(3, 5.0)), r"'labels' has shape \(3,\)"),
    "nan data": (
        _mutate(data=np.where(np.arange(700) == 9, np.nan, np.zeros((3, 40, 700)))),
        "NaN",
    ),
    "inf labels": (_mutate(labels=np.array([[5, 5, 5, 5], [5, np.inf, 5, 5], [5] * 4])), "NaN/inf"),
    "label 0.5": (_mutate(labels=np.array([[5, 5, 5, 5], [0.5, 5, 5, 5], [5] * 4])), r"\[1, 9\]"),
    "label 9.5": (
        _mutate(labels=np.array([[5, 5, 5, 9.5], [5] * 4, [5] * 4])),
        "liking of trial 0",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_content_named(tmp_path, case):
    obj, pattern = BAD[case]
    path = _write(tmp_path / "s09.dat", obj)
    with pytest.raises(DEAPFormatError, match=pattern) as e:
        load_participant(path)
    assert str(e.value).startswith(str(path)) and e.value.path == path


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _EvilEval:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (eval, (f"open({str(self.marker)!r}, 'w')",))


@pytest.mark.parametrize("cls", [_Evil, _EvilEval])
def test_malicious_pickle_refused(tmp_path, cls):
    marker = tmp_path / "pwned"
    path = tmp_path / "s03.dat"
    obj = _good()
    obj["labels"] = cls(marker)
    _write(path, obj)
    # the payload really is live: an unrestricted load would run it (proved on a copy)
    with pytest.raises(DEAPFormatError, match=r"s03\.dat: unsafe pickle: refused global") as e:
        load_participant(path)
    assert "system" in str(e.value) or "eval" in str(e.value)
    assert not marker.exists()
    pickle.loads(path.read_bytes())
    assert marker.exists()


def test_inconsistent_participants_named(small_deap, tmp_path):
    for p in (1, 2):
        shutil.copy(small_deap / f"s0{p}.dat", tmp_path / f"s0{p}.dat")
    _write(tmp_path / "s03.dat", _good(n_trials=8))
    with pytest.raises(DEAPFormatError, match=r"s03\.dat: 8 trials x 300 samples, but s01.dat"):
        load_deap(tmp_path)


def test_participant_path_and_ids(tmp_path):
    assert participant_path(tmp_path, 7).name == "s07.dat"
    with pytest.raises(ValueError):
        participant_path(tmp_path, 0)
    with pytest.raises(TypeError):
        participant_path(tmp_path, "3")
    d = _write(tmp_path / "odd_name.dat", _good())
    with pytest.raises(ValueError, match="participant_id"):
        load_participant(d)
    assert load_participant(d, participant_id=12).id == 12
