"""Running NIR graphs exactly with Norse 1.1 cells (norse 1.1 / nirtorch 2.6)."""

from __future__ import annotations

import os
import warnings
from types import SimpleNamespace

import nir
import numpy as np

from lava_nt.converters.nir_io.common import NIRImportError, _meta, _read_dt
from lava_nt.converters.nir_io.importer import read_nir
from lava_nt.converters.nir_io.parse import _Graph


def norse_import_map(dt: float, dtype=None):
    """A ``nirtorch.load`` node map that runs NIR's forward-Euler semantics exactly with Norse
    1.1 cells, fixing what ``norse.torch.from_nir`` gets wrong for lava-nt graphs:

    * ``r`` of LIF/IF is applied (Norse drops it with a warning);
    * CubaLIF's synapse relaxes to 0, not to ``v_leak`` (Norse passes ``v_leak`` to both);
    * every state starts at 0 (Norse's LIFBox/LIBox start at ``v_leak``);
    * IF integrates ``dt * r * I`` (Norse's IAF adds the raw input);
    * LI, I and CubaLI nodes (synaptic currents, spiking-bias currents, readouts) are
      supported;
    * lava-nt's ``lava_nt_reset = "subtract"`` node metadata is honoured;
    * parameters keep ``dtype`` (default float64; Norse casts everything to float32).
    """
    m = _norse_modules(dt, dtype)

    def node_map(node):
        return _map_node(node, dt, m)

    return node_map


def _norse_modules(dt: float, dtype):
    """The torch modules of :func:`norse_import_map` (``LIF``, ``LI``, ``CubaLIF``), their ``dtype``
    (default float64) and ``t`` (an array as a tensor of ``dtype``), built lazily (torch, norse)."""
    import torch  # lazy: torch only in the Norse bridge; nir_io itself is numpy-only

    # Norse's import-time torch.jit.script calls make torch warn (FutureWarning, meant for Norse):
    # silenced for this import only, by the exact message (as in lava_nt.nn.ntlif)
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="`torch.jit.script` is deprecated", category=FutureWarning
        )
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

    return SimpleNamespace(t=t, dtype=dtype, LIF=LIF, LI=LI, CubaLIF=CubaLIF)


def _map_linear(W, b, m):
    import torch  # lazy: torch only in the Norse bridge; nir_io itself is numpy-only

    t = m.t
    lin = torch.nn.Linear(W.shape[1], W.shape[0], bias=b is not None, dtype=m.dtype)
    with torch.no_grad():
        lin.weight.copy_(t(W))
        if b is not None:
            lin.bias.copy_(t(np.broadcast_to(b, (W.shape[0],))))
    return lin


def _map_spiking(node, dt: float, m):
    """LIF, IF and CubaLIF nodes."""
    t = m.t
    vth = np.asarray(node.v_threshold, np.float64)
    n = vth.size
    v_reset = t(np.zeros(n) if node.v_reset is None else node.v_reset)
    sub = _meta(node).get("reset") == "subtract"
    if isinstance(node, nir.LIF):
        return m.LIF(
            t(1.0 / np.asarray(node.tau, np.float64)), t(node.v_leak), t(vth), v_reset,
            t(node.r), n, sub,
        )  # fmt: skip
    if isinstance(node, nir.IF):
        r = np.asarray(node.r, np.float64)
        return m.LIF(t(np.zeros(n)), t(np.zeros(n)), t(vth), v_reset, t(dt * r), n, sub)
    ts = np.asarray(node.tau_syn, np.float64)
    syn = m.LI(t(1 - dt / ts), t(dt / ts * np.asarray(node.w_in)), t(np.zeros(n)), n)
    lif = m.LIF(
        t(1.0 / np.asarray(node.tau_mem, np.float64)), t(node.v_leak), t(vth), v_reset,
        t(node.r), n, sub,
    )  # fmt: skip
    return m.CubaLIF(syn, lif)


def _map_node(node, dt: float, m):
    """The module for one NIR node, or None (nirtorch's defaults and recursion)."""
    t = m.t
    if isinstance(node, nir.Affine | nir.Linear):
        return _map_linear(np.asarray(node.weight, np.float64), getattr(node, "bias", None), m)
    if isinstance(node, nir.LIF | nir.IF | nir.CubaLIF):
        return _map_spiking(node, dt, m)
    if isinstance(node, nir.CubaLI):  # synapse as in CubaLIF, then a non-spiking LI
        ts = np.asarray(node.tau_syn, np.float64)
        tm = np.asarray(node.tau_mem, np.float64)
        n = tm.size
        syn = m.LI(t(1 - dt / ts), t(dt / ts * np.asarray(node.w_in)), t(np.zeros(n)), n)
        km = dt / tm
        mem = m.LI(t(1 - km), t(km * np.asarray(node.r)), t(km * np.asarray(node.v_leak)), n)
        return m.CubaLIF(syn, mem)
    if isinstance(node, nir.LI):
        tau = np.asarray(node.tau, np.float64)
        n = tau.size
        k = dt / tau
        return m.LI(t(1 - k), t(k * np.asarray(node.r)), t(k * np.asarray(node.v_leak)), n)
    if isinstance(node, nir.I):
        r = np.asarray(node.r, np.float64)
        n = r.size
        return m.LI(t(np.ones(n)), t(dt * r), t(np.zeros(n)), n)
    return None  # Input / Output / subgraphs: nirtorch's defaults and recursion


def inline_subgraphs(graph):
    """The same network with every (one level) subgraph's nodes moved into the top graph as
    ``<subgraph>_<node>`` (its Input/Output nodes dropped, edges rewired). Semantics are
    unchanged; it lets loaders without subgraph support run lava-nt's spiking-bias blocks."""
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
    import nirtorch  # lazy: nirtorch imports torch; only the Norse bridge needs it

    if isinstance(graph, str | os.PathLike):
        graph = read_nir(graph)
    if not isinstance(graph, nir.NIRGraph):
        raise NIRImportError(f"to_norse: expected a nir.NIRGraph, got {type(graph).__name__}")
    dt, _ = _read_dt(graph, dt)
    node_map = norse_import_map(dt, dtype)
    if any(isinstance(v, nir.NIRGraph) for v in graph.nodes.values()):
        import torch  # lazy: torch only in the Norse bridge; nir_io itself is numpy-only

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
    import torch  # lazy: torch only in the Norse bridge; nir_io itself is numpy-only

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
    import torch  # lazy: torch only in the Norse bridge; nir_io itself is numpy-only

    dtype = dtype or torch.float64
    xs = torch.as_tensor(np.asarray(x), dtype=dtype)
    state = None
    outs = []
    with torch.no_grad():
        for t in range(xs.shape[0]):
            out, state = module(xs[t], state)
            outs.append(out.detach().to(torch.float64).cpu().numpy())
    return np.stack(outs)
