"""NTLIF Lava Process: the bias-modulated LIF of :mod:`lava_nt.spec.ntlif` as one Lava Process.

One Process class serves both precisions; the precision is fixed when the Process is built:

* floating point: ``NTLIF(shape=(n,), du=1.0, dv=0.0, vth=1.0, bias=0.0, gain=1.0, reset="zero")``
  (the keyword arguments of :func:`lava_nt.spec.ntlif.ntlif_parameters`);
  run it with ``select_tag="floating_pt"`` (model ``PyNTLIFModelFloat``).
* Loihi fixed point: ``NTLIF.fixed(shape=(n,), du=4095, dv=0, vth=1, bias_mant=0, bias_exp=0,
  gain_mant=256, reset="zero")`` (the keyword arguments of
  :func:`lava_nt.spec.fixed.fixed_ntlif_parameters`: 12-bit decays, 17-bit ``vth``, 13-bit signed
  ``bias_mant``, 3-bit ``bias_exp``, 12-bit signed ``gain_mant`` with unity 256); run it with
  ``select_tag="fixed_pt"`` (model ``PyNTLIFModelBitAcc``). ``NTLIF(..., precision="fixed")`` is
  the same thing.

Both take ``reset_interval`` (0 or None = never) and ``reset_offset``: at the start of every step
whose ``time_step % reset_interval == reset_offset`` (Lava's first step is ``time_step == 1``),
``u`` and ``v`` are zeroed before the step integrates, exactly like Lava's ``LIFReset``. This lets
many samples follow each other in one long run.

Ports: ``a_in`` (synaptic input from a Dense, shape ``(n,)``), ``c_in`` (graded bias current, e.g.
from :class:`lava_nt.processes.spiking_bias.process.SpikingBias`; zero if unconnected), ``s_out``.

Vars: ``u``, ``v`` (state), ``du``, ``dv`` (shape ``(1,)`` for one decay per layer, ``(n,)`` for
one per neuron, following the parameter), ``vth`` (one per layer), ``bias``, ``gain`` (float,
per neuron) and ``bias_mant``, ``bias_exp``, ``gain_mant`` (fixed point, per neuron). Lava needs
the same Vars for every model of a Process, so both sets exist in both precisions; the set that
belongs to the other precision is unused and kept at neutral values (bias 0, gain 1, gain_mant
256). In fixed precision ``du``, ``dv``, ``vth``, ``u`` and ``v`` hold integers.

Every keyword name and value is validated (Lava itself silently accepts misspelt keyword
arguments): a wrong name or an out-of-range value raises :class:`lava_nt.spec.ParameterError`.
"""

from __future__ import annotations

import numpy as np
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.variable import Var

from lava_nt.processes._common import (  # noqa: F401 (layer_size: public here as before)
    PRECISIONS,
    PROCESS_ARGUMENTS,
    PrecisionProcess,
    layer_or_neuron,
    layer_size,
    per_neuron,
    scalar,
)
from lava_nt.spec.fixed import FIXED_NTLIF_PARAMETER_NAMES, GAIN_UNITY, fixed_ntlif_parameters
from lava_nt.spec.ntlif import NTLIF_PARAMETER_NAMES, ntlif_parameters

NAMES = {"float": NTLIF_PARAMETER_NAMES, "fixed": FIXED_NTLIF_PARAMETER_NAMES}


class NTLIF(PrecisionProcess):
    """Bias-modulated LIF layer (see the module docstring for the API).

    Args:
        shape: ``(n,)``.
        precision: ``"float"`` (default) or ``"fixed"``.
        reset_interval: per-sample state reset period in steps (0 or None: never).
        reset_offset: reset at steps with ``time_step % reset_interval == reset_offset``.
        name, log_config: passed to Lava.
        **params: neuron parameters of the chosen precision (validated by
            :func:`lava_nt.spec.ntlif.ntlif_parameters` or
            :func:`lava_nt.spec.fixed.fixed_ntlif_parameters`).
    """

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
        args = self.check_arguments(
            "NTLIF", precision, params, NAMES, shape, reset_interval, reset_offset
        )
        where, n = args.where, args.n
        if precision == "float":
            p = ntlif_parameters(n, where, **params)
            du, dv = (layer_or_neuron(getattr(p, k), np.float64) for k in ("du", "dv"))
            vth = float(scalar(p.vth, where, "vth"))
            bias, gain = (
                per_neuron(p.bias, n, np.float64, where, "bias"),
                per_neuron(p.gain, n, np.float64, where, "gain"),
            )
            bias_mant = np.zeros(n, np.int64)
            bias_exp = np.zeros(n, np.int64)
            gain_mant = np.full(n, GAIN_UNITY, np.int64)
        else:
            p = fixed_ntlif_parameters(n, where, **params)
            du, dv = (layer_or_neuron(getattr(p, k), np.int64) for k in ("du", "dv"))
            vth = int(scalar(p.vth, where, "vth"))
            bias, gain = np.zeros(n), np.ones(n)
            bias_mant = per_neuron(p.bias_mant, n, np.int64, where, "bias_mant")
            bias_exp = per_neuron(p.bias_exp, n, np.int64, where, "bias_exp")
            gain_mant = per_neuron(p.gain_mant, n, np.int64, where, "gain_mant")
        self.init_process(args, precision, name, log_config, reset_subtract=bool(p.reset_subtract))
        self.parameters = p  # the validated spec parameters (NTLIFParameters / Fixed...)
        self.a_in = InPort(shape=(n,))
        self.c_in = InPort(shape=(n,))
        self.s_out = OutPort(shape=(n,))
        self.u = Var(shape=(n,), init=0)
        self.v = Var(shape=(n,), init=0)
        self.du = Var(shape=du.shape, init=du)
        self.dv = Var(shape=dv.shape, init=dv)
        self.vth = Var(shape=(1,), init=vth)
        self.bias = Var(shape=(n,), init=bias)
        self.gain = Var(shape=(n,), init=gain)
        self.bias_mant = Var(shape=(n,), init=bias_mant)
        self.bias_exp = Var(shape=(n,), init=bias_exp)
        self.gain_mant = Var(shape=(n,), init=gain_mant)

    @property
    def n(self) -> int:
        return int(self.proc_params["shape"][0])
