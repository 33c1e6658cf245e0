"""Opt-in sparse spiking gradient descent (Perez-Nieves & Goodman, NeurIPS 2021): surrogate
gradients only for the neurons near threshold.

Rule, for a band ``B_th > 0`` in units of the threshold: a population with threshold ``vth`` gets
the band width ``w = B_th * vth`` (computed in double precision) and its surrogate derivative
becomes::

    ds/dx = sg(x)   where |x| <  w        (x = v' - vth: the voltage before the reset minus vth,
          = 0       where |x| >= w         compared with w in x's dtype; also where x is NaN)

``sg`` the population's own surrogate (slope unchanged). The forward pass (the spikes, the
loss) is untouched; only gradients change. Every spiking population of the network gets it: the
NTLIF neurons of each layer and the neurons of each spiking bias (with their own ``vth``). No
band (``None``, the default everywhere) leaves every spike function exactly as it was, so
gradients stay bit-identical.

Both training paths honour it: the eager :class:`~lava_nt.nn.network.NTNetwork` (the autograd
spike functions mask their derivative) and :class:`~lava_nt.nn.fused.FusedNTNetwork` (the same
masked derivative in the hand-written backward; on layers with ``du = 1`` and a detached
subtractive reset, the EEG network's, the input-gradient product uses the sparsity:
:mod:`lava_nt.nn.fused_sparse`). QAT networks (:mod:`lava_nt.qat`) have no banded backward and
are refused.

Usage (a trainer wraps its training loop)::

    with sparse_gradients(net, 0.5):   # net: NTNetwork, FusedNTNetwork or a module holding one
        train(FusedNTNetwork.from_network(net), data, cfg)

:func:`set_sparse_band` sets it without restoring (returns what to pass to :func:`restore_bands`).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import torch

from lava_nt.nn.ntlif import NTLIFCell
from lava_nt.nn.spiking_bias import SpikingBias
from lava_nt.nn.surrogate import with_band
from lava_nt.spec.validation import ParameterError

__all__ = ["check_band", "restore_bands", "set_sparse_band", "sparse_gradients"]


def check_band(band, where: str = "sparse_gradients") -> float | None:
    """``band`` as a float > 0 (finite), or None for no band; anything else raises
    :class:`ParameterError` naming ``where``."""
    if band is None:
        return None
    if isinstance(band, bool) or not isinstance(band, int | float):
        raise ParameterError(f"{where}: the band B_th must be a number > 0 or None, got {band!r}")
    b = float(band)
    if not math.isfinite(b) or b <= 0:
        raise ParameterError(
            f"{where}: the band B_th (in units of vth) must be a finite number > 0, got {band!r}"
        )
    return b


def _populations(model: torch.nn.Module) -> list[torch.nn.Module]:
    """The spiking populations of ``model`` (NTLIF cells and spiking biases); refuses QAT."""
    if not isinstance(model, torch.nn.Module):
        raise ParameterError(
            f"sparse_gradients: expected a torch module, got {type(model).__name__}"
        )
    pops = []
    for name, m in model.named_modules():
        if type(m).__module__.startswith("lava_nt.qat"):
            raise ParameterError(
                f"sparse_gradients: {name or 'the model'} is a QAT module "
                f"({type(m).__name__}); the QAT recurrences have no sparse-band backward, "
                "train it without a band"
            )
        if isinstance(m, NTLIFCell | SpikingBias):
            pops.append(m)
    if not pops:
        raise ParameterError("sparse_gradients: the model has no spiking population (NTLIF cells)")
    return pops


def set_sparse_band(model: torch.nn.Module, band: float | None) -> list:
    """Give every spiking population of ``model`` the band ``B_th = band`` (module docstring;
    None: the dense derivative). Returns the previous spike functions for :func:`restore_bands`.
    A population whose surrogate is a custom callable is refused (no known derivative)."""
    b = check_band(band)
    saved = []
    pops = _populations(model)
    for m in pops:  # check everything before changing anything
        if m.vth.numel() != 1:
            raise ParameterError(f"sparse_gradients: {type(m).__name__} has more than one 'vth'")
    new = [with_band(m.spike_fn, None if b is None else b * float(m.vth)) for m in pops]
    for m, fn in zip(pops, new, strict=True):
        saved.append((m, m.spike_fn))
        m.spike_fn = fn
    return saved


def restore_bands(saved: list) -> None:
    """Put back the spike functions :func:`set_sparse_band` replaced."""
    for m, fn in saved:
        m.spike_fn = fn


@contextlib.contextmanager
def sparse_gradients(model: torch.nn.Module, band: float | None) -> Iterator[torch.nn.Module]:
    """Within the block, every spiking population of ``model`` has its surrogate derivative
    restricted to ``|v' - vth| < band * vth`` (module docstring); afterwards the original spike
    functions are back. ``band=None``: nothing is changed (the dense default)."""
    if check_band(band) is None:
        yield model
        return
    saved = set_sparse_band(model, band)
    try:
        yield model
    finally:
        restore_bands(saved)
