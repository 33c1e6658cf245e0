"""The EEG example's float / PTQ / QAT study (``lava_nt.examples.eeg.qat_compare``): end to end on
tiny synthetic data, and its pretrained-network cache (``pretrained.pt``): nothing in it can run
code, a corrupt cache is moved aside and the network pretrained again, a cache of other settings
is not used."""

import pytest
import torch

from lava_nt.examples.eeg.qat_compare import _cache_key, _load_pretrained, compare_qat
from lava_nt.examples.eeg.synthetic import SyntheticConfig
from lava_nt.io import UnsafeFileError, atomic_torch_save


class Payload:
    """Pickles as a call that creates ``marker`` when the file is unpickled."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').close()",))


KEY = {"settings": {"hidden": [16], "T": 8, "synthetic": {"bands": (4.0, 8.0)}}, "pretrain": [2]}


def test_cache_round_trip_and_a_cache_of_other_settings_is_not_used(tmp_path):
    path = tmp_path / "pretrained.pt"
    assert _load_pretrained(path, KEY) is None  # no cache yet
    state = {"layers.0.weight": torch.arange(6.0).reshape(2, 3)}
    atomic_torch_save({"key": _cache_key(KEY), "state": state}, path)
    got = _load_pretrained(path, KEY)
    assert torch.equal(got["layers.0.weight"], state["layers.0.weight"])
    assert _load_pretrained(path, {**KEY, "pretrain": [3]}) is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pretrained.pt"]


def test_cache_with_a_pickle_payload_is_refused_and_does_not_run(tmp_path):
    path = tmp_path / "pretrained.pt"
    marker = tmp_path / "ran"
    torch.save({"key": _cache_key(KEY), "state": {"w": Payload(marker)}}, path)
    with pytest.raises(UnsafeFileError, match=r"pretrained\.pt'.*cache refused"):
        _load_pretrained(path, KEY)
    assert not marker.exists() and path.exists()


def test_truncated_cache_is_moved_aside_and_pretraining_runs_again(tmp_path):
    path = tmp_path / "pretrained.pt"
    atomic_torch_save({"key": _cache_key(KEY), "state": {"w": torch.ones(100)}}, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with pytest.warns(RuntimeWarning, match=r"truncated or corrupt.*corrupt-1.*pretrained again"):
        assert _load_pretrained(path, KEY) is None
    assert not path.exists()
    assert (tmp_path / "pretrained.pt.corrupt-1").read_bytes() == data[: len(data) // 3]


def test_compare_qat_refuses_a_planted_cache_before_running_it(tmp_path):
    """End to end: ``compare_qat`` on a run directory holding a hostile ``pretrained.pt`` stops
    with a clear error and the payload never runs (the old loader ran it)."""
    marker = tmp_path / "ran"
    torch.save({"key": Payload(marker), "state": {}}, tmp_path / "pretrained.pt")
    syn = SyntheticConfig(n_participants=3, n_trials=10, n_samples=1024)
    with pytest.raises(UnsafeFileError, match="QAT pretrained-network cache refused"):
        compare_qat(
            tmp_path, synthetic=syn, participants=[1], seeds=[0], hidden=[16], population=4,
            T=8, pretrain_epochs=1, tune_epochs=1, lava=False, log=lambda m: None,
        )  # fmt: skip
    assert not marker.exists()


def test_compare_qat_end_to_end_on_tiny_synthetic_eeg(tmp_path):
    """The measurement function on a tiny synthetic DEAP set: pretraining, float tuning, PTQ, QAT
    tuning and the Lava fixed-point deployment (bit-exact with the training-time forward); a rerun
    resumes (nothing recomputed)."""
    syn = SyntheticConfig(n_participants=3, n_trials=10, n_samples=1024)
    kw = dict(
        synthetic=syn, participants=[1], seeds=[0], hidden=[16], population=4, T=8,
        pretrain_epochs=1, tune_epochs=2, patience=None, float_engine="eager", log=lambda m: None,
    )  # fmt: skip
    res = compare_qat(tmp_path, **kw)
    (row,) = res["rows"]
    assert row["lava_bit_exact"] is True and row["lava_predictions_equal"] is True
    assert row["qat_acc"] == row["qat_emulator_acc"]
    for key in ("float_acc", "ptq_acc", "qat_acc", "qat_latent_float_acc"):
        assert 0.0 <= row[key] <= 1.0
    assert row["float_epochs"] == row["qat_epochs"] == 2
    assert row["settings"] and "| **mean** | 1 |" in res["report"]
    assert (tmp_path / "report.md").read_text().startswith("Settings:")
    again = compare_qat(tmp_path, **kw)
    assert again["rows"] == res["rows"]
    assert len((tmp_path / "results.jsonl").read_text().splitlines()) == 1
