"""What every lava-nt Process shares, defined once.

Vars and Ports stay in each Process; this is the checking around them:

* :class:`PrecisionProcess`: the base of ``NTLIF``, ``SpikingBias`` and ``Readout``. Its
  :meth:`~PrecisionProcess.check_arguments` validates what every constructor takes (the
  precision, the keyword names of that precision, ``shape`` and the per-sample reset schedule) and
  :meth:`~PrecisionProcess.init_process` hands the validated values to Lava. It also gives each
  Process its ``precision`` property and the ``fixed(...)`` constructor (the same keywords with
  ``precision="fixed"``).
* :func:`layer_size`, :func:`reset_schedule`, :func:`per_neuron`, :func:`layer_or_neuron`,
  :func:`scalar`: one parameter as the initial value of its Var, with an error naming the Process
  and the keyword.

The ProcessModels' shared part is :mod:`lava_nt.processes._models`.

This module sits beside the process folders, not in one: Lava executes every ``.py`` file of a
process folder when it looks for models.
"""

from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np
from lava.magma.core.process.process import AbstractProcess

from lava_nt.spec.validation import ParameterError, check_choice, check_names

PRECISIONS = ("float", "fixed")
#: Names every Process constructor accepts besides the parameters of its precision.
PROCESS_ARGUMENTS = ("shape", "precision", "reset_interval", "reset_offset", "name", "log_config")


def layer_size(shape, where: str) -> int:
    """``shape`` as a 1-D layer size ``n`` (an int or a tuple ``(n,)``)."""
    if isinstance(shape, numbers.Integral) and not isinstance(shape, bool):
        shape = (int(shape),)
    if (
        not isinstance(shape, tuple | list)
        or len(shape) != 1
        or not isinstance(shape[0], numbers.Integral)
        or isinstance(shape[0], bool)
        or shape[0] <= 0
    ):
        raise ParameterError(f"{where}: 'shape' must be (n,) with a positive int n, got {shape!r}")
    return int(shape[0])


def reset_schedule(reset_interval, reset_offset, where: str) -> tuple[int, int]:
    """Validated ``(reset_interval, reset_offset % reset_interval)``; interval 0 = never."""
    if reset_interval is None:
        reset_interval = 0
    for name, val in (("reset_interval", reset_interval), ("reset_offset", reset_offset)):
        if isinstance(val, bool) or not isinstance(val, numbers.Integral):
            raise ParameterError(f"{where}: '{name}' must be an int, got {val!r}")
    if reset_interval < 0:
        raise ParameterError(f"{where}: 'reset_interval' must be >= 0, got {reset_interval}")
    if reset_interval == 0:
        return 0, 0
    return int(reset_interval), int(reset_offset) % int(reset_interval)


def _numpy(x, dtype=None) -> np.ndarray:
    return np.asarray(x.detach().cpu().numpy() if hasattr(x, "detach") else x, dtype=dtype)


def per_neuron(x, n: int, dtype, where: str, name: str) -> np.ndarray:
    """A scalar or ``(n,)`` value as an ``(n,)`` array of ``dtype``.

    The spec validators also accept batched values (``[K, 1, n]``, one per personalised copy); a
    Lava process holds exactly one value per neuron, so only sizes 1 and n are accepted here.
    """
    arr = _numpy(x, dtype)
    if arr.size not in (1, n):
        raise ParameterError(
            f"{where}: '{name}' must be a scalar or hold one value per neuron ({n}), "
            f"got shape {arr.shape}"
        )
    return np.broadcast_to(arr.reshape(-1), (n,)).copy()


def layer_or_neuron(x, dtype) -> np.ndarray:
    """A decay as the init of its Var: shape ``(1,)`` for one value per layer, ``(n,)`` for one
    per neuron (sizes were validated by the spec)."""
    return _numpy(x, dtype).reshape(-1).copy()


def scalar(x, where: str, name: str):
    """A one-per-layer value as a Python scalar."""
    arr = _numpy(x)
    if arr.size != 1:
        raise ParameterError(f"{where}: '{name}' must be a scalar (one value per layer)")
    return arr.reshape(()).item()


class ProcessArguments(NamedTuple):
    """The validated arguments every Process constructor shares."""

    where: str  # the Process as error messages name it ("NTLIF", "NTLIF.fixed", ...)
    n: int  # the population size (``shape[0]``)
    reset_interval: int
    reset_offset: int


class PrecisionProcess(AbstractProcess):
    """A Process built for one precision, ``"float"`` or ``"fixed"`` (Vars are the subclass's)."""

    # Lava's __del__ calls stop(), which reads _runtime: it must work when a constructor fails
    # before Lava's __init__ has run.
    _runtime = None

    def check_arguments(
        self,
        kind: str,
        precision: str,
        params: dict,
        names: dict[str, tuple[str, ...]],
        shape,
        reset_interval,
        reset_offset,
        *,
        extra: tuple[str, ...] = (),
        fixed_where: str | None = None,
    ) -> ProcessArguments:
        """Validate the precision, the keyword names of that precision (``names[precision]``, the
        shared :data:`PROCESS_ARGUMENTS` and ``extra``), ``shape`` and the reset schedule.

        Errors name ``kind`` in float precision and ``fixed_where`` (default ``kind.fixed``) in
        fixed precision.
        """
        where = kind if precision == "float" else fixed_where or f"{kind}.fixed"
        check_choice(precision, PRECISIONS, kind, "precision")
        check_names(params, names[precision] + PROCESS_ARGUMENTS + extra, where)
        n = layer_size(shape, where)
        interval, offset = reset_schedule(reset_interval, reset_offset, where)
        return ProcessArguments(where, n, interval, offset)

    def init_process(
        self, args: ProcessArguments, precision: str, name, log_config, **proc_params
    ) -> None:
        """Lava's ``AbstractProcess.__init__`` with the shared process parameters (shape ``(n,)``,
        precision, reset schedule) and the Process's own ``proc_params``."""
        super().__init__(
            shape=(args.n,),
            precision=precision,
            reset_interval=args.reset_interval,
            reset_offset=args.reset_offset,
            name=name,
            log_config=log_config,
            **proc_params,
        )

    @classmethod
    def fixed(cls, **kwargs):
        """The Loihi fixed-point Process (integer registers; run with ``select_tag="fixed_pt"``):
        the constructor's keywords with ``precision="fixed"``."""
        return cls(precision="fixed", **kwargs)

    @property
    def precision(self) -> str:
        return self.proc_params["precision"]
