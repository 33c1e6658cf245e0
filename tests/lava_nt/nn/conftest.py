"""Shared builders for the lava_nt.nn tests: random float and fixed-point NetworkSpecs."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from lava_nt.network import LayerSpec, NetworkSpec, SpikingBiasSpec
from lava_nt.spec import (
    fixed_ntlif_parameters,
    fixed_spiking_bias_parameters,
    ntlif_parameters,
    spiking_bias_parameters,
)

warnings.filterwarnings("ignore", message=".*torch.jit.script.*")


def random_float_spec(
    seed: int = 0,
    sizes=(24, 32, 20, 8),
    resets=("zero", "subtract", "zero"),
    bias_kinds=("volumetric", "per_neuron", None),
    explicit_group: bool = False,
) -> NetworkSpec:
    """A multi-layer float spec with random weights, biases, gains, decays and spiking biases.

    ``bias_kinds[k]``: None, "per_neuron" (m = n) or "volumetric" (m = n/4, contiguous groups or
    a random explicit assignment; W_in 85 % sparse)."""
    rng = np.random.default_rng(seed)
    layers = []
    for k, (n_in, n) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        w = rng.normal(0.1, 1.0, (n, n_in)) / np.sqrt(n_in) * 1.2
        neuron = ntlif_parameters(
            n,
            du=[1.0, 0.4, 0.7][k % 3],
            dv=[0.1, 0.25, 0.05][k % 3],
            vth=[1.0, 0.8, 1.2][k % 3],
            reset=resets[k % len(resets)],
            bias=rng.normal(0.05, 0.15, n),
            gain=rng.uniform(0.6, 1.4, n),
        )
        sb = None
        kind = bias_kinds[k % len(bias_kinds)]
        if kind == "per_neuron":
            w_in = rng.normal(0.1, 1.0, (n, n_in)) / np.sqrt(n_in) * 1.5
            params = spiking_bias_parameters(
                n,
                n,
                du=0.5,
                dv=0.2,
                vth=0.9,
                bias=rng.normal(0.0, 0.1, n),
                w_b=rng.normal(0.0, 0.4, n),
                c_retention=rng.uniform(0.0, 1.0, n),
            )
            sb = SpikingBiasSpec(w_in=w_in, params=params)
        elif kind == "volumetric":
            m = n // 4
            mask = np.zeros(m * n_in, bool)
            mask[rng.permutation(m * n_in)[: int(round(0.15 * m * n_in))]] = True
            mask = mask.reshape(m, n_in)
            w_in = rng.normal(1.0, 1.0, (m, n_in)) * mask
            group = rng.permutation(np.repeat(np.arange(m), 4)) if explicit_group else "contiguous"
            params = spiking_bias_parameters(
                m,
                n,
                dv=0.3,
                vth=1.0,
                w_b=rng.normal(0.0, 0.5, m),
                c_retention=0.8,
                group=group,
            )
            sb = SpikingBiasSpec(w_in=w_in, params=params, mask=mask)
        layers.append(LayerSpec(weight=w, neuron=neuron, spiking_bias=sb))
    return NetworkSpec(n_in=sizes[0], layers=layers)


def random_fixed_spec(
    seed: int = 0,
    sizes=(24, 32, 16, 8),
    resets=("zero", "subtract", "zero"),
    bias_kinds=("volumetric", "per_neuron", None),
) -> NetworkSpec:
    """A multi-layer fixed-point spec: mixed-sign 8-bit weights (LSB truncation), one excitatory
    layer, weight exponents of both signs, bias mantissas/exponents, gains, spiking biases."""
    rng = np.random.default_rng(seed)
    layers = []
    for k, (n_in, n) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        if k == 1:
            w = rng.integers(0, 25, (n, n_in))  # excitatory only: no LSB truncation
        else:
            w = rng.integers(-256, 256, (n, n_in)) // 2 + 10  # mixed sign
        neuron = fixed_ntlif_parameters(
            n,
            du=[4095, 1500, 3000][k % 3],
            dv=[400, 1000, 200][k % 3],
            vth=[600, 400, 900][k % 3],
            reset=resets[k % len(resets)],
            bias_mant=rng.integers(-400, 400, n),
            bias_exp=rng.integers(0, 4, n),
            gain_mant=rng.integers(128, 420, n),
        )
        sb = None
        kind = bias_kinds[k % len(bias_kinds)]
        if kind is not None:
            m = n if kind == "per_neuron" else n // 4
            mask = rng.random((m, n_in)) < (1.0 if kind == "per_neuron" else 0.3)
            w_in = rng.integers(-100, 120, (m, n_in)) * mask
            params = fixed_spiking_bias_parameters(
                m,
                n,
                du=4095,
                dv=300,
                vth=200,
                w_b_mant=rng.integers(-3000, 3000, m),
                w_b_exp=rng.integers(0, 4, m),
                dc=700,
                group=None if kind == "per_neuron" else "contiguous",
            )
            sb = SpikingBiasSpec(
                w_in=w_in,
                params=params,
                mask=None if kind == "per_neuron" else mask,
                w_in_exp=1,
            )
        layers.append(
            LayerSpec(weight=w, neuron=neuron, spiking_bias=sb, weight_exp=[0, 1, -1][k % 3])
        )
    return NetworkSpec(n_in=sizes[0], layers=layers, fixed=True)


def random_input(seed: int, T: int, B: int, n_in: int, rate: float = 0.3) -> np.ndarray:
    rng = np.random.default_rng(seed + 1000)
    return (rng.random((T, B, n_in)) < rate).astype(np.float64)


@pytest.fixture(autouse=True)
def _seed_everything():
    torch.manual_seed(0)
    np.random.seed(0)
    yield


@pytest.fixture
def builders():
    """The spec / input builders of this conftest (pytest's importlib mode cannot import it)."""

    class B:
        float_spec = staticmethod(random_float_spec)
        fixed_spec = staticmethod(random_fixed_spec)
        inputs = staticmethod(random_input)

    return B
