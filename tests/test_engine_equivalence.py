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
from lava_nt.network import LayerSpec, NetworkSpec, SpikingBiasSpec
from lava_nt.nn.fixed_emulator import emulate_fixed
from lava_nt.nn.network import NTNetwork
from lava_nt.spec import (
    fixed_ntlif_parameters,
    fixed_spiking_bias_parameters,
    ntlif_parameters,
    spiking_bias_parameters,
)

SAMPLES, T, N_IN = 100, 25, 48
SIZES = (40, 30, 12)


def _random_float_spec(rng) -> NetworkSpec:
    layers, n_prev = [], N_IN
    for k, n in enumerate(SIZES):
        if k == 0:
            m, group = n, None  # per-neuron spiking bias
        elif k == 1:
            m, group = 6, "contiguous"  # volumetric, groups of 5
        else:
            m, group = 3, rng.integers(0, 3, n)  # explicit assignment
        mask = rng.random((m, n_prev)) < 0.3
        sb = SpikingBiasSpec(
            rng.normal(0, 0.8, (m, n_prev)) * mask,
            spiking_bias_parameters(
                m, n, du=float(rng.uniform(0.3, 1)), dv=float(rng.uniform(0.1, 0.5)),
                vth=1.0, w_b=rng.normal(0, 0.4, m), alpha=float(rng.uniform(0.5, 0.95)),
                group=group,
            ),
            mask=mask,
        )  # fmt: skip
        layers.append(
            LayerSpec(
                rng.normal(0.0, 0.35, (n, n_prev)),
                ntlif_parameters(
                    n,
                    du=float(rng.uniform(0.2, 1)),
                    dv=float(rng.uniform(0.05, 0.5)),
                    vth=float(rng.uniform(0.8, 1.5)),
                    reset=("zero", "subtract")[k % 2],
                    bias=rng.normal(0, 0.15, n),
                    gain=rng.uniform(0.5, 1.5, n),
                ),  # fmt: skip
                sb,
            )
        )
        n_prev = n
    return NetworkSpec(N_IN, layers)


def _random_fixed_spec(rng) -> NetworkSpec:
    layers, n_prev = [], N_IN
    for k, n in enumerate(SIZES):
        m, group = (n, None) if k != 1 else (6, "contiguous")
        sb = SpikingBiasSpec(
            rng.integers(-120, 120, (m, n_prev)),
            fixed_spiking_bias_parameters(
                m, n, du=int(rng.integers(1000, 4096)), dv=int(rng.integers(200, 2000)),
                vth=int(rng.integers(60, 200)), w_b_mant=rng.integers(-400, 400, m), w_b_exp=4,
                dc=int(rng.integers(100, 1500)), group=group,
            ),
            w_in_exp=int(rng.integers(-1, 2)),
        )  # fmt: skip
        layers.append(
            LayerSpec(
                rng.integers(-200, 200, (n, n_prev)),
                fixed_ntlif_parameters(
                    n,
                    du=int(rng.integers(500, 4096)),
                    dv=int(rng.integers(100, 2000)),
                    vth=int(rng.integers(150, 400)),
                    bias_mant=rng.integers(-300, 300, n),
                    bias_exp=int(rng.integers(3, 7)),
                    gain_mant=rng.integers(100, 500, n),
                    reset=("subtract", "zero")[k % 2],
                ),  # fmt: skip
                sb,
                weight_exp=int(rng.integers(-1, 2)),
            )
        )
        n_prev = n
    return NetworkSpec(N_IN, layers, fixed=True)


def _spikes(rng):
    # per-sample input rates vary so that samples differ in activity (tests the per-sample reset)
    rates = rng.uniform(0.05, 0.5, (1, SAMPLES, 1))
    return (rng.random((T, SAMPLES, N_IN)) < rates).astype(np.float64)


def _assert_active(spikes, name):
    rate = float(np.mean(spikes))
    assert 0.01 < rate < 0.6, f"{name}: firing rate {rate:.3f} makes the comparison meaningless"


@pytest.mark.parametrize("seed", [0, 1])
def test_torch_float64_equals_lava_float(seed):
    rng = np.random.default_rng(seed)
    spec, x = _random_float_spec(rng), _spikes(rng)
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
    rng = np.random.default_rng(100 + seed)
    spec, x = _random_fixed_spec(rng), _spikes(rng)
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
