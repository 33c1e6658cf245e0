"""lava_nt.result.RunResult: one result type from the numpy reference, the torch network, the
fixed-point emulator and Lava, with the same spikes in it."""

import dataclasses

import numpy as np
import pytest
import torch

from lava_nt.converters.lava_graph import LavaRunResult, run_network
from lava_nt.network import reference_run, run_reference
from lava_nt.nn.fixed_emulator import emulate_fixed, run_fixed
from lava_nt.nn.network import NTNetwork
from lava_nt.result import RunResult
from lava_nt.testing import random_input, random_spec

SIZES = (10, 8, 6)


def _as_np(a):
    return a.detach().cpu().numpy() if hasattr(a, "detach") else np.asarray(a)


def _check_same(results, n_layers, readout):
    ref = results[0]
    assert readout or 0 < float(np.mean(_as_np(ref.output))) < 1, "no activity: test is empty"
    for res in results:
        assert isinstance(res, RunResult)
        assert res.has_readout is readout
        assert len(res.layers) == n_layers and len(res.layer_spikes) == n_layers
        np.testing.assert_array_equal(_as_np(res.output), _as_np(ref.output))
        np.testing.assert_array_equal(_as_np(res["spikes"]), _as_np(ref.spikes))
        for a, b in zip(res.layer_spikes, ref.layer_spikes, strict=True):
            np.testing.assert_array_equal(_as_np(a), _as_np(b))


@pytest.mark.parametrize("readout", [None, 3])
def test_float_engines_return_the_same_result(readout):
    spec = random_spec(3, SIZES, spiking_bias=True, resets=("zero", "subtract"), readout=readout)
    x = random_input(3, T=12, B=4, n_in=SIZES[0])
    net = NTNetwork.from_spec(spec, dtype=torch.float64)
    with torch.no_grad():
        torch_res = net.run(torch.as_tensor(x), record=True)
    lava = run_network(spec, x, "float", record=True)
    assert isinstance(lava, LavaRunResult) and lava.steps > 0 and lava.precision == "float"
    results = [run_reference(spec, x, record=True), torch_res]
    _check_same(results, len(SIZES) - 1, readout is not None)
    # Lava float equals torch float64 up to float rounding of the readout trace
    np.testing.assert_allclose(lava.output, _as_np(torch_res.output), rtol=0, atol=1e-9)
    for a, b in zip(lava.layer_spikes, torch_res.layer_spikes, strict=True):
        np.testing.assert_array_equal(a, _as_np(b))


@pytest.mark.parametrize("readout", [None, 3])
def test_fixed_engines_return_the_same_result(readout):
    spec = random_spec(
        4, SIZES, fixed=True, spiking_bias=("per_neuron", "volumetric"), readout=readout
    )
    x = random_input(4, T=12, B=4, n_in=SIZES[0])
    results = [
        run_reference(spec, x, record=True),
        run_fixed(spec, torch.as_tensor(x), record=True),
        run_network(spec, x, "fixed", record=True),
    ]
    _check_same(results, len(SIZES) - 1, readout is not None)


def test_old_entry_points_keep_their_return_values():
    spec = random_spec(5, SIZES, spiking_bias=True)
    x = random_input(5, T=6, B=3, n_in=SIZES[0])
    res = run_reference(spec, x, record=True)
    out, recs = reference_run(spec, x, record=True)
    np.testing.assert_array_equal(out, res.output)
    np.testing.assert_array_equal(reference_run(spec, x), res.output)
    assert len(recs) == 2
    for a, b in zip(recs, res.layers, strict=True):
        np.testing.assert_array_equal(a["spikes"], b["spikes"])
    net = NTNetwork.from_spec(spec, dtype=torch.float64)
    with torch.no_grad():
        t_out, t_recs, states = net(torch.as_tensor(x), record=True, return_state=True)
        t_res = net.run(torch.as_tensor(x), return_state=True)
    assert torch.equal(t_out, t_res.output) and t_res.layers == [] and len(states) == 2
    assert len(t_res.states) == 2 and len(t_recs) == 2
    fspec = random_spec(5, SIZES, fixed=True)
    emu = emulate_fixed(fspec, torch.as_tensor(x))
    assert isinstance(emu, torch.Tensor)
    assert torch.equal(emu, run_fixed(fspec, torch.as_tensor(x)).output)


def test_result_is_frozen_and_dict_readable():
    res = RunResult(output=np.zeros((2, 1, 3)))
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.output = None
    assert res["output"] is res.output and res.layers == [] and res.states is None
    with pytest.raises(KeyError):
        res["timing"]
