"""QAT for networks that end in an integrator readout and for graded (real-valued) input.

Proved here: the QAT forward's readout values and every layer's spikes equal the fixed-point
emulator's (``run_fixed(to_fixed_spec())``) and Lava fixed point's bit for bit, on random
networks with every reduction, both resets, spiking biases, spike and graded input; the readout's
registers (and the graded first layer's) equal the quantiser's at the same scales, also after
latents are pushed beyond the registers; gradients reach the readout and the layers with the
float network's direction and magnitude; a network trained with the readout loss deploys on Lava
with the training forward's decisions; the model file keeps the readout and input scales.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from lava_nt.converters.quantize import quantize
from lava_nt.converters.quantize.scale import encode_graded_input, graded_input_scale
from lava_nt.decode import output_predictions
from lava_nt.nn.fixed_emulator import run_fixed
from lava_nt.nn.network import NTNetwork
from lava_nt.nn.readout import readout_loss
from lava_nt.qat import QATError, QATNetwork, fixed_spec_differences
from lava_nt.spec.fixed import UV_MAX
from lava_nt.spec.readout import ReadoutSpec, readout_parameters
from lava_nt.spec.validation import ParameterError
from lava_nt.testing import random_input, random_spec
from lava_nt.training import TrainConfig, evaluate, train
from lava_nt.tuning import apply_tuning

ALL = {"weight": True, "bias": True, "gain": True, "w_in": True, "w_b": True, "c_retention": True}
RO_ALL = {"weight": True, "bias": True}


def _spec(seed: int, *, reduce="last", graded=False, resets=("zero", "subtract"), sb=False):
    return random_spec(
        seed, (14, 12, 10), readout=3, readout_reduce=reduce, graded=graded, resets=resets,
        spiking_bias=sb,
    )  # fmt: skip


def _x(seed: int, T: int, B: int, n_in: int, graded: bool) -> torch.Tensor:
    return torch.as_tensor(random_input(seed, T, B, n_in, graded=graded))


# ---- 1. forward == emulator ---------------------------------------------------------------------
@pytest.mark.parametrize("engine", ["fused", "autograd"])
@pytest.mark.parametrize(
    "seed,reduce,graded,sb",
    [(0, "last", False, False), (1, "mean", False, True), (2, "max", True, False),
     (3, "mean", True, True)],
)  # fmt: skip
def test_forward_is_the_fixed_point_network(seed, reduce, graded, sb, engine, qat_checks):
    spec = _spec(seed, reduce=reduce, graded=graded, sb=sb)
    x = _x(seed, 20, 16, spec.n_in, graded)
    qat = QATNetwork(spec, trainable=ALL, readout_trainable=RO_ALL,
                     input_scale=graded_input_scale(spec, x))  # fmt: skip
    for layer in qat.layers:
        layer.engine = engine
    out, rates = qat_checks.emulator(qat, x)
    assert all(0.02 < r < 0.9 for r in rates), rates  # not a trivial comparison
    assert float(out.abs().max()) > 1000  # integer readout values, not a zero trace
    # the values the loss takes: the integer reduction over S_r (same decisions as the integers)
    emu = run_fixed(qat.to_fixed_spec(), qat.fixed_input(x).to(torch.int64))
    with torch.no_grad():
        v = qat.values(qat(x))
    np.testing.assert_array_equal(
        v.argmax(-1).numpy(), output_predictions(emu.output.numpy(), 3, reduce)
    )
    qat_checks.emulator(qat, x[0], static_T=12)


@pytest.mark.parametrize("input_scale", [None, 1.0, 10.0, 37.5])
def test_graded_input_enters_as_the_rounded_scaled_integers(input_scale, qat_checks):
    """Any scale (not only powers of two): the first layer's registers and the forward follow
    the quantiser's input scaling; no readout needed."""
    spec = dataclasses.replace(random_spec(4, (14, 12, 10), graded=True), readout=None)
    x = _x(4, 16, 12, spec.n_in, True) * 3.0 - 1.0  # negative values too
    if input_scale is None:
        x = torch.round(x * 20.0)  # integer data enter as they are
    qat = QATNetwork(spec, trainable={"bias": True}, input_scale=input_scale)
    assert qat.input_scale == (1.0 if input_scale is None else input_scale)
    xi = qat.fixed_input(x)
    np.testing.assert_array_equal(xi.numpy(), encode_graded_input(x.numpy(), input_scale))
    _, rates = qat_checks.emulator(qat, x)
    assert all(0.02 < r < 0.9 for r in rates), rates
    q, rep = quantize(spec, input_scale=input_scale)
    assert fixed_spec_differences(q, qat.to_fixed_spec()) == []
    assert qat.quantized()[1].input_scale == rep.input_scale == qat.input_scale


def test_readout_u_wraps_and_v_saturates_bit_exactly(qat_checks):
    """A readout that accumulates (du = 0, dv = 1) at a forced large scale: u wraps at 24 bits
    and v saturates, as in Lava."""
    spec = _spec(5)
    n = spec.readout.n
    rng = np.random.default_rng(5)
    ro = ReadoutSpec(
        np.abs(rng.normal(0, 1.0, (n, spec.layers[-1].n))),
        readout_parameters(n, du=0.0, dv=1.0, bias=np.full(n, 0.5), reduce="max"),
    )
    spec = dataclasses.replace(spec, readout=ro)
    qat = QATNetwork(spec, readout_scale=2.0e5)
    x = _x(5, 40, 8, spec.n_in, False)
    out, _ = qat_checks.emulator(qat, x)
    assert float(out.abs().max()) == UV_MAX  # v saturated
    with torch.no_grad():  # the current without the wrap would exceed 24 bits
        _, recs = qat(x, record=True)
        r = qat.readout.registers()
        a = torch.matmul(recs[-1]["spikes"], r[1].T) * 2.0 ** (7 + r[2])
    assert float(a.cumsum(0).abs().max()) > UV_MAX


# ---- 2. registers == the quantiser's ------------------------------------------------------------
def _push_readout(qat: QATNetwork, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    ro = qat.readout
    with torch.no_grad():
        ro.weight.add_(torch.randn(ro.weight.shape, generator=g, dtype=torch.float64) * 0.3)
        ro.bias.add_(torch.randn(ro.n, generator=g, dtype=torch.float64) * 500 / ro.S)
        ro.bias[0] = 1e7 / ro.S  # beyond 4095 << 7
        ro.bias[1] = 4095.5 / ro.S  # exponent boundary
        ro.weight[0, 0] = 50.0  # the weight exponent follows the largest weight
        for layer in qat.layers:
            layer.bias.add_(torch.randn(layer.n, generator=g, dtype=torch.float64) * 200 / layer.S)
            layer.weight.add_(torch.randn(layer.weight.shape, generator=g,
                                          dtype=torch.float64) * 0.05)  # fmt: skip


@pytest.mark.parametrize("bias_exp", ["neuron", "layer", 6])
@pytest.mark.parametrize("seed,graded,power_of_two", [(6, False, False), (7, True, True),
                                                       (8, True, False)])  # fmt: skip
def test_registers_equal_the_quantizer(seed, graded, power_of_two, bias_exp, qat_checks):
    spec = _spec(seed, reduce="mean", graded=graded, sb=True)
    x = _x(seed, 4, 4, spec.n_in, graded)
    s_x = graded_input_scale(spec, x)
    qat = QATNetwork(spec, trainable=ALL, readout_trainable=RO_ALL, input_scale=s_x,
                     bias_exp=bias_exp, power_of_two=power_of_two)  # fmt: skip
    q, rep = quantize(spec, input_scale=s_x, bias_exp=bias_exp, power_of_two=power_of_two)
    assert fixed_spec_differences(q, qat.to_fixed_spec()) == []
    assert qat.readout_scale == rep.readout.scale and qat.scales == [lq.scale for lq in rep.layers]
    _push_readout(qat, seed)
    fixed = qat.to_fixed_spec(check=True)  # raises QATError on any difference
    q2, _ = quantize(
        qat.to_float_spec(), scales=qat.scales, bias_scales=qat.bias_scales, bias_exp=bias_exp,
        input_scale=s_x, readout_scale=qat.readout_scale,
    )  # fmt: skip
    assert fixed_spec_differences(q2, fixed) == []
    assert int(np.abs(fixed.readout.params.bias_mant).max()) == 4095  # clipped, as the quantiser
    qat.constrain_()  # clamps the latent to the register's limit: same registers
    assert fixed_spec_differences(fixed, qat.to_fixed_spec()) == []
    assert float(qat.readout.bias.detach()[0]) < 1e7 / qat.readout.S
    qat_checks.emulator(qat, _x(seed, 12, 6, spec.n_in, graded))


def test_a_readout_disagreement_is_reported():
    qat = QATNetwork(_spec(9), readout_trainable=RO_ALL)
    q, _ = qat.quantized()
    q.readout.params.bias_mant[0] += 1
    with pytest.raises(QATError, match="readout bias_mant"):
        qat.check_against_quantizer(q)
    q, _ = qat.quantized()
    q.readout.weight[0, 0] += 2
    assert fixed_spec_differences(q, qat.to_fixed_spec()) == ["readout weight"]
    assert fixed_spec_differences(dataclasses.replace(q, readout=None), q) == ["readout"]
    assert "input kind" in fixed_spec_differences(dataclasses.replace(q, input="graded"), q)


# ---- 3. gradients -------------------------------------------------------------------------------
def _readout_grads(qat: QATNetwork, x, y, engine: str) -> dict[str, torch.Tensor]:
    for layer in qat.layers:
        layer.engine = engine
    qat.zero_grad(set_to_none=True)
    readout_loss(qat.values(qat(x)), y).backward()
    return {n: p.grad.clone() for n, p in qat.named_parameters()}


@pytest.mark.parametrize("reduce", ["last", "mean", "max"])
def test_readout_gradients_reach_every_parameter_and_fused_equals_autograd(reduce):
    spec = _spec(10, reduce=reduce, sb=True)
    qat = QATNetwork(spec, trainable=ALL, readout_trainable=RO_ALL)
    x = _x(10, 20, 24, spec.n_in, False)
    y = torch.as_tensor(np.random.default_rng(10).integers(0, 3, 24))
    g_ref = _readout_grads(qat, x, y, "autograd")
    g_fused = _readout_grads(qat, x, y, "fused")
    assert {"readout.weight", "readout.bias"} <= set(g_fused)
    for name, g in g_fused.items():
        assert torch.isfinite(g).all(), name
        assert float(g.abs().max()) > 0, f"no gradient reaches {name}"
        torch.testing.assert_close(g, g_ref[name], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("graded", [False, True])
def test_readout_loss_gradient_follows_the_float_network(graded):
    """Values in float units: the readout-loss gradients of QAT and float point the same way with
    the same magnitude (readout weights and the layers' biases)."""
    spec = _spec(11, reduce="mean", graded=graded, resets=("subtract", "subtract"))
    x = _x(11, 25, 64, spec.n_in, graded)
    y = torch.as_tensor(np.random.default_rng(11).integers(0, 3, 64))
    # the scales at which u cannot wrap for inputs in [0, 1): the quantiser's own no-wrap bound
    # assumes inputs of at most 1 in integer units, which graded integers (up to 255) exceed
    _, rep = quantize(dataclasses.replace(spec, input="spikes"))
    qat = QATNetwork(spec, trainable={"bias": True}, readout_trainable={"weight": True},
                     input_scale=graded_input_scale(spec, x),
                     scales=[lq.scale for lq in rep.layers])  # fmt: skip
    net = NTNetwork.from_spec(spec, trainable_weight=False, trainable_bias=True)
    net.readout.linear.weight.requires_grad_(True)
    (oq, rq), (of, rf) = qat(x, record=True), net(x, record=True)
    for a, b in zip(rq, rf, strict=True):
        assert float((a["spikes"] == b["spikes"]).double().mean()) > 0.95
    vq, vf = qat.values(oq), net.values(of)
    readout_loss(vq, y).backward()
    readout_loss(vf, y).backward()
    pairs = [(qat.readout.weight.grad, net.readout.linear.weight.grad)]
    pairs += [(lq.bias.grad, lf.neuron.bias.grad) for lq, lf in zip(qat.layers, net.layers,
                                                                    strict=True)]  # fmt: skip
    for gq, gf in pairs:
        gq, gf = gq.flatten(), gf.flatten()
        cos = float(torch.dot(gq, gf) / (gq.norm() * gf.norm()))
        ratio = float(gq.norm() / gf.norm())
        assert cos > 0.9 and 0.7 < ratio < 1.4, (cos, ratio)


# ---- 4. trained with the readout loss, deployed on Lava -----------------------------------------
def _task(seed: int, n: int, n_in: int, graded: bool):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    centre = np.stack([np.roll(np.linspace(0.1, 0.8, n_in), 4 * c) for c in range(3)])
    p = centre[y]
    x = rng.random((n, n_in)) * p * 2.0 if graded else (rng.random((n, n_in)) < p)
    return torch.as_tensor(x.astype(np.float64)), torch.as_tensor(y)


@pytest.mark.parametrize("graded", [False, True])
def test_tuned_readout_network_deploys_on_lava_with_the_training_decisions(graded):
    from lava_nt.converters.lava_graph import run_network

    spec = _spec(12, reduce="mean", graded=graded, resets=("subtract", "zero"), sb=True)
    net = NTNetwork.from_spec(spec)
    apply_tuning(net, ["nt1", "nt2"], seed=0)
    x, y = _task(12, 48, spec.n_in, graded)
    qat = QATNetwork(net, input_scale=graded_input_scale(spec, x))
    before = qat.integer_parameters()
    cfg = TrainConfig(epochs=3, lr=3e-2, batch_size=16, T=10, select="last", n_classes=3)
    train(qat, (x, y), cfg)
    after = qat.integer_parameters()
    assert [k for k in after if not np.array_equal(before[k], after[k])], "no register moved"
    assert all(np.array_equal(before[k], after[k]) for k in after if k.startswith("readout"))
    acc = evaluate(qat, x, y, cfg)["acc"]
    with torch.no_grad():
        out, recs = qat.forward_static(x, cfg.T, record=True)
    xs = qat.fixed_input(x.unsqueeze(0).expand(cfg.T, *x.shape)).numpy()
    lava = run_network(qat.to_fixed_spec(), np.ascontiguousarray(xs), "fixed", record=True)
    assert lava.has_readout
    np.testing.assert_array_equal(out.numpy(), lava.output)
    for r, lr in zip(recs, lava.layers, strict=True):
        np.testing.assert_array_equal(r["spikes"].numpy(), lr["spikes"])
    pred = output_predictions(lava.output, 3, "mean")
    assert float(np.mean(pred == y.numpy())) == pytest.approx(acc)


# ---- 5. plumbing --------------------------------------------------------------------------------
def test_model_file_round_trip_keeps_the_readout_and_input_scales(tmp_path):
    spec = _spec(13, reduce="max", graded=True)
    qat = QATNetwork(spec, readout_trainable=RO_ALL, input_scale=12.5, readout_scale=3.0e4)
    _push_readout(qat, 13)
    path = qat.save(tmp_path / "q.h5", meta={"n_classes": 3})
    back = QATNetwork.load(path, readout_trainable={"bias": True})
    assert back.input_scale == 12.5 and back.readout_scale == 3.0e4 and back.graded
    assert fixed_spec_differences(back.to_fixed_spec(), qat.to_fixed_spec()) == []
    assert back.trainable_summary()["readout.bias"] == 3 and back.n_out == 3
    x = _x(13, 10, 5, spec.n_in, True)
    with torch.no_grad():
        assert torch.equal(back(x), qat(x))
    ints = qat.integer_parameters()
    assert ints["readout.weight"].dtype.kind == "i" and ints["readout.bias_mant"].shape == (3,)


def test_refusals():
    spec = _spec(14)
    with pytest.raises(QATError, match="unknown readout trainable kind 'gain'"):
        QATNetwork(spec, readout_trainable={"gain": True})
    with pytest.raises(QATError, match="no readout"):
        QATNetwork(dataclasses.replace(spec, readout=None), readout_trainable={"bias": True})
    with pytest.raises(QATError, match="graded"):
        QATNetwork(spec, input_scale=4.0)
    qat = QATNetwork(_spec(14, graded=True), input_scale=2.0**21)
    with pytest.raises(ParameterError, match="graded-input payload"):
        qat(torch.full((3, 2, spec.n_in), 5.0))
    with pytest.raises(ParameterError, match="no readout"):
        QATNetwork(dataclasses.replace(spec, readout=None)).values(torch.zeros(3, 2, 10))
