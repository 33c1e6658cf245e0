"""NIR import: :func:`from_nir`, :func:`read_nir`, :func:`import_nir` and their result."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lava_nt.converters.nir_io.common import NIRImportError, _close, _meta, _read_dt, _tname
from lava_nt.converters.nir_io.parse import (
    _UNSUPPORTED,
    _Graph,
    _parse_population,
    _parse_spiking_bias,
)
from lava_nt.network import LayerSpec, NetworkSpec
from lava_nt.spec.ntlif import ntlif_parameters
from lava_nt.spec.validation import ParameterError


@dataclass
class NIRImport:
    """Result of :func:`from_nir`: the float ``spec``, the ``dt`` used, and per layer where the
    values came from (``notes``). ``exact`` is True when every layer used lava-nt's metadata
    (bit-exact round trip of a lava-nt export)."""

    spec: NetworkSpec
    dt: float
    notes: list[str] = field(default_factory=list)
    exact: bool = False


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
