"""Norse/torch modules of lava-nt: NTLIF and spiking-bias cells with surrogate gradients, and the
torch emulator of the fixed-point models.

- :mod:`lava_nt.nn.surrogate`: SuperSpike (configurable slope) and arctan surrogates,
  :func:`make_spike_fn`.
- :mod:`lava_nt.nn.ntlif`: :class:`NTLIFCell` (one tick, a Norse ``SNNCell``) and :class:`NTLIF`
  (a ``[T, ..., n]`` sequence).
- :mod:`lava_nt.nn.spiking_bias`: :class:`SpikingBias` (per-neuron or volumetric, sparse ``W_in``),
  :func:`plot_bias_current`.
- :mod:`lava_nt.nn.layer`: :class:`NTLayer` (Linear + optional SpikingBias + NTLIFCell).
- :mod:`lava_nt.nn.network`: :class:`NTNetwork` (``from_spec`` / ``to_spec``).
- :mod:`lava_nt.nn.readout`: :class:`Readout` (non-spiking integrator readout) and
  :func:`readout_loss`.
- :mod:`lava_nt.nn.fixed_emulator`: :func:`emulate_fixed` (int64, bit-exact with the spec).
- :mod:`lava_nt.nn.fused`: :class:`FusedNTNetwork` (the same network, one autograd node per layer
  with hand-written BPTT: the fast training path), :func:`keep_freed_memory`.
- :mod:`lava_nt.nn.sparse_grad`: :func:`sparse_gradients` (opt-in sparse spiking gradient
  descent: surrogate gradients only near threshold).

All dynamics come from :mod:`lava_nt.spec`. ``import lava_nt.nn`` itself is light: torch and Norse
are imported only when one of the names below is first used.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "SuperSpike": "surrogate",
    "ATanSpike": "surrogate",
    "make_spike_fn": "surrogate",
    "super_spike": "surrogate",
    "atan_spike": "surrogate",
    "NTLIFCell": "ntlif",
    "NTLIF": "ntlif",
    "ntlif_feed_forward_step": "ntlif",
    "SpikingBias": "spiking_bias",
    "BiasRecording": "spiking_bias",
    "make_mask": "spiking_bias",
    "plot_bias_current": "spiking_bias",
    "NTLayer": "layer",
    "NTLayerState": "layer",
    "NTNetwork": "network",
    "Readout": "readout",
    "readout_loss": "readout",
    "emulate_fixed": "fixed_emulator",
    "FusedNTNetwork": "fused",
    "keep_freed_memory": "fused",
    "sparse_gradients": "sparse_grad",
    "set_sparse_band": "sparse_grad",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    mod = _EXPORTS.get(name)
    if mod is None:
        raise AttributeError(f"module 'lava_nt.nn' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"lava_nt.nn.{mod}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(list(globals()) + __all__)
