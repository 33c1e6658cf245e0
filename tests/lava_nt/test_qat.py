"""Quantisation-aware tuning (lava_nt.qat): what is tuned is what the chip runs.

1. The QATNetwork forward IS the fixed-point network: its spikes (every layer), bias currents and
   bias spikes equal emulate_fixed(to_fixed_spec()) bit for bit on random networks with gains,
   biases, per-neuron / volumetric (contiguous and explicit) spiking biases, both reset modes,
   every bias-exponent mode, and with u wrapping and v saturating; both engines (fused BPTT and
   the per-operation autograd reference) compute the same forward.
2. After QAT tuning with lava_nt.training.train (NT1+NT2, spiking bias, volumetric),
   to_fixed_spec() deployed with run_network(precision="fixed") gives exactly the training-time
   spikes (every layer) and predictions.
3. Gradients reach every trainable kind, are finite, and the fused engine's hand-written BPTT
   equals the autograd reference.
4. The registers are integers within their widths and equal the quantiser's at the same scales
   (also after pushing latents beyond the registers' range); the model file round trip keeps them.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lava_nt.converters.quantize import quantize
from lava_nt.network import LayerSpec, NetworkSpec
from lava_nt.nn.network import NTNetwork
from lava_nt.qat import QATError, QATNetwork, fixed_spec_differences
from lava_nt.spec.fixed import (
    BIAS_EXP_MAX,
    BIAS_MANT_MAX,
    BIAS_MANT_MIN,
    DECAY_MAX,
    GAIN_MAX,
    GAIN_MIN,
    WB_EXP_MAX,
    WB_MANT_MAX,
    WB_MANT_MIN,
)
from lava_nt.testing import random_spec as _random_spec
from lava_nt.training import TrainConfig, evaluate, train
from lava_nt.tuning import apply_tuning

ALL = {"weight": True, "bias": True, "gain": True, "w_in": True, "w_b": True, "c_retention": True}


def random_spec(seed: int, resets=("zero", "subtract", "zero"), sizes=(24, 32, 20, 8)):
    """Random float spec (:func:`lava_nt.testing.random_spec`): volumetric (contiguous, 85%
    sparse excitatory W_in, so that its bias neurons spike), per-neuron and explicit-group (3
    bias neurons, one silent) spiking biases in a seed-dependent order, gains, biases, per-layer
    decays, both reset modes."""
    kinds = ("volumetric", "per_neuron", "grouped")
    kinds = [kinds[(k + seed) % 3] for k in range(len(sizes) - 1)]
    return _random_spec(
        seed,
        sizes,
        spiking_bias=kinds,
        resets=resets,
        du=(1.0, 0.4, 0.7),
        dv=(0.1, 0.25, 0.05),
        weight_mean=0.02,
        weight_scale=1.2,
        fan_in=True,
        sb_density=[{"volumetric": 0.15, "grouped": 0.5}.get(kind) for kind in kinds],
        sb_weight_scale=[1.5 if kind == "volumetric" else None for kind in kinds],
        sb_excitatory=[k for k, kind in enumerate(kinds) if kind == "volumetric"],
    )


def spikes(seed: int, shape, p: float = 0.3) -> torch.Tensor:
    rng = np.random.default_rng(1000 + seed)
    return torch.as_tensor((rng.random(shape) < p).astype(np.float64))


# ---- 1. forward == fixed-point emulator --------------------------------------------------------
@pytest.mark.parametrize("engine", ["fused", "autograd"])
@pytest.mark.parametrize(
    "seed,resets",
    [(0, ("zero", "subtract", "zero")), (1, ("subtract", "zero", "subtract")), (2, ("subtract",))],
)
def test_forward_is_the_fixed_point_network(seed, resets, engine, qat_checks):
    qat = QATNetwork(random_spec(seed, resets), trainable=ALL)
    for layer in qat.layers:
        layer.engine = engine
    _, rates = qat_checks.emulator(qat, spikes(seed, (25, 40, 24)))
    assert all(0.02 < r < 0.9 for r in rates), rates  # not a trivial comparison
    qat_checks.emulator(qat, spikes(seed, (40, 24)), static_T=20)


@pytest.mark.parametrize("bias_exp", ["layer", 6, 0])
def test_bias_exponent_modes(bias_exp, qat_checks):
    spec = random_spec(3)
    qat = QATNetwork(spec, bias_exp=bias_exp, trainable=ALL)
    q, _ = quantize(spec, bias_exp=bias_exp, scales=qat.scales, bias_scales=qat.bias_scales)
    assert fixed_spec_differences(q, qat.to_fixed_spec()) == []
    be = qat.to_fixed_spec().layers[0].neuron.bias_exp
    if bias_exp == "layer":
        assert len(set(be.tolist())) == 1
    else:
        assert set(be.tolist()) == {bias_exp}
    qat_checks.emulator(qat, spikes(3, (20, 30, 24)))


def test_u_wraps_and_v_saturates_bit_exactly(qat_checks):
    """Forced large scales: the 24-bit current wraps and v saturates; still bit-exact."""
    spec = random_spec(4, ("zero", "subtract", "zero"))
    qat = QATNetwork(spec, scales=[4e6, 4e6, 4e6], bias_scales=[4e6] * 3, trainable=ALL)
    x = spikes(4, (25, 30, 24), p=0.6)
    with torch.no_grad():
        layer = qat.layers[0]
        r = layer.registers()
        drive = layer._drive(x, r.k_int, r.w_exp)
    assert float(drive.abs().max()) > 2**23  # one step's input alone exceeds the 24-bit range
    qat_checks.emulator(qat, x)
    qat_checks.emulator(qat, x[0], static_T=25)


# ---- 4. registers: the quantiser's, integers within their widths -------------------------------
def _push_latents(qat: QATNetwork, seed: int) -> None:
    """Random latent edits, some far beyond what the registers can hold."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in qat.layers:
            S = layer.S
            layer.bias.add_(torch.randn(layer.n, generator=g, dtype=torch.float64) * 300 / S)
            layer.bias[0] = 1e7 / S  # beyond 4095 << 7
            layer.bias[1] = -1e7 / S
            layer.bias[2] = 4095.5 / S  # exponent boundary: needs bias_exp 1
            layer.gain.mul_(torch.rand(layer.n, generator=g, dtype=torch.float64) * 2)
            layer.gain[0] = 9.0  # beyond 2047 / 256
            layer.gain[1] = -9.0
            layer.weight.add_(torch.randn(layer.weight.shape, generator=g, dtype=torch.float64)
                              * 0.05)  # fmt: skip
            if layer.has_sb:
                layer.w_b.add_(torch.randn(layer.m, generator=g, dtype=torch.float64))
                layer.w_b[0] = 1e7 / S
                layer.c_retention[0] = 1.3  # outside [0, 1]: dc clips to 0
                if layer.m > 1:
                    layer.c_retention[1] = -0.2  # dc clips to 4095
                layer.w_in.add_(torch.randn(layer.w_in.shape, generator=g, dtype=torch.float64)
                                * 0.1)  # fmt: skip
                if layer.mask is not None:
                    layer.w_in.mul_(layer.mask)


def _assert_widths(fixed: NetworkSpec) -> None:
    for ls in fixed.layers:
        p = ls.neuron
        w = np.asarray(ls.weight)
        assert w.dtype == np.int64 and np.all(w % 2 == 0) and np.abs(w).max() <= 254
        assert -1 <= ls.weight_exp <= 7
        assert p.bias_mant.dtype == np.int64
        assert BIAS_MANT_MIN <= p.bias_mant.min() and p.bias_mant.max() <= BIAS_MANT_MAX
        assert 0 <= p.bias_exp.min() and p.bias_exp.max() <= BIAS_EXP_MAX
        assert GAIN_MIN <= p.gain_mant.min() and p.gain_mant.max() <= GAIN_MAX
        if ls.spiking_bias is not None:
            pb = ls.spiking_bias.params
            assert WB_MANT_MIN <= pb.w_b_mant.min() and pb.w_b_mant.max() <= WB_MANT_MAX
            assert 0 <= pb.w_b_exp.min() and pb.w_b_exp.max() <= WB_EXP_MAX
            assert 0 <= pb.dc.min() and pb.dc.max() <= DECAY_MAX
            assert np.abs(np.asarray(ls.spiking_bias.w_in)).max() <= 254


@pytest.mark.parametrize("seed", [0, 1])
def test_registers_equal_the_quantizer_and_fit_their_widths(seed, qat_checks):
    qat = QATNetwork(random_spec(seed), trainable=ALL)
    _push_latents(qat, seed)
    fixed = qat.to_fixed_spec()
    q, rep = quantize(qat.to_float_spec(), scales=qat.scales, bias_scales=qat.bias_scales)
    assert fixed_spec_differences(q, fixed) == []
    assert rep.n_clipped > 0  # the edits really went beyond the registers
    p0 = fixed.layers[0].neuron
    assert p0.bias_mant[0] == BIAS_MANT_MAX and p0.bias_exp[0] == BIAS_EXP_MAX
    assert p0.bias_mant[1] == -BIAS_MANT_MAX
    assert p0.bias_exp[2] == 1 and p0.bias_mant[2] == 2048  # 4095.5 -> 4096 = 2048 << 1
    assert p0.gain_mant[0] == GAIN_MAX and p0.gain_mant[1] == GAIN_MIN
    _assert_widths(fixed)
    ints = qat.integer_parameters()
    assert all(v.dtype == np.int64 for v in ints.values())
    qat_checks.emulator(qat, spikes(seed, (20, 30, 24)))
    # constrain_ (after every optimizer step) keeps the registers and bounds the latents
    qat.constrain_()
    assert fixed_spec_differences(fixed, qat.to_fixed_spec()) == []
    for layer in qat.layers:
        assert float(layer.gain.detach().abs().max()) <= 8.0
        if layer.has_sb:
            a = layer.c_retention.detach()
            assert 0.0 <= float(a.min()) and float(a.max()) <= 1.0


@pytest.mark.parametrize(
    "seed,resets,bias_exp,power_of_two",
    [
        (2, ("zero", "subtract", "zero"), "neuron", False),
        (3, ("subtract", "zero", "subtract"), "layer", False),
        (4, ("subtract",), 6, True),
        (5, ("zero",), 0, False),
        (6, ("subtract", "zero"), "neuron", True),
    ],
)
def test_registers_equal_the_quantizer_on_random_networks(seed, resets, bias_exp, power_of_two):
    """QAT's integer parameters are the quantiser's at the same scales on random networks (both
    reset kinds, every spiking-bias kind, every bias-exponent mode), before and after random
    latent edits beyond the registers: the one definition of the rules, checked by a test instead
    of at run time."""
    qat = QATNetwork(random_spec(seed, resets), trainable=ALL, bias_exp=bias_exp,
                     power_of_two=power_of_two)  # fmt: skip
    kw = dict(scales=qat.scales, bias_scales=qat.bias_scales, bias_exp=bias_exp)
    for edit in (False, True):
        if edit:
            _push_latents(qat, seed)
        q, rep = quantize(qat.to_float_spec(), **kw)
        fixed = qat.to_fixed_spec()
        assert fixed_spec_differences(q, fixed) == []
        qat.check_against_quantizer()  # the on-demand check agrees (raises otherwise)
        assert any(np.any(np.asarray(ls.neuron.bias_mant) != 0) for ls in fixed.layers)
        assert sum(ls.spiking_bias is not None for ls in fixed.layers) == len(fixed.layers)
    assert rep.n_clipped > 0  # the edits went beyond the registers


def test_no_run_time_cross_check_on_production_paths(tmp_path, monkeypatch):
    """Construction, export, saving and loading do not re-run the quantiser comparison."""

    def refuse(*a, **k):
        raise AssertionError("check_against_quantizer called on a production path")

    monkeypatch.setattr(QATNetwork, "check_against_quantizer", refuse)
    qat = QATNetwork(random_spec(0), trainable={"bias": True})
    fixed = qat.to_fixed_spec()
    qat.integer_parameters()
    path = qat.save(tmp_path / "m.h5")
    again = QATNetwork.load(path)
    assert fixed_spec_differences(again.to_fixed_spec(), fixed) == []


def test_load_refuses_a_file_whose_integers_are_not_its_floats_quantised(tmp_path):
    from lava_nt.converters.model_file import save_model

    qat = QATNetwork(random_spec(1), trainable={"bias": True})
    fixed, report = qat.quantized()
    fixed.layers[0].neuron.bias_mant[2] += 1  # an attached network that was edited
    meta = {"qat": {"scales": qat.scales, "bias_scales": qat.bias_scales, "bias_exp": "neuron"}}
    path = save_model(tmp_path / "m.h5", qat.to_float_spec(), meta=meta,
                      quantized=(fixed, report))  # fmt: skip
    with pytest.raises(QATError, match=r"m\.h5.*layer 0 bias_mant"):
        QATNetwork.load(path)


def test_a_disagreement_with_the_quantizer_is_reported():
    qat = QATNetwork(random_spec(0), trainable=ALL)
    q, _ = qat.quantized()
    q.layers[1].neuron.bias_mant[3] += 1
    with pytest.raises(QATError, match="layer 1 bias_mant"):
        qat.check_against_quantizer(q)


# ---- 3. gradients --------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1])
def test_gradients_reach_every_trainable_kind_and_fused_equals_autograd(seed, qat_checks):
    qat = QATNetwork(random_spec(seed), trainable=ALL)
    x = spikes(seed, (25, 30, 24))
    g_ref = qat_checks.grads(qat, x, "autograd", bias_terms=True)
    g_fused = qat_checks.grads(qat, x, "fused", bias_terms=True)
    kinds = set()
    for name, g in g_fused.items():
        assert torch.isfinite(g).all(), name
        assert float(g.abs().max()) > 0, f"no gradient reaches {name}"
        kinds.add(name.split(".")[-1])
        torch.testing.assert_close(g, g_ref[name], rtol=1e-9, atol=1e-12)
    assert kinds == set(ALL)
    # masked W_in entries get exactly zero gradient
    for layer in qat.layers:
        if layer.mask is not None:
            assert float(layer.w_in.grad[~layer.mask].abs().max()) == 0.0


def test_gradient_magnitude_follows_the_float_network(qat_checks):
    """STE + surrogate on (v - vth)/S: the bias gradient of the QAT network is close to the float
    network's (same surrogate, same spikes almost everywhere)."""
    spec = random_spec(5, ("subtract", "subtract", "subtract"))
    spec = NetworkSpec(spec.n_in, [LayerSpec(ls.weight, ls.neuron) for ls in spec.layers[:2]])
    qat = QATNetwork(spec, trainable={"bias": True})
    net = NTNetwork.from_spec(spec, trainable_weight=False, trainable_bias=True)
    qat_checks.gradients_follow_float(qat, net, spikes(5, (25, 60, 24)))


# ---- 2. tuned with the trainer, deployed on Lava: bit-exact -------------------------------------
def _task(seed: int, n_in: int, n: int = 48):
    """Static binary inputs whose class is the majority of the first vs second half of inputs."""
    rng = np.random.default_rng(seed)
    x = (rng.random((n, n_in)) < 0.35).astype(np.float32)
    y = (x[:, : n_in // 2].sum(1) > x[:, n_in // 2 :].sum(1)).astype(np.int64)
    return torch.as_tensor(x), torch.as_tensor(y)


def _pretrained(seed: int) -> NTNetwork:
    from lava_nt.builder import build_network

    return build_network(20, [24], n_classes=2, population=6, beta=0.85, seed=seed)


@pytest.mark.parametrize(
    "methods,kwargs",
    [
        (["nt1", "nt2"], {}),
        (["spiking_bias"], {"spiking_bias_kwargs": {"w_in_scale": 2.0}}),
        (["volumetric"], {"layers": [0], "group_size": 4, "input_sparsity": 0.5}),
    ],
)
def test_tuned_model_deploys_bit_exactly_on_lava(methods, kwargs):
    from lava_nt.converters.lava_graph import run_network

    torch.manual_seed(0)
    net = _pretrained(0)
    with torch.no_grad():  # a "pretrained" network that spikes
        for layer in net.layers:
            layer.linear.weight.mul_(3.0)
            layer.neuron.bias.fill_(0.1)
    apply_tuning(net, methods, seed=0, **kwargs)
    qat = QATNetwork(net)
    x, y = _task(0, 20)
    before = qat.integer_parameters()
    cfg = TrainConfig(epochs=3, lr=3e-2, batch_size=16, T=12, select="last", spike_l1=1e-3)
    train(qat, (x, y), cfg)
    after = qat.integer_parameters()
    changed = [k for k in after if not np.array_equal(before[k], after[k])]
    assert changed, "training changed no register"
    assert evaluate(qat, x, y, cfg)["acc"] >= 0.0
    fixed = qat.to_fixed_spec()
    _assert_widths(fixed)
    # training-time emulator predictions (the QAT forward itself)
    with torch.no_grad():
        out, recs = qat.forward_static(x.double(), cfg.T, record=True)
    xs = np.ascontiguousarray(np.broadcast_to(x.numpy()[None], (cfg.T, *x.shape)))
    lava = run_network(fixed, xs, "fixed", record=True)
    for r, lr in zip(recs, lava.layers, strict=True):
        np.testing.assert_array_equal(r["spikes"].numpy(), lr["spikes"])
        if r["bias_current"] is not None:
            np.testing.assert_array_equal(r["bias_current"].numpy(), lr["bias_current"])
    assert float(out.mean()) > 0.01  # the outputs do spike
    pred_q = out.sum(0).reshape(len(y), 2, -1).sum(-1).argmax(-1)
    pred_l = lava.spikes.sum(0).reshape(len(y), 2, -1).sum(-1).argmax(-1)
    np.testing.assert_array_equal(pred_q.numpy(), pred_l)


# ---- plumbing ------------------------------------------------------------------------------------
def test_wraps_an_ntnetwork_with_its_trainable_tensors():
    net = _pretrained(1)
    rep = apply_tuning(net, ["nt1", "nt2"])
    qat = QATNetwork(net)
    assert qat.trainable_summary()["total"] == rep.total
    assert {n.split(".")[-1] for n, _ in qat.named_parameters()} == {"bias", "gain"}
    assert qat.n_in == 20 and qat.n_out == 12 and qat.n_classes == 2


def test_refusals():
    net = _pretrained(2)
    apply_tuning(net, "nt2")
    with pytest.raises(QATError, match="unknown trainable"):
        QATNetwork(net, trainable={"biass": True})
    q, _ = quantize(net.to_spec())
    with pytest.raises(QATError, match="float spec"):
        QATNetwork(q)
    net.expand_parameters(2)
    with pytest.raises(QATError, match="batched"):
        QATNetwork(net)


def test_model_file_round_trip(tmp_path):
    from lava_nt.converters.model_file import load_model

    qat = QATNetwork(random_spec(0), trainable=ALL)
    _push_latents(qat, 0)
    path = qat.save(tmp_path / "qat.h5")
    spec, info = load_model(path)
    assert fixed_spec_differences(info.quantized, qat.to_fixed_spec()) == []
    again = QATNetwork.load(path, trainable={"bias": True})
    assert fixed_spec_differences(again.to_fixed_spec(), qat.to_fixed_spec()) == []
    assert again.scales == qat.scales and again.bias_scales == qat.bias_scales


def test_heaviside_surrogate_gives_zero_gradients():
    spec = random_spec(0)
    qat = QATNetwork(spec, trainable={"bias": True}, surrogate="heaviside")
    out = qat(spikes(0, (10, 8, 24)))
    assert not out.requires_grad or float(torch.autograd.grad(out.sum(), qat.layers[0].bias)[0]
                                          .abs().max()) == 0.0  # fmt: skip
