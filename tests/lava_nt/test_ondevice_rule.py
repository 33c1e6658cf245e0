"""The local bias-learning rule (lava_nt.spec.learning) and its numpy twin (lava_nt.ondevice):
hand-computed integer updates, rounding, saturation, feedback matrices, determinism, and clear
errors at the boundary. The Lava run is compared with the twin in test_ondevice_lava.py."""

import numpy as np
import pytest
import torch

from lava_nt.ondevice import (
    bias_headroom,
    derived_feedback,
    fixed_feedback,
    fixed_rates,
    identity_feedback,
    make_rule,
    run_twin,
    tuned_spec,
)
from lava_nt.spec.fixed import BIAS_MANT_MAX, BIAS_MANT_MIN
from lava_nt.spec.learning import (
    FixedLearningParameters,
    LearningParameters,
    bias_update,
    eligibility_increment,
    fixed_bias_delta,
    fixed_bias_update,
    fixed_learning_parameters,
    learning_parameters,
    population_target,
    rshift_round,
    targets,
)
from lava_nt.spec.validation import ParameterError
from lava_nt.testing import random_input, random_spec, two_neuron_input, two_neuron_spec


# ---- the integer rule by hand --------------------------------------------------------------
@pytest.mark.parametrize(
    ("x", "shift", "want"),
    [(5, 1, 3), (-5, 1, -3), (4, 1, 2), (3, 2, 1), (2, 2, 1), (1, 2, 0), (-2, 2, -1),
     (-6, 2, -2), (7, 0, 7), (-7, 0, -7), (350, 3, 44), (-350, 3, -44)],
)  # fmt: skip
def test_rshift_round_is_half_away_from_zero(x, shift, want):
    assert rshift_round(np.array([x]), shift)[0] == want
    assert int(rshift_round(torch.tensor([x]), shift)[0]) == want


def test_fixed_update_by_hand_with_saturation():
    p = FixedLearningParameters(eta_mant=7, eta_shift=3, band=10)
    mant = np.array([0, 4090, -4090, 5])
    l = np.array([3, 10, -10, 4])  # noqa: E741
    elig = np.array([2, 5, 5, 0])
    # 7*3*2/8 = 5.25 -> 5 ; 7*10*5/8 = 43.75 -> 44 (saturates) ; -43.75 -> -44 (saturates)
    assert fixed_bias_delta(l, elig, p).tolist() == [5, 44, -44, 0]
    assert fixed_bias_update(mant, l, elig, p).tolist() == [5, BIAS_MANT_MAX, BIAS_MANT_MIN, 5]
    t = fixed_bias_update(torch.tensor(mant), torch.tensor(l), torch.tensor(elig), p)
    assert t.tolist() == [5, BIAS_MANT_MAX, BIAS_MANT_MIN, 5]


def test_eligibility_counts_spikes_and_the_strip_below_threshold():
    s = np.array([1.0, 0.0, 0.0, 0.0])
    v = np.array([0.0, 0.55, 0.5, -3.0])  # band 0.5 below vth = 1: v > 0.5 counts
    assert eligibility_increment(s, v, 1.0, 0.5).tolist() == [1.0, 1.0, 0.0, 0.0]
    sf = np.array([True, False, False])
    vf = np.array([0, 4000, 3904])  # fixed: vth 64 << 6 = 4096, band 192 -> v > 3904
    assert eligibility_increment(sf, vf, 64 << 6, 192).tolist() == [1, 1, 0]
    tv = eligibility_increment(torch.tensor(s), torch.tensor(v), 1.0, 0.5)
    assert tv.tolist() == [1.0, 1.0, 0.0, 0.0]


def test_float_update_and_targets():
    p = LearningParameters(eta=0.1, band=0.5)
    assert bias_update(np.array([0.2]), np.array([-2.0]), np.array([4.0]), p)[0] == 0.2 - 0.8
    tg = targets(25, (0.5, 0.1), 3, fixed=True)
    assert (tg.on, tg.off) == (13, 3)  # 12.5 -> 13, 2.5 -> 3 (half away from zero)
    assert population_target(2, 6, tg).tolist() == [3, 3, 3, 3, 13, 13]
    assert targets(25, (0.5, 0.1), 3).on == 12.5


# ---- the twin on a network small enough to compute by hand ----------------------------------
def test_fixed_twin_by_hand():
    spec = two_neuron_spec(True)
    rule = make_rule(spec, 4, 2, eta_mant=3, eta_shift=1, band=0.5)  # band 32 of 64
    res = run_twin(spec, rule, two_neuron_input(3), np.array([0, 0, 0]), learn=[1, 1, 0])
    # sample 0: neuron 0 v = 128 every step -> 4 spikes, elig 4; neuron 1 v = 40, 80*, 40, 80*
    # -> 2 spikes, elig 4 (40 > 64 - 32). Label 0: target [2, 0], e = [-2, -2], l = e.
    # delta = round(3 * -2 * 4 / 2) = -12 -> bias_mant [-12, 28]
    assert res.history[0][0].tolist() == [-12, 28]
    # sample 1: neuron 0 v = 116 per step -> 4 spikes, elig 4; neuron 1 v = 28, 56, 84*, 28
    # -> 1 spike, elig 2 (56 and the spike). e = [-2, -1]; delta = [-12, round(-3) = -3]
    assert res.history[0][1].tolist() == [-24, 25]
    # sample 2 only tests (learn 0): nothing changes
    assert res.history[0][2].tolist() == [-24, 25]
    assert res.biases[0].tolist() == [-24, 25]
    assert res.output[:, 1, 1].tolist() == [0, 0, 1, 0]
    assert spec.layers[0].neuron.bias_mant.tolist() == [0, 40]  # the spec is not changed


def test_float_twin_by_hand():
    spec = two_neuron_spec(False)
    rule = make_rule(spec, 4, 2, eta=0.1, band=0.5)
    res = run_twin(spec, rule, two_neuron_input(1), np.array([0]))
    # neuron 0: v = 2 -> 4 spikes, elig 4; neuron 1: 0.6, 1.2*, 0.6, 1.2* -> 2 spikes, elig 4
    # e = [2 - 4, 0 - 2] = [-2, -2]; delta = 0.1 * -2 * 4 = -0.8
    np.testing.assert_allclose(res.biases[0], [-0.8, 0.6 - 0.8], rtol=0, atol=1e-15)
    tuned = tuned_spec(spec, res.biases)
    np.testing.assert_allclose(tuned.layers[0].neuron.bias, [-0.8, -0.2], atol=1e-15)


def test_saturation_in_the_twin():
    spec = two_neuron_spec(True)
    rule = make_rule(spec, 4, 2, eta_mant=4095, eta_shift=0)
    res = run_twin(spec, rule, two_neuron_input(2), np.array([1, 1]))
    # label 1 wants neuron 0 silent (e0 = -4, elig 4): -65520 per sample -> clipped at -4096
    assert res.biases[0][0] == BIAS_MANT_MIN


def test_twin_is_deterministic_and_learning_moves_toward_the_target():
    spec = random_spec(5, (16, 12, 4), excitatory=(0, 1))
    x = random_input(6, 10, 12, 16)
    y = np.tile([0, 1], 6)
    rule = make_rule(spec, 10, 2, eta=0.02)
    a = run_twin(spec, rule, x, y)
    b = run_twin(random_spec(5, (16, 12, 4), excitatory=(0, 1)), rule, x, y)
    assert np.array_equal(a.output, b.output)
    assert all(np.array_equal(a.biases[k], b.biases[k]) for k in rule.layers)
    assert not np.array_equal(a.biases[1], spec.layers[1].neuron.bias)
    # the squared error of the same samples before and after tuning
    tg = np.stack([population_target(c, 4, rule.targets) for c in y])
    before = run_twin(spec, rule, x, y, learn=np.zeros(12, int)).output.sum(0)
    after = run_twin(tuned_spec(spec, a.biases), rule, x, y, learn=np.zeros(12, int))
    assert ((after.output.sum(0) - tg) ** 2).sum() < ((before - tg) ** 2).sum()


def test_learning_off_leaves_the_biases():
    spec = random_spec(1, (10, 6, 4), fixed=True)
    x = random_input(2, 6, 3, 10)
    rule = make_rule(spec, 6, 2, eta_mant=100)
    res = run_twin(spec, rule, x, np.array([0, 1, 0]), learn=np.zeros(3, int))
    for k in rule.layers:
        assert np.array_equal(res.biases[k], spec.layers[k].neuron.bias_mant)


# ---- feedback matrices -----------------------------------------------------------------------
def test_feedback_matrices():
    assert identity_feedback(3, 2).tolist() == [[1, 0], [0, 1], [0, 0]]
    rng = np.random.default_rng(0)
    c_l = rng.integers(0, 10, (40, 5)).astype(float)
    M = rng.normal(size=(5, 3))
    np.testing.assert_allclose(derived_feedback(c_l, c_l @ M), M, atol=1e-10)
    mant, exp = fixed_feedback(M)
    assert 127 <= np.abs(mant).max() <= 254 and -8 <= exp <= 7
    np.testing.assert_allclose(mant * 2.0**exp, M, rtol=0, atol=2.0 ** (exp - 1))
    ident, e0 = fixed_feedback(identity_feedback(3, 2))
    assert e0 == 0 and ident.tolist() == [[1, 0], [0, 1], [0, 0]]


def test_derived_rule_uses_least_squares_for_hidden_layers():
    spec = random_spec(5, (16, 12, 4), excitatory=(0, 1))
    x = random_input(6, 10, 30, 16)
    rule = make_rule(spec, 10, 2, feedback="derived", x_feedback=x)
    assert rule.feedback[0].shape == (12, 4)
    assert np.array_equal(rule.feedback[1], np.eye(4))
    fixed = random_spec(5, (16, 12, 4), fixed=True, excitatory=(0, 1))
    frule = make_rule(fixed, 10, 2, feedback="derived", x_feedback=x)
    assert frule.feedback[0].dtype == np.int64 and frule.feedback_exp[1] == 0


# ---- errors at the boundary ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: learning_parameters(3, eta=-1.0), "eta"),
        (lambda: learning_parameters(3, eta=[0.1, 0.2]), "eta"),
        (lambda: learning_parameters(3, band=0.0), "band"),
        (lambda: fixed_learning_parameters(3, eta_mant=4096), "eta_mant"),
        (lambda: fixed_learning_parameters(3, eta_mant=1.5), "eta_mant"),
        (lambda: fixed_learning_parameters(3, eta_shift=25), "eta_shift"),
        (lambda: fixed_learning_parameters(3, band=0), "band"),
        (lambda: targets(10, (1.5, 0.0)), "rates"),
        (lambda: targets(0), "'T'"),
    ],
)
def test_parameter_errors(call, match):
    with pytest.raises(ParameterError, match=match):
        call()


def test_run_errors_name_the_problem():
    spec = two_neuron_spec(False)
    rule = make_rule(spec, 4, 2)
    x = two_neuron_input(2)
    with pytest.raises(ParameterError, match="label 2 is outside"):
        run_twin(spec, rule, x, np.array([0, 2]))
    with pytest.raises(ParameterError, match="labels must be 2 integers"):
        run_twin(spec, rule, x, np.array([0.0, 1.0]))
    with pytest.raises(ParameterError, match="learn must be 2 flags"):
        run_twin(spec, rule, x, np.array([0, 1]), learn=[1, 2])
    with pytest.raises(ParameterError, match="x has 5 steps per sample, the rule counts 4"):
        run_twin(spec, rule, np.zeros((5, 2, 2)), np.array([0, 1]))
    with pytest.raises(ParameterError, match=r"B must have shape \(2, 2\)"):
        make_rule(spec, 4, 2, feedback=[np.eye(3)])
    with pytest.raises(ParameterError, match="layer 3 does not exist"):
        make_rule(spec, 4, 2, layers=[3])
    with pytest.raises(ParameterError, match="do not split into 3 classes"):
        make_rule(spec, 4, 3)
    with pytest.raises(ParameterError, match="derived' needs input"):
        make_rule(spec, 4, 2, feedback="derived")
    with pytest.raises(ParameterError, match="band"):
        make_rule(spec, 4, 2, band=-1)
    ro = random_spec(0, (6, 4), readout=2)
    with pytest.raises(ParameterError, match="give readout_targets"):
        make_rule(ro, 4, 2)  # a readout network needs its value targets


def test_comparison_task_is_a_seeded_disjoint_split():
    pytest.importorskip("sklearn")
    from lava_nt.ondevice.compare import T, digits_task

    a, b = digits_task(0), digits_task(0)
    assert a.keys() == {"A_train", "A_val", "B_tune", "B_val", "B_test"}
    for key, (x, y) in a.items():
        assert x.shape[0] == T and x.shape[1] == y.size and set(np.unique(x)) <= {0.0, 1.0}
        assert y.min() >= 0 and y.max() <= 4
        assert np.array_equal(x, b[key][0]) and np.array_equal(y, b[key][1])
    assert sum(v[1].size for v in a.values()) == 1797


def test_bias_headroom_reexpresses_the_biases_with_room_to_grow():
    spec = random_spec(2, (10, 8, 4), fixed=True, bias_exp="random")
    out = bias_headroom(spec, [1], 1.0)
    p0, p1 = spec.layers[1].neuron, out.layers[1].neuron
    vth = int(p0.vth) << 6
    exp = int(p1.bias_exp[0])
    assert np.all(p1.bias_exp == exp) and (4095 << exp) >= min(vth, 4095 << 7)
    assert exp == 7 or (4095 << (exp - 1)) < vth  # the smallest exponent that holds vth
    before = p0.bias_mant << np.broadcast_to(p0.bias_exp, (4,))
    assert np.all(np.abs((p1.bias_mant << exp) - before) <= (1 << exp) // 2)
    assert out.layers[0].neuron is not p0 and np.array_equal(  # layer 0 untouched
        out.layers[0].neuron.bias_mant, spec.layers[0].neuron.bias_mant
    )
    assert np.array_equal(spec.layers[1].neuron.bias_mant, p0.bias_mant)  # a copy
    with pytest.raises(ParameterError, match="fixed-point"):
        bias_headroom(random_spec(2, (10, 8, 4)), [0])


def test_fixed_rates_match_the_float_rate_in_mantissa_steps():
    spec = random_spec(4, (10, 8, 4))
    from lava_nt.converters.quantize import quantize

    fixed = quantize(spec)[0]
    mants, shifts = fixed_rates(1e-3, fixed, spec, [0, 1])
    for k, (m, s) in enumerate(zip(mants, shifts, strict=True)):
        p = fixed.layers[k].neuron
        q = 1e-3 * ((int(p.vth) << 6) / spec.layers[k].neuron.vth) / 2.0**p.bias_exp
        assert m.max() <= 4095 and (s == 24 or np.round(q * 2.0 ** (s + 1)).max() > 4095)
        np.testing.assert_allclose(m / 2.0**s, q, rtol=0, atol=0.5 / 2.0**s)
    with pytest.raises(ParameterError, match="fixed spec and the float spec"):
        fixed_rates(1e-3, spec, spec, [0])
