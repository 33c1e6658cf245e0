"""The fused spiking-bias path (lava_nt.nn.fused_bias and its use in FusedNTNetwork) equals the
eager NTNetwork for every spiking-bias kind: identical output spikes, layer spikes, bias spikes
and bias currents in float64, and every parameter gradient (W, b, g, W_in on its mask, w_b,
c_retention) and the input gradient within 1e-10, with a loss that also reads the recorded bias
currents and bias spikes. In float32 the bias current's node is bit-identical to autograd through
the spec's current step (values and the gradients of w_b and s_b); the autograd graph of a fused
forward does not grow with T; delays are refused."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from lava_nt.builder import build_network
from lava_nt.nn.fused import FusedNTNetwork, fused_forward
from lava_nt.nn.fused_bias import _fan_in, bias_current
from lava_nt.nn.network import NTNetwork
from lava_nt.spec.validation import ParameterError
from lava_nt.testing import random_spec
from lava_nt.tuning import apply_tuning

SIZES = (20, 24, 16, 8)
T, B = 12, 5
TOL = dict(rtol=1e-10, atol=1e-10)


def _spec(seed: int, kinds):
    return random_spec(
        seed,
        SIZES,
        spiking_bias=kinds,
        resets=("zero", "subtract", "zero"),
        du=(1.0, 0.4, 0.7),
        dv=(0.1, 0.25, 0.05),
        vth=(1.0, 0.8, 1.2),
        weight_mean=0.12,
        weight_scale=1.2,
        fan_in=True,
        sb_density=0.5,
        sb_weight_scale=0.8,
        sb_excitatory=(),
    )


def _net(spec, trainable_c: bool, k: int | None, **kw):
    net = NTNetwork.from_spec(
        spec, trainable_gain=True, trainable_w_in=True, trainable_c_retention=trainable_c, **kw
    )
    if k is not None:
        net.expand_parameters(k)
    return net


CASES = {
    # kinds per layer, trainable c_retention, batched parameter sets, bias-neuron detach_reset,
    # input with a parameter-set dimension [K, B, n_in] (else one [B, n_in] input for all sets)
    "per_neuron": (("per_neuron", "per_neuron", "per_neuron"), False, None, True, False),
    "volumetric": (("volumetric", None, "volumetric"), False, None, True, False),
    "grouped+integrator": (("grouped", "integrator", "shuffled"), True, None, False, False),
    "batched": (("per_neuron", "volumetric", "shuffled"), True, 3, True, True),
    "batched, shared input": (("volumetric", "per_neuron", "grouped"), False, 2, True, False),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("static", [True, False])
def test_fused_spiking_bias_equals_ntnetwork(case, static, builders):
    kinds, trainable_c, k, detach, k_input = CASES[case]
    spec = _spec(len(case) + 7, kinds)
    ref = _net(spec, trainable_c, k, detach_reset=detach)
    fus = _net(spec, trainable_c, k, detach_reset=detach)
    g = torch.Generator().manual_seed(3)
    lead = (k, B) if k_input else (B,)
    shape = (*lead, SIZES[0]) if static else (T, *lead, SIZES[0])
    x = (torch.rand(shape, generator=g, dtype=torch.float64) < 0.4).double()
    out_r, rec_r, gx_r, g_r = builders.run(ref, x, T, static, False, bias_terms=True)
    out_f, rec_f, gx_f, g_f = builders.run(fus, x, T, static, True, bias_terms=True)
    assert torch.equal(out_r, out_f)
    for j, (rr, rf) in enumerate(zip(rec_r, rec_f, strict=True)):
        assert 0.02 < float(rr["spikes"].detach().mean()) < 0.7, f"layer {j}: test meaningless"
        for key in ("spikes", "bias_current", "bias_spikes"):
            a, b = rr[key], rf[key]
            assert (a is None) == (b is None), (j, key)
            assert a is None or torch.equal(a.detach(), b.detach()), (j, key)
        if rr["bias_spikes"] is not None and kinds[j] != "grouped":
            assert float(rr["bias_spikes"].detach().mean()) > 0.01, f"layer {j}: bias silent"
    assert g_r.keys() == g_f.keys()
    names = list(g_r)
    assert sum("w_in" in n for n in names) == sum(kd is not None for kd in kinds)
    assert any("c_retention" in n for n in names) == trainable_c
    for name in names:
        torch.testing.assert_close(g_f[name], g_r[name], **TOL, msg=name)
        assert g_r[name].abs().max() > 0, name
    torch.testing.assert_close(gx_f, gx_r, **TOL)


@pytest.mark.parametrize("method", ["spiking_bias", "spiking_bias_sparse", "volumetric"])
def test_fused_tuning_methods_float32_bias_current_identical(method):
    """The EEG methods' populations in float32: bias currents and every spike bit-identical to the
    eager network (a reordered sum would show here)."""
    nets = []
    for _ in range(2):
        net = build_network(16, [20, 12], 2, 4, seed=6, beta=0.9)
        with torch.no_grad():
            for layer in net.layers:
                layer.linear.weight.mul_(2.5)
        kw = {"w_b": 0.37, "dv": 0.2, "w_in_scale": 3.0}
        extra = {"group_size": 4, "layers": [0, 1]} if method == "volumetric" else {}
        apply_tuning(net, [method], sparsity=0.5, input_sparsity=0.5, spiking_bias_kwargs=kw,
                     **extra)  # fmt: skip
        nets.append(net)
    x = (torch.rand(7, 16, generator=torch.Generator().manual_seed(2)) < 0.4).float()
    out_r, rec_r = nets[0].forward_static(x, T, record=True)
    out_f, rec_f = FusedNTNetwork(nets[1]).forward_static(x, T, record=True)
    assert torch.equal(out_r, out_f)
    for rr, rf in zip(rec_r, rec_f, strict=True):
        for key in ("spikes", "bias_current", "bias_spikes"):
            assert (rr[key] is None) == (rf[key] is None)
            assert rr[key] is None or torch.equal(rr[key], rf[key]), key
    assert float(rec_r[0]["bias_spikes"].detach().mean()) > 0.01


def _current_autograd(s_b, w_b, c_ret, group):
    """The spec step's current in autograd, the jumps ``w_b s_b`` of all steps in one product
    (as the fused path computed it before this node existed)."""
    w = w_b * s_b
    C = torch.zeros(torch.broadcast_shapes(s_b.shape[1:], w_b.shape, c_ret.shape), dtype=s_b.dtype)
    out = []
    for t in range(s_b.shape[0]):
        C = c_ret * C + w[t]
        out.append(C)
    C = torch.stack(out)
    return C if group is None else C[..., group]


@pytest.mark.parametrize("group_kind", [None, "contiguous", "explicit"])
def test_bias_current_float32_bit_identical_to_autograd(group_kind):
    g = torch.Generator().manual_seed(5)
    m, n = 6, 18
    group = {
        None: None,
        "contiguous": torch.arange(m).repeat_interleave(n // m),
        "explicit": torch.randint(0, m, (n,), generator=g),
    }[group_kind]
    s_b = (torch.rand(T, 4, m, generator=g) < 0.3).float()
    w_b = torch.randn(m, generator=g)
    c_ret = torch.rand(m, generator=g)
    up = torch.randn(T, 4, n if group is not None else m, generator=g)
    res = []
    for fn in (_current_autograd, bias_current):
        leaves = [t.clone().requires_grad_(True) for t in (s_b, w_b, c_ret)]
        out = fn(*leaves, group)
        (out * up).sum().backward()
        res.append((out.detach(), [t.grad for t in leaves]))
    (o_r, (gs_r, gw_r, gc_r)), (o_f, (gs_f, gw_f, gc_f)) = res
    assert torch.equal(o_r, o_f)
    assert torch.equal(gs_r, gs_f) and torch.equal(gw_r, gw_f)
    torch.testing.assert_close(gc_f, gc_r, rtol=1e-5, atol=1e-5)  # one reduction, not T
    assert gw_r.abs().min() > 0 and gs_r.abs().max() > 0
    with torch.no_grad():  # the no-grad path gives the same values
        assert torch.equal(bias_current(s_b, w_b, c_ret, group), o_r)


def test_fan_in_contiguous_equals_index_add():
    g = torch.randn(3, 5, 12, dtype=torch.float64)
    group = torch.arange(4).repeat_interleave(3)
    ref = torch.zeros(3, 5, 4, dtype=torch.float64).index_add_(-1, group, g)
    torch.testing.assert_close(_fan_in(g, group, 4), ref, rtol=1e-15, atol=0)
    perm = group[torch.randperm(12, generator=torch.Generator().manual_seed(0))]
    ref = torch.zeros(3, 5, 4, dtype=torch.float64).index_add_(-1, perm, g)
    assert torch.equal(_fan_in(g, perm, 4), ref)


def _graph_size(t: torch.Tensor) -> int:
    seen, todo = set(), [t.grad_fn]
    while todo:
        fn = todo.pop()
        if fn is None or fn in seen:
            continue
        seen.add(fn)
        todo.extend(f for f, _ in fn.next_functions)
    return len(seen)


def test_fused_graph_does_not_grow_with_T():
    """Per layer and step nothing runs in autograd: the graph of a spiking-bias network's fused
    forward has the same number of nodes for T = 4 and T = 30 (the eager one grows)."""
    net = NTNetwork.from_spec(_spec(1, ("volumetric", "per_neuron", "shuffled")),
                              trainable_w_in=True)  # fmt: skip
    x = (torch.rand(3, SIZES[0], generator=torch.Generator().manual_seed(0)) < 0.4).double()
    fused = [_graph_size(fused_forward(net, x, steps)) for steps in (4, 30)]
    eager = [_graph_size(net.forward_static(x, steps)) for steps in (4, 30)]
    assert fused[0] == fused[1]
    assert eager[1] > eager[0] + 100


def test_fused_refuses_delays():
    spec = random_spec(0, (8, 6, 4))
    delay = np.zeros((4, 6), dtype=np.int64)
    delay[0, 0] = 2
    layers = [spec.layers[0], dataclasses.replace(spec.layers[1], delay=delay)]
    net = NTNetwork.from_spec(dataclasses.replace(spec, layers=layers))
    assert net.layers[1].has_delay
    with pytest.raises(ParameterError, match="layer 1 has synaptic delays"):
        FusedNTNetwork(net)
    with pytest.raises(ParameterError, match="layer 1 has synaptic delays"):
        fused_forward(net, torch.zeros(3, 2, 8, dtype=torch.float64))
    FusedNTNetwork(NTNetwork.from_spec(spec))  # the same network without delays is accepted
