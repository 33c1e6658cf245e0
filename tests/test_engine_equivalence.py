"""Cross-engine proof: Norse/torch vs Lava float, torch fixed-point emulator vs Lava fixed.

Random multi-layer networks mix gains, biases, bias currents, both reset modes, per-neuron and
volumetric spiking biases on several layers; 100 samples x 25 steps run in one long Lava run per
precision (per-sample reset inside the run). Torch runs in float64 because Lava's float models
compute in float64 (float32 rounding flips spikes that sit within ~1e-7 of the threshold).
"""

import numpy as np
import pytest
import torch

from lava_nt.converters.lava_graph import run_network
from lava_nt.network import (
    LayerSpec,
    NetworkSpec,
    readout_values,
    reference_run,
)
from lava_nt.nn.fixed_emulator import emulate_fixed
from lava_nt.nn.network import NTNetwork
from lava_nt.spec import (
    fixed_ntlif_parameters,
    ntlif_parameters,
)
from lava_nt.spec.readout import ReadoutSpec, fixed_readout_parameters, readout_parameters
from lava_nt.testing import random_spec

SAMPLES, T, N_IN = 100, 25, 48
SIZES = (40, 30, 12)


def _random_float_spec(seed: int) -> NetworkSpec:
    """Per-neuron, volumetric (contiguous) and explicitly grouped spiking biases with 30 %
    masks (:func:`lava_nt.testing.random_spec`)."""
    return random_spec(
        seed,
        (N_IN, *SIZES),
        spiking_bias=("per_neuron", "volumetric", "grouped"),
        sb_density=0.3,
        resets=("zero", "subtract"),
        weight_scale=0.3,
    )


def _random_fixed_spec(seed: int) -> NetworkSpec:
    """Per-neuron and volumetric spiking biases, weight and ``w_in`` exponents of both signs,
    bias exponents 3..6 (:func:`lava_nt.testing.random_spec`)."""
    return random_spec(
        seed,
        (N_IN, *SIZES),
        fixed=True,
        spiking_bias=("per_neuron", "volumetric", "per_neuron"),
        resets=("subtract", "zero"),
        weight_exp=(-1, 1, 0),
        w_in_exp=(1, 0, -1),
        bias_exp=(3, 6, 5),
    )


def _spikes(rng):
    # per-sample input rates vary so that samples differ in activity (tests the per-sample reset)
    rates = rng.uniform(0.05, 0.5, (1, SAMPLES, 1))
    return (rng.random((T, SAMPLES, N_IN)) < rates).astype(np.float64)


def _assert_active(spikes, name):
    rate = float(np.mean(spikes))
    assert 0.01 < rate < 0.6, f"{name}: firing rate {rate:.3f} makes the comparison meaningless"


@pytest.mark.parametrize("seed", [0, 1])
def test_torch_float64_equals_lava_float(seed):
    spec, x = _random_float_spec(seed), _spikes(np.random.default_rng(1000 + seed))
    net = NTNetwork.from_spec(spec, dtype=torch.float64)
    with torch.no_grad():
        out, rec = net(torch.as_tensor(x), record=True)
    lava = run_network(spec, x, precision="float", record=True)
    for k in range(len(SIZES)):
        torch_s = rec[k]["spikes"].numpy()
        _assert_active(torch_s, f"layer {k}")
        np.testing.assert_array_equal(lava["layers"][k]["spikes"], torch_s, err_msg=f"layer {k}")
        np.testing.assert_allclose(
            lava["layers"][k]["bias_current"], rec[k]["bias_current"].numpy(), atol=1e-6, rtol=0
        )
    np.testing.assert_array_equal(lava["spikes"], out.numpy())


@pytest.mark.parametrize("seed", [0, 1])
def test_torch_fixed_emulator_equals_lava_fixed(seed):
    spec, x = _random_fixed_spec(100 + seed), _spikes(np.random.default_rng(1100 + seed))
    out, rec = emulate_fixed(spec, torch.as_tensor(x), record=True)
    lava = run_network(spec, x, precision="fixed", record=True)
    for k in range(len(SIZES)):
        emu_s = rec[k]["spikes"].numpy()
        _assert_active(emu_s, f"layer {k}")
        np.testing.assert_array_equal(lava["layers"][k]["spikes"], emu_s, err_msg=f"layer {k}")
        np.testing.assert_array_equal(
            lava["layers"][k]["bias_current"], rec[k]["bias_current"].numpy(), err_msg=f"layer {k}"
        )
    np.testing.assert_array_equal(lava["spikes"], out.numpy())


# ---- graded input and integrator readouts -------------------------------------------------------
def _readout_float_spec(rng, dyadic: bool) -> NetworkSpec:
    """Graded input -> 2 NTLIF layers -> integrator readout. ``dyadic``: every value is a small
    dyadic rational (and the decays 1/2), so float64 sums are exact in any order."""

    def w(shape, scale):
        x = rng.normal(0, scale, shape)
        return np.round(x * 8) / 8 if dyadic else x

    du, dv = (0.5, 0.5) if dyadic else (float(rng.uniform(0.2, 1)), float(rng.uniform(0.1, 0.5)))
    layers, n_prev = [], N_IN
    for n in SIZES[:2]:
        layers.append(
            LayerSpec(
                w((n, n_prev), 0.35),
                ntlif_parameters(n, du=du, dv=dv, vth=1.0, bias=w(n, 0.1), gain=1.0),
            )
        )
        n_prev = n
    readout = ReadoutSpec(
        w((10, n_prev), 0.5),
        readout_parameters(10, du=0.5 if dyadic else 0.125, dv=1.0, bias=w(10, 0.2), reduce="max"),
    )
    return NetworkSpec(N_IN, layers, readout=readout, input="graded")


def _graded(rng, dyadic: bool):
    x = rng.uniform(0, 1, (T, SAMPLES, N_IN)) * rng.uniform(0.2, 1.0, (1, SAMPLES, 1))
    return np.round(x * 8) / 8 if dyadic else x


@pytest.mark.parametrize("dyadic", [True, False])
def test_graded_input_and_readout_torch_float64_equals_lava_float(dyadic):
    rng = np.random.default_rng(7)
    spec, x = _readout_float_spec(rng, dyadic), _graded(rng, dyadic)
    net = NTNetwork.from_spec(spec, dtype=torch.float64)
    with torch.no_grad():
        trace, rec = net(torch.as_tensor(x), record=True)
    lava = run_network(spec, x, precision="float", record=True)
    for k in range(2):
        _assert_active(rec[k]["spikes"].numpy(), f"layer {k}")
        np.testing.assert_array_equal(lava["layers"][k]["spikes"], rec[k]["spikes"].numpy())
    assert lava.output.shape == (T, SAMPLES, 10)
    if dyadic:  # exact arithmetic: value for value
        np.testing.assert_array_equal(lava.output, trace.numpy())
    else:  # the Dense sums in another order than torch's matmul: float rounding only
        np.testing.assert_allclose(lava.output, trace.numpy(), rtol=1e-12, atol=1e-12)
    vals = readout_values(spec, lava.output)
    np.testing.assert_allclose(vals, net.values(trace).numpy(), rtol=1e-12, atol=1e-12)
    assert np.ptp(vals, axis=0).min() > 0.1  # every readout unit differs between samples


def test_graded_input_and_readout_emulator_equals_lava_fixed():
    rng = np.random.default_rng(11)
    layers, n_prev = [], N_IN
    for n in SIZES[:2]:
        layers.append(
            LayerSpec(
                rng.integers(-120, 120, (n, n_prev)) * 2,
                fixed_ntlif_parameters(
                    n,
                    du=int(rng.integers(500, 4096)),
                    dv=int(rng.integers(100, 2000)),
                    vth=int(rng.integers(400, 900)),
                    bias_mant=rng.integers(-300, 300, n),
                    bias_exp=4,
                ),  # fmt: skip
                weight_exp=-1,
            )
        )
        n_prev = n
    readout = ReadoutSpec(
        rng.integers(-120, 120, (10, n_prev)) * 2,
        fixed_readout_parameters(
            10,
            i_decay=0,
            v_decay=4096,
            bias_mant=rng.integers(-500, 500, 10),
            bias_exp=6,
            reduce="mean",
        ),  # fmt: skip
        weight_exp=1,
    )
    spec = NetworkSpec(N_IN, layers, fixed=True, readout=readout, input="graded")
    x = rng.integers(0, 12, (T, SAMPLES, N_IN)) * (rng.random((1, SAMPLES, 1)) < 0.8)
    trace, rec = emulate_fixed(spec, torch.as_tensor(x), record=True)
    lava = run_network(spec, x, precision="fixed", record=True)
    for k in range(2):
        _assert_active(rec[k]["spikes"].numpy(), f"layer {k}")
        np.testing.assert_array_equal(lava["layers"][k]["spikes"], rec[k]["spikes"].numpy())
    assert lava.output.dtype == np.int64
    np.testing.assert_array_equal(lava.output, trace.numpy())
    np.testing.assert_array_equal(lava.output, reference_run(spec, x))
    assert np.abs(trace.numpy()).max() > 1 << 16  # the accumulated current is large
