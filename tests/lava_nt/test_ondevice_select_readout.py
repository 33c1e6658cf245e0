"""Readout networks through grid selection (lava_nt.ondevice.select.tune_on_device) and the
comparison study's on-device arm: the value targets are measured on the tuning data by the
function ``lava-nt ondevice`` uses (readout_setup, with the fixed-point readout headroom), and
the chosen grid point gives the biases and the readout bias of the single run at that point --
of the library's run and of the command's."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lava_nt.cli import main
from lava_nt.converters.model_file import load_model, save_model
from lava_nt.converters.quantize import quantize
from lava_nt.ondevice import (
    bias_headroom,
    fixed_rates,
    make_rule,
    measure_readout_targets,
    readout_setup,
    run_twin,
)
from lava_nt.ondevice.select import presentation_order, spec_accuracy, tune_on_device
from lava_nt.testing import random_input, random_spec

T = 8


@pytest.fixture(scope="module")
def task():
    rng = np.random.default_rng(5)
    spec = random_spec(3, (12, 10, 8), excitatory=(0, 1), readout=2, readout_reduce="max")
    x = random_input(4, T, 24, 12)
    y = rng.integers(0, 2, 24)
    fixed = bias_headroom(quantize(spec)[0], range(2), 1.0)
    return spec, fixed, (x[:, :16], y[:16]), (x[:, 16:], y[16:])


def _single_run(start, float_spec, tg, xt, yt, order, eta, band):
    kw = dict(feedback="identity", band=band, readout_targets=tg, eta_readout=0.05)
    if start.fixed:
        m, s = fixed_rates(eta, start, float_spec, range(2))
        rule = make_rule(start, T, 2, eta_mant=m, eta_shift=s, eta_readout_mant=None, **kw)
    else:
        rule = make_rule(start, T, 2, eta=eta, **kw)
    return run_twin(start, rule, xt[:, order], yt[order])


@pytest.mark.parametrize("which", [0, 1], ids=["float", "fixed"])
def test_the_chosen_point_is_the_single_run_with_the_readout(task, which):
    spec, fixed, (xt, yt), (xv, yv) = task
    net, extra = (spec, {}) if which == 0 else (fixed, {"float_spec": spec})
    ch = tune_on_device(net, xt, yt, xv, yv, T=T, n_classes=2, etas=(1e-4, 1e-3),
                        bands=(0.5,), passes=2, seed=1, feedback="identity", **extra)  # fmt: skip
    start, tg = readout_setup(net, xt, yt)
    assert ch.readout_targets == tg == measure_readout_targets(net, xt, yt)
    res = _single_run(start, spec, tg, xt, yt, presentation_order(len(yt), 2, 1), ch.eta,
                      ch.band)  # fmt: skip
    for k in range(2):
        assert np.array_equal(res.biases[k], ch.biases[k])
    assert np.array_equal(res.readout_bias, ch.readout_bias)
    name = "bias_mant" if net.fixed else "bias"
    first = np.broadcast_to(getattr(start.readout.params, name), (2,))
    assert not np.array_equal(ch.readout_bias, first)  # the readout bias learned
    assert np.array_equal(getattr(ch.spec.readout.params, name), ch.readout_bias)
    assert ch.select_acc == spec_accuracy(ch.spec, xv, yv, 2)  # the readout's argmax
    if net.fixed:  # the readout headroom of the larger target is in the tuned network
        e = ch.spec.readout.params.bias_exp
        assert np.all(e == start.readout.params.bias_exp) and np.all(e == e[0])
        big = max(abs(tg[0]), abs(tg[1]))  # here above 4095 << 7: the largest exponent
        assert int(e[0]) == next((k for k in range(8) if 4095 << k >= big), 7)
        assert int(e[0]) > int(np.max(net.readout.params.bias_exp))  # more room than before


def test_the_command_learns_what_the_chosen_point_learns(task, tmp_path):
    """Fixed point, one pass in the presentation order: ``lava-nt ondevice`` (quantised now,
    bias and readout headroom, targets measured on TUNE) at the chosen eta and band writes the
    biases tune_on_device chose, bit for bit."""
    spec, fixed, (xt, yt), (xv, yv) = task
    ch = tune_on_device(fixed, xt, yt, xv, yv, T=T, n_classes=2, etas=(1e-4, 1e-3),
                        bands=(0.5, 1.0), passes=1, seed=2, feedback="identity",
                        float_spec=spec)  # fmt: skip
    order = presentation_order(len(yt), 1, 2)
    save_model(tmp_path / "m.h5", spec, meta={"n_classes": 2, "T": T})
    np.savez(tmp_path / "tune.npz", x=xt[:, order], y=yt[order])
    np.savez(tmp_path / "test.npz", x=xv, y=yv)
    argv = ["ondevice", str(tmp_path / "m.h5"), "--train", str(tmp_path / "tune.npz"),
            "--test", str(tmp_path / "test.npz"), "--out", str(tmp_path / "o"),
            "--precision", "fixed", "--eta", repr(ch.eta), "--band", repr(ch.band)]  # fmt: skip
    assert main(argv) == 0
    tuned, _ = load_model(tmp_path / "o" / "tuned.h5")
    assert tuned.fixed
    for k in range(2):
        assert np.array_equal(tuned.layers[k].neuron.bias_mant, ch.biases[k])
    assert np.array_equal(tuned.readout.params.bias_mant, ch.readout_bias)
    assert np.array_equal(tuned.readout.params.bias_exp, ch.spec.readout.params.bias_exp)
    rep = json.loads((tmp_path / "o" / "report.json").read_text())
    assert rep["settings"]["readout_headroom"] == 1.0
    assert rep["settings"]["readout_targets"] == [float(t) for t in ch.readout_targets]


def test_the_command_help_names_the_readout_headroom(capsys):
    with pytest.raises(SystemExit):
        main(["ondevice", "--help"])
    assert "--readout-headroom" in capsys.readouterr().out


@pytest.mark.parametrize("which", [0, 1], ids=["float", "fixed"])
def test_the_comparison_study_tunes_a_readout_network(task, monkeypatch, which):
    from lava_nt.ondevice import compare

    spec, fixed, (xt, yt), (xv, yv) = task
    monkeypatch.setattr(compare, "ETAS", (1e-3,))
    monkeypatch.setattr(compare, "BANDS", (0.5,))
    monkeypatch.setattr(compare, "T", T)
    monkeypatch.setattr(compare, "CLASSES", 2)
    net = spec if which == 0 else fixed
    data = {"B_tune": (xt, yt), "B_val": (xv, yv)}
    tuned, (eta, band), _, rule = compare.on_device(net, data, "identity",
                                                    None if which == 0 else spec)  # fmt: skip
    start, tg = readout_setup(net, xt, yt)
    assert (rule.targets.on, rule.targets.off) == tg and (eta, band) == (1e-3, 0.5)
    x3 = np.concatenate([xt] * compare.EPOCHS_ON_DEVICE, axis=1)
    y3 = np.concatenate([yt] * compare.EPOCHS_ON_DEVICE)
    res = run_twin(start, rule, x3, y3)
    name = "bias_mant" if net.fixed else "bias"
    assert np.array_equal(getattr(tuned.readout.params, name), res.readout_bias)
    assert not np.array_equal(
        res.readout_bias, np.broadcast_to(getattr(start.readout.params, name), (2,))
    )
    assert compare.accuracy(tuned, (xv, yv)) == spec_accuracy(tuned, xv, yv, 2)


def test_the_lava_engine_learns_the_readout_bias_the_twin_learns(task):
    """Fixed point: the chosen point re-run as one Lava learning run (engine="lava") gives the
    twin's biases and readout bias bit for bit, and the score of that network."""
    spec, fixed, (xt, yt), (xv, yv) = task
    kw = dict(T=T, n_classes=2, etas=(1e-3,), bands=(0.5,), passes=1, seed=3,
              feedback="identity", float_spec=spec)  # fmt: skip
    twin = tune_on_device(fixed, xt[:, :8], yt[:8], xv, yv, **kw)
    lava = tune_on_device(fixed, xt[:, :8], yt[:8], xv, yv, engine="lava", **kw)
    assert lava.engine == "lava" and lava.select_acc == twin.select_acc
    for k in range(2):
        assert np.array_equal(lava.biases[k], twin.biases[k])
    assert np.array_equal(lava.readout_bias, twin.readout_bias)
    assert np.array_equal(lava.spec.readout.params.bias_mant, twin.readout_bias)
