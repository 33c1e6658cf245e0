"""Running built graphs in chunks inside an isolated job: one network or several in one runtime."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from lava_nt.converters.lava_graph.build import LavaGraph, build_many
from lava_nt.converters.lava_graph.result import LavaRunResult
from lava_nt.converters.lava_graph.schedule import network_depth, schedule, to_torch_frame
from lava_nt.converters.lava_graph.validation import check_input, check_shared_input, check_spec
from lava_nt.lava.run import default_timeout, preload_lava, run_isolated, stopping
from lava_nt.network import NetworkSpec
from lava_nt.spec.validation import ParameterError


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
    and stop for all): ``nets = [(spec, precision), ...]`` (or ``(spec, precision, record)`` to
    record some of them only); returns one :class:`LavaRunResult`
    per network, each equal to that network's own :func:`run_network` (tested). The networks
    run side by side in one graph fed by one source (:func:`build_many`); float and fixed point
    may be mixed for binary spikes. For short runs (a few samples) the shared start-up is most of
    the saving; every result's ``timing`` is the shared run's.

    Args:
        nets: ``(spec, precision)`` pairs (the same ``n_in`` and input kind).
        x: binary spikes ``[T, B, n_in]`` (or graded values, one precision only).
        timeout: seconds for the whole job (default: from the steps, as :func:`run_network`).
        record: also return every layer's records (of the networks without their own flag).
    """
    nets = [(n[0], n[1], bool(n[2]) if len(n) > 2 else record) for n in nets]
    if not nets:
        raise ParameterError("run_networks: no networks given")
    for i, (spec, precision, _) in enumerate(nets):
        check_spec(spec, precision, "run_network" if len(nets) == 1 else f"run_networks[{i}]")
    check_shared_input([n[0] for n in nets], [n[1] for n in nets], "run_networks")
    xf = check_input(nets[0][0], x)
    T, B, _ = xf.shape
    depth = max(network_depth(n[0]) for n in nets)
    _, steps = schedule(T, B, depth)
    if timeout is None:
        timeout = (default_timeout(steps) + 2.0 * (depth + 1)) * len(nets)
    t0 = time.perf_counter()
    preload_lava()  # imported once here, not in every forked job
    res = run_isolated(_networks_job, nets, xf, timeout=timeout)
    timing = dict(res["timing"], total=time.perf_counter() - t0)
    return [
        _result(spec, precision, recs, rec, res["steps"], res["window"], timing)
        for (spec, precision, rec), recs in zip(nets, res["records"], strict=True)
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
