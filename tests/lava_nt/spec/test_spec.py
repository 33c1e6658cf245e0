"""The one neuron spec: validation at the boundary and the integer helpers' Loihi semantics."""

import numpy as np
import pytest

from lava_nt.spec import (
    FixedNTLIFState,
    NTLIFState,
    ParameterError,
    contiguous_groups,
    fixed_ntlif_parameters,
    fixed_ntlif_step,
    fixed_spiking_bias_parameters,
    ntlif_parameters,
    ntlif_step,
    spiking_bias_parameters,
)
from lava_nt.spec.fixed import dense_effective_weights, trunc_shift, wrap_u


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"vht": 1.0}, "unknown parameter 'vht'. Did you mean 'vth'"),
        ({"du": 1.5}, "'du' must be <= 1.0"),
        ({"dv": -0.1}, "'dv' must be >= 0.0"),
        ({"vth": 0.0}, "'vth' must be > 0.0"),
        ({"reset": "hard"}, "'reset' must be one of"),
        ({"bias": np.zeros(4)}, "'bias' must be a scalar or have last dimension 3"),
        ({"gain": [1.0, np.nan, 1.0]}, "'gain' must be finite"),
        ({"vth": np.ones(3)}, "'vth' must be a scalar"),
    ],
)
def test_ntlif_parameters_reject_bad_input(kwargs, fragment):
    with pytest.raises(ParameterError, match=fragment.replace("(", r"\(").replace(".", r"\.")):
        ntlif_parameters(3, where="layer 2", **kwargs)


def test_error_names_the_place():
    with pytest.raises(ParameterError, match="^layer 2: "):
        ntlif_parameters(3, where="layer 2", du=2.0)


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"du": 4096}, "'du' must be in [0, 4095]"),
        ({"vth": 1 << 17}, "'vth' must be in [1, 131071]"),
        ({"bias_mant": [0, 4096, 0]}, "'bias_mant' must be in [-4096, 4095]"),
        ({"bias_exp": 8}, "'bias_exp' must be in [0, 7]"),
        ({"gain_mant": 2048}, "'gain_mant' must be in [-2048, 2047]"),
        ({"dv": 1.5}, "'dv' must be integer-valued"),
        ({"bias": 3}, "unknown parameter 'bias'"),
        ({"vth": [1, 2, 3]}, "'vth' must be a scalar"),
    ],
)
def test_fixed_parameters_reject_out_of_width_values(kwargs, fragment):
    with pytest.raises(ParameterError, match=fragment.replace("[", r"\[").replace("]", r"\]")):
        fixed_ntlif_parameters(3, **kwargs)


def test_spiking_bias_groups_and_validation():
    np.testing.assert_array_equal(contiguous_groups(6, 2), [0, 0, 0, 1, 1, 1])
    with pytest.raises(ParameterError, match="not a multiple of 4"):
        contiguous_groups(10, 4)
    with pytest.raises(ParameterError, match="one bias neuron per target"):
        spiking_bias_parameters(2, 6)
    with pytest.raises(ParameterError, match=r"indices must be in \[0, 1\]"):
        spiking_bias_parameters(2, 3, group=np.array([0, 1, 2]))
    with pytest.raises(ParameterError, match="'c_retention' must be <= 1.0"):
        spiking_bias_parameters(2, 2, c_retention=1.2)
    with pytest.raises(ParameterError, match="'dc' must be a scalar or have last dimension 2"):
        fixed_spiking_bias_parameters(2, 2, dc=[1, 2, 3])
    with pytest.raises(ParameterError, match="unknown parameter 'wb'"):
        fixed_spiking_bias_parameters(2, 2, wb=3)


def test_reference_step_matches_hand_computation():
    p = ntlif_parameters(
        2, du=0.5, dv=0.25, vth=1.0, bias=[0.1, 0.0], gain=[2.0, 1.0], reset="subtract"
    )
    st = NTLIFState(np.zeros(2), np.zeros(2))
    s, st = ntlif_step(np.array([0.3, 0.5]), np.array([0.0, 0.6]), st, p)
    # u = a; v = g (u + b) + c = [0.8, 1.1] -> neuron 1 spikes and subtracts vth
    np.testing.assert_allclose(st.u, [0.3, 0.5])
    np.testing.assert_allclose(st.v, [0.8, 0.1])
    np.testing.assert_array_equal(s, [0.0, 1.0])
    s, st = ntlif_step(np.array([0.0, 0.0]), 0.0, st, p)
    # u = 0.5 u; v = 0.75 v + g (u + b)
    np.testing.assert_allclose(st.u, [0.15, 0.25])
    np.testing.assert_allclose(st.v, [0.6 + 2 * 0.25 - 1.0, 0.075 + 0.25])
    np.testing.assert_array_equal(s, [1.0, 0.0])


def test_threshold_is_strict():
    p = ntlif_parameters(1, du=1.0, dv=1.0, vth=1.0)
    s, _ = ntlif_step(np.array([1.0]), 0.0, NTLIFState(np.zeros(1), np.zeros(1)), p)
    assert s[0] == 0.0
    fp = fixed_ntlif_parameters(1, du=4095, dv=4095, vth=1)
    s, st = fixed_ntlif_step(
        np.array([1]), 0, FixedNTLIFState(np.zeros(1, int), np.zeros(1, int)), fp
    )
    assert st.v[0] == 64 and not s[0]


def test_trunc_shift_rounds_toward_zero():
    x = np.array([-4097, -4096, -4095, -1, 0, 1, 4095, 4096, 4097])
    np.testing.assert_array_equal(trunc_shift(x, 12), [-1, -1, 0, 0, 0, 0, 0, 1, 1])


def test_wrap_follows_lava_expression_including_its_edges():
    half = 1 << 23
    x = np.array([half - 1, half, half + 1, -half + 1, -half, -half - 5])
    # Lava: > 2**23 wraps down, <= -2**23 wraps up; exactly 2**23 is left as is.
    np.testing.assert_array_equal(wrap_u(x), [half - 1, half, -half + 1, -half + 1, half, half - 5])


def test_unity_gain_is_exact_and_gain_scales():
    n = 5
    rng = np.random.default_rng(1)
    a = rng.integers(-300, 300, (50, n))
    c = rng.integers(-2000, 2000, (50, n))
    base = dict(du=1500, dv=700, vth=300, bias_mant=rng.integers(-100, 100, n), bias_exp=3)
    p1 = fixed_ntlif_parameters(n, **base)
    p2 = fixed_ntlif_parameters(n, gain_mant=256, **base)
    st1 = st2 = FixedNTLIFState(np.zeros(n, np.int64), np.zeros(n, np.int64))
    for t in range(50):
        s1, st1 = fixed_ntlif_step(a[t], c[t], st1, p1)
        s2, st2 = fixed_ntlif_step(a[t], c[t], st2, p2)
        np.testing.assert_array_equal(st1.v, st2.v)
    p3 = fixed_ntlif_parameters(n, du=4095, dv=4095, vth=100000, gain_mant=128)
    _, st3 = fixed_ntlif_step(
        np.full(n, 10), 0, FixedNTLIFState(np.zeros(n, int), np.zeros(n, int)), p3
    )
    np.testing.assert_array_equal(st3.v, np.full(n, 320))  # (10 << 6) * 128 / 256


def test_dense_effective_weights_equal_lava_weightutils():
    from lava.utils.weightutils import clip_weights, determine_sign_mode, truncate_weights

    rng = np.random.default_rng(0)
    for trial in range(200):
        lo, hi = [(-300, 300), (0, 300), (-300, 1), (-50, 50)][trial % 4]
        w = rng.integers(lo, hi, size=(7, 5))
        bits = int(rng.integers(1, 9))
        mode = determine_sign_mode(w)
        ref = truncate_weights(clip_weights(w, mode, num_bits=8), mode, bits)
        np.testing.assert_array_equal(dense_effective_weights(w, bits), ref)
    assert dense_effective_weights(np.array([[3, -3]])).tolist() == [[2, -4]]  # the LSB trap
    with pytest.raises(ParameterError, match="integer-valued"):
        dense_effective_weights(np.array([[0.5]]))
