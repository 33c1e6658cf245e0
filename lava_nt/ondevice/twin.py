"""The twin of on-device tuning: the same rule, sample by sample, without Lava (numpy or torch).

:func:`run_twin` runs a :class:`~lava_nt.network.NetworkSpec` over a sequence of samples; after
each sample the tuned layers' biases (and, as ``rule.learn`` says, their gains and their spiking
biases' weights) change by the rules of :mod:`lava_nt.spec.learning` (only on samples with
``learn = 1``), so every sample runs with the parameters the previous ones left::

    for each sample b:
        every layer from a fresh state, T steps, parameters of now:  spikes, eligibilities
        e   = learn_b * gate_b * w_{y_b} * (target(y_b) - output counts)   (gate, weights: 1
              unless the rule opts in, :mod:`lava_nt.spec.error_gate`)
        l_k = B_k e ;  bias_k, gain_k, w_b_k <- updates(l_k, eligibilities_k)   (tuned layers k)

A network that ends in a readout (:mod:`lava_nt.spec.readout`) runs it over the sample too; its
window value (``"last"`` or ``"max"``) against the value targets is the error ``e``, and its bias
changes by the delta rule after the sample (:mod:`lava_nt.spec.learning`, "Readout output").

A layer's spiking bias (:mod:`lava_nt.spec.spiking_bias`) runs with it and delivers its
current as in every engine; when its weights learn it also keeps the pre trace of its spikes.
It computes each layer's synaptic input as Lava's ``Dense`` does
(the sum of the weight columns of the inputs that spiked; ``W x`` for graded input; fixed point:
effective 8-bit weights and the exponent shift; a layer with synaptic delays through the delay
line of :mod:`lava_nt.spec.delay`, as ``run_reference`` and Lava's ``DelayDense`` do: over the
sample's ``T`` steps, empty at its start, a spike whose delay reaches past ``T`` is lost, so the
output keeps the frame of the layer without delay) and calls the spec's step functions, so it
equals the Lava run (:func:`lava_nt.ondevice.lava_engine.run_lava`): bit for bit in fixed
point, and in float64 up to the order of additions, which the twin keeps (tests compare both).

The loop is written once over an array backend (:class:`NumpyArrays` here; the torch twin
:func:`lava_nt.ondevice.torch_twin.run_twin_torch` passes its torch backend), so the numpy and
the torch twin run the same code on different arrays.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np

from lava_nt.decode import check_labels
from lava_nt.network import NetworkSpec, check_network_input
from lava_nt.ondevice.rule import OnDeviceRule, check_rule
from lava_nt.spec.delay import delay_groups, delayed_input
from lava_nt.spec.error_gate import sample_error
from lava_nt.spec.fixed import (
    FixedNTLIFState,
    FixedSpikingBiasState,
    dense_effective_weights,
    dense_fixed_output,
    fixed_ntlif_step,
    fixed_spiking_bias_step,
)
from lava_nt.spec.learning import (
    bias_update,
    eligibility_increment,
    fan_out,
    feedback_signal,
    fixed_bias_update,
    fixed_feedback_signal,
    fixed_gain_eligibility_step,
    fixed_gain_update,
    fixed_readout_bias_update,
    fixed_sb_eligibility_step,
    fixed_sb_signal,
    fixed_sb_trace_step,
    fixed_sb_weight_update,
    fixed_threshold,
    gain_eligibility_step,
    gain_update,
    group_matrix,
    group_sum,
    population_target,
    readout_bias_update,
    sb_eligibility_step,
    sb_signal,
    sb_trace_step,
    sb_weight_update,
)
from lava_nt.spec.ntlif import NTLIFState, ntlif_step
from lava_nt.spec.readout import ReadoutState, fixed_readout_step, readout_step, reduce_readout
from lava_nt.spec.spiking_bias import SpikingBiasState, spiking_bias_step
from lava_nt.spec.validation import ParameterError


@dataclass
class OnDeviceResult:
    """What an on-device tuning run returns (twin or Lava).

    Attributes:
        output: output spikes ``[T, S, n_out]`` (float 0/1) of every sample, in run order, or
            with a readout its voltage trace ``[T, S, n_readout]`` (float64; integer values in
            fixed point).
        biases: final bias of each tuned layer (``{layer: array}``): float biases, or the
            integer ``bias_mant`` registers in fixed point.
        learn: the ``[S]`` learning flags (1: the sample tuned the biases).
        engine: "twin" or "lava".
        precision: "float" or "fixed".
        history: twin only: the tuned biases after every sample (``{layer: [S, n]}``).
        steps, window: Lava only: time steps run and steps per sample window.
        gains: when gains learn: final gain of each tuned layer (float ``gain`` or the integer
            ``gain_mant``; ``{layer: [n]}``).
        sb_weights: when spiking-bias weights learn: final ``w_b`` (float) or ``w_b_mant``
            (fixed) of each tuned layer's spiking bias (``{layer: [m]}``).
        readout_bias: a network with a readout: its final bias (float) or ``bias_mant``.
    """

    output: np.ndarray
    biases: dict
    learn: np.ndarray
    engine: str
    precision: str
    history: dict = field(default_factory=dict)
    steps: int = 0
    window: int = 0
    gains: dict = field(default_factory=dict)
    sb_weights: dict = field(default_factory=dict)
    readout_bias: np.ndarray | None = None


def check_run(spec: NetworkSpec, rule: OnDeviceRule, x, labels, learn, where: str):
    """Validated ``(x [T, S, n_in] float64, labels [S] int64, learn [S] int64)``."""
    check_rule(spec, rule, where)
    x = check_network_input(spec, x, where)
    T, S, _ = x.shape
    if T != rule.T:
        raise ParameterError(f"{where}: x has {T} steps per sample, the rule counts {rule.T}")
    y = np.asarray(labels)
    if y.shape != (S,) or not np.issubdtype(y.dtype, np.integer):
        raise ParameterError(f"{where}: labels must be {S} integers, got {y.dtype} {y.shape}")
    check_labels(y, rule.targets.n_classes, where)
    lr = np.ones(S, np.int64) if learn is None else np.asarray(learn)
    if lr.shape != (S,) or not np.all((lr == 0) | (lr == 1)):
        raise ParameterError(f"{where}: learn must be {S} flags (0 or 1)")
    return x, y.astype(np.int64), lr.astype(np.int64)


class NumpyArrays:
    """The twin's array backend on numpy: int64 arrays in fixed point, float64 in float.

    A backend gives the loop what differs between array libraries: ``dtype`` (of the run),
    ``float64``, ``tensor`` (a new array from numpy data), ``zeros``, ``cast``, ``params`` (a
    parameter NamedTuple in the backend's arrays) and ``numpy`` (back to a numpy array).
    """

    float64 = np.float64

    def __init__(self, fixed: bool):
        self.fixed = fixed
        self.dtype = np.int64 if fixed else np.float64

    def tensor(self, x, dtype=None):
        return np.array(x, dtype=dtype or self.dtype)

    def zeros(self, *shape, dtype=None):
        return np.zeros(shape, dtype or self.dtype)

    def cast(self, x, dtype=None):
        return np.asarray(x).astype(dtype or self.dtype)

    def params(self, nt):
        return nt

    def numpy(self, x) -> np.ndarray:
        return np.array(x)


def _drive(W, x_t, graded: bool):
    """Lava ``Dense``'s accumulation of one step's input ``x_t`` (before any exponent); numpy
    arrays or torch tensors."""
    if graded:
        return W @ x_t
    return W[:, x_t != 0].sum(axis=1)


def _delayed_drive(layer, W, x_in, xp):
    """A delayed layer's synaptic input ``[T, n]`` over one sample (``x_in [T, n_in]``), the
    delay line of :mod:`lava_nt.spec.delay` (its groups and :func:`delayed_input`, empty at the
    sample start, nothing after ``T``): per delay value ``d`` the masked weights times ``x(t -
    d)``; fixed point scales each group by the exponent on its own, as Lava's ``DelayDense``."""
    groups = delay_groups(layer.delay)
    masked = [W * xp.tensor(mask, dtype=W.dtype) for _, mask in groups]

    def project(idx, xs):
        a = xs @ masked[idx].T
        return dense_fixed_output(a, layer.weight_exp) if xp.fixed else a

    return delayed_input(x_in, groups, project)


class _Bias:
    """A layer's spiking bias over one sample: the current ``c`` it delivers at each step (and,
    with ``trace``, the pre trace of its spikes for the weight rule)."""

    def __init__(self, sb, p, xp, graded: bool, trace: bool):
        self.sb, self.p, self.fixed, self.graded = sb, p, xp.fixed, graded
        m = sb.m
        if self.fixed:
            self.W = xp.tensor(dense_effective_weights(sb.w_in))
            self.st = FixedSpikingBiasState(*(xp.zeros(m),) * 3)
        else:
            self.W = xp.tensor(sb.w_in)
            self.st = SpikingBiasState(*(xp.zeros(m),) * 3)
        self.tr = xp.zeros(m) if trace else None

    def current(self, x_t):
        a_b = _drive(self.W, x_t, self.graded)
        if self.fixed:
            a_b = dense_fixed_output(a_b, self.sb.w_in_exp)
            c, s_b, self.st = fixed_spiking_bias_step(a_b, self.st, self.p)
        else:
            c, s_b, self.st = spiking_bias_step(a_b, self.st, self.p)
        if self.tr is not None:
            self.tr = (fixed_sb_trace_step(self.tr, s_b, self.p.dc) if self.fixed
                       else sb_trace_step(self.tr, s_b, self.p.c_retention))  # fmt: skip
        return c

    def trace(self):
        """The trace at each target neuron (``[n]``)."""
        return fan_out(self.tr, self.p.group)


@dataclass
class _Learning:
    """What one tuned layer counts during a sample: the band, and whether gain / weight
    eligibilities are kept; after the sample, the eligibilities counted."""

    band: object
    gain: bool = False
    sb: bool = False
    count: object = None
    elig_gain: object = None
    elig_sb: object = None


def _count(lk: _Learning, inc, st, p, bias, fixed: bool) -> None:
    """Add one step's eligibility ``inc`` to the layer's counters."""
    lk.count = lk.count + inc
    if lk.gain:
        lk.elig_gain = (
            fixed_gain_eligibility_step(lk.elig_gain, inc, st.u, p.bias_mant, p.bias_exp)
            if fixed else gain_eligibility_step(lk.elig_gain, inc, st.u, p.bias)
        )  # fmt: skip
    if lk.sb:
        step = fixed_sb_eligibility_step if fixed else sb_eligibility_step
        lk.elig_sb = step(lk.elig_sb, inc, bias.trace())


def _layer(layer, x_in, p, sbp, graded: bool, xp, lk: _Learning | None):
    """One layer over ``T`` steps of one sample: its spikes ``[T, n]`` (float64); the
    eligibilities are counted into ``lk`` (a tuned layer)."""
    T, n = x_in.shape[0], layer.n
    if xp.fixed:
        W = xp.tensor(dense_effective_weights(layer.weight))
        st = FixedNTLIFState(xp.zeros(n), xp.zeros(n))
        thr = fixed_threshold(int(p.vth))
        x_in = xp.cast(x_in)
    else:
        W = xp.tensor(layer.weight)
        st = NTLIFState(xp.zeros(n), xp.zeros(n))
        thr = p.vth
    sb = layer.spiking_bias
    bias = None if sb is None else _Bias(sb, sbp, xp, graded, lk is not None and lk.sb)
    if lk is not None:
        lk.count = xp.zeros(n)
        lk.elig_gain = xp.zeros(n) if lk.gain else None
        lk.elig_sb = xp.zeros(n) if lk.sb else None
    out = xp.zeros(T, n, dtype=xp.float64)
    delayed = _delayed_drive(layer, W, x_in, xp) if layer.has_delay else None
    for t in range(T):
        c = (0 if xp.fixed else 0.0) if bias is None else bias.current(x_in[t])
        if delayed is not None:
            a = delayed[t]
        elif xp.fixed:
            a = dense_fixed_output(_drive(W, x_in[t], graded), layer.weight_exp)
        else:
            a = _drive(W, x_in[t], graded)
        if xp.fixed:
            s, st = fixed_ntlif_step(a, c, st, p)
        else:
            s, st = ntlif_step(a, c, st, p)
        if lk is not None:
            _count(lk, eligibility_increment(s, st.v, thr, lk.band), st, p, bias, xp.fixed)
        out[t] = s
    return out


def _readout(ro, p, s_in, xp):
    """The readout over one sample: its voltage trace ``[T, n]`` (fresh state, the readout's
    Dense on the last layer's spikes ``s_in [T, n_last]``)."""
    T, n = s_in.shape[0], ro.n
    if xp.fixed:
        W = xp.tensor(dense_effective_weights(ro.weight))
        s_in = xp.cast(s_in)
    else:
        W = xp.tensor(ro.weight)
    st = ReadoutState(xp.zeros(n), xp.zeros(n))
    trace = xp.zeros(T, n)
    for t in range(T):
        a = _drive(W, s_in[t], False)
        if xp.fixed:
            trace[t], st = fixed_readout_step(dense_fixed_output(a, ro.weight_exp), st, p)
        else:
            trace[t], st = readout_step(a, st, p)
    return trace


def run_twin(spec: NetworkSpec, rule: OnDeviceRule, x, labels, learn=None) -> OnDeviceResult:
    """Run on-device tuning in numpy (float64 or int64 as ``spec``).

    Args:
        spec: the network; its biases are the starting point (``spec`` is not changed).
        rule: the :class:`~lava_nt.ondevice.rule.OnDeviceRule` (``rule.T`` steps per sample).
        x: input ``[T, S, n_in]`` (spikes, or graded values for a graded spec).
        labels: ``[S]`` class labels (the targets of the learning samples).
        learn: ``[S]`` flags, 1 = learn from this sample (default: all).

    Returns:
        :class:`OnDeviceResult` with every sample's output spikes, the final tuned biases and
        the bias history.
    """
    x, y, lr = check_run(spec, rule, x, labels, learn, "run_twin")
    return run_twin_on(spec, rule, x, y, lr, NumpyArrays(spec.fixed))


def _names(fixed: bool) -> dict:
    """The parameter field each kind changes, in the spec's precision."""
    if fixed:
        return {"bias": "bias_mant", "gain": "gain_mant", "sb_weight": "w_b_mant"}
    return {"bias": "bias", "gain": "gain", "sb_weight": "w_b"}


def _per_neuron(xp, value, n: int):
    """A fresh per-neuron copy of a parameter in the backend's arrays (the spec never changes)."""
    return xp.tensor(np.broadcast_to(np.asarray(value), (n,)))


def run_twin_on(spec: NetworkSpec, rule: OnDeviceRule, x, y, lr, xp) -> OnDeviceResult:
    """The per-sample loop of :func:`run_twin` on the array backend ``xp`` (checked inputs:
    ``x [T, S, n_in]`` float64, ``y`` and ``lr`` ``[S]`` int64, as :func:`check_run` returns)."""
    T, S, _ = x.shape
    fixed = spec.fixed
    name = _names(fixed)
    gain_on, sb_on = rule.learns("gain"), rule.learns("sb_weight")
    neurons = [xp.params(layer.neuron) for layer in spec.layers]
    sbps = [None if la.spiking_bias is None else xp.params(la.spiking_bias.params)
            for la in spec.layers]  # fmt: skip
    tuned = dict(zip(rule.layers, range(len(rule.layers)), strict=True))
    G, learning = {}, {}
    for k, i in tuned.items():
        layer, sb = spec.layers[k], spec.layers[k].spiking_bias
        kinds = ("bias", "gain") if gain_on else ("bias",)
        neurons[k] = neurons[k]._replace(**{name[kd]: _per_neuron(
            xp, getattr(layer.neuron, name[kd]), layer.n) for kd in kinds})  # fmt: skip
        learning[k] = _Learning(xp.params(rule.params[i]).band, gain_on, sb_on and sb is not None)
        if learning[k].sb:
            w = _per_neuron(xp, getattr(sb.params, name["sb_weight"]), sb.m)
            sbps[k] = sbps[k]._replace(**{name["sb_weight"]: w})
            gm = group_matrix(sb.params.group, sb.m)
            G[k] = None if gm is None else xp.tensor(gm)
    B = [xp.tensor(b) for b in rule.effective_feedback(fixed)]
    lparams = [xp.params(p) for p in rule.params]
    grates = [xp.params(r) for r in rule.gain_params] if gain_on else []
    wrates = [None if r is None else xp.params(r) for r in rule.sb_params] if sb_on else []
    history = {k: xp.zeros(S, spec.layers[k].n) for k in rule.layers}
    xs = xp.tensor(x, dtype=xp.float64)
    output = xp.zeros(T, S, spec.n_out, dtype=xp.float64)
    ro, K = spec.readout, rule.targets.n_classes
    if ro is not None:
        rop = xp.params(ro.params._replace(**{name["bias"]: _per_neuron(
            xp, getattr(ro.params, name["bias"]), ro.n)}))  # fmt: skip
        rorate = xp.params(rule.readout_rate)
    for b in range(S):
        s_in = xs[:, b, :]
        for k, layer in enumerate(spec.layers):
            s_in = _layer(layer, s_in, neurons[k], sbps[k], k == 0 and spec.graded, xp,
                          learning.get(k))  # fmt: skip
        target = xp.tensor(population_target(y[b], spec.n_out, rule.targets))
        if ro is None:
            output[:, b, :] = s_in
            e = sample_error(xp.cast(s_in.sum(0)), target, int(lr[b]), int(y[b]), K,
                             rule.error_gate, rule.class_weights, fixed)  # fmt: skip
        else:  # the readout's value of the window against its target; its bias learns
            trace = _readout(ro, rop, s_in, xp)
            output[:, b, :] = xp.cast(trace, xp.float64)
            value = reduce_readout(trace, ro.reduce)
            e = sample_error(value, target, int(lr[b]), int(y[b]), K, rule.error_gate,
                             rule.class_weights, fixed, rule.error_shift)  # fmt: skip
            update = fixed_readout_bias_update if fixed else readout_bias_update
            rop = rop._replace(**{name["bias"]: update(getattr(rop, name["bias"]), e, rorate)})
        for k, i in tuned.items():
            p, lk = neurons[k], learning[k]
            if fixed:
                l_k = fixed_feedback_signal(B[i], e, int(rule.feedback_exp[i]))
            else:
                l_k = feedback_signal(B[i], e)
            new = {}
            if rule.learns("bias"):
                update = fixed_bias_update if fixed else bias_update
                new[name["bias"]] = update(getattr(p, name["bias"]), l_k, lk.count, lparams[i])
            if gain_on:
                update = fixed_gain_update if fixed else gain_update
                new[name["gain"]] = update(getattr(p, name["gain"]), l_k, lk.elig_gain, grates[i])
            neurons[k] = p._replace(**new)
            history[k][b] = getattr(neurons[k], name["bias"])
            if lk.sb:
                Q = group_sum((fixed_sb_signal if fixed else sb_signal)(l_k, lk.elig_sb), G[k])
                update = fixed_sb_weight_update if fixed else sb_weight_update
                w = update(getattr(sbps[k], name["sb_weight"]), Q, wrates[i])
                sbps[k] = sbps[k]._replace(**{name["sb_weight"]: w})
    return OnDeviceResult(
        xp.numpy(output),
        {k: xp.numpy(getattr(neurons[k], name["bias"])) for k in rule.layers},
        lr, "twin", "fixed" if fixed else "float",
        history={k: xp.numpy(h) for k, h in history.items()},
        gains={k: xp.numpy(getattr(neurons[k], name["gain"])) for k in rule.layers}
        if gain_on else {},
        sb_weights={k: xp.numpy(getattr(sbps[k], name["sb_weight"])) for k in rule.layers
                    if learning[k].sb},
        readout_bias=None if ro is None else xp.numpy(getattr(rop, name["bias"])),
    )  # fmt: skip


def tuned_spec(spec: NetworkSpec, biases: dict, gains=None, sb_weights=None,
               readout_bias=None) -> NetworkSpec:  # fmt: skip
    """A copy of ``spec`` with the tuned biases (``{layer: bias or bias_mant}``), and the learned
    gains (``{layer: gain or gain_mant}``), spiking-bias weights (``{layer: w_b or
    w_b_mant}``) and readout bias (``bias`` or ``bias_mant``) if given, in place."""
    out = copy.deepcopy(spec)
    name = _names(spec.fixed)
    if readout_bias is not None:
        ro = out.readout
        ro.params = ro.params._replace(**{name["bias"]: np.asarray(readout_bias).copy()})
    for kind, values in (("bias", biases), ("gain", gains or {})):
        for k, v in values.items():
            layer = out.layers[k]
            layer.neuron = layer.neuron._replace(**{name[kind]: np.asarray(v).copy()})
    for k, w in (sb_weights or {}).items():
        sb = out.layers[k].spiking_bias
        sb.params = sb.params._replace(**{name["sb_weight"]: np.asarray(w).copy()})
    return out
