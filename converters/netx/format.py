"""The netx HDF5 format as lava-dl 0.6.0 reads it: its constants and scalar readers."""

from __future__ import annotations

import numpy as np

# one definition each: the quantiser quantises for netx's bias exponent, the spec holds the
# Dense register's mantissa range (which lava-dl's 8-bit weights with their exponent fill)
from lava_nt.converters.quantize.registers import NETX_BIAS_EXP
from lava_nt.spec.fixed import WEIGHT_MANT_MAX, WEIGHT_MANT_MIN

#: lava-dl release whose netx reader :func:`~lava_nt.converters.netx.run_netx` uses (and whose
#: ``lava/lib/dl/netx/hdf5.py`` the importer reproduces).
LAVA_DL_VERSION = "0.6.0"
#: Integer weights the exporter writes (even mantissas survive Lava's mixed-sign truncation).
NETX_WEIGHT_MIN, NETX_WEIGHT_MAX = -256, 254

__all__ = [
    "LAVA_DL_VERSION",
    "NETX_BIAS_EXP",
    "NETX_WEIGHT_MAX",
    "NETX_WEIGHT_MIN",
    "WEIGHT_MANT_MAX",
    "WEIGHT_MANT_MIN",
    "read_int",
    "read_per_neuron",
    "read_str",
]


def read_str(ds) -> str:
    """A netx string dataset (scalar or 1-element array, bytes or str) as ``str``."""
    v = ds[()]
    if isinstance(v, np.ndarray):
        v = v.reshape(-1)[0] if v.size else b""
    if isinstance(v, bytes | np.bytes_):
        v = v.decode("ascii", "replace")
    return str(v).strip("\x00 ")


def read_int(ds) -> int:
    """A netx scalar integer dataset (scalar or 1-element array) as ``int``."""
    v = np.asarray(ds[()])
    if v.size != 1:
        raise ValueError(f"expected a scalar, got shape {v.shape}")
    return int(v.reshape(-1)[0])


def read_per_neuron(ds, n: int):
    """A netx integer dataset that holds one value for the layer or one per neuron (lava-dl
    writes per-neuron ``iDecay`` / ``vDecay`` for blocks trained with ``shared_param=False``):
    ``int`` for a scalar or 1-element array, an int64 ``(n,)`` array for ``n`` values."""
    v = np.asarray(ds[()])
    if v.size == 1:
        return int(v.reshape(-1)[0])
    if v.size != n:
        raise ValueError(f"expected a scalar or {n} values (one per neuron), got shape {v.shape}")
    return v.reshape(-1).astype(np.int64)
