"""Shared builders for the lava_nt.nn tests: random float and fixed-point NetworkSpecs
(:func:`lava_nt.testing.random_spec` with the options these tests use), and one run-and-backprop
helper (:func:`run_with_grads`) for the tests that compare the gradients of two paths."""

from __future__ import annotations

import warnings
from types import SimpleNamespace
from typing import NamedTuple

import numpy as np
import pytest
import torch

from lava_nt.network import NetworkSpec
from lava_nt.nn.fused import fused_forward
from lava_nt.testing import random_input as _random_input
from lava_nt.testing import random_spec

warnings.filterwarnings("ignore", message=".*torch.jit.script.*")


def random_float_spec(
    seed: int = 0,
    sizes=(24, 32, 20, 8),
    resets=("zero", "subtract", "zero"),
    bias_kinds=("volumetric", "per_neuron", None),
    explicit_group: bool = False,
) -> NetworkSpec:
    """A multi-layer float spec (:func:`lava_nt.testing.random_spec`) with random weights
    (positive mean, ~1/sqrt(n_in)), biases, gains, per-layer decays and thresholds and spiking
    biases.

    ``bias_kinds[k]``: None, "per_neuron" (m = n) or "volumetric" (m = n/4, contiguous groups or
    with ``explicit_group`` a random explicit assignment; W_in 85 % sparse and excitatory, so
    that its bias neurons spike)."""
    volumetric = "shuffled" if explicit_group else "volumetric"
    kinds = [volumetric if kind == "volumetric" else kind for kind in bias_kinds]
    return random_spec(
        seed,
        sizes,
        spiking_bias=kinds,
        resets=resets,
        du=(1.0, 0.4, 0.7),
        dv=(0.1, 0.25, 0.05),
        vth=(1.0, 0.8, 1.2),
        weight_mean=0.12,
        weight_scale=1.2,
        fan_in=True,
        sb_density=[0.15 if kind == volumetric else None for kind in kinds],
        sb_weight_scale=[1.5 if kind == volumetric else None for kind in kinds],
        sb_excitatory=[k for k in range(len(sizes) - 1) if kinds[k % len(kinds)] == volumetric],
    )


def random_fixed_spec(
    seed: int = 0,
    sizes=(24, 32, 16, 8),
    resets=("zero", "subtract", "zero"),
    bias_kinds=("volumetric", "per_neuron", None),
) -> NetworkSpec:
    """A multi-layer fixed-point spec (:func:`lava_nt.testing.random_spec`): mixed-sign 8-bit
    weights (LSB truncation), one excitatory layer (layer 1), weight exponents 0, 1, -1,
    per-neuron bias exponents, gains, spiking biases with ``w_in_exp`` 1."""
    return random_spec(
        seed,
        sizes,
        fixed=True,
        spiking_bias=bias_kinds,
        resets=resets,
        du=(4095, 1500, 3000),
        dv=(400, 1000, 200),
        vth=(600, 400, 200),
        excitatory=(1,),
        weight_scale=(128, 25, 128),
        weight_exp=(0, 1, -1),
        w_in_exp=1,
        bias_exp="random",
        sb_density=[0.3 if kind == "volumetric" else None for kind in bias_kinds],
    )


def random_input(seed: int, T: int, B: int, n_in: int, rate: float = 0.3) -> np.ndarray:
    """Binary spikes ``[T, B, n_in]`` (:func:`lava_nt.testing.random_input` at ``seed + 1000``)."""
    return _random_input(seed + 1000, T, B, n_in, rate)


def spike_loss(out, recs, bias_terms: bool = False):
    """A scalar loss that reaches every part of a run: the output spikes weighted by time and
    neuron, plus 0.3 x each layer's firing rate; with ``bias_terms`` also the spiking-bias
    current and spikes (so that the gradients through those records are compared too)."""
    w = torch.linspace(0.5, 1.5, out.shape[0], dtype=out.dtype).view(-1, *[1] * (out.dim() - 1))
    loss = (out * w * torch.linspace(-1.0, 1.0, out.shape[-1], dtype=out.dtype)).sum()
    for r in recs:
        loss = loss + 0.3 * r["spikes"].mean()
        if bias_terms and r["bias_current"] is not None:  # the records are differentiable too
            loss = loss + 0.2 * (r["bias_current"] ** 2).mean() + 0.1 * r["bias_spikes"].mean()
    return loss


class GradRun(NamedTuple):
    """What :func:`run_with_grads` returns."""

    out: torch.Tensor  # the output spikes (detached)
    recs: list  # the per-layer records
    input_grad: torch.Tensor
    grads: dict  # {parameter name: gradient} of every parameter that got one

    @property
    def all_grads(self) -> dict:
        """The parameter gradients and the input's (key ``"input"``)."""
        return {**self.grads, "input": self.input_grad}


def run_with_grads(net, x, T: int, static: bool, fused: bool, bias_terms: bool = False):
    """Run ``net`` on ``x`` (a static input held ``T`` steps, or a sequence) through the fused
    path (:func:`~lava_nt.nn.fused.fused_forward`) or the network itself, and backpropagate
    :func:`spike_loss` to the parameters and the input."""
    x = x.clone().requires_grad_(True)
    if fused:
        out, recs = fused_forward(net, x, T if static else None, record=True)
    elif static:
        out, recs = net.forward_static(x, T, record=True)
    else:
        out, recs = net(x, record=True)
    net.zero_grad(set_to_none=True)
    spike_loss(out, recs, bias_terms).backward()
    grads = {n: p.grad.clone() for n, p in net.named_parameters() if p.grad is not None}
    return GradRun(out.detach(), recs, x.grad.clone(), grads)


@pytest.fixture(autouse=True)
def _seed_everything():
    torch.manual_seed(0)
    np.random.seed(0)
    yield


@pytest.fixture
def builders():
    """The builders and helpers of this conftest (pytest's importlib mode cannot import it)."""
    return SimpleNamespace(
        float_spec=random_float_spec,
        fixed_spec=random_fixed_spec,
        inputs=random_input,
        loss=spike_loss,
        run=run_with_grads,
    )
