"""lava_nt.testing: random specs and inputs, deterministic per seed, options honoured."""

import numpy as np
import pytest

from lava_nt.network import run_reference
from lava_nt.spec.fixed import FixedNTLIFParameters
from lava_nt.spec.ntlif import NTLIFParameters
from lava_nt.spec.validation import ParameterError
from lava_nt.testing import random_input, random_spec


def _arrays(spec):
    """Every number of a spec, flattened (for equality across builds)."""
    out = []
    for layer in spec.layers:
        out.append(np.asarray(layer.weight, float).ravel())
        out += [np.asarray(v, float).ravel() for v in layer.neuron if not isinstance(v, bool)]
        if layer.spiking_bias is not None:
            out.append(np.asarray(layer.spiking_bias.w_in, float).ravel())
    return np.concatenate(out)


@pytest.mark.parametrize("fixed", [False, True])
def test_deterministic_per_seed(fixed):
    a = random_spec(7, (9, 6, 4), fixed=fixed, spiking_bias=("per_neuron", "grouped"))
    b = random_spec(7, (9, 6, 4), fixed=fixed, spiking_bias=("per_neuron", "grouped"))
    c = random_spec(8, (9, 6, 4), fixed=fixed, spiking_bias=("per_neuron", "grouped"))
    np.testing.assert_array_equal(_arrays(a), _arrays(b))
    assert not np.array_equal(_arrays(a), _arrays(c))
    np.testing.assert_array_equal(random_input(3, 5, 2, 9), random_input(3, 5, 2, 9))
    assert not np.array_equal(random_input(3, 5, 2, 9), random_input(4, 5, 2, 9))


def test_options_are_honoured():
    spec = random_spec(
        1,
        (12, 8, 8, 4),
        spiking_bias=(None, "volumetric", "integrator"),
        resets=("subtract", "zero"),
        du=0.5,
        dv=[0.1, 0.0, 0.2],
        zero_bias=(1,),
        readout=2,
        readout_reduce="mean",
    )
    assert spec.sizes == [12, 8, 8, 4] and not spec.fixed and spec.input == "spikes"
    assert all(isinstance(layer.neuron, NTLIFParameters) for layer in spec.layers)
    assert [layer.neuron.reset_subtract for layer in spec.layers] == [True, False, True]
    assert [layer.neuron.du for layer in spec.layers] == [0.5] * 3
    assert [layer.neuron.dv for layer in spec.layers] == [0.1, 0.0, 0.2]
    assert np.all(np.asarray(spec.layers[1].neuron.bias) == 0)
    assert np.any(np.asarray(spec.layers[0].neuron.bias) != 0)
    sb = [layer.spiking_bias for layer in spec.layers]
    assert sb[0] is None and sb[1].m == 2 and sb[2].m == 2
    assert np.all(np.asarray(sb[2].params.alpha) == 1.0)
    assert spec.readout.n == 2 and spec.readout.reduce == "mean" and spec.n_out == 2


def test_fixed_and_graded():
    spec = random_spec(2, (6, 5), fixed=True, spiking_bias="grouped", graded=True, readout=3)
    assert spec.fixed and spec.graded and isinstance(spec.layers[0].neuron, FixedNTLIFParameters)
    assert spec.layers[0].spiking_bias.m == 3
    assert np.asarray(spec.layers[0].spiking_bias.params.w_b_mant)[1] == 0  # the silent one
    x = random_input(2, 4, 3, 6, graded=True, fixed=True)
    assert np.all(x == np.round(x)) and x.max() > 1
    out = run_reference(spec, x).output
    assert out.shape == (4, 3, 3) and out.dtype == np.int64


def test_every_spiking_bias_kind_runs():
    spec = random_spec(0, (10, 8, 8, 8), spiking_bias=True)
    kinds = [layer.spiking_bias for layer in spec.layers]
    assert [k.m for k in kinds] == [8, 2, 3] and kinds[0].mask is not None
    res = run_reference(spec, random_input(0, 10, 4, 10), record=True)
    assert res.output.shape == (10, 4, 8)
    assert all(rec["bias_current"] is not None for rec in res.layers)


def test_bad_options_say_what():
    with pytest.raises(ParameterError, match="sizes must be"):
        random_spec(0, (5,))
    with pytest.raises(ParameterError, match="spiking-bias kind"):
        random_spec(0, (5, 4), spiking_bias="sometimes")
    with pytest.raises(ParameterError, match="float only"):
        random_spec(0, (5, 4), fixed=True, spiking_bias="integrator")
