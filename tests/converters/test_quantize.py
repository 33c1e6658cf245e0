"""Quantiser (lava_nt.converters.quantize): float network -> Loihi fixed point.

* accuracy: a reasonably scaled random network (gains, biases, both reset modes, per-neuron and
  volumetric spiking biases) keeps >= 95% output spike agreement and most predictions in the
  torch fixed-point emulator; its Lava fixed-point run equals the emulator bit for bit;
* exactness: integer weights, integer thresholds, dyadic biases and power-of-two gains at a
  power-of-two scale map exactly (empty report, dequantised == original) and the fixed-point
  network then reproduces the float reference spike for spike; folded gains on stock Lava
  LIF/Dense equal the NTLIF deployment with gains bit for bit;
* every register: widths, Lava's weight truncation, exponents, clipping and zeroing reports,
  and clear errors for what cannot be represented.
"""

import numpy as np
import pytest
import torch

from lava_nt.converters.agreement import predictions
from lava_nt.converters.lava_graph import run_network
from lava_nt.converters.netx import StockLavaError, to_stock_lava
from lava_nt.converters.quantize import (
    QuantizationError,
    QuantReport,
    dequantize,
    fold_gains,
    quantize,
)
from lava_nt.network import LayerSpec, NetworkSpec, SpikingBiasSpec, reference_run
from lava_nt.nn.fixed_emulator import emulate_fixed
from lava_nt.spec import ntlif_parameters, spiking_bias_parameters
from lava_nt.spec.fixed import (
    BIAS_MANT_MAX,
    DECAY_MAX,
    VTH_MAX,
    WB_MANT_MAX,
    dense_effective_weights,
)
from lava_nt.testing import random_input
from lava_nt.testing import random_spec as _random_spec

N_IN, SIZES, T, B = 40, (30, 20), 25, 100


def random_spec(seed: int, spiking_bias: bool = True) -> tuple[NetworkSpec, np.ndarray]:
    """40 -> 30 -> 20 (2 classes x 10) (:func:`lava_nt.testing.random_spec`), rates ~20-30%,
    weights N(0, 1/sqrt(n_in)), a per-neuron then a volumetric spiking bias; and its input."""
    spec = _random_spec(
        seed,
        (N_IN, *SIZES),
        spiking_bias=("per_neuron", "volumetric") if spiking_bias else False,
        resets=("zero", "subtract"),
        du=0.5,
        dv=0.2,
        vth=1.0,
        weight_scale=1.0,
        fan_in=True,
    )
    return spec, random_input(seed + 1000, T, B, N_IN, rate=0.25)


def _emu(q, x, record=False):
    out = emulate_fixed(q, torch.as_tensor(x), record=record)
    if record:
        return out[0].numpy(), [r["spikes"].numpy() for r in out[1]]
    return out.numpy()


# ---- accuracy ---------------------------------------------------------------------------
def test_random_network_agreement_and_lava_fixed_bit_exact():
    spec, x = random_spec(1)
    q, rep = quantize(spec)
    ref, recs = reference_run(spec, x, record=True)
    emu, erecs = _emu(q, x, record=True)
    rates = [float(r["spikes"].mean()) for r in recs]
    assert all(0.05 < r < 0.4 for r in rates), rates  # a meaningful, not saturated network
    layer_match = [float(np.mean(a["spikes"] == b)) for a, b in zip(recs, erecs, strict=True)]
    out_match = float(np.mean(ref == emu))
    pred_match = float(np.mean(predictions(ref, 2) == predictions(emu, 2)))
    print(f"float vs fixed: layer match {layer_match}, predictions {pred_match:.3f}, rates {rates}")
    assert layer_match[0] >= 0.99
    assert out_match >= 0.95
    assert pred_match >= 0.9
    assert rep.n_clipped == 0
    # the fixed-point arithmetic itself is exact: the dequantised float network and the integer
    # network disagree only where the float rounding of a threshold crossing differs
    deq = reference_run(dequantize(q, rep), x)
    assert np.mean(deq == emu) >= 0.999
    # Lava's fixed-point models equal the emulator bit for bit on the quantised network
    lava = run_network(q, x, "fixed", record=True)
    assert np.array_equal(lava.spikes, emu)
    for k, layer in enumerate(lava.layers):
        assert np.array_equal(layer["spikes"], erecs[k])


def test_fold_gains_is_the_same_float_network():
    spec, x = random_spec(2, spiking_bias=False)
    folded = fold_gains(spec)
    for ls, lf in zip(spec.layers, folded.layers, strict=True):
        g = np.asarray(ls.neuron.gain)
        np.testing.assert_array_equal(lf.neuron.gain, np.ones(ls.n))
        np.testing.assert_allclose(lf.weight, g[:, None] * ls.weight, rtol=0, atol=0)
        np.testing.assert_allclose(lf.neuron.bias, g * ls.neuron.bias, rtol=0, atol=0)
    a, b = reference_run(spec, x), reference_run(folded, x)
    assert np.mean(a == b) >= 0.999  # equal up to float rounding at threshold crossings
    q, rep = quantize(spec, fold_gains=True)
    assert rep.fold_gains
    assert all(np.all(np.asarray(ls.neuron.gain_mant) == 256) for ls in q.layers)


# ---- exactness ----------------------------------------------------------------------------
def _exact_spec(seed: int) -> tuple[NetworkSpec, np.ndarray]:
    """Integer weights, integer vth, biases in quarters, gains in {1/2, 1, 2}, du = 1, dv = 0:
    everything is dyadic, so a power-of-two scale represents it exactly and float64 arithmetic
    on it is exact too."""
    rng = np.random.default_rng(seed)
    layers, n_prev = [], 24
    for k, n in enumerate((16, 8)):
        W = rng.integers(-6, 7, (n, n_prev)).astype(np.float64)
        layers.append(
            LayerSpec(
                W,
                ntlif_parameters(
                    n,
                    du=1.0,
                    dv=0.0,
                    vth=float(6 + 2 * k),
                    reset="zero",
                    bias=rng.integers(-4, 5, n) / 4.0,
                    gain=rng.choice([0.5, 1.0, 2.0], n),
                ),  # fmt: skip
            )
        )
        n_prev = n
    x = (rng.random((20, 40, 24)) < 0.3).astype(np.float64)
    return NetworkSpec(24, layers), x


def test_dyadic_network_maps_exactly_and_folded_stock_lava_equals_ntlif():
    spec, x = _exact_spec(3)
    q, rep = quantize(spec, power_of_two=True)
    qf, repf = quantize(spec, fold_gains=True, power_of_two=True)
    for r in (rep, repf):
        assert r.exact, r.to_markdown()
        assert all(float(np.log2(lq.scale)).is_integer() for lq in r.layers)
    # dequantised == original, value for value
    for orig, back in ((spec, dequantize(q, rep)), (fold_gains(spec), dequantize(qf, repf))):
        for a, b in zip(orig.layers, back.layers, strict=True):
            np.testing.assert_array_equal(a.weight, b.weight)
            np.testing.assert_array_equal(np.broadcast_to(a.neuron.bias, (a.n,)), b.neuron.bias)
            np.testing.assert_array_equal(np.broadcast_to(a.neuron.gain, (a.n,)), b.neuron.gain)
            assert a.neuron.vth == b.neuron.vth and a.neuron.du == b.neuron.du
    ref = reference_run(spec, x)
    assert 0.02 < ref.mean() < 0.5
    emu, emu_f = _emu(q, x), _emu(qf, x)
    np.testing.assert_array_equal(emu, ref)  # integer arithmetic == exact float arithmetic
    np.testing.assert_array_equal(emu_f, ref)
    # stock Lava LIF/Dense with folded gains == lava-nt's NTLIF with gains, bit for bit
    stock = to_stock_lava(qf).run(x)
    ntlif = run_network(q, x, "fixed")
    np.testing.assert_array_equal(stock.spikes, ntlif.spikes)
    np.testing.assert_array_equal(stock.spikes, ref)


def test_stock_lava_equals_ntlif_on_random_folded_network():
    """Bit-exact in fixed point for any gain-free (folded) network; float within rounding."""
    spec, x = random_spec(4, spiking_bias=False)
    spec.layers[1].neuron = spec.layers[1].neuron._replace(reset_subtract=False)
    qf, _ = quantize(spec, fold_gains=True)
    stock = to_stock_lava(qf).run(x, record=True)
    ntlif = run_network(qf, x, "fixed", record=True)
    for a, b in zip(stock.layers, ntlif.layers, strict=True):
        np.testing.assert_array_equal(a["spikes"], b["spikes"])
    assert stock.spikes.sum() > 0
    float_stock = to_stock_lava(spec).run(x)  # gains folded automatically
    assert np.mean(float_stock.spikes == reference_run(spec, x)) >= 0.999


def test_stock_lava_refuses_what_it_cannot_express():
    spec, _ = random_spec(5)
    with pytest.raises(StockLavaError, match="spiking bias"):
        to_stock_lava(spec)
    spec2, _ = random_spec(5, spiking_bias=False)
    with pytest.raises(StockLavaError, match="subtract"):
        to_stock_lava(spec2)  # layer 1 resets by subtraction
    spec2.layers[1].neuron = spec2.layers[1].neuron._replace(reset_subtract=False)
    q, _ = quantize(spec2)  # gains kept
    with pytest.raises(StockLavaError, match="fold_gains=True"):
        to_stock_lava(q)
    with pytest.raises(StockLavaError, match="fold_gains=False"):
        to_stock_lava(spec2, fold_gains=False)


# ---- registers ----------------------------------------------------------------------------
def _layer(W, **kw):
    n = W.shape[0]
    p = dict(du=1.0, dv=0.0, vth=1.0, reset="zero")
    p.update(kw)
    return LayerSpec(np.asarray(W, dtype=np.float64), ntlif_parameters(n, **p))


@pytest.mark.parametrize("sign", ["mixed", "positive", "negative"])
def test_weight_mantissas_survive_lava_truncation(sign):
    rng = np.random.default_rng(6)
    W = rng.normal(0, 0.3, (12, 10))
    if sign == "positive":
        W = np.abs(W)
    elif sign == "negative":
        W = -np.abs(W)
    q, rep = quantize(NetworkSpec(10, [_layer(W)]))
    mant = np.asarray(q.layers[0].weight)
    np.testing.assert_array_equal(dense_effective_weights(mant), mant)
    assert np.all(mant % 2 == 0) and np.abs(mant).max() <= 254
    # the default scale fills the mantissa range: the largest weight maps to +-254
    assert np.abs(mant).max() == 254
    S, e = rep.layers[0].scale, q.layers[0].weight_exp
    deq = mant * 2.0 ** (e + 6) / S
    step = 2.0 ** (e + 7) / S
    assert np.abs(deq - W).max() <= step / 2 + 1e-15
    assert rep.layers[0].tensors["weight"].max_rel_range_error <= 0.5 / 127 + 1e-12


def test_bias_exponent_modes():
    rng = np.random.default_rng(7)
    W = rng.normal(0, 0.3, (16, 8))
    b = rng.normal(0, 1, 16) * np.logspace(-4, 0, 16)
    spec = NetworkSpec(8, [_layer(W, bias=b)])
    qn, rn = quantize(spec, bias_exp="neuron")
    ql, rl = quantize(spec, bias_exp="layer")
    q6, r6 = quantize(spec, bias_exp=6)
    pn, pl, p6 = qn.layers[0].neuron, ql.layers[0].neuron, q6.layers[0].neuron
    assert len(set(np.asarray(pl.bias_exp).tolist())) == 1
    assert set(np.asarray(p6.bias_exp).tolist()) == {6}
    # per neuron: the smallest exponent whose mantissa fits (so exp 0 or a large mantissa)
    en, mn = np.asarray(pn.bias_exp), np.asarray(pn.bias_mant)
    assert np.all((en == 0) | (np.abs(mn) > BIAS_MANT_MAX // 2))
    err = {m: r.layers[0].tensors["bias"].max_abs_error for m, r in (("n", rn), ("l", rl))}
    assert err["n"] <= err["l"]
    # per-neuron exponents run on Lava's / the emulator's arithmetic like any other
    S = rn.layers[0].scale
    np.testing.assert_allclose(mn * 2.0**en / S, b, atol=0.5 * 2.0 ** en.max() / S)


def test_decays_thresholds_and_their_limits():
    W = np.full((4, 3), 0.5)
    # dv = 1 is not representable: clipped to 4095 and reported
    q, rep = quantize(NetworkSpec(3, [_layer(W, dv=1.0, du=0.25)]))
    p = q.layers[0].neuron
    assert (p.du, p.dv) == (1023, DECAY_MAX)
    tq = rep.layers[0].tensors["dv"]
    assert tq.n_clipped == 1 and tq.worst_clipped == 1.0
    assert tq.clip_limit == pytest.approx(DECAY_MAX / 4096)
    assert "dv" in rep.to_markdown() and any("dv clipped" in w for w in rep.layers[0].warnings)
    # du = 0 (no current decay) is not representable at all
    with pytest.raises(QuantizationError, match="du=0"):
        quantize(NetworkSpec(3, [_layer(W, du=0.0)]))
    # a threshold tiny against the weights: no scale holds both
    with pytest.raises(QuantizationError, match="dynamic range too wide"):
        quantize(NetworkSpec(3, [_layer(W * 1e4, vth=1e-3)]))
    # a forced scale whose threshold rounds below one unit
    with pytest.raises(QuantizationError, match="threshold"):
        quantize(NetworkSpec(3, [_layer(W, vth=1.0)]), scales=[16.0])
    # the automatic threshold is in 17 bits and as large as the limits allow
    q, rep = quantize(NetworkSpec(3, [_layer(W * 1e-3, vth=1.0)]))
    assert VTH_MAX // 2 < q.layers[0].neuron.vth <= VTH_MAX


def test_forced_scale_reports_clipped_and_zeroed_values():
    rng = np.random.default_rng(8)
    W = rng.normal(0, 1, (10, 20))
    spec = NetworkSpec(20, [_layer(W, vth=1.0, bias=rng.normal(0, 1, 10))])
    S = 2.0**22  # weights above ~0.5 would need weight_exp > 7 at this scale
    q, rep = quantize(spec, scales=[S])
    lq = rep.layers[0]
    assert lq.scale == S and lq.scale_limit == "given" and lq.weight_exp == 7
    unit = 2.0 ** (7 + 7) / S
    k = W / unit
    want_clipped = int(np.sum(np.abs(np.sign(k) * np.floor(np.abs(k) + 0.5)) > 127))
    want_zeroed = int(np.sum((np.abs(k) < 0.5) & (W != 0)))
    tq = lq.tensors["weight"]
    assert want_clipped > 0 and tq.n_clipped == want_clipped
    assert tq.n_zeroed == want_zeroed
    worst = W.ravel()[np.argmax(np.abs(W))]
    assert tq.worst_clipped == worst
    assert tq.clip_limit == pytest.approx(np.sign(worst) * 127 * unit)
    assert rep.n_clipped >= want_clipped and not rep.exact
    assert lq.tensors["bias"].n_clipped == int(np.sum(np.abs(spec.layers[0].neuron.bias) * S
                                                      > BIAS_MANT_MAX * 128 + 64))  # fmt: skip
    assert (0, "weight", want_clipped, worst, tq.clip_limit) in rep.clipped()
    # small weights at a small scale round to zero and are counted
    q2, rep2 = quantize(spec, scales=[64.0])
    k2 = W * 64.0 / 64.0  # e = -1: unit 64 / S = 1
    assert rep2.layers[0].tensors["weight"].n_zeroed == int(np.sum(np.abs(k2) < 0.5))


def test_spiking_bias_registers():
    rng = np.random.default_rng(9)
    n, m, n_in = 12, 4, 10
    mask = rng.random((m, n_in)) < 0.5
    w_b = np.array([0.3, -0.2, 0.05, -0.4])
    sb = SpikingBiasSpec(
        rng.normal(0, 0.5, (m, n_in)) * mask,
        spiking_bias_parameters(
            m, n, du=0.5, dv=0.25, vth=0.8, w_b=w_b, c_retention=0.0, group="contiguous"
        ),  # fmt: skip
        mask,
    )
    spec = NetworkSpec(n_in, [LayerSpec(rng.normal(0, 0.3, (n, n_in)), ntlif_parameters(n), sb)])
    q, rep = quantize(spec)
    fsb = q.layers[0].spiking_bias
    pb = fsb.params
    S = rep.layers[0].scale
    # w_b is in the TARGET layer's voltage units
    wb = np.asarray(pb.w_b_mant) * 2.0 ** np.asarray(pb.w_b_exp)
    np.testing.assert_allclose(wb / S, w_b, rtol=1.0 / WB_MANT_MAX)
    assert pb.du == 2047 and pb.dv == 1024
    # c_retention = 0 needs dc = 4096: clipped to 4095 and reported
    np.testing.assert_array_equal(pb.dc, np.full(m, DECAY_MAX))
    assert rep.layers[0].tensors["sb.c_retention"].n_clipped == m
    np.testing.assert_array_equal(np.asarray(fsb.w_in)[~mask], 0)
    np.testing.assert_array_equal(fsb.mask, mask)
    np.testing.assert_array_equal(pb.group, np.repeat(np.arange(m), n // m))
    assert rep.layers[0].spiking_bias["scale"] > 0
    # one current decay per bias neuron
    c_retention = np.array([0.5, 0.6, 0.7, 0.8])
    sb.params = sb.params._replace(c_retention=c_retention)
    q, rep = quantize(spec)
    dc = np.asarray(q.layers[0].spiking_bias.params.dc)
    np.testing.assert_array_equal(dc, np.round((1 - c_retention) * 4096))
    assert rep.layers[0].tensors["sb.c_retention"].n_clipped == 0


def test_netx_target_constraints():
    rng = np.random.default_rng(10)
    spec = NetworkSpec(8, [_layer(rng.normal(0, 1, (6, 8)), bias=rng.normal(0, 0.5, 6),
                                  du=0.5, dv=0.1, vth=1.5)])  # fmt: skip
    q, rep = quantize(spec, target="netx")
    ls = q.layers[0]
    assert ls.weight_exp <= 0 and set(np.asarray(ls.neuron.bias_exp).tolist()) == {6}
    assert rep.target == "netx" and rep.fold_gains
    spec.layers[0].neuron = spec.layers[0].neuron._replace(reset_subtract=True)
    with pytest.raises(QuantizationError, match="subtract"):
        quantize(spec, target="netx")


def test_report_serialisation_and_text():
    spec, _ = random_spec(11)
    _, rep = quantize(spec)
    d = rep.to_dict()
    back = QuantReport.from_dict(d)
    assert back.to_dict() == d
    md = rep.to_markdown()
    for k in range(len(spec.layers)):
        assert f"| {k} | weight |" in md and f"| {k} (spiking bias) |" in md
    assert "layer 0: S=" in rep.summary()


def test_quantize_rejects_bad_arguments():
    spec, _ = random_spec(12, spiking_bias=False)
    with pytest.raises(ValueError, match="target"):
        quantize(spec, target="loihi3")
    with pytest.raises(ValueError, match="bias_exp"):
        quantize(spec, bias_exp=9)
    with pytest.raises(ValueError, match="scales"):
        quantize(spec, scales=[1.0])
    q, _ = quantize(spec)
    with pytest.raises(ValueError, match="already fixed point"):
        quantize(q)
