"""Small helpers shared by the lava_nt.nn modules (tensor registration, argument checks) and
by the QAT network (synaptic delay masks, a network's sizes)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch

from lava_nt.spec.delay import delay_groups, has_delay
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


def stacked_record(spikes: torch.Tensor, currents: list, bias_spikes: list) -> dict:
    """One layer's record as the torch engines return it: ``spikes [T, ..., n]`` and the spiking
    bias' per-step currents and spikes stacked over time (None without a spiking bias, i.e. for
    empty lists)."""
    return {
        "spikes": spikes,
        "bias_current": torch.stack(currents) if currents else None,
        "bias_spikes": torch.stack(bias_spikes) if bias_spikes else None,
    }


def to_numpy(t) -> np.ndarray:
    return t.detach().cpu().to(torch.float64).numpy().copy()


class DelayMasks:
    """Synaptic delays of a torch layer (``NTLayer``, ``QATLayer``): the ``delay`` buffer and, if
    it delays anything, one boolean mask per distinct delay value, largest first (the delay
    line's order, :func:`lava_nt.spec.delay.delay_groups`). Mixed into a ``torch.nn.Module``."""

    def set_delay(self, d: np.ndarray | None, device=None, persistent: bool = True) -> None:
        """Keep the validated int64 delay matrix ``d`` (None: no delays) and its masks."""
        buffer = None if d is None else torch.as_tensor(d, device=device)
        self.register_buffer("delay", buffer, persistent=persistent)
        self._delay_values: list[int] = []
        masks = None
        if has_delay(d):
            groups = delay_groups(d)
            self._delay_values = [v for v, _ in groups]
            masks = torch.as_tensor(np.stack([m for _, m in groups]), device=device)
        self.register_buffer("_delay_masks", masks, persistent=False)

    @property
    def has_delay(self) -> bool:
        """True if any synapse of the layer is delayed."""
        return bool(self._delay_values)

    @property
    def max_delay(self) -> int:
        """The largest synaptic delay in steps (0 without delays)."""
        return self._delay_values[0] if self._delay_values else 0

    def delay_mask_groups(self) -> list[tuple[int, torch.Tensor]]:
        """``[(delay value, mask)]``, largest first (the groups
        :func:`lava_nt.spec.delay.delayed_input` adds)."""
        return list(zip(self._delay_values, self._delay_masks, strict=True))


class LayerStack:
    """Sizes and readout values of a network that holds ``layers`` (each with ``n_in`` and ``n``)
    and an optional ``readout`` (``NTNetwork``, ``QATNetwork``). Mixed into a
    ``torch.nn.Module``."""

    @property
    def n_in(self) -> int:
        return self.layers[0].n_in

    @property
    def n_out(self) -> int:
        return self.readout.n if self.readout is not None else self.layers[-1].n

    @property
    def sizes(self) -> list[int]:
        return [self.n_in] + [layer.n for layer in self.layers]

    def values(self, out: torch.Tensor) -> torch.Tensor:
        """Readout values ``[..., n]`` (float units) of an output trace (needs a readout)."""
        if self.readout is None:
            raise ParameterError(f"{type(self).__name__}.values: the network has no readout")
        return self.readout.values(out)
