"""The torch twin of on-device tuning: :func:`~lava_nt.ondevice.twin.run_twin` on torch tensors.

:func:`run_twin_torch` runs the numpy twin's own per-sample loop
(:func:`lava_nt.ondevice.twin.run_twin_on`: every layer from a fresh state over the sample's ``T``
steps, then the updates of the tuned layers on learning samples) on the torch backend
:class:`TorchArrays`: float64 tensors for a float spec, int64 for a fixed-point one, on the CPU
or a GPU (``device``, resolved by :func:`lava_nt.device.resolve_device`). The loop calls the spec
functions (:func:`~lava_nt.spec.ntlif.ntlif_step`, :func:`~lava_nt.spec.fixed.fixed_ntlif_step`,
the spiking-bias steps and :mod:`lava_nt.spec.learning`), which run on either kind of array, after
the numpy twin's input checks, so it accepts and refuses exactly what :func:`run_twin` does.
Fixed point equals the numpy twin bit for bit (integers); float64 equals it up to the order of
additions of a sum (tests allow 1e-12; on their networks the results are identical).
"""

from __future__ import annotations

import numpy as np
import torch

from lava_nt.device import resolve_device
from lava_nt.network import NetworkSpec
from lava_nt.ondevice.rule import OnDeviceRule
from lava_nt.ondevice.twin import OnDeviceResult, check_run, run_twin_on

__all__ = ["TorchArrays", "run_twin_torch"]


class TorchArrays:
    """The twin's array backend on torch (the interface of
    :class:`lava_nt.ondevice.twin.NumpyArrays`): tensors on ``device``, int64 in fixed point,
    float64 in float."""

    float64 = torch.float64

    def __init__(self, device, fixed: bool):
        self.device, self.fixed = device, fixed
        self.dtype = torch.int64 if fixed else torch.float64

    def tensor(self, x, dtype=None):
        return torch.tensor(np.asarray(x), dtype=dtype or self.dtype, device=self.device)

    def zeros(self, *shape, dtype=None):
        return torch.zeros(shape, dtype=dtype or self.dtype, device=self.device)

    def cast(self, x, dtype=None):
        return x.to(dtype or self.dtype)

    def params(self, nt):
        """A parameter NamedTuple with its numpy arrays as tensors, numpy scalars as Python's."""
        out = {}
        for name, v in nt._asdict().items():
            if isinstance(v, np.ndarray):
                out[name] = torch.tensor(v, device=self.device)
            elif isinstance(v, np.generic):
                out[name] = v.item()
        return nt._replace(**out)

    def numpy(self, x) -> np.ndarray:
        return x.detach().cpu().numpy().copy()


def run_twin_torch(
    spec: NetworkSpec, rule: OnDeviceRule, x, labels, learn=None, device="cpu"
) -> OnDeviceResult:
    """Run on-device tuning with torch tensors (float64 or int64 as ``spec``).

    Args:
        spec, rule, x, labels, learn: as :func:`lava_nt.ondevice.twin.run_twin` (validated by
            the same checks, so bad input raises the same
            :class:`~lava_nt.spec.validation.ParameterError`).
        device: where torch computes (``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"``).

    Returns:
        :class:`~lava_nt.ondevice.twin.OnDeviceResult` (numpy arrays, ``engine="twin"``), equal
        to :func:`run_twin`'s: bit for bit in fixed point, to round-off in float64.
    """
    x, y, lr = check_run(spec, rule, x, labels, learn, "run_twin_torch")
    dev = resolve_device(device, "run_twin_torch")
    return run_twin_on(spec, rule, x, y, lr, TorchArrays(dev, spec.fixed))
