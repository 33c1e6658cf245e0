"""NIR export: a float lava-nt network as a ``nir.NIRGraph`` (mapping in the package docstring)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nir
import numpy as np

from lava_nt import __version__
from lava_nt.converters.model_file import atomic_write
from lava_nt.converters.nir_io.common import (
    _META,
    DEFAULT_DT,
    NIRExportError,
    _np,
    _resolve_spec,
    _scalar,
    _vec,
)
from lava_nt.network import SpikingBiasSpec
from lava_nt.spec.readout import ReadoutSpec


def _layer_decay(x):
    """A layer's decay: a float when every neuron has the same one, else the float64 ``(n,)``
    array."""
    a = _np(x).astype(np.float64).reshape(-1)
    return float(a[0]) if np.all(a == a[0]) else a


def _population(
    prefix: str,
    W: np.ndarray,
    du: float,
    dv: float,
    vth: float,
    bias: np.ndarray,
    gain: np.ndarray,
    *,
    dt: float,
    plain_input: bool,
    norse_compat: bool,
    where: str,
) -> list[tuple[str, Any]]:
    """NIR nodes of one NTLIF population, in chain order; the neuron node is last.

    ``plain_input``: the neuron node must add its input to the voltage without a synaptic filter
    (a spiking-bias current enters there), so du < 1 uses the LI/I + Affine split, not CubaLIF.
    """
    n = W.shape[0]
    ones = np.ones(n)
    zeros = np.zeros(n)
    vth_v = np.full(n, vth)
    if np.ndim(du) or np.ndim(dv):
        if norse_compat and (plain_input or np.any(bias != 0)):
            raise NIRExportError(
                f"{where}: per-neuron decays with a bias or a spiking bias: norse 1.1's from_nir "
                "cannot run that CubaLIF / LI split; export without norse_compat and load it "
                "with lava_nt.converters.nir_io.to_norse"
            )
        return _per_neuron_population(prefix, W, du, dv, vth_v, bias, gain, dt, plain_input, where)
    if not (0.0 <= du <= 1.0 and 0.0 <= dv <= 1.0):
        raise NIRExportError(f"{where}: decays must lie in [0, 1], got du={du}, dv={dv}")
    if du == 1.0 or (du > 0.0 and dv > 0.0 and not plain_input):
        pass
    elif norse_compat:
        why = "du = 0" if du == 0.0 else ("dv = 0" if dv == 0.0 else "a spiking bias")
        raise NIRExportError(
            f"{where}: a current-based layer with {why} needs an LI/I synapse node, which "
            "norse.torch.from_nir (norse 1.1) cannot import; export without norse_compat and "
            "load it with lava_nt.converters.nir_io.to_norse"
        )
    if du == 1.0:
        if norse_compat:  # Norse drops r: fold it into the Affine rows
            k = gain / dv if dv > 0 else gain
            syn = nir.Affine(weight=W * k[:, None], bias=bias * k)
            if dv > 0:
                neuron = nir.LIF(
                    tau=np.full(n, dt / dv), r=ones, v_leak=zeros, v_threshold=vth_v,
                    v_reset=zeros.copy(),
                )  # fmt: skip
            else:
                neuron = nir.IF(r=np.full(n, 1.0 / dt), v_threshold=vth_v, v_reset=zeros.copy())
        else:
            syn = nir.Affine(weight=W.copy(), bias=bias.copy())
            if dv > 0:
                neuron = nir.LIF(
                    tau=np.full(n, dt / dv), r=gain / dv, v_leak=zeros, v_threshold=vth_v,
                    v_reset=zeros.copy(),
                )  # fmt: skip
            else:
                neuron = nir.IF(r=gain / dt, v_threshold=vth_v, v_reset=zeros.copy())
        return [(f"{prefix}synapse", syn), (f"{prefix}neuron", neuron)]
    if du > 0.0 and dv > 0.0 and not plain_input:
        if norse_compat and np.any(bias != 0):
            raise NIRExportError(
                f"{where}: a current-based layer (du < 1) with nonzero biases: norse 1.1's "
                "from_nir feeds CubaLIF's v_leak into the synapse as well and starts v at v_leak; "
                "export without norse_compat and load it with lava_nt.converters.nir_io.to_norse"
            )
        syn = nir.Affine(weight=W.copy(), bias=zeros)
        neuron = nir.CubaLIF(
            tau_syn=np.full(n, dt / du), tau_mem=np.full(n, dt / dv), r=gain / (du * dv),
            v_leak=gain * bias / dv, v_threshold=vth_v, v_reset=zeros.copy(), w_in=ones,
        )  # fmt: skip
        return [(f"{prefix}synapse", syn), (f"{prefix}neuron", neuron)]
    # split: synaptic current (LI or I) -> Affine(eye, b) -> LIF / IF
    syn = nir.Affine(weight=W.copy(), bias=zeros)
    if du > 0.0:
        cur = nir.LI(tau=np.full(n, dt / du), r=np.full(n, 1.0 / du), v_leak=zeros.copy())
    else:
        cur = nir.I(r=np.full(n, 1.0 / dt))
    add_b = nir.Affine(weight=np.eye(n), bias=bias.copy())
    if dv > 0:
        neuron = nir.LIF(
            tau=np.full(n, dt / dv), r=gain / dv, v_leak=zeros.copy(), v_threshold=vth_v,
            v_reset=zeros.copy(),
        )  # fmt: skip
    else:
        neuron = nir.IF(r=gain / dt, v_threshold=vth_v, v_reset=zeros.copy())
    return [
        (f"{prefix}synapse", syn),
        (f"{prefix}current", cur),
        (f"{prefix}bias", add_b),
        (f"{prefix}neuron", neuron),
    ]


def _per_neuron_population(prefix, W, du, dv, vth_v, bias, gain, dt, plain_input, where):
    """A population with per-neuron decays: per-neuron time constants ``tau = dt / d`` in a
    CubaLIF (or, when a spiking-bias current enters the neuron, LI -> Affine(eye, b) -> LIF).
    Every ``du`` and ``dv`` must be in (0, 1]: a decay of 0 has no time constant, and one
    layer is one node type."""
    n = W.shape[0]
    du_a = np.broadcast_to(np.asarray(du, np.float64), (n,)).copy()
    dv_a = np.broadcast_to(np.asarray(dv, np.float64), (n,)).copy()
    if not (np.all((du_a > 0) & (du_a <= 1)) and np.all((dv_a > 0) & (dv_a <= 1))):
        raise NIRExportError(
            f"{where}: per-neuron decays are written as per-neuron time constants, which needs "
            "every du and dv in (0, 1] (a decay of 0 has no time constant)"
        )
    zeros = np.zeros(n)
    syn = nir.Affine(weight=W.copy(), bias=zeros.copy())
    if not plain_input:
        neuron = nir.CubaLIF(
            tau_syn=dt / du_a, tau_mem=dt / dv_a, r=gain / (du_a * dv_a),
            v_leak=gain * bias / dv_a, v_threshold=vth_v, v_reset=zeros.copy(),
            w_in=np.ones(n),
        )  # fmt: skip
        return [(f"{prefix}synapse", syn), (f"{prefix}neuron", neuron)]
    cur = nir.LI(tau=dt / du_a, r=1.0 / du_a, v_leak=zeros.copy())
    add_b = nir.Affine(weight=np.eye(n), bias=np.asarray(bias, np.float64).copy())
    neuron = nir.LIF(
        tau=dt / dv_a, r=gain / dv_a, v_leak=zeros.copy(), v_threshold=vth_v,
        v_reset=zeros.copy(),
    )  # fmt: skip
    return [
        (f"{prefix}synapse", syn),
        (f"{prefix}current", cur),
        (f"{prefix}bias", add_b),
        (f"{prefix}neuron", neuron),
    ]


def _chain_edges(names: list[str]) -> list[tuple[str, str]]:
    return list(zip(names[:-1], names[1:], strict=True))


def _spiking_bias_graph(
    k: int, sb: SpikingBiasSpec, target_gain: np.ndarray, n_prev: int, dt: float, metadata: bool
):
    """The spiking-bias subgraph of layer ``k`` (Input -> ... -> Output, output = c / g)."""
    where = f"to_nir: layer {k} spiking bias"
    p = sb.params
    m = sb.m
    n = target_gain.shape[0]
    w_in = _np(sb.w_in)
    du, dv, vth = _scalar(p.du), _scalar(p.dv), _scalar(p.vth)
    b_b = _vec(p.bias, m)
    w_b = _vec(p.w_b, m)
    c_ret = _vec(p.c_retention, m)
    group = None if p.group is None else np.asarray(p.group, dtype=np.int64)
    grp = np.arange(m) if group is None else group
    if np.any(target_gain == 0):
        bad = int(np.flatnonzero(target_gain == 0)[0])
        raise NIRExportError(
            f"{where}: target neuron {bad} has gain 0; NIR has no port that adds a current to "
            "the voltage, so the bias current enters the neuron's input (scaled by r) and "
            "needs a nonzero gain"
        )
    nodes = _population(
        "", w_in, du, dv, vth, b_b, np.ones(m), dt=dt, plain_input=False, norse_compat=False,
        where=where,
    )  # fmt: skip
    F = np.zeros((n, m))
    F[np.arange(n), grp] = w_b[grp]
    a_t = c_ret[grp]
    g = target_gain
    if np.all(a_t < 1.0):
        leak = nir.LI(tau=dt / (1.0 - a_t), r=1.0 / ((1.0 - a_t) * g), v_leak=np.zeros(n))
    elif np.all(a_t == 1.0):
        leak = nir.I(r=1.0 / (dt * g))
    else:
        raise NIRExportError(
            f"{where}: c_retention mixes 1 (a current that never decays: NIR I) and values < 1 "
            "(NIR LI) in one population; NIR needs one node type per population"
        )
    names = ["input"] + [nm for nm, _ in nodes] + ["fan_out", "leak", "output"]
    gnodes = {"input": nir.Input(input_type={"input": np.array([n_prev])})}
    gnodes.update(dict(nodes))
    gnodes["fan_out"] = nir.Linear(weight=F)
    gnodes["leak"] = leak
    gnodes["output"] = nir.Output(output_type={"output": np.array([n])})
    meta = {}
    if metadata:
        meta = {
            f"{_META}role": "spiking_bias",
            f"{_META}layer": int(k),
            f"{_META}du": du,
            f"{_META}dv": dv,
            f"{_META}vth": vth,
            f"{_META}bias": b_b,
            f"{_META}w_b": w_b,
            f"{_META}c_retention": c_ret,
        }
        if group is not None:
            meta[f"{_META}group"] = group
        if sb.mask is not None:
            meta[f"{_META}mask"] = np.asarray(sb.mask, dtype=bool)
    return nir.NIRGraph(nodes=gnodes, edges=_chain_edges(names), metadata=meta)


def _refuse_delays(spec) -> None:
    for k, ls in enumerate(spec.layers):
        if ls.has_delay:
            raise NIRExportError(
                f"to_nir: layer {k} has synaptic delays, which lava-nt does not write to NIR (a "
                "NIR Delay node delays a whole vector, not each synapse); deploy with Lava or "
                "export to netx (which holds them as lava-dl does)"
            )


def to_nir(
    model,
    *,
    dt: float = DEFAULT_DT,
    subtract_reset: str = "refuse",
    norse_compat: bool = False,
    metadata: bool = True,
):
    """The NIR graph of a float lava-nt network (mapping in the module docstring).

    Args:
        model: a float :class:`~lava_nt.network.NetworkSpec`, an ``NTNetwork`` or the path of a
            lava-nt model file.
        dt: seconds per lava-nt step (> 0); written to ``graph.metadata["dt"]``.
        subtract_reset: ``"refuse"`` (default: a layer with reset "subtract" raises, since NIR
            1.0 has no such reset) or ``"metadata"`` (write it as ``lava_nt_reset`` node
            metadata; lava-nt's importer honours it, other tools reset to ``v_reset = 0``).
        norse_compat: write a graph ``norse.torch.from_nir`` (norse 1.1) runs unchanged: ``r``
            folded into the Affine rows (Norse drops ``r`` of LIF/IF), ``IF`` with
            ``r = 1/dt``; refuses what Norse cannot run (spiking biases, LI/I synapses,
            current-based layers with biases, subtractive reset).
        metadata: store the exact lava-nt values in node metadata (``lava_nt_*``) so that
            :func:`from_nir` reproduces the network bit for bit.

    Raises :class:`NIRExportError` naming the layer and the reason.
    """
    spec = _resolve_spec(model, "to_nir")
    _refuse_delays(spec)
    if not (isinstance(dt, int | float) and np.isfinite(dt) and dt > 0):
        raise NIRExportError(f"to_nir: dt must be a positive number of seconds, got {dt!r}")
    dt = float(dt)
    if subtract_reset not in ("refuse", "metadata"):
        raise NIRExportError(
            f"to_nir: subtract_reset must be 'refuse' or 'metadata', got {subtract_reset!r}"
        )
    if norse_compat and spec.readout is not None:
        raise NIRExportError(
            "to_nir: the network has a readout (an LI/I integrator), which norse.torch.from_nir "
            "(norse 1.1) cannot import; export without norse_compat and load it with "
            "lava_nt.converters.nir_io.to_norse"
        )
    nodes: dict[str, Any] = {"input": nir.Input(input_type={"input": np.array([spec.n_in])})}
    edges: list[tuple[str, str]] = []
    src = "input"
    n_prev = spec.n_in
    for k, ls in enumerate(spec.layers):
        where = f"to_nir: layer {k}"
        p = ls.neuron
        n = ls.n
        W = _np(ls.weight)
        du, dv, vth = _layer_decay(p.du), _layer_decay(p.dv), _scalar(p.vth)
        bias, gain = _vec(p.bias, n), _vec(p.gain, n)
        if p.reset_subtract:
            if norse_compat:
                raise NIRExportError(
                    f"{where}: resets by subtraction; norse.torch.from_nir resets to v_reset"
                )
            if subtract_reset == "refuse":
                raise NIRExportError(
                    f"{where}: resets by subtraction, which NIR 1.0 cannot express (its neurons "
                    "reset to v_reset); pass subtract_reset='metadata' to record it in the node "
                    "metadata (honoured by lava-nt's importer only)"
                )
        sb = ls.spiking_bias
        if sb is not None and norse_compat:
            raise NIRExportError(
                f"{where}: has a spiking bias; norse.torch.from_nir cannot run the spiking-bias "
                "subgraph (use lava_nt.converters.nir_io.to_norse)"
            )
        prefix = f"layer{k}_"
        pop = _population(
            prefix, W, du, dv, vth, bias, gain, dt=dt, plain_input=sb is not None,
            norse_compat=norse_compat, where=where,
        )  # fmt: skip
        neuron_name, neuron = pop[-1]
        if metadata:
            meta = {
                f"{_META}role": "ntlif",
                f"{_META}layer": int(k),
                f"{_META}du": du,
                f"{_META}dv": dv,
                f"{_META}vth": vth,
                f"{_META}reset": p.reset,
            }
            if norse_compat:
                meta[f"{_META}folded"] = True
            else:
                meta[f"{_META}bias"] = bias
                meta[f"{_META}gain"] = gain
            neuron.metadata = meta
        elif p.reset_subtract:
            neuron.metadata = {f"{_META}reset": "subtract"}
        nodes.update(dict(pop))
        names = [nm for nm, _ in pop]
        edges.append((src, names[0]))
        edges += _chain_edges(names)
        if sb is not None:
            sb_name = f"layer{k}_spiking_bias"
            nodes[sb_name] = _spiking_bias_graph(k, sb, gain, n_prev, dt, metadata)
            edges += [(src, sb_name), (sb_name, neuron_name)]
        src = neuron_name
        n_prev = n
    if spec.readout is not None:
        ro_nodes = _readout_nodes(spec.readout, dt, metadata)
        nodes.update(dict(ro_nodes))
        names = [nm for nm, _ in ro_nodes]
        edges.append((src, names[0]))
        edges += _chain_edges(names)
        src, n_prev = names[-1], spec.readout.n
    nodes["output"] = nir.Output(output_type={"output": np.array([n_prev])})
    edges.append((src, "output"))
    gmeta = {
        "dt": dt,
        f"{_META}version": __version__,
        f"{_META}time_step": "forward Euler with the current step's input; one lava-nt step = dt",
    }
    if spec.graded:
        gmeta[f"{_META}input"] = "graded"
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=gmeta)


def _readout_nodes(ro: ReadoutSpec, dt: float, metadata: bool) -> list[tuple[str, Any]]:
    """NIR nodes of a float readout ``u = (1-du) u + W s``, ``v = (1-dv) v + u + b``:

    * ``du = 1``: ``Affine(W, b) -> LI(tau = dt/dv, r = 1/dv, v_leak = 0)`` (``dv = 0``:
      ``I(r = 1/dt)``): ``v += dv (-v + (W s + b)/dv)``;
    * ``du < 1``: ``Affine(W, 0) -> LI(tau = dt/du, r = 1/du)`` (``du = 0``: ``I(r = 1/dt)``)
      ``-> Affine(eye, b) ->`` the node for ``dv`` as above (the LI state is exactly ``u``).

    The last node carries the exact values as ``lava_nt_*`` metadata (role ``readout``, ``du``,
    ``dv``, ``bias``, ``reduce``)."""
    p = ro.params
    W = _np(ro.weight)
    n = W.shape[0]
    du, dv = float(p.du), float(p.dv)
    bias = _vec(p.bias, n)
    zeros = np.zeros(n)

    def integrator(d: float):
        if d > 0:
            return nir.LI(tau=np.full(n, dt / d), r=np.full(n, 1.0 / d), v_leak=zeros.copy())
        return nir.I(r=np.full(n, 1.0 / dt))

    if du == 1.0:
        out = [("readout_synapse", nir.Affine(weight=W.copy(), bias=bias.copy()))]
    else:
        out = [
            ("readout_synapse", nir.Affine(weight=W.copy(), bias=zeros.copy())),
            ("readout_current", integrator(du)),
            ("readout_bias", nir.Affine(weight=np.eye(n), bias=bias.copy())),
        ]
    last = integrator(dv)
    if metadata:
        last.metadata = {
            f"{_META}role": "readout",
            f"{_META}du": du,
            f"{_META}dv": dv,
            f"{_META}bias": bias,
            f"{_META}reduce": p.reduce,
        }
    return out + [("readout", last)]


def export_nir(model, path, *, overwrite: bool = False, **kwargs) -> Path:
    """Write ``to_nir(model, **kwargs)`` to ``path`` with ``nir.write`` (atomically; an existing
    file is refused unless ``overwrite``). Every parameter is a per-neuron vector, so the file
    reads back with ``nir.read(path)`` and its default type check."""
    graph = to_nir(model, **kwargs)
    return atomic_write(Path(path), lambda tmp: nir.write(tmp, graph), overwrite=overwrite)
