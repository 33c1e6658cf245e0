"""Custom Lava processes of lava-nt (imported as ``lava_nt.processes``).

Each process lives in its own folder with ``process.py`` (Vars and Ports only) and ``models.py``
(floating_pt and fixed_pt ProcessModels). Lava discovers models by executing every ``.py`` file
of a process folder: keep scripts out of these folders and use absolute imports.
"""

import importlib

from lava_nt.lava.compat import allow_lava_import

# Lava's import fails if another library already chose a multiprocessing start method; every
# process module imports Lava right after this package, so clear the choice here.
allow_lava_import()

# Lazy re-exports (``from lava_nt.processes import NTLIF``): importing this package stays light and
# never imports the models (Lava discovers those itself).
_EXPORTS = {
    "NTLIF": "lava_nt.processes.ntlif.process",
    "SpikingBias": "lava_nt.processes.spiking_bias.process",
}
__all__ = list(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
