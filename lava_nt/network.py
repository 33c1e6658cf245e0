"""Engine-neutral description of a feed-forward NT network (numpy only).

A :class:`NetworkSpec` is what every engine builds from: the torch modules
(:func:`lava_nt.nn.network.NTNetwork.from_spec`), the Lava process graph
(:func:`lava_nt.converters.lava_graph.run_network`) and the numpy reference (:func:`reference_run`).
Layer ``k`` computes ``a = W_k · s_{k-1}``, its optional spiking-bias population computes
``a_b = W_in · s_{k-1}`` and delivers ``c``, and the NTLIF step gives ``s_k``. A layer with
synaptic delays (``LayerSpec.delay``, integer steps per synapse) computes
``a_j(t) = sum_i W_ji s_i(t - D_ji)`` instead (:mod:`lava_nt.spec.delay`; its spiking bias and a
readout have no delays).

Input: ``input="spikes"`` (default) takes binary spikes ``s_0``; ``input="graded"`` takes
real-valued data ``x`` (pixel intensities, features; static or changing every step) that enters
the first layer as synaptic current ``a = W_1 · x`` with no spike encoder. In fixed point graded
inputs are integers (the payload of Loihi's graded spikes, :data:`GRADED_INPUT_MAX`).

Output: the last layer's spikes, or, with a :class:`~lava_nt.spec.readout.ReadoutSpec`, the
voltage trace of a non-spiking integrator readout fed by the last layer (``a_r = W_r · s_D``;
:mod:`lava_nt.spec.readout`), whose reduction over the window gives one value per unit.

:class:`FixedNetworkSpec` is the same in Loihi integers: Dense weight mantissas with one exponent
per layer (as passed to Lava's ``Dense``), :class:`~lava_nt.spec.fixed.FixedNTLIFParameters` and
:class:`~lava_nt.spec.fixed.FixedSpikingBiasParameters`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lava_nt.result import RunResult
from lava_nt.spec.delay import check_delay, delay_groups, delayed_input, has_delay
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
from lava_nt.spec.readout import (
    FixedReadoutParameters,
    ReadoutParameters,
    ReadoutSpec,
    ReadoutState,
    fixed_readout_step,
    readout_step,
    reduce_readout,
)
from lava_nt.spec.spiking_bias import SpikingBiasParameters, SpikingBiasState, spiking_bias_step
from lava_nt.spec.validation import ParameterError, check_layer_or_neuron

INPUT_KINDS = ("spikes", "graded")
#: Largest magnitude of a fixed-point graded input (24-bit signed graded-spike payload).
GRADED_INPUT_MAX = (1 << 23) - 1


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
    """One layer: Dense ``weight`` (n x n_in), NTLIF parameters, optional spiking bias, optional
    synaptic ``delay``.

    ``delay`` (None = no delay): an integer ``(n, n_in)`` matrix of steps in
    ``0 .. DELAY_MAX`` (62), one per synapse, the shape of ``weight``; the layer's current is
    ``I_j(t) = sum_i W_ji x_i(t - D_ji)`` with ``x(t < 0) = 0``, and delay 0 is a synapse
    without delay, whose timing equals a layer without ``delay`` (Lava's ``DelayDense``
    delivers a spike ``1 + d`` steps after it was sent, ``Dense`` after 1). Per-neuron,
    per-input and scalar delays become the matrix with
    :func:`lava_nt.spec.delay.expand_delay`; the full definition, including the accumulation
    order of both precisions, is :mod:`lava_nt.spec.delay`. The spiking bias' ``w_in`` has no
    delays.
    """

    weight: np.ndarray
    neuron: NTLIFParameters | FixedNTLIFParameters
    spiking_bias: SpikingBiasSpec | None = None
    weight_exp: int = 0  # fixed point only
    delay: np.ndarray | None = None

    @property
    def n(self) -> int:
        return int(np.asarray(self.weight).shape[0])

    @property
    def has_delay(self) -> bool:
        """True if any synapse of the layer is delayed."""
        return has_delay(self.delay)


def _check_spiking_bias(sb, n: int, n_prev: int, where: str) -> None:
    """A layer's spiking bias (in place: ``w_in`` / ``mask`` as arrays): the input matrix
    ``[?, n_prev]``, its mask, and groups for ``n`` neurons when ``m != n``."""
    sb.w_in = _check_matrix(sb.w_in, None, n_prev, where, "spiking_bias.w_in")
    if sb.mask is not None:
        sb.mask = np.asarray(sb.mask, dtype=bool)
        if sb.mask.shape != sb.w_in.shape:
            raise ParameterError(f"{where}: spiking-bias mask shape != w_in shape")
        if np.any(sb.w_in[~sb.mask] != 0):
            raise ParameterError(f"{where}: w_in is nonzero where the mask is False")
    group = sb.params.group
    if group is None and sb.m != n:
        raise ParameterError(f"{where}: {sb.m} bias neurons without groups for {n}")
    if group is not None and np.asarray(group).shape != (n,):
        raise ParameterError(f"{where}: spiking-bias group must have shape ({n},)")


@dataclass
class NetworkSpec:
    """A feed-forward stack of NTLIF layers (floating point unless ``fixed``), with an optional
    non-spiking ``readout`` and the kind of ``input`` (``"spikes"`` or ``"graded"``)."""

    n_in: int
    layers: list[LayerSpec] = field(default_factory=list)
    fixed: bool = False
    readout: ReadoutSpec | None = None
    input: str = "spikes"

    def __post_init__(self):
        if not self.layers:
            raise ParameterError("NetworkSpec: at least one layer is required")
        if self.input not in INPUT_KINDS:
            raise ParameterError(
                f"NetworkSpec: 'input' must be one of {INPUT_KINDS}, got {self.input!r}"
            )
        n_prev = self.n_in
        for k, layer in enumerate(self.layers):
            where = f"NetworkSpec layer {k}"
            layer.weight = _check_matrix(layer.weight, None, n_prev, where, "weight")
            layer.delay = check_delay(layer.delay, layer.n, n_prev, where)
            if layer.spiking_bias is not None:
                _check_spiking_bias(layer.spiking_bias, layer.n, n_prev, where)
            n_prev = layer.n
        ro = self.readout
        if ro is not None:
            if not isinstance(ro, ReadoutSpec):
                raise ParameterError("NetworkSpec: 'readout' must be a ReadoutSpec")
            ro.weight = _check_matrix(ro.weight, None, n_prev, "NetworkSpec readout", "weight")
            want_ro = FixedReadoutParameters if self.fixed else ReadoutParameters
            if not isinstance(ro.params, want_ro):
                raise ParameterError(f"NetworkSpec readout: parameters must be {want_ro.__name__}")
        want = FixedNTLIFParameters if self.fixed else NTLIFParameters
        want_sb = FixedSpikingBiasParameters if self.fixed else SpikingBiasParameters
        for k, layer in enumerate(self.layers):
            if not isinstance(layer.neuron, want):
                raise ParameterError(
                    f"NetworkSpec layer {k}: neuron parameters must be {want.__name__}"
                )
            for name in ("du", "dv"):  # one decay per layer or one per neuron
                check_layer_or_neuron(
                    getattr(layer.neuron, name), f"NetworkSpec layer {k}", name, layer.n
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
        """Width of the output: readout units if there is a readout, else the last layer."""
        return self.readout.n if self.readout is not None else self.layers[-1].n

    @property
    def graded(self) -> bool:
        return self.input == "graded"

    @property
    def has_delays(self) -> bool:
        """True if any layer has a delayed synapse."""
        return any(layer.has_delay for layer in self.layers)


def check_network_input(spec: NetworkSpec, x, where: str) -> np.ndarray:
    """``x [T, B, n_in]`` checked against the spec's input kind: binary spikes, real values
    (float), or integers within :data:`GRADED_INPUT_MAX` (fixed point); float64 array."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    x = np.asarray(x)
    if x.ndim != 3 or x.shape[-1] != spec.n_in or x.shape[0] < 1 or x.shape[1] < 1:
        raise ParameterError(
            f"{where}: input must be [T, B, {spec.n_in}] with T, B >= 1, got {x.shape}"
        )
    if not (x.dtype == np.bool_ or np.issubdtype(x.dtype, np.number)) or np.iscomplexobj(x):
        raise ParameterError(f"{where}: input must be real numbers, got dtype {x.dtype}")
    xf = x.astype(np.float64)
    if not np.all(np.isfinite(xf)):
        raise ParameterError(f"{where}: input holds non-finite values")
    if not getattr(spec, "graded", False):
        if not np.all((xf == 0) | (xf == 1)):
            bad = xf[(xf != 0) & (xf != 1)].ravel()[0]
            raise ParameterError(
                f"{where}: x must hold binary spikes (0 or 1), found {bad!r} (a network for "
                "real-valued data has input='graded')"
            )
    elif spec.fixed:
        if np.any(xf != np.round(xf)) or np.any(np.abs(xf) > GRADED_INPUT_MAX):
            raise ParameterError(
                f"{where}: a fixed-point network takes graded input as integers within "
                f"+-{GRADED_INPUT_MAX} (quantise it first, e.g. with the input scale of the "
                "QuantReport)"
            )
    return xf


def readout_values(spec: NetworkSpec, trace):
    """The readout values ``[B, n]`` of a readout trace ``[T, B, n]`` (the spec's reduction)."""
    if spec.readout is None:
        raise ParameterError("readout_values: the network has no readout")
    return reduce_readout(trace, spec.readout.reduce)


def run_reference(spec: NetworkSpec, x: np.ndarray, record: bool = False) -> RunResult:
    """Run the numpy reference of ``spec`` on input ``x`` of shape ``[T, B, n_in]`` (spikes, or
    graded values for ``input="graded"``) and return a :class:`~lava_nt.result.RunResult`.

    Every sample starts from a fresh state. ``output`` is ``[T, B, n_out]``: the last layer's
    spikes, or the readout's voltage trace if the spec has a readout (reduce it with
    :func:`readout_values`). With ``record=True`` ``layers`` holds one dict per NTLIF layer with
    ``spikes``, ``bias_current`` and ``bias_spikes``. Fixed-point specs use Lava's Dense integer
    semantics (effective weights, exponent shift) and int64 readout traces.
    """
    return _reference(spec, x, record, "run_reference")


def reference_run(spec: NetworkSpec, x: np.ndarray, record: bool = False):
    """:func:`run_reference` returning plain arrays: the output ``[T, B, n_out]``, or
    ``(output, layers)`` with ``record=True`` (the list of per-layer dicts with spikes and bias
    currents)."""
    res = _reference(spec, x, record, "reference_run")
    return (res.output, res.layers) if record else res.output


def _reference(spec: NetworkSpec, x, record: bool, where: str) -> RunResult:
    x = check_network_input(spec, x, where)
    recs = []
    s_in = x
    for layer in spec.layers:
        out, rec = _layer_reference(layer, s_in, spec.fixed)
        recs.append(rec)
        s_in = out
    if spec.readout is not None:
        s_in = _readout_reference(spec.readout, s_in, spec.fixed)
    return RunResult(
        output=s_in, layers=recs if record else [], has_readout=spec.readout is not None
    )


def _readout_reference(ro: ReadoutSpec, s_in: np.ndarray, fixed: bool) -> np.ndarray:
    T, B, _ = s_in.shape
    if fixed:
        W = dense_effective_weights(ro.weight)
        a_all = dense_fixed_output(
            np.einsum("ij,tbj->tbi", W, s_in.astype(np.int64)), ro.weight_exp
        )
        zero = np.zeros((B, ro.n), np.int64)
        step = fixed_readout_step
    else:
        a_all = np.einsum("ij,tbj->tbi", ro.weight, s_in.astype(np.float64))
        zero = np.zeros((B, ro.n))
        step = readout_step
    st = ReadoutState(zero, zero)
    out = np.zeros((T, B, ro.n), dtype=zero.dtype)
    for t in range(T):
        out[t], st = step(a_all[t], st, ro.params)
    return out


def _synaptic_reference(layer: LayerSpec, s_in: np.ndarray, fixed: bool) -> np.ndarray:
    """The layer's synaptic current ``[T, B, n]`` (with its delays, :mod:`lava_nt.spec.delay`)."""
    if fixed:
        W = dense_effective_weights(layer.weight)
        x = np.round(s_in).astype(np.int64)

        def project(w, xs):
            return dense_fixed_output(np.einsum("ij,tbj->tbi", w, xs), layer.weight_exp)

    else:
        W = np.asarray(layer.weight, dtype=np.float64)
        x = s_in.astype(np.float64)

        def project(w, xs):
            return np.einsum("ij,tbj->tbi", w, xs)

    if not layer.has_delay:
        return project(W, x)
    groups = delay_groups(layer.delay)
    masked = [np.where(mask, W, 0) for _, mask in groups]
    return delayed_input(x, groups, lambda idx, xs: project(masked[idx], xs))


def _layer_reference(layer: LayerSpec, s_in: np.ndarray, fixed: bool):
    T, B, _ = s_in.shape
    n = layer.n
    sb = layer.spiking_bias
    a_all = _synaptic_reference(layer, s_in, fixed)
    if fixed:
        st = FixedNTLIFState(np.zeros((B, n), np.int64), np.zeros((B, n), np.int64))
        if sb is not None:
            Wb = dense_effective_weights(sb.w_in)
            ab_all = dense_fixed_output(
                np.einsum("ij,tbj->tbi", Wb, s_in.astype(np.int64)), sb.w_in_exp
            )
            sst = FixedSpikingBiasState(*(np.zeros((B, sb.m), np.int64),) * 3)
    else:
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
