"""netx export (lava_nt.converters.netx.export_netx) and lava-dl's own netx reader.

The written file is re-read with plain h5py and every value is checked against the float model
it came from (within the quantisation step). Then lava-dl 0.6.0's reader is installed into a side
directory under the venv (``<venv>/lava-dl-side``, never into site-packages; downloaded once with
``pip download lava-dl==0.6.0 --no-deps``) and imported without torch (stubs of lava-facts §5);
``netx.hdf5.Network(net_config=path, reset_interval=T+depth, reset_offset=1)`` run in fixed point
must equal ``run_network(exported spec, x, "fixed")`` bit for bit, for every layer. If the reader
cannot be installed (no network access to PyPI) that test is skipped with pip's reason.
"""

import h5py
import numpy as np
import pytest
import torch

from lava_nt.converters.lava_graph import run_network
from lava_nt.converters.model_file import ModelFileExistsError, save_model
from lava_nt.converters.netx import (
    NetxUnavailable,
    StockLavaError,
    ensure_netx_reader,
    export_netx,
    netx_compatible,
    read_netx,
    run_netx,
)
from lava_nt.converters.quantize import fold_gains, quantize
from lava_nt.network import NetworkSpec, SpikingBiasSpec, reference_run
from lava_nt.nn.network import NTNetwork
from lava_nt.spec import spiking_bias_parameters
from lava_nt.testing import random_spec


def netx_spec(seed: int = 0) -> NetworkSpec:
    """A 30-24-16-10 float network netx can hold after quantisation (gains folded)."""
    return random_spec(seed, (30, 24, 16, 10), du=(0.5, 1.0, 0.25), dv=(0.2, 0.1, 0.0),
                       vth=(1.0, 0.8, 1.2), weight_scale=1.2, fan_in=True)  # fmt: skip


def test_export_layout_matches_the_float_model(tmp_path):
    spec = netx_spec()
    path = tmp_path / "net.h5"
    res = export_netx(spec, path)
    assert res.path == path and res.report is not None and res.report.target == "netx"
    folded = fold_gains(spec)
    with h5py.File(path, "r") as f:
        lay = f["layer"]
        assert sorted(lay.keys(), key=int) == ["0", "1", "2", "3"]
        assert lay["0/type"][0] == b"input"
        assert lay["0/shape"][()].tolist() == [30]
        assert "neuron" not in lay["0"]  # no Input block: input spikes go straight to Dense 1
        for k, ls in enumerate(folded.layers):
            g = lay[str(k + 1)]
            S = res.report.layers[k].scale
            p = ls.neuron
            assert g["type"][0] == b"dense"
            assert g["shape"][()].tolist() == [ls.n]
            nrn = g["neuron"]
            assert nrn["type"][0] == b"CUBA"
            w, b = g["weight"][()], g["bias"][()]
            assert w.shape == (ls.n, ls.weight.shape[1]) and w.dtype.kind == "i"
            assert w.min() >= -256 and w.max() <= 254  # netx's 8-bit synapse
            assert np.abs(b).max() <= 4095  # 13-bit bias mantissa, bias_exp fixed at 6 by netx
            # weights and biases in units of 64 voltage units (a << 6 and bias << 6)
            step_w = 2.0 ** (7 + res.spec.layers[k].weight_exp) / S
            np.testing.assert_allclose(w * 64 / S, ls.weight, atol=step_w / 2 + 1e-12)
            np.testing.assert_allclose(b * 64 / S, p.bias, atol=32 / S + 1e-12)
            assert abs(int(nrn["vThMant"][()]) * 64 / S - p.vth) <= 32 / S
            assert int(nrn["iDecay"][()]) == round(p.du * 4096)  # du_fixed + 1
            assert int(nrn["vDecay"][()]) == round(p.dv * 4096)
    info = read_netx(path)
    assert info["n_in"] == 30 and [lay["shape"] for lay in info["layers"]] == [[24], [16], [10]]


def test_export_refusals_and_fixed_specs(tmp_path):
    spec = netx_spec(1)
    path = tmp_path / "a.h5"
    export_netx(spec, path)
    with pytest.raises(ModelFileExistsError, match="overwrite"):
        export_netx(spec, path)
    export_netx(spec, path, overwrite=True)
    # a netx-compatible fixed spec is exported as it is
    q, _ = quantize(spec, target="netx")
    assert netx_compatible(q) == []
    res = export_netx(q, tmp_path / "b.h5")
    assert res.report is None and res.spec is q
    with h5py.File(path, "r") as fa, h5py.File(tmp_path / "b.h5", "r") as fb:
        for k in ("1", "2", "3"):
            np.testing.assert_array_equal(fa[f"layer/{k}/weight"][()], fb[f"layer/{k}/weight"][()])
            np.testing.assert_array_equal(fa[f"layer/{k}/bias"][()], fb[f"layer/{k}/bias"][()])
    # the default (lava-target) quantisation keeps gains and per-neuron bias exponents
    q_lava, _ = quantize(spec)
    why = netx_compatible(q_lava)
    assert any("gain" in w for w in why) and any("bias_mant << 6" in w for w in why)
    with pytest.raises(StockLavaError, match="target='netx'"):
        export_netx(q_lava, tmp_path / "c.h5")
    # features netx cannot express
    sub = netx_spec(2)
    sub.layers[1].neuron = sub.layers[1].neuron._replace(reset_subtract=True)
    with pytest.raises(StockLavaError, match="subtraction"):
        export_netx(sub, tmp_path / "d.h5")
    sb = netx_spec(3)
    sb.layers[0].spiking_bias = SpikingBiasSpec(
        np.zeros((24, 30)), spiking_bias_parameters(24, 24, w_b=0.1, c_retention=0.5)
    )
    with pytest.raises(StockLavaError, match="spiking bias"):
        export_netx(sb, tmp_path / "e.h5")
    assert not any((tmp_path / n).exists() for n in ("c.h5", "d.h5", "e.h5"))


def test_export_from_network_and_model_file(tmp_path):
    spec = netx_spec(4)
    net = NTNetwork.from_spec(spec, dtype=torch.float64)
    model = tmp_path / "model.h5"
    save_model(model, net)
    a = export_netx(net, tmp_path / "from_net.h5")
    b = export_netx(model, tmp_path / "from_file.h5")
    for la, lb in zip(read_netx(a.path)["layers"], read_netx(b.path)["layers"], strict=True):
        np.testing.assert_array_equal(la["weight"], lb["weight"])
        np.testing.assert_array_equal(la["bias"], lb["bias"])
        assert la["vThMant"] == lb["vThMant"]


def test_lava_dl_netx_reader_runs_the_file_bit_exact(tmp_path):
    try:
        side = ensure_netx_reader()
    except NetxUnavailable as exc:
        pytest.skip(f"lava-dl's netx reader is not available: {exc}")
    spec = netx_spec(5)
    res = export_netx(spec, tmp_path / "net.h5")
    rng = np.random.default_rng(5)
    x = (rng.random((20, 30, 30)) < 0.3).astype(np.float64)
    ours = run_network(res.spec, x, "fixed", record=True)
    theirs = run_netx(res.path, x, side_dir=side, record=True)
    assert ours.spikes.sum() > 0
    for k, (a, b) in enumerate(zip(ours.layers, theirs.layers, strict=True)):
        np.testing.assert_array_equal(a["spikes"], b["spikes"], err_msg=f"layer {k}")
    np.testing.assert_array_equal(ours.spikes, theirs.spikes)
    ref = reference_run(spec, x)
    print(f"netx fixed vs float model: {100 * np.mean(ref == theirs.spikes):.2f}% spike match")
    assert np.mean(ref == theirs.spikes) >= 0.9
