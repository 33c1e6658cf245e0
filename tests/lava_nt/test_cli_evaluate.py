"""``lava-nt evaluate`` through the real CLI entry point, in process.

Each engine's accuracy, confusion matrix and spike rates are checked against an independent run
of the same network (torch float64, the fixed-point emulator, the QAT forward); Lava fixed point
must equal its torch twin bit for bit, also for a model tuned with ``--qat``.
"""

import json

import numpy as np
import pytest
import torch

from lava_nt.cli import main
from lava_nt.converters.agreement import predictions
from lava_nt.converters.model_file import save_model
from lava_nt.converters.quantize import quantize
from lava_nt.nn.fixed_emulator import emulate_fixed
from lava_nt.nn.network import NTNetwork
from lava_nt.testing import random_spec


@pytest.fixture()
def files(tmp_path, cli_files):
    f = cli_files.model_and_data(tmp_path, cli_files.spec(weight_scale=0.35), 3, T=10, N=30)
    f["nolabel"] = tmp_path / "nolabel.npz"
    np.savez(f["nolabel"], x=f["x"])
    return f


def _confusion(y, p, n):
    m = np.zeros((n, n), dtype=int)
    for a, b in zip(y, p, strict=True):
        m[a, b] += 1
    return m.tolist()


def test_torch_engine_accuracy_confusion_and_rates(files, capsys):
    out = files["dir"] / "r.json"
    assert main(["evaluate", str(files["model"]), "--data", str(files["data"]),
                 "--out", str(out)]) == 0  # fmt: skip
    text = capsys.readouterr().out
    assert "confusion matrix" in text and "--engine lava-fixed" in text
    res = json.loads(out.read_text())
    net = NTNetwork.from_spec(files["spec"], dtype=torch.float64)
    with torch.no_grad():
        o, recs = net(torch.as_tensor(files["x"], dtype=torch.float64), record=True)
    pred = predictions(o.numpy(), 3)
    assert res["engine_name"] == "torch float64" and res["agreement"] == {}
    assert res["accuracy"] == pytest.approx(float(np.mean(pred == files["y"])))
    assert res["confusion"] == _confusion(files["y"], pred, 3)
    assert res["spike_rates"] == pytest.approx([float(r["spikes"].mean()) for r in recs])
    # without labels: rates, no accuracy
    assert main(["evaluate", str(files["model"]), "--data", str(files["nolabel"])]) == 0
    assert "no labels" in capsys.readouterr().out


def test_lava_fixed_equals_the_emulator_and_reports_the_quantisation(files, capsys):
    out = files["dir"] / "r.json"
    argv = ["evaluate", str(files["model"]), "--data", str(files["data"]),
            "--engine", "lava-fixed", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    res = json.loads(out.read_text())
    q, _ = quantize(files["spec"])
    emu = emulate_fixed(q, torch.as_tensor(files["x"])).numpy()
    pred = predictions(emu, 3)
    assert res["accuracy"] == pytest.approx(float(np.mean(pred == files["y"])))
    assert res["confusion"] == _confusion(files["y"], pred, 3)
    assert res["agreement"]["torch_fixed"]["identical"] is True
    fl = res["agreement"]["torch_float"]
    net = NTNetwork.from_spec(files["spec"], dtype=torch.float64)
    with torch.no_grad():
        of = net(torch.as_tensor(files["x"], dtype=torch.float64)).numpy()
    assert fl["output_match"] == pytest.approx(float(np.mean(of == emu)))
    assert fl["prediction_agreement"] == pytest.approx(float(np.mean(predictions(of, 3) == pred)))
    capsys.readouterr()
    assert main(argv) == 1 and "--overwrite" in capsys.readouterr().err


def test_lava_float_and_errors(files, capsys):
    assert main(["evaluate", str(files["model"]), "--data", str(files["data"]),
                 "--engine", "lava-float"]) == 0  # fmt: skip
    assert "vs torch float64: output spikes 100.000% equal" in capsys.readouterr().out
    np.savez(files["dir"] / "wide.npz", x=np.zeros((4, 3, 17), np.uint8))
    np.savez(files["dir"] / "label5.npz", x=files["x"], y=np.full(30, 5))
    cases = [
        (["--data", str(files["dir"] / "wide.npz")], "the model expects 16"),
        (["--data", str(files["dir"] / "label5.npz")], "outside the model's 3 classes"),
        (["--data", str(files["data"]), "--n-classes", "4"], "do not split into 4 classes"),
        (["--data", str(files["data"]), "--calibrate", str(files["data"])],
         "--calibrate applies to --engine lava-fixed"),
    ]  # fmt: skip
    for extra, msg in cases:
        assert main(["evaluate", str(files["model"]), *extra]) == 1
        err = capsys.readouterr().err
        assert msg in err and len(err.strip().splitlines()) == 1, err


def test_readout_network_with_graded_input_on_every_engine(tmp_path, capsys):
    """A network that ends in an integrator readout and takes real-valued input (as imported from
    netx or NIR): decisions come from the reduced readout values; Lava float equals torch float64
    value for value, Lava fixed equals the emulator bit for bit on round(x * S)."""
    from lava_nt.decode import output_predictions
    from lava_nt.nn.layer import NTLayer
    from lava_nt.nn.readout import Readout

    torch.manual_seed(0)
    layers = [
        NTLayer(16, 24, du=1.0, dv=0.2, vth=1.0, dtype=torch.float64),
        NTLayer(24, 24, du=0.5, dv=0.1, vth=1.0, dtype=torch.float64),
    ]
    with torch.no_grad():
        layers[0].linear.weight.mul_(3.0)
        layers[1].linear.weight.mul_(4.0)
    ro = Readout(24, 3, du=0.0, dv=1.0, reduce="mean", dtype=torch.float64)
    net = NTNetwork(layers, readout=ro, input="graded")
    model = tmp_path / "ro.h5"
    save_model(model, net)
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 40)
    x = rng.random((40, 16)) * 0.3
    for i, c in enumerate(y):
        x[i, c * 5 : c * 5 + 5] += 0.7
    data = tmp_path / "d.npz"
    np.savez(data, x=x, y=y, T=np.array(8))
    xs = torch.as_tensor(np.broadcast_to(x[None], (8, 40, 16)).copy())
    with torch.no_grad():
        ref = output_predictions(net.run(xs).output.numpy(), 3, "mean")
    results = {}
    for engine in ("torch", "lava-float", "lava-fixed"):
        out = tmp_path / f"{engine}.json"
        assert main(["evaluate", str(model), "--data", str(data), "--engine", engine,
                     "--out", str(out)]) == 0  # fmt: skip
        results[engine] = json.loads(out.read_text())
    text = capsys.readouterr().out
    assert results["torch"]["readout"] == {"reduce": "mean"}
    assert results["torch"]["accuracy"] == float(np.mean(ref == y))
    fl = results["lava-float"]
    assert fl["accuracy"] == results["torch"]["accuracy"]
    assert fl["agreement"]["torch_float"]["readout_max_abs_difference"] < 1e-9
    fx = results["lava-fixed"]["agreement"]
    assert fx["torch_fixed"]["identical"] and fx["torch_fixed"]["output_match"] == 1.0
    assert fx["torch_float"]["output_match"] is None  # integer vs float readout units
    assert "graded input x enters as round(x * " in text


def test_quantize_input_scale_is_attached_and_used_by_evaluate(tmp_path, capsys):
    """lava-nt quantize --input-scale S --attach: the fixed-point network of a graded-input model
    takes round(x * S); evaluate on Lava fixed point uses the attached scale and equals the
    emulator bit for bit. A spiking network refuses the option."""
    from lava_nt.converters.model_file import load_model

    spec = random_spec(3, (10, 12, 6), graded=True)
    model = tmp_path / "g.h5"
    save_model(model, spec, meta={"n_classes": 3})
    assert main(["quantize", str(model), "--input-scale", "64", "--attach"]) == 0
    _, info = load_model(model)
    assert info.quant_report.input_scale == 64.0
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x=rng.random((20, 10)), y=rng.integers(0, 3, 20), T=np.array(6))
    out = tmp_path / "r.json"
    argv = ["evaluate", str(model), "--data", str(tmp_path / "d.npz"), "--engine", "lava-fixed"]
    assert main([*argv, "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["fixed_point_network"].startswith("attached")
    assert res["agreement"]["torch_fixed"]["identical"]
    spiking = tmp_path / "s.h5"
    save_model(spiking, random_spec(3, (10, 12, 6)), meta={"n_classes": 3})
    assert main(["quantize", str(spiking), "--input-scale", "64"]) != 0
    assert "takes binary spikes" in capsys.readouterr().err
