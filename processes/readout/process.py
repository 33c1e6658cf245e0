"""Readout Lava Process: the non-spiking integrator readout of :mod:`lava_nt.spec.readout`.

One Process class serves both precisions, fixed when the Process is built:

* floating point: ``Readout(shape=(n,), du=0.0, dv=1.0, bias=0.0)`` (the keyword arguments of
  :func:`lava_nt.spec.readout.readout_parameters`); model ``PyReadoutModelFloat``
  (``select_tag="floating_pt"``).
* Loihi fixed point: ``Readout.fixed(shape=(n,), i_decay=0, v_decay=4096, bias_mant=0,
  bias_exp=0)``, the same as ``Readout(..., precision="fixed")``
  (:func:`lava_nt.spec.readout.fixed_readout_parameters`: netx's 13-bit decay registers, 13-bit
  signed bias mantissa, 3-bit exponent); model ``PyReadoutModelBitAcc``
  (``select_tag="fixed_pt"``).

``reset_interval`` / ``reset_offset`` zero ``u`` and ``v`` at the start of the steps with
``time_step % reset_interval == reset_offset``, exactly as :class:`~lava_nt.processes.ntlif.
process.NTLIF` does, so many samples follow each other in one long run.

Ports: ``a_in`` (from a Dense) and ``v_out``, which sends the voltage every step as a graded
value: an ``Extractor`` on ``v_out`` reads the whole trace of a long run on the host, with no
``Var.get``. The reduction over the window (last / mean / max) is done on the host from that
trace. Vars: ``u``, ``v`` (state), ``du``, ``dv``, ``bias`` (float) and ``i_decay``, ``v_decay``,
``bias_mant``, ``bias_exp`` (fixed point); the set of the other precision is unused.
"""

from __future__ import annotations

import numpy as np
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.variable import Var

from lava_nt.processes._common import PrecisionProcess, per_neuron
from lava_nt.spec.readout import (
    FIXED_READOUT_PARAMETER_NAMES,
    READOUT_PARAMETER_NAMES,
    fixed_readout_parameters,
    readout_parameters,
)

NAMES = {"float": READOUT_PARAMETER_NAMES, "fixed": FIXED_READOUT_PARAMETER_NAMES}


class Readout(PrecisionProcess):
    """Non-spiking integrator readout population (see the module docstring)."""

    def __init__(
        self,
        *,
        shape,
        precision: str = "float",
        reset_interval: int | None = 0,
        reset_offset: int = 0,
        name: str | None = None,
        log_config=None,
        **params,
    ) -> None:
        params.pop("reduce", None)  # the reduction happens on the host
        args = self.check_arguments(
            "Readout", precision, params, NAMES, shape, reset_interval, reset_offset,
            fixed_where="Readout(fixed)",
        )  # fmt: skip
        where, n = args.where, args.n
        du = dv = 0.0
        bias = np.zeros(n)
        i_decay, v_decay = 0, 0
        bias_mant = np.zeros(n, np.int64)
        bias_exp = np.zeros(n, np.int64)
        if precision == "float":
            p = readout_parameters(n, where, **params)
            du, dv = float(p.du), float(p.dv)
            bias = per_neuron(p.bias, n, np.float64, where, "bias")
        else:
            p = fixed_readout_parameters(n, where, **params)
            i_decay, v_decay = int(p.i_decay), int(p.v_decay)
            bias_mant = per_neuron(p.bias_mant, n, np.int64, where, "bias_mant")
            bias_exp = per_neuron(p.bias_exp, n, np.int64, where, "bias_exp")
        self.init_process(args, precision, name, log_config)
        self.parameters = p
        self.a_in = InPort(shape=(n,))
        self.v_out = OutPort(shape=(n,))
        self.u = Var(shape=(n,), init=0)
        self.v = Var(shape=(n,), init=0)
        self.du = Var(shape=(1,), init=du)
        self.dv = Var(shape=(1,), init=dv)
        self.bias = Var(shape=(n,), init=bias)
        self.i_decay = Var(shape=(1,), init=i_decay)
        self.v_decay = Var(shape=(1,), init=v_decay)
        self.bias_mant = Var(shape=(n,), init=bias_mant)
        self.bias_exp = Var(shape=(n,), init=bias_exp)

    @property
    def n(self) -> int:
        return int(self.proc_params["shape"][0])
