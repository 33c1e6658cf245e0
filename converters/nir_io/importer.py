"""NIR import: :func:`from_nir`, :func:`read_nir`, :func:`import_nir` and their result."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import nir
import numpy as np

from lava_nt.converters.nir_io.common import (
    _META,
    NIRImportError,
    _close,
    _meta,
    _read_dt,
    _tname,
)
from lava_nt.converters.nir_io.conventions import (
    NORSE_EXPORT_DT,
    SNNTORCH_DT,
    SOURCES,
    Convention,
)
from lava_nt.converters.nir_io.parse import (
    _UNSUPPORTED,
    _Graph,
    _parse_population,
    _parse_spiking_bias,
)
from lava_nt.network import INPUT_KINDS, LayerSpec, NetworkSpec
from lava_nt.spec.ntlif import ntlif_parameters
from lava_nt.spec.readout import REDUCTIONS, ReadoutSpec, readout_parameters
from lava_nt.spec.validation import ParameterError


@dataclass
class NIRImport:
    """Result of :func:`from_nir`: the float ``spec``, the ``dt`` used, and per layer where the
    values came from (``notes``). ``exact`` is True when every layer used lava-nt's metadata
    (bit-exact round trip of a lava-nt export); ``source`` is the convention the graph was read
    with (:mod:`~lava_nt.converters.nir_io.conventions`)."""

    spec: NetworkSpec
    dt: float
    notes: list[str] = field(default_factory=list)
    exact: bool = False
    source: str = "nir"


def _convention(graph, source: str, dt, export_dt, notes: list[str]) -> Convention:
    if source not in SOURCES:
        raise NIRImportError(f"from_nir: source must be one of {SOURCES}, got {source!r}")
    if export_dt is not None and source != "norse":
        raise NIRImportError(
            "from_nir: export_dt (the dt given to norse.torch.to_nir) applies to source='norse'"
        )
    if source == "snntorch" and dt is None:
        dt, dt_src = SNNTORCH_DT, "snnTorch's export_to_nir step"
    else:
        dt, dt_src = _read_dt(graph, dt)
    notes.append(f"dt = {dt:g} s ({dt_src})")
    if source == "norse":
        if export_dt is None:
            export_dt = NORSE_EXPORT_DT
        if not (isinstance(export_dt, int | float) and np.isfinite(export_dt) and export_dt > 0):
            raise NIRImportError(
                f"from_nir: export_dt must be a positive number of seconds, got {export_dt!r}"
            )
        notes.append(
            f"read as Norse 1.1 runs it: cells step by dt = {dt:g} s, time constants written by "
            f"to_nir(dt={export_dt:g}) as export_dt/tau_inv, LIFCell currents jump by the full "
            "input"
        )
        return Convention("norse", float(dt), float(export_dt))
    if source == "snntorch":
        notes.append(
            "read as snnTorch 1.0 runs it: mem = beta mem + I, syn = alpha syn + I (beta, "
            "alpha and unit input gains as the float32 values snnTorch computed), reset to zero"
        )
    return Convention(source, float(dt))


def _input_kind(graph, input) -> str:
    if input is not None:
        if input not in INPUT_KINDS:
            raise NIRImportError(f"from_nir: input must be one of {INPUT_KINDS}, got {input!r}")
        return input
    md = getattr(graph, "metadata", None) or {}
    kind = md.get(f"{_META}input") if isinstance(md, dict) else None
    if isinstance(kind, bytes):
        kind = kind.decode("utf-8")
    return kind if kind in INPUT_KINDS else "spikes"


def _readout_spec(g, pop, use_metadata: bool, reduce, notes) -> tuple[ReadoutSpec, bool]:
    """The :class:`ReadoutSpec` of an integrator population (exact from lava-nt metadata)."""
    md = _meta(g.nodes[pop.neuron]) if use_metadata else {}
    red = md.get("reduce") if reduce is None else reduce
    red = red if red in REDUCTIONS or reduce is not None else "last"
    weight = pop.gain[:, None] * pop.W
    du, dv, bias, exact = pop.du, pop.dv, pop.bias, False
    if md.get("role") == "readout":
        cand = [md.get(key) for key in ("du", "dv", "bias")]
        if (
            all(c is not None for c in cand)
            and all(_close(c, v) for c, v in zip(cand, (du, dv, bias), strict=True))
            and _close(pop.gain, 1.0)
        ):
            du, dv = float(cand[0]), float(cand[1])
            bias = np.asarray(cand[2], np.float64).copy()
            weight, exact = pop.W.copy(), True
        else:
            notes.append("readout: lava-nt metadata disagrees with the NIR fields; ignored")
    try:
        params = readout_parameters(
            pop.W.shape[0], "from_nir: readout", du=du, dv=dv, bias=bias, reduce=red
        )
    except ParameterError as exc:
        raise g.node_error(pop.neuron, str(exc)) from None
    notes.append(
        f"readout: {' -> '.join(pop.names)}, {pop.W.shape[0]} units, du={du:.6g}, dv={dv:.6g}, "
        f"read as '{red}'; values "
        + ("lava-nt metadata (exact)" if exact else "derived from the NIR fields")
    )
    return ReadoutSpec(weight=weight, params=params), exact


def _membrane_readout(layers: list[LayerSpec], reduce, notes) -> ReadoutSpec:
    """The last spiking layer read as a non-spiking readout: its voltage without threshold or
    reset (snnTorch's ``Leaky(reset_mechanism="none")`` membrane, say)."""
    k = len(layers) - 1
    if k < 1:
        raise NIRImportError(
            "from_nir: membrane_readout needs at least two spiking layers (the last one becomes "
            "the readout; a lava-nt network keeps at least one spiking layer)"
        )
    last = layers.pop()
    if last.spiking_bias is not None:
        raise NIRImportError(
            f"from_nir: layer {k} has a spiking bias; a readout has none (membrane_readout)"
        )
    p = last.neuron
    gain = np.asarray(p.gain, np.float64)
    params = readout_parameters(
        last.n, "from_nir: readout", du=float(p.du), dv=float(p.dv),
        bias=gain * np.asarray(p.bias, np.float64), reduce=reduce or "last",
    )  # fmt: skip
    notes.append(
        f"readout: layer {k}'s membrane voltage, never reset (membrane_readout; its threshold "
        f"{float(p.vth):.6g} is dropped), read as '{params.reduce}'"
    )
    return ReadoutSpec(weight=gain[:, None] * np.asarray(last.weight, np.float64), params=params)


def from_nir(
    graph,
    *,
    dt: float | None = None,
    use_metadata: bool = True,
    source: str = "nir",
    export_dt: float | None = None,
    membrane_readout: bool = False,
    reduce: str | None = None,
    input: str | None = None,
) -> NIRImport:
    """Import a NIR graph (or a ``.nir`` file path) as a float :class:`NetworkSpec`.

    Accepted: ``Input [-> Flatten] ->`` layers ``[-> readout] -> Output``, each layer one of
    ``Affine|Linear -> LIF | IF | CubaLIF`` or ``Affine|Linear -> LI|I -> Affine(diagonal) ->
    LIF | IF``, optionally with a lava-nt spiking-bias subgraph into its neuron node (see
    :func:`to_nir`); the readout an integrator ``Affine|Linear -> LI | I | CubaLI`` (or
    ``Affine -> LI|I -> Affine(diagonal) -> LI|I``) feeding the Output. Time constants that
    differ across a spiking population become per-neuron decays (``du``, ``dv`` of shape
    ``(n,)``); a readout's must be uniform (one decay per population). ``v_reset`` must be 0,
    and every decay ``step/tau <= 1``. Thresholds may differ per neuron: each neuron's voltage
    is then measured in units of ``vth / vth_i`` (gain and bias scaled, exact in real
    arithmetic), with ``vth`` the layer's most common threshold.

    Args:
        graph: a ``nir.NIRGraph`` or a path (read with ``nir.read``).
        dt: seconds per step; default the graph's ``metadata["dt"]`` (lava-nt writes it), else
            :data:`DEFAULT_DT` (snnTorch: its export step, 1e-4 s).
        use_metadata: take the exact values from lava-nt's node metadata when they agree with
            the NIR fields (relative tolerance :data:`META_RTOL`), for a bit-exact round trip.
            Reset "subtract" exists only as metadata (it is always honoured).
        source: how the graph's nodes are run: ``"nir"`` (NIR's forward Euler), ``"snntorch"``
            (snnTorch 1.0's ``export_to_nir``) or ``"norse"`` (Norse 1.1's ``to_nir``); see
            :mod:`~lava_nt.converters.nir_io.conventions`.
        export_dt: Norse only: the ``dt`` given to ``norse.torch.to_nir`` (default 1e-3).
        membrane_readout: read the last spiking layer's membrane voltage (never reset) as a
            non-spiking readout, as a network trained on it (snnTorch's
            ``Leaky(reset_mechanism="none")``) is read.
        reduce: how the readout is read over the window (``last``, ``mean``, ``max``; default:
            lava-nt's metadata, else ``last``).
        input: ``"spikes"`` or ``"graded"`` (real-valued data into the first layer); default:
            lava-nt's graph metadata, else ``"spikes"``.

    Raises :class:`NIRImportError` naming the first node that does not map, and why.
    """
    if isinstance(graph, str | os.PathLike):
        graph = read_nir(graph)
    if not isinstance(graph, nir.NIRGraph):
        raise NIRImportError(f"from_nir: expected a nir.NIRGraph, got {type(graph).__name__}")
    if reduce is not None and reduce not in REDUCTIONS:
        raise NIRImportError(f"from_nir: reduce must be one of {REDUCTIONS}, got {reduce!r}")
    notes: list[str] = []
    conv = _convention(graph, source, dt, export_dt, notes)
    kind = _input_kind(graph, input)
    g = _Graph(graph, "from_nir")
    src = _network_start(g)
    n_in = None
    layers: list[LayerSpec] = []
    readout = None
    all_exact = True
    while True:
        succ = list(g.succ[src])
        if succ == [g.output] and (layers or readout is not None):
            break
        syn, subs = _synapse_after(g, src, succ, bool(layers))
        if n_in is None:
            n_in = _first_width(g, syn)
        n_prev = n_in if not layers else layers[-1].n
        pop = _parse_population(g, syn, n_prev, conv, readout_ok=True)
        _check_feedforward(g, pop, subs)
        if pop.readout:
            _check_readout_position(g, pop, subs, layers)
            readout, ro_exact = _readout_spec(g, pop, use_metadata, reduce, notes)
            all_exact &= ro_exact
        else:
            layer, exact = _spiking_layer(
                g, pop, subs, len(layers), n_prev, conv, use_metadata, notes
            )
            layers.append(layer)
            all_exact &= exact
        src = pop.neuron
    if not layers:
        raise NIRImportError("from_nir: the graph has no layer between its Input and Output")
    if membrane_readout:
        if readout is not None:
            raise NIRImportError(
                "from_nir: membrane_readout: the graph already ends in an integrator readout"
            )
        readout = _membrane_readout(layers, reduce, notes)
    _note_output_shape(g, readout.n if readout is not None else layers[-1].n, notes)
    if kind == "graded":
        notes.append("input: graded (real values into the first layer)")
    spec = NetworkSpec(n_in, layers, readout=readout, input=kind)
    return NIRImport(spec=spec, dt=conv.dt, notes=notes, exact=bool(all_exact), source=conv.source)


def _network_start(g: _Graph) -> str:
    """The node the first layer's synapse follows (the Input, or a Flatten right after it);
    unsupported nodes and reshapes inside the network are refused."""
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
    return src


def _synapse_after(g: _Graph, src: str, succ: list, have_layers: bool):
    """``(synapse node, [spiking-bias subgraph])`` that follow ``src``."""
    subs = [s for s in succ if _tname(g.nodes[s]) == "NIRGraph"]
    syns = [s for s in succ if s not in subs]
    if g.output in syns and have_layers:
        raise g.node_error(src, "feeds both the Output and another layer")
    if len(syns) != 1 or len(subs) > 1 or g.output in syns:
        raise g.node_error(
            src,
            f"expected one synapse (Affine/Linear) and at most one spiking-bias subgraph "
            f"after it, found {succ}",
        )
    return syns[0], subs


def _first_width(g: _Graph, syn: str) -> int:
    W0 = getattr(g.nodes[syn], "weight", None)
    if W0 is None or np.ndim(W0) != 2:
        raise g.node_error(syn, "the first layer must be an Affine/Linear matrix")
    return int(np.shape(W0)[1])


def _check_feedforward(g: _Graph, pop, subs: list) -> None:
    preds = set(g.pred[pop.neuron])
    want = {pop.names[-2]} | set(subs)
    if preds != want:
        raise g.node_error(
            pop.neuron, f"unexpected inputs {sorted(preds - want)}; NTLIF layers are "
            "feed-forward (no recurrent or skip connections)"
        )  # fmt: skip


def _check_readout_position(g: _Graph, pop, subs: list, layers: list) -> None:
    if subs:
        raise g.node_error(subs[0], "a readout has no spiking bias")
    if not layers:
        raise g.node_error(
            pop.neuron,
            "the graph's only population is a non-spiking integrator; a lava-nt network "
            "has at least one spiking layer before its readout",
        )


def _decay_value(x):
    """A decay from lava-nt's metadata: a float, or a float64 ``(n,)`` array (one per neuron)."""
    a = np.asarray(x, np.float64)
    return float(a) if a.ndim == 0 else a.reshape(-1).copy()


def _shown(d) -> str:
    """A decay for the notes: ``0.25``, or ``per-neuron 0.1..0.9``."""
    a = np.asarray(d, np.float64)
    return f"{float(a):.6g}" if a.ndim == 0 else f"per-neuron {a.min():.6g}..{a.max():.6g}"


def _layer_values(pop, md: dict, use_metadata: bool, k: int, notes: list[str]):
    """``(du, dv, vth, bias, gain, exact)``: lava-nt's metadata when it agrees with the NIR
    fields (exact), else the values derived from the fields."""
    du, dv, vth, bias, gain = pop.du, pop.dv, pop.vth, pop.bias, pop.gain
    if not (use_metadata and md.get("role") == "ntlif" and not md.get("folded")):
        return du, dv, vth, bias, gain, False
    cand = [md.get(key) for key in ("du", "dv", "vth", "bias", "gain")]
    if all(c is not None for c in cand) and all(
        _close(c, v) for c, v in zip(cand, (du, dv, vth, bias, gain), strict=True)
    ):
        du, dv = (_decay_value(c) for c in cand[:2])
        vth = float(cand[2])
        bias, gain = (np.asarray(c, np.float64).copy() for c in cand[3:])
        return du, dv, vth, bias, gain, True
    notes.append(f"layer {k}: lava-nt metadata disagrees with the NIR fields; ignored")
    return du, dv, vth, bias, gain, False


def _spiking_layer(g: _Graph, pop, subs, k: int, n_prev: int, conv, use_metadata, notes):
    """``(LayerSpec, exact)`` of spiking layer ``k`` (with its spiking-bias subgraph)."""
    n = pop.W.shape[0]
    sbs = None
    sb_exact = True
    if subs:
        if g.succ[subs[0]] != [pop.neuron]:
            raise g.node_error(subs[0], "a spiking-bias subgraph must feed its layer's neuron")
        sbs, sb_exact = _parse_spiking_bias(
            g.nodes[subs[0]], subs[0], n_prev, pop, conv, use_metadata, notes
        )
    md = _meta(g.nodes[pop.neuron])
    reset = "subtract" if md.get("reset") == "subtract" else "zero"
    du, dv, vth, bias, gain, exact = _layer_values(pop, md, use_metadata, k, notes)
    exact = exact and (sbs is None or sb_exact)
    src_kind = "lava-nt metadata (exact)" if exact else "derived from the NIR fields"
    notes.append(
        f"layer {k}: {' -> '.join(pop.names)}, {n} neurons, du={_shown(du)}, dv={_shown(dv)}, "
        f"vth={vth:.6g}, reset {reset}"
        + (", spiking bias" if sbs is not None else "")
        + (", per-neuron thresholds (voltages rescaled to this vth)" if pop.vth_rescaled else "")
        + f"; values {src_kind}"
    )
    try:
        neuron = ntlif_parameters(
            n, f"from_nir: layer {k}", du=du, dv=dv, vth=vth, reset=reset, bias=bias, gain=gain
        )
    except ParameterError as exc:
        raise g.node_error(pop.neuron, str(exc)) from None
    return LayerSpec(weight=pop.W, neuron=neuron, spiking_bias=sbs), exact


def _note_output_shape(g: _Graph, n_out: int, notes: list[str]) -> None:
    out_t = getattr(g.nodes[g.output], "output_type", {}) or {}
    shp = out_t.get("output") if isinstance(out_t, dict) else None
    if shp is not None and np.size(shp) and int(np.prod(np.asarray(shp)[-1:])) != n_out:
        notes.append(f"Output node declares shape {list(np.asarray(shp))}; using {n_out}")


def read_nir(path):
    """``nir.read(path)`` with a clear :class:`NIRImportError` for a missing or corrupt file
    (a graph whose declared types disagree, e.g. a batch dimension on the Input, is re-read
    without nir's type check; lava-nt checks the shapes itself)."""
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
