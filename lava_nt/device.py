"""Where torch computes: ``"cpu"`` (default), ``"cuda"`` / ``"cuda:N"``, or ``"auto"``.

Every training entry point (the trainer, batched personalisation, QAT, the EEG and image
pipelines, ``--device`` on the command line) resolves its ``device`` setting here, so a wrong name
or a missing GPU gives one clear error. On the CPU nothing changes: models and data stay where they
are and results are bit-identical to a run without the option. On a GPU the arithmetic is the
same but reductions may round differently, so results agree with the CPU to round-off, not bit for
bit (``scripts/gpu-check.sh`` runs the engine-equivalence and gradient tests on CUDA).
"""

from __future__ import annotations

import re

import torch

from lava_nt.spec.validation import ParameterError

__all__ = ["DEVICE_CHOICES", "module_device", "resolve_device"]

DEVICE_CHOICES = ("cpu", "cuda", "cuda:N", "auto")
_CUDA = re.compile(r"^cuda(:\d+)?$")


def resolve_device(device, where: str = "device"):
    """The ``torch.device`` for ``device`` (a name or a ``torch.device``).

    ``"auto"`` is CUDA when available, else the CPU. ``"cuda"`` without a usable GPU, an index
    beyond the GPUs present or any other name raises :class:`ParameterError`.
    """
    if isinstance(device, torch.device):
        name = str(device)
    elif isinstance(device, str):
        name = device.strip().lower()
    else:
        raise ParameterError(
            f"{where}: expected one of {', '.join(DEVICE_CHOICES)}, got {device!r}"
        )
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cpu":
        return torch.device("cpu")
    if not _CUDA.match(name):
        raise ParameterError(
            f"{where}: unknown device {device!r}; use one of {', '.join(DEVICE_CHOICES)}"
        )
    if not torch.cuda.is_available():
        raise ParameterError(
            f"{where}: {device!r} asked for, but no CUDA GPU is available here "
            "(torch.cuda.is_available() is False); use 'cpu' or 'auto'"
        )
    dev = torch.device(name)
    if dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ParameterError(
            f"{where}: {device!r} asked for, but only {torch.cuda.device_count()} GPU(s) exist"
        )
    return dev


def module_device(module):
    """The device of a module's first parameter or buffer (the CPU for an empty module)."""
    for t in module.parameters():
        return t.device
    for t in module.buffers():
        return t.device
    return torch.device("cpu")
