"""Gains and spiking-bias weights learned inside one Lava run equal the numpy twin and the torch
twin (lava_nt.ondevice.lava_engine with LearningNTLIF / LearningSpikingBias).

Fixed point: every output spike and every learned register (bias_mant, gain_mant, w_b_mant) equal
bit for bit. Float: spikes equal, learned parameters within 1e-12 (the Lava models call the same
spec functions in the same order, so they agree exactly in practice). Per-neuron, volumetric and
explicit-group spiking biases; small random networks, a few samples: Lava is slow.
"""

import numpy as np
import pytest

from lava_nt.ondevice import make_rule, run_twin
from lava_nt.ondevice.lava_engine import run_lava
from lava_nt.ondevice.torch_twin import run_twin_torch
from lava_nt.spec.validation import ParameterError
from lava_nt.testing import random_input, random_spec

FLOAT_TOL = 1e-12
LEARN = np.array([1, 1, 1, 0, 1, 0])
LABELS = np.array([0, 1, 2, 2, 1, 0])
FIELDS = {"biases": "bias", "gains": "gain", "sb_weights": "w_b"}


def _start(spec, name: str, k: int):
    owner = spec.layers[k].spiking_bias.params if name == "sb_weights" else spec.layers[k].neuron
    return getattr(owner, FIELDS[name] + ("_mant" if spec.fixed else ""))


def _compare(spec, rule, x, moved=("biases", "gains", "sb_weights")):
    twin = run_twin(spec, rule, x, LABELS, LEARN)
    lava = run_lava(spec, rule, x, LABELS, LEARN)
    torch_twin = run_twin_torch(spec, rule, x, LABELS, LEARN)
    assert twin.output.sum() > 0
    assert np.array_equal(lava.output, twin.output)  # tuning and test samples
    assert np.array_equal(lava.output, torch_twin.output)
    for name in FIELDS:
        a, b, c = getattr(twin, name), getattr(lava, name), getattr(torch_twin, name)
        assert sorted(a) == sorted(b) == sorted(c)
        for k in a:
            start = np.broadcast_to(_start(spec, name, k), a[k].shape)
            assert (name in moved) != np.array_equal(a[k], start), (name, k)
            for other in (a[k], c[k]):  # Lava against each twin directly
                if spec.fixed:
                    assert b[k].dtype == np.int64 and np.array_equal(b[k], other)
                else:
                    np.testing.assert_allclose(b[k], other, rtol=0, atol=FLOAT_TOL)
    return twin, lava


def test_float_lava_learns_gains_and_weights_as_the_twin():
    spec = random_spec(51, (10, 12, 6), spiking_bias=("volumetric", "per_neuron"),
                       excitatory=(0, 1), sb_excitatory=(0, 1))  # fmt: skip
    x = random_input(52, 6, 6, 10)
    rule = make_rule(spec, 6, 3, learn=("bias", "gain", "sb_weight"), eta=0.01, eta_gain=0.003,
                     eta_sb=0.01)  # fmt: skip
    twin, lava = _compare(spec, rule, x)
    assert sorted(lava.sb_weights) == [0, 1] and lava.sb_weights[0].shape == (3,)


def test_fixed_lava_learns_gains_and_weights_bit_for_bit():
    spec = random_spec(53, (10, 12, 6), fixed=True, spiking_bias=("per_neuron", "shuffled"),
                       excitatory=(0, 1), sb_excitatory=(0, 1), bias_exp="random")  # fmt: skip
    x = random_input(54, 6, 6, 10)
    rule = make_rule(spec, 6, 3, learn=("bias", "gain", "sb_weight"), eta_mant=[60, 30],
                     eta_shift=2, eta_gain_mant=[30, 20], eta_gain_shift=9, eta_sb_mant=40,
                     eta_sb_shift=[6, 7])  # fmt: skip
    _compare(spec, rule, x)


def test_fixed_lava_gains_and_weights_without_biases_on_one_layer():
    """Biases frozen (rate 0 in Lava, skipped in the twin), layer 0 untuned with its spiking
    bias frozen; layer 1's volumetric spiking bias learns."""
    spec = random_spec(55, (10, 12, 6), fixed=True, spiking_bias=("per_neuron", "volumetric"),
                       excitatory=(0, 1), sb_excitatory=(0, 1))  # fmt: skip
    x = random_input(56, 6, 6, 10)
    rule = make_rule(spec, 6, 3, layers=[1], learn=("gain", "sb_weight"), eta_gain_mant=25,
                     eta_gain_shift=9, eta_sb_mant=40, eta_sb_shift=6)  # fmt: skip
    twin, lava = _compare(spec, rule, x, moved=("gains", "sb_weights"))
    assert sorted(lava.sb_weights) == [1]


def test_learning_spiking_bias_process_errors():
    from lava_nt.processes.ondevice.process import LearningNTLIF, LearningSpikingBias

    with pytest.raises(ParameterError, match="'eta_w_mant' is not a float learning parameter"):
        LearningSpikingBias(shape=(2,), eta_w_mant=3)
    with pytest.raises(ParameterError, match="LearningSpikingBias: 'eta' must be finite"):
        LearningSpikingBias(shape=(2,), eta_w=-1.0)
    with pytest.raises(ParameterError, match=r"'eta_shift' must be in \[0, 48\]"):
        LearningSpikingBias(shape=(2,), precision="fixed", eta_w_mant=3, eta_w_shift=50)
    with pytest.raises(ParameterError, match="'eta_gain_mant' is not a float learning"):
        LearningNTLIF(shape=(3,), learn_steps=2, reset_interval=4, eta_gain_mant=1)
    with pytest.raises(ParameterError, match="eta_gain: 'eta' must be finite"):
        LearningNTLIF(shape=(3,), learn_steps=2, reset_interval=4, eta_gain=float("nan"))
