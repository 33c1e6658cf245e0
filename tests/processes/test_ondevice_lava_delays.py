"""On-device tuning of networks with synaptic delays: the Lava run equals its twin.

Delayed layers get Lava's ``DelayDense`` (lava_nt.lava.delay_dense: its line empties at every
sample start); the twin computes their input with lava_nt.spec.delay (the delay line over the
sample's ``T`` steps, nothing from an earlier sample, nothing after ``T``), as run_reference does.
Fixed point: every output spike and the final bias mantissas equal bit for bit; float: spikes
equal and biases within 1e-12. Small random networks (lava_nt.testing), a few samples.
"""

import numpy as np
import pytest

from lava_nt.network import run_reference
from lava_nt.ondevice import make_rule, run_twin, run_twin_torch, tuned_spec
from lava_nt.ondevice.lava_engine import run_lava
from lava_nt.testing import random_input, random_spec, with_delays

FLOAT_TOL = 1e-12
T = 8
LEARN = np.array([1, 1, 1, 1, 0, 0])
LABELS = np.array([0, 1, 1, 0, 1, 0])


def _spec(seed, fixed, kinds=("output", "input", "synapse")):
    kw = dict(weight_exp=(0, 1, -1), bias_exp="random") if fixed else {}
    spec = random_spec(seed, (12, 10, 8, 4), fixed=fixed, excitatory=(0, 1, 2),
                       resets=("subtract", "zero"), **kw)  # fmt: skip
    return with_delays(spec, seed, kinds, T)


def _rule(spec):
    if spec.fixed:
        return make_rule(spec, T, 2, eta_mant=[300, 120, 45], eta_shift=3, band=0.4)
    return make_rule(spec, T, 2, eta=0.02)


def _check(spec, twin, other, exact):
    assert np.array_equal(other.output, twin.output)
    for k, b in twin.biases.items():
        if exact:
            assert np.array_equal(other.biases[k], b)
        else:
            np.testing.assert_allclose(other.biases[k], b, rtol=0, atol=FLOAT_TOL)


@pytest.mark.parametrize("fixed", [False, True])
def test_delayed_network_lava_equals_twin(fixed):
    spec = _spec(3, fixed)
    assert all(layer.has_delay for layer in spec.layers)
    x = random_input(4, T, 6, 12)
    rule = _rule(spec)
    twin = run_twin(spec, rule, x, LABELS, LEARN)
    for k in rule.layers:  # the rule learned something on every layer
        start = spec.layers[k].neuron.bias_mant if fixed else spec.layers[k].neuron.bias
        assert not np.array_equal(twin.biases[k], np.broadcast_to(start, twin.biases[k].shape))
    lava = run_lava(spec, rule, x, LABELS, LEARN)
    assert lava.window == T + len(spec.layers)
    _check(spec, twin, lava, fixed)


@pytest.mark.parametrize("fixed", [False, True])
def test_twin_uses_the_delays_as_run_reference_does(fixed):
    """Test samples (learn 0) run the network as run_reference does, delays included: the
    outputs equal, and differ from the same network without delays."""
    spec = _spec(5, fixed, ("output", "input"))
    x = random_input(6, T, 6, 12)
    rule = _rule(spec)
    twin = run_twin(spec, rule, x, LABELS, np.zeros(6, np.int64))
    ref = run_reference(spec, x)
    assert np.array_equal(twin.output, np.asarray(ref.output, np.float64))
    undelayed = _spec(5, fixed, ("output", "input"))
    for layer in undelayed.layers:
        layer.delay = None
    plain = run_twin(undelayed, rule, x, LABELS, np.zeros(6, np.int64))
    assert not np.array_equal(plain.output, twin.output)


@pytest.mark.parametrize("fixed", [False, True])
def test_tuned_delayed_network_and_torch_twin(fixed):
    """The torch twin equals the numpy twin on a delayed network, and the tuned spec (delays
    kept) reproduces the test samples' output in run_reference."""
    spec = _spec(9, fixed)
    x = random_input(10, T, 6, 12)
    rule = _rule(spec)
    twin = run_twin(spec, rule, x, LABELS, LEARN)
    _check(spec, twin, run_twin_torch(spec, rule, x, LABELS, LEARN), fixed)
    tuned = tuned_spec(spec, twin.biases)
    assert all(layer.has_delay for layer in tuned.layers)
    ref = run_reference(tuned, x[:, 4:])
    assert np.array_equal(np.asarray(ref.output, np.float64), twin.output[:, 4:])
