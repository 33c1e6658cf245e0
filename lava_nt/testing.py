"""Random networks and inputs for tests and the ``lava-nt smoke`` command (numpy only).

:func:`random_spec` builds a random :class:`~lava_nt.network.NetworkSpec`, float or fixed point,
with per-layer choices of decays, reset modes and spiking-bias kinds and an optional readout;
:func:`random_input` the matching input. Both are deterministic given ``seed`` (one
``numpy.random.default_rng(seed)`` each), so a test that fails can be rerun exactly.
:func:`half_active_task` is a small separable classification task for the trainer's tests (torch
tensors; torch is imported only when it is called).
:func:`two_neuron_spec` and :func:`two_neuron_input` are a network small enough to follow by
hand (the on-device rule's worked examples).

Example::

    >>> from lava_nt.testing import random_input, random_spec
    >>> from lava_nt.network import run_reference
    >>> spec = random_spec(0, sizes=(8, 6, 4), spiking_bias=True, resets="subtract")
    >>> spec.sizes
    [8, 6, 4]
    >>> run_reference(spec, random_input(0, T=5, B=3, n_in=8)).output.shape
    (5, 3, 4)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lava_nt.network import LayerSpec, NetworkSpec, SpikingBiasSpec
from lava_nt.spec import (
    fixed_ntlif_parameters,
    fixed_spiking_bias_parameters,
    ntlif_parameters,
    spiking_bias_parameters,
)
from lava_nt.spec.delay import DELAY_MAX, expand_delay
from lava_nt.spec.readout import ReadoutSpec, fixed_readout_parameters, readout_parameters
from lava_nt.spec.validation import ParameterError

__all__ = [
    "SPIKING_BIAS_KINDS",
    "half_active_task",
    "random_input",
    "random_spec",
    "two_neuron_input",
    "two_neuron_spec",
    "with_delays",
]

#: Spiking-bias kinds of :func:`random_spec` (``spiking_bias=True`` cycles through the first
#: three): one bias neuron per neuron with a connectivity mask; ``n // 4`` bias neurons in
#: contiguous groups (the largest divisor of ``n`` up to ``n // 4``); 3 bias neurons with a
#: random explicit group per neuron, the second one silent (``w_b = 0``); ``n // 2`` bias neurons
#: whose current never decays (``c_retention = 1``; float only); ``n // 4`` bias neurons with a
#: random explicit assignment of (about) 4 neurons each.
SPIKING_BIAS_KINDS = ("per_neuron", "volumetric", "grouped", "integrator", "shuffled")


def _per_layer(value, n_layers: int, name: str) -> list:
    """A value for every layer: one value for all, or a sequence cycled over the layers."""
    if isinstance(value, str) or value is None or np.ndim(value) == 0:
        return [value] * n_layers
    value = list(value)
    if not value:
        raise ParameterError(f"random_spec: '{name}' must not be empty")
    return [value[k % len(value)] for k in range(n_layers)]


def _bias_kinds(spiking_bias, n_layers: int) -> list:
    if spiking_bias is True:
        kinds = [SPIKING_BIAS_KINDS[k % 3] for k in range(n_layers)]
    elif spiking_bias is False or spiking_bias is None:
        kinds = [None] * n_layers
    else:
        kinds = _per_layer(spiking_bias, n_layers, "spiking_bias")
    for kind in kinds:
        if kind is not None and kind not in SPIKING_BIAS_KINDS:
            raise ParameterError(
                f"random_spec: spiking-bias kind must be one of {SPIKING_BIAS_KINDS} or None, "
                f"got {kind!r}"
            )
    return kinds


def _mask(rng, m: int, n_prev: int, density: float) -> np.ndarray:
    """A random ``(m, n_prev)`` mask keeping about ``density`` of the entries and at least one
    input of every bias neuron."""
    mask = rng.random((m, n_prev)) < density
    empty = ~mask.any(axis=1)
    mask[empty, rng.integers(0, n_prev, int(empty.sum()))] = True
    return mask


def _divisor(n: int, m: int) -> int:
    """The largest divisor of ``n`` that is at most ``m`` (at least 1): equal contiguous groups."""
    m = max(m, 1)
    while n % m:
        m -= 1
    return m


def _bias_layout(rng, kind: str, n: int, n_prev: int, density):
    """``(m, group, mask or None)`` of a spiking bias of ``kind`` for ``n`` neurons; ``density``
    (None: the kind's own) is the fraction of ``w_in`` entries the mask keeps."""
    if kind == "per_neuron":
        if density is None:
            return n, None, rng.random((n, n_prev)) < 0.6
        return n, None, _mask(rng, n, n_prev, density)
    if kind == "volumetric":
        m, group = _divisor(n, n // 4), "contiguous"
    elif kind == "grouped":
        m, group = 3, rng.integers(0, 3, n)
    elif kind == "shuffled":
        m = max(n // 4, 1)
        group = rng.permutation(np.arange(n) % m)
    else:
        m, group = _divisor(n, n // 2), "contiguous"
    return m, group, None if density is None else _mask(rng, m, n_prev, density)


def _alternate(w_b: np.ndarray) -> np.ndarray:
    """``w_b`` with the signs of its non-zero entries alternating ``+, -, +, ...``."""
    nz = np.flatnonzero(w_b)
    w_b = w_b.copy()
    w_b[nz] = np.abs(w_b[nz]) * np.where(np.arange(len(nz)) % 2, -1, 1)
    return w_b


def _weight(rng, o: dict, n: int, n_prev: int, fixed: bool) -> np.ndarray:
    """The ``(n, n_prev)`` weights of a layer with the options ``o``."""
    if fixed:
        scale = 200 if o["weight_scale"] is None else int(o["weight_scale"])
        return rng.integers(0 if o["excitatory"] else -scale, scale, (n, n_prev))
    scale = 0.7 if o["weight_scale"] is None else float(o["weight_scale"])
    mean = float(o["weight_mean"])
    if o["fan_in"]:
        mean, scale = mean / np.sqrt(n_prev), scale / np.sqrt(n_prev)
    w = rng.normal(mean, scale, (n, n_prev))
    return np.abs(w) if o["excitatory"] else w


def _float_layer(rng, k, n, n_prev, o: dict) -> LayerSpec:
    kind, du, dv, vth, gain = o["kind"], o["du"], o["dv"], o["vth"], o["gain"]
    sb_du = (1.0, 0.6)[k % 2]  # the spiking bias' current decay: none, then 0.4 per step
    sb = None
    if kind is not None:
        m, group, mask = _bias_layout(rng, kind, n, n_prev, o["sb_density"])
        w_in = rng.normal(
            0, 0.5 if o["sb_weight_scale"] is None else o["sb_weight_scale"], (m, n_prev)
        )
        if o["sb_excitatory"]:
            w_in = np.abs(w_in)
        if mask is not None:
            w_in = np.where(mask, w_in, 0.0)
        w_b = rng.normal(0, 0.3, m)
        if kind == "grouped":
            w_b[1] = 0.0
        if o["sb_mixed_signs"]:
            w_b = _alternate(w_b)
        c_ret = np.ones(m) if kind == "integrator" else rng.uniform(0.2, 0.95, m)
        params = spiking_bias_parameters(
            m, n, du=sb_du, dv=0.3, vth=0.8, bias=rng.normal(0, 0.1, m), w_b=w_b,
            c_retention=c_ret, group=group,
        )  # fmt: skip
        sb = SpikingBiasSpec(w_in, params, mask=mask)
    neuron = ntlif_parameters(
        n,
        du=float(rng.uniform(0.2, 1.0)) if du is None else du,
        dv=float(rng.uniform(0.05, 0.4)) if dv is None else dv,
        vth=float(rng.uniform(0.8, 1.2)) if vth is None else vth,
        reset=o["reset"],
        bias=np.zeros(n) if o["zero_bias"] else rng.normal(0.05, 0.1, n),
        gain=rng.uniform(0.5, 1.5, n) if gain is None else np.full(n, float(gain)),
    )
    return LayerSpec(_weight(rng, o, n, n_prev, False), neuron, sb)


def _fixed_layer(rng, k, n, n_prev, o: dict) -> LayerSpec:
    kind, du, dv, vth, gain = o["kind"], o["du"], o["dv"], o["vth"], o["gain"]
    sb = None
    if kind is not None:
        if kind == "integrator":
            raise ParameterError("random_spec: the 'integrator' spiking bias is float only")
        m, group, mask = _bias_layout(rng, kind, n, n_prev, o["sb_density"])
        scale = 120 if o["sb_weight_scale"] is None else int(o["sb_weight_scale"])
        w_in = rng.integers(0 if o["sb_excitatory"] else -scale, scale, (m, n_prev))
        if mask is not None:
            w_in = w_in * mask
        w_b_mant = rng.integers(-400, 400, m)
        if kind == "grouped":
            w_b_mant[1] = 0
        if o["sb_mixed_signs"]:
            w_b_mant = _alternate(w_b_mant)
        params = fixed_spiking_bias_parameters(
            m, n, du=4095, dv=int(rng.integers(200, 2000)), vth=int(rng.integers(60, 200)),
            w_b_mant=w_b_mant, w_b_exp=4, dc=int(rng.integers(100, 1500)), group=group,
        )  # fmt: skip
        sb = SpikingBiasSpec(w_in, params, mask=mask, w_in_exp=int(o["w_in_exp"]))
    neuron = fixed_ntlif_parameters(
        n,
        du=int(rng.integers(500, 4096)) if du is None else int(du),
        dv=int(rng.integers(100, 2000)) if dv is None else int(dv),
        vth=int(rng.integers(150, 400)) if vth is None else int(vth),
        reset=o["reset"],
        bias_mant=np.zeros(n, np.int64) if o["zero_bias"] else rng.integers(-300, 300, n),
        bias_exp=rng.integers(0, 4, n) if o["bias_exp"] == "random" else o["bias_exp"],
        gain_mant=rng.integers(128, 384, n) if gain is None else np.full(n, int(gain)),
    )
    weight = _weight(rng, o, n, n_prev, True)
    return LayerSpec(weight, neuron, sb, weight_exp=int(o["weight_exp"]))


def _readout(rng, n_readout: int, n_prev: int, fixed: bool, reduce: str) -> ReadoutSpec:
    if fixed:
        params = fixed_readout_parameters(
            n_readout, i_decay=1024, v_decay=512, bias_mant=rng.integers(-50, 50, n_readout),
            bias_exp=np.zeros(n_readout, np.int64), reduce=reduce,
        )  # fmt: skip
        return ReadoutSpec(rng.integers(-100, 100, (n_readout, n_prev)), params)
    params = readout_parameters(
        n_readout, du=0.3, dv=0.2, bias=rng.normal(0, 0.05, n_readout), reduce=reduce
    )
    return ReadoutSpec(rng.normal(0, 0.5, (n_readout, n_prev)), params)


def random_spec(
    seed: int,
    sizes: Sequence[int] = (20, 16, 8),
    *,
    fixed: bool = False,
    spiking_bias=False,
    resets="zero",
    du=None,
    dv=None,
    vth=None,
    zero_bias: Sequence[int] = (),
    readout: int | None = None,
    readout_reduce: str = "last",
    graded: bool = False,
    weight_scale=None,
    weight_mean=0.0,
    fan_in: bool = False,
    excitatory: Sequence[int] = (),
    sb_excitatory: Sequence[int] = (),
    gain=None,
    sb_density=None,
    sb_weight_scale=None,
    sb_mixed_signs: bool = False,
    weight_exp=0,
    w_in_exp=0,
    bias_exp=4,
) -> NetworkSpec:
    """A random network ``sizes = [n_in, n_1, ..., n_D]`` (deterministic given ``seed``).

    Args:
        seed: seed of the one ``numpy.random.default_rng`` that draws every value.
        sizes: input width and the neurons of each layer.
        fixed: a fixed-point spec (integer mantissas: 8-bit weights, bias mantissas with
            ``bias_exp`` 4, gains 128..383, decays and thresholds as Lava's registers) instead
            of a float one (weights ~ N(0, 0.7), biases ~ N(0.05, 0.1), gains in [0.5, 1.5]).
        spiking_bias: False (none), True (per layer cycling ``per_neuron``, ``volumetric``,
            ``grouped``), one of :data:`SPIKING_BIAS_KINDS`, or a sequence of kinds / None
            cycled over the layers. A float spiking bias' current decay ``du`` is 1 on even
            layers and 0.6 on odd ones.
        resets: ``"zero"`` or ``"subtract"`` for every layer, or a sequence cycled over layers.
        du, dv, vth: the layers' current / voltage decays and thresholds (one value or a
            sequence cycled over the layers; None draws each layer's at random).
        zero_bias: indices of layers whose bias is zero.
        readout: number of units of a non-spiking readout after the last layer (None: no
            readout), reducing its trace with ``readout_reduce``.
        graded: build the network for graded (real-valued) input.

    The options below are one value or a sequence cycled over the layers, like ``du``; their
    defaults reproduce the draws described above.

    Args:
        weight_scale: float: the weights' standard deviation (default 0.7); fixed: the
            mantissas are drawn from ``[-weight_scale, weight_scale)`` (default 200).
        weight_mean: float only: the weights' mean (default 0).
        fan_in: float only: divide the weights' mean and standard deviation by
            ``sqrt(n_prev)``.
        excitatory: indices of layers whose weights are all >= 0 (float: ``|N(mean, scale)|``;
            fixed: ``[0, weight_scale)``), so that their neurons are driven to spike.
        sb_excitatory: indices of layers whose spiking bias' ``w_in`` is all >= 0 (float:
            ``|N(0, 0.5)|``; fixed: ``[0, 120)``), so that sparse bias neurons spike.
        gain: None draws per-neuron gains; a number gives every neuron that gain (fixed: that
            ``gain_mant``).
        sb_density: the fraction of ``w_in`` entries a spiking bias' mask keeps (None: the
            kind's own, a 60 % mask for ``per_neuron``, no mask for the others); every bias
            neuron keeps at least one input.
        sb_weight_scale: a spiking bias' ``w_in``: float: its standard deviation (default 0.5);
            fixed: the mantissas are drawn from ``[-sb_weight_scale, sb_weight_scale)`` (default
            120).
        sb_mixed_signs: the non-zero bias weights ``w_b`` of every spiking bias alternate in sign
            (``+, -, +, ...``), so that each has excitatory and inhibitory bias neurons.
        weight_exp, w_in_exp: fixed only: the exponents of the layer weights and of the spiking
            bias' ``w_in`` (both signs allowed, e.g. ``(0, 1, -1)``).
        bias_exp: fixed only: the bias exponent of every neuron of a layer, or ``"random"`` for a
            per-neuron draw from 0..3.
    """
    sizes = [int(s) for s in sizes]
    if len(sizes) < 2 or any(s < 1 for s in sizes):
        raise ParameterError(
            f"random_spec: sizes must be [n_in, n_1, ...] with at least one layer, got {sizes}"
        )
    rng = np.random.default_rng(seed)
    n_layers = len(sizes) - 1
    per_layer = dict(
        du=du, dv=dv, vth=vth, reset=resets, weight_scale=weight_scale, weight_mean=weight_mean,
        gain=gain, sb_density=sb_density, sb_weight_scale=sb_weight_scale, weight_exp=weight_exp,
        w_in_exp=w_in_exp, bias_exp=bias_exp,
    )  # fmt: skip
    per_layer = {name: _per_layer(v, n_layers, name) for name, v in per_layer.items()}
    per_layer["kind"] = _bias_kinds(spiking_bias, n_layers)
    options = [
        {
            **{name: values[k] for name, values in per_layer.items()},
            "zero_bias": k in zero_bias,
            "excitatory": k in excitatory,
            "sb_excitatory": k in sb_excitatory,
            "fan_in": fan_in,
            "sb_mixed_signs": sb_mixed_signs,
        }
        for k in range(n_layers)
    ]
    if not fixed and any(
        o["weight_exp"] != 0 or o["w_in_exp"] != 0 or o["bias_exp"] != 4 for o in options
    ):
        raise ParameterError("random_spec: weight_exp, w_in_exp and bias_exp are fixed point only")
    if fixed and (fan_in or any(o["weight_mean"] != 0 for o in options)):
        raise ParameterError("random_spec: weight_mean and fan_in are float only")
    make = _fixed_layer if fixed else _float_layer
    layers = [make(rng, k, n, sizes[k], options[k]) for k, n in enumerate(sizes[1:])]
    ro = None if readout is None else _readout(rng, int(readout), sizes[-1], fixed, readout_reduce)
    return NetworkSpec(
        sizes[0], layers, fixed=fixed, readout=ro, input="graded" if graded else "spikes"
    )


def random_input(
    seed: int,
    T: int,
    B: int,
    n_in: int,
    rate: float = 0.3,
    *,
    graded: bool = False,
    fixed: bool = False,
) -> np.ndarray:
    """Random input ``[T, B, n_in]`` (float64; deterministic given ``seed``): binary spikes that
    fire with probability ``rate``, or for ``graded=True`` real values in [0, 1) (integers in
    0..255 with ``fixed=True``)."""
    rng = np.random.default_rng(seed)
    if graded:
        if fixed:
            return rng.integers(0, 256, (T, B, n_in)).astype(np.float64)
        return rng.random((T, B, n_in))
    return (rng.random((T, B, n_in)) < rate).astype(np.float64)


def with_delays(
    spec: NetworkSpec, seed: int, kinds=("synapse", "output", "input"), T: int = 30
) -> NetworkSpec:
    """``spec`` with one delay form per layer (cycling ``kinds``): ``synapse`` (0..62, both ends
    present), ``output`` (per output neuron, 0..8 with 0 and 8 present), ``input`` (per input,
    0..5 with 0 and 5 present) or ``long`` (every synapse at ``T`` or more: past the window)."""
    rng = np.random.default_rng(seed)
    n_prev = spec.n_in
    for k, ls in enumerate(spec.layers):
        kind = kinds[k % len(kinds)]
        if kind == "synapse":
            d = rng.integers(0, DELAY_MAX + 1, size=(ls.n, n_prev))
            d.flat[0], d.flat[-1] = 0, DELAY_MAX
        elif kind == "output":
            v = rng.integers(0, 9, size=ls.n)
            v[0], v[-1] = 0, 8
            d = expand_delay(v, ls.n, n_prev, "with_delays")
        elif kind == "input":
            v = rng.integers(0, 6, size=n_prev)
            v[0], v[-1] = 0, 5
            d = expand_delay(v, ls.n, n_prev, "with_delays")
        else:
            d = rng.integers(T, DELAY_MAX + 1, size=(ls.n, n_prev))
        ls.delay = d
        n_prev = ls.n
    spec.__post_init__()  # validates the delays
    return spec


def half_active_task(seed: int = 0, n: int = 96, n_in: int = 40):
    """A separable static task for training tests: ``(x [n, n_in], y [n])`` with binary spikes
    ``x`` (float32; probability 0.6 in the half of the inputs that names the class, 0.15 in the
    other) and labels ``y`` in {0, 1} (int64), deterministic given ``seed`` (one
    ``torch.Generator``)."""
    import torch  # lazy: the rest of this module is numpy only

    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    p = torch.full((n, n_in), 0.15)
    p[y == 0, : n_in // 2] = 0.6
    p[y == 1, n_in // 2 :] = 0.6
    return (torch.rand(n, n_in, generator=g) < p).float(), y


def two_neuron_spec(fixed: bool) -> NetworkSpec:
    """2 inputs -> 2 neurons (2 classes x 1): neuron 0 is driven every step by input 0 (weight
    2), neuron 1 only by its bias. Float: ``du = 1``, ``dv = 0``, ``vth = 1``, biases ``[0,
    0.6]``; fixed point: ``du = 4095`` (``u = a << 6``), ``dv = 0`` (``v`` integrates), ``vth = 1``
    (64 voltage units), ``bias_mant = [0, 40]``, ``bias_exp = 0``."""
    if fixed:
        p = fixed_ntlif_parameters(2, du=4095, dv=0, vth=1, bias_mant=[0, 40], bias_exp=0)
        return NetworkSpec(2, [LayerSpec(np.array([[2, 0], [0, 2]]), p)], fixed=True)
    p = ntlif_parameters(2, du=1.0, dv=0.0, vth=1.0, bias=[0.0, 0.6])
    return NetworkSpec(2, [LayerSpec(np.array([[2.0, 0.0], [0.0, 2.0]]), p)])


def two_neuron_input(S: int, T: int = 4) -> np.ndarray:
    """``[T, S, 2]`` input of :func:`two_neuron_spec`: input 0 on every step, input 1 off."""
    x = np.zeros((T, S, 2))
    x[:, :, 0] = 1
    return x
