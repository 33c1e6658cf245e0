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
    assert np.all(np.asarray(sb[2].params.c_retention) == 1.0)
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


def test_defaults_reproduce_the_plain_call():
    """Every new option at its default draws exactly what the plain call draws."""
    for fixed in (False, True):
        plain = random_spec(5, (10, 8, 6), fixed=fixed, spiking_bias=True, readout=2)
        explicit = random_spec(
            5, (10, 8, 6), fixed=fixed, spiking_bias=True, readout=2, vth=None,
            weight_scale=None, excitatory=(), sb_excitatory=(), gain=None, sb_density=None,
            sb_weight_scale=None, weight_exp=0, w_in_exp=0, bias_exp=4,
        )  # fmt: skip
        np.testing.assert_array_equal(_arrays(plain), _arrays(explicit))


@pytest.mark.parametrize("fixed", [False, True])
def test_new_options_are_deterministic_per_seed(fixed):
    kw = dict(
        fixed=fixed, spiking_bias=("shuffled", "volumetric", "per_neuron"), excitatory=(1,),
        sb_excitatory=(0,), sb_density=0.3, weight_scale=(0.5, 0.2, 1.0) if not fixed else
        (100, 25, 128), vth=(1.0, 0.8, 1.2) if not fixed else (600, 400, 200),
    )  # fmt: skip
    if fixed:
        kw.update(weight_exp=(0, 1, -1), w_in_exp=1, bias_exp="random")
    else:
        kw.update(weight_mean=0.1, fan_in=True)
    a, b = random_spec(3, (16, 12, 8, 8), **kw), random_spec(3, (16, 12, 8, 8), **kw)
    c = random_spec(4, (16, 12, 8, 8), **kw)
    np.testing.assert_array_equal(_arrays(a), _arrays(b))
    for la, lb in zip(a.layers, b.layers, strict=True):
        np.testing.assert_array_equal(la.spiking_bias.mask, lb.spiking_bias.mask)
        np.testing.assert_array_equal(la.spiking_bias.params.group, lb.spiking_bias.params.group)
    assert not np.array_equal(_arrays(a), _arrays(c))


def test_float_weight_options_are_honoured():
    spec = random_spec(
        0, (400, 300, 200), excitatory=(1,), weight_scale=(2.0, 0.5), weight_mean=(1.0, 0.0),
        fan_in=True, vth=(0.9, 1.1), gain=1.0,
    )  # fmt: skip
    w0, w1 = (np.asarray(layer.weight) for layer in spec.layers)
    assert abs(w0.std() - 2.0 / 20) < 0.005 and abs(w0.mean() - 1.0 / 20) < 0.005  # sqrt(400)
    assert w1.min() >= 0 and w0.min() < 0  # layer 1 is excitatory, layer 0 mixed
    assert abs(w1.mean() - 0.5 / np.sqrt(300) * np.sqrt(2 / np.pi)) < 0.002  # |N(0, s)|
    assert [layer.neuron.vth for layer in spec.layers] == [0.9, 1.1]
    assert all(np.all(np.asarray(layer.neuron.gain) == 1.0) for layer in spec.layers)


def test_fixed_register_options_are_honoured():
    spec = random_spec(
        1, (20, 16, 12, 8), fixed=True, spiking_bias="volumetric", excitatory=(1,),
        sb_excitatory=(2,), weight_scale=(256, 25, 64), sb_weight_scale=30, vth=(600, 400, 200),
        weight_exp=(0, 1, -1), w_in_exp=(1, -1, 0), bias_exp=("random", 2, 6), gain=256,
    )  # fmt: skip
    layers = spec.layers
    assert [int(layer.weight_exp) for layer in layers] == [0, 1, -1]
    assert [int(layer.spiking_bias.w_in_exp) for layer in layers] == [1, -1, 0]
    assert [int(layer.neuron.vth) for layer in layers] == [600, 400, 200]
    w = [np.asarray(layer.weight) for layer in layers]
    assert w[0].min() < -128 and w[0].max() > 128 and w[1].min() >= 0 and w[1].max() < 25
    assert -64 <= w[2].min() < 0 and w[2].max() < 64
    w_in = [np.asarray(layer.spiking_bias.w_in) for layer in layers]
    assert all(np.abs(wi).max() <= 30 for wi in w_in)
    assert w_in[0].min() < 0 and w_in[2].min() >= 0 and w_in[2].max() > 0
    exps = np.asarray(layers[0].neuron.bias_exp)
    assert set(exps.tolist()) == {0, 1, 2, 3}
    assert np.all(np.asarray(layers[1].neuron.bias_exp) == 2)
    assert np.all(np.asarray(layers[2].neuron.bias_exp) == 6)
    assert all(np.all(np.asarray(layer.neuron.gain_mant) == 256) for layer in layers)
    res = run_reference(spec, random_input(1, 20, 8, 20), record=True)
    assert all(rec["spikes"].sum() > 0 for rec in res.layers)


def test_spiking_bias_layout_options():
    spec = random_spec(
        2, (40, 24, 30, 9), spiking_bias=("shuffled", "volumetric", "integrator"),
        sb_density=(0.1, 0.5, None), sb_excitatory=(0,), sb_weight_scale=(1.5, 0.5, 0.5),
    )  # fmt: skip
    sb = [layer.spiking_bias for layer in spec.layers]
    # shuffled: n // 4 bias neurons, each serving exactly 4 neurons in a random explicit order
    group = np.asarray(sb[0].params.group)
    assert sb[0].m == 6 and np.bincount(group).tolist() == [4] * 6
    assert not np.array_equal(group, np.repeat(np.arange(6), 4))
    # every bias neuron keeps at least one input, even at 10 % density
    assert sb[0].mask.any(axis=1).all() and sb[0].mask.mean() < 0.3
    assert np.all(np.asarray(sb[0].w_in)[~sb[0].mask] == 0) and np.asarray(sb[0].w_in).min() >= 0
    # n = 30 is not a multiple of 30 // 4 = 7: 6 contiguous groups of 5
    assert sb[1].m == 6 and 0.3 < sb[1].mask.mean() < 0.7
    assert sb[2].mask is None and sb[2].m == 3  # 9 // 2 = 4 does not divide 9: 3 groups of 3
    mixed = random_spec(
        2, (10, 12, 12), spiking_bias=("grouped", "per_neuron"), sb_mixed_signs=True
    )
    w_b = [np.asarray(layer.spiking_bias.params.w_b) for layer in mixed.layers]
    assert w_b[0][1] == 0 and w_b[0][0] > 0 > w_b[0][2]  # the silent one stays silent
    assert np.all(w_b[1][0::2] > 0) and np.all(w_b[1][1::2] < 0)
    res = run_reference(spec, random_input(2, 25, 8, 40), record=True)
    assert res.layers[0]["bias_spikes"].mean() > 0.05  # the sparse excitatory bias neurons spike


def test_options_of_the_other_precision_are_refused():
    with pytest.raises(ParameterError, match="fixed point only"):
        random_spec(0, (5, 4), weight_exp=1)
    with pytest.raises(ParameterError, match="fixed point only"):
        random_spec(0, (5, 4), bias_exp="random")
    with pytest.raises(ParameterError, match="float only"):
        random_spec(0, (5, 4), fixed=True, fan_in=True)
