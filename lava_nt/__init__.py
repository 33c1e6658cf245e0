"""lava-nt: neuromodulatory tuning of spiking neural networks.

Train with Norse (PyTorch), tune only biases, gains or spiking-bias neurons on a frozen network,
and deploy on Lava's CPU simulator in floating point or Loihi-compatible fixed point.

Layout:
    lava_nt.spec        the one definition of the dynamics (NTLIF, spiking bias; float and fixed)
    lava_nt.nn          Norse/torch modules (surrogate gradients) and the torch fixed-point emulator
    lava_nt.lava        running Lava safely (timeouts, stop(), no orphaned workers)
    lava_nt.processes   custom Lava processes and their float / fixed-point models
    lava_nt.converters  trained model <-> Lava graphs, fixed point, files
    lava_nt.decode      output spikes / readout values -> class scores and predictions
    lava_nt.result      RunResult, what every engine's run returns

Importing ``lava_nt`` is light: torch and Lava are imported only by the subpackages that need them.
"""

__version__ = "0.1.0"

from lava_nt import decode
from lava_nt.decode import population_counts, predict, predictions
from lava_nt.result import RunResult

__all__ = ["RunResult", "decode", "population_counts", "predict", "predictions"]
