"""``lava-nt deploy`` / ``quantize`` / ``export-netx`` (lava_nt.commands.deploy) through the real
CLI entry point (``lava_nt.cli.main``), in process.

The deploy results are checked against what the engines say independently (the Lava fixed run
must reproduce the emulator's accuracy, the float run the torch model's), and every kind of bad
input ends with exit status 1 and a one-line message naming the file, not a traceback.
"""

import json

import numpy as np
import pytest
import torch

from lava_nt.cli import build_parser, main
from lava_nt.converters.agreement import predictions
from lava_nt.converters.model_file import load_model, save_model
from lava_nt.converters.netx import read_netx
from lava_nt.converters.quantize import quantize
from lava_nt.network import reference_run
from lava_nt.nn.fixed_emulator import emulate_fixed
from lava_nt.testing import random_spec


@pytest.fixture()
def files(tmp_path, cli_files):
    f = cli_files.model_and_data(tmp_path, cli_files.spec(), n_classes=2, T=12, N=40)
    f["static"] = tmp_path / "static.npz"
    np.savez(f["static"], x=f["x"][0], y=f["y"], T=12)
    return f


def test_subcommands_are_registered():
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert {"deploy", "quantize", "export-netx"} <= set(sub.choices)


def test_deploy_fixed_and_float(files, capsys):
    out = files["dir"] / "results.json"
    argv = ["deploy", str(files["model"]), "--precision", "fixed", "--data", str(files["data"])]
    assert main(argv + ["--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "accuracy (Lava fixed)" in text and "torch_fixed vs lava_fixed" in text
    res = json.loads(out.read_text())
    q, _ = quantize(files["spec"])
    emu = emulate_fixed(q, torch.as_tensor(files["x"])).numpy()
    acc = float(np.mean(predictions(emu, 2) == files["y"]))
    assert res["precision"] == "fixed" and res["accuracy"] == pytest.approx(acc)
    assert res["output_match"] == 1.0  # Lava fixed == torch emulator, bit for bit
    assert res["agreement"]["pairs"]["torch_fixed vs lava_fixed"]["identical"] is True
    # --out refuses to replace results unless asked
    assert main(argv + ["--out", str(out)]) == 1
    assert "--overwrite" in capsys.readouterr().err
    # float, static input held for T steps (T from the npz)
    out2 = files["dir"] / "float.json"
    argv = ["deploy", str(files["model"]), "--precision", "float", "--data", str(files["static"])]
    assert main(argv + ["--out", str(out2)]) == 0
    res2 = json.loads(out2.read_text())
    xs = np.broadcast_to(files["x"][0], (12, 40, 16)).astype(np.float64)
    ref = reference_run(files["spec"], xs)
    assert res2["accuracy"] == pytest.approx(float(np.mean(predictions(ref, 2) == files["y"])))
    assert res2["output_match"] >= 0.999


def test_quantize_command(files, capsys):
    assert main(["quantize", str(files["model"])]) == 0
    assert "layer 0: S=" in capsys.readouterr().out
    assert main(["quantize", str(files["model"]), "--report"]) == 0
    assert "| 1 | weight |" in capsys.readouterr().out
    assert main(["quantize", str(files["model"]), "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert len(rep["layers"]) == 2
    assert load_model(files["model"])[1].quantized is None
    assert main(["quantize", str(files["model"]), "--attach"]) == 0
    q, _ = quantize(files["spec"])
    attached = load_model(files["model"])[1].quantized
    for a, b in zip(q.layers, attached.layers, strict=True):
        np.testing.assert_array_equal(a.weight, b.weight)


def test_export_netx_command(files, capsys):
    out = files["dir"] / "net.h5"
    assert main(["export-netx", str(files["model"]), str(out)]) == 0
    assert "netx file written" in capsys.readouterr().out
    assert [lay["shape"] for lay in read_netx(out)["layers"]] == [[12], [6]]
    assert main(["export-netx", str(files["model"]), str(out)]) == 1
    assert "--overwrite" in capsys.readouterr().err
    assert main(["export-netx", str(files["model"]), str(out), "--overwrite"]) == 0


def test_clear_errors(files, capsys):
    d = files["dir"]
    corrupt = d / "corrupt.h5"
    corrupt.write_bytes(files["model"].read_bytes()[:500])
    no_x = d / "nox.npz"
    np.savez(no_x, y=files["y"])
    wide = d / "wide.npz"
    np.savez(wide, x=np.zeros((5, 3, 7)))
    cases = [
        (["deploy", str(d / "missing.h5"), "--precision", "float", "--data", str(files["data"])],
         ["missing.h5", "does not exist"]),
        (["deploy", str(corrupt), "--precision", "fixed", "--data", str(files["data"])],
         ["corrupt.h5", "not a readable HDF5 file"]),
        (["deploy", str(files["model"]), "--precision", "fixed", "--data", str(d / "none.npz")],
         ["none.npz", "does not exist"]),
        (["deploy", str(files["model"]), "--precision", "fixed", "--data", str(no_x)],
         ["nox.npz", "no array 'x'"]),
        (["deploy", str(files["model"]), "--precision", "fixed", "--data", str(wide)],
         ["7 inputs", "expects 16"]),
        (["deploy", str(files["model"]), "--precision", "fixed", "--data", str(files["model"])],
         ["cannot be read"]),
        (["quantize", str(corrupt)], ["corrupt.h5"]),
        (["export-netx", str(d / "missing.h5"), str(d / "out.h5")], ["missing.h5"]),
    ]  # fmt: skip
    for argv, fragments in cases:
        assert main(argv) == 1, argv
        err = capsys.readouterr().err
        assert err.startswith(f"lava-nt {argv[0]}: error:"), err
        assert "Traceback" not in err
        for frag in fragments:
            assert frag in err, (argv, err)


def test_deploy_readout_network_with_graded_input(tmp_path, capsys):
    """A network for real-valued input that ends in an integrator readout: deploy decides by the
    readout values and writes them; Lava float equals torch float64 within the stated tolerance
    (measured: max |diff| 0 here), Lava fixed equals the emulator on round(x * S) value for
    value, with S chosen by the shared rule or taken from the attached quantisation."""
    from lava_nt.converters.agreement import FLOAT_READOUT_TOLERANCE
    from lava_nt.converters.quantize.scale import encode_graded_input, graded_input_scale
    from lava_nt.decode import output_predictions
    from lava_nt.nn.network import NTNetwork
    from lava_nt.spec.readout import reduce_readout

    spec = random_spec(0, (10, 16, 12), du=(1.0, 0.5), dv=(0.2, 0.1), readout=3,
                       readout_reduce="mean", graded=True, weight_scale=(2.0, 1.5))  # fmt: skip
    model = tmp_path / "ro.h5"
    save_model(model, spec)
    rng = np.random.default_rng(4)
    static, y = rng.random((30, 10)), rng.integers(0, 3, 30)
    data = tmp_path / "d.npz"
    np.savez(data, x=static, y=y, T=np.array(8))
    x = np.broadcast_to(static[None], (8, 30, 10)).copy()
    res = {}
    for precision in ("float", "fixed"):
        out = tmp_path / f"{precision}.json"
        argv = ["deploy", str(model), "--data", str(data), "--precision", precision]
        assert main([*argv, "--out", str(out)]) == 0
        res[precision] = json.loads(out.read_text())
    text = capsys.readouterr().out
    # float: torch float64 computed here, independently of deploy
    net = NTNetwork.from_spec(spec, dtype=torch.float64)
    with torch.no_grad():
        want = reduce_readout(net.run(torch.as_tensor(x)).output.numpy(), "mean")
    fl = res["float"]
    got = np.array(fl["readout"]["values"])
    tol = FLOAT_READOUT_TOLERANCE * max(1.0, np.abs(want).max())
    assert got.shape == (30, 3) and np.abs(got - want).max() <= tol
    assert fl["readout"]["agree"] and fl["readout"]["max_abs_difference"] <= tol
    assert fl["readout"]["reduce"] == "mean" and "input_scale" not in fl
    pred = output_predictions(want[None], 3, "last")
    assert fl["predictions"] == pred.tolist() and fl["accuracy"] == float(np.mean(pred == y))
    # fixed: the emulator on round(x * S), S from the shared rule
    S = graded_input_scale(spec, static)
    q, _ = quantize(spec, input_scale=S)
    want_fx = reduce_readout(emulate_fixed(q, encode_graded_input(x, S)).numpy(), "mean")
    fx = res["fixed"]
    assert fx["input_scale"] == S == 128.0
    np.testing.assert_array_equal(np.array(fx["readout"]["values"]), want_fx)
    assert fx["readout"]["agree"] and fx["output_match"] == 1.0
    assert fx["agreement"]["pairs"]["torch_fixed vs lava_fixed"]["identical"]
    assert fx["predictions"] == output_predictions(want_fx[None], 3, "last").tolist()
    assert "equal value for value" in text and f"round(x * {S:g})" in text
    assert "within the tolerance" in text
    # an attached quantisation's input scale is used
    assert main(["quantize", str(model), "--input-scale", "32", "--attach"]) == 0
    out = tmp_path / "attached.json"
    argv = ["deploy", str(model), "--data", str(data), "--precision", "fixed", "--out", str(out)]
    assert main(argv) == 0
    att = json.loads(out.read_text())
    q32 = load_model(model)[1].quantized
    want32 = reduce_readout(emulate_fixed(q32, encode_graded_input(x, 32.0)).numpy(), "mean")
    assert att["input_scale"] == 32.0
    np.testing.assert_array_equal(np.array(att["readout"]["values"]), want32)
    assert "attached to the model file" in capsys.readouterr().out
