"""The error gate and class weights inside a Lava run equal the numpy twin (OutputError with
``error_gate="misclassified"`` and balanced class weights on imbalanced random labels): fixed
point bit for bit, float within 1e-12; also for a network ending in a readout (LearningReadout:
the gate on the readout values' argmax, the fixed error shift one bit larger for weight 1.75)."""

import numpy as np
import pytest

from lava_nt.ondevice import make_rule, run_twin
from lava_nt.ondevice.lava_engine import run_lava
from lava_nt.ondevice.readout import measure_readout_targets
from lava_nt.spec.error_gate import balanced_class_weights
from lava_nt.testing import random_input, random_spec

LABELS = np.array([0, 0, 0, 1, 0, 0, 1, 0])  # imbalanced
LEARN = np.array([1, 1, 1, 1, 1, 1, 1, 0])


@pytest.mark.parametrize("fixed", [False, True])
def test_lava_gate_and_weights_equal_the_twin(fixed):
    spec = random_spec(61 + fixed, (10, 8, 4), fixed=fixed, excitatory=(0, 1))
    x = random_input(71, 6, len(LABELS), 10, fixed=fixed)
    w = balanced_class_weights(LABELS, 2, LEARN)
    rates = {"eta_mant": 60, "eta_shift": 2} if fixed else {"eta": 0.05}
    rule = make_rule(spec, 6, 2, error_gate="misclassified", class_weights=w, **rates)
    twin = run_twin(spec, rule, x, LABELS, LEARN)
    lava = run_lava(spec, rule, x, LABELS, LEARN)
    assert twin.output.sum() > 0
    assert np.array_equal(lava.output, twin.output)
    plain = run_twin(spec, make_rule(spec, 6, 2, **rates), x, LABELS, LEARN)
    for k in twin.biases:
        assert not np.array_equal(twin.biases[k], plain.biases[k])  # the gate/weights act
        if fixed:
            assert np.array_equal(lava.biases[k], twin.biases[k])
        else:
            np.testing.assert_allclose(lava.biases[k], twin.biases[k], rtol=0, atol=1e-12)


@pytest.mark.parametrize("fixed", [False, True])
def test_readout_gate_and_weights_lava_equal_the_twin(fixed):
    kw = dict(weight_exp=(0, 1), bias_exp="random") if fixed else {}
    spec = random_spec(3, (12, 10, 8), fixed=fixed, excitatory=(0, 1), readout=2,
                       readout_reduce="last", **kw)  # fmt: skip
    x = random_input(4, 8, len(LABELS), 12)
    on, off = measure_readout_targets(spec, x, LABELS)
    w = balanced_class_weights(LABELS, 2, LEARN)  # 7 tuning samples: [7/10, 7/4]
    gate = dict(error_gate="misclassified", class_weights=w)
    if fixed:
        rates = dict(eta_mant=[300, 120], eta_shift=6, band=0.4, eta_readout_mant=3,
                     eta_readout_shift=0, readout_targets=(on + 800, off - 800))  # fmt: skip
    else:
        rates = dict(eta=0.002, eta_readout=0.05, readout_targets=(on + 1.0, off - 1.0))
    rule = make_rule(spec, 8, 2, **rates, **gate)
    plain = make_rule(spec, 8, 2, **rates)
    if fixed:  # the largest weight 1.75 = 3584 / 2**11 adds one bit to the error shift
        assert rule.class_weights.w_mant.tolist() == [1434, 3584]
        assert rule.error_shift == plain.error_shift + 1
    twin = run_twin(spec, rule, x, LABELS, LEARN)
    lava = run_lava(spec, rule, x, LABELS, LEARN)
    other = run_twin(spec, plain, x, LABELS, LEARN)
    assert not np.array_equal(twin.readout_bias, other.readout_bias)  # the gate/weights act
    if fixed:
        assert np.array_equal(lava.output, twin.output)
        assert np.array_equal(lava.readout_bias, twin.readout_bias)
        for k in twin.biases:
            assert np.array_equal(lava.biases[k], twin.biases[k])
    else:
        np.testing.assert_allclose(lava.output, twin.output, rtol=0, atol=1e-12)
        np.testing.assert_allclose(lava.readout_bias, twin.readout_bias, rtol=0, atol=1e-12)
        for k in twin.biases:
            np.testing.assert_allclose(lava.biases[k], twin.biases[k], rtol=0, atol=1e-12)
