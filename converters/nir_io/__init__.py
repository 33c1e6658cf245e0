"""NIR (Neuromorphic Intermediate Representation, nir 1.0) export and import of lava-nt networks.

lava-nt is discrete time; NIR primitives are ODEs. The two meet through a **stated time step**:
one lava-nt step is ``dt`` seconds (default :data:`DEFAULT_DT` = 1 ms, Norse's default) and every
NIR node is read with the forward-Euler update of that ``dt`` which uses the *current* step's
input (the update Norse, snnTorch and nirtorch implement)::

    LIF      v += dt/tau     * (v_leak - v + r * I)              then spike v > v_th, v = v_reset
    IF       v += dt         * r * I
    CubaLIF  I += dt/tau_syn * (-I + w_in * x);  v += dt/tau_mem * (v_leak - v + r * I)
    LI       x += dt/tau     * (v_leak - x + r * I)
    I        x += dt         * r * I

The parameters are written so that this update *is* the NTLIF step (``lava_nt.spec.ntlif``)
``u = (1-du) u + W s``, ``v = (1-dv) v + g (u + b) + c`` (equalities in real arithmetic; the
floats differ by rounding only, and the exact lava-nt values travel in node metadata):

====================  =============================================================================
NTLIF layer           NIR nodes (``n`` neurons, all parameters per-neuron vectors)
====================  =============================================================================
du = 1, dv > 0        ``Affine(W, b)`` -> ``LIF(tau = dt/dv, r = g/dv, v_leak = 0, v_th = vth)``
du = 1, dv = 0        ``Affine(W, b)`` -> ``IF(r = g/dt, v_th = vth)``
0 < du < 1, dv > 0    ``Affine(W, 0)`` -> ``CubaLIF(tau_syn = dt/du, tau_mem = dt/dv,
                      r = g/(du dv), w_in = 1, v_leak = g b/dv)``
otherwise (dv = 0,    ``Affine(W, 0)`` -> ``LI(tau = dt/du, r = 1/du, v_leak = 0)`` (du = 0:
du = 0, or a spiking  ``I(r = 1/dt)``) -> ``Affine(eye(n), b)`` -> ``LIF`` / ``IF`` as for du = 1
bias on du < 1)
spiking bias          a ``NIRGraph`` (see :func:`to_nir`): ``Affine(W_in, b_b)`` -> bias neurons
                      (as a layer with g = 1) -> ``Linear(F)`` (fan-out ``F[i, group(i)] = w_b``)
                      -> ``LI(tau = dt/(1-c), r = 1/((1-c) g))`` with ``c = c_retention`` (c =
                      1: ``I(r = 1/(dt g))``) -> the target neuron node, summed with its
                      synaptic input
readout, du = 1       ``Affine(W, b)`` -> ``LI(tau = dt/dv, r = 1/dv, v_leak = 0)`` (dv = 0:
                      ``I(r = 1/dt)``), feeding the Output (non-spiking: its state is the value)
readout, du < 1       ``Affine(W, 0)`` -> ``LI(tau = dt/du, r = 1/du)`` (du = 0: ``I(r = 1/dt)``)
                      -> ``Affine(eye(n), b)`` -> the node for ``dv`` as above
per-neuron du, dv     (every one in (0, 1]) ``Affine(W, 0)`` -> ``CubaLIF`` as for 0 < du < 1 with
                      per-neuron ``tau_syn``, ``tau_mem`` (with a spiking bias: the LI split)
====================  =============================================================================

Reset "subtract" has no NIR field (NIR 1.0 resets to ``v_reset``): it is refused unless
``subtract_reset="metadata"``, which records it in the neuron's metadata (lava-nt honours it,
other tools reset to zero). Graded input is recorded as ``metadata["lava_nt_input"]``. Import
(:func:`from_nir`) accepts the chains above (and ``Linear`` for ``Affine``, ``Flatten`` after
the input, ``CubaLI`` as a readout, per-neuron thresholds and time constants), read the way the
framework that wrote the graph runs it (``source``: NIR's own Euler update, snnTorch 1.0's
``export_to_nir`` or Norse 1.1's ``to_nir``; :mod:`~lava_nt.converters.nir_io.conventions`), and
names any node that does not map. ``docs/interop.md`` has the derivations, the limits and the
Norse 1.1 workarounds (:func:`to_norse`).

Modules: :mod:`~lava_nt.converters.nir_io.export` (:func:`to_nir`, :func:`export_nir`),
:mod:`~lava_nt.converters.nir_io.importer` (:func:`from_nir`, :func:`import_nir`,
:func:`read_nir`), :mod:`~lava_nt.converters.nir_io.parse` (node chains -> populations),
:mod:`~lava_nt.converters.nir_io.conventions` (how each source runs a node),
:mod:`~lava_nt.converters.nir_io.norse` (:func:`to_norse`, :func:`run_norse`) and
:mod:`~lava_nt.converters.nir_io.common`.
"""

from lava_nt.converters.nir_io.common import DEFAULT_DT, NIRExportError, NIRImportError
from lava_nt.converters.nir_io.common import META_RTOL as META_RTOL
from lava_nt.converters.nir_io.export import export_nir, to_nir
from lava_nt.converters.nir_io.importer import NIRImport, from_nir, import_nir, read_nir
from lava_nt.converters.nir_io.norse import (
    inline_subgraphs,
    norse_float64,
    norse_import_map,
    run_norse,
    to_norse,
)

__all__ = [
    "DEFAULT_DT",
    "NIRExportError",
    "NIRImport",
    "NIRImportError",
    "export_nir",
    "from_nir",
    "import_nir",
    "inline_subgraphs",
    "norse_float64",
    "norse_import_map",
    "read_nir",
    "run_norse",
    "to_nir",
    "to_norse",
]
