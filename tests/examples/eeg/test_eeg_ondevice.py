"""The ``ondevice`` method of the EEG pipeline: the local rule's twin tunes the fold network's
biases in float and fixed point; the unit's fixed model is what the rule learned, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from lava_nt.converters.model_file import load_model
from lava_nt.converters.quantize import quantize
from lava_nt.examples.eeg import pipeline as pl
from lava_nt.examples.eeg.pipeline import PipelineConfig, PipelineError, run_pipeline
from lava_nt.examples.eeg.pipeline import ondevice as od
from lava_nt.examples.eeg.pipeline.steps import model_path, unit_dir
from lava_nt.examples.eeg.report import write_report
from lava_nt.ondevice import bias_headroom
from lava_nt.ondevice.select import presentation_order, static_sequence, tune_on_device
from lava_nt.spec.validation import ParameterError

TINY = dict(pretrain_epochs=2, tune_epochs=3, progress=False)
METHODS = ("none", "nt2", "ondevice")


def _quiet(_msg):
    pass


def _config():
    return PipelineConfig(methods=METHODS, seeds=(0,), participants=(1,), lava=True,
                          lava_fixed=True, lava_check=2, **TINY)  # fmt: skip


@pytest.fixture(scope="module")
def run(small_deap, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("eeg_ondevice") / "run"
    summary = run_pipeline(run_dir, _config(), data_dir=small_deap, log=_quiet,
                           report=write_report)  # fmt: skip
    return run_dir, summary


def _rows(run_dir, kind, method):
    return [r for r in pl.load_results(run_dir) if r["kind"] == kind and r["method"] == method]


def test_ondevice_unit_rows_and_deployment(run):
    run_dir, summary = run
    assert summary.units_run == 3
    (tune,) = _rows(run_dir, "tune", "ondevice")
    assert 0.0 <= tune["test_acc"] <= 1.0
    assert tune["n_trainable"] == 400 + 800 + 100  # the biases nt2 trains
    (nt2,) = _rows(run_dir, "tune", "nt2")
    assert tune["n_trainable"] == nt2["n_trainable"]
    for prec in ("float", "fixed"):
        assert tune[f"ondevice_{prec}_eta"] in od.ETAS
        assert tune[f"ondevice_{prec}_band"] in od.BANDS
    assert tune["ondevice_feedback"] == "derived" and tune["ondevice_passes"] == od.PASSES
    assert tune["ondevice_select_part"] == "val"
    assert tune["epochs_run"] == 0 and tune["best_epoch"] is None and tune["device"] == "cpu"
    (dep,) = _rows(run_dir, "deploy", "ondevice")
    assert dep["fixed_status"] == "ok" and dep["fixed_model"] == "given"
    assert dep["lava_check_float_match"] == 1.0 and dep["lava_check_fixed_match"] == 1.0
    # the deployed fixed network is the learned one: its accuracy equals the unit's record
    assert dep["lava_fixed_acc"] == pytest.approx(tune["ondevice_fixed_test_acc"])
    (dep_nt2,) = _rows(run_dir, "deploy", "nt2")
    assert dep_nt2["fixed_model"] == "quantised"
    text = (run_dir / "report" / "results.md").read_text()
    assert "on-device bias rule" in text
    assert "| ondevice - nt2 |" in text  # paired against BPTT of the same biases


def test_stats_pair_ondevice_with_nt2():
    from lava_nt.examples.eeg.stats import default_pairs

    assert ("ondevice", "nt2") in default_pairs(["none", "nt2", "ondevice"])
    assert ("ondevice", "nt2") not in default_pairs(["none", "ondevice"])


def test_fixed_model_is_the_twins_learning_bit_for_bit(run):
    run_dir, _ = run
    (tune,) = _rows(run_dir, "tune", "ondevice")
    spec, info = load_model(model_path(unit_dir(run_dir, 1, "ondevice", 0)))
    assert info.meta["learner"] == "ondevice" and info.seed == 0
    assert info.quantized is not None
    pre, _ = load_model(model_path(run_dir / "pretrained" / "without-p01" / "main"))
    td = pl.unit_data(run_dir, 1, 0)
    T = 25
    x_tune, x_val = static_sequence(td.x_train, T), static_sequence(td.x_val, T)
    kw = dict(T=T, n_classes=2, passes=od.PASSES, seed=0, feedback="derived")
    start = bias_headroom(quantize(pre)[0], range(3), od.HEADROOM)
    fx = tune_on_device(start, x_tune, td.y_train, x_val, td.y_val, float_spec=pre,
                        etas=(tune["ondevice_fixed_eta"],),
                        bands=(tune["ondevice_fixed_band"],), **kw)  # fmt: skip
    changed = []
    for k in range(3):
        n = spec.layers[k].n
        got = np.broadcast_to(info.quantized.layers[k].neuron.bias_mant, (n,))
        assert np.array_equal(got, fx.biases[k])
        changed.append(not np.array_equal(got, np.broadcast_to(start.layers[k].neuron.bias_mant,
                                                                (n,))))  # fmt: skip
    assert any(changed)  # the rule learned something
    fl = tune_on_device(pre, x_tune, td.y_train, x_val, td.y_val,
                        etas=(tune["ondevice_float_eta"],),
                        bands=(tune["ondevice_float_band"],), **kw)  # fmt: skip
    for k in range(3):
        got = np.broadcast_to(spec.layers[k].neuron.bias, (spec.layers[k].n,))
        assert np.array_equal(got, fl.biases[k].astype(np.float32).astype(np.float64))


def test_rerun_is_a_no_op(run):
    run_dir, _ = run
    before = pl.load_results(run_dir)
    s = run_pipeline(run_dir, _config(), data_dir=pl.load_run_info(run_dir)["data"]["directory"],
                     log=_quiet, report=False)  # fmt: skip
    assert (s.units_run, s.deployed) == (0, 0)
    assert len(pl.load_results(run_dir)) == len(before)


def test_not_a_default_or_quick_method_and_no_qat():
    from lava_nt.commands.eeg.config import QUICK
    from lava_nt.examples.eeg.pipeline.qat import qat_applies

    assert "ondevice" not in pl.DEFAULT_METHODS and "ondevice" not in QUICK["methods"]
    assert not qat_applies(pl.METHODS["ondevice"]) and qat_applies(pl.METHODS["nt2"])
    with pytest.raises(PipelineError, match="Did you mean 'ondevice'"):
        PipelineConfig(methods=("ondevic",))


def test_presentation_order_is_seeded_permutations():
    a, b = presentation_order(10, 2, 0), presentation_order(10, 2, 1)
    assert sorted(a[:10]) == list(range(10)) and sorted(a[10:]) == list(range(10))
    assert np.array_equal(a, presentation_order(10, 2, 0)) and not np.array_equal(a, b)


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        (dict(etas=()), "etas"),
        (dict(etas=(-1e-3,)), "etas"),
        (dict(bands=(0.0,)), "bands"),
        (dict(passes=0), "passes"),
        (dict(feedback="random"), "feedback"),
    ],
)
def test_bad_settings(kw, match):
    from lava_nt.builder import build_network

    spec = build_network(4, [3], n_classes=2, population=1, seed=0).to_spec()
    x = static_sequence(np.ones((2, 4)), 5)
    with pytest.raises(ParameterError, match=match):
        tune_on_device(spec, x, [0, 1], x, [0, 1], T=5, n_classes=2, **kw)
    with pytest.raises(ParameterError, match="selection split is empty"):
        tune_on_device(spec, x, [0, 1], x[:, :0], [], T=5, n_classes=2)
    fixed = quantize(spec)[0]
    with pytest.raises(ParameterError, match="float_spec"):
        tune_on_device(fixed, x, [0, 1], x, [0, 1], T=5, n_classes=2)


def test_deploy_runs_a_given_fixed_network_on_lava():
    """Full Lava mode (no --lava-check): the given fixed network (here: one whose output biases
    differ from the quantisation of ``net``) is what runs in fixed point, equal to the emulator."""
    from lava_nt.builder import build_network
    from lava_nt.examples.eeg.deploy import deploy_model
    from lava_nt.network import run_reference

    rng = np.random.default_rng(0)
    x, y = (rng.random((12, 20)) < 0.4).astype(np.float32), rng.integers(0, 2, 12)
    net = build_network(20, [16], 2, 4, seed=3)
    fixed, rep = quantize(net.to_spec())
    given = bias_headroom(fixed, [1], 1.0)
    out = given.layers[1]
    n = out.n
    out.neuron = out.neuron._replace(bias_mant=np.where(np.arange(n) < n // 2, 4095, -4095))
    row = deploy_model(net, x, y, T=6, quantized=(given, rep))
    base = deploy_model(net, x, y, T=6, lava_check=0)
    assert row["fixed_status"] == "ok" and row["fixed_model"] == "given"
    assert base["fixed_model"] == "quantised"
    assert row["fixed_emulator_match"] == 1.0
    want = np.mean(pl_predictions(run_reference(given, static_sequence(x, 6)).output) == y)
    assert row["lava_fixed_acc"] == pytest.approx(want)
    assert row["lava_fixed_spikes"] != base["lava_fixed_spikes"]


def pl_predictions(out):
    from lava_nt.decode import predictions

    return predictions(out, 2)
