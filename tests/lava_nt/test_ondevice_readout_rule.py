"""The readout output rule of lava_nt.spec.learning on hand-computed cases, and its rule helpers
(targets, rates, feedback) in lava_nt.ondevice.rule."""

import numpy as np
import pytest
import torch

from lava_nt.network import readout_values, run_reference
from lava_nt.ondevice import (
    feedback_matrices,
    fixed_readout_rate,
    make_rule,
    measure_readout_targets,
    readout_feedback,
)
from lava_nt.spec.fixed import dense_effective_weights
from lava_nt.spec.learning import (
    FixedRate,
    Rate,
    check_readout_reduction,
    fixed_readout_bias_update,
    fixed_readout_error,
    readout_bias_update,
    readout_error_bound,
    readout_error_shift,
    readout_targets,
    readout_value_step,
)
from lava_nt.spec.validation import ParameterError
from lava_nt.testing import random_input, random_spec


@pytest.mark.parametrize("xp", [np, torch])
def test_value_step_last_and_running_max(xp):
    vs = [xp.tensor([3, -1]) if xp is torch else np.array([3, -1]),
          xp.tensor([1, 4]) if xp is torch else np.array([1, 4]),
          xp.tensor([2, 0]) if xp is torch else np.array([2, 0])]  # fmt: skip
    last = mx = None
    for t, v in enumerate(vs):
        last = readout_value_step(last, v, t == 0, "last")
        mx = readout_value_step(mx, v, t == 0, "max")
    assert list(np.asarray(last)) == [2, 0]
    assert list(np.asarray(mx)) == [3, 4]


def test_error_saturates_and_bias_update_rounds_and_clips():
    lim = (1 << 23) - 1
    e = fixed_readout_error(np.array([-(1 << 23), 10, 5]), np.array([1 << 23, 3, 5]), 1)
    assert list(e) == [lim, -7, 0]
    assert list(fixed_readout_error(np.array([1, 2]), np.array([9, 9]), 0)) == [0, 0]
    r = FixedRate(np.array([3, 3, 4095]), 2)
    # 3 * 5 = 15 -> 15 / 4 = 3.75 -> 4; 3 * -6 = -18 -> -4.5 -> -5 (half away from zero)
    out = fixed_readout_bias_update(np.array([0, 0, 4000]), np.array([5, -6, 1000]), r)
    assert list(out) == [4, -5, 4095]
    np.testing.assert_allclose(readout_bias_update(np.array([0.5]), np.array([2.0]), Rate(0.25)),
                               [1.0])  # fmt: skip


def test_targets_and_reduction_validation():
    assert readout_targets(7, -3, 2, fixed=True) == (7, -3, 2)
    assert isinstance(readout_targets(7, -3, 2, fixed=True).on, int)
    with pytest.raises(ParameterError, match="integers"):
        readout_targets(1.5, 0, 2, fixed=True)
    with pytest.raises(ParameterError, match="integers within"):
        readout_targets(1 << 23, 0, 2, fixed=True)
    with pytest.raises(ParameterError, match="finite"):
        readout_targets(float("nan"), 0, 2)
    assert check_readout_reduction("max", "x") == "max"
    with pytest.raises(ParameterError, match="not 'mean'"):
        check_readout_reduction("mean", "x")


def test_measured_targets_feedback_and_fixed_rate():
    spec = random_spec(2, (10, 8, 6), excitatory=(0, 1), readout=2)
    x = random_input(3, 8, 10, 10)
    y = np.arange(10) % 2
    on, off = measure_readout_targets(spec, x, y)
    values = readout_values(spec, run_reference(spec, x).output)
    assert on == pytest.approx(np.mean(values[np.arange(10), y]))
    assert off == pytest.approx(np.mean(values[np.arange(10), 1 - y]))
    B = feedback_matrices(spec, [0, 1], "identity")
    assert np.array_equal(B[1], spec.readout.weight.T)  # the last spiking layer: W_r^T
    assert B[0].shape == (8, 2)
    derived = feedback_matrices(spec, [0, 1], "derived", x)
    assert np.allclose(derived[1], spec.readout.weight.T) and derived[0].shape == (8, 2)
    fixed = random_spec(2, (10, 8, 6), fixed=True, excitatory=(0, 1), readout=2)
    W = dense_effective_weights(fixed.readout.weight).T
    assert np.array_equal(readout_feedback(fixed), W * 2.0**fixed.readout.weight_exp)
    fixed.readout.params = fixed.readout.params._replace(bias_exp=np.array([0, 2]))
    mant, shift = fixed_readout_rate(0.01, fixed)
    np.testing.assert_allclose(mant / 2.0**shift, [0.01, 0.0025], rtol=1e-3)
    assert mant.max() <= 4095 and mant.max() * 2 > 4095  # the largest shift that fits
    rule = make_rule(fixed, 8, 2, readout_targets=(100, -100), eta_readout_mant=mant,
                     eta_readout_shift=shift)  # fmt: skip
    assert rule.targets.on == 100 and np.array_equal(rule.readout_rate.eta_mant, mant)
    with pytest.raises(ParameterError, match="fixed-point spec with a readout"):
        fixed_readout_rate(0.01, spec)


def test_error_shift_rounds_and_bounds_the_feedback():
    # -5 / 4 = -1.25 -> -1; 6 / 4 = 1.5 -> 2 (half away from zero)
    assert list(fixed_readout_error(np.array([5, -6]), np.array([0, 0]), 1, 2)) == [-1, 2]
    B = np.array([[100, -20], [3, 4]])
    # e_max = min(2**23 - 1, 2**(24 - s)); the largest row sum is 120; B_exp scales it
    assert readout_error_bound(B, 0, 0) == 120 * ((1 << 23) - 1)
    assert readout_error_bound(B, 2, 10) == (120 * (1 << 14)) << 2
    assert readout_error_bound(B, -1, 10) == (120 * (1 << 14)) >> 1
    s = readout_error_shift([B], [0])
    assert readout_error_bound(B, 0, s) < 1 << 23 <= readout_error_bound(B, 0, s - 1)
    assert s == 8  # 120 * 2**(24 - s) < 2**23 first for s = 8
    fixed = random_spec(2, (10, 8, 6), fixed=True, excitatory=(0, 1), readout=2)
    m0, s0 = fixed_readout_rate(0.01, fixed)
    m3, s3 = fixed_readout_rate(0.01, fixed, error_shift=3)
    np.testing.assert_allclose(m3 / 2.0**s3, 8 * m0 / 2.0**s0, rtol=1e-3)
