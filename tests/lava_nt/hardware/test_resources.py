"""Resource arithmetic and the core mapping on hand-counted networks."""

from __future__ import annotations

import numpy as np
import pytest

from lava_nt.converters.quantize import quantize
from lava_nt.hardware.cores import map_to_cores
from lava_nt.hardware.resources import (
    LOIHI1,
    LOIHI2,
    count_resources,
    signed_bits,
    synapse_memory_bits,
    weight_bits,
)
from lava_nt.network import LayerSpec, NetworkSpec
from lava_nt.spec import ntlif_parameters


def dense_spec(sizes, value=0.1):
    layers = [
        LayerSpec(np.full((n, m), value), ntlif_parameters(n, du=1.0, dv=0.1, vth=1.0))
        for m, n in zip(sizes[:-1], sizes[1:], strict=True)
    ]
    return NetworkSpec(sizes[0], layers)


def test_counts_342_masked_spiking_bias(spec342):
    res = count_resources(spec342, chip=LOIHI1)
    l0, l1 = res.layers
    # layer 0: 4 neurons + 2 bias neurons; Loihi 1 adds 4 auxiliary (bias-current) compartments
    assert (l0.n, l0.bias_neurons, l0.aux_compartments) == (4, 2, 4)
    assert (l0.neurons, l0.compartments) == (6, 10)
    # synapses: W 7 nonzero, W_in 3 (masked entries excluded), bias 2 (w_b of bias neuron 1 is 0)
    assert (l0.weight_synapses, l0.w_in_synapses, l0.bias_synapses, l0.synapses) == (7, 3, 2, 12)
    # fan-in per target: W rows [2, 1, 3, 1] + bias synapse [1, 1, 0, 0]; bias rows [2, 1]
    assert l0.fan_in_max == 3
    # fan-out of the 3 inputs: W columns [2, 2, 3] + W_in columns [1, 1, 1]
    assert l0.fan_out_max == 4
    assert (l1.n, l1.bias_neurons, l1.compartments, l1.synapses) == (2, 0, 2, 4)
    assert (l1.fan_in_max, l1.fan_out_max) == (3, 2)
    t = res.totals()
    assert (t["neurons"], t["compartments"], t["synapses"]) == (8, 12, 16)
    # no quantised spec given: no bit widths
    assert l0.weight_bits is None and l0.bias_bits is None
    # Loihi 2 keeps the bias current in the microcoded neuron: no auxiliary compartments
    r2 = count_resources(spec342, chip=LOIHI2)
    assert r2.compartments == 8 and r2.synapses == 16


def test_bit_widths_from_quantised_spec(spec342):
    fixed, _ = quantize(spec342)
    res = count_resources(spec342, fixed)
    for k, lr in enumerate(res.layers):
        fl = fixed.layers[k]
        assert lr.weight_bits == weight_bits(fl.weight)
        assert lr.bias_bits == signed_bits(fl.neuron.bias_mant)
        assert lr.gain_bits == signed_bits(fl.neuron.gain_mant)
        assert 1 <= lr.weight_bits <= 8
    assert res.layers[0].w_in_bits == weight_bits(fixed.layers[0].spiking_bias.w_in)
    assert res.layers[0].w_b_bits == signed_bits(fixed.layers[0].spiking_bias.params.w_b_mant)
    # the fixed spec alone gives the same counts
    assert count_resources(fixed).totals() == res.totals()


def test_signed_and_weight_bits_by_hand():
    assert signed_bits([0, 0]) == 0
    assert signed_bits([3, 1]) == 2
    assert signed_bits([-4, 1]) == 4  # magnitude 4 = 3 bits, plus sign
    # even mantissas with mixed signs: LSB dropped by Lava (no change), common trailing zero
    # bit moved to the exponent -> [5, -3, 2]: 3 bits + sign
    assert weight_bits([[10, -6], [4, 0]]) == 4
    assert weight_bits([[3, 1]]) == 2  # excitatory: no LSB drop
    # mixed signs: 255 -> 254 (LSB dropped), -256 kept: >> 1 -> 127, -128: 8 bits + sign
    assert weight_bits([[255, -256]]) == 9


def test_synapse_memory_arithmetic():
    # 18 bits per entry (8 weight + 10 index); runs of <= 64 entries + 10-bit header, 64-bit words
    got = synapse_memory_bits([0, 1, 64, 65, 130], 8, 10)
    full = 64 * ((64 * 18 + 10 + 63) // 64)  # 19 words = 1216 bits
    assert full == 1216
    assert got.tolist() == [0, 64, 1216, 1216 + 64, 2 * 1216 + 64]


def test_mapping_split_by_compartments():
    spec = dense_spec([10, 2500])
    mp = map_to_cores(spec, LOIHI1, [{"weight_bits": 8}])
    assert mp.n_cores == 3
    assert [c.targets for c in mp.cores] == [[0, 1024], [1024, 2048], [2048, 2500]]
    assert [c.compartments for c in mp.cores] == [1024, 1024, 452]
    # each of the 10 inputs reaches 1024 synapses in a full core: 16 runs of 1216 bits
    assert mp.cores[0].memory_bits == 10 * 16 * 1216
    assert mp.cores[0].input_axons == 10
    assert mp.fits and not mp.violations


def test_mapping_split_by_synaptic_memory():
    # 200 inputs, dense: N targets per core cost 200 * bits(N); 1,048,576 bits allow N = 273
    spec = dense_spec([200, 300])
    mp = map_to_cores(spec, LOIHI1, [{"weight_bits": 8}])
    assert [c.targets for c in mp.cores] == [[0, 273], [273, 300]]
    per_273 = 4 * 1216 + 64 * ((17 * 18 + 10 + 63) // 64)  # 4 full runs + 17 entries (5 words)
    assert mp.cores[0].memory_bits == 200 * per_273 == 1_036_800
    assert mp.cores[1].memory_bits == 200 * 512  # 27 entries: 496 bits -> 8 words
    assert 200 * (4 * 1216 + 384) > LOIHI1.synaptic_memory_bits  # 274 would not fit
    assert mp.layer_cores(0) == 2


def test_mapping_several_layers_output_axons():
    # layer 1 (2500 neurons) needs 3 cores: every layer-0 neuron sends to 3 destination cores
    spec = dense_spec([4, 3, 2500])
    mp = map_to_cores(spec, LOIHI1, [{"weight_bits": 8}] * 2)
    assert mp.n_cores == 4
    assert [c.layer for c in mp.cores] == [0, 1, 1, 1]
    assert mp.cores[0].output_axons == 3 * 3
    assert all(c.output_axons == 0 for c in mp.cores[1:])
    assert mp.cores[1].input_axons == 3


def test_mapping_with_spiking_bias_and_loihi2(spec342):
    mp = map_to_cores(spec342, LOIHI1)
    assert mp.n_cores == 2
    c0, c1 = mp.cores
    assert c0.bias == [0, 2] and c0.targets == [0, 4]
    assert c0.compartments == 10 and c1.compartments == 2
    # input axons of core 0: W sources {0,1,2} + W_in sources {0,1,2} + bias sources {0}
    assert c0.input_axons == 7
    # bias neuron 0 -> core 0 (its own targets); layer-0 neurons 0, 1, 3 -> core 1
    assert c0.output_axons == 1 + 3
    assert map_to_cores(spec342, LOIHI2).n_cores == 2


def test_mapping_violation_fan_in():
    spec = dense_spec([5000, 2])  # every neuron has 5000 inputs > 4096 input axons
    mp = map_to_cores(spec, LOIHI1)
    assert not mp.fits
    assert any("alone exceeds" in v for v in mp.violations)


def test_mapping_bits_validation(spec342):
    with pytest.raises(ValueError):
        map_to_cores(spec342, LOIHI1, [{}])
