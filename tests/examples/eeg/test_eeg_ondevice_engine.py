"""``lava-nt eeg run --ondevice-engine lava``: an ``ondevice`` unit whose chosen grid point is
re-run as one Lava learning run per precision gives the same results row and the same learned
biases as the twin, and leaves no process behind."""

from __future__ import annotations

import os

import numpy as np
import pytest

from lava_nt.converters.model_file import load_model
from lava_nt.examples.eeg import pipeline as pl
from lava_nt.examples.eeg.pipeline import PipelineConfig, PipelineError, run_pipeline
from lava_nt.examples.eeg.pipeline.steps import model_path, unit_dir

#: fields that may differ between the engines: what ran and how long it took
RUN_FIELDS = ("ondevice_engine", "seconds", "ondevice_float_seconds", "ondevice_fixed_seconds")


def _children() -> list[int]:
    """Processes whose parent is this test process."""
    me, out = os.getpid(), []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == me:
            out.append(int(pid))
    return out


def _run(run_dir, data, engine):
    cfg = PipelineConfig(methods=("ondevice",), seeds=(0,), participants=(1,), lava=False,
                         pretrain_epochs=2, tune_epochs=3, progress=False,
                         ondevice_engine=engine)  # fmt: skip
    run_pipeline(run_dir, cfg, data_dir=data, log=lambda _m: None, report=False)
    (row,) = [r for r in pl.load_results(run_dir) if r["kind"] == "tune"]
    spec, info = load_model(model_path(unit_dir(run_dir, 1, "ondevice", 0)))
    pre, _ = load_model(model_path(run_dir / "pretrained" / "without-p01" / "main"))
    return row, spec, info.quantized, pre


@pytest.fixture(scope="module")
def both(small_deap, tmp_path_factory):
    base = tmp_path_factory.mktemp("ondevice_engine")
    before = set(_children())
    twin = _run(base / "twin", small_deap, "twin")
    lava = _run(base / "lava", small_deap, "lava")
    return twin, lava, before


def test_lava_engine_gives_the_twins_row_and_biases(both):
    (trow, tspec, tfixed, pre), (lrow, lspec, lfixed, _), _ = both
    assert trow["ondevice_engine"] == "twin" and lrow["ondevice_engine"] == "lava"
    assert {k: v for k, v in trow.items() if k not in RUN_FIELDS} == {
        k: v for k, v in lrow.items() if k not in RUN_FIELDS
    }
    for k in range(3):
        assert np.array_equal(tspec.layers[k].neuron.bias, lspec.layers[k].neuron.bias)
        assert np.array_equal(tfixed.layers[k].neuron.bias_mant, lfixed.layers[k].neuron.bias_mant)
    # the rule learned something: the biases moved from the pretrained network's
    assert any(not np.allclose(np.broadcast_to(pre.layers[k].neuron.bias, (pre.layers[k].n,)),
                               lspec.layers[k].neuron.bias) for k in range(3))  # fmt: skip


def test_lava_engine_leaves_no_processes(both):
    *_, before = both
    assert set(_children()) <= before


def test_engine_is_validated():
    with pytest.raises(PipelineError, match="ondevice_engine"):
        PipelineConfig(ondevice_engine="loihi")


def test_cli_option_reaches_the_config_and_is_not_part_of_the_run_identity():
    from lava_nt.cli import build_parser
    from lava_nt.commands.eeg.config import build_config

    def args(*extra):
        return build_parser().parse_args(["eeg", "run", "--out", "unused", *extra])

    cfg, _, _ = build_config(args("--ondevice-engine", "lava"))
    assert cfg.ondevice_engine == "lava" and "ondevice_engine" not in cfg.identity()
    assert build_config(args())[0].ondevice_engine == "twin"
    gated, _, _ = build_config(args("--ondevice-error-gate", "misclassified",
                                    "--ondevice-class-weights", "balanced"))  # fmt: skip
    assert (gated.ondevice_error_gate, gated.ondevice_class_weights) == ("misclassified",
                                                                         "balanced")  # fmt: skip
    with pytest.raises(SystemExit):
        args("--ondevice-engine", "torch")


def test_metric_learn_on_gate_and_weights_options(small_deap, tmp_path):
    """--ondevice-metric balanced --ondevice-learn-on errors --ondevice-error-gate misclassified
    --ondevice-class-weights balanced: recorded in run.json and the row, and the unit's fixed
    network is what tune_on_device learns with them, bit for bit."""
    from lava_nt.converters.quantize import quantize
    from lava_nt.examples.eeg.pipeline import ondevice as od
    from lava_nt.ondevice import bias_headroom
    from lava_nt.ondevice.select import static_sequence, tune_on_device

    cfg = PipelineConfig(methods=("ondevice",), seeds=(0,), participants=(1,), lava=False,
                         pretrain_epochs=2, tune_epochs=3, progress=False,
                         ondevice_metric="balanced", ondevice_learn_on="errors",
                         ondevice_error_gate="misclassified",
                         ondevice_class_weights="balanced")  # fmt: skip
    assert cfg.identity()["ondevice_metric"] == "balanced"
    assert cfg.identity()["ondevice_learn_on"] == "errors"
    assert "ondevice_metric" not in PipelineConfig().identity()
    run_dir = tmp_path / "run"
    run_pipeline(run_dir, cfg, data_dir=small_deap, log=lambda _m: None, report=False)
    (row,) = [r for r in pl.load_results(run_dir) if r["kind"] == "tune"]
    assert (row["ondevice_metric"], row["ondevice_learn_on"]) == ("balanced", "errors")
    assert row["ondevice_error_gate"] == "misclassified"
    assert row["ondevice_class_weights"] == "balanced"
    assert cfg.identity()["ondevice_error_gate"] == "misclassified"
    _, info = load_model(model_path(unit_dir(run_dir, 1, "ondevice", 0)))
    pre, _ = load_model(model_path(run_dir / "pretrained" / "without-p01" / "main"))
    td = pl.unit_data(run_dir, 1, 0)
    start = bias_headroom(quantize(pre)[0], range(3), od.HEADROOM)
    fx = tune_on_device(start, static_sequence(td.x_train, 25), td.y_train,
                        static_sequence(td.x_val, 25), td.y_val, T=25, n_classes=2,
                        etas=(row["ondevice_fixed_eta"],), bands=(row["ondevice_fixed_band"],),
                        passes=od.PASSES, seed=0, float_spec=pre, metric="balanced",
                        learn_on="errors", error_gate="misclassified",
                        class_weights="balanced")  # fmt: skip
    assert fx.select_acc == row["ondevice_fixed_select_acc"]
    for k in range(3):
        got = np.broadcast_to(info.quantized.layers[k].neuron.bias_mant, (pre.layers[k].n,))
        assert np.array_equal(got, fx.biases[k])
