"""Converters (imported as ``lava_nt.converters``): trained models <-> Lava, fixed point, files.

- :mod:`~lava_nt.converters.lava_graph`: build and run a ``NetworkSpec`` on Lava (float / fixed),
  all samples in one long run with per-sample reset, outputs in the torch time frame.
- :mod:`~lava_nt.converters.quantize`: float -> Loihi fixed point with a report of every rounding,
  clipping and saturation; gain folding for stock Lava.
- :mod:`~lava_nt.converters.model_file`: the HDF5 model file (atomic, versioned, validated).
- :mod:`~lava_nt.converters.netx`: lava-dl netx export and import, stock-Lava deployment.
- :mod:`~lava_nt.converters.agreement`: accuracy and spike agreement across the four engines.
- :mod:`~lava_nt.converters.nir_io`: NIR export/import (docs/interop.md).
"""
