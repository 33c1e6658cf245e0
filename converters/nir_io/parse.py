"""Parsing NIR node chains into lava-nt populations: the graph's edges, per-neuron fields,
``Affine [-> LI|I -> Affine(diag)] -> LIF|IF|CubaLIF`` populations and spiking-bias subgraphs."""

from __future__ import annotations

from dataclasses import dataclass

import nir
import numpy as np

from lava_nt.converters.nir_io.common import NIRImportError, _close, _meta, _tname
from lava_nt.converters.nir_io.conventions import Convention
from lava_nt.network import SpikingBiasSpec
from lava_nt.spec.spiking_bias import spiking_bias_parameters
from lava_nt.spec.validation import ParameterError

_UNSUPPORTED = {
    "Conv1d": "a convolution; lava-nt layers are dense (write the kernel as an Affine matrix)",
    "Conv2d": "a convolution; lava-nt layers are dense (write the kernel as an Affine matrix)",
    "SumPool2d": "pooling has no NTLIF equivalent",
    "AvgPool2d": "pooling has no NTLIF equivalent",
    "Delay": "NTLIF layers have no synaptic or axonal delays",
    "Scale": "a bare elementwise scale; fold it into the neighbouring Affine weights",
    "Threshold": "a threshold without a membrane has no NTLIF equivalent",
}


class _Graph:
    """Edges of one (sub)graph with subgraph-port names resolved (``sub.input`` -> ``sub``)."""

    def __init__(self, graph, where: str):
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


def _decay(
    node_name: str, g: _Graph, tau, n: int, conv: Convention, what: str, per_neuron: bool = False
):
    """The decay ``step / tau`` of a population, as the graph's source computes it: a float
    when every neuron has the same one, else (``per_neuron``: a spiking NTLIF layer) the float64
    ``(n,)`` array of per-neuron decays; a readout has one per population."""
    t = _per_neuron(node_name, g, tau, n, what)
    if not (np.all(np.isfinite(t)) and np.all(t > 0)):
        bad = t[~(np.isfinite(t) & (t > 0))][0]
        raise g.node_error(
            node_name, f"'{what}' must be a positive finite time constant, got {bad}"
        )
    d = _per_neuron(node_name, g, conv.decays(tau), n, what)
    uniform = bool(np.all(d == d[0]))
    if not uniform and not per_neuron:
        raise g.node_error(
            node_name,
            f"'{what}' differs across neurons (per-neuron time constants, from {d.min():.6g} to "
            f"{d.max():.6g} per step); a readout has one decay per population, so it cannot be "
            "imported exactly",
        )
    if np.any(d > 1.0):
        i = int(np.flatnonzero(d > 1.0)[0])
        hint = ""
        if conv.source == "nir":
            hint = (
                " (snnTorch's export_to_nir writes time constants for a 1e-4 s step: "
                "source='snntorch'; Norse's to_nir writes export_dt/tau_inv: source='norse')"
            )
        raise g.node_error(
            node_name,
            f"'{what}' = {t[i]:g} s is shorter than the time step {conv.step:g} s (decay "
            f"{d[i]:g} > 1); forward Euler with this step is unstable and has no NTLIF "
            f"equivalent{hint}",
        )
    return float(d[0]) if uniform else d.copy()


def _no_norse_leak(g: _Graph, name: str, v_leak: np.ndarray, conv: Convention) -> None:
    if conv.source == "norse" and np.any(v_leak != 0):
        raise g.node_error(
            name,
            "v_leak != 0: Norse starts this cell's voltage at v_leak and lava-nt at 0, so the "
            "first steps would differ from Norse's own run (give the Linear layer the bias)",
        )


def _affine(g: _Graph, name: str, n_in: int | None):
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
    """One parsed population (values derived from the NIR fields).

    Spiking (``readout`` False): an NTLIF layer ``u = (1-du) u + W s``, ``v = (1-dv) v +
    gain (u + bias)``, spike ``v > vth``. Readout (an integrator node before the Output): ``v =
    (1-dv) v + gain u + bias`` (so its Dense weights are ``gain * W``, its bias ``bias``)."""

    names: list[str]
    W: np.ndarray
    du: float | np.ndarray  # one decay, or one per neuron (spiking layers only)
    dv: float | np.ndarray
    vth: float | None
    bias: np.ndarray
    gain: np.ndarray
    kappa: np.ndarray | None  # voltage change per unit input current (None: CubaLIF)
    neuron: str
    readout: bool = False
    vth_rescaled: bool = False  # per-neuron thresholds folded into the gains


_SPIKING = ("LIF", "IF", "CubaLIF")
_INTEGRATORS = ("LI", "I", "CubaLI")


def _parse_synapse(g: _Graph, first: str, nxt: str, b_aff, n: int, conv: Convention, names):
    """A synaptic current node ``nxt`` (LI or I) and the diagonal Affine after it (both appended
    to ``names``): ``(du, scale, beta, the node after them)``."""
    node = g.nodes[nxt]
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
        du = _decay(nxt, g, node.tau, n, conv, "tau", per_neuron=True)
        kx = conv.leak_gain(du, _per_neuron(nxt, g, node.r, n, "r"), node.r)
    else:
        du = 0.0
        kx = conv.if_gain(_per_neuron(nxt, g, node.r, n, "r"))
    after = g.only_succ(nxt)
    if _tname(g.nodes[after]) not in ("Affine", "Linear"):
        raise g.node_error(
            after,
            "after a synaptic current node (LI/I) lava-nt expects an Affine(diagonal, bias) "
            "and then an LIF/IF neuron (or an LI/I readout)",
        )
    D, beta = _affine(g, after, n)
    if D.shape != (n, n) or np.any(D[~np.eye(n, dtype=bool)] != 0):
        raise g.node_error(
            after, "must be diagonal (n x n): NTLIF's current feeds only its own neuron"
        )
    names.append(after)
    scale = np.diag(D) * kx
    nxt = g.only_succ(after)
    return du, scale, beta, nxt


def _unsupported_neuron(g: _Graph, nxt: str, tn: str):
    """The error for a node of type ``tn`` where a spiking neuron is expected."""
    why = _UNSUPPORTED.get(tn)
    if tn in _INTEGRATORS:
        why = (
            "a non-spiking integrator inside the network (it may only be the readout, "
            "right before the Output)"
        )
    if tn == "Output" or why is None:
        why = why or "lava-nt expects an LIF, IF or CubaLIF neuron after an Affine/Linear"
    return g.node_error(nxt, why)


def _neuron_drive(g: _Graph, first, nxt, b_aff, beta, scale, du, n, conv: Convention, names):
    """The spiking neuron ``nxt`` (LIF, IF or CubaLIF): ``(du, dv, kappa, gain, num)``, ``num``
    the constant drive (``bias = num / gain``)."""
    node = g.nodes[nxt]
    kappa = None
    if isinstance(node, nir.LIF):
        dv = _decay(nxt, g, node.tau, n, conv, "tau", per_neuron=True)
        kappa = conv.leak_gain(dv, _per_neuron(nxt, g, node.r, n, "r"), node.r)
        v_leak = _per_neuron(nxt, g, node.v_leak, n, "v_leak")
        _no_norse_leak(g, nxt, v_leak, conv)
        gain = kappa * scale
        num = kappa * beta + dv * v_leak
    elif isinstance(node, nir.IF):
        dv = 0.0
        kappa = conv.if_gain(_per_neuron(nxt, g, node.r, n, "r"))
        gain = kappa * scale
        num = kappa * beta
    else:  # CubaLIF
        if len(names) > 1:
            raise g.node_error(nxt, "a CubaLIF after a synaptic current node filters twice")
        if np.any(b_aff != 0):
            raise g.node_error(
                first,
                "an Affine bias in front of a CubaLIF is filtered by its synapse; NTLIF adds the "
                "bias after the current (use CubaLIF's v_leak, or a Linear without bias)",
            )
        du = _decay(nxt, g, node.tau_syn, n, conv, "tau_syn", per_neuron=True)
        dv = _decay(nxt, g, node.tau_mem, n, conv, "tau_mem", per_neuron=True)
        r = conv.leak_gain(dv, _per_neuron(nxt, g, node.r, n, "r"), node.r)
        jump = conv.jump(du, _per_neuron(nxt, g, node.w_in, n, "w_in"), node.w_in)
        v_leak = _per_neuron(nxt, g, node.v_leak, n, "v_leak")
        _no_norse_leak(g, nxt, v_leak, conv)
        gain = r * jump
        num = dv * v_leak
    return du, dv, kappa, gain, num


def _parse_population(
    g: _Graph, first: str, n_in: int, conv: Convention, readout_ok: bool = False
) -> _Pop:
    """Parse ``Affine|Linear [-> LI|I -> Affine|Linear(diag)] -> LIF|IF|CubaLIF`` from ``first``;
    with ``readout_ok`` the chain may end in an integrator (``LI|I|CubaLI``) feeding the Output,
    a non-spiking readout."""
    W, b_aff = _affine(g, first, n_in)
    n = W.shape[0]
    names = [first]
    nxt = g.only_succ(first)
    node = g.nodes[nxt]
    scale = np.ones(n)  # y = scale * u + beta at the neuron's input
    beta = b_aff
    du = 1.0

    def terminal(name: str) -> bool:
        return readout_ok and g.succ[name] == [g.output]

    if isinstance(node, nir.LI | nir.I) and not terminal(nxt):
        du, scale, beta, nxt = _parse_synapse(g, first, nxt, b_aff, n, conv, names)
        node = g.nodes[nxt]
    tn = _tname(node)
    if tn in _INTEGRATORS and terminal(nxt):
        return _readout_population(g, names, W, b_aff, beta, scale, du, nxt, n, conv)
    if tn not in _SPIKING:
        raise _unsupported_neuron(g, nxt, tn)
    vth_all = _per_neuron(nxt, g, node.v_threshold, n, "v_threshold")
    if not np.all(vth_all > 0):
        raise g.node_error(nxt, f"v_threshold must be > 0, got {vth_all[~(vth_all > 0)][0]}")
    _check_reset(g, nxt, node, n)
    du, dv, kappa, gain, num = _neuron_drive(g, first, nxt, b_aff, beta, scale, du, n, conv, names)
    bias = np.zeros(n)
    nz = gain != 0
    bias[nz] = num[nz] / gain[nz]
    if np.any(num[~nz] != 0):
        i = int(np.flatnonzero(~nz & (num != 0))[0])
        raise g.node_error(
            nxt, f"neuron {i} has zero input gain but a constant drive; NTLIF scales both by g"
        )
    # per-neuron thresholds: neuron i's voltage is measured in units of vth / vth_i (exact in
    # real arithmetic: spikes, resets and every input scale alike), with vth the most common one
    values, counts = np.unique(vth_all, return_counts=True)
    vth = float(values[np.argmax(counts)])
    q = vth / vth_all
    rescaled = bool(np.any(q != 1.0))
    if rescaled:
        gain = gain * q
        kappa = None if kappa is None else kappa * q
    names.append(nxt)
    return _Pop(names, W, du, dv, vth, bias, gain, kappa, nxt, vth_rescaled=rescaled)


def _readout_population(g, names, W, b_aff, beta, scale, du, name, n, conv) -> _Pop:
    """An integrator node (LI, I, CubaLI) feeding the Output: a non-spiking readout."""
    node = g.nodes[name]
    if np.ndim(du) != 0:
        raise g.node_error(
            names[1],
            "per-neuron time constants in a readout's synaptic current; a readout has one "
            "decay per population, so it cannot be imported exactly",
        )
    if isinstance(node, nir.LI):
        dv = _decay(name, g, node.tau, n, conv, "tau")
        k = conv.leak_gain(dv, _per_neuron(name, g, node.r, n, "r"), node.r)
        v_leak = _per_neuron(name, g, node.v_leak, n, "v_leak")
        _no_norse_leak(g, name, v_leak, conv)
        gain, bias = k * scale, k * beta + dv * v_leak
    elif isinstance(node, nir.I):
        dv = 0.0
        k = conv.if_gain(_per_neuron(name, g, node.r, n, "r"))
        gain, bias = k * scale, k * beta
    else:  # CubaLI
        if len(names) > 1:
            raise g.node_error(name, "a CubaLI after a synaptic current node filters twice")
        if np.any(b_aff != 0):
            raise g.node_error(
                names[0],
                "an Affine bias in front of a CubaLI is filtered by its synapse; a lava-nt "
                "readout adds its bias after the current (use CubaLI's v_leak)",
            )
        du = _decay(name, g, node.tau_syn, n, conv, "tau_syn")
        dv = _decay(name, g, node.tau_mem, n, conv, "tau_mem")
        k = conv.leak_gain(dv, _per_neuron(name, g, node.r, n, "r"), node.r)
        jump = conv.jump(du, _per_neuron(name, g, node.w_in, n, "w_in"), node.w_in)
        v_leak = _per_neuron(name, g, node.v_leak, n, "v_leak")
        _no_norse_leak(g, name, v_leak, conv)
        gain, bias = k * jump, dv * v_leak
    return _Pop(names + [name], W, du, dv, None, bias, gain, None, name, readout=True)


def _bias_current(g: _Graph, leak_name: str, n: int, dt: float):
    """The spiking bias's current node (LI or I): ``(decay a_t, input factor)`` per target."""
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
    return a_t, fac


def _bias_groups(g: _Graph, fan: str, w_eff, a_t, n: int, m: int):
    """Derive ``(group, w_b, c_retention)`` from the effective weights ``w_eff [n, m]``: every
    target row must receive from at most one bias neuron (NaN: a bias neuron that drives
    nothing)."""
    group = np.full(n, -1, dtype=np.int64)
    w_b = np.full(m, np.nan)
    c_ret = np.full(m, np.nan)
    for i in range(n):
        nzc = np.flatnonzero(w_eff[i])
        if nzc.size > 1:
            raise g.node_error(fan, f"target neuron {i} receives from {nzc.size} bias neurons")
        if nzc.size == 1:
            j = int(nzc[0])
            group[i] = j
            for arr, val, what in ((w_b, w_eff[i, j], "w_b"), (c_ret, a_t[i], "c_retention")):
                if np.isnan(arr[j]):
                    arr[j] = val
                elif not _close(arr[j], val):
                    raise g.node_error(
                        fan, f"bias neuron {j} drives its group with different {what} values"
                    )
    return group, w_b, c_ret


def _cover_unassigned(group, a_t, silent, m: int, W_in, b_b, g_b, w_b, c_ret):
    """Targets without any bias drive join a silent bias neuron (``group`` in place), one added
    when there is none: ``(W_in, b_b, g_b, w_b, c_retention)``."""
    unassigned = np.flatnonzero(group < 0)  # targets without any bias drive
    if unassigned.size:
        if silent.size:
            group[unassigned] = silent[0]
            if np.all(a_t[unassigned] == a_t[unassigned[0]]):  # keep its (inert) decay
                c_ret[silent[0]] = a_t[unassigned[0]]
        else:  # add a silent bias neuron for them
            W_in = np.vstack([W_in, np.zeros((1, W_in.shape[1]))])
            b_b, g_b = np.append(b_b, 0.0), np.append(g_b, 1.0)
            w_b, c_ret = np.append(w_b, 0.0), np.append(c_ret, 0.0)
            group[unassigned] = m
    return W_in, b_b, g_b, w_b, c_ret


def _parse_spiking_bias(
    sub, name: str, n_in: int, target: _Pop, conv: Convention, use_meta: bool, notes
):
    """Parse a lava-nt spiking-bias subgraph feeding ``target``; returns a SpikingBiasSpec."""

    dt = conv.dt
    g = _Graph(sub, f"subgraph '{name}'")
    first = g.only_succ(g.input)
    pop = _parse_population(g, first, n_in, conv)
    fan = g.only_succ(pop.neuron)
    F, fb = _affine(g, fan, pop.W.shape[0])
    n, m = target.W.shape[0], pop.W.shape[0]
    if F.shape != (n, m) or np.any(fb != 0):
        raise g.node_error(
            fan, f"the fan-out must be a bias-free ({n} x {m}) matrix from bias to target neurons"
        )
    leak_name = g.only_succ(fan)
    a_t, fac = _bias_current(g, leak_name, n, dt)
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
    group, w_b, c_ret = _bias_groups(g, fan, w_eff, a_t, n, m)
    silent = np.flatnonzero(np.isnan(w_b))  # bias neurons that drive nothing (w_b = 0)
    w_b[silent] = 0.0
    c_ret[silent] = 0.0
    W_in, b_b, g_b = pop.W, pop.bias, pop.gain
    W_in, b_b, g_b, w_b, c_ret = _cover_unassigned(
        group, a_t, silent, m, W_in, b_b, g_b, w_b, c_ret
    )
    # bias neurons have unit gain in lava-nt: fold g_b into W_in and b_b (exact in reals)
    g_b = np.where(np.abs(g_b - 1.0) <= 8 * np.finfo(float).eps, 1.0, g_b)
    W_in = W_in * g_b[:, None] if np.any(g_b != 1.0) else W_in.copy()
    b_b = b_b * g_b
    mb = W_in.shape[0]
    grp = None if (mb == n and np.array_equal(group, np.arange(n))) else group
    try:
        params = spiking_bias_parameters(
            mb, n, where, du=pop.du, dv=pop.dv, vth=pop.vth, bias=b_b, w_b=w_b,
            c_retention=np.clip(c_ret, 0.0, 1.0), group=grp,
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
        c_key = "c_retention" if "c_retention" in md else "alpha"  # "alpha": before the rename
        b_b, w_b, c_ret = (np.asarray(md[key], np.float64) for key in ("bias", "w_b", c_key))
    except (KeyError, TypeError, ValueError):
        return None
    mg = md.get("group")
    grp = np.arange(n) if mg is None else np.asarray(mg)
    if grp.shape != (n,) or not np.issubdtype(grp.dtype, np.integer):
        return None
    if mg is None and m != n:
        return None
    if any(x.shape != (m,) for x in (b_b, w_b, c_ret)) or grp.min() < 0 or grp.max() >= m:
        return None
    want = np.zeros((n, m))
    want[np.arange(n), grp] = w_b[grp]
    if not (
        _close(want, w_eff) and _close(c_ret[grp], a_t) and _close(pop.gain, 1.0)
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
        m, n, where, du=du, dv=dv, vth=vth, bias=b_b, w_b=w_b, c_retention=c_ret,
        group=None if mg is None else grp.astype(np.int64),
    )  # fmt: skip
    return SpikingBiasSpec(w_in=pop.W.copy(), params=params, mask=mask)
