"""Sparse spiking gradient descent (lava_nt.nn.sparse_grad): no band = bit-identical gradients;
with a band the eager gradients equal the dense gradients with the surrogate derivative masked
outside |v' - vth| < B_th vth, and the fused path (with its sparse input-gradient node, its
sparse and its dense product) equals the eager one in float64."""

from __future__ import annotations

import functools

import pytest
import torch

from lava_nt.nn import fused_sparse
from lava_nt.nn.fused import FusedNTNetwork
from lava_nt.nn.network import NTNetwork
from lava_nt.nn.sparse_grad import check_band, set_sparse_band, sparse_gradients
from lava_nt.nn.surrogate import make_spike_fn, surrogate_derivative, surrogate_width, with_band
from lava_nt.spec.validation import ParameterError
from lava_nt.testing import random_spec

SIZES = (20, 24, 16, 8)
T, B = 12, 5
TOL = dict(rtol=1e-10, atol=1e-12)
BAND = 0.3


def _spec(seed: int, kind: str):
    """``eeg``: du = 1, subtractive reset on every layer (the sparse node applies); ``mixed``:
    du < 1 and resets to zero (the dense node with the banded derivative); ``bias``: eeg-like
    layers with a spiking bias on each."""
    eeg = kind in ("eeg", "bias")
    return random_spec(
        seed,
        SIZES,
        spiking_bias="per_neuron" if kind == "bias" else False,
        resets="subtract" if eeg else ("zero", "subtract", "zero"),
        du=1.0 if eeg else (1.0, 0.4, 0.7),
        dv=(0.1, 0.25, 0.05),
        vth=(1.0, 0.8, 1.2),
        weight_mean=0.12,
        weight_scale=1.2,
        fan_in=True,
        sb_weight_scale=0.8,
    )


def _input(seed: int, static: bool, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    shape = (B, SIZES[0]) if static else (T, B, SIZES[0])
    return (torch.rand(shape, generator=g) < 0.4).to(dtype)


class _MaskedSuper(torch.autograd.Function):
    """The test's own definition of the rule: SuperSpike's derivative times (|x| < width)."""

    @staticmethod
    def forward(ctx, x, alpha, width):
        ctx.save_for_backward(x)
        ctx.alpha, ctx.width = alpha, width
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        sg = 1.0 / (ctx.alpha * x.abs() + 1.0) ** 2
        return g * sg * (x.abs() < ctx.width).to(x.dtype), None, None


def _reference_band(net, band: float):
    """Give every population the test's masked spike function (a custom callable: eager only)."""
    for m in net.modules():
        if hasattr(m, "spike_fn") and hasattr(m, "vth"):
            alpha = m.alpha if hasattr(m, "n") and not hasattr(m, "w_b") else m.surrogate_alpha
            m.spike_fn = functools.partial(
                _MaskedSuper.apply, alpha=float(alpha), width=band * float(m.vth)
            )


def _net(spec, k=None):
    net = NTNetwork.from_spec(spec, dtype=torch.float64, trainable_gain=True)
    if k is not None:
        net.expand_parameters(k)
    return net


def _close(a: dict, b: dict):
    assert a.keys() == b.keys()
    for n in a:
        torch.testing.assert_close(a[n], b[n], **TOL, msg=lambda m, n=n: f"{n}: {m}")


@pytest.mark.parametrize("fused", [False, True])
def test_no_band_is_bit_identical(fused, builders):
    spec = _spec(0, "bias")
    x = _input(1, static=False)
    net = _net(spec)
    fns = [m.spike_fn for m in net.modules() if hasattr(m, "spike_fn")]
    dense = builders.run(net, x, T, False, fused).all_grads
    with sparse_gradients(net, None):
        same = builders.run(net, x, T, False, fused).all_grads
    for n in dense:
        assert torch.equal(dense[n], same[n]), n
    assert [m.spike_fn for m in net.modules() if hasattr(m, "spike_fn")] == fns


@pytest.mark.parametrize("kind", ["eeg", "mixed", "bias"])
@pytest.mark.parametrize("static", [False, True])
def test_eager_band_equals_masked_dense(kind, static, builders):
    spec = _spec(2, kind)
    x = _input(3, static)
    net, ref = _net(spec), _net(spec)
    with sparse_gradients(net, BAND):
        got = builders.run(net, x, T, static, False).all_grads
    _reference_band(ref, BAND)
    want = builders.run(ref, x, T, static, False).all_grads
    _close(got, want)
    dense = builders.run(_net(spec), x, T, static, False).all_grads  # the band changes them
    assert any(not torch.allclose(dense[n], got[n]) for n in got)


@pytest.mark.parametrize("max_density", [0.0, 1.0])
@pytest.mark.parametrize("kind", ["eeg", "mixed", "bias"])
@pytest.mark.parametrize("static", [False, True])
def test_fused_band_equals_eager(kind, static, max_density, monkeypatch, builders):
    """Both products of the sparse node (dense: max density 0; embedding_bag: 1) and the dense
    node with the banded derivative equal the eager gradients; the node is used where it
    applies."""
    monkeypatch.setattr(fused_sparse, "SPARSE_MAX_DENSITY", max_density)
    calls = []
    real = fused_sparse.sampled_density
    monkeypatch.setattr(fused_sparse, "sampled_density", lambda t: calls.append(1) or real(t))
    spec = _spec(4, kind)
    x = _input(5, static)
    eager, fused = _net(spec), _net(spec)
    with sparse_gradients(eager, BAND), sparse_gradients(fused, BAND):
        run_e = builders.run(eager, x, T, static, False)
        run_f = builders.run(fused, x, T, static, True)
    assert torch.equal(run_e.out, run_f.out)
    _close(run_f.all_grads, run_e.all_grads)
    n_sparse = 0 if kind == "mixed" else len(SIZES) - 1 - int(static)
    assert len(calls) == n_sparse


def test_fused_band_batched_parameter_sets(builders):
    spec = _spec(6, "bias")
    x = _input(7, static=False)
    eager, fused = _net(spec, k=3), _net(spec, k=3)
    with torch.no_grad():  # distinct sets
        for net in (eager, fused):
            for layer in net.layers:
                layer.neuron.bias.add_(0.05 * torch.arange(3.0, dtype=torch.float64).view(3, 1, 1))
    with sparse_gradients(eager, BAND), sparse_gradients(fused, BAND):
        want = builders.run(eager, x, T, False, False).all_grads
        got = builders.run(fused, x, T, False, True).all_grads
    _close(got, want)


def test_fused_band_spikes_float32_bit_identical():
    spec = _spec(8, "eeg")
    x = _input(9, static=False, dtype=torch.float32)
    net = NTNetwork.from_spec(spec, dtype=torch.float32)
    model = FusedNTNetwork.from_network(net)
    dense = model(x.requires_grad_(True))
    with sparse_gradients(model, 0.1):
        banded = model(x)
    assert torch.equal(dense, banded)
    assert dense.grad_fn is not banded.grad_fn


def test_sparse_matmul_and_density():
    g = torch.Generator().manual_seed(0)
    q = torch.randn(40, 30, generator=g, dtype=torch.float64)
    q = q * (torch.rand(40, 30, generator=g) < 0.1)
    w = torch.randn(30, 7, generator=g, dtype=torch.float64)
    torch.testing.assert_close(fused_sparse.sparse_matmul(q, w), q @ w, rtol=1e-12, atol=1e-12)
    zero = fused_sparse.sparse_matmul(torch.zeros(4, 30, dtype=torch.float64), w)
    assert torch.equal(zero, torch.zeros(4, 7, dtype=torch.float64))
    sample = q.reshape(-1)[:: fused_sparse.DENSITY_STRIDE]
    assert fused_sparse.sampled_density(q) == int((sample != 0).sum()) / sample.numel()
    assert 0.0 < fused_sparse.sampled_density(q) < 0.3


def test_band_rule_and_width():
    x = torch.tensor([-0.5, -0.3, -0.2999, 0.0, 0.2999, 0.3, 0.7], dtype=torch.float64)
    dense = surrogate_derivative(x, "super", 10.0)
    band = surrogate_derivative(x, "super", 10.0, width=0.3)
    inside = x.abs() < 0.3
    assert torch.equal(band[inside], dense[inside])
    assert torch.equal(band[~inside], torch.zeros(int((~inside).sum()), dtype=torch.float64))
    fn = with_band(make_spike_fn("atan", 2.0), 0.25)
    assert surrogate_width(fn) == 0.25 and surrogate_width(make_spike_fn()) is None
    spec = _spec(0, "bias")
    net = _net(spec)
    saved = set_sparse_band(net, 0.5)
    widths = {surrogate_width(m.spike_fn) / float(m.vth) for m in net.modules()
              if hasattr(m, "spike_fn")}  # fmt: skip
    assert widths == {0.5}
    from lava_nt.nn.sparse_grad import restore_bands

    restore_bands(saved)
    assert all(surrogate_width(m.spike_fn) is None for m in net.modules() if hasattr(m, "spike_fn"))


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), float("inf"), "0.5", True])
def test_bad_band_refused(bad):
    with pytest.raises(ParameterError, match="band"):
        check_band(bad)
    with pytest.raises(ParameterError, match="band"):
        with sparse_gradients(_net(_spec(0, "eeg")), bad):
            pass


def test_custom_surrogate_and_qat_refused():
    spec = _spec(0, "eeg")
    net = NTNetwork.from_spec(spec, dtype=torch.float64, surrogate=lambda x: (x > 0) * 1.0)
    with pytest.raises(ParameterError, match="built-in surrogates"):
        set_sparse_band(net, 0.5)
    from lava_nt.qat import recurrences

    with pytest.raises(ParameterError, match="QATNetwork: a sparse-gradient band"):
        recurrences._surrogate_derivative(with_band(make_spike_fn(), 0.2), torch.zeros(3))


def test_qat_network_refused():
    from lava_nt.qat import QATNetwork

    qat = QATNetwork(random_spec(0, (6, 5, 4), resets="zero"))
    with pytest.raises(ParameterError, match="QAT module"):
        with sparse_gradients(qat, 0.5):
            pass
    assert all(surrogate_width(m.spike_fn) is None for m in qat.modules() if hasattr(m, "spike_fn"))
