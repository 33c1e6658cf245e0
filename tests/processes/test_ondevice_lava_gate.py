"""The error gate and class weights inside a Lava run equal the numpy twin (OutputError with
``error_gate="misclassified"`` and balanced class weights on imbalanced random labels): fixed
point bit for bit, float within 1e-12; a readout network refuses them."""

import numpy as np
import pytest

from lava_nt.ondevice import make_rule, run_twin
from lava_nt.ondevice.lava_engine import run_lava
from lava_nt.spec.error_gate import balanced_class_weights
from lava_nt.spec.validation import ParameterError
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


def test_a_readout_network_refuses_the_gate():
    spec = random_spec(5, (8, 6, 4), readout=2, readout_reduce="last")
    with pytest.raises(ParameterError, match="need a spiking output"):
        make_rule(spec, 6, 2, readout_targets=(1.0, 0.0), error_gate="misclassified")
