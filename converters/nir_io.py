"""NIR (Neuromorphic Intermediate Representation, nir 1.0) export and import of lava-nt networks.

lava-nt is discrete time; NIR primitives are ODEs. The two meet through a **stated time step**:
one lava-nt step is ``dt`` seconds (default :data:`DEFAULT_DT` = 1 ms, Norse's default) and every
NIR node is read with the forward-Euler update of that ``dt`` which uses the *current* step's
input (the update Norse, snnTorch and nirtorch implement)::

    LIF      v += dt/tau     * (v_leak - v + r * I)              then spike v > v_th, v = v_reset
    IF       v += dt         * r * I
    CubaLIF  I += dt/tau_syn * (-I + w_in * x);  v += dt/tau_mem * (v_leak - v + r * I)
    LI       x += dt/tau     * (v_leak - x + r * I)
    I        x += dt         * r * I

The parameters are written so that this update *is* the NTLIF step (``lava_nt.spec.ntlif``)
``u = (1-du) u + W s``, ``v = (1-dv) v + g (u + b) + c`` (equalities in real arithmetic; the
floats differ by rounding only, and the exact lava-nt values travel in node metadata):

====================  =============================================================================
NTLIF layer           NIR nodes (``n`` neurons, all parameters per-neuron vectors)
====================  =============================================================================
du = 1, dv > 0        ``Affine(W, b)`` -> ``LIF(tau = dt/dv, r = g/dv, v_leak = 0, v_th = vth)``
du = 1, dv = 0        ``Affine(W, b)`` -> ``IF(r = g/dt, v_th = vth)``
0 < du < 1, dv > 0    ``Affine(W, 0)`` -> ``CubaLIF(tau_syn = dt/du, tau_mem = dt/dv,
                      r = g/(du dv), w_in = 1, v_leak = g b/dv)``
otherwise (dv = 0,    ``Affine(W, 0)`` -> ``LI(tau = dt/du, r = 1/du, v_leak = 0)`` (du = 0:
du = 0, or a spiking  ``I(r = 1/dt)``) -> ``Affine(eye(n), b)`` -> ``LIF`` / ``IF`` as for du = 1
bias on du < 1)
spiking bias          a ``NIRGraph`` (see :func:`to_nir`): ``Affine(W_in, b_b)`` -> bias neurons
                      (as a layer with g = 1) -> ``Linear(F)`` (fan-out ``F[i, group(i)] = w_b``)
                      -> ``LI(tau = dt/(1-alpha), r = 1/((1-alpha) g))`` (alpha = 1: ``I(r =
                      1/(dt g))``) -> the target neuron node, summed with its synaptic input
====================  =============================================================================

Reset "subtract" has no NIR field (NIR 1.0 resets to ``v_reset``): it is refused unless
``subtract_reset="metadata"``, which records it in the neuron's metadata (lava-nt honours it,
other tools reset to zero). Import (:func:`from_nir`) accepts exactly the chains above (and
``Linear`` for ``Affine``, ``Flatten`` after the input) and names any node that does not map.
``docs/interop.md`` has the derivations, the limits and the Norse 1.1 workarounds
(:func:`to_norse`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lava_nt.network import LayerSpec, NetworkSpec, SpikingBiasSpec
from lava_nt.spec.ntlif import ntlif_parameters
from lava_nt.spec.spiking_bias import spiking_bias_parameters
from lava_nt.spec.validation import ParameterError

__all__ = [
    "DEFAULT_DT",
    "NIRExportError",
    "NIRImport",
    "NIRImportError",
    "export_nir",
    "from_nir",
    "import_nir",
    "inline_subgraphs",
    "norse_float64",
    "norse_import_map",
    "read_nir",
    "run_norse",
    "to_nir",
    "to_norse",
]

#: Seconds per lava-nt time step written into exported graphs (``graph.metadata["dt"]``).
DEFAULT_DT = 1e-3
#: Relative tolerance within which lava-nt metadata is accepted as describing the NIR fields.
META_RTOL = 1e-9
_META = "lava_nt_"


class NIRExportError(ParameterError):
    """The network uses a feature the NIR export cannot express (the reason is in the message)."""


class NIRImportError(ValueError):
    """A NIR graph (or file) cannot be imported into a lava-nt network.

    ``node`` names the offending node (None for file or graph-level problems)."""

    def __init__(self, message: str, node: str | None = None):
        self.node = node
        super().__init__(message)


# ---- helpers ---------------------------------------------------------------------------------
def _np(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def _vec(x, n: int) -> np.ndarray:
    a = _np(x)
    if a.ndim > 1:
        a = a.reshape(-1) if a.size == n else a
    return np.broadcast_to(a, (n,)).astype(np.float64).copy()


def _scalar(x) -> float:
    a = _np(x)
    if a.size != 1:
        raise NIRExportError(f"expected a scalar, got shape {a.shape}")
    return float(a.reshape(()))


def _resolve_spec(model, where: str) -> NetworkSpec:
    """A float NetworkSpec from a spec, an NTNetwork or a model-file path."""
    obj = model
    if isinstance(obj, str | os.PathLike):
        from lava_nt.converters.model_file import load_model

        obj, _info = load_model(obj)
    elif not isinstance(obj, NetworkSpec) and hasattr(obj, "to_spec"):
        obj = obj.to_spec()
    if not isinstance(obj, NetworkSpec):
        raise NIRExportError(
            f"{where}: expected a NetworkSpec, an NTNetwork or a model file path, got "
            f"{type(obj).__name__}"
        )
    if obj.fixed:
        raise NIRExportError(
            f"{where}: NIR is floating point and this spec is fixed point; export the float "
            "model, or lava_nt.converters.quantize.dequantize(spec, report) first"
        )
    return obj


# ---- export ----------------------------------------------------------------------------------
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
    import nir

    n = W.shape[0]
    ones = np.ones(n)
    zeros = np.zeros(n)
    vth_v = np.full(n, vth)
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


def _chain_edges(names: list[str]) -> list[tuple[str, str]]:
    return list(zip(names[:-1], names[1:], strict=True))


def _spiking_bias_graph(
    k: int, sb: SpikingBiasSpec, target_gain: np.ndarray, n_prev: int, dt: float, metadata: bool
):
    """The spiking-bias subgraph of layer ``k`` (Input -> ... -> Output, output = c / g)."""
    import nir

    where = f"to_nir: layer {k} spiking bias"
    p = sb.params
    m = sb.m
    n = target_gain.shape[0]
    w_in = _np(sb.w_in)
    du, dv, vth = _scalar(p.du), _scalar(p.dv), _scalar(p.vth)
    b_b = _vec(p.bias, m)
    w_b = _vec(p.w_b, m)
    alpha = _vec(p.alpha, m)
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
    a_t = alpha[grp]
    g = target_gain
    if np.all(a_t < 1.0):
        leak = nir.LI(tau=dt / (1.0 - a_t), r=1.0 / ((1.0 - a_t) * g), v_leak=np.zeros(n))
    elif np.all(a_t == 1.0):
        leak = nir.I(r=1.0 / (dt * g))
    else:
        raise NIRExportError(
            f"{where}: alpha mixes 1 (a current that never decays: NIR I) and values < 1 "
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
            f"{_META}alpha": alpha,
        }
        if group is not None:
            meta[f"{_META}group"] = group
        if sb.mask is not None:
            meta[f"{_META}mask"] = np.asarray(sb.mask, dtype=bool)
    return nir.NIRGraph(nodes=gnodes, edges=_chain_edges(names), metadata=meta)


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
    import nir

    from lava_nt import __version__

    spec = _resolve_spec(model, "to_nir")
    if not (isinstance(dt, int | float) and np.isfinite(dt) and dt > 0):
        raise NIRExportError(f"to_nir: dt must be a positive number of seconds, got {dt!r}")
    dt = float(dt)
    if subtract_reset not in ("refuse", "metadata"):
        raise NIRExportError(
            f"to_nir: subtract_reset must be 'refuse' or 'metadata', got {subtract_reset!r}"
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
        du, dv, vth = _scalar(p.du), _scalar(p.dv), _scalar(p.vth)
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
    nodes["output"] = nir.Output(output_type={"output": np.array([n_prev])})
    edges.append((src, "output"))
    gmeta = {
        "dt": dt,
        f"{_META}version": __version__,
        f"{_META}time_step": "forward Euler with the current step's input; one lava-nt step = dt",
    }
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=gmeta)


def export_nir(model, path, *, overwrite: bool = False, **kwargs) -> Path:
    """Write ``to_nir(model, **kwargs)`` to ``path`` with ``nir.write`` (atomically; an existing
    file is refused unless ``overwrite``). Every parameter is a per-neuron vector, so the file
    reads back with ``nir.read(path)`` and its default type check."""
    import nir

    graph = to_nir(model, **kwargs)
    from lava_nt.converters.model_file import atomic_write

    return atomic_write(Path(path), lambda tmp: nir.write(tmp, graph), overwrite=overwrite)


# ---- import ----------------------------------------------------------------------------------
@dataclass
class NIRImport:
    """Result of :func:`from_nir`: the float ``spec``, the ``dt`` used, and per layer where the
    values came from (``notes``). ``exact`` is True when every layer used lava-nt's metadata
    (bit-exact round trip of a lava-nt export)."""

    spec: NetworkSpec
    dt: float
    notes: list[str] = field(default_factory=list)
    exact: bool = False


_UNSUPPORTED = {
    "Conv1d": "a convolution; lava-nt layers are dense (write the kernel as an Affine matrix)",
    "Conv2d": "a convolution; lava-nt layers are dense (write the kernel as an Affine matrix)",
    "SumPool2d": "pooling has no NTLIF equivalent",
    "AvgPool2d": "pooling has no NTLIF equivalent",
    "Delay": "NTLIF layers have no synaptic or axonal delays",
    "Scale": "a bare elementwise scale; fold it into the neighbouring Affine weights",
    "Threshold": "a threshold without a membrane has no NTLIF equivalent",
    "CubaLI": "a non-spiking readout; every lava-nt layer spikes",
}


def _tname(node) -> str:
    return type(node).__name__


def _meta(node) -> dict:
    md = getattr(node, "metadata", None)
    if not isinstance(md, dict):
        return {}
    out = {}
    for key, val in md.items():
        if isinstance(key, str) and key.startswith(_META):
            if isinstance(val, bytes):
                val = val.decode("utf-8")
            out[key[len(_META) :]] = val
    return out


def _close(a, b) -> bool:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape and a.size != 1 and b.size != 1:
        return False
    scale = max(1.0, float(np.max(np.abs(a), initial=0.0)), float(np.max(np.abs(b), initial=0.0)))
    return bool(np.all(np.abs(a - b) <= META_RTOL * scale))


class _Graph:
    """Edges of one (sub)graph with subgraph-port names resolved (``sub.input`` -> ``sub``)."""

    def __init__(self, graph, where: str):
        import nir

        self.where = where
        self.nodes = dict(graph.nodes)
        self.succ: dict[str, list[str]] = {k: [] for k in self.nodes}
        self.pred: dict[str, list[str]] = {k: [] for k in self.nodes}
        for a, b in graph.edges:
            a, b = self._resolve(str(a)), self._resolve(str(b))
            if b not in self.succ[a]:
                self.succ[a].append(b)
                self.pred[b].append(a)
        ins = [k for k, v in self.nodes.items() if isinstance(v, nir.Input)]
        outs = [k for k, v in self.nodes.items() if isinstance(v, nir.Output)]
        if len(ins) != 1 or len(outs) != 1:
            raise NIRImportError(
                f"{where}: a lava-nt network has exactly one Input and one Output node, found "
                f"inputs {ins} and outputs {outs}"
            )
        self.input, self.output = ins[0], outs[0]

    def _resolve(self, name: str) -> str:
        if name in self.nodes:
            return name
        head = name.split(".", 1)[0]
        if head in self.nodes and _tname(self.nodes[head]) == "NIRGraph":
            return head
        raise NIRImportError(f"{self.where}: an edge refers to an unknown node '{name}'", name)

    def node_error(self, name: str, why: str) -> NIRImportError:
        return NIRImportError(
            f"{self.where}: node '{name}' ({_tname(self.nodes[name])}) does not map to lava-nt: "
            f"{why}",
            name,
        )

    def only_succ(self, name: str) -> str:
        s = self.succ[name]
        if len(s) != 1:
            raise self.node_error(
                name,
                f"expected exactly one successor, found {len(s)} ({s}); lava-nt layers form a "
                "feed-forward chain",
            )
        return s[0]


def _per_neuron(node_name: str, g: _Graph, val, n: int, what: str) -> np.ndarray:
    a = np.asarray(val, dtype=np.float64)
    if a.size == 1:
        return np.full(n, float(a.reshape(-1)[0]))
    a = a.reshape(-1)
    if a.size != n:
        raise g.node_error(node_name, f"'{what}' has {a.size} values for {n} neurons")
    return a


def _uniform(node_name: str, g: _Graph, val, n: int, what: str, why: str) -> float:
    a = _per_neuron(node_name, g, val, n, what)
    if not np.all(a == a[0]):
        raise g.node_error(node_name, f"'{what}' differs across neurons; {why}")
    return float(a[0])


def _decay(node_name: str, g: _Graph, tau, n: int, dt: float, what: str) -> float:
    t = _uniform(node_name, g, tau, n, what, "an NTLIF layer has one decay per layer (as Loihi)")
    if not np.isfinite(t) or t <= 0:
        raise g.node_error(node_name, f"'{what}' must be a positive finite time constant, got {t}")
    d = dt / t
    if d > 1.0:
        raise g.node_error(
            node_name,
            f"'{what}' = {t:g} s is shorter than the time step dt = {dt:g} s (decay dt/tau = "
            f"{d:g} > 1); forward Euler with this dt is unstable and has no NTLIF equivalent",
        )
    return d


def _affine(g: _Graph, name: str, n_in: int | None):
    import nir

    node = g.nodes[name]
    if isinstance(node, nir.Affine):
        W, b = np.asarray(node.weight, np.float64), node.bias
    elif isinstance(node, nir.Linear):
        W, b = np.asarray(node.weight, np.float64), None
    else:
        raise g.node_error(name, "expected an Affine or Linear synapse here")
    if W.ndim != 2:
        raise g.node_error(name, f"weight must be a 2-D matrix, got shape {W.shape}")
    if n_in is not None and W.shape[1] != n_in:
        raise g.node_error(name, f"weight has {W.shape[1]} inputs, the layer before has {n_in}")
    n = W.shape[0]
    b = np.zeros(n) if b is None else _per_neuron(name, g, b, n, "bias")
    if not (np.all(np.isfinite(W)) and np.all(np.isfinite(b))):
        raise g.node_error(name, "non-finite weights or biases")
    return W, b


def _check_reset(g: _Graph, name: str, node, n: int) -> None:
    vr = getattr(node, "v_reset", None)
    if vr is not None and np.any(_per_neuron(name, g, vr, n, "v_reset") != 0):
        raise g.node_error(name, "v_reset != 0; NTLIF resets to 0 (or subtracts the threshold)")


@dataclass
class _Pop:
    """One parsed NTLIF population (values derived from the NIR fields)."""

    names: list[str]
    W: np.ndarray
    du: float
    dv: float
    vth: float
    bias: np.ndarray
    gain: np.ndarray
    kappa: np.ndarray | None  # voltage change per unit input current (None: CubaLIF)
    neuron: str


def _parse_population(g: _Graph, first: str, n_in: int, dt: float) -> _Pop:
    """Parse ``Affine|Linear [-> LI|I -> Affine|Linear(diag)] -> LIF|IF|CubaLIF`` from ``first``."""
    import nir

    W, b_aff = _affine(g, first, n_in)
    n = W.shape[0]
    names = [first]
    nxt = g.only_succ(first)
    node = g.nodes[nxt]
    scale = np.ones(n)  # y = scale * u + beta at the neuron's input
    beta = b_aff
    du = 1.0
    if isinstance(node, nir.LI | nir.I):
        if np.any(b_aff != 0):
            raise g.node_error(
                first,
                "an Affine bias in front of a synaptic current node is filtered by it; NTLIF "
                "adds its bias after the current (put it in the Affine after the LI/I node)",
            )
        names.append(nxt)
        if isinstance(node, nir.LI):
            if np.any(_per_neuron(nxt, g, node.v_leak, n, "v_leak") != 0):
                raise g.node_error(nxt, "a synaptic-current LI with v_leak != 0 has no NTLIF form")
            du = _decay(nxt, g, node.tau, n, dt, "tau")
            kx = du * _per_neuron(nxt, g, node.r, n, "r")
        else:
            du = 0.0
            kx = dt * _per_neuron(nxt, g, node.r, n, "r")
        after = g.only_succ(nxt)
        if _tname(g.nodes[after]) not in ("Affine", "Linear"):
            raise g.node_error(
                after,
                "after a synaptic current node (LI/I) lava-nt expects an Affine(diagonal, bias) "
                "and then an LIF/IF neuron",
            )
        D, beta = _affine(g, after, n)
        if D.shape != (n, n) or np.any(D[~np.eye(n, dtype=bool)] != 0):
            raise g.node_error(
                after, "must be diagonal (n x n): NTLIF's current feeds only its own neuron"
            )
        names.append(after)
        scale = np.diag(D) * kx
        nxt = g.only_succ(after)
        node = g.nodes[nxt]
    tn = _tname(node)
    if tn not in ("LIF", "IF", "CubaLIF"):
        why = _UNSUPPORTED.get(tn)
        if tn in ("LI", "I"):
            why = "a non-spiking integrator here (only LIF/IF may follow its Affine)"
        if tn == "Output" or why is None:
            why = why or "lava-nt expects an LIF, IF or CubaLIF neuron after an Affine/Linear"
        raise g.node_error(nxt, why)
    vth = _uniform(
        nxt, g, node.v_threshold, n, "v_threshold", "NTLIF has one threshold per layer (as Loihi)"
    )
    if not vth > 0:
        raise g.node_error(nxt, f"v_threshold must be > 0, got {vth}")
    _check_reset(g, nxt, node, n)
    kappa = None
    if isinstance(node, nir.LIF):
        dv = _decay(nxt, g, node.tau, n, dt, "tau")
        r = _per_neuron(nxt, g, node.r, n, "r")
        kappa = dv * r
        gain = kappa * scale
        num = kappa * beta + dv * _per_neuron(nxt, g, node.v_leak, n, "v_leak")
    elif isinstance(node, nir.IF):
        dv = 0.0
        kappa = dt * _per_neuron(nxt, g, node.r, n, "r")
        gain = kappa * scale
        num = kappa * beta
    else:  # CubaLIF
        if len(names) > 1:
            raise g.node_error(nxt, "a CubaLIF after a synaptic current node filters twice")
        if np.any(b_aff != 0):
            raise g.node_error(
                first,
                "an Affine bias in front of a CubaLIF is filtered by its synapse; NTLIF adds the "
                "bias after the current (use CubaLIF's v_leak)",
            )
        du = _decay(nxt, g, node.tau_syn, n, dt, "tau_syn")
        dv = _decay(nxt, g, node.tau_mem, n, dt, "tau_mem")
        r = _per_neuron(nxt, g, node.r, n, "r")
        w_in = _per_neuron(nxt, g, node.w_in, n, "w_in")
        gain = dv * r * du * w_in
        num = dv * _per_neuron(nxt, g, node.v_leak, n, "v_leak")
    bias = np.zeros(n)
    nz = gain != 0
    bias[nz] = num[nz] / gain[nz]
    if np.any(num[~nz] != 0):
        i = int(np.flatnonzero(~nz & (num != 0))[0])
        raise g.node_error(
            nxt, f"neuron {i} has zero input gain but a constant drive; NTLIF scales both by g"
        )
    names.append(nxt)
    return _Pop(names, W, du, dv, vth, bias, gain, kappa, nxt)


def _parse_spiking_bias(sub, name: str, n_in: int, target: _Pop, dt: float, use_meta: bool, notes):
    """Parse a lava-nt spiking-bias subgraph feeding ``target``; returns a SpikingBiasSpec."""
    import nir

    g = _Graph(sub, f"subgraph '{name}'")
    first = g.only_succ(g.input)
    pop = _parse_population(g, first, n_in, dt)
    fan = g.only_succ(pop.neuron)
    F, fb = _affine(g, fan, pop.W.shape[0])
    n, m = target.W.shape[0], pop.W.shape[0]
    if F.shape != (n, m) or np.any(fb != 0):
        raise g.node_error(
            fan, f"the fan-out must be a bias-free ({n} x {m}) matrix from bias to target neurons"
        )
    leak_name = g.only_succ(fan)
    leak = g.nodes[leak_name]
    if isinstance(leak, nir.LI):
        if np.any(_per_neuron(leak_name, g, leak.v_leak, n, "v_leak") != 0):
            raise g.node_error(leak_name, "a bias current with v_leak != 0 has no NTLIF form")
        tau = _per_neuron(leak_name, g, leak.tau, n, "tau")
        if np.any(tau < dt) or not np.all(np.isfinite(tau)):
            raise g.node_error(leak_name, "tau must be finite and >= dt")
        a_t = 1.0 - dt / tau
        fac = (dt / tau) * _per_neuron(leak_name, g, leak.r, n, "r")
    elif isinstance(leak, nir.I):
        a_t = np.ones(n)
        fac = dt * _per_neuron(leak_name, g, leak.r, n, "r")
    else:
        raise g.node_error(leak_name, "expected the bias current's LI (or I) node here")
    if g.only_succ(leak_name) != g.output:
        raise g.node_error(leak_name, "the bias current must be the subgraph's output")
    if target.kappa is None:
        raise NIRImportError(
            f"subgraph '{name}' feeds the CubaLIF '{target.neuron}', whose synapse would filter "
            "the bias current; lava-nt adds it to the voltage (target an LIF/IF neuron)",
            name,
        )
    w_eff = (target.kappa * fac)[:, None] * F  # C[t] = a_t C[t-1] + w_eff s_b[t], per target
    where = f"from_nir: {name}"
    md = _meta(sub) if use_meta else {}
    if md.get("role") == "spiking_bias":
        sb = _spiking_bias_from_metadata(md, pop, w_eff, a_t, n, where)
        if sb is not None:
            return sb, True
        notes.append(f"{name}: lava-nt metadata disagrees with the NIR fields; ignored")
    # derive: every target row must receive from at most one bias neuron
    group = np.full(n, -1, dtype=np.int64)
    w_b = np.full(m, np.nan)
    alpha = np.full(m, np.nan)
    for i in range(n):
        nzc = np.flatnonzero(w_eff[i])
        if nzc.size > 1:
            raise g.node_error(fan, f"target neuron {i} receives from {nzc.size} bias neurons")
        if nzc.size == 1:
            j = int(nzc[0])
            group[i] = j
            for arr, val, what in ((w_b, w_eff[i, j], "w_b"), (alpha, a_t[i], "alpha")):
                if np.isnan(arr[j]):
                    arr[j] = val
                elif not _close(arr[j], val):
                    raise g.node_error(
                        fan, f"bias neuron {j} drives its group with different {what} values"
                    )
    silent = np.flatnonzero(np.isnan(w_b))  # bias neurons that drive nothing (w_b = 0)
    w_b[silent] = 0.0
    alpha[silent] = 0.0
    W_in, b_b, g_b = pop.W, pop.bias, pop.gain
    unassigned = np.flatnonzero(group < 0)  # targets without any bias drive
    if unassigned.size:
        if silent.size:
            group[unassigned] = silent[0]
            if np.all(a_t[unassigned] == a_t[unassigned[0]]):  # keep its (inert) decay
                alpha[silent[0]] = a_t[unassigned[0]]
        else:  # add a silent bias neuron for them
            W_in = np.vstack([W_in, np.zeros((1, W_in.shape[1]))])
            b_b, g_b = np.append(b_b, 0.0), np.append(g_b, 1.0)
            w_b, alpha = np.append(w_b, 0.0), np.append(alpha, 0.0)
            group[unassigned] = m
    # bias neurons have unit gain in lava-nt: fold g_b into W_in and b_b (exact in reals)
    g_b = np.where(np.abs(g_b - 1.0) <= 8 * np.finfo(float).eps, 1.0, g_b)
    W_in = W_in * g_b[:, None] if np.any(g_b != 1.0) else W_in.copy()
    b_b = b_b * g_b
    mb = W_in.shape[0]
    grp = None if (mb == n and np.array_equal(group, np.arange(n))) else group
    try:
        params = spiking_bias_parameters(
            mb, n, where, du=pop.du, dv=pop.dv, vth=pop.vth, bias=b_b, w_b=w_b,
            alpha=np.clip(alpha, 0.0, 1.0), group=grp,
        )  # fmt: skip
    except ParameterError as exc:
        raise NIRImportError(f"{where}: {exc}", name) from None
    return SpikingBiasSpec(w_in=W_in, params=params), False


def _spiking_bias_from_metadata(md, pop: _Pop, w_eff, a_t, n: int, where: str):
    """The exact spiking-bias spec from lava-nt metadata, or None if it does not describe the
    NIR fields (within :data:`META_RTOL`)."""
    m = pop.W.shape[0]
    try:
        du, dv, vth = (float(md[key]) for key in ("du", "dv", "vth"))
        b_b, w_b, alpha = (np.asarray(md[key], np.float64) for key in ("bias", "w_b", "alpha"))
    except (KeyError, TypeError, ValueError):
        return None
    mg = md.get("group")
    grp = np.arange(n) if mg is None else np.asarray(mg)
    if grp.shape != (n,) or not np.issubdtype(grp.dtype, np.integer):
        return None
    if mg is None and m != n:
        return None
    if any(x.shape != (m,) for x in (b_b, w_b, alpha)) or grp.min() < 0 or grp.max() >= m:
        return None
    want = np.zeros((n, m))
    want[np.arange(n), grp] = w_b[grp]
    if not (
        _close(want, w_eff) and _close(alpha[grp], a_t) and _close(pop.gain, 1.0)
        and _close(b_b, pop.bias) and _close(du, pop.du) and _close(dv, pop.dv)
        and _close(vth, pop.vth)
    ):  # fmt: skip
        return None
    mask = md.get("mask")
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != pop.W.shape or np.any(pop.W[~mask] != 0):
            mask = None
    params = spiking_bias_parameters(
        m, n, where, du=du, dv=dv, vth=vth, bias=b_b, w_b=w_b, alpha=alpha,
        group=None if mg is None else grp.astype(np.int64),
    )  # fmt: skip
    return SpikingBiasSpec(w_in=pop.W.copy(), params=params, mask=mask)


def _read_dt(graph, dt) -> tuple[float, str]:
    md = getattr(graph, "metadata", None) or {}
    gdt = md.get("dt") if isinstance(md, dict) else None
    if dt is not None:
        if not (isinstance(dt, int | float) and np.isfinite(dt) and dt > 0):
            raise NIRImportError(f"from_nir: dt must be a positive number of seconds, got {dt!r}")
        return float(dt), "given"
    if gdt is not None:
        v = float(np.asarray(gdt).reshape(-1)[0])
        if not (np.isfinite(v) and v > 0):
            raise NIRImportError(f"from_nir: the graph's metadata dt={gdt!r} is not positive")
        return v, "graph metadata"
    return DEFAULT_DT, "default (the graph states no dt)"


def from_nir(graph, *, dt: float | None = None, use_metadata: bool = True) -> NIRImport:
    """Import a NIR graph (or a ``.nir`` file path) as a float :class:`NetworkSpec`.

    Accepted: ``Input [-> Flatten] ->`` layers ``-> Output``, each layer one of
    ``Affine|Linear -> LIF | IF | CubaLIF`` or ``Affine|Linear -> LI|I -> Affine(diagonal) ->
    LIF | IF``, optionally with a lava-nt spiking-bias subgraph into its neuron node (see
    :func:`to_nir`). Per layer the time constants and the threshold must be uniform (NTLIF has
    one decay and one threshold per layer), ``v_reset`` must be 0, and ``dt/tau <= 1``.

    Args:
        graph: a ``nir.NIRGraph`` or a path (read with ``nir.read``).
        dt: seconds per step; default the graph's ``metadata["dt"]`` (lava-nt writes it), else
            :data:`DEFAULT_DT`.
        use_metadata: take the exact values from lava-nt's node metadata when they agree with
            the NIR fields (relative tolerance :data:`META_RTOL`), for a bit-exact round trip.
            Reset "subtract" exists only as metadata (it is always honoured).

    Raises :class:`NIRImportError` naming the first node that does not map, and why.
    """
    import nir

    if isinstance(graph, str | os.PathLike):
        graph = read_nir(graph)
    if not isinstance(graph, nir.NIRGraph):
        raise NIRImportError(f"from_nir: expected a nir.NIRGraph, got {type(graph).__name__}")
    dt, dt_src = _read_dt(graph, dt)
    notes = [f"dt = {dt:g} s ({dt_src})"]
    g = _Graph(graph, "from_nir")
    for name, node in g.nodes.items():
        tn = _tname(node)
        if tn in _UNSUPPORTED:
            raise g.node_error(name, _UNSUPPORTED[tn])
    src = g.input
    flat = [s for s in g.succ[src] if _tname(g.nodes[s]) == "Flatten"]
    if flat:  # Input -> Flatten -> ...: lava-nt inputs are flat already
        if g.succ[src] != flat or len(flat) != 1 or g.pred[flat[0]] != [src]:
            raise g.node_error(flat[0], "a Flatten is accepted only as the Input's sole successor")
        src = flat[0]
    for name, node in g.nodes.items():
        if _tname(node) == "Flatten" and name != src:
            raise g.node_error(name, "a reshape inside the network has no NTLIF equivalent")
    n_in = None
    layers: list[LayerSpec] = []
    all_exact = True
    k = 0
    while True:
        succ = list(g.succ[src])
        if succ == [g.output] and layers:
            break
        subs = [s for s in succ if _tname(g.nodes[s]) == "NIRGraph"]
        syns = [s for s in succ if s not in subs]
        if g.output in syns and layers:
            raise g.node_error(src, "feeds both the Output and another layer")
        if len(syns) != 1 or len(subs) > 1 or g.output in syns:
            raise g.node_error(
                src,
                f"expected one synapse (Affine/Linear) and at most one spiking-bias subgraph "
                f"after it, found {succ}",
            )
        syn = syns[0]
        if n_in is None:
            W0 = getattr(g.nodes[syn], "weight", None)
            if W0 is None or np.ndim(W0) != 2:
                raise g.node_error(syn, "the first layer must be an Affine/Linear matrix")
            n_in = int(np.shape(W0)[1])
        n_prev = n_in if not layers else layers[-1].n
        pop = _parse_population(g, syn, n_prev, dt)
        n = pop.W.shape[0]
        preds = set(g.pred[pop.neuron])
        want = {pop.names[-2]} | set(subs)
        if preds != want:
            raise g.node_error(
                pop.neuron, f"unexpected inputs {sorted(preds - want)}; NTLIF layers are "
                "feed-forward (no recurrent or skip connections)"
            )  # fmt: skip
        sbs = None
        sb_exact = True
        if subs:
            if g.succ[subs[0]] != [pop.neuron]:
                raise g.node_error(subs[0], "a spiking-bias subgraph must feed its layer's neuron")
            sbs, sb_exact = _parse_spiking_bias(
                g.nodes[subs[0]], subs[0], n_prev, pop, dt, use_metadata, notes
            )
        md = _meta(g.nodes[pop.neuron])
        reset = "subtract" if md.get("reset") == "subtract" else "zero"
        du, dv, vth, bias, gain = pop.du, pop.dv, pop.vth, pop.bias, pop.gain
        exact = False
        if use_metadata and md.get("role") == "ntlif" and not md.get("folded"):
            cand = [md.get(key) for key in ("du", "dv", "vth", "bias", "gain")]
            if all(c is not None for c in cand) and all(
                _close(c, v) for c, v in zip(cand, (du, dv, vth, bias, gain), strict=True)
            ):
                du, dv, vth = (float(c) for c in cand[:3])
                bias, gain = (np.asarray(c, np.float64).copy() for c in cand[3:])
                exact = True
            else:
                notes.append(f"layer {k}: lava-nt metadata disagrees with the NIR fields; ignored")
        exact = exact and (sbs is None or sb_exact)
        all_exact &= exact
        src_kind = "lava-nt metadata (exact)" if exact else "derived from the NIR fields"
        notes.append(
            f"layer {k}: {' -> '.join(pop.names)}, {n} neurons, du={du:.6g}, dv={dv:.6g}, "
            f"vth={vth:.6g}, reset {reset}"
            + (", spiking bias" if sbs is not None else "")
            + f"; values {src_kind}"
        )
        try:
            neuron = ntlif_parameters(
                n, f"from_nir: layer {k}", du=du, dv=dv, vth=vth, reset=reset, bias=bias,
                gain=gain,
            )  # fmt: skip
        except ParameterError as exc:
            raise g.node_error(pop.neuron, str(exc)) from None
        layers.append(LayerSpec(weight=pop.W, neuron=neuron, spiking_bias=sbs))
        src = pop.neuron
        k += 1
    if not layers:
        raise NIRImportError("from_nir: the graph has no layer between its Input and Output")
    out_t = getattr(g.nodes[g.output], "output_type", {}) or {}
    shp = out_t.get("output") if isinstance(out_t, dict) else None
    if shp is not None and np.size(shp) and int(np.prod(np.asarray(shp)[-1:])) != layers[-1].n:
        notes.append(f"Output node declares shape {list(np.asarray(shp))}; using {layers[-1].n}")
    spec = NetworkSpec(n_in, layers)
    return NIRImport(spec=spec, dt=dt, notes=notes, exact=bool(all_exact))


def read_nir(path):
    """``nir.read(path)`` with a clear :class:`NIRImportError` for a missing or corrupt file
    (a graph whose declared types disagree, e.g. a batch dimension on the Input, is re-read
    without nir's type check; lava-nt checks the shapes itself)."""
    import h5py
    import nir

    path = Path(path)
    if not path.is_file():
        raise NIRImportError(f"NIR file '{path}' does not exist")
    if not h5py.is_hdf5(path):
        raise NIRImportError(f"NIR file '{path}' is not an HDF5 file (corrupt or not NIR)")
    try:
        with h5py.File(path, "r") as f:
            if "node" not in f:
                raise NIRImportError(f"NIR file '{path}' has no '/node' group (not a NIR graph)")
    except NIRImportError:
        raise
    except Exception as exc:  # noqa: BLE001 - h5py raises many kinds on a damaged file
        raise NIRImportError(f"NIR file '{path}' cannot be read: {exc}") from None
    try:
        return nir.read(path)
    except Exception:  # noqa: BLE001
        pass
    try:
        return nir.read(path, type_check=False)
    except Exception as exc:  # noqa: BLE001
        raise NIRImportError(f"NIR file '{path}' cannot be read by nir: {exc}") from None


def import_nir(path, **kwargs) -> NIRImport:
    """:func:`from_nir` of a ``.nir`` file."""
    return from_nir(read_nir(path), **kwargs)


# ---- Norse (norse 1.1 / nirtorch 2.6) --------------------------------------------------------
def norse_import_map(dt: float, dtype=None):
    """A ``nirtorch.load`` node map that runs NIR's forward-Euler semantics exactly with Norse
    1.1 cells, fixing what ``norse.torch.from_nir`` gets wrong for lava-nt graphs:

    * ``r`` of LIF/IF is applied (Norse drops it with a warning);
    * CubaLIF's synapse relaxes to 0, not to ``v_leak`` (Norse passes ``v_leak`` to both);
    * every state starts at 0 (Norse's LIFBox/LIBox start at ``v_leak``);
    * IF integrates ``dt * r * I`` (Norse's IAF adds the raw input);
    * LI and I nodes (synaptic currents, spiking-bias currents) are supported;
    * lava-nt's ``lava_nt_reset = "subtract"`` node metadata is honoured;
    * parameters keep ``dtype`` (default float64; Norse casts everything to float32).
    """
    import nir
    import torch
    from norse.torch.functional.lif_box import LIFBoxFeedForwardState, LIFBoxParameters
    from norse.torch.functional.lif_box import lif_box_feed_forward_step as lif_step
    from norse.torch.functional.reset import reset_subtract, reset_value

    dtype = dtype or torch.float64

    def t(x):
        return torch.tensor(np.array(x, dtype=np.float64), dtype=dtype)

    def zeros(x, n):
        return torch.zeros(x.shape[:-1] + (n,), dtype=dtype, device=x.device)

    class LIF(torch.nn.Module):
        """NIR LIF / IF via norse's LIFBox step (IF: ``v += dt r I``), reset to ``v_reset`` or,
        with lava-nt's ``lava_nt_reset = "subtract"`` metadata, by subtracting the threshold."""

        def __init__(self, tau_inv, v_leak, v_th, v_reset, gain_in, n, subtract):
            super().__init__()
            self.n = n
            self.register_buffer("gain_in", gain_in)
            self.p = LIFBoxParameters(
                tau_mem_inv=tau_inv, v_leak=v_leak, v_th=v_th, v_reset=v_reset,
                method="heaviside", reset_method=reset_subtract if subtract else reset_value,
            )  # fmt: skip
            self.if_mode = bool(torch.all(tau_inv == 0))
            self.dt = dt

        def forward(self, x, state=None):
            v = zeros(x, self.n) if state is None else state
            x = self.gain_in * x
            if self.if_mode:  # v += dt r I (LIFBox with tau_mem_inv = 0 would not integrate)
                vn = v + x
                z = (vn > self.p.v_th).to(vn.dtype)
                return z, self.p.reset_method(z, vn, self.p.v_reset, self.p.v_th)
            z, st = lif_step(x, LIFBoxFeedForwardState(v=v), self.p, dt=self.dt)
            return z, st.v

    class LI(torch.nn.Module):
        """NIR LI (x += dt/tau (v_leak - x + r I)) or I (x += dt r I); state starts at 0."""

        def __init__(self, a, k, c, n):
            super().__init__()
            self.n = n
            self.register_buffer("a", a)  # x_new = a * x + k * I + c
            self.register_buffer("k", k)
            self.register_buffer("c", c)

        def forward(self, x, state=None):
            s = zeros(x, self.n) if state is None else state
            s = self.a * s + self.k * x + self.c
            return s, s

    class CubaLIF(torch.nn.Module):
        """NIR CubaLIF: synapse I += dt/tau_syn (-I + w_in x) (relaxes to 0), then LIF."""

        def __init__(self, syn: LI, lif: LIF):
            super().__init__()
            self.syn = syn
            self.lif = lif

        def forward(self, x, state=None):
            s0, s1 = (None, None) if state is None else state
            i, s0 = self.syn(x, s0)
            z, s1 = self.lif(i, s1)
            return z, (s0, s1)

    def node_map(node):
        if isinstance(node, nir.Affine | nir.Linear):
            W = np.asarray(node.weight, np.float64)
            b = getattr(node, "bias", None)
            lin = torch.nn.Linear(W.shape[1], W.shape[0], bias=b is not None, dtype=dtype)
            with torch.no_grad():
                lin.weight.copy_(t(W))
                if b is not None:
                    lin.bias.copy_(t(np.broadcast_to(b, (W.shape[0],))))
            return lin
        if isinstance(node, nir.LIF | nir.IF | nir.CubaLIF):
            vth = np.asarray(node.v_threshold, np.float64)
            n = vth.size
            v_reset = t(np.zeros(n) if node.v_reset is None else node.v_reset)
            sub = _meta(node).get("reset") == "subtract"
        if isinstance(node, nir.LIF):
            return LIF(
                t(1.0 / np.asarray(node.tau, np.float64)), t(node.v_leak), t(vth), v_reset,
                t(node.r), n, sub,
            )  # fmt: skip
        if isinstance(node, nir.IF):
            r = np.asarray(node.r, np.float64)
            return LIF(t(np.zeros(n)), t(np.zeros(n)), t(vth), v_reset, t(dt * r), n, sub)
        if isinstance(node, nir.CubaLIF):
            ts = np.asarray(node.tau_syn, np.float64)
            syn = LI(t(1 - dt / ts), t(dt / ts * np.asarray(node.w_in)), t(np.zeros(n)), n)
            lif = LIF(
                t(1.0 / np.asarray(node.tau_mem, np.float64)), t(node.v_leak), t(vth), v_reset,
                t(node.r), n, sub,
            )  # fmt: skip
            return CubaLIF(syn, lif)
        if isinstance(node, nir.LI):
            tau = np.asarray(node.tau, np.float64)
            n = tau.size
            k = dt / tau
            return LI(t(1 - k), t(k * np.asarray(node.r)), t(k * np.asarray(node.v_leak)), n)
        if isinstance(node, nir.I):
            r = np.asarray(node.r, np.float64)
            n = r.size
            return LI(t(np.ones(n)), t(dt * r), t(np.zeros(n)), n)
        return None  # Input / Output / subgraphs: nirtorch's defaults and recursion

    return node_map


def inline_subgraphs(graph):
    """The same network with every (one level) subgraph's nodes moved into the top graph as
    ``<subgraph>_<node>`` (its Input/Output nodes dropped, edges rewired). Semantics are
    unchanged; it lets loaders without subgraph support run lava-nt's spiking-bias blocks."""
    import nir

    subs = {k: v for k, v in graph.nodes.items() if isinstance(v, nir.NIRGraph)}
    if not subs:
        return graph
    nodes, edges = {}, []
    heads, tails = {}, {}
    for k, v in graph.nodes.items():
        if k not in subs:
            nodes[k] = v
            continue
        sg = _Graph(v, f"subgraph '{k}'")
        if any(isinstance(x, nir.NIRGraph) for x in v.nodes.values()):
            raise NIRImportError(f"subgraph '{k}' nests further subgraphs", k)
        heads[k] = [f"{k}_{x}" for x in sg.succ[sg.input]]
        tails[k] = [f"{k}_{x}" for x in sg.pred[sg.output]]
        for name, node in v.nodes.items():
            if name not in (sg.input, sg.output):
                nodes[f"{k}_{name}"] = node
        for a, b in v.edges:
            a, b = sg._resolve(str(a)), sg._resolve(str(b))
            if sg.input not in (a, b) and sg.output not in (a, b):
                edges.append((f"{k}_{a}", f"{k}_{b}"))
    g = _Graph(graph, "inline_subgraphs")
    for a, succ in g.succ.items():
        for b in succ:
            for x in tails.get(a, [a]):
                for y in heads.get(b, [b]):
                    edges.append((x, y))
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=dict(graph.metadata or {}))


def to_norse(graph, *, dt: float | None = None, dtype=None):
    """A torch module running ``graph`` exactly, with Norse 1.1 cells (:func:`norse_import_map`).

    Without subgraphs it is loaded by ``nirtorch.load``, the loader ``norse.torch.from_nir``
    uses, with the corrected node map. A graph with spiking-bias subgraphs is inlined
    (:func:`inline_subgraphs`) and loaded by ``nirtorch.nir_to_torch``: ``nirtorch.load``
    (nirtorch 2.6) orders nodes depth-first, runs a spiking-bias block after the neuron it feeds
    and so delivers the bias current one step late, and ``nir_to_torch`` fails on nested graphs.
    ``dt`` defaults to the graph's ``metadata["dt"]``. Call it step by step, ``out, state =
    module(x[t], state)``, or use :func:`run_norse`."""
    import warnings

    import nir
    import nirtorch

    if isinstance(graph, str | os.PathLike):
        graph = read_nir(graph)
    if not isinstance(graph, nir.NIRGraph):
        raise NIRImportError(f"to_norse: expected a nir.NIRGraph, got {type(graph).__name__}")
    dt, _ = _read_dt(graph, dt)
    node_map = norse_import_map(dt, dtype)
    if any(isinstance(v, nir.NIRGraph) for v in graph.nodes.values()):
        import torch

        flat = inline_subgraphs(graph)
        kinds = {type(v) for v in flat.nodes.values()}
        fmap = {k: node_map for k in kinds if k not in (nir.Input, nir.Output)}
        return nirtorch.nir_to_torch(flat, fmap, dtype=dtype or torch.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return nirtorch.load(graph, node_map)


def norse_float64(module):
    """Workaround for ``norse.torch.from_nir`` (norse 1.1), which casts every parameter to
    float32: convert the Linear layers and every Norse cell's parameter tuple to float64 in
    place (values already rounded to float32 stay rounded). Returns ``module``."""
    import torch

    for mod in module.modules():
        p = getattr(mod, "p", None)
        if p is not None and hasattr(p, "_replace"):
            mod.p = p._replace(
                **{
                    k: v.detach().to(torch.float64)
                    for k, v in p._asdict().items()
                    if isinstance(v, torch.Tensor) and v.is_floating_point()
                }
            )
        for name in ("w_in", "r"):
            v = getattr(mod, name, None)
            if isinstance(v, torch.Tensor) and not isinstance(v, torch.nn.Parameter):
                setattr(mod, name, v.detach().to(torch.float64))
        if isinstance(mod, torch.nn.Linear):
            mod.double()
    return module


def run_norse(module, x, dtype=None):
    """Run a ``nirtorch``-loaded module step by step on spikes ``x [T, B, n_in]``; returns the
    output spikes ``[T, B, n_out]`` as a numpy array."""
    import torch

    dtype = dtype or torch.float64
    xs = torch.as_tensor(np.asarray(x), dtype=dtype)
    state = None
    outs = []
    with torch.no_grad():
        for t in range(xs.shape[0]):
            out, state = module(xs[t], state)
            outs.append(out.detach().to(torch.float64).cpu().numpy())
    return np.stack(outs)
