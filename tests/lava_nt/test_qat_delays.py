"""Quantisation-aware tuning of networks with synaptic delays (``LayerSpec.delay``).

Proofs, on random small networks whose layers carry per-synapse (0 and the maximum 62 included),
per-output-neuron and per-input delays, and delays longer than the window:

1. the QAT forward IS the fixed-point network: every layer's spikes (and spiking-bias currents)
   equal the emulator's bit for bit (both QAT engines, sequence and static input, spike and
   graded input, weight exponent -1 where the per-delay shift matters in general), and Lava fixed
   point's on three samples back to back;
2. the registers are the quantiser's at the same scales, the delays are carried by
   ``to_fixed_spec`` / ``to_float_spec`` / ``save`` / ``load``, and ``fixed_spec_differences``
   compares them;
3. gradients are finite, reach the tuned biases of every layer, equal between the fused and the
   autograd engine, vanish exactly for synapses whose delay reaches past the window, and point
   where the float network's do;
4. ``lava-nt tune --qat`` on a model file with delays writes a model whose
   ``lava-nt evaluate --engine lava-fixed`` run equals the training forward.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from lava_nt.converters.lava_graph import run_network
from lava_nt.converters.model_file import load_model, save_model
from lava_nt.converters.quantize import quantize
from lava_nt.network import NetworkSpec
from lava_nt.nn.network import NTNetwork
from lava_nt.qat import QATNetwork, fixed_spec_differences
from lava_nt.spec.delay import DELAY_MAX
from lava_nt.testing import random_input, random_spec, with_delays

ALL = {"weight": True, "bias": True, "gain": True, "w_in": True, "w_b": True, "c_retention": True}
SIZES = (16, 14, 12, 8)


def delay_spec(seed: int, kinds, graded: bool = False, T: int = 30, spiking_bias=None):
    spec = random_spec(
        seed, SIZES, spiking_bias=spiking_bias or [None, "per_neuron", "volumetric"],
        resets=("zero", "subtract"), du=(1.0, 0.5, 0.8), dv=(0.1, 0.2, 0.05),
        weight_mean=0.05, weight_scale=1.5, fan_in=True, graded=graded,
        sb_density=[None, None, 0.3], sb_weight_scale=[None, None, 1.5], sb_excitatory=[2],
    )  # fmt: skip
    return with_delays(spec, seed + 100, kinds, T)


def spikes(seed: int, T: int, B: int, n_in: int, rate: float = 0.3) -> torch.Tensor:
    return torch.as_tensor(random_input(seed, T, B, n_in, rate))


KINDS = [("synapse", "output", "input"), ("output", "input", "synapse"),
         ("input", "synapse", "output")]  # fmt: skip


# ---- 1. forward == emulator == Lava fixed ------------------------------------------------------
@pytest.mark.parametrize("engine", ["fused", "autograd"])
@pytest.mark.parametrize("seed,kinds", list(enumerate(KINDS)))
def test_forward_is_the_fixed_point_network(seed, kinds, engine, qat_checks):
    qat = QATNetwork(delay_spec(seed, kinds), trainable=ALL)
    for layer in qat.layers:
        layer.engine = engine
    assert [layer.has_delay for layer in qat.layers] == [True] * 3
    _, rates = qat_checks.emulator(qat, spikes(seed, 30, 16, qat.n_in))
    assert all(0.01 < r < 0.8 for r in rates), rates  # not a trivial comparison
    # a static input reaches the neurons step by step through the delay lines
    _, rates = qat_checks.emulator(qat, spikes(seed + 7, 1, 16, qat.n_in)[0], static_T=30)
    assert all(0.01 < r < 0.9 for r in rates), rates


def test_small_scales_give_weight_exponent_minus_one_and_stay_exact(qat_checks):
    """At small scales the quantiser picks weight exponent -1 (an arithmetic right shift per
    delay group in the spec); the per-group drive is still exact."""
    spec = delay_spec(3, KINDS[0])
    qat = QATNetwork(spec, scales=[6000.0] * 3, bias_scales=[6000.0] * 3, trainable=ALL)
    assert [ls.weight_exp for ls in qat.to_fixed_spec().layers] == [-1, -1, -1]
    _, rates = qat_checks.emulator(qat, spikes(3, 30, 16, qat.n_in))
    assert all(0.01 < r < 0.8 for r in rates), rates


def test_graded_input_with_delays(qat_checks):
    spec = delay_spec(4, KINDS[1], graded=True)
    qat = QATNetwork(spec, input_scale=100.0, trainable=ALL)
    x = torch.as_tensor(random_input(4, 30, 12, spec.n_in, graded=True))
    _, rates = qat_checks.emulator(qat, x)
    assert all(0.01 < r < 0.9 for r in rates), rates
    qat_checks.emulator(qat, x[0], static_T=25)


def test_delays_longer_than_the_window_deliver_nothing(qat_checks):
    """A layer whose every delay is at least T gets no input within the window: its drive is
    zero and it spikes from its bias alone, in QAT as in the emulator."""
    T = 20
    spec = delay_spec(5, ("synapse", "long", "output"), T=T, spiking_bias=[None, None, None])
    qat = QATNetwork(spec, trainable=ALL)
    x = spikes(5, T, 8, qat.n_in)
    with torch.no_grad():
        layer = qat.layers[1]
        r = layer.registers()
        drive = layer._weight_drive(torch.ones(T, 8, layer.n_in, dtype=torch.float64), r.k,
                                    r.w_exp)  # fmt: skip
    assert drive.shape == (T, 8, layer.n) and float(drive.abs().max()) == 0.0
    qat_checks.emulator(qat, x)
    # a longer window reaches the delayed synapses
    with torch.no_grad():
        drive = layer._weight_drive(torch.ones(64, 2, layer.n_in, dtype=torch.float64), r.k,
                                    r.w_exp)  # fmt: skip
    assert float(drive[T:].abs().max()) > 0.0 and float(drive[:T].abs().max()) == 0.0


def test_lava_fixed_runs_the_qat_forward_bit_for_bit():
    """Three samples back to back in one Lava fixed-point run (delays up to 62 steps outlast the
    40-step windows): every layer's spikes equal the QAT forward."""
    spec = delay_spec(6, KINDS[0], spiking_bias=[None, "per_neuron", None])
    qat = QATNetwork(spec, trainable={"bias": True})
    x = spikes(6, 40, 3, qat.n_in)
    with torch.no_grad():
        _, recs = qat(x, record=True)
    lava = run_network(qat.to_fixed_spec(), x.numpy(), "fixed", record=True)
    for k, (r, e) in enumerate(zip(recs, lava.layers, strict=True)):
        assert 0.005 < float(r["spikes"].mean()) < 0.8, f"layer {k}: test meaningless"
        assert np.array_equal(r["spikes"].numpy(), np.asarray(e["spikes"])), f"layer {k}"


# ---- 2. registers, specs and files -------------------------------------------------------------
def _same_delays(a: NetworkSpec, b: NetworkSpec) -> bool:
    return all(np.array_equal(x.delay, y.delay) for x, y in zip(a.layers, b.layers, strict=True))


def test_registers_equal_the_quantizer_and_the_delays_are_carried():
    spec = delay_spec(7, KINDS[2])
    qat = QATNetwork(spec, trainable=ALL)
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():  # move the latents so the registers change
        for layer in qat.layers:
            layer.bias.add_(torch.randn(layer.n, generator=g, dtype=torch.float64) * 0.2)
            layer.weight.add_(torch.randn(layer.weight.shape, generator=g,
                                          dtype=torch.float64) * 0.1)  # fmt: skip
    fixed = qat.to_fixed_spec()
    q, _ = quantize(qat.to_float_spec(), scales=qat.scales, bias_scales=qat.bias_scales)
    assert fixed_spec_differences(q, fixed) == []
    qat.check_against_quantizer()
    assert _same_delays(fixed, spec) and _same_delays(qat.to_float_spec(), spec)
    for ls in fixed.layers:
        assert ls.delay.dtype == np.int64
    # the comparison sees delays; None and all-zero delays are the same network
    moved = dataclasses.replace(fixed, layers=[dataclasses.replace(ls) for ls in fixed.layers])
    d = moved.layers[1].delay.copy()
    d[0, 0] += 1 if d[0, 0] < DELAY_MAX else -1
    moved.layers[1].delay = d
    assert fixed_spec_differences(fixed, moved) == ["layer 1 delay"]
    plain = [dataclasses.replace(ls, delay=None) for ls in fixed.layers]
    zeros = [dataclasses.replace(ls, delay=np.zeros_like(ls.weight)) for ls in fixed.layers]
    a = dataclasses.replace(fixed, layers=plain)
    assert fixed_spec_differences(a, dataclasses.replace(fixed, layers=zeros)) == []
    assert fixed_spec_differences(a, fixed) == [f"layer {k} delay" for k in range(3)]


def test_zero_delays_are_a_network_without_delays():
    spec = random_spec(8, SIZES, weight_scale=1.5, fan_in=True)
    x = spikes(8, 25, 8, spec.n_in)
    plain = QATNetwork(spec, trainable={"bias": True})
    zero = dataclasses.replace(spec, layers=[
        dataclasses.replace(ls, delay=np.zeros_like(ls.weight, dtype=np.int64))
        for ls in spec.layers])  # fmt: skip
    qz = QATNetwork(zero, trainable={"bias": True})
    assert not any(layer.has_delay for layer in qz.layers)
    with torch.no_grad():
        assert torch.equal(plain(x), qz(x))
    assert fixed_spec_differences(plain.to_fixed_spec(), qz.to_fixed_spec()) == []


def test_save_and_load_keep_the_delays(tmp_path):
    spec = delay_spec(9, KINDS[0])
    qat = QATNetwork(spec, trainable={"bias": True, "gain": True})
    path = qat.save(tmp_path / "q.h5")
    back_spec, info = load_model(path)
    assert _same_delays(back_spec, spec) and _same_delays(info.quantized, spec)
    back = QATNetwork.load(path, trainable={"bias": True})
    assert _same_delays(back.to_fixed_spec(), spec)
    assert fixed_spec_differences(back.to_fixed_spec(), qat.to_fixed_spec()) == []
    x = spikes(9, 30, 6, spec.n_in)
    with torch.no_grad():
        assert torch.equal(back(x), qat(x))
    assert "max_delay=62" in repr(back.layers[0])


# ---- 3. gradients ------------------------------------------------------------------------------
@pytest.mark.parametrize("seed,kinds", [(10, KINDS[0]), (11, KINDS[1])])
def test_gradients_flow_through_the_delays(seed, kinds, qat_checks):
    T = 30
    qat = QATNetwork(delay_spec(seed, kinds, T=T), trainable=ALL)
    x = spikes(seed, T, 16, qat.n_in)
    g_ref = qat_checks.grads(qat, x, "autograd")
    g = qat_checks.grads(qat, x, "fused")
    for name, val in g.items():
        assert torch.isfinite(val).all(), name
        torch.testing.assert_close(val, g_ref[name], rtol=1e-9, atol=1e-12)
    for k, layer in enumerate(qat.layers):
        assert float(g[f"layers.{k}.bias"].abs().max()) > 0, f"layer {k}: no bias gradient"
        # straight through the delayed drive: a synapse whose delay reaches past the window
        # never delivers, so its weight gets exactly zero gradient; the others get some
        gw = g[f"layers.{k}.weight"]
        late = layer.delay >= T
        assert float(gw[~late].abs().max()) > 0
        if bool(late.any()):
            assert float(gw[late].abs().max()) == 0.0


def test_bias_gradients_point_where_the_float_networks_do(qat_checks):
    """STE + surrogate on (v - vth) / S through the delay lines: the QAT bias gradient has the
    float (delayed) network's direction and magnitude."""
    spec = delay_spec(12, ("output", "input", "output"), spiking_bias=[None, None, None])
    spec = dataclasses.replace(spec, layers=spec.layers[:2])
    qat = QATNetwork(spec, trainable={"bias": True})
    net = NTNetwork.from_spec(spec, trainable_weight=False, trainable_bias=True)
    qat_checks.gradients_follow_float(qat, net, spikes(12, 30, 64, spec.n_in))


# ---- 4. lava-nt tune --qat -> lava-nt evaluate --engine lava-fixed -----------------------------
@pytest.mark.parametrize("case", ["spikes", "graded-readout"])
def test_tune_qat_on_a_delay_network_then_lava_fixed_runs_the_training_forward(
    tmp_path, capsys, case, qat_checks
):
    graded = case == "graded-readout"
    T = 12
    spec = random_spec(
        13, (12, 10, 8), readout=2 if graded else None, readout_reduce="mean", graded=graded,
        resets=("zero", "subtract"), weight_scale=1.5, fan_in=True,
    )  # fmt: skip
    spec = with_delays(spec, 13, ("input", "output") if graded else ("output", "synapse"), T)
    model = save_model(tmp_path / "pre.h5", spec, meta={"n_classes": 2})
    train = qat_checks.data(tmp_path / "train.npz", 40, 1, spec.n_in, T, graded)
    test = qat_checks.data(tmp_path / "test.npz", 24, 2, spec.n_in, T, graded)
    out = tmp_path / "tuned.h5"
    qat_checks.tune(capsys, model, train, out)
    tuned, info = load_model(out)
    assert info.meta["qat_check"]["bit_exact"] is True
    assert _same_delays(tuned, spec) and _same_delays(info.quantized, spec)
    qat_checks.evaluate(out, test, tmp_path / "res.json")
