"""ProcessModels of :class:`lava_nt.processes.readout.process.Readout` (floating point and
bit-accurate). Both receive ``a_in``, reset if due, run one step of the spec
(:func:`lava_nt.spec.readout.readout_step` / :func:`~lava_nt.spec.readout.fixed_readout_step`)
and send the voltage on ``v_out``; the equations live in :mod:`lava_nt.spec.readout` only.
The learning readout's models (:mod:`lava_nt.processes.ondevice.readout_models`) subclass
these and fill in the empty ``after_step``.
"""

from __future__ import annotations

import numpy as np
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType

from lava_nt.lava.run import report_model_errors
from lava_nt.processes._models import AbstractPyResetModel, first, fixed_model, float_model
from lava_nt.processes.readout.process import Readout
from lava_nt.spec.readout import (
    FixedReadoutParameters,
    ReadoutParameters,
    ReadoutState,
    fixed_readout_step,
    readout_step,
)


class AbstractPyReadoutModel(AbstractPyResetModel):
    """Common structure: recv ``a_in``, reset if due, spec step, send ``v_out``."""

    def step(self, a):
        raise NotImplementedError

    def after_step(self, v) -> None:
        """Nothing here; a learning model (:mod:`lava_nt.processes.ondevice.readout_models`)
        learns from the step's voltage ``v``."""

    @report_model_errors
    def run_spk(self) -> None:
        a = self.a_in.recv()
        self.reset_if_due()
        v, state = self.step(a)
        self.store(state)
        self.v_out.send(v)
        self.after_step(v)


@float_model(Readout)
class PyReadoutModelFloat(AbstractPyReadoutModel):
    """Floating-point readout on float64 numpy arrays."""

    precision = "float"
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    v_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    u: np.ndarray = LavaPyType(np.ndarray, float)
    v: np.ndarray = LavaPyType(np.ndarray, float)
    du: float = LavaPyType(float, float)
    dv: float = LavaPyType(float, float)
    bias: np.ndarray = LavaPyType(np.ndarray, float)
    # fixed-point Vars: unused in this precision
    i_decay: int = LavaPyType(int, np.uint16, precision=13)
    v_decay: int = LavaPyType(int, np.uint16, precision=13)
    bias_mant: np.ndarray = LavaPyType(np.ndarray, np.int16, precision=13)
    bias_exp: np.ndarray = LavaPyType(np.ndarray, np.int16, precision=3)

    def step(self, a):
        p = ReadoutParameters(float(first(self.du)), float(first(self.dv)), self.bias)
        return readout_step(a, ReadoutState(self.u, self.v), p)


@fixed_model(Readout)
class PyReadoutModelBitAcc(AbstractPyReadoutModel):
    """Bit-accurate readout on int64 numpy arrays (24-bit wrapping ``u``, saturating ``v``)."""

    precision = "fixed"
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    v_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    u: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    v: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    i_decay: int = LavaPyType(int, np.uint16, precision=13)
    v_decay: int = LavaPyType(int, np.uint16, precision=13)
    bias_mant: np.ndarray = LavaPyType(np.ndarray, np.int16, precision=13)
    bias_exp: np.ndarray = LavaPyType(np.ndarray, np.int16, precision=3)
    # floating-point Vars: unused in this precision
    du: float = LavaPyType(float, float)
    dv: float = LavaPyType(float, float)
    bias: np.ndarray = LavaPyType(np.ndarray, float)

    def step(self, a):
        p = FixedReadoutParameters(
            int(first(self.i_decay)),
            int(first(self.v_decay)),
            self.bias_mant.astype(np.int64),
            self.bias_exp.astype(np.int64),
        )
        return fixed_readout_step(np.asarray(a, np.int64), ReadoutState(self.u, self.v), p)
