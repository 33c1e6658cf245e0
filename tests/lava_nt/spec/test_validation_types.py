"""Strings, bools, complex and other non-real values never slip into a parameter (issue 16)."""

import numpy as np
import pytest

from lava_nt.spec.fixed import fixed_ntlif_parameters, fixed_spiking_bias_parameters
from lava_nt.spec.ntlif import ntlif_parameters
from lava_nt.spec.spiking_bias import spiking_bias_parameters
from lava_nt.spec.validation import ParameterError


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"vth": "1"}, "'vth' must be a number, got str"),
        ({"du": True}, "'du' must be a number, got bool"),
        ({"dv": np.bool_(False)}, "'dv' must be a number, got bool"),
        ({"vth": 1 + 0j}, "'vth' must be real numbers, got complex"),
        ({"bias": ["a", "b", "c"]}, "'bias' must be real numbers, got strings"),
        ({"gain": [True, False, True]}, "'gain' must be real numbers, got booleans"),
        ({"bias": np.array([1, 2, 3], dtype=object)}, "'bias' must be real numbers"),
        ({"bias": True}, "'bias' must be a number, got bool"),
    ],
)
def test_float_ntlif_refuses_non_real_values(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        ntlif_parameters(3, **kwargs)


def test_spiking_bias_refuses_strings():
    with pytest.raises(ParameterError, match="'w_b' must be real numbers, got strings"):
        spiking_bias_parameters(2, 4, w_b=["x", "y"])


@pytest.mark.parametrize("fn", [fixed_ntlif_parameters, fixed_spiking_bias_parameters])
def test_fixed_vth_zero_is_refused(fn):
    args = (3,) if fn is fixed_ntlif_parameters else (3, 3)
    with pytest.raises(ParameterError, match=r"'vth' must be in \[1, 131071\], got 0"):
        fn(*args, vth=0)
    with pytest.raises(ParameterError, match="'vth' must be a number, got str"):
        fn(*args, vth="64")


def test_numbers_still_accepted():
    p = ntlif_parameters(3, du=1, dv=np.float32(0.5), vth=np.int64(2), bias=[0, 1, 2])
    assert float(p.vth) == 2.0 and np.asarray(p.bias).dtype == np.float64
