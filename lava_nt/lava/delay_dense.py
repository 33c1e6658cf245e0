"""Lava's ``DelayDense`` with empty delay lines at every sample start (lava-nt's long runs).

lava-nt runs many samples back to back in one Lava run and resets every layer's state at the
first step of each sample (``reset_interval`` / ``reset_offset``). Lava's ``DelayDense`` keeps
the current of delayed synapses in a buffer (``a_buff``: column 0 is sent at the next step,
column ``c`` ``c`` steps later) that nothing resets, so a spike near the end of one sample would
reach the neurons during the next. The two ProcessModels here are Lava's own ``DelayDense``
models (the same Process and arithmetic: they subclass ``PyDelayDenseModelFloat`` /
``PyDelayDenseModelBitAcc``) plus that reset: at the end of every step with
``time_step % reset_interval == reset_offset`` every column but column 0 is emptied. Column 0
still goes out (the previous sample's last step); everything later belongs to the next sample,
whose first input arrives at the next step. Pass ``reset_interval`` and ``reset_offset`` to
``DelayDense(...)`` as keyword arguments (they land in its ``proc_params``) and map the instance
to :func:`delay_dense_model`; with interval 0 (or none) the models are Lava's.
"""

from __future__ import annotations

from lava.proc.dense.models import PyDelayDenseModelBitAcc, PyDelayDenseModelFloat

__all__ = ["PyResetDelayDenseModelBitAcc", "PyResetDelayDenseModelFloat", "delay_dense_model"]


class _EmptyAtSampleEnd:
    def _empty_if_due(self) -> None:
        interval = int(self.proc_params.get("reset_interval", 0) or 0)
        offset = int(self.proc_params.get("reset_offset", 0))
        if interval > 0 and self.time_step % interval == offset:
            self.a_buff[:, 1:] = 0


class PyResetDelayDenseModelFloat(_EmptyAtSampleEnd, PyDelayDenseModelFloat):
    """Lava's floating-point ``DelayDense`` model whose delay line empties between samples."""

    def run_spk(self):
        super().run_spk()
        self._empty_if_due()


class PyResetDelayDenseModelBitAcc(_EmptyAtSampleEnd, PyDelayDenseModelBitAcc):
    """Lava's bit-accurate ``DelayDense`` model whose delay line empties between samples."""

    def run_spk(self):
        super().run_spk()
        self._empty_if_due()


def delay_dense_model(precision: str) -> type:
    """The resetting ``DelayDense`` model of ``precision`` ("float" or "fixed")."""
    return PyResetDelayDenseModelFloat if precision == "float" else PyResetDelayDenseModelBitAcc
