"""FusedNTNetwork(net, compile=True): the compiled recurrences equal the default fused path.

The pure functions that get compiled (``lava_nt.nn.fused_compile``) are first checked run
eagerly (no inductor, fast) on every setting the fused path supports; then one small network is
really compiled with inductor (slow: a one-off C++ compile per layer and direction) and compared
in float64 (spikes equal, gradients to 1e-9), including a second batch shape (its own kernels)."""

from __future__ import annotations

import pytest
import torch

from lava_nt.builder import build_network
from lava_nt.nn import fused_compile
from lava_nt.nn.fused import FusedNTNetwork
from lava_nt.nn.network import NTNetwork
from lava_nt.spec.validation import ParameterError
from lava_nt.testing import random_spec
from lava_nt.tuning import apply_tuning

SIZES = (20, 24, 16, 6)
T, B = 12, 5
TOL = dict(rtol=1e-9, atol=1e-9)


def _net(seed: int, resets, du: float, **kw) -> NTNetwork:
    dus = (du, min(1.0, du + 0.2), du)
    spec = random_spec(
        seed, SIZES, resets=resets, du=dus, dv=(0.1, 0.3, 0.6), vth=(1.0, 0.8, 1.2),
        weight_mean=[0.26 * d for d in dus], weight_scale=[1.3 * d for d in dus], fan_in=True,
    )  # fmt: skip
    return NTNetwork.from_spec(spec, dtype=torch.float64, trainable_gain=True, **kw)


def _input(seed: int, static: bool, batch: int = B):
    g = torch.Generator().manual_seed(seed)
    shape = (batch, SIZES[0]) if static else (T, batch, SIZES[0])
    return (torch.rand(shape, generator=g) < 0.4).double()


def _run(model, x, static: bool):
    """Output, per-layer spikes, input gradient and parameter gradients of one weighted loss."""
    x = x.clone().requires_grad_(True)
    out, recs = model.forward_static(x, T, record=True) if static else model(x, record=True)
    w = torch.linspace(-1.0, 1.0, out.shape[-1], dtype=out.dtype)
    rate = sum(r["spikes"].mean() for r in recs)
    model.zero_grad(set_to_none=True)
    ((out * w).sum() + 0.3 * rate).backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return out.detach(), [r["spikes"] for r in recs], x.grad.clone(), grads


def _assert_same(ref, comp):
    out_r, spk_r, gx_r, g_r = ref
    out_c, spk_c, gx_c, g_c = comp
    assert torch.equal(out_r, out_c)
    for k, (a, b) in enumerate(zip(spk_r, spk_c, strict=True)):
        assert torch.equal(a, b), f"layer {k}: spikes differ"
        assert 0.02 < float(a.detach().mean()) < 0.7, f"layer {k}: inactive, test meaningless"
    assert g_r.keys() == g_c.keys() and len(g_r) >= 9
    for name in g_r:
        torch.testing.assert_close(g_c[name], g_r[name], **TOL, msg=name)
        assert g_r[name].abs().max() > 0, name
    torch.testing.assert_close(gx_c, gx_r, **TOL)


@pytest.fixture
def eager_compile(monkeypatch):
    """``compile=True`` runs the pure functions eagerly (what inductor compiles, without it)."""
    calls = []

    def uncompiled(fn, args):
        calls.append(fn.__name__)
        return fn

    monkeypatch.setattr(fused_compile, "_compiled", uncompiled)
    return calls


@pytest.mark.parametrize("surrogate", ["super", "atan"])
@pytest.mark.parametrize("detach_reset", [True, False])
@pytest.mark.parametrize("du", [1.0, 0.55])
@pytest.mark.parametrize("resets", [("zero", "subtract", "zero"), ("subtract", "zero", "subtract")])
@pytest.mark.parametrize("static", [True, False])
def test_pure_recurrences_equal_default_path(
    eager_compile, surrogate, detach_reset, du, resets, static
):
    alpha = 5.0 if surrogate == "super" else 2.0
    kw = dict(surrogate=surrogate, alpha=alpha, detach_reset=detach_reset)
    ref = FusedNTNetwork(_net(3, resets, du, **kw))
    comp = FusedNTNetwork(_net(3, resets, du, **kw), compile=True)
    x = _input(7, static)
    res_r = _run(ref, x, static)
    assert eager_compile == []  # the default path never calls the compiled functions
    _assert_same(res_r, _run(comp, x, static))
    assert {"layer_forward", "voltage_grad"} <= set(eager_compile)
    assert ("input_grad" in eager_compile) == (du < 1.0)


def test_pure_recurrences_with_spiking_bias_and_batched_parameters(eager_compile):
    """Every spiking-bias kind the tuning methods make and [K, 1, n] parameter sets."""
    nets = []
    for compile in (False, True):
        net = build_network(16, [24, 12], 2, 4, dtype=torch.float64, seed=2)
        with torch.no_grad():
            for layer in net.layers:
                layer.linear.weight.mul_(2.5)
        apply_tuning(
            net, ["nt1", "spiking_bias"],
            spiking_bias_kwargs={"w_b": 0.3, "dv": 0.2, "w_in_scale": 3.0},
        )  # fmt: skip
        net.expand_parameters(3)
        nets.append(FusedNTNetwork(net, compile=compile))
    g = torch.Generator().manual_seed(3)
    x = (torch.rand(3, 4, 16, generator=g) < 0.4).double()
    res = []
    for model in nets:
        out, recs = model.forward_static(x, T, record=True)
        model.zero_grad()
        (out.sum() + sum(r["spikes"].mean() for r in recs)).backward()
        grads = {n: p.grad for n, p in model.named_parameters() if p.requires_grad}
        res.append((out.detach(), [r["bias_spikes"] for r in recs], grads))
    assert torch.equal(res[0][0], res[1][0])
    assert float(res[0][1][0].mean()) > 0.01  # the bias neurons spike
    for a, b in zip(res[0][1], res[1][1], strict=True):
        assert torch.equal(a, b)
    assert res[0][2].keys() == res[1][2].keys()
    for n, gr in res[0][2].items():
        torch.testing.assert_close(res[1][2][n], gr, **TOL, msg=n)
    assert eager_compile.count("layer_forward") == 6  # three layers + three bias populations


def test_compile_flag_is_validated_and_default_off():
    net = _net(0, ("zero",), 1.0)
    assert FusedNTNetwork(net).compiled is False
    assert FusedNTNetwork.from_network(net, compile=True).compiled is True
    with pytest.raises(ParameterError, match="'compile' must be True or False"):
        FusedNTNetwork(net, compile="yes")


@pytest.mark.slow
def test_inductor_compiled_equals_default_path():
    """The real thing: inductor kernels, float64, time-varying input with du < 1 (all three
    compiled functions), then a second batch size (new kernels, no recompile-limit fallback)."""
    torch._dynamo.reset()
    fused_compile._CACHE.clear()
    try:
        ref = FusedNTNetwork(_net(5, ("subtract", "zero", "subtract"), 0.55))
        comp = FusedNTNetwork(_net(5, ("subtract", "zero", "subtract"), 0.55), compile=True)
        for batch in (B, 3):
            x = _input(11, False, batch)
            _assert_same(_run(ref, x, False), _run(comp, x, False))
        names = [k[0] for k in fused_compile._CACHE]
        # per batch size: three layer forwards, voltage gradients and input gradients
        assert sorted(set(names)) == ["input_grad", "layer_forward", "voltage_grad"]
        assert len(names) == 2 * (3 + 3 + 3)
    finally:
        fused_compile._CACHE.clear()
        torch._dynamo.reset()
