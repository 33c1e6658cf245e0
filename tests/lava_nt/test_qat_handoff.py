"""Bit-exact handoff of a QAT-tuned model: what the training forward computed is what Lava fixed
point runs after the model file travelled (saved, then loaded in another process), through
``lava-nt deploy --precision fixed``, and through the netx export (lava-dl's own reader).
"""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from lava_nt.builder import build_network
from lava_nt.cli import main
from lava_nt.converters.model_file import load_model
from lava_nt.converters.netx import NetxUnavailable, ensure_netx_reader, read_netx, run_netx
from lava_nt.converters.quantize import quantize
from lava_nt.qat import QATNetwork
from lava_nt.training import TrainConfig, train
from lava_nt.tuning import apply_tuning

T = 10


def _data(n, seed, n_in=16):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    p = np.where(y[:, None] == 1, np.linspace(0.1, 0.6, n_in), np.linspace(0.6, 0.1, n_in))
    return (rng.random((n, n_in)) < p).astype(np.float32), y


def _pretrained(reset: str):
    net = build_network(16, [12], 2, 4, reset=reset, seed=3)
    x, y = _data(80, 0)
    cfg = TrainConfig(epochs=3, lr=5e-3, T=T, select="last", seed=0)
    train(net, (torch.as_tensor(x), torch.as_tensor(y)), cfg)
    return net


def _qat_tuned(net, methods, **qat_kwargs):
    apply_tuning(net, methods, seed=1)
    qat = QATNetwork(net, **qat_kwargs)
    x, y = _data(48, 1)
    cfg = TrainConfig(epochs=3, lr=3e-2, T=T, select="last", seed=0)
    train(qat, (torch.as_tensor(x), torch.as_tensor(y)), cfg)
    return qat


def _training_forward(qat, x):
    with torch.no_grad():
        _, recs = qat.forward_static(torch.as_tensor(x, dtype=torch.float64), T, record=True)
    return [r["spikes"].numpy() for r in recs]


_LOADER = """
import sys, numpy as np
from lava_nt.converters.model_file import load_model
from lava_nt.converters.lava_graph import run_network
spec, info = load_model(sys.argv[1])
x = np.load(sys.argv[2])["x"]
xs = np.ascontiguousarray(np.broadcast_to(x[None], (int(sys.argv[4]),) + x.shape)).astype(float)
res = run_network(info.quantized, xs, "fixed", record=True)
np.savez(sys.argv[3], *[layer["spikes"] for layer in res.layers])
"""


def test_saved_qat_model_runs_the_training_forward_on_lava_in_another_process(tmp_path, capsys):
    qat = _qat_tuned(_pretrained("subtract"), ["nt1", "nt2"])
    x, y = _data(24, 2)
    trained = _training_forward(qat, x)
    assert trained[-1].sum() > 0
    model = tmp_path / "tuned.h5"
    qat.save(model, meta={"n_classes": 2})
    data = tmp_path / "test.npz"
    np.savez(data, x=x.astype(np.uint8), y=y, T=np.int64(T))
    # "another machine": a fresh interpreter that knows only the model file
    spikes = tmp_path / "lava.npz"
    subprocess.run(
        [sys.executable, "-c", _LOADER, str(model), str(data), str(spikes), str(T)],
        check=True, timeout=600,
    )  # fmt: skip
    with np.load(spikes) as f:
        lava = [f[f"arr_{k}"] for k in range(len(f.files))]
    for k, (a, b) in enumerate(zip(trained, lava, strict=True)):
        np.testing.assert_array_equal(a, b, err_msg=f"layer {k}")
    # and through the CLI: deploy picks the attached (trained) integers, accuracy as trained
    out = tmp_path / "deploy.json"
    argv = ["deploy", str(model), "--precision", "fixed", "--data", str(data), "--out", str(out)]
    assert main(argv) == 0
    assert "attached to the model file" in capsys.readouterr().out
    res = json.loads(out.read_text())
    pred = trained[-1].sum(0).reshape(len(y), 2, 4).sum(-1).argmax(-1)
    assert res["accuracy"] == pytest.approx(float(np.mean(pred == y)))
    assert res["agreement"]["pairs"]["torch_fixed vs lava_fixed"]["identical"] is True
    # the loaded QAT network is the same network (registers re-checked against the quantiser)
    loaded = QATNetwork.load(model)
    for a, b in zip(trained, _training_forward(loaded, x), strict=True):
        np.testing.assert_array_equal(a, b)


def test_qat_for_netx_exports_the_trained_integers(tmp_path, capsys):
    net = _pretrained("zero")
    _, rep = quantize(net.to_spec(), target="netx")
    # scales other than the quantiser's own choice (as those of a model imported from netx):
    # re-quantising the float network would give other integers than the trained ones
    scales = [0.7 * lq.scale for lq in rep.layers]
    qat = _qat_tuned(net, ["nt2"], scales=scales, bias_exp=6)
    x, y = _data(24, 2)
    trained = _training_forward(qat, x)
    model = tmp_path / "tuned.h5"
    qat.save(model, meta={"n_classes": 2})
    out = tmp_path / "net.h5"
    assert main(["export-netx", str(model), str(out)]) == 0
    capsys.readouterr()
    fixed = load_model(model)[1].quantized
    layers = read_netx(out)["layers"]
    for ls, nl in zip(fixed.layers, layers, strict=True):  # the trained registers, unchanged
        eff = np.asarray(ls.neuron.bias_mant) << np.asarray(ls.neuron.bias_exp)
        np.testing.assert_array_equal(np.asarray(nl["bias"]) << 6, eff)
        w = np.asarray(ls.weight) * 2.0**ls.weight_exp
        np.testing.assert_array_equal(np.asarray(nl["weight"]), w)
        assert int(nl["vThMant"]) == int(ls.neuron.vth)
    try:
        side = ensure_netx_reader()
    except NetxUnavailable as exc:
        pytest.skip(f"lava-dl's netx reader is not available: {exc}")
    xs = np.ascontiguousarray(np.broadcast_to(x[None], (T, *x.shape))).astype(np.float64)
    theirs = run_netx(out, xs, side_dir=side, record=True)
    for k, (a, b) in enumerate(zip(trained, theirs.layers, strict=True)):
        np.testing.assert_array_equal(a, b["spikes"], err_msg=f"layer {k}")


def test_cli_tune_qat_netx_target_round_trip(tmp_path, capsys):
    x, y = _data(64, 0)
    np.savez(tmp_path / "train.npz", x=x.astype(np.uint8), y=y, T=np.int64(T))
    pre = tmp_path / "pre.h5"
    assert main(["train", "--data", str(tmp_path / "train.npz"), "--hidden", "12",
                 "--population", "4", "--reset", "zero", "--epochs", "2", "--lr", "5e-3",
                 "--out", str(pre), "--no-progress"]) == 0  # fmt: skip
    tuned = tmp_path / "tuned.h5"
    assert main(["tune", str(pre), "--train", str(tmp_path / "train.npz"), "--method", "nt2",
                 "--qat", "--target", "netx", "--epochs", "2", "--out", str(tuned),
                 "--no-progress"]) == 0  # fmt: skip
    assert "QAT for netx" in capsys.readouterr().out
    spec, info = load_model(tuned)
    assert info.meta["qat"]["bias_exp"] == 6 and info.meta["qat_check"]["bit_exact"] is True
    assert main(["export-netx", str(tuned), str(tmp_path / "n.h5")]) == 0
    layers = read_netx(tmp_path / "n.h5")["layers"]
    for ls, nl in zip(info.quantized.layers, layers, strict=True):
        np.testing.assert_array_equal(
            np.asarray(nl["bias"]) << 6,
            np.asarray(ls.neuron.bias_mant) << np.asarray(ls.neuron.bias_exp),
        )
