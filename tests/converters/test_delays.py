"""Synaptic delays (``LayerSpec.delay``, lava_nt.spec.delay) in every engine.

Proofs: the numpy reference, torch float64 and Lava float agree spike for spike; the reference,
the torch emulator and Lava fixed point agree bit for bit; per-synapse (with delay 0 and the
maximum 62), per-output and per-input delays, several samples back to back in one Lava run
(each starting with empty delay lines); model files and netx files carry the delays.
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch

from lava_nt.converters.lava_graph import run_network
from lava_nt.converters.model_file import load_model, load_network, save_model
from lava_nt.converters.netx import export_netx, import_netx, run_netx
from lava_nt.converters.netx.delays import netx_delay, write_delay
from lava_nt.converters.netx.reader import NetxUnavailable, ensure_netx_reader
from lava_nt.converters.quantize import dequantize, quantize
from lava_nt.network import NetworkSpec, run_reference
from lava_nt.nn.fixed_emulator import run_fixed
from lava_nt.nn.network import NTNetwork
from lava_nt.spec.delay import check_delay, expand_delay
from lava_nt.spec.validation import ParameterError
from lava_nt.testing import random_input, random_spec, with_delays


def _float_spec(seed=1, **kw):
    return with_delays(random_spec(seed, (12, 10, 8, 6), **kw), seed + 1)


def _fixed_spec(seed=1, **kw):
    return with_delays(random_spec(seed, (12, 10, 8, 6), fixed=True, **kw), seed + 1)


def _same_delays(layers_a, layers_b) -> bool:
    return all(np.array_equal(a.delay, b.delay) for a, b in zip(layers_a, layers_b, strict=True))


def _spikes(layers):
    return [np.asarray(rec["spikes"].detach() if hasattr(rec["spikes"], "detach") else
                       rec["spikes"]) for rec in layers]  # fmt: skip


def _active(layers):
    for k, s in enumerate(_spikes(layers)):
        assert 0.005 < s.mean() < 0.7, f"layer {k} fires at {s.mean():.3f}: test meaningless"


# ---- the definition --------------------------------------------------------------------------
def test_delay_validation_names_the_problem():
    with pytest.raises(ParameterError, match=r"layer 0: 'delay' must have the weight's shape"):
        NetworkSpec(3, [_layer(np.zeros((2, 2), int))])
    with pytest.raises(ParameterError, match=r"0\.\.62"):
        NetworkSpec(3, [_layer(np.full((2, 3), 63))])
    with pytest.raises(ParameterError, match=r"0\.\.62"):
        NetworkSpec(3, [_layer(np.full((2, 3), -1))])
    with pytest.raises(ParameterError, match="whole numbers"):
        NetworkSpec(3, [_layer(np.full((2, 3), 1.5))])
    with pytest.raises(ParameterError, match="fits neither"):
        expand_delay(np.zeros(4), 2, 3, "x")
    assert check_delay(None, 2, 3, "x") is None


def _layer(delay):
    from lava_nt.network import LayerSpec
    from lava_nt.spec.ntlif import ntlif_parameters

    return LayerSpec(np.ones((2, 3)), ntlif_parameters(2, "t"), delay=delay)


def test_expand_delay_follows_lava_dl_rule():
    # a vector of n values is per output neuron, checked first (also when n == n_prev)
    assert np.array_equal(expand_delay([1, 2], 2, 2, "t"), [[1, 1], [2, 2]])
    assert np.array_equal(expand_delay([1, 2, 3], 2, 3, "t"), [[1, 2, 3], [1, 2, 3]])
    assert np.array_equal(expand_delay(4, 2, 3, "t"), np.full((2, 3), 4))


def test_definition_on_a_hand_example():
    """I_j(t) = sum_i W_ji x_i(t - D_ji): one input spike at t=0 reaches neuron 0 after 3 steps
    and neuron 1 at once; the neuron spikes at the step its current arrives (du = 1, vth < w)."""
    from lava_nt.network import LayerSpec
    from lava_nt.spec.ntlif import ntlif_parameters

    p = ntlif_parameters(2, "t", du=1.0, dv=1.0, vth=0.5)
    spec = NetworkSpec(1, [LayerSpec(np.ones((2, 1)), p, delay=np.array([[3], [0]]))])
    x = np.zeros((6, 1, 1))
    x[0] = 1
    out = run_reference(spec, x).output[:, 0]
    assert out[:, 0].tolist() == [0, 0, 0, 1, 0, 0] and out[:, 1].tolist() == [1, 0, 0, 0, 0, 0]
    torch_out = NTNetwork.from_spec(spec)(torch.as_tensor(x)).detach().numpy()
    assert np.array_equal(torch_out[:, 0], out)


def test_zero_delays_equal_no_delay_and_delays_change_the_spikes():
    spec = random_spec(3, (12, 10, 8))
    x = random_input(4, 40, 3, spec.n_in)
    plain = run_reference(spec, x).output
    for ls in spec.layers:
        ls.delay = np.zeros_like(ls.weight, dtype=np.int64)
    assert np.array_equal(run_reference(spec, x).output, plain)
    assert np.array_equal(NTNetwork.from_spec(spec)(torch.as_tensor(x)).detach().numpy(), plain)
    delayed = with_delays(spec, 5)
    assert not np.array_equal(run_reference(delayed, x).output, plain)


# ---- torch float64 and the emulator --------------------------------------------------------
def test_torch_float64_equals_reference_and_continues_across_calls():
    spec = _float_spec(spiking_bias=[None, "per_neuron", None])
    x = random_input(7, 80, 3, spec.n_in)
    ref = run_reference(spec, x, record=True)
    _active(ref.layers)
    net = NTNetwork.from_spec(spec)
    xt = torch.as_tensor(x)
    res = net.run(xt, record=True)
    for k, (a, b) in enumerate(zip(_spikes(ref.layers), _spikes(res.layers), strict=True)):
        assert np.array_equal(a, b), f"layer {k}"
    # a run continued from its state, and tick by tick, equal one long run
    out1, st = net(xt[:37], return_state=True)
    assert torch.equal(torch.cat([out1, net(xt[37:], state=st)]), res.output)
    st, ticks = None, []
    for t in range(xt.shape[0]):
        z, st = net.step(xt[t], st)
        ticks.append(z)
    assert torch.equal(torch.stack(ticks), res.output)
    # the spec round trip keeps the delays
    back = net.to_spec()
    assert _same_delays(back.layers, spec.layers)


def test_static_input_with_delays_equals_the_held_sequence():
    spec = _float_spec(seed=4)
    x = random_input(8, 1, 2, spec.n_in)[0]
    net = NTNetwork.from_spec(spec)
    held = net(torch.as_tensor(x).expand(30, *x.shape))
    assert torch.equal(net.forward_static(torch.as_tensor(x), 30), held)


def test_emulator_equals_reference_bit_for_bit_with_negative_exponents():
    spec = _fixed_spec(weight_exp=(-1, 0, -2), spiking_bias=[None, "per_neuron", None])
    x = random_input(9, 80, 3, spec.n_in)
    ref = run_reference(spec, x, record=True)
    _active(ref.layers[:1])
    em = run_fixed(spec, x, record=True)
    for k, (a, b) in enumerate(zip(_spikes(ref.layers), _spikes(em.layers), strict=True)):
        assert np.array_equal(a, b), f"layer {k}"


# ---- Lava ------------------------------------------------------------------------------------
def test_lava_float_equals_torch_float64_spike_for_spike():
    """Three samples back to back in one Lava run: delays of up to 62 steps outlast the 40-step
    windows, so this also proves each sample starts with empty delay lines."""
    spec = _float_spec(spiking_bias=[None, "per_neuron", None])
    x = random_input(3, 40, 3, spec.n_in)
    ours = NTNetwork.from_spec(spec).run(torch.as_tensor(x), record=True)
    _active(ours.layers)
    lava = run_network(spec, x, "float", record=True)
    for k, (a, b) in enumerate(zip(_spikes(ours.layers), _spikes(lava.layers), strict=True)):
        assert np.array_equal(a, b), f"layer {k}"


def test_lava_fixed_equals_emulator_bit_for_bit():
    spec = _fixed_spec(seed=2, weight_exp=(-1, 0, 0))
    x = random_input(5, 40, 3, spec.n_in)
    em = run_fixed(spec, x, record=True)
    _active(em.layers[:1])
    lava = run_network(spec, x, "fixed", record=True)
    for k, (a, b) in enumerate(zip(_spikes(em.layers), _spikes(lava.layers), strict=True)):
        assert np.array_equal(a, b), f"layer {k}"


# ---- files -----------------------------------------------------------------------------------
def test_model_file_round_trip_keeps_delays(tmp_path):
    spec = _float_spec()
    fixed, report = quantize(spec)
    assert _same_delays(fixed.layers, spec.layers)
    assert _same_delays(dequantize(fixed, report).layers, spec.layers)
    path = save_model(tmp_path / "m.h5", spec, quantized=(fixed, report))
    with h5py.File(path, "r") as f:
        assert f.attrs["schema_version"] >= 4 and "delay" in f["network/layer_0"]  # delays: v4+
    back, info = load_model(path)
    x = random_input(2, 50, 2, spec.n_in)
    assert _same_delays(back.layers, spec.layers)
    assert np.array_equal(run_reference(back, x).output, run_reference(spec, x).output)
    assert _same_delays(info.quantized.layers, fixed.layers)
    net, _ = load_network(path)
    assert np.array_equal(net(torch.as_tensor(x)).detach().numpy(), run_reference(spec, x).output)


def test_model_file_without_delays_has_no_delay_member(tmp_path):
    path = save_model(tmp_path / "m.h5", random_spec(1, (5, 4)))
    with h5py.File(path, "r") as f:
        assert "delay" not in f["network/layer_0"]
    assert load_model(path)[0].layers[0].delay is None


def test_netx_delay_forms_read_back_by_the_importer_rule():
    rng = np.random.default_rng(0)
    per_out = expand_delay(rng.integers(0, 9, 4), 4, 3, "t")
    per_in = expand_delay(rng.integers(1, 9, 3), 4, 3, "t")
    square_in = expand_delay([1, 2, 3], 3, 3, "t").T  # per input with n == n_in: full matrix
    full = rng.integers(0, 63, (4, 3))
    for d in (per_out, per_in, square_in, full):
        data = netx_delay(d)
        assert np.array_equal(expand_delay(data, *d.shape, "t"), d)
    assert netx_delay(per_out).shape == (4,) and netx_delay(per_in).shape == (3,)
    assert netx_delay(square_in).shape == (3, 3) and netx_delay(np.zeros((2, 2))) is None


def _netx_spec_with_delays(seed):
    spec = random_spec(seed, (16, 12, 8), weight_scale=1.2, fan_in=True, vth=(1.0, 0.8))
    fixed, _ = quantize(spec, target="netx")
    return with_delays(fixed, seed, kinds=("output", "synapse"))


def test_netx_file_with_delays_imports_exactly_and_runs_in_lava_dl(tmp_path):
    """Delays written as lava-dl writes them (write_delay) come back as the same matrix, and
    lava-dl's own reader runs the file exactly like lava-nt's Lava graph and emulator."""
    fixed = _netx_spec_with_delays(3)
    path = tmp_path / "d.net"
    nodelay = NetworkSpec(fixed.n_in, [_strip(ls) for ls in fixed.layers], fixed=True)
    export_netx(nodelay, path)
    with h5py.File(path, "r+") as f:
        for k, ls in enumerate(fixed.layers, start=1):
            write_delay(f["layer"][str(k)], ls)
    imp = import_netx(path)
    for a, b in zip(imp.fixed_spec.layers, fixed.layers, strict=True):
        assert np.array_equal(a.delay, b.delay)
    x = random_input(6, 60, 1, fixed.n_in)  # one sample: lava-dl's delay lines never reset
    em = run_fixed(imp.fixed_spec, x, record=True)
    _active(em.layers)
    assert np.array_equal(
        _spikes(em.layers)[-1], _spikes(run_fixed(fixed, x, record=True).layers)[-1]
    )
    try:
        side = ensure_netx_reader()
    except NetxUnavailable as exc:
        pytest.skip(f"lava-dl's netx reader is not available (offline?): {exc}")
    theirs = run_netx(path, x, side_dir=side, record=True)
    for k, (a, b) in enumerate(zip(_spikes(em.layers), _spikes(theirs.layers), strict=True)):
        assert np.array_equal(a, b), f"layer {k}"


def _strip(ls):
    from dataclasses import replace

    return replace(ls, delay=None)


def test_netx_import_clamps_like_lava_dl_and_refuses_negative_delays(tmp_path):
    fixed = _netx_spec_with_delays(4)
    path = tmp_path / "d.net"
    export_netx(NetworkSpec(fixed.n_in, [_strip(ls) for ls in fixed.layers], fixed=True), path)
    with h5py.File(path, "r+") as f:
        f["layer/1"].create_dataset("delay", data=np.arange(12, dtype=np.float32) * 7)
    with pytest.warns(UserWarning, match="Found max delay of 77.0. Clamping the delays."):
        imp = import_netx(path)
    assert imp.fixed_spec.layers[0].delay[:, 0].tolist() == [0, 7, 14, 21, 28, 35, 42, 49, 56, 62,
                                                             62, 62]  # fmt: skip
    with h5py.File(path, "r+") as f:
        del f["layer/1/delay"]
        f["layer/1"].create_dataset("delay", data=np.full(12, -1.0, dtype=np.float32))
    with pytest.raises(Exception, match=r"layer 1 \(dense\): negative delay"):
        import_netx(path)


def test_export_netx_writes_delays(tmp_path):
    fixed = _netx_spec_with_delays(5)
    export_netx(fixed, tmp_path / "d.net")
    imp = import_netx(tmp_path / "d.net")
    assert _same_delays(imp.fixed_spec.layers, fixed.layers)
