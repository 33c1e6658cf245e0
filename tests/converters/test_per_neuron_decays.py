"""Per-neuron current and voltage decays (``du``, ``dv`` of shape ``(n,)``) in every engine.

Proofs: random networks whose layers have one ``du`` and one ``dv`` per neuron (including the
edge values ``du = 1`` / ``dv = 0`` in float and ``du = 4095`` / ``dv = 0`` in fixed point) run
spike for spike equal in the numpy reference, torch float64 and Lava float, and bit for bit equal
in the reference, the torch emulator and Lava fixed point. Wrong shapes and ranges are refused
with named errors; the fused training path refuses per-neuron decays so training falls back to the
eager path.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lava_nt.converters.lava_graph import run_network
from lava_nt.network import LayerSpec, NetworkSpec, run_reference
from lava_nt.nn.fixed_emulator import run_fixed
from lava_nt.nn.network import NTNetwork
from lava_nt.spec import fixed_ntlif_parameters, ntlif_parameters
from lava_nt.spec.validation import ParameterError
from lava_nt.testing import random_input, random_spec

SIZES = (24, 20, 16, 10)
T, B = 25, 12


def per_neuron_float(spec: NetworkSpec, seed: int) -> NetworkSpec:
    """``spec`` with one ``du`` and one ``dv`` per neuron on every layer (first neuron ``du = 1``,
    second ``dv = 0``, third ``du = 0``: a current that never decays)."""
    rng = np.random.default_rng(seed)
    for ls in spec.layers:
        du = rng.uniform(0.1, 1.0, ls.n)
        dv = rng.uniform(0.0, 0.5, ls.n)
        du[0], dv[1], du[2] = 1.0, 0.0, 0.0
        ls.neuron = ls.neuron._replace(du=du, dv=dv)
    spec.__post_init__()
    return spec


def per_neuron_fixed(spec: NetworkSpec, seed: int) -> NetworkSpec:
    """``spec`` with one ``du`` and one ``dv`` register per neuron (edge values 4095, 0 and 0)."""
    rng = np.random.default_rng(seed)
    for ls in spec.layers:
        du = rng.integers(200, 4096, ls.n)
        dv = rng.integers(0, 2000, ls.n)
        du[0], dv[1], du[2] = 4095, 0, 0
        ls.neuron = ls.neuron._replace(du=du, dv=dv)
    spec.__post_init__()
    return spec


def float_spec(seed: int = 3) -> NetworkSpec:
    return per_neuron_float(
        random_spec(seed, SIZES, spiking_bias=("per_neuron", None, "volumetric"),
                    resets=("zero", "subtract"), weight_scale=0.5),
        seed + 1,
    )  # fmt: skip


def fixed_spec(seed: int = 5) -> NetworkSpec:
    return per_neuron_fixed(
        random_spec(seed, SIZES, fixed=True, spiking_bias=(None, "per_neuron", None),
                    resets=("subtract", "zero"), weight_exp=(0, 1, 0)),
        seed + 1,
    )  # fmt: skip


def _active(spikes, name):
    rate = float(np.mean(np.asarray(spikes)))
    assert 0.01 < rate < 0.7, f"{name}: firing rate {rate:.3f} makes the comparison meaningless"


def _differs_from_layer_decays(spec, x, fixed: bool):
    """The per-neuron decays matter: the layer-mean decays give other spikes."""
    layers = []
    for ls in spec.layers:
        du, dv = (np.mean(getattr(ls.neuron, k)) for k in ("du", "dv"))
        if fixed:
            du, dv = int(round(du)), int(round(dv))
        layers.append(LayerSpec(ls.weight, ls.neuron._replace(du=du, dv=dv), ls.spiking_bias,
                                ls.weight_exp))  # fmt: skip
    flat = NetworkSpec(spec.n_in, layers, fixed=spec.fixed)
    return not np.array_equal(run_reference(flat, x).output, run_reference(spec, x).output)


# ---- spec validation --------------------------------------------------------------------------
def test_float_parameters_accept_scalar_or_one_per_neuron():
    p = ntlif_parameters(4, du=[1.0, 0.5, 0.0, 0.25], dv=0.1)
    assert np.asarray(p.du).shape == (4,) and p.dv == 0.1
    with pytest.raises(ParameterError, match=r"'du' must be a scalar .* shape \(4,\)"):
        ntlif_parameters(4, du=np.full(5, 0.5))
    with pytest.raises(ParameterError, match=r"'dv' must be a scalar .* got shape \(2, 1, 4\)"):
        ntlif_parameters(4, dv=np.full((2, 1, 4), 0.5))
    with pytest.raises(ParameterError, match=r"layer 7: 'dv' must be <= 1.0, got 1.5"):
        ntlif_parameters(4, "layer 7", dv=[0.1, 0.2, 1.5, 0.0])
    with pytest.raises(ParameterError, match="'vth' must be a scalar"):
        ntlif_parameters(4, vth=np.ones(4))


def test_fixed_parameters_accept_scalar_or_one_register_per_neuron():
    p = fixed_ntlif_parameters(3, du=[4095, 0, 17], dv=[0, 4095, 1])
    assert p.du.dtype == np.int64 and p.du.tolist() == [4095, 0, 17]
    with pytest.raises(ParameterError, match=r"'du' must be in \[0, 4095\], got 4096"):
        fixed_ntlif_parameters(3, du=[4096, 0, 1])
    with pytest.raises(ParameterError, match="'dv' must be integer-valued"):
        fixed_ntlif_parameters(3, dv=[0.5, 0, 1])
    with pytest.raises(ParameterError, match=r"'du' must be a scalar .* got shape \(2,\)"):
        fixed_ntlif_parameters(3, du=[1, 2])
    with pytest.raises(ParameterError, match="'vth' must be a scalar"):
        fixed_ntlif_parameters(3, vth=[1, 2, 3])


def test_network_spec_refuses_decays_of_another_layer_size():
    spec = float_spec()
    ls = spec.layers[1]
    ls.neuron = ls.neuron._replace(du=np.full(ls.n + 1, 0.5))
    with pytest.raises(ParameterError, match=r"NetworkSpec layer 1: 'du' must be a scalar"):
        spec.__post_init__()


# ---- float engines ----------------------------------------------------------------------------
def test_reference_equals_torch_float64_equals_lava_float():
    spec = float_spec()
    x = random_input(11, T, B, SIZES[0], rate=0.3)
    assert _differs_from_layer_decays(spec, x, fixed=False)
    ref = run_reference(spec, x, record=True)
    net = NTNetwork.from_spec(spec, dtype=torch.float64)
    with torch.no_grad():
        out, rec = net(torch.as_tensor(x), record=True)
    lava = run_network(spec, x, precision="float", record=True)
    for k in range(len(spec.layers)):
        _active(ref.layers[k]["spikes"], f"layer {k}")
        np.testing.assert_array_equal(rec[k]["spikes"].numpy(), ref.layers[k]["spikes"])
        np.testing.assert_array_equal(lava.layers[k]["spikes"], ref.layers[k]["spikes"])
    np.testing.assert_array_equal(out.numpy(), ref.output)
    np.testing.assert_array_equal(lava.output, ref.output)


def test_torch_network_keeps_per_neuron_decays_in_to_spec():
    spec = float_spec()
    net = NTNetwork.from_spec(spec, dtype=torch.float64)
    assert tuple(net.layers[0].neuron.du.shape) == (SIZES[1],)
    assert "per-neuron(20)" in repr(net.layers[0].neuron)
    back = net.to_spec()
    for a, b in zip(spec.layers, back.layers, strict=True):
        np.testing.assert_array_equal(a.neuron.du, b.neuron.du)
        np.testing.assert_array_equal(a.neuron.dv, b.neuron.dv)


def test_fused_path_refuses_per_neuron_decays_and_training_falls_back():
    from lava_nt.commands.train import _fused
    from lava_nt.nn.fused import FusedNTNetwork, fused_forward

    net = NTNetwork.from_spec(float_spec(), dtype=torch.float64)
    with pytest.raises(ParameterError, match="layer 0 has per-neuron 'du'.*eager path"):
        FusedNTNetwork.from_network(net)
    with pytest.raises(ParameterError, match="per-neuron 'du'"):
        fused_forward(net, torch.zeros(T, 2, SIZES[0], dtype=torch.float64))
    assert _fused(net) is net  # the training command keeps the eager NTNetwork
    x = torch.as_tensor(random_input(2, T, 4, SIZES[0], rate=0.3))
    net(x).sum().backward()  # the eager path trains: gradients reach every layer's bias
    assert all(layer.neuron.bias.grad is not None for layer in net.layers)


# ---- fixed-point engines ----------------------------------------------------------------------
def test_reference_equals_emulator_equals_lava_fixed():
    spec = fixed_spec()
    x = random_input(13, T, B, SIZES[0], rate=0.3)
    assert _differs_from_layer_decays(spec, x, fixed=True)
    ref = run_reference(spec, x, record=True)
    emu = run_fixed(spec, torch.as_tensor(x), record=True)
    lava = run_network(spec, x, precision="fixed", record=True)
    for k in range(len(spec.layers)):
        _active(ref.layers[k]["spikes"], f"layer {k}")
        np.testing.assert_array_equal(emu.layers[k]["spikes"].numpy(), ref.layers[k]["spikes"])
        np.testing.assert_array_equal(lava.layers[k]["spikes"], ref.layers[k]["spikes"])
    np.testing.assert_array_equal(emu.output.numpy(), ref.output)
    np.testing.assert_array_equal(lava.output, ref.output)


def test_lava_process_decay_vars_follow_the_parameter():
    from lava_nt.processes.ntlif.process import NTLIF

    one = NTLIF.fixed(shape=(3,), du=7, dv=[0, 1, 2])
    assert one.du.shape == (1,) and one.dv.shape == (3,)
    assert one.dv.init.tolist() == [0, 1, 2]
    flt = NTLIF(shape=(3,), du=[1.0, 0.5, 0.25])
    assert flt.du.shape == (3,) and flt.dv.shape == (1,)
    with pytest.raises(ParameterError, match=r"NTLIF: 'du' must be a scalar .* shape \(3,\)"):
        NTLIF(shape=(3,), du=[1.0, 0.5])


# ---- netx -------------------------------------------------------------------------------------
def netx_spec(seed: int = 7) -> NetworkSpec:
    """A netx-ready fixed network (zero reset, unity gains, no spiking bias) with per-neuron
    decay registers."""
    from lava_nt.converters.quantize import quantize

    spec = random_spec(seed, (16, 12, 8), weight_scale=1.2, fan_in=True, vth=(1.0, 0.8))
    fixed, _ = quantize(spec, target="netx")
    return per_neuron_fixed(fixed, seed + 1)


def test_netx_export_writes_per_neuron_decays_and_import_reads_them(tmp_path):
    import h5py

    from lava_nt.converters.netx import export_netx, import_netx
    from lava_nt.converters.netx.export import read_netx

    fixed = netx_spec()
    path = tmp_path / "pn.net"
    export_netx(fixed, path)
    with h5py.File(path, "r") as f:
        nrn = f["layer/1/neuron"]
        assert nrn["iDecay"].shape == (12,) and nrn["vThMant"].shape == ()
        np.testing.assert_array_equal(nrn["iDecay"][()], fixed.layers[0].neuron.du + 1)
        np.testing.assert_array_equal(nrn["vDecay"][()], fixed.layers[0].neuron.dv)
    info = read_netx(path)
    assert info["layers"][1]["iDecay"] == (fixed.layers[1].neuron.du + 1).tolist()
    imp = import_netx(path)
    for a, b in zip(imp.fixed_spec.layers, fixed.layers, strict=True):
        np.testing.assert_array_equal(a.neuron.du, b.neuron.du)
        np.testing.assert_array_equal(a.neuron.dv, b.neuron.dv)
    assert imp.report.layers[0].du == fixed.layers[0].neuron.du.tolist()
    assert "per-neuron 0..4095" in imp.report.summary()
    # the float twin carries du = iDecay / 4096 and dv = vDecay / 4096 per neuron
    np.testing.assert_array_equal(
        imp.float_spec.layers[1].neuron.du, (fixed.layers[1].neuron.du + 1) / 4096
    )
    x = random_input(4, T, B, fixed.n_in, rate=0.3)
    ours = run_reference(fixed, x, record=True)
    _active(ours.layers[-1]["spikes"], "last layer")
    np.testing.assert_array_equal(run_reference(imp.fixed_spec, x).output, ours.output)


def test_netx_import_refuses_per_neuron_thresholds_naming_the_layer(tmp_path):
    import h5py

    from lava_nt.converters.netx import NetxImportError, export_netx, import_netx

    path = tmp_path / "vth.net"
    export_netx(netx_spec(), path)
    with h5py.File(path, "r+") as f:
        del f["layer/2/neuron/vThMant"]
        f["layer/2/neuron"].create_dataset("vThMant", data=np.arange(1, 9) * 10)
    with pytest.raises(NetxImportError, match=r"layer 2 \(dense\): per-neuron thresholds"):
        import_netx(path)
    with h5py.File(path, "r+") as f:
        del f["layer/2/neuron/vThMant"]
        f["layer/2/neuron"].create_dataset("vThMant", data=100)
        del f["layer/2/neuron/vDecay"]
        f["layer/2/neuron"].create_dataset("vDecay", data=np.arange(5))
    with pytest.raises(NetxImportError, match=r"layer 2 \(dense\): iDecay and vDecay must be"):
        import_netx(path)


def test_lava_dl_reader_runs_exported_per_neuron_decays_like_lava_nt(tmp_path):
    from lava_nt.converters.netx import export_netx, run_netx
    from lava_nt.converters.netx.reader import NetxUnavailable, ensure_netx_reader

    fixed = netx_spec(9)
    path = tmp_path / "pn.net"
    export_netx(fixed, path)
    x = random_input(5, T, 6, fixed.n_in, rate=0.3)
    assert _differs_from_layer_decays(fixed, x, fixed=True)
    ours = run_fixed(fixed, torch.as_tensor(x), record=True)
    _active(ours.layers[-1]["spikes"].numpy(), "last layer")
    try:
        side = ensure_netx_reader()
    except NetxUnavailable as exc:
        pytest.skip(f"lava-dl's netx reader is not available (offline?): {exc}")
    theirs = run_netx(path, x, side_dir=side, record=True)
    for k in range(len(fixed.layers)):
        np.testing.assert_array_equal(
            theirs.layers[k]["spikes"], ours.layers[k]["spikes"].numpy(), err_msg=f"layer {k}"
        )


# ---- quantiser and model file -----------------------------------------------------------------
def _positive_du(spec: NetworkSpec) -> NetworkSpec:
    """``float_spec`` without its ``du = 0`` entries (a current that never decays has no Loihi
    register: the quantiser refuses it)."""
    for ls in spec.layers:
        du = np.asarray(ls.neuron.du).copy()
        du[du == 0] = 0.05
        ls.neuron = ls.neuron._replace(du=du)
    return spec


def test_quantiser_maps_each_neurons_decays_by_the_spec_rules():
    from lava_nt.converters.quantize import dequantize, quantize
    from lava_nt.spec.quantization import current_decay_register, decay_register, decay_units

    spec = _positive_du(float_spec())
    fixed, rep = quantize(spec)
    for k, (fl, ls) in enumerate(zip(fixed.layers, spec.layers, strict=True)):
        du, dv = np.asarray(ls.neuron.du), np.asarray(ls.neuron.dv)
        np.testing.assert_array_equal(fl.neuron.du, current_decay_register(decay_units(du)))
        np.testing.assert_array_equal(fl.neuron.dv, decay_register(decay_units(dv)))
        assert fl.neuron.du[0] == 4095 and fl.neuron.dv[1] == 0  # du = 1 and dv = 0 exactly
        assert rep.layers[k].du == fl.neuron.du.tolist()
    back = dequantize(fixed, rep)
    np.testing.assert_allclose(back.layers[0].neuron.du, spec.layers[0].neuron.du, atol=1 / 8192)
    with pytest.raises(Exception, match=r"quantize: layer 0: du=0 \(neuron 2\)"):
        quantize(float_spec())


def test_quantiser_current_bound_uses_each_neurons_own_du():
    from lava_nt.converters.quantize.scale import _u_bound

    W = np.array([[1.0, 1.0], [4.0, 0.0], [0.5, 0.5]])
    du = np.array([0.5, 1.0, 0.01])
    assert _u_bound(W, du) == pytest.approx(100.0)  # row 3: 1.0 / 0.01
    assert _u_bound(W, 1.0) == pytest.approx(4.0)
    # equal per-neuron decays quantise exactly like the scalar decay
    from lava_nt.converters.quantize import quantize

    scalar = random_spec(3, SIZES, weight_scale=0.5, du=0.3, dv=0.2)
    arrays = random_spec(3, SIZES, weight_scale=0.5, du=0.3, dv=0.2)
    for ls in arrays.layers:
        ls.neuron = ls.neuron._replace(du=np.full(ls.n, 0.3), dv=np.full(ls.n, 0.2))
    (fa, ra), (fb, rb) = quantize(scalar), quantize(arrays)
    assert [lq.scale for lq in ra.layers] == [lq.scale for lq in rb.layers]
    x = random_input(1, T, B, SIZES[0])
    np.testing.assert_array_equal(run_reference(fa, x).output, run_reference(fb, x).output)


def test_calibrated_quantiser_refuses_per_neuron_decays():
    from lava_nt.converters.quantize import QuantizationError, calibrate_quantize

    spec = _positive_du(float_spec())
    with pytest.raises(QuantizationError, match="layer 0 has per-neuron decays.*quantize"):
        calibrate_quantize(spec, random_input(1, T, 8, SIZES[0]))


def test_model_file_stores_per_neuron_decays(tmp_path):
    import h5py

    from lava_nt.converters.model_file import (
        SCHEMA_VERSION,
        ModelFileError,
        load_model,
        save_model,
    )
    from lava_nt.converters.quantize import quantize

    spec = _positive_du(float_spec())
    fixed, rep = quantize(spec)
    path = save_model(tmp_path / "m.h5", spec, quantized=(fixed, rep))
    back, info = load_model(path)
    assert info.schema_version == SCHEMA_VERSION >= 5
    for a, b in zip(back.layers, spec.layers, strict=True):
        np.testing.assert_array_equal(a.neuron.du, b.neuron.du)
        np.testing.assert_array_equal(a.neuron.dv, b.neuron.dv)
    for a, b in zip(info.quantized.layers, fixed.layers, strict=True):
        np.testing.assert_array_equal(a.neuron.du, b.neuron.du)
    assert info.quant_report.layers[0].du == rep.layers[0].du
    # a scalar network still writes scalars
    plain = save_model(tmp_path / "s.h5", random_spec(1, SIZES))
    with h5py.File(plain, "r") as f:
        assert f["network/layer_0/neuron/du"].shape == ()
    # per-neuron decays in a file that claims an older schema are refused
    with h5py.File(path, "r+") as f:
        f.attrs["schema_version"] = 4
    with pytest.raises(ModelFileError, match=r"du' has shape \(20,\), expected \(\)"):
        load_model(path)


# ---- QAT ----------------------------------------------------------------------------------------
QAT_ALL = {"weight": True, "bias": True, "gain": True, "w_in": True, "w_b": True,
           "c_retention": True}  # fmt: skip


def _qat_grads(qat, x, engine: str) -> dict:
    for layer in qat.layers:
        layer.engine = engine
    qat.zero_grad(set_to_none=True)
    out, recs = qat(x, record=True)
    loss = (out.mean(0) * torch.linspace(-1, 1, out.shape[-1], dtype=torch.float64)).sum()
    (loss + sum(r["spikes"].mean() for r in recs)).backward()
    return {n: p.grad.clone() for n, p in qat.named_parameters()}


@pytest.mark.parametrize("engine", ["fused", "autograd"])
def test_qat_forward_is_the_emulator_with_per_neuron_decay_registers(engine):
    from lava_nt.converters.quantize import quantize
    from lava_nt.qat import QATNetwork

    spec = _positive_du(float_spec())
    qat = QATNetwork(spec, trainable=QAT_ALL)
    fixed, _ = quantize(spec)
    for layer, fl in zip(qat.layers, fixed.layers, strict=True):
        layer.engine = engine
        np.testing.assert_array_equal(layer.du, fl.neuron.du)  # frozen: the quantiser's registers
        np.testing.assert_array_equal(layer.dv, fl.neuron.dv)
    x = torch.as_tensor(random_input(21, T, B, SIZES[0], rate=0.3))
    with torch.no_grad():
        out, recs = qat(x, record=True)
    emu = run_fixed(qat.to_fixed_spec(), x.to(torch.int64), record=True)
    assert torch.equal(out.to(torch.int64), emu.output)
    for k, (r, e) in enumerate(zip(recs, emu.layers, strict=True)):
        _active(r["spikes"].numpy(), f"layer {k}")
        assert torch.equal(r["spikes"].to(torch.int64), e["spikes"]), f"layer {k}"
    np.testing.assert_array_equal(qat.to_float_spec().layers[0].neuron.du, spec.layers[0].neuron.du)


def test_qat_fused_gradients_equal_autograd_with_per_neuron_decays():
    from lava_nt.qat import QATNetwork

    qat = QATNetwork(_positive_du(float_spec()), trainable=QAT_ALL)
    x = torch.as_tensor(random_input(22, T, 8, SIZES[0], rate=0.3))
    ref, fused = _qat_grads(qat, x, "autograd"), _qat_grads(qat, x, "fused")
    for name, g in fused.items():
        torch.testing.assert_close(g, ref[name], rtol=1e-9, atol=1e-12)
    assert float(fused["layers.0.bias"].abs().max()) > 0


# ---- NIR ----------------------------------------------------------------------------------------
def test_nir_export_and_import_keep_per_neuron_decays():
    from lava_nt.converters.nir_io import NIRExportError, from_nir, to_nir

    spec = random_spec(4, SIZES, spiking_bias=("per_neuron", None, None), resets="zero",
                       weight_scale=0.5)  # fmt: skip
    rng = np.random.default_rng(5)
    for ls in spec.layers:  # decays in (0, 1]: every one has a time constant
        du, dv = rng.uniform(0.1, 1.0, ls.n), rng.uniform(0.05, 0.5, ls.n)
        du[0] = 1.0
        ls.neuron = ls.neuron._replace(du=du, dv=dv)
    x = random_input(6, T, B, SIZES[0], rate=0.3)
    assert _differs_from_layer_decays(spec, x, fixed=False)
    ref = run_reference(spec, x, record=True)
    exact = from_nir(to_nir(spec)).spec  # lava-nt's metadata: the same numbers
    for a, b in zip(exact.layers, spec.layers, strict=True):
        np.testing.assert_array_equal(a.neuron.du, b.neuron.du)
        np.testing.assert_array_equal(a.neuron.dv, b.neuron.dv)
    np.testing.assert_array_equal(run_reference(exact, x).output, ref.output)
    # from the NIR fields alone (per-neuron tau = dt / d): the same spikes
    fields = from_nir(to_nir(spec), use_metadata=False).spec
    np.testing.assert_allclose(fields.layers[1].neuron.du, spec.layers[1].neuron.du, rtol=1e-12)
    back = run_reference(fields, x, record=True)
    for k in range(len(SIZES) - 1):
        _active(ref.layers[k]["spikes"], f"layer {k}")
        np.testing.assert_array_equal(back.layers[k]["spikes"], ref.layers[k]["spikes"])
    # a per-neuron decay of 0 has no time constant: refused naming the layer
    spec.layers[2].neuron = spec.layers[2].neuron._replace(dv=np.r_[0.0, np.full(9, 0.2)])
    with pytest.raises(NIRExportError, match="layer 2: per-neuron decays"):
        to_nir(spec)


def test_cli_import_netx_and_export_netx_keep_per_neuron_decays(tmp_path, capsys):
    from lava_nt.cli import main
    from lava_nt.converters.model_file import load_model
    from lava_nt.converters.netx import export_netx
    from lava_nt.converters.netx.export import read_netx

    fixed = netx_spec(11)
    src = tmp_path / "pn.net"
    export_netx(fixed, src)
    model = tmp_path / "pn.h5"
    assert main(["import-netx", str(src), str(model)]) == 0
    out = capsys.readouterr().out
    assert "du=per-neuron" in out and "dv=per-neuron" in out
    spec, info = load_model(model)
    np.testing.assert_array_equal(info.quantized.layers[1].neuron.dv, fixed.layers[1].neuron.dv)
    assert np.asarray(spec.layers[0].neuron.du).shape == (12,)
    back = tmp_path / "back.net"
    assert main(["export-netx", str(model), str(back)]) == 0
    a, b = read_netx(src), read_netx(back)
    for la, lb in zip(a["layers"], b["layers"], strict=True):
        assert la["iDecay"] == lb["iDecay"] and la["vDecay"] == lb["vDecay"]


def test_float_network_with_per_neuron_decays_exports_to_netx_and_saves_bit_for_bit(tmp_path):
    from lava_nt.converters.model_file import load_network, save_model
    from lava_nt.converters.netx import export_netx, import_netx
    from lava_nt.converters.quantize import quantize

    spec = random_spec(3, (16, 12, 8), weight_scale=1.2, fan_in=True)
    rng = np.random.default_rng(0)
    for ls in spec.layers:
        ls.neuron = ls.neuron._replace(
            du=rng.uniform(0.2, 1.0, ls.n), dv=rng.uniform(0.05, 0.4, ls.n)
        )
    export_netx(spec, tmp_path / "f.net")  # quantised for netx on the way
    fixed, _ = quantize(spec, target="netx")
    for a, b in zip(import_netx(tmp_path / "f.net").fixed_spec.layers, fixed.layers, strict=True):
        np.testing.assert_array_equal(a.neuron.du, b.neuron.du)
        np.testing.assert_array_equal(a.neuron.dv, b.neuron.dv)
    net = NTNetwork.from_spec(spec, dtype=torch.float32)
    net2, _ = load_network(save_model(tmp_path / "m.h5", net))
    sd, sd2 = net.state_dict(), net2.state_dict()
    assert sd.keys() == sd2.keys() and sd["layers.0.neuron.du"].shape == (12,)
    for key, val in sd.items():
        assert torch.equal(val, sd2[key]), key
