"""Torch emulator of the Loihi-compatible fixed-point network (int64 tensors, batched).

Runs a fixed-point :class:`lava_nt.network.NetworkSpec` exactly as Lava's bit-accurate models do,
using only the spec's integer definitions (:mod:`lava_nt.spec.fixed`)::

    W_eff    = dense_effective_weights(W)              (Lava's 8-bit clip and LSB truncation)
    a[t]     = dense_fixed_output(W_eff · s_in[t], weight_exp)
    c[t], .. = fixed_spiking_bias_step(dense_fixed_output(W_in_eff · s_in[t], w_in_exp), ...)
    s[t], .. = fixed_ntlif_step(a[t], c[t], ...)

A layer with synaptic delays adds one such Dense output per distinct delay value, each over the
input shifted by its delay and scaled by the exponent on its own, as Lava's bit-accurate
``DelayDense`` does (:mod:`lava_nt.spec.delay`).

Graded input (``spec.input == "graded"``) takes integers instead of spikes; a readout
(:mod:`lava_nt.spec.readout`) turns the last layer's spikes into the int64 voltage trace of
:func:`~lava_nt.spec.readout.fixed_readout_step`, which is then the output.

All samples of a batch run at once (``[T, B, n_in]`` -> ``[T, B, n_out]``), each from a fresh
state; no Lava process is started. Equality with :func:`lava_nt.network.reference_run` is tested
bit for bit (spikes and bias currents).
"""

from __future__ import annotations

import numpy as np
import torch

from lava_nt.network import GRADED_INPUT_MAX, NetworkSpec
from lava_nt.nn._util import stacked_record
from lava_nt.result import RunResult
from lava_nt.spec.delay import delay_groups, delayed_input
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
from lava_nt.spec.readout import ReadoutState, fixed_readout_step
from lava_nt.spec.validation import ParameterError

__all__ = ["emulate_fixed", "run_fixed", "torch_fixed_parameters"]


def _int64(x, device=None) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x.detach().to(dtype=torch.int64, device=device)
    return torch.as_tensor(np.asarray(x, dtype=np.int64), device=device)


def torch_fixed_parameters(p, device=None):
    """A copy of :class:`FixedNTLIFParameters` / :class:`FixedSpikingBiasParameters` with every
    numeric field as an int64 tensor (so the spec's integer steps run on torch)."""
    fields = {}
    for name, val in p._asdict().items():
        if name == "reset_subtract":
            fields[name] = bool(val)
        elif name == "group":
            fields[name] = None if val is None else _int64(val, device)
        else:
            fields[name] = _int64(val, device)
    return type(p)(**fields)


def _dense(weights, exp, s_in: torch.Tensor, delay=None) -> torch.Tensor:
    """Lava's bit-accurate (Delay)Dense output ``[T, B, n]`` of ``s_in [T, B, n_in]``."""
    w_eff = dense_effective_weights(np.asarray(weights))  # sign mode etc. of the whole matrix
    if delay is None or not np.any(np.asarray(delay)):
        w = torch.as_tensor(w_eff, device=s_in.device)
        return dense_fixed_output(torch.matmul(s_in, w.T), int(exp))
    groups = delay_groups(delay)
    masked = [torch.as_tensor(np.where(mask, w_eff, 0), device=s_in.device) for _, mask in groups]

    def project(idx, xs):
        return dense_fixed_output(torch.matmul(xs, masked[idx].T), int(exp))

    return delayed_input(s_in, groups, project)


def emulate_fixed(spec: NetworkSpec, x, record: bool = False, device=None):
    """Run a fixed-point ``spec`` on input spikes ``x [T, B, n_in]`` (0/1; tensor or array), or
    integers for a graded-input spec.

    Returns the output spikes as an int64 (0/1) tensor ``[T, B, n_out]`` (the int64 readout
    voltage trace if the spec has a readout); with ``record=True``
    also a list of per-layer dicts with ``spikes`` ``[T, B, n]``, ``bias_current`` ``[T, B, n]``
    and ``bias_spikes`` ``[T, B, m]`` (int64 tensors, None without a spiking bias), as
    :func:`lava_nt.network.reference_run`. :func:`run_fixed` returns the same as a
    :class:`~lava_nt.result.RunResult`.
    """
    res = _emulate(spec, x, record, device, "emulate_fixed")
    return (res.output, res.layers) if record else res.output


def run_fixed(spec: NetworkSpec, x, record: bool = False, device=None) -> RunResult:
    """:func:`emulate_fixed` returning a :class:`~lava_nt.result.RunResult`: ``output`` the
    int64 output spikes (or readout trace) ``[T, B, n_out]``, ``layers`` the per-layer records
    of ``record=True`` (int64 tensors)."""
    return _emulate(spec, x, record, device, "run_fixed")


def _emulate(spec: NetworkSpec, x, record: bool, device, where: str) -> RunResult:
    if not isinstance(spec, NetworkSpec) or not spec.fixed:
        raise ParameterError(f"{where}: expected a lava_nt.network.NetworkSpec with fixed=True")
    s_in = _check_input(spec, x, device, where)
    recs = []
    for layer in spec.layers:
        s_in, rec = _emulate_layer(layer, s_in, where)
        if record:
            recs.append(rec)
    if spec.readout is not None:
        s_in = _emulate_readout(spec.readout, s_in)
    return RunResult(output=s_in, layers=recs, has_readout=spec.readout is not None)


def _check_input(spec: NetworkSpec, x, device, where: str) -> torch.Tensor:
    """``x`` as an int64 tensor ``[T, B, n_in]``: spikes, or graded integers."""
    s_in = _int64(x, device)
    if s_in.dim() != 3 or s_in.shape[-1] != spec.n_in:
        raise ParameterError(f"{where}: input must be [T, B, {spec.n_in}], got {tuple(s_in.shape)}")
    if isinstance(x, torch.Tensor) and torch.is_floating_point(x):
        exact = bool((x == torch.round(x)).all())
    else:
        xa = np.asarray(x)
        exact = xa.dtype.kind not in "fc" or bool(np.all(xa == np.round(xa)))
    if spec.input == "graded":
        if not exact or bool((s_in.abs() > GRADED_INPUT_MAX).any()):
            raise ParameterError(
                f"{where}: graded input must hold integers within +-{GRADED_INPUT_MAX}"
            )
    elif not exact or bool(((s_in != 0) & (s_in != 1)).any()):
        raise ParameterError(f"{where}: input must be spikes (0 or 1)")
    return s_in


def _emulate_layer(layer, s_in: torch.Tensor, where: str) -> tuple[torch.Tensor, dict]:
    """One fixed-point layer over all steps: ``(spikes [T, B, n], record dict)``."""
    if not isinstance(layer.neuron, FixedNTLIFParameters):
        raise ParameterError(f"{where}: layer neuron parameters must be FixedNTLIFParameters")
    T, B, _ = s_in.shape
    a_all = _dense(layer.weight, layer.weight_exp, s_in, layer.delay)
    p = torch_fixed_parameters(layer.neuron, s_in.device)
    zeros = torch.zeros((B, layer.n), dtype=torch.int64, device=s_in.device)
    st = FixedNTLIFState(zeros, zeros)
    sb = layer.spiking_bias
    if sb is not None:
        if not isinstance(sb.params, FixedSpikingBiasParameters):
            raise ParameterError(f"{where}: spiking bias needs FixedSpikingBiasParameters")
        ab_all = _dense(sb.w_in, sb.w_in_exp, s_in)
        pb = torch_fixed_parameters(sb.params, s_in.device)
        zb = torch.zeros((B, sb.m), dtype=torch.int64, device=s_in.device)
        sst = FixedSpikingBiasState(zb, zb, zb)
    out, cur, bsp = [], [], []
    for t in range(T):
        c = 0
        if sb is not None:
            c, s_b, sst = fixed_spiking_bias_step(ab_all[t], sst, pb)
            cur.append(c)
            bsp.append(s_b.to(torch.int64))
        s, st = fixed_ntlif_step(a_all[t], c, st, p)
        out.append(s.to(torch.int64))
    spikes = torch.stack(out)
    return spikes, stacked_record(spikes, cur, bsp)


def _emulate_readout(ro, s_in: torch.Tensor) -> torch.Tensor:
    """The int64 readout voltage trace ``[T, B, n]`` fed by spikes ``s_in``."""
    T, B, _ = s_in.shape
    a_all = _dense(ro.weight, ro.weight_exp, s_in)
    p = torch_readout_parameters(ro.params, s_in.device)
    zeros = torch.zeros((B, ro.n), dtype=torch.int64, device=s_in.device)
    st = ReadoutState(zeros, zeros)
    trace = []
    for t in range(T):
        v, st = fixed_readout_step(a_all[t], st, p)
        trace.append(v)
    return torch.stack(trace)


def torch_readout_parameters(p, device=None):
    """:class:`~lava_nt.spec.readout.FixedReadoutParameters` with int64 tensor registers."""
    return p._replace(
        bias_mant=_int64(p.bias_mant, device),
        bias_exp=_int64(p.bias_exp, device),
    )
