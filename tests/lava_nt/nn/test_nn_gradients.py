"""Gradients of the torch cells: finite differences on the smooth parts, reach of every tunable
tensor, the surrogate slope, sparse-mask invariance under Adam, batched [K, 1, n] parameters."""

from __future__ import annotations

import copy

import pytest
import torch
from norse.torch.functional.threshold import threshold as norse_threshold
from torch.func import functional_call

from lava_nt.nn import NTLIFCell, NTNetwork, SpikingBias, make_spike_fn, surrogate
from lava_nt.nn.surrogate import SuperSpike


def smooth_spike(x):
    """A differentiable stand-in for the Heaviside so finite differences see every path."""
    return torch.sigmoid(3.0 * x)


def _net_with_everything(builders, seed=0, **kw):
    spec = builders.float_spec(
        seed, sizes=(6, 8, 4), resets=("subtract", "zero"), bias_kinds=("volumetric", "per_neuron")
    )
    for layer in spec.layers:  # keep c_retention away from the clamp boundaries
        p = layer.spiking_bias.params
        layer.spiking_bias.params = p._replace(c_retention=0.2 + 0.6 * p.c_retention)
    return NTNetwork.from_spec(
        spec,
        trainable_weight=True,
        trainable_bias=True,
        trainable_gain=True,
        trainable_w_in=True,
        trainable_w_b=True,
        trainable_c_retention=True,
        **kw,
    )


def test_gradcheck_smooth_network(builders):
    """torch.autograd.gradcheck through the whole stack (weights, bias, gain, W_in, w_b,
    c_retention) with a smooth spike function and an undetached reset: the analytic gradient of
    the spec's equations equals finite differences."""
    net = _net_with_everything(builders, surrogate=smooth_spike, detach_reset=False)
    x = builders.inputs(0, 4, 2, net.n_in, rate=0.5)
    x = torch.from_numpy(x)
    names = [n for n, _ in net.named_parameters()]
    assert len(names) == 2 * 3 + 2 * 3  # (W, b, g) and (W_in, w_b, c_retention) per layer
    params = tuple(p.detach().clone().requires_grad_(True) for _, p in net.named_parameters())

    def f(*ps):
        return functional_call(net, dict(zip(names, ps, strict=True)), (x,))

    assert torch.autograd.gradcheck(f, params, eps=1e-6, atol=1e-6, rtol=1e-5)


def test_gradcheck_cell_inputs():
    """Gradient with respect to the synaptic input a, the bias current c and the state."""
    cell = NTLIFCell(
        5,
        du=0.4,
        dv=0.2,
        reset="subtract",
        bias=0.1,
        gain=1.3,
        surrogate=smooth_spike,
        detach_reset=False,
        dtype=torch.float64,
    )
    g = torch.Generator().manual_seed(1)
    a = torch.randn(3, 5, 3, dtype=torch.float64, generator=g).requires_grad_(True)
    c = torch.randn(3, 5, 3, dtype=torch.float64, generator=g).requires_grad_(True)

    def f(a, c):
        st, out = None, []
        for t in range(a.shape[-1]):
            z, st = cell(a[..., t], st, c=c[..., t])
            out.append(z + st.v)
        return torch.stack(out)

    assert torch.autograd.gradcheck(f, (a, c), eps=1e-6, atol=1e-6, rtol=1e-5)


def test_gradient_reaches_every_tunable_tensor(builders):
    net = _net_with_everything(builders, seed=1)
    sb0 = net.layers[0].spiking_bias
    assert sb0.mask is not None and not sb0.mask.all()
    x = torch.from_numpy(builders.inputs(1, 25, 32, net.n_in))
    out = net(x)
    loss = (out.mean(0) - 0.3).pow(2).sum()
    loss.backward()
    for name, p in net.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name
    for layer in net.layers:
        for t in (
            layer.neuron.bias,
            layer.neuron.gain,
            layer.spiking_bias.w_b,
            layer.spiking_bias.c_retention,
        ):
            assert (t.grad != 0).float().mean() > 0.3  # most entries receive gradient
    # masked W_in entries get exactly zero gradient, unmasked ones get gradient
    g = sb0.w_in.grad
    assert torch.all(g[~sb0.mask] == 0)
    assert (g[sb0.mask] != 0).any()


def test_superspike_backward_formula_and_alpha():
    x = torch.tensor([-2.0, -0.1, 0.0, 0.1, 1.0], dtype=torch.float64, requires_grad=True)
    for alpha in (1.0, 10.0, 100.0):
        (g,) = torch.autograd.grad(SuperSpike.apply(x, alpha).sum(), x)
        torch.testing.assert_close(g, 1.0 / (alpha * x.detach().abs() + 1.0) ** 2, rtol=0, atol=0)
    fwd = make_spike_fn("super", 3.0)(x)
    assert torch.equal(fwd, (x > 0).to(x.dtype)) and fwd.dtype == torch.float64
    # norse 1.1.0's "super" ignores alpha (documented bug); ours does not
    g_norse = [
        torch.autograd.grad(norse_threshold(x, "super", torch.tensor(a)).sum(), x)[0]
        for a in (1.0, 100.0)
    ]
    assert torch.equal(g_norse[0], g_norse[1])
    g_ours = [torch.autograd.grad(make_spike_fn("super", a)(x).sum(), x)[0] for a in (1.0, 100.0)]
    assert not torch.equal(g_ours[0], g_ours[1])
    torch.testing.assert_close(g_ours[0], g_norse[0])  # alpha=1 reproduces norse 1.1.0


def test_atan_surrogate():
    x = torch.linspace(-1, 1, 9, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(make_spike_fn("atan", 2.0)(x).sum(), x)
    torch.testing.assert_close(g, 1.0 / (1.0 + (torch.pi * x.detach()) ** 2))


def test_surrogate_alpha_changes_network_gradient(builders):
    grads = []
    for alpha in (1.0, 10.0):
        net = NTNetwork.from_spec(builders.float_spec(2), alpha=alpha)
        x = torch.from_numpy(builders.inputs(2, 10, 8, net.n_in))
        out = net(x)
        out.sum().backward()
        grads.append(net.layers[0].neuron.bias.grad.clone())
        assert out.requires_grad
    assert not torch.allclose(grads[0], grads[1])


@pytest.mark.parametrize("opt_name", ["Adam", "AdamW"])
def test_masked_w_in_stays_zero_under_adam_with_weight_decay(opt_name):
    sb = SpikingBias(
        20,
        40,
        m=10,
        sparsity=0.9,
        seed=3,
        trainable_w_in=True,
        w_b=0.5,
        vth=0.3,
        dtype=torch.float64,
    )
    mask = sb.mask.clone()
    assert int(mask.sum()) == 20  # exactly 10 % of 10 x 20
    assert torch.all(sb.w_in[~mask] == 0)
    before = sb.w_in.detach().clone()
    opt = getattr(torch.optim, opt_name)(sb.parameters(), lr=1e-2, weight_decay=0.1)
    g = torch.Generator().manual_seed(4)
    for _ in range(6):
        x = (torch.rand(15, 8, 20, generator=g) < 0.5).double()
        rec = sb.record(x)
        loss = (rec.current.mean() - 1.0) ** 2 + rec.spikes.mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert torch.all(sb.w_in[~mask] == 0)
    assert (sb.w_in[mask] != before[mask]).float().mean() > 0.5
    assert sb.n_trainable_w_in == 20


def test_batched_parameters_match_separate_runs(builders):
    """K parameter sets [K, 1, n] in one pass give the same outputs and per-set gradients as K
    separate networks."""
    K = 3
    spec = builders.float_spec(5, sizes=(12, 16, 6), bias_kinds=("per_neuron", "volumetric"))
    base = NTNetwork.from_spec(
        spec, trainable_weight=False, trainable_gain=True, trainable_c_retention=True
    )
    batched = copy.deepcopy(base).expand_parameters(K)
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for layer in batched.layers:
            cell, sb = layer.neuron, layer.spiking_bias
            assert cell.bias.shape == (K, 1, layer.n) and sb.w_b.shape == (K, 1, sb.m)
            cell.bias.add_(0.2 * torch.randn(cell.bias.shape, generator=g, dtype=torch.float64))
            cell.gain.mul_(1 + 0.2 * torch.rand(cell.gain.shape, generator=g, dtype=torch.float64))
            sb.w_b.add_(0.3 * torch.randn(sb.w_b.shape, generator=g, dtype=torch.float64))
            sb.c_retention.mul_(
                0.5 + 0.5 * torch.rand(sb.c_retention.shape, generator=g, dtype=torch.float64)
            )
    x = (torch.rand(20, K, 16, 12, generator=g) < 0.3).double()
    target = torch.rand(K, 16, 6, generator=g, dtype=torch.float64)
    out = batched(x)
    assert out.shape == (20, K, 16, 6)
    ((out.mean(0) - target) ** 2).sum().backward()
    for k in range(K):
        single = NTNetwork.from_spec(
            batched.to_spec(k),
            trainable_weight=False,
            trainable_gain=True,
            trainable_c_retention=True,
        )
        out_k = single(x[:, k])
        assert torch.equal(out_k, out[:, k])
        ((out_k.mean(0) - target[k]) ** 2).sum().backward()
        for lb, ls in zip(batched.layers, single.layers, strict=True):
            pairs = [
                (lb.neuron.bias, ls.neuron.bias),
                (lb.neuron.gain, ls.neuron.gain),
                (lb.spiking_bias.w_b, ls.spiking_bias.w_b),
                (lb.spiking_bias.c_retention, ls.spiking_bias.c_retention),
            ]
            for pb, ps in pairs:
                assert ps.grad.abs().sum() > 0
                torch.testing.assert_close(pb.grad[k, 0], ps.grad, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    "spike_fn",
    [
        surrogate.super_spike,
        surrogate.atan_spike,
        surrogate.make_spike_fn("super", 3.0),
        surrogate.make_spike_fn("atan", 5.0),
    ],
    ids=["bare-super", "bare-atan", "super-3", "atan-5"],
)
def test_surrogate_of_gives_the_slope_the_spike_function_runs_with(spike_fn):
    """The fused path derives its gradient from ``surrogate_of``: it must be the autograd one,
    also for a bare function called with its own default slope."""
    x = torch.linspace(-2.0, 2.0, 41, dtype=torch.float64, requires_grad=True)
    spike_fn(x).sum().backward()
    kind, alpha = surrogate.surrogate_of(spike_fn)
    expected = surrogate.surrogate_derivative(x.detach(), kind, alpha, torch.ones_like(x))
    assert torch.equal(x.grad, expected)
