"""The on-device rule's error gate and class weights (lava_nt.spec.error_gate): hand-computed
gate, tie and weight cases, the balanced weights and their fixed conversion, validation, and the
twin (numpy = torch; a gated run leaves the parameters alone on correctly predicted samples)."""

import numpy as np
import pytest
import torch

from lava_nt.decode import class_counts, predict
from lava_nt.ondevice import make_rule, run_twin, run_twin_torch
from lava_nt.spec.error_gate import (
    FixedClassWeights,
    balanced_class_weights,
    fixed_class_weights,
    fixed_weighted_error,
    predicted_class,
    sample_error,
)
from lava_nt.spec.validation import ParameterError
from lava_nt.testing import random_input, random_spec

TARGET = np.array([4.0, 4.0, 0.0, 0.0])  # class 0 of a 2-class code, 2 neurons per class


def test_a_correct_sample_sends_no_error():
    count = np.array([3.0, 2.0, 1.0, 0.0])  # class scores [5, 1]: predicts 0
    e = sample_error(count, TARGET, 1, 0, 2, "misclassified")
    assert np.array_equal(e, np.zeros(4))
    assert np.array_equal(sample_error(count, TARGET, 1, 0, 2, "always"), [1.0, 2.0, -1.0, 0.0])


def test_a_wrong_sample_sends_the_plain_error():
    count = np.array([0.0, 1.0, 2.0, 3.0])  # scores [1, 5]: predicts 1, label 0
    assert np.array_equal(sample_error(count, TARGET, 1, 0, 2, "misclassified"),
                          [4.0, 3.0, -2.0, -3.0])  # fmt: skip
    assert np.array_equal(sample_error(count, TARGET, 0, 0, 2, "misclassified"), np.zeros(4))


def test_a_tie_goes_to_the_lower_class_as_the_decoder():
    count = np.array([1.0, 0.0, 0.0, 1.0])  # scores [1, 1]
    assert predicted_class(count, 2) == 0 == int(predict(class_counts(count, 2)))
    assert np.array_equal(sample_error(count, TARGET, 1, 0, 2, "misclassified"), np.zeros(4))
    silent = np.zeros(4)  # no spike at all: class 0
    assert np.array_equal(sample_error(silent, TARGET, 1, 1, 2, "misclassified"),
                          TARGET - silent)  # fmt: skip
    rng = np.random.default_rng(0)
    for c in rng.integers(0, 3, (200, 6)):
        assert predicted_class(c, 3) == int(predict(class_counts(c, 3)))
        assert predicted_class(torch.tensor(c), 3) == predicted_class(c, 3)


def test_balanced_weights_and_their_fixed_point():
    w = balanced_class_weights(np.array([0, 0, 0, 1, 1]), 2, learn=np.array([1, 1, 1, 1, 0]))
    np.testing.assert_allclose(w, [4 / 6, 4 / 2])  # N = 4 tuning samples: 3 of 0, 1 of 1
    cw = fixed_class_weights(w)
    assert cw.w_shift == 10 and cw.w_mant.tolist() == [683, 2048]  # 2 * 1024 <= 4095 < 4096
    # e = rshift_round(683 * [2, -1], 10) = [1366, -683] / 1024 -> [1, -1]
    e = fixed_weighted_error(np.array([2, 5]), np.array([4, 4]), 1, 1, 683, 10)
    assert e.tolist() == [1, -1]
    # saturation to 24 bits
    assert fixed_weighted_error(np.array([0]), np.array([60000]), 1, 1, 4095, 0).tolist() == [
        (1 << 23) - 1
    ]
    # weights scale the float error of the label's class
    count = np.array([0.0, 1.0, 2.0, 3.0])
    e = sample_error(count, TARGET, 1, 0, 2, "always", w)
    assert np.array_equal(e, (TARGET - count) * w[0])
    fe = sample_error(count.astype(np.int64), TARGET.astype(np.int64), 1, 1, 2, "always",
                      FixedClassWeights(np.array([683, 2048]), 10), fixed=True)  # fmt: skip
    assert fe.tolist() == [8, 6, -4, -6]  # 2048 / 1024 = 2 exactly


def test_weight_validation():
    with pytest.raises(ParameterError, match=r"classes \[1\] have none"):
        balanced_class_weights(np.array([0, 0]), 2)
    with pytest.raises(ParameterError, match="labels must lie"):
        balanced_class_weights(np.array([0, 3]), 2)
    with pytest.raises(ParameterError, match="above 4095"):
        fixed_class_weights([1.0, 5000.0])
    with pytest.raises(ParameterError, match="finite numbers >= 0"):
        fixed_class_weights([1.0, -1.0])
    spec = random_spec(3, (8, 6, 4))
    with pytest.raises(ParameterError, match="error gate must be one of"):
        make_rule(spec, 6, 2, error_gate="sometimes")
    with pytest.raises(ParameterError, match="class_weights must be 2"):
        make_rule(spec, 6, 2, class_weights=[1.0, 2.0, 3.0])


def _gated(fixed: bool, seed: int):
    spec = random_spec(seed, (10, 8, 4), fixed=fixed, excitatory=(0, 1))
    x = random_input(seed + 1, 8, 10, 10, fixed=fixed)
    y = np.array([0, 0, 0, 0, 0, 0, 0, 1, 1, 0])  # imbalanced
    lr = np.array([1, 1, 1, 1, 1, 1, 1, 1, 1, 0])
    w = balanced_class_weights(y, 2, lr)
    rates = {"eta_mant": 40, "eta_shift": 2} if fixed else {"eta": 0.05}
    rule = make_rule(spec, 8, 2, error_gate="misclassified", class_weights=w, **rates)
    return spec, rule, x, y, lr


@pytest.mark.parametrize("fixed", [False, True])
def test_gated_twin_moves_only_on_wrong_samples_and_torch_agrees(fixed):
    spec, rule, x, y, lr = _gated(fixed, 11)
    res = run_twin(spec, rule, x, y, lr)
    pred = np.asarray(predict(class_counts(res.output.sum(0), 2)))
    start = np.asarray(spec.layers[-1].neuron.bias_mant if fixed else spec.layers[-1].neuron.bias)
    before = np.broadcast_to(start, (4,))
    moved = 0
    for b in range(len(y)):
        now = res.history[1][b]
        if pred[b] == y[b] or not lr[b]:
            assert np.array_equal(now, before), b
        else:
            moved += int(not np.array_equal(now, before))
        before = now
    assert moved > 0 and (pred == y).any()
    tt = run_twin_torch(spec, rule, x, y, lr)
    assert np.array_equal(tt.output, res.output)
    for k in res.biases:
        if fixed:
            assert np.array_equal(tt.biases[k], res.biases[k])
        else:
            np.testing.assert_allclose(tt.biases[k], res.biases[k], rtol=0, atol=1e-12)


def test_learning_cost_counts_only_the_errors_the_gate_sends():
    from lava_nt.hardware.learning import learning_activity

    spec, rule, x, y, lr = _gated(False, 11)
    res = run_twin(spec, rule, x, y, lr)
    plain = make_rule(spec, 8, 2, eta=0.05)
    gated = learning_activity(rule, res.output, y, lr)
    always = learning_activity(plain, res.output, y, lr)
    tune = np.flatnonzero(lr == 1)
    pred = np.asarray(predict(class_counts(res.output.sum(0), 2)))[tune]
    wrong = pred != y[tune]
    assert 0 < wrong.sum() < len(tune)
    # the same run: the gate silences exactly the correct samples' messages
    count = res.output.sum(0)[tune]
    from lava_nt.spec.learning import population_target

    nz = np.array([(population_target(int(c), 4, rule.targets) - k != 0).sum()
                   for c, k in zip(y[tune], count, strict=True)])  # fmt: skip
    assert gated.error_messages == pytest.approx((nz * wrong).mean())
    assert always.error_messages == pytest.approx(nz.mean())
    assert gated.error_messages < always.error_messages
