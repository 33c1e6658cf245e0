"""The twin of on-device tuning: the same rule, sample by sample, without Lava (numpy or torch).

:func:`run_twin` runs a :class:`~lava_nt.network.NetworkSpec` over a sequence of samples; after
each sample the tuned layers' biases change by the rule of :mod:`lava_nt.spec.learning` (only on
samples with ``learn = 1``), so every sample runs with the biases the previous ones left::

    for each sample b:
        every layer from a fresh state, T steps, biases of now:   spikes, eligibility counts
        e   = learn_b * (target(y_b) - output counts)
        l_k = B_k e ;  bias_k <- update(bias_k, l_k, elig_k)       (tuned layers k)

A layer's spiking bias (frozen; :mod:`lava_nt.spec.spiking_bias`) runs with it and delivers its
current as in every engine. It computes each layer's synaptic input as Lava's ``Dense`` does
(the sum of the weight columns of the inputs that spiked; ``W x`` for graded input; fixed point:
effective 8-bit weights and the exponent shift) and calls the spec's step functions, so it
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
    eligibility_step,
    feedback_signal,
    fixed_bias_update,
    fixed_feedback_signal,
    fixed_threshold,
    output_error,
    population_target,
)
from lava_nt.spec.ntlif import NTLIFState, ntlif_step
from lava_nt.spec.spiking_bias import SpikingBiasState, spiking_bias_step
from lava_nt.spec.validation import ParameterError


@dataclass
class OnDeviceResult:
    """What an on-device tuning run returns (twin or Lava).

    Attributes:
        output: output spikes ``[T, S, n_out]`` (float 0/1) of every sample, in run order.
        biases: final bias of each tuned layer (``{layer: array}``): float biases, or the
            integer ``bias_mant`` registers in fixed point.
        learn: the ``[S]`` learning flags (1: the sample tuned the biases).
        engine: "twin" or "lava".
        precision: "float" or "fixed".
        history: twin only: the tuned biases after every sample (``{layer: [S, n]}``).
        steps, window: Lava only: time steps run and steps per sample window.
    """

    output: np.ndarray
    biases: dict
    learn: np.ndarray
    engine: str
    precision: str
    history: dict = field(default_factory=dict)
    steps: int = 0
    window: int = 0


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


class _Bias:
    """A layer's spiking bias over one sample: the current ``c`` it delivers at each step."""

    def __init__(self, sb, xp, graded: bool):
        self.sb, self.fixed, self.graded = sb, xp.fixed, graded
        self.p = xp.params(sb.params)
        m = sb.m
        if self.fixed:
            self.W = xp.tensor(dense_effective_weights(sb.w_in))
            self.st = FixedSpikingBiasState(*(xp.zeros(m),) * 3)
        else:
            self.W = xp.tensor(sb.w_in)
            self.st = SpikingBiasState(*(xp.zeros(m),) * 3)

    def current(self, x_t):
        a_b = _drive(self.W, x_t, self.graded)
        if self.fixed:
            a_b = dense_fixed_output(a_b, self.sb.w_in_exp)
            c, _, self.st = fixed_spiking_bias_step(a_b, self.st, self.p)
        else:
            c, _, self.st = spiking_bias_step(a_b, self.st, self.p)
        return c


def _layer(layer, x_in, p, graded: bool, xp, learn_p):
    """One layer over ``T`` steps of one sample: ``(spikes [T, n] float64, elig [n] or None)``."""
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
    bias = None if layer.spiking_bias is None else _Bias(layer.spiking_bias, xp, graded)
    elig = None if learn_p is None else xp.zeros(n)
    out = xp.zeros(T, n, dtype=xp.float64)
    for t in range(T):
        a = _drive(W, x_in[t], graded)
        c = (0 if xp.fixed else 0.0) if bias is None else bias.current(x_in[t])
        if xp.fixed:
            s, st = fixed_ntlif_step(dense_fixed_output(a, layer.weight_exp), c, st, p)
        else:
            s, st = ntlif_step(a, c, st, p)
        if elig is not None:
            elig = eligibility_step(elig, s, st.v, thr, learn_p.band)
        out[t] = s
    return out, elig


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


def run_twin_on(spec: NetworkSpec, rule: OnDeviceRule, x, y, lr, xp) -> OnDeviceResult:
    """The per-sample loop of :func:`run_twin` on the array backend ``xp`` (checked inputs:
    ``x [T, S, n_in]`` float64, ``y`` and ``lr`` ``[S]`` int64, as :func:`check_run` returns)."""
    T, S, _ = x.shape
    fixed = spec.fixed
    field_name = "bias_mant" if fixed else "bias"
    neurons = [xp.params(layer.neuron) for layer in spec.layers]
    for k in rule.layers:  # per-neuron copies, so the spec's own arrays never change
        bias = np.broadcast_to(getattr(spec.layers[k].neuron, field_name), (spec.layers[k].n,))
        neurons[k] = neurons[k]._replace(**{field_name: xp.tensor(bias)})
    B = [xp.tensor(b) for b in rule.effective_feedback(fixed)]
    lparams = [xp.params(p) for p in rule.params]
    tuned = dict(zip(rule.layers, range(len(rule.layers)), strict=True))
    history = {k: xp.zeros(S, spec.layers[k].n) for k in rule.layers}
    xs = xp.tensor(x, dtype=xp.float64)
    output = xp.zeros(T, S, spec.n_out, dtype=xp.float64)
    for b in range(S):
        s_in = xs[:, b, :]
        eligs = {}
        for k, layer in enumerate(spec.layers):
            lp = lparams[tuned[k]] if k in tuned else None
            s_in, elig = _layer(layer, s_in, neurons[k], k == 0 and spec.graded, xp, lp)
            if elig is not None:
                eligs[k] = elig
        output[:, b, :] = s_in
        count = xp.cast(s_in.sum(0))
        e = output_error(count, xp.tensor(population_target(y[b], spec.n_out, rule.targets)),
                         int(lr[b]))  # fmt: skip
        for k, i in tuned.items():
            p = neurons[k]
            if fixed:
                l_k = fixed_feedback_signal(B[i], e, int(rule.feedback_exp[i]))
                new = fixed_bias_update(p.bias_mant, l_k, eligs[k], lparams[i])
            else:
                new = bias_update(p.bias, feedback_signal(B[i], e), eligs[k], lparams[i])
            neurons[k] = p._replace(**{field_name: new})
            history[k][b] = new
    biases = {k: xp.numpy(getattr(neurons[k], field_name)) for k in rule.layers}
    return OnDeviceResult(
        xp.numpy(output), biases, lr, "twin", "fixed" if fixed else "float",
        history={k: xp.numpy(h) for k, h in history.items()},
    )  # fmt: skip


def tuned_spec(spec: NetworkSpec, biases: dict) -> NetworkSpec:
    """A copy of ``spec`` with the tuned biases (``{layer: bias or bias_mant}``) in place."""
    out = copy.deepcopy(spec)
    name = "bias_mant" if spec.fixed else "bias"
    for k, b in biases.items():
        layer = out.layers[k]
        layer.neuron = layer.neuron._replace(**{name: np.asarray(b).copy()})
    return out
