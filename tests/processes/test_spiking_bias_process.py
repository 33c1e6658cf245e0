"""SpikingBias Lava process: construction and parameter validation (no Lava run; misspelt
keywords are tested with NTLIF's in test_ntlif_process.py).

Its dynamics are compared with the numpy reference inside whole networks, per-neuron, volumetric
and explicitly grouped, float and bit-exact fixed point, in tests/converters/test_lava_graph.py.
"""

import numpy as np
import pytest

from lava_nt.spec import ParameterError


def test_spiking_bias_ports_and_vars():
    from lava_nt.processes.spiking_bias.process import SpikingBias

    p = SpikingBias(shape=(2,), n_target=6, w_b=[0.5, -0.5], c_retention=0.8, group="contiguous")
    assert p.precision == "float" and (p.m, p.n_target) == (2, 6)
    assert p.a_in.shape == (2,) and p.c_out.shape == (6,) and p.s_out.shape == (2,)
    np.testing.assert_array_equal(p.group.init, [0, 0, 0, 1, 1, 1])
    np.testing.assert_array_equal(p.c_retention.init, [0.8, 0.8])
    q = SpikingBias(shape=(3,), w_b=1.0)  # per-neuron: m == n, identity groups
    np.testing.assert_array_equal(q.group.init, [0, 1, 2])
    r = SpikingBias.fixed(
        shape=(2,), n_target=4, w_b_mant=[100, -100], w_b_exp=3, dc=[10, 20], group=[1, 1, 0, 0],
        reset_interval=7, reset_offset=9,
    )  # fmt: skip
    assert r.precision == "fixed"
    assert (r.proc_params["reset_interval"], r.proc_params["reset_offset"]) == (7, 2)
    np.testing.assert_array_equal(r.dc.init, [10, 20])
    np.testing.assert_array_equal(r.group.init, [1, 1, 0, 0])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(shape=(2,), n_target=5), "m == n"),  # no group and m != n
        (dict(shape=(2,), n_target=5, group="contiguous"), "multiple"),
        (dict(shape=(2,), n_target=4, group=[0, 1, 2, 0]), "group"),
        (dict(shape=(2,), n_target=0), "n_target"),
        (dict(shape=(2,), c_retention=1.5), "c_retention"),
        (dict(shape=(2,), w_b=[1.0, 2.0, 3.0]), "w_b"),
        (dict(shape=(2,), precision="fixed", dc=4096), "dc"),
        (dict(shape=(2,), precision="fixed", dc=[1, 2, 3]), "dc"),
        (dict(shape=(2,), precision="fixed", w_b_mant=5000), "w_b_mant"),
        (dict(shape=(2,), precision="fixed", w_b_exp=8), "w_b_exp"),
    ],
)
def test_spiking_bias_bad_values_raise(kwargs, match):
    from lava_nt.processes.spiking_bias.process import SpikingBias

    with pytest.raises(ParameterError, match=match):
        SpikingBias(**kwargs)
