"""On-device tuning of networks that end in a non-spiking readout (lava_nt.spec.learning,
"Readout output"): the readout's window value against a per-class target is the error, the
readout's bias learns by the delta rule, the spiking layers below by ``l = B e``.

The Lava run (LearningReadout: the readout, its error and its bias update in one Process) equals
the twin: fixed point bit for bit (readout traces, bias mantissas, readout bias; the readout
bias with its headroom exponent), float within 1e-12; the twin's test samples equal
run_reference; the torch twin equals the numpy twin.
"""

from dataclasses import replace

import numpy as np
import pytest

from lava_nt.network import run_reference
from lava_nt.ondevice import make_rule, readout_headroom, run_twin, run_twin_torch, tuned_spec
from lava_nt.ondevice.lava_engine import run_lava
from lava_nt.ondevice.readout import measure_readout_targets
from lava_nt.spec.learning import fixed_feedback_signal, fixed_readout_error
from lava_nt.spec.readout import readout_parameters
from lava_nt.spec.validation import ParameterError
from lava_nt.testing import random_input, random_spec, with_delays

FLOAT_TOL = 1e-12
T = 8
LEARN = np.array([1, 1, 1, 1, 0, 0])
LABELS = np.array([0, 1, 1, 0, 1, 0])


def _spec(seed, fixed, reduce="last"):
    kw = dict(weight_exp=(0, 1), bias_exp="random") if fixed else {}
    return random_spec(seed, (12, 10, 8), fixed=fixed, excitatory=(0, 1), readout=2,
                       readout_reduce=reduce, **kw)  # fmt: skip


def _rule(spec, x):
    on, off = measure_readout_targets(spec, x, LABELS)
    if spec.fixed:  # targets apart, so the error has a sign per class
        return make_rule(spec, T, 2, eta_mant=[300, 120], eta_shift=6, band=0.4,
                         readout_targets=(on + 800, off - 800), eta_readout_mant=3,
                         eta_readout_shift=0)  # fmt: skip
    return make_rule(spec, T, 2, eta=0.002, readout_targets=(on + 1.0, off - 1.0),
                     eta_readout=0.05)  # fmt: skip


def _equal(a, b, exact):
    if exact:
        assert np.array_equal(a, b)
    else:
        np.testing.assert_allclose(a, b, rtol=0, atol=FLOAT_TOL)


def _check(spec, twin, other, exact):
    _equal(other.output, twin.output, exact)
    _equal(other.readout_bias, twin.readout_bias, exact)
    for k, b in twin.biases.items():
        _equal(other.biases[k], b, exact)


@pytest.mark.parametrize(("fixed", "reduce"), [(False, "last"), (False, "max"),
                                               (True, "last"), (True, "max")])  # fmt: skip
def test_readout_network_lava_equals_twin(fixed, reduce):
    spec = _spec(3, fixed, reduce)
    x = random_input(4, T, 6, 12)
    rule = _rule(spec, x)
    if fixed:  # the readout bias with headroom: one exponent that holds the larger target
        spec = readout_headroom(spec, (rule.targets.on, rule.targets.off))
        e = spec.readout.params.bias_exp
        assert np.all(e == e[0]) and 4095 << int(e[0]) >= abs(rule.targets.on)
        rule = _rule(spec, x)
    twin = run_twin(spec, rule, x, LABELS, LEARN)
    start = spec.readout.params.bias_mant if fixed else spec.readout.params.bias
    assert not np.array_equal(twin.readout_bias, start)  # the readout bias learned
    for k in rule.layers:
        first = spec.layers[k].neuron.bias_mant if fixed else spec.layers[k].neuron.bias
        assert not np.array_equal(twin.biases[k], np.broadcast_to(first, twin.biases[k].shape))
        if fixed:  # not every bias saturated: the test sees the arithmetic
            assert np.any(np.abs(twin.biases[k]) < 4095)
    lava = run_lava(spec, rule, x, LABELS, LEARN)
    assert lava.window == T + len(spec.layers) + 1  # one more stage: the readout's Dense
    assert lava.output.shape == (T, 6, 2)
    _check(spec, twin, lava, fixed)


@pytest.mark.parametrize("fixed", [False, True])
def test_readout_twin_matches_run_reference_and_torch(fixed):
    spec = _spec(5, fixed, "max")
    x = random_input(6, T, 6, 12)
    rule = _rule(spec, x)
    test = run_twin(spec, rule, x, LABELS, np.zeros(6, np.int64))
    _equal(test.output, np.asarray(run_reference(spec, x).output, np.float64), fixed)
    start = spec.readout.params.bias_mant if fixed else spec.readout.params.bias
    assert np.array_equal(test.readout_bias, start)  # nothing learns on test samples
    twin = run_twin(spec, rule, x, LABELS, LEARN)
    _check(spec, twin, run_twin_torch(spec, rule, x, LABELS, LEARN), fixed)
    tuned = tuned_spec(spec, twin.biases, readout_bias=twin.readout_bias)
    after = run_reference(tuned, x[:, 4:]).output
    _equal(np.asarray(after, np.float64), twin.output[:, 4:], fixed)


@pytest.mark.parametrize("fixed", [False, True])
def test_readout_with_delays_lava_equals_twin(fixed):
    spec = with_delays(_spec(7, fixed, "last"), 7, ("output", "input"), T)
    x = random_input(8, T, 6, 12)
    rule = _rule(spec, x)
    twin = run_twin(spec, rule, x, LABELS, LEARN)
    _check(spec, twin, run_lava(spec, rule, x, LABELS, LEARN), fixed)


@pytest.mark.parametrize("fixed", [False, True])
def test_graded_readout_network_learning_gains_lava_equals_twin(fixed):
    """Graded input (as lava-dl's mnist.net) and the gain rule driven by the readout error."""
    kw = dict(weight_exp=(0, 1), bias_exp="random") if fixed else {}
    spec = random_spec(13, (6, 10, 8), fixed=fixed, graded=True, excitatory=(0, 1), readout=2,
                       readout_reduce="max", **kw)  # fmt: skip
    x = random_input(14, T, 6, 6, graded=True, fixed=fixed)
    on, off = measure_readout_targets(spec, x, LABELS)
    if fixed:
        rule = make_rule(spec, T, 2, eta_mant=[300, 120], eta_shift=6, band=0.4,
                         readout_targets=(on + 800, off - 800), eta_readout_mant=3,
                         learn=("bias", "gain"), eta_gain_mant=200, eta_gain_shift=20)  # fmt: skip
    else:
        rule = make_rule(spec, T, 2, eta=0.002, readout_targets=(on + 1.0, off - 1.0),
                         eta_readout=0.05, learn=("bias", "gain"), eta_gain=1e-4)  # fmt: skip
    twin = run_twin(spec, rule, x, LABELS, LEARN)
    lava = run_lava(spec, rule, x, LABELS, LEARN)
    _check(spec, twin, lava, fixed)
    for k in rule.layers:
        start = spec.layers[k].neuron.gain_mant if fixed else spec.layers[k].neuron.gain
        assert not np.array_equal(twin.gains[k], np.broadcast_to(start, twin.gains[k].shape))
        _equal(lava.gains[k], twin.gains[k], fixed)


def test_delta_rule_reaches_the_target_of_a_linear_readout():
    """netx's readout (du = 0, dv = 1, "last": value = sum_t W s[t] + b, d value / d b = 1):
    with rate 1 and frozen spiking layers one learning sample moves its value onto the target."""
    spec = _spec(9, False, "last")
    spec.readout.params = readout_parameters(2, du=0.0, dv=1.0, bias=[0.3, -0.2], reduce="last")
    x = random_input(10, T, 1, 12, rate=0.6).repeat(2, axis=1)  # the same sample twice
    assert run_reference(spec, x, record=True).layers[-1]["spikes"].sum() > 0
    rule = make_rule(spec, T, 2, eta=0.0, readout_targets=(5.0, -5.0), eta_readout=1.0)
    res = run_twin(spec, rule, x, np.array([1, 1]), np.array([1, 0]))
    assert not np.allclose(res.output[-1, 0], [-5.0, 5.0])
    np.testing.assert_allclose(res.output[-1, 1], [-5.0, 5.0], rtol=0, atol=1e-12)


def test_readout_rule_errors():
    spec = _spec(11, False, "mean")
    x = random_input(12, T, 6, 12)
    with pytest.raises(ParameterError, match="'last' or 'max'.*not 'mean'"):
        make_rule(spec, T, 2, readout_targets=(1.0, 0.0))
    spec = _spec(11, False, "last")
    with pytest.raises(ParameterError, match="give readout_targets"):
        make_rule(spec, T, 2)
    fixed = _spec(11, True, "last")
    with pytest.raises(ParameterError, match="integers"):
        make_rule(fixed, T, 2, readout_targets=(1.5, 0))
    rule = make_rule(spec, T, 2, readout_targets=(1.0, 0.0))
    plain = random_spec(11, (12, 10, 4))
    wrong = replace(make_rule(plain, T, 2), readout_rate=rule.readout_rate)
    with pytest.raises(ParameterError, match="the network has no readout"):
        run_twin(plain, wrong, x, LABELS)
    with pytest.raises(ParameterError, match="needs 'readout_rate'"):
        run_twin(spec, replace(rule, readout_rate=None), x, LABELS)


def test_fixed_error_shift_keeps_l_within_24_bits():
    """Errors near the 24-bit limit through a large feedback matrix: make_rule picks the error
    shift that keeps every ``l = B e`` inside 24 bits (Lava's 32-bit Dense accumulation would
    wrap beyond 2**31, and a graded message holds 24 bits); check_rule refuses a smaller one;
    the twin and Lava agree."""
    spec = _spec(3, True, "last")
    x = random_input(4, T, 6, 12)
    sign = np.array([254, -254])  # the errors of the two classes add up instead of cancelling
    fb = [(np.tile(sign, (10, 1)), 0), (np.tile(sign, (8, 1)), 3)]
    rule = make_rule(spec, T, 2, eta_mant=[1, 1], eta_shift=0, band=0.4, feedback=fb,
                     readout_targets=(8_000_000, -8_000_000))  # fmt: skip
    assert rule.error_shift == 13  # 508 * 2**(24 - s) << 3 < 2**23 first for s = 13
    twin = run_twin(spec, rule, x, LABELS, LEARN)
    target = np.where(np.arange(2) == LABELS[0], 8_000_000, -8_000_000)
    e = fixed_readout_error(twin.output[-1, 0].astype(np.int64), target, 1, rule.error_shift)
    l_last = fixed_feedback_signal(rule.effective_feedback(True)[1], e, 3)
    assert 2**21 < np.abs(l_last).max() < 2**23  # large, and inside 24 bits
    with pytest.raises(ParameterError, match="can exceed 24 bits with error_shift 0"):
        run_twin(spec, replace(rule, error_shift=0), x, LABELS, LEARN)
    _check(spec, twin, run_lava(spec, rule, x, LABELS, LEARN), True)
