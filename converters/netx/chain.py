"""One long Lava run of a ``Dense`` -> LIF chain: stock Lava networks and lava-dl netx networks."""

from __future__ import annotations

import time
import types

import numpy as np

from lava_nt.converters.lava_graph import (
    CHUNK_STEPS,
    LavaRunResult,
    check_input,
    run_chunked,
    schedule,
    source_data,
    to_torch_frame,
)
from lava_nt.converters.netx.reader import import_netx_hdf5
from lava_nt.lava.models import base_config
from lava_nt.lava.run import default_timeout, run_isolated
from lava_nt.network import check_network_input


def _build_stock(net, src, L: int, fixed: bool) -> list:
    """The ``Dense`` -> ``LIFReset`` chain of ``net``, a
    :class:`~lava_nt.converters.netx.stock.StockLavaNetwork` (its ``layers``; not imported here:
    the stock module runs through this one)."""
    from lava.proc.dense.process import Dense
    from lava.proc.lif.process import LIFReset

    prev = src.s_out
    outs = []
    for k, ld in enumerate(net.layers, start=1):
        dense = Dense(**ld["dense"])
        n = int(np.asarray(ld["dense"]["weights"]).shape[0])
        lif = LIFReset(shape=(n,), reset_interval=L, reset_offset=(k + 1) % L, **ld["lif"])
        prev.connect(dense.s_in)
        dense.a_out.connect(lif.a_in)
        outs.append(lif.s_out)
        prev = lif.s_out
    return outs


def _build_netx(payload: dict, src, L: int, fixed: bool):
    hdf5 = import_netx_hdf5(payload["side"])
    net = hdf5.Network(
        net_config=payload["path"], reset_interval=L, reset_offset=1,
        num_layers=payload.get("num_layers"),  # stops before a final average layer
    )  # fmt: skip
    layers = list(net.layers)
    if payload["info"]["input"] is not None:  # bias-encoded Input block: drive its neuron
        src.s_out.connect(layers[0].neuron.a_in)
    else:
        src.s_out.connect(net.inp)
    monitor = None
    if payload["info"]["layers"] and payload["info"]["layers"][-1]["readout"]:
        from lava.proc.monitor.process import Monitor

        monitor = Monitor()
        monitor.probe(layers[-1].neuron.v, payload["steps"])
        layers = layers[:-1]
    return [layer.out for layer in layers], monitor


def _chain_job(kind: str, payload, x: np.ndarray, precision: str, record: bool) -> dict:
    from lava.proc.io.extractor import Extractor
    from lava.proc.io.source import RingBuffer

    t0 = time.perf_counter()
    fixed = precision == "fixed"
    T, B, _ = x.shape
    depth = _chain_depth(kind, payload)
    # lava-dl's netx network resets all layers at one offset: a drained window per sample
    L, steps = schedule(T, B, depth, back_to_back=False)
    chunk = min(steps, CHUNK_STEPS)
    data = source_data(x, depth, back_to_back=False)
    monitor = None
    if kind == "stock":
        src = RingBuffer(data=data.astype(np.int32) if fixed else data)
        outs = _build_stock(payload, src, L, fixed)
    else:
        inp = payload["info"]["input"]
        if inp is not None:
            # straight into the Input neuron (no Dense): one step later, with the transform bias
            data = _netx_input_data(x, depth, L)
        src = RingBuffer(data=data.astype(np.int32) if fixed else data)
        outs, monitor = _build_netx(dict(payload, steps=steps), src, L, fixed)
    n_spiking = len(outs)
    taps = {}
    for k, port in enumerate(outs):
        if record or (k == n_spiking - 1 and monitor is None):
            tap = Extractor(shape=port.shape, buffer_size=chunk)
            port.connect(tap.in_port)
            taps[k] = tap
    run_cfg = base_config(precision)  # lava-dl's hierarchical processes: Lava selects the models
    build_time = time.perf_counter() - t0

    def read_monitor():
        data = next(iter(next(iter(monitor.get_data().values())).values()))
        return np.asarray(data).reshape(steps, -1).astype(np.int64)

    raw, timing, readout = run_chunked(
        src, run_cfg, steps, chunk, taps, finish=None if monitor is None else read_monitor
    )
    timing = {"build": build_time, **timing}
    recs = {k: to_torch_frame(v, k + 1, T, B, L).astype(np.int8) for k, v in raw.items()}
    if readout is not None:
        recs["readout"] = to_torch_frame(readout, depth, T, B, L)
    return {"records": recs, "timing": timing, "steps": steps, "window": L}


def _chain_depth(kind, payload) -> int:
    """Dense stages of the chain (a netx Input block counts as one: it is fed a step later)."""
    if kind == "stock":
        return len(payload.layers)
    info = payload["info"]
    return len(info["layers"]) + (info["input"] is not None)


def _netx_input_data(x: np.ndarray, depth: int, L: int) -> np.ndarray:
    """RingBuffer data for a netx Input block: each sample's window shifted one step later (no
    Dense in front of the Input neuron)."""
    T, B, n_in = x.shape
    data = np.zeros((B, L, n_in))
    data[:, 1 : T + 1] = np.transpose(x, (1, 0, 2))
    return data.reshape(B * L, n_in).T.copy()


def run_chain(kind, payload, x, precision, timeout, record):

    n_in = payload.n_in if kind == "stock" else payload["info"]["n_in"]
    depth = _chain_depth(kind, payload)
    graded = kind == "netx" and payload["info"]["input"] is not None
    probe = types.SimpleNamespace(n_in=n_in, graded=graded, fixed=True)
    if graded:
        xf = check_network_input(probe, x, "run_netx")
    else:
        xf = check_input(probe, x, "run_" + kind)
    T, B, _ = xf.shape
    steps = B * (T + depth)
    if timeout is None:
        timeout = default_timeout(steps) + 2.0 * (depth + 1) + (10.0 if kind == "netx" else 0.0)
    t0 = time.perf_counter()
    res = run_isolated(_chain_job, kind, payload, xf, precision, record, timeout=timeout)
    recs = res["records"]
    n_spiking = depth - ("readout" in recs)
    layers = []
    if record:
        layers = [
            {"spikes": recs[k].astype(np.float64), "bias_current": None, "bias_spikes": None}
            for k in range(n_spiking)
        ]
    output = recs["readout"] if "readout" in recs else recs[n_spiking - 1].astype(np.float64)
    return LavaRunResult(
        output=output,
        layers=layers,
        has_readout="readout" in recs,
        precision=precision,
        steps=res["steps"],
        window=res["window"],
        timing=dict(res["timing"], total=time.perf_counter() - t0),
    )
