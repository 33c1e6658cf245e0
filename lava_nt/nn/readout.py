"""Readout: the non-spiking integrator readout of :mod:`lava_nt.spec.readout` as a torch module,
and its loss.

``Readout(s [T, ..., n_in]) -> v [T, ..., n]`` computes ``a = W s`` for all steps with one matmul
and runs :func:`lava_nt.spec.readout.readout_step` (the same function the numpy reference and
the Lava float model call), so in float64 it equals them value for value. :meth:`Readout.values`
reduces the trace over the window (``last`` / ``mean`` / ``max``), and :func:`readout_loss` is
the cross-entropy of those values against class labels (the loss a netx or Norse network with an
integrator readout is trained with).
"""

from __future__ import annotations

from typing import Any

import torch

from lava_nt._deprecation import TRAINABLE_FLAG_RENAMES, renamed_kwargs
from lava_nt.nn._util import as_tensor, resolve_dtype, set_tensor, to_numpy
from lava_nt.spec.readout import (
    ReadoutParameters,
    ReadoutSpec,
    ReadoutState,
    readout_parameters,
    readout_step,
    reduce_readout,
)
from lava_nt.spec.validation import ParameterError, check_positive_int

__all__ = ["Readout", "readout_loss"]


class Readout(torch.nn.Module):
    """Linear (no torch bias) + integrator readout (see :mod:`lava_nt.spec.readout`).

    Args:
        n_in, n: input (last spiking layer) and readout sizes.
        weight: initial ``(n, n_in)`` weights (default: ``nn.Linear`` initialisation).
        du, dv: current and voltage decays in [0, 1] (du = 0, dv = 1: accumulated current).
        bias: per-unit bias (scalar or ``(n,)``).
        reduce: ``"last"``, ``"mean"`` or ``"max"``.
        trainable_weight, trainable_bias: which tensors are trainable (deprecated names:
            ``train_weight``, ``train_bias``).
        dtype, device: of the weights and buffers.
    """

    @renamed_kwargs(TRAINABLE_FLAG_RENAMES)
    def __init__(
        self,
        n_in: int,
        n: int,
        weight: Any = None,
        du: float = 0.0,
        dv: float = 1.0,
        bias: Any = 0.0,
        reduce: str = "last",
        trainable_weight: bool = True,
        trainable_bias: bool = False,
        dtype: torch.dtype | None = None,
        device: Any = None,
    ):
        super().__init__()
        where = type(self).__name__
        n_in = check_positive_int(n_in, where, "n_in")
        n = check_positive_int(n, where, "n")
        dtype = resolve_dtype(dtype)
        p = readout_parameters(n, where, du=du, dv=dv, bias=bias, reduce=reduce)
        self.n_in, self.n = n_in, n
        self.du, self.dv, self.reduce = float(p.du), float(p.dv), p.reduce
        self.linear = torch.nn.Linear(n_in, n, bias=False, dtype=dtype, device=device)
        if weight is not None:
            w = as_tensor(weight, dtype, device)
            if tuple(w.shape) != (n, n_in):
                raise ParameterError(
                    f"{where}: 'weight' must have shape ({n}, {n_in}), got {tuple(w.shape)}"
                )
            with torch.no_grad():
                self.linear.weight.copy_(w)
        self.linear.weight.requires_grad_(bool(trainable_weight))
        b = as_tensor(p.bias, dtype, device).expand(n).clone()
        set_tensor(self, "bias", b, bool(trainable_bias))

    def parameters_spec(self) -> ReadoutParameters:
        return ReadoutParameters(self.du, self.dv, self.bias, self.reduce)

    def forward(self, s: torch.Tensor, state: ReadoutState | None = None) -> torch.Tensor:
        """The voltage trace ``[T, ..., n]`` of input spikes (or values) ``s [T, ..., n_in]``."""
        if s.shape[-1] != self.n_in:
            raise ParameterError(
                f"Readout: input must be [T, ..., {self.n_in}], got {tuple(s.shape)}"
            )
        w = self.linear.weight
        a_all = torch.matmul(s.to(w.dtype), w.T)
        if state is None:
            zero = torch.zeros(a_all.shape[1:], dtype=w.dtype, device=w.device)
            state = ReadoutState(zero, zero)
        p = self.parameters_spec()
        out = []
        for t in range(a_all.shape[0]):
            v, state = readout_step(a_all[t], state, p)
            out.append(v)
        return torch.stack(out)

    def values(self, trace: torch.Tensor) -> torch.Tensor:
        """Readout values ``[..., n]`` of a trace (this readout's reduction)."""
        return reduce_readout(trace, self.reduce)

    def to_spec(self) -> ReadoutSpec:
        return ReadoutSpec(
            weight=to_numpy(self.linear.weight),
            params=ReadoutParameters(self.du, self.dv, to_numpy(self.bias), self.reduce),
        )

    @classmethod
    def from_spec(cls, spec: ReadoutSpec, dtype=torch.float64, device=None, **train) -> Readout:
        p = spec.params
        if not isinstance(p, ReadoutParameters):
            raise ParameterError("Readout.from_spec: a fixed-point readout cannot be trained")
        return cls(
            int(spec.weight.shape[1]), spec.n, weight=spec.weight, du=p.du, dv=p.dv,
            bias=p.bias, reduce=p.reduce, dtype=dtype, device=device, **train,
        )  # fmt: skip


def readout_loss(values: torch.Tensor, target: torch.Tensor, temperature: float = 1.0):
    """Cross-entropy of readout ``values [B, n_classes]`` (as logits, divided by
    ``temperature``) against integer class labels ``target [B]``."""
    if temperature <= 0:
        raise ParameterError(f"readout_loss: temperature must be > 0, got {temperature}")
    return torch.nn.functional.cross_entropy(values / temperature, target.long())
