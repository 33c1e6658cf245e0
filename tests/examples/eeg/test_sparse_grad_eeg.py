"""``lava-nt eeg run --sparse-grad B_TH``: parsed, validated, recorded in run.json and every
results row, refused on a resume with another value, and actually used in training."""

from __future__ import annotations

import json

import pytest
import torch

from lava_nt.examples.eeg import pipeline as pl
from lava_nt.examples.eeg.pipeline import PipelineConfig, PipelineError, run_pipeline

TINY = dict(pretrain_epochs=2, tune_epochs=3, progress=False, lava=False)


def _quiet(_msg):
    pass


def _args(*extra):
    from lava_nt.cli import build_parser

    return build_parser().parse_args(["eeg", "run", "--out", "unused", *extra])


def test_parser_and_config():
    from lava_nt.commands.eeg.config import build_config

    cfg, _, _ = build_config(_args("--sparse-grad", "0.5"))
    assert cfg.sparse_grad == 0.5
    assert cfg.identity()["sparse_grad"] == 0.5
    assert "|v - vth| < 0.5 vth" in cfg.describe()
    dense, _, _ = build_config(_args())
    assert dense.sparse_grad is None and "sparse_grad" not in dense.identity()
    for bad in ("0", "-1", "nan", "x"):
        with pytest.raises(SystemExit):
            _args("--sparse-grad", bad)


def test_config_refusals():
    for bad in (0.0, -0.5, float("inf"), "0.5", True):
        with pytest.raises(PipelineError, match="sparse_grad"):
            PipelineConfig(sparse_grad=bad)
    with pytest.raises(PipelineError, match="sparse_grad does not combine with qat"):
        PipelineConfig(sparse_grad=0.5, qat=True)


def test_tiny_run_records_band_and_refuses_other_value(small_deap, tmp_path, monkeypatch):
    from lava_nt.examples.eeg.pipeline import units

    used = []
    real = units.sparse_gradients

    def spy(net, band):
        used.append(band)
        return real(net, band)

    monkeypatch.setattr(units, "sparse_gradients", spy)
    cfg = PipelineConfig(
        methods=("none", "nt2", "logreg"), seeds=(0,), participants=(1,), sparse_grad=0.5, **TINY
    )
    run_dir = tmp_path / "run"
    run_pipeline(run_dir, cfg, data_dir=small_deap, log=_quiet, report=False)
    info = json.loads((run_dir / "run.json").read_text())
    assert info["config"]["sparse_grad"] == 0.5
    rows = pl.load_results(run_dir)
    assert {r["kind"] for r in rows} == {"pretrain", "tune"}
    assert len(rows) == 4 and all(r["sparse_grad"] == 0.5 for r in rows)
    assert used == [0.5, 0.5]  # the pretraining and the nt2 tuning
    # the model files hold the plain surrogate (the band lives only while training)
    net, _ = pl.load_unit_model(run_dir, 1, "nt2", 0)
    assert all(
        "width" not in getattr(m.spike_fn, "keywords", {})
        for m in net.modules()
        if hasattr(m, "spike_fn")
    )
    for other in (None, 0.25):
        cfg2 = PipelineConfig(
            methods=("none",), seeds=(0,), participants=(1,), sparse_grad=other, **TINY
        )
        with pytest.raises(PipelineError, match=f"sparse_grad: 0.5 -> {other!r}"):
            run_pipeline(run_dir, cfg2, data_dir=small_deap, log=_quiet, report=False)
    # the same value resumes: nothing left to run
    summary = run_pipeline(run_dir, cfg, data_dir=small_deap, log=_quiet, report=False)
    assert summary.units_run == 0


def test_band_changes_training_and_comparison_block(small_deap, tmp_path, capsys):
    """Two tiny CLI runs, dense and with a narrow band: the band reaches the gradients (the
    pretrained weights differ), only the banded run's rows carry sparse_grad, and
    ``report --against`` writes the paired comparison as a docs block naming both commands."""
    from lava_nt.cli import main
    from lava_nt.docs_blocks import blocks

    runs = {}
    for band in (None, 0.05):
        run_dir = tmp_path / f"run-{band}"
        args = [
            "eeg",
            "run",
            "--data",
            str(small_deap),
            "--out",
            str(run_dir),
            "--participants",
            "1",
            "2",
            "--methods",
            "none",
            "nt2",
            "--seeds",
            "0",
            "--pretrain-epochs",
            "2",
            "--tune-epochs",
            "3",
            "--no-lava",
            "--no-progress",
        ]
        if band is not None:
            args += ["--sparse-grad", str(band)]
        assert main(args) == 0, capsys.readouterr().err
        rows = pl.load_results(run_dir)
        assert all(("sparse_grad" in r) == (band is not None) for r in rows)
        runs[band] = run_dir
    w = [pl.load_unit_model(runs[b], 1, "none", 0)[0].layers[1].linear.weight for b in runs]
    assert not torch.equal(w[0], w[1])
    page = tmp_path / "page.md"
    page.write_text("intro\n<!-- BEGIN generated: cmp -->\n<!-- END generated: cmp -->\n")
    capsys.readouterr()
    rc = main(["eeg", "report", str(runs[0.05]), "--against", str(runs[None]), "--no-plots",
               "--docs", str(page), "--docs-name", "cmp"])  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    body = blocks(page.read_text())["cmp"]
    assert f"--against {runs[None]} --docs {page} --docs-name cmp" in body
    assert body.count("- `lava-nt eeg run --data") == 2 and "--sparse-grad 0.05" in body
    assert "sparse_grad: None -> 0.05" in body
    assert "| nt2 | 2 | 2 |" in body and "| none | 2 | 2 |" in body
