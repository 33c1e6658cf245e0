"""``lava-nt ondevice --error-gate misclassified --class-weights balanced``: twin and Lava write
the same tuned model, the report records the gate and the weights, and the gate changes what is
learned compared with the plain rule."""

import json

import numpy as np
import pytest

from lava_nt.cli import main
from lava_nt.converters.model_file import load_model, save_model
from lava_nt.testing import random_input, random_spec

T = 8
Y_TUNE = np.array([0, 0, 0, 0, 0, 1, 0, 1])  # imbalanced: 6 of class 0, 2 of class 1


@pytest.fixture()
def files(tmp_path):
    spec = random_spec(5, (16, 12, 4), excitatory=(0, 1))
    save_model(tmp_path / "m.h5", spec, meta={"n_classes": 2, "T": T})
    np.savez(tmp_path / "tune.npz", x=random_input(1, T, 8, 16), y=Y_TUNE)
    np.savez(tmp_path / "test.npz", x=random_input(2, T, 6, 16), y=np.array([0, 1, 0, 1, 0, 0]))
    return tmp_path


def _run(tmp_path, out, *extra):
    argv = ["ondevice", str(tmp_path / "m.h5"), "--train", str(tmp_path / "tune.npz"),
            "--test", str(tmp_path / "test.npz"), "--out", str(tmp_path / out), *extra]  # fmt: skip
    return main(argv)


def test_help_lists_the_gate_options(capsys):
    with pytest.raises(SystemExit):
        main(["ondevice", "--help"])
    text = capsys.readouterr().out
    assert "--error-gate" in text and "--class-weights" in text and "misclassified" in text


def test_fixed_gated_twin_and_lava_write_the_same_model(files):
    gate = ("--precision", "fixed", "--eta", "0.002", "--error-gate", "misclassified",
            "--class-weights", "balanced")  # fmt: skip
    assert _run(files, "twin", *gate) == 0
    assert _run(files, "lava", *gate, "--engine", "lava") == 0
    assert _run(files, "plain", "--precision", "fixed", "--eta", "0.002") == 0
    a, info = load_model(files / "twin" / "tuned.h5")
    b, _ = load_model(files / "lava" / "tuned.h5")
    c, _ = load_model(files / "plain" / "tuned.h5")
    differs = False
    for la, lb, lc in zip(a.layers, b.layers, c.layers, strict=True):
        assert np.array_equal(la.neuron.bias_mant, lb.neuron.bias_mant)
        differs |= not np.array_equal(la.neuron.bias_mant, lc.neuron.bias_mant)
    assert differs
    rep = json.loads((files / "twin" / "report.json").read_text())
    s = rep["settings"]
    assert s["error_gate"] == "misclassified" and s["class_weights"] == "balanced"
    # w = 8 / (2 * [6, 2]) = [2/3, 2]: shift 10, mantissas round([682.67, 2048])
    assert s["class_weight_values"] == {"w_mant": [683, 2048], "w_shift": 10}
    assert info.meta["ondevice"]["error_gate"] == "misclassified"
    plain = json.loads((files / "plain" / "report.json").read_text())["settings"]
    assert plain["error_gate"] == "always" and plain["class_weight_values"] is None


def test_float_weights_recorded_and_a_missing_class_refused(files, capsys):
    assert _run(files, "f", "--class-weights", "balanced", "--eta", "0.002") == 0
    rep = json.loads((files / "f" / "report.json").read_text())
    assert rep["settings"]["class_weight_values"] == pytest.approx([8 / 12, 8 / 4])
    np.savez(files / "tune.npz", x=random_input(1, T, 8, 16), y=np.zeros(8, np.int64))
    assert _run(files, "g", "--class-weights", "balanced") == 1
    assert "classes [1] have none" in capsys.readouterr().err
