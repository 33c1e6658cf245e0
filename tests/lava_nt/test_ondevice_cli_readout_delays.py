"""``lava-nt ondevice`` on model files with a non-spiking readout and with synaptic delays (the
networks netx and NIR imports bring): twin and Lava write the same tuned model, the readout's
bias learns, delays are kept, and the report's accuracies are those of the written models."""

import json

import numpy as np
import pytest

from lava_nt.cli import main
from lava_nt.converters.model_file import load_model, save_model
from lava_nt.decode import output_predictions
from lava_nt.network import run_reference
from lava_nt.testing import random_input, random_spec, with_delays

T = 8


def _files(tmp_path, spec):
    save_model(tmp_path / "m.h5", spec, meta={"n_classes": 2, "T": T})
    rng = np.random.default_rng(0)
    for name, seed, n in (("tune", 1, 8), ("test", 2, 6)):
        np.savez(tmp_path / f"{name}.npz", x=random_input(seed, T, n, spec.n_in),
                 y=rng.integers(0, 2, n))  # fmt: skip
    return tmp_path


def _run(tmp_path, out, *extra):
    argv = ["ondevice", str(tmp_path / "m.h5"), "--train", str(tmp_path / "tune.npz"),
            "--test", str(tmp_path / "test.npz"), "--out", str(tmp_path / out), *extra]  # fmt: skip
    return main(argv)


def _accuracy(spec, tmp_path):
    test = np.load(tmp_path / "test.npz")
    reduce = None if spec.readout is None else spec.readout.reduce
    pred = output_predictions(run_reference(spec, test["x"]).output, 2, reduce)
    return float(np.mean(pred == test["y"]))


@pytest.mark.parametrize("precision", ["float", "fixed"])
def test_readout_model_twin_and_lava_write_the_same_tuned_model(tmp_path, precision, capsys):
    spec = random_spec(3, (12, 10, 8), excitatory=(0, 1), readout=2, readout_reduce="max")
    tmp_path = _files(tmp_path, spec)
    args = ("--precision", precision, "--eta", "0.002", "--eta-readout", "0.1",
            "--readout-targets", "12", "-4") if precision == "float" else (
            "--precision", precision, "--eta", "0.002", "--eta-readout", "0.1")  # fmt: skip
    assert _run(tmp_path, "twin", *args) == 0
    assert "readout: bias" in capsys.readouterr().out
    assert _run(tmp_path, "lava", *args, "--engine", "lava") == 0
    a, info = load_model(tmp_path / "twin" / "tuned.h5")
    b, _ = load_model(tmp_path / "lava" / "tuned.h5")
    name = "bias_mant" if precision == "fixed" else "bias"
    ra, rb = getattr(a.readout.params, name), getattr(b.readout.params, name)
    if precision == "fixed":
        assert a.fixed and np.array_equal(ra, rb)
    else:
        np.testing.assert_allclose(ra, rb, rtol=0, atol=1e-12)
        assert not np.array_equal(ra, spec.readout.params.bias)  # the readout bias learned
    rep = json.loads((tmp_path / "twin" / "report.json").read_text())
    assert rep["readout_bias_change"]["max_abs"] > 0
    per = rep["learning"]["counts"]["per_tuning_sample"]  # the readout rows of the cost
    assert (per["readout_value_updates"], per["readout_errors"]) == (2 * T, 2)
    assert per["error_counter_updates"] == 0 and rep["learning"]["energy"]["readout_pj"] > 0
    assert len(info.meta["ondevice"]["readout_targets"]) == 2
    assert rep["accuracy_after"] == pytest.approx(_accuracy(a, tmp_path))
    rep_lava = json.loads((tmp_path / "lava" / "report.json").read_text())
    assert rep_lava["accuracy_after"] == rep["accuracy_after"]
    if precision == "fixed":  # the cost counted from Lava's readout traces: the twin's
        assert rep_lava["learning"]["counts"] == rep["learning"]["counts"]


def test_delayed_model_twin_and_lava_write_the_same_tuned_model(tmp_path):
    spec = with_delays(random_spec(5, (16, 12, 4), excitatory=(0, 1)), 5, ("output", "input"), T)
    tmp_path = _files(tmp_path, spec)
    args = ("--precision", "fixed", "--eta", "0.002")
    assert _run(tmp_path, "twin", *args) == 0
    assert _run(tmp_path, "lava", *args, "--engine", "lava") == 0
    a, _ = load_model(tmp_path / "twin" / "tuned.h5")
    b, _ = load_model(tmp_path / "lava" / "tuned.h5")
    for la, lb, l0 in zip(a.layers, b.layers, spec.layers, strict=True):
        assert np.array_equal(la.neuron.bias_mant, lb.neuron.bias_mant)
        assert np.array_equal(la.delay, l0.delay)  # the tuned model keeps its delays
    rep = json.loads((tmp_path / "twin" / "report.json").read_text())
    assert rep["accuracy_after"] == pytest.approx(_accuracy(a, tmp_path))


def test_readout_errors(tmp_path, capsys):
    spec = random_spec(7, (12, 10, 8), readout=2, readout_reduce="mean")
    tmp_path = _files(tmp_path, spec)
    assert _run(tmp_path, "e1") == 1
    assert "'last' or 'max'" in capsys.readouterr().err
    spec.readout.params = spec.readout.params._replace(reduce="last")
    save_model(tmp_path / "m.h5", spec, meta={"n_classes": 2, "T": T}, overwrite=True)
    assert _run(tmp_path, "e2", "--eta-readout-mant", "3") == 1
    assert "--eta-readout-mant/--eta-readout-shift are fixed point only" in (
        capsys.readouterr().err)  # fmt: skip


def test_netx_imported_readout_network(tmp_path, capsys, netx_mnist_net):
    """lava-dl's mnist.net (graded input, an integrator readout of 10 units read as 'last'),
    imported with ``lava-nt import-netx``, tuned by ``lava-nt ondevice`` (float twin): the
    readout bias learns and the report's accuracy is that of the written model."""
    path = netx_mnist_net
    model = tmp_path / "m.h5"
    assert main(["import-netx", str(path), str(model), "--units", "dyadic"]) == 0
    spec, info = load_model(model)
    assert spec.readout is not None and spec.readout.reduce == "last" and spec.graded
    w_in = int(info.meta["netx_input_weight"])
    rng = np.random.default_rng(0)
    for name, n in (("tune", 12), ("test", 8)):
        x = np.floor(rng.random((n, spec.n_in)) * (rng.random((n, spec.n_in)) < 0.2) * w_in)
        np.savez(tmp_path / f"{name}.npz", x=x, y=rng.integers(0, 10, n), T=T)
    capsys.readouterr()
    assert _run(tmp_path, "out", "--eta", "1e-5", "--eta-readout", "0.05", "--T", str(T)) == 0, (
        capsys.readouterr().err)  # fmt: skip
    tuned, _ = load_model(tmp_path / "out" / "tuned.h5")
    assert not np.array_equal(tuned.readout.params.bias, spec.readout.params.bias)
    rep = json.loads((tmp_path / "out" / "report.json").read_text())
    test = np.load(tmp_path / "test.npz")
    x = np.repeat(test["x"][None], T, axis=0)
    pred = output_predictions(run_reference(tuned, x).output, 10, "last")
    assert rep["accuracy_after"] == pytest.approx(float(np.mean(pred == test["y"])))


def test_help_lists_the_readout_options(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["ondevice", "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for opt in ("--readout-targets", "--eta-readout", "--eta-readout-mant", "--eta-readout-shift"):
        assert opt in text
