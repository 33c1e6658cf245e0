"""The calibrated quantiser (``lava_nt.converters.quantize.calibrate``).

Checked against the default quantiser on held-out inputs: a network whose weights have an outlier
(the default scale then resolves the other weights coarsely) agrees better with the float network
after calibration; the bias-shift correction removes the mean drive error the weight rounding
leaves; the report says per layer what was tried and chosen, survives a model file, and the
calibrated network runs on Lava fixed point bit-exactly like the emulator.
"""

import numpy as np
import pytest
import torch

from lava_nt.cli import main
from lava_nt.converters.lava_graph import run_network
from lava_nt.converters.model_file import attach_quantized, load_model, save_model
from lava_nt.converters.quantize import QuantReport, dequantize, quantize
from lava_nt.converters.quantize.calibrate import calibrate_quantize, calibration_lines
from lava_nt.network import LayerSpec, NetworkSpec
from lava_nt.nn.fixed_emulator import emulate_fixed
from lava_nt.nn.network import NTNetwork
from lava_nt.spec import ntlif_parameters
from lava_nt.spec.validation import ParameterError

T = 12


def outlier_spec(seed=0):
    rng = np.random.default_rng(seed)
    w1 = rng.normal(0, 0.3, (24, 30))
    w1[0, 0] = 12.0  # one outlier: the default 8-bit step is 12/127 for every weight
    w2 = rng.normal(0.05, 0.3, (8, 24))
    w2[1, 2] = -9.0
    return NetworkSpec(
        30,
        [
            LayerSpec(w1, ntlif_parameters(24, du=1.0, dv=0.1, bias=rng.normal(0, 0.05, 24),
                                           reset="subtract")),
            LayerSpec(w2, ntlif_parameters(8, du=1.0, dv=0.1, reset="subtract")),
        ],
    )  # fmt: skip


def spikes(n, seed, p=0.12):
    rng = np.random.default_rng(seed)
    return (rng.random((T, n, 30)) < p).astype(np.float64)


def layer_match(spec, fixed, x):
    net = NTNetwork.from_spec(spec, dtype=torch.float64)
    with torch.no_grad():
        _, rf = net(torch.as_tensor(x), record=True)
    _, rq = emulate_fixed(fixed, torch.as_tensor(x), record=True)
    pairs = zip(rf, rq, strict=True)
    return [float(np.mean(a["spikes"].numpy() == b["spikes"].numpy())) for a, b in pairs]


def test_calibration_beats_the_default_on_held_out_inputs():
    spec = outlier_spec()
    cal, held = spikes(300, 1), spikes(200, 2)
    fixed, rep = calibrate_quantize(spec, cal, n_classes=2)
    default, _ = quantize(spec)
    m_cal, m_def = layer_match(spec, fixed, held), layer_match(spec, default, held)
    assert m_cal[0] > m_def[0] + 0.005 and m_cal[1] > m_def[1] + 0.005
    c = rep.calibration
    assert c["samples"] == 300 and len(c["layers"]) == 2
    first = c["layers"][0]
    assert first["chosen"] is not None and "quantile" in first["chosen"]["clip"]
    assert first["chosen"]["scale"] > first["default"]["scale"]  # clipping the outlier
    assert len(first["tried"]) >= 4 and first["why"].startswith("highest")
    assert rep.layers[0].scale == first["chosen"]["scale"]
    assert rep.layers[0].scale_limit.startswith("calibrated")
    lines = "\n".join(calibration_lines(rep))
    assert "layer 0:" in lines and "layer 1:" in lines and "spike agreement" in lines
    assert "calibrated on 300 samples" in rep.summary()


def test_bias_shift_correction_removes_the_mean_drive_error():
    rng = np.random.default_rng(3)
    w = rng.normal(0, 0.3, (10, 30))
    spec = NetworkSpec(30, [LayerSpec(w, ntlif_parameters(10, du=1.0, dv=0.2))])
    cal = spikes(300, 4)
    fixed, rep = calibrate_quantize(spec, cal)
    default, drep = quantize(spec)
    s = cal.reshape(-1, 30)

    def mean_drive_error(q, r):
        deq = dequantize(q, r).layers[0]
        b = np.asarray(deq.neuron.bias) - 0.0
        return (s @ (np.asarray(deq.weight) - w).T).mean(0) + b

    step = 2.0 ** (7 + drep.layers[0].weight_exp) / drep.layers[0].scale
    before = np.abs(mean_drive_error(default, drep))
    after = np.abs(mean_drive_error(fixed, rep))
    assert before.max() > 0.05 * step
    assert after.max() < 0.5 * before.max() and after.max() < 0.02 * step + 2 / rep.layers[0].scale


def test_calibrated_network_runs_on_lava_and_its_report_survives_a_model_file(tmp_path):
    spec = outlier_spec(1)
    fixed, rep = calibrate_quantize(spec, spikes(120, 5), n_classes=2)
    x = spikes(10, 6)
    lava = run_network(fixed, x, "fixed", record=True)
    _, emu = emulate_fixed(fixed, torch.as_tensor(x), record=True)
    for a, b in zip(lava.layers, emu, strict=True):
        np.testing.assert_array_equal(a["spikes"], b["spikes"].numpy())
    again = QuantReport.from_dict(rep.to_dict())
    assert again.calibration == rep.to_dict()["calibration"]
    path = tmp_path / "m.h5"
    save_model(path, spec, meta={"n_classes": 2})
    attach_quantized(path, fixed, rep)
    _, info = load_model(path)
    assert info.quant_report.calibration["layers"][0]["chosen"] is not None
    assert calibration_lines(info.quant_report) == calibration_lines(rep)


def test_bad_input_is_refused():
    spec = outlier_spec()
    with pytest.raises(ParameterError, match="spikes"):
        calibrate_quantize(spec, np.full((T, 5, 30), 0.5))
    with pytest.raises(ParameterError, match=r"\[T, N, 30\]"):
        calibrate_quantize(spec, np.zeros((5, 30)))
    with pytest.raises(ParameterError, match="float NetworkSpec"):
        calibrate_quantize(quantize(spec)[0], spikes(5, 0))
    with pytest.raises(ParameterError, match="3 classes"):
        calibrate_quantize(spec, spikes(5, 0), n_classes=3)


def test_evaluate_calibrate_option(tmp_path, capsys):
    spec = outlier_spec()
    model = tmp_path / "m.h5"
    save_model(model, spec, meta={"n_classes": 2})
    np.savez(tmp_path / "cal.npz", x=spikes(150, 1).astype(np.uint8))
    np.savez(tmp_path / "test.npz", x=spikes(40, 2).astype(np.uint8),
             y=np.random.default_rng(0).integers(0, 2, 40))  # fmt: skip
    argv = ["evaluate", str(model), "--data", str(tmp_path / "test.npz"), "--engine",
            "lava-fixed", "--calibrate", str(tmp_path / "cal.npz")]  # fmt: skip
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "calibrated on 150 samples" in text and "vs torch fixed-point emulator" in text
    assert "identical" in text


def test_quantize_calibrate_attach_then_deploy(tmp_path, capsys):
    spec = outlier_spec()
    model = tmp_path / "m.h5"
    save_model(model, spec, meta={"n_classes": 2})
    np.savez(tmp_path / "cal.npz", x=spikes(100, 1)[0].astype(np.uint8), T=np.int64(T))
    argv = ["quantize", str(model), "--calibrate", str(tmp_path / "cal.npz")]
    assert main(argv + ["--target", "netx"]) == 1
    assert "--calibrate quantises for --target lava" in capsys.readouterr().err
    assert main(argv + ["--attach"]) == 0
    text = capsys.readouterr().out
    assert "calibrated on 100 samples" in text and "layer 1:" in text
    _, info = load_model(model)
    xs = np.broadcast_to(spikes(100, 1)[0][None], (T, 100, 30)).astype(np.float64)
    expected, _ = calibrate_quantize(spec, xs, n_classes=2)
    for a, b in zip(info.quantized.layers, expected.layers, strict=True):
        np.testing.assert_array_equal(a.weight, b.weight)
        np.testing.assert_array_equal(a.neuron.bias_mant, b.neuron.bias_mant)
    np.savez(tmp_path / "test.npz", x=spikes(20, 3).astype(np.uint8))
    assert main(["evaluate", str(model), "--data", str(tmp_path / "test.npz"),
                 "--engine", "lava-fixed"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "attached to the model file" in out and "identical" in out
