"""Running a netx file with lava-dl's own reader: :func:`run_netx`."""

from __future__ import annotations

from pathlib import Path

import h5py

from lava_nt.converters.netx.chain import run_chain
from lava_nt.converters.netx.export import read_netx
from lava_nt.converters.netx.reader import ensure_netx_reader

__all__ = ["run_netx"]


def run_netx(path, x, *, side_dir=None, timeout: float | None = None, record: bool = False):
    """Run a netx file with lava-dl's reader in fixed point (``Network(net_config=path,
    reset_interval=T + depth, reset_offset=1)``) on ``x [T, B, n_in]``: binary spikes, or, when
    the file's input layer has a neuron group (netx's bias-encoded Input block), the integers
    ``round(weight * data)`` that lava-nt's import takes (:attr:`~lava_nt.converters.
    netx.NetxImport.input_weight`). netx never applies the input transform itself
    ("the input must be handled through neuron's bias"); here the Input neuron receives ``x``
    on its ``a_in`` port, which equals setting its ``bias_mant`` to ``x`` each step because its
    current decays fully (``iDecay = 4096``).

    A dense layer without neuron group (netx's readout, a non-leaky integrator that never
    spikes) is read through a Lava ``Monitor`` on its voltage: ``output`` is then that voltage
    trace (int64), directly comparable with ``run_network(spec, x, "fixed").output``.
    Synaptic delays run in lava-dl's ``DelayDense`` (whose delay lines no sample reset empties:
    give such a network one sample per call, or samples whose delayed spikes die out within the
    ``depth`` zero steps between windows). A final ``average`` layer, which lava-dl's reader
    cannot build, is left out (``num_layers``, as lava-dl's own tests do): ``output`` is then
    the last layer's spikes, decoded by population (:attr:`~lava_nt.converters.netx.NetxImport.
    n_classes`).

    Returns a :class:`~lava_nt.converters.lava_graph.LavaRunResult` in the torch time frame,
    directly comparable with ``run_network(spec, x, "fixed")`` (with ``record``, ``layers`` lists
    the spiking layers: the Input block first when there is one). Raises
    :class:`NetxUnavailable` if the reader is not installed (see :func:`ensure_netx_reader`)."""
    side = ensure_netx_reader(side_dir, download=False)
    info = read_netx(path)
    payload = {"path": str(Path(path).resolve()), "side": str(side), "info": info}
    if info["layers"] and info["layers"][-1]["type"] == "average":
        info["layers"] = info["layers"][:-1]
        payload["num_layers"] = _layers_before_average(path)
    return run_chain("netx", payload, x, "fixed", timeout, record)


def _layers_before_average(path) -> int:
    """The number of netx layers before the final ``average`` layer (lava-dl's ``num_layers``)."""
    with h5py.File(path, "r") as f:
        return len(f["layer"]) - 1
