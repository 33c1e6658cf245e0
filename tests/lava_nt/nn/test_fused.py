"""FusedNTNetwork (one autograd node per layer, hand-written BPTT) equals NTNetwork: identical
spikes (float64 and float32) and gradients within 1e-10 (float64) for inputs, biases, gains,
weights and spiking-bias tensors, for both reset modes, detached or not, du = 1 and du < 1,
SuperSpike and arctan surrogates, static and time-varying inputs, batched parameters."""

from __future__ import annotations

import pytest
import torch

from lava_nt.builder import build_network
from lava_nt.network import NetworkSpec
from lava_nt.nn.fused import FusedNTNetwork, keep_freed_memory, surrogate_grad
from lava_nt.nn.network import NTNetwork
from lava_nt.spec.validation import ParameterError
from lava_nt.testing import random_spec
from lava_nt.training import TrainConfig, loss_and_counts, train
from lava_nt.tuning import apply_tuning

SIZES = (20, 24, 16, 6)
T, B = 12, 5
TOL = dict(rtol=1e-10, atol=1e-10)


def _spec(seed: int, resets, du: float, dv=(0.1, 0.3, 0.6)) -> NetworkSpec:
    dus = (du, min(1.0, du + 0.2), du)  # u sums ~1/du inputs: the weights scale with du
    return random_spec(
        seed,
        SIZES,
        resets=resets,
        du=dus,
        dv=dv,
        vth=(1.0, 0.8, 1.2),
        weight_mean=[0.2 * 1.3 * d for d in dus],
        weight_scale=[1.3 * d for d in dus],
        fan_in=True,
    )


def _nets(spec, dtype=torch.float64, **kw):
    kw.setdefault("trainable_gain", True)
    return NTNetwork.from_spec(spec, dtype=dtype, **kw), NTNetwork.from_spec(
        spec, dtype=dtype, **kw
    )


def _input(seed: int, static: bool, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    shape = (B, SIZES[0]) if static else (T, B, SIZES[0])
    rate = torch.rand((1,) * (len(shape) - 2) + (B, 1), generator=g) * 0.5 + 0.2
    return (torch.rand(shape, generator=g) < rate).to(dtype)


def _assert_active(recs):
    for k, r in enumerate(recs):
        rate = float(r["spikes"].detach().mean())
        assert 0.02 < rate < 0.7, f"layer {k}: firing rate {rate:.3f} makes the test meaningless"


@pytest.mark.parametrize("surrogate", ["super", "atan"])
@pytest.mark.parametrize("detach_reset", [True, False])
@pytest.mark.parametrize("du", [1.0, 0.55])
@pytest.mark.parametrize("resets", [("zero", "subtract", "zero"), ("subtract", "zero", "subtract")])
@pytest.mark.parametrize("static", [True, False])
def test_fused_equals_ntnetwork(surrogate, detach_reset, du, resets, static, builders):
    spec = _spec(3, resets, du)
    alpha = 5.0 if surrogate == "super" else 2.0
    ref, fus = _nets(spec, surrogate=surrogate, alpha=alpha, detach_reset=detach_reset)
    x = _input(7, static)
    out_r, rec_r, gx_r, g_r = builders.run(ref, x, T, static, fused=False)
    out_f, rec_f, gx_f, g_f = builders.run(fus, x, T, static, fused=True)
    _assert_active(rec_r)
    assert torch.equal(out_r, out_f)
    for rr, rf in zip(rec_r, rec_f, strict=True):
        assert torch.equal(rr["spikes"], rf["spikes"])
    assert g_r.keys() == g_f.keys() and len(g_r) == 9  # W, b, g of three layers
    for name in g_r:
        torch.testing.assert_close(g_f[name], g_r[name], **TOL, msg=name)
        assert g_r[name].abs().max() > 0, name
    torch.testing.assert_close(gx_f, gx_r, **TOL)


@pytest.mark.parametrize("reset", ["zero", "subtract"])
def test_fused_float32_spikes_identical(reset):
    spec = _spec(11, (reset,), 1.0, dv=(0.1, 0.1, 0.1))
    ref = NTNetwork.from_spec(spec, dtype=torch.float32)
    x = _input(5, True, torch.float32)
    with torch.no_grad():
        out_r, rec_r = ref.forward_static(x, T, record=True)
        out_f, rec_f = FusedNTNetwork.from_network(ref).forward_static(x, T, record=True)
    assert out_f.dtype == torch.float32
    assert torch.equal(out_r, out_f)
    for rr, rf in zip(rec_r, rec_f, strict=True):
        assert torch.equal(rr["spikes"], rf["spikes"])


def test_fused_tuning_mode_eeg_shape():
    """NT1 + NT2 tuning of a (small) EEG-style network: frozen weights get no gradient, the
    loss of lava_nt.training is identical and the bias/gain gradients match."""
    nets = []
    for _ in range(2):
        net = build_network(16, [24, 20], 2, 5, dtype=torch.float64, seed=4)
        g = torch.Generator().manual_seed(9)
        with torch.no_grad():
            for layer in net.layers:
                layer.linear.weight.mul_(2.5)
                layer.neuron.bias.uniform_(-0.1, 0.2, generator=g)
        apply_tuning(net, ["nt1", "nt2"])
        nets.append(net)
    ref, fus = nets[0], FusedNTNetwork.from_network(nets[1])
    assert [id(p) for p in fus.parameters()] == [id(p) for p in nets[1].parameters()]
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(8, 16, generator=g) < 0.4).double()
    y = torch.randint(0, 2, (8,), generator=g)
    cfg = TrainConfig(T=T, spike_l1=1e-2)
    grads = []
    losses = []
    for model in (ref, fus):
        model.zero_grad()
        loss, _ = loss_and_counts(model, x, y, cfg)
        loss.backward()
        losses.append(loss.detach())
        grads.append({n: p.grad for n, p in model.named_parameters() if p.requires_grad})
    assert torch.equal(losses[0], losses[1])
    names = {n.removeprefix("net.") for n in grads[1]}
    assert names == set(grads[0]) and len(names) == 6
    for n, gr in grads[0].items():
        torch.testing.assert_close(grads[1]["net." + n], gr, **TOL)
    for layer in nets[1].layers:
        assert layer.linear.weight.grad is None


def test_fused_trains_like_ntnetwork():
    """A few epochs of lava_nt.training.train end with the same parameters (float64)."""
    nets = [build_network(16, [20], 2, 4, dtype=torch.float64, seed=1) for _ in range(2)]
    for net in nets:
        with torch.no_grad():
            net.layers[0].linear.weight.mul_(3.0)
    init = [p.detach().clone() for p in nets[0].parameters()]
    g = torch.Generator().manual_seed(1)
    x = (torch.rand(40, 16, generator=g) < 0.4).double()
    y = torch.randint(0, 2, (40,), generator=g)
    cfg = TrainConfig(epochs=3, lr=1e-2, batch_size=16, T=10, select="last")
    train(nets[0], (x, y), cfg)
    train(FusedNTNetwork.from_network(nets[1]), (x, y), cfg)
    for (n, a), (_, b) in zip(nets[0].named_parameters(), nets[1].named_parameters(), strict=True):
        torch.testing.assert_close(b, a, rtol=1e-9, atol=1e-9, msg=n)
    assert all(not torch.equal(p, q) for p, q in zip(nets[0].parameters(), init, strict=True))


def test_fused_with_spiking_bias_and_batched_parameters(builders):
    """Spiking-bias layers stay in autograd (their current enters the fused node as ``c``), and
    batched ``[K, 1, n]`` bias/gain reduce their gradients per parameter set."""
    nets = []
    for _ in range(2):
        net = build_network(16, [24, 12], 2, 4, dtype=torch.float64, seed=2)
        with torch.no_grad():
            for layer in net.layers:
                layer.linear.weight.mul_(2.5)
        apply_tuning(
            net,
            ["nt1", "spiking_bias"],
            spiking_bias_kwargs={"w_b": 0.3, "dv": 0.2, "w_in_scale": 3.0},
        )
        net.expand_parameters(3)
        nets.append(net)
    ref, fus = nets[0], FusedNTNetwork(nets[1])
    g = torch.Generator().manual_seed(3)
    x = (torch.rand(3, 4, 16, generator=g) < 0.4).double()  # [K, B, n_in]
    outs, grads = [], []
    for model in (ref, fus):
        out, recs = model.forward_static(x, T, record=True)
        model.zero_grad()
        builders.loss(out, recs).backward()
        outs.append((out.detach(), [r["bias_spikes"] for r in recs]))
        grads.append([(n, p.grad) for n, p in model.named_parameters() if p.requires_grad])
    assert torch.equal(outs[0][0], outs[1][0])
    assert float(outs[0][1][0].mean()) > 0.01  # the bias neurons spike
    assert len(grads[0]) == len(grads[1]) == 2 * 3  # gain and w_b of 3 layers
    for (n, gr), (_, gf) in zip(*grads, strict=True):
        assert gr.shape[0] == 3, n
        torch.testing.assert_close(gf, gr, **TOL, msg=n)


@pytest.mark.parametrize("reset", ["zero", "subtract"])
def test_fused_float32_identical_with_bias_current_and_du(reset):
    """float32 is where a changed order of operations would show: time-varying input, du < 1, a
    spiking-bias current ``c`` and [K, 1, n] parameters give bit-identical spikes and bias
    spikes (the fused loop must add ``c`` after ``(1 - dv) v + g (u + b)``, as the spec)."""
    nets = []
    for _ in range(2):
        net = build_network(16, [24, 12], 2, 4, du=0.7, reset=reset, seed=4)
        with torch.no_grad():
            for layer in net.layers:
                layer.linear.weight.mul_(2.5)
        apply_tuning(
            net,
            ["nt1", "nt2", "spiking_bias"],
            gain_init="uniform",
            gain_range=(0.7, 1.3),
            spiking_bias_kwargs={"w_b": 0.37, "dv": 0.2, "w_in_scale": 3.0},
        )
        net.expand_parameters(2)
        with torch.no_grad():
            for layer in net.layers:
                layer.neuron.bias.normal_(0.0, 0.3, generator=torch.Generator().manual_seed(1))
        nets.append(net)
    g = torch.Generator().manual_seed(8)
    x = (torch.rand(T, 2, 5, 16, generator=g) < 0.4).float()  # [T, K, B, n_in]
    with torch.no_grad():
        out_r, rec_r = nets[0](x, record=True)
        out_f, rec_f = FusedNTNetwork(nets[1])(x, record=True)
    assert out_f.dtype == torch.float32
    for k, (rr, rf) in enumerate(zip(rec_r, rec_f, strict=True)):
        assert 0.02 < float(rr["spikes"].mean()) < 0.7, k
        assert torch.equal(rr["spikes"], rf["spikes"]), k
        assert torch.equal(rr["bias_current"], rf["bias_current"]), k
    assert torch.equal(out_r, out_f)


@pytest.mark.parametrize("static", [True, False])
@pytest.mark.parametrize("du", [1.0, 0.3])
@pytest.mark.parametrize("reset_subtract", [True, False])
@pytest.mark.parametrize("with_c", [True, False])
def test_run_layer_voltages_bit_identical_to_spec(static, du, reset_subtract, with_c):
    """The fused loop's ``x = v' - vth`` equals :func:`ntlif_step`'s bit for bit in float32 at
    every step (spikes alone would hide a reordered sum: they flip only at the threshold)."""
    from lava_nt.nn.fused import LayerConfig, _run_layer
    from lava_nt.spec.ntlif import NTLIFParameters, NTLIFState, ntlif_step

    g = torch.Generator().manual_seed(int(static) + 2 * int(du == 1.0) + 4 * int(with_c))
    K, Bn, n = 2, 3, 40
    a = torch.randn((K, Bn, n) if static else (T, K, Bn, n), generator=g) * 0.7
    c = torch.randn(T, K, Bn, n, generator=g) * 0.3 if with_c else None
    bias = torch.randn(K, 1, n, generator=g) * 0.2
    gain = torch.rand(K, 1, n, generator=g) + 0.5
    du_t, dv_t, vth = torch.tensor(du), torch.tensor(0.15), torch.tensor(0.9)
    cfg = LayerConfig(T, static, reset_subtract, True, "super", 1.0)
    spikes, x, u = _run_layer(a, c, bias, gain, du_t, dv_t, vth, cfg, True, True)
    p = NTLIFParameters(du, 0.15, vth, bias, gain, reset_subtract)
    zero = torch.zeros(K, Bn, n)
    st = NTLIFState(zero, zero)
    xs = []

    def spike(xx):
        xs.append(xx)
        return (xx > 0).to(xx.dtype)

    for t in range(T):
        s_ref, st = ntlif_step(a if static else a[t], 0.0 if c is None else c[t], st, p, spike)
        assert torch.equal(spikes[t], s_ref), t
        assert torch.equal(x[t], xs[-1]), t
        if u is not None:
            assert torch.equal(u[t].expand_as(st.u), st.u), t
    assert (u is None) == (du == 1.0)
    assert 0.05 < float(spikes.mean()) < 0.8


@pytest.mark.parametrize("method", ["spiking_bias_sparse", "volumetric"])
@pytest.mark.parametrize("static", [True, False])
def test_fused_spiking_bias_gradients(method, static, builders):
    """Trainable sparse W_in (gradient through the fused bias neurons to their input) and
    volumetric groups (fan-out): spikes identical, gradients of W_in, w_b and biases equal."""
    nets = []
    for _ in range(2):
        net = build_network(16, [20, 12], 2, 4, dtype=torch.float64, seed=5)
        with torch.no_grad():
            for layer in net.layers:
                layer.linear.weight.mul_(2.5)
        kw = {"w_b": 0.3, "dv": 0.2, "w_in_scale": 3.0}
        if method == "volumetric":
            apply_tuning(net, ["nt2", method], group_size=4, layers=[0, 1],
                         spiking_bias_kwargs=kw)  # fmt: skip
        else:
            apply_tuning(net, [method], sparsity=0.5, spiking_bias_kwargs=kw)
        nets.append(net)
    ref, fus = nets[0], FusedNTNetwork(nets[1])
    g = torch.Generator().manual_seed(4)
    x = (torch.rand((6, 16) if static else (T, 6, 16), generator=g) < 0.4).double()
    outs, grads = [], []
    for model in (ref, fus):
        out, recs = model.forward_static(x, T, record=True) if static else model(x, record=True)
        model.zero_grad()
        builders.loss(out, recs).backward()
        outs.append((out.detach(), [r["bias_spikes"] for r in recs]))
        grads.append([(n, p.grad) for n, p in model.named_parameters() if p.requires_grad])
    assert torch.equal(outs[0][0], outs[1][0])
    spiking = [b for b in outs[0][1] if b is not None]
    assert spiking and float(spiking[0].detach().mean()) > 0.01
    for b_r, b_f in zip(outs[0][1], outs[1][1], strict=True):
        assert (b_r is None) == (b_f is None) and (b_r is None or torch.equal(b_r, b_f))
    names = [n for n, _ in grads[0]]
    assert any("w_in" in n for n in names), names  # both methods train a sparse W_in
    assert any("w_b" in n for n in names), names
    for (n, gr), (_, gf) in zip(*grads, strict=True):
        torch.testing.assert_close(gf, gr, **TOL, msg=n)
        assert gr.abs().max() > 0, n


def test_surrogate_grad_matches_autograd():
    from lava_nt.nn.surrogate import make_spike_fn

    x = torch.linspace(-3, 3, 101, dtype=torch.float64, requires_grad=True)
    for name, alpha in (("super", 1.0), ("super", 10.0), ("atan", 2.0), ("atan", 5.0)):
        (g,) = torch.autograd.grad(make_spike_fn(name, alpha)(x).sum(), x)
        torch.testing.assert_close(surrogate_grad(x.detach(), name, alpha), g, rtol=1e-14, atol=0)


def test_fused_rejects_unsupported():
    spec = _spec(0, ("zero",), 1.0)
    net = NTNetwork.from_spec(spec, surrogate=lambda v: (v > 0).double())
    with pytest.raises(ParameterError, match="built-in surrogates"):
        FusedNTNetwork.from_network(net)
    net = NTNetwork.from_spec(spec)
    net.layers[1].neuron.vth = torch.nn.Parameter(torch.tensor(1.0, dtype=torch.float64))
    with pytest.raises(ParameterError, match="trainable 'vth'"):
        FusedNTNetwork.from_network(net)
    fus = FusedNTNetwork.from_network(NTNetwork.from_spec(spec))
    with pytest.raises(ParameterError, match="input must be"):
        fus(torch.zeros(3, 2, 7, dtype=torch.float64))
    with pytest.raises(ParameterError, match="'T' must be a positive int"):
        fus.forward_static(torch.zeros(2, SIZES[0], dtype=torch.float64), 0)


def test_keep_freed_memory_reports_whether_it_applied():
    import sys

    applied = keep_freed_memory()
    assert isinstance(applied, bool)
    if sys.platform.startswith("linux"):
        import platform

        if platform.libc_ver()[0] == "glibc":
            assert applied
