"""The torch twin of on-device tuning: :func:`~lava_nt.ondevice.twin.run_twin` on torch tensors.

:func:`run_twin_torch` runs the same per-sample loop as the numpy twin (every layer from a fresh
state over the sample's ``T`` steps, then the bias update of the tuned layers on learning
samples) with torch tensors: float64 for a float spec, int64 for a fixed-point one, on the CPU or
a GPU (``device``, resolved by :func:`lava_nt.device.resolve_device`). It calls the very spec
functions the numpy twin calls (:func:`~lava_nt.spec.ntlif.ntlif_step`,
:func:`~lava_nt.spec.fixed.fixed_ntlif_step`, the spiking-bias steps and
:mod:`lava_nt.spec.learning`), which run on either kind of array, and the numpy twin's own input
checks, so it accepts and refuses exactly what :func:`run_twin` does. Fixed point equals the numpy
twin bit for bit (integers); float64 equals it up to the order of additions of a layer's input
sum (tests allow 1e-12; on their networks the results are identical).
"""

from __future__ import annotations

import numpy as np
import torch

from lava_nt.device import resolve_device
from lava_nt.network import NetworkSpec
from lava_nt.ondevice.rule import OnDeviceRule
from lava_nt.ondevice.twin import OnDeviceResult, _drive, check_run
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

__all__ = ["run_twin_torch"]


class _Torch:
    """Tensors of one run: its device and dtype (float64, or int64 in fixed point)."""

    def __init__(self, device, fixed: bool):
        self.device, self.fixed = device, fixed
        self.dtype = torch.int64 if fixed else torch.float64

    def tensor(self, x, dtype=None):
        return torch.tensor(np.asarray(x), dtype=dtype or self.dtype, device=self.device)

    def zeros(self, *shape, dtype=None):
        return torch.zeros(shape, dtype=dtype or self.dtype, device=self.device)

    def params(self, nt):
        """A parameter NamedTuple with its numpy arrays as tensors, numpy scalars as Python's."""
        out = {}
        for name, v in nt._asdict().items():
            if isinstance(v, np.ndarray):
                out[name] = torch.tensor(v, device=self.device)
            elif isinstance(v, np.generic):
                out[name] = v.item()
        return nt._replace(**out)


def _bias_run(sb, tt: _Torch, graded: bool):
    """A layer's spiking bias over one sample: a function ``x_t -> c`` (the current it delivers)."""
    n_b = sb.m
    p = tt.params(sb.params)
    if tt.fixed:
        W = tt.tensor(dense_effective_weights(sb.w_in))
        st = [FixedSpikingBiasState(*(tt.zeros(n_b),) * 3)]
    else:
        W = tt.tensor(sb.w_in)
        st = [SpikingBiasState(*(tt.zeros(n_b),) * 3)]

    def current(x_t):
        a_b = _drive(W, x_t, graded)
        if tt.fixed:
            c, _, st[0] = fixed_spiking_bias_step(dense_fixed_output(a_b, sb.w_in_exp), st[0], p)
        else:
            c, _, st[0] = spiking_bias_step(a_b, st[0], p)
        return c

    return current


def _layer(layer, x_in, p, graded: bool, tt: _Torch, learn_p):
    """One layer over ``T`` steps of one sample: ``(spikes [T, n] float64, elig or None)``."""
    T, n = x_in.shape[0], layer.n
    if tt.fixed:
        W = tt.tensor(dense_effective_weights(layer.weight))
        st = FixedNTLIFState(tt.zeros(n), tt.zeros(n))
        thr = fixed_threshold(int(p.vth))
        x_in = x_in.to(torch.int64)
    else:
        W = tt.tensor(layer.weight)
        st = NTLIFState(tt.zeros(n), tt.zeros(n))
        thr = p.vth
    bias = None if layer.spiking_bias is None else _bias_run(layer.spiking_bias, tt, graded)
    elig = None if learn_p is None else tt.zeros(n)
    out = tt.zeros(T, n, dtype=torch.float64)
    for t in range(T):
        a = _drive(W, x_in[t], graded)
        c = (0 if tt.fixed else 0.0) if bias is None else bias(x_in[t])
        if tt.fixed:
            s, st = fixed_ntlif_step(dense_fixed_output(a, layer.weight_exp), c, st, p)
        else:
            s, st = ntlif_step(a, c, st, p)
        if elig is not None:
            elig = eligibility_step(elig, s, st.v, thr, learn_p.band)
        out[t] = s
    return out, elig


def run_twin_torch(
    spec: NetworkSpec, rule: OnDeviceRule, x, labels, learn=None, device="cpu"
) -> OnDeviceResult:
    """Run on-device tuning with torch tensors (float64 or int64 as ``spec``).

    Args:
        spec, rule, x, labels, learn: as :func:`lava_nt.ondevice.twin.run_twin` (validated by
            the same checks, so bad input raises the same
            :class:`~lava_nt.spec.validation.ParameterError`).
        device: where torch computes (``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"``).

    Returns:
        :class:`~lava_nt.ondevice.twin.OnDeviceResult` (numpy arrays, ``engine="twin"``), equal
        to :func:`run_twin`'s: bit for bit in fixed point, to round-off in float64.
    """
    x, y, lr = check_run(spec, rule, x, labels, learn, "run_twin_torch")
    dev = resolve_device(device, "run_twin_torch")
    fixed = spec.fixed
    tt = _Torch(dev, fixed)
    T, S, _ = x.shape
    field_name = "bias_mant" if fixed else "bias"
    neurons = [tt.params(layer.neuron) for layer in spec.layers]
    for k in rule.layers:  # per-neuron tensors (the spec's own arrays never change)
        bias = np.broadcast_to(getattr(spec.layers[k].neuron, field_name), (spec.layers[k].n,))
        neurons[k] = neurons[k]._replace(**{field_name: tt.tensor(bias)})
    B = [tt.tensor(b) for b in rule.effective_feedback(fixed)]
    lparams = [tt.params(p) for p in rule.params]
    tuned = dict(zip(rule.layers, range(len(rule.layers)), strict=True))
    history = {k: tt.zeros(S, spec.layers[k].n) for k in rule.layers}
    xt = torch.as_tensor(x, dtype=torch.float64, device=dev)
    output = tt.zeros(T, S, spec.n_out, dtype=torch.float64)
    for b in range(S):
        s_in = xt[:, b, :]
        eligs = {}
        for k, layer in enumerate(spec.layers):
            lp = lparams[tuned[k]] if k in tuned else None
            s_in, elig = _layer(layer, s_in, neurons[k], k == 0 and spec.graded, tt, lp)
            if elig is not None:
                eligs[k] = elig
        output[:, b, :] = s_in
        count = s_in.sum(0).to(tt.dtype)
        target = tt.tensor(population_target(y[b], spec.n_out, rule.targets))
        e = output_error(count, target, int(lr[b]))
        for k, i in tuned.items():
            p = neurons[k]
            if fixed:
                l_k = fixed_feedback_signal(B[i], e, int(rule.feedback_exp[i]))
                new = fixed_bias_update(p.bias_mant, l_k, eligs[k], lparams[i])
            else:
                new = bias_update(p.bias, feedback_signal(B[i], e), eligs[k], lparams[i])
            neurons[k] = p._replace(**{field_name: new})
            history[k][b] = new
    biases = {k: getattr(neurons[k], field_name).cpu().numpy().copy() for k in rule.layers}
    return OnDeviceResult(
        output.cpu().numpy(),
        biases,
        lr,
        "twin",
        "fixed" if fixed else "float",
        history={k: h.cpu().numpy() for k, h in history.items()},
    )
