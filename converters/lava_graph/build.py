"""Building the Lava processes of one or several networks on one source."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lava_nt.converters.lava_graph.constants import CHUNK_STEPS, GRADED_MESSAGE_BITS
from lava_nt.converters.lava_graph.schedule import network_depth, schedule, source_data
from lava_nt.converters.lava_graph.validation import (
    check_input,
    check_shared_input,
    check_spec,
)
from lava_nt.network import LayerSpec, NetworkSpec
from lava_nt.spec.delay import has_delay
from lava_nt.spec.validation import ParameterError


@dataclass
class LavaGraph:
    """The Lava processes of one network run (built inside the job process)."""

    source: object
    layers: list  # NTLIF per layer
    denses: list
    biases: list  # SpikingBias or None per layer
    bias_denses: list
    readout: object  # Readout process or None
    readout_tap: object  # Extractor of the readout's v_out or None
    spike_taps: list  # Extractor per layer (None if not recorded)
    current_taps: list  # Extractor per spiking bias (record only)
    bias_spike_taps: list
    run_cfg: object
    steps: int
    window: int
    chunk: int


def _ntlif_kwargs(p, fixed: bool) -> dict:
    reset = "subtract" if p.reset_subtract else "zero"
    if fixed:
        return dict(
            du=p.du, dv=p.dv, vth=p.vth, bias_mant=p.bias_mant, bias_exp=p.bias_exp,
            gain_mant=p.gain_mant, reset=reset,
        )  # fmt: skip
    return dict(du=p.du, dv=p.dv, vth=p.vth, bias=p.bias, gain=p.gain, reset=reset)


def _spiking_bias_kwargs(p, fixed: bool) -> dict:
    if fixed:
        return dict(
            du=p.du, dv=p.dv, vth=p.vth, bias_mant=p.bias_mant, bias_exp=p.bias_exp,
            w_b_mant=p.w_b_mant, w_b_exp=p.w_b_exp, dc=p.dc, group=p.group,
        )  # fmt: skip
    return dict(
        du=p.du, dv=p.dv, vth=p.vth, bias=p.bias, w_b=p.w_b, c_retention=p.c_retention,
        group=p.group,
    )  # fmt: skip


def _dense(weights, exp: int, fixed: bool, graded: bool = False, delay=None, reset=(0, 0)):
    """Lava's ``Dense``, or its ``DelayDense`` for a delay matrix with a nonzero delay (whose
    line empties every ``reset = (interval, offset)``, see the module docstring)."""
    from lava.proc.dense.process import DelayDense, Dense

    w = np.asarray(weights)
    kw = {"num_message_bits": GRADED_MESSAGE_BITS} if graded else {}
    if fixed:
        kw.update(weight_exp=int(exp), num_weight_bits=8)
    w = w.astype(np.int64) if fixed else w.astype(np.float64)
    if not has_delay(delay):
        return Dense(weights=w, **kw)
    interval, offset = reset
    return DelayDense(
        weights=w, delays=np.asarray(delay, dtype=np.int64), reset_interval=int(interval),
        reset_offset=int(offset), **kw,
    )  # fmt: skip


def build(
    spec: NetworkSpec, x: np.ndarray, precision: str = "float", record: bool = False
) -> LavaGraph:
    """Build (not run) the Lava processes for ``spec`` on input ``x`` (call inside a job)."""
    return build_many([(spec, precision, record)], x)[0]


def build_many(nets, x: np.ndarray) -> list[LavaGraph]:
    """Build (not run) several networks ``nets = [(spec, precision, record), ...]`` on ONE
    source of ``x``, as one Lava process graph: one runtime runs them all (call inside a job).

    The networks share the schedule of :func:`schedule` (window ``T``) with the drain of the
    deepest one; each layer keeps its own reset offsets, so each network's records equal its own
    :func:`run_network`. Precisions may differ for binary spikes (the float source's 0/1 values
    are the fixed Dense's spikes as well); graded input needs one precision (the source sends
    real values in float and integers in fixed point). Every graph carries the same ``run_cfg``
    (each Process mapped to its model of its network's precision).
    """
    from lava.proc.io.source import RingBuffer

    from lava_nt.lava.models import base_config, selected_model

    nets = list(nets)
    if not nets:
        raise ParameterError("build_many: no networks given")
    for i, (spec, precision, _) in enumerate(nets):
        check_spec(spec, precision, f"build_many: network {i}")
    x = check_input(nets[0][0], x, "build_many")
    precisions = {precision for _, precision, _ in nets}
    check_shared_input([spec for spec, _, _ in nets], precisions, "build_many")
    T, B, _ = x.shape
    depth = max(network_depth(spec) for spec, _, _ in nets)
    L, steps = schedule(T, B, depth)
    chunk = min(steps, CHUNK_STEPS)
    src_precision = "fixed" if precisions == {"fixed"} else "float"
    data = source_data(x, depth)
    src = RingBuffer(data=data.astype(np.int32) if src_precision == "fixed" else data)
    procs = {src: src_precision}
    graphs = [_build_network(spec, precision, record, src, L, chunk, procs)
              for spec, precision, record in nets]  # fmt: skip
    run_cfg = base_config(src_precision)  # every Process mapped to its own precision's model
    run_cfg.exception_proc_model_map.update({p: selected_model(p, q) for p, q in procs.items()})
    for graph, (spec, precision, _) in zip(graphs, nets, strict=True):
        delayed = [d for d, ls in zip(graph.denses, spec.layers, strict=False) if ls.has_delay]
        if delayed:
            from lava_nt.lava.delay_dense import delay_dense_model  # lazy: imports Lava

            for dense in delayed:  # Lava's DelayDense models plus the per-sample reset
                run_cfg.exception_proc_model_map[dense] = delay_dense_model(precision)
        graph.run_cfg, graph.steps = run_cfg, steps
    return graphs


def _build_network(spec, precision, record, src, L, chunk, procs: dict) -> LavaGraph:
    """The processes of one network fed by ``src``; each one is added to ``procs`` with its
    precision (``run_cfg`` and ``steps`` are set by :func:`build_many`)."""
    from lava.proc.io.extractor import Extractor

    from lava_nt.processes.ntlif.process import NTLIF
    from lava_nt.processes.readout.process import Readout
    from lava_nt.processes.spiking_bias.process import SpikingBias

    fixed = precision == "fixed"
    depth = network_depth(spec)
    n_layers = len(spec.layers)
    prev_out = src.s_out
    layers, denses, biases, bias_denses = [], [], [], []
    spike_taps, current_taps, bias_spike_taps = [], [], []
    for k, layer in enumerate(spec.layers, start=1):
        layer: LayerSpec
        offset = (k + 1) % L
        lif = NTLIF(
            shape=(layer.n,),
            precision=precision,
            reset_interval=L,
            reset_offset=offset,
            name=f"ntlif_{k}",
            **_ntlif_kwargs(layer.neuron, fixed),
        )
        graded = k == 1 and spec.graded
        dense = _dense(layer.weight, layer.weight_exp, fixed, graded, layer.delay, (L, (k - 1) % L))
        prev_out.connect(dense.s_in)
        dense.a_out.connect(lif.a_in)
        sb_proc = sb_dense = None
        sb = layer.spiking_bias
        if sb is not None:
            sb_proc = SpikingBias(
                shape=(sb.m,),
                n_target=layer.n,
                precision=precision,
                reset_interval=L,
                reset_offset=offset,
                name=f"spiking_bias_{k}",
                **_spiking_bias_kwargs(sb.params, fixed),
            )
            sb_dense = _dense(sb.w_in, sb.w_in_exp, fixed, graded)
            prev_out.connect(sb_dense.s_in)
            sb_dense.a_out.connect(sb_proc.a_in)
            sb_proc.c_out.connect(lif.c_in)
        tap = None
        if record or (k == n_layers and spec.readout is None):
            tap = Extractor(shape=(layer.n,), buffer_size=chunk)
            lif.s_out.connect(tap.in_port)
        c_tap = s_tap = None
        if record and sb_proc is not None:
            c_tap = Extractor(shape=(layer.n,), buffer_size=chunk)
            s_tap = Extractor(shape=(sb.m,), buffer_size=chunk)
            sb_proc.c_out.connect(c_tap.in_port)
            sb_proc.s_out.connect(s_tap.in_port)
        layers.append(lif)
        denses.append(dense)
        biases.append(sb_proc)
        bias_denses.append(sb_dense)
        spike_taps.append(tap)
        current_taps.append(c_tap)
        bias_spike_taps.append(s_tap)
        prev_out = lif.s_out
    ro_proc = ro_tap = None
    if spec.readout is not None:
        ro = spec.readout
        ro_proc = Readout(
            shape=(ro.n,),
            precision=precision,
            reset_interval=L,
            reset_offset=(depth + 1) % L,
            name="readout",
            **ro.params._asdict(),
        )
        ro_dense = _dense(ro.weight, ro.weight_exp, fixed)
        prev_out.connect(ro_dense.s_in)
        ro_dense.a_out.connect(ro_proc.a_in)
        ro_tap = Extractor(shape=(ro.n,), buffer_size=chunk)
        ro_proc.v_out.connect(ro_tap.in_port)
        denses.append(ro_dense)
    for proc in (*layers, *denses, *biases, *bias_denses, ro_proc, ro_tap, *spike_taps,
                 *current_taps, *bias_spike_taps):  # fmt: skip
        if proc is not None:
            procs[proc] = precision
    return LavaGraph(
        src, layers, denses, biases, bias_denses, ro_proc, ro_tap, spike_taps, current_taps,
        bias_spike_taps, None, 0, L, chunk,
    )  # fmt: skip
