"""LOSO pipeline, report and CLI of the EEG example on tiny synthetic data (fast, no timings)."""

from __future__ import annotations

import json
import shutil
import warnings

import numpy as np
import pytest

from lava_nt.converters.model_file import load_model
from lava_nt.examples.eeg import pipeline as pl
from lava_nt.examples.eeg.pipeline import PipelineConfig, PipelineError, run_pipeline
from lava_nt.examples.eeg.report import write_report
from lava_nt.examples.eeg.synthetic import SyntheticConfig, generate_deap

TINY = dict(pretrain_epochs=2, tune_epochs=3, progress=False)


def _quiet(_msg):
    pass


def _tune_rows(run_dir):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the torn line of the resume test
        rows = [r for r in pl.load_results(run_dir) if r["kind"] == "tune"]
    drop = {"seconds"}
    return sorted(
        ({k: v for k, v in r.items() if k not in drop} for r in rows),
        key=lambda r: (r["participant"], r["method"], r["seed"]),
    )


def _table(run_dir):
    """The results table without header comments (those name the run's own directory)."""
    text = (run_dir / "report" / "results.csv").read_text()
    return [line for line in text.splitlines() if not line.startswith("#")]


@pytest.fixture(scope="module")
def e2e(small_deap, tmp_path_factory):
    """Two folds, two methods, one seed, Lava float deployment on 4 test samples per model."""
    run_dir = tmp_path_factory.mktemp("eeg_e2e") / "run"
    cfg = PipelineConfig(
        methods=("none", "spiking_bias"),
        seeds=(0,),
        participants=(1, 2),
        lava=True,
        lava_fixed=False,
        lava_samples=4,
        **TINY,
    )
    summary = run_pipeline(run_dir, cfg, data_dir=small_deap, log=_quiet, report=write_report)
    return run_dir, summary


def test_end_to_end_table_plots_and_lava(e2e):
    run_dir, summary = e2e
    assert summary.units_total == 4 and summary.units_run == 4 and summary.deployed == 4
    rep = run_dir / "report"
    for name in ("results.md", "results.csv", "results_long.csv", "parameters.csv", "deploy.csv",
                 "accuracy_bars.png", "bias_current.png", "output_raster.png"):  # fmt: skip
        assert (rep / name).is_file(), name
        assert (rep / name).stat().st_size > 0
    md = (rep / "results.md").read_text()
    assert "honest protocol" in md and "protocol: honest" in md
    assert "synthetic DEAP-format data" in md
    assert "| **Mean** |" in md and "| 1 |" in md and "| 2 |" in md
    # parameter counts of the paper's network
    params = (rep / "parameters.csv").read_text()
    assert "spiking_bias,main,1300,465300" in params and "none,main,0,465300" in params
    # Lava float equals torch float64 spike for spike; its accuracy is reported beside torch's
    dep = [r for r in pl.load_results(run_dir) if r["kind"] == "deploy"]
    assert len(dep) == 4
    for r in dep:
        assert r["n_samples"] == 4
        assert r["float_output_match"] == 1.0
        assert r["lava_float_acc"] == r["torch64_acc"]
        assert 0.0 <= r["lava_float_acc"] <= 1.0
        assert r["fixed_status"] == "not run"
    assert "Lava float acc" in md
    # one pretraining per fold, cached
    pre = [r for r in pl.load_results(run_dir) if r["kind"] == "pretrain"]
    assert sorted(r["key"] for r in pre) == ["without-p01", "without-p02"]
    assert all(r["pretrain_participants"] == [q for q in (1, 2, 3) if q not in r["left_out"]]
               for r in pre)  # fmt: skip
    with np.load(pl.unit_dir(run_dir, 1, "spiking_bias", 0) / "deploy.npz") as z:
        assert z["lava_float"].shape == (25, 4, 100)
    # finished pretrainings and units keep their model file and history, not the checkpoints
    assert not sorted(run_dir.rglob("*.pt"))
    d = pl.unit_dir(run_dir, 1, "spiking_bias", 0)
    assert pl.model_path(d).is_file() and (d / "metrics.jsonl").is_file()
    assert "keep_checkpoints" not in pl.load_run_info(run_dir)["config"]  # the default


def test_rerun_skips_everything_and_report_cli(e2e, capsys):
    from lava_nt.cli import main

    run_dir, _ = e2e
    before = _table(run_dir)
    models = {p: p.read_bytes() for p in sorted(run_dir.rglob("model.h5"))}
    assert len(models) == 4  # two pretrainings, two spiking_bias units
    cfg = PipelineConfig(
        methods=("none", "spiking_bias"), seeds=(0,), participants=(1, 2), lava=True,
        lava_fixed=False, lava_samples=4, **TINY,
    )  # fmt: skip
    s = run_pipeline(run_dir, cfg, data_dir=pl.load_run_info(run_dir)["data"]["directory"],
                     log=_quiet, report=False)  # fmt: skip
    assert (s.units_run, s.units_skipped, s.deployed) == (0, 4, 0)
    assert main(["eeg", "report", str(run_dir), "--no-plots"]) == 0
    out = capsys.readouterr().out
    assert "results.md" in out
    assert _table(run_dir) == before
    # nothing rewritten, and a finished unit is re-read from its model file alone
    assert {p: p.read_bytes() for p in sorted(run_dir.rglob("model.h5"))} == models
    assert not sorted(run_dir.rglob("*.pt"))
    net, td = pl.load_unit_model(run_dir, 1, "spiking_bias", 0)
    _, info = load_model(pl.model_path(pl.unit_dir(run_dir, 1, "spiking_bias", 0)))
    assert info.meta["method"] == "spiking_bias" and net.sizes == [160, 400, 800, 100]
    assert len(td.y_test) > 0


def _values(path) -> list[bytes]:
    """Every weight and bias of a model file's network, as bytes."""
    spec, _ = load_model(path)
    return [np.asarray(a).tobytes() for ls in spec.layers for a in (ls.weight, ls.neuron.bias)]


class _Killed(BaseException):
    """A simulated kill (a BaseException, as SIGKILL is nothing the pipeline could catch)."""


def _kill_after_tune_rows(monkeypatch, n):
    """The run dies right after its ``n``-th finished tuning unit was recorded."""
    from lava_nt.examples.eeg.pipeline import run as run_mod

    real, count = run_mod.append_result, [0]

    def append(run_dir, row):
        real(run_dir, row)
        count[0] += row["kind"] == "tune"
        if count[0] >= n:
            raise _Killed

    monkeypatch.setattr(run_mod, "append_result", append)


def _kill_in_training(monkeypatch, unit_dir_name, epoch):
    """The run dies inside the training of the unit stored in ``unit_dir_name`` after ``epoch``
    (its checkpoint written, as a kill between two epochs would leave it)."""
    from lava_nt.examples.eeg.pipeline import units as units_mod
    from lava_nt.training import train

    real = units_mod._train

    def fake(net, train_data, cfg, run_dir, fused, val_data=None, test_data=None):
        if run_dir.name == "seed-0" and run_dir.parent.name == unit_dir_name:
            from lava_nt.nn.fused import FusedNTNetwork

            model = FusedNTNetwork.from_network(net) if fused else net
            train(model, train_data, cfg, val_data=val_data, test_data=test_data,
                  run_dir=run_dir, resume=True, stop_after_epoch=epoch)  # fmt: skip
            raise _Killed
        return real(net, train_data, cfg, run_dir, fused, val_data, test_data)

    monkeypatch.setattr(units_mod, "_train", fake)


def test_resume_after_kill_gives_same_results(small_deap, tmp_path, monkeypatch):
    cfg = PipelineConfig(
        methods=("nt2", "volumetric"), seeds=(0, 1), participants=(1,), lava=False, **TINY
    )
    ref = tmp_path / "ref"
    run_pipeline(ref, cfg, data_dir=small_deap, log=_quiet, report=write_report)

    run = tmp_path / "killed"
    # killed after the first finished unit ...
    with monkeypatch.context() as m:
        _kill_after_tune_rows(m, 1)
        with pytest.raises(_Killed):
            run_pipeline(run, cfg, data_dir=small_deap, log=_quiet)
    assert len(_tune_rows(run)) == 1
    # (killed between its results line and the removal: its checkpoints are still there)
    first = pl.unit_dir(run, 1, "nt2", 0)
    assert (first / "checkpoint.pt").is_file() and (first / "best.pt").is_file()
    # ... then inside the training of the third unit (checkpoint after epoch 1 of 3) ...
    with monkeypatch.context() as m:
        _kill_in_training(m, "volumetric", 1)
        with pytest.raises(_Killed):
            run_pipeline(run, cfg, data_dir=small_deap, log=_quiet)
    assert len(_tune_rows(run)) == 2
    assert (pl.unit_dir(run, 1, "volumetric", 0) / "checkpoint.pt").exists()
    assert not pl.model_path(pl.unit_dir(run, 1, "volumetric", 0)).exists()
    # the finished units and the pretraining hold no checkpoints (the first one's removed when
    # this run started), the interrupted unit keeps its own to resume from
    assert sorted(p.relative_to(run) for p in run.rglob("*.pt")) == [
        pl.unit_dir(run, 1, "volumetric", 0).relative_to(run) / "checkpoint.pt"
    ]
    # ... and a torn last line from a kill while appending
    with open(run / pl.RESULTS, "a") as f:
        f.write('{"schema": 1, "kind": "tu')
    with pytest.warns(RuntimeWarning, match="unreadable line"):
        s = run_pipeline(run, cfg, data_dir=small_deap, log=_quiet, report=write_report)
    assert (s.units_run, s.units_skipped) == (2, 2)
    assert _tune_rows(run) == _tune_rows(ref)
    assert _table(run) == _table(ref)
    assert not sorted(run.rglob("*.pt")) and not sorted(ref.rglob("*.pt"))
    for method in cfg.methods:  # the resumed units hold the uninterrupted run's networks
        for seed in cfg.seeds:
            a, b = (pl.model_path(pl.unit_dir(r, 1, method, seed)) for r in (run, ref))
            assert _values(a) == _values(b)
    # the torn line was terminated; every other line is valid JSON
    lines = (run / pl.RESULTS).read_text().splitlines()
    torn = [ln for ln in lines if ln == '{"schema": 1, "kind": "tu']
    assert len(torn) == 1
    assert all(json.loads(ln)["schema"] == 1 for ln in lines if ln not in torn)


def test_keep_checkpoints_keeps_them_and_is_part_of_the_run(small_deap, tmp_path):
    cfg = PipelineConfig(methods=("nt2",), seeds=(0,), participants=(1,), lava=False,
                         keep_checkpoints=True, **TINY)  # fmt: skip
    run = tmp_path / "run"
    run_pipeline(run, cfg, data_dir=small_deap, log=_quiet, report=False)
    for d in (pl.unit_dir(run, 1, "nt2", 0), run / "pretrained" / "without-p01" / "main"):
        assert {p.name for p in d.glob("*.pt")} == {"checkpoint.pt", "best.pt"}, d
        assert pl.model_path(d).is_file()
    assert pl.load_run_info(run)["config"]["keep_checkpoints"] is True
    # the run's setting: the same run without it is refused, nothing removed
    plain = PipelineConfig(**{**cfg.__dict__, "keep_checkpoints": False})
    with pytest.raises(PipelineError, match="keep_checkpoints: True -> False"):
        run_pipeline(run, plain, data_dir=small_deap, log=_quiet)
    s = run_pipeline(run, cfg, data_dir=small_deap, log=_quiet, report=False)
    assert (s.units_run, s.units_skipped) == (0, 1)
    assert len(sorted(run.rglob("*.pt"))) == 4


def test_deploying_finished_units_later_needs_only_their_model_files(small_deap, tmp_path):
    """Lava switched on for a run whose units finished without it: the deployment reads the
    model files (the checkpoints are gone) and runs the float and the quantised network."""
    cfg = PipelineConfig(methods=("nt2",), seeds=(0,), participants=(1,), lava=False,
                         lava_samples=2, **TINY)  # fmt: skip
    run = tmp_path / "run"
    run_pipeline(run, cfg, data_dir=small_deap, log=_quiet, report=False)
    assert not sorted(run.rglob("*.pt"))
    later = PipelineConfig(**{**cfg.__dict__, "lava": True})
    s = run_pipeline(run, later, data_dir=small_deap, log=_quiet, report=False)
    assert (s.units_run, s.deployed) == (0, 1)
    (dep,) = [r for r in pl.load_results(run) if r["kind"] == "deploy"]
    assert dep["n_samples"] == 2 and dep["float_output_match"] == 1.0
    assert dep["fixed_status"] == "ok"


def test_thesis_protocol_named_in_reports(small_deap, tmp_path):
    cfg = PipelineConfig(
        protocol="thesis", methods=("nt2",), seeds=(0,), participants=(3,), lava=False, **TINY
    )
    run_pipeline(tmp_path / "run", cfg, data_dir=small_deap, log=_quiet, report=write_report)
    rep = tmp_path / "run" / "report"
    md = (rep / "results.md").read_text()
    assert "(thesis protocol)" in md and "best test epoch" in md
    assert "# protocol: thesis" in (rep / "results.csv").read_text()
    (row,) = _tune_rows(tmp_path / "run")
    assert row["protocol"] == "thesis" and row["selection"] == "test" and row["n_val"] == 0


def test_bad_inputs(small_deap, tmp_path):
    with pytest.raises(PipelineError, match="unknown method 'nt3'.*Did you mean 'nt2'"):
        PipelineConfig(methods=("nt3",))
    with pytest.raises(PipelineError, match="unknown protocol"):
        PipelineConfig(protocol="paper")
    with pytest.raises(PipelineError, match="does not exist"):
        run_pipeline(tmp_path / "r1", PipelineConfig(), data_dir=tmp_path / "nope", log=_quiet)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(PipelineError, match="no DEAP participant files"):
        run_pipeline(tmp_path / "r2", PipelineConfig(), data_dir=empty, log=_quiet)
    one = tmp_path / "one"
    one.mkdir()
    shutil.copy(small_deap / "s01.dat", one / "s01.dat")
    with pytest.raises(PipelineError, match="at least 2 participants"):
        run_pipeline(tmp_path / "r3", PipelineConfig(), data_dir=one, log=_quiet)
    with pytest.raises(PipelineError, match=r"participants \[9\] are not in"):
        run_pipeline(tmp_path / "r4", PipelineConfig(participants=(9,)), data_dir=small_deap,
                     log=_quiet)  # fmt: skip
    with pytest.raises(PipelineError, match="no participant left to pretrain on"):
        run_pipeline(tmp_path / "r5", PipelineConfig(fold_group_size=3), data_dir=small_deap,
                     log=_quiet)  # fmt: skip
    # the pipeline does not import the report: the writer is passed in (True is refused)
    with pytest.raises(PipelineError, match="'report' is the report writer"):
        run_pipeline(tmp_path / "r6", PipelineConfig(), data_dir=small_deap, log=_quiet,
                     report=True)  # fmt: skip
    assert not (tmp_path / "r6").exists()


def test_settings_must_match_on_resume(small_deap, tmp_path):
    cfg = PipelineConfig(methods=("none",), seeds=(0,), participants=(1,), lava=False, **TINY)
    run_pipeline(tmp_path / "run", cfg, data_dir=small_deap, log=_quiet, report=False)
    other = PipelineConfig(
        methods=("none",), seeds=(0,), participants=(1,), lava=False, pretrain_epochs=3,
        tune_epochs=3,
    )  # fmt: skip
    with pytest.raises(PipelineError, match="pretrain_epochs: 2 -> 3"):
        run_pipeline(tmp_path / "run", other, data_dir=small_deap, log=_quiet)
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert info["config"]["protocol"] == "honest" and info["data"]["source"] == "synthetic"


def test_cli_errors_and_generate(tmp_path, capsys):
    from lava_nt.cli import main

    assert main(["eeg", "run", "--methods", "nt2", "bogus", "--out", str(tmp_path / "r")]) == 1
    assert "unknown method 'bogus'" in capsys.readouterr().err
    assert main(["eeg", "run", "--data", str(tmp_path / "missing"), "--out",
                 str(tmp_path / "r")]) == 1  # fmt: skip
    assert "does not exist" in capsys.readouterr().err
    assert main(["eeg", "report", str(tmp_path / "nothing")]) == 1
    assert "does not exist" in capsys.readouterr().err
    for bad, msg in (("5-2", "empty range '5-2'"), ("x", "not a number or range: 'x'")):
        with pytest.raises(SystemExit, match=msg):  # one line, no traceback
            main(["eeg", "run", "--seeds", bad, "--out", str(tmp_path / "r")])
    out = tmp_path / "gen"
    assert main(["eeg", "generate", "--out", str(out), "--participants", "2", "--trials", "4",
                 "--samples", "1024", "--seed", "3"]) == 0  # fmt: skip
    assert sorted(p.name for p in out.glob("s*.dat")) == ["s01.dat", "s02.dat"]
    ref = tmp_path / "ref"
    generate_deap(ref, SyntheticConfig(n_participants=2, n_trials=4, n_samples=1024, seed=3))
    assert (out / "s02.dat").read_bytes() == (ref / "s02.dat").read_bytes()


def test_cli_quick_settings():
    """``--quick`` maps to the documented demo settings (the demo itself is timed by hand)."""
    import argparse

    from lava_nt.commands import eeg

    parser = argparse.ArgumentParser()
    eeg.register(parser.add_subparsers())
    args = parser.parse_args(["eeg", "run", "--quick"])
    config, synthetic, run_dir = eeg.build_config(args)
    assert config.methods == ("none", "nt2", "spiking_bias", "volumetric")
    assert config.participants == (1, 2) and config.seeds == (0,)
    assert config.lava and config.lava_fixed and config.protocol == "honest"
    assert synthetic.n_participants == 4 and synthetic.n_samples == 2048
    assert str(run_dir) == "runs/eeg-quick"
    args = parser.parse_args(["eeg", "run", "--participants", "1-3", "5", "--seeds", "0,2"])
    config, synthetic, _ = eeg.build_config(args)
    assert config.participants == (1, 2, 3, 5) and config.seeds == (0, 2)
    assert synthetic.n_participants == 32 and config.keep_checkpoints is False
    config, _, _ = eeg.build_config(parser.parse_args(["eeg", "run", "--keep-checkpoints"]))
    assert config.keep_checkpoints is True


def test_fold_group_shares_one_pretraining(small_deap, tmp_path):
    """``fold_group_size=2``: folds 1 and 2 share one pretraining on participant 3 only."""
    cfg = PipelineConfig(
        methods=("none", "nt2"), seeds=(0,), participants=(1, 2), lava=False, fold_group_size=2,
        **TINY,
    )  # fmt: skip
    run_pipeline(tmp_path / "run", cfg, data_dir=small_deap, log=_quiet, report=False)
    rows = pl.load_results(tmp_path / "run")
    pre = [r for r in rows if r["kind"] == "pretrain"]
    assert [(r["key"], r["pretrain_participants"]) for r in pre] == [("without-p01-p02", [3])]
    assert {r["pretrain_key"] for r in rows if r["kind"] == "tune"} == {"without-p01-p02"}
    net, td = pl.load_unit_model(tmp_path / "run", 2, "nt2", 0)
    assert net.sizes == [160, 400, 800, 100] and len(td.y_test) == 8


def test_records_alone_continue_a_run(small_deap, tmp_path):
    """A run directory copied without its model files (run.json, results.jsonl,
    commands.jsonl only) continues: work that needs a missing model recomputes it (the same
    network, deterministic given the seed); finished work that needs none is not redone."""
    cfg = PipelineConfig(methods=("none", "nt2"), seeds=(0,), participants=(1,), lava=False,
                         lava_samples=2, **TINY)  # fmt: skip
    ref = tmp_path / "ref"
    run_pipeline(ref, cfg, data_dir=small_deap, log=_quiet, report=False)
    records = tmp_path / "records"
    records.mkdir()
    shutil.copy(ref / pl.RESULTS, records / pl.RESULTS)
    shutil.copy(ref / pl.RUN_JSON, records / pl.RUN_JSON)
    # nothing left to do: nothing recomputed, no model written
    log = []
    s = run_pipeline(records, cfg, data_dir=small_deap, log=log.append, report=False)
    assert (s.units_run, s.units_skipped) == (0, 2)
    assert not list(records.rglob(pl.MODEL_FILE)) and not any("missing" in m for m in log)
    # deployment switched on: it needs nt2's tuned model and the pretrained one (for none)
    later = PipelineConfig(**{**cfg.__dict__, "lava": True})
    s = run_pipeline(records, later, data_dir=small_deap, log=log.append, report=False)
    assert (s.units_run, s.deployed) == (1, 2)
    assert any("1 tuned unit(s) are recorded as finished" in m for m in log)
    assert any("1 pretraining(s) are recorded as finished" in m for m in log)
    for d in (pl.unit_dir(records, 1, "nt2", 0), records / "pretrained" / "without-p01" / "main"):
        a, b = pl.model_path(d), pl.model_path(ref / d.relative_to(records))
        assert _values(a) == _values(b)  # the same networks again
    assert _tune_rows(records) == _tune_rows(ref)  # the first rows stay the record
    deps = [r for r in pl.load_results(records) if r["kind"] == "deploy"]
    assert sorted(r["method"] for r in deps) == ["none", "nt2"]
    assert all(r["float_output_match"] == 1.0 for r in deps)
