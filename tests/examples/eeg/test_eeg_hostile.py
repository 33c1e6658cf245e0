"""The EEG example with careless and hostile inputs: clear errors, no data lost (issue 16)."""

from __future__ import annotations

import errno
import json
import pickle
import warnings

import numpy as np
import pytest

from lava_nt.examples.eeg import pipeline as pl
from lava_nt.examples.eeg.deap import DEAPFormatError, load_participant
from lava_nt.examples.eeg.features import participant_features
from lava_nt.examples.eeg.pipeline import PipelineConfig, PipelineError, run_pipeline
from lava_nt.examples.eeg.report import write_report
from lava_nt.examples.eeg.synthetic import (
    MANIFEST,
    SyntheticConfig,
    SyntheticDataError,
    generate_deap,
)

SMALL = SyntheticConfig(n_participants=2, n_trials=4, n_samples=1024, seed=1)


# ---- the generator never replaces data it did not write ---------------------------------------
def test_generate_refuses_foreign_files_and_writes_nothing(tmp_path):
    (tmp_path / "s02.dat").write_bytes(b"real DEAP data")
    with pytest.raises(SyntheticDataError, match=r"s02\.dat .*no SYNTHETIC\.json manifest"):
        generate_deap(tmp_path, SMALL)
    assert (tmp_path / "s02.dat").read_bytes() == b"real DEAP data"
    assert not (tmp_path / "s01.dat").exists()  # checked before anything is written
    assert not (tmp_path / MANIFEST).exists()


def test_generate_twice_replaces_only_its_own_files(tmp_path):
    generate_deap(tmp_path, SMALL)
    first = (tmp_path / "s01.dat").read_bytes()
    generate_deap(tmp_path, SMALL)  # its own files: allowed, same bytes
    assert (tmp_path / "s01.dat").read_bytes() == first
    m = json.loads((tmp_path / MANIFEST).read_text())
    assert sorted(m["files"]) == ["s01.dat", "s02.dat"] and m["participants"] == [1, 2]
    # a file the user changed afterwards is no longer the generator's
    (tmp_path / "s01.dat").write_bytes(first[:-1] + b"\x00")
    with pytest.raises(SyntheticDataError, match="changed since"):
        generate_deap(tmp_path, SMALL)
    assert (tmp_path / "s01.dat").read_bytes() == first[:-1] + b"\x00"


def test_generate_after_kill_between_manifest_and_file(tmp_path, monkeypatch):
    """The hash is recorded before the file is written: a kill in between loses nothing and the
    next run may finish the job."""
    from lava_nt.examples.eeg import synthetic

    real = synthetic.atomic_write_bytes

    def die_on_second(path, data, **kw):
        if path.name == "s02.dat":
            raise KeyboardInterrupt
        return real(path, data, **kw)

    monkeypatch.setattr(synthetic, "atomic_write_bytes", die_on_second)
    with pytest.raises(KeyboardInterrupt):
        generate_deap(tmp_path, SMALL)
    monkeypatch.undo()
    assert not (tmp_path / "s02.dat").exists()
    generate_deap(tmp_path, SMALL)
    ref = tmp_path / "ref"
    generate_deap(ref, SMALL)
    assert (tmp_path / "s02.dat").read_bytes() == (ref / "s02.dat").read_bytes()


def test_cli_generate_refuses_and_says_why(tmp_path, capsys):
    from lava_nt.cli import main

    (tmp_path / "s01.dat").write_bytes(b"mine")
    code = main(["eeg", "generate", "--out", str(tmp_path), "--participants", "1", "--trials",
                 "4", "--samples", "1024"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1 and "refusing to replace data" in err and "Traceback" not in err
    assert (tmp_path / "s01.dat").read_bytes() == b"mine"


def test_run_reports_unwritable_run_directory_in_one_line(tmp_path, capsys, monkeypatch):
    """A read-only run directory (simulated: tests may run as root, which ignores modes)."""
    from lava_nt.cli import main
    from lava_nt.examples.eeg.pipeline import data as data_mod

    def refuse(*a, **k):
        raise PermissionError(errno.EROFS, "Read-only file system", str(tmp_path / "r" / "data"))

    monkeypatch.setattr(data_mod, "generate_deap", refuse)
    code = main(["eeg", "run", "--out", str(tmp_path / "r"), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code == 1 and len(err.splitlines()) == 1
    assert "cannot write" in err and "Read-only file system" in err


# ---- settings out of range --------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"test_fraction": 0.0}, r"test_fraction must be in \(0, 1\)"),
        ({"test_fraction": 1.2}, r"test_fraction must be in \(0, 1\)"),
        ({"val_fraction": -0.1}, r"val_fraction must be in \[0, 1\)"),
        ({"test_fraction": 0.6, "val_fraction": 0.4}, "must leave trials to tune on"),
        ({"spike_l1": -1e-3}, r"spike_l1 must be in \[0, inf\)"),
        ({"spike_l1": float("nan")}, "spike_l1 must be in"),
        ({"lava_timeout": 0}, r"lava_timeout must be in \(0, inf\)"),
        ({"lava_timeout": -5.0}, "lava_timeout must be in"),
        ({"lava_timeout": float("nan")}, "lava_timeout must be in"),
        ({"beta": "0.9"}, "beta must be a number"),
        ({"lr": True}, "lr must be a number"),
        ({"T": 2.5}, "T must be a positive integer"),
        ({"seeds": (True,)}, "seeds must be an integer >= 0"),
        ({"seeds": "01"}, "seeds must be a sequence of integers"),
        ({"lava": "yes"}, "lava must be True or False"),
        ({"balance_tol": 1.0}, r"balance_tol must be in \[0, 1\)"),
        ({"lava_samples": 0}, "lava_samples must be a positive integer or None"),
        ({"device": "tpu"}, "unknown device 'tpu'"),
        ({"device": 1}, "device: expected one of cpu, cuda"),
    ],
)
def test_pipeline_config_refuses_bad_values(kwargs, match):
    with pytest.raises(PipelineError, match=match):
        PipelineConfig(**kwargs)


# ---- DEAP files -------------------------------------------------------------------------------
def _dump(path, obj, protocol=2):
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=protocol)


@pytest.mark.parametrize("protocol", [2, 4])
def test_empty_trials_file_is_a_format_error_not_unsafe(tmp_path, protocol):
    p = tmp_path / "s01.dat"
    _dump(p, {"data": np.zeros((0, 40, 8064)), "labels": np.zeros((0, 4))}, protocol)
    with pytest.raises(DEAPFormatError, match="'data' has no trials"):
        load_participant(p)


class _BytesBomb:
    def __reduce__(self):
        return (bytes, (10**12,))


def test_bytes_with_arguments_is_refused(tmp_path):
    p = tmp_path / "s01.dat"
    _dump(p, {"data": _BytesBomb()})
    with pytest.raises(DEAPFormatError, match="unsafe pickle: refused builtins.bytes"):
        load_participant(p)


def test_constant_eeg_warns(tmp_path):
    p = tmp_path / "s01.dat"
    labels = np.tile([7.0, 5.0, 5.0, 5.0], (4, 1))
    _dump(p, {"data": np.ones((4, 40, 1024)), "labels": labels})
    part = load_participant(p)
    with pytest.warns(RuntimeWarning, match=r"participant 1: 128 of 128 .* constant"):
        participant_features(part)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        rng = np.random.default_rng(0)
        _dump(p, {"data": rng.normal(size=(4, 40, 1024)), "labels": labels})
        participant_features(load_participant(p))  # no warning on real signals


# ---- resume: settings compared in one canonical form ------------------------------------------
def test_run_json_compares_synthetic_config_canonically(tmp_path):
    """Tuples in the settings (class_balance, shared_channels) equal the lists run.json holds."""
    cfg = PipelineConfig(methods=("none",), seeds=(0,), participants=(1,), lava=False,
                         pretrain_epochs=1, tune_epochs=1, progress=False)  # fmt: skip
    syn = SyntheticConfig(n_participants=2, n_trials=8, n_samples=1024, seed=2)
    run_pipeline(tmp_path, cfg, synthetic=syn, log=lambda s: None, report=False)
    info = json.loads((tmp_path / "run.json").read_text())
    assert info["data"]["synthetic"]["class_balance"] == [0.25, 0.75]
    s = run_pipeline(tmp_path, cfg, synthetic=syn, log=lambda s: None, report=False)
    assert (s.units_run, s.units_skipped) == (0, 1)
    with pytest.raises(PipelineError, match="synthetic data of another configuration"):
        run_pipeline(tmp_path, cfg, synthetic=SyntheticConfig(n_participants=2, n_trials=8,
                     n_samples=1024, seed=3), log=lambda s: None)  # fmt: skip


def test_unit_models_are_model_files_and_legacy_pickles_are_refused(tmp_path):
    """Finished units are lava-nt model files with provenance; a ``model.pt`` that a run of an
    earlier version left (or someone planted) is read with weights_only: a payload is refused."""
    from lava_nt.converters.model_file import load_model
    from lava_nt.io import UnsafeFileError

    cfg = PipelineConfig(methods=("nt2",), seeds=(0,), participants=(1,), lava=False,
                         pretrain_epochs=1, tune_epochs=1, progress=False)  # fmt: skip
    syn = SyntheticConfig(n_participants=2, n_trials=8, n_samples=1024, seed=2)
    run_pipeline(tmp_path, cfg, synthetic=syn, log=lambda s: None, report=write_report)
    unit = pl.unit_dir(tmp_path, 1, "nt2", 0)
    _, info = load_model(pl.model_path(unit))
    assert info.seed == 0 and info.data_protocol == "honest" and info.meta["method"] == "nt2"
    assert info.meta["pretrain_key"] == "without-p01" and list(info.meta["data_sha256"]) == ["s01"]
    assert info.tuning_methods == [] or info.meta["tuning"] == ["nt2"]
    pre = next((tmp_path / "pretrained").glob("*/main"))
    assert load_model(pl.model_path(pre))[1].meta["pretrain_participants"] == [2]
    md = (tmp_path / "report" / "results.md").read_text()
    assert "## Model files" in md and "units/p01/nt2/seed-0/model.h5" in md

    marker = tmp_path / "PWNED"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    import torch

    for d in (unit, pre):
        pl.model_path(d).unlink()
        torch.save({"state": Payload()}, d / "model.pt")
        with pytest.raises(UnsafeFileError, match="refused"):
            pl.load_unit_model(tmp_path, 1, "nt2", 0)
        assert not marker.exists()


@pytest.mark.parametrize(
    "argv, match",
    [
        (["--lava-timeout", "0"], "--lava-timeout: must be a positive number of seconds"),
        (["--lava-timeout", "nan"], "--lava-timeout: must be a positive number of seconds"),
        (["--workers", "0"], "--workers: must be a positive integer"),
        (["--tune-epochs", "2.5"], "--tune-epochs: must be a positive integer"),
        (["--tune-lr", "-1"], "--tune-lr"),
        (["--synthetic-seed", "-1"], "--synthetic-seed"),
    ],
)
def test_eeg_run_option_values_are_checked(argv, match, capsys, tmp_path):
    from lava_nt.cli import main

    with pytest.raises(SystemExit) as e:
        main(["eeg", "run", "--out", str(tmp_path / "r"), *argv])
    assert e.value.code == 2 and match in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
