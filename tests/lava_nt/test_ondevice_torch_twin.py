"""The torch twin of on-device tuning (lava_nt.ondevice.torch_twin) against the numpy twin:
fixed point bit for bit (output spikes, final bias registers, the history), float64 within 1e-12
(observed on these cases: identical, difference 0.0), on small random networks; bad input
raises the numpy twin's errors."""

import numpy as np
import pytest

from lava_nt.ondevice import fixed_rates, make_rule, run_twin, run_twin_torch
from lava_nt.spec.validation import ParameterError
from lava_nt.testing import random_input, random_spec

T, S, N_IN = 8, 6, 12
LABELS = np.array([0, 1, 1, 0, 1, 0])
LEARN = np.array([1, 1, 0, 1, 1, 0])

CASES = [  # (seed, fixed, spiking_bias, graded, feedback, tuned layers)
    (1, False, False, False, "identity", None),
    (2, False, True, False, "derived", None),
    (3, False, True, True, "identity", [1]),
    (4, False, False, True, "derived", None),
    (5, True, False, False, "identity", None),
    (6, True, True, False, "derived", None),
    (7, True, True, True, "identity", [0]),
    (8, True, False, True, "derived", None),
]


def _setup(seed, fixed, sb, graded, feedback, layers):
    spec = random_spec(seed, (N_IN, 10, 4), fixed=fixed, spiking_bias=sb, graded=graded,
                       excitatory=(0, 1), sb_excitatory=(0, 1))  # fmt: skip
    x = random_input(seed + 100, T, S, N_IN, graded=graded, fixed=fixed)
    x_fb = random_input(seed + 200, T, 20, N_IN, graded=graded, fixed=fixed)
    rates = {"eta_mant": 40, "eta_shift": 2} if fixed else {"eta": 0.05}
    rule = make_rule(spec, T, 2, layers=layers, feedback=feedback, x_feedback=x_fb, **rates)
    return spec, rule, x


@pytest.mark.parametrize("case", CASES, ids=[f"seed{c[0]}" for c in CASES])
def test_torch_twin_equals_numpy_twin(case):
    spec, rule, x = _setup(*case)
    a = run_twin(spec, rule, x, LABELS, LEARN)
    b = run_twin_torch(spec, rule, x, LABELS, LEARN, device="cpu")
    assert (b.engine, b.precision) == (a.engine, a.precision)
    assert np.array_equal(b.learn, a.learn)
    assert a.output.sum() > 0  # the networks spike, so the comparison means something
    assert np.array_equal(b.output, a.output)
    assert sorted(b.biases) == sorted(a.biases)
    moved = 0.0
    for k in a.biases:
        start = spec.layers[k].neuron.bias_mant if spec.fixed else spec.layers[k].neuron.bias
        moved = max(moved, float(np.abs(a.biases[k] - start).max()))
        if spec.fixed:
            assert b.biases[k].dtype == np.int64
            assert np.array_equal(b.biases[k], a.biases[k])
            assert np.array_equal(b.history[k], a.history[k])
        else:
            np.testing.assert_allclose(b.biases[k], a.biases[k], rtol=0, atol=1e-12)
            np.testing.assert_allclose(b.history[k], a.history[k], rtol=0, atol=1e-12)
    assert moved > 0  # the rule tuned something


def test_torch_twin_leaves_the_spec_unchanged():
    spec, rule, x = _setup(*CASES[5])
    before = {k: spec.layers[k].neuron.bias_mant.copy() for k in rule.layers}
    run_twin_torch(spec, rule, x, LABELS)
    for k, b in before.items():
        assert np.array_equal(spec.layers[k].neuron.bias_mant, b)


def _message(call):
    with pytest.raises(ParameterError) as err:
        call()
    return str(err.value)


@pytest.mark.parametrize(
    "bad",
    [
        {"labels": np.array([0, 2, 0, 1, 1, 0])},
        {"labels": LABELS.astype(float)},
        {"learn": [1, 2, 0, 0, 0, 0]},
        {"x": np.zeros((T + 1, S, N_IN))},
    ],
    ids=["label-range", "label-dtype", "learn-flags", "steps"],
)
def test_bad_input_gives_the_numpy_twins_error(bad):
    spec, rule, x = _setup(*CASES[0])
    kw = {"x": x, "labels": LABELS, "learn": LEARN} | bad
    want = _message(lambda: run_twin(spec, rule, **kw))
    got = _message(lambda: run_twin_torch(spec, rule, **kw))
    assert got == want.replace("run_twin:", "run_twin_torch:")
    assert got.startswith("run_twin_torch:")


def test_unsupported_network_and_device_are_refused():
    spec, rule, x = _setup(*CASES[0])
    ro = random_spec(0, (N_IN, 4), readout=2)
    with pytest.raises(ParameterError, match="readout"):
        run_twin_torch(ro, rule, x, LABELS)
    with pytest.raises(ParameterError, match="run_twin_torch: unknown device 'tpu'"):
        run_twin_torch(spec, rule, x, LABELS, device="tpu")


@pytest.mark.parametrize("sb", [False, True])
def test_torch_twin_equals_numpy_twin_on_a_quantized_network(sb):
    from lava_nt.converters.quantize import quantize  # lazy: as the other ondevice tests

    fspec = random_spec(11, (N_IN, 10, 4), spiking_bias=sb, excitatory=(0, 1))
    spec = quantize(fspec)[0]
    mants, shifts = fixed_rates(0.05, spec, fspec, [0, 1])
    x = random_input(12, T, S, N_IN)
    rule = make_rule(spec, T, 2, eta_mant=list(mants), eta_shift=list(shifts))
    a = run_twin(spec, rule, x, LABELS, LEARN)
    b = run_twin_torch(spec, rule, x, LABELS, LEARN)
    assert a.output.sum() > 0
    assert np.array_equal(b.output, a.output)
    for k in a.biases:
        assert np.array_equal(b.biases[k], a.biases[k])
