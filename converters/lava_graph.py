"""Build and run a :class:`lava_nt.network.NetworkSpec` as a Lava process graph.

Graph for a network of ``D`` layers (``k = 1..D``)::

    RingBuffer(x) -> Dense(W_1) -> NTLIF_1.a_in -> ... -> Dense(W_D) -> NTLIF_D
          |                          ^ c_in
          +-> Dense(W_in_1) -> SpikingBias_1.a_in ; SpikingBias_1.c_out -> NTLIF_1.c_in

Every Dense adds one step of delay; NTLIF, SpikingBias, the source and the Extractors add none.
The bias path into a layer therefore has the same delay as its synaptic path.

All ``B`` samples run in ONE long Lava run, back to back: sample ``b`` occupies the source's
window of ``L = T`` steps ``b*T .. b*T + T - 1``, and ``D`` zero steps after the last sample let
the pipeline drain (``B*T + D`` steps in all). Layer ``k`` sees sample ``b``'s first input at Lava
``time_step = b*L + 1 + k`` and resets its state (``u``, ``v``; and ``C`` of its spiking bias) at
that step before integrating: ``reset_interval = L``, ``reset_offset = (k + 1) % L``. So the layers
work on different samples at the same time (layer 1 already on sample ``b + 1`` while layer ``D``
finishes sample ``b``), each one on exactly ``T`` steps of one sample between its resets, as a
feed-forward pipeline with one step of delay per Dense. Layer ``k``'s output for sample ``b`` at
torch step ``t`` is found at Lava step index ``j = b*L + t + k`` (``j = time_step - 1``).

A layer with synaptic delays (``LayerSpec.delay``) gets Lava's ``DelayDense`` instead of its
``Dense``: a spike over a synapse of delay ``d`` arrives ``1 + d`` steps after it was sent, so
delay 0 keeps ``Dense``'s timing and the mapping above is unchanged (:mod:`lava_nt.spec.delay`).
Its delay line must be empty when a sample starts; the ``DelayDense`` is run by
:mod:`lava_nt.lava.delay_dense`'s models (Lava's own, plus emptying the line at the end of the
step before layer ``k``'s next sample arrives: ``reset_offset = (k - 1) % L``).

Graded input (``spec.input == "graded"``): the RingBuffer sends the real values (float) or the
integers (fixed point) as graded spikes, and the first layer's Dense (and its spiking bias'
``W_in`` Dense) runs with ``num_message_bits=24`` (``a = W · x``). A readout adds
``Dense(W_r) -> Readout`` after the last layer (one more Dense delay: depth ``D + 1``); its
``v_out`` sends the voltage every step to an Extractor, and the output is that trace.

Outputs are read with Lava's ``Extractor`` (host side, fast) in chunks of at most
:data:`CHUNK_STEPS` steps, never with ``Var.get`` (which moves one element at a time). The whole
build, run and read happens inside :func:`lava_nt.lava.run.run_isolated` (timeout, ``stop()``
always, no orphaned workers).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lava_nt.lava.run import default_timeout, preload_lava, run_isolated, stopping
from lava_nt.network import LayerSpec, NetworkSpec, check_network_input
from lava_nt.result import RunResult
from lava_nt.spec.delay import has_delay
from lava_nt.spec.fixed import WEIGHT_MANT_MAX, WEIGHT_MANT_MIN  # Dense: -256 .. 255
from lava_nt.spec.quantization import WEIGHT_EXP_MAX, WEIGHT_EXP_MIN  # hardware: -8 .. 7
from lava_nt.spec.validation import ParameterError

PRECISIONS = ("float", "fixed")
#: Steps per ``run()`` call; the Extractor buffers hold one chunk.
CHUNK_STEPS = 2048
#: Graded-spike payload bits of a Dense fed by graded input.
GRADED_MESSAGE_BITS = 24


@dataclass(frozen=True)
class LavaRunResult(RunResult):
    """Result of :func:`run_network` (and :func:`lava_nt.converters.netx.run_netx`): a
    :class:`~lava_nt.result.RunResult` in the torch time frame, plus the Lava run's schedule and
    timing.

    Attributes (also readable dict-style, ``result["spikes"]``):
        output: spikes of the last layer, ``[T, B, n_out]`` (float 0/1), or the readout's voltage
            trace (float64; int64 in fixed point) for a network with a readout; alias ``spikes``.
        layers: with ``record=True`` one dict per layer, as
            :func:`lava_nt.network.reference_run` returns them: ``spikes`` ``[T, B, n]``,
            ``bias_current`` ``[T, B, n]`` (the current delivered to ``c_in``; None without a
            spiking bias) and ``bias_spikes`` ``[T, B, m]`` (None without a spiking bias).
            Empty without ``record``.
        has_readout: True when ``output`` is a readout trace.
        states: always None (Lava's final states are not read back).
        precision: "float" or "fixed".
        steps: Lava time steps run (``B * window + depth``).
        window: steps per sample window ``L = T`` (samples back to back, see :func:`schedule`).
        timing: seconds spent building the processes (``build``), compiling and starting the
            runtime (``start``), running (``run``), reading the Extractors (``read``); and in
            ``total`` (including the isolated child process and ``stop()``).
        steps_per_second: ``steps / timing["run"]`` (NaN before a run).
    """

    precision: str = "float"
    steps: int = 0
    window: int = 0
    timing: dict = field(default_factory=dict)

    def keys(self) -> tuple[str, ...]:
        """The names ``result[name]`` accepts."""
        return (*super().keys(), "precision", "steps", "window", "timing")

    @property
    def steps_per_second(self) -> float:
        run = self.timing.get("run", 0.0)
        return self.steps / run if run > 0 else float("nan")


# ---- validation --------------------------------------------------------------------------------
def check_input(spec: NetworkSpec, x, where: str = "run_network") -> np.ndarray:
    """``x`` as a validated ``[T, B, n_in]`` float array: binary spikes, or the graded values
    of a ``input="graded"`` spec (integers in fixed point)."""
    if getattr(spec, "input", "spikes") == "graded":
        return check_network_input(spec, x, where)
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    if not isinstance(x, np.ndarray):
        raise ParameterError(
            f"{where}: x must be a numpy array [T, B, n_in], got {type(x).__name__}"
        )
    if x.ndim != 3 or x.shape[2] != spec.n_in or x.shape[0] < 1 or x.shape[1] < 1:
        raise ParameterError(
            f"{where}: x must have shape [T, B, {spec.n_in}] with T, B >= 1, got {x.shape}"
        )
    if not (x.dtype == np.bool_ or np.issubdtype(x.dtype, np.number)):
        raise ParameterError(f"{where}: x must be numeric or boolean, got dtype {x.dtype}")
    if np.iscomplexobj(x):
        raise ParameterError(f"{where}: x must be real binary spikes, got complex values")
    xf = x.astype(np.float64)
    if not np.all((xf == 0) | (xf == 1)):
        bad = xf[(xf != 0) & (xf != 1)].ravel()[0]
        raise ParameterError(f"{where}: x must hold binary spikes (0 or 1), found {bad!r}")
    return xf


def check_spec(spec: NetworkSpec, precision: str, where: str = "run_network") -> None:
    if not isinstance(spec, NetworkSpec):
        raise ParameterError(f"{where}: spec must be a NetworkSpec, got {type(spec).__name__}")
    if precision not in PRECISIONS:
        raise ParameterError(f"{where}: precision must be one of {PRECISIONS}, got {precision!r}")
    if spec.fixed != (precision == "fixed"):
        kind = "fixed-point" if spec.fixed else "floating-point"
        raise ParameterError(
            f"{where}: precision={precision!r} but the spec is {kind} (spec.fixed={spec.fixed}); "
            "convert the spec first or pass the matching precision"
        )
    if precision == "fixed":
        for k, layer in enumerate(spec.layers):
            _check_fixed_dense(layer.weight, layer.weight_exp, f"{where}: layer {k} weight")
            if layer.spiking_bias is not None:
                sb = layer.spiking_bias
                _check_fixed_dense(sb.w_in, sb.w_in_exp, f"{where}: layer {k} spiking_bias.w_in")
        if spec.readout is not None:
            ro = spec.readout
            _check_fixed_dense(ro.weight, ro.weight_exp, f"{where}: readout weight")


def _check_fixed_dense(w, exp, where: str) -> None:
    w = np.asarray(w)
    if np.any(w != np.round(w)):
        raise ParameterError(f"{where} must hold integer mantissas")
    if w.size and (w.min() < WEIGHT_MANT_MIN or w.max() > WEIGHT_MANT_MAX):
        raise ParameterError(
            f"{where} mantissas must be in [{WEIGHT_MANT_MIN}, {WEIGHT_MANT_MAX}] (8-bit Loihi "
            f"weights), got [{w.min()}, {w.max()}]"
        )
    if isinstance(exp, bool) or int(exp) != exp or not WEIGHT_EXP_MIN <= int(exp) <= WEIGHT_EXP_MAX:
        raise ParameterError(
            f"{where} exponent must be an int in [{WEIGHT_EXP_MIN}, {WEIGHT_EXP_MAX}], got {exp!r}"
        )


# ---- graph -------------------------------------------------------------------------------------
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


def network_depth(spec: NetworkSpec) -> int:
    """Dense stages from the source to the output: the layers, plus one for a readout."""
    return len(spec.layers) + (spec.readout is not None)


def schedule(T: int, B: int, depth: int, back_to_back: bool = True) -> tuple[int, int]:
    """``(window, steps)`` of a run of ``B`` samples of ``T`` steps through ``depth`` layers.

    Back to back (run_network): ``window = T`` and ``depth`` drain steps after the last sample,
    ``steps = B * T + depth``; this needs every layer to reset at its own offset. Otherwise
    (lava-dl's netx network, whose layers share one reset offset): every sample has its own
    window ``T + depth`` that ends with ``depth`` zero steps, ``steps = B * (T + depth)``."""
    if back_to_back:
        return T, B * T + depth
    return T + depth, B * (T + depth)


def source_data(x: np.ndarray, depth: int, back_to_back: bool = True) -> np.ndarray:
    """RingBuffer data ``[n_in, steps]`` for :func:`schedule`'s layout: the samples back to back
    and ``depth`` zero steps at the end, or each sample followed by ``depth`` zero steps."""
    T, B, n_in = x.shape
    L, steps = schedule(T, B, depth, back_to_back)
    data = np.zeros((B, L, n_in))
    data[:, :T] = np.transpose(x, (1, 0, 2))
    data = data.reshape(B * L, n_in)
    if back_to_back:
        data = np.concatenate([data, np.zeros((depth, n_in))])
    assert data.shape[0] == steps
    return data.T.copy()


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

    from lava_nt.lava.models import run_config

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
    run_cfg = run_config([src], src_precision)
    for precision in precisions:
        mapped = run_config([p for p, q in procs.items() if q == precision], precision)
        run_cfg.exception_proc_model_map.update(mapped.exception_proc_model_map)
    for graph, (spec, precision, _) in zip(graphs, nets, strict=True):
        delayed = [d for d, ls in zip(graph.denses, spec.layers, strict=False) if ls.has_delay]
        if delayed:
            from lava_nt.lava.delay_dense import delay_dense_model  # lazy: imports Lava

            for dense in delayed:  # Lava's DelayDense models plus the per-sample reset
                run_cfg.exception_proc_model_map[dense] = delay_dense_model(precision)
        graph.run_cfg, graph.steps = run_cfg, steps
    return graphs


def check_shared_input(specs, precisions, where: str) -> None:
    """Networks on one source need the same input (size and kind), and graded input one
    precision (the source sends real values in float and integers in fixed point)."""
    first = specs[0]
    for i, spec in enumerate(specs[1:], start=1):
        if spec.n_in != first.n_in or spec.graded != first.graded:
            raise ParameterError(
                f"{where}: network {i} takes {spec.n_in} {spec.input} inputs, network 0 "
                f"{first.n_in} {first.input}; networks on one source need the same input"
            )
    if first.graded and len(set(precisions)) > 1:
        raise ParameterError(
            f"{where}: graded input needs one precision for all networks (the source sends real "
            "values in float and integers in fixed point); run them separately"
        )


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


def run_chunked(
    proc,
    run_cfg,
    steps: int,
    chunk: int,
    taps: dict,
    finish: Callable[[], Any] | None = None,
    stop_timeout: float = 30.0,
) -> tuple[dict, dict, Any]:
    """The one chunked Lava run loop: run the network of ``proc`` for ``steps`` Lava time steps,
    ``chunk`` steps per ``run()``, reading every Extractor in ``taps`` after each chunk; always
    ends in ``stop()`` (:func:`~lava_nt.lava.run.stopping`, bounded by ``stop_timeout``). Call
    it inside a :func:`~lava_nt.lava.run.run_isolated` job (as :func:`run_graph` and
    :func:`lava_nt.converters.netx.run_netx` do).

    ``taps`` maps any key to a Lava ``Extractor`` whose buffer holds ``chunk`` steps.
    ``finish`` (optional) is called after the last chunk and before ``stop()`` (e.g. to read a
    ``Monitor``); its time counts as reading.

    Returns ``(records, timing, finished)``: ``records[key]`` is tap ``key``'s ``[steps, size]``
    record in Lava step order; ``timing`` the seconds spent compiling and starting the runtime
    (``start``), running (``run``) and reading (``read``); ``finished`` what ``finish`` returned
    (None without it).
    """
    from lava.magma.core.run_conditions import RunSteps

    bufs: dict = {key: [] for key in taps}
    timing = {"start": 0.0, "run": 0.0, "read": 0.0}
    finished = None
    with stopping(proc, stop_timeout):
        t0 = time.perf_counter()
        proc.create_runtime(run_cfg=run_cfg)  # compile + fork the workers
        timing["start"] = time.perf_counter() - t0
        done = 0
        while done < steps:
            n = min(chunk, steps - done)
            t0 = time.perf_counter()
            proc.run(condition=RunSteps(num_steps=n))
            t1 = time.perf_counter()
            for key, tap in taps.items():
                bufs[key].append(np.stack([tap.receive() for _ in range(n)]))
            timing["read"] += time.perf_counter() - t1
            timing["run"] += t1 - t0
            done += n
        if finish is not None:
            t1 = time.perf_counter()
            finished = finish()
            timing["read"] += time.perf_counter() - t1
    records = {key: np.concatenate(v, axis=0) for key, v in bufs.items()}
    return records, timing, finished


def _taps(graph: LavaGraph) -> dict:
    """``{(kind, k): Extractor}`` of a built graph: "spikes", "bias_current", "bias_spikes" of
    layer ``k`` (0-based) where recorded, and "readout" (``k`` = the number of layers)."""
    taps = {}
    for k in range(len(graph.layers)):
        for kind, lst in (
            ("spikes", graph.spike_taps),
            ("bias_current", graph.current_taps),
            ("bias_spikes", graph.bias_spike_taps),
        ):
            if lst[k] is not None:
                taps[(kind, k)] = lst[k]
    if graph.readout_tap is not None:
        taps[("readout", len(graph.layers))] = graph.readout_tap
    return taps


def run_graph(graph: LavaGraph) -> tuple[dict, dict]:
    """Run a built graph to the end (in chunks) and read every Extractor; always stops.

    Returns ``(raw, timing)``: ``raw[(kind, k)]`` is the ``[steps, size]`` record of tap ``kind``
    ("spikes", "bias_current", "bias_spikes") of layer ``k`` (0-based), in Lava step order.
    """
    raw, timing, _ = run_chunked(
        graph.source, graph.run_cfg, graph.steps, graph.chunk, _taps(graph)
    )
    return raw, timing


def to_torch_frame(record: np.ndarray, k: int, T: int, B: int, L: int) -> np.ndarray:
    """Lava-order record ``[steps, size]`` of layer ``k`` (1-based) -> ``[T, B, size]``."""
    idx = np.arange(B)[None, :] * L + np.arange(T)[:, None] + k
    return record[idx]


def _networks_job(nets, x: np.ndarray) -> dict:
    t0 = time.perf_counter()
    graphs = build_many(nets, x)
    t_build = time.perf_counter() - t0
    taps = {(i, *key): tap for i, g in enumerate(graphs) for key, tap in _taps(g).items()}
    g0 = graphs[0]
    raw, timing, _ = run_chunked(g0.source, g0.run_cfg, g0.steps, g0.chunk, taps)
    timing["build"] = t_build
    T, B, _ = x.shape
    records = [{} for _ in nets]
    for (i, kind, k), rec in raw.items():
        arr = to_torch_frame(rec, k + 1, T, B, g0.window)
        spikes = kind in ("spikes", "bias_spikes")
        records[i][(kind, k)] = arr.astype(np.int8) if spikes else arr
    return {"records": records, "timing": timing, "steps": g0.steps, "window": g0.window}


def run_network(
    spec: NetworkSpec,
    x,
    precision: str = "float",
    timeout: float | None = None,
    record: bool = False,
) -> LavaRunResult:
    """Run ``spec`` on Lava's CPU simulator for input ``x`` ``[T, B, n_in]`` (binary spikes, or
    graded values for ``input="graded"``) and return a :class:`LavaRunResult` (the engines'
    common :class:`~lava_nt.result.RunResult` plus schedule and timing): ``output`` holds the
    last layer's spikes ``[T, B, n_out]`` (float 0/1); with a readout its voltage trace
    ``[T, B, n_readout]`` (float64, or int64 in fixed point; reduce it with
    :func:`lava_nt.network.readout_values`); ``layers`` the per-layer records of ``record=True``.

    Every sample starts from a fresh state (per-layer reset inside one long run), so the result
    equals :func:`lava_nt.network.reference_run` sample by sample.

    Args:
        spec: the network (``spec.fixed`` must match ``precision``).
        x: binary spikes ``[T, B, n_in]`` (numpy; bool or 0/1 numbers).
        precision: "float" (``select_tag="floating_pt"``) or "fixed" (``"fixed_pt"``).
        timeout: seconds for the whole job (default ``60 + 0.02 * steps``).
        record: also return every layer's spikes and every spiking bias' current and spikes.

    Raises:
        ParameterError: bad ``x``, precision or spec.
        LavaTimeoutError / LavaRunError: the Lava job hung or failed (no processes are left).
    """
    return run_networks([(spec, precision)], x, timeout=timeout, record=record)[0]


def run_networks(
    nets,
    x,
    timeout: float | None = None,
    record: bool = False,
) -> list[LavaRunResult]:
    """Run several networks on the same input in ONE Lava runtime (one build, compile, start
    and stop for all): ``nets = [(spec, precision), ...]``; returns one :class:`LavaRunResult`
    per network, each equal to that network's own :func:`run_network` (tested). The networks
    run side by side in one graph fed by one source (:func:`build_many`); float and fixed point
    may be mixed for binary spikes. For short runs (a few samples) the shared start-up is most of
    the saving; every result's ``timing`` is the shared run's.

    Args:
        nets: ``(spec, precision)`` pairs (the same ``n_in`` and input kind).
        x: binary spikes ``[T, B, n_in]`` (or graded values, one precision only).
        timeout: seconds for the whole job (default: from the steps, as :func:`run_network`).
        record: also return every layer's records (for every network).
    """
    nets = [(spec, precision) for spec, precision in nets]
    if not nets:
        raise ParameterError("run_networks: no networks given")
    for i, (spec, precision) in enumerate(nets):
        check_spec(spec, precision, "run_network" if len(nets) == 1 else f"run_networks[{i}]")
    check_shared_input([spec for spec, _ in nets], [p for _, p in nets], "run_networks")
    xf = check_input(nets[0][0], x)
    T, B, _ = xf.shape
    depth = max(network_depth(spec) for spec, _ in nets)
    _, steps = schedule(T, B, depth)
    if timeout is None:
        timeout = (default_timeout(steps) + 2.0 * (depth + 1)) * len(nets)
    t0 = time.perf_counter()
    preload_lava()  # imported once here, not in every forked job
    jobs = [(spec, precision, record) for spec, precision in nets]
    res = run_isolated(_networks_job, jobs, xf, timeout=timeout)
    timing = dict(res["timing"], total=time.perf_counter() - t0)
    return [
        _result(spec, precision, recs, record, res["steps"], res["window"], timing)
        for (spec, precision), recs in zip(nets, res["records"], strict=True)
    ]


def _result(spec, precision, recs, record, steps, window, timing) -> LavaRunResult:
    depth = len(spec.layers)
    if spec.readout is not None:
        output = recs[("readout", depth)]
        output = output.astype(np.int64) if spec.fixed else output.astype(np.float64)
    else:
        output = recs[("spikes", depth - 1)].astype(np.float64)
    layers = []
    if record:
        for k in range(depth):
            cur = recs.get(("bias_current", k))
            bsp = recs.get(("bias_spikes", k))
            layers.append(
                {
                    "spikes": recs[("spikes", k)].astype(np.float64),
                    "bias_current": cur,
                    "bias_spikes": None if bsp is None else bsp.astype(np.float64),
                }
            )
    return LavaRunResult(
        output=output,
        layers=layers,
        has_readout=spec.readout is not None,
        precision=precision,
        steps=steps,
        window=window,
        timing=timing,
    )
