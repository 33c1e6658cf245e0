"""Small hand-countable networks for the hardware tests."""

from __future__ import annotations

import numpy as np
import pytest

from lava_nt.network import LayerSpec, NetworkSpec, SpikingBiasSpec
from lava_nt.spec import ntlif_parameters, spiking_bias_parameters

# 3 -> 4 -> 2. Layer 0 has a volumetric spiking bias: 2 bias neurons, groups [0, 0, 1, 1], a
# masked W_in (3 of 6 entries) and w_b = [0.2, 0]: only targets 0 and 1 get a bias synapse.
W0 = np.array(
    [
        [0.5, 0.0, 0.4],
        [0.0, 0.0, 0.6],
        [0.3, 0.3, 0.3],
        [0.0, 0.8, 0.0],
    ]
)  # 7 nonzero
W_IN = np.array([[0.5, 0.0, 0.7], [0.0, 0.3, 0.0]])
MASK = np.array([[True, False, True], [False, True, False]])  # 3 synapses
W1 = np.array([[0.5, -0.5, 0.0, 0.9], [0.0, 0.0, 0.0, 0.7]])  # 4 nonzero


def small_spec(gain0=None, w_b=(0.2, 0.0)) -> NetworkSpec:
    sb = SpikingBiasSpec(
        W_IN.copy(),
        spiking_bias_parameters(
            2,
            4,
            du=1.0,
            dv=0.5,
            vth=0.5,
            w_b=np.array(w_b),
            c_retention=0.5,
            group=np.array([0, 0, 1, 1]),
        ),
        mask=MASK.copy(),
    )
    g0 = np.ones(4) if gain0 is None else np.asarray(gain0, float)
    l0 = LayerSpec(
        W0.copy(), ntlif_parameters(4, du=1.0, dv=0.2, vth=0.5, bias=0.05 * np.ones(4), gain=g0), sb
    )
    l1 = LayerSpec(W1.copy(), ntlif_parameters(2, du=1.0, dv=0.2, vth=0.5, gain=np.ones(2)))
    return NetworkSpec(3, [l0, l1])


@pytest.fixture
def spec342() -> NetworkSpec:
    return small_spec()


@pytest.fixture
def make_spec():
    """``make_spec(gain0=None, w_b=(0.2, 0.0))``: the 3-4-2 network with other gains / w_b."""
    return small_spec
