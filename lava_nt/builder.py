"""Feed-forward NT network builder (the thesis' LIF: du = 1, dv = 1 - beta, subtractive reset)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from lava_nt.nn.layer import NTLayer
from lava_nt.nn.network import NTNetwork
from lava_nt.spec.validation import ParameterError, check_positive_int, check_range


def build_network(
    n_in: int,
    hidden: Sequence[int],
    n_classes: int = 2,
    population: int = 50,
    *,
    bias: bool = True,
    beta: float = 0.9,
    vth: float = 1.0,
    reset: str = "subtract",
    du: float = 1.0,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
    neuron: Sequence[dict] | None = None,
) -> NTNetwork:
    """``n_in -> hidden... -> n_classes * population`` NTLIF layers.

    Args:
        n_in: input width; hidden: hidden layer sizes.
        n_classes, population: output coding (``population`` output neurons per class).
        bias: give every layer a trainable per-neuron bias (zero-initialised); False builds a
            network without biases (for the additive-bias method).
        beta, vth, reset, du: default neuron parameters of every layer (``dv = 1 - beta``).
            ``reset="subtract"`` (the default: the thesis' LIF subtracts the threshold after a
            spike, and the EEG example's results depend on it) runs in every lava-nt engine
            (torch, numpy, Lava float and fixed point) but not in formats whose neurons reset to
            zero: netx export refuses it, and NIR export needs ``subtract_reset="metadata"``
            (``lava-nt export-nir --subtract-reset metadata``; only lava-nt's importer reads it
            back). Build with ``reset="zero"`` (``lava-nt train --reset zero``) for a network
            that exports to netx and plain NIR.
        neuron: optional per-layer overrides, e.g. ``[{"vth": 1.5}, {}, {"beta": 0.8}]``.
        seed: weight initialisation (torch's ``nn.Linear`` default, seeded).

    Example: the thesis' EEG network is ``build_network(160, [400, 800], 2, 50)``.
    """
    n_in = check_positive_int(n_in, "build_network", "n_in")
    sizes = [n_in] + [check_positive_int(h, "build_network", "hidden") for h in hidden]
    sizes.append(check_positive_int(n_classes, "build_network", "n_classes")
                 * check_positive_int(population, "build_network", "population"))  # fmt: skip
    nlayers = len(sizes) - 1
    if neuron is not None and len(neuron) != nlayers:
        raise ParameterError(f"build_network: 'neuron' needs {nlayers} entries, got {len(neuron)}")
    gen_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        layers = []
        for k in range(nlayers):
            kw = {"beta": beta, "vth": vth, "reset": reset, "du": du}
            kw.update((neuron or [{}] * nlayers)[k])
            b = kw.pop("beta")
            check_range(b, f"build_network layer {k}", "beta", 0.0, 1.0)
            layers.append(NTLayer(sizes[k], sizes[k + 1], bias=bias, dv=1.0 - b, dtype=dtype, **kw))
    finally:
        torch.random.set_rng_state(gen_state)
    net = NTNetwork(layers)
    net.n_classes = n_classes
    return net
