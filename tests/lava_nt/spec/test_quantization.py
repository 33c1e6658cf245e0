"""The quantisation rules of lava_nt.spec.quantization: the same values on numpy and torch, the
rounding and bound edge cases, and the two weight-exponent ranges (hardware and quantiser)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lava_nt.spec import quantization as qz
from lava_nt.spec.fixed import DECAY_MAX, GAIN_MAX, GAIN_MIN, VTH_MAX


def both(fn, *arrays, **kw):
    """``fn`` on numpy float64 and on torch float64: asserts the values are equal, returns numpy."""
    a = fn(*[np.asarray(x, dtype=np.float64) for x in arrays], **kw)
    t = fn(*[torch.as_tensor(np.asarray(x, dtype=np.float64)) for x in arrays], **kw)
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float64
    np.testing.assert_array_equal(np.asarray(a), t.numpy())
    return np.asarray(a)


def test_round_half_away_from_zero_on_numpy_and_torch():
    x = [0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 0.49, -0.49, 0.0, -0.0, 1e15 + 0.5, 3.4999999]
    got = both(qz.round_half_away, x)
    np.testing.assert_array_equal(got, [1, -1, 2, -2, 3, -3, 0, 0, 0, 0, 1e15 + 1, 3])
    rng = np.random.default_rng(0)
    r = rng.normal(0, 100, 10_000)
    np.testing.assert_array_equal(both(qz.round_half_away, r), np.sign(r) * np.floor(abs(r) + 0.5))


def test_every_rule_gives_the_same_values_on_numpy_and_torch():
    rng = np.random.default_rng(1)
    x = rng.normal(0, 3, 500)
    S = 173.25
    both(qz.weight_units, x, S=S, e=2)
    both(qz.weight_index, x * 60)
    for mode in ("neuron", "layer", 3):
        e = both(qz.mantissa_exponents, x * 4000, mant_max=4095, exp_mode=mode, exp_max=7)
        both(qz.mantissa, x * 4000, e, mant_max=4095)
    both(qz.threshold_units, np.abs(x), S=S)
    both(qz.threshold_register, np.abs(x) * 1e5)
    both(qz.gain_register, both(qz.gain_units, x))
    both(qz.decay_register, both(qz.decay_units, rng.uniform(0, 1, 500)))
    both(qz.current_decay_register, both(qz.decay_units, rng.uniform(0, 1, 500)))


def test_weight_exponent_is_the_smallest_that_fits_and_respects_its_limits():
    S = 1.0
    assert qz.weight_exponent(0.0, S) == qz.QUANT_WEIGHT_EXP_MIN  # zero weights
    # at e = -1 one pair-index step is 2**6: 127.5 steps do not fit, 127.49 do
    assert qz.weight_exponent(127.49 * 64, S) == -1
    assert qz.weight_exponent(127.5 * 64, S) == 0
    assert qz.weight_exponent(127.5 * 2**13, S) == 7
    assert qz.weight_exponent(1e12, S) == qz.QUANT_WEIGHT_EXP_MAX  # capped; weight_index clips
    assert qz.weight_exponent(1e12, S, exp_max=0) == 0  # netx
    k = both(qz.weight_index, [127.49, 127.5, -127.5, 1e9, -1e9, 0.0, 0.5, -0.5])
    np.testing.assert_array_equal(k, [127, 127, -127, 127, -127, 0, 1, -1])
    assert qz.weight_unit(-1) == 64.0 and qz.weight_unit(7) == 16384.0


def test_mantissa_exponents_per_value_shared_and_fixed():
    q = np.array([4095.0, 4095.5, -8190.0, 0.0, 1e9])
    e = both(qz.mantissa_exponents, q, mant_max=4095, exp_mode="neuron", exp_max=7)
    np.testing.assert_array_equal(e, [0, 1, 1, 0, 7])  # 4095.5 rounds to 4096: one exponent up
    m = both(qz.mantissa, q, e, mant_max=4095)
    np.testing.assert_array_equal(m, [4095, 2048, -4095, 0, 4095])  # 1e9 clipped at exp_max
    e = both(qz.mantissa_exponents, q, mant_max=4095, exp_mode="layer", exp_max=7)
    np.testing.assert_array_equal(e, [7] * 5)
    e = both(qz.mantissa_exponents, q, mant_max=4095, exp_mode=6, exp_max=7)
    np.testing.assert_array_equal(e, [6] * 5)
    empty = both(qz.mantissa_exponents, np.zeros(0), mant_max=4095, exp_mode="layer", exp_max=7)
    assert empty.shape == (0,)


def test_threshold_gain_and_decay_bounds():
    np.testing.assert_array_equal(both(qz.threshold_register, [0.4, 0.5, 1e9]), [0, 1, VTH_MAX])
    assert float(qz.threshold_units(1.0, 64.0)) == 1.0  # vth << 6
    g = both(qz.gain_register, qz.gain_units(np.array([1.0, 0.0, 100.0, -100.0, 1 / 512])))
    np.testing.assert_array_equal(g, [256, 0, GAIN_MAX, GAIN_MIN, 1])
    d = both(qz.decay_register, qz.decay_units(np.array([0.0, 1.0, 0.5, 0.5 / 4096, -0.1])))
    np.testing.assert_array_equal(d, [0, DECAY_MAX, 2048, 1, 0])
    du = both(qz.current_decay_register, qz.decay_units(np.array([1.0, 0.5, 1 / 4096, 0.0])))
    np.testing.assert_array_equal(du, [4095, 2047, 0, 0])  # (du + 1) / 4096; 0 is refused upstream


def test_hardware_and_quantiser_weight_exponent_ranges():
    from lava_nt.converters import lava_graph
    from lava_nt.converters.quantize import QUANT_WEIGHT_EXP_MIN
    from lava_nt.qat import QUANT_WEIGHT_EXP_MAX

    assert (qz.WEIGHT_EXP_MIN, qz.WEIGHT_EXP_MAX) == (-8, 7)  # signed 4-bit register
    assert (lava_graph.validation.WEIGHT_EXP_MIN, lava_graph.validation.WEIGHT_EXP_MAX) == (-8, 7)
    assert QUANT_WEIGHT_EXP_MIN == qz.QUANT_WEIGHT_EXP_MIN == -1
    assert QUANT_WEIGHT_EXP_MAX == qz.WEIGHT_EXP_MAX
    assert qz.WEIGHT_EXP_MIN <= qz.QUANT_WEIGHT_EXP_MIN  # the policy lies inside the hardware


@pytest.mark.parametrize("mode", ["neuron", "layer", 0])
def test_rules_on_torch_keep_the_gradient_path_out(mode):
    """The rules are plain operators: on a tensor that requires grad they still give values (QAT
    detaches before rounding; the exponent choice never needs a gradient)."""
    q = torch.tensor([10.0, -5000.0, 3.0], dtype=torch.float64, requires_grad=True)
    e = qz.mantissa_exponents(q.detach(), 4095, mode, 7)
    m = qz.mantissa(q.detach(), e, 4095)
    assert not m.requires_grad and torch.all(m.abs() <= 4095)
