"""Networks that stock Lava can express: stock ``LIF``/``Dense`` deployment and lava-dl netx export.

A network is expressible with stock Lava when it has no spiking biases, every layer resets to
zero and it has no gains (fold them: :func:`lava_nt.converters.quantize.fold_gains`). Then

* :func:`to_stock_lava` builds a :class:`StockLavaNetwork`: per layer a stock ``Dense`` and a
  stock ``LIFReset`` (float, or Loihi fixed point with ``du``/``dv``/``vth``/``bias_mant``/
  ``bias_exp`` from the quantiser), and :meth:`StockLavaNetwork.run` runs it exactly like
  :func:`lava_nt.converters.lava_graph.run_network` (one long run, per-sample reset, outputs in
  the torch time frame);
* :func:`export_netx` writes lava-dl's netx HDF5 layout (read by ``lava/lib/dl/netx/hdf5.py``)::

      layer/0/type  = b"input", layer/0/shape = [n_in]            (no neuron: no Input block)
      layer/k/type  = b"dense", layer/k/shape = [n]
      layer/k/weight  (n, n_in) integers: the effective weight added to u >> 6
      layer/k/bias    (n,) integers: bias_mant with netx's fixed bias_exp = 6
      layer/k/neuron/{type = b"CUBA", iDecay = du + 1, vDecay = dv, vThMant = vth,
                      refDelay = 1, gradedSpike = False}

  netx casts weights to int and re-derives a weight exponent from 8-bit values, and it reads
  the bias with ``bias_exp = 6``, so a float model is re-quantised with
  ``quantize(spec, target="netx")`` (integer weights in [-256, 254], ``bias = bias_mant << 6``).
  A fixed-point spec is exported as it is if it already satisfies these constraints.

:func:`run_netx` loads a netx file with lava-dl's own reader (``lava.lib.dl.netx.hdf5.Network``)
and runs it in fixed point; the reader is installed on demand into a side directory
(:func:`ensure_netx_reader`, never into the environment's site-packages) and imported without
torch (stub modules for slayer and ``sequential_modules``, :func:`import_netx_hdf5`).

:func:`import_netx` reads a netx file (lava-dl's ``input`` + ``dense`` layers of CUBA neurons,
its bias-encoded Input block and integrator readouts) back into a lava-nt network, reproducing
lava-dl's reader operation for operation.

Modules: ``format`` (the layout's constants and scalar readers), ``stock`` (stock Lava
deployment), ``export`` (netx export and a plain reader), ``reader`` (lava-dl's own reader,
installed on demand), ``run`` (:func:`run_netx`), ``chain`` (the one long Lava run of
stock and netx networks),
``lava_dl`` (lava-dl 0.6.0's weight and bias handling, reproduced) and ``importer``
(:func:`import_netx`).
"""

from lava_nt.converters.netx.export import NetxExport, export_netx, netx_compatible, read_netx
from lava_nt.converters.netx.format import LAVA_DL_VERSION, NETX_BIAS_EXP
from lava_nt.converters.netx.importer import (
    UNITS,
    NetxImport,
    NetxImportError,
    import_netx,
    netx_float_equivalent,
)
from lava_nt.converters.netx.lava_dl import netx_effective_weights
from lava_nt.converters.netx.reader import (
    NetxUnavailable,
    default_side_dir,
    ensure_netx_reader,
    import_netx_hdf5,
)
from lava_nt.converters.netx.run import run_netx
from lava_nt.converters.netx.stock import (
    StockLavaError,
    StockLavaNetwork,
    run_stock_lava,
    to_stock_lava,
)

__all__ = [
    "LAVA_DL_VERSION",
    "NETX_BIAS_EXP",
    "UNITS",
    "NetxExport",
    "NetxImport",
    "NetxImportError",
    "NetxUnavailable",
    "StockLavaError",
    "StockLavaNetwork",
    "default_side_dir",
    "ensure_netx_reader",
    "export_netx",
    "import_netx",
    "import_netx_hdf5",
    "netx_compatible",
    "netx_effective_weights",
    "netx_float_equivalent",
    "read_netx",
    "run_netx",
    "run_stock_lava",
    "to_stock_lava",
]
