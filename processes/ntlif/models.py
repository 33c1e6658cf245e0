"""ProcessModels of :class:`lava_nt.processes.ntlif.process.NTLIF` (floating point, bit-accurate).

Both models share :class:`AbstractPyNTLIFModel` (receive, optional per-sample reset, one step of
the spec, send) and differ only in their LavaPyTypes and in which spec step they call:
:func:`lava_nt.spec.ntlif.ntlif_step` or :func:`lava_nt.spec.fixed.fixed_ntlif_step`. The
equations live in :mod:`lava_nt.spec`, nowhere else. The learning NTLIF's models
(:mod:`lava_nt.processes.ondevice.models`) subclass these and fill in the empty ``after_step``.
"""

from __future__ import annotations

import numpy as np
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType

from lava_nt.lava.run import report_model_errors
from lava_nt.processes._models import AbstractPyResetModel, first, fixed_model, float_model
from lava_nt.processes.ntlif.process import NTLIF
from lava_nt.spec.fixed import FixedNTLIFParameters, FixedNTLIFState, fixed_ntlif_step
from lava_nt.spec.ntlif import NTLIFParameters, NTLIFState, ntlif_step


def decay(var, dtype):
    """A decay Var as the spec wants it: a scalar for one per layer (shape ``(1,)``), else the
    ``(n,)`` array (both in ``dtype``, so uint16 registers never enter the integer arithmetic)."""
    arr = np.asarray(var, dtype=dtype).reshape(-1)
    return arr[0].item() if arr.size == 1 else arr


class AbstractPyNTLIFModel(AbstractPyResetModel):
    """Common structure: recv ``a_in`` and ``c_in``, reset if due, spec step, send ``s_out``."""

    @report_model_errors
    def __init__(self, proc_params):
        super().__init__(proc_params)
        self.reset_subtract = bool(proc_params["reset_subtract"])

    def parameters(self):
        raise NotImplementedError

    def step(self, a, c, p):
        raise NotImplementedError

    def after_step(self, s, state, p) -> None:
        """Nothing here; a learning model (:mod:`lava_nt.processes.ondevice.models`) learns from
        the step's spikes ``s``, new ``state`` and parameters ``p``."""

    @report_model_errors
    def run_spk(self) -> None:
        a = self.a_in.recv()
        c = self.c_in.recv()  # zeros when nothing is connected
        self.reset_if_due()
        p = self.parameters()
        s, state = self.step(a, c, p)
        self.store(state)
        self.s_out.send(s)
        self.after_step(s, state, p)


@float_model(NTLIF)
class PyNTLIFModelFloat(AbstractPyNTLIFModel):
    """Floating-point NTLIF: :func:`lava_nt.spec.ntlif.ntlif_step` on float64 numpy arrays."""

    precision = "float"
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    c_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    u: np.ndarray = LavaPyType(np.ndarray, float)
    v: np.ndarray = LavaPyType(np.ndarray, float)
    du: np.ndarray = LavaPyType(np.ndarray, float)  # (1,) per layer or (n,) per neuron
    dv: np.ndarray = LavaPyType(np.ndarray, float)
    vth: float = LavaPyType(float, float)
    bias: np.ndarray = LavaPyType(np.ndarray, float)
    gain: np.ndarray = LavaPyType(np.ndarray, float)
    # fixed-point Vars: unused in this precision
    bias_mant: np.ndarray = LavaPyType(np.ndarray, np.int16, precision=13)
    bias_exp: np.ndarray = LavaPyType(np.ndarray, np.int16, precision=3)
    gain_mant: np.ndarray = LavaPyType(np.ndarray, np.int16, precision=12)

    def parameters(self) -> NTLIFParameters:
        return NTLIFParameters(
            decay(self.du, np.float64),
            decay(self.dv, np.float64),
            float(first(self.vth)),
            self.bias,
            self.gain,
            self.reset_subtract,
        )

    def step(self, a, c, p):
        return ntlif_step(a, c, NTLIFState(self.u, self.v), p)


@fixed_model(NTLIF)
class PyNTLIFModelBitAcc(AbstractPyNTLIFModel):
    """Bit-accurate NTLIF: :func:`lava_nt.spec.fixed.fixed_ntlif_step` on int64 numpy arrays.

    Register widths as Lava's ``PyLifModelBitAcc`` (24-bit u, v; 12-bit decays; 17-bit vth; 13-bit
    bias mantissa, 3-bit exponent) plus the 12-bit signed gain mantissa and the 24-bit bias current.
    """

    precision = "fixed"
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int16, precision=16)
    c_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    u: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    v: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    du: np.ndarray = LavaPyType(np.ndarray, np.uint16, precision=12)  # (1,) or (n,)
    dv: np.ndarray = LavaPyType(np.ndarray, np.uint16, precision=12)
    vth: int = LavaPyType(int, np.int32, precision=17)
    bias_mant: np.ndarray = LavaPyType(np.ndarray, np.int16, precision=13)
    bias_exp: np.ndarray = LavaPyType(np.ndarray, np.int16, precision=3)
    gain_mant: np.ndarray = LavaPyType(np.ndarray, np.int16, precision=12)
    # floating-point Vars: unused in this precision
    bias: np.ndarray = LavaPyType(np.ndarray, float)
    gain: np.ndarray = LavaPyType(np.ndarray, float)

    def parameters(self) -> FixedNTLIFParameters:
        return FixedNTLIFParameters(
            decay(self.du, np.int64),
            decay(self.dv, np.int64),
            int(first(self.vth)),
            self.bias_mant.astype(np.int64),
            self.bias_exp.astype(np.int64),
            self.gain_mant.astype(np.int64),
            self.reset_subtract,
        )

    def step(self, a, c, p):
        return fixed_ntlif_step(
            np.asarray(a, np.int64), np.asarray(c, np.int64), FixedNTLIFState(self.u, self.v), p
        )
