"""Gain and spiking-bias weight learning (lava_nt.spec.learning, lava_nt.ondevice): the integer
rules by hand (pre-shifts, rounding, saturation, int64 bounds), the float rules, the twin on a
network small enough to compute by hand, the direction of the updates, the torch twin against
the numpy twin, the tuned model, and clear errors. Lava against the twin:
tests/processes/test_ondevice_lava_learn.py."""

import numpy as np
import pytest
import torch

from lava_nt.network import LayerSpec, NetworkSpec, run_reference
from lava_nt.ondevice import (
    OnDeviceRule,
    check_rule,
    fixed_update_rates,
    make_rule,
    run_twin,
    run_twin_torch,
    sb_weight_headroom,
    tuned_spec,
)
from lava_nt.spec.fixed import GAIN_MAX, GAIN_MIN, WB_MANT_MAX, fixed_ntlif_parameters
from lava_nt.spec.learning import (
    ELIG_BITS,
    GROUP_SUM_MAX,
    FixedRate,
    Rate,
    fixed_gain_delta,
    fixed_gain_eligibility_step,
    fixed_gain_update,
    fixed_rate,
    fixed_sb_eligibility_step,
    fixed_sb_signal,
    fixed_sb_trace_step,
    fixed_sb_weight_update,
    gain_eligibility_step,
    gain_update,
    group_matrix,
    group_sum,
    rate,
    sb_signal,
    sb_trace_step,
    sb_weight_update,
)
from lava_nt.spec.ntlif import ntlif_parameters
from lava_nt.spec.spiking_bias import spiking_bias_parameters
from lava_nt.spec.validation import ParameterError
from lava_nt.testing import random_input, random_spec, two_neuron_input, two_neuron_spec

SAT = (1 << (ELIG_BITS - 1)) - 1


def _both(fn, *args):
    """``fn`` on numpy int64 arrays and on torch int64 tensors: the same list."""
    a = fn(*(np.asarray(x) if isinstance(x, list) else x for x in args)).tolist()
    b = fn(*(torch.tensor(x) if isinstance(x, list) else x for x in args)).tolist()
    assert a == b
    return a


# ---- the integer rules by hand -------------------------------------------------------------
def test_fixed_gain_eligibility_pre_shift_and_saturation():
    # x = u + (bias_mant << bias_exp) = [1012, 100000, -1000, 5]; rshift_round(x, 8) =
    # [3.95 -> 4, 390.6 -> 391, -3.9 -> -4, 0.02 -> 0]; inc 0 adds nothing; SAT - 5 + 391 clips
    got = _both(fixed_gain_eligibility_step, [0, SAT - 5, 10, 7], [1, 1, 1, 0],
                [1000, 100000, -1000, 5], [3, 0, 0, 0], [2, 0, 0, 0])  # fmt: skip
    assert got == [4, SAT, 6, 7]


def test_fixed_gain_update_rounds_and_saturates_12_bits():
    r = FixedRate(eta_mant=5, eta_shift=4)
    # 5*3*100/16 = 93.75 -> 94 ; 5*10*1000/16 = 3125 -> 2047 ; -3125 -> -2048 ; 5*1*1/16 -> 0
    got = _both(lambda *a: fixed_gain_update(*a, r), [256, 2040, -2040, 256], [3, 10, -10, 1],
                [100, 1000, 1000, 1])  # fmt: skip
    assert got == [350, GAIN_MAX, GAIN_MIN, 256]
    # l is saturated to 24 bits before the product: |eta * l * elig| < 2**58 stays in int64
    big = fixed_gain_delta(np.array([1 << 40]), np.array([SAT]), FixedRate(4095, 0))
    assert big[0] == 4095 * SAT * SAT < 2**63


def test_fixed_trace_decays_like_the_current_and_saturates():
    # dc 0 keeps everything, 2048 halves (truncating), 4095 keeps 1/4096 (-> 0 here); a spike
    # adds 2**8
    got = _both(fixed_sb_trace_step, [0, 256, 1000, SAT], [True, False, True, True],
                [0, 2048, 4095, 0])  # fmt: skip
    assert got == [256, 128, 256, SAT]
    assert _both(fixed_sb_eligibility_step, [5, SAT], [1, 1], [300, 300]) == [305, SAT]


def test_fixed_weight_signal_group_sum_and_update():
    # q = sat24(rshift_round(l * elig_w, 8)): 900/256 = 3.5 -> 4 (half away), -4
    assert _both(fixed_sb_signal, [3, -3, 1 << 30], [300, 300, SAT]) == [4, -4, SAT]
    G = group_matrix(np.array([0, 0, 1, 1, 1]), 2)
    assert group_sum(np.array([1, 2, 3, 4, 5]), G).tolist() == [3, 12]
    assert group_sum(torch.tensor([1, 2, 3, 4, 5]), torch.tensor(G)).tolist() == [3, 12]
    assert group_sum(np.array([1, 2]), None).tolist() == [1, 2]
    r = FixedRate(eta_mant=3, eta_shift=2)
    # 3*7/4 = 5.25 -> 5 ; 3e6/4 saturates the 13-bit mantissa ; Q is clipped to 2**47 - 1
    got = _both(lambda *a: fixed_sb_weight_update(*a, r), [100, 4090, 0], [7, 10**6, -(1 << 60)])
    assert got == [105, WB_MANT_MAX, -4096]
    top = fixed_sb_weight_update(np.array([0]), np.array([1 << 60]), FixedRate(1, 48))
    assert top[0] == (GROUP_SUM_MAX + (1 << 47)) >> 48  # = 1: the clip held Q below 2**47


def test_float_rules():
    assert gain_eligibility_step(1.0, 1.0, 0.25, 0.5) == 1.75
    assert gain_update(1.0, -2.0, 3.0, Rate(0.1)) == pytest.approx(0.4, abs=1e-15)
    assert sb_trace_step(2.0, 1.0, 0.5) == 2.0
    assert sb_signal(2.0, 3.0) == 6.0
    assert sb_weight_update(0.5, 4.0, Rate(0.25)) == 1.5


# ---- the twin by hand ------------------------------------------------------------------------
def test_float_gain_twin_by_hand():
    spec = two_neuron_spec(False)
    rule = make_rule(spec, 4, 2, learn="gain", eta_gain=0.1, band=0.5)
    res = run_twin(spec, rule, two_neuron_input(1), np.array([0]))
    # neuron 0: u + b = 2, eligible 4 steps -> elig_g 8; neuron 1: u + b = 0.6, eligible 4
    # steps (0.6, 1.2*, 0.6, 1.2*) -> 2.4. e = [2 - 4, 0 - 2]; g += 0.1 * -2 * elig_g
    np.testing.assert_allclose(res.gains[0], [1 - 1.6, 1 - 0.48], rtol=0, atol=1e-15)
    assert res.biases[0].tolist() == [0.0, 0.6]  # biases do not learn here
    assert res.sb_weights == {}


def test_fixed_gain_twin_by_hand():
    spec = two_neuron_spec(True)
    rule = make_rule(spec, 4, 2, learn=("bias", "gain"), eta_mant=3, eta_shift=1,
                     eta_gain_mant=3, eta_gain_shift=1, band=0.5)  # fmt: skip
    res = run_twin(spec, rule, two_neuron_input(1), np.array([0]))
    # neuron 0: x = 128 -> rshift_round(128, 8) = 1 per eligible step -> elig_g 4; neuron 1:
    # x = 40 -> 0. e = [-2, -2]: gain delta round(3 * -2 * 4 / 2) = -12 and 0; the bias rule
    # as in test_ondevice_rule (-12 each)
    assert res.gains[0].tolist() == [244, 256]
    assert res.biases[0].tolist() == [-12, 28]


def _sbtwo_neuron_spec(fixed: bool) -> NetworkSpec:
    """1 input -> 2 neurons sharing one bias neuron that spikes every step (weight 2 on the
    input; volumetric: group [0, 0]); the neurons get no synaptic input."""
    if fixed:
        from lava_nt.spec.fixed import fixed_spiking_bias_parameters  # lazy: fixed case only

        sbp = fixed_spiking_bias_parameters(1, 2, du=4095, dv=0, vth=1, w_b_mant=[16],
                                            w_b_exp=[0], dc=[2048], group=[0, 0])  # fmt: skip
        p = fixed_ntlif_parameters(2, du=4095, dv=4095, vth=1, bias_mant=[0, 0], bias_exp=0)
        w, w_in = np.zeros((2, 1), np.int64), np.array([[2]])
    else:
        sbp = spiking_bias_parameters(1, 2, du=1.0, dv=0.0, vth=1.0, w_b=[0.2],
                                      c_retention=[0.5], group=[0, 0])  # fmt: skip
        p = ntlif_parameters(2, du=1.0, dv=1.0, vth=1.0)
        w, w_in = np.zeros((2, 1)), np.array([[2.0]])
    from lava_nt.network import SpikingBiasSpec  # lazy: as LayerSpec above

    return NetworkSpec(1, [LayerSpec(w, p, SpikingBiasSpec(w_in, sbp))], fixed=fixed)


def test_float_weight_twin_by_hand():
    spec = _sbtwo_neuron_spec(False)
    rule = make_rule(spec, 3, 2, learn="sb_weight", eta_sb=0.1, band=0.9)
    res = run_twin(spec, rule, np.ones((3, 1, 1)), np.array([0]))
    # the bias neuron spikes each step: trace 1, 1.5, 1.75; C = 0.2 * trace; dv = 1 so
    # v = C = 0.2, 0.3, 0.35 > vth - band = 0.1: every step eligible, no spike.
    # elig_w = 4.25 for both; target [1.5, 0] (T * 0.5), count 0 -> e = [1.5, 0]
    # Q = 1.5 * 4.25 + 0 = 6.375 -> w = 0.2 + 0.6375
    np.testing.assert_allclose(res.sb_weights[0], [0.8375], rtol=0, atol=1e-15)
    assert res.gains == {} and res.biases[0].tolist() == [0.0, 0.0]


def test_fixed_weight_twin_by_hand():
    spec = _sbtwo_neuron_spec(True)
    rule = make_rule(spec, 3, 2, learn="sb_weight", eta_sb_mant=5, eta_sb_shift=2, band=0.9)
    res = run_twin(spec, rule, np.ones((3, 1, 1)), np.array([0]))
    # trace (dc 2048 halves): 256, 384, 448; C = 16, 24, 28 (dv 4095 keeps 1/4096 of v: v = C)
    # band round(0.9 * 64) = 58 -> v > 6 eligible each step: elig_w = 1088 for both neurons.
    # target [round(1.5) = 2, 0], count 0: e = [2, 0]; q = [round(2 * 1088 / 256) = 9 (8.5),
    # 0]; Q = 9; w_b_mant = 16 + round(5 * 9 / 4) = 16 + 11 (11.25)
    assert res.sb_weights[0].tolist() == [27]


# ---- direction, defaults, torch = numpy, tuned model ----------------------------------------
def test_gain_step_follows_the_error():
    """One learning step on a sample that under-spikes raises g where u + b > 0 (and lowers it
    where the neuron over-spikes), and the next presentation comes closer to the target."""
    p = ntlif_parameters(2, du=1.0, dv=0.5, vth=1.0, bias=[0.1, 0.1])
    spec = NetworkSpec(2, [LayerSpec(np.array([[0.5, 0.0], [0.0, 1.5]]), p)])
    x = np.ones((10, 2, 2))
    # label 0: neuron 0 (v settles at 2 * 0.6 = 1.2 -> spikes rarely) should reach 5 spikes,
    # neuron 1 (strongly driven) should be silent
    rule = make_rule(spec, 10, 2, learn="gain", eta_gain=0.02, band=0.5)
    res = run_twin(spec, rule, x, np.array([0, 0]), learn=[1, 0])
    before, after = res.output[:, 0].sum(0), res.output[:, 1].sum(0)
    assert before[0] < 5 and before[1] > 0
    assert res.gains[0][0] > 1.0 > res.gains[0][1]
    loss = [0.5 * ((np.array([5.0, 0.0]) - c) ** 2).sum() for c in (before, after)]
    assert loss[1] < loss[0]


def test_default_rule_learns_biases_only():
    spec = random_spec(3, (8, 6, 4), spiking_bias=True, excitatory=(0, 1))
    rule = make_rule(spec, 5, 2)
    assert rule.learn == ("bias",) and rule.gain_params == [] and rule.sb_params == []
    res = run_twin(spec, rule, random_input(4, 5, 3, 8), np.array([0, 1, 0]))
    assert res.gains == {} and res.sb_weights == {}


CASES = [  # (seed, fixed, spiking_bias, graded, layers)
    (21, False, ("per_neuron", "volumetric"), False, None),
    (22, True, ("volumetric", "per_neuron"), False, None),
    (23, True, ("shuffled", None), True, [0, 1]),
    (24, False, (None, "integrator"), False, [1]),
    (25, True, ("grouped", "volumetric"), False, [1]),
]


FAST = {True: dict(eta_mant=100, eta_shift=2, eta_gain_mant=40, eta_gain_shift=7,
                   eta_sb_mant=60, eta_sb_shift=5),
        False: dict(eta=0.02, eta_gain=0.01, eta_sb=0.02)}  # fmt: skip


def _learning_setup(seed, fixed, sb, graded, layers, T=6, S=6, rates=FAST):
    spec = random_spec(seed, (10, 12, 6), fixed=fixed, spiking_bias=sb, graded=graded,
                       excitatory=(0, 1), sb_excitatory=(0, 1))  # fmt: skip
    x = random_input(seed + 1, T, S, 10, graded=graded, fixed=fixed)
    kw = rates[fixed]
    rule = make_rule(spec, T, 3, layers=layers, learn=("bias", "gain", "sb_weight"), **kw)
    return spec, rule, x, np.array([0, 1, 2, 2, 1, 0])[:S]


@pytest.mark.parametrize("case", CASES, ids=[f"seed{c[0]}" for c in CASES])
def test_torch_twin_equals_numpy_twin_with_every_kind(case):
    spec, rule, x, labels = _learning_setup(*case)
    learn = np.array([1, 1, 0, 1, 1, 0])
    a = run_twin(spec, rule, x, labels, learn)
    b = run_twin_torch(spec, rule, x, labels, learn)
    assert a.output.sum() > 0 and np.array_equal(a.output, b.output)
    moved = []
    for name, field in (("biases", "bias"), ("gains", "gain"), ("sb_weights", "w_b")):
        A, B = getattr(a, name), getattr(b, name)
        assert sorted(A) == sorted(B) and A
        for k in A:
            owner = spec.layers[k].spiking_bias.params if name == "sb_weights" else (
                spec.layers[k].neuron)  # fmt: skip
            start = getattr(owner, field + ("_mant" if spec.fixed else ""))
            moved.append(not np.array_equal(A[k], np.broadcast_to(start, A[k].shape)))
            if spec.fixed:
                assert B[k].dtype == np.int64 and np.array_equal(A[k], B[k])
            else:
                np.testing.assert_allclose(B[k], A[k], rtol=0, atol=1e-12)
    assert all(moved)  # every learned parameter changed


@pytest.mark.parametrize("fixed", [False, True])
def test_tuned_spec_runs_the_learned_network(fixed):
    """After learning, the test samples (learn 0) of the run equal the reference run of
    tuned_spec(biases, gains, weights): the model file gets what the run used."""
    slow = {True: dict(eta_mant=20, eta_shift=2, eta_gain_mant=20, eta_gain_shift=13,
                       eta_sb_mant=20, eta_sb_shift=9),
            False: dict(eta=0.005, eta_gain=0.001, eta_sb=0.002)}  # fmt: skip
    spec, rule, x, labels = _learning_setup(31, fixed, ("volumetric", "per_neuron"), False, None,
                                            rates=slow)  # fmt: skip
    res = run_twin(spec, rule, x, labels, np.array([1, 1, 1, 1, 0, 0]))
    tested = res.output[:, 4:]
    assert tested.sum() > 0
    tuned = tuned_spec(spec, res.biases, res.gains, res.sb_weights)
    assert np.array_equal(np.asarray(run_reference(tuned, x[:, 4:]).output), tested)
    biases_only = tuned_spec(spec, res.biases)  # the gains and weights matter
    assert not np.array_equal(np.asarray(run_reference(biases_only, x[:, 4:]).output), tested)


def test_fixed_update_rates_convert_the_float_rates():
    from lava_nt.converters.quantize import quantize  # lazy: as the other ondevice tests

    fspec = random_spec(41, (8, 6, 4), spiking_bias=True, excitatory=(0, 1))
    q = quantize(fspec)[0]
    mants, shifts = fixed_update_rates(1e-3, "gain", q, fspec, [0, 1])
    for k, m, s in zip([0, 1], mants, shifts, strict=True):
        scale = (int(q.layers[k].neuron.vth) << 6) / float(fspec.layers[k].neuron.vth)
        np.testing.assert_allclose(m / 2.0**s, 1e-3 * 2**16 / scale, rtol=2e-3)
        assert m.max() <= 4095 and m.max() > 2047  # the largest shift that fits 12 bits
    mants, shifts = fixed_update_rates(1e-3, "sb_weight", q, fspec, [1])
    sb = q.layers[1].spiking_bias
    scale = (int(q.layers[1].neuron.vth) << 6) / float(fspec.layers[1].neuron.vth)
    want = 1e-3 * scale / 2.0 ** np.asarray(sb.params.w_b_exp)
    np.testing.assert_allclose(mants[0] / 2.0 ** shifts[0], want, rtol=5e-3)
    with pytest.raises(ParameterError, match="kind must be"):
        fixed_update_rates(1e-3, "bias", q, fspec, [0])


def test_sb_weight_headroom_reexpresses_the_weights_with_room_to_grow():
    spec = _sbtwo_neuron_spec(True)  # vth 1 -> 64 voltage units; w_b 16 << 0
    sb = spec.layers[0].spiking_bias
    sb.params = sb.params._replace(w_b_mant=np.array([1000]), w_b_exp=np.array([3]))
    out = sb_weight_headroom(spec, [0], 300.0)  # room for 300 * 64 = 19,200: e = 3 (32,760)
    p = out.layers[0].spiking_bias.params
    assert (p.w_b_mant.tolist(), p.w_b_exp.tolist()) == ([1000], [3])
    out = sb_weight_headroom(spec, [0], 1000.0)  # 64,000: e = 4, round(8000 / 16) = 500
    p = out.layers[0].spiking_bias.params
    assert (p.w_b_mant.tolist(), p.w_b_exp.tolist()) == ([500], [4])
    assert spec.layers[0].spiking_bias.params.w_b_mant.tolist() == [1000]  # a copy
    # 0: only what the weight needs now (8000 <= 4095 << 1)
    assert sb_weight_headroom(spec, [0], 0.0).layers[0].spiking_bias.params.w_b_exp[0] == 1
    with pytest.raises(ParameterError, match="needs a fixed-point spec"):
        sb_weight_headroom(_sbtwo_neuron_spec(False), [0])


# ---- errors ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: rate(3, -1.0), "'eta' must be finite and >= 0"),
        (lambda: rate(3, [0.1, 0.2]), "last dimension 3"),
        (lambda: fixed_rate(3, 5000), r"'eta_mant' must hold integers in \[0, 4095\]"),
        (lambda: fixed_rate(3, 1, 49), r"'eta_shift' must be in \[0, 48\]"),
        (lambda: make_rule(random_spec(1, (4, 4)), 3, 2, learn=("bias", "weights")),
         "'learn' must name distinct kinds"),
        (lambda: make_rule(random_spec(1, (4, 4)), 3, 2, learn="sb_weight"),
         "no tuned layer has a spiking bias"),
        (lambda: make_rule(random_spec(1, (4, 4)), 3, 2, learn="gain", eta_gain=-1.0),
         "layer 0 gain rate: 'eta' must be finite"),
        (lambda: make_rule(random_spec(1, (4, 4), fixed=True), 3, 2, learn="gain",
                           eta_gain_shift=60), "layer 0 gain rate: 'eta_shift'"),
    ],
)  # fmt: skip
def test_parameter_errors(call, match):
    with pytest.raises(ParameterError, match=match):
        call()


def test_rule_without_rates_is_refused():
    spec = random_spec(2, (4, 6, 4), spiking_bias=True)
    base = make_rule(spec, 3, 2)
    rule = OnDeviceRule(base.T, base.layers, base.params, base.feedback, base.feedback_exp,
                        base.targets, ("bias", "gain"))  # fmt: skip
    with pytest.raises(ParameterError, match="'gain_params' needs one entry per tuned layer"):
        check_rule(spec, rule)
    fixed_rates_in_float = OnDeviceRule(*rule.__dict__.values())
    fixed_rates_in_float.gain_params = [FixedRate(1, 0)] * 2
    with pytest.raises(ParameterError, match="gain rate must be Rate"):
        check_rule(spec, fixed_rates_in_float)
