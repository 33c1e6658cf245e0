"""``lava-nt ondevice``: help, the files it writes, twin = Lava through the CLI, its errors, and
the error gate with class weights (``--error-gate misclassified --class-weights balanced``)."""

import json

import numpy as np
import pytest

from lava_nt.cli import main
from lava_nt.converters.model_file import load_model, save_model
from lava_nt.converters.quantize import quantize
from lava_nt.decode import predictions
from lava_nt.network import run_reference
from lava_nt.ondevice import bias_headroom, sb_weight_headroom
from lava_nt.testing import random_input, random_spec

T = 8


@pytest.fixture()
def files(tmp_path):
    spec = random_spec(5, (16, 12, 4), excitatory=(0, 1))
    save_model(tmp_path / "m.h5", spec, meta={"n_classes": 2, "T": T})
    rng = np.random.default_rng(0)
    for name, seed, n in (("tune", 1, 8), ("test", 2, 6)):
        x = random_input(seed, T, n, 16)
        np.savez(tmp_path / f"{name}.npz", x=x, y=rng.integers(0, 2, n))
    np.savez(tmp_path / "nolabels.npz", x=random_input(3, T, 4, 16))
    return tmp_path, spec


def _run(tmp_path, out, *extra):
    argv = ["ondevice", str(tmp_path / "m.h5"), "--train", str(tmp_path / "tune.npz"),
            "--test", str(tmp_path / "test.npz"), "--out", str(tmp_path / out), *extra]  # fmt: skip
    return main(argv)


def _same_bias_mants(a, b, other) -> bool:
    """Assert that ``a`` and ``b`` hold the same bias mantissas in every layer; whether any
    layer's differ from ``other``'s."""
    differs = False
    for la, lb, lo in zip(a.layers, b.layers, other.layers, strict=True):
        assert np.array_equal(la.neuron.bias_mant, lb.neuron.bias_mant)
        differs |= not np.array_equal(la.neuron.bias_mant, lo.neuron.bias_mant)
    return differs


def test_help_lists_the_options(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["ondevice", "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    opts = ("--engine", "--precision", "--feedback", "--eta-mant", "--band", "--rates", "--learn",
            "--eta-gain", "--eta-gain-mant", "--eta-sb", "--eta-sb-shift", "--error-gate",
            "--class-weights", "misclassified")  # fmt: skip
    for opt in opts:
        assert opt in text


def test_fixed_twin_and_lava_write_the_same_tuned_model(files, capsys):
    tmp_path, spec = files
    assert _run(tmp_path, "twin", "--precision", "fixed", "--eta", "0.002") == 0
    assert _run(tmp_path, "lava", "--precision", "fixed", "--eta", "0.002", "--engine", "lava") == 0
    a, info = load_model(tmp_path / "twin" / "tuned.h5")
    b, _ = load_model(tmp_path / "lava" / "tuned.h5")
    assert a.fixed and info.meta["ondevice"]["precision"] == "fixed"
    base = bias_headroom(quantize(spec)[0], [0, 1], 1.0)  # what the command tunes
    assert _same_bias_mants(a, b, base)  # twin = Lava, and the biases changed
    rep = json.loads((tmp_path / "twin" / "report.json").read_text())
    rep_lava = json.loads((tmp_path / "lava" / "report.json").read_text())
    assert rep_lava["accuracy_after"] == rep["accuracy_after"] and rep_lava["lava_steps"] > 0
    # the report's accuracies are those of the untuned and the written tuned network
    test = np.load(tmp_path / "test.npz")
    for net, key in ((base, "accuracy_before"), (a, "accuracy_after")):
        acc = np.mean(predictions(run_reference(net, test["x"]).output, 2) == test["y"])
        assert rep[key] == pytest.approx(acc)
    assert "test accuracy before" in capsys.readouterr().out


@pytest.mark.parametrize("precision", ["float", "fixed"])
def test_torch_engine_writes_the_numpy_twins_model(files, precision):
    tmp_path, _ = files
    args = ("--precision", precision, "--eta", "0.002", "--feedback", "derived")
    assert _run(tmp_path, "np", *args) == 0
    assert _run(tmp_path, "pt", *args, "--engine", "torch") == 0
    a, _ = load_model(tmp_path / "np" / "tuned.h5")
    b, info = load_model(tmp_path / "pt" / "tuned.h5")
    assert info.meta["ondevice"]["engine"] == "torch"
    for la, lb in zip(a.layers, b.layers, strict=True):
        if precision == "fixed":  # integers: bit for bit
            assert np.array_equal(la.neuron.bias_mant, lb.neuron.bias_mant)
        else:  # float64: equal to rounding (numpy's and torch's BLAS may sum in other orders;
            # 1 ulp on an AMD EPYC host, exact on an Intel one)
            np.testing.assert_allclose(la.neuron.bias, lb.neuron.bias, rtol=0, atol=1e-12)
    ra = json.loads((tmp_path / "np" / "report.json").read_text())
    rb = json.loads((tmp_path / "pt" / "report.json").read_text())
    assert ra["accuracy_after"] == rb["accuracy_after"]


def test_float_twin_with_derived_feedback(files):
    tmp_path, spec = files
    args = ("--feedback", "derived", "--layers", "1", "--eta", "0.001", "--epochs", "2")
    assert _run(tmp_path, "f", *args) == 0
    tuned, info = load_model(tmp_path / "f" / "tuned.h5")
    assert not tuned.fixed and info.meta["ondevice"]["layers"] == [1]
    assert np.array_equal(tuned.layers[0].neuron.bias, spec.layers[0].neuron.bias)
    assert not np.array_equal(tuned.layers[1].neuron.bias, spec.layers[1].neuron.bias)


def test_errors(files, capsys):
    tmp_path, _ = files
    assert _run(tmp_path, "e1", "--eta-mant", "3") == 1
    assert "fixed point only" in capsys.readouterr().err
    nolab = ["ondevice", str(tmp_path / "m.h5"), "--train", str(tmp_path / "nolabels.npz"),
             "--test", str(tmp_path / "test.npz"), "--out", str(tmp_path / "e2")]  # fmt: skip
    assert main(nolab) == 1
    assert "has no labels y" in capsys.readouterr().err
    assert _run(tmp_path, "e3", "--layers", "5") == 1
    assert "layer 5 does not exist" in capsys.readouterr().err
    assert _run(tmp_path, "ok") == 0
    assert _run(tmp_path, "ok") == 1
    assert "pass --overwrite" in capsys.readouterr().err
    assert _run(tmp_path, "e4", "--learn", "gain", "--eta-gain-shift", "3") == 1
    assert "--eta-gain-mant/--eta-gain-shift are fixed point only" in capsys.readouterr().err
    assert _run(tmp_path, "e5", "--learn", "sb_weight") == 1
    assert "no tuned layer has a spiking bias" in capsys.readouterr().err


def test_fixed_gains_and_weights_twin_and_lava_write_the_same_model(tmp_path):
    """--learn gain sb_weight (biases frozen) on a network with volumetric and per-neuron
    spiking biases: twin and Lava write the same tuned.h5; its gains and weights are the
    learned ones, its biases the (headroom) starting ones; report.json records the settings."""
    spec = random_spec(6, (16, 12, 4), excitatory=(0, 1), sb_excitatory=(0, 1),
                       spiking_bias=("volumetric", "per_neuron"))  # fmt: skip
    save_model(tmp_path / "m.h5", spec, meta={"n_classes": 2, "T": T})
    rng = np.random.default_rng(1)
    for name, seed, n in (("tune", 4, 6), ("test", 5, 4)):
        np.savez(tmp_path / f"{name}.npz", x=random_input(seed, T, n, 16), y=rng.integers(0, 2, n))
    args = ("--precision", "fixed", "--learn", "gain", "sb_weight", "--eta-gain", "0.0005",
            "--eta-sb", "0.001")  # fmt: skip
    assert _run(tmp_path, "twin", *args) == 0
    assert _run(tmp_path, "lava", *args, "--engine", "lava") == 0
    a, info = load_model(tmp_path / "twin" / "tuned.h5")
    b, _ = load_model(tmp_path / "lava" / "tuned.h5")
    base = sb_weight_headroom(bias_headroom(quantize(spec)[0], [0, 1], 1.0), [0, 1], 1.0)
    for la, lb, l0 in zip(a.layers, b.layers, base.layers, strict=True):
        assert np.array_equal(la.spiking_bias.params.w_b_exp, l0.spiking_bias.params.w_b_exp)
        assert np.array_equal(la.neuron.gain_mant, lb.neuron.gain_mant)
        assert np.array_equal(la.spiking_bias.params.w_b_mant, lb.spiking_bias.params.w_b_mant)
        assert np.array_equal(la.neuron.bias_mant, l0.neuron.bias_mant)
        assert not np.array_equal(la.neuron.gain_mant, l0.neuron.gain_mant)
        assert not np.array_equal(la.spiking_bias.params.w_b_mant, l0.spiking_bias.params.w_b_mant)
    settings = info.meta["ondevice"]
    assert settings["learn"] == ["gain", "sb_weight"] and settings["eta_gain"] == 0.0005
    rep = json.loads((tmp_path / "twin" / "report.json").read_text())
    assert rep["settings"]["eta_sb"] == 0.001 and set(rep["gain_change"]) == {"0", "1"}
    assert rep["settings"]["sb_headroom"] == 1.0
    assert rep["sb_weight_change"]["1"]["max_abs"] > 0 and rep["bias_change"]["0"]["max_abs"] == 0


# ---- --error-gate misclassified --class-weights balanced ---------------------------------------
Y_TUNE = np.array([0, 0, 0, 0, 0, 1, 0, 1])  # imbalanced: 6 of class 0, 2 of class 1


@pytest.fixture()
def gate_files(files):
    """The files of ``files`` with imbalanced tuning labels :data:`Y_TUNE`."""
    tmp_path, _ = files
    np.savez(tmp_path / "tune.npz", x=np.load(tmp_path / "tune.npz")["x"], y=Y_TUNE)
    np.savez(tmp_path / "test.npz", x=np.load(tmp_path / "test.npz")["x"],
             y=np.array([0, 1, 0, 1, 0, 0]))  # fmt: skip
    return tmp_path


def test_fixed_gated_twin_and_lava_write_the_same_model(gate_files):
    """Twin and Lava write the same model, the report records the gate and the weights, and the
    gate changes what is learned compared with the plain rule."""
    files = gate_files
    gate = ("--precision", "fixed", "--eta", "0.002", "--error-gate", "misclassified",
            "--class-weights", "balanced")  # fmt: skip
    assert _run(files, "twin", *gate) == 0
    assert _run(files, "lava", *gate, "--engine", "lava") == 0
    assert _run(files, "plain", "--precision", "fixed", "--eta", "0.002") == 0
    a, info = load_model(files / "twin" / "tuned.h5")
    b, _ = load_model(files / "lava" / "tuned.h5")
    c, _ = load_model(files / "plain" / "tuned.h5")
    assert _same_bias_mants(a, b, c)  # twin = Lava, and the gate changed what was learned
    rep = json.loads((files / "twin" / "report.json").read_text())
    s = rep["settings"]
    assert s["error_gate"] == "misclassified" and s["class_weights"] == "balanced"
    # w = 8 / (2 * [6, 2]) = [2/3, 2]: shift 10, mantissas round([682.67, 2048])
    assert s["class_weight_values"] == {"w_mant": [683, 2048], "w_shift": 10}
    assert info.meta["ondevice"]["error_gate"] == "misclassified"
    plain = json.loads((files / "plain" / "report.json").read_text())["settings"]
    assert plain["error_gate"] == "always" and plain["class_weight_values"] is None


def test_float_weights_recorded_and_a_missing_class_refused(gate_files, capsys):
    files = gate_files
    assert _run(files, "f", "--class-weights", "balanced", "--eta", "0.002") == 0
    rep = json.loads((files / "f" / "report.json").read_text())
    assert rep["settings"]["class_weight_values"] == pytest.approx([8 / 12, 8 / 4])
    np.savez(files / "tune.npz", x=random_input(1, T, 8, 16), y=np.zeros(8, np.int64))
    assert _run(files, "g", "--class-weights", "balanced") == 1
    assert "classes [1] have none" in capsys.readouterr().err
