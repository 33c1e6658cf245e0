"""Synaptic delays in a netx file, written the way lava-dl writes and reads them.

lava-dl's slayer blocks export an axonal delay as a ``delay`` dataset of one value per output
neuron, ``(n,)`` float32, next to the layer's ``weight``; lava-dl 0.6.0's reader
(``lava/lib/dl/netx/hdf5.py``) turns a ``delay`` of ``n`` values into ``D[j, :] = d_j``, one of
``n_in`` values into ``D[:, i] = d_i`` (only when ``n`` does not match first) and passes a 2-D
``(n, n_in)`` dataset on unchanged to Lava's ``DelayDense``. :func:`netx_delay` picks the shortest
of these forms that lava-dl reads back as exactly the layer's matrix, and :func:`write_delay`
writes it (nothing for a layer without delays). :func:`lava_nt.converters.netx.import_netx`
reads all three forms (and a scalar).
"""

from __future__ import annotations

import numpy as np

from lava_nt.spec.delay import has_delay

__all__ = ["netx_delay", "write_delay"]


def netx_delay(delay) -> np.ndarray | None:
    """The ``delay`` dataset (float32, as slayer writes it) that lava-dl's reader expands to the
    ``(n, n_in)`` matrix ``delay``: ``(n,)`` when every row is constant (per output neuron, also
    for one delay everywhere), ``(n_in,)`` when every column is constant and ``n != n_in`` (a
    vector of ``n`` values would be read per neuron), else the full matrix. None for no delays."""
    if not has_delay(delay):
        return None
    d = np.asarray(delay, dtype=np.int64)
    n, n_in = d.shape
    if np.all(d == d[:, :1]):
        return d[:, 0].astype(np.float32)
    if n != n_in and np.all(d == d[:1, :]):
        return d[0].astype(np.float32)
    return d.astype(np.float32)


def write_delay(group, layer) -> None:
    """Write ``layer.delay`` (a :class:`~lava_nt.network.LayerSpec`'s) into the netx dense layer
    ``group`` as lava-dl does (:func:`netx_delay`); nothing for a layer without delays."""
    data = netx_delay(getattr(layer, "delay", None))
    if data is not None:
        group.create_dataset("delay", data=data)
