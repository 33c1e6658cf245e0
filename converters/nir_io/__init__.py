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
                      -> ``LI(tau = dt/(1-alpha), r = 1/((1-alpha) g))`` (alpha = 1: ``I(r =
                      1/(dt g))``) -> the target neuron node, summed with its synaptic input
====================  =============================================================================

Reset "subtract" has no NIR field (NIR 1.0 resets to ``v_reset``): it is refused unless
``subtract_reset="metadata"``, which records it in the neuron's metadata (lava-nt honours it,
other tools reset to zero). Import (:func:`from_nir`) accepts exactly the chains above (and
``Linear`` for ``Affine``, ``Flatten`` after the input) and names any node that does not map.
``docs/interop.md`` has the derivations, the limits and the Norse 1.1 workarounds
(:func:`to_norse`).
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
