"""Engine-neutral description of a feed-forward NT network (numpy only).

A :class:`NetworkSpec` is what every engine builds from: the torch modules
(:func:`lava_nt.nn.network.NTNetwork.from_spec`), the Lava process graph
(:func:`lava_nt.converters.lava_graph.run_network`) and the numpy reference (:func:`reference_run`).
Layer ``k`` computes ``a = W_k · s_{k-1}``, its optional spiking-bias population computes
``a_b = W_in · s_{k-1}`` and delivers ``c``, and the NTLIF step gives ``s_k``.

:class:`FixedNetworkSpec` is the same in Loihi integers: Dense weight mantissas with one exponent
per layer (as passed to Lava's ``Dense``), :class:`~lava_nt.spec.fixed.FixedNTLIFParameters` and
:class:`~lava_nt.spec.fixed.FixedSpikingBiasParameters`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lava_nt.spec.fixed import (
    FixedNTLIFParameters,
    FixedNTLIFState,
    FixedSpikingBiasParameters,
    FixedSpikingBiasState,
    dense_effective_weights,
    dense_fixed_output,
    fixed_ntlif_step,
    fixed_spiking_bias_step,
)
from lava_nt.spec.ntlif import NTLIFParameters, NTLIFState, ntlif_step
from lava_nt.spec.spiking_bias import SpikingBiasParameters, SpikingBiasState, spiking_bias_step
from lava_nt.spec.validation import ParameterError


def _check_matrix(w, rows: int | None, cols: int, where: str, name: str) -> np.ndarray:
    w = np.asarray(w)
    if w.ndim != 2 or w.shape[1] != cols or (rows is not None and w.shape[0] != rows):
        want = f"({rows if rows is not None else 'n'}, {cols})"
        raise ParameterError(f"{where}: '{name}' must have shape {want}, got {w.shape}")
    if not np.all(np.isfinite(w)):
        raise ParameterError(f"{where}: '{name}' holds non-finite values")
    return w


@dataclass
class SpikingBiasSpec:
    """Spiking-bias population: input matrix ``w_in`` (m x n_in), optional fixed ``mask``
    (True = connection exists; ``w_in`` is zero where False) and its parameters."""

    w_in: np.ndarray
    params: SpikingBiasParameters | FixedSpikingBiasParameters
    mask: np.ndarray | None = None
    w_in_exp: int = 0  # fixed point only: Dense exponent of w_in

    @property
    def m(self) -> int:
        return int(np.asarray(self.w_in).shape[0])


@dataclass
class LayerSpec:
    """One layer: Dense ``weight`` (n x n_in), NTLIF parameters, optional spiking bias."""

    weight: np.ndarray
    neuron: NTLIFParameters | FixedNTLIFParameters
    spiking_bias: SpikingBiasSpec | None = None
    weight_exp: int = 0  # fixed point only

    @property
    def n(self) -> int:
        return int(np.asarray(self.weight).shape[0])


@dataclass
class NetworkSpec:
    """A feed-forward stack of NTLIF layers (floating point unless ``fixed``)."""

    n_in: int
    layers: list[LayerSpec] = field(default_factory=list)
    fixed: bool = False

    def __post_init__(self):
        if not self.layers:
            raise ParameterError("NetworkSpec: at least one layer is required")
        n_prev = self.n_in
        for k, layer in enumerate(self.layers):
            where = f"NetworkSpec layer {k}"
            layer.weight = _check_matrix(layer.weight, None, n_prev, where, "weight")
            sb = layer.spiking_bias
            if sb is not None:
                sb.w_in = _check_matrix(sb.w_in, None, n_prev, where, "spiking_bias.w_in")
                if sb.mask is not None:
                    sb.mask = np.asarray(sb.mask, dtype=bool)
                    if sb.mask.shape != sb.w_in.shape:
                        raise ParameterError(f"{where}: spiking-bias mask shape != w_in shape")
                    if np.any(sb.w_in[~sb.mask] != 0):
                        raise ParameterError(f"{where}: w_in is nonzero where the mask is False")
                group = sb.params.group
                if group is None and sb.m != layer.n:
                    raise ParameterError(
                        f"{where}: {sb.m} bias neurons without groups for {layer.n}"
                    )
                if group is not None and np.asarray(group).shape != (layer.n,):
                    raise ParameterError(
                        f"{where}: spiking-bias group must have shape ({layer.n},)"
                    )
            n_prev = layer.n
        want = FixedNTLIFParameters if self.fixed else NTLIFParameters
        want_sb = FixedSpikingBiasParameters if self.fixed else SpikingBiasParameters
        for k, layer in enumerate(self.layers):
            if not isinstance(layer.neuron, want):
                raise ParameterError(
                    f"NetworkSpec layer {k}: neuron parameters must be {want.__name__}"
                )
            sb = layer.spiking_bias
            if sb is not None and not isinstance(sb.params, want_sb):
                raise ParameterError(
                    f"NetworkSpec layer {k}: spiking-bias parameters must be {want_sb.__name__}"
                )

    @property
    def sizes(self) -> list[int]:
        return [self.n_in] + [layer.n for layer in self.layers]

    @property
    def n_out(self) -> int:
        return self.layers[-1].n


def reference_run(spec: NetworkSpec, x: np.ndarray, record: bool = False):
    """Run the numpy reference of ``spec`` on input spikes ``x`` of shape ``[T, B, n_in]``.

    Every sample starts from a fresh state; returns the output spikes ``[T, B, n_out]`` (and,
    with ``record=True``, a list of per-layer dicts with spikes and bias currents). Fixed-point
    specs use Lava's Dense integer semantics (effective weights, exponent shift).
    """
    x = np.asarray(x)
    if x.ndim != 3 or x.shape[-1] != spec.n_in:
        raise ParameterError(f"reference_run: input must be [T, B, {spec.n_in}], got {x.shape}")
    T, B, _ = x.shape
    recs = []
    s_in = x
    for layer in spec.layers:
        out, rec = _layer_reference(layer, s_in, spec.fixed)
        recs.append(rec)
        s_in = out
    return (s_in, recs) if record else s_in


def _layer_reference(layer: LayerSpec, s_in: np.ndarray, fixed: bool):
    T, B, _ = s_in.shape
    n = layer.n
    sb = layer.spiking_bias
    if fixed:
        W = dense_effective_weights(layer.weight)
        a_all = dense_fixed_output(
            np.einsum("ij,tbj->tbi", W, s_in.astype(np.int64)), layer.weight_exp
        )
        st = FixedNTLIFState(np.zeros((B, n), np.int64), np.zeros((B, n), np.int64))
        if sb is not None:
            Wb = dense_effective_weights(sb.w_in)
            ab_all = dense_fixed_output(
                np.einsum("ij,tbj->tbi", Wb, s_in.astype(np.int64)), sb.w_in_exp
            )
            sst = FixedSpikingBiasState(*(np.zeros((B, sb.m), np.int64),) * 3)
    else:
        a_all = np.einsum("ij,tbj->tbi", layer.weight, s_in.astype(np.float64))
        st = NTLIFState(np.zeros((B, n)), np.zeros((B, n)))
        if sb is not None:
            ab_all = np.einsum("ij,tbj->tbi", sb.w_in, s_in.astype(np.float64))
            sst = SpikingBiasState(*(np.zeros((B, sb.m)),) * 3)
    out = np.zeros((T, B, n))
    c_rec = np.zeros((T, B, n)) if sb is not None else None
    sb_rec = np.zeros((T, B, sb.m)) if sb is not None else None
    for t in range(T):
        c = 0
        if sb is not None:
            step = fixed_spiking_bias_step if fixed else spiking_bias_step
            c, s_b, sst = step(ab_all[t], sst, sb.params)
            c_rec[t] = c
            sb_rec[t] = s_b
        step = fixed_ntlif_step if fixed else ntlif_step
        s, st = step(a_all[t], c, st, layer.neuron)
        out[t] = s
    return out, {"spikes": out, "bias_current": c_rec, "bias_spikes": sb_rec}
