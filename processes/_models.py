"""What every lava-nt ProcessModel shares, defined once.

* :class:`AbstractPyResetModel`: the base of every model here. It refuses a model of the other
  precision (:func:`lava_nt.lava.run.check_model_precision`), reads the reset schedule from the
  process parameters, says when a step starts a new sample (:meth:`reset_due`, the rule of
  Lava's ``LIFReset``: ``time_step % reset_interval == reset_offset``, ``time_step`` counting from
  1), zeroes the state Vars then and writes the spec's new state back to them.
* :func:`float_model` and :func:`fixed_model`: Lava's declaration of a CPU model of a Process
  with the tags the runners select (``"floating_pt"``; ``"bit_accurate_loihi", "fixed_pt"``).
  A model may subclass a declared model of another Process (a learning model extends its
  inference model): it inherits the LavaPyTypes and the step, and is declared afresh for its own
  Process (Lava's ``implements`` refuses a class that inherits another Process's declaration,
  and ``requires``/``tag`` would add to the inherited lists).
* :func:`first`: the value of a one-element Var (Lava stores scalars as shape ``(1,)``).

The Process side is :mod:`lava_nt.processes._common`. This module sits beside the process
folders, not in one: Lava executes every ``.py`` file of a process folder when it looks for models.
"""

from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from lava_nt.lava.run import check_model_precision, report_model_errors

#: The select_tag of each precision's models.
FLOAT_TAGS = ("floating_pt",)
FIXED_TAGS = ("bit_accurate_loihi", "fixed_pt")

#: LavaPyTypes of registers that several models declare: a float array, an int32 array (a
#: count, a flag, labels) and an unsigned 12-bit mantissa (a rate, a class weight).
FLOAT = LavaPyType(np.ndarray, float)
INT = LavaPyType(np.ndarray, np.int32)
MANT12 = LavaPyType(np.ndarray, np.int32, precision=12)


def first(var):
    """The value of a one-element Var (a scalar stored as shape ``(1,)``), as stored."""
    return np.reshape(var, -1)[0]


def _declare(proc, tags: tuple[str, ...]):
    def declare(cls):
        # an inherited declaration (of the model this one extends) is not this model's
        for name, blank in (("implements_process", None), ("required_resources", []), ("tags", [])):
            if name not in vars(cls):
                setattr(cls, name, blank)
        return implements(proc=proc, protocol=LoihiProtocol)(requires(CPU)(tag(*tags)(cls)))

    return declare


def float_model(proc):
    """Declare a class the floating-point CPU model of ``proc`` (``select_tag="floating_pt"``)."""
    return _declare(proc, FLOAT_TAGS)


def fixed_model(proc):
    """Declare a class the bit-accurate CPU model of ``proc`` (``select_tag="fixed_pt"``)."""
    return _declare(proc, FIXED_TAGS)


class AbstractPyResetModel(PyLoihiProcessModel):
    """Model base: checks the precision and knows the per-sample reset schedule."""

    precision: str = ""  # "float" | "fixed", set by the concrete models
    state_vars: tuple[str, ...] = ("u", "v")  # the fields of the spec state, Vars of that name
    # Vars besides the spec state that restart with it (a learning model's counters)
    extra_state: tuple[str, ...] = ()

    @report_model_errors
    def __init__(self, proc_params):
        super().__init__(proc_params)
        check_model_precision(type(self).__name__, proc_params, self.precision)
        self.reset_interval = int(proc_params["reset_interval"])
        self.reset_offset = int(proc_params["reset_offset"])

    def reset_due(self) -> bool:
        """Lava LIFReset's rule (time_step counts from 1)."""
        return self.reset_interval > 0 and self.time_step % self.reset_interval == self.reset_offset

    def reset_if_due(self) -> None:
        """Zero the state Vars (and :attr:`extra_state`) at the start of a new sample."""
        if self.reset_due():
            for name in self.state_vars + self.extra_state:
                getattr(self, name)[:] = 0

    def store(self, state) -> None:
        """Write the spec's new state (a NamedTuple with the fields :attr:`state_vars`) back to
        the Vars."""
        for name in self.state_vars:
            getattr(self, name)[:] = getattr(state, name)
