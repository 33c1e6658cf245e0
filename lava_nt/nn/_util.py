"""Small helpers shared by the lava_nt.nn modules (tensor registration, argument checks)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch

from lava_nt.spec.validation import ParameterError, check_names


def reject_unknown(unknown: dict, valid: Iterable[str], where: str) -> None:
    """Misspelt keyword arguments raise :class:`ParameterError` (with a close-match hint)."""
    if unknown:
        check_names(unknown, valid, where)
        raise ParameterError(
            f"{where}: unexpected parameters {sorted(unknown)}"
        )  # pragma: no cover


def resolve_dtype(dtype) -> torch.dtype:
    return torch.get_default_dtype() if dtype is None else dtype


def as_tensor(value, dtype, device=None, shape=None) -> torch.Tensor:
    """A fresh tensor copy of ``value`` (scalar, array or tensor), broadcast to ``shape``."""
    if isinstance(value, torch.Tensor):
        t = value.detach().to(dtype=dtype, device=device)
    else:
        t = torch.as_tensor(np.asarray(value, dtype=np.float64), dtype=dtype, device=device)
    if shape is not None:
        t = t.expand(tuple(shape))
    return t.clone().contiguous()


def param_shape_of(value, n: int, shape=None) -> tuple[int, ...]:
    """Shape a per-neuron tensor is stored with: ``shape`` if given, else ``value`` broadcast
    against ``(n,)`` (so scalars become ``(n,)`` and ``[K, 1, n]`` stays)."""
    if shape is not None:
        return tuple(int(d) for d in shape)
    vshape = tuple(value.shape) if hasattr(value, "shape") else np.shape(value)
    return tuple(np.broadcast_shapes(vshape, (n,)))


def resolve_param_shape(n: int, k, param_shape, where: str):
    """``(k, 1, n)`` for ``k``, ``param_shape`` (must end in ``n``), or None."""
    if k is not None and param_shape is not None:
        raise ParameterError(f"{where}: give either 'k' or 'param_shape', not both")
    if k is not None:
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k <= 0:
            raise ParameterError(f"{where}: 'k' must be a positive integer, got {k!r}")
        return (int(k), 1, n)
    if param_shape is not None:
        shape = tuple(int(d) for d in param_shape)
        if not shape or shape[-1] != n:
            raise ParameterError(f"{where}: 'param_shape' must end with {n}, got {shape}")
        return shape
    return None


def set_tensor(module: torch.nn.Module, name: str, value: torch.Tensor, trainable: bool) -> None:
    """(Re-)register ``value`` on ``module`` as an ``nn.Parameter`` (trainable) or a buffer."""
    module._parameters.pop(name, None)
    module._buffers.pop(name, None)
    value = value.detach()
    if trainable:
        module.register_parameter(name, torch.nn.Parameter(value.clone()))
    else:
        module.register_buffer(name, value.clone())


def is_trainable(module: torch.nn.Module, name: str) -> bool:
    p = module._parameters.get(name)
    return p is not None and p.requires_grad


def to_numpy(t) -> np.ndarray:
    return t.detach().cpu().to(torch.float64).numpy().copy()
