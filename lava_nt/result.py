"""The one result type of a network run, whatever the engine.

Every engine has an entry point that returns a :class:`RunResult`:

* the numpy reference: :func:`lava_nt.network.run_reference`;
* the torch network: :meth:`lava_nt.nn.network.NTNetwork.run`;
* the torch fixed-point emulator: :func:`lava_nt.nn.fixed_emulator.run_fixed`;
* Lava: :func:`lava_nt.converters.lava_graph.run_network` (a :class:`LavaRunResult
  <lava_nt.converters.lava_graph.LavaRunResult>`, which adds the run's schedule and timing) and
  :func:`lava_nt.converters.netx.run_netx`.

So a caller reads ``result.output`` (and ``result.layers`` after ``record=True``) the same way
for all of them. The older entry points keep their return values for code that unpacks them:
``reference_run`` and ``emulate_fixed`` return the output array (``(output, layers)`` with
``record=True``), and ``NTNetwork.forward`` returns the output tensor (a tuple with ``record`` /
``return_state``) because the training loop, ``torch.compile`` and Norse-style modules expect a
module's forward to return tensors.

Numpy engines (reference, Lava) hold numpy arrays, torch engines hold tensors; decode either
with :mod:`lava_nt.decode`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["RunResult"]


@dataclass(frozen=True)
class RunResult:
    """What a network run returns (all arrays in the torch time frame, ``[T, B, ...]``).

    Attributes:
        output: ``[T, B, n_out]``: the last layer's spikes (0/1), or, for a network with a
            readout (:mod:`lava_nt.spec.readout`), the readout's voltage trace (reduce it with
            :func:`lava_nt.network.readout_values`). Also readable as :attr:`spikes` and
            ``result["output"]``.
        layers: with ``record=True`` one dict per NTLIF layer: ``spikes`` ``[T, B, n]``,
            ``bias_current`` ``[T, B, n]`` (the current the spiking bias delivers; None without
            one) and ``bias_spikes`` ``[T, B, m]`` (None without a spiking bias). Empty without
            ``record``.
        has_readout: True when :attr:`output` is a readout's voltage trace, not spikes.
        states: the final per-layer states (torch network, ``return_state=True``), else None.
    """

    output: Any
    layers: list = field(default_factory=list)
    has_readout: bool = False
    states: list | None = None

    @property
    def spikes(self) -> Any:
        """Alias of :attr:`output` (the readout trace for a network with a readout)."""
        return self.output

    @property
    def layer_spikes(self) -> list:
        """Every recorded layer's spikes ``[T, B, n]`` (needs ``record=True``)."""
        return [rec["spikes"] for rec in self.layers]

    def numpy_output(self) -> np.ndarray:
        """:attr:`output` as a float64 numpy array (a torch tensor detached and moved to the
        CPU), for comparing engines."""
        return _float64(self.output)

    def numpy_layer_spikes(self) -> list[np.ndarray]:
        """:attr:`layer_spikes` as float64 numpy arrays (needs ``record=True``)."""
        return [_float64(s) for s in self.layer_spikes]

    def keys(self) -> tuple[str, ...]:
        """The names :meth:`__getitem__` accepts."""
        return ("output", "spikes", "layers", "has_readout", "states")

    def __getitem__(self, key: str) -> Any:
        """Dict-style access too: ``result["spikes"]``, ``result["layers"][k]["bias_current"]``."""
        if key not in self.keys():
            raise KeyError(key)
        return getattr(self, key)


def _float64(a) -> np.ndarray:
    if hasattr(a, "detach"):
        a = a.detach().cpu().numpy()
    return np.asarray(a, dtype=np.float64)
