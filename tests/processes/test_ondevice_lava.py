"""On-device tuning inside one Lava run equals its numpy twin and its torch twin.

Fixed point: final bias mantissas and every output spike of the tuning and the test samples are
equal bit for bit (Lava against each twin directly). Float: spikes equal, and biases equal within
1e-12 (the twins add in Lava's order, so they agree exactly in practice; the bound allows for
float round-off). Small random networks (lava_nt.testing.random_spec), a few samples of T <= 10
steps: Lava is slow.
"""

import numpy as np
import pytest

from lava_nt.ondevice import make_rule, run_twin
from lava_nt.ondevice.lava_engine import ondevice_schedule, run_lava
from lava_nt.ondevice.torch_twin import run_twin_torch
from lava_nt.spec.validation import ParameterError
from lava_nt.testing import random_input, random_spec

FLOAT_TOL = 1e-12
LEARN = np.array([1, 1, 1, 1, 0, 0])
LABELS = np.array([0, 1, 1, 0, 1, 0])


def _compare(spec, rule, x, labels=LABELS, learn=LEARN):
    twin = run_twin(spec, rule, x, labels, learn)
    lava = run_lava(spec, rule, x, labels, learn)
    _lava_equals_torch_twin(spec, rule, x, labels, learn, lava)
    assert lava.window == x.shape[0] + len(spec.layers)
    assert lava.output.shape == twin.output.shape
    assert np.array_equal(lava.output, twin.output)  # tuning and test samples
    last = int(np.flatnonzero(learn)[-1])
    for k in rule.layers:
        start = spec.layers[k].neuron.bias_mant if spec.fixed else spec.layers[k].neuron.bias
        assert not np.array_equal(twin.biases[k], np.broadcast_to(start, twin.biases[k].shape))
        assert np.array_equal(twin.biases[k], twin.history[k][last])  # test samples: no change
        if spec.fixed:
            assert lava.biases[k].dtype == np.int64
            assert np.array_equal(lava.biases[k], twin.biases[k])
        else:
            np.testing.assert_allclose(lava.biases[k], twin.biases[k], rtol=0, atol=FLOAT_TOL)
    return twin, lava


def _lava_equals_torch_twin(spec, rule, x, labels, learn, lava):
    """The torch twin against the Lava run itself (not only through the numpy twin)."""
    torch_twin = run_twin_torch(spec, rule, x, labels, learn)
    assert np.array_equal(lava.output, torch_twin.output)
    for k in rule.layers:
        if spec.fixed:
            assert np.array_equal(lava.biases[k], torch_twin.biases[k])
        else:
            np.testing.assert_allclose(lava.biases[k], torch_twin.biases[k], rtol=0, atol=FLOAT_TOL)


def test_float_lava_equals_twin():
    spec = random_spec(3, (12, 10, 8, 4), excitatory=(0, 1, 2), resets=("zero", "subtract"))
    x = random_input(4, 8, 6, 12)
    _compare(spec, make_rule(spec, 8, 2, eta=0.02), x)


def test_fixed_lava_equals_twin_bit_for_bit():
    spec = random_spec(
        3, (12, 10, 8, 4), fixed=True, excitatory=(0, 1, 2), resets=("subtract", "zero"),
        weight_exp=(0, 1, -1), bias_exp="random",
    )  # fmt: skip
    x = random_input(4, 8, 6, 12)
    rule = make_rule(spec, 8, 2, eta_mant=[300, 120, 45], eta_shift=3, band=0.4)
    twin, _ = _compare(spec, rule, x)
    assert any(twin.output.sum((0, 2)) > 0)


def test_fixed_derived_feedback_on_some_layers():
    """Mixed-sign feedback mantissas with a negative exponent (the Dense drops their LSB) on
    layers 0 and 2; layer 1 stays frozen."""
    spec = random_spec(7, (10, 12, 8, 6), fixed=True, excitatory=(0, 1, 2))
    x = random_input(8, 6, 6, 10)
    rule = make_rule(spec, 6, 3, layers=[0, 2], feedback="derived", x_feedback=x,
                     eta_mant=[600, 200], eta_shift=2)  # fmt: skip
    assert rule.feedback_exp[0] < 0 and rule.feedback[0].min() < 0 < rule.feedback[0].max()
    labels = np.array([0, 1, 2, 2, 1, 0])
    twin, lava = _compare(spec, rule, x, labels)
    assert set(lava.biases) == {0, 2}


def test_float_graded_input_last_layer_only():
    spec = random_spec(11, (6, 8, 4), graded=True, excitatory=(0, 1), resets="subtract")
    x = random_input(12, 7, 6, 6, graded=True)
    _compare(spec, make_rule(spec, 7, 2, layers=[1], eta=0.05, band=0.3), x)


@pytest.mark.parametrize("fixed", [False, True])
def test_frozen_spiking_biases(fixed):
    """Per-neuron and volumetric spiking biases deliver their current; the NTLIF biases learn."""
    spec = random_spec(13, (10, 12, 6), fixed=fixed, excitatory=(0, 1), sb_excitatory=(0, 1),
                       spiking_bias=("per_neuron", "volumetric"))  # fmt: skip
    x = random_input(14, 6, 6, 10)
    kw = dict(eta_mant=[200, 100], eta_shift=2) if fixed else dict(eta=0.02)
    _compare(spec, make_rule(spec, 6, 3, **kw), x, np.array([0, 1, 2, 2, 1, 0]))


def test_schedule_and_process_errors():
    assert ondevice_schedule(10, 3, 2) == (12, 37)
    from lava_nt.processes.ondevice.process import LearningNTLIF, OutputError

    with pytest.raises(ParameterError, match="reset_interval"):
        LearningNTLIF(shape=(3,), learn_steps=5, reset_interval=4, eta=0.1)
    with pytest.raises(ParameterError, match="'eta_mant' is not a float learning parameter"):
        LearningNTLIF(shape=(3,), learn_steps=5, reset_interval=8, eta_mant=3)
    with pytest.raises(ParameterError, match="eta"):
        LearningNTLIF(shape=(3,), learn_steps=5, reset_interval=8, eta=-1.0)
    with pytest.raises(ParameterError, match="labels in"):
        OutputError(shape=(4,), labels=[0, 2], learn=[1, 1], target_on=2, target_off=0,
                    n_classes=2, steps=4, window=6, first_step=3)  # fmt: skip
    spec = random_spec(1, (4, 4))
    rule = make_rule(spec, 3, 2)
    with pytest.raises(ParameterError, match="precision='fixed' but the spec is floating"):
        run_lava(spec, rule, np.zeros((3, 1, 4)), np.array([0]), precision="fixed")
